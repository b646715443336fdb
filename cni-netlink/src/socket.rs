//! The plain rtnetlink socket of a [`crate::Netlink`] handle: every request of the handle is
//! sent on it and answered on it, synchronously.
//!
//! The kernel handles an rtnetlink request inside the `send` call that delivers it: a change is
//! made (or refused) and its acknowledgement queued, a query's answer built (a dump's first part
//! then, each further part inside the `recv` that drains the one before) before `send` returns.
//! So a request is one `send` and one or a few `recv`s, with no connection task, no reactor and
//! no channel in between; an asynchronous socket would not wait any less, since the kernel's
//! work happens in the sending thread either way. The socket is non-blocking; should an answer
//! ever be late, the socket waits in `poll` for at most [`ANSWER_TIMEOUT`], so no thread is
//! blocked without bound.
//!
//! Links are asked for with a request made here and decoded with [`crate::link::raw`] (only the
//! attributes [`Link`] has); every other request is built and its answers decoded with
//! netlink-packet-route's types ([`RouteSocket::change`], [`RouteSocket::dump`]).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;

use crate::error::{Error, Result};
use crate::link::Link;
use crate::link::raw::{Decoded, Malformed, decode_link, u16_at, u32_at};

/// The longest a request waits for the kernel's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// The receive buffer to start with: a link answer without statistics is 1-2 KiB, and the
/// kernel fills a dump's later parts up to the size of the socket's buffer.
const INITIAL_BUFFER: usize = 8 * 1024;
/// The kernel's largest dump part, unless a single object's answer is larger (32 KiB, 16 KiB
/// since Linux 6.x).
const LARGEST_DUMP_PART: usize = 32 * 1024;
/// The largest datagram the socket makes room for.
const MAX_BUFFER: usize = 1024 * 1024;
/// How often a request is sent again after its answer did not fit the buffer.
const MAX_ATTEMPTS: usize = 4;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_EXT_MASK: u16 = 29;
/// `RTEXT_FILTER_SKIP_STATS`: no counters in the answer ([`Link`] has no use for them).
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// Where the sequence number sits in a netlink header.
const SEQ_AT: usize = 8;
/// The socket option for acknowledgements without the request echoed (`linux/netlink.h`).
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Which links to ask for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query<'a> {
    /// The link of this name.
    Name(&'a str),
    /// The link of this index.
    Index(u32),
    /// Every link of the namespace (a dump).
    All,
}

impl Query<'_> {
    fn is_dump(&self) -> bool {
        matches!(self, Query::All)
    }
}

/// What the kernel answers a request with, and so when the answer is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    /// The type of the answer's messages; `None`: an acknowledgement (or an error) only.
    kind: Option<u16>,
    /// A dump: messages of `kind` until `NLMSG_DONE`. Otherwise the first message of `kind`
    /// (or the acknowledgement) completes the answer.
    dump: bool,
}

/// The rtnetlink socket of one [`crate::Netlink`] handle (shared by its clones).
pub(crate) struct RouteSocket {
    fd: OwnedFd,
    state: Mutex<State>,
}

struct State {
    seq: u32,
    /// The receive buffer: its capacity is the room offered to the kernel, its length 0
    /// between datagrams (pages the kernel never wrote are never touched).
    buf: Vec<u8>,
    /// An earlier request ended before its whole answer was received (an error mid-dump): what
    /// is left of it is drained before the next request.
    unfinished: bool,
}

impl std::fmt::Debug for RouteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSocket")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// What one received datagram meant for the request in progress.
enum Step {
    /// More datagrams belong to the answer.
    More,
    /// The answer is complete.
    Done,
    /// The kernel answered with this (positive) errno; the answer is complete.
    Errno(i32),
}

/// A complete answer, or the request must be sent again.
enum Outcome<T> {
    Items(Vec<T>),
    Errno(i32),
    /// A datagram of a query did not fit the buffer, which has grown to its size (and what was
    /// left of a dump has been received and dropped).
    Resend,
}

