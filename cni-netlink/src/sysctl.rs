//! Network sysctls of a namespace, written through `/proc/sys/net` without spawning processes.
//!
//! `/proc/sys/net` shows the network namespace of the task that opens a file under it (the
//! calling *thread*, not the process and not the namespace of whoever mounted `/proc`). So these
//! functions open and write the file on a thread that entered the namespace
//! ([`NetNs::run_blocking`]), or directly when the namespace already is the calling thread's.
//! Only `net.*` keys are accepted: other sysctls are not per-namespace, and writing them would
//! change the whole machine.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::addr::IpFamily;
use crate::error::{Error, Result};
use crate::netns::{NetNs, NsThread};

/// Turns a sysctl key into its `/proc/sys` path. Accepts the dotted form (`net.ipv4.ip_forward`)
/// and the slash form (`net/ipv4/conf/eth0.100/arp_notify`, needed when an interface name
/// contains a dot). Only keys under `net` are accepted.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
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
    let mut path = PathBuf::from("/proc/sys");
    path.extend(parts);
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
    let mut bytes = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| read_sysctl(f, &mut bytes))
        .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
    let s = String::from_utf8(bytes).map_err(|_| {
        Error::io(
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
            format!("reading {}", path.display()),
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
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| Error::io(e, format!("writing {value:?} to {}", path.display())))
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

    /// Turns forwarding of `family` on in this namespace when it is off. Returns whether it
    /// changed anything.
    pub fn enable_forwarding(&self, family: IpFamily) -> Result<bool> {
        self.sysctl_ensure(forwarding_key(family), "1")
    }
}

impl NsThread {
    /// Writes several sysctls of the thread's namespace, on the thread (no thread start):
    /// [`NetNs::sysctl_set_many`] for a caller that already has an [`NsThread`]. The writes are
    /// handed to the thread at once (as [`NsThread::start`] does): the caller can go on with
    /// other work and await their outcome later.
    ///
    /// Errors: a key outside `net.*`, here; at the await, as [`NetNs::sysctl_set_many`] or as
    /// [`NsThread::run`].
    pub fn sysctl_set_many(
        &self,
        entries: &[(&str, &str)],
    ) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        let paths = entries
            .iter()
            .map(|(k, v)| Ok((sysctl_path(k)?, (*v).to_string())))
            .collect::<Result<Vec<_>>>()?;
        let job = self.start(move || write_all(&paths))?;
        Ok(async move { job.await? })
    }
}

/// Writes every entry, in order; the result is the first error, if any.
fn write_all(paths: &[(PathBuf, impl AsRef<str>)]) -> Result<()> {
    let mut first = None;
    for (path, value) in paths {
        if let Err(e) = write_path(path, value.as_ref()) {
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
