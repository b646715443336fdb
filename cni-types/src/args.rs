//! `CNI_ARGS` (`K=V;K=V`) and the config's `args` key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::CniError;
use crate::net::{MacAddress, RequestedIp, null_default};

/// Parses a boolean as the reference's `UnmarshallableBool` does: `1`/`true` and `0`/`false`, in
/// any case; anything else is an error (code 4, since it comes from `CNI_ARGS`).
pub fn parse_bool_arg(s: &str) -> Result<bool, CniError> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(CniError::invalid_environment(format!(
            "boolean unmarshal error: invalid input {s}"
        ))),
    }
}

/// The parsed `CNI_ARGS` environment variable.
///
/// The well-known keys are typed; every other pair is kept in order in [`extra`](CniArgs::extra).
/// Keys are case-sensitive, as in the reference. Whether unknown keys are acceptable is decided by
/// [`reject_unknown`](CniArgs::reject_unknown), which honours `IgnoreUnknown`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `IgnoreUnknown`: when true, keys a plugin does not know are not an error.
    pub ignore_unknown: bool,
    /// `IP`: requested addresses, comma-separated, each `ip` or `ip/prefix` (host-local, static).
    pub ips: Vec<RequestedIp>,
    /// `MAC`: requested MAC address of the container interface (bridge).
    pub mac: Option<MacAddress>,
    /// `K8S_POD_NAME`.
    pub k8s_pod_name: Option<String>,
    /// `K8S_POD_NAMESPACE`.
    pub k8s_pod_namespace: Option<String>,
    /// `K8S_POD_INFRA_CONTAINER_ID`.
    pub k8s_pod_infra_container_id: Option<String>,
    /// `K8S_POD_UID`.
    pub k8s_pod_uid: Option<String>,
    /// Every other pair, in the order given.
    pub extra: Vec<(String, String)>,
}

/// The keys [`CniArgs`] types.
pub const WELL_KNOWN_ARGS: [&str; 7] = [
    "IgnoreUnknown",
    "IP",
    "MAC",
    "K8S_POD_NAME",
    "K8S_POD_NAMESPACE",
    "K8S_POD_INFRA_CONTAINER_ID",
    "K8S_POD_UID",
];

impl CniArgs {
    /// Parses `K=V;K2=V2`. An empty string is no arguments. A pair without exactly one `=` is an
    /// error `ARGS: invalid pair "…"`; a well-known key with an invalid value is an error too
    /// (all code 4: `CNI_ARGS` is an environment variable).
    pub fn parse(s: &str) -> Result<CniArgs, CniError> {
        let mut args = CniArgs::default();
        if s.is_empty() {
            return Ok(args);
        }
        for pair in s.split(';') {
            let mut parts = pair.split('=');
            let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(CniError::invalid_environment(format!(
                    "ARGS: invalid pair {pair:?}"
                )));
            };
            args.set(key, value)?;
        }
        Ok(args)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), CniError> {
        let bad = |e: CniError| {
            CniError::invalid_environment(format!(
                "ARGS: error parsing value of pair \"{key}={value}\""
            ))
            .with_details(e.msg)
        };
        match key {
            "IgnoreUnknown" => self.ignore_unknown = parse_bool_arg(value).map_err(bad)?,
            "IP" => {
                self.ips = value
                    .split(',')
                    .map(|ip| ip.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(bad)?;
            }
            "MAC" => self.mac = Some(value.parse().map_err(bad)?),
            "K8S_POD_NAME" => self.k8s_pod_name = Some(value.to_owned()),
            "K8S_POD_NAMESPACE" => self.k8s_pod_namespace = Some(value.to_owned()),
            "K8S_POD_INFRA_CONTAINER_ID" => {
                self.k8s_pod_infra_container_id = Some(value.to_owned());
            }
            "K8S_POD_UID" => self.k8s_pod_uid = Some(value.to_owned()),
            _ => self.extra.push((key.to_owned(), value.to_owned())),
        }
        Ok(())
    }

    /// The value of a key not typed by this struct (the first one, if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Fails with `ARGS: unknown args ["K" …]` (code 4) when a key outside the well-known ones and
    /// `accepted` is present, unless `IgnoreUnknown` was set.
    pub fn reject_unknown(&self, accepted: &[&str]) -> Result<(), CniError> {
        if self.ignore_unknown {
            return Ok(());
        }
        let unknown: Vec<&str> = self
            .extra
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !accepted.contains(k))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(CniError::invalid_environment(format!(
                "ARGS: unknown args {}",
                crate::version::quoted_list(&unknown)
            )))
        }
    }

    /// The pairs in `CNI_ARGS` order: the typed keys first, then the others.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.ignore_unknown {
            out.push(("IgnoreUnknown".to_owned(), "1".to_owned()));
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
            out.push(("IP".to_owned(), ips.join(",")));
        }
        if let Some(mac) = self.mac {
            out.push(("MAC".to_owned(), mac.to_string()));
        }
        let named = [
            ("K8S_POD_NAME", &self.k8s_pod_name),
            ("K8S_POD_NAMESPACE", &self.k8s_pod_namespace),
            (
                "K8S_POD_INFRA_CONTAINER_ID",
                &self.k8s_pod_infra_container_id,
            ),
            ("K8S_POD_UID", &self.k8s_pod_uid),
        ];
        for (key, value) in named {
            if let Some(value) = value {
                out.push((key.to_owned(), value.clone()));
            }
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

impl fmt::Display for CniArgs {
    /// The `CNI_ARGS` string, `K=V;K2=V2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&pairs.join(";"))
    }
}

impl FromStr for CniArgs {
    type Err = CniError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CniArgs::parse(s)
    }
}

/// The config's `args` key (conventions): runtime-generated arguments, namespaced; `args.cni` is
/// CNI's own namespace. Other namespaces are kept in [`extra`](ConfArgs::extra).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfArgs {
    /// The `cni` namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<CniConfArgs>,
    /// Other namespaces, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `args.cni`: `ips`, `mac`, `labels`, plus anything else kept as given. If the same information
/// is in `CNI_ARGS` too, a plugin that understands `args` must ignore the `CNI_ARGS` field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniConfArgs {
    /// Requested addresses (`"ip[/prefix]"`), used by host-local and static.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ips: Vec<RequestedIp>,
    /// Requested MAC address, used by bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddress>,
    /// Labels, `[{"key", "value"}]`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub labels: Vec<Label>,
    /// Other keys, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `args.cni.labels` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Label {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}
