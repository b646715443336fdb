//! Host-gw routing: keep a node's routes to the other nodes' pod subnets equal to a desired table.
//!
//! Ownership is marked with a route protocol number of our own, [`HOSTGW_PROTOCOL`] (201, shown
//! by `ip route` as `proto 201`; unassigned in iproute2's `rt_protos`). The reconciler only ever
//! changes or removes routes carrying that protocol; a route to the same subnet owned by anybody
//! else (the kernel's prefix route of a local address, an administrator's static route) is left
//! alone and reported as a conflict.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::error::{Error, Result};
use crate::handle::Netlink;
use crate::route::{Route, RouteFilter, RouteSpec, TABLE_MAIN, normalize};

/// The route protocol number that marks routes owned by the host-gw reconciler.
pub const HOSTGW_PROTOCOL: u8 = 201;

/// One desired route: another node's pod subnet via that node's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGwRoute {
    /// The other node's pod subnet.
    pub subnet: IpNetwork,
    /// The other node's address (on a directly attached network).
    pub gateway: IpAddr,
    /// The interface to reach it through; `None` lets the kernel resolve it from the gateway.
    pub oif: Option<u32>,
}

/// Where the reconciler keeps its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostGwOptions {
    /// Routing table (main by default).
    pub table: u32,
    /// Ownership mark (default [`HOSTGW_PROTOCOL`]).
    pub protocol: u8,
}

impl Default for HostGwOptions {
    fn default() -> HostGwOptions {
        HostGwOptions {
            table: TABLE_MAIN,
            protocol: HOSTGW_PROTOCOL,
        }
    }
}

/// What one reconciliation changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostGwReport {
    /// Subnets that had no route and got one.
    pub added: Vec<IpNetwork>,
    /// Subnets whose owned route pointed elsewhere and was replaced.
    pub replaced: Vec<IpNetwork>,
    /// Owned routes to subnets no longer desired, removed.
    pub removed: Vec<IpNetwork>,
    /// Desired subnets already routed by somebody else, left untouched.
    pub conflicts: Vec<IpNetwork>,
}

impl HostGwReport {
    /// True when nothing was changed.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

impl Netlink {
    /// Makes the routes owned by `opts.protocol` in `opts.table` equal to `desired`: adds missing
    /// ones, replaces those whose gateway or interface changed, removes owned routes whose subnet
    /// is no longer desired. Running it twice with the same input changes nothing the second time.
    ///
    /// Errors: the same subnet listed twice is [`Error::InvalidInput`]; kernel refusals (an
    /// unreachable gateway is `ENETUNREACH`) are returned as they come, after the changes made so
    /// far.
    pub async fn reconcile_host_gw(
        &self,
        desired: &[HostGwRoute],
        opts: &HostGwOptions,
    ) -> Result<HostGwReport> {
        let mut wanted: HashMap<IpNetwork, &HostGwRoute> = HashMap::new();
        for r in desired {
            if wanted.insert(normalize(r.subnet), r).is_some() {
                return Err(Error::invalid_input(format!(
                    "host-gw subnet {} is listed twice",
                    r.subnet
                )));
            }
        }
        let current = self
            .routes(&RouteFilter {
                table: Some(opts.table),
                ..RouteFilter::default()
            })
            .await?;
        let (owned, foreign): (Vec<Route>, Vec<Route>) = current
            .into_iter()
            .partition(|r| r.protocol == opts.protocol);
        let owned: HashMap<IpNetwork, Route> =
            owned.into_iter().map(|r| (r.destination, r)).collect();

        let mut report = HostGwReport::default();
        let mut subnets: Vec<&IpNetwork> = wanted.keys().collect();
        subnets.sort();
        for subnet in subnets {
            let Some(want) = wanted.get(subnet) else {
                continue;
            };
            let spec = RouteSpec {
                gateway: Some(want.gateway),
                oif: want.oif,
                table: Some(opts.table),
                protocol: Some(opts.protocol),
                ..RouteSpec::new(*subnet)
            };
            match owned.get(subnet) {
                Some(have) => {
                    let same = have.gateway == Some(want.gateway)
                        && want.oif.is_none_or(|o| have.oif == Some(o));
                    if !same {
                        self.replace_route(&spec).await?;
                        report.replaced.push(*subnet);
                    }
                }
                None if foreign.iter().any(|r| r.destination == *subnet) => {
                    report.conflicts.push(*subnet);
                }
                None => {
                    self.replace_route(&spec).await?;
                    report.added.push(*subnet);
                }
            }
        }
        let mut stale: Vec<&Route> = owned
            .values()
            .filter(|r| !wanted.contains_key(&r.destination))
            .collect();
        stale.sort_by_key(|r| r.destination);
        for r in stale {
            let spec = RouteSpec {
                table: Some(opts.table),
                protocol: Some(opts.protocol),
                metric: r.metric,
                ..RouteSpec::new(r.destination)
            };
            self.delete_route(&spec).await?;
            report.removed.push(r.destination);
        }
        Ok(report)
    }
}
