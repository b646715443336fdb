//! [`IpamPlugin`]: any [`Ipam`] as a CNI plugin binary, on `cni-skel`'s entry point.

use async_trait::async_trait;
use cni_skel::{AddRequest, CheckRequest, DelRequest, GcRequest, Plugin, StatusRequest};
use cni_types::{CniError, CniResult, NoPluginFields, Version};

use crate::ipam::Ipam;
use crate::request::IpamRequest;

/// Wraps an [`Ipam`] so `cni_skel::main` can run it as a plugin binary: every verb becomes an
/// [`IpamRequest`] and the IPAM's result or error is printed the spec's way.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     cni_skel::main(cni_ipam::IpamPlugin::new(cni_ipam::HostLocal, "host-local"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct IpamPlugin<I> {
    ipam: I,
    name: String,
}

impl<I: Ipam> IpamPlugin<I> {
    /// The plugin `name` (used in `about`) backed by `ipam`.
    pub fn new(ipam: I, name: impl Into<String>) -> Self {
        IpamPlugin {
            ipam,
            name: name.into(),
        }
    }

    /// The wrapped IPAM.
    pub fn ipam(&self) -> &I {
        &self.ipam
    }
}

#[async_trait]
impl<I: Ipam> Plugin for IpamPlugin<I> {
    type Config = NoPluginFields;

    fn supported_versions(&self) -> Vec<Version> {
        Version::ALL.to_vec()
    }

    fn about(&self) -> String {
        format!(
            "CNI {} IPAM plugin (cni-rs {})",
            self.name,
            env!("CARGO_PKG_VERSION")
        )
    }

    async fn add(&self, req: AddRequest<NoPluginFields>) -> Result<CniResult, CniError> {
        let req = IpamRequest::from_add(&req)?;
        Ok(self.ipam.add(&req).await?.into())
    }

    async fn del(&self, req: DelRequest<NoPluginFields>) -> Result<(), CniError> {
        let req = IpamRequest::from_del(&req)?;
        Ok(self.ipam.del(&req).await?)
    }

    async fn check(&self, req: CheckRequest<NoPluginFields>) -> Result<(), CniError> {
        let req = IpamRequest::from_check(&req)?;
        Ok(self.ipam.check(&req).await?)
    }

    async fn status(&self, req: StatusRequest<NoPluginFields>) -> Result<(), CniError> {
        let req = IpamRequest::from_status(&req)?;
        Ok(self.ipam.status(&req).await?)
    }

    async fn gc(&self, req: GcRequest<NoPluginFields>) -> Result<(), CniError> {
        let req = IpamRequest::from_gc(&req)?;
        Ok(self.ipam.gc(&req).await?)
    }
}
