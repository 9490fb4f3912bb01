//! The library's entry point for the daemon: networks, container attachments, published
//! ports, reconcile and cleanup, over the store, netlink, nftables and the DNS service.
//!
//! All methods are blocking (SQLite, netlink, short-lived netns threads, one `nft`
//! process when rules change). From async code call them in `spawn_blocking`; they
//! never change the calling thread's namespace.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

use ipnet::Ipv4Net;

use crate::dns::{Dns, NameRecord};
use crate::error::{Error, Result};
use crate::firewall::{self, BridgeRules, Ruleset};
use crate::hostport::{self, Reservation};
use crate::ipam;
use crate::model::{self, Driver, Endpoint, IpamConfig, Network, PublishedPort, OPT_BRIDGE_NAME, OPT_MTU};
use crate::netlink::{write_sysctl, Netlink};
use crate::netns;
use crate::portspec::PortMapping;
use crate::store::{NewEndpoint, Store};

/// Where and how the manager works. `Config::new` gives the daemon's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite file (the daemon's berth.db).
    pub db_path: PathBuf,
    /// Runtime dir; netns files go to `<run_dir>/netns/<container-id>`.
    pub run_dir: PathBuf,
    /// Host bridge of the default `bridge` network.
    pub default_bridge: String,
    /// `--bip`: the default bridge's gateway address and prefix, e.g. 172.17.0.1/16.
    pub bip: Option<String>,
    /// berth's nftables table (`ip` family).
    pub nft_table: String,
    /// daemon.json `mtu`: the default bridge network's MTU (1500 when unset).
    pub mtu: Option<u32>,
}

impl Config {
    pub fn new(db_path: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Config {
        Config {
            db_path: db_path.into(),
            run_dir: run_dir.into(),
            default_bridge: "berth0".into(),
            bip: None,
            nft_table: "berth".into(),
            mtu: None,
        }
    }
}

/// `POST /networks/create`, in the library's terms.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    /// "" or "bridge" (host and null exist once, predefined).
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// How a container joins a network (`--network-alias`, `--ip`, its name).
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// The container's name (without the leading '/'), resolvable by DNS.
    pub name: Option<String>,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
}

/// Background teardown of a released container: wait on it only where it matters (tests,
/// shutdown); the daemon can drop it.
pub struct Teardown(Option<JoinHandle<()>>);

