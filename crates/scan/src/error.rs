//! The scanner's errors: each names what was wrong and where (which archive entry,
//! which OSV file, which URL), so a CI log says what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image archive is not a `docker save` / OCI layout tar we can read.
    #[error("invalid image archive: {0}")]
    Archive(String),
    /// A layer of the image could not be read.
    #[error("invalid layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
    /// The vulnerability database could not be opened.
    #[error("OSV database {place}: {reason}")]
    Database { place: String, reason: String },
    /// One OSV record is malformed.
    #[error("OSV record {place}: {reason}")]
    Record { place: String, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
}

impl Error {
    pub(crate) fn db(place: impl std::fmt::Display, reason: impl std::fmt::Display) -> Error {
        Error::Database { place: place.to_string(), reason: reason.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
