//! The pod side: the veth pair, the bridge port, and the container interface's addresses,
//! sysctls and routes.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use cni_netlink::addr::{AddrOptions, IpFamily};
use cni_netlink::link::{BridgePortFlags, Link, MacAddr, PortVlans, VethSpec, VlanRange};
use cni_netlink::route::{PROTO_BOOT, RouteScope, RouteSpec};
use cni_netlink::sysctl::NetSysctls;
use cni_netlink::{Netlink, NsThread};
use cni_skel::AddRequest;
use cni_types::Result100;

use crate::config::Settings;
use crate::error::BridgeError;
use cni_netlink::sysctl::interface_key;

/// How long IPv6 addresses may stay tentative (the reference's bound; only reached with
/// `enabledad` on a busy link). Waiting is event-driven; this is only the upper limit.
const DAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The error for a `CNI_IFNAME` the pod already has (code 4).
pub(crate) fn ifname_taken<C>(req: &AddRequest<C>) -> BridgeError {
    BridgeError::env(format!(
        "container veth name {:?} already exists in {}",
        req.ifname,
        req.netns.display()
    ))
}

/// The veth pair ADD makes: container end `ifname` (MTU, requested MAC, down), host end up and
/// attached to the bridge of index `bridge`.
pub(crate) fn veth_spec(s: &Settings, ifname: &str, bridge: u32) -> VethSpec {
    VethSpec {
        mtu: s.mtu,
        container_mac: s.mac.map(|m| MacAddr(m.octets())),
        bridge: Some(bridge),
        ..VethSpec::new(ifname)
    }
}

/// A failure to make the veth pair for `ifname` (code 4 when a name is taken or invalid).
pub(crate) fn veth_error(ifname: &str, e: cni_netlink::Error) -> BridgeError {
    let code = if e.is_already_exists() || e.is_invalid_input() {
        4
    } else {
        999
    };
    BridgeError::kernel_with_code(
        code,
        format!("failed to set up the veth pair for {ifname:?}"),
        e,
    )
}

/// Starts `accept_ra=0` on the host veth (the reference's "we own the routes"; like it, failures
/// are ignored), written on the pod thread through the node's sysctl directories, after the
/// pod's own sysctls, while this thread goes on.
pub(crate) fn start_host_accept_ra(
    ns: &NsThread,
    host_sysctls: &NetSysctls,
    host_veth: &str,
) -> PendingSysctls {
    let key = interface_key(IpFamily::V6, host_veth, "accept_ra");
    let sysctls = host_sysctls.clone();
    let job = ns.start(move || sysctls.set(&key, "0"));
    logged(job.map(|job| async move { job.await? }))
}

/// A sysctl job's future that logs its failure instead of returning it (like the reference,
/// the bridge ignores failed sysctl writes: a kernel without IPv6 has no such files).
fn logged(
    job: cni_netlink::Result<impl Future<Output = cni_netlink::Result<()>> + Send + 'static>,
) -> PendingSysctls {
    Box::pin(async move {
        let written = match job {
            Ok(job) => job.await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "a sysctl was not written");
        }
    })
}

/// Bridge-port settings of the host veth: hairpin, isolation, VLANs (its `accept_ra` is
/// [`start_host_accept_ra`]'s).
pub(crate) async fn configure_port(
    host: &Netlink,
    s: &Settings,
    port: &Link,
) -> Result<(), BridgeError> {
    let flags = BridgePortFlags {
        hairpin: s.hairpin_mode.then_some(true),
        isolated: s.port_isolation.then_some(true),
        learning: None,
    };
    host.set_bridge_port(port.index, &flags)
        .await
        .map_err(|e| {
            BridgeError::kernel(format!("failed to set up bridge port {}", port.name), e)
        })?;
    if s.vlan_filtering {
        let mut vlans = PortVlans {
            pvid: (s.vlan != 0).then_some(s.vlan),
            trunks: s
                .vlan_trunk
                .iter()
                .map(|&v| VlanRange { start: v, end: v })
                .collect(),
            remove_default: !s.preserve_default_vlan,
        };
        if s.vlan == 0 && !s.vlan_trunk.is_empty() {
            // The reference makes VLAN 1 the native (untagged) VLAN of a pure trunk port.
            vlans.pvid = Some(1);
        }
        host.set_port_vlans(port.index, &vlans).await.map_err(|e| {
            BridgeError::kernel(
                format!("failed to setup vlan tag on interface {:?}", port.name),
                e,
            )
        })?;
    }
    Ok(())
}

