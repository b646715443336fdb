//! Where reservations live: the [`Store`] trait, and [`MemStore`], an in-memory store for
//! tests and for embedders that keep state elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::error::{IpamError, Result};

/// One reserved address and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The reserved address.
    pub ip: IpAddr,
    /// The container id of the holder.
    pub container_id: String,
    /// The holder's interface name; `None` for a legacy reservation that recorded only the
    /// container id.
    pub ifname: Option<String>,
}

impl Reservation {
    /// Whether this reservation belongs to the attachment `(id, ifname)` in the exact (new)
    /// form.
    pub fn is_exactly(&self, id: &str, ifname: &str) -> bool {
        self.container_id == id.trim() && self.ifname.as_deref() == Some(ifname)
    }

    /// Whether this is a legacy (id-only) reservation of container `id`.
    pub fn is_legacy_of(&self, id: &str) -> bool {
        self.ifname.is_none() && self.container_id == id.trim()
    }
}

/// Something that keeps a store locked until dropped.
trait Held {}
impl<T> Held for T {}

/// Proof that a [`Store`] is locked; dropping it unlocks.
pub struct StoreLock<'a> {
    _held: Box<dyn Held + 'a>,
}

impl<'a> StoreLock<'a> {
    /// Wraps `held`, whatever keeps the lock (a file lock, a mutex guard…); the lock is
    /// released when `held` is dropped.
    pub fn new<T: 'a>(held: T) -> Self {
        StoreLock {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for StoreLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLock")
    }
}

/// Storage for one network's reservations (Go host-local's `backend.Store`).
///
/// The allocator calls [`Store::lock`] first and keeps the lock for the whole operation; the
/// other methods assume the caller holds it. Ids are compared trimmed of white space, as Go
/// does.
pub trait Store {
    /// Takes the store's exclusive lock, waiting for it.
    fn lock(&self) -> Result<StoreLock<'_>>;
    /// Records `ip` for `(id, ifname)` unless it is taken; `Ok(false)` when taken. On success
    /// also remembers `ip` as the last reserved address of range set `range_id`.
    fn reserve(&self, id: &str, ifname: &str, ip: IpAddr, range_id: usize) -> Result<bool>;
    /// The last address reserved in range set `range_id`, if known.
    fn last_reserved_ip(&self, range_id: usize) -> Result<Option<IpAddr>>;
    /// Frees `ip`; freeing a free address succeeds.
    fn release(&self, ip: IpAddr) -> Result<()>;
    /// Every reservation of the network.
    fn reservations(&self) -> Result<Vec<Reservation>>;

    /// The reservation of `ip`, if there is one [`Store::reservations`] would list. A store
    /// that can look one address up without reading them all overrides this; the default
    /// reads them all.
    fn reservation(&self, ip: IpAddr) -> Result<Option<Reservation>> {
        Ok(self.reservations()?.into_iter().find(|r| r.ip == ip))
    }

    /// The addresses held by `(id, ifname)`, legacy id-only reservations of `id` included.
    fn get_by_id(&self, id: &str, ifname: &str) -> Result<Vec<IpAddr>> {
        Ok(self
            .reservations()?
            .into_iter()
            .filter(|r| r.is_exactly(id, ifname) || r.is_legacy_of(id))
            .map(|r| r.ip)
            .collect())
    }

    /// Whether `(id, ifname)` holds any address (or, failing that, a legacy reservation of
    /// `id` exists).
    fn find_by_id(&self, id: &str, ifname: &str) -> Result<bool> {
        let all = self.reservations()?;
        Ok(all.iter().any(|r| r.is_exactly(id, ifname)) || all.iter().any(|r| r.is_legacy_of(id)))
    }

    /// Frees every address of `(id, ifname)`; if it holds none, frees the legacy id-only
    /// reservations of `id` instead (Go's `ReleaseByID`). Returns what was freed.
    fn release_by_id(&self, id: &str, ifname: &str) -> Result<Vec<IpAddr>> {
        let all = self.reservations()?;
        let mut mine: Vec<IpAddr> = all
            .iter()
            .filter(|r| r.is_exactly(id, ifname))
            .map(|r| r.ip)
            .collect();
        if mine.is_empty() {
            mine = all
                .iter()
                .filter(|r| r.is_legacy_of(id))
                .map(|r| r.ip)
                .collect();
        }
        for ip in &mine {
            self.release(*ip)?;
        }
        Ok(mine)
    }
}

#[derive(Debug, Default)]
struct MemState {
    reservations: BTreeMap<IpAddr, (String, Option<String>)>,
    last: HashMap<usize, IpAddr>,
}

/// A store in memory. Its lock is a mutex, so several threads may share one.
#[derive(Debug, Default)]
pub struct MemStore {
    op_lock: Mutex<()>,
    state: Mutex<MemState>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reservation directly, e.g. a legacy one (`ifname: None`), for tests.
    pub fn insert(&self, ip: IpAddr, id: &str, ifname: Option<&str>) -> Result<()> {
        self.state()?
            .reservations
            .insert(ip, (id.trim().to_string(), ifname.map(str::to_string)));
        Ok(())
    }

    /// Sets the last reserved address of range set `range_id`.
    pub fn set_last_reserved(&self, range_id: usize, ip: IpAddr) -> Result<()> {
        self.state()?.last.insert(range_id, ip);
        Ok(())
    }

    fn state(&self) -> Result<MutexGuard<'_, MemState>> {
        self.state
            .lock()
            .map_err(|_| IpamError::internal("memory store poisoned"))
    }
}

impl Store for MemStore {
    fn lock(&self) -> Result<StoreLock<'_>> {
        let guard = self
            .op_lock
            .lock()
            .map_err(|_| IpamError::internal("memory store lock poisoned"))?;
        Ok(StoreLock::new(guard))
    }

    fn reserve(&self, id: &str, ifname: &str, ip: IpAddr, range_id: usize) -> Result<bool> {
        let mut st = self.state()?;
        if st.reservations.contains_key(&ip) {
            return Ok(false);
        }
        st.reservations
            .insert(ip, (id.trim().to_string(), Some(ifname.to_string())));
        st.last.insert(range_id, ip);
        Ok(true)
    }

    fn last_reserved_ip(&self, range_id: usize) -> Result<Option<IpAddr>> {
        Ok(self.state()?.last.get(&range_id).copied())
    }

    fn release(&self, ip: IpAddr) -> Result<()> {
        self.state()?.reservations.remove(&ip);
        Ok(())
    }

    fn reservations(&self) -> Result<Vec<Reservation>> {
        Ok(self
            .state()?
            .reservations
            .iter()
            .map(|(ip, (id, ifname))| Reservation {
                ip: *ip,
                container_id: id.clone(),
                ifname: ifname.clone(),
            })
            .collect())
    }
}
