//! One plugin call through the CNI exec protocol: the plugin process started with the `CNI_*`
//! environment and the config on stdin, its stdout read, and the process reaped with `wait4(2)`
//! so its resource usage (peak RSS, CPU time) comes back with its exit status.
//!
//! The plugin is started by a small helper process: this executable re-invoked as
//! [`EXEC_HELPER`] ([`run_exec_helper_if_invoked`]), which `fork`s, execs the plugin, times it
//! from the fork to `wait4` and reports the plugin's rusage on its stderr. Why not spawn the
//! plugin directly: `ru_maxrss` is the high-water mark of the child's address spaces, and
//! `execve` counts the one it replaces; a child spawned directly from the benchmark (vfork or
//! fork) would start from the benchmark's own address space, tens of MiB, and report that. The
//! helper's forked copy holds only the helper's few private pages, so the figure is the
//! plugin's own (the method's floor, `/bin/true` run this way, is printed with the results).
//!
//! `ru_maxrss` counts every page the process had mapped, including the pages of its executable
//! file, which the page cache shares with every other process running it. What a call costs on
//! its own is its anonymous memory (heap, stacks, copied-on-write data): with
//! [`CallOptions::anon_at_exit`] the helper traces the plugin (`ptrace`, stopping it only when it
//! exits) and reads `Anonymous` from `/proc/<pid>/smaps_rollup` at that last moment, before the
//! kernel frees it. The stops cost time, so the benchmark measures this in a pass of its own.
//!
//! The caller's thread must already be in the node namespace: the helper and the plugin
//! inherit it.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

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
    /// From the plugin's `execve` to the return of `wait4`.
    pub(crate) elapsed: Duration,
    /// From just before the spawn (a fork) to the plugin's `execve`: the measuring method's
    /// own part, which `elapsed` leaves out.
    pub(crate) spawn: Duration,
    /// Peak resident set of the plugin process, or of the largest process it waited for (the Go
    /// bridge's `host-local`, `iptables`): `ru_maxrss` of `wait4`, in KiB.
    pub(crate) max_rss_kib: u64,
    /// User + system CPU time of the plugin and every process it waited for.
    pub(crate) cpu: Duration,
    /// Anonymous memory of the plugin process when it exited, KiB (only with
    /// [`CallOptions::anon_at_exit`]; threads' stacks already freed are not in it).
    pub(crate) anon_kib: Option<u64>,
    /// What the plugin printed (its result, or its CNI error).
    pub(crate) stdout: Vec<u8>,
    /// Why the call failed (a non-zero exit, with what the plugin printed), if it did.
    pub(crate) failure: Option<String>,
}

/// The name this executable answers to as the exec helper.
pub const EXEC_HELPER: &str = "cni-bench-exec";

/// The helper's first argument when it is to report the plugin's anonymous memory at exit.
const ANON_AT_EXIT_FLAG: &str = "--anon-at-exit";

/// How one call is observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// Trace the plugin to read its anonymous memory when it exits (slower: not for timing).
    pub(crate) anon_at_exit: bool,
}

/// Runs `program args...` once through `helper` (see the module docs) and waits for it. A
/// program that exits non-zero is reported in [`Exited::failure`]; an `Err` means the call could
/// not be made or observed at all.
pub(crate) fn call(
    helper: &Path,
    program: &Path,
    args: &[&OsStr],
    env: &CallEnv<'_>,
    stdin: &[u8],
) -> Result<Exited> {
    call_with(helper, program, args, env, stdin, CallOptions::default())
}

