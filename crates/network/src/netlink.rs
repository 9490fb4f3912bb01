//! Links, addresses and routes over rtnetlink, synchronously.
//!
//! Why netlink-packet-route + netlink-sys and not the async `rtnetlink` crate: a netlink
//! socket acts on the network namespace of the thread that opened it, and berth opens
//! them on short-lived std threads setns()'d into a container's namespace (never on the
//! daemon's tokio threads). A plain blocking request/ack socket is all those threads
//! need; an async connection would need a runtime per thread. Netavark makes the same
//! choice.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

/// A link as a dump reports it.
#[derive(Debug, Clone)]
pub struct LinkInfoSummary {
    pub index: u32,
    pub name: String,
    /// Index of the bridge it is enslaved to.
    pub master: Option<u32>,
    pub kind: Option<String>,
}

pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn new() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| Error::netlink("open socket", e))?;
        let addr = SocketAddr::new(0, 0);
        socket.bind(&addr).map_err(|e| Error::netlink("bind", e))?;
        socket.connect(&addr).map_err(|e| Error::netlink("connect", e))?;
        Ok(Netlink { socket, seq: 0, buf: vec![0; 32 * 1024] })
    }

    fn request(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = NLM_F_REQUEST | flags;
        self.seq = self.seq.wrapping_add(1);
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0).map_err(|e| Error::netlink(op, e))?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut result = Vec::new();
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0).map_err(|e| Error::netlink(op, e))?;
            let mut data = &self.buf[..n];
            while !data.is_empty() {
                let rx: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(data)
                    .map_err(|e| Error::netlink(op, std::io::Error::other(e.to_string())))?;
                let len = rx.header.length as usize;
                if rx.header.sequence_number == self.seq {
                    match rx.payload {
                        NetlinkPayload::Done(_) => return Ok(result),
                        NetlinkPayload::Error(e) => {
                            if e.code.is_some() {
                                return Err(Error::netlink(op, e.to_io()));
                            }
                            return Ok(result);
                        }
                        NetlinkPayload::InnerMessage(m) => {
                            result.push(m);
                            if !dump {
                                return Ok(result);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 || len > data.len() {
                    break;
                }
                data = &data[len..];
            }
        }
    }

    fn ack(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.request(op, msg, NLM_F_ACK | flags).map(|_| ())
    }

    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request("get link", RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(v) => Ok(v.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn links(&mut self) -> Result<Vec<LinkInfoSummary>> {
        let msgs = self.request("dump links", RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .map(|l| {
                let mut s = LinkInfoSummary { index: l.header.index, name: String::new(), master: None, kind: None };
                for a in l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => s.name = n,
                        LinkAttribute::Controller(m) => s.master = Some(m),
                        LinkAttribute::LinkInfo(infos) => {
                            for i in infos {
                                if let LinkInfo::Kind(k) = i {
                                    s.kind = Some(k.to_string());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                s
            })
            .collect())
    }

    /// Creates a bridge (or finds it) and returns its index.
    pub fn ensure_bridge(&mut self, name: &str) -> Result<u32> {
        if let Some(i) = self.link_index(name)? {
            return Ok(i);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        match self.ack(&format!("create bridge {name}"), RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL) {
            Ok(()) => {}
            // Another thread created it meanwhile.
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        self.link_index(name)?
            .ok_or_else(|| Error::netlink(format!("create bridge {name}"), std::io::Error::from_raw_os_error(libc::ENODEV)))
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = if up { LinkFlags::Up } else { LinkFlags::empty() };
        msg.header.change_mask = LinkFlags::Up;
        self.ack("set link up/down", RouteNetlinkMessage::SetLink(msg), 0)
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.ack(&format!("set mtu {mtu}"), RouteNetlinkMessage::SetLink(msg), 0)
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.ack("set mac", RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Adds an IPv4 address; an address already present is fine.
    pub fn add_addr(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        if let Ok(net) = Ipv4Net::new(ip, prefix) {
            if prefix < 31 {
                msg.attributes.push(AddressAttribute::Broadcast(net.broadcast()));
            }
        }
        match self.ack("add address", RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// IPv4 addresses of this namespace, as (link index, address/prefix).
    pub fn addrs_v4(&mut self) -> Result<Vec<(u32, Ipv4Net)>> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self.request("dump addresses", RouteNetlinkMessage::GetAddress(req), NLM_F_DUMP)?;
        let mut out = vec![];
        for m in msgs {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                for attr in &a.attributes {
                    if let AddressAttribute::Local(std::net::IpAddr::V4(ip)) = attr {
                        if let Ok(n) = Ipv4Net::new(*ip, a.header.prefix_len) {
                            out.push((a.header.index, n));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Destinations of the main table's IPv4 routes (the default route excluded).
    pub fn routes_v4(&mut self) -> Result<Vec<Ipv4Net>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request("dump routes", RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        let mut out = vec![];
        for m in msgs {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                if r.header.table != libc::RT_TABLE_MAIN || r.header.destination_prefix_length == 0 {
                    continue;
                }
                for attr in &r.attributes {
                    if let RouteAttribute::Destination(RouteAddress::Inet(ip)) = attr {
                        if let Ok(n) = Ipv4Net::new(*ip, r.header.destination_prefix_length) {
                            out.push(n.trunc());
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// True if the main table has an IPv4 default route.
    pub fn has_default_route(&mut self) -> Result<bool> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.request("dump routes", RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        Ok(msgs.iter().any(|m| {
            matches!(m, RouteNetlinkMessage::NewRoute(r)
                if r.header.table == libc::RT_TABLE_MAIN && r.header.destination_prefix_length == 0)
        }))
    }

    /// Creates a veth pair in one request: the host end named `host`, enslaved to
    /// `master` and up; the peer created directly inside `peer_netns` as `peer` with
    /// `peer_mac` (so no move or rename is needed afterwards); both ends get `mtu` if set.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_mac: [u8; 6],
        mtu: Option<u32>,
        peer_netns: BorrowedFd<'_>,
    ) -> Result<()> {
        let mut peer_msg = LinkMessage::default();
        if let Some(m) = mtu {
            peer_msg.attributes.push(LinkAttribute::Mtu(m));
        }
        peer_msg.attributes.push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));

        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
        }
        if master != 0 {
            msg.attributes.push(LinkAttribute::Controller(master));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(&format!("create veth {host}"), RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Deletes a link by name; a link already gone is fine.
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.link_index(name)? else { return Ok(()) };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.ack(&format!("delete link {name}"), RouteNetlinkMessage::DelLink(msg), 0) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// `ip route add default via gw`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = libc::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        match self.ack("add default route", RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }
}

/// Writes a sysctl, given as its path under /proc/sys ("net/ipv4/ip_forward"); slashes,
/// not dots, because interface names may contain dots.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(|e| Error::io(format!("writing {path}"), e))
}
