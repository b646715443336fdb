//! `ptp-lite`: a point-to-point CNI plugin written from scratch with cni-rs (the plugin author's
//! guide example; see the README).
//!
//! Every pod gets a veth pair and no bridge. The pod end carries the pod's address as a /32
//! and routes everything via the gateway; the host end carries the gateway address as a /32
//! and a /32 route to the pod, so the node forwards between pods and to the world. Addresses
//! come from host-local, in process. IPv4 only, to stay short.

use std::net::IpAddr;

use async_trait::async_trait;
use cni_ipam::{HostLocal, Ipam, IpamRequest, add_then};
use cni_netlink::{AddrOptions, IpFamily, NetNs, Netlink, RouteSpec, VethPair, VethSpec};
use cni_skel::{AddRequest, CheckRequest, DelRequest, Plugin};
use cni_types::{CniError, CniResult, Interface, Result100, Route};
use ipnetwork::IpNetwork;

/// The plugin's own keys of the network config: only `mtu`.
#[derive(serde::Deserialize)]
struct Conf {
    #[serde(default)]
    mtu: Option<u32>,
}

struct PtpLite;

/// `cni-netlink` errors become CNI "internal" errors (code 999) saying what was being done.
fn kernel(what: &'static str) -> impl FnOnce(cni_netlink::Error) -> CniError {
    move |e| CniError::internal(format!("{what}: {e}"))
}

fn net(ip: IpAddr, prefix: u8) -> Result<IpNetwork, CniError> {
    IpNetwork::new(ip, prefix).map_err(|e| CniError::internal(e.to_string()))
}

/// Host end: the gateway /32 and a route to the pod's /32. Pod end: the pod's /32, up, a route
/// to the gateway on the link and the default route via it.
async fn plumb(
    host: &Netlink,
    pod: &Netlink,
    veth: &VethPair,
    gw: IpNetwork,
    addr: IpNetwork,
) -> cni_netlink::Result<()> {
    let (h, c) = (veth.host.index, veth.container.index);
    let no_prefix = AddrOptions {
        no_prefix_route: true,
        ..AddrOptions::default()
    };
    host.add_address(h, gw, no_prefix).await?;
    host.replace_route(&RouteSpec::new(addr).dev(h)).await?;
    pod.add_address(c, addr, no_prefix).await?;
    pod.set_link_up(c).await?;
    pod.replace_route(&RouteSpec::new(gw).dev(c)).await?;
    pod.replace_default_route(gw.ip(), Some(c)).await
}

#[async_trait]
impl Plugin for PtpLite {
    type Config = Conf;

    fn about(&self) -> String {
        "ptp-lite: a point-to-point veth plugin, the cni-rs guide example".into()
    }

    async fn add(&self, req: AddRequest<Conf>) -> Result<CniResult, CniError> {
        let ipam_req = IpamRequest::from_add(&req)?;
        // IPAM first; if anything below fails, add_then releases the address again.
        add_then(&HostLocal::new(), &ipam_req, |ipam| async move {
            let pod_ns = NetNs::open(&req.netns).map_err(kernel("opening CNI_NETNS"))?;
            pod_ns
                .ensure_not_current_thread()
                .map_err(kernel("checking CNI_NETNS"))?;
            let host = Netlink::connect_current()
                .await
                .map_err(kernel("netlink"))?;
            let pod = pod_ns
                .connect()
                .await
                .map_err(kernel("netlink in the pod"))?;
            let spec = VethSpec {
                mtu: req.config.plugin.mtu,
                ..VethSpec::new(&req.ifname)
            };
            let veth = host
                .create_veth_pair(&pod, &spec)
                .await
                .map_err(kernel("veth"))?;

            let mut result = Result100::new(req.version);
            result.interfaces.push(Interface {
                mac: veth.host.mac.map(|m| m.to_string()),
                ..Interface::named(&veth.host.name)
            });
            result.interfaces.push(Interface {
                mac: veth.container.mac.map(|m| m.to_string()),
                sandbox: Some(req.netns.display().to_string()),
                ..Interface::named(&req.ifname)
            });
            for mut ip in ipam.ips {
                let IpNetwork::V4(subnet) = ip.address else {
                    return Err(CniError::invalid_config("ptp-lite supports IPv4 only"));
                };
                let gw = ip.gateway.or(subnet.nth(1).map(IpAddr::V4));
                let gw = gw.ok_or_else(|| CniError::invalid_config("no gateway address"))?;
                let (gw32, pod32) = (net(gw, 32)?, net(ip.address.ip(), 32)?);
                let plumbed = plumb(&host, &pod, &veth, gw32, pod32).await;
                plumbed.map_err(kernel("configuring the veth"))?;
                result
                    .routes
                    .push(Route::new(net(IpAddr::V4(0.into()), 0)?, Some(gw)));
                (ip.address, ip.interface, ip.gateway) = (pod32, Some(1), Some(gw));
                result.ips.push(ip);
            }
            NetNs::current_thread()
                .and_then(|ns| ns.enable_forwarding(IpFamily::V4))
                .map_err(kernel("enabling forwarding"))?;
            Ok::<_, CniError>(result.into())
        })
        .await
    }

    async fn del(&self, req: DelRequest<Conf>) -> Result<(), CniError> {
        HostLocal::new().del(&IpamRequest::from_del(&req)?).await?;
        // The pod may be gone already: then so is the veth, and DEL is done.
        let Some(Ok(pod_ns)) = req.netns.as_ref().map(NetNs::open) else {
            return Ok(());
        };
        let pod = pod_ns
            .connect()
            .await
            .map_err(kernel("netlink in the pod"))?;
        // Deleting one end removes the pair, its addresses and the host route with it.
        let deleted = pod.delete_link_by_name(&req.ifname).await;
        deleted.map_err(kernel("deleting the veth"))?;
        Ok(())
    }

    async fn check(&self, req: CheckRequest<Conf>) -> Result<(), CniError> {
        HostLocal::new()
            .check(&IpamRequest::from_check(&req)?)
            .await?;
        let prev = req.config.prev_result_current()?;
        let prev = prev.ok_or_else(|| CniError::invalid_config("CHECK needs a prevResult"))?;
        let pod_ns = NetNs::open(&req.netns).map_err(kernel("opening CNI_NETNS"))?;
        let pod = pod_ns
            .connect()
            .await
            .map_err(kernel("netlink in the pod"))?;
        let link = pod
            .link(&req.ifname)
            .await
            .map_err(kernel("the pod interface"))?;
        for ip in &prev.ips {
            let found = pod.expect_address(link.index, ip.address).await;
            found.map_err(|e| CniError::plugin(100, format!("{}: {e}", req.ifname)))?;
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    cni_skel::main(PtpLite)
}
