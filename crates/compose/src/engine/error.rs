//! Errors of the engine half: the project could not be loaded, the daemon
//! refused a request, or the project's containers did not reach the state asked.

use berth_api::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Loading or validating the compose files failed (nothing was created).
    #[error(transparent)]
    Project(#[from] crate::ComposeError),

    /// A daemon request failed; `context` says what compose was doing.
    #[error("{context}: {source}")]
    Api {
        context: String,
        #[source]
        source: ClientError,
    },

    /// A service's definition cannot be turned into a container (checked before
    /// anything is created), e.g. a `network_mode: service:x` whose `x` has no container.
    #[error("service {service:?}: {message}")]
    Service { service: String, message: String },

    /// A dependency did not become ready (`service_healthy`,
    /// `service_completed_successfully`) or a container failed to start.
    #[error("{0}")]
    Dependency(String),

    /// Anything else compose refuses, with docker compose's wording.
    #[error("{0}")]
    Other(String),

    /// Host-side files (secrets written for a container, build contexts).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// The daemon's HTTP status, when the error is an API answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { source: ClientError::Api { status, .. }, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the daemon answered 404 (no such container/network/volume/image).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn service(service: &str, message: impl Into<String>) -> EngineError {
        EngineError::Service { service: service.to_owned(), message: message.into() }
    }
}

/// Shorthand for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Adds what compose was doing to a client error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, ClientError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EngineError::Api { context: what(), source })
    }
}
