//! Invoking plugins: find them on `CNI_PATH`, run them with the protocol's environment and a
//! config on stdin, and decode their result or error.
//!
//! These are the building blocks of both [`Delegate`](crate::Delegate) (a plugin calling its IPAM
//! plugin) and [`CniRuntime`](crate::CniRuntime) (a runtime executing a config list).

mod exec;
pub(crate) mod find;

use std::path::{Path, PathBuf};

use cni_types::{CniResult, Command, Version, VersionInfo};
use serde_json::Value;

pub use exec::exec_plugin;
pub use find::{find_in_path, join_cni_path, split_cni_path};

use crate::env::{CNI_ARGS, CNI_COMMAND, CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS, CNI_PATH, CniEnv};
use crate::error::SkelError;

/// The protocol parameters of one invocation, as a runtime sets them.
///
/// [`InvokeArgs::to_env`] lays them over a base environment: all six `CNI_*` variables are always
/// set (empty when not applicable), as libcni does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvokeArgs {
    /// The verb.
    pub command: Option<Command>,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS` pairs, written `K=V;K2=V2`.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH` directories.
    pub path: Vec<PathBuf>,
}

impl InvokeArgs {
    /// `base` with the six `CNI_*` variables of these arguments set.
    pub fn to_env(&self, base: &CniEnv) -> CniEnv {
        let args = self
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        base.clone()
            .with(CNI_COMMAND, self.command.map(Command::as_str).unwrap_or(""))
            .with(CNI_CONTAINERID, self.container_id.clone())
            .with(CNI_NETNS, self.netns.clone())
            .with(CNI_ARGS, args)
            .with(CNI_IFNAME, self.ifname.clone())
            .with(CNI_PATH, join_cni_path(&self.path))
    }
}

/// Runs a plugin for a verb that returns a result (ADD) and decodes it.
///
/// The result is read in the version it names itself; when it names none (or is `null`), the
/// config's `cniVersion` is assumed, as libcni does for plugins that omit it.
pub async fn exec_with_result(
    plugin: &Path,
    config: &[u8],
    env: &CniEnv,
) -> Result<CniResult, SkelError> {
    let stdout = exec_plugin(plugin, config, env.vars()).await?;
    parse_result(config, &stdout).map_err(|error| SkelError::BadResult {
        plugin: plugin.to_path_buf(),
        error,
    })
}

/// Runs a plugin for a verb without a result (DEL, CHECK, STATUS, GC); its stdout is ignored.
pub async fn exec_without_result(
    plugin: &Path,
    config: &[u8],
    env: &CniEnv,
) -> Result<(), SkelError> {
    exec_plugin(plugin, config, env.vars()).await.map(drop)
}

/// Asks a plugin which spec versions it supports (VERSION), the way libcni does: stdin
/// `{"cniVersion":"1.1.0"}`, and dummy `CNI_NETNS`/`CNI_IFNAME`/`CNI_PATH` for plugins built
/// with an old skel. A plugin that answers `unknown CNI_COMMAND: VERSION` supports only 0.1.0.
pub async fn version_info(plugin: &Path, base: &CniEnv) -> Result<VersionInfo, SkelError> {
    let env = base
        .clone()
        .with(CNI_COMMAND, Command::Version.as_str())
        .with(CNI_NETNS, "dummy")
        .with(CNI_IFNAME, "dummy")
        .with(CNI_PATH, "dummy");
    let stdin = format!("{{\"cniVersion\":\"{}\"}}", Version::CURRENT);
    match exec_plugin(plugin, stdin.as_bytes(), env.vars()).await {
        Ok(stdout) => VersionInfo::from_slice(&stdout).map_err(|error| SkelError::BadResult {
            plugin: plugin.to_path_buf(),
            error,
        }),
        Err(SkelError::Plugin { error, .. }) if error.msg == "unknown CNI_COMMAND: VERSION" => {
            Ok(VersionInfo {
                cni_version: Version::V0_1_0.as_str().to_owned(),
                supported_versions: vec![Version::V0_1_0.as_str().to_owned()],
            })
        }
        Err(e) => Err(e),
    }
}

/// Decodes a plugin's result: its own `cniVersion` if it has one, else the config's.
pub(crate) fn parse_result(config: &[u8], stdout: &[u8]) -> Result<CniResult, cni_types::CniError> {
    let config_version = config_version(config)?;
    let mut value: Value = serde_json::from_slice(stdout).map_err(|e| {
        cni_types::CniError::decoding_failure("failed to unmarshal raw result")
            .with_details(e.to_string())
    })?;
    if value.is_null() {
        value = Value::Object(serde_json::Map::new());
    }
    let own = value
        .get("cniVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Version::parse)
        .transpose()?;
    CniResult::from_value(own.unwrap_or(config_version), value)
}

/// The `cniVersion` of a config (missing or empty: 0.1.0); an unknown version is an error.
pub(crate) fn config_version(config: &[u8]) -> Result<Version, cni_types::CniError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "cniVersion", default)]
        cni_version: String,
    }
    let probe: Probe = serde_json::from_slice(config).map_err(|e| {
        cni_types::CniError::decoding_failure("error decoding config version")
            .with_details(e.to_string())
    })?;
    Version::parse(&probe.cni_version)
}

#[cfg(test)]
mod tests;
