//! Namespaces of the examples' own: a private user + network namespace for the whole process,
//! and fresh network namespaces (nodes, pods, a LAN) that live as long as their descriptor.
//!
//! Nothing here ever changes the namespace of a thread it did not create, except
//! [`enter_private_namespaces`], which moves the whole (still single-threaded) process once at
//! the start of `main`.

use cni_netlink::NetNs;
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getgid, getuid};

use crate::error::{Error, Result};

/// Moves the calling process into a new user namespace and a new network namespace of its own,
/// mapping the caller's uid and gid to root inside (with `setgroups` denied, as an unprivileged
/// process must).
///
/// Call it first thing in `main`, before any thread exists (the kernel refuses `CLONE_NEWUSER`
/// in a multi-threaded process). Afterwards the process holds every capability over the new
/// namespaces and none over the machine's: every namespace it creates is a child of a private
/// one, so even as root the machine's own network namespace is never touched.
///
/// Errors: the kernel refuses (unprivileged user namespaces disabled, e.g.
/// `kernel.unprivileged_userns_clone=0` or an AppArmor restriction), or the maps cannot be written.
pub fn enter_private_namespaces() -> Result<()> {
    let (uid, gid) = (getuid(), getgid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(|e| Error::Sys {
        context: "unshare(CLONE_NEWUSER|CLONE_NEWNET): cannot create a private user and \
                      network namespace (unprivileged user namespaces disabled? or the process \
                      is already multi-threaded)"
            .into(),
        source: e,
    })?;
    write_proc("/proc/self/setgroups", "deny")?;
    write_proc("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_proc("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    Ok(())
}

fn write_proc(path: &str, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(Error::io(format!("writing {content:?} to {path}")))
}

/// Creates a new network namespace held only by its descriptor ([`NetNs::create`]): it
/// disappears with everything in it when the last handle is dropped or the process exits, however
/// it exits. Its path, `/proc/<pid>/fd/<n>`, names it for child processes (usable as
/// `CNI_NETNS`) while this process lives.
pub fn new_netns() -> Result<NetNs> {
    NetNs::create().map_err(Error::netlink("creating a network namespace"))
}
