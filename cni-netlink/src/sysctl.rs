//! Network sysctls of a namespace, written through `/proc/sys/net` without spawning processes.
//!
//! `/proc/sys/net` shows the network namespace of the task that opens a file under it (the
//! calling *thread*, not the process and not the namespace of whoever mounted `/proc`). So these
//! functions open and write the file on a thread that entered the namespace
//! ([`NetNs::run_blocking`]), or directly when the namespace already is the calling thread's.
//! Only `net.*` keys are accepted: other sysctls are not per-namespace, and writing them would
//! change the whole machine.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::addr::IpFamily;
use crate::error::{Error, Result};
use crate::netns::{NetNs, NsThread};

/// The parts of a sysctl key (dotted or slash form), checked: under `net`, none empty, `.` or
/// `..`.
fn key_parts(key: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = if key.contains('/') {
        key.trim_start_matches('/').split('/').collect()
    } else {
        key.split('.').collect()
    };
    if parts.first() != Some(&"net") || parts.len() < 2 {
        return Err(Error::invalid_input(format!(
            "sysctl {key:?} is not a network (net.*) sysctl"
        )));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(Error::invalid_input(format!(
            "sysctl key {key:?} is malformed"
        )));
    }
    Ok(parts)
}

/// Turns a sysctl key into its `/proc/sys` path. Accepts the dotted form (`net.ipv4.ip_forward`)
/// and the slash form (`net/ipv4/conf/eth0.100/arp_notify`, needed when an interface name
/// contains a dot). Only keys under `net` are accepted.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let mut path = PathBuf::from("/proc/sys");
    path.extend(key_parts(key)?);
    Ok(path)
}

/// The key of a per-interface sysctl: `net/ipv4/conf/<ifname>/<name>` or the `ipv6` one, in slash
/// form so that interface names containing dots work.
pub fn interface_key(family: IpFamily, ifname: &str, name: &str) -> String {
    let fam = match family {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    };
    format!("net/{fam}/conf/{ifname}/{name}")
}

/// The forwarding switch of a family: `net.ipv4.ip_forward` or `net.ipv6.conf.all.forwarding`.
pub fn forwarding_key(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "net/ipv4/ip_forward",
        IpFamily::V6 => "net/ipv6/conf/all/forwarding",
    }
}

fn read_path(path: &PathBuf) -> Result<String> {
    read_file(std::fs::File::open(path), &path.display())
}

/// The value of a sysctl file being opened (`file`), without its trailing newline; `shown` names
/// it in errors.
fn read_file(
    file: std::io::Result<std::fs::File>,
    shown: &dyn std::fmt::Display,
) -> Result<String> {
    let mut bytes = Vec::with_capacity(64);
    file.and_then(|f| read_sysctl(f, &mut bytes))
        .map_err(|e| Error::io(e, format!("reading {shown}")))?;
    let s = String::from_utf8(bytes).map_err(|_| {
        Error::io(
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
            format!("reading {shown}"),
        )
    })?;
    Ok(s.trim_end().to_string())
}

/// Reads a /proc/sys file to its end. Its value comes whole from the first `read` when the
/// buffer is larger (the kernel formats it at once), so a short read ends it without a second
/// `read`; longer values (a few are) are read on until the end.
fn read_sysctl(mut file: std::fs::File, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 256];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                out.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if n < chunk.len() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn write_path(path: &PathBuf, value: &str) -> Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path);
    write_file(file, value, &path.display())
}

/// Writes `value` to a sysctl file being opened (`file`); `shown` names it in errors.
fn write_file(
    file: std::io::Result<std::fs::File>,
    value: &str,
    shown: &dyn std::fmt::Display,
) -> Result<()> {
    file.and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| Error::io(e, format!("writing {value:?} to {shown}")))
}

/// The `net.ipv4.*` and `net.ipv6.*` sysctls of one network namespace, through its
/// `/proc/sys/net/ipv4` and `/proc/sys/net/ipv6` directories, opened once from inside it: then
/// any thread reads and writes them, whatever namespace it is in itself, without entering that
/// one.
///
/// `/proc/sys/net` shows the namespace of the thread that looks into it, but a directory below
/// it, once open, stays that of the namespace it was opened in. Each key is then opened
/// relative to its directory, which also saves it the walk from `/proc/sys`, whose first step
/// (`net`: one entry for every namespace that looked at it) grows with the namespaces on the
/// machine. Cloning the handle shares the directories.
///
/// ```no_run
/// use cni_netlink::{NetNs, sysctl::NetSysctls};
///
/// # fn main() -> cni_netlink::Result<()> {
/// // Opened once inside the pod's namespace (on a short-lived thread)...
/// let pod = NetNs::open("/var/run/netns/pod1")?.sysctls()?;
/// // ...then written from this thread, which stays where it is.
/// pod.set("net/ipv4/conf/eth0/arp_notify", "1")?;
/// assert_eq!(pod.get("net.ipv4.conf.eth0.arp_notify")?, "1");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NetSysctls {
    dirs: Arc<FamilyDirs>,
}

