//! How berthd reaches registries (daemon.json's `insecure-registries`,
//! `registry-mirrors`, the certs.d directory) and which hosts count as insecure.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

/// Docker Hub's domain in references, and the host that actually serves it.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Registry options; [`RegistryOptions::default`] is Docker's out-of-the-box behaviour.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// `host[:port]` names or CIDRs (`10.0.0.0/8`) reached over plain HTTP or HTTPS
    /// without verification. 127.0.0.0/8 and ::1 are always insecure, as in Docker.
    pub insecure_registries: Vec<String>,
    /// Mirror URLs (`https://mirror.local:5000`) tried in order for docker.io pulls before
    /// Docker Hub itself.
    pub mirrors: Vec<String>,
    /// Docker's certs.d layout: `<dir>/<host:port>/*.crt` extra CAs, `client.cert` +
    /// `client.key` a client certificate. `/etc/berth/certs.d` in berthd.
    pub certs_dir: Option<PathBuf>,
    /// The User-Agent header.
    pub user_agent: String,
    /// Layer downloads running at once per pull (Docker's default is 3).
    pub max_concurrent_downloads: usize,
    /// Layer uploads running at once per push (Docker's default is 5).
    pub max_concurrent_uploads: usize,
    /// Push blobs larger than this in PATCH chunks of this size; smaller ones in one PUT.
    pub upload_chunk_size: u64,
    /// How many times a broken blob download is resumed with a Range request.
    pub download_retries: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            certs_dir: None,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            upload_chunk_size: 16 << 20,
            download_retries: 5,
        }
    }
}

impl RegistryOptions {
    /// Whether `domain` (`host[:port]`, as in a reference) may be used without TLS
    /// verification: listed by name, in a listed CIDR, or loopback.
    pub fn is_insecure(&self, domain: &str) -> bool {
        let host = host_of(domain);
        if self.insecure_registries.iter().any(|e| e == domain || e == host) {
            return true;
        }
        let ips = resolve(host);
        if ips.iter().any(IpAddr::is_loopback) {
            return true;
        }
        self.insecure_registries
            .iter()
            .filter_map(|e| Cidr::parse(e))
            .any(|c| ips.iter().any(|ip| c.contains(ip)))
    }
}

/// The host part of `host[:port]` / `[v6]:port`.
pub fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match domain.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => domain,
    }
}

fn resolve(host: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    if host == "localhost" {
        return vec![IpAddr::from([127, 0, 0, 1])];
    }
    (host, 0).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default()
}

struct Cidr {
    net: IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = s.split_once('/')?;
        let net: IpAddr = ip.parse().ok()?;
        let bits: u32 = bits.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net, bits })
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.bits == 0 { 0 } else { u32::MAX << (32 - self.bits) };
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.bits == 0 { 0 } else { u128::MAX << (128 - self.bits) };
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_by_name_cidr_and_loopback() {
        let o = RegistryOptions { insecure_registries: vec!["reg.test:5000".into(), "10.1.0.0/16".into()], ..Default::default() };
        assert!(o.is_insecure("127.0.0.1:5000"));
        assert!(o.is_insecure("127.9.9.9"));
        assert!(o.is_insecure("localhost:5000"));
        assert!(o.is_insecure("[::1]:5000"));
        assert!(o.is_insecure("reg.test:5000"));
        assert!(o.is_insecure("10.1.200.3:443"));
        assert!(!o.is_insecure("10.2.0.1:443"));
        assert!(!o.is_insecure("192.0.2.1"));
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("a.b:1"), "a.b");
        assert!(Cidr::parse("1.2.3.4/33").is_none());
    }
}
