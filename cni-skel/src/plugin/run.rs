//! Entry points: run a plugin against the process (or an injected) environment and stdio.

use std::io::{Read, Write};
use std::process::ExitCode;

use super::Plugin;
use super::dispatch::{first_stage, handle, second_stage};
use super::logging::init_logging;
use crate::env::CniEnv;

/// The whole `main` of a plugin: sets up logging ([`LOG_ENV`](crate::LOG_ENV),
/// [`LOG_FILE_ENV`](crate::LOG_FILE_ENV)), runs the plugin on a current-thread tokio runtime with
/// the process environment and stdio, and returns the exit code.
///
/// ```no_run
/// # use cni_skel::{Plugin, AddRequest, DelRequest, CheckRequest};
/// # use cni_types::{CniError, CniResult, NoPluginFields};
/// # struct MyPlugin;
/// # #[async_trait::async_trait]
/// # impl Plugin for MyPlugin {
/// #     type Config = NoPluginFields;
/// #     async fn add(&self, r: AddRequest<NoPluginFields>) -> Result<CniResult, CniError> { Ok(cni_types::Result100::default().into()) }
/// #     async fn del(&self, r: DelRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
/// #     async fn check(&self, r: CheckRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
/// # }
/// fn main() -> std::process::ExitCode {
///     cni_skel::main(MyPlugin)
/// }
/// ```
pub fn main<P: Plugin>(plugin: P) -> ExitCode {
    let env = CniEnv::from_process();
    init_logging(&env);
    ExitCode::from(run_with_stdio(&plugin, env))
}

/// Runs the plugin with the process environment and stdio on a new current-thread runtime, and
/// returns the exit status (0 or 1). Does not set up logging and does not exit.
pub fn run<P: Plugin>(plugin: &P) -> u8 {
    run_with_stdio(plugin, CniEnv::from_process())
}

/// [`run`] with the environment already read (so [`main`] reads it once).
fn run_with_stdio<P: Plugin>(plugin: &P, env: CniEnv) -> u8 {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    run_with(plugin, env, &mut stdin, &mut stdout, &mut stderr)
}

/// Runs the plugin in-process with an injected environment and stdio, on a new current-thread
/// tokio runtime; returns the exit status (0 or 1). This is how tests drive a plugin.
///
/// The runtime is started only for a call of the plugin: VERSION, the about text and errors in
/// the environment or the config are answered without one.
///
/// ```
/// # use cni_skel::{Plugin, AddRequest, DelRequest, CheckRequest, CniEnv};
/// # use cni_types::{CniError, CniResult, NoPluginFields};
/// # struct Noop;
/// # #[async_trait::async_trait]
/// # impl Plugin for Noop {
/// #     type Config = NoPluginFields;
/// #     async fn add(&self, r: AddRequest<NoPluginFields>) -> Result<CniResult, CniError> {
/// #         Ok(r.config.prev_result()?.unwrap_or_else(|| cni_types::Result100::default().into()))
/// #     }
/// #     async fn del(&self, r: DelRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
/// #     async fn check(&self, r: CheckRequest<NoPluginFields>) -> Result<(), CniError> { Ok(()) }
/// # }
/// let env = CniEnv::from_vars([("CNI_COMMAND", "VERSION")]);
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let status = cni_skel::run_with(&Noop, env, &mut &b""[..], &mut out, &mut err);
/// assert_eq!(status, 0);
/// assert!(String::from_utf8(out)?.contains("\"supportedVersions\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_with<P: Plugin>(
    plugin: &P,
    env: CniEnv,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    // VERSION, the about text and protocol errors are answered without starting a runtime.
    let call = match first_stage(plugin, &env, stdin) {
        Ok(call) => call,
        Err(outcome) => return write_outcome(&outcome, stdout, stderr),
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        // The output is written before the runtime is dropped (which waits for its threads).
        Ok(rt) => {
            let outcome = rt.block_on(second_stage(plugin, env, call));
            write_outcome(&outcome, stdout, stderr)
        }
        Err(e) => {
            let outcome = super::Outcome {
                result: Err(cni_types::CniError::internal(format!(
                    "failed to start the async runtime: {e}"
                ))),
                version: cni_types::Version::CURRENT,
            };
            write_outcome(&outcome, stdout, stderr)
        }
    }
}

/// Like [`run_with`] on a runtime the caller provides.
pub fn run_in<P: Plugin>(
    runtime: &tokio::runtime::Runtime,
    plugin: &P,
    env: CniEnv,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let outcome = runtime.block_on(handle(plugin, &env, stdin));
    write_outcome(&outcome, stdout, stderr)
}

/// Prints the outcome and returns the exit status (1 if printing failed).
fn write_outcome(outcome: &super::Outcome, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
    if let Err(e) = outcome.write_to(stdout, stderr) {
        tracing::error!(error = %e, "failed to write the plugin's output");
        return 1;
    }
    outcome.exit_status()
}
