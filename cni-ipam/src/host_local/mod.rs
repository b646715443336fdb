//! host-local: addresses from configured ranges, state in files shared with Go host-local.
//!
//! Layers, each usable alone: [`range`] and [`range_set`] (configuration checking),
//! [`allocator`] (the round-robin walk of one range set), [`ops`] (the verbs over any
//! [`store::Store`]), [`disk`] (the Go-compatible files), [`config`] and [`dns`] (reading
//! the request), and [`HostLocal`] (the [`crate::Ipam`] implementation).

pub mod allocator;
pub mod config;
pub mod disk;
pub mod dns;
pub mod ops;
pub mod range;
pub mod range_set;
pub mod store;
mod verbs;

pub use verbs::HostLocal;

#[cfg(test)]
mod allocator_tests;
