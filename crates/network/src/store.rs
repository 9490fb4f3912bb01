//! Persistent state in SQLite (the daemon's berth.db or a file of the caller's choice):
//! networks, endpoints (which are the address leases) and published ports, in tables
//! prefixed `net_`. Leases are rows with UNIQUE(network_id, ip), allocated inside an
//! IMMEDIATE transaction, so an address is never handed out twice, even by two
//! processes sharing the file.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::Ipv4Net;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};
use crate::ipam;
use crate::model::{Driver, Endpoint, IpamConfig, Network, PublishedPort};
use crate::portspec::Proto;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS net_networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,
    subnet TEXT,
    gateway TEXT,
    ip_range TEXT,
    internal INTEGER NOT NULL,
    attachable INTEGER NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL,
    created TEXT NOT NULL,
    bridge TEXT,
    last_ip TEXT
);
CREATE TABLE IF NOT EXISTS net_endpoints (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES net_networks(id),
    container_id TEXT NOT NULL,
    ifname TEXT NOT NULL,
    host_ifname TEXT NOT NULL,
    ip TEXT NOT NULL,
    prefix_len INTEGER NOT NULL,
    gateway TEXT NOT NULL,
    mac TEXT NOT NULL,
    aliases TEXT NOT NULL,
    netns TEXT NOT NULL,
    UNIQUE (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE TABLE IF NOT EXISTS net_ports (
    proto TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_id TEXT NOT NULL,
    container_ip TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    bridge TEXT NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
);
";

pub struct Store {
    db: Mutex<Connection>,
    path: PathBuf,
}

/// What an endpoint needs besides its address.
pub struct NewEndpoint<'a> {
    pub container_id: &'a str,
    pub ifname: String,
    pub host_ifname: String,
    pub aliases: Vec<String>,
    pub netns: &'a Path,
    pub requested_ip: Option<Ipv4Addr>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(SCHEMA)?;
        Ok(Store { db: Mutex::new(db), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions
        // roll back on drop), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert_network(&self, n: &Network) -> Result<()> {
        let c = n.subnet();
        let r = self.conn().execute(
            "INSERT INTO net_networks (id, name, driver, subnet, gateway, ip_range, internal, attachable, labels, options, created, bridge)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                n.id,
                n.name,
                n.driver.as_str(),
                c.map(|c| c.subnet.to_string()),
                c.map(|c| c.gateway.to_string()),
                c.and_then(|c| c.ip_range.map(|r| r.to_string())),
                n.internal,
                n.attachable,
                serde_json::to_string(&n.labels).unwrap_or_default(),
                serde_json::to_string(&n.options).unwrap_or_default(),
                n.created,
                n.bridge,
            ],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(Error::NameInUse(n.name.clone()))
            }
            r => r.map(|_| ()).map_err(Error::from),
        }
    }

    pub fn set_network_options(&self, id: &str, options: &BTreeMap<String, String>) -> Result<()> {
        self.conn().execute("UPDATE net_networks SET options = ?2 WHERE id = ?1", params![id, serde_json::to_string(options).unwrap_or_default()])?;
        Ok(())
    }

    pub fn delete_network(&self, id: &str) -> Result<()> {
        let db = self.conn();
        db.execute("DELETE FROM net_networks WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn networks(&self) -> Result<Vec<Network>> {
        let db = self.conn();
        let mut st = db.prepare_cached(
            "SELECT id, name, driver, subnet, gateway, ip_range, internal, attachable, labels, options, created, bridge
             FROM net_networks ORDER BY created",
        )?;
        let rows = st.query_map([], network_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().collect()
    }

    /// By exact id, exact name, then unique id prefix (as Docker resolves network refs).
    pub fn find_network(&self, reference: &str) -> Result<Network> {
        let all = self.networks()?;
        if let Some(n) = all.iter().find(|n| n.id == reference || n.name == reference) {
            return Ok(n.clone());
        }
        let mut prefixed = all.into_iter().filter(|n| !reference.is_empty() && n.id.starts_with(reference));
        match (prefixed.next(), prefixed.next()) {
            (Some(n), None) => Ok(n),
            _ => Err(Error::NetworkNotFound(reference.to_string())),
        }
    }

    /// Leases an address and records the endpoint, atomically.
    pub fn allocate_endpoint(&self, net: &Network, new: NewEndpoint<'_>) -> Result<Endpoint> {
        let cfg = net.subnet().ok_or_else(|| Error::AddressesExhausted(net.name.clone()))?.clone();
        let mut db = self.conn();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT id FROM net_endpoints WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, new.container_id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(Error::AlreadyConnected { container: new.container_id.to_string(), network: net.name.clone() });
        }
        let used: HashSet<Ipv4Addr> = {
            let mut st = tx.prepare_cached("SELECT ip FROM net_endpoints WHERE network_id = ?1")?;
            let ips = st.query_map([&net.id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            ips.iter().filter_map(|s| s.parse().ok()).collect()
        };
        let ip = match new.requested_ip {
            Some(ip) => {
                ipam::check_static(&cfg.subnet, cfg.gateway, &used, ip)?;
                ip
            }
            None => {
                let last: Option<String> =
                    tx.query_row("SELECT last_ip FROM net_networks WHERE id = ?1", [&net.id], |r| r.get(0))?;
                let last = last.and_then(|s| s.parse().ok());
                ipam::pick_free(&cfg.subnet, cfg.ip_range.as_ref(), cfg.gateway, &used, last)
                    .ok_or_else(|| Error::AddressesExhausted(net.name.clone()))?
            }
        };
        let ep = Endpoint {
            id: crate::model::random_id(),
            network_id: net.id.clone(),
            container_id: new.container_id.to_string(),
            ifname: new.ifname,
            host_ifname: new.host_ifname,
            ip,
            prefix_len: cfg.subnet.prefix_len(),
            gateway: cfg.gateway,
            mac: ipam::mac_for(ip),
            aliases: new.aliases,
            netns: new.netns.to_path_buf(),
        };
        tx.execute(
            "INSERT INTO net_endpoints (id, network_id, container_id, ifname, host_ifname, ip, prefix_len, gateway, mac, aliases, netns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                ep.id,
                ep.network_id,
                ep.container_id,
                ep.ifname,
                ep.host_ifname,
                ep.ip.to_string(),
                ep.prefix_len,
                ep.gateway.to_string(),
                ep.mac_string(),
                serde_json::to_string(&ep.aliases).unwrap_or_default(),
                ep.netns.to_string_lossy(),
            ],
        )?;
        if new.requested_ip.is_none() {
            tx.execute("UPDATE net_networks SET last_ip = ?1 WHERE id = ?2", params![ip.to_string(), net.id])?;
        }
        tx.commit()?;
        Ok(ep)
    }

    /// Releases the lease.
    pub fn delete_endpoint(&self, endpoint_id: &str) -> Result<()> {
        self.conn().execute("DELETE FROM net_endpoints WHERE id = ?1", [endpoint_id])?;
        Ok(())
    }

    pub fn set_aliases(&self, endpoint_id: &str, aliases: &[String]) -> Result<()> {
        self.conn().execute(
            "UPDATE net_endpoints SET aliases = ?1 WHERE id = ?2",
            params![serde_json::to_string(aliases).unwrap_or_default(), endpoint_id],
        )?;
        Ok(())
    }

    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        self.query_endpoints("SELECT * FROM net_endpoints ORDER BY container_id, ifname", [])
    }

    pub fn endpoints_of_network(&self, network_id: &str) -> Result<Vec<Endpoint>> {
        self.query_endpoints("SELECT * FROM net_endpoints WHERE network_id = ?1 ORDER BY ip", [network_id])
    }

    pub fn endpoints_of_container(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        self.query_endpoints("SELECT * FROM net_endpoints WHERE container_id = ?1 ORDER BY ifname", [container_id])
    }

    fn query_endpoints<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<Endpoint>> {
        let db = self.conn();
        let mut st = db.prepare_cached(sql)?;
        let rows = st.query_map(p, endpoint_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn insert_ports(&self, ports: &[PublishedPort]) -> Result<()> {
        let mut db = self.conn();
        let tx = db.transaction()?;
        for p in ports {
            tx.execute(
                "INSERT OR REPLACE INTO net_ports (proto, host_ip, host_port, container_id, container_ip, container_port, bridge)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    p.proto.as_str(),
                    p.host_ip.to_string(),
                    p.host_port,
                    p.container_id,
                    p.container_ip.to_string(),
                    p.container_port,
                    p.bridge
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn ports(&self) -> Result<Vec<PublishedPort>> {
        let db = self.conn();
        let mut st = db.prepare_cached(
            "SELECT proto, host_ip, host_port, container_id, container_ip, container_port, bridge FROM net_ports ORDER BY host_port",
        )?;
        let rows = st
            .query_map([], |r| {
                let proto: String = r.get(0)?;
                let host_ip: String = r.get(1)?;
                let container_ip: String = r.get(4)?;
                Ok(PublishedPort {
                    proto: Proto::parse(&proto).unwrap_or(Proto::Tcp),
                    host_ip: host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                    host_port: r.get(2)?,
                    container_id: r.get(3)?,
                    container_ip: container_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                    container_port: r.get(5)?,
                    bridge: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn delete_ports(&self, container_id: &str) -> Result<usize> {
        Ok(self.conn().execute("DELETE FROM net_ports WHERE container_id = ?1", [container_id])?)
    }
}

fn network_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Network>> {
    let driver: String = r.get(2)?;
    let subnet: Option<String> = r.get(3)?;
    let gateway: Option<String> = r.get(4)?;
    let ip_range: Option<String> = r.get(5)?;
    let labels: String = r.get(8)?;
    let options: String = r.get(9)?;
    let id: String = r.get(0)?;
    let name: String = r.get(1)?;
    let internal: bool = r.get(6)?;
    let attachable: bool = r.get(7)?;
    let created: String = r.get(10)?;
    let bridge: Option<String> = r.get(11)?;
    Ok((|| {
        let ipam = match (subnet, gateway) {
            (Some(s), Some(g)) => vec![IpamConfig {
                subnet: s.parse::<Ipv4Net>().map_err(|_| Error::InvalidCidr(s.clone()))?,
                gateway: ipam::parse_addr(&g)?,
                ip_range: ip_range.map(|r| r.parse::<Ipv4Net>().map_err(|_| Error::InvalidCidr(r.clone()))).transpose()?,
            }],
            _ => vec![],
        };
        Ok(Network {
            id,
            name,
            driver: Driver::parse(&driver)?,
            ipam,
            internal,
            attachable,
            labels: serde_json::from_str::<BTreeMap<String, String>>(&labels).unwrap_or_default(),
            options: serde_json::from_str::<BTreeMap<String, String>>(&options).unwrap_or_default(),
            created,
            bridge,
        })
    })())
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    let ip: String = r.get("ip")?;
    let gw: String = r.get("gateway")?;
    let aliases: String = r.get("aliases")?;
    let netns: String = r.get("netns")?;
    let ip: Ipv4Addr = ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
    Ok(Endpoint {
        id: r.get("id")?,
        network_id: r.get("network_id")?,
        container_id: r.get("container_id")?,
        ifname: r.get("ifname")?,
        host_ifname: r.get("host_ifname")?,
        ip,
        prefix_len: r.get("prefix_len")?,
        gateway: gw.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        mac: ipam::mac_for(ip),
        aliases: serde_json::from_str(&aliases).unwrap_or_default(),
        netns: PathBuf::from(netns),
    })
}
