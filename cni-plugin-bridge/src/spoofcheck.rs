//! `macspoofchk`: frames entering the bridge from the pod's host veth must carry the pod's MAC.
//!
//! The rules are the reference's (nftables `bridge` family, table `nat`, base chain
//! `PREROUTING` at priority -300, two regular chains per attachment whose names carry
//! `<containerID>-<ifname>`). `cni-netlink` has no bridge-family nftables encoder, so these
//! rules go through the `nft` command; it runs only for networks that turn `macspoofchk` on.

use std::io::Write;
use std::process::{Command, Stdio};

use cni_netlink::MacAddr;

use crate::error::BridgeError;

const TABLE: &str = "nat";
const BASE_CHAIN: &str = "PREROUTING";

/// The spoof-check rules of one attachment.
#[derive(Debug, Clone)]
pub struct SpoofCheck {
    ref_id: String,
}

impl SpoofCheck {
    /// The rules of the attachment `container_id` + `ifname`.
    pub fn new(container_id: &str, ifname: &str) -> SpoofCheck {
        SpoofCheck {
            ref_id: format!("{container_id}-{ifname}"),
        }
    }

    fn iface_chain(&self) -> String {
        format!("cni-br-iface-{}", self.ref_id)
    }

    fn mac_chain(&self) -> String {
        format!("cni-br-iface-{}-mac", self.ref_id)
    }

    fn check_id(&self) -> Result<(), BridgeError> {
        let ok = self
            .ref_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err(BridgeError::env(format!(
                "macspoofchk: {:?} cannot be used in an nftables chain name",
                self.ref_id
            )))
        }
    }

    /// The nft script that installs the rules (also used by tests to show what is installed).
    pub fn script(&self, host_ifname: &str, mac: MacAddr) -> String {
        let (iface, macc, id) = (self.iface_chain(), self.mac_chain(), &self.ref_id);
        format!(
            "add table bridge {TABLE}\n\
             add chain bridge {TABLE} {BASE_CHAIN} {{ type filter hook prerouting priority -300 ; policy accept ; }}\n\
             add chain bridge {TABLE} {iface}\n\
             add chain bridge {TABLE} {macc}\n\
             flush chain bridge {TABLE} {iface}\n\
             flush chain bridge {TABLE} {macc}\n\
             add rule bridge {TABLE} {BASE_CHAIN} iifname \"{host_ifname}\" jump {iface} comment \"{id}\"\n\
             add rule bridge {TABLE} {iface} jump {macc} comment \"{id}\"\n\
             add rule bridge {TABLE} {macc} ether saddr {mac} return comment \"{id}\"\n\
             add rule bridge {TABLE} {macc} drop comment \"{id}\"\n"
        )
    }

    /// Installs the rules for the pod's host veth and MAC (one atomic `nft` transaction).
    pub fn setup(&self, host_ifname: &str, mac: MacAddr) -> Result<(), BridgeError> {
        self.check_id()?;
        nft_script(&self.script(host_ifname, mac))
    }

    /// Removes the rules. Missing rules, chains or table are success.
    pub fn teardown(&self) -> Result<(), BridgeError> {
        self.check_id()?;
        let listing = match nft(&["-j", "-a", "list", "chain", "bridge", TABLE, BASE_CHAIN]) {
            Ok(out) => out,
            // No table or base chain: nothing was ever installed.
            Err(_) => return Ok(()),
        };
        let mut script = String::new();
        for handle in jump_rule_handles(&listing, &self.ref_id) {
            script.push_str(&format!(
                "delete rule bridge {TABLE} {BASE_CHAIN} handle {handle}\n"
            ));
        }
        let chains = nft(&["-j", "list", "chains", "bridge"]).unwrap_or_default();
        for chain in [self.iface_chain(), self.mac_chain()] {
            if chains.contains(&format!("\"name\": \"{chain}\""))
                || chains.contains(&format!("\"name\":\"{chain}\""))
            {
                script.push_str(&format!("flush chain bridge {TABLE} {chain}\n"));
            }
        }
        for chain in [self.iface_chain(), self.mac_chain()] {
            if chains.contains(&format!("\"name\": \"{chain}\""))
                || chains.contains(&format!("\"name\":\"{chain}\""))
            {
                script.push_str(&format!("delete chain bridge {TABLE} {chain}\n"));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        nft_script(&script)
    }
}

/// The handles of the base-chain rules whose comment is `ref_id`, from `nft -j -a list chain`.
fn jump_rule_handles(listing: &str, ref_id: &str) -> Vec<u64> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(listing) else {
        return Vec::new();
    };
    v.get("nftables")
        .and_then(|n| n.as_array())
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("rule"))
        .filter(|rule| rule.get("comment").and_then(|c| c.as_str()) == Some(ref_id))
        .filter_map(|rule| rule.get("handle").and_then(|h| h.as_u64()))
        .collect()
}

fn nft(args: &[&str]) -> Result<String, BridgeError> {
    let out = Command::new("nft")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BridgeError::other(format!("macspoofchk: cannot run nft: {e}")))?;
    if !out.status.success() {
        return Err(BridgeError::other(format!(
            "macspoofchk: nft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn nft_script(script: &str) -> Result<(), BridgeError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BridgeError::other(format!("macspoofchk: cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| BridgeError::other(format!("macspoofchk: writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| BridgeError::other(format!("macspoofchk: waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BridgeError::other(format!(
            "macspoofchk: nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_has_the_reference_layout() {
        let sc = SpoofCheck::new("abc", "eth0");
        let s = sc.script("veth01234567", MacAddr([2, 0, 0, 0, 0, 1]));
        assert!(s.contains("priority -300"));
        assert!(
            s.contains("iifname \"veth01234567\" jump cni-br-iface-abc-eth0 comment \"abc-eth0\"")
        );
        assert!(s.contains(
            "add rule bridge nat cni-br-iface-abc-eth0-mac ether saddr 02:00:00:00:00:01 return"
        ));
        assert!(s.contains("add rule bridge nat cni-br-iface-abc-eth0-mac drop"));
    }

    #[test]
    fn names_that_cannot_be_chain_names_are_refused() {
        assert!(SpoofCheck::new("abc", "e\"th0").check_id().is_err());
        assert!(SpoofCheck::new("abc", "eth0").check_id().is_ok());
    }

    #[test]
    fn handles_are_found_by_comment() {
        let listing = r#"{"nftables":[{"metainfo":{}},{"chain":{"name":"PREROUTING"}},
            {"rule":{"chain":"PREROUTING","handle":4,"comment":"abc-eth0"}},
            {"rule":{"chain":"PREROUTING","handle":7,"comment":"other-eth0"}}]}"#;
        assert_eq!(jump_rule_handles(listing, "abc-eth0"), vec![4]);
        assert!(jump_rule_handles("garbage", "abc-eth0").is_empty());
    }
}
