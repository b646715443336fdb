//! MAC spoof checking on a bridge port (the bridge plugin's `macspoofchk`): frames entering the
//! bridge from a pod's host-side veth must carry the pod's MAC address as their source.
//!
//! [`SpoofCheck`] programs nftables over netlink (no `nft` process) with exactly the Go
//! reference plugins' layout, so rules installed by one side are found and removed by the
//! other:
//!
//! ```text
//! table bridge nat {
//!     chain PREROUTING {                       # type filter hook prerouting priority -300
//!         iifname "<host veth>" jump cni-br-iface-<id> comment "macspoofchk-<id>"
//!     }
//!     chain cni-br-iface-<id> {
//!         jump cni-br-iface-<id>-mac comment "macspoofchk-<id>"
//!     }
//!     chain cni-br-iface-<id>-mac {
//!         ether saddr <pod MAC> return comment "macspoofchk-<id>"
//!         drop comment "macspoofchk-<id>"
//!     }
//! }
//! ```
//!
//! `<id>` is `<container id>-<ifname>` of the [`Attachment`]. The rules are byte for byte what
//! `nft` writes for that text (expressions and the comment's userdata), checked by this crate's
//! tests against `nft` itself.
//!
//! ```no_run
//! use cni_netlink::spoofcheck::SpoofCheck;
//! use cni_netlink::{Attachment, MacAddr};
//!
//! # fn main() -> cni_netlink::Result<()> {
//! // In the node's namespace (a CNI plugin's own); `SpoofCheck::open(&netns)` for another one.
//! let sc = SpoofCheck::open_current()?;
//! let pod = Attachment::new("0123abcd", "eth0");
//! // ADD: only frames from 02:42:ac:11:00:02 may enter the bridge from veth1234.
//! sc.install(&pod, "veth1234", MacAddr([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]))?;
//! // DEL: a second call, or a call for rules never installed, is a no-op.
//! sc.remove(&pod)?;
//! // GC: remove the rules of every attachment the runtime no longer knows.
//! let removed = sc.gc(&[Attachment::new("4567cdef", "eth0")])?;
//! println!("collected {removed:?}");
//! # Ok(()) }
//! ```
//!
//! # Transactions
//!
//! Each call is one atomic nf_tables batch. A first install is two requests (does the base chain
//! exist; then the batch, which creates the attachment's chains exclusively, so a concurrent
//! writer can make it fail but never duplicate it). Installing over existing rules, removing and
//! collecting read what they change and tag the batch with the ruleset generation they read;
//! when another writer changed the ruleset in between, the kernel refuses the batch and the call
//! reads again. Like the reference, removal keeps the table and the base chain.

use std::collections::BTreeSet;

use crate::NetNs;
use crate::attachment::Attachment;
use crate::error::{Error, Result};
use crate::link::MacAddr;
use crate::nftables::batch::HOOK_BRIDGE_PREROUTING;
use crate::nftables::decode::{self, Message};
use crate::nftables::expr::{META_IIFNAME, PAYLOAD_LINK_HEADER};
use crate::nftables::{
    BaseChain, Batch, Commit, Exclusive, Expr, NfConn, NfFamily, Table, Verdict,
};

/// The table: `bridge nat`.
const TABLE: Table<'static> = Table {
    family: NfFamily::Bridge,
    name: "nat",
};
/// The base chain every attachment's jump rule lives in.
const PREROUTING: &str = "PREROUTING";
const PREROUTING_CHAIN: BaseChain<'static> = BaseChain {
    name: PREROUTING,
    kind: "filter",
    hook: HOOK_BRIDGE_PREROUTING,
    priority: -300,
};
/// Chain names: `cni-br-iface-<id>` and `cni-br-iface-<id>-mac`.
const CHAIN_PREFIX: &str = "cni-br-iface-";
const MAC_SUFFIX: &str = "-mac";
/// Rule comments: `macspoofchk-<id>`.
const COMMENT_PREFIX: &str = "macspoofchk-";
/// Longest `<id>`: a chain name has at most 255 bytes (`NFT_NAME_MAXLEN` with its NUL).
const MAX_ID: usize = 255 - CHAIN_PREFIX.len() - MAC_SUFFIX.len();
/// `IFNAMSIZ`: `iifname` compares the whole NUL-padded name buffer.
const IFNAMSIZ: usize = crate::link::MAX_IFNAME_LEN + 1;
/// The Ethernet source address: 6 bytes at offset 6 of the link-layer header.
const ETHER_SADDR_OFFSET: u32 = 6;
const ETHER_ADDR_LEN: u32 = 6;

