//! The floor: the kernel work of one pod done in-process through cni-netlink, with no plugin
//! process, no config parsing, no IPAM and no result.
//!
//! ADD: a netlink socket opened in the pod namespace, the veth pair created in one request with
//! its pod end directly in the pod namespace and its host end up and enslaved to the bridge, the
//! pod end's `accept_dad=0` and `arp_notify=1` (which the reference writes, and which decide what
//! the kernel does when the link comes up: no duplicate address detection for the IPv6
//! link-local address, so its first neighbour-discovery and multicast packets go out at once,
//! and a gratuitous ARP, all flooded to every bridge port), the pod address, the pod end up, the
//! default route via the gateway; with `ipMasq` on, also the pod's nftables masquerade element.
//! The pod's sysctl directories are opened before the clock starts (a plugin opens them on a
//! thread of its own while the veth pair is made; the path walk's cost grows with the
//! namespaces on the machine). CHECK: the pod interface, its address and its default
//! route read back. DEL: the pod interface deleted (which deletes its peer), the masquerade
//! element removed. The bridge and its gateway address are made once, untimed.

use std::time::{Duration, Instant};

use cni_netlink::masquerade::{Attachment, Masquerade};
use cni_netlink::sysctl::{NetSysctls, interface_key};
use cni_netlink::{AddrOptions, BridgeSpec, IpFamily, NetNs, Netlink, VethSpec};
use ipnetwork::IpNetwork;

use super::world::{BRIDGE, IFNAME, NETWORK, SUBNET_PREFIX, Verb, gateway};
use crate::error::{Error, Result};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting a runtime for the floor"))
}

/// Makes the node's bridge with the gateway address, up, as a plugin's first ADD would.
pub(crate) fn prepare_node(node: &NetNs) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let host = node
            .connect()
            .await
            .map_err(Error::netlink("connecting to the node"))?;
        let bridge = host
            .ensure_bridge(&BridgeSpec::new(BRIDGE))
            .await
            .map_err(Error::netlink("making the bridge"))?;
        let gw = IpNetwork::new(gateway(), SUBNET_PREFIX)
            .map_err(|e| Error::Usage(format!("gateway address: {e}")))?;
        host.add_address(bridge.index, gw, AddrOptions::default())
            .await
            .map_err(Error::netlink("the gateway address"))
    })
}

/// One worker thread's runtime and sockets. Make it on a thread inside the node namespace.
pub(crate) struct FloorWorker {
    rt: tokio::runtime::Runtime,
    host: Netlink,
    bridge: u32,
    masq: Option<Masquerade>,
}

impl FloorWorker {
    /// Connects to the node (`node` must be the calling thread's namespace for the masquerade
    /// socket) and finds the bridge.
    pub(crate) fn new(node: &NetNs, masq: bool) -> Result<FloorWorker> {
        let rt = runtime()?;
        let (host, bridge) = rt.block_on(async {
            let host = node
                .connect()
                .await
                .map_err(Error::netlink("connecting to the node"))?;
            let bridge = host
                .link(BRIDGE)
                .await
                .map_err(Error::netlink("finding the bridge"))?;
            Ok::<_, Error>((host, bridge.index))
        })?;
        let masq = match masq {
            true => Some(Masquerade::open_current().map_err(Error::netlink("opening nftables"))?),
            false => None,
        };
        Ok(FloorWorker {
            rt,
            host,
            bridge,
            masq,
        })
    }

    /// Does `verb`'s kernel work for the pod in `pod` with address `addr`; returns its time.
    pub(crate) fn op(
        &mut self,
        verb: Verb,
        pod: &NetNs,
        id: &str,
        addr: IpNetwork,
    ) -> Result<Duration> {
        // Opened before the clock starts: a plugin opens them on a thread of its own, in the pod's
        // namespace, while the veth pair is made (a `/proc/sys/net` path walk, whose cost grows
        // with the namespaces on the machine: about 40 µs with 50 pods, 1.3 ms with 600).
        let pod_sysctls = match verb {
            Verb::Add => Some(
                pod.sysctls()
                    .map_err(Error::netlink("opening the pod's sysctls"))?,
            ),
            _ => None,
        };
        let start = Instant::now();
        let (host, bridge, masq) = (&self.host, self.bridge, self.masq.as_ref());
        self.rt.block_on(async {
            let pod_nl = pod
                .connect()
                .await
                .map_err(Error::netlink("connecting to the pod"))?;
            match verb {
                Verb::Add => add(host, &pod_nl, pod_sysctls.as_ref(), bridge, addr).await?,
                Verb::Check => check(&pod_nl, addr).await?,
                Verb::Del => {
                    pod_nl
                        .delete_link_by_name(IFNAME)
                        .await
                        .map_err(Error::netlink("deleting the pod interface"))?;
                }
                // No process, so nothing to start: the runner never times it.
                Verb::Version => {}
            }
            Ok::<_, Error>(())
        })?;
        if let Some(masq) = masq {
            let att = Attachment::new(id, IFNAME);
            match verb {
                Verb::Add => masq.add(NETWORK, &att, &[addr], &[]),
                Verb::Check | Verb::Version => Ok(()),
                Verb::Del => masq.remove(NETWORK, &att),
            }
            .map_err(Error::netlink("masquerading"))?;
        }
        Ok(start.elapsed())
    }
}

async fn add(
    host: &Netlink,
    pod: &Netlink,
    pod_sysctls: Option<&NetSysctls>,
    bridge: u32,
    addr: IpNetwork,
) -> Result<()> {
    let spec = VethSpec {
        bridge: Some(bridge),
        ..VethSpec::new(IFNAME)
    };
    let pair = host
        .create_veth_pair(pod, &spec)
        .await
        .map_err(Error::netlink("creating the veth pair"))?;
    let index = pair.container.index;
    if let Some(sysctls) = pod_sysctls {
        // A kernel without IPv6 has no `accept_dad` (the reference ignores that); any other
        // failure would leave the floor without the work it is there to measure.
        match sysctls.set(&interface_key(IpFamily::V6, IFNAME, "accept_dad"), "0") {
            Err(e) if e.is_not_found() => {}
            written => written.map_err(Error::netlink("accept_dad on the pod interface"))?,
        }
        sysctls
            .set(&interface_key(IpFamily::V4, IFNAME, "arp_notify"), "1")
            .map_err(Error::netlink("arp_notify on the pod interface"))?;
    }
    pod.add_address(index, addr, AddrOptions::default())
        .await
        .map_err(Error::netlink("adding the pod address"))?;
    pod.set_link_up(index)
        .await
        .map_err(Error::netlink("bringing the pod interface up"))?;
    pod.replace_default_route(gateway(), Some(index))
        .await
        .map_err(Error::netlink("the default route"))
}

async fn check(pod: &Netlink, addr: IpNetwork) -> Result<()> {
    let link = pod
        .link(IFNAME)
        .await
        .map_err(Error::netlink("finding the pod interface"))?;
    let addrs = pod
        .addresses(Some(link.index), Some(IpFamily::V4))
        .await
        .map_err(Error::netlink("listing the pod's addresses"))?;
    if !addrs.iter().any(|a| a.network == addr) {
        return Err(Error::Verification(format!("floor CHECK: {addr} missing")));
    }
    let routes = pod
        .default_routes(IpFamily::V4)
        .await
        .map_err(Error::netlink("listing the pod's routes"))?;
    if routes.is_empty() {
        return Err(Error::Verification("floor CHECK: no default route".into()));
    }
    Ok(())
}
