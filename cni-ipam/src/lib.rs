//! IPAM for CNI plugins: the [`Ipam`] trait, host-local, static and delegated IPAM.
//!
//! - [`Ipam`]: ADD, DEL, CHECK, STATUS and GC over an [`IpamRequest`], returning IPAM results
//!   (a [`cni_types::Result100`] without interfaces). [`add_then`] releases the allocation
//!   when the caller's ADD fails afterwards.
//! - [`HostLocal`]: Go host-local's allocator and on-disk format (shared state: the Go and
//!   Rust plugins can take turns on one `dataDir`), plus GC and STATUS. The pure layers are in
//!   [`host_local`].
//! - [`StaticIpam`]: addresses from the configuration and arguments.
//! - [`DelegatedIpam`]: any IPAM plugin binary on `CNI_PATH`, through `cni-skel`.
//! - [`ipam_for`] picks one by `ipam.type`; [`IpamPlugin`] turns any [`Ipam`] into a plugin
//!   binary (the `host-local` and `static` binaries of this crate are two lines each).
//!
//! Writing your own IPAM: implement [`Ipam`].
//!
//! ```
//! use async_trait::async_trait;
//! use cni_ipam::{Ipam, IpamError, IpamRequest, Result};
//! use cni_types::{IpConfig, NetConf, Result100, Version};
//!
//! /// Gives every container `10.99.0.<n>/24`, where `n` comes from `ipam.host`.
//! struct OneAddress;
//!
//! #[async_trait]
//! impl Ipam for OneAddress {
//!     async fn add(&self, req: &IpamRequest) -> Result<Result100> {
//!         let host = req.ipam()?.rest.get("host").and_then(|h| h.as_u64()).unwrap_or(2);
//!         let address = format!("10.99.0.{host}/24")
//!             .parse()
//!             .map_err(|e| IpamError::config(format!("bad host {host}: {e}")))?;
//!         let mut result = Result100::new(Version::CURRENT);
//!         result.ips.push(IpConfig { interface: None, address, gateway: None });
//!         Ok(result)
//!     }
//!     async fn del(&self, _req: &IpamRequest) -> Result<()> {
//!         Ok(())
//!     }
//!     async fn check(&self, _req: &IpamRequest) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let conf: NetConf = NetConf::from_slice(br#"{"cniVersion":"1.1.0","name":"net",
//!     "type":"bridge","ipam":{"type":"one-address","host":7}}"#)?;
//! let req = IpamRequest::new(conf, "container-1", "eth0")?;
//! let result = OneAddress.add(&req).await?;
//! assert_eq!(result.ips[0].address.to_string(), "10.99.0.7/24");
//!
//! // The allocation is released again when the caller's own work fails.
//! let outcome: std::result::Result<(), IpamError> =
//!     cni_ipam::add_then(&OneAddress, &req, |_ipam_result| async {
//!         Err(IpamError::internal("the veth could not be created"))
//!     })
//!     .await;
//! assert!(outcome.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod delegate;
pub mod error;
pub mod host_local;
pub mod ip;
pub mod ipam;
pub mod plugin;
pub mod request;
pub mod select;
pub mod static_ipam;

pub use delegate::DelegatedIpam;
pub use error::{ErrorKind, IpamError, Result};
pub use host_local::HostLocal;
pub use ipam::{Ipam, add_then, release};
pub use plugin::IpamPlugin;
pub use request::{AddParts, IpamRequest};
pub use select::ipam_for;
pub use static_ipam::{StaticConfig, StaticIpam};