/// The MAC spoof-check rules of a node's bridges, programmed over netlink.
///
/// Open it in the namespace of the bridge (the node's). Every method is idempotent in the way CNI
/// needs it: installing again replaces the attachment's rules, removing what is not there
/// succeeds. See the [module documentation](self) for the layout.
///
/// Errors: [`Error::InvalidInput`] for an attachment whose `<container id>-<ifname>` is empty,
/// longer than 238 bytes, or not made of letters, digits, `-`, `_` and `.` (it becomes part of
/// chain names), and for a host interface name that is empty, longer than 15 bytes or contains a
/// NUL; [`Error::PermissionDenied`] without `CAP_NET_ADMIN` in the namespace; other kernel
/// refusals as their errno class (e.g. `EBUSY` when a rule the reference layout does not know
/// still jumps to a chain being removed); [`Error::Internal`] when other writers changed the
/// ruleset between every read and write of 200 attempts.
///
/// The type is `Send + Sync`; calls on one value are serialised (one socket).
#[derive(Debug)]
pub struct SpoofCheck {
    conn: NfConn,
}

/// One attachment's spoof check as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoofCheckEntry {
    /// `<container id>-<ifname>`, as in the chain names.
    pub id: String,
    /// The host-side interface whose frames are checked (from the `PREROUTING` jump rule), when
    /// that rule is there.
    pub host_ifname: Option<String>,
    /// The one source MAC let through (from the `-mac` chain), when that rule is there.
    pub mac: Option<MacAddr>,
}

/// The names of one attachment's objects.
#[derive(Debug)]
struct Names {
    id: String,
    iface_chain: String,
    mac_chain: String,
    comment: String,
}

impl Names {
    fn of(id: String) -> Names {
        let iface_chain = format!("{CHAIN_PREFIX}{id}");
        Names {
            mac_chain: format!("{iface_chain}{MAC_SUFFIX}"),
            comment: format!("{COMMENT_PREFIX}{id}"),
            iface_chain,
            id,
        }
    }

    /// Checks the attachment and derives its names.
    fn new(attachment: &Attachment) -> Result<Names> {
        let Attachment {
            container_id,
            ifname,
        } = attachment;
        if container_id.is_empty() || ifname.is_empty() {
            return Err(Error::invalid_input(
                "the container id and the interface name must not be empty",
            ));
        }
        let id = format!("{container_id}-{ifname}");
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !id.chars().all(safe) {
            return Err(Error::invalid_input(format!(
                "{id:?} cannot be used in an nftables chain name \
                 (letters, digits, '-', '_' and '.' only)"
            )));
        }
        if id.len() > MAX_ID {
            return Err(Error::invalid_input(format!(
                "{id:?} is too long for an nftables chain name ({} bytes, at most \
                 {MAX_ID})",
                id.len()
            )));
        }
        Ok(Names::of(id))
    }

    /// True when a `PREROUTING` rule belongs to this attachment: it jumps to its chain, or
    /// carries its comment (how the reference finds it).
    fn owns(&self, rule: &RuleView) -> bool {
        rule.comment == self.comment || rule.target.as_deref() == Some(self.iface_chain.as_str())
    }
}

/// What this module reads of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleView {
    chain: String,
    handle: u64,
    comment: String,
    /// The chain it jumps to.
    target: Option<String>,
    /// `iifname "<name>"` it matches.
    iifname: Option<String>,
    /// `ether saddr <mac>` it matches.
    saddr: Option<MacAddr>,
}

