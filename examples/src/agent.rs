//! The host-gw agent's logic: keep one node's routes equal to what the cluster map says.
//!
//! The `host-gw` binary calls [`Agent::reconcile`] once (`--once`) or in a loop ([`Agent::run`]),
//! re-reading the map whenever its modification time changes and re-applying it on every
//! interval anyway (so a route someone deleted by hand comes back, as flannel does every 10 s).
//! Routes are marked with `cni-netlink`'s host-gw protocol number; only those are ever changed
//! or removed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use cni_netlink::{HostGwOptions, HostGwReport, Netlink};

use crate::cluster::ClusterMap;
use crate::error::{Error, Result};

/// What the agent reconciles.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The cluster map file.
    pub map: PathBuf,
    /// This node's name in the map.
    pub node: String,
    /// Table and ownership mark of the routes.
    pub options: HostGwOptions,
    /// How often the map's modification time is looked at.
    pub poll: Duration,
    /// How often the routes are re-applied even when the map did not change.
    pub resync: Duration,
}

impl Agent {
    /// Reads the map and makes this node's owned routes match it: every other node's pod subnet
    /// via that node's address. Fails (changing nothing) when the map cannot be read or does not
    /// list this node: a map that forgot us must not wipe our routes.
    pub async fn reconcile(&self, nl: &Netlink) -> Result<HostGwReport> {
        let map = ClusterMap::load(&self.map)?;
        if map.node(&self.node).is_none() {
            return Err(Error::ClusterMap {
                path: self.map.clone(),
                reason: format!("node {:?} is not in the map", self.node),
            });
        }
        nl.reconcile_host_gw(&map.routes_for(&self.node), &self.options)
            .await
            .map_err(Error::netlink(format!(
                "reconciling host-gw routes of {}",
                self.node
            )))
    }

    /// Reconciles now, then whenever the map's modification time changes or `resync` has
    /// passed, forever. Each pass is reported to `report` (a failed pass too: the agent keeps
    /// the routes it has and tries again later).
    pub async fn run(&self, nl: &Netlink, mut report: impl FnMut(Result<HostGwReport>)) {
        let mut seen: Option<SystemTime> = None;
        let mut last_pass = tokio::time::Instant::now();
        let mut first = true;
        let mut ticker = tokio::time::interval(self.poll);
        loop {
            ticker.tick().await;
            let mtime = std::fs::metadata(&self.map).and_then(|m| m.modified()).ok();
            let due = last_pass.elapsed() >= self.resync;
            if first || mtime != seen || due {
                first = false;
                seen = mtime;
                last_pass = tokio::time::Instant::now();
                report(self.reconcile(nl).await);
            }
        }
    }
}

/// One line describing a pass: what changed, or that nothing did.
pub fn describe(report: &HostGwReport) -> String {
    let list = |v: &[ipnetwork::IpNetwork]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if report.is_unchanged() && report.conflicts.is_empty() {
        return "unchanged".into();
    }
    format!(
        "added [{}] replaced [{}] removed [{}] conflicts [{}]",
        list(&report.added),
        list(&report.replaced),
        list(&report.removed),
        list(&report.conflicts)
    )
}
