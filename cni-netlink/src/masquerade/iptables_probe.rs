//! Whether the iptables backend may hold state in a namespace, found out without a process: the
//! checks behind [`super::IptablesMasquerade::may_hold`] and
//! [`super::IptablesMasquerade::may_hold_network`].
//!
//! `iptables` is one of two programs, and each keeps its rules elsewhere:
//!
//! * iptables-nft writes nf_tables tables `ip nat` and `ip6 nat`, which the crate's netfilter
//!   socket reads directly: the attachment's `CNI-<hash>` chain (one `GETCHAIN` request per
//!   table), or a `POSTROUTING` rule whose comment names the network (the comment is an x_tables
//!   `comment` match, [`Expr::XtComment`], or nft userdata).
//! * iptables-legacy keeps its tables in the kernel's x_tables, whose names (only the names) the
//!   namespace lists in `ip_tables_names` / `ip6_tables_names` below `/proc/<thread>/net`. A
//!   namespace whose lists have no `nat` has no legacy NAT rule; one whose lists do may have ours,
//!   and reading the rules themselves needs the tool.

use std::io::ErrorKind;

use crate::error::{Error, Result};
use crate::nftables::batch::attr;
use crate::nftables::decode::{self, Message};
use crate::nftables::{Expr, NfFamily, NfSocket, Table};

/// iptables-nft's NAT tables.
const NFT_NAT: [Table<'static>; 2] = [
    Table {
        family: NfFamily::Ip,
        name: "nat",
    },
    Table {
        family: NfFamily::Ip6,
        name: "nat",
    },
];

/// The built-in chain that jumps to the per-container chains.
const POSTROUTING: &str = "POSTROUTING";

/// The legacy tables of the calling thread's namespace. `/proc/net` would follow the process's
/// main thread instead, which is in another namespace when this runs on a helper thread.
const LEGACY_TABLE_NAMES: [&str; 2] = [
    "/proc/thread-self/net/ip_tables_names",
    "/proc/thread-self/net/ip6_tables_names",
];

/// True when a `*_tables_names` listing (one table name a line) names `nat`.
pub(crate) fn lists_nat(names: &str) -> bool {
    names.lines().any(|line| line.trim() == "nat")
}

/// True when iptables-legacy has a `nat` table (IPv4 or IPv6) in the calling thread's namespace.
/// A missing list means the kernel has no legacy x_tables for that IP version: false.
pub(crate) fn legacy_nat_in_use() -> Result<bool> {
    for path in LEGACY_TABLE_NAMES {
        match std::fs::read_to_string(path) {
            Ok(names) if lists_nat(&names) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(e, format!("reading {path}"))),
        }
    }
    Ok(false)
}

/// True when iptables-nft's `ip nat` or `ip6 nat` has a chain `chain`.
pub(crate) fn nft_has_chain(sock: &mut NfSocket, chain: &str) -> Result<bool> {
    for table in &NFT_NAT {
        if sock.chain_exists(table, chain)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when a `POSTROUTING` rule of iptables-nft's `ip nat` or `ip6 nat` has a comment that
/// starts with `comment_prefix`.
pub(crate) fn nft_has_commented_jump(sock: &mut NfSocket, comment_prefix: &str) -> Result<bool> {
    for table in &NFT_NAT {
        let found = sock.rules(table, Some(POSTROUTING), |m| {
            has_comment_starting(m, comment_prefix).then_some(())
        })?;
        if !found.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when a rule of a dump has a comment starting with `prefix` (not empty): an x_tables
/// comment match or its nft userdata comment.
fn has_comment_starting(msg: &Message<'_>, prefix: &str) -> bool {
    decode::rule_exprs(msg)
        .iter()
        .any(|e| matches!(e, Expr::XtComment(text) if text.starts_with(prefix)))
        || msg
            .attrs()
            .find(attr::RULE_USERDATA)
            .and_then(decode::comment)
            .is_some_and(|c| c.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_nat_line_means_legacy_nat() {
        assert!(!lists_nat(""));
        assert!(!lists_nat("filter\n"));
        assert!(!lists_nat("filter\nmangle\nraw\n"));
        assert!(!lists_nat("natural\nsnat\n"));
        assert!(lists_nat("nat\n"));
        assert!(lists_nat("filter\nnat\nmangle\n"));
        assert!(lists_nat("filter\nnat"), "no final newline");
        assert!(lists_nat(" nat \n"));
    }

    #[test]
    fn a_rule_comment_is_matched_by_its_start() {
        let table = NFT_NAT[0];
        let mut batch = crate::nftables::Batch::new(1, None);
        batch.add_rule(&table, POSTROUTING, &[], r#"name: "net" id: "c1""#, true);
        let (bytes, _) = batch.finish();
        let rule = decode::messages(&bytes)
            .find(|m| m.payload.len() > 4 && m.attrs().find(attr::RULE_CHAIN).is_some())
            .unwrap();
        assert!(has_comment_starting(&rule, r#"name: "net" id: ""#));
        assert!(!has_comment_starting(&rule, r#"name: "ne" id: ""#));
        assert!(!has_comment_starting(&rule, r#"name: "net2" id: ""#));
    }

    #[test]
    fn the_calling_threads_lists_are_read() {
        // The test process's namespace: whatever it lists, reading works (or the lists are
        // absent, which is false), and the answer matches the files.
        let expected = LEGACY_TABLE_NAMES.iter().any(|p| {
            std::fs::read_to_string(p)
                .map(|s| lists_nat(&s))
                .unwrap_or(false)
        });
        assert_eq!(legacy_nat_in_use().unwrap(), expected);
    }
}
