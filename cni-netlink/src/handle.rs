//! The netlink handle bound to one namespace, and the translation of rtnetlink errors.

use std::sync::Arc;

use futures::TryStreamExt;
use futures::stream::Stream;

use crate::error::{Error, Result};
use crate::link::LinkReader;
use crate::netns::NetNs;

/// A netlink connection bound to one network namespace, with CNI-shaped operations.
///
/// Made by [`NetNs::connect`] (or [`Netlink::connect_current`] for the caller's own namespace).
/// Cheap to clone; usable from any task and any thread of the runtime it was created on. Every
/// request goes to the namespace the handle was created for, whatever thread sends it.
///
/// The operations live in per-concern modules: links ([`crate::link`]), addresses
/// ([`crate::addr`]), routes ([`crate::route`]), host-gw reconciliation ([`crate::hostgw`]) and
/// waits on kernel events ([`Netlink::wait_link_usable`], [`Netlink::wait_addresses_settled`]).
///
/// It holds two sockets of the namespace: the rtnetlink connection for changes and for reading
/// addresses and routes, and a plain one on which links are read synchronously (the kernel
/// answers a link query inside the request's `send`; a read never waits more than a few
/// seconds for it).
#[derive(Clone)]
pub struct Netlink {
    pub(crate) handle: rtnetlink::Handle,
    /// A second, plain socket for reading links synchronously ([`crate::link`]).
    pub(crate) link_reader: Arc<LinkReader>,
    pub(crate) ns: NetNs,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("netns", &self.ns).finish()
    }
}

/// The two sockets of a [`Netlink`] handle, created together on a thread in its namespace (a
/// socket belongs to the namespace it was created in) and not yet running.
pub(crate) struct Sockets {
    connection: rtnetlink::proto::Connection<rtnetlink::packet_route::RouteNetlinkMessage>,
    handle: rtnetlink::Handle,
    link_reader: LinkReader,
}

impl Sockets {
    /// Creates both sockets in the calling thread's namespace. Inside a helper thread, the caller
    /// enters the runtime first, so that the rtnetlink socket registers with its reactor.
    pub(crate) fn open(context: &dyn Fn() -> String) -> Result<Sockets> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io(e, context()))?;
        let link_reader = LinkReader::open().map_err(|e| Error::io(e, context()))?;
        Ok(Sockets {
            connection,
            handle,
            link_reader,
        })
    }

    /// Spawns the rtnetlink connection's driver on `runtime` and makes the handle.
    pub(crate) fn start(self, runtime: &tokio::runtime::Handle, ns: NetNs) -> Netlink {
        runtime.spawn(self.connection);
        Netlink {
            handle: self.handle,
            link_reader: Arc::new(self.link_reader),
            ns,
        }
    }
}

impl Netlink {
    /// Connects to the calling thread's own network namespace (the "host" side of a plugin).
    pub async fn connect_current() -> Result<Netlink> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            crate::error::Error::invalid_input(
                "Netlink::connect_current must be called inside a tokio runtime",
            )
        })?;
        // Opened on this thread, so it is this thread's namespace: no need to ask again.
        NetNs::current_thread()?.connect_here(&runtime)
    }

    /// The namespace this handle is bound to.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }
}

/// Converts an rtnetlink error into the crate's error, handling the errno sign once: the kernel
/// reports a negative errno in `NLMSG_ERROR`, [`Error::from_errno`] takes it positive.
pub(crate) fn nl_error(err: rtnetlink::Error, context: impl Into<String>) -> Error {
    let context = context.into();
    match err {
        rtnetlink::Error::NetlinkError(msg) => match msg.raw_code() {
            0 => Error::Netlink {
                context,
                errno: 0,
                message: "the kernel reported an error without an errno".into(),
            },
            code => Error::from_errno(code.saturating_abs(), context),
        },
        rtnetlink::Error::InvalidHardwareAddress(_)
        | rtnetlink::Error::InvalidIp(_)
        | rtnetlink::Error::InvalidAddress(_, _)
        | rtnetlink::Error::InvalidNla(_) => Error::invalid_input(format!("{context}: {err}")),
        other => Error::Netlink {
            context,
            errno: 0,
            message: other.to_string(),
        },
    }
}

/// Collects a dump stream, mapping errors.
pub(crate) async fn collect<T>(
    stream: impl Stream<Item = std::result::Result<T, rtnetlink::Error>>,
    context: &str,
) -> Result<Vec<T>> {
    stream
        .try_collect::<Vec<T>>()
        .await
        .map_err(|e| nl_error(e, context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::ErrorMessage;

    #[test]
    fn negative_errno_is_mapped_once() {
        let mut msg = ErrorMessage::default();
        msg.code = std::num::NonZeroI32::new(-libc::EEXIST);
        let e = nl_error(rtnetlink::Error::NetlinkError(msg), "adding link");
        assert!(e.is_already_exists(), "{e}");
        let mut msg = ErrorMessage::default();
        msg.code = std::num::NonZeroI32::new(-libc::ENODEV);
        assert!(nl_error(rtnetlink::Error::NetlinkError(msg), "x").is_not_found());
    }
}