impl RuleView {
    fn decode(msg: &Message<'_>) -> Option<RuleView> {
        let info = decode::rule(msg)?;
        let exprs = decode::rule_exprs(msg);
        let mut view = RuleView {
            chain: info.chain,
            handle: info.handle,
            comment: info.comment,
            target: None,
            iifname: None,
            saddr: None,
        };
        for pair in exprs.windows(2) {
            match pair {
                [Expr::Meta(META_IIFNAME), Expr::CmpEq(name)] => {
                    view.iifname = decode::str_ref(name).map(str::to_owned);
                }
                [Expr::Payload { base, offset, len }, Expr::CmpEq(mac)]
                    if (*base, *offset, *len)
                        == (PAYLOAD_LINK_HEADER, ETHER_SADDR_OFFSET, ETHER_ADDR_LEN) =>
                {
                    view.saddr = MacAddr::from_slice(mac);
                }
                _ => {}
            }
        }
        view.target = exprs.iter().find_map(|e| match e {
            Expr::Verdict(Verdict::Jump(chain)) => Some((*chain).to_owned()),
            _ => None,
        });
        Some(view)
    }
}

/// The `iifname` compare data: the name NUL-padded to `IFNAMSIZ`, as nft writes it.
fn ifname_data(host_ifname: &str) -> Result<[u8; IFNAMSIZ]> {
    crate::link::validate_ifname(host_ifname)?;
    let bytes = host_ifname.as_bytes();
    if bytes.contains(&0) {
        return Err(Error::invalid_input(format!(
            "interface name {host_ifname:?} contains a NUL byte"
        )));
    }
    let mut data = [0u8; IFNAMSIZ];
    if let Some(head) = data.get_mut(..bytes.len()) {
        head.copy_from_slice(bytes);
    }
    Ok(data)
}

impl SpoofCheck {
    /// Opens the spoof-check rules of the network namespace `netns` (the node's). The netlink
    /// socket is created on a short-lived thread inside the namespace
    /// ([`NetNs::run_blocking`]); the calling thread never changes namespace.
    pub fn open(netns: &NetNs) -> Result<SpoofCheck> {
        NfConn::open(netns).map(|conn| SpoofCheck { conn })
    }

    /// Opens the spoof-check rules of the calling thread's network namespace (for a CNI plugin:
    /// the host's).
    pub fn open_current() -> Result<SpoofCheck> {
        NfConn::open_current().map(|conn| SpoofCheck { conn })
    }

    /// Checks that `attachment` can name spoof-check chains, so a plugin can refuse it before it
    /// changes anything. Errors are invalid-input (see [`SpoofCheck`]).
    pub fn check_attachment(attachment: &Attachment) -> Result<()> {
        Names::new(attachment).map(drop)
    }