/// [`call`], observed as `opts` says.
pub(crate) fn call_with(
    helper: &Path,
    program: &Path,
    args: &[&OsStr],
    env: &CallEnv<'_>,
    stdin: &[u8],
    opts: CallOptions,
) -> Result<Exited> {
    let mut cmd = Command::new(helper);
    if opts.anon_at_exit {
        cmd.arg(ANON_AT_EXIT_FLAG);
    }
    let mut child = cmd
        .arg(program)
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
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("starting {}", helper.display())))?;
    // The plugin reads all of stdin before it writes anything, and a config is far smaller
    // than a pipe buffer: writing first, then reading, cannot deadlock. The helper writes one
    // short line to stderr, so reading stdout to its end before stderr cannot block either.
    let fed = match child.stdin.take() {
        Some(mut input) => input.write_all(stdin),
        None => Ok(()),
    };
    let mut stdout = Vec::new();
    let read = match child.stdout.take() {
        Some(mut output) => output.read_to_end(&mut stdout).map(drop),
        None => Ok(()),
    };
    let mut report = String::new();
    let read_report = match child.stderr.take() {
        Some(mut err) => err.read_to_string(&mut report).map(drop),
        None => Ok(()),
    };
    let status = child
        .wait()
        .map_err(Error::io(format!("waiting for {}", helper.display())))?;
    // A plugin may exit without reading its stdin (ours does for VERSION): not an error.
    if let Err(e) = fed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Error::io(format!(
            "writing the config to {}",
            program.display()
        ))(e));
    }
    read.map_err(Error::io(format!("reading {}'s output", program.display())))?;
    read_report.map_err(Error::io("reading the exec helper's report"))?;
    let r = Report::parse(&report).ok_or_else(|| {
        Error::Verification(format!(
            "{} {}: the exec helper ({status}) reported {:?}",
            program.display(),
            env.command,
            report.trim()
        ))
    })?;
    let failure = (r.exit != Some(0)).then(|| {
        format!(
            "{} {} of {} failed ({}): {}",
            program.display(),
            env.command,
            env.container_id,
            match (r.exit, r.signal) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "no exit status".into(),
            },
            String::from_utf8_lossy(&stdout).trim()
        )
    });
    if opts.anon_at_exit && r.anon_kib.is_none() {
        return Err(Error::Verification(format!(
            "{} {}: the exec helper could not read the plugin's memory at exit",
            program.display(),
            env.command
        )));
    }
    Ok(Exited {
        elapsed: r.elapsed,
        spawn: r.spawn,
        max_rss_kib: r.max_rss_kib,
        cpu: r.cpu,
        anon_kib: r.anon_kib,
        stdout,
        failure,
    })
}

/// What the helper reports on one line of its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    elapsed: Duration,
    /// From the fork to the child's execve (the measuring method's own part, not timed).
    spawn: Duration,
    max_rss_kib: u64,
    cpu: Duration,
    anon_kib: Option<u64>,
    exit: Option<i32>,
    signal: Option<i32>,
}

impl Report {
    fn parse(line: &str) -> Option<Report> {
        let mut r = Report {
            elapsed: Duration::ZERO,
            spawn: Duration::ZERO,
            max_rss_kib: 0,
            cpu: Duration::ZERO,
            anon_kib: None,
            exit: None,
            signal: None,
        };
        let mut seen = 0;
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "elapsed_ns" => r.elapsed = Duration::from_nanos(value.parse().ok()?),
                "spawn_ns" => {
                    r.spawn = Duration::from_nanos(value.parse().ok()?);
                    continue;
                }
                "maxrss_kib" => r.max_rss_kib = value.parse().ok()?,
                "cpu_us" => r.cpu = Duration::from_micros(value.parse().ok()?),
                "anon_kib" => r.anon_kib = Some(value.parse().ok()?),
                "exit" => r.exit = Some(value.parse().ok()?),
                "signal" => r.signal = Some(value.parse().ok()?),
                _ => return None,
            }
            seen += 1;
        }
        (seen >= 4).then_some(r)
    }

    fn line(&self) -> String {
        let status = match (self.exit, self.signal) {
            (Some(code), _) => format!("exit={code}"),
            (None, Some(sig)) => format!("signal={sig}"),
            (None, None) => "signal=0".into(),
        };
        let anon = self
            .anon_kib
            .map(|k| format!(" anon_kib={k}"))
            .unwrap_or_default();
        format!(
            "elapsed_ns={} spawn_ns={} maxrss_kib={} cpu_us={}{anon} {status}",
            self.elapsed.as_nanos(),
            self.spawn.as_nanos(),
            self.max_rss_kib,
            self.cpu.as_micros()
        )
    }
}

/// When this executable was started as [`EXEC_HELPER`]: runs `argv[1..]` as described in the
/// module docs, prints the report line on stderr and returns the exit code (0 when the program
/// could be run and reaped, whatever its own status; 127 otherwise). Otherwise `None`.
///
/// Call it first thing in `main`, before anything else grows the address space.
pub fn run_exec_helper_if_invoked() -> Option<ExitCode> {
    (crate::multicall::invoked_as().as_deref() == Some(EXEC_HELPER)).then(helper_main)
}

