//! The network's IPAM, whichever it is: served in-process through `cni-ipam` for `host-local`
//! and `static`, or delegated to the `ipam.type` binary on `CNI_PATH`.

use cni_skel::Delegate;
use cni_types::Result100;

use crate::error::BridgeError;

/// The IPAM of one call.
#[derive(Debug)]
pub(crate) struct Ipam {
    plugin: String,
    delegate: Delegate,
}

impl Ipam {
    /// The IPAM for `ipam_type`. A type that is neither served in-process nor found on
    /// `CNI_PATH` is an invalid configuration (code 7), detected before anything is changed.
    pub(crate) fn select(ipam_type: &str, delegate: &Delegate) -> Result<Ipam, BridgeError> {
        let found = cni_skel::invoke::find_in_path(ipam_type, delegate.cni_path());
        if let Err(e) = found {
            return Err(BridgeError::config(format!(
                "unknown ipam type {ipam_type:?}: {e}"
            )));
        }
        Ok(Ipam {
            plugin: ipam_type.to_owned(),
            delegate: delegate.clone(),
        })
    }

    /// IPAM ADD: the addresses, routes and DNS for this attachment.
    pub(crate) async fn add(&self) -> Result<Result100, BridgeError> {
        Ok(self.delegate.add(&self.plugin).await?)
    }

    /// IPAM DEL: releases this attachment's addresses (idempotent).
    pub(crate) async fn del(&self) -> Result<(), BridgeError> {
        Ok(self.delegate.del(&self.plugin).await?)
    }

    /// IPAM CHECK.
    pub(crate) async fn check(&self) -> Result<(), BridgeError> {
        Ok(self.delegate.check(&self.plugin).await?)
    }

    /// IPAM STATUS.
    pub(crate) async fn status(&self) -> Result<(), BridgeError> {
        Ok(self.delegate.status(&self.plugin).await?)
    }

    /// IPAM GC (the config carries the valid attachments).
    pub(crate) async fn gc(&self) -> Result<(), BridgeError> {
        Ok(self.delegate.gc(&self.plugin).await?)
    }

    /// Best-effort release after a failed ADD.
    pub(crate) async fn release(&self) {
        if let Err(e) = self.del().await {
            tracing::warn!(error = %e, "releasing the IPAM reservation after a failed ADD");
        }
    }
}
