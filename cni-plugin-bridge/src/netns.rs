//! Opening `CNI_NETNS`.
//!
//! `cni_netlink::NetNs::open` identifies a network namespace by reading back
//! `/proc/self/fd/<n>`, which for a bind-mounted namespace (`/var/run/netns/<name>`, what
//! containerd, CRI-O and `ip netns` hand out) yields the mount path instead of `net:[<inode>]`,
//! so it refuses them. Until that is fixed there, such a path is opened here: a short-lived
//! thread enters the namespace with `setns(CLONE_NEWNET)` (which the kernel refuses for anything
//! that is not a network namespace) and takes `cni_netlink`'s handle of its own namespace.

use std::path::Path;

use cni_netlink::NetNs;
use nix::sched::{CloneFlags, setns};

/// Opens the network namespace at `path`. Errors are `cni_netlink`'s: a missing path is
/// not-found, anything that is not a network namespace invalid-input.
pub(crate) fn open(path: &Path) -> cni_netlink::Result<NetNs> {
    match NetNs::open(path) {
        Err(e) if e.is_invalid_input() => open_by_entering(path).map_err(|_| e),
        other => other,
    }
}

fn open_by_entering(path: &Path) -> cni_netlink::Result<NetNs> {
    let file = std::fs::File::open(path)
        .map_err(|e| cni_netlink::Error::io(e, format!("opening {}", path.display())))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    cni_netlink::Error::invalid_input(format!(
                        "{} is not a network namespace: {e}",
                        path.display()
                    ))
                })?;
                NetNs::current_thread()
            })
            .join()
            .map_err(|_| cni_netlink::Error::Internal("the netns-opening thread panicked".into()))?
    })
}
