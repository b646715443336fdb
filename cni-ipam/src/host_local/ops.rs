//! The host-local verbs over a [`Store`], without any I/O of their own: ADD across every
//! range set with requested addresses and rollback, DEL, CHECK, GC and the exhaustion test
//! behind STATUS.

use std::net::IpAddr;

use crate::error::{ErrorKind, IpamError, Result};
use crate::host_local::allocator::{Allocation, RangeAllocator};
use crate::host_local::range_set::RangeSet;
use crate::host_local::store::{Reservation, Store};
use crate::ip::canonical_ip;

/// Allocates one address from every range set for `(id, ifname)`, all under one lock.
///
/// Each requested address goes to the first range set holding it (in order, duplicates
/// ignored); a requested address no set holds fails the ADD with `failed to allocate all
/// requested IPs: …` (code 7). On any failure everything this call reserved is freed again,
/// and the error reads `failed to allocate for range <n>: …` with the cause's code.
pub fn allocate(
    sets: &[RangeSet],
    store: &dyn Store,
    id: &str,
    ifname: &str,
    requested: &[IpAddr],
) -> Result<Vec<Allocation>> {
    let _lock = store.lock()?;
    let mut pending: Vec<IpAddr> = Vec::with_capacity(requested.len());
    for ip in requested.iter().copied().map(canonical_ip) {
        if !pending.contains(&ip) {
            pending.push(ip);
        }
    }
    let mut out = Vec::with_capacity(sets.len());
    // What the attachment already holds, read once for every set (the lock is held, and the
    // sets do not overlap, so this ADD's own reservations never matter to a later set).
    let mut held: Option<Vec<IpAddr>> = None;
    for (idx, set) in sets.iter().enumerate() {
        let wanted = pending
            .iter()
            .position(|ip| set.contains(*ip))
            .map(|pos| pending.remove(pos));
        let alloc = RangeAllocator::new(set, store, idx);
        let got = match wanted {
            Some(ip) => alloc.get(id, ifname, Some(ip)),
            None => match &held {
                Some(h) => alloc.get_next_given(id, ifname, h),
                None => match store.get_by_id(id, ifname) {
                    Ok(h) => alloc.get_next_given(id, ifname, held.insert(h)),
                    Err(e) => Err(e),
                },
            },
        };
        match got {
            Ok(a) => out.push(a),
            Err(e) => {
                undo(store, &out);
                return Err(e.context(format!("failed to allocate for range {idx}")));
            }
        }
    }
    if !pending.is_empty() {
        undo(store, &out);
        let list: Vec<String> = pending.iter().map(ToString::to_string).collect();
        return Err(IpamError::config(format!(
            "failed to allocate all requested IPs: {}",
            list.join(" ")
        )));
    }
    Ok(out)
}

/// Frees what an ADD reserved before it failed. Best effort: the ADD's own error is the one
/// worth reporting.
fn undo(store: &dyn Store, done: &[Allocation]) {
    for a in done {
        if let Err(e) = store.release(a.address.ip()) {
            tracing::warn!("could not free {} after a failed ADD: {e}", a.address.ip());
        }
    }
}

/// Frees every address of `(id, ifname)` (or, when it holds none, the legacy id-only
/// reservations of `id`), once per range set as Go's DEL does: with `passes` ≥ 2, a mix of
/// exact and legacy reservations of the container is freed entirely. Freeing nothing is
/// success. Returns what was freed.
pub fn release(store: &dyn Store, id: &str, ifname: &str, passes: usize) -> Result<Vec<IpAddr>> {
    let _lock = store.lock()?;
    // One scan gives what Go's repeated passes free: the exact reservations, then (in the
    // first pass when there are none, or in a later pass) the legacy ones.
    let all = store.reservations()?;
    let exact: Vec<IpAddr> = all
        .iter()
        .filter(|r| r.is_exactly(id, ifname))
        .map(|r| r.ip)
        .collect();
    let legacy = all.iter().filter(|r| r.is_legacy_of(id)).map(|r| r.ip);
    let freed: Vec<IpAddr> = if exact.is_empty() {
        legacy.collect()
    } else if passes >= 2 {
        exact.into_iter().chain(legacy).collect()
    } else {
        exact
    };
    for ip in &freed {
        store.release(*ip)?;
    }
    Ok(freed)
}

