//! The `-p/--publish` string forms, parsed into port mappings.
//!
//! Pure std Rust with no other dependency, so the CLI (which knows only the API crate)
//! can take a copy of this module, or the module can move into berth-api unchanged.
//!
//! Forms (as `docker run -p`): `containerPort`, `hostPort:containerPort`,
//! `ip:hostPort:containerPort`, `ip::containerPort`, each with an optional `/tcp`,
//! `/udp` or `/sctp`; ports may be ranges (`8000-8010:80-90`), and a host range with a
//! single container port means "any one free port of that range". IPv6 host addresses
//! are written in brackets: `[::1]:8080:80`.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpecError {
    Empty,
    InvalidContainerPort(String),
    InvalidHostPort(String),
    InvalidProto(String),
    InvalidIp(String),
    RangeMismatch { container: String, host: String },
    TooManyColons(String),
}

impl fmt::Display for PortSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpecError::Empty => write!(f, "no port specified: empty publish spec"),
            PortSpecError::InvalidContainerPort(p) => write!(f, "invalid containerPort: {p}"),
            PortSpecError::InvalidHostPort(p) => write!(f, "invalid hostPort: {p}"),
            PortSpecError::InvalidProto(p) => write!(f, "invalid proto: {p}"),
            PortSpecError::InvalidIp(ip) => write!(f, "invalid IP address: {ip}"),
            PortSpecError::RangeMismatch { container, host } => {
                write!(f, "invalid ranges specified for container and host Ports: {container} and {host}")
            }
            PortSpecError::TooManyColons(s) => {
                write!(f, "invalid publish spec {s}: too many colons (write IPv6 host addresses in brackets, e.g. [::1]:8080:80)")
            }
        }
    }
}

impl std::error::Error for PortSpecError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Result<Proto, PortSpecError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(PortSpecError::InvalidProto(s.to_string())),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which host port a mapping asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostPort {
    /// `-p 80` or `-P`: any free port of the ephemeral range.
    Random,
    Fixed(u16),
    /// `-p 8000-8010:80`: any free port of this inclusive range.
    AnyOf(u16, u16),
}

impl fmt::Display for HostPort {
    /// As the Engine API's `PortBindings[].HostPort` ("" for random).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort::Random => Ok(()),
            HostPort::Fixed(p) => write!(f, "{p}"),
            HostPort::AnyOf(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// One container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortMapping {
    pub proto: Proto,
    pub container_port: u16,
    /// None: all host addresses (0.0.0.0).
    pub host_ip: Option<IpAddr>,
    pub host_port: HostPort,
}

impl PortMapping {
    /// The Engine API's key for this mapping in `PortBindings`/`ExposedPorts`: `80/tcp`.
    pub fn port_key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }

    /// Parses an Engine API `PortBindings` entry (`"80/tcp"`, `HostIp`, `HostPort`).
    pub fn from_api(key: &str, host_ip: &str, host_port: &str) -> Result<PortMapping, PortSpecError> {
        let (port, proto) = match key.split_once('/') {
            Some((p, proto)) => (p, Proto::parse(proto)?),
            None => (key, Proto::Tcp),
        };
        let container_port = parse_port(port).ok_or_else(|| PortSpecError::InvalidContainerPort(port.to_string()))?;
        let host_ip = parse_host_ip(host_ip)?;
        let host_port = match parse_range(host_port, PortSpecError::InvalidHostPort)? {
            None => HostPort::Random,
            Some((a, b)) if a == b => HostPort::Fixed(a),
            Some((a, b)) => HostPort::AnyOf(a, b),
        };
        Ok(PortMapping { proto, container_port, host_ip, host_port })
    }
}

