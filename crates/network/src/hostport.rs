//! Host port reservation for published ports.
//!
//! ## Design: kernel DNAT, no userland proxy
//! Published ports are forwarded by nftables DNAT (see `firewall`), for traffic from
//! other hosts (prerouting) and from the host itself (output chain; for 127.0.0.1 with
//! `route_localnet=1` on the bridge and a masquerade, so replies come back through
//! conntrack). Docker keeps a userland proxy per port for the localhost case; berth does
//! not, because DNAT keeps the bytes in the kernel (no copy through a proxy process:
//! full throughput for the benchmark), costs no process per port, and the
//! source address the container sees is the real one for remote clients.
//!
//! What the proxy gave Docker besides forwarding was the port *reservation*: while the
//! proxy listens, nothing else on the host can bind the port, and a port already in use
//! is refused before the container starts. berth keeps that by binding (not listening
//! on) a socket for every published port and holding it as long as the port is
//! published. The socket is bound without SO_REUSEADDR, so it conflicts with any later
//! bind, reuse flag or not; no connection ever reaches it, since DNAT rewrites the
//! destination before the socket lookup. Sockets are CLOEXEC so shims and containers
//! exec'd by the daemon do not inherit them.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

use crate::error::{Error, Result};
use crate::portspec::{HostPort, Proto};

/// A held host port. Dropping it frees the port.
#[derive(Debug)]
pub struct Reservation {
    pub proto: Proto,
    pub host_ip: Ipv4Addr,
    pub port: u16,
    _socket: OwnedFd,
}

fn bind_one(proto: Proto, host_ip: Ipv4Addr, port: u16) -> std::result::Result<Reservation, nix::errno::Errno> {
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
        // SCTP needs the sctp module and is rarely published; DNAT still works for it,
        // but the reservation uses a UDP socket of the same number as a stand-in.
        Proto::Sctp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(SocketAddrV4::new(host_ip, port)))?;
    let port = if port == 0 {
        let addr: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
        addr.port()
    } else {
        port
    };
    Ok(Reservation { proto, host_ip, port, _socket: fd })
}

fn allocated(host_ip: Ipv4Addr, port: u16) -> Error {
    Error::PortAllocated { host_ip: host_ip.to_string(), port }
}

/// Reserves a host port: the given one, any free one of a range, or (Random) one the
/// kernel picks from net.ipv4.ip_local_port_range.
pub fn reserve(proto: Proto, host_ip: Ipv4Addr, want: HostPort) -> Result<Reservation> {
    let other = |port: u16, e: nix::errno::Errno| match e {
        nix::errno::Errno::EADDRINUSE => allocated(host_ip, port),
        nix::errno::Errno::EADDRNOTAVAIL => Error::io(
            format!("Bind for {host_ip}:{port} failed"),
            std::io::Error::from_raw_os_error(e as i32),
        ),
        e => Error::io(format!("reserving {host_ip}:{port}/{proto}"), e.into()),
    };
    match want {
        HostPort::Fixed(p) => bind_one(proto, host_ip, p).map_err(|e| other(p, e)),
        HostPort::Random => bind_one(proto, host_ip, 0).map_err(|e| other(0, e)),
        HostPort::AnyOf(lo, hi) => {
            for p in lo..=hi {
                match bind_one(proto, host_ip, p) {
                    Ok(r) => return Ok(r),
                    Err(nix::errno::Errno::EADDRINUSE) => continue,
                    Err(e) => return Err(other(p, e)),
                }
            }
            Err(Error::NoFreePort { low: lo, high: hi, proto: proto.as_str() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_cannot_be_bound_again() {
        let r = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, HostPort::Random).unwrap();
        assert_ne!(r.port, 0);
        // std sets SO_REUSEADDR; the reservation still wins.
        assert!(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, r.port)).is_err());
        let e = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, HostPort::Fixed(r.port)).unwrap_err();
        assert_eq!(e.to_string(), format!("Bind for 127.0.0.1:{} failed: port is already allocated", r.port));
        let port = r.port;
        drop(r);
        assert!(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }

    #[test]
    fn ranges_skip_ports_in_use() {
        let l = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let p = l.local_addr().unwrap().port();
        if p == u16::MAX {
            return;
        }
        let r = reserve(Proto::Udp, Ipv4Addr::LOCALHOST, HostPort::AnyOf(p, p + 1));
        if let Ok(r) = r {
            assert_eq!(r.port, p + 1);
        }
        assert!(matches!(reserve(Proto::Udp, Ipv4Addr::LOCALHOST, HostPort::AnyOf(p, p)), Err(Error::NoFreePort { .. })));
    }
}
