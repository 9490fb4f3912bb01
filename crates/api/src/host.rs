//! Which daemon to talk to: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then the default
//! socket. Only `unix://` addresses for now.

use std::path::PathBuf;

/// The default daemon socket.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
/// The default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A daemon address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("invalid host {0:?}: only unix:// addresses are supported for now")]
    Unsupported(String),
    #[error("invalid host {0:?}: empty socket path")]
    Empty(String),
}

impl Host {
    /// Parses `unix:///path` (or a bare absolute path, as a convenience).
    pub fn parse(s: &str) -> Result<Host, HostError> {
        let path = if let Some(p) = s.strip_prefix("unix://") {
            p
        } else if s.starts_with('/') {
            s
        } else {
            return Err(HostError::Unsupported(s.to_owned()));
        };
        if path.is_empty() {
            return Err(HostError::Empty(s.to_owned()));
        }
        Ok(Host::Unix(PathBuf::from(path)))
    }

    /// The host the user chose: the `-H` flag, else `$BERTH_HOST`, else `$DOCKER_HOST`,
    /// else the default socket. Empty variables count as unset, as in Docker.
    pub fn select(flag: Option<&str>) -> Result<Host, HostError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let chosen = flag.map(str::to_owned).or_else(|| env("BERTH_HOST")).or_else(|| env("DOCKER_HOST"));
        Host::parse(chosen.as_deref().unwrap_or(DEFAULT_HOST))
    }

    pub fn socket(&self) -> &std::path::Path {
        match self {
            Host::Unix(p) => p,
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_hosts() {
        assert_eq!(Host::parse("unix:///tmp/x.sock").unwrap(), Host::Unix("/tmp/x.sock".into()));
        assert_eq!(Host::parse("/tmp/x.sock").unwrap().to_string(), "unix:///tmp/x.sock");
        assert!(Host::parse("tcp://1.2.3.4:2375").is_err());
        assert!(Host::parse("unix://").is_err());
        assert_eq!(Host::select(Some("unix:///a")).unwrap(), Host::Unix("/a".into()));
    }
}
