//! The seed's pod network in one command: `cargo run --release --example pod-network`.
//!
//! See `cni_examples::demo` for what it does and `--help` for the flags.

use std::process::ExitCode;

use cni_examples::demo::{self, DemoOptions, USAGE};
use cni_examples::{multicall, sandbox};

fn main() -> ExitCode {
    // Invoked as the `bridge` plugin by the demo's own container runtime: be the plugin.
    if let Some(code) = multicall::run_plugin_if_invoked() {
        return code;
    }
    let opts = match DemoOptions::parse(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pod-network: {e}");
            return ExitCode::from(2);
        }
    };
    // Still single-threaded: move into a user + network namespace of our own first.
    if let Err(e) = sandbox::enter_private_namespaces() {
        eprintln!("pod-network: {e}");
        return ExitCode::FAILURE;
    }
    match demo::run(&opts, &mut std::io::stdout()) {
        Ok(report) if report.all_good() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("pod-network: some expected connectivity failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pod-network: {e}");
            ExitCode::FAILURE
        }
    }
}
