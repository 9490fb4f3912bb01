//! A container's networks: which it joins (HostConfig.NetworkMode and
//! NetworkingConfig.EndpointsConfig), their setup before each start (a netns file, a
//! veth per network, published ports) and teardown at exit, and how inspect/ps show
//! them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use berth_api::models::EndpointSettings;
use berth_network::{AttachOptions, HostPort, PortMapping};
use serde_json::{json, Value};

use super::record::Container;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How the container is networked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Host,
    None,
    /// Another container's namespace (`container:NAME`).
    Container(String),
    /// Bridge networks: the primary first.
    Networks(Vec<String>),
}

/// `NetworkMode` as the container's record holds it ("default" is the bridge).
pub fn primary(c: &Container) -> String {
    match c.host_config.network_mode.as_deref().unwrap_or("") {
        "" | "default" => "bridge".into(),
        m => m.to_owned(),
    }
}

/// The client's per-network settings, `default` named `bridge` (docker's CLI keys them
/// by the name the user typed).
fn endpoints(c: &Container) -> BTreeMap<String, EndpointSettings> {
    let all = c.networking_config.as_ref().and_then(|n| n.endpoints_config.clone()).unwrap_or_default();
    all.into_iter().map(|(k, v)| (if k == "default" { "bridge".to_owned() } else { k }, v)).collect()
}

pub fn mode(c: &Container) -> Mode {
    let p = primary(c);
    match p.as_str() {
        "host" => Mode::Host,
        "none" => Mode::None,
        m if m.starts_with("container:") => Mode::Container(m["container:".len()..].to_owned()),
        _ => {
            let mut nets = if c.primary_detached { vec![] } else { vec![p.clone()] };
            for k in endpoints(c).into_keys() {
                if !nets.contains(&k) && !matches!(k.as_str(), "host" | "none") {
                    nets.push(k);
                }
            }
            Mode::Networks(nets)
        }
    }
}

/// Checks at create that the networks exist (Docker's 404) and that the options fit.
pub fn validate(state: &AppState, mode_name: &str, endpoints: &[String]) -> ApiResult<()> {
    if mode_name.starts_with("container:") || matches!(mode_name, "" | "default" | "host" | "none" | "bridge") {
        return Ok(());
    }
    for n in std::iter::once(mode_name).chain(endpoints.iter().map(String::as_str)) {
        state.network.network(n).map_err(|_| ApiError::not_found(format!("network {n} not found")))?;
    }
    Ok(())
}

/// What a start got: the netns to put into the spec and the addresses for /etc/hosts.
#[derive(Debug, Default)]
pub struct Attached {
    pub netns: Option<PathBuf>,
    pub addresses: Vec<Ipv4Addr>,
    /// On a user-defined network: the embedded DNS serves the container.
    pub embedded_dns: bool,
}

/// The port mappings a start publishes: PortBindings, and with PublishAllPorts every
/// exposed port not bound otherwise, on a random host port.
pub fn mappings(c: &Container) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for (key, bindings) in c.host_config.port_bindings.iter().flatten() {
        let list = bindings.clone().unwrap_or_default();
        if list.is_empty() {
            out.push(PortMapping::from_api(key, "", "").map_err(|e| anyhow!("invalid port binding {key}: {e}"))?);
        }
        for b in list {
            let m = PortMapping::from_api(key, b.host_ip.as_deref().unwrap_or(""), b.host_port.as_deref().unwrap_or("")).map_err(|e| anyhow!("invalid port binding {key}: {e}"))?;
            out.push(m);
        }
    }
    if c.host_config.publish_all_ports.unwrap_or(false) {
        for key in c.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            let m = PortMapping::from_api(key, "", "").map_err(|e| anyhow!("invalid exposed port {key}: {e}"))?;
            if !out.iter().any(|o| o.port_key() == m.port_key()) {
                out.push(PortMapping { host_port: HostPort::Random, ..m });
            }
        }
    }
    Ok(out)
}

/// Before a start (blocking): the container's netns, its endpoints, its ports. On
/// failure nothing stays attached.
pub fn setup(state: &AppState, c: &Container) -> Result<Attached> {
    let nets = match mode(c) {
        // `none`: the runtime makes a fresh namespace with only `lo` (no file to pin it:
        // nothing joins it later, `network connect` refuses such a container).
        Mode::Host | Mode::Container(_) | Mode::None => return Ok(Attached::default()),
        Mode::Networks(n) => n,
    };
    let r = attach_all(state, c, &nets);
    if r.is_err() {
        if let Ok(t) = state.network.release(&c.id) {
            t.wait();
        }
    }
    r
}