/// Succeeds when `(id, ifname)` (or a legacy reservation of `id`) holds an address, like Go's
/// CHECK; otherwise `host-local: Failed to find address added by container <id>` (999).
pub fn check(store: &dyn Store, id: &str, ifname: &str) -> Result<()> {
    check_with_hints(store, id, ifname, &[])
}

/// [`check`], looking at the reservations of `hints` first (the addresses the caller expects
/// the attachment to hold, such as a CHECK's `prevResult`): when one of them belongs to
/// `(id, ifname)` (or is a legacy reservation of `id`) the answer is found without reading every
/// reservation of the network. Otherwise it is [`check`]'s full search, so the result is the
/// same whatever the hints are (wrong, stale or none).
pub fn check_with_hints(store: &dyn Store, id: &str, ifname: &str, hints: &[IpAddr]) -> Result<()> {
    let _lock = store.lock()?;
    for ip in hints {
        if let Some(r) = store.reservation(canonical_ip(*ip))?
            && (r.is_exactly(id, ifname) || r.is_legacy_of(id))
        {
            return Ok(());
        }
    }
    if store.find_by_id(id, ifname)? {
        Ok(())
    } else {
        Err(IpamError::internal(format!(
            "host-local: Failed to find address added by container {id}"
        )))
    }
}

/// Frees every reservation whose attachment is not in `valid` (pairs of container id and
/// interface name) and returns the freed ones. A legacy id-only reservation is kept when any
/// valid attachment has its container id. Nothing but reservations is touched.
pub fn gc(store: &dyn Store, valid: &[(String, String)]) -> Result<Vec<Reservation>> {
    let _lock = store.lock()?;
    let mut freed = Vec::new();
    for r in store.reservations()? {
        let keep = match &r.ifname {
            Some(_) => valid.iter().any(|(id, ifname)| r.is_exactly(id, ifname)),
            None => valid.iter().any(|(id, _)| r.is_legacy_of(id)),
        };
        if !keep {
            store.release(r.ip)?;
            freed.push(r);
        }
    }
    Ok(freed)
}

/// Use of one range set, as STATUS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetUsage {
    /// Addresses of the set that are reserved.
    pub used: u128,
    /// Addresses the set can hand out at all.
    pub capacity: u128,
}

impl SetUsage {
    /// Whether no address is left.
    pub fn is_exhausted(&self) -> bool {
        self.used >= self.capacity
    }
}

/// How full each range set is.
pub fn usage(sets: &[RangeSet], store: &dyn Store) -> Result<Vec<SetUsage>> {
    let all = store.reservations()?;
    Ok(sets
        .iter()
        .map(|set| {
            let used = all
                .iter()
                .filter(|r| set.range_for(r.ip).is_some_and(|rg| !rg.is_reserved(r.ip)))
                .count() as u128;
            SetUsage {
                used,
                capacity: set.capacity(),
            }
        })
        .collect())
}

/// STATUS: fails with code 50 when some range set has no address left (so no ADD can
/// succeed), naming the exhausted sets.
pub fn status(sets: &[RangeSet], store: &dyn Store) -> Result<()> {
    let full: Vec<String> = usage(sets, store)?
        .iter()
        .zip(sets)
        .enumerate()
        .filter(|(_, (u, _))| u.is_exhausted())
        .map(|(idx, (_, set))| format!("range set {idx} ({set})"))
        .collect();
    if full.is_empty() {
        Ok(())
    } else {
        Err(IpamError::new(
            ErrorKind::Exhausted,
            format!("no IP addresses available in {}", full.join(", ")),
        ))
    }
}
