//! Conversion between the three result formats, with the reference's rules.

use super::common::Route;
use super::v020::{IpConfig020, Result020};
use super::v040::{Interface040, IpConfig040, IpVersion, Result040};
use super::v100::{Interface, IpConfig, Result100};
use crate::error::CniError;
use crate::version::Version;

/// 0.1.0/0.2.0 → 0.3.x/0.4.0: `ip4` and `ip6` become `ips` entries (no interface index), their
/// routes are flattened into `routes`, IPv4 first.
pub(crate) fn v020_to_v040(r: &Result020, to: Version) -> Result040 {
    let mut out = Result040::new(to);
    for (cfg, version) in [(&r.ip4, IpVersion::V4), (&r.ip6, IpVersion::V6)] {
        if let Some(cfg) = cfg {
            out.ips.push(IpConfig040 {
                version,
                interface: None,
                address: cfg.ip,
                gateway: cfg.gateway,
            });
            out.routes.extend(cfg.routes.iter().cloned());
        }
    }
    out.dns = r.dns.clone();
    out
}

/// 0.3.x/0.4.0 → 0.1.0/0.2.0: keeps the first IPv4 and the first IPv6 address; each route goes to
/// the family of its destination (only `dst` and `gw`), when that family has an address; interfaces
/// are dropped. Without any address the conversion fails with `cannot convert: no valid IP
/// addresses` (code 1: the result cannot be expressed in the requested version).
pub(crate) fn v040_to_v020(r: &Result040, to: Version) -> Result<Result020, CniError> {
    let pick = |family: IpVersion| {
        r.ips
            .iter()
            .find(|ip| ip.version == family)
            .map(|ip| IpConfig020 {
                ip: ip.address,
                gateway: ip.gateway,
                routes: Vec::new(),
            })
    };
    let mut ip4 = pick(IpVersion::V4);
    let mut ip6 = pick(IpVersion::V6);
    if ip4.is_none() && ip6.is_none() {
        return Err(CniError::incompatible_version(
            "cannot convert: no valid IP addresses",
        ));
    }
    for route in &r.routes {
        let slot = if route.dst.is_ipv4() {
            &mut ip4
        } else {
            &mut ip6
        };
        if let Some(cfg) = slot {
            cfg.routes.push(route.dst_gw_only());
        }
    }
    Ok(Result020 {
        cni_version: to,
        ip4,
        ip6,
        dns: r.dns.clone(),
    })
}

/// 0.3.x/0.4.0 → 1.0.0/1.1.0: `ips[].version` is dropped, everything else kept.
pub(crate) fn v040_to_v100(r: &Result040, to: Version) -> Result100 {
    Result100 {
        cni_version: to,
        interfaces: r
            .interfaces
            .iter()
            .map(|i| Interface {
                name: i.name.clone(),
                mac: i.mac.clone(),
                sandbox: i.sandbox.clone(),
                ..Interface::default()
            })
            .collect(),
        ips: r
            .ips
            .iter()
            .map(|ip| IpConfig {
                interface: ip.interface,
                address: ip.address,
                gateway: ip.gateway,
            })
            .collect(),
        routes: r.routes.clone(),
        dns: r.dns.clone(),
    }
}

/// 1.0.0/1.1.0 → 0.3.x/0.4.0: `ips[].version` is computed from the address; interface `mtu`,
/// `socketPath` and `pciID` are dropped; routes keep every attribute.
pub(crate) fn v100_to_v040(r: &Result100, to: Version) -> Result040 {
    Result040 {
        cni_version: to,
        interfaces: r
            .interfaces
            .iter()
            .map(|i| Interface040 {
                name: i.name.clone(),
                mac: i.mac.clone(),
                sandbox: i.sandbox.clone(),
            })
            .collect(),
        ips: r
            .ips
            .iter()
            .map(|ip| IpConfig040 {
                version: IpVersion::of(ip.address.ip()),
                interface: ip.interface,
                address: ip.address,
                gateway: ip.gateway,
            })
            .collect(),
        routes: r.routes.iter().map(Route::clone).collect(),
        dns: r.dns.clone(),
    }
}
