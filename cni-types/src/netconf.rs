//! One plugin's network configuration, as a plugin receives it on stdin.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::net::null_default;
use serde_json::{Map, Value};

use crate::args::ConfArgs;
use crate::error::CniError;
use crate::gc::GcAttachment;
use crate::result::{CniResult, Dns, Result100};
use crate::runtime_config::RuntimeConfig;
use crate::version::Version;

/// The plugin section of a plugin without fields of its own: `NetConf<NoPluginFields>` (the
/// default) keeps every non-standard key in [`NetConf::extra`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NoPluginFields {}

/// One plugin's network configuration, generic over the plugin's own section `T`.
///
/// The common keys are typed fields; `T`'s fields are read from the same JSON object (flattened),
/// and every key neither knows is kept in [`extra`](NetConf::extra), so writing the config back
/// (e.g. to a delegated IPAM plugin) passes it on unchanged. `T` should not use
/// `deny_unknown_fields` (it sees the whole object) and should not name the common keys.
///
/// ```
/// use cni_types::NetConf;
/// #[derive(serde::Deserialize, serde::Serialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Bridge { bridge: String, #[serde(default)] is_gateway: bool }
///
/// let conf = NetConf::<Bridge>::from_slice(br#"{"cniVersion":"1.0.0","name":"net",
///   "type":"bridge","bridge":"cni0","isGateway":true,"vendorKey":1}"#)?;
/// assert_eq!(conf.plugin.bridge, "cni0");
/// assert_eq!(conf.extra["vendorKey"], 1);
/// # Ok::<(), cni_types::CniError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf<T = NoPluginFields> {
    /// `cniVersion` as written; empty when absent (which means 0.1.0). See [`NetConf::version`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cni_version: String,
    /// `name`: the network name (not written when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `type`: the plugin binary name (not written when empty).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub plugin_type: String,
    /// `args`: runtime-generated arguments (reserved key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<ConfArgs>,
    /// `ipMasq`: set up IP masquerade on the host for this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_masq: Option<bool>,
    /// `ipam`: the IPAM plugin's section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
    /// `dns`: DNS settings for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// `runtimeConfig`: capability arguments injected by the runtime (reserved key).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "RuntimeConfig::is_empty"
    )]
    pub runtime_config: RuntimeConfig,
    /// `capabilities`: the capabilities this plugin declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<BTreeMap<String, bool>>,
    /// `prevResult` as raw JSON; parse it with [`NetConf::prev_result`] or
    /// [`NetConf::prev_result_current`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_result: Option<Value>,
    /// `cni.dev/valid-attachments`: GC's still-valid attachments.
    #[serde(
        default,
        rename = "cni.dev/valid-attachments",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_attachments: Option<Vec<GcAttachment>>,
    /// `cni.dev/attachments`: the older name of the same GC input (runtimes send both).
    #[serde(
        default,
        rename = "cni.dev/attachments",
        skip_serializing_if = "Option::is_none"
    )]
    pub legacy_attachments: Option<Vec<GcAttachment>>,
    /// The plugin's own section.
    #[serde(flatten)]
    pub plugin: T,
    /// Every other key, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<T: Default> Default for NetConf<T> {
    fn default() -> Self {
        NetConf {
            cni_version: String::new(),
            name: String::new(),
            plugin_type: String::new(),
            args: None,
            ip_masq: None,
            ipam: None,
            dns: None,
            runtime_config: RuntimeConfig::default(),
            capabilities: None,
            prev_result: None,
            valid_attachments: None,
            legacy_attachments: None,
            plugin: T::default(),
            extra: Map::new(),
        }
    }
}

impl<T: DeserializeOwned> NetConf<T> {
    /// Parses a config from stdin bytes. Malformed or truncated JSON is code 6 (decoding failure);
    /// well-formed JSON with a wrong type or an invalid value (also in `T`) is code 7 (invalid
    /// configuration). Nothing is validated beyond the types: see [`NetConf::validate`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CniError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let err = CniError::from(e);
            let msg = format!("error unmarshall network config: {}", err.msg);
            CniError::new(err.code, msg)
        })
    }

    /// Parses a config from a JSON value (codes as [`NetConf::from_slice`]).
    pub fn from_value(value: Value) -> Result<Self, CniError> {
        serde_json::from_value(value).map_err(|e| {
            let err = CniError::from(e);
            let msg = format!("error unmarshall network config: {}", err.msg);
            CniError::new(err.code, msg)
        })
    }
}

