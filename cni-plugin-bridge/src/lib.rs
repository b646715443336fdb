//! The reference CNI `bridge` plugin, built from the cni-rs crates: a drop-in replacement for
//! the Go `bridge` binary (ADD, DEL, CHECK for every spec version 0.1.0-1.1.0, plus GC and
//! STATUS), with `host-local` and `static` IPAM served in-process.
//!
//! The binary `bridge` is one line: `cni_skel::main(BridgePlugin)`. The library exposes the
//! configuration ([`BridgeConf`], [`Settings`]) and the pure pieces (gateway rules, result
//! assembly) for reuse and testing:
//!
//! ```
//! use cni_plugin_bridge::{BridgeConf, config::{ConfContext, Settings}};
//!
//! let conf: BridgeConf = serde_json::from_str(
//!     r#"{"bridge": "cni0", "isDefaultGateway": true, "nonMasqueradeCIDRs": ["10.244.0.0/16"]}"#,
//! )?;
//! let ctx = ConfContext { ipam_type: "host-local", ip_masq: true, ..ConfContext::default() };
//! let settings = Settings::load(&conf, &ctx)?;
//! assert!(settings.is_gateway, "isDefaultGateway implies isGateway");
//! assert!(settings.is_layer3());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod add;
mod check;
pub mod config;
mod del;
pub mod error;
pub mod gateway;
mod gc;
mod host;
mod ipam;
mod masq;
mod plugin;
mod pod;
pub mod result;
pub mod spoofcheck;

pub use config::{BridgeConf, Settings};
pub use error::BridgeError;
pub use plugin::{BridgePlugin, load_settings};
