//! The host side: the bridge, its gateway addresses, forwarding.

use cni_netlink::Netlink;
use cni_netlink::addr::{AddrOptions, IpFamily};
use cni_netlink::link::{BridgeSpec, Link, MacAddr};
use cni_netlink::sysctl::NetSysctls;
use ipnetwork::IpNetwork;

use crate::config::Settings;
use crate::error::BridgeError;
use crate::gateway::{AddrPlan, plan_bridge_addr};
use crate::result::Gateways;

/// Creates the bridge or adopts an existing one (`ensureBridge`): MTU for a new bridge,
/// promiscuous mode when asked (never turned off), VLAN filtering when a VLAN is configured,
/// `accept_ra=0` (we own the routes), up. `existing` is the link of the bridge's name as the
/// caller has just read it (`None`: there was none).
///
/// Errors: an existing link of that name that is not a bridge (code 7); VLAN filtering on a
/// kernel without it (code 2).
pub(crate) async fn ensure_bridge(
    host: &Netlink,
    s: &Settings,
    existing: Option<Link>,
) -> Result<Link, BridgeError> {
    let spec = BridgeSpec {
        mtu: s.mtu,
        promiscuous: s.promisc_mode,
        vlan_filtering: s.vlan_filtering,
        // A gateway bridge gets its MAC pinned (see ensure_addr); one we create now is made with
        // a MAC of its own, so that no port MAC is ever reported for it, even while concurrent
        // ADDs attach their ports before the first gateway address is added.
        own_mac: s.is_gateway,
        ..BridgeSpec::new(&s.bridge)
    };
    let link = host
        .ensure_bridge_from(&spec, existing)
        .await
        .map_err(|e| bridge_error(s, e))?;
    Ok(link)
}

/// `accept_ra=0` on the bridge: we own the routes on it. Like the reference, a failure here is
/// ignored. The link answer carries the current value: the write (a `/proc/sys` path walk,
/// whose cost grows with the namespaces on the machine) is only made when it is not 0 yet, so
/// in practice by the bridge's first ADD.
pub(crate) fn bridge_accept_ra(host_sysctls: &NetSysctls, bridge: &Link) {
    if bridge.ipv6_accept_ra != Some(0) {
        let key = cni_netlink::sysctl::interface_key(IpFamily::V6, &bridge.name, "accept_ra");
        let _ = host_sysctls.set(&key, "0");
    }
}

/// A failure to read, create or adopt the bridge: an existing link of its name that is not a
/// bridge is a configuration error (code 7).
pub(crate) fn bridge_error(s: &Settings, e: cni_netlink::Error) -> BridgeError {
    let context = format!("failed to create bridge {:?}", s.bridge);
    if e.is_already_exists() {
        BridgeError::kernel_with_code(7, context, e)
    } else {
        BridgeError::kernel(context, e)
    }
}

/// Puts the gateway addresses on the bridge (`ensureAddr` per address, IPv4 first) and turns
/// forwarding on for each family that has one. The bridge MAC is pinned to its current value
/// when an address is to be added, so it stops following the lowest port MAC.
pub(crate) async fn ensure_gateways(
    host: &Netlink,
    host_sysctls: &NetSysctls,
    bridge: &Link,
    gateways: &Gateways,
    s: &Settings,
) -> Result<(), BridgeError> {
    for (family, gws) in [(IpFamily::V4, &gateways.v4), (IpFamily::V6, &gateways.v6)] {
        if gws.gateways.is_empty() {
            continue;
        }
        for gw in &gws.gateways {
            ensure_addr(host, bridge, family, *gw, s.force_address).await?;
        }
        host_sysctls
            .enable_forwarding(family)
            .map_err(|e| BridgeError::kernel("failed to enable forwarding", e))?;
    }
    Ok(())
}

async fn ensure_addr(
    host: &Netlink,
    bridge: &Link,
    family: IpFamily,
    gw: IpNetwork,
    force: bool,
) -> Result<(), BridgeError> {
    let name = &bridge.name;
    let existing: Vec<IpNetwork> = host
        .addresses(Some(bridge.index), Some(family))
        .await
        .map_err(|e| BridgeError::kernel("could not get list of IP addresses", e))?
        .into_iter()
        .map(|a| a.network)
        .collect();
    let remove = match plan_bridge_addr(&existing, gw, force) {
        AddrPlan::Present => return Ok(()),
        AddrPlan::Conflict(_) => {
            return Err(BridgeError::other(format!(
                "failed to set bridge addr: {name:?} already has an IP address different from {gw}"
            )));
        }
        AddrPlan::Add { remove } => remove,
    };
    // Pinned before the address is added, not after as the reference does: an ADD that finds
    // the address already there then also finds the MAC pinned, and the bridge MAC its result
    // reports is final (with the reference's order, a concurrent ADD can report a MAC that the
    // pin changes a moment later, and its CHECK fails).
    pin_mac(host, bridge).await?;
    for old in remove {
        host.delete_address(bridge.index, old).await.map_err(|e| {
            BridgeError::kernel(format!("could not remove IP address from {name:?}"), e)
        })?;
    }
    host.add_address(
        bridge.index,
        gw,
        AddrOptions {
            nodad: true,
            ..AddrOptions::default()
        },
    )
    .await
    .map_err(|e| BridgeError::kernel(format!("could not add IP address to {name:?}"), e))?;
    Ok(())
}

/// Sets the bridge's MAC to the one it had when we looked it up (or, if that was all zero, to
/// the one it has now), which makes the kernel keep it as ports come and go (it otherwise
/// follows the lowest port MAC). Like the reference, which pins the MAC it read before adding
/// its port, so the bridge keeps a MAC of its own.
async fn pin_mac(host: &Netlink, bridge: &Link) -> Result<(), BridgeError> {
    let mac: Option<MacAddr> = match bridge.mac.filter(|m| !m.is_zero()) {
        Some(m) => Some(m),
        None => host
            .link_by_index(bridge.index)
            .await
            .map_err(|e| BridgeError::kernel("could not look the bridge up", e))?
            .and_then(|l| l.mac)
            .filter(|m| !m.is_zero()),
    };
    if let Some(mac) = mac {
        host.set_mac(bridge.index, mac)
            .await
            .map_err(|e| BridgeError::kernel("could not set bridge's mac", e))?;
    }
    Ok(())
}
