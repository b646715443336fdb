//! The CNI exec protocol both ways.
//!
//! - **Being a plugin**: implement [`Plugin`] and call [`main`] from `main`. The skel reads
//!   `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH` and the
//!   config on stdin, checks them with the spec's codes and messages, answers VERSION, calls your
//!   method with a typed request, and prints the result in the config's `cniVersion` (or the
//!   error JSON, exiting 1). [`run_with`] / [`handle`] do the same in-process for tests.
//! - **Delegating**: every request carries a [`Delegate`] that runs your IPAM plugin with your
//!   config and environment; [`Delegate::add_then`] releases it if your ADD fails afterwards.
//! - **Being a runtime**: [`CniRuntime`] executes a config list for one attachment (ADD through
//!   the chain with `prevResult`, DEL in reverse, CHECK, STATUS, GC) with libcni's result cache,
//!   and [`load_conf_list`] finds a network in a config directory.
//!
//! ```
//! use async_trait::async_trait;
//! use cni_skel::{AddRequest, CheckRequest, CniEnv, DelRequest, Plugin};
//! use cni_types::{CniError, CniResult, NoPluginFields, Result100};
//!
//! /// A chained plugin that passes the previous result on unchanged.
//! struct PassThrough;
//!
//! #[async_trait]
//! impl Plugin for PassThrough {
//!     type Config = NoPluginFields;
//!     async fn add(&self, req: AddRequest<NoPluginFields>) -> Result<CniResult, CniError> {
//!         Ok(req.config.prev_result()?.unwrap_or_else(|| Result100::default().into()))
//!     }
//!     async fn del(&self, _: DelRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
//!     async fn check(&self, _: CheckRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
//! }
//!
//! // In a binary: `fn main() -> std::process::ExitCode { cni_skel::main(PassThrough) }`.
//! // In a test, drive it in-process:
//! let env = CniEnv::from_vars([
//!     ("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "c1"), ("CNI_NETNS", "/run/netns/c1"),
//!     ("CNI_IFNAME", "eth0"), ("CNI_PATH", "/opt/cni/bin"),
//! ]);
//! let stdin = br#"{"cniVersion":"1.0.0","name":"net","type":"pass",
//!     "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}}"#;
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let status = cni_skel::run_with(&PassThrough, env, &mut &stdin[..], &mut out, &mut err);
//! assert_eq!(status, 0);
//! let result: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(result["ips"][0]["address"], "10.0.0.2/24");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod delegate;
mod env;
mod error;
pub mod invoke;
mod plugin;
pub mod runtime;
#[cfg(test)]
mod testutil;

pub use delegate::Delegate;
pub use env::{
    CNI_ARGS, CNI_COMMAND, CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS, CNI_NETNS_OVERRIDE, CNI_PATH,
    CniEnv,
};
pub use error::SkelError;
pub use plugin::logging::{LOG_ENV, LOG_FILE_ENV, init_logging};
pub use plugin::{
    AddRequest, CheckRequest, DelRequest, GcRequest, Outcome, Plugin, Reply, StatusRequest, c_main,
    handle, keep_until_exit, main, run, run_in, run_with,
};
pub use runtime::{CniRuntime, RuntimeConf, load_conf_list};
