//! The files berthd manages for every container and bind-mounts over the image's:
//! /etc/hostname, /etc/hosts and /etc/resolv.conf, written as Docker writes them.

use std::path::Path;

use anyhow::{Context, Result};

/// What the three files are made from.
pub struct NetFiles<'a> {
    pub hostname: &'a str,
    pub domainname: &'a str,
    /// `--add-host name:ip` entries.
    pub extra_hosts: &'a [String],
    /// The container's own addresses (empty without a network).
    pub addresses: &'a [String],
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_options: &'a [String],
    /// On a user network: the embedded DNS at 127.0.0.11 answers (and forwards).
    pub embedded_dns: bool,
}

pub fn hosts(f: &NetFiles) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in f.extra_hosts {
        // "name:ip" (the ip may hold colons, IPv6) or Docker 25's "name=ip".
        let (name, ip) = match h.split_once('=') {
            Some(p) => p,
            None => match h.split_once(':') {
                Some(p) => p,
                None => continue,
            },
        };
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    let fqdn = if f.domainname.is_empty() { f.hostname.to_owned() } else { format!("{}.{} {}", f.hostname, f.domainname, f.hostname) };
    for a in f.addresses {
        s.push_str(&format!("{a}\t{fqdn}\n"));
    }
    s
}

/// The host's resolv.conf with loopback name servers dropped (they mean nothing in the
/// container's network namespace), Google's public servers if none is left, as Docker
/// does; `--dns*` options replace the corresponding lines.
pub fn resolv_conf(host: &str, f: &NetFiles) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(ip) = w.next() {
                    if !ip.starts_with("127.") && ip != "::1" {
                        servers.push(ip.to_owned());
                    }
                }
            }
            Some("search") | Some("domain") => search = w.map(str::to_owned).collect(),
            Some("options") => options.extend(w.map(str::to_owned)),
            _ => {}
        }
    }
    if !f.dns.is_empty() {
        servers = f.dns.to_vec();
    }
    if f.embedded_dns {
        // Docker's: the resolver at 127.0.0.11 names containers and forwards the rest.
        servers = vec![berth_network::DNS_ADDR.to_string()];
        options.retain(|o| !o.starts_with("ndots:"));
        options.insert(0, "ndots:0".into());
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !f.dns_search.is_empty() {
        search = f.dns_search.iter().filter(|s| s.as_str() != ".").cloned().collect();
    }
    if !f.dns_options.is_empty() {
        options = f.dns_options.to_vec();
    }
    let mut s = String::new();
    for ns in servers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// Writes the three files into the container's directory.
pub fn write(dir: &Path, f: &NetFiles) -> Result<()> {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for (name, data) in [("hostname", format!("{}\n", f.hostname)), ("hosts", hosts(f)), ("resolv.conf", resolv_conf(&host, f))] {
        let p = dir.join(name);
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(extra: &'a [String], dns: &'a [String]) -> NetFiles<'a> {
        NetFiles { hostname: "abc", domainname: "", extra_hosts: extra, addresses: &[], dns, dns_search: &[], dns_options: &[], embedded_dns: false }
    }

    #[test]
    fn hosts_and_resolv() {
        let extra = vec!["db:10.0.0.5".to_string(), "v6:fe80::1".to_string()];
        let h = hosts(&files(&extra, &[]));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.5\tdb\n") && h.contains("fe80::1\tv6\n"), "{h}");
        let r = resolv_conf("nameserver 127.0.0.53\nsearch lan\noptions edns0\n", &files(&[], &[]));
        assert_eq!(r, "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0\n");
        let dns = vec!["1.1.1.1".to_string()];
        let r = resolv_conf("nameserver 192.168.1.1\n", &files(&[], &dns));
        assert_eq!(r, "nameserver 1.1.1.1\n");
    }
}
