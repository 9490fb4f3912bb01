//! The runtime's error type. Messages name what failed and where, because they reach
//! users verbatim through docker/podman ("OCI runtime create failed: …").

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle {bundle}: {msg}")]
    Bundle { bundle: PathBuf, msg: String },
    #[error("invalid config.json in {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', '+' (1-1024 characters)")]
    InvalidId(String),
    #[error("container {id} is {status}: {msg}")]
    State { id: String, status: String, msg: String },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }
}

/// Adds a context string to io::Result values, like anyhow's `context` but typed.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