    /// Lets frames from `host_ifname` (the pod's host-side veth, a bridge port) into the bridge
    /// only when their source MAC is `mac`; every other frame from that port is dropped.
    ///
    /// Installing an attachment that has rules replaces them (its jump rule, with the
    /// interface name and MAC given now).
    pub fn install(&self, attachment: &Attachment, host_ifname: &str, mac: MacAddr) -> Result<()> {
        let n = Names::new(attachment)?;
        let ifname = ifname_data(host_ifname)?;
        let mac = mac.octets();
        let jump = [
            Expr::Meta(META_IIFNAME),
            Expr::CmpEq(&ifname),
            Expr::Verdict(Verdict::Jump(&n.iface_chain)),
        ];
        let to_mac = [Expr::Verdict(Verdict::Jump(&n.mac_chain))];
        let allow = [
            Expr::Payload {
                base: PAYLOAD_LINK_HEADER,
                offset: ETHER_SADDR_OFFSET,
                len: ETHER_ADDR_LEN,
            },
            Expr::CmpEq(&mac),
            Expr::Verdict(Verdict::Return),
        ];
        let drop = [Expr::Verdict(Verdict::Drop)];
        let add_rules = |batch: &mut Batch| {
            batch.add_rule(&TABLE, PREROUTING, &jump, &n.comment, true);
            batch.add_rule(&TABLE, &n.iface_chain, &to_mac, &n.comment, true);
            batch.add_rule(&TABLE, &n.mac_chain, &allow, &n.comment, true);
            batch.add_rule(&TABLE, &n.mac_chain, &drop, &n.comment, true);
        };
        let context = format!("installing the MAC spoof check of {}", n.id);
        let mut sock = self.conn.lock()?;
        sock.retry(&context, |sock| {
            // The usual case, a new attachment: create its chains exclusively and add the rules,
            // with nothing to read but whether the base chain exists. (Declaring an existing base
            // chain again would be an update, which the kernel frees after an RCU grace period,
            // and closing the socket waits for that.)
            let has_base = sock.chain_exists(&TABLE, PREROUTING)?;
            let mut batch = sock.batch(None);
            if !has_base {
                batch.add_table(&TABLE);
                batch.add_base_chain(&TABLE, &PREROUTING_CHAIN);
            }
            batch.create_chain(&TABLE, &n.iface_chain);
            batch.create_chain(&TABLE, &n.mac_chain);
            add_rules(&mut batch);
            // Exists: the attachment has chains (installed before), replace its rules below.
            // Restart also when the table went away between the look-up and the batch.
            match sock.commit_exclusive(batch, &context)? {
                Exclusive::Done => return Ok(Some(())),
                Exclusive::Restart => return Ok(None),
                Exclusive::Exists => {}
            }
            let genid = sock.generation()?;
            let jumps = sock.rules(&TABLE, Some(PREROUTING), RuleView::decode)?;
            let mut batch = sock.batch(Some(genid));
            batch.add_table(&TABLE);
            batch.add_base_chain(&TABLE, &PREROUTING_CHAIN);
            for chain in [&n.iface_chain, &n.mac_chain] {
                batch.add_chain(&TABLE, chain);
                batch.del_rule(&TABLE, chain, None);
            }
            for rule in jumps.iter().filter(|r| n.owns(r)) {
                batch.del_rule(&TABLE, PREROUTING, Some(rule.handle));
            }
            add_rules(&mut batch);
            Ok(match sock.commit(batch, &context)? {
                Commit::Done => Some(()),
                Commit::Restart => None,
            })
        })
    }

    /// Removes the spoof check of `attachment`: its jump rule(s) in `PREROUTING` and its two
    /// chains. Missing rules, chains or table are success; the table and the base chain stay.
    pub fn remove(&self, attachment: &Attachment) -> Result<()> {
        let n = Names::new(attachment)?;
        let context = format!("removing the MAC spoof check of {}", n.id);
        self.conn.lock()?.transact(&context, |sock, batch| {
            let jumps = sock.rules(&TABLE, Some(PREROUTING), RuleView::decode)?;
            let mut chains = Vec::with_capacity(2);
            for chain in [&n.iface_chain, &n.mac_chain] {
                if sock.chain_exists(&TABLE, chain)? {
                    chains.push(chain.as_str());
                }
            }
            let jumps = jumps.iter().filter(|r| n.owns(r));
            remove_chains(batch, jumps, &chains);
            Ok(())
        })
    }

    /// Removes the spoof checks of every attachment that has chains here but is not in `valid`,
    /// and returns their ids (`<container id>-<ifname>`, sorted). Chains without the
    /// `cni-br-iface-` prefix, rules of other chains, and a chain some other rule still jumps to
    /// are left alone.
    ///
    /// The chains do not say which network an attachment belongs to: with several networks
    /// using spoof checks on one node, use [`SpoofCheck::gc_where`] to collect only this
    /// network's.
    pub fn gc(&self, valid: &[Attachment]) -> Result<Vec<String>> {
        self.gc_where(valid, |_| true)
    }

