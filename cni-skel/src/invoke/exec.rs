//! Executing one plugin binary: environment, stdin, captured stdout/stderr, exit status.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cni_types::CniError;

use crate::error::SkelError;

/// How often a spawn that fails with "text file busy" is tried in all (the binary was being
/// written a moment ago, e.g. by a package upgrade or a concurrent test).
const SPAWN_ATTEMPTS: u32 = 7;
/// First backoff after a "text file busy" spawn failure; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Runs the plugin at `path` with exactly the environment `env`, feeding `stdin`, and returns its
/// stdout on success (exit status 0).
///
/// What the plugin wrote to stderr is copied to this process's stderr on success, as libcni does.
/// On a non-zero exit the outcome is, from the most to the least informative:
/// - the plugin printed an error JSON: [`SkelError::Plugin`] carrying that error as-is (its code,
///   message and details are kept);
/// - it printed something else: [`SkelError::PluginBadOutput`] quoting it;
/// - it printed nothing on stdout: [`SkelError::PluginCrashed`] quoting its stderr and exit status.
///
/// The plugin is fed and waited for by a thread of its own (the async runtime needs no process
/// or signal driver for it). The child is killed if the returned future is dropped, so wrapping
/// a call in `tokio::time::timeout` bounds a hanging plugin.
pub async fn exec_plugin(
    path: &Path,
    stdin: &[u8],
    env: &[(String, String)],
) -> Result<Vec<u8>, SkelError> {
    let output = run_to_completion(path, stdin, env).await?;
    if output.status.success() {
        if !output.stderr.is_empty() {
            // Informational only; a closed stderr is not worth failing the call for.
            let _ = std::io::stderr().write_all(&output.stderr);
        }
        return Ok(output.stdout);
    }
    Err(failure(path, &output))
}

async fn run_to_completion(
    path: &Path,
    stdin: &[u8],
    env: &[(String, String)],
) -> Result<std::process::Output, SkelError> {
    let spawn_error = |source| SkelError::Spawn {
        path: path.to_path_buf(),
        source,
    };
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    let mut child = loop {
        let spawned = Command::new(path)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => break child,
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempt < SPAWN_ATTEMPTS => {
                tracing::debug!(plugin = %path.display(), attempt, "text file busy, retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(source) => return Err(spawn_error(source)),
        }
    };
    // Killed if this future is dropped before the child is done (e.g. by a timeout around it).
    let mut guard = KillOnDrop::new(child.id());
    let (done, output) = tokio::sync::oneshot::channel();
    let pipe = child.stdin.take();
    let input = stdin.to_vec();
    let reaped = guard.reaped.clone();
    let waiter = std::thread::Builder::new()
        .name("cni-exec".into())
        .spawn(move || {
            // A plugin may exit without reading its stdin (VERSION does): a broken pipe is fine.
            // The input is written by a thread of its own unless the pipe surely takes all of it
            // at once, so that a plugin that writes before it has read everything cannot block
            // on a full stdout while this thread blocks on a full stdin.
            let feeder = pipe.and_then(|mut pipe| {
                if input.len() <= PIPE_SURELY_TAKES {
                    let _ = pipe.write_all(&input);
                    None
                } else {
                    std::thread::Builder::new()
                        .name("cni-exec-stdin".into())
                        .spawn(move || drop(pipe.write_all(&input)))
                        .ok()
                }
            });
            let output = child.wait_with_output();
            reaped.store(true, Ordering::SeqCst);
            if let Some(feeder) = feeder {
                let _ = feeder.join();
            }
            let _ = done.send(output);
        });
    if let Err(source) = waiter {
        return Err(spawn_error(source));
    }
    let output = output.await.map_err(|_| {
        spawn_error(std::io::Error::other(
            "the thread waiting for the plugin ended without its outcome",
        ))
    })?;
    guard.disarm();
    output.map_err(spawn_error)
}

/// What a pipe takes without a reader, whatever its configured size: one page.
const PIPE_SURELY_TAKES: usize = 4096;

/// Kills the child when dropped armed: a plugin whose call is abandoned (its future dropped) does
/// not run on. Through a pidfd, so that a process id reused after the child was reaped is never
/// signalled; without pidfds (Linux before 5.3) by process id, unless the waiting thread has
/// reaped the child (an id is only reused after `pid_max` other processes).
struct KillOnDrop {
    pid: libc::pid_t,
    /// `pidfd_open` of the child, if the kernel has it.
    pidfd: Option<OwnedFd>,
    /// Set by the waiting thread once the child is reaped.
    reaped: Arc<AtomicBool>,
    armed: bool,
}

impl KillOnDrop {
    fn new(pid: u32) -> KillOnDrop {
        let pid = libc::pid_t::try_from(pid).unwrap_or(0);
        // SAFETY: pidfd_open takes a process id and flags, no pointers; the result is checked.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = std::os::fd::RawFd::try_from(fd)
            .ok()
            .filter(|&fd| fd >= 0)
            // SAFETY: a new descriptor that nothing else owns.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        KillOnDrop {
            pid,
            pidfd,
            reaped: Arc::new(AtomicBool::new(false)),
            armed: pid > 0,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match &self.pidfd {
            // SAFETY: a valid pidfd, SIGKILL, no siginfo, no flags.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            },
            // SAFETY: kill takes a process id and a signal number.
            None if !self.reaped.load(Ordering::SeqCst) => unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            },
            None => {}
        }
    }
}

fn failure(path: &Path, output: &std::process::Output) -> SkelError {
    let plugin = path.to_path_buf();
    let status = output.status.to_string();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if stdout.is_empty() {
        return SkelError::PluginCrashed {
            plugin,
            status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        };
    }
    match serde_json::from_slice::<CniError>(&output.stdout) {
        Ok(error) => SkelError::Plugin { plugin, error },
        Err(e) => SkelError::PluginBadOutput {
            plugin,
            status,
            stdout,
            reason: e.to_string(),
        },
    }
}
