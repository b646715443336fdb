//! `macspoofchk`: frames entering the bridge from the pod's host veth must carry the pod's MAC.
//!
//! The rules are the reference's (nftables `bridge` family, table `nat`, base chain
//! `PREROUTING` at priority -300, two regular chains per attachment whose names carry
//! `<containerID>-<ifname>`, comments `macspoofchk-<containerID>-<ifname>`), programmed over
//! netlink by [`cni_netlink::spoofcheck::SpoofCheck`]: no `nft` process, and the reference's DEL
//! removes our rules as ours removes its.

use std::collections::{BTreeMap, BTreeSet};

use cni_netlink::spoofcheck::{SpoofCheck as Rules, SpoofCheckEntry};
use cni_netlink::{Attachment, MacAddr, Netlink};

use crate::error::BridgeError;

/// The spoof-check rules of one attachment.
#[derive(Debug, Clone)]
pub struct SpoofCheck {
    attachment: Attachment,
}

impl SpoofCheck {
    /// The rules of the attachment `container_id` + `ifname`.
    pub fn new(container_id: &str, ifname: &str) -> SpoofCheck {
        SpoofCheck {
            attachment: Attachment::new(container_id, ifname),
        }
    }

    /// Checks, without touching the kernel, that `<containerID>-<ifname>` can name the chains
    /// (letters, digits, `-`, `_`, `.`; at most 238 bytes). Code 4 otherwise.
    pub fn check(&self) -> Result<(), BridgeError> {
        Rules::check_attachment(&self.attachment).map_err(invalid)
    }

    /// Installs the rules for the pod's host veth and MAC (one atomic nftables batch).
    pub fn setup(&self, host_ifname: &str, mac: MacAddr) -> Result<(), BridgeError> {
        self.check()?;
        open("failed to set up the MAC spoof check")?
            .install(&self.attachment, host_ifname, mac)
            .map_err(|e| kernel("failed to set up the MAC spoof check", e))
    }

    /// Removes the rules. Missing rules, chains or table are success, and so is an attachment
    /// whose id could never have named any (nothing to remove).
    pub fn teardown(&self) -> Result<(), BridgeError> {
        self.teardown_keeping_socket().1
    }

    /// [`SpoofCheck::teardown`], also handing back the socket it used: the kernel frees what a
    /// removal deleted after an RCU grace period, and closing a netfilter socket while that is
    /// pending waits for it, so DEL removes the rules first and closes the socket last (the
    /// grace period passes while the veth is deleted).
    pub(crate) fn teardown_keeping_socket(&self) -> (Option<Rules>, Result<(), BridgeError>) {
        const CONTEXT: &str = "failed to remove the MAC spoof check";
        if self.check().is_err() {
            return (None, Ok(()));
        }
        match open(CONTEXT) {
            Ok(rules) => {
                let removed = rules
                    .remove(&self.attachment)
                    .map_err(|e| kernel(CONTEXT, e));
                (Some(rules), removed)
            }
            Err(e) => (None, Err(e)),
        }
    }
}

/// GC: removes the spoof checks of attachments not in `valid` that belong to this network as far
/// as the node can tell: the host interface their rule matches is a port of `bridge`, or is gone
/// (then the check protects nothing, whichever network made it). Checks on other bridges' ports
/// are other networks' and stay. Checks that appear while this runs are never collected.
pub(crate) async fn gc(
    host: &Netlink,
    bridge: &str,
    valid: &[Attachment],
) -> Result<(), BridgeError> {
    const CONTEXT: &str = "failed to garbage-collect MAC spoof checks";
    let rules = open(CONTEXT)?;
    // What is installed is read before the links: any check installed later, and so any veth
    // made for it, is kept.
    let before: BTreeMap<String, Option<String>> = rules
        .entries()
        .map_err(|e| kernel(CONTEXT, e))?
        .into_iter()
        .map(|e| (e.id, e.host_ifname))
        .collect();
    if before.is_empty() {
        return Ok(());
    }
    let links = host
        .links()
        .await
        .map_err(|e| BridgeError::kernel("failed to list the host's links", e))?;
    let bridge_index = links.iter().find(|l| l.name == bridge).map(|l| l.index);
    let ports_elsewhere: BTreeSet<&str> = links
        .iter()
        .filter(|l| bridge_index.is_none() || l.master != bridge_index)
        .map(|l| l.name.as_str())
        .collect();
    let ours = |e: &SpoofCheckEntry| {
        before.get(&e.id) == Some(&e.host_ifname)
            && e.host_ifname
                .as_deref()
                .is_none_or(|name| !ports_elsewhere.contains(name))
    };
    let removed = rules
        .gc_where(valid, ours)
        .map_err(|e| kernel(CONTEXT, e))?;
    if !removed.is_empty() {
        tracing::debug!(?removed, "GC: removed MAC spoof checks");
    }
    Ok(())
}

fn open(context: &str) -> Result<Rules, BridgeError> {
    Rules::open_current().map_err(|e| kernel(context, e))
}

/// An id the rules cannot carry: a runtime parameter error (code 4).
fn invalid(e: cni_netlink::Error) -> BridgeError {
    BridgeError::kernel_with_code(4, "macspoofchk", e)
}

fn kernel(context: &str, e: cni_netlink::Error) -> BridgeError {
    if e.is_invalid_input() {
        invalid(e)
    } else {
        BridgeError::kernel(context, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_chain_names_are_refused_with_code_4() {
        let err = SpoofCheck::new("abc", "e\"th0").check().unwrap_err();
        assert_eq!(err.code(), 4);
        assert!(err.to_string().contains("chain name"), "{err}");
        assert!(SpoofCheck::new("abc", "eth0").check().is_ok());
    }

    #[test]
    fn teardown_of_an_unusable_id_has_nothing_to_do() {
        assert!(SpoofCheck::new("a b", "eth0").teardown().is_ok());
    }
}
