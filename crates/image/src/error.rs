//! The crate's error type: every failure names the thing (reference, blob, image, path)
//! and the problem, so the daemon can pass the message to the user unchanged.

use std::path::PathBuf;

use crate::digest::Digest;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the image library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not follow Docker's grammar. The message is Docker's wording
    /// (`invalid reference format`, `... must be lowercase`, ...).
    #[error("{0}")]
    InvalidReference(String),

    /// A digest string that is malformed or uses an unsupported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: &'static str },

    /// Content whose digest is not the one it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: Digest, actual: Digest },

    /// Content whose size is not the one its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch { what: String, expected: u64, actual: u64 },

    /// A blob that is not in the content store (or not in an archive being loaded).
    #[error("blob {0} not found")]
    BlobNotFound(Digest),

    /// An image that the store does not know.
    #[error("No such image: {0}")]
    ImageNotFound(String),

    /// A reference that matches more than one image (ambiguous short id).
    #[error("{0}: ambiguous image reference, matches more than one image")]
    AmbiguousImage(String),

    /// Docker's `conflict: ...` errors of `rmi` and friends (HTTP 409 in the API).
    #[error("conflict: {0}")]
    Conflict(String),

    /// A media type that we do not handle where it appears.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },

    /// JSON (manifest, index, config, archive metadata) that does not parse or does not
    /// make sense.
    #[error("invalid {what}: {reason}")]
    InvalidJson { what: String, reason: String },

    /// A manifest list / index without an entry for the wanted platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },

    /// A layer archive that cannot be unpacked (corrupt compression, truncated tar, a
    /// hostile path, ...).
    #[error("layer {layer}: {reason}")]
    InvalidLayer { layer: String, reason: String },

    /// A tar entry path that would leave the root it is unpacked into.
    #[error("layer {layer}: entry {path:?} {reason}")]
    UnsafePath { layer: String, path: String, reason: &'static str },

    /// An image archive (`docker save` / OCI layout tar) that is malformed.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),

    /// A `--change` instruction that cannot be applied.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },

    /// The image store's database failed.
    #[error("image store database: {0}")]
    Database(#[from] rusqlite::Error),

    /// The store's consistency check found problems.
    #[error("image store is inconsistent: {}", .0.join("; "))]
    Inconsistent(Vec<String>),

    /// A filesystem operation failed on a path.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A mount or unmount failed.
    #[error("{op} {target}: {source}")]
    Mount {
        op: &'static str,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path it happened on.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    pub(crate) fn json(what: impl Into<String>, reason: impl ToString) -> Self {
        Error::InvalidJson { what: what.into(), reason: reason.to_string() }
    }

    pub(crate) fn layer(layer: impl ToString, reason: impl ToString) -> Self {
        Error::InvalidLayer { layer: layer.to_string(), reason: reason.to_string() }
    }
}

/// Extension to attach an operation and path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, std::io::Error::from(e)))
    }
}
