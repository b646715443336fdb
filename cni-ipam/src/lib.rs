//! IPAM for CNI plugins: the `Ipam` trait, host-local, static and delegated IPAM.
#![deny(missing_docs)]

pub mod error;
pub mod host_local;
pub mod ip;
pub mod names;

pub use error::{ErrorKind, IpamError, Result};