    /// Like [`SpoofCheck::gc`], but an attachment not in `valid` is only removed when
    /// `may_collect` agrees, given what its rules say (as [`SpoofCheck::entries`] reads them).
    pub fn gc_where(
        &self,
        valid: &[Attachment],
        may_collect: impl Fn(&SpoofCheckEntry) -> bool,
    ) -> Result<Vec<String>> {
        let keep: BTreeSet<String> = valid
            .iter()
            .flat_map(|a| {
                let n = Names::of(format!("{}-{}", a.container_id, a.ifname));
                [n.iface_chain, n.mac_chain]
            })
            .collect();
        self.conn
            .lock()?
            .transact("collecting MAC spoof checks", |sock, batch| {
                let chains = sock.object_names(&TABLE, false)?;
                let mut doomed: BTreeSet<&str> = chains
                    .iter()
                    .map(String::as_str)
                    .filter(|c| c.starts_with(CHAIN_PREFIX) && !keep.contains(*c))
                    .collect();
                if doomed.is_empty() {
                    return Ok(Vec::new());
                }
                let rules = sock.rules(&TABLE, None, RuleView::decode)?;
                for id in ids_of(&doomed) {
                    let entry = entry(Names::of(id), &rules);
                    if !may_collect(&entry) {
                        let n = Names::of(entry.id);
                        doomed.remove(n.iface_chain.as_str());
                        doomed.remove(n.mac_chain.as_str());
                    }
                }
                // A chain that a rule of a chain not being removed jumps to must stay (except for
                // the PREROUTING jump rules, removed with it), and so must what it jumps to.
                loop {
                    let before = doomed.len();
                    for r in &rules {
                        if r.chain != PREROUTING
                            && !doomed.contains(r.chain.as_str())
                            && let Some(target) = &r.target
                        {
                            doomed.remove(target.as_str());
                        }
                    }
                    if doomed.len() == before {
                        break;
                    }
                }
                let removed_by = |r: &&RuleView| {
                    r.target.as_deref().is_some_and(|t| doomed.contains(t))
                        || r.comment.strip_prefix(COMMENT_PREFIX).is_some_and(|id| {
                            doomed.contains(format!("{CHAIN_PREFIX}{id}").as_str())
                        })
                };
                let jumps = rules.iter().filter(|r| r.chain == PREROUTING);
                let chains: Vec<&str> = doomed.iter().copied().collect();
                remove_chains(batch, jumps.filter(removed_by), &chains);
                Ok(ids_of(&doomed))
            })
    }

    /// The spoof checks installed here, sorted by id: every attachment that has a chain here,
    /// and what its rules let through.
    pub fn entries(&self) -> Result<Vec<SpoofCheckEntry>> {
        let mut sock = self.conn.lock()?;
        let chains = sock.object_names(&TABLE, false)?;
        let rules = sock.rules(&TABLE, None, RuleView::decode)?;
        drop(sock);
        let chains: BTreeSet<&str> = chains.iter().map(String::as_str).collect();
        Ok(ids_of(&chains)
            .into_iter()
            .map(|id| entry(Names::of(id), &rules))
            .collect())
    }
}

/// What `rules` say of one attachment.
fn entry(n: Names, rules: &[RuleView]) -> SpoofCheckEntry {
    let host_ifname = rules
        .iter()
        .filter(|r| r.chain == PREROUTING && r.target.as_ref() == Some(&n.iface_chain))
        .find_map(|r| r.iifname.clone());
    let mac = rules
        .iter()
        .filter(|r| r.chain == n.mac_chain)
        .find_map(|r| r.saddr);
    SpoofCheckEntry {
        id: n.id,
        host_ifname,
        mac,
    }
}

/// Adds to `batch`: delete the `jumps` (PREROUTING rules, by handle), flush `chains`, delete them.
fn remove_chains<'a>(
    batch: &mut Batch,
    jumps: impl Iterator<Item = &'a RuleView>,
    chains: &[&str],
) {
    for rule in jumps {
        batch.del_rule(&TABLE, PREROUTING, Some(rule.handle));
    }
    // Flushed first: a chain's rules hold references to the chains they jump to.
    for chain in chains {
        batch.del_rule(&TABLE, chain, None);
    }
    for chain in chains {
        batch.del_chain(&TABLE, chain);
    }
}

