//! IPv4 address management: parsing subnets as Docker does, choosing a free pool for a
//! network, and choosing a free address in a subnet. Pure functions over the store's
//! state; the store serializes callers (SQLite transaction + UNIQUE(network, ip)).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};

/// Parses a CIDR as `--subnet`/`--ip-range` take it: the address must be the network
/// address ("10.1.0.5/24" is refused with the canonical form), as Docker does.
pub fn parse_subnet(s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s.trim().parse().map_err(|_| Error::InvalidCidr(s.to_string()))?;
    if net.trunc() != net {
        return Err(Error::SubnetNotCanonical { given: s.to_string(), canonical: net.trunc().to_string() });
    }
    Ok(net)
}

pub fn parse_addr(s: &str) -> Result<Ipv4Addr> {
    s.trim().parse().map_err(|_| Error::InvalidAddress(s.to_string()))
}

/// Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut
/// into /20s.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let big = (17u8..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid /16"));
    let small = (0u8..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).expect("valid /20"));
    big.chain(small)
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first default pool that overlaps none of `taken` (other networks' subnets, host
/// routes and addresses).
pub fn first_free_pool(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    default_pools().find(|p| !taken.iter().any(|t| overlaps(p, t)))
}

/// The gateway a subnet gets when none is given: its first host address.
pub fn default_gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    if subnet.prefix_len() >= 31 {
        return subnet.network();
    }
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Addresses that are never leased: network, broadcast and gateway.
fn reserved(subnet: &Ipv4Net, gateway: Ipv4Addr, ip: Ipv4Addr) -> bool {
    ip == gateway || (subnet.prefix_len() < 31 && (ip == subnet.network() || ip == subnet.broadcast()))
}

/// Picks a free address in `range` (or the whole subnet), starting after `last` so a
/// just-released address is not handed out again at once (stale ARP caches elsewhere),
/// and wrapping around.
pub fn pick_free(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let pool = range.unwrap_or(subnet);
    let lo = u32::from(pool.network());
    let hi = u32::from(pool.broadcast());
    let size = u64::from(hi - lo) + 1;
    let start = match last {
        Some(l) if (lo..=hi).contains(&u32::from(l)) => u32::from(l).wrapping_sub(lo).wrapping_add(1),
        _ => 0,
    };
    (0..size)
        .map(|i| lo + ((u64::from(start) + i) % size) as u32)
        .map(Ipv4Addr::from)
        .find(|ip| subnet.contains(ip) && !reserved(subnet, gateway, *ip) && !used.contains(ip))
}

/// Checks a requested static address (`--ip`).
pub fn check_static(subnet: &Ipv4Net, gateway: Ipv4Addr, used: &HashSet<Ipv4Addr>, ip: Ipv4Addr) -> Result<()> {
    if !subnet.contains(&ip) {
        return Err(Error::AddressOutsideSubnet { ip });
    }
    if reserved(subnet, gateway, ip) || used.contains(&ip) {
        return Err(Error::AddressInUse(ip));
    }
    Ok(())
}

/// Docker's MAC for an address: 02:42 followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn subnet_parsing_errors() {
        assert!(matches!(parse_subnet("nonsense"), Err(Error::InvalidCidr(_))));
        assert!(matches!(parse_subnet("10.0.0.0/33"), Err(Error::InvalidCidr(_))));
        let e = parse_subnet("10.1.0.5/24").unwrap_err().to_string();
        assert_eq!(e, "invalid subnet 10.1.0.5/24: it should be 10.1.0.0/24");
        assert_eq!(parse_subnet("10.1.0.0/24").unwrap(), net("10.1.0.0/24"));
    }

    #[test]
    fn pools_skip_taken() {
        assert_eq!(first_free_pool(&[]), Some(net("172.17.0.0/16")));
        assert_eq!(first_free_pool(&[net("172.17.5.0/24"), net("172.18.0.0/16")]), Some(net("172.19.0.0/16")));
        // A wide host route swallows every /16 of 172.16/12: fall through to 192.168.x/20.
        assert_eq!(first_free_pool(&[net("172.16.0.0/12")]), Some(net("192.168.0.0/20")));
        assert_eq!(first_free_pool(&[net("172.16.0.0/12"), net("192.168.0.0/16")]), None);
    }

    #[test]
    fn gateway_network_and_broadcast_are_never_leased() {
        let s = net("10.9.0.0/30"); // .0 network, .1 gateway, .2 host, .3 broadcast
        let gw = default_gateway(&s);
        let mut used = HashSet::new();
        let a = pick_free(&s, None, gw, &used, None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        used.insert(a);
        assert_eq!(pick_free(&s, None, gw, &used, Some(a)), None);
    }

    #[test]
    fn allocation_continues_after_last_and_wraps() {
        let s = net("10.9.0.0/24");
        let gw = default_gateway(&s);
        let used = HashSet::new();
        assert_eq!(pick_free(&s, None, gw, &used, Some(Ipv4Addr::new(10, 9, 0, 7))), Some(Ipv4Addr::new(10, 9, 0, 8)));
        // After the last host address comes the broadcast (skipped), then wrap to .2.
        assert_eq!(pick_free(&s, None, gw, &used, Some(Ipv4Addr::new(10, 9, 0, 254))), Some(Ipv4Addr::new(10, 9, 0, 2)));
    }

    #[test]
    fn ip_range_restricts_allocation() {
        let s = net("10.9.0.0/24");
        let r = net("10.9.0.128/30");
        let gw = default_gateway(&s);
        let mut used = HashSet::new();
        let mut got = vec![];
        while let Some(ip) = pick_free(&s, Some(&r), gw, &used, got.last().copied()) {
            used.insert(ip);
            got.push(ip);
        }
        // All four addresses of the range are hosts of the /24.
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|ip| r.contains(ip)));
    }

    #[test]
    fn static_addresses_are_checked() {
        let s = net("10.9.0.0/24");
        let gw = default_gateway(&s);
        let used: HashSet<_> = [Ipv4Addr::new(10, 9, 0, 5)].into();
        assert!(check_static(&s, gw, &used, Ipv4Addr::new(10, 9, 0, 6)).is_ok());
        assert!(matches!(check_static(&s, gw, &used, Ipv4Addr::new(10, 9, 0, 5)), Err(Error::AddressInUse(_))));
        assert!(matches!(check_static(&s, gw, &used, gw), Err(Error::AddressInUse(_))));
        assert!(matches!(check_static(&s, gw, &used, Ipv4Addr::new(10, 9, 0, 255)), Err(Error::AddressInUse(_))));
        assert!(matches!(check_static(&s, gw, &used, Ipv4Addr::new(10, 8, 0, 5)), Err(Error::AddressOutsideSubnet { .. })));
    }

    #[test]
    fn docker_mac() {
        assert_eq!(format_mac(&mac_for(Ipv4Addr::new(172, 17, 0, 2))), "02:42:ac:11:00:02");
    }
}