/// The pod interface's sysctls the reference writes whatever IPAM gives (before
/// `ipam.ConfigureIface`): DAD off (or on with `enabledad`), `arp_notify=1`.
pub(crate) type PendingSysctls = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts writing the pod interface's IPAM-independent sysctls (DAD off, or on with `enabledad`;
/// `arp_notify=1`) on the pod thread as soon as the interface exists, so they are written while
/// this thread configures the bridge port and waits for IPAM. [`configure_l3`] awaits them before
/// it adds any address.
pub(crate) fn start_base_sysctls(ns: &NsThread, s: &Settings, ifname: &str) -> PendingSysctls {
    let v6 = |name| interface_key(IpFamily::V6, ifname, name);
    let mut keys: Vec<(String, &'static str)> = Vec::new();
    if s.enable_dad {
        keys.push((v6("enhanced_dad"), "1"));
        keys.push((v6("accept_dad"), "1"));
    } else {
        keys.push((v6("accept_dad"), "0"));
    }
    keys.push((interface_key(IpFamily::V4, ifname, "arp_notify"), "1"));
    write_sysctls(ns, keys)
}

/// Writes `keys` in the pod's namespace on its thread, in order, starting now. Like the
/// reference, failures are not fatal (a kernel without IPv6 has no such files): they are logged.
fn write_sysctls(ns: &NsThread, keys: Vec<(String, &'static str)>) -> PendingSysctls {
    let entries: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    logged(ns.sysctl_set_many(&entries))
}

/// Configures the container interface from the result (`ipam.ConfigureIface` plus the bridge's
/// sysctls): IPv6 enabled when the result has an IPv6 address, the addresses (without DAD unless
/// asked), the IPAM-independent sysctls `base` ([`start_base_sysctls`]) finished, the link up,
/// then the routes (a route without gateway goes via the first gateway of its family).
pub(crate) async fn configure_l3(
    pod: &Netlink,
    ns: &NsThread,
    base: PendingSysctls,
    link: &Link,
    s: &Settings,
    result: &Result100,
) -> Result<(), BridgeError> {
    let ifname = link.name.as_str();
    let has_v6 = result.ips.iter().any(|ip| ip.address.is_ipv6());
    // The pod thread writes in order, so the IPv6 keys come after `base`, and once they are
    // written `base` is too. IPv6 must be on before an IPv6 address is added; the other keys
    // only have to be there before the link goes up (`arp_notify` acts on link up), so without
    // IPv6 the addresses are added while the thread writes them.
    let mut base = Some(base);
    if has_v6 {
        let v6 = |name| interface_key(IpFamily::V6, ifname, name);
        let keys = vec![
            (interface_key(IpFamily::V6, "lo", "disable_ipv6"), "0"),
            (v6("disable_ipv6"), "0"),
            (v6("keep_addr_on_down"), "1"),
        ];
        let v6_keys = write_sysctls(ns, keys);
        if let Some(base) = base.take() {
            base.await;
        }
        v6_keys.await;
    }

    let opts = AddrOptions {
        nodad: !s.enable_dad,
        ..AddrOptions::default()
    };
    let mut gw4: Option<IpAddr> = None;
    let mut gw6: Option<IpAddr> = None;
    for ip in &result.ips {
        pod.add_address(link.index, ip.address, opts)
            .await
            .map_err(|e| {
                BridgeError::kernel(
                    format!("failed to add IP addr {} to {:?}", ip.address, link.name),
                    e,
                )
            })?;
        let slot = if ip.address.is_ipv4() {
            &mut gw4
        } else {
            &mut gw6
        };
        if slot.is_none() {
            *slot = ip.gateway;
        }
    }
    if let Some(base) = base {
        base.await;
    }
    pod.set_link_up(link.index)
        .await
        .map_err(|e| BridgeError::kernel(format!("failed to set {:?} UP", link.name), e))?;
    if has_v6 {
        // Without DAD the addresses we add are usable at once, but the kernel still finishes the
        // link-local address (and, with `enabledad`, runs DAD) in the background; wait for the
        // notification that nothing is tentative, as the reference's settle loop does, without
        // polling or fixed sleeps.
        pod.wait_addresses_settled(link.index, IpFamily::V6, DAD_TIMEOUT)
            .await
            .map_err(|e| BridgeError::kernel("IPv6 duplicate address detection", e))?;
    }
    for route in &result.routes {
        let gw = route.gw.or(if route.dst.is_ipv4() { gw4 } else { gw6 });
        let mut spec = RouteSpec::new(route.dst).dev(link.index);
        spec.gateway = gw;
        spec.metric = route.priority;
        spec.table = route.table;
        spec.protocol = Some(PROTO_BOOT);
        spec.scope = Some(route.scope.map_or(RouteScope::Universe, route_scope));
        match pod.add_route(&spec).await {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => {
                return Err(BridgeError::kernel(
                    format!(
                        "failed to add route {} via {:?} dev {:?}",
                        route.dst, gw, link.name
                    ),
                    e,
                ));
            }
        }
    }
    Ok(())
}

fn route_scope(v: u8) -> RouteScope {
    match v {
        0 => RouteScope::Universe,
        200 => RouteScope::Site,
        253 => RouteScope::Link,
        254 => RouteScope::Host,
        255 => RouteScope::Nowhere,
        other => RouteScope::Other(other),
    }
}
