//! The netlink handle bound to one namespace.

use std::sync::Arc;

use rtnetlink::packet_route::RouteNetlinkMessage;

use crate::error::Result;
use crate::netns::NetNs;
use crate::socket::RouteSocket;

/// A netlink handle bound to one network namespace, with CNI-shaped operations.
///
/// Made by [`NetNs::connect`] (or [`Netlink::connect_current`] for the caller's own namespace).
/// Cheap to clone; usable from any task and any thread. Every request goes to the namespace the
/// handle was created for, whatever thread sends it.
///
/// The operations live in per-concern modules: links ([`crate::link`]), addresses
/// ([`crate::addr`]), routes ([`crate::route`]), host-gw reconciliation ([`crate::hostgw`]) and
/// waits on kernel events ([`Netlink::wait_link_usable`], [`Netlink::wait_addresses_settled`]).
///
/// It holds one plain rtnetlink socket of the namespace, on which every request is sent and
/// answered synchronously: the kernel makes a change, or builds a query's answer, inside the
/// request's `send`, in the sending thread, so an operation's `.await` never waits for anything
/// else (requests from clones of one handle take turns; an answer that does not come is given
/// up after a few seconds). Only the waits on kernel events open sockets of their own.
#[derive(Clone)]
pub struct Netlink {
    pub(crate) socket: Arc<RouteSocket>,
    pub(crate) ns: NetNs,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("netns", &self.ns).finish()
    }
}

impl Netlink {
    /// Connects to the calling thread's own network namespace (the "host" side of a plugin).
    ///
    /// Errors: the socket cannot be created.
    pub async fn connect_current() -> Result<Netlink> {
        // Opened on this thread, so it is this thread's namespace: no need to ask again.
        NetNs::current_thread()?.connect_here()
    }

    /// The namespace this handle is bound to.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// Opens the socket on the calling thread, which must be in `ns`.
    pub(crate) fn open_here(ns: NetNs, context: &dyn Fn() -> String) -> Result<Netlink> {
        let socket = RouteSocket::open().map_err(|e| crate::error::Error::io(e, context()))?;
        Ok(Netlink {
            socket: Arc::new(socket),
            ns,
        })
    }

    /// Dumps the objects `msg` asks for (an `RTM_GETxxx` message) and returns what `pick` takes
    /// of the kernel's messages (the `RTM_NEWxxx` ones, unwrapped).
    pub(crate) fn dump<T>(
        &self,
        msg: RouteNetlinkMessage,
        context: &dyn Fn() -> String,
        pick: impl Fn(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>> {
        let answers = self.socket.dump(msg, context)?;
        Ok(answers.into_iter().filter_map(pick).collect())
    }
}
