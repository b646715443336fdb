//! A netns-safe netlink toolkit for CNI plugins.
//!
//! Will hold: network-namespace handles, links (bridges, veths), addresses, routes, sysctls,
//! nftables masquerade and host-gw route reconciliation, with no rtnetlink type in its API.
#![deny(missing_docs)]

pub mod error;

pub use error::{Error, ErrorKind, Result};
