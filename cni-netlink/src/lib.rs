//! A network-namespace-safe netlink toolkit for CNI plugins.
//!
//! ```no_run
//! use cni_netlink::{AddrOptions, BridgeSpec, NetNs, Netlink, VethSpec};
//!
//! # async fn add() -> cni_netlink::Result<()> {
//! // The pod's namespace, as the runtime passes it in CNI_NETNS.
//! let pod_ns = NetNs::open("/var/run/netns/pod1")?;
//! pod_ns.ensure_not_current_thread()?; // refuse the host's own namespace
//!
//! let host = Netlink::connect_current().await?; // the plugin's own namespace
//! let pod = pod_ns.connect().await?; // a socket created inside the pod namespace
//!
//! let bridge = host.ensure_bridge(&BridgeSpec::new("cni0")).await?;
//! let veth = host
//!     .create_veth_pair(&pod, &VethSpec { bridge: Some(bridge.index), ..VethSpec::new("eth0") })
//!     .await?;
//! pod_ns.sysctl_set("net/ipv4/conf/eth0/arp_notify", "1")?;
//! pod.add_address(veth.container.index, "10.22.0.5/24".parse().map_err(|_| {
//!     cni_netlink::Error::invalid_input("bad address")
//! })?, AddrOptions::default()).await?;
//! pod.set_link_up(veth.container.index).await?;
//! pod.replace_default_route("10.22.0.1".parse().map_err(|_| {
//!     cni_netlink::Error::invalid_input("bad gateway")
//! })?, Some(veth.container.index)).await?;
//! host.wait_link_usable(veth.host.index, std::time::Duration::from_secs(3)).await?;
//! # Ok(()) }
//! ```
//!
//! # The namespace rules
//!
//! `setns(2)` changes only the calling thread, and threads and processes started afterwards
//! inherit it. This crate therefore never calls `setns` on a thread it did not create itself:
//!
//! * [`NetNs::connect`] creates the netlink socket on a short-lived helper thread inside the
//!   namespace; a socket stays bound to its namespace, so the [`Netlink`] handle works from any
//!   task and thread afterwards. Its requests are made synchronously on that plain socket (the
//!   kernel handles a request inside its `send`), so they need no tokio runtime; only the waits
//!   on kernel events ([`Netlink::wait_link_usable`] and friends) do.
//! * [`NetNs::run_blocking`] / [`NetNs::run`] run a closure on a fresh thread inside the namespace
//!   (sysctls, ioctls, anything resolved per thread). The thread ends afterwards.
//!
//! There is no public enter/exit guard, so no tokio worker can be left in a pod namespace.
//!
//! # Operations
//!
//! All live on [`Netlink`] (a handle bound to one namespace) except sysctls, which live on
//! [`NetNs`]. Those CNI needs idempotent are, and each says so: ensuring a bridge adopts an
//! existing one, deleting a missing link/address/route is success, adding an existing address is
//! success. No rtnetlink type appears in the API; errors are the one [`Error`] enum, whose
//! [`Error::kind`] separates not-found, already-exists, permission, unsupported and invalid input
//! from the rest.
//!
//! [`masquerade::Masquerade`] and [`spoofcheck::SpoofCheck`] program nftables over a
//! `NETLINK_NETFILTER` socket (no `nft` process), each change one atomic batch; both name pod
//! interfaces by [`Attachment`].
//!
//! The `test-kit` feature adds the `testkit` module: throwaway node and pod namespaces for tests.
#![deny(missing_docs)]

pub mod addr;
mod attachment;
pub mod error;
mod handle;
pub mod hostgw;
pub mod link;
pub mod masquerade;
mod netns;
mod nftables;
pub mod route;
mod socket;
pub mod spoofcheck;
pub mod sysctl;
#[cfg(feature = "test-kit")]
pub mod testkit;
mod wait;

pub use addr::{AddrOptions, AddrScope, Address, IpFamily};
pub use attachment::Attachment;
pub use error::{Error, ErrorKind, Result};
pub use handle::Netlink;
pub use hostgw::{HOSTGW_PROTOCOL, HostGwOptions, HostGwReport, HostGwRoute};
pub use link::{
    BridgePortFlags, BridgePortInfo, BridgeSpec, Link, LinkKind, MacAddr, OperState, PortState,
    PortVlans, VethPair, VethSpec, VlanRange,
};
pub use netns::{NetNs, NsThread};
pub use route::{Route, RouteFilter, RouteScope, RouteSpec};

/// The `ipnetwork` crate, whose `IpNetwork` type this crate's API uses for prefixes.
pub use ipnetwork;