fn helper_main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let anon_at_exit = args.next_if(|a| a == ANON_AT_EXIT_FLAG).is_some();
    let Some(program) = args.next() else {
        eprintln!("{EXEC_HELPER}: no program to run");
        return ExitCode::from(127);
    };
    let mut cmd = Command::new(&program);
    cmd.args(args).stderr(Stdio::null());
    if anon_at_exit {
        // SAFETY: ptrace(PTRACE_TRACEME) is a single async-signal-safe system call. The child
        // then stops at its execve, where the helper sets the options below.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // The call is timed from the child's execve, not from the fork: the fork copies this
    // helper's address space (and execve then drops the copy), work of the measuring method
    // that a runtime, which starts plugins with vfork or posix_spawn, does not do.
    let stamp = match ExecStamp::new() {
        Ok(stamp) => stamp,
        Err(e) => {
            eprintln!("{EXEC_HELPER}: {e}");
            return ExitCode::from(127);
        }
    };
    let at = stamp.at();
    // SAFETY: the hook makes one clock_gettime call (async-signal-safe) into the shared page,
    // which stays mapped in the child. Any pre_exec hook makes the standard library fork()
    // instead of vfork(): the child then starts from a copy holding only this small helper's
    // private pages, which is what the plugin's ru_maxrss builds on.
    unsafe {
        cmd.pre_exec(move || {
            at.write_now();
            Ok(())
        });
    }
    let start = monotonic();
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("{EXEC_HELPER}: starting {}: {e}", program.to_string_lossy());
            return ExitCode::from(127);
        }
    };
    let reaped = if anon_at_exit {
        reap_traced(child.id())
    } else {
        wait4(child.id()).map(|(status, usage)| (status, usage, None))
    };
    match reaped {
        Ok((status, usage, anon_kib)) => {
            let end = monotonic();
            // Zero when the child never got to its execve (then timed from the fork).
            let exec = Some(stamp.at().read())
                .filter(|t| !t.is_zero())
                .unwrap_or(start);
            let report = Report {
                elapsed: end.saturating_sub(exec),
                spawn: exec.saturating_sub(start),
                max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or_default(),
                cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
                anon_kib,
                exit: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            };
            eprintln!("{}", report.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{EXEC_HELPER}: {e}");
            ExitCode::from(127)
        }
    }
}

/// Follows a child started with `PTRACE_TRACEME` to its end: at its exec stop, asks for a stop
/// when it exits (and for its death should the helper die); passes every signal on; at the exit
/// stop reads its anonymous memory. Returns the final status, rusage and that figure.
fn reap_traced(pid: u32) -> Result<(libc::c_int, libc::rusage, Option<u64>)> {
    let id = libc::pid_t::try_from(pid)
        .map_err(|_| Error::Verification(format!("process id {pid} out of range")))?;
    let mut anon = None;
    loop {
        let (status, usage) = wait4(pid)?;
        if !libc::WIFSTOPPED(status) {
            return Ok((status, usage, anon));
        }
        let mut deliver = 0;
        match (libc::WSTOPSIG(status), status >> 16) {
            // The stop after execve, before the plugin's first instruction.
            (libc::SIGTRAP, 0) if anon.is_none() => {
                let options = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
                // SAFETY: PTRACE_SETOPTIONS on our own stopped tracee; no memory is passed.
                let r = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, id, 0, options) };
                if r == -1 {
                    return Err(Error::io("ptrace(PTRACE_SETOPTIONS)")(
                        std::io::Error::last_os_error(),
                    ));
                }
            }
            // Exiting: the address space is still there.
            (libc::SIGTRAP, libc::PTRACE_EVENT_EXIT) => {
                anon = Some(anonymous_kib(pid)?);
            }
            // A signal for the plugin (SIGCHLD, the Go runtime's SIGURG...): deliver it.
            (sig, 0) => deliver = sig,
            _ => {}
        }
        // SAFETY: PTRACE_CONT of our own stopped tracee, with a signal number or 0.
        let r = unsafe { libc::ptrace(libc::PTRACE_CONT, id, 0, deliver) };
        if r == -1 {
            return Err(Error::io("ptrace(PTRACE_CONT)")(
                std::io::Error::last_os_error(),
            ));
        }
    }
}

