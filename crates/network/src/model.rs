//! What a network and an endpoint are, in Docker's shape.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::ipam::format_mac;

/// The option naming the host bridge of a bridge network.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// The MTU of the network's bridge and of every container interface on it.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// Checks an MTU option: a number from 68 (IPv4's minimum) to 65535.
pub fn parse_mtu(value: &str) -> Option<u32> {
    value.trim().parse::<u32>().ok().filter(|m| (68..=65535).contains(m))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl Driver {
    pub fn parse(s: &str) -> Result<Driver> {
        match s {
            "" | "bridge" => Ok(Driver::Bridge),
            "host" => Ok(Driver::Host),
            "null" => Ok(Driver::Null),
            other => Err(Error::UnknownDriver(other.to_string())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One IPv4 pool of a network (`IPAM.Config[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConfig {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// 64 lowercase hex digits.
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// Empty for host and null networks.
    pub ipam: Vec<IpamConfig>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// RFC 3339 with nanoseconds, as Docker prints it.
    pub created: String,
    /// The host bridge (bridge driver only).
    pub bridge: Option<String>,
}

impl Network {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The predefined networks `bridge`, `host` and `none` cannot be removed.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn subnet(&self) -> Option<&IpamConfig> {
        self.ipam.first()
    }

    /// `com.docker.network.driver.mtu` (validated when the network was made).
    pub fn mtu(&self) -> Option<u32> {
        self.options.get(OPT_MTU).and_then(|m| m.parse().ok())
    }

    /// The Engine API's `Network` object (GET /networks/{id}), without `Containers`
    /// (the daemon fills that from its container records and [`Endpoint::docker_json`]).
    pub fn docker_json(&self) -> Value {
        let config: Vec<Value> = self
            .ipam
            .iter()
            .map(|c| {
                let mut o = json!({"Subnet": c.subnet.to_string(), "Gateway": c.gateway.to_string()});
                if let Some(r) = c.ip_range {
                    o["IPRange"] = json!(r.to_string());
                }
                o
            })
            .collect();
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver.as_str(),
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": config},
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": {},
            "Options": self.options,
            "Labels": self.labels,
        })
    }
}

/// A container's attachment to one network, with its address lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub network_id: String,
    pub container_id: String,
    /// Name inside the container: eth0, eth1, ...
    pub ifname: String,
    /// The host end of the veth pair.
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The bridge address (no default route via it on internal networks).
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
    /// DNS names this endpoint answers to on its network (container name, aliases).
    pub aliases: Vec<String>,
    pub netns: PathBuf,
}

impl Endpoint {
    pub fn mac_string(&self) -> String {
        format_mac(&self.mac)
    }

    /// The Engine API's `EndpointSettings` (`NetworkSettings.Networks[name]`).
    pub fn docker_json(&self) -> Value {
        json!({
            "IPAMConfig": null,
            "Links": null,
            "Aliases": self.aliases,
            "MacAddress": self.mac_string(),
            "NetworkID": self.network_id,
            "EndpointID": self.id,
            "Gateway": self.gateway.to_string(),
            "IPAddress": self.ip.to_string(),
            "IPPrefixLen": self.prefix_len,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": self.aliases,
        })
    }
}

/// A published port as it is installed (host port resolved).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishedPort {
    pub container_id: String,
    pub proto: crate::portspec::Proto,
    /// 0.0.0.0 for all addresses.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    /// The bridge the container is reached through.
    pub bridge: String,
}

/// 64 random hex digits, as Docker's ids.
pub fn random_id() -> String {
    random_hex(32)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    // /dev/urandom never blocks after boot; fall back to time+pid mixing if unreadable.
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_err() {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left((i * 7) as u32) as u8) ^ (i as u8).wrapping_mul(151);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