impl RouteSocket {
    /// Creates the socket in the calling thread's network namespace.
    pub(crate) fn open() -> std::io::Result<RouteSocket> {
        // SAFETY: socket(2) takes no pointers; the result is checked before it is used.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Acknowledgements without a copy of the request: 36 bytes whatever the request was, so
        // one always fits the buffer (a change is never sent twice, see `receive`).
        let on: libc::c_int = 1;
        // SAFETY: the option value is a c_int that outlives the call, its size given.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                NETLINK_CAP_ACK,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RouteSocket {
            fd,
            state: Mutex::new(State {
                seq: 0,
                buf: Vec::new(),
                unfinished: false,
            }),
        })
    }

    /// Asks for the links `query` names and returns them decoded. A link that does not exist is
    /// the kernel's error (`ENODEV`), as [`Error::NotFound`].
    pub(crate) fn links(
        &self,
        query: Query<'_>,
        context: &dyn Fn() -> String,
    ) -> Result<Vec<Link>> {
        let shape = Shape {
            kind: Some(RTM_NEWLINK),
            dump: query.is_dump(),
        };
        self.exchange(request(query, 0), shape, context, &|_, payload| {
            decode_link(payload)
        })
    }

    /// Sends the change `msg` with the netlink header flags `flags` (`NLM_F_REQUEST` and
    /// `NLM_F_ACK` are added) and waits for the kernel's acknowledgement. Its refusal is its
    /// errno, as [`Error::from_errno`] maps it.
    pub(crate) fn change(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        context: &dyn Fn() -> String,
    ) -> Result<()> {
        let acknowledged = Shape {
            kind: None,
            dump: false,
        };
        let bytes = serialize(msg, flags | NLM_F_REQUEST | NLM_F_ACK);
        self.exchange(bytes, acknowledged, context, &|_, _| Ok(()))
            .map(drop)
    }

    /// Dumps what `msg` (an `RTM_GETxxx` message) asks for and returns the kernel's messages,
    /// decoded by netlink-packet-route.
    pub(crate) fn dump(
        &self,
        msg: RouteNetlinkMessage,
        context: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        // The answer to an rtnetlink dump is the request's NEW type: RTM_GETxxx is RTM_NEWxxx + 2.
        let dumped = Shape {
            kind: Some(msg.message_type().saturating_sub(2)),
            dump: true,
        };
        let bytes = serialize(msg, NLM_F_REQUEST | NLM_F_DUMP);
        self.exchange(bytes, dumped, context, &|kind, payload| {
            let mut header = NetlinkHeader::default();
            header.message_type = kind;
            RouteNetlinkMessage::deserialize(&header, payload)
                .map_err(|_| Malformed("netlink-packet-route could not decode an answer"))
        })
    }

    /// Sends `request` (its sequence number set here) and receives the answer of `shape`,
    /// each of its messages decoded by `decode` (given the message's type and payload). An
    /// answer that outgrew the buffer is asked for again with a larger one.
    fn exchange<T>(
        &self,
        mut request: Vec<u8>,
        shape: Shape,
        context: &dyn Fn() -> String,
        decode: &dyn Fn(u16, &[u8]) -> Decoded<T>,
    ) -> Result<Vec<T>> {
        // The state is a counter and a buffer, valid whatever a panicking holder left behind.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.buf.capacity() == 0 {
            state.buf.reserve_exact(INITIAL_BUFFER);
        }
        if state.unfinished {
            self.drain(&mut state)?;
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            state.seq = state.seq.wrapping_add(1);
            if let Some(seq) = request.get_mut(SEQ_AT..SEQ_AT + 4) {
                seq.copy_from_slice(&state.seq.to_ne_bytes());
            }
            self.send(&request, context)?;
            state.unfinished = true;
            let outcome = self.receive(&mut state, shape, context, decode)?;
            state.unfinished = false;
            match outcome {
                Outcome::Items(items) => return Ok(items),
                Outcome::Errno(errno) => return Err(Error::from_errno(errno, context())),
                Outcome::Resend if attempts < MAX_ATTEMPTS => {}
                Outcome::Resend => {
                    return Err(Error::Netlink {
                        context: context(),
                        errno: 0,
                        message: "the answer kept outgrowing the receive buffer".into(),
                    });
                }
            }
        }
    }

    fn send(&self, request: &[u8], context: &dyn Fn() -> String) -> Result<()> {
        loop {
            // SAFETY: the pointer and length describe `request`, which outlives the call; an
            // unconnected netlink socket sends to the kernel.
            let sent = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                )
            };
            if sent >= 0 {
                return if usize::try_from(sent).ok() == Some(request.len()) {
                    Ok(())
                } else {
                    Err(Error::Internal(format!(
                        "{}: the netlink request was sent only in part",
                        context()
                    )))
                };
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io(err, context()));
            }
        }
    }

    /// One datagram into `buf` (its capacity is the room offered; its length becomes what the
    /// kernel wrote), waiting for it up to `deadline`. Returns the datagram's full length, which
    /// is more than the room when it did not fit (`MSG_TRUNC`; the datagram is gone then).
    /// `Ok(None)`: nothing arrived before the deadline.
    fn recv(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> std::io::Result<Option<usize>> {
        buf.clear();
        loop {
            // SAFETY: the pointer and capacity describe `buf`'s allocation, which outlives the
            // call; the kernel writes at most that many bytes into it.
            let got = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.capacity(),
                    libc::MSG_TRUNC,
                )
            };
            if let Ok(len) = usize::try_from(got) {
                // SAFETY: the kernel wrote the first min(len, capacity) bytes (with MSG_TRUNC,
                // `len` is the datagram's full length even when only the capacity was written).
                unsafe { buf.set_len(len.min(buf.capacity())) };
                return Ok(Some(len));
            }
            let err = std::io::Error::last_os_error();
            match err.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => {}
                _ => return Err(err),
            }
            let Some(deadline) = deadline else {
                return Ok(None);
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis().saturating_add(1))
                .unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd, which outlives the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }

    /// Discards whatever is left of an earlier answer (receiving drives an unfinished dump on,
    /// so this reads until the socket is empty).
    fn drain(&self, state: &mut State) -> Result<()> {
        loop {
            match self.recv(&mut state.buf, None) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(Error::io(e, "draining a netlink socket")),
            }
        }
        state.unfinished = false;
        Ok(())
    }

    /// Receives the answer to request `state.seq`. An error leaves the socket with what is
    /// left of the answer in it ([`State::unfinished`]).
    fn receive<T>(
        &self,
        state: &mut State,
        shape: Shape,
        context: &dyn Fn() -> String,
        decode: &dyn Fn(u16, &[u8]) -> Decoded<T>,
    ) -> Result<Outcome<T>> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut items = Vec::new();
        loop {
            let len = match self.recv(&mut state.buf, Some(deadline)) {
                Ok(Some(len)) => len,
                Ok(None) => {
                    return Err(Error::Timeout(format!(
                        "{}: no answer from the kernel within {ANSWER_TIMEOUT:?}",
                        context()
                    )));
                }
                Err(e) => return Err(Error::io(e, context())),
            };
            if len > state.buf.capacity() {
                if shape.kind.is_none() {
                    // A change is done once it is acknowledged, and sending it again would make
                    // it twice. Without the request echoed an acknowledgement is 36 bytes, so
                    // this takes a buffer smaller than any this socket makes.
                    return Err(Error::Internal(format!(
                        "{}: the kernel's acknowledgement ({len} bytes) did not fit the buffer",
                        context()
                    )));
                }
                if len > MAX_BUFFER {
                    return Err(Error::Netlink {
                        context: context(),
                        errno: 0,
                        message: format!("an answer of {len} bytes is larger than allowed"),
                    });
                }
                // A dump's parts are up to the socket's buffer in size (at least the largest
                // object's): the next may be larger than this one, so room for the largest the
                // kernel makes.
                let grown = len
                    .max(state.buf.capacity().saturating_mul(2))
                    .clamp(LARGEST_DUMP_PART, MAX_BUFFER);
                state.buf = Vec::with_capacity(grown);
                if shape.dump {
                    // The kernel refuses a new dump while one is under way: receive the rest
                    // of this one (each receive makes the kernel queue the next part at once).
                    self.drain(state)?;
                }
                return Ok(Outcome::Resend);
            }
            let step = parse_datagram(&state.buf, state.seq, shape, &mut |kind, payload| {
                items.push(decode(kind, payload)?);
                Ok(())
            });
            match step {
                Ok(Step::More) => {}
                Ok(Step::Done) => return Ok(Outcome::Items(items)),
                Ok(Step::Errno(errno)) => return Ok(Outcome::Errno(errno)),
                Err(Malformed(why)) => {
                    return Err(Error::Netlink {
                        context: context(),
                        errno: 0,
                        message: format!("malformed answer from the kernel: {why}"),
                    });
                }
            }
        }
    }
}

