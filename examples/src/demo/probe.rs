//! TCP connectivity probes between namespaces, with plain sockets made inside them.
//!
//! A [`Listener`] is a TCP socket bound inside a namespace (created on a thread that entered it,
//! so it belongs to that namespace for good) and served by a thread that answers every
//! connection with the peer address it saw, then closes it. [`probe`] connects from inside
//! another namespace and reads that answer: the server's view of the client's source address is
//! exactly what tells NAT from no NAT.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cni_netlink::NetNs;

use crate::error::{Error, Result};

/// The port every probe listener uses.
pub const PROBE_PORT: u16 = 8080;

/// A listening socket in a namespace and the thread answering it.
pub(crate) struct Listener {
    socket: std::sync::Arc<TcpListener>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds `0.0.0.0:PROBE_PORT` inside `ns` and starts answering.
    pub(crate) fn start(ns: &NetNs) -> Result<Listener> {
        let socket = ns
            .run_blocking(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, PROBE_PORT)))
            .map_err(Error::netlink("entering a namespace to listen"))?
            .map_err(Error::io(format!("listening on port {PROBE_PORT}")))?;
        let socket = std::sync::Arc::new(socket);
        let serving = socket.clone();
        let thread = std::thread::Builder::new()
            .name("probe-listener".into())
            .spawn(move || serve(&serving))
            .map_err(Error::io("starting a listener thread"))?;
        Ok(Listener {
            socket,
            thread: Some(thread),
        })
    }
}

fn serve(socket: &TcpListener) {
    // accept fails once the socket is shut down (EINVAL), which ends the loop.
    while let Ok((mut conn, peer)) = socket.accept() {
        let _ = conn.write_all(format!("{}\n", peer.ip()).as_bytes());
        let _ = conn.shutdown(Shutdown::Both);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket wakes the blocked accept with an error.
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.socket.as_fd()),
            nix::sys::socket::Shutdown::Both,
        );
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The client's source address as the server saw it; `None` when the probe failed.
    pub seen_source: Option<IpAddr>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Connect + answer time.
    pub took: Duration,
}

impl ProbeOutcome {
    /// True when the server answered.
    pub fn ok(&self) -> bool {
        self.seen_source.is_some()
    }
}

/// Connects from inside `from` to `to:PROBE_PORT` with `timeout` and returns what the server saw.
pub(crate) fn probe(from: &NetNs, to: IpAddr, timeout: Duration) -> ProbeOutcome {
    let start = Instant::now();
    let outcome = from.run_blocking(|| -> std::io::Result<String> {
        let mut conn = TcpStream::connect_timeout(&SocketAddr::new(to, PROBE_PORT), timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer)?;
        Ok(answer)
    });
    let took = start.elapsed();
    let answer = match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return failed(e.to_string(), took),
        Err(e) => return failed(e.to_string(), took),
    };
    match answer.trim().parse::<IpAddr>() {
        Ok(ip) => ProbeOutcome {
            seen_source: Some(ip),
            error: None,
            took,
        },
        Err(_) => failed(format!("unexpected answer {answer:?}"), took),
    }
}

fn failed(error: String, took: Duration) -> ProbeOutcome {
    ProbeOutcome {
        seen_source: None,
        error: Some(error),
        took,
    }
}