/// `Anonymous:` of `/proc/<pid>/smaps_rollup`, KiB.
fn anonymous_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Error::Verification(format!("{path} has no Anonymous line")))
}

/// `CLOCK_MONOTONIC` now, as a duration since the clock's start (comparable across processes).
fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    timespec(ts)
}

fn timespec(ts: libc::timespec) -> Duration {
    let secs = u64::try_from(ts.tv_sec).unwrap_or_default();
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or_default();
    Duration::new(secs, nanos)
}

/// A page shared with the forked child (`MAP_SHARED`, so the child's write is seen here), into
/// which the child writes the time just before its `execve`.
struct ExecStamp {
    page: *mut libc::c_void,
}

/// Where an [`ExecStamp`] is, for the child's hook (a plain address: the hook must be `Send`).
#[derive(Clone, Copy)]
struct StampAt(usize);

impl ExecStamp {
    fn new() -> std::result::Result<ExecStamp, String> {
        let len = std::mem::size_of::<libc::timespec>();
        // SAFETY: an anonymous shared mapping of one timespec; the result is checked.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(format!(
                "mapping a shared page: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(ExecStamp { page })
    }

    fn at(&self) -> StampAt {
        StampAt(self.page as usize)
    }
}

impl Drop for ExecStamp {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.page, std::mem::size_of::<libc::timespec>()) };
    }
}

impl StampAt {
    /// Writes `CLOCK_MONOTONIC` now into the page (async-signal-safe: one system call).
    fn write_now(self) {
        // SAFETY: the address is the live, writable, page-aligned mapping of an ExecStamp
        // (zero-filled when made), large enough for a timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, self.0 as *mut libc::timespec) };
    }

    /// The time the child wrote; zero if it wrote none.
    fn read(self) -> Duration {
        // SAFETY: as in `write_now`; volatile, since the write came from another process.
        timespec(unsafe { std::ptr::read_volatile(self.0 as *const libc::timespec) })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        let r = Report {
            elapsed: Duration::from_nanos(1_234_567),
            spawn: Duration::from_nanos(89_000),
            max_rss_kib: 4321,
            cpu: Duration::from_micros(987),
            anon_kib: None,
            exit: Some(1),
            signal: None,
        };
        assert_eq!(Report::parse(&r.line()), Some(r.clone()));
        let traced = Report {
            anon_kib: Some(312),
            ..r
        };
        assert_eq!(Report::parse(&traced.line()), Some(traced));
        let killed = Report::parse("elapsed_ns=5 maxrss_kib=6 cpu_us=7 signal=9\n");
        assert_eq!(killed.map(|k| (k.exit, k.signal)), Some((None, Some(9))));
    }

    /// The child's hook writes the time of its execve into the shared page, between the
    /// fork and the reaping as the parent sees them.
    #[test]
    fn the_exec_stamp_comes_from_the_child() -> std::result::Result<(), String> {
        let stamp = ExecStamp::new()?;
        let at = stamp.at();
        let mut cmd = Command::new("/bin/true");
        // SAFETY: as in `helper_main`: one clock_gettime into the shared page.
        unsafe {
            cmd.pre_exec(move || {
                at.write_now();
                Ok(())
            });
        }
        let before = monotonic();
        let status = cmd.status().map_err(|e| e.to_string())?;
        let after = monotonic();
        assert!(status.success());
        let exec = stamp.at().read();
        assert!(
            before <= exec && exec <= after,
            "{before:?} {exec:?} {after:?}"
        );
        Ok(())
    }

    #[test]
    fn anything_else_is_not_a_report() {
        for bad in [
            "",
            "cni-bench-exec: starting x: No such file",
            "elapsed_ns=1 maxrss_kib=2",
            "elapsed_ns=x maxrss_kib=2 cpu_us=3 exit=0",
            "elapsed_ns=1 maxrss_kib=2 cpu_us=3 exit=0 extra=1",
        ] {
            assert_eq!(Report::parse(bad), None, "{bad:?}");
        }
    }
}
