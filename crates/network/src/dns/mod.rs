//! The embedded DNS server Docker puts at 127.0.0.11 in containers on user networks.
//!
//! The sockets are bound to 127.0.0.11:53 *inside* each container's namespace (on a
//! setns'd thread; a socket stays in the namespace it was made in), then served from
//! the daemon's tokio runtime like any other socket. So no NAT rules are needed inside
//! the container, and queries the server forwards go out from the host's namespace,
//! where the host's resolvers (even 127.0.0.53) are reachable.

mod answer;
pub mod names;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::netns;
use answer::{answer, servfail, Reply};
pub use names::NameRecord;
use names::NameTable;

/// Docker's embedded resolver address.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
const TCP_IDLE: Duration = Duration::from_secs(10);

struct Shared {
    names: RwLock<NameTable>,
    upstreams: RwLock<Vec<SocketAddr>>,
    /// A container's own resolvers (`--dns` on a user network), used instead of the
    /// host's, as Docker's embedded DNS uses them.
    own_upstreams: RwLock<HashMap<String, Vec<SocketAddr>>>,
    /// Containers only on internal networks: as in Docker, their queries for other
    /// names are not forwarded out of the host (SERVFAIL instead).
    no_forward: RwLock<std::collections::HashSet<String>>,
}

/// The DNS service of one daemon. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    shared: Arc<Shared>,
    servers: Arc<Mutex<HashMap<String, Vec<JoinHandle<()>>>>>,
    handle: Handle,
}

impl Dns {
    /// A service whose servers run on `handle` and forward to the nameservers of the
    /// host's /etc/resolv.conf.
    pub fn new(handle: Handle) -> Dns {
        let upstreams = read_resolv_conf(Path::new("/etc/resolv.conf"));
        Dns::with_upstreams(handle, upstreams)
    }

    pub fn with_upstreams(handle: Handle, upstreams: Vec<SocketAddr>) -> Dns {
        Dns {
            shared: Arc::new(Shared {
                names: RwLock::new(NameTable::default()),
                upstreams: RwLock::new(upstreams),
                own_upstreams: RwLock::new(HashMap::new()),
                no_forward: RwLock::new(Default::default()),
            }),
            servers: Arc::new(Mutex::new(HashMap::new())),
            handle,
        }
    }

    /// Re-reads the host's resolvers (e.g. on SIGHUP or a resolv.conf change).
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        *self.shared.upstreams.write().unwrap_or_else(|p| p.into_inner()) = upstreams;
    }

    /// The resolvers a container's unknown names go to (its `--dns` servers; they are
    /// asked from the host's namespace, so a host-local resolver such as 127.0.0.53
    /// works); empty: the host's. Kept until [`forget_container`](Self::forget_container).
    pub fn set_container_upstreams(&self, container_id: &str, upstreams: Vec<SocketAddr>) {
        let mut own = self.shared.own_upstreams.write().unwrap_or_else(|p| p.into_inner());
        if upstreams.is_empty() {
            own.remove(container_id);
        } else {
            own.insert(container_id.to_string(), upstreams);
        }
    }

    /// Makes a container's names resolvable on a network (visible at once).
    pub fn register(&self, rec: NameRecord) {
        self.shared.names.write().unwrap_or_else(|p| p.into_inner()).register(rec);
    }

    /// A legacy link on a user network: `alias` names `ip` for `asker` only, until the
    /// asker leaves the network.
    pub fn add_link(&self, asker: &str, network_id: &str, alias: &str, ip: std::net::Ipv4Addr) {
        let link = names::LinkAlias { asker: asker.into(), network_id: network_id.into(), alias: alias.into(), ip };
        self.shared.names.write().unwrap_or_else(|p| p.into_inner()).add_link(link);
    }

    pub fn unregister(&self, container_id: &str, network_id: &str) {
        self.shared.names.write().unwrap_or_else(|p| p.into_inner()).unregister(container_id, network_id);
    }

    /// Whether a container's server may forward unknown names to the host's resolvers
    /// (false when all its networks are internal).
    pub fn set_forwarding(&self, container_id: &str, forward: bool) {
        let mut set = self.shared.no_forward.write().unwrap_or_else(|p| p.into_inner());
        if forward {
            set.remove(container_id);
        } else {
            set.insert(container_id.to_string());
        }
    }

    /// Whether a container has a server running.
    pub fn is_serving(&self, container_id: &str) -> bool {
        self.lock_servers().contains_key(container_id)
    }

    fn lock_servers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<JoinHandle<()>>>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts serving 127.0.0.11:53 (UDP and TCP) inside the namespace at `netns`, for
    /// `container_id`. Blocking (it runs a short-lived thread in the namespace): call
    /// it from a blocking context, not directly on a tokio worker. Idempotent.
    pub fn serve(&self, container_id: &str, netns_path: &Path) -> Result<()> {
        if self.is_serving(container_id) {
            return Ok(());
        }
        let addr = SocketAddr::from((DNS_ADDR, 53));
        let (udp, tcp) = netns::run_in(netns_path, || {
            let udp = std::net::UdpSocket::bind(addr).map_err(|e| Error::io(format!("binding {addr}/udp"), e))?;
            let tcp = std::net::TcpListener::bind(addr).map_err(|e| Error::io(format!("binding {addr}/tcp"), e))?;
            udp.set_nonblocking(true).map_err(|e| Error::io("nonblocking", e))?;
            tcp.set_nonblocking(true).map_err(|e| Error::io("nonblocking", e))?;
            Ok((udp, tcp))
        })?;
        let _rt = self.handle.enter();
        let udp = tokio::net::UdpSocket::from_std(udp).map_err(|e| Error::Dns(e.to_string()))?;
        let tcp = tokio::net::TcpListener::from_std(tcp).map_err(|e| Error::Dns(e.to_string()))?;
        let id: Arc<str> = Arc::from(container_id);
        let tasks = vec![
            self.handle.spawn(serve_udp(self.shared.clone(), id.clone(), Arc::new(udp))),
            self.handle.spawn(serve_tcp(self.shared.clone(), id, tcp)),
        ];
        self.lock_servers().insert(container_id.to_string(), tasks);
        Ok(())
    }

    /// Stops a container's server and forgets all its names. The sockets close when the
    /// aborted tasks drop them (which also stops them pinning the namespace).
    pub fn forget_container(&self, container_id: &str) {
        if let Some(tasks) = self.lock_servers().remove(container_id) {
            for t in tasks {
                t.abort();
            }
        }
        self.shared.names.write().unwrap_or_else(|p| p.into_inner()).unregister_container(container_id);
        self.set_forwarding(container_id, true);
        self.set_container_upstreams(container_id, Vec::new());
    }

    /// Containers with a server running.
    pub fn serving(&self) -> Vec<String> {
        self.lock_servers().keys().cloned().collect()
    }
}

