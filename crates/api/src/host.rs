//! Which daemon to talk to: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then the default
//! socket. `unix:///path` or `tcp://host[:port]` (TLS settings are separate:
//! [`crate::transport::TlsOptions`]).

use std::path::PathBuf;

/// The default daemon socket.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
/// The default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Docker's ports: plain HTTP and TLS.
pub const DEFAULT_TCP_PORT: u16 = 2375;
pub const DEFAULT_TLS_PORT: u16 = 2376;

/// A daemon address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `tcp://host:port`; without a port, Docker's default for the transport (2375 plain,
    /// 2376 with TLS) applies.
    Tcp { host: String, port: Option<u16> },
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("invalid host {0:?}: only unix:// and tcp:// addresses are supported")]
    Unsupported(String),
    #[error("invalid host {0:?}: empty socket path")]
    Empty(String),
    #[error("invalid host {0:?}: {1}")]
    BadTcp(String, &'static str),
}

impl Host {
    /// Parses `unix:///path` (or a bare absolute path, as a convenience) and
    /// `tcp://host[:port]` (IPv6 hosts in brackets, as in URLs).
    pub fn parse(s: &str) -> Result<Host, HostError> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                return Err(HostError::BadTcp(s.to_owned(), "a tcp address has no path"));
            }
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (h, tail) = v6.split_once(']').ok_or(HostError::BadTcp(s.to_owned(), "unclosed '[' in the address"))?;
                match tail.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None if tail.is_empty() => (h, None),
                    None => return Err(HostError::BadTcp(s.to_owned(), "junk after ']'")),
                }
            } else {
                match rest.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (rest, None),
                }
            };
            let port = match port {
                Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or(HostError::BadTcp(s.to_owned(), "the port must be a number from 1 to 65535"))?),
                None => None,
            };
            // `tcp://:2375` means all addresses, as in Docker.
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            return Ok(Host::Tcp { host: host.to_owned(), port });
        }
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

    /// The socket path of a `unix://` host.
    pub fn socket(&self) -> Option<&std::path::Path> {
        match self {
            Host::Unix(p) => Some(p),
            Host::Tcp { .. } => None,
        }
    }

    /// `host:port` of a `tcp://` host, with the default port for the transport.
    pub fn tcp_address(&self, tls: bool) -> Option<String> {
        match self {
            Host::Unix(_) => None,
            Host::Tcp { host, port } => {
                let port = port.unwrap_or(if tls { DEFAULT_TLS_PORT } else { DEFAULT_TCP_PORT });
                Some(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
            }
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp { host, port: Some(port) } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Host::Tcp { host, port: Some(port) } => write!(f, "tcp://{host}:{port}"),
            Host::Tcp { host, port: None } if host.contains(':') => write!(f, "tcp://[{host}]"),
            Host::Tcp { host, port: None } => write!(f, "tcp://{host}"),
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
        assert!(Host::parse("unix://").is_err());
        assert!(Host::parse("ssh://me@there").is_err());
        assert_eq!(Host::select(Some("unix:///a")).unwrap(), Host::Unix("/a".into()));
    }

    #[test]
    fn parse_tcp_hosts() {
        let h = Host::parse("tcp://127.0.0.1:2376").unwrap();
        assert_eq!(h, Host::Tcp { host: "127.0.0.1".into(), port: Some(2376) });
        assert_eq!(h.tcp_address(false).unwrap(), "127.0.0.1:2376");
        let h = Host::parse("tcp://localhost").unwrap();
        assert_eq!((h.tcp_address(false).unwrap(), h.tcp_address(true).unwrap()), ("localhost:2375".into(), "localhost:2376".into()));
        let h = Host::parse("tcp://[::1]:5000").unwrap();
        assert_eq!((h.tcp_address(true).unwrap(), h.to_string()), ("[::1]:5000".into(), "tcp://[::1]:5000".into()));
        assert_eq!(Host::parse("tcp://:2375").unwrap().tcp_address(false).unwrap(), "0.0.0.0:2375");
        for bad in ["tcp://h:99999", "tcp://h:0", "tcp://h:x", "tcp://h:1/path", "tcp://[::1"] {
            assert!(Host::parse(bad).is_err(), "{bad}");
        }
        assert!(Host::parse("tcp://h:99999").unwrap_err().to_string().contains("port"));
    }
}