impl Teardown {
    pub fn wait(mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// What `cleanup_orphans` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub endpoints: Vec<String>,
    pub netns_files: Vec<PathBuf>,
    pub links: Vec<String>,
    pub ports: usize,
}

pub struct NetworkManager {
    cfg: Config,
    store: Store,
    dns: Option<Dns>,
    /// Held host ports per container.
    reservations: Mutex<HashMap<String, Vec<Reservation>>>,
    /// Serializes network create/remove and firewall rebuilds (overlap checks and the
    /// nft transaction must see one consistent state).
    config_lock: Mutex<()>,
    /// Set once the predefined networks are known to exist (cleared by `purge`).
    defaults_ready: AtomicBool,
}

/// Container ids name files under the run dir: no separators, no dot names.
fn check_container_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(Error::InvalidOption { key: "container".into(), value: id.into(), why: "not a valid container id".into() });
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the embedded DNS answers for an endpoint.
fn name_record(ep: &Endpoint, net: &Network) -> NameRecord {
    NameRecord { container_id: ep.container_id.clone(), network_id: net.id.clone(), network_name: net.name.clone(), ip: ep.ip, names: ep.aliases.clone() }
}

impl NetworkManager {
    /// Opens (creating if needed) the store. `dns`: the embedded DNS service, or None
    /// to run without one (containers on user networks then get no 127.0.0.11).
    pub fn open(cfg: Config, dns: Option<Dns>) -> Result<NetworkManager> {
        let store = Store::open(&cfg.db_path)?;
        Ok(NetworkManager {
            cfg,
            store,
            dns,
            reservations: Mutex::new(HashMap::new()),
            config_lock: Mutex::new(()),
            defaults_ready: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn dns(&self) -> Option<&Dns> {
        self.dns.as_ref()
    }

    // ---------------------------------------------------------------- networks

    /// Creates `bridge`, `host` and `none` if they are missing (first need).
    pub fn ensure_default_networks(&self) -> Result<()> {
        if self.defaults_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        self.ensure_default_networks_now()?;
        self.defaults_ready.store(true, Ordering::Release);
        Ok(())
    }

    fn ensure_default_networks_now(&self) -> Result<()> {
        let nets = self.store.networks()?;
        // daemon.json's `mtu` applies to the default bridge on every start, as in Docker
        // (which re-creates that network each time); new attachments get it.
        if let Some(mut n) = nets.iter().find(|n| n.name == "bridge").cloned() {
            let want = self.cfg.mtu.unwrap_or(1500).to_string();
            if n.options.get(OPT_MTU) != Some(&want) {
                n.options.insert(OPT_MTU.to_string(), want);
                self.store.set_network_options(&n.id, &n.options)?;
                if let Some(b) = n.bridge.as_deref() {
                    let mut nl = Netlink::new()?;
                    if let (Some(idx), Some(mtu)) = (nl.link_index(b)?, n.mtu()) {
                        nl.set_mtu(idx, mtu)?;
                    }
                }
            }
        }
        let existing: HashSet<String> = nets.into_iter().map(|n| n.name).collect();
        for (name, driver) in [("host", Driver::Host), ("none", Driver::Null)] {
            if !existing.contains(name) {
                let n = Network {
                    id: model::random_id(),
                    name: name.into(),
                    driver,
                    ipam: vec![],
                    internal: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    created: model::now_rfc3339(),
                    bridge: None,
                };
                match self.store.insert_network(&n) {
                    Ok(()) | Err(Error::NameInUse(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if !existing.contains("bridge") {
            let (subnet, gateway) = match &self.cfg.bip {
                Some(bip) => {
                    let n: Ipv4Net = bip.parse().map_err(|_| Error::InvalidCidr(bip.clone()))?;
                    (n.trunc(), n.addr())
                }
                None => self.auto_pool()?,
            };
            let mut options = BTreeMap::new();
            options.insert("com.docker.network.bridge.default_bridge".to_string(), "true".to_string());
            options.insert("com.docker.network.bridge.enable_icc".to_string(), "true".to_string());
            options.insert("com.docker.network.bridge.enable_ip_masquerade".to_string(), "true".to_string());
            options.insert("com.docker.network.bridge.host_binding_ipv4".to_string(), "0.0.0.0".to_string());
            options.insert(OPT_BRIDGE_NAME.to_string(), self.cfg.default_bridge.clone());
            options.insert(OPT_MTU.to_string(), self.cfg.mtu.unwrap_or(1500).to_string());
            let n = Network {
                id: model::random_id(),
                name: "bridge".into(),
                driver: Driver::Bridge,
                ipam: vec![IpamConfig { subnet, gateway, ip_range: None }],
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options,
                created: model::now_rfc3339(),
                bridge: Some(self.cfg.default_bridge.clone()),
            };
            let _g = lock(&self.config_lock);
            match self.store.insert_network(&n) {
                // The bridge link itself is made on the first attach (first need); the
                // rules go in now so they are there before any traffic.
                Ok(()) => {
                    if let Err(e) = self.rebuild_firewall_locked() {
                        let _ = self.store.delete_network(&n.id);
                        return Err(e);
                    }
                }
                Err(Error::NameInUse(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The first default pool clear of berth's networks and of the host's routes and
    /// addresses, with its first address as gateway.
    fn auto_pool(&self) -> Result<(Ipv4Net, Ipv4Addr)> {
        let mut taken: Vec<Ipv4Net> = self.store.networks()?.iter().filter_map(|n| n.subnet().map(|c| c.subnet)).collect();
        let mut nl = Netlink::new()?;
        taken.extend(nl.routes_v4()?);
        taken.extend(nl.addrs_v4()?.into_iter().map(|(_, n)| n.trunc()));
        let pool = ipam::first_free_pool(&taken).ok_or(Error::NoFreePool)?;
        Ok((pool, ipam::default_gateway(&pool)))
    }

    pub fn networks(&self) -> Result<Vec<Network>> {
        self.ensure_default_networks()?;
        self.store.networks()
    }

    /// By id, name or unique id prefix.
    pub fn network(&self, reference: &str) -> Result<Network> {
        self.ensure_default_networks()?;
        self.store.find_network(reference)
    }

    pub fn endpoints_of_network(&self, network_id: &str) -> Result<Vec<Endpoint>> {
        self.store.endpoints_of_network(network_id)
    }

    pub fn endpoints_of_container(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        self.store.endpoints_of_container(container_id)
    }

    pub fn published_ports(&self, container_id: &str) -> Result<Vec<PublishedPort>> {
        Ok(self.store.ports()?.into_iter().filter(|p| p.container_id == container_id).collect())
    }

    /// `network create`: validates everything first, then records the network, makes its
    /// bridge and rebuilds the firewall; on any failure nothing of it remains.
    pub fn create_network(&self, req: CreateNetwork) -> Result<Network> {
        self.ensure_default_networks()?;
        let driver = Driver::parse(&req.driver)?;
        if driver != Driver::Bridge {
            // host and null networks exist once (predefined), as in Docker.
            return Err(Error::InvalidOption {
                key: "driver".into(),
                value: req.driver.clone(),
                why: "only one instance of \"host\"/\"null\" network is allowed".into(),
            });
        }
        let name = req.name.trim().to_string();
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(Error::InvalidOption { key: "name".into(), value: req.name.clone(), why: "invalid network name".into() });
        }
        let id = model::random_id();
        let bridge = match req.options.get(OPT_BRIDGE_NAME) {
            Some(b) => {
                if b.is_empty() || b.len() > 15 || b.contains('/') || b.chars().any(char::is_whitespace) {
                    return Err(Error::InvalidOption {
                        key: OPT_BRIDGE_NAME.into(),
                        value: b.clone(),
                        why: "an interface name of 1-15 characters without '/' or spaces".into(),
                    });
                }
                b.clone()
            }
            None => format!("br-{}", &id[..12]),
        };
        if let Some(m) = req.options.get(OPT_MTU) {
            if model::parse_mtu(m).is_none() {
                return Err(Error::InvalidOption { key: OPT_MTU.into(), value: m.clone(), why: "an MTU from 68 to 65535".into() });
            }
        }

        let _g = lock(&self.config_lock);
        let others = self.store.networks()?;
        if others.iter().any(|n| n.name == name) {
            return Err(Error::NameInUse(name));
        }
        if others.iter().any(|n| n.bridge.as_deref() == Some(bridge.as_str())) {
            return Err(Error::InvalidOption { key: OPT_BRIDGE_NAME.into(), value: bridge, why: "bridge already used by another network".into() });
        }
        let ipam = self.plan_ipam(&req, &others)?;
        let mut options = req.options.clone();
        options.entry(OPT_BRIDGE_NAME.to_string()).or_insert_with(|| bridge.clone());
        let net = Network {
            id,
            name,
            driver,
            ipam: vec![ipam],
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options,
            created: model::now_rfc3339(),
            bridge: Some(bridge),
        };
        self.store.insert_network(&net)?;
        if let Err(e) = self.install_network(&net) {
            let _ = self.store.delete_network(&net.id);
            let _ = self.uninstall_bridge(&net);
            let _ = self.rebuild_firewall_locked();
            return Err(e);
        }
        Ok(net)
    }

    fn plan_ipam(&self, req: &CreateNetwork, others: &[Network]) -> Result<IpamConfig> {
        let taken: Vec<Ipv4Net> = others.iter().filter_map(|n| n.subnet().map(|c| c.subnet)).collect();
        let subnet = match &req.subnet {
            Some(s) => {
                let s = ipam::parse_subnet(s)?;
                if taken.iter().any(|t| ipam::overlaps(t, &s)) {
                    return Err(Error::PoolOverlap);
                }
                s
            }
            None => {
                if req.gateway.is_some() || req.ip_range.is_some() {
                    // Docker: a gateway or range without a subnet cannot be matched.
                    let g = req.gateway.as_deref().map(ipam::parse_addr).transpose()?;
                    return Err(match g {
                        Some(g) => Error::GatewayOutsideSubnet(g),
                        None => Error::RangeOutsideSubnet(req.ip_range.clone().unwrap_or_default()),
                    });
                }
                self.auto_pool()?.0
            }
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let g = ipam::parse_addr(g)?;
                if !subnet.contains(&g) || g == subnet.network() || (subnet.prefix_len() < 31 && g == subnet.broadcast()) {
                    return Err(Error::GatewayOutsideSubnet(g));
                }
                g
            }
            None => ipam::default_gateway(&subnet),
        };
        let ip_range = match &req.ip_range {
            Some(r) => {
                let r = ipam::parse_subnet(r)?;
                if !subnet.contains(&r) {
                    return Err(Error::RangeOutsideSubnet(r.to_string()));
                }
                Some(r)
            }
            None => None,
        };
        Ok(IpamConfig { subnet, gateway, ip_range })
    }

    /// Bridge link + address + sysctls + firewall for a recorded network.
    fn install_network(&self, net: &Network) -> Result<()> {
        self.ensure_bridge_link(net)?;
        self.rebuild_firewall_locked()
    }

    fn ensure_bridge_link(&self, net: &Network) -> Result<()> {
        let (Some(bridge), Some(cfg)) = (&net.bridge, net.subnet()) else { return Ok(()) };
        let mut nl = Netlink::new()?;
        let idx = nl.ensure_bridge(bridge)?;
        if let Some(mtu) = net.mtu() {
            nl.set_mtu(idx, mtu)?;
        }
        nl.add_addr(idx, cfg.gateway, cfg.subnet.prefix_len())?;
        nl.set_up(idx, true)?;
        // Lets the host reach published ports via 127.0.0.1 (output DNAT to this bridge).
        write_sysctl(&format!("net/ipv4/conf/{bridge}/route_localnet"), "1")?;
        if !net.internal {
            write_sysctl("net/ipv4/ip_forward", "1")?;
        }
        Ok(())
    }

    fn uninstall_bridge(&self, net: &Network) -> Result<()> {
        match &net.bridge {
            Some(b) => Netlink::new()?.delete_link(b),
            None => Ok(()),
        }
    }

    /// `network rm`.
    pub fn remove_network(&self, reference: &str) -> Result<()> {
        let net = self.network(reference)?;
        if net.is_predefined() {
            return Err(Error::Predefined(net.name));
        }
        let _g = lock(&self.config_lock);
        if !self.store.endpoints_of_network(&net.id)?.is_empty() {
            return Err(Error::ActiveEndpoints(net.name));
        }
        self.store.delete_network(&net.id)?;
        self.rebuild_firewall_locked()?;
        self.uninstall_bridge(&net)
    }

    /// `network prune`: removes user networks without endpoints; returns their names.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let mut removed = vec![];
        for n in self.networks()? {
            if n.is_predefined() || !self.store.endpoints_of_network(&n.id)?.is_empty() {
                continue;
            }
            match self.remove_network(&n.id) {
                Ok(()) => removed.push(n.name),
                Err(Error::ActiveEndpoints(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    fn ruleset(&self) -> Result<Ruleset> {
        let bridges = self
            .store
            .networks()?
            .into_iter()
            .filter_map(|n| {
                let b = n.bridge.clone()?;
                Some(BridgeRules { bridge: b, subnet: n.subnet()?.subnet, internal: n.internal })
            })
            .collect();
        Ok(Ruleset { bridges, ports: self.store.ports()? })
    }

    /// Rebuilds berth's table from the store. Callers hold `config_lock`.
    fn rebuild_firewall_locked(&self) -> Result<()> {
        firewall::apply(&self.cfg.nft_table, &self.ruleset()?)
    }

    /// Repairs berth's firewall after someone else changed the host's (see
    /// [`crate::firewall_watch`]): the table if it was flushed away, the iptables chain
    /// if FORWARD's policy became DROP. Returns whether it changed anything.
    pub fn check_firewall(&self) -> Result<bool> {
        let _g = lock(&self.config_lock);
        firewall::ensure(&self.cfg.nft_table, &self.ruleset()?)
    }

    // ---------------------------------------------------------------- containers

    /// The netns path a container will use (nothing created).
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        netns::path_for(&self.cfg.run_dir, container_id)
    }

    /// Creates the container's network namespace (with `lo` up) and returns its path,
    /// for `linux.namespaces[{type: "network", path}]` in the OCI spec. Used for every
    /// mode but `host` (and `container:NAME`, which reuses that container's path).
    pub fn create_netns(&self, container_id: &str) -> Result<PathBuf> {
        check_container_id(container_id)?;
        let p = self.netns_path(container_id);
        netns::create(&p)?;
        Ok(p)
    }

    /// Connects the namespace at `netns_path` to a network: lease, veth pair (host end on
    /// the bridge, peer `ethN` in the namespace with address, MAC, default route unless
    /// internal), DNS names. Returns None for `host`/`none` networks (nothing to do).
    /// Works for a running container too (`network connect`).
    pub fn attach(&self, container_id: &str, netns_path: &Path, network: &str, opts: AttachOptions) -> Result<Option<Endpoint>> {
        check_container_id(container_id)?;
        let net = self.network(network)?;
        if net.driver != Driver::Bridge {
            return Ok(None);
        }
        if opts.ip.is_some() && net.name == "bridge" {
            return Err(Error::StaticIpOnDefaultBridge);
        }
        let existing = self.store.endpoints_of_container(container_id)?;
        let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !existing.iter().any(|e| &e.ifname == n)).unwrap_or_default();
        let mut names: Vec<String> = opts.name.iter().cloned().chain(opts.aliases.iter().cloned()).collect();
        if let Some(short) = container_id.get(..12) {
            names.push(short.to_string());
        }
        names.dedup();
        let ep = self.store.allocate_endpoint(
            &net,
            NewEndpoint {
                container_id,
                ifname,
                host_ifname: format!("vb{}", model::random_hex(6)),
                aliases: names,
                netns: netns_path,
                requested_ip: opts.ip,
            },
        )?;
        match self.plumb(&net, &ep) {
            Ok(()) => Ok(Some(ep)),
            Err(e) => {
                if let Ok(mut nl) = Netlink::new() {
                    let _ = nl.delete_link(&ep.host_ifname);
                }
                if let Some(dns) = &self.dns {
                    dns.unregister(container_id, &net.id);
                }
                let _ = self.store.delete_endpoint(&ep.id);
                Err(e)
            }
        }
    }

    fn plumb(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let bridge = net.bridge.as_deref().unwrap_or_default();
        let ns = std::fs::File::open(&ep.netns).map_err(|e| Error::netns(&ep.netns, e))?;
        let mut nl = Netlink::new()?;
        // An existing bridge was configured when it was made (or by reconcile): only a
        // missing one (first need, or deleted behind our back) costs the full setup.
        let master = match nl.link_index(bridge)? {
            Some(i) => i,
            None => {
                self.ensure_bridge_link(net)?;
                nl.link_index(bridge)?.ok_or_else(|| Error::NetworkNotFound(format!("bridge {bridge}")))?
            }
        };
        nl.create_veth(&ep.host_ifname, master, &ep.ifname, ep.mac, net.mtu(), ns.as_fd())?;
        let (ifname, ip, prefix, gw, internal) = (ep.ifname.clone(), ep.ip, ep.prefix_len, ep.gateway, net.internal);
        netns::run_in(&ep.netns, move || {
            let mut nl = Netlink::new()?;
            let idx = nl.link_index(&ifname)?.ok_or_else(|| {
                Error::netlink(format!("find {ifname}"), std::io::Error::from_raw_os_error(libc::ENODEV))
            })?;
            nl.add_addr(idx, ip, prefix)?;
            nl.set_up(idx, true)?;
            if !internal {
                // The first non-internal network gives the default route (EEXIST after).
                nl.add_default_route(gw)?;
            }
            Ok(())
        })?;
        if net.name != "bridge" {
            if let Some(dns) = &self.dns {
                dns.register(name_record(ep, net));
                dns.serve(&ep.container_id, &ep.netns)?;
            }
        }
        self.update_dns_forwarding(&ep.container_id)
    }

    /// Lets a container's DNS forward outside only if one of its networks is not
    /// internal (Docker's behaviour for internal networks).
    fn update_dns_forwarding(&self, container_id: &str) -> Result<()> {
        let Some(dns) = &self.dns else { return Ok(()) };
        let nets = self.store.networks()?;
        let outside = self
            .store
            .endpoints_of_container(container_id)?
            .iter()
            .any(|e| nets.iter().any(|n| n.id == e.network_id && !n.internal));
        dns.set_forwarding(container_id, outside);
        Ok(())
    }

    /// `network disconnect`: removes the container's interface on that network, its
    /// names there and ports published through it, and releases the lease.
    pub fn detach(&self, container_id: &str, network: &str) -> Result<()> {
        let net = self.network(network)?;
        let ep = self
            .store
            .endpoints_of_container(container_id)?
            .into_iter()
            .find(|e| e.network_id == net.id)
            .ok_or_else(|| Error::EndpointNotFound { container: container_id.into(), network: net.name.clone() })?;
        if let Some(dns) = &self.dns {
            dns.unregister(container_id, &net.id);
        }
        let ports: Vec<PublishedPort> =
            self.published_ports(container_id)?.into_iter().filter(|p| p.container_ip == ep.ip && net.bridge.as_deref() == Some(&p.bridge)).collect();
        if !ports.is_empty() {
            // Ports of a container go together (they were published together).
            self.unpublish(container_id)?;
        }
        Netlink::new()?.delete_link(&ep.host_ifname)?;
        self.store.delete_endpoint(&ep.id)?;
        self.update_dns_forwarding(container_id)
    }

    /// Publishes ports for a container already attached to a bridge network: reserves
    /// each host port (refusing one in use, before the container starts), records them
    /// and installs DNAT. All or nothing. Returns what was installed (host ports
    /// resolved, for `port`/`ps`/inspect).
    pub fn publish(&self, container_id: &str, mappings: &[PortMapping]) -> Result<Vec<PublishedPort>> {
        if mappings.is_empty() {
            return Ok(vec![]);
        }
        let nets = self.store.networks()?;
        let target = self
            .store
            .endpoints_of_container(container_id)?
            .into_iter()
            .find_map(|e| {
                let n = nets.iter().find(|n| n.id == e.network_id && !n.internal)?;
                Some((e, n.bridge.clone()?))
            })
            .ok_or_else(|| Error::InvalidOption {
                key: "publish".into(),
                value: container_id.into(),
                why: "ports can only be published for a container on a non-internal bridge network".into(),
            })?;
        let (ep, bridge) = target;

        let mut held = vec![];
        let mut published = vec![];
        for m in mappings {
            let host_ip = match m.host_ip {
                None => Ipv4Addr::UNSPECIFIED,
                Some(std::net::IpAddr::V4(ip)) => ip,
                Some(std::net::IpAddr::V6(ip)) => {
                    return Err(Error::InvalidOption { key: "publish".into(), value: ip.to_string(), why: "IPv6 host addresses are not supported yet".into() })
                }
            };
            let r = hostport::reserve(m.proto, host_ip, m.host_port)?;
            published.push(PublishedPort {
                container_id: container_id.to_string(),
                proto: m.proto,
                host_ip,
                host_port: r.port,
                container_ip: ep.ip,
                container_port: m.container_port,
                bridge: bridge.clone(),
            });
            held.push(r);
        }
        let _g = lock(&self.config_lock);
        self.store.insert_ports(&published)?;
        if let Err(e) = self.rebuild_firewall_locked() {
            let _ = self.store.delete_ports(container_id);
            return Err(e);
        }
        lock(&self.reservations).entry(container_id.to_string()).or_default().extend(held);
        Ok(published)
    }

    /// Removes a container's published ports (rules and reservations).
    pub fn unpublish(&self, container_id: &str) -> Result<()> {
        let held = lock(&self.reservations).remove(container_id);
        let _g = lock(&self.config_lock);
        if self.store.delete_ports(container_id)? > 0 {
            self.rebuild_firewall_locked()?;
        }
        drop(held);
        Ok(())
    }

    /// Everything of a container, after it stopped (or on `rm`): DNS, ports, leases, the
    /// netns file, and — in a background thread, as kernel deletes are slow — its veths.
    /// The host ends are set down at once so a released address cannot answer anymore.
    /// Idempotent: releasing a container with nothing left is a no-op.
    pub fn release(&self, container_id: &str) -> Result<Teardown> {
        if let Some(dns) = &self.dns {
            dns.forget_container(container_id);
        }
        self.unpublish(container_id)?;
        let eps = self.store.endpoints_of_container(container_id)?;
        let mut links = vec![];
        if !eps.is_empty() {
            let mut nl = Netlink::new()?;
            for ep in &eps {
                if let Some(idx) = nl.link_index(&ep.host_ifname)? {
                    let _ = nl.set_up(idx, false);
                }
                links.push(ep.host_ifname.clone());
            }
        }
        for ep in &eps {
            self.store.delete_endpoint(&ep.id)?;
        }
        // The netns file goes now (umount + unlink are quick; the kernel frees the
        // namespace itself asynchronously), so a `restart` can create it again at once.
        netns::remove(&self.netns_path(container_id))?;
        if links.is_empty() {
            return Ok(Teardown(None));
        }
        // Deleting a veth waits for RCU grace periods (tens of ms): off the caller's path.
        // The names are random per endpoint, so a new attach never collides with them.
        let handle = std::thread::Builder::new()
            .name("berth-net-teardown".into())
            .spawn(move || {
                if let Ok(mut nl) = Netlink::new() {
                    for l in &links {
                        if let Err(e) = nl.delete_link(l) {
                            tracing::warn!("deleting {l}: {e}");
                        }
                    }
                }
            })
            .map_err(|e| Error::io("spawning teardown thread", e))?;
        Ok(Teardown(Some(handle)))
    }

    // ---------------------------------------------------------------- daemon start

    /// Rebuilds everything the kernel may have lost from the store (daemon start, after
    /// a reboot or a crash): bridges and their addresses, berth's nftables table, the
    /// host port reservations, and DNS servers/names for namespaces that still exist.
    pub fn reconcile(&self) -> Result<()> {
        self.ensure_default_networks()?;
        let nets = self.store.networks()?;
        for n in &nets {
            self.ensure_bridge_link(n)?;
        }
        {
            let _g = lock(&self.config_lock);
            self.rebuild_firewall_locked()?;
        }
        let ports = self.store.ports()?;
        {
            let mut res = lock(&self.reservations);
            for p in ports {
                let held = res.entry(p.container_id.clone()).or_default();
                if held.iter().any(|r| r.port == p.host_port && r.proto == p.proto && r.host_ip == p.host_ip) {
                    continue;
                }
                match hostport::reserve(p.proto, p.host_ip, crate::portspec::HostPort::Fixed(p.host_port)) {
                    Ok(r) => held.push(r),
                    Err(e) => tracing::warn!(container = %p.container_id, "re-reserving published port: {e}"),
                }
            }
        }
        if let Some(dns) = &self.dns {
            for ep in self.store.endpoints()? {
                let Some(net) = nets.iter().find(|n| n.id == ep.network_id) else { continue };
                if net.name == "bridge" || !netns::is_mounted_netns(&ep.netns) {
                    continue;
                }
                dns.register(name_record(&ep, net));
                if let Err(e) = dns.serve(&ep.container_id, &ep.netns) {
                    tracing::warn!(container = %ep.container_id, "restarting embedded DNS: {e}");
                }
                self.update_dns_forwarding(&ep.container_id)?;
            }
        }
        Ok(())
    }

    /// Removes what belongs to containers not in `known` (e.g. after berthd was killed
    /// -9 between steps): their leases, ports, DNS, veths, netns files; also veths on
    /// berth bridges and netns files under the run dir that no endpoint accounts for.
    /// Synchronous (waits for the kernel deletes).
    pub fn cleanup_orphans(&self, known: &HashSet<String>) -> Result<CleanupReport> {
        let mut report = CleanupReport::default();
        let mut gone: HashSet<String> = HashSet::new();
        for ep in self.store.endpoints()? {
            if !known.contains(&ep.container_id) {
                report.endpoints.push(ep.id.clone());
                gone.insert(ep.container_id.clone());
            }
        }
        for p in self.store.ports()? {
            if !known.contains(&p.container_id) {
                report.ports += 1;
                gone.insert(p.container_id.clone());
            }
        }
        if let Some(dns) = &self.dns {
            for c in dns.serving() {
                if !known.contains(&c) {
                    gone.insert(c);
                }
            }
        }
        for c in &gone {
            self.release(c)?.wait();
        }
        // Netns files of containers berth no longer knows.
        let dir = self.cfg.run_dir.join("netns");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if !known.contains(&name) {
                    let p = entry.path();
                    netns::remove(&p)?;
                    report.netns_files.push(p);
                }
            }
        }
        // Veths on berth's bridges that no live endpoint owns.
        let live: HashSet<String> = self.store.endpoints()?.into_iter().map(|e| e.host_ifname).collect();
        let bridges: HashSet<String> = self.store.networks()?.into_iter().filter_map(|n| n.bridge).collect();
        let mut nl = Netlink::new()?;
        let links = nl.links()?;
        let bridge_idx: HashSet<u32> = links.iter().filter(|l| bridges.contains(&l.name)).map(|l| l.index).collect();
        for l in links {
            if l.master.is_some_and(|m| bridge_idx.contains(&m)) && !live.contains(&l.name) {
                nl.delete_link(&l.name)?;
                report.links.push(l.name);
            }
        }
        Ok(report)
    }

    /// Removes everything berth's networking made, the predefined networks included:
    /// every container's attachments (as [`release`](Self::release)), all bridges,
    /// berth's nftables table and iptables chain, and the store's rows. For
    /// `berthd --uninstall`-style resets and for tests.
    pub fn purge(&self) -> Result<()> {
        let mut containers: HashSet<String> = self.store.endpoints()?.into_iter().map(|e| e.container_id).collect();
        containers.extend(self.store.ports()?.into_iter().map(|p| p.container_id));
        for c in containers {
            self.release(&c)?.wait();
        }
        let _g = lock(&self.config_lock);
        self.defaults_ready.store(false, Ordering::Release);
        let nets = self.store.networks()?;
        for n in &nets {
            self.store.delete_network(&n.id)?;
        }
        firewall::apply(&self.cfg.nft_table, &Ruleset::default())?;
        for n in &nets {
            self.uninstall_bridge(n)?;
        }
        Ok(())
    }
}
