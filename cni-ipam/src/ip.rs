//! Address arithmetic shared by the allocators (pure, family-aware).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use crate::error::{IpamError, Result};

/// Normalises an address the way Go's `To4()` does: an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) becomes the plain IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The address after `ip` in its family, wrapping at the top like Go's `ip.NextIP`.
pub fn next_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(1))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6).wrapping_add(1))),
    }
}

/// Whether `a` and `b` are of the same address family.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Parses a bare address (`10.1.2.3`, `2001:db8::1`), canonicalised.
pub fn parse_ip(s: &str) -> Result<IpAddr> {
    s.trim()
        .parse::<IpAddr>()
        .map(canonical_ip)
        .map_err(|_| IpamError::config(format!("invalid IP address: {s}")))
}

/// Parses `addr/prefix` keeping the host bits (like Go's `types.IPNet`), canonicalised.
pub fn parse_cidr(s: &str) -> Result<IpNetwork> {
    let bad = || IpamError::config(format!("invalid CIDR address: {s}"));
    let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let ip = canonical_ip(ip);
    IpNetwork::new(ip, prefix).map_err(|_| bad())
}

/// The network address of `net` (host bits cleared).
pub fn network_addr(net: &IpNetwork) -> IpAddr {
    net.network()
}

/// The last address of `net` (all host bits set).
pub fn last_addr(net: &IpNetwork) -> IpAddr {
    match net {
        IpNetwork::V4(n) => IpAddr::V4(n.broadcast()),
        IpNetwork::V6(n) => {
            let mask = u128::MAX.checked_shr(u32::from(n.prefix())).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_maps_v4_in_v6() {
        let ip: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(canonical_ip(ip).to_string(), "10.1.2.3");
    }

    #[test]
    fn next_wraps() {
        assert_eq!(
            next_ip(IpAddr::V4(Ipv4Addr::BROADCAST)),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            next_ip("10.0.0.255".parse().unwrap()).to_string(),
            "10.0.1.0"
        );
    }

    #[test]
    fn cidr_parsing() {
        assert!(parse_cidr("10.1.2.0/33").is_err());
        assert!(parse_cidr("10.1.2.0").is_err());
        assert!(parse_cidr("10.1.2.0/+4").is_err());
        assert!(parse_cidr("nonsense/24").is_err());
        let n = parse_cidr("10.1.2.5/24").map(|n| n.to_string()).unwrap();
        assert_eq!(n, "10.1.2.5/24");
        let n = parse_cidr("2001:db8:1::/64").map(|n| last_addr(&n).to_string());
        assert_eq!(n.unwrap(), "2001:db8:1:0:ffff:ffff:ffff:ffff");
        assert_eq!(
            parse_ip("::ffff:1.2.3.4").map(|i| i.to_string()).unwrap(),
            "1.2.3.4"
        );
    }

    #[test]
    fn v6_display_matches_go() {
        // Go prints the canonical RFC 5952 form; so does std.
        let ip = parse_ip("2001:0db8:0001:0000:0000:0000:0000:0002").map(|i| i.to_string());
        assert_eq!(ip.unwrap(), "2001:db8:1::2");
        let ip = parse_ip("2001:db8:0:1:1:1:1:1").map(|i| i.to_string());
        assert_eq!(ip.unwrap(), "2001:db8:0:1:1:1:1:1");
    }
}
