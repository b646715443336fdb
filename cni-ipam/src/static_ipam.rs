//! static IPAM (Go's `plugins/ipam/static`): addresses, routes and DNS straight from the
//! configuration, `CNI_ARGS`, `args` and `runtimeConfig`; nothing is stored.

use std::net::IpAddr;

use async_trait::async_trait;
use cni_types::{Dns, IpConfig, RequestedIp, Result100, Route, Version};
use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::error::{IpamError, Result};
use crate::ip::{canonical_ip, parse_cidr, parse_ip};
use crate::ipam::Ipam;
use crate::request::IpamRequest;

/// One `addresses` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StaticAddressConf {
    /// The address with its prefix (`10.10.0.1/24`); required.
    #[serde(default)]
    pub address: String,
    /// The gateway, optional.
    #[serde(default)]
    pub gateway: Option<String>,
}

/// The `ipam` section as static reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StaticIpamConf {
    /// Addresses to return.
    #[serde(default)]
    pub addresses: Vec<StaticAddressConf>,
    /// Routes to return.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// DNS settings to return.
    #[serde(default)]
    pub dns: Dns,
}

/// A checked static configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    /// Addresses (host bits kept) and their gateways, in result order.
    pub addresses: Vec<(IpNetwork, Option<IpAddr>)>,
    /// Routes, as configured.
    pub routes: Vec<Route>,
    /// DNS, as configured.
    pub dns: Dns,
}

/// A `CNI_ARGS`/`args`/`runtimeConfig` entry must carry a prefix.
fn with_prefix(r: &RequestedIp, what: &str) -> Result<IpNetwork> {
    let bad = || IpamError::config(format!("{what}, got: '{r}'"));
    let prefix = r.prefix.ok_or_else(bad)?;
    IpNetwork::new(canonical_ip(r.ip), prefix).map_err(|_| bad())
}

impl StaticConfig {
    /// Reads the configuration of `req` with the reference's precedence:
    /// `runtimeConfig.ips` replaces `args.cni.ips`, which replaces the configured addresses
    /// plus `CNI_ARGS` `IP` (appended, with `GATEWAY` matched to them by subnet). Addresses
    /// from `args` or `runtimeConfig` carry no gateway. Bad addresses are code 7, bad
    /// `CNI_ARGS` code 4.
    pub fn from_request(req: &IpamRequest) -> Result<Self> {
        let ipam: StaticIpamConf = req.ipam()?.parse()?;
        req.args.reject_unknown(&["GATEWAY"])?;
        let mut addresses = Vec::with_capacity(ipam.addresses.len());
        for a in &ipam.addresses {
            let net = parse_cidr(&a.address).map_err(|_| {
                IpamError::config(format!(
                    "the 'address' field is expected to be in CIDR notation, got: '{}'",
                    a.address
                ))
            })?;
            let gw = a
                .gateway
                .as_deref()
                .filter(|g| !g.is_empty())
                .map(parse_ip)
                .transpose()?;
            addresses.push((net, gw));
        }
        let mut from_env: Vec<(IpNetwork, Option<IpAddr>)> = Vec::new();
        for r in &req.args.ips {
            let net = with_prefix(r, "the 'ip' field is expected to be in CIDR notation")
                .map_err(|e| IpamError::env(e.to_string()))?;
            from_env.push((net, None));
        }
        if let Some(gws) = req.args.get("GATEWAY").filter(|g| !g.is_empty()) {
            for item in gws.split(',') {
                let gw = parse_ip(item)
                    .map_err(|_| IpamError::env(format!("invalid gateway address: {item}")))?;
                for (net, slot) in from_env.iter_mut() {
                    if net.contains(gw) {
                        *slot = Some(gw);
                    }
                }
            }
        }
        addresses.extend(from_env);

        let args_ips = req
            .config
            .args
            .as_ref()
            .and_then(|a| a.cni.as_ref())
            .map(|c| c.ips.as_slice())
            .unwrap_or_default();
        for list in [args_ips, req.config.runtime_config.ips.as_slice()] {
            if !list.is_empty() {
                addresses = list
                    .iter()
                    .map(|r| {
                        with_prefix(r, "an entry in the 'ips' field is NOT in CIDR notation")
                            .map(|n| (n, None))
                    })
                    .collect::<Result<_>>()?;
            }
        }
        let v4 = addresses.iter().filter(|(n, _)| n.is_ipv4()).count();
        let v6 = addresses.len() - v4;
        if (v4 > 1 || v6 > 1) && req.version < Version::V0_3_0 {
            return Err(IpamError::config(format!(
                "CNI version {} does not support more than 1 address per family",
                req.version.as_str()
            )));
        }
        Ok(StaticConfig {
            addresses,
            routes: ipam.routes,
            dns: ipam.dns,
        })
    }

    /// The IPAM result: every address with its gateway, the routes and the DNS settings.
    pub fn result(&self) -> Result100 {
        let mut result = Result100::new(Version::CURRENT);
        result.ips = self
            .addresses
            .iter()
            .map(|(address, gateway)| IpConfig {
                interface: None,
                address: *address,
                gateway: *gateway,
            })
            .collect();
        result.routes = self.routes.clone();
        result.dns = self.dns.clone();
        result
    }
}

/// static IPAM. ADD returns the configured addresses; DEL, STATUS and GC have nothing to do;
/// CHECK compares the configured gateways with `prevResult`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaticIpam;

impl StaticIpam {
    /// CHECK: `prevResult` is required (`Required prevResult missing`, code 7); each
    /// configured address found in it with a configured gateway must have that gateway
    /// (`static: Failed to match addr … on interface …`, code 999). Addresses missing from
    /// `prevResult` are not reported, as in the reference.
    pub fn check_config(req: &IpamRequest) -> Result<()> {
        let conf = StaticConfig::from_request(req)?;
        let prev = req
            .config
            .prev_result_current()?
            .ok_or_else(|| IpamError::config("Required prevResult missing"))?;
        for (net, gw) in &conf.addresses {
            let Some(found) = prev.ips.iter().find(|ip| ip.address.ip() == net.ip()) else {
                continue;
            };
            if let Some(gw) = gw
                && found.gateway != Some(*gw)
            {
                return Err(IpamError::internal(format!(
                    "static: Failed to match addr {} on interface {}",
                    net.ip(),
                    req.ifname
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Ipam for StaticIpam {
    async fn add(&self, req: &IpamRequest) -> Result<Result100> {
        Ok(StaticConfig::from_request(req)?.result())
    }

    async fn del(&self, _req: &IpamRequest) -> Result<()> {
        Ok(())
    }

    async fn check(&self, req: &IpamRequest) -> Result<()> {
        Self::check_config(req)
    }
}
