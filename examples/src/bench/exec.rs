//! One plugin call through the CNI exec protocol: the plugin process started with the `CNI_*`
//! environment and the config on stdin, its stdout read, and the process reaped with `wait4(2)`
//! so its resource usage (peak RSS, CPU time) comes back with its exit status.
//!
//! The plugin is started by a small helper process. Why not spawn it directly: `ru_maxrss` is
//! the high-water mark of the child's address spaces, and `execve` counts the one it replaces;
//! a child spawned directly from the benchmark (vfork or fork) would start from the
//! benchmark's own address space, tens of MiB, and report that. A helper's forked copy holds
//! only the helper's few private pages, so the figure is the plugin's own (the method's floor,
//! `/bin/true` run this way, is printed with the results).
//!
//! The helper is this executable started once per node namespace as [`EXEC_HELPER`]
//! ([`run_exec_helper_if_invoked`]): a [`Launcher`]. For every call the benchmark sends it one
//! message on a Unix socket with the program, its arguments and environment, and the call's
//! three pipe ends (`SCM_RIGHTS`); the helper `fork`s a copy of itself for the call, which
//! `fork`s again, execs the plugin, times it from its `execve` to `wait4` and writes the
//! plugin's rusage on the call's stderr pipe. A copy of an already running helper costs a
//! fork; until session 8 a new helper was executed for every call, which cost more CPU than
//! our plugin's own ADD (the benchmark's executable is large and dynamically linked) and, with
//! several calls at once on two cores, bounded every variant's pods per second.
//!
//! `ru_maxrss` counts every page the process had mapped, including the pages of its executable
//! file, which the page cache shares with every other process running it. What a call costs on
//! its own is its anonymous memory (heap, stacks, copied-on-write data): with
//! [`CallOptions::anon_at_exit`] the helper traces the plugin (`ptrace`, stopping it only when it
//! exits) and reads `Anonymous` from `/proc/<pid>/smaps_rollup` at that last moment, before the
//! kernel frees it. The stops cost time, so the benchmark measures this in a pass of its own.
//!
//! A [`Launcher`] must be started on a thread in the node namespace: its helper and the
//! plugins inherit it.

use std::ffi::{OsStr, OsString};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

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

/// How one call is observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// Trace the plugin to read its anonymous memory when it exits (slower: not for timing).
    pub(crate) anon_at_exit: bool,
}

/// The largest request a [`Launcher`] takes (program, arguments and environment).
const MAX_REQUEST: usize = 64 * 1024;

/// The helper's first argument when it is to run as a [`Launcher`]'s server.
const SERVE_FLAG: &str = "--serve";

/// A running exec helper in one network namespace (see the module docs), shared by every
/// thread that makes calls there. Dropping it ends the helper.
#[derive(Debug)]
pub(crate) struct Launcher {
    /// The benchmark's end of the `SOCK_SEQPACKET` pair (one message per call).
    socket: OwnedFd,
    helper: Child,
}

