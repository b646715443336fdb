//! The CNI exec protocol both ways: the plugin entry point (`run`) and invoking other plugins.
//!
//! Will hold: the async `Plugin` trait, `run(plugin)`, delegation helpers and a libcni-style
//! runtime side that executes config lists.
#![deny(missing_docs)]
