//! The reference CNI `bridge` plugin, built from the cni-rs crates.
//!
//! Will hold: the bridge plugin's config, ADD/DEL/CHECK/STATUS/GC, and the binary `bridge`.
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod gateway;
pub mod result;

pub use config::{BridgeConf, Settings};
pub use error::BridgeError;
