//! IPAM for CNI plugins: the `Ipam` trait, host-local, static and delegated IPAM.
//!
//! Will hold: an async IPAM trait, a host-local allocator sharing Go host-local's on-disk
//! format, static IPAM, and delegation to IPAM binaries on `CNI_PATH`.
#![deny(missing_docs)]
