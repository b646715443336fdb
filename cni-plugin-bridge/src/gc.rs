//! GC and STATUS, which the reference bridge lacks: GC releases the IPAM reservations, the
//! masquerade state (of both backends, like DEL) and the MAC spoof checks of attachments not in
//! the valid list; STATUS asks the IPAM.

use cni_netlink::{Attachment, Netlink};
use cni_skel::{GcRequest, StatusRequest};

use crate::config::BridgeConf;
use crate::error::BridgeError;
use crate::ipam::Ipam;
use crate::masq::{self, Doomed};
use crate::plugin::load_settings;
use crate::spoofcheck;

/// Runs GC: every step runs; failures are reported together.
pub(crate) async fn gc(req: &GcRequest<BridgeConf>) -> Result<(), BridgeError> {
    let s = load_settings(&req.config, None)?;
    let mut errors = Vec::new();
    if let Some(t) = &s.ipam_type {
        let collected = match Ipam::for_gc(t, req) {
            Ok(ipam) => ipam.gc().await,
            Err(e) => Err(e),
        };
        if let Err(e) = collected {
            errors.push(e);
        }
    }
    let valid: Vec<Attachment> = req
        .valid_attachments
        .iter()
        .map(|a| Attachment::new(&a.container_id, &a.ifname))
        .collect();
    // Both backends: the configured one as DEL does, the other best effort (see masq.rs).
    if s.ip_masq && s.is_layer3() {
        let (_opened, collected) =
            masq::remove_from_both(s.masq_backend, &req.config.name, Doomed::AllBut(&valid));
        errors.extend(collected.err());
    }
    if s.mac_spoof_check {
        let collected = match Netlink::connect_current().await {
            Ok(host) => spoofcheck::gc(&host, &s.bridge, &valid).await,
            Err(e) => Err(BridgeError::kernel("failed to open netlink", e)),
        };
        if let Err(e) = collected {
            errors.push(e);
        }
    }
    BridgeError::collect(errors)
}

/// Runs STATUS: the IPAM's answer (host-local: code 50 when every range is exhausted). A layer-2
/// network is always available.
pub(crate) async fn status(req: &StatusRequest<BridgeConf>) -> Result<(), BridgeError> {
    let s = load_settings(&req.config, None)?;
    match &s.ipam_type {
        Some(t) => Ipam::for_status(t, req)?.status().await,
        None => Ok(()),
    }
}
