//! The network's IPAM, whichever it is: `host-local` and `static` are served in-process through
//! `cni-ipam` (no extra process), any other `ipam.type` is delegated to its binary on `CNI_PATH`.

use std::path::PathBuf;

use cni_ipam::host_local::config::HostLocalConfig;
use cni_ipam::host_local::disk::DiskStore;
use cni_ipam::{IpamRequest, StaticConfig};
use cni_skel::{AddRequest, CheckRequest, DelRequest, GcRequest, StatusRequest};
use cni_types::Result100;

use crate::error::BridgeError;

/// The IPAM of one call, with the request it answers.
pub(crate) struct Ipam {
    inner: Box<dyn cni_ipam::Ipam>,
    req: IpamRequest,
}

impl std::fmt::Debug for Ipam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipam")
            .field("type", &self.req.ipam_type())
            .finish()
    }
}

/// Whether `ipam_type` is served in this process.
pub(crate) fn in_process(ipam_type: &str) -> bool {
    matches!(ipam_type, "host-local" | "static")
}

impl Ipam {
    /// The IPAM for `ipam_type`. A type that is neither served in-process nor found on
    /// `CNI_PATH` is an invalid configuration (code 7), detected before anything is changed.
    fn new(ipam_type: &str, req: IpamRequest, cni_path: &[PathBuf]) -> Result<Ipam, BridgeError> {
        if !in_process(ipam_type)
            && let Err(e) = cni_skel::invoke::find_in_path(ipam_type, cni_path)
        {
            return Err(BridgeError::config(format!(
                "unknown ipam type {ipam_type:?}: {e}"
            )));
        }
        Ok(Ipam {
            inner: cni_ipam::ipam_for(ipam_type),
            req,
        })
    }

    /// The IPAM of an ADD. The configuration of an in-process IPAM, and host-local's state
    /// directory, are checked here, before the plugin changes anything: a bad `ipam` section or
    /// an unusable `dataDir` fails the ADD without leaving a new bridge behind.
    pub(crate) fn for_add<C>(t: &str, r: &AddRequest<C>) -> Result<Ipam, BridgeError> {
        let req = IpamRequest::from_add(r)?;
        match t {
            "host-local" => {
                let conf = HostLocalConfig::from_request(&req)?;
                DiskStore::open(&conf.data_dir, &conf.network)?;
            }
            "static" => drop(StaticConfig::from_request(&req)?),
            _ => {}
        }
        Self::new(t, req, &r.cni_path)
    }

    /// The IPAM of a DEL.
    pub(crate) fn for_del<C>(t: &str, r: &DelRequest<C>) -> Result<Ipam, BridgeError> {
        Self::new(t, IpamRequest::from_del(r)?, &r.cni_path)
    }

    /// The IPAM of a CHECK.
    pub(crate) fn for_check<C>(t: &str, r: &CheckRequest<C>) -> Result<Ipam, BridgeError> {
        Self::new(t, IpamRequest::from_check(r)?, &r.cni_path)
    }

    /// The IPAM of a STATUS.
    pub(crate) fn for_status<C>(t: &str, r: &StatusRequest<C>) -> Result<Ipam, BridgeError> {
        Self::new(t, IpamRequest::from_status(r)?, &r.cni_path)
    }

    /// The IPAM of a GC.
    pub(crate) fn for_gc<C>(t: &str, r: &GcRequest<C>) -> Result<Ipam, BridgeError> {
        Self::new(t, IpamRequest::from_gc(r)?, &r.cni_path)
    }

    /// IPAM ADD: the addresses, routes and DNS for this attachment.
    pub(crate) async fn add(&self) -> Result<Result100, BridgeError> {
        Ok(self.inner.add(&self.req).await?)
    }

    /// IPAM DEL: releases this attachment's addresses (idempotent).
    pub(crate) async fn del(&self) -> Result<(), BridgeError> {
        Ok(self.inner.del(&self.req).await?)
    }

    /// IPAM CHECK.
    pub(crate) async fn check(&self) -> Result<(), BridgeError> {
        Ok(self.inner.check(&self.req).await?)
    }

    /// IPAM STATUS.
    pub(crate) async fn status(&self) -> Result<(), BridgeError> {
        Ok(self.inner.status(&self.req).await?)
    }

    /// IPAM GC (the request carries the valid attachments).
    pub(crate) async fn gc(&self) -> Result<(), BridgeError> {
        Ok(self.inner.gc(&self.req).await?)
    }

    /// Best-effort release after a failed ADD.
    pub(crate) async fn release(&self) {
        if let Err(e) = self.del().await {
            tracing::warn!(error = %e, "releasing the IPAM reservation after a failed ADD");
        }
    }
}
