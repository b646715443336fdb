//! A blocking `NETLINK_NETFILTER` socket speaking request/acknowledge with nf_tables.
//!
//! The socket belongs to the network namespace of the thread that created it, for its whole life,
//! so callers create it inside [`crate::NetNs::run_blocking`] and use it from anywhere afterwards.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::socket::sockopt::ReceiveTimeout;
use nix::sys::time::TimeVal;
use rtnetlink::sys::{Socket, protocols::NETLINK_NETFILTER};

use super::batch::{self as nft, Batch, NLM_F_DUMP, NfFamily, Table, attr, msg};
use super::decode::{self, Message, NLMSG_DONE, NLMSG_ERROR, RuleInfo};
use crate::error::{Error, Result};

/// Size of the receive buffer: larger than any datagram the kernel sends for a dump.
const RECV_BUF: usize = 256 * 1024;
/// A reply that does not arrive within this time is an error rather than a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// `ERESTART`: the batch's generation check failed; the caller re-reads and retries.
const ERESTART: i32 = 85;
/// How often an operation re-reads and retries when other writers keep changing the ruleset.
pub(crate) const MAX_ATTEMPTS: usize = 200;

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Every message was applied.
    Done,
    /// The ruleset changed since the generation the batch was built against; nothing was applied.
    Restart,
}

/// How a batch of exclusive creates ([`NfSocket::commit_exclusive`]) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exclusive {
    /// Every message was applied.
    Done,
    /// Something changed since it was planned (the generation, or an object it builds on is
    /// gone): plan again.
    Restart,
    /// Something it creates exists already: nothing was applied; take the general path.
    Exists,
}

