//! The allocation algorithm of Go host-local (`allocator.go`): round-robin from the last
//! reserved address, skipping reserved addresses, wrapping across the ranges of a set.
//! Pure apart from the [`Store`] it is handed.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::error::{ErrorKind, IpamError, Result};
use crate::host_local::range::Range;
use crate::host_local::range_set::RangeSet;
use crate::host_local::store::Store;
use crate::ip::{canonical_ip, next_ip};

/// One allocated address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The address with the prefix length of its range's subnet.
    pub address: IpNetwork,
    /// The gateway of that range.
    pub gateway: IpAddr,
}

/// Walks the candidate addresses of a range set once, starting after the last reserved
/// address (or at the first range's start), skipping each range's reserved addresses.
#[derive(Debug, Clone)]
pub struct RangeIter<'a> {
    set: &'a RangeSet,
    range_idx: usize,
    cur: Option<IpAddr>,
    start_ip: Option<IpAddr>,
    done: bool,
}

impl<'a> RangeIter<'a> {
    /// An iterator over `set` that continues after `last_reserved` when the set holds it.
    pub fn new(set: &'a RangeSet, last_reserved: Option<IpAddr>) -> Self {
        let last = last_reserved.map(canonical_ip);
        let found = last.and_then(|ip| {
            set.ranges()
                .iter()
                .position(|r| r.contains(ip))
                .map(|idx| (idx, ip))
        });
        match found {
            Some((idx, ip)) => RangeIter {
                set,
                range_idx: idx,
                cur: Some(ip),
                start_ip: None,
                done: false,
            },
            None => RangeIter {
                set,
                range_idx: 0,
                cur: None,
                start_ip: Some(set.first().range_start),
                done: false,
            },
        }
    }

    fn range(&self) -> Option<&'a Range> {
        self.set.ranges().get(self.range_idx)
    }

    /// One step of Go's `Next`, without the skipping of reserved addresses.
    fn step(&mut self) -> Option<(IpAddr, &'a Range)> {
        let r = self.range()?;
        let Some(cur) = self.cur else {
            self.cur = Some(r.range_start);
            self.start_ip = Some(r.range_start);
            return Some((r.range_start, r));
        };
        let (next, r) = if cur == r.range_end {
            self.range_idx = (self.range_idx + 1) % self.set.ranges().len().max(1);
            let r = self.range()?;
            (r.range_start, r)
        } else {
            (next_ip(cur), r)
        };
        self.cur = Some(next);
        match self.start_ip {
            None => self.start_ip = Some(next),
            Some(start) if start == next => return None,
            Some(_) => {}
        }
        Some((next, r))
    }
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = (IpAddr, &'a Range);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.step() {
                None => {
                    self.done = true;
                    return None;
                }
                Some((ip, r)) if r.is_reserved(ip) => continue,
                Some(item) => return Some(item),
            }
        }
    }
}

/// Allocates from one range set (Go's `IPAllocator`). The caller holds the store's lock.
#[derive(Clone, Copy)]
pub struct RangeAllocator<'a> {
    set: &'a RangeSet,
    store: &'a dyn Store,
    range_id: usize,
}

impl<'a> RangeAllocator<'a> {
    /// An allocator for `set`, the `range_id`-th range set of the configuration.
    pub fn new(set: &'a RangeSet, store: &'a dyn Store, range_id: usize) -> Self {
        RangeAllocator {
            set,
            store,
            range_id,
        }
    }

    /// Reserves an address for `(id, ifname)`: `requested` if given, else the next free one.
    ///
    /// Errors: a requested address outside the set or on a reserved address (code 7), a
    /// requested address already taken or a second dynamic allocation for the same
    /// attachment (999), no free address (50).
    pub fn get(&self, id: &str, ifname: &str, requested: Option<IpAddr>) -> Result<Allocation> {
        match requested {
            Some(ip) => self.get_requested(id, ifname, canonical_ip(ip)),
            None => self.get_next(id, ifname),
        }
    }

    fn get_requested(&self, id: &str, ifname: &str, ip: IpAddr) -> Result<Allocation> {
        let r = self
            .set
            .range_for(ip)
            .ok_or_else(|| IpamError::config(format!("{ip} not in range set {}", self.set)))?;
        if ip == r.gateway {
            return Err(IpamError::config(format!(
                "requested ip {ip} is subnet's gateway"
            )));
        }
        if r.is_reserved(ip) {
            return Err(IpamError::config(format!(
                "requested ip {ip} is subnet's network or broadcast address"
            )));
        }
        if !self.store.reserve(id, ifname, ip, self.range_id)? {
            return Err(IpamError::internal(format!(
                "requested IP address {ip} is not available in range set {}",
                self.set
            )));
        }
        allocation(ip, r)
    }

    fn get_next(&self, id: &str, ifname: &str) -> Result<Allocation> {
        let held = self.store.get_by_id(id, ifname)?;
        self.get_next_given(id, ifname, &held)
    }

    /// The dynamic path of [`RangeAllocator::get`] when the caller already knows what
    /// `(id, ifname)` holds (`held`, as [`Store::get_by_id`] returns it).
    pub fn get_next_given(&self, id: &str, ifname: &str, held: &[IpAddr]) -> Result<Allocation> {
        for held in held.iter().copied() {
            if self.set.contains(held) {
                return Err(IpamError::internal(format!(
                    "{held} has been allocated to {id}, duplicate allocation is not allowed"
                )));
            }
        }
        let last = match self.store.last_reserved_ip(self.range_id) {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!("Error retrieving last reserved ip: {e}");
                None
            }
        };
        for (ip, r) in RangeIter::new(self.set, last) {
            if self.store.reserve(id, ifname, ip, self.range_id)? {
                return allocation(ip, r);
            }
        }
        Err(IpamError::new(
            ErrorKind::Exhausted,
            format!("no IP addresses available in range set: {}", self.set),
        ))
    }
}

fn allocation(ip: IpAddr, r: &Range) -> Result<Allocation> {
    let address = IpNetwork::new(ip, r.prefix())
        .map_err(|e| IpamError::internal(format!("{ip}/{}: {e}", r.prefix())))?;
    Ok(Allocation {
        address,
        gateway: r.gateway,
    })
}
