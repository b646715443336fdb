//! [`DelegatedIpam`]: any IPAM plugin binary (dhcp, whereabouts, host-local itself…) run
//! through `cni-skel`'s invoke side, behind the [`Ipam`] trait.

use async_trait::async_trait;
use cni_skel::{CniEnv, Delegate};
use cni_types::Result100;

use crate::error::{IpamError, Result};
use crate::ipam::Ipam;
use crate::request::IpamRequest;

/// Runs the IPAM plugin named by `ipam.type` (or a fixed one) from `CNI_PATH`, with the
/// caller's environment (only `CNI_COMMAND` changed) and the complete network configuration
/// on stdin, as the spec's delegation section says. The delegate's own errors keep their
/// codes.
#[derive(Debug, Clone, Default)]
pub struct DelegatedIpam {
    plugin: Option<String>,
    env: Option<CniEnv>,
}

impl DelegatedIpam {
    /// Runs whatever `ipam.type` names.
    pub fn new() -> Self {
        DelegatedIpam::default()
    }

    /// Always runs `plugin`, whatever `ipam.type` says.
    pub fn named(plugin: impl Into<String>) -> Self {
        DelegatedIpam {
            plugin: Some(plugin.into()),
            env: None,
        }
    }

    /// The same IPAM, running plugins with `env` (its `CNI_PATH` is searched) plus the
    /// request's attachment and `CNI_ARGS`, instead of the request's own delegate. For
    /// runtimes and tests that do not run inside a plugin process.
    #[must_use]
    pub fn with_env(mut self, env: CniEnv) -> Self {
        self.env = Some(env);
        self
    }

    fn delegate(&self, req: &IpamRequest) -> Result<Delegate> {
        match &self.env {
            Some(env) => req.delegate_with_env(env.clone()),
            None => req.delegate(),
        }
    }

    fn plugin<'a>(&'a self, req: &'a IpamRequest) -> Result<&'a str> {
        match &self.plugin {
            Some(p) => Ok(p),
            None => {
                req.ipam()?;
                req.ipam_type()
                    .ok_or_else(|| IpamError::config("IPAM config missing 'type'"))
            }
        }
    }
}

#[async_trait]
impl Ipam for DelegatedIpam {
    async fn add(&self, req: &IpamRequest) -> Result<Result100> {
        let plugin = self.plugin(req)?;
        let mut result = self.delegate(req)?.add(plugin).await?;
        // An IPAM result has no interfaces; drop anything a plugin sent anyway.
        result.interfaces.clear();
        for ip in &mut result.ips {
            ip.interface = None;
        }
        Ok(result)
    }

    async fn del(&self, req: &IpamRequest) -> Result<()> {
        Ok(self.delegate(req)?.del(self.plugin(req)?).await?)
    }

    async fn check(&self, req: &IpamRequest) -> Result<()> {
        Ok(self.delegate(req)?.check(self.plugin(req)?).await?)
    }

    async fn status(&self, req: &IpamRequest) -> Result<()> {
        Ok(self.delegate(req)?.status(self.plugin(req)?).await?)
    }

    async fn gc(&self, req: &IpamRequest) -> Result<()> {
        Ok(self.delegate(req)?.gc(self.plugin(req)?).await?)
    }
}