#[derive(Debug)]
struct FamilyDirs {
    v4: OwnedFd,
    /// `None` when the namespace has no IPv6 (the kernel booted with `ipv6.disable=1`).
    v6: Option<OwnedFd>,
}

impl NetSysctls {
    /// Opens the sysctl directories of the calling thread's network namespace.
    ///
    /// Errors: `/proc/sys/net/ipv4` cannot be opened (no `/proc` mounted, for one).
    pub fn open_current() -> Result<NetSysctls> {
        let open = |fam: &str| {
            let path = format!("/proc/sys/net/{fam}");
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|e| Error::io(e, format!("opening {path}")))
        };
        let v4 = open("ipv4")?;
        let v6 = match open("ipv6") {
            Ok(fd) => Some(fd),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(NetSysctls {
            dirs: Arc::new(FamilyDirs { v4, v6 }),
        })
    }

    /// A key's family directory and its path below it.
    fn locate(&self, key: &str) -> Result<(&OwnedFd, String)> {
        let parts = key_parts(key)?;
        let (dir, rest) = match parts.as_slice() {
            [_, "ipv4", rest @ ..] if !rest.is_empty() => (Some(&self.dirs.v4), rest),
            [_, "ipv6", rest @ ..] if !rest.is_empty() => (self.dirs.v6.as_ref(), rest),
            _ => {
                return Err(Error::invalid_input(format!(
                    "sysctl {key:?} is not under net.ipv4 or net.ipv6"
                )));
            }
        };
        let dir = dir
            .ok_or_else(|| Error::NotFound(format!("sysctl {key:?}: the namespace has no IPv6")))?;
        Ok((dir, rest.join("/")))
    }

    fn open(&self, key: &str, flags: OFlag) -> Result<(std::io::Result<std::fs::File>, String)> {
        let (dir, rel) = self.locate(key)?;
        let file = openat(dir, rel.as_str(), flags | OFlag::O_CLOEXEC, Mode::empty())
            .map(std::fs::File::from)
            .map_err(std::io::Error::from);
        Ok((file, format!("net/{rel}")))
    }

    /// Reads a sysctl (trailing newline removed). Keys as for [`sysctl_path`], under
    /// `net.ipv4` or `net.ipv6`.
    ///
    /// Errors: an unknown key (or interface) is [`Error::NotFound`]; a key elsewhere is
    /// [`Error::InvalidInput`].
    pub fn get(&self, key: &str) -> Result<String> {
        let (file, shown) = self.open(key, OFlag::O_RDONLY)?;
        read_file(file, &shown)
    }

    /// Writes a sysctl.
    ///
    /// Errors: as [`NetSysctls::get`]; a value the kernel rejects is [`Error::InvalidInput`].
    pub fn set(&self, key: &str, value: &str) -> Result<()> {
        let (file, shown) = self.open(key, OFlag::O_WRONLY)?;
        write_file(file, value, &shown)
    }

    /// Writes a sysctl only when its value differs; returns whether it wrote (as
    /// [`NetNs::sysctl_ensure`]).
    pub fn ensure(&self, key: &str, value: &str) -> Result<bool> {
        if self.get(key)? == value {
            return Ok(false);
        }
        self.set(key, value)?;
        Ok(true)
    }

    /// Writes every entry, in order, attempting all; the result is the first error, if any.
    pub fn set_many(&self, entries: &[(&str, &str)]) -> Result<()> {
        first_error(entries.iter().map(|(key, value)| self.set(key, value)))
    }

    /// Whether `key` is one of these directories' (`net.ipv4.*`, or `net.ipv6.*` when the
    /// namespace has IPv6).
    fn covers(&self, key: &str) -> bool {
        self.locate(key).is_ok()
    }

    /// Turns forwarding of `family` on when it is off (as [`NetNs::enable_forwarding`]).
    pub fn enable_forwarding(&self, family: IpFamily) -> Result<bool> {
        self.ensure(forwarding_key(family), "1")
    }
}

impl NetNs {
    /// Runs `f` in this namespace: inline when it already is the calling thread's namespace,
    /// otherwise on a fresh thread.
    fn in_ns<R: Send>(&self, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        if self.is_current_thread()? {
            f()
        } else {
            self.run_blocking(f)?
        }
    }