fn attach_all(state: &AppState, c: &Container, nets: &[String]) -> Result<Attached> {
    let netns = state.network.create_netns(&c.id).context("creating the network namespace")?;
    let eps = endpoints(c);
    let mut out = Attached { netns: Some(netns.clone()), ..Default::default() };
    for net in nets {
        let es = eps.get(net).cloned().unwrap_or_default();
        let ip = es.ipam_config.as_ref().and_then(|i| i.ipv4_address.as_deref()).filter(|s| !s.is_empty());
        let ip = ip.map(|s| s.parse::<Ipv4Addr>().map_err(|_| anyhow!("invalid IPv4 address {s:?} for network {net}"))).transpose()?;
        let opts = AttachOptions { name: Some(c.name.clone()), aliases: es.aliases.clone().unwrap_or_default(), ip };
        let ep = state.network.attach(&c.id, &netns, net, opts).map_err(|e| anyhow!("failed to set up container networking on network {net}: {e}"))?;
        if let Some(ep) = ep {
            out.addresses.push(ep.ip);
            if net != "bridge" {
                out.embedded_dns = true;
            }
        }
    }
    if out.embedded_dns {
        set_dns_upstreams(state, c);
    }
    let maps = mappings(c)?;
    if !maps.is_empty() {
        state.network.publish(&c.id, &maps).map_err(|e| anyhow!("driver failed programming external connectivity on endpoint {} ({}): {e}", c.name, &c.id[..12]))?;
    }
    Ok(out)
}

/// On a user network the container's resolv.conf names the embedded DNS, and its
/// `--dns` servers (or daemon.json's `dns`) become where that DNS forwards the names it
/// does not know, as in Docker; without any, the host's resolvers.
pub fn set_dns_upstreams(state: &AppState, c: &Container) {
    let Some(dns) = state.network.dns().filter(|d| d.is_serving(&c.id)) else { return };
    let mut servers = c.host_config.dns.clone().unwrap_or_default();
    if servers.is_empty() {
        servers = state.defaults().dns;
    }
    let ups = servers.iter().filter_map(|s| s.parse::<std::net::IpAddr>().ok()).map(|ip| std::net::SocketAddr::new(ip, 53)).collect();
    dns.set_container_upstreams(&c.id, ups);
}

/// After the container stopped (or a failed start): endpoints, ports, DNS and the netns
/// go; slow veth deletes finish on their own thread.
pub fn release(state: &AppState, id: &str) {
    if let Err(e) = state.network.release(id) {
        tracing::warn!(container = %id, "releasing the container's network: {e}");
    }
}

/// inspect's NetworkSettings.
pub fn settings_json(state: &AppState, c: &Container) -> Value {
    let eps = if c.running() { state.network.endpoints_of_container(&c.id).unwrap_or_default() } else { Vec::new() };
    let ports = if c.running() { state.network.published_ports(&c.id).unwrap_or_default() } else { Vec::new() };
    let mut networks = serde_json::Map::new();
    let configured = match mode(c) {
        Mode::Container(_) => vec![],
        Mode::Host => vec!["host".to_owned()],
        Mode::None => vec!["none".to_owned()],
        Mode::Networks(n) => n,
    };
    let all_nets = state.network.networks().unwrap_or_default();
    let user_cfg = endpoints(c);
    for name in &configured {
        let net = all_nets.iter().find(|n| &n.name == name || &n.id == name);
        let ep = net.and_then(|n| eps.iter().find(|e| e.network_id == n.id));
        let mut v = match ep {
            Some(ep) => ep.docker_json(),
            None => json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
                "NetworkID": net.map(|n| n.id.clone()).unwrap_or_default(), "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
            }),
        };
        if let Some(es) = user_cfg.get(name) {
            if let Some(a) = &es.aliases {
                v["Aliases"] = json!(a);
            }
            if let Some(i) = &es.ipam_config {
                v["IPAMConfig"] = serde_json::to_value(i).unwrap_or(Value::Null);
            }
        }
        networks.insert(net.map(|n| n.name.clone()).unwrap_or_else(|| name.clone()), v);
    }
    let mut port_map = serde_json::Map::new();
    for key in c.config.exposed_ports.iter().flat_map(|m| m.keys()) {
        port_map.insert(key.clone(), Value::Null);
    }
    for p in &ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = port_map.entry(key).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({ "HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string() }));
        }
    }
    let bridge_ep = all_nets.iter().find(|n| n.name == "bridge").and_then(|n| eps.iter().find(|e| e.network_id == n.id));
    json!({
        "Bridge": "",
        "SandboxID": if c.running() { c.id.clone() } else { String::new() },
        "SandboxKey": if c.running() && !eps.is_empty() { state.network.netns_path(&c.id).to_string_lossy().into_owned() } else { String::new() },
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_map,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": bridge_ep.map(|e| e.id.clone()).unwrap_or_default(),
        "Gateway": bridge_ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge_ep.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge_ep.map(|e| e.prefix_len).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": bridge_ep.map(|e| e.mac_string()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// ps's Ports: published ones with their host side, exposed ones without.
pub fn ports_json(state: &AppState, c: &Container) -> Vec<Value> {
    let published = if c.running() { state.network.published_ports(&c.id).unwrap_or_default() } else { Vec::new() };
    let mut v: Vec<Value> = published
        .iter()
        .map(|p| json!({ "IP": p.host_ip.to_string(), "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto.to_string() }))
        .collect();
    for key in c.config.exposed_ports.iter().flat_map(|m| m.keys()) {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(port) = port.parse::<u16>() else { continue };
        if !published.iter().any(|p| p.container_port == port && p.proto.to_string() == proto) {
            v.push(json!({ "PrivatePort": port, "Type": proto }));
        }
    }
    v.sort_by_key(|p| (p["PrivatePort"].as_u64(), p["PublicPort"].as_u64()));
    v
}
