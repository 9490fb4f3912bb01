//! Who is called what, on which network: the embedded DNS server's view of the world.
//! A container asking by name sees only containers that share a network with it, as
//! in Docker.

use std::collections::HashSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    pub container_id: String,
    pub network_id: String,
    /// The network's name: `<name>.<network>` resolves too, as in Docker.
    pub network_name: String,
    pub ip: Ipv4Addr,
    /// Container name, aliases, short id; compared case-insensitively.
    pub names: Vec<String>,
}

#[derive(Debug, Default)]
pub struct NameTable {
    records: Vec<NameRecord>,
    /// Legacy links on user networks: a name only one container resolves.
    links: Vec<LinkAlias>,
}

/// `alias` resolves to `ip` for `asker` alone, on `network_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAlias {
    pub asker: String,
    pub network_id: String,
    pub alias: String,
    pub ip: Ipv4Addr,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl NameTable {
    /// Adds or replaces the record of (container, network).
    pub fn register(&mut self, mut rec: NameRecord) {
        rec.names = rec.names.iter().map(|n| norm(n)).filter(|n| !n.is_empty()).collect();
        rec.network_name = norm(&rec.network_name);
        self.records.retain(|r| !(r.container_id == rec.container_id && r.network_id == rec.network_id));
        self.records.push(rec);
    }

    pub fn unregister(&mut self, container_id: &str, network_id: &str) {
        self.records.retain(|r| !(r.container_id == container_id && r.network_id == network_id));
        self.links.retain(|l| !(l.asker == container_id && l.network_id == network_id));
    }

    pub fn unregister_container(&mut self, container_id: &str) {
        self.records.retain(|r| r.container_id != container_id);
        self.links.retain(|l| l.asker != container_id);
    }

    /// Adds a link alias of `link.asker` (one alias may name several containers, as
    /// compose links every replica of a service).
    pub fn add_link(&mut self, mut link: LinkAlias) {
        link.alias = norm(&link.alias);
        if !self.links.contains(&link) {
            self.links.push(link);
        }
    }

    fn networks_of(&self, container_id: &str) -> HashSet<&str> {
        self.records.iter().filter(|r| r.container_id == container_id).map(|r| r.network_id.as_str()).collect()
    }

    /// Addresses `name` stands for, as seen by `asker` (exact, case-insensitive names;
    /// `<name>.<network>` for a name on that network).
    pub fn lookup(&self, asker: &str, name: &str) -> Vec<Ipv4Addr> {
        let nets = self.networks_of(asker);
        let name = norm(name);
        // A link alias wins over other containers' names, as in Docker.
        let linked: Vec<Ipv4Addr> = self.links.iter().filter(|l| l.asker == asker && l.alias == name && nets.contains(l.network_id.as_str())).map(|l| l.ip).collect();
        if !linked.is_empty() {
            return linked;
        }
        let names_it = |r: &NameRecord| {
            r.names.contains(&name)
                || (!r.network_name.is_empty()
                    && name.strip_suffix(r.network_name.as_str()).and_then(|n| n.strip_suffix('.')).is_some_and(|n| r.names.iter().any(|x| x == n)))
        };
        let mut out: Vec<Ipv4Addr> = self.records.iter().filter(|r| nets.contains(r.network_id.as_str()) && names_it(r)).map(|r| r.ip).collect();
        out.dedup();
        out
    }

    /// The name of the container holding `ip` on one of the asker's networks.
    pub fn reverse(&self, asker: &str, ip: Ipv4Addr) -> Option<String> {
        let nets = self.networks_of(asker);
        self.records
            .iter()
            .find(|r| nets.contains(r.network_id.as_str()) && r.ip == ip)
            .and_then(|r| r.names.first().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(c: &str, n: &str, ip: [u8; 4], names: &[&str]) -> NameRecord {
        NameRecord { container_id: c.into(), network_id: n.into(), network_name: format!("net-{n}"), ip: ip.into(), names: names.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn names_are_visible_only_on_shared_networks() {
        let mut t = NameTable::default();
        t.register(rec("a", "n1", [10, 0, 0, 2], &["web", "alias1"]));
        t.register(rec("b", "n1", [10, 0, 0, 3], &["db"]));
        t.register(rec("c", "n2", [10, 1, 0, 2], &["other"]));
        assert_eq!(t.lookup("b", "WEB."), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("b", "alias1"), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(t.lookup("b", "other").is_empty());
        assert!(t.lookup("c", "web").is_empty());
        // <name>.<network>, only on that network.
        assert_eq!(t.lookup("b", "web.net-n1"), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("b", "Web.Net-N1."), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(t.lookup("b", "web.net-n2").is_empty());
        assert!(t.lookup("b", "webnet-n1").is_empty());
        assert!(t.lookup("c", "web.net-n1").is_empty());
        // A link alias: for its asker only, gone with the asker.
        t.add_link(LinkAlias { asker: "b".into(), network_id: "n1".into(), alias: "Site".into(), ip: Ipv4Addr::new(10, 0, 0, 2) });
        assert_eq!(t.lookup("b", "site"), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(t.lookup("a", "site").is_empty());
        t.unregister_container("b");
        t.register(rec("b", "n1", [10, 0, 0, 3], &["db"]));
        assert!(t.lookup("b", "site").is_empty());
        assert_eq!(t.reverse("b", Ipv4Addr::new(10, 0, 0, 2)).as_deref(), Some("web"));
        assert_eq!(t.reverse("c", Ipv4Addr::new(10, 0, 0, 2)), None);
        t.unregister("a", "n1");
        assert!(t.lookup("b", "web").is_empty());
    }
}
