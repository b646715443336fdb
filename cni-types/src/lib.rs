//! The CNI specification as Rust types.
#![deny(missing_docs)]
