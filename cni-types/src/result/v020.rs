//! The 0.1.0 / 0.2.0 result format (`ip4` / `ip6`).

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use crate::net::{cidr, null_default, opt_ip};
use crate::version::Version;

/// The result of a 0.1.0 or 0.2.0 plugin: at most one IPv4 and one IPv6 configuration. As the
/// reference writes it, `dns` is always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Result020 {
    /// The spec version of this result (a missing one reads as 0.1.0).
    #[serde(default = "v010")]
    pub cni_version: Version,
    /// The IPv4 configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4: Option<IpConfig020>,
    /// The IPv6 configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<IpConfig020>,
    /// DNS settings.
    #[serde(default, deserialize_with = "null_default")]
    pub dns: Dns,
}

fn v010() -> Version {
    Version::V0_1_0
}

impl Result020 {
    /// An empty result of the given version (should be 0.1.0 or 0.2.0).
    pub fn new(cni_version: Version) -> Self {
        Result020 {
            cni_version,
            ip4: None,
            ip6: None,
            dns: Dns::default(),
        }
    }
}

/// One address family's configuration in a 0.1.0/0.2.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpConfig020 {
    /// The address with its prefix length.
    #[serde(with = "cidr")]
    pub ip: IpNetwork,
    /// The gateway, if any.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Routes of this family.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub routes: Vec<Route>,
}