impl Launcher {
    /// Starts `helper` (this executable under the name [`EXEC_HELPER`]) as a server in the
    /// calling thread's network namespace.
    pub(crate) fn start(helper: &Path) -> Result<Launcher> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::io("making the exec helper's socket")(e.into()))?;
        let helper = Command::new(helper)
            .arg(SERVE_FLAG)
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(Error::io(format!("starting {}", helper.display())))?;
        Ok(Launcher {
            socket: ours,
            helper,
        })
    }

    /// Runs `program args...` once (see the module docs), observed as `opts` says, and waits
    /// for it. A program that exits non-zero is reported in [`Exited::failure`]; an `Err` means
    /// the call could not be made or observed at all.
    pub(crate) fn call(
        &self,
        program: &Path,
        args: &[&OsStr],
        env: &CallEnv<'_>,
        stdin: &[u8],
        opts: CallOptions,
    ) -> Result<Exited> {
        let pipe = || std::io::pipe().map_err(Error::io("making a pipe for a plugin call"));
        let (in_read, mut in_write) = pipe()?;
        let (mut out_read, out_write) = pipe()?;
        let (mut err_read, err_write) = pipe()?;
        let request = Request {
            anon_at_exit: opts.anon_at_exit,
            program: program.as_os_str().to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env.vars(),
        }
        .encode();
        let fds = [
            in_read.as_raw_fd(),
            out_write.as_raw_fd(),
            err_write.as_raw_fd(),
        ];
        sendmsg::<()>(
            self.socket.as_raw_fd(),
            &[IoSlice::new(&request)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::io("handing a call to the exec helper")(e.into()))?;
        // The helper's copy has them now; ours must go, or the reads below never see the end.
        drop((in_read, out_write, err_write));
        // The plugin reads all of stdin before it writes anything, and a config is far smaller
        // than a pipe buffer: writing first, then reading, cannot deadlock. The helper writes
        // one short line to stderr, so reading stdout to its end before stderr cannot block
        // either.
        let fed = in_write.write_all(stdin);
        drop(in_write);
        let mut stdout = Vec::new();
        let read = out_read.read_to_end(&mut stdout);
        let mut report = String::new();
        let read_report = err_read.read_to_string(&mut report);
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
                "{} {}: the exec helper reported {:?}",
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
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // The helper ends when it reads the end of its socket; every call made through it has
        // already returned, so none of its copies is still at work.
        let _ =
            nix::sys::socket::shutdown(self.socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = self.helper.wait();
    }
}

impl CallEnv<'_> {
    /// The plugin's whole environment.
    fn vars(&self) -> Vec<(OsString, OsString)> {
        [
            ("PATH", OsStr::new(PLUGIN_PATH)),
            ("CNI_COMMAND", OsStr::new(self.command)),
            ("CNI_CONTAINERID", OsStr::new(self.container_id)),
            ("CNI_NETNS", self.netns.as_os_str()),
            ("CNI_IFNAME", OsStr::new(self.ifname)),
            ("CNI_PATH", self.cni_path.as_os_str()),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), v.to_owned()))
        .collect()
    }
}

/// One call as the benchmark hands it to the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    anon_at_exit: bool,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Request {
    /// NUL-separated fields (none can hold a NUL: they become C strings): the flag, the
    /// program, the number of arguments, the arguments, then `NAME=value` per variable.
    fn encode(&self) -> Vec<u8> {
        let mut fields: Vec<Vec<u8>> = vec![
            if self.anon_at_exit {
                b"anon".to_vec()
            } else {
                Vec::new()
            },
            self.program.as_bytes().to_vec(),
            self.args.len().to_string().into_bytes(),
        ];
        fields.extend(self.args.iter().map(|a| a.as_bytes().to_vec()));
        fields.extend(self.env.iter().map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        }));
        fields.join(&0u8)
    }

    fn decode(bytes: &[u8]) -> Option<Request> {
        let mut fields = bytes.split(|&b| b == 0);
        let flag = fields.next()?;
        let program = fields.next()?;
        let argc: usize = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
        let mut args = Vec::with_capacity(argc.min(64));
        for _ in 0..argc {
            args.push(OsString::from_vec(fields.next()?.to_vec()));
        }
        let env = fields
            .map(|kv| {
                let at = kv.iter().position(|&b| b == b'=')?;
                let (k, v) = kv.split_at(at);
                Some((
                    OsString::from_vec(k.to_vec()),
                    OsString::from_vec(v.get(1..)?.to_vec()),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Request {
            anon_at_exit: flag == b"anon",
            program: OsString::from_vec(program.to_vec()),
            args,
            env,
        })
    }
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

/// When this executable was started as [`EXEC_HELPER`]: serves the benchmark's plugin calls
/// (see the module docs) until the benchmark closes its socket, and returns the exit code.
/// Otherwise `None`.
///
/// Call it first thing in `main`, before anything else grows the address space: every call's
/// plugin starts from a copy of this process.
pub fn run_exec_helper_if_invoked() -> Option<ExitCode> {
    (crate::multicall::invoked_as().as_deref() == Some(EXEC_HELPER)).then(serve)
}

/// The helper's loop: one message per call on its stdin (the socket), each served by a forked
/// copy of this process.
fn serve() -> ExitCode {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(SERVE_FLAG)) {
        eprintln!("{EXEC_HELPER}: started without {SERVE_FLAG}");
        return ExitCode::from(127);
    }
    // The copies are reaped by the kernel; each copy sets this back before it starts a plugin.
    // SAFETY: installs SIG_IGN, no handler code.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let (len, fds) = match receive(0, &mut buf) {
            Ok(Some(got)) => got,
            // The benchmark closed its end: done.
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{EXEC_HELPER}: {e}");
                return ExitCode::from(127);
            }
        };
        // A request that cannot be served is dropped with its pipes: the caller then reads
        // no report and says so.
        let (Some(request), Ok([stdin, stdout, stderr])) = (
            buf.get(..len).and_then(Request::decode),
            <[OwnedFd; 3]>::try_from(fds),
        ) else {
            continue;
        };
        // SAFETY: this process has one thread (the helper starts none), so the copy may go on
        // running ordinary code; it ends with _exit.
        match unsafe { libc::fork() } {
            0 => {
                let code = serve_one(&request, [stdin, stdout, stderr]);
                // SAFETY: ends the copy without running this process's exit handlers.
                unsafe { libc::_exit(code) }
            }
            -1 => eprintln!("{EXEC_HELPER}: fork: {}", std::io::Error::last_os_error()),
            // The copy has the pipes; this process must not keep them open.
            _ => drop((stdin, stdout, stderr)),
        }
    }
}

