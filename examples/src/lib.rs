//! Runnable examples of the cni-rs SDK, and the library code they share.
//!
//! - [`demo`]: the seed's pod network (three nodes, a bridge per node, host-gw routes, pods
//!   attached by our `bridge` plugin through the CNI exec protocol), proven with TCP probes.
//!   Run it with `cargo run --release --example pod-network`.
//! - [`cluster`]: the cluster map (node, node address, pod subnet) that host-gw routing is made
//!   from, used by the demo and by the `host-gw` agent binary.
//! - [`agent`]: the `host-gw` agent binary's reconcile loop over a cluster map file.
//! - [`sandbox`]: a private user + network namespace for a whole process, and throwaway
//!   network namespaces.
//! - [`bench`](mod@bench): ADD, CHECK and DEL of our `bridge` against the Go reference and the in-process
//!   floor. Run it with `cargo run --release --example bench`.
//! - [`multicall`]: one executable that is also the `bridge` plugin when invoked under that
//!   name, so the demo needs no separately installed plugin.
//!
//! ```
//! use cni_examples::cluster::ClusterMap;
//!
//! let map = ClusterMap::parse("node1 192.168.1.11 10.244.1.0/24\nnode2 192.168.1.12 10.244.2.0/24\n")?;
//! let routes = map.routes_for("node1");
//! assert_eq!(routes.len(), 1);
//! assert_eq!(routes[0].subnet.to_string(), "10.244.2.0/24");
//! assert_eq!(routes[0].gateway.to_string(), "192.168.1.12");
//! # Ok::<(), String>(())
//! ```
#![deny(missing_docs)]

pub mod agent;
pub mod bench;
pub mod cluster;
pub mod demo;
pub mod error;
pub mod multicall;
pub mod sandbox;
pub mod wait;

pub use error::{Error, Result};

/// The workspace README's code, compiled as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
