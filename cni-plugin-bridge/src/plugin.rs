//! The [`Plugin`] implementation: each verb loads the settings and hands over to its module.

use async_trait::async_trait;
use cni_skel::{AddRequest, CheckRequest, DelRequest, GcRequest, Plugin, StatusRequest};
use cni_types::{CniArgs, CniError, CniResult, NetConf};

use crate::config::{BridgeConf, ConfContext, MacSources, Settings};
use crate::error::BridgeError;

/// The `bridge` plugin. Stateless: everything comes with each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct BridgePlugin;

/// Reads the checked [`Settings`] of a call from its config and `CNI_ARGS` (the reference's
/// `loadNetConf`: everything every verb checks).
pub fn load_settings(
    conf: &NetConf<BridgeConf>,
    args: Option<&CniArgs>,
) -> Result<Settings, BridgeError> {
    let ctx = ConfContext {
        ipam_type: conf.ipam_type().unwrap_or_default(),
        ip_masq: conf.ip_masq(),
        mac: MacSources {
            cni_args: args.and_then(|a| a.mac),
            args: conf
                .args
                .as_ref()
                .and_then(|a| a.cni.as_ref())
                .and_then(|c| c.mac),
            runtime_config: conf.runtime_config.mac,
        },
    };
    Settings::load(&conf.plugin, &ctx)
}

#[async_trait]
impl Plugin for BridgePlugin {
    type Config = BridgeConf;

    fn about(&self) -> String {
        format!(
            "CNI bridge plugin (cni-rs) version {}",
            env!("CARGO_PKG_VERSION")
        )
    }

    async fn add(&self, req: AddRequest<BridgeConf>) -> Result<CniResult, CniError> {
        Ok(crate::add::add(&req).await?)
    }

    async fn del(&self, req: DelRequest<BridgeConf>) -> Result<(), CniError> {
        Ok(crate::del::del(&req).await?)
    }

    async fn check(&self, req: CheckRequest<BridgeConf>) -> Result<(), CniError> {
        Ok(crate::check::check(&req).await?)
    }

    async fn status(&self, req: StatusRequest<BridgeConf>) -> Result<(), CniError> {
        Ok(crate::gc::status(&req).await?)
    }

    async fn gc(&self, req: GcRequest<BridgeConf>) -> Result<(), CniError> {
        Ok(crate::gc::gc(&req).await?)
    }
}