/// The attachment ids of a set of chain names (sorted): each `cni-br-iface-` name without the
/// prefix, leaving out the `-mac` chain of an id that is itself in the set.
fn ids_of(chains: &BTreeSet<&str>) -> Vec<String> {
    chains
        .iter()
        .filter_map(|c| c.strip_prefix(CHAIN_PREFIX))
        .filter(|id| {
            !id.strip_suffix(MAC_SUFFIX)
                .is_some_and(|base| chains.contains(format!("{CHAIN_PREFIX}{base}").as_str()))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference() {
        let n = Names::new(&Attachment::new("abc", "eth0")).unwrap();
        assert_eq!(n.id, "abc-eth0");
        assert_eq!(n.iface_chain, "cni-br-iface-abc-eth0");
        assert_eq!(n.mac_chain, "cni-br-iface-abc-eth0-mac");
        assert_eq!(n.comment, "macspoofchk-abc-eth0");
    }

    #[test]
    fn names_that_cannot_be_chain_names_are_refused() {
        for (cid, ifname) in [
            ("abc", "e\"th0"),
            ("abc", "eth 0"),
            ("", "eth0"),
            ("abc", ""),
            ("a\0b", "eth0"),
        ] {
            let err = Names::new(&Attachment::new(cid, ifname)).unwrap_err();
            assert!(err.is_invalid_input(), "{cid:?} {ifname:?}: {err}");
        }
        let longest = "c".repeat(MAX_ID - "-eth0".len());
        assert!(SpoofCheck::check_attachment(&Attachment::new(&longest, "eth0")).is_ok());
        let n = Names::new(&Attachment::new(&longest, "eth0")).unwrap();
        assert_eq!(n.mac_chain.len(), 255);
        let too_long = format!("{longest}c");
        assert!(Names::new(&Attachment::new(too_long, "eth0")).is_err());
        assert!(SpoofCheck::check_attachment(&Attachment::new("a.b_c-1", "net1")).is_ok());
    }

    #[test]
    fn ifname_is_padded_like_nft() {
        let d = ifname_data("veth0").unwrap();
        assert_eq!(&d[..6], b"veth0\0");
        assert!(d[5..].iter().all(|b| *b == 0));
        assert!(ifname_data(&"v".repeat(15)).is_ok());
        for bad in ["", "a\0b", &"v".repeat(16)] {
            assert!(ifname_data(bad).unwrap_err().is_invalid_input(), "{bad:?}");
        }
    }

    #[test]
    fn rules_are_owned_by_comment_or_jump_target() {
        let n = Names::new(&Attachment::new("abc", "eth0")).unwrap();
        let rule = |comment: &str, target: Option<&str>| RuleView {
            chain: PREROUTING.into(),
            handle: 1,
            comment: comment.into(),
            target: target.map(str::to_owned),
            iifname: None,
            saddr: None,
        };
        assert!(n.owns(&rule("macspoofchk-abc-eth0", None)));
        // A rule of an earlier cni-rs version (comment without the prefix) jumps to the chain.
        assert!(n.owns(&rule("abc-eth0", Some("cni-br-iface-abc-eth0"))));
        assert!(!n.owns(&rule("macspoofchk-abc-eth1", Some("cni-br-iface-abc-eth1"))));
        assert!(!n.owns(&rule("", Some("cni-br-iface-abc-eth0-mac"))));
    }

    #[test]
    fn ids_leave_out_mac_chains() {
        let chains: BTreeSet<&str> = [
            "cni-br-iface-a-eth0",
            "cni-br-iface-a-eth0-mac",
            "cni-br-iface-b-eth0-mac",
            // An attachment whose interface is called "mac".
            "cni-br-iface-c-mac",
            "cni-br-iface-c-mac-mac",
        ]
        .into_iter()
        .collect();
        assert_eq!(ids_of(&chains), ["a-eth0", "b-eth0-mac", "c-mac"]);
    }
}
