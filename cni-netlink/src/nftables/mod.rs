//! nf_tables over a `NETLINK_NETFILTER` socket: the pieces [`crate::masquerade::Masquerade`] and
//! [`crate::spoofcheck::SpoofCheck`] are built from. No `nft` process, no libnftnl.
//!
//! * [`batch`]: the message encoder (tables, chains, rules, sets, set elements), framed as one
//!   atomic batch, optionally tagged with the ruleset generation it was planned against.
//! * [`expr`]: the rule expressions, written and read back with one type.
//! * [`decode`]: the reply decoder (framing, attributes, rules, names, elements, generation).
//! * [`socket`]: the blocking socket: commit a batch, dump objects, and
//!   [`NfSocket::transact`], the read → plan → commit loop that retries when another writer
//!   changed the ruleset in between (`ERESTART`).
//!
//! [`NfConn`] is the socket as the public types hold it: created in a namespace, shared behind a
//! mutex.

pub(crate) mod batch;
pub(crate) mod decode;
pub(crate) mod expr;
pub(crate) mod socket;

use std::sync::{Mutex, MutexGuard};

pub(crate) use batch::{BaseChain, Batch, NfFamily, Table};
pub(crate) use expr::{Expr, Verdict};
pub(crate) use socket::{Commit, Exclusive, NfSocket};

use crate::NetNs;
use crate::error::{Error, Result};

/// A netfilter socket bound to one network namespace; calls through it are serialised.
#[derive(Debug)]
pub(crate) struct NfConn {
    socket: Mutex<NfSocket>,
}

impl NfConn {
    /// Opens the socket in `netns`, on a short-lived thread inside it
    /// ([`NetNs::run_blocking`]); the calling thread never changes namespace.
    pub(crate) fn open(netns: &NetNs) -> Result<NfConn> {
        let socket = netns.run_blocking(NfSocket::open)??;
        Ok(NfConn {
            socket: Mutex::new(socket),
        })
    }

    /// Opens the socket in the calling thread's namespace.
    pub(crate) fn open_current() -> Result<NfConn> {
        Ok(NfConn {
            socket: Mutex::new(NfSocket::open()?),
        })
    }

    /// The socket, for one operation.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, NfSocket>> {
        self.socket.lock().map_err(|_| {
            Error::Internal("an nftables call panicked while holding the socket".into())
        })
    }
}
