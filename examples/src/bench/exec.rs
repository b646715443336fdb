//! One plugin call through the CNI exec protocol: the plugin process started with the `CNI_*`
//! environment and the config on stdin, its stdout read, and the process reaped with `wait4(2)`
//! so its resource usage (peak RSS, CPU time) comes back with its exit status.
//!
//! The caller's thread must already be in the node namespace: the child inherits it, so the
//! process is started without a `pre_exec` hook and the standard library can use its cheap
//! `posix_spawn` path, as a runtime's exec would be cheap.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The `PATH` the plugins get (the Go bridge runs `iptables` from it).
const PLUGIN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallEnv<'a> {
    /// `CNI_COMMAND`.
    pub(crate) command: &'a str,
    /// `CNI_CONTAINERID`.
    pub(crate) container_id: &'a str,
    /// `CNI_NETNS`.
    pub(crate) netns: &'a Path,
    /// `CNI_IFNAME`.
    pub(crate) ifname: &'a str,
    /// `CNI_PATH`.
    pub(crate) cni_path: &'a Path,
}

/// What one finished call measured.
#[derive(Debug, Clone)]
pub(crate) struct Exited {
    /// From just before the spawn to the return of `wait4`.
    pub(crate) elapsed: Duration,
    /// Peak resident set of the plugin process, or of the largest process it waited for (the Go
    /// bridge's `host-local`, `iptables`): `ru_maxrss` of `wait4`, in KiB.
    pub(crate) max_rss_kib: u64,
    /// User + system CPU time of the plugin and every process it waited for.
    pub(crate) cpu: Duration,
    /// What the plugin printed (its result, or its CNI error).
    pub(crate) stdout: Vec<u8>,
}

/// Runs `plugin` (with `args`, e.g. when `plugin` is a wrapper such as valgrind) once and waits
/// for it. A non-zero exit is an error carrying what the plugin printed.
pub(crate) fn call(
    plugin: &Path,
    args: &[&OsStr],
    env: &CallEnv<'_>,
    stdin: &[u8],
) -> Result<Exited> {
    let start = Instant::now();
    let mut child = Command::new(plugin)
        .args(args)
        .env_clear()
        .env("PATH", PLUGIN_PATH)
        .env("CNI_COMMAND", env.command)
        .env("CNI_CONTAINERID", env.container_id)
        .env("CNI_NETNS", env.netns)
        .env("CNI_IFNAME", env.ifname)
        .env("CNI_PATH", env.cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(Error::io(format!("starting {}", plugin.display())))?;
    let pid = child.id();
    // The plugin reads all of stdin before it writes anything, and a config is far smaller
    // than a pipe buffer: writing first, then reading, cannot deadlock.
    let fed = match child.stdin.take() {
        Some(mut input) => input.write_all(stdin),
        None => Ok(()),
    };
    let mut stdout = Vec::new();
    let read = match child.stdout.take() {
        Some(mut output) => output.read_to_end(&mut stdout).map(drop),
        None => Ok(()),
    };
    let (status, usage) = wait4(pid)?;
    let elapsed = start.elapsed();
    fed.map_err(Error::io(format!(
        "writing the config to {}",
        plugin.display()
    )))?;
    read.map_err(Error::io(format!("reading {}'s output", plugin.display())))?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(Error::Verification(format!(
            "{} {} of {} failed (wait status {status:#x}): {}",
            plugin.display(),
            env.command,
            env.container_id,
            String::from_utf8_lossy(&stdout).trim()
        )));
    }
    Ok(Exited {
        elapsed,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or_default(),
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        stdout,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or_default();
    let micros = u64::try_from(t.tv_usec).unwrap_or_default();
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

/// Reaps `pid`, returning its wait status and resource usage. The kernel reports the usage of
/// the process together with the children it waited for (ru_maxrss: the largest of them).
fn wait4(pid: u32) -> Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| Error::Verification(format!("process id {pid} out of range")))?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, writable and live for the call; `pid` is our
        // own child, which nothing else reaps (std's Child never waits on drop).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(format!("waiting for process {pid}"))(err));
        }
    }
}
