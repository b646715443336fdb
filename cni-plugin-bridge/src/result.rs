//! Building the ADD result: the three interfaces, the IPAM addresses tied to the container
//! interface, gateways and default routes (`calcGateways`), and DNS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cni_types::{Dns, Interface, Result100, Route};
use ipnetwork::IpNetwork;

use crate::error::BridgeError;
use crate::gateway::default_gateway;

/// Index of the bridge in the result's `interfaces`.
pub const BRIDGE_INDEX: usize = 0;
/// Index of the host veth in the result's `interfaces`.
pub const HOST_VETH_INDEX: usize = 1;
/// Index of the container interface in the result's `interfaces`; every `ips[].interface` is this.
pub const CONTAINER_INDEX: usize = 2;

/// The gateway addresses to put on the bridge for one address family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyGateways {
    /// Gateway addresses with the prefix length of the pod address they serve.
    pub gateways: Vec<IpNetwork>,
    /// Whether the result has (or now has) a default route with a gateway for this family.
    pub default_route_found: bool,
}

/// What [`calc_gateways`] found, per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gateways {
    /// IPv4.
    pub v4: FamilyGateways,
    /// IPv6.
    pub v6: FamilyGateways,
}

impl Gateways {
    /// Every gateway address, IPv4 first (the order the reference configures them in).
    pub fn all(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.v4
            .gateways
            .iter()
            .chain(self.v6.gateways.iter())
            .copied()
    }
}

fn default_dst(v4: bool) -> IpNetwork {
    if v4 {
        IpNetwork::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        IpNetwork::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    }
    .unwrap_or_else(|_| IpNetwork::V4(ipnetwork::Ipv4Network::from(Ipv4Addr::UNSPECIFIED)))
}

/// The reference's `calcGateways`, applied to a result holding the IPAM addresses and routes.
///
/// For every address: its `interface` becomes the container's index (2); with `is_gateway` and no
/// gateway from IPAM, the gateway becomes the network address + 1; with `is_default_gateway`, a
/// default route via that gateway is appended unless the family already has a default route
/// with a gateway; with `is_gateway`, the gateway (with the pod address's prefix length) is
/// collected for the bridge.
///
/// Errors: a gateway of the other family than its address (code 7, the IPAM config is wrong).
pub fn calc_gateways(
    result: &mut Result100,
    is_gateway: bool,
    is_default_gateway: bool,
) -> Result<Gateways, BridgeError> {
    let is_gateway = is_gateway || is_default_gateway;
    let mut out = Gateways::default();
    for ip in &mut result.ips {
        let v4 = ip.address.is_ipv4();
        let family = if v4 { &mut out.v4 } else { &mut out.v6 };
        ip.interface = Some(CONTAINER_INDEX);
        if ip.gateway.is_none() && is_gateway {
            ip.gateway = Some(default_gateway(ip.address));
        }
        if let Some(gw) = ip.gateway.filter(|gw| gw.is_ipv4() != v4) {
            return Err(BridgeError::config(format!(
                "gateway {gw} is not of the same address family as {}",
                ip.address
            )));
        }
        if is_default_gateway && !family.default_route_found {
            let dst = default_dst(v4);
            family.default_route_found =
                result.routes.iter().any(|r| r.gw.is_some() && r.dst == dst);
            if !family.default_route_found {
                result.routes.push(Route::new(dst, ip.gateway));
                family.default_route_found = true;
            }
        }
        if let Some(gw) = ip.gateway.filter(|_| is_gateway) {
            let net = IpNetwork::new(gw, ip.address.prefix()).map_err(|e| {
                BridgeError::config(format!("invalid gateway {gw} for {}: {e}", ip.address))
            })?;
            family.gateways.push(net);
        }
    }
    Ok(out)
}

/// The config's `dns` replaces the IPAM's when it sets anything (nameservers, domain, search or
/// options), as the reference does.
pub fn apply_conf_dns(result: &mut Result100, conf_dns: Option<&Dns>) {
    if let Some(dns) = conf_dns.filter(|d| !d.is_empty()) {
        result.dns = dns.clone();
    }
}

/// The host-side interface entry (bridge or host veth): name and MAC, no sandbox.
pub fn host_interface(name: &str, mac: Option<String>) -> Interface {
    Interface {
        mac,
        ..Interface::named(name)
    }
}

