//! Network configuration lists and building the config a runtime hands to each plugin.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::CniError;
use crate::gc::{GcAttachment, LEGACY_ATTACHMENTS_KEY, VALID_ATTACHMENTS_KEY};
use crate::result::CniResult;
use crate::version::{Version, negotiate_version};

/// A network configuration list (`.conflist`): the form every network config has since 1.0.0.
///
/// Plugins are kept as raw JSON objects so that each plugin's keys pass through untouched; every
/// unknown top-level key is kept in [`extra`](NetConfList::extra).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConfList {
    /// `cniVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_version: Option<String>,
    /// `cniVersions` (1.1.0): every version the list supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_versions: Option<Vec<String>>,
    /// `name`: the network name.
    pub name: String,
    /// `disableCheck`: the runtime must not call CHECK. Accepts a bool or `"true"`/`"false"`.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "is_false"
    )]
    pub disable_check: bool,
    /// `disableGC` (1.1.0): the runtime must not call GC. Accepts a bool or `"true"`/`"false"`.
    #[serde(
        default,
        rename = "disableGC",
        deserialize_with = "lenient_bool",
        skip_serializing_if = "is_false"
    )]
    pub disable_gc: bool,
    /// `loadOnlyInlinedPlugins`: only `plugins` count, nothing is appended from elsewhere.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "is_false"
    )]
    pub load_only_inlined_plugins: bool,
    /// `plugins`: the plugin configs, in order, as raw JSON objects.
    #[serde(default)]
    pub plugins: Vec<Map<String, Value>>,
    /// Every other key, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A bool, or a string `"true"`/`"false"` in any case, as libcni accepts.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean or \"true\"/\"false\", got {other}"
        ))),
    }
}