fn local_answer(shared: &Shared, asker: &str, query: &[u8]) -> Reply {
    let names = shared.names.read().unwrap_or_else(|p| p.into_inner());
    answer(&names, asker, query)
}

/// Where `asker`'s unknown names go: its own resolvers, the host's, or nowhere.
fn upstreams_for(shared: &Shared, asker: &str) -> Vec<SocketAddr> {
    if shared.no_forward.read().unwrap_or_else(|p| p.into_inner()).contains(asker) {
        return vec![];
    }
    if let Some(own) = shared.own_upstreams.read().unwrap_or_else(|p| p.into_inner()).get(asker) {
        return own.clone();
    }
    shared.upstreams.read().unwrap_or_else(|p| p.into_inner()).clone()
}

async fn serve_udp(shared: Arc<Shared>, asker: Arc<str>, sock: Arc<tokio::net::UdpSocket>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(container = %asker, "dns udp recv: {e}");
                continue;
            }
        };
        let query = buf[..n].to_vec();
        match local_answer(&shared, &asker, &query) {
            Reply::Local(resp) => {
                let _ = sock.send_to(&resp, peer).await;
            }
            Reply::Drop => {}
            Reply::Forward => {
                let ups = upstreams_for(&shared, &asker);
                let sock = sock.clone();
                tokio::spawn(async move {
                    let resp = forward_udp(&ups, &query).await.or_else(|| servfail(&query));
                    if let Some(resp) = resp {
                        let _ = sock.send_to(&resp, peer).await;
                    }
                });
            }
        }
    }
}

async fn forward_udp(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { "[::]:0".parse().ok()? };
        let Ok(s) = tokio::net::UdpSocket::bind(bind).await else { continue };
        if s.connect(up).await.is_err() || s.send(query).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv(&mut buf)).await {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

async fn forward_tcp(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    for up in upstreams {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(up).await.ok()?;
            s.write_all(&(query.len() as u16).to_be_bytes()).await.ok()?;
            s.write_all(query).await.ok()?;
            let len = s.read_u16().await.ok()?;
            let mut buf = vec![0u8; usize::from(len)];
            s.read_exact(&mut buf).await.ok()?;
            Some(buf)
        };
        if let Ok(Some(r)) = tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            return Some(r);
        }
    }
    None
}

async fn serve_tcp(shared: Arc<Shared>, asker: Arc<str>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let (shared, asker) = (shared.clone(), asker.clone());
        tokio::spawn(async move {
            loop {
                let Ok(Ok(len)) = tokio::time::timeout(TCP_IDLE, conn.read_u16()).await else { return };
                let mut query = vec![0u8; usize::from(len)];
                if conn.read_exact(&mut query).await.is_err() {
                    return;
                }
                let resp = match local_answer(&shared, &asker, &query) {
                    Reply::Local(r) => Some(r),
                    Reply::Drop => return,
                    Reply::Forward => forward_tcp(&upstreams_for(&shared, &asker), &query).await.or_else(|| servfail(&query)),
                };
                let Some(resp) = resp else { return };
                if conn.write_all(&(resp.len() as u16).to_be_bytes()).await.is_err() || conn.write_all(&resp).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Nameservers of a resolv.conf, port 53.
pub fn read_resolv_conf(path: &Path) -> Vec<SocketAddr> {
    let Ok(text) = std::fs::read_to_string(path) else { return vec![] };
    parse_resolv_conf(&text)
}

pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then_some(())?;
            // A scoped IPv6 address ("fe80::1%eth0") is not usable from here.
            w.next()?.parse::<IpAddr>().ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_parsing() {
        let t = "# comment\nnameserver 10.0.0.53\nsearch x\nnameserver ::1\nnameserver fe80::1%eth0\nnameserver\n";
        assert_eq!(parse_resolv_conf(t), vec!["10.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    }
}