impl<T> NetConf<T> {
    /// The config's spec version (`""` means 0.1.0). A malformed version is code 6, an
    /// unimplemented one code 1.
    pub fn version(&self) -> Result<Version, CniError> {
        Version::parse(&self.cni_version)
    }

    /// Validates what the spec requires of every plugin config: a valid network name (code 7) and
    /// a `type` without path separators (code 7).
    pub fn validate(&self) -> Result<(), CniError> {
        crate::validate::network_name(&self.name)?;
        crate::validate::plugin_type(&self.plugin_type)
    }

    /// Strict handling of unknown keys, for plugins that choose it (the spec lets a plugin reject
    /// keys it does not know): fails with code 2 (unsupported field), naming the first key of
    /// [`extra`](NetConf::extra) not in `allowed` and its value. Keys under `cni.dev/` are reserved
    /// for the runtime and always allowed.
    pub fn reject_unknown_keys(&self, allowed: &[&str]) -> Result<(), CniError> {
        match self
            .extra
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()) && !k.starts_with("cni.dev/"))
        {
            None => Ok(()),
            Some((key, value)) => Err(CniError::unsupported_field(format!(
                "unsupported field in network config: {key}={value}"
            ))),
        }
    }

    /// Whether `ipMasq` is set to true.
    pub fn ip_masq(&self) -> bool {
        self.ip_masq.unwrap_or(false)
    }

    /// The IPAM plugin type, if the config has an `ipam` section with a type.
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam
            .as_ref()
            .map(|i| i.ipam_type.as_str())
            .filter(|t| !t.is_empty())
    }

    /// Parses `prevResult` in the config's own version, as the reference does: a prevResult of
    /// another result format is a decoding failure (e.g. `result type supports ["1.0.0" "1.1.0"]
    /// but unmarshalled CNIVersion is "0.2.0"`); a prevResult without a version takes the config's.
    /// No prevResult gives `None`.
    pub fn prev_result(&self) -> Result<Option<CniResult>, CniError> {
        let Some(raw) = &self.prev_result else {
            return Ok(None);
        };
        if raw.is_null() {
            return Ok(None);
        }
        let version = self.version()?;
        CniResult::from_value(version, raw.clone())
            .map(Some)
            .map_err(|e| {
                CniError::new(e.code, format!("could not parse prevResult: {}", e.msg))
                    .with_details(e.details)
            })
    }

    /// [`NetConf::prev_result`] up-converted to the canonical 1.1.0 [`Result100`].
    pub fn prev_result_current(&self) -> Result<Option<Result100>, CniError> {
        Ok(self.prev_result()?.map(|r| r.to_current()))
    }

    /// GC's valid attachments: `cni.dev/valid-attachments`, or else `cni.dev/attachments`; empty
    /// when neither is present.
    pub fn gc_valid_attachments(&self) -> &[GcAttachment] {
        self.valid_attachments
            .as_deref()
            .or(self.legacy_attachments.as_deref())
            .unwrap_or_default()
    }
}

impl<T: Serialize> NetConf<T> {
    /// The config as a JSON value, with every unknown key passed through.
    pub fn to_value(&self) -> Result<Value, CniError> {
        serde_json::to_value(self)
            .map_err(|e| CniError::internal(format!("failed to encode network config: {e}")))
    }

    /// The config as compact JSON bytes (what a plugin sends to a delegated plugin).
    pub fn to_vec(&self) -> Result<Vec<u8>, CniError> {
        serde_json::to_vec(self)
            .map_err(|e| CniError::internal(format!("failed to encode network config: {e}")))
    }
}

/// The `ipam` section of a plugin config: the IPAM plugin `type` and the rest of its keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConf {
    /// The IPAM plugin binary name.
    #[serde(default, rename = "type")]
    pub ipam_type: String,
    /// Every other key of the section, kept as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl IpamConf {
    /// Parses the whole section (including `type`) into an IPAM plugin's own config type. A wrong
    /// type or an invalid value is code 7.
    pub fn parse<U: DeserializeOwned>(&self) -> Result<U, CniError> {
        let mut map = self.rest.clone();
        map.insert("type".into(), Value::String(self.ipam_type.clone()));
        serde_json::from_value(Value::Object(map))
            .map_err(|e| CniError::invalid_config(format!("invalid ipam config: {e}")))
    }
}
