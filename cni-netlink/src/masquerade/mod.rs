//! Per-network IP masquerade (source NAT) of pod addresses.
//!
//! Two backends with the same shape:
//!
//! * [`Masquerade`] (the default) programs nftables directly over a `NETLINK_NETFILTER` socket: no
//!   `nft` or `iptables` process, one netlink round trip per change.
//! * [`IptablesMasquerade`] runs `iptables`/`ip6tables` exactly like the Go reference plugins do
//!   (a `CNI-<hash>` chain per container). It exists for `ipMasqBackend: "iptables"` compatibility.
//!   [`IptablesMasquerade::may_hold`] (one attachment) and
//!   [`IptablesMasquerade::may_hold_network`] tell without a process whether it may hold state,
//!   so that a caller configured for nftables can clean both backends on DEL and GC and still run
//!   no `iptables` process when there is nothing to remove.
//!
//! ```no_run
//! use cni_netlink::masquerade::{Attachment, Masquerade};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In the host namespace (a CNI plugin's own); `Masquerade::open(&netns)` for another one.
//! let masq = Masquerade::open_current()?;
//! let pod = Attachment::new("0123abcd", "eth0");
//! // ADD: masquerade the pod's addresses, except towards the cluster's pod CIDR.
//! masq.add("mynet", &pod, &["10.22.0.5/16".parse()?], &["10.244.0.0/16".parse()?])?;
//! // DEL (needs no addresses, works without the pod's netns); a second DEL is a no-op.
//! masq.remove("mynet", &pod)?;
//! // GC: drop the state of every attachment the runtime no longer knows.
//! let removed = masq.gc("mynet", &[Attachment::new("4567cdef", "eth0")])?;
//! println!("collected {removed:?}");
//! # Ok(()) }
//! ```
//!
//! # The nftables layout
//!
//! Everything lives in one table, `inet cni_rs_masquerade`; the state grows by set elements, never
//! by rules or chains per pod:
//!
//! ```text
//! table inet cni_rs_masquerade {
//!     set net-<hash>-v4 { type ipv4_addr; elements = { 10.1.0.5 comment "if=eth0 id=<container>" } }
//!     set net-<hash>-v6 { type ipv6_addr; ... }
//!     chain postrouting {                      # type nat hook postrouting priority srcnat
//!         ip saddr @net-<hash>-v4 jump net-<hash>      # one rule per network and IP version
//!         ip6 saddr @net-<hash>-v6 jump net-<hash>
//!     }
//!     chain net-<hash> {                       # one chain per network
//!         ip daddr 10.1.0.0/24 return          # the pods' own subnets
//!         ip daddr 10.0.0.0/8 return           # destinations never masqueraded
//!         ip daddr 224.0.0.0/4 return          # multicast, as the reference
//!         ip6 daddr ff00::/8 return
//!         masquerade
//!     }
//! }
//! ```
//!
//! `<hash>` is the first 16 hex digits of the SHA-512 of the network name; the name itself is in
//! the rules' comments. An attachment (container id + interface name) is recorded in the comment
//! of each of its set elements, which is how [`Masquerade::remove`], [`Masquerade::attachments`]
//! and [`Masquerade::gc`] find it. Adding an attachment to a network that already has thousands
//! costs the same as adding the first: the kernel hashes the new element into the set, and the
//! per-network rules are read (a handful) but not rewritten.
//!
//! The destination exclusions of a network are the union of everything ever passed for it (pod
//! subnets and `never_masquerade` CIDRs); [`Masquerade::remove_network`] resets them.
//!
//! # Concurrency
//!
//! Several plugin processes may change the table at once. Every change is one nf_tables batch
//! (atomic), built from a read of the current state and tagged with the ruleset generation it was
//! read at; if anything changed in between, the kernel refuses the batch (`ERESTART`) and the
//! operation reads again and retries. So two `add`s of a new network never create its rules twice.
//!
//! # Namespaces
//!
//! The socket is created in the target namespace on a short-lived helper thread
//! ([`Masquerade::open`], through [`crate::NetNs::run_blocking`]); afterwards it may be used from
//! any thread, and no runtime thread ever changes namespace. Calls are blocking but short: the
//! kernel answers a batch before `sendmsg` returns (tens of microseconds per add).