/// `msg` as a netlink message with the header flags `flags` (its sequence number is set when it
/// is sent).
fn serialize(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    let mut nl = NetlinkMessage::from(msg);
    nl.header.flags = flags;
    nl.finalize();
    let mut bytes = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut bytes);
    bytes
}

/// Goes through the netlink messages of one datagram: messages of the answer's type answering
/// request `seq` go to `on_message` (their type and payload); messages of other requests and
/// of other types are skipped.
fn parse_datagram(
    mut bytes: &[u8],
    seq: u32,
    shape: Shape,
    on_message: &mut dyn FnMut(u16, &[u8]) -> Decoded<()>,
) -> Decoded<Step> {
    while !bytes.is_empty() {
        let cut = Malformed("netlink message header cut short");
        let len = u32_at(bytes, 0).ok_or(cut)?;
        let kind = u16_at(bytes, 4).ok_or(cut)?;
        let msg_seq = u32_at(bytes, 8).ok_or(cut)?;
        let len = usize::try_from(len).map_err(|_| Malformed("netlink message too long"))?;
        if len < NLMSG_HDRLEN {
            return Err(Malformed("netlink message length below its header"));
        }
        let payload = bytes
            .get(NLMSG_HDRLEN..len)
            .ok_or(Malformed("netlink message longer than its datagram"))?;
        bytes = bytes.get(len.saturating_add(3) & !3..).unwrap_or(&[]);
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_ERROR | NLMSG_DONE => {
                // NLMSG_ERROR starts with the errno (0: an acknowledgement); NLMSG_DONE with
                // the dump's result (0, or an errno when the dump failed part way).
                let code = match u32_at(payload, 0) {
                    Some(code) => i32::from_ne_bytes(code.to_ne_bytes()),
                    None if kind == NLMSG_DONE => 0,
                    None => return Err(Malformed("NLMSG_ERROR without its errno")),
                };
                return Ok(match code {
                    0 => Step::Done,
                    code => Step::Errno(code.saturating_abs()),
                });
            }
            NLMSG_OVERRUN => return Err(Malformed("the kernel reported an overrun")),
            NLMSG_NOOP => {}
            kind if Some(kind) == shape.kind => {
                on_message(kind, payload)?;
                if !shape.dump {
                    return Ok(Step::Done);
                }
            }
            _ => {}
        }
    }
    Ok(Step::More)
}

