//! host-local's configuration (Go's `allocator/config.go`): range sets merged from
//! `runtimeConfig.ipRanges`, the legacy top-level range and `ranges`, checked, plus routes,
//! `dataDir`, `resolvConf` and the requested addresses.

use std::net::IpAddr;
use std::path::PathBuf;

use cni_types::{IpRange, Route, Version};
use serde::Deserialize;

use crate::error::{IpamError, Result};
use crate::host_local::disk::DEFAULT_DATA_DIR;
use crate::host_local::range::RangeConf;
use crate::host_local::range_set::RangeSet;
use crate::ip::canonical_ip;
use crate::request::IpamRequest;

/// The `ipam` section as host-local reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostLocalIpamConf {
    /// The legacy single range (`subnet`, `rangeStart`, `rangeEnd`, `gateway` at top level);
    /// used only when `subnet` is set, as the first range set.
    #[serde(flatten)]
    pub legacy: RangeConf,
    /// Range sets: one address is allocated from each.
    #[serde(default)]
    pub ranges: Vec<Vec<RangeConf>>,
    /// Routes returned as they are in the result.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Where reservations are kept (default `/var/lib/cni/networks`).
    #[serde(default)]
    pub data_dir: Option<String>,
    /// A resolv.conf-style file whose `nameserver`, `domain`, `search` and `options` lines
    /// become the result's DNS.
    #[serde(default)]
    pub resolv_conf: Option<String>,
}

/// A checked host-local configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLocalConfig {
    /// The network name (the state directory's name).
    pub network: String,
    /// The configuration's spec version.
    pub version: Version,
    /// The range sets, in allocation order.
    pub ranges: Vec<RangeSet>,
    /// Routes for the result.
    pub routes: Vec<Route>,
    /// The data directory (the network's state is in `<data_dir>/<network>`).
    pub data_dir: PathBuf,
    /// The resolv.conf-style file to read DNS settings from.
    pub resolv_conf: Option<PathBuf>,
    /// Requested addresses: `CNI_ARGS` `IP`, `args.cni.ips`, `runtimeConfig.ips`, in that
    /// order, canonicalised.
    pub requested: Vec<IpAddr>,
}

fn ip_range_conf(r: &IpRange) -> RangeConf {
    RangeConf {
        subnet: Some(r.subnet.to_string()),
        range_start: r.range_start.map(|i| i.to_string()),
        range_end: r.range_end.map(|i| i.to_string()),
        gateway: r.gateway.map(|i| i.to_string()),
    }
}

impl HostLocalConfig {
    /// Reads and checks the configuration of `req`. An unknown `CNI_ARGS` key without
    /// `IgnoreUnknown` is code 4; the rest have Go's messages and code 7:
    /// `IPAM config missing 'ipam' key`, `no IP ranges specified`, `invalid range set N: …`,
    /// `CNI version V does not support more than 1 address per family`, `range set N
    /// overlaps with M`.
    pub fn from_request(req: &IpamRequest) -> Result<Self> {
        let ipam: HostLocalIpamConf = req.ipam()?.parse()?;
        // Like Go's `LoadArgs`: unknown `CNI_ARGS` keys fail unless `IgnoreUnknown` is set.
        req.args.reject_unknown(&[])?;
        let mut sets: Vec<Vec<RangeConf>> = req
            .config
            .runtime_config
            .ip_ranges
            .iter()
            .map(|set| set.iter().map(ip_range_conf).collect())
            .collect();
        if ipam.legacy.subnet.as_deref().is_some_and(|s| !s.is_empty()) {
            sets.push(vec![ipam.legacy.clone()]);
        }
        sets.extend(ipam.ranges.iter().cloned());
        if sets.is_empty() {
            return Err(IpamError::config("no IP ranges specified"));
        }
        let ranges = sets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                RangeSet::canonicalize(s).map_err(|e| e.context(format!("invalid range set {i}")))
            })
            .collect::<Result<Vec<_>>>()?;

        let v4 = ranges.iter().filter(|s| s.is_ipv4()).count();
        let v6 = ranges.len() - v4;
        if (v4 > 1 || v6 > 1) && req.version < Version::V0_3_0 {
            return Err(IpamError::config(format!(
                "CNI version {} does not support more than 1 address per family",
                req.version.as_str()
            )));
        }
        for (i, a) in ranges.iter().enumerate() {
            for (j, b) in ranges.iter().enumerate().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(IpamError::config(format!(
                        "range set {i} overlaps with {j}"
                    )));
                }
            }
        }
        let requested = req
            .requested_ips()
            .iter()
            .map(|r| canonical_ip(r.ip))
            .collect();
        let data_dir = ipam
            .data_dir
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
        Ok(HostLocalConfig {
            network: req.network().to_string(),
            version: req.version,
            ranges,
            routes: ipam.routes,
            data_dir: PathBuf::from(data_dir),
            resolv_conf: ipam
                .resolv_conf
                .filter(|r| !r.is_empty())
                .map(PathBuf::from),
            requested,
        })
    }
}