/// The container interface entry: name, MAC and the netns path as sandbox.
pub fn container_interface(name: &str, mac: Option<String>, sandbox: &str) -> Interface {
    Interface {
        mac,
        sandbox: Some(sandbox.to_owned()),
        ..Interface::named(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni_types::IpConfig;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ipam(addrs: &[(&str, Option<&str>)], routes: &[(&str, Option<&str>)]) -> Result100 {
        let mut r = Result100::default();
        for (a, gw) in addrs {
            let mut ip = IpConfig::new(net(a));
            ip.gateway = gw.map(|g| g.parse().unwrap());
            r.ips.push(ip);
        }
        for (d, gw) in routes {
            r.routes
                .push(Route::new(net(d), gw.map(|g| g.parse().unwrap())));
        }
        r
    }

    #[test]
    fn interface_index_is_always_the_container() {
        let mut r = ipam(&[("10.1.2.5/24", None), ("fd00::5/64", None)], &[]);
        let gws = calc_gateways(&mut r, false, false).unwrap();
        assert!(r.ips.iter().all(|i| i.interface == Some(2)));
        assert!(r.ips.iter().all(|i| i.gateway.is_none()));
        assert_eq!(gws, Gateways::default());
        assert!(r.routes.is_empty());
    }

    #[test]
    fn gateway_is_derived_when_ipam_gives_none() {
        let mut r = ipam(&[("10.1.2.5/24", None)], &[]);
        let gws = calc_gateways(&mut r, true, false).unwrap();
        assert_eq!(r.ips[0].gateway, Some("10.1.2.1".parse().unwrap()));
        assert_eq!(gws.v4.gateways, vec![net("10.1.2.1/24")]);
        assert!(r.routes.is_empty(), "isGateway alone adds no route");
    }

    #[test]
    fn ipam_gateway_is_kept_with_the_pod_prefix() {
        let mut r = ipam(&[("10.1.2.5/16", Some("10.1.0.254"))], &[]);
        let gws = calc_gateways(&mut r, true, false).unwrap();
        assert_eq!(gws.v4.gateways, vec![net("10.1.0.254/16")]);
    }

    #[test]
    fn default_gateway_adds_one_default_route_per_family() {
        let mut r = ipam(
            &[
                ("192.168.0.5/24", None),
                ("fd00::5/64", None),
                ("fd01::5/64", None),
            ],
            &[],
        );
        let gws = calc_gateways(&mut r, false, true).unwrap();
        assert_eq!(r.routes.len(), 2);
        assert_eq!(
            r.routes[0],
            Route::new(net("0.0.0.0/0"), Some("192.168.0.1".parse().unwrap()))
        );
        assert_eq!(
            r.routes[1],
            Route::new(net("::/0"), Some("fd00::1".parse().unwrap()))
        );
        assert_eq!(gws.v6.gateways, vec![net("fd00::1/64"), net("fd01::1/64")]);
        assert!(gws.v4.default_route_found && gws.v6.default_route_found);
        assert_eq!(gws.all().count(), 3);
    }

    #[test]
    fn an_existing_default_route_with_gateway_counts() {
        let mut r = ipam(
            &[("10.0.0.5/24", None)],
            &[("0.0.0.0/0", Some("10.0.0.254"))],
        );
        calc_gateways(&mut r, false, true).unwrap();
        assert_eq!(r.routes.len(), 1);
        // Without a gateway it does not count, as in the reference.
        let mut r = ipam(&[("10.0.0.5/24", None)], &[("0.0.0.0/0", None)]);
        calc_gateways(&mut r, false, true).unwrap();
        assert_eq!(r.routes.len(), 2);
    }

    #[test]
    fn mixed_family_gateway_is_an_error() {
        let mut r = ipam(&[("10.0.0.5/24", Some("fd00::1"))], &[]);
        assert_eq!(calc_gateways(&mut r, true, false).unwrap_err().code(), 7);
    }

    #[test]
    fn conf_dns_replaces_only_when_set() {
        let mut r = Result100::default();
        r.dns.nameservers = vec!["10.0.0.10".into()];
        apply_conf_dns(&mut r, Some(&Dns::default()));
        assert_eq!(r.dns.nameservers, vec!["10.0.0.10".to_string()]);
        let conf = Dns {
            search: vec!["example.com".into()],
            ..Dns::default()
        };
        apply_conf_dns(&mut r, Some(&conf));
        assert_eq!(r.dns, conf);
        apply_conf_dns(&mut r, None);
        assert_eq!(r.dns, conf);
    }

    #[test]
    fn interface_entries() {
        let c = container_interface("eth0", Some("02:00:00:00:00:01".into()), "/run/netns/x");
        assert_eq!(c.sandbox.as_deref(), Some("/run/netns/x"));
        let h = host_interface("cni0", None);
        assert_eq!(h.sandbox, None);
        assert_eq!(h.name, "cni0");
    }
}
