use std::path::PathBuf;

/// What can go wrong with a volume; messages follow dockerd's wording where a Docker
/// user would recognise it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("\"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    InvalidName(String),
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse { name: String, users: String },
    #[error("{0}")]
    InvalidOption(String),
    #[error("volume driver \"{0}\" is not supported (berth has the local driver only)")]
    UnknownDriver(String),
    #[error("invalid volume specification: '{spec}': {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("volume database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Archive(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }

    /// Whether the error is the caller's fault (HTTP 400) rather than the engine's.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidName(_) | Error::InvalidOption(_) | Error::UnknownDriver(_) | Error::InvalidSpec { .. })
    }
}

pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