/// The `RTM_GETLINK` request for `query`, without statistics, as sequence number `seq`.
fn request(query: Query<'_>, seq: u32) -> Vec<u8> {
    let (flags, index) = match query {
        Query::Name(_) => (NLM_F_REQUEST, 0),
        Query::Index(index) => (NLM_F_REQUEST, index),
        Query::All => (NLM_F_REQUEST | NLM_F_DUMP, 0),
    };
    let mut msg = Vec::with_capacity(64);
    // nlmsghdr; the length is filled in at the end.
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // ifinfomsg: AF_UNSPEC, no device type, the index (0: by name or all), no flags.
    msg.extend_from_slice(&[0u8; 4]);
    msg.extend_from_slice(&index.to_ne_bytes());
    msg.extend_from_slice(&[0u8; 8]);
    push_attr(
        &mut msg,
        IFLA_EXT_MASK,
        &[&RTEXT_FILTER_SKIP_STATS.to_ne_bytes()],
    );
    if let Query::Name(name) = query {
        push_attr(&mut msg, IFLA_IFNAME, &[name.as_bytes(), &[0]]);
    }
    let total = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    if let Some(head) = msg.get_mut(..4) {
        head.copy_from_slice(&total.to_ne_bytes());
    }
    msg
}

/// Appends one attribute (its value given in pieces) with its padding. Values are small (a
/// name of at most 15 bytes).
fn push_attr(msg: &mut Vec<u8>, kind: u16, value: &[&[u8]]) {
    let value_len: usize = value.iter().map(|piece| piece.len()).sum();
    let len = u16::try_from(4 + value_len).unwrap_or(u16::MAX);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    for piece in value {
        msg.extend_from_slice(piece);
    }
    while !msg.len().is_multiple_of(4) {
        msg.push(0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use rtnetlink::packet_core::{
        NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable,
    };
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};

    use super::*;
    use crate::handle::Netlink;
    use crate::link::{BridgePortFlags, BridgeSpec, VethSpec};
    use crate::testkit::TestNode;

    fn their_request(attributes: Vec<LinkAttribute>, index: u32, flags: u16, seq: u32) -> Vec<u8> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes = attributes;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut msg = NetlinkMessage::new(
            header,
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetLink(link)),
        );
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    #[test]
    fn requests_are_what_netlink_packet_route_would_send() {
        let skip = LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]);
        assert_eq!(
            request(Query::Name("veth0abc"), 7),
            their_request(
                vec![skip.clone(), LinkAttribute::IfName("veth0abc".into())],
                0,
                NLM_F_REQUEST,
                7
            )
        );
        assert_eq!(
            request(Query::Index(12), 8),
            their_request(vec![skip.clone()], 12, NLM_F_REQUEST, 8)
        );
        assert_eq!(
            request(Query::All, 9),
            their_request(vec![skip], 0, NLM_F_REQUEST | NLM_F_DUMP, 9)
        );
    }

    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let len = u32::try_from(NLMSG_HDRLEN + payload.len()).unwrap();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    fn count(datagram: &[u8], seq: u32, dump: bool) -> (Result<Step, Malformed>, usize) {
        let mut n = 0;
        let shape = Shape {
            kind: Some(RTM_NEWLINK),
            dump,
        };
        let step = parse_datagram(datagram, seq, shape, &mut |_, _| {
            n += 1;
            Ok(())
        });
        (step, n)
    }

    #[test]
    fn datagrams_errors_ends_and_other_requests() {
        let link = [0u8; 16];
        // A dump part: two links, one of an earlier request skipped, no end yet.
        let mut part = nlmsg(RTM_NEWLINK, 5, &link);
        part.extend(nlmsg(RTM_NEWLINK, 4, &link));
        part.extend(nlmsg(NLMSG_NOOP, 5, &[]));
        part.extend(nlmsg(RTM_NEWLINK, 5, &link));
        assert!(matches!(count(&part, 5, true), (Ok(Step::More), 2)));
        // Its end, with and without the dump's result.
        assert!(matches!(
            count(&nlmsg(NLMSG_DONE, 5, &0i32.to_ne_bytes()), 5, true),
            (Ok(Step::Done), 0)
        ));
        assert!(matches!(
            count(&nlmsg(NLMSG_DONE, 5, &[]), 5, true),
            (Ok(Step::Done), 0)
        ));
        assert!(matches!(
            count(
                &nlmsg(NLMSG_DONE, 5, &(-libc::EINTR).to_ne_bytes()),
                5,
                true
            ),
            (Ok(Step::Errno(libc::EINTR)), 0)
        ));
        // A single answer ends with its link.
        assert!(matches!(
            count(&nlmsg(RTM_NEWLINK, 5, &link), 5, false),
            (Ok(Step::Done), 1)
        ));
        // The kernel's error, with the request echoed after the errno.
        let mut err = (-libc::ENODEV).to_ne_bytes().to_vec();
        err.extend(request(Query::Name("x"), 5));
        assert!(matches!(
            count(&nlmsg(NLMSG_ERROR, 5, &err), 5, false),
            (Ok(Step::Errno(libc::ENODEV)), 0)
        ));
        // An error of another request is not ours.
        assert!(matches!(
            count(&nlmsg(NLMSG_ERROR, 4, &err), 5, false),
            (Ok(Step::More), 0)
        ));
        // Broken framing.
        assert!(count(&nlmsg(NLMSG_ERROR, 5, &[1, 2]), 5, false).0.is_err());
        assert!(count(&nlmsg(NLMSG_OVERRUN, 5, &[]), 5, false).0.is_err());
        let whole = nlmsg(RTM_NEWLINK, 5, &link);
        for len in 1..whole.len() {
            assert!(
                count(whole.get(..len).unwrap(), 5, false).0.is_err(),
                "cut at {len}"
            );
        }
        let mut zero = whole.clone();
        zero.get_mut(..4)
            .unwrap()
            .copy_from_slice(&0u32.to_ne_bytes());
        assert!(count(&zero, 5, false).0.is_err());
    }

    #[test]
    fn acknowledgements_end_a_change() {
        let ack = Shape {
            kind: None,
            dump: false,
        };
        let run = |datagram: &[u8]| {
            let mut n = 0;
            let step = parse_datagram(datagram, 5, ack, &mut |_, _| {
                n += 1;
                Ok(())
            });
            (step, n)
        };
        // The kernel echoes the request after the errno (no NETLINK_CAP_ACK on the socket).
        let echoed = nlmsg(RTM_NEWLINK, 5, &[0u8; 16]);
        let mut done = 0i32.to_ne_bytes().to_vec();
        done.extend(&echoed);
        assert!(matches!(
            run(&nlmsg(NLMSG_ERROR, 5, &done)),
            (Ok(Step::Done), 0)
        ));
        let mut refused = (-libc::EEXIST).to_ne_bytes().to_vec();
        refused.extend(&echoed);
        assert!(matches!(
            run(&nlmsg(NLMSG_ERROR, 5, &refused)),
            (Ok(Step::Errno(libc::EEXIST)), 0)
        ));
        // Messages other than the acknowledgement are not the answer.
        assert!(matches!(run(&echoed), (Ok(Step::More), 0)));
        assert!(matches!(
            run(&nlmsg(NLMSG_ERROR, 4, &done)),
            (Ok(Step::More), 0)
        ));
    }

    /// The raw payloads of the kernel's answer to `query`.
    fn kernel_answers(socket: &RouteSocket, query: Query<'_>) -> Vec<Vec<u8>> {
        let mut state = socket.state.lock().unwrap();
        state.buf = Vec::with_capacity(64 * 1024);
        state.seq += 1;
        let seq = state.seq;
        socket.send(&request(query, seq), &String::new).unwrap();
        let mut out = Vec::new();
        let shape = Shape {
            kind: Some(RTM_NEWLINK),
            dump: query.is_dump(),
        };
        loop {
            let len = socket
                .recv(&mut state.buf, Some(Instant::now() + ANSWER_TIMEOUT))
                .unwrap()
                .unwrap();
            assert_eq!(len, state.buf.len());
            let step = parse_datagram(&state.buf, seq, shape, &mut |_, p| {
                out.push(p.to_vec());
                Ok(())
            });
            if !matches!(step, Ok(Step::More)) {
                return out;
            }
        }
    }

    /// The links as netlink-packet-route decodes the kernel's whole answer (with counters), for
    /// comparison.
    async fn their_links(nl: &Netlink) -> Vec<Link> {
        nl.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            &String::new,
            |answer| match answer {
                RouteNetlinkMessage::NewLink(msg) => Some(Link::from_message(&msg)),
                other => panic!("not a link: {other:?}"),
            },
        )
        .unwrap()
    }

    /// Real kernel answers for a bridge, a bridge port with hairpin and isolation, a veth whose
    /// peer is in another namespace, loopback: decoded as netlink-packet-route decodes them, by
    /// name, by index and in a dump; and every prefix of each is an error or the same link.
    #[tokio::test]
    async fn kernel_answers_decode_as_netlink_packet_route_decodes_them() {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let nl = node.connect().await.unwrap();
        let pod_nl = pod.connect().await.unwrap();
        let bridge = nl.ensure_bridge(&BridgeSpec::new("br-raw")).await.unwrap();
        let mut spec = VethSpec::new("eth0");
        spec.bridge = Some(bridge.index);
        spec.container_up = true;
        let pair = nl.create_veth_pair(&pod_nl, &spec).await.unwrap();
        let flags = BridgePortFlags {
            hairpin: Some(true),
            isolated: Some(true),
            learning: Some(false),
        };
        nl.set_bridge_port(pair.host.index, &flags).await.unwrap();

        // Settled first, so that nothing changes between the reads compared below.
        let wait = Duration::from_secs(10);
        nl.wait_link_usable(pair.host.index, wait).await.unwrap();
        nl.wait_link_usable(bridge.index, wait).await.unwrap();
        pod_nl
            .wait_link_usable(pair.container.index, wait)
            .await
            .unwrap();
        for handle in [&nl, &pod_nl] {
            let ours = handle.links().await.unwrap();
            assert_eq!(ours, their_links(handle).await);
            for link in &ours {
                assert_eq!(
                    handle.link_by_index(link.index).await.unwrap().as_ref(),
                    Some(link)
                );
                assert_eq!(
                    handle.link_by_name(&link.name).await.unwrap().as_ref(),
                    Some(link)
                );
            }
        }
        let port = nl.link_by_index(pair.host.index).await.unwrap().unwrap();
        let info = port.bridge_port.unwrap();
        assert!(info.hairpin && info.isolated && !info.learning);
        assert_eq!(port.master, Some(bridge.index));
        assert!(pair.container.peer_netns_id.is_some());
        assert_eq!(pair.container.peer_index, Some(pair.host.index));

        let answers = kernel_answers(&nl.socket, Query::All);
        assert_eq!(answers.len(), 3);
        for bytes in answers {
            let whole = decode_link(&bytes).unwrap();
            assert_eq!(
                whole,
                Link::from_message(&LinkMessage::parse(&bytes[..]).unwrap())
            );
            for len in 0..bytes.len() {
                let cut = bytes.get(..len).unwrap();
                if let Ok(link) = decode_link(cut) {
                    assert_eq!(link, Link::from_message(&LinkMessage::parse(cut).unwrap()));
                }
            }
        }
    }

    #[tokio::test]
    async fn missing_links_are_none_and_reads_go_on_after_errors() {
        let node = TestNode::new();
        let nl = node.connect().await.unwrap();
        assert_eq!(nl.link_by_name("nonexistent0").await.unwrap(), None);
        assert_eq!(nl.link_by_index(4242).await.unwrap(), None);
        assert!(nl.link("nonexistent0").await.unwrap_err().is_not_found());
        let lo = nl.link_by_name("lo").await.unwrap().unwrap();
        assert_eq!(nl.link_by_index(lo.index).await.unwrap(), Some(lo));
        assert_eq!(nl.links().await.unwrap().len(), 1);
    }

    /// A buffer too small for the answers: a single answer is asked for again, a dump is
    /// received to its end and asked for again, both with a buffer grown to fit.
    #[tokio::test]
    async fn answers_larger_than_the_buffer() {
        let node = TestNode::new();
        let nl = node.connect().await.unwrap();
        for i in 0..20 {
            nl.ensure_bridge(&BridgeSpec::new(format!("br-big{i}")))
                .await
                .unwrap();
        }
        let expected = their_links(&nl).await;
        let socket = &nl.socket;
        for query in [Query::All, Query::Name("br-big3")] {
            {
                let mut state = socket.state.lock().unwrap();
                state.buf = Vec::with_capacity(64);
            }
            let got = socket.links(query, &String::new).unwrap();
            match query {
                Query::All => assert_eq!(got, expected),
                _ => assert_eq!(got.first().map(|l| l.name.as_str()), Some("br-big3")),
            }
            assert!(socket.state.lock().unwrap().buf.capacity() > 64);
        }
        // An unfinished dump (abandoned after its first part) is drained before the next read.
        {
            let mut state = socket.state.lock().unwrap();
            state.buf = Vec::with_capacity(4096);
            state.seq += 1;
            let seq = state.seq;
            socket
                .send(&request(Query::All, seq), &String::new)
                .unwrap();
            state.unfinished = true;
        }
        assert_eq!(nl.links().await.unwrap(), expected);
    }

    /// Changes and dumps made with netlink-packet-route's messages on the plain socket: the
    /// kernel's refusals keep their errno, the idempotent operations stay idempotent, and dumps
    /// that outgrow the buffer are asked for again whole.
    #[tokio::test]
    async fn changes_refusals_and_dumps() {
        use crate::addr::{AddrOptions, IpFamily};
        use crate::route::{RouteFilter, RouteSpec};

        let node = TestNode::new();
        let nl = node.connect().await.unwrap();
        let bridge = nl.ensure_bridge(&BridgeSpec::new("br-req")).await.unwrap();
        nl.set_link_up(bridge.index).await.unwrap();
        for i in 0..40u8 {
            let addr = format!("10.{i}.0.1/24").parse().unwrap();
            nl.add_address(bridge.index, addr, AddrOptions::default())
                .await
                .unwrap();
        }
        // Present already: success, as the Go plugins treat EEXIST.
        let first = "10.0.0.1/24".parse().unwrap();
        nl.add_address(bridge.index, first, AddrOptions::default())
            .await
            .unwrap();
        let route =
            RouteSpec::new("10.99.0.0/16".parse().unwrap()).via("10.0.0.254".parse().unwrap());
        nl.add_route(&route).await.unwrap();
        assert!(nl.add_route(&route).await.unwrap_err().is_already_exists());
        nl.replace_route(&route).await.unwrap();
        // A link that is not there: the kernel's ENODEV.
        assert!(nl.set_link_up(4242).await.unwrap_err().is_not_found());
        nl.delete_link(4242).await.unwrap();

        let addrs = nl
            .addresses(Some(bridge.index), Some(IpFamily::V4))
            .await
            .unwrap();
        assert_eq!(addrs.len(), 40);
        let routes = nl.routes(&RouteFilter::default()).await.unwrap();
        assert!(routes.iter().any(|r| r.destination == route.destination));
        {
            let mut state = nl.socket.state.lock().unwrap();
            state.buf = Vec::with_capacity(64);
        }
        assert_eq!(
            nl.addresses(Some(bridge.index), Some(IpFamily::V4))
                .await
                .unwrap(),
            addrs
        );
        assert!(nl.socket.state.lock().unwrap().buf.capacity() > 64);
        {
            let mut state = nl.socket.state.lock().unwrap();
            state.buf = Vec::with_capacity(64);
        }
        assert_eq!(nl.routes(&RouteFilter::default()).await.unwrap(), routes);

        nl.delete_route(&route).await.unwrap();
        nl.delete_route(&route).await.unwrap();
        nl.delete_address(bridge.index, first).await.unwrap();
        nl.delete_address(bridge.index, first).await.unwrap();
        assert_eq!(
            nl.addresses(Some(bridge.index), Some(IpFamily::V4))
                .await
                .unwrap()
                .len(),
            39
        );
    }

    /// Acknowledgements come without the request (`NETLINK_CAP_ACK`), refusals too, so they fit
    /// a small buffer; and a change whose acknowledgement does not fit is reported, not made again.
    #[tokio::test]
    async fn changes_are_acknowledged_once() {
        use crate::route::{RouteFilter, RouteSpec};

        let node = TestNode::new();
        let nl = node.connect().await.unwrap();
        let lo = nl.link("lo").await.unwrap();
        nl.set_link_up(lo.index).await.unwrap();
        let set_buffer = |capacity: usize| {
            nl.socket.state.lock().unwrap().buf = Vec::with_capacity(capacity);
        };
        let route = |dst: &str| RouteSpec::new(dst.parse().unwrap()).dev(lo.index);
        // A route request is 60 bytes: a refusal echoing it would be 80.
        set_buffer(40);
        nl.add_route(&route("10.9.0.0/24")).await.unwrap();
        let refused = nl.add_route(&route("10.9.0.0/24")).await.unwrap_err();
        assert!(refused.is_already_exists(), "{refused}");
        assert_eq!(nl.socket.state.lock().unwrap().buf.capacity(), 40);
        set_buffer(16);
        let err = nl.add_route(&route("10.9.1.0/24")).await.unwrap_err();
        assert!(err.to_string().contains("did not fit"), "{err}");
        set_buffer(8 * 1024);
        let routes = nl.routes(&RouteFilter::default()).await.unwrap();
        let made = |dst: &str| {
            let dst: ipnetwork::IpNetwork = dst.parse().unwrap();
            routes.iter().filter(|r| r.destination == dst).count()
        };
        assert_eq!(
            (made("10.9.0.0/24"), made("10.9.1.0/24")),
            (1, 1),
            "{routes:?}"
        );
    }
}