/// Receives one request and the pipe ends that come with it; `None` at the socket's end.
fn receive(
    fd: RawFd,
    buf: &mut [u8],
) -> std::result::Result<Option<(usize, Vec<OwnedFd>)>, String> {
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) => break msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("receiving a call: {e}")),
        }
    };
    let mut fds = Vec::new();
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: descriptors the kernel has just installed in this process for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    // A truncated request is no request: served as an empty one, which does not decode.
    let len = if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        0
    } else {
        msg.bytes
    };
    Ok(Some((len, fds)))
}

/// One call, in a forked copy of the helper: the call's pipes become its stdin, stdout and
/// stderr; runs the plugin as the module docs say, writes the report line on stderr and
/// returns the copy's exit code (0 when the program could be run and reaped, whatever its own
/// status; 127 otherwise).
fn serve_one(request: &Request, pipes: [OwnedFd; 3]) -> libc::c_int {
    // SAFETY: SIG_DFL again, so that this copy can wait for its child and the plugin starts
    // with the default disposition (an ignored signal stays ignored across execve).
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    for (target, fd) in (0..).zip(&pipes) {
        // SAFETY: dup2 onto 0, 1 and 2 (closing the socket, which was 0) with descriptors this
        // copy owns.
        if unsafe { libc::dup2(fd.as_raw_fd(), target) } == -1 {
            return 127;
        }
    }
    drop(pipes);
    let mut cmd = Command::new(&request.program);
    cmd.args(&request.args)
        .env_clear()
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::null());
    if request.anon_at_exit {
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
            return 127;
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
            eprintln!(
                "{EXEC_HELPER}: starting {}: {e}",
                request.program.to_string_lossy()
            );
            return 127;
        }
    };
    let reaped = if request.anon_at_exit {
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
            0
        }
        Err(e) => {
            eprintln!("{EXEC_HELPER}: {e}");
            127
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
    fn requests_round_trip() {
        let env = CallEnv {
            command: "ADD",
            container_id: "bench-00001",
            netns: Path::new("/run/netns/pod 1"),
            ifname: "eth0",
            cni_path: Path::new("/usr/lib/cni"),
        };
        let r = Request {
            anon_at_exit: true,
            program: OsString::from("/usr/bin/perf"),
            args: vec![
                OsString::from("stat"),
                OsString::from(""),
                OsString::from("a=b"),
            ],
            env: env.vars(),
        };
        assert_eq!(Request::decode(&r.encode()), Some(r.clone()));
        let plain = Request {
            anon_at_exit: false,
            args: Vec::new(),
            ..r
        };
        assert_eq!(Request::decode(&plain.encode()), Some(plain));
        for bad in [
            &b""[..],
            b"anon\0/bin/true",
            b"\0/bin/true\0x",
            b"\0/bin/true\x002\x00a",
        ] {
            assert_eq!(Request::decode(bad), None, "{bad:?}");
        }
        // A variable without '=' is refused.
        assert_eq!(Request::decode(b"\0/bin/true\x000\x00PATH"), None);
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
