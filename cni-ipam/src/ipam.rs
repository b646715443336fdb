//! The [`Ipam`] trait, and [`add_then`], the release-on-failure idiom.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use cni_types::Result100;

use crate::error::{IpamError, Result};
use crate::request::IpamRequest;

/// An IP address manager, used in-process by a plugin (or exposed as a binary with
/// [`crate::plugin::IpamPlugin`]).
///
/// Results are IPAM results: a [`Result100`] without `interfaces` and without
/// `ips[].interface`. Errors carry their CNI code ([`IpamError::code`]) and convert into
/// [`cni_types::CniError`] with `?`.
#[async_trait]
pub trait Ipam: Send + Sync {
    /// ADD: allocate addresses for the request's attachment.
    async fn add(&self, req: &IpamRequest) -> Result<Result100>;

    /// DEL: release what ADD allocated for the attachment. Releasing nothing is success.
    async fn del(&self, req: &IpamRequest) -> Result<()>;

    /// CHECK: fail when the attachment's allocation is missing or wrong.
    async fn check(&self, req: &IpamRequest) -> Result<()>;

    /// STATUS: fail (code 50) when no ADD could succeed now. The default is ready.
    async fn status(&self, req: &IpamRequest) -> Result<()> {
        let _ = req;
        Ok(())
    }

    /// GC: release every allocation of the network whose attachment is not in
    /// [`IpamRequest::valid_attachments`]. The default keeps everything.
    async fn gc(&self, req: &IpamRequest) -> Result<()> {
        let _ = req;
        Ok(())
    }
}

/// Forwards every verb through a pointer, so `Box<dyn Ipam>` (what [`crate::ipam_for`]
/// returns) and `Arc<dyn Ipam>` are IPAMs too.
macro_rules! forward_ipam {
    ($ptr:ident) => {
        #[async_trait]
        impl<T: Ipam + ?Sized> Ipam for $ptr<T> {
            async fn add(&self, req: &IpamRequest) -> Result<Result100> {
                (**self).add(req).await
            }
            async fn del(&self, req: &IpamRequest) -> Result<()> {
                (**self).del(req).await
            }
            async fn check(&self, req: &IpamRequest) -> Result<()> {
                (**self).check(req).await
            }
            async fn status(&self, req: &IpamRequest) -> Result<()> {
                (**self).status(req).await
            }
            async fn gc(&self, req: &IpamRequest) -> Result<()> {
                (**self).gc(req).await
            }
        }
    };
}

forward_ipam!(Box);
forward_ipam!(Arc);

/// IPAM ADD, then `then` with the IPAM result; when `then` fails, the IPAM allocation is
/// released with DEL (best effort, logged) before `then`'s error is returned — what the spec
/// asks of a plugin whose ADD fails after its IPAM ADD succeeded. A failed IPAM ADD is returned
/// as it is.
///
/// ```
/// # use cni_ipam::{add_then, Ipam, IpamRequest, StaticIpam};
/// # use cni_types::CniError;
/// # async fn demo(req: &IpamRequest) -> Result<(), CniError> {
/// let ipam = StaticIpam;
/// let result = add_then(&ipam, req, |ipam_result| async move {
///     // configure the interface; an error here releases the addresses
///     Ok::<_, CniError>(ipam_result)
/// })
/// .await?;
/// # let _ = result; Ok(())
/// # }
/// ```
pub async fn add_then<I, T, E, F, Fut>(ipam: &I, req: &IpamRequest, then: F) -> Result<T, E>
where
    I: Ipam + ?Sized,
    E: From<IpamError>,
    F: FnOnce(Result100) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let result = ipam.add(req).await?;
    match then(result).await {
        Ok(value) => Ok(value),
        Err(e) => {
            release(ipam, req).await;
            Err(e)
        }
    }
}

/// Best-effort IPAM DEL after a failed ADD: a failure is logged and otherwise ignored, so the
/// caller can return its original error.
pub async fn release<I: Ipam + ?Sized>(ipam: &I, req: &IpamRequest) {
    if let Err(e) = ipam.del(req).await {
        tracing::warn!(container_id = %req.container_id, error = %e, "releasing IPAM allocation failed");
    }
}
