//! The guard against `CNI_NETNS` naming the plugin's own network namespace.
//!
//! A recycled `/proc/<pid>/ns/net` path can point at the host's namespace; a plugin that then
//! "configures the container" configures the host (plugins#714: loopback took down the host's
//! `lo`). The reference skel refuses such a call with code 8. It checks after the callback; this
//! skel checks before, so nothing is touched.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cni_types::{CniError, ErrorCode};

/// The namespace the calling thread runs in.
const OWN_NETNS: &str = "/proc/thread-self/ns/net";

/// Errors with code 8 if `netns` is the same namespace as this process's. A path that cannot be
/// inspected (e.g. a namespace already deleted, on DEL) is accepted.
pub(crate) fn check_not_own(netns: &str) -> Result<(), CniError> {
    if netns.is_empty() {
        return Ok(());
    }
    let (Ok(theirs), Ok(ours)) = (
        std::fs::metadata(Path::new(netns)),
        std::fs::metadata(OWN_NETNS),
    ) else {
        return Ok(());
    };
    if theirs.dev() == ours.dev() && theirs.ino() == ours.ino() {
        return Err(CniError::new(
            ErrorCode::InvalidNetns,
            "plugin's netns and netns from CNI_NETNS should not be the same",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_is_refused_others_accepted() {
        let err = check_not_own("/proc/self/ns/net").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidNetns);
        assert!(check_not_own("/nonexistent/netns").is_ok());
        assert!(check_not_own("").is_ok());
        // Another namespace kind of this process is not the network namespace.
        assert!(check_not_own("/proc/self/ns/mnt").is_ok());
    }
}
