//! Being a plugin: the [`Plugin`] trait, the typed request of each verb, and the entry points
//! that read the protocol from the environment and stdin and answer on stdout.

mod dispatch;
pub(crate) mod logging;
mod netns;
mod parse;
mod run;

use std::path::PathBuf;

use async_trait::async_trait;
use cni_types::{CniArgs, CniError, CniResult, GcAttachment, NetConf, Version};
use serde::de::DeserializeOwned;

use crate::delegate::Delegate;

pub use dispatch::{Outcome, Reply, handle};
pub use run::{c_main, keep_until_exit, main, run, run_in, run_with};

/// A CNI plugin: what it does for each verb, and which spec versions it speaks.
///
/// The skel ([`run`], [`main`]) parses and validates everything the protocol defines before
/// calling a method: the environment (per verb, with the spec's codes), the config's JSON, network
/// name and version (against [`supported_versions`](Plugin::supported_versions) and the verb), the
/// container id and interface name. A method only does the networking. It returns a
/// [`CniError`]; the skel prints it as the spec's error JSON and exits non-zero. VERSION is
/// answered by the skel.
///
/// ```
/// use async_trait::async_trait;
/// use cni_skel::{AddRequest, CheckRequest, DelRequest, Plugin};
/// use cni_types::{CniError, CniResult, Result100};
///
/// #[derive(serde::Deserialize)]
/// struct MyConfig {
///     #[serde(default)]
///     greeting: Option<String>,
/// }
///
/// struct Hello;
///
/// #[async_trait]
/// impl Plugin for Hello {
///     type Config = MyConfig;
///     fn about(&self) -> String {
///         "hello: a chained plugin that logs a greeting".into()
///     }
///     async fn add(&self, req: AddRequest<MyConfig>) -> Result<CniResult, CniError> {
///         tracing::info!(greeting = ?req.config.plugin.greeting, ifname = %req.ifname);
///         let prev = req.config.prev_result()?;
///         Ok(prev.unwrap_or_else(|| Result100::default().into()))
///     }
///     async fn del(&self, _req: DelRequest<MyConfig>) -> Result<(), CniError> {
///         Ok(())
///     }
///     async fn check(&self, _req: CheckRequest<MyConfig>) -> Result<(), CniError> {
///         Ok(())
///     }
/// }
/// // fn main() -> std::process::ExitCode { cni_skel::main(Hello) }
/// ```
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The plugin's own section of the config (its keys besides the common ones), parsed from the
    /// whole config object; see [`NetConf`].
    type Config: DeserializeOwned + Send + Sync + 'static;

    /// The spec versions this plugin accepts in a config's `cniVersion` (exact match, as the
    /// reference). Default: all of them, 0.1.0 to 1.1.0.
    fn supported_versions(&self) -> Vec<Version> {
        Version::ALL.to_vec()
    }

    /// A line about the plugin (name, version), printed on stderr when the plugin is run without
    /// `CNI_COMMAND`. Empty (the default): that case is an error instead.
    fn about(&self) -> String {
        String::new()
    }

    /// ADD: create or adjust the interface, return the result. Build a
    /// [`Result100`](cni_types::Result100) and `.into()` it, or pass `prevResult` on; the skel
    /// converts it to the config's `cniVersion`.
    async fn add(&self, req: AddRequest<Self::Config>) -> Result<CniResult, CniError>;

    /// DEL: undo ADD, best effort; a repeated DEL, or missing resources, are success.
    async fn del(&self, req: DelRequest<Self::Config>) -> Result<(), CniError>;

    /// CHECK: verify the attachment against `prevResult`.
    async fn check(&self, req: CheckRequest<Self::Config>) -> Result<(), CniError>;

    /// STATUS: can the plugin service ADD? Default: yes. A plugin that delegates must ask its
    /// delegates (`req.delegate.status(..)`).
    async fn status(&self, req: StatusRequest<Self::Config>) -> Result<(), CniError> {
        let _ = req;
        Ok(())
    }

    /// GC: release what belongs to attachments not in `req.valid_attachments`. Default: nothing
    /// to release. A plugin that delegates must forward GC (`req.delegate.gc(..)`).
    async fn gc(&self, req: GcRequest<Self::Config>) -> Result<(), CniError> {
        let _ = req;
        Ok(())
    }
}

/// The input of ADD.
#[derive(Debug)]
pub struct AddRequest<C> {
    /// `CNI_CONTAINERID` (validated).
    pub container_id: String,
    /// `CNI_NETNS`: the container's network namespace.
    pub netns: PathBuf,
    /// `CNI_IFNAME` (validated).
    pub ifname: String,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// The config, with the plugin's section typed.
    pub config: NetConf<C>,
    /// The config's spec version (what the result is written in).
    pub version: Version,
    /// `CNI_PATH`, split.
    pub cni_path: Vec<PathBuf>,
    /// Runs delegated (IPAM) plugins with this call's config and environment.
    pub delegate: Delegate,
}

/// The input of DEL. `CNI_NETNS` is optional for DEL (the namespace may be gone already).
#[derive(Debug)]
pub struct DelRequest<C> {
    /// `CNI_CONTAINERID` (validated).
    pub container_id: String,
    /// `CNI_NETNS`, if given.
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME` (validated).
    pub ifname: String,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// The config, with the plugin's section typed (`prevResult`: the ADD result, if known).
    pub config: NetConf<C>,
    /// The config's spec version.
    pub version: Version,
    /// `CNI_PATH`, split.
    pub cni_path: Vec<PathBuf>,
    /// Runs delegated (IPAM) plugins with this call's config and environment.
    pub delegate: Delegate,
}

/// The input of CHECK.
#[derive(Debug)]
pub struct CheckRequest<C> {
    /// `CNI_CONTAINERID` (validated).
    pub container_id: String,
    /// `CNI_NETNS`: the container's network namespace.
    pub netns: PathBuf,
    /// `CNI_IFNAME` (validated).
    pub ifname: String,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// The config, with the plugin's section typed (`prevResult`: the ADD result).
    pub config: NetConf<C>,
    /// The config's spec version.
    pub version: Version,
    /// `CNI_PATH`, split.
    pub cni_path: Vec<PathBuf>,
    /// Runs delegated (IPAM) plugins with this call's config and environment.
    pub delegate: Delegate,
}

/// The input of STATUS.
#[derive(Debug)]
pub struct StatusRequest<C> {
    /// The config, with the plugin's section typed.
    pub config: NetConf<C>,
    /// The config's spec version.
    pub version: Version,
    /// `CNI_PATH`, split (may be empty: the spec makes it optional for STATUS).
    pub cni_path: Vec<PathBuf>,
    /// Runs delegated (IPAM) plugins with this call's config and environment.
    pub delegate: Delegate,
}

/// The input of GC.
#[derive(Debug)]
pub struct GcRequest<C> {
    /// The attachments still valid (`cni.dev/valid-attachments`, or the older
    /// `cni.dev/attachments`); everything else of this network may be released.
    pub valid_attachments: Vec<GcAttachment>,
    /// The config, with the plugin's section typed.
    pub config: NetConf<C>,
    /// The config's spec version.
    pub version: Version,
    /// `CNI_PATH`, split.
    pub cni_path: Vec<PathBuf>,
    /// Runs delegated (IPAM) plugins with this call's config and environment.
    pub delegate: Delegate,
}
