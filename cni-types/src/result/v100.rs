//! The 1.0.0 / 1.1.0 result format, used as the canonical result.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use crate::net::{cidr, null_default, opt_ip};
use crate::version::Version;

/// The result of a 1.0.0 or 1.1.0 plugin, and the canonical result every plugin builds.
///
/// An IPAM result is the same type without `interfaces` (and without `ips[].interface`). Empty
/// `interfaces`, `ips` and `routes` are omitted when written, and so is an empty `dns`, as the
/// reference writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Result100 {
    /// The spec version of this result (a missing one reads as 1.1.0).
    #[serde(default = "current")]
    pub cni_version: Version,
    /// Interfaces created or used, on the host or in the container.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ips: Vec<IpConfig>,
    /// Routes created.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Dns::is_empty"
    )]
    pub dns: Dns,
}

fn current() -> Version {
    Version::CURRENT
}

impl Default for Result100 {
    fn default() -> Self {
        Result100::new(Version::CURRENT)
    }
}

impl Result100 {
    /// An empty result of the given version (should be 1.0.0 or 1.1.0).
    pub fn new(cni_version: Version) -> Self {
        Result100 {
            cni_version,
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        }
    }
}

/// An interface in a 1.0.0/1.1.0 result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address, e.g. `"00:11:22:33:44:55"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The sandbox (netns path) for container interfaces; absent for host interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// Path to a socket for vhost-user style interfaces (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    /// PCI id of a device interface (1.1.0), e.g. `"8086:9a01"`.
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

impl Interface {
    /// An interface with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Interface {
            name: name.into(),
            ..Interface::default()
        }
    }
}

/// An address in a 1.0.0/1.1.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpConfig {
    /// Index into the result's `interfaces`; absent in IPAM results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// The address with its prefix length, e.g. `10.1.0.5/16`.
    #[serde(with = "cidr")]
    pub address: IpNetwork,
    /// The default gateway for this subnet, if any.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

impl IpConfig {
    /// An address without interface index or gateway.
    pub fn new(address: IpNetwork) -> Self {
        IpConfig {
            interface: None,
            address,
            gateway: None,
        }
    }
}
