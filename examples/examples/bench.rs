//! Our `bridge` plugin against the Go reference `bridge` + `host-local`, and against the kernel's
//! floor: `cargo run --release --example bench -- [--quick] [--plugins ours|go|both] ...`.
//!
//! See `cni_examples::bench` for what it measures, `--help` for the flags, and BENCHMARKS.md for
//! a full run.

use std::process::ExitCode;

use cni_examples::bench::{self, BenchOptions, USAGE};
use cni_examples::{multicall, sandbox};

fn main() -> ExitCode {
    // Invoked by the benchmark to start and measure one plugin process: do only that.
    if let Some(code) = bench::run_exec_helper_if_invoked() {
        return code;
    }
    // Invoked as the `bridge` plugin by the benchmark itself: be the plugin.
    if let Some(code) = multicall::run_plugin_if_invoked() {
        return code;
    }
    let opts = match BenchOptions::parse(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    // Still single-threaded: move into a user + network namespace of our own first.
    if let Err(e) = sandbox::enter_private_namespaces() {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    match bench::run(&opts, &mut std::io::stdout()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
