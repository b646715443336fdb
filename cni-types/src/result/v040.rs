//! The 0.3.0 / 0.3.1 / 0.4.0 result format.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use crate::net::{cidr, null_default, opt_ip};
use crate::version::Version;

/// The result of a 0.3.0, 0.3.1 or 0.4.0 plugin. As the reference writes it, `dns` is always
/// present (`{}` when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Result040 {
    /// The spec version of this result (a missing one reads as 0.4.0).
    #[serde(default = "v040")]
    pub cni_version: Version,
    /// Interfaces created or used.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub interfaces: Vec<Interface040>,
    /// Addresses assigned.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ips: Vec<IpConfig040>,
    /// Routes created.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(default, deserialize_with = "null_default")]
    pub dns: Dns,
}

fn v040() -> Version {
    Version::V0_4_0
}

impl Result040 {
    /// An empty result of the given version (should be 0.3.0, 0.3.1 or 0.4.0).
    pub fn new(cni_version: Version) -> Self {
        Result040 {
            cni_version,
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        }
    }
}

/// An interface in a 0.3.x/0.4.0 result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interface040 {
    /// Interface name.
    pub name: String,
    /// Hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The sandbox (netns path) for container interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// The IP family tag of a 0.3.x/0.4.0 address: `"4"` or `"6"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpVersion {
    /// IPv4.
    #[serde(rename = "4")]
    V4,
    /// IPv6.
    #[serde(rename = "6")]
    V6,
}

impl IpVersion {
    /// The family of an address, as the reference computes it (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

/// An address in a 0.3.x/0.4.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpConfig040 {
    /// `"4"` or `"6"`; required in this format.
    pub version: IpVersion,
    /// Index into the result's `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// The address with its prefix length.
    #[serde(with = "cidr")]
    pub address: IpNetwork,
    /// The gateway, if any.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}
