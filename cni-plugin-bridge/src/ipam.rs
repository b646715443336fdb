//! The network's IPAM, whichever it is: `host-local` and `static` are served in-process through
//! `cni-ipam` (no extra process), any other `ipam.type` is delegated to its binary on `CNI_PATH`.
//!
//! host-local runs through its `*_blocking` verbs on a thread the call already has, never on
//! tokio's blocking pool (a pool thread would cost a thread start, and a malloc arena, per call):
//! ADD on the pod-namespace thread, its configuration checks included, started before the bridge
//! and the veth are made so the two overlap ([`start_host_local_add`]); the other verbs on the
//! calling thread, which has nothing else to do meanwhile.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;

use cni_ipam::host_local::config::HostLocalConfig;
use cni_ipam::host_local::disk::DiskStore;
use cni_ipam::{AddParts, HostLocal, IpamRequest, StaticConfig};
use cni_netlink::NsThread;
use cni_skel::{AddRequest, CheckRequest, DelRequest, GcRequest, StatusRequest};
use cni_types::Result100;

use crate::error::BridgeError;

/// The IPAM of one call, with the request it answers.
pub(crate) struct Ipam {
    inner: Inner,
    req: IpamRequest,
}

/// host-local's checks before an ADD changes anything: its configuration, then its state
/// directory (made if missing, and its lock file opened).
fn host_local_checked(req: &IpamRequest) -> Result<(HostLocalConfig, DiskStore), BridgeError> {
    let conf = HostLocalConfig::from_request(req)?;
    let store = DiskStore::open(&conf.data_dir, &conf.network)?;
    Ok((conf, store))
}

/// host-local's ADD, checked and run on the pod thread ([`start_host_local_add`]): the IPAM,
/// for a release after a failure, and the reservation's outcome.
pub(crate) struct EarlyAdd {
    ipam: Ipam,
    outcome: Mutex<Option<Result<Result100, BridgeError>>>,
}

impl EarlyAdd {
    /// The IPAM, to release the reservation with.
    pub(crate) fn ipam(&self) -> &Ipam {
        &self.ipam
    }

    /// Whether the address was reserved (not yet taken with [`EarlyAdd::take`]).
    pub(crate) fn reserved(&self) -> bool {
        self.outcome
            .lock()
            .is_ok_and(|outcome| matches!(*outcome, Some(Ok(_))))
    }

    /// The reservation's outcome (once).
    pub(crate) fn take(&self) -> Result<Result100, BridgeError> {
        self.outcome
            .lock()
            .ok()
            .and_then(|mut outcome| outcome.take())
            .unwrap_or_else(|| Err(BridgeError::other("the IPAM result was taken already")))
    }
}

/// Starts host-local's whole ADD on `thread` (the call's pod-namespace thread, idle while this
/// thread has the bridge and the veth pair made: host-local needs neither, only its files).
/// There its checks run first ([`host_local_checked`], as [`Ipam::for_add`] makes them), then
/// the address is reserved, while the kernel works on the links. The future's error is a
/// failed check, when nothing was reserved; a failed reservation is in [`EarlyAdd`].
///
/// Whoever starts it must await it, also when the links fail, and release what it reserved.
pub(crate) fn start_host_local_add<C>(
    r: &AddRequest<C>,
    thread: &NsThread,
) -> impl Future<Output = Result<Box<EarlyAdd>, BridgeError>> + Send + 'static {
    let parts = AddParts::of(r);
    let started = thread.start(move || {
        let req = IpamRequest::from_add_parts(parts)?;
        let (conf, store) = host_local_checked(&req)?;
        let h = HostLocal::new();
        let outcome = h
            .add_blocking_in(&req, conf, &store)
            .map_err(BridgeError::from);
        // Boxed where it is made: it is large (the whole IPAM request), and on its way to the
        // caller it passes through several futures, each of which would otherwise hold a copy
        // on the plugin thread's stack.
        Ok(Box::new(EarlyAdd {
            ipam: Ipam {
                inner: Inner::HostLocal(h),
                req,
            },
            outcome: Mutex::new(Some(outcome)),
        }))
    });
    async move {
        started
            .map_err(|e| BridgeError::kernel("failed to run the IPAM", e))?
            .await
            .map_err(|e| BridgeError::kernel("failed to run the IPAM", e))?
    }
}

/// Which IPAM serves the call.
enum Inner {
    /// host-local, run on a thread the call already has (see the module documentation).
    HostLocal(HostLocal),
    /// Any other, through its async interface.
    Other(Box<dyn cni_ipam::Ipam>),
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
        let inner = match ipam_type {
            "host-local" => Inner::HostLocal(HostLocal::new()),
            other => Inner::Other(cni_ipam::ipam_for(other)),
        };
        Ok(Ipam { inner, req })
    }

    /// The IPAM of an ADD. The configuration of an in-process IPAM, and host-local's state
    /// directory, are checked here, before the plugin changes anything: a bad `ipam` section or
    /// an unusable `dataDir` fails the ADD without leaving a new bridge behind.
    pub(crate) fn for_add<C>(t: &str, r: &AddRequest<C>) -> Result<Ipam, BridgeError> {
        let req = IpamRequest::from_add(r)?;
        match t {
            "host-local" => drop(host_local_checked(&req)?),
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
        Ok(match &self.inner {
            Inner::HostLocal(h) => h.add_blocking(&self.req)?,
            Inner::Other(i) => i.add(&self.req).await?,
        })
    }

    /// IPAM DEL: releases this attachment's addresses (idempotent).
    pub(crate) async fn del(&self) -> Result<(), BridgeError> {
        match &self.inner {
            Inner::HostLocal(h) => h.del_blocking(&self.req)?,
            Inner::Other(i) => i.del(&self.req).await?,
        }
        Ok(())
    }

    /// IPAM CHECK.
    pub(crate) async fn check(&self) -> Result<(), BridgeError> {
        match &self.inner {
            Inner::HostLocal(h) => h.check_blocking(&self.req)?,
            Inner::Other(i) => i.check(&self.req).await?,
        }
        Ok(())
    }

    /// IPAM STATUS.
    pub(crate) async fn status(&self) -> Result<(), BridgeError> {
        match &self.inner {
            Inner::HostLocal(h) => h.status_blocking(&self.req)?,
            Inner::Other(i) => i.status(&self.req).await?,
        }
        Ok(())
    }

    /// IPAM GC (the request carries the valid attachments).
    pub(crate) async fn gc(&self) -> Result<(), BridgeError> {
        match &self.inner {
            Inner::HostLocal(h) => drop(h.gc_blocking(&self.req)?),
            Inner::Other(i) => i.gc(&self.req).await?,
        }
        Ok(())
    }

    /// Best-effort release after a failed ADD.
    pub(crate) async fn release(&self) {
        if let Err(e) = self.del().await {
            tracing::warn!(error = %e, "releasing the IPAM reservation after a failed ADD");
        }
    }
}
