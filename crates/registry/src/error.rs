//! The crate's error type. Messages follow Docker's wording where users know it
//! (`manifest for x not found: manifest unknown`, `unauthorized: ...`), and every error
//! names the registry, repository or blob it is about, so the daemon can pass it on as is.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a registry or handling credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image library refused something (bad reference, digest mismatch, bad
    /// manifest, unpack failure, store failure).
    #[cfg(feature = "client")]
    #[error(transparent)]
    Image(#[from] berth_image::Error),

    /// The registry could not be reached, or the connection failed (`Get "url": ...`).
    #[error("{method} \"{url}\": {reason}")]
    Transport { method: String, url: String, reason: String },

    /// 401/403 from the registry or its token server, with the registry's own message.
    #[error("{message}")]
    Unauthorized { registry: String, message: String },

    /// A manifest, tag or repository the registry does not have.
    #[error("{0}")]
    NotFound(String),

    /// Any other error status, with the registry's `errors[]` rendered as Docker does
    /// (`code: message`).
    #[error("{what}: {message}")]
    Registry { what: String, status: u16, message: String },

    /// A response that breaks the protocol (missing Location, garbled challenge, a
    /// manifest larger than the limit, a Range answer that does not line up, ...).
    #[error("invalid response from {registry}: {reason}")]
    Protocol { registry: String, reason: String },

    /// TLS configuration from certs.d that cannot be used.
    #[error("certificates for {host} in {dir}: {reason}")]
    Tls { host: String, dir: String, reason: String },

    /// `config.json`, an `X-Registry-Auth` header or a credential helper failed.
    #[error("{0}")]
    Credentials(String),

    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }

    #[cfg(feature = "client")]
    pub(crate) fn protocol(registry: &str, reason: impl std::fmt::Display) -> Error {
        Error::Protocol { registry: registry.to_owned(), reason: reason.to_string() }
    }

    /// Whether this error means the credentials were refused (the API answers 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }

    /// Whether this error means something was not found (the API answers 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
            || matches!(self, Error::Registry { status: 404, .. })
            || {
                #[cfg(feature = "client")]
                {
                    matches!(self, Error::Image(berth_image::Error::ImageNotFound(_)))
                }
                #[cfg(not(feature = "client"))]
                {
                    false
                }
            }
    }

    /// Whether the caller's input was at fault (bad reference, no matching platform...):
    /// the API answers 400.
    pub fn is_bad_request(&self) -> bool {
        #[cfg(feature = "client")]
        {
            matches!(
                self,
                Error::Image(berth_image::Error::InvalidReference(_) | berth_image::Error::NoMatchingPlatform { .. })
            )
        }
        #[cfg(not(feature = "client"))]
        {
            false
        }
    }
}
