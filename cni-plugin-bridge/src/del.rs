//! DEL: idempotent and best effort. Every step runs even when an earlier one failed, and all
//! failures are reported together. A missing netns, link, reservation or rule is success; the
//! bridge is never deleted.

use cni_netlink::masquerade::Attachment;
use cni_netlink::{NetNs, Netlink};
use cni_skel::DelRequest;

use crate::config::BridgeConf;
use crate::error::BridgeError;
use crate::ipam::Ipam;
use crate::masq::{self, Doomed};
use crate::plugin::load_settings;
use crate::spoofcheck::SpoofCheck;

/// Runs DEL.
pub(crate) async fn del(req: &DelRequest<BridgeConf>) -> Result<(), BridgeError> {
    // A config the reference cannot load fails its DEL too.
    let s = load_settings(&req.config, Some(&req.args))?;
    let mut errors = Vec::new();

    // The masquerade state goes first (keyed by network + attachment, so it works without the
    // netns or the link's addresses), from both backends (see masq.rs), and its sockets stay open
    // until the end: removing nftables set elements queues the kernel's deferred free (an RCU
    // grace period), and closing a netfilter socket while that is pending waits for it. Done
    // first, the grace period passes while the veth is deleted (which waits for grace periods of
    // its own) instead of after it, at exit. Its error, if any, is still reported last.
    let (masq, masq_removed) = if s.ip_masq && s.is_layer3() {
        let att = Attachment::new(&req.container_id, &req.ifname);
        let (opened, removed) =
            masq::remove_from_both(s.masq_backend, &req.config.name, Doomed::Attachment(&att));
        (Some(opened), removed)
    } else {
        (None, Ok(()))
    };

    // The spoof check likewise (its chains and rules are freed after a grace period too).
    let (spoof, spoof_removed) = if s.mac_spoof_check {
        SpoofCheck::new(&req.container_id, &req.ifname).teardown_keeping_socket()
    } else {
        (None, Ok(()))
    };

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
    errors.extend(spoof_removed.err());
    errors.extend(masq_removed.err());
    drop(spoof);
    drop(masq);
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
