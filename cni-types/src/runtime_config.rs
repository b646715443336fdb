//! `runtimeConfig`: the well-known capability arguments a runtime passes to plugins that declare
//! the capability (spec conventions).

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::net::{MacAddress, RequestedIp, cidr, null_default, opt_ip};

/// The `runtimeConfig` object of a plugin config, with every well-known capability typed and any
/// other key kept in [`extra`](RuntimeConfig::extra). Empty lists and absent values are not
/// written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// `portMappings`: host ports to forward into the container.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub port_mappings: Vec<PortMapping>,
    /// `ipRanges`: address ranges for IPAM, a list of range sets (like host-local's `ranges`).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_ranges: Vec<Vec<IpRange>>,
    /// `bandwidth`: traffic shaping limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// `dns`: DNS settings requested by the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<RuntimeDns>,
    /// `ips`: static addresses requested for the container.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ips: Vec<RequestedIp>,
    /// `mac`: the MAC address requested for the container interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddress>,
    /// `aliases`: names for the container on the network.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aliases: Vec<String>,
    /// `deviceID`: a device to use, e.g. a PCI address `0000:04:00.5`.
    #[serde(default, rename = "deviceID", skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `infinibandGUID`: an InfiniBand GUID for the interface.
    #[serde(
        default,
        rename = "infinibandGUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub infiniband_guid: Option<String>,
    /// `cgroupPath`: the cgroup of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_path: Option<String>,
    /// Every other capability argument, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RuntimeConfig {
    /// Whether nothing is set (then the key is not written at all).
    pub fn is_empty(&self) -> bool {
        self == &RuntimeConfig::default()
    }
}

/// One `portMappings` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u16,
    /// Port in the container.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(default)]
    pub protocol: String,
    /// Host address to bind, if restricted.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// One address range of `ipRanges`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpRange {
    /// The subnet to allocate from.
    #[serde(with = "cidr")]
    pub subnet: IpNetwork,
    /// First allocatable address.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub range_start: Option<IpAddr>,
    /// Last allocatable address.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub range_end: Option<IpAddr>,
    /// Gateway of the subnet.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// The `bandwidth` capability: rates in bits per second, bursts in bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandwidth {
    /// Ingress rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_rate: Option<u64>,
    /// Ingress burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_burst: Option<u64>,
    /// Egress rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_rate: Option<u64>,
    /// Egress burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_burst: Option<u64>,
}

/// The `dns` capability: `{servers, searches, options}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuntimeDns {
    /// Name servers.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub servers: Vec<String>,
    /// Search domains.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub searches: Vec<String>,
    /// Resolver options.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub options: Vec<String>,
}
