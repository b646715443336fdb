//! Gateway arithmetic and the bridge-address rule (`ensureAddr`), as pure functions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// The gateway the reference derives when IPAM gives none: the network address plus one
/// (`10.1.2.77/24` → `10.1.2.1`). Wraps like Go's `ip.NextIP` for a /0.
pub fn default_gateway(addr: IpNetwork) -> IpAddr {
    match addr {
        IpNetwork::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()).wrapping_add(1))),
        IpNetwork::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()).wrapping_add(1))),
    }
}

/// Whether two prefixes overlap (one contains the other's address).
pub fn overlaps(a: IpNetwork, b: IpNetwork) -> bool {
    a.contains(b.ip()) || b.contains(a.ip())
}

/// What to do to give the bridge the gateway address `wanted`, given the addresses of the same
/// family it already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrPlan {
    /// The exact address and prefix is already there: nothing to do.
    Present,
    /// Remove these conflicting addresses (only with `forceAddress`), then add the address.
    Add {
        /// Conflicting addresses to delete first.
        remove: Vec<IpNetwork>,
    },
    /// A conflicting address is there and `forceAddress` is off.
    Conflict(IpNetwork),
}

/// The reference's `ensureAddr` decision: an identical `address/prefix` is kept; any other IPv4
/// address conflicts, an IPv6 address only when the prefixes overlap (non-overlapping IPv6
/// prefixes coexist). Conflicts are removed with `force`, otherwise they are an error.
///
/// `existing` may hold both families; only those of `wanted`'s family are considered.
pub fn plan_bridge_addr(existing: &[IpNetwork], wanted: IpNetwork, force: bool) -> AddrPlan {
    let same_family = |n: &&IpNetwork| n.is_ipv4() == wanted.is_ipv4();
    if existing.iter().filter(same_family).any(|n| *n == wanted) {
        return AddrPlan::Present;
    }
    let mut remove = Vec::new();
    for n in existing.iter().filter(same_family) {
        // IPv6 link-local addresses never overlap a global prefix, so they survive.
        if wanted.is_ipv4() || overlaps(*n, wanted) {
            if !force {
                return AddrPlan::Conflict(*n);
            }
            remove.push(*n);
        }
    }
    AddrPlan::Add { remove }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn gateway_is_network_plus_one() {
        assert_eq!(default_gateway(net("10.1.2.77/24")).to_string(), "10.1.2.1");
        assert_eq!(default_gateway(net("10.1.2.3/16")).to_string(), "10.1.0.1");
        assert_eq!(
            default_gateway(net("2001:db8::5/64")).to_string(),
            "2001:db8::1"
        );
        assert_eq!(
            default_gateway(net("192.168.0.9/32")).to_string(),
            "192.168.0.10"
        );
    }

    #[test]
    fn identical_address_is_kept() {
        let plan = plan_bridge_addr(&[net("10.1.2.1/24")], net("10.1.2.1/24"), false);
        assert_eq!(plan, AddrPlan::Present);
    }

    #[test]
    fn any_other_ipv4_conflicts() {
        // The reference test: 10.0.0.1/8 then 10.1.2.3/16.
        let plan = plan_bridge_addr(&[net("10.0.0.1/8")], net("10.1.2.3/16"), false);
        assert_eq!(plan, AddrPlan::Conflict(net("10.0.0.1/8")));
        let plan = plan_bridge_addr(&[net("192.168.0.1/24")], net("10.1.2.1/24"), false);
        assert_eq!(plan, AddrPlan::Conflict(net("192.168.0.1/24")));
        let plan = plan_bridge_addr(&[net("10.0.0.1/8")], net("10.1.2.3/16"), true);
        assert_eq!(
            plan,
            AddrPlan::Add {
                remove: vec![net("10.0.0.1/8")]
            }
        );
    }

    #[test]
    fn ipv6_conflicts_only_when_overlapping() {
        let plan = plan_bridge_addr(&[net("2001:db8:1::1/48")], net("2001:db8:1:2::1/64"), false);
        assert_eq!(plan, AddrPlan::Conflict(net("2001:db8:1::1/48")));
        let plan = plan_bridge_addr(
            &[net("2001:db8:1:2::1/64"), net("fe80::1/64")],
            net("fd00:1234::1/64"),
            false,
        );
        assert_eq!(plan, AddrPlan::Add { remove: vec![] });
    }

    #[test]
    fn other_family_is_ignored() {
        let plan = plan_bridge_addr(&[net("2001:db8::1/64")], net("10.0.0.1/24"), false);
        assert_eq!(plan, AddrPlan::Add { remove: vec![] });
        let plan = plan_bridge_addr(&[net("10.0.0.1/24")], net("2001:db8::1/64"), false);
        assert_eq!(plan, AddrPlan::Add { remove: vec![] });
    }
}
