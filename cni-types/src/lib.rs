//! The Container Network Interface (CNI) specification as Rust types: network configurations and
//! config lists, results of every spec version (0.1.0 to 1.1.0) with conversion between them, the
//! spec's errors and codes, `CNI_ARGS`, capabilities and the validation rules.
//!
//! Pure data and rules: no I/O. A plugin parses its config, builds a canonical [`Result100`] and
//! writes it in the config's `cniVersion`:
//!
//! ```
//! use cni_types::{CniResult, Interface, IpConfig, NetConf, Result100, Route, Version};
//!
//! // The plugin's own section of the config, typed.
//! #[derive(serde::Deserialize, serde::Serialize)]
//! #[serde(rename_all = "camelCase")]
//! struct MyPlugin {
//!     bridge: String,
//!     #[serde(default)]
//!     mtu: Option<u32>,
//! }
//!
//! let stdin = br#"{
//!     "cniVersion": "0.3.1", "name": "mynet", "type": "my-plugin",
//!     "bridge": "cni0", "mtu": 1450,
//!     "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"}
//! }"#;
//! let conf = NetConf::<MyPlugin>::from_slice(stdin)?;
//! assert_eq!(conf.plugin.bridge, "cni0");
//! assert_eq!(conf.ipam_type(), Some("host-local"));
//! let version = conf.version()?;
//! assert_eq!(version, Version::V0_3_1);
//!
//! // Build a 1.0.0 result.
//! let mut result = Result100::new(Version::V1_0_0);
//! result.interfaces.push(Interface {
//!     mac: Some("0a:58:0a:16:00:05".into()),
//!     sandbox: Some("/var/run/netns/pod".into()),
//!     mtu: Some(1450),
//!     ..Interface::named("eth0")
//! });
//! result.ips.push(IpConfig {
//!     interface: Some(0),
//!     address: "10.22.0.5/16".parse()?,
//!     gateway: Some("10.22.0.1".parse()?),
//! });
//! result.routes.push(Route::new("0.0.0.0/0".parse()?, None));
//!
//! // Convert it to the config's version, 0.3.1: `ips[].version` appears, interface `mtu` goes.
//! let json = result.to_json_for(version)?;
//! assert_eq!(json["cniVersion"], "0.3.1");
//! assert_eq!(json["ips"][0]["version"], "4");
//! assert!(json["interfaces"][0].get("mtu").is_none());
//! let back = CniResult::from_value(version, json)?;
//! assert_eq!(back.to_current().ips, result.ips);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`version`] (versions, verbs, negotiation), [`netconf`] and [`conflist`]
//! (configurations), [`result`] (results and conversion), [`error`] (the spec error and codes),
//! [`args`] (`CNI_ARGS` and `args`), [`runtime_config`] (capabilities), [`validate`] (identifiers),
//! [`net`] (CIDR, MAC and requested-IP value types), [`gc`] (GC input).
#![deny(missing_docs)]

pub mod args;
pub mod conflist;
pub mod error;
pub mod gc;
pub mod net;
pub mod netconf;
pub mod result;
pub mod runtime_config;
pub mod validate;
pub mod version;

pub use args::{CniArgs, CniConfArgs, ConfArgs, Label};
pub use conflist::NetConfList;
pub use error::{CniError, ErrorCode};
pub use gc::GcAttachment;
pub use net::{MacAddress, RequestedIp};
pub use netconf::{IpamConf, NetConf, NoPluginFields};
pub use result::{
    CniResult, Dns, Interface, Interface040, IpConfig, IpConfig020, IpConfig040, IpVersion,
    Result020, Result040, Result100, Route,
};
pub use runtime_config::{Bandwidth, IpRange, PortMapping, RuntimeConfig, RuntimeDns};
pub use version::{
    Command, ResultFormat, Version, VersionInfo, VersionNumber, negotiate_version, reconcile,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Re-exported so plugin code can name addresses without adding the dependency.
pub use ipnetwork;
