//! host-local: addresses from configured ranges, state in files shared with Go host-local.

pub mod allocator;
pub mod disk;
pub mod ops;
pub mod range;
pub mod range_set;
pub mod store;

#[cfg(test)]
mod allocator_tests;