impl NetConfList {
    /// Parses a config list with libcni's rules: `name` must be a non-empty string; `plugins` may
    /// not be empty when present, nor absent when `loadOnlyInlinedPlugins` is true; every plugin
    /// needs a string `type` (`missing 'type'`). Malformed JSON is code 6, rule violations code 7.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CniError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            CniError::decoding_failure(format!("error parsing configuration list: {e}"))
        })?;
        Self::from_value(value)
    }

    /// Like [`from_slice`](Self::from_slice), from parsed JSON.
    pub fn from_value(value: Value) -> Result<Self, CniError> {
        let obj = value.as_object().ok_or_else(|| {
            CniError::decoding_failure("error parsing configuration list: not a JSON object")
        })?;
        match obj.get("name") {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) | None => {
                return Err(CniError::invalid_config(
                    "error parsing configuration list: no name",
                ));
            }
            Some(_) => {
                return Err(CniError::invalid_config(
                    "error parsing configuration list: invalid name type",
                ));
            }
        }
        let plugins_present = obj.contains_key("plugins");
        let list: NetConfList = serde_json::from_value(value).map_err(|e| {
            CniError::invalid_config(format!("error parsing configuration list: {e}"))
        })?;
        if plugins_present && list.plugins.is_empty() {
            return Err(CniError::invalid_config(
                "error parsing configuration list: no plugins in list",
            ));
        }
        if !plugins_present && list.load_only_inlined_plugins {
            return Err(CniError::invalid_config(
                "error parsing configuration list: loadOnlyInlinedPlugins is true but no plugins are given",
            ));
        }
        for plugin in &list.plugins {
            match plugin.get("type") {
                Some(Value::String(t)) => crate::validate::plugin_type(t)?,
                _ => {
                    return Err(CniError::invalid_config(
                        "error parsing configuration list: missing 'type'",
                    ));
                }
            }
        }
        Ok(list)
    }

    /// The version the runtime uses for this list: the highest of `cniVersion` and `cniVersions`
    /// that this crate implements (see [`negotiate_version`]).
    pub fn negotiated_version(&self) -> Result<Version, CniError> {
        self.negotiated_version_among(&Version::ALL)
    }

    /// The version for this list among `supported` versions only (e.g. those the plugins report).
    pub fn negotiated_version_among(&self, supported: &[Version]) -> Result<Version, CniError> {
        negotiate_version(
            self.cni_version.as_deref(),
            self.cni_versions.as_deref(),
            supported,
        )
    }

    /// The `type` of the n-th plugin.
    pub fn plugin_type(&self, index: usize) -> Option<&str> {
        self.plugins
            .get(index)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
    }

    fn base_config(&self, index: usize, version: Version) -> Result<Map<String, Value>, CniError> {
        let mut conf = self.plugins.get(index).cloned().ok_or_else(|| {
            CniError::invalid_config(format!(
                "network {:?} has no plugin number {index}",
                self.name
            ))
        })?;
        conf.insert("name".into(), Value::String(self.name.clone()));
        conf.insert("cniVersion".into(), Value::String(version.as_str().into()));
        Ok(conf)
    }

    /// The config a runtime hands to plugin `index` for ADD, CHECK or DEL (spec §3, libcni's
    /// `buildOneConfig`):
    ///
    /// - `name` and the negotiated `cniVersion` are injected;
    /// - each capability the plugin enables in `capabilities` and that `capability_args` supplies
    ///   is copied into `runtimeConfig` (the key is added only when at least one matched;
    ///   `capabilities` itself is left in place, as libcni does);
    /// - `prev_result`, when given, is converted to the negotiated version and set as `prevResult`.
    pub fn plugin_config(
        &self,
        index: usize,
        capability_args: &Map<String, Value>,
        prev_result: Option<&CniResult>,
    ) -> Result<Value, CniError> {
        let version = self.negotiated_version()?;
        let mut conf = self.base_config(index, version)?;
        let enabled: Vec<String> = match conf.get("capabilities") {
            Some(Value::Object(caps)) => caps
                .iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => Vec::new(),
        };
        let mut runtime = Map::new();
        for cap in enabled {
            if let Some(arg) = capability_args.get(&cap) {
                runtime.insert(cap, arg.clone());
            }
        }
        if !runtime.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(runtime));
        }
        if let Some(prev) = prev_result {
            let prev = prev.convert_to(version)?.to_value()?;
            conf.insert("prevResult".into(), prev);
        }
        Ok(Value::Object(conf))
    }

    /// The config a runtime hands to plugin `index` for GC: `name` and `cniVersion` injected, and
    /// the valid attachments under both `cni.dev/valid-attachments` and `cni.dev/attachments`.
    pub fn gc_config(&self, index: usize, valid: &[GcAttachment]) -> Result<Value, CniError> {
        let version = self.negotiated_version()?;
        let mut conf = self.base_config(index, version)?;
        let attachments = serde_json::to_value(valid)
            .map_err(|e| CniError::internal(format!("failed to encode attachments: {e}")))?;
        conf.insert(VALID_ATTACHMENTS_KEY.into(), attachments.clone());
        conf.insert(LEGACY_ATTACHMENTS_KEY.into(), attachments);
        Ok(Value::Object(conf))
    }

    /// The config a runtime hands to plugin `index` for STATUS: `name` and `cniVersion` injected.
    pub fn status_config(&self, index: usize) -> Result<Value, CniError> {
        let version = self.negotiated_version()?;
        Ok(Value::Object(self.base_config(index, version)?))
    }

    /// A list holding one plugin config (the reference's `ConfListFromConf` for legacy `.conf`
    /// files): the list takes the plugin's `name` and `cniVersion`.
    pub fn from_single(plugin: Map<String, Value>) -> Result<Self, CniError> {
        let name = plugin
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let cni_version = plugin
            .get("cniVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut list = Map::new();
        list.insert("name".into(), Value::String(name));
        if let Some(v) = cni_version {
            list.insert("cniVersion".into(), Value::String(v));
        }
        list.insert("plugins".into(), Value::Array(vec![Value::Object(plugin)]));
        Self::from_value(Value::Object(list))
    }
}
