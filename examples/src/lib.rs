//! Shared helpers for the runnable examples of the cni-rs SDK.
//!
//! The examples themselves live next to this file under `examples/` of this package
//! and are run with `cargo run --example <name>` from the workspace root.