/// A netfilter netlink socket bound to one network namespace.
#[derive(Debug)]
pub(crate) struct NfSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl NfSocket {
    /// Opens the socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<NfSocket> {
        let socket = new_socket()?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(NfSocket {
            socket,
            seq,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// The next free sequence number (advanced by the caller's use).
    fn take_seq(&mut self, count: u32) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(count);
        seq
    }

    /// Starts a batch; pass `genid` to make it conditional on an unchanged ruleset.
    pub(crate) fn batch(&mut self, genid: Option<u32>) -> Batch {
        Batch::new(self.take_seq(0), genid)
    }

    /// Sends a batch and waits for the kernel's verdict on every message.
    /// Commits a batch that creates objects exclusively (`NLM_F_EXCL`), the fast path for new
    /// state: an object that exists already is [`Exclusive::Exists`], one it builds on that is
    /// gone is [`Exclusive::Restart`], like a changed generation.
    pub(crate) fn commit_exclusive(&mut self, batch: Batch, context: &str) -> Result<Exclusive> {
        match self.commit(batch, context) {
            Ok(Commit::Done) => Ok(Exclusive::Done),
            Ok(Commit::Restart) => Ok(Exclusive::Restart),
            Err(e) if e.is_already_exists() => Ok(Exclusive::Exists),
            Err(e) if e.is_not_found() => Ok(Exclusive::Restart),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn commit(&mut self, batch: Batch, context: &str) -> Result<Commit> {
        if batch.is_empty() {
            return Ok(Commit::Done);
        }
        let begin_seq = batch.first_seq();
        let expected = batch.acked_messages();
        let labels: Vec<Option<String>> = (0..=expected)
            .map(|i| batch.label(begin_seq.wrapping_add(i)).map(str::to_owned))
            .collect();
        let (bytes, next_seq) = batch.finish();
        self.seq = next_seq;
        self.send(&bytes, context)?;
        let mut acks = 0u32;
        let mut first_error: Option<(i32, u32)> = None;
        let mut restart = false;
        // The kernel processes a batch inside sendmsg, so every verdict is queued by now; read until
        // each message is accounted for, then drain whatever else is queued without blocking.
        while acks < expected && first_error.is_none() && !restart {
            self.recv(0, context)?;
            for msg in decode::messages(&self.buf) {
                if msg.msg_type != NLMSG_ERROR {
                    continue;
                }
                let Some((code, seq)) = msg.error_code() else {
                    continue;
                };
                let ours = seq.wrapping_sub(begin_seq) <= expected;
                if !ours {
                    continue; // a late answer to an earlier request
                }
                if seq == begin_seq && code == -ERESTART {
                    restart = true;
                } else if code == 0 {
                    acks += 1;
                } else if first_error.is_none() {
                    first_error = Some((-code, seq));
                }
            }
        }
        self.drain();
        if restart {
            return Ok(Commit::Restart);
        }
        match first_error {
            Some((errno, _)) if errno == ERESTART => Ok(Commit::Restart),
            Some((errno, seq)) => {
                let what = usize::try_from(seq.wrapping_sub(begin_seq))
                    .ok()
                    .and_then(|i| labels.get(i).cloned().flatten());
                Err(Error::from_errno(
                    errno,
                    match what {
                        Some(what) => format!("{context} ({what})"),
                        None => context.to_owned(),
                    },
                ))
            }
            None => Ok(Commit::Done),
        }
    }

    /// Reads the current ruleset generation.
    pub(crate) fn generation(&mut self) -> Result<u32> {
        let context = "reading the nf_tables generation";
        self.get(
            None,
            msg::GETGEN,
            msg::NEWGEN,
            |_| {},
            decode::generation,
            context,
        )?
        .ok_or_else(|| Error::Internal(format!("{context}: the kernel sent no generation")))
    }

    /// True when `table` has a chain `chain` (one `GETCHAIN` request, not a dump).
    pub(crate) fn chain_exists(&mut self, table: &Table<'_>, chain: &str) -> Result<bool> {
        let found = self.get(
            Some(table.family),
            msg::GETCHAIN,
            msg::NEWCHAIN,
            |b| {
                nft::put_str(b, attr::CHAIN_TABLE, table.name);
                nft::put_str(b, attr::CHAIN_NAME, chain);
            },
            |_| Some(()),
            &format!("looking up chain {chain} of table {}", table.name),
        )?;
        Ok(found.is_some())
    }

    /// Runs a single get request and decodes its answer; `Ok(None)` when the object does not
    /// exist (`ENOENT`).
    fn get<R>(
        &mut self,
        family: Option<NfFamily>,
        msg_type: u16,
        reply_type: u16,
        body: impl FnOnce(&mut Vec<u8>),
        decode: impl Fn(&Message<'_>) -> Option<R>,
        context: &str,
    ) -> Result<Option<R>> {
        let seq = self.take_seq(1);
        let req = nft::request(msg_type, 0, seq, family, body);
        self.send(&req, context)?;
        loop {
            self.recv(0, context)?;
            for msg in decode::messages(&self.buf) {
                if msg.seq != seq {
                    continue;
                }
                if msg.msg_type == NLMSG_ERROR {
                    match msg.error_code() {
                        Some((0, _)) | None => {}
                        Some((code, _)) if -code == libc::ENOENT => return Ok(None),
                        Some((code, _)) => return Err(Error::from_errno(-code, context)),
                    }
                } else if msg.msg_type == nft::nft_type(reply_type)
                    && let Some(found) = decode(&msg)
                {
                    return Ok(Some(found));
                }
            }
        }
    }

    /// Runs `attempt` until it returns `Some`: `None` means the ruleset changed under it (its
    /// batch was refused with `ERESTART`) and it should read again. Gives up with
    /// [`Error::Internal`] after [`MAX_ATTEMPTS`].
    pub(crate) fn retry<T>(
        &mut self,
        context: &str,
        mut attempt: impl FnMut(&mut NfSocket) -> Result<Option<T>>,
    ) -> Result<T> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(done) = attempt(self)? {
                return Ok(done);
            }
        }
        Err(Error::Internal(format!(
            "{context}: the nftables ruleset kept changing under {MAX_ATTEMPTS} attempts"
        )))
    }

    /// One read-then-write transaction, retried until it applies: reads the ruleset generation,
    /// lets `plan` read what it needs and fill a batch tagged with that generation, and commits
    /// it. If anything changed in between, the kernel refuses the whole batch and `plan` runs
    /// again on a fresh read. Returns what the applied `plan` returned.
    pub(crate) fn transact<T>(
        &mut self,
        context: &str,
        mut plan: impl FnMut(&mut NfSocket, &mut Batch) -> Result<T>,
    ) -> Result<T> {
        self.retry(context, |sock| {
            let genid = sock.generation()?;
            let mut batch = sock.batch(Some(genid));
            let planned = plan(sock, &mut batch)?;
            Ok(match sock.commit(batch, context)? {
                Commit::Done => Some(planned),
                Commit::Restart => None,
            })
        })
    }

    /// The rules of `table` (of its chain `chain` only, when given), each decoded by `decode`
    /// (those it returns `None` for are left out). Empty when the table or chain does not exist.
    pub(crate) fn rules<R>(
        &mut self,
        table: &Table<'_>,
        chain: Option<&str>,
        mut decode: impl FnMut(&Message<'_>) -> Option<R>,
    ) -> Result<Vec<R>> {
        let mut out = Vec::new();
        self.dump(
            table.family,
            msg::GETRULE,
            msg::NEWRULE,
            |b| {
                nft::put_str(b, attr::RULE_TABLE, table.name);
                if let Some(chain) = chain {
                    nft::put_str(b, attr::RULE_CHAIN, chain);
                }
            },
            |m| out.extend(decode(m)),
            &format!("listing the rules of table {}", table.name),
        )?;
        Ok(out)
    }

    /// Chain, handle and comment of the rules of `table` (or of one chain of it).
    pub(crate) fn rule_infos(
        &mut self,
        table: &Table<'_>,
        chain: Option<&str>,
    ) -> Result<Vec<RuleInfo>> {
        self.rules(table, chain, decode::rule)
    }

    /// The names of the chains (`sets == false`) or sets of `table`; empty when it does not
    /// exist.
    pub(crate) fn object_names(&mut self, table: &Table<'_>, sets: bool) -> Result<Vec<String>> {
        let (get, reply, table_attr, name_attr, what) = if sets {
            (
                msg::GETSET,
                msg::NEWSET,
                attr::SET_TABLE,
                attr::SET_NAME,
                "sets",
            )
        } else {
            let (t, n) = (attr::CHAIN_TABLE, attr::CHAIN_NAME);
            (msg::GETCHAIN, msg::NEWCHAIN, t, n, "chains")
        };
        let mut out = Vec::new();
        self.dump(
            table.family,
            get,
            reply,
            |b| nft::put_str(b, table_attr, table.name),
            |m| {
                if decode::object_name(m, table_attr).as_deref() == Some(table.name) {
                    out.extend(decode::object_name(m, name_attr));
                }
            },
            &format!("listing the {what} of table {}", table.name),
        )?;
        Ok(out)
    }

    /// The elements of one set (empty when the set does not exist).
    pub(crate) fn set_elements(
        &mut self,
        table: &Table<'_>,
        set: &str,
    ) -> Result<Vec<decode::ElementInfo>> {
        let mut out = Vec::new();
        self.dump(
            table.family,
            msg::GETSETELEM,
            msg::NEWSETELEM,
            |b| {
                nft::put_str(b, attr::SET_ELEM_LIST_TABLE, table.name);
                nft::put_str(b, attr::SET_ELEM_LIST_SET, set);
            },
            |m| out.extend(decode::elements(m)),
            &format!("listing the elements of set {set}"),
        )?;
        Ok(out)
    }

    /// Runs a dump request and hands every reply message of the expected type to `each`.
    /// A missing table, chain or set (`ENOENT`) is reported as `Ok(false)`.
    fn dump(
        &mut self,
        family: NfFamily,
        msg_type: u16,
        reply_type: u16,
        body: impl FnOnce(&mut Vec<u8>),
        mut each: impl FnMut(&Message<'_>),
        context: &str,
    ) -> Result<bool> {
        let seq = self.take_seq(1);
        let req = nft::request(msg_type, NLM_F_DUMP, seq, Some(family), body);
        self.send(&req, context)?;
        loop {
            self.recv(0, context)?;
            let mut done = None;
            for msg in decode::messages(&self.buf) {
                if msg.seq != seq {
                    continue;
                }
                match msg.msg_type {
                    NLMSG_DONE => done = Some(Ok(true)),
                    NLMSG_ERROR => match msg.error_code() {
                        Some((0, _)) | None => {}
                        Some((code, _)) if -code == libc::ENOENT => done = Some(Ok(false)),
                        Some((code, _)) => done = Some(Err(Error::from_errno(-code, context))),
                    },
                    t if t == nft::nft_type(reply_type) => each(&msg),
                    _ => {}
                }
            }
            if let Some(result) = done {
                return result;
            }
        }
    }

    fn send(&self, bytes: &[u8], context: &str) -> Result<()> {
        self.socket
            .send(bytes, 0)
            .map_err(|e| Error::io(e, format!("{context}: sending to nf_tables")))?;
        Ok(())
    }

    /// Receives one datagram into `self.buf`.
    fn recv(&mut self, flags: libc::c_int, context: &str) -> Result<()> {
        self.buf.clear();
        let len = self
            .socket
            .recv(&mut self.buf, flags | libc::MSG_TRUNC)
            .map_err(|e| Error::io(e, format!("{context}: reading the nf_tables reply")))?;
        if len > self.buf.capacity() {
            return Err(Error::Internal(format!(
                "{context}: a {len}-byte nf_tables reply did not fit the receive buffer"
            )));
        }
        Ok(())
    }

    /// Discards queued replies without blocking (leftovers of a failed batch).
    fn drain(&mut self) {
        while self.recv(libc::MSG_DONTWAIT, "draining").is_ok() {}
    }
}

fn new_socket() -> Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)
        .map_err(|e| Error::io(e, "creating a netfilter netlink socket"))?;
    socket
        .bind_auto()
        .map_err(|e| Error::io(e, "binding the netfilter netlink socket"))?;
    // Shorter acknowledgements (no copy of the request); best effort, older kernels lack it.
    let _ = socket.set_cap_ack(true);
    let timeout = TimeVal::new(i64::try_from(REPLY_TIMEOUT.as_secs()).unwrap_or(10) as _, 0);
    nix::sys::socket::setsockopt(&socket.as_fd(), ReceiveTimeout, &timeout)
        .map_err(|e| Error::from_errno(e as i32, "setting the netlink reply timeout"))?;
    Ok(socket)
}
