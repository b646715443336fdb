//! Entry points: run a plugin against the process (or an injected) environment and stdio.

use std::any::Any;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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
    ExitCode::from(main_status(plugin))
}

/// [`main`] for a binary that skips the Rust runtime's start-up (`#![no_main]`, a C `main` of
/// its own): ignores `SIGPIPE` and makes sure descriptors 0 to 2 are open, as the standard
/// library does before `main`, then runs the plugin and returns the exit status.
///
/// What it leaves out of the standard library's start is the stack-overflow handler (an
/// alternate signal stack and two signal handlers, for the process and again for each thread it
/// starts): seven system calls and a few page faults at start and three more per thread, about
/// 0.03-0.05 ms of a bridge ADD on the 2-core test machine. A stack overflow then ends the
/// process with `SIGSEGV` instead of a message. With musl, `std::env::args` is then empty (a
/// CNI plugin takes its input from the environment and stdin).
///
/// ```no_run
/// // src/main.rs of a plugin binary
/// #![no_main]
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
///
/// #[unsafe(no_mangle)]
/// extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
///     cni_skel::c_main(MyPlugin)
/// }
/// ```
pub fn c_main<P: Plugin>(plugin: P) -> std::ffi::c_int {
    // SAFETY: installs SIG_IGN, no handler code, as the standard library does for SIGPIPE
    // before `main`: writes to a closed pipe then fail with EPIPE instead of ending the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    open_standard_fds();
    std::ffi::c_int::from(main_status(plugin))
}

/// Opens `/dev/null` on any of descriptors 0 to 2 that is closed (one `poll` when all are
/// open), as the standard library does before `main`: a socket opened later must not become the
/// plugin's stdout.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the duration of the call; a zero
    // timeout does not block.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled == -1 {
        return;
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a NUL-terminated path; the new descriptor is the lowest free one, which is
        // the closed standard descriptor (lower ones are open or were opened in this loop).
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd && fd >= 0 {
            // SAFETY: closes only the descriptor this function just opened.
            unsafe { libc::close(fd) };
        }
    }
}

/// [`main`]'s work, returning the exit status (0 or 1).
fn main_status<P: Plugin>(plugin: P) -> u8 {
    ONE_SHOT.store(true, Ordering::Relaxed);
    let env = CniEnv::from_process();
    init_logging(&env);
    run_with_stdio(&plugin, env)
}

/// Set by [`main`]: this process answers one call and exits right after printing.
static ONE_SHOT: AtomicBool = AtomicBool::new(false);

/// What [`keep_until_exit`] keeps.
static KEPT: Mutex<Vec<Box<dyn Any + Send>>> = Mutex::new(Vec::new());

/// Keeps `value` until the process exits, when the plugin runs through [`main`] or [`c_main`]
/// (one call per process, which exits once the answer is printed); anywhere else ([`run_with`],
/// [`handle`], tests) it is dropped here and now.
///
/// For things whose teardown is work the exit makes pointless and that would otherwise run
/// while the answer is still being made: a helper thread that would end (unmapping its stack
/// interrupts the other threads' CPUs to flush their TLBs), sockets to close. The kernel
/// releases them all at exit anyway. Only for what needs no teardown of its own: nothing kept
/// is ever dropped, so a value's `Drop` does not run.
///
/// ```
/// // A thread parked for the rest of the call: in a test it ends now.
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// std::thread::spawn(move || while rx.recv().is_ok() {});
/// cni_skel::keep_until_exit(tx);
/// ```
pub fn keep_until_exit<T: Send + 'static>(value: T) {
    if !ONE_SHOT.load(Ordering::Relaxed) {
        return;
    }
    if let Ok(mut kept) = KEPT.lock() {
        kept.push(Box::new(value));
    }
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
        // Through `main` or `c_main` it is not dropped at all: the process exits right after,
        // and the kernel closes its sockets and frees its memory anyway (dropping it took a
        // bridge ADD 27 us: its tasks, their buffers, a dozen close and epoll_ctl calls).
        Ok(rt) => {
            let outcome = rt.block_on(second_stage(plugin, env, call));
            let status = write_outcome(&outcome, stdout, stderr);
            keep_until_exit(rt);
            status
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Outside `main` (here: a test process), nothing is kept: the value is dropped at once.
    #[test]
    fn keep_until_exit_drops_at_once_outside_main() {
        let dropped = Arc::new(AtomicBool::new(false));
        super::keep_until_exit(Flag(dropped.clone()));
        assert!(dropped.load(Ordering::SeqCst));
        assert!(super::KEPT.lock().map(|k| k.is_empty()).unwrap_or(false));
    }
}
