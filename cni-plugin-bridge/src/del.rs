//! DEL: idempotent and best effort. Every step runs even when an earlier one failed, and all
//! failures are reported together. A missing netns, link, reservation or rule is success; the
//! bridge is never deleted.

use cni_netlink::masquerade::Attachment;
use cni_netlink::{NetNs, Netlink};
use cni_skel::DelRequest;

use crate::config::BridgeConf;
use crate::error::BridgeError;
use crate::ipam::Ipam;
use crate::masq::Masq;
use crate::plugin::load_settings;
use crate::spoofcheck::SpoofCheck;

/// Runs DEL.
pub(crate) async fn del(req: &DelRequest<BridgeConf>) -> Result<(), BridgeError> {
    // A config the reference cannot load fails its DEL too.
    let s = load_settings(&req.config, Some(&req.args))?;
    let mut errors = Vec::new();

    if let Some(netns) = req.netns.as_ref().filter(|p| !p.as_os_str().is_empty())
        && let Err(e) = delete_veth(netns, &req.ifname).await
    {
        errors.push(e);
    }
    if let Some(t) = &s.ipam_type {
        let released = match Ipam::for_del(t, req) {
            Ok(ipam) => ipam.del().await,
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            errors.push(e);
        }
    }
    if s.mac_spoof_check
        && let Err(e) = SpoofCheck::new(&req.container_id, &req.ifname).teardown()
    {
        errors.push(e);
    }
    // Keyed by network + attachment, so it works without the netns or the link's addresses.
    if s.ip_masq && s.is_layer3() {
        let att = Attachment::new(&req.container_id, &req.ifname);
        let removed = Masq::open(s.masq_backend).and_then(|m| m.remove(&req.config.name, &att));
        if let Err(e) = removed {
            errors.push(e);
        }
    }
    BridgeError::collect(errors)
}

/// Deletes the container interface (the kernel deletes the host end with it). A namespace that
/// no longer exists, or a missing link, is success.
async fn delete_veth(netns: &std::path::Path, ifname: &str) -> Result<(), BridgeError> {
    let ns = match NetNs::open(netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => {
            return Err(BridgeError::kernel_with_code(
                4,
                format!("failed to open netns {netns:?}"),
                e,
            ));
        }
    };
    let pod: Netlink = ns
        .connect()
        .await
        .map_err(|e| BridgeError::kernel("failed to open netlink in the pod", e))?;
    pod.delete_link_by_name(ifname)
        .await
        .map(drop)
        .map_err(|e| BridgeError::kernel(format!("failed to delete {ifname:?}"), e))
}