/// Parses one `-p` value into the mappings it stands for (one per container port).
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortSpecError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(PortSpecError::Empty);
    }
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (rest, Proto::parse(proto)?),
        None => (spec, Proto::Tcp),
    };

    let (ip, host, container) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after.split_once(']').ok_or_else(|| PortSpecError::InvalidIp(rest.to_string()))?;
        let tail = tail.strip_prefix(':').ok_or_else(|| PortSpecError::InvalidIp(rest.to_string()))?;
        let (host, container) = tail.split_once(':').ok_or_else(|| PortSpecError::InvalidIp(rest.to_string()))?;
        (ip, host, container)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => return Err(PortSpecError::TooManyColons(spec.to_string())),
        }
    };

    let host_ip = parse_host_ip(ip)?;
    let (c_lo, c_hi) = parse_range(container, PortSpecError::InvalidContainerPort)?
        .ok_or_else(|| PortSpecError::InvalidContainerPort(container.to_string()))?;
    let host_range = parse_range(host, PortSpecError::InvalidHostPort)?;

    let count = c_hi - c_lo;
    let mut out = Vec::with_capacity(count as usize + 1);
    for i in 0..=count {
        let host_port = match host_range {
            None => HostPort::Random,
            Some((h_lo, h_hi)) if count == 0 => {
                if h_lo == h_hi {
                    HostPort::Fixed(h_lo)
                } else {
                    HostPort::AnyOf(h_lo, h_hi)
                }
            }
            Some((h_lo, h_hi)) => {
                if h_hi - h_lo != count {
                    return Err(PortSpecError::RangeMismatch { container: container.to_string(), host: host.to_string() });
                }
                HostPort::Fixed(h_lo + i)
            }
        };
        out.push(PortMapping { proto, container_port: c_lo + i, host_ip, host_port });
    }
    Ok(out)
}

fn parse_host_ip(ip: &str) -> Result<Option<IpAddr>, PortSpecError> {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.is_empty() {
        return Ok(None);
    }
    ip.parse().map(Some).map_err(|_| PortSpecError::InvalidIp(ip.to_string()))
}

/// A port number 1..=65535.
fn parse_port(s: &str) -> Option<u16> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(p) => Some(p),
    }
}

/// "" -> None; "80" -> (80, 80); "80-90" -> (80, 90).
fn parse_range(s: &str, err: fn(String) -> PortSpecError) -> Result<Option<(u16, u16)>, PortSpecError> {
    if s.is_empty() {
        return Ok(None);
    }
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse_port(a), parse_port(b)),
        None => (parse_port(s), parse_port(s)),
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi => Ok(Some((lo, hi))),
        _ => Err(err(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> PortMapping {
        let mut v = parse_publish(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn container_port_only_is_random_host_port() {
        let m = one("80");
        assert_eq!(m, PortMapping { proto: Proto::Tcp, container_port: 80, host_ip: None, host_port: HostPort::Random });
    }

    #[test]
    fn host_and_container_ports() {
        let m = one("8080:80/udp");
        assert_eq!(m.proto, Proto::Udp);
        assert_eq!(m.host_port, HostPort::Fixed(8080));
        assert_eq!(m.port_key(), "80/udp");
    }

    #[test]
    fn ip_forms() {
        let m = one("127.0.0.1:8080:80");
        assert_eq!(m.host_ip, Some("127.0.0.1".parse().unwrap()));
        let m = one("127.0.0.1::80");
        assert_eq!(m.host_port, HostPort::Random);
        let m = one("[::1]:8080:80/tcp");
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
    }

    #[test]
    fn ranges() {
        let v = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(v.iter().map(|m| (m.host_port, m.container_port)).collect::<Vec<_>>(), vec![
            (HostPort::Fixed(8000), 80),
            (HostPort::Fixed(8001), 81),
            (HostPort::Fixed(8002), 82)
        ]);
        assert_eq!(one("8000-8010:80").host_port, HostPort::AnyOf(8000, 8010));
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for (s, want) in [
            ("", "no port specified"),
            ("abc", "invalid containerPort: abc"),
            ("0", "invalid containerPort: 0"),
            ("70000", "invalid containerPort: 70000"),
            ("x:80", "invalid hostPort: x"),
            ("80/xyz", "invalid proto: xyz"),
            ("1.2.3.999:80:80", "invalid IP address: 1.2.3.999"),
            ("8000-8001:80-82", "invalid ranges specified"),
            ("90-80", "invalid containerPort: 90-80"),
            ("::1:80:80", "too many colons"),
            ("[::1:80:80", "invalid IP address"),
            ("8080:", "invalid containerPort"),
        ] {
            let e = parse_publish(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn from_api_entries() {
        let m = PortMapping::from_api("53/udp", "", "").unwrap();
        assert_eq!((m.proto, m.host_port, m.host_ip), (Proto::Udp, HostPort::Random, None));
        let m = PortMapping::from_api("80/tcp", "0.0.0.0", "8080").unwrap();
        assert_eq!(m.host_port, HostPort::Fixed(8080));
        assert!(PortMapping::from_api("80/tcp", "", "eighty").is_err());
    }
}