mod iptables;
mod iptables_probe;
mod names;
mod nftables;
mod rules;

use std::net::IpAddr;

use ipnetwork::IpNetwork;

pub use crate::attachment::Attachment;
pub use iptables::IptablesMasquerade;
pub use nftables::Masquerade;

use crate::NetNs;
use crate::error::Result;

/// Which implementation to use (the bridge plugin's `ipMasqBackend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// [`Masquerade`]: nftables over netlink (the default).
    #[default]
    Nftables,
    /// [`IptablesMasquerade`]: the Go reference's iptables rules, through the `iptables` tools.
    Iptables,
}

/// The operations both backends offer, for callers that pick the backend at run time.
///
/// For the iptables backend, attachments are known by container id only (see
/// [`IptablesMasquerade`]).
pub trait MasqueradeBackend: Send + Sync + std::fmt::Debug {
    /// See [`Masquerade::add`].
    fn add(
        &self,
        network: &str,
        attachment: &Attachment,
        addresses: &[IpNetwork],
        never_masquerade: &[IpNetwork],
    ) -> Result<()>;
    /// See [`Masquerade::remove`].
    fn remove(&self, network: &str, attachment: &Attachment) -> Result<()>;
    /// See [`Masquerade::remove_network`].
    fn remove_network(&self, network: &str) -> Result<()>;
    /// See [`Masquerade::attachments`].
    fn attachments(&self, network: &str) -> Result<Vec<Attachment>>;
    /// See [`Masquerade::gc`].
    fn gc(&self, network: &str, valid: &[Attachment]) -> Result<Vec<Attachment>>;
}

/// Opens the chosen backend in `netns`, or in the calling thread's namespace when `None`.
pub fn open(backend: Backend, netns: Option<&NetNs>) -> Result<Box<dyn MasqueradeBackend>> {
    Ok(match (backend, netns) {
        (Backend::Nftables, Some(ns)) => Box::new(Masquerade::open(ns)?),
        (Backend::Nftables, None) => Box::new(Masquerade::open_current()?),
        (Backend::Iptables, Some(ns)) => Box::new(IptablesMasquerade::open(ns)),
        (Backend::Iptables, None) => Box::new(IptablesMasquerade::open_current()),
    })
}

macro_rules! impl_backend {
    ($ty:ty) => {
        impl MasqueradeBackend for $ty {
            fn add(
                &self,
                network: &str,
                attachment: &Attachment,
                addresses: &[IpNetwork],
                never_masquerade: &[IpNetwork],
            ) -> Result<()> {
                <$ty>::add(self, network, attachment, addresses, never_masquerade)
            }
            fn remove(&self, network: &str, attachment: &Attachment) -> Result<()> {
                <$ty>::remove(self, network, attachment)
            }
            fn remove_network(&self, network: &str) -> Result<()> {
                <$ty>::remove_network(self, network)
            }
            fn attachments(&self, network: &str) -> Result<Vec<Attachment>> {
                <$ty>::attachments(self, network)
            }
            fn gc(&self, network: &str, valid: &[Attachment]) -> Result<Vec<Attachment>> {
                <$ty>::gc(self, network, valid)
            }
        }
    };
}

impl_backend!(Masquerade);
impl_backend!(IptablesMasquerade);

impl Attachment {
    /// Checks that the nftables backend can record this attachment (an element comment of at
    /// most 254 bytes, `if=<ifname> id=<container id>`, without NUL), so a plugin can refuse an
    /// unusable container id before it changes anything. Errors are invalid-input.
    pub fn check_recordable(&self) -> Result<()> {
        names::attachment_comment(self).map(drop)
    }
}

/// One masqueraded address and the attachment that owns it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MasqueradeEntry {
    /// The owner.
    pub attachment: Attachment,
    /// The pod address whose traffic is masqueraded.
    pub address: IpAddr,
}