    /// Reads a network sysctl of this namespace (trailing newline removed).
    ///
    /// Errors: an unknown key (or interface) is [`Error::NotFound`].
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key)?;
        self.in_ns(|| read_path(&path))
    }

    /// Writes a network sysctl of this namespace.
    ///
    /// Errors: an unknown key (or interface) is [`Error::NotFound`]; a value the kernel rejects
    /// is [`Error::InvalidInput`].
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        let path = sysctl_path(key)?;
        self.in_ns(|| write_path(&path, value))
    }

    /// Writes a sysctl only when its current value differs (what the Go plugins do for
    /// `ip_forward`, avoiding needless writes). Returns whether it wrote.
    pub fn sysctl_ensure(&self, key: &str, value: &str) -> Result<bool> {
        let path = sysctl_path(key)?;
        self.in_ns(|| {
            if read_path(&path)? == value {
                return Ok(false);
            }
            write_path(&path, value)?;
            Ok(true)
        })
    }

    /// Writes several sysctls with a single thread switch. Every entry is attempted; the result
    /// is the first error, if any (callers that ignore sysctl failures, as the bridge plugin does
    /// for `arp_notify`, can drop it).
    pub fn sysctl_set_many(&self, entries: &[(&str, &str)]) -> Result<()> {
        let paths = entries
            .iter()
            .map(|(k, v)| Ok((sysctl_path(k)?, *v)))
            .collect::<Result<Vec<_>>>()?;
        self.in_ns(|| write_all(&paths))
    }

    /// Opens this namespace's [`NetSysctls`]: inline when it is the calling thread's namespace,
    /// otherwise on a fresh thread. Then any thread can use them.
    ///
    /// Errors: as [`NetSysctls::open_current`], or entering the namespace failed.
    pub fn sysctls(&self) -> Result<NetSysctls> {
        self.in_ns(NetSysctls::open_current)
    }

    /// Turns forwarding of `family` on in this namespace when it is off. Returns whether it
    /// changed anything.
    pub fn enable_forwarding(&self, family: IpFamily) -> Result<bool> {
        self.sysctl_ensure(forwarding_key(family), "1")
    }
}

std::thread_local! {
    /// On an [`NsThread`]'s thread (which never leaves its namespace): that namespace's
    /// [`NetSysctls`], opened by the first sysctl job (`None` if they could not be).
    static THREAD_SYSCTLS: std::cell::OnceCell<Option<NetSysctls>> =
        const { std::cell::OnceCell::new() };
}

/// Runs `f` with the calling [`NsThread`] thread's [`NetSysctls`], opening them on first use.
fn with_thread_sysctls<R>(f: impl FnOnce(Option<&NetSysctls>) -> R) -> R {
    THREAD_SYSCTLS.with(|cell| {
        f(cell
            .get_or_init(|| NetSysctls::open_current().ok())
            .as_ref())
    })
}

impl NsThread {
    /// Writes several sysctls of the thread's namespace, on the thread (no thread start):
    /// [`NetNs::sysctl_set_many`] for a caller that already has an [`NsThread`]. The writes are
    /// handed to the thread at once (as [`NsThread::start`] does): the caller can go on with
    /// other work and await their outcome later. `net.ipv4`/`net.ipv6` keys go through the
    /// thread's [`NetSysctls`], opened by its first sysctl job ([`NsThread::prepare_sysctls`]
    /// opens them ahead of time).
    ///
    /// Errors: a key outside `net.*`, here; at the await, as [`NetNs::sysctl_set_many`] or as
    /// [`NsThread::run`].
    pub fn sysctl_set_many(
        &self,
        entries: &[(&str, &str)],
    ) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        let entries = entries
            .iter()
            .map(|(k, v)| {
                sysctl_path(k)?;
                Ok(((*k).to_string(), (*v).to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let job = self.start(move || {
            with_thread_sysctls(|dirs| {
                first_error(entries.iter().map(|(key, value)| match dirs {
                    Some(dirs) if dirs.covers(key) => dirs.set(key, value),
                    _ => write_path(&sysctl_path(key)?, value),
                }))
            })
        })?;
        Ok(async move { job.await? })
    }

    /// Has the thread open its namespace's [`NetSysctls`] now, while it is otherwise idle, so
    /// that later [`NsThread::sysctl_set_many`] jobs find them open. Failing to open them is
    /// not an error: the writes then go by path.
    ///
    /// Errors: the thread has ended.
    pub fn prepare_sysctls(&self) -> Result<()> {
        // The job's outcome is of no interest: dropping its future leaves it running.
        drop(self.start(|| with_thread_sysctls(|_| ()))?);
        Ok(())
    }
}

/// Writes every entry, in order; the result is the first error, if any.
fn write_all(paths: &[(PathBuf, impl AsRef<str>)]) -> Result<()> {
    first_error(
        paths
            .iter()
            .map(|(path, value)| write_path(path, value.as_ref())),
    )
}

/// Runs every step (the iterator's items, in order); the result is the first error, if any.
fn first_error(steps: impl Iterator<Item = Result<()>>) -> Result<()> {
    let mut first = None;
    for step in steps {
        if let Err(e) = step {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms() {
        let p = sysctl_path("net.ipv4.ip_forward").ok();
        assert_eq!(p, Some(PathBuf::from("/proc/sys/net/ipv4/ip_forward")));
        let p = sysctl_path("net/ipv4/conf/cni0.100/arp_notify").ok();
        assert_eq!(
            p,
            Some(PathBuf::from("/proc/sys/net/ipv4/conf/cni0.100/arp_notify"))
        );
        assert!(sysctl_path("kernel.hostname").is_err());
        assert!(sysctl_path("net/../kernel/hostname").is_err());
        assert!(sysctl_path("net").is_err());
        assert_eq!(
            interface_key(IpFamily::V6, "eth0", "accept_dad"),
            "net/ipv6/conf/eth0/accept_dad"
        );
    }
}
