//! The nftables backend: [`Masquerade`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::names::{self, NetworkNames, POSTROUTING, TABLE};
use super::rules::RuleSpec;
use super::{Attachment, MasqueradeEntry};
use crate::NetNs;
use crate::addr::IpFamily;
use crate::error::{Error, Result};
use crate::nftables::batch::HOOK_POSTROUTING;
use crate::nftables::{BaseChain, Commit, Exclusive, NfConn};

/// The `srcnat` priority of nft.
const PRIORITY_SRCNAT: i32 = 100;
/// Batch-local ids of the two sets (referenced by the jump rules of the same batch).
const SET_ID_V4: u32 = 1;
const SET_ID_V6: u32 = 2;
/// Longest network name accepted (it is stored whole in rule comments).
const MAX_NETWORK_NAME: usize = 200;

/// Masquerade state of a node, kept in nftables and programmed over netlink.
///
/// Open it in the namespace where pod traffic leaves the node (the host's; a test "node"
/// namespace in tests). Every method is idempotent in the way CNI needs it; see the module
/// documentation for the layout.
///
/// Errors: [`Error::InvalidInput`] for an empty or over-long (200 bytes) network name or an
/// attachment that cannot be recorded (empty container id, interface name with a space, `/` or
/// `:`); [`Error::PermissionDenied`] without `CAP_NET_ADMIN` in the namespace; other kernel
/// refusals as their errno class; [`Error::Internal`] when other writers changed the ruleset
/// between every read and write of 200 attempts.
///
/// The type is `Send + Sync`; calls on one value are serialised (one socket).
#[derive(Debug)]
pub struct Masquerade {
    conn: NfConn,
}

/// A destination never masqueraded by a network, normalised to its network address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Exclusion {
    text: String,
    family_v6: bool,
    network: Vec<u8>,
    mask: Vec<u8>,
}

impl Exclusion {
    fn new(net: &IpNetwork) -> Exclusion {
        let (network, mask, family_v6) = match net {
            IpNetwork::V4(n) => (
                n.network().octets().to_vec(),
                n.mask().octets().to_vec(),
                false,
            ),
            IpNetwork::V6(n) => (
                n.network().octets().to_vec(),
                n.mask().octets().to_vec(),
                true,
            ),
        };
        let text = format!("{}/{}", net.network(), net.prefix());
        Exclusion {
            text,
            family_v6,
            network,
            mask,
        }
    }

    fn family(&self) -> IpFamily {
        if self.family_v6 {
            IpFamily::V6
        } else {
            IpFamily::V4
        }
    }
}

fn key_of(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn addr_of(key: &[u8]) -> Option<IpAddr> {
    if let Ok(b) = <[u8; 4]>::try_from(key) {
        Some(IpAddr::from(b))
    } else {
        <[u8; 16]>::try_from(key).ok().map(IpAddr::from)
    }
}

impl Masquerade {
    /// Opens the masquerade state of the network namespace `netns` (the node's). The netlink
    /// socket is created on a short-lived thread inside the namespace
    /// ([`NetNs::run_blocking`]); the calling thread never changes namespace.
    pub fn open(netns: &NetNs) -> Result<Masquerade> {
        NfConn::open(netns).map(|conn| Masquerade { conn })
    }

    /// Opens the masquerade state of the calling thread's network namespace (for a CNI plugin: the
    /// host's).
    pub fn open_current() -> Result<Masquerade> {
        NfConn::open_current().map(|conn| Masquerade { conn })
    }

    /// Masquerades the traffic of `attachment`'s `addresses` on `network`, except towards the
    /// addresses' own subnets, multicast, and the `never_masquerade` CIDRs.
    ///
    /// Idempotent: adding the same attachment again succeeds and changes nothing. An address
    /// already recorded for another attachment (a reused IP) now belongs to this one. Addresses
    /// recorded earlier for this attachment and not passed again stay until
    /// [`Masquerade::remove`]. The cost does not depend on how many attachments the network has.
    pub fn add(
        &self,
        network: &str,
        attachment: &Attachment,
        addresses: &[IpNetwork],
        never_masquerade: &[IpNetwork],
    ) -> Result<()> {
        let names = network_names(network)?;
        let comment = names::attachment_comment(attachment)?;
        let mut exclusions: BTreeSet<Exclusion> =
            never_masquerade.iter().map(Exclusion::new).collect();
        exclusions.extend(addresses.iter().map(Exclusion::new));
        exclusions.extend(multicast());
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in addresses {
            let list = if a.is_ipv4() { &mut v4 } else { &mut v6 };
            let key = key_of(a.ip());
            if !list.contains(&key) {
                list.push(key);
            }
        }
        let context = format!("adding masquerade of {attachment:?} on network {network:?}");
        let mut sock = self.conn.lock()?;
        sock.retry(&context, |sock| {
            let genid = sock.generation()?;
            let rules = sock.rule_infos(&TABLE, None)?;
            let has = |chain: &str, comment: &str| {
                rules
                    .iter()
                    .any(|r| r.chain == chain && r.comment == comment)
            };
            let have_exclusions: BTreeSet<&str> = rules
                .iter()
                .filter(|r| r.chain == names.chain)
                .filter_map(|r| names::parse_exclusion_comment(&r.comment))
                .collect();
            let missing: Vec<&Exclusion> = exclusions
                .iter()
                .filter(|e| !have_exclusions.contains(e.text.as_str()))
                .collect();
            let jumps = [
                (IpFamily::V4, names.set_v4.as_str(), SET_ID_V4),
                (IpFamily::V6, names.set_v6.as_str(), SET_ID_V6),
            ];
            let missing_jumps: Vec<_> = jumps
                .iter()
                .filter(|(f, _, _)| !has(POSTROUTING, &names.jump_comment(*f)))
                .collect();
            let has_masq = has(&names.chain, &names.masquerade_comment);
            let structural = !missing.is_empty() || !missing_jumps.is_empty() || !has_masq;
            if !structural {
                // The usual case: the network is set up and the pod's addresses are new. Create
                // them exclusively: a commit that only adds leaves the kernel nothing to free
                // after an RCU grace period, whereas one that also deletes (the general path
                // below) queues that work, and closing a netfilter socket while it is pending
                // waits for it (nft_rcv_nl_event flushes it): a plugin process exiting right
                // after its ADD then waited ~10 ms for the grace period. An address still
                // recorded (a reused IP) fails with EEXIST, changing nothing, and takes the
                // general path.
                let mut batch = sock.batch(None);
                for (set, keys) in [(&names.set_v4, &v4), (&names.set_v6, &v6)] {
                    let owned: Vec<(Vec<u8>, Option<String>)> = keys
                        .iter()
                        .map(|k| (k.clone(), Some(comment.clone())))
                        .collect();
                    batch.create_elements(&TABLE, set, &owned);
                }
                // Restart also when the network was removed between the read and the write: set
                // it up again.
                match sock.commit_exclusive(batch, &context)? {
                    Exclusive::Done => return Ok(Some(())),
                    Exclusive::Restart => return Ok(None),
                    Exclusive::Exists => {}
                }
            }
            // Rule changes are conditional on the generation read above (so concurrent adds never
            // duplicate them); element changes alone are self-contained and need no such check,
            // so adds to an existing network never conflict with each other.
            let mut batch = sock.batch(structural.then_some(genid));
            if structural {
                batch.add_table(&TABLE);
                batch.add_base_chain(&TABLE, &POSTROUTING_CHAIN);
                batch.add_chain(&TABLE, &names.chain);
                for (set, id, family) in [
                    (&names.set_v4, SET_ID_V4, IpFamily::V4),
                    (&names.set_v6, SET_ID_V6, IpFamily::V6),
                ] {
                    batch.add_set(&TABLE, set, id, family.set_key_type(), family.addr_len());
                }
                if !has_masq {
                    batch.add_rule(
                        &TABLE,
                        &names.chain,
                        &RuleSpec::Masquerade.exprs(),
                        &names.masquerade_comment,
                        true,
                    );
                }
                for e in &missing {
                    let rule = RuleSpec::ReturnIfDestinationIn {
                        family: e.family(),
                        network: &e.network,
                        mask: &e.mask,
                    };
                    // Inserted at the head of the chain: always before the final masquerade.
                    batch.add_rule(
                        &TABLE,
                        &names.chain,
                        &rule.exprs(),
                        &names::exclusion_comment(&e.text),
                        false,
                    );
                }
                for (family, set, set_id) in &missing_jumps {
                    let rule = RuleSpec::JumpIfSourceInSet {
                        family: *family,
                        set,
                        set_id: *set_id,
                        chain: &names.chain,
                    };
                    batch.add_rule(
                        &TABLE,
                        POSTROUTING,
                        &rule.exprs(),
                        &names.jump_comment(*family),
                        true,
                    );
                }
            }
            for (set, keys) in [(&names.set_v4, &v4), (&names.set_v6, &v6)] {
                let bare: Vec<(Vec<u8>, Option<String>)> =
                    keys.iter().map(|k| (k.clone(), None)).collect();
                let owned: Vec<(Vec<u8>, Option<String>)> = keys
                    .iter()
                    .map(|k| (k.clone(), Some(comment.clone())))
                    .collect();
                // add + delete + add: succeeds whether or not the element exists, and leaves it
                // with this attachment's comment.
                batch.set_elements(true, &TABLE, set, &bare);
                batch.set_elements(false, &TABLE, set, &bare);
                batch.set_elements(true, &TABLE, set, &owned);
            }
            match sock.commit(batch, &context) {
                Ok(Commit::Done) => Ok(Some(())),
                Ok(Commit::Restart) => Ok(None),
                // The network was removed between the read and the write: set it up again.
                Err(e) if !structural && e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Stops masquerading every address of `attachment` on `network`. Removing an attachment that
    /// is not there (or a network that does not exist) succeeds. The network's rules stay; see
    /// [`Masquerade::remove_network`].
    pub fn remove(&self, network: &str, attachment: &Attachment) -> Result<()> {
        self.remove_matching(network, |a| a == attachment).map(drop)
    }

    /// Removes the masquerade state of every attachment of `network` that is not in `valid`, and
    /// returns the attachments removed (sorted). Elements without an attachment comment are left
    /// alone.
    pub fn gc(&self, network: &str, valid: &[Attachment]) -> Result<Vec<Attachment>> {
        self.remove_matching(network, |a| !valid.contains(a))
    }

    fn remove_matching(
        &self,
        network: &str,
        doomed: impl Fn(&Attachment) -> bool,
    ) -> Result<Vec<Attachment>> {
        let names = network_names(network)?;
        let context = format!("removing masquerade entries of network {network:?}");
        self.conn.lock()?.transact(&context, |sock, batch| {
            let mut removed = BTreeSet::new();
            for set in [&names.set_v4, &names.set_v6] {
                let keys: Vec<(Vec<u8>, Option<String>)> = sock
                    .set_elements(&TABLE, set)?
                    .into_iter()
                    .filter_map(|e| {
                        let a = names::parse_attachment_comment(&e.comment)?;
                        doomed(&a).then(|| {
                            removed.insert(a);
                            (e.key, None)
                        })
                    })
                    .collect();
                batch.set_elements(false, &TABLE, set, &keys);
            }
            Ok(removed.into_iter().collect())
        })
    }

    /// Removes everything of `network`: its jump rules, its chain and its sets (and the whole
    /// table when no other network is left). A network that does not exist is success.
    pub fn remove_network(&self, network: &str) -> Result<()> {
        let names = network_names(network)?;
        let context = format!("removing the masquerade of network {network:?}");
        self.conn.lock()?.transact(&context, |sock, batch| {
            let rules = sock.rule_infos(&TABLE, None)?;
            let chains = sock.object_names(&TABLE, false)?;
            let sets = sock.object_names(&TABLE, true)?;
            let others = chains.iter().any(|c| c != POSTROUTING && *c != names.chain)
                || sets
                    .iter()
                    .any(|s| *s != names.set_v4 && *s != names.set_v6)
                || rules
                    .iter()
                    .any(|r| r.chain == POSTROUTING && !names.is_jump_comment(&r.comment));
            if chains.is_empty() && sets.is_empty() && rules.is_empty() {
                // No table, or an empty one of no network: nothing to do.
                return Ok(());
            }
            if !others {
                batch.del_table(&TABLE);
                return Ok(());
            }
            for r in rules
                .iter()
                .filter(|r| r.chain == POSTROUTING && names.is_jump_comment(&r.comment))
            {
                batch.del_rule(&TABLE, POSTROUTING, Some(r.handle));
            }
            if chains.contains(&names.chain) {
                batch.del_rule(&TABLE, &names.chain, None);
                batch.del_chain(&TABLE, &names.chain);
            }
            for set in [&names.set_v4, &names.set_v6] {
                if sets.contains(set) {
                    batch.del_set(&TABLE, set);
                }
            }
            Ok(())
        })
    }

    /// Every masqueraded address of `network` with its attachment, sorted. Empty for an unknown
    /// network.
    pub fn entries(&self, network: &str) -> Result<Vec<MasqueradeEntry>> {
        let names = network_names(network)?;
        let mut sock = self.conn.lock()?;
        let mut out = Vec::new();
        for set in [&names.set_v4, &names.set_v6] {
            for e in sock.set_elements(&TABLE, set)? {
                if let (Some(attachment), Some(address)) =
                    (names::parse_attachment_comment(&e.comment), addr_of(&e.key))
                {
                    out.push(MasqueradeEntry {
                        attachment,
                        address,
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The attachments recorded for `network` (sorted, each once).
    pub fn attachments(&self, network: &str) -> Result<Vec<Attachment>> {
        let set: BTreeSet<Attachment> = self
            .entries(network)?
            .into_iter()
            .map(|e| e.attachment)
            .collect();
        Ok(set.into_iter().collect())
    }

    /// The networks that have masquerade rules in this namespace (sorted).
    pub fn networks(&self) -> Result<Vec<String>> {
        let rules = self.conn.lock()?.rule_infos(&TABLE, Some(POSTROUTING))?;
        let set: BTreeSet<String> = rules
            .iter()
            .filter_map(|r| names::network_of_jump_comment(&r.comment).map(str::to_owned))
            .collect();
        Ok(set.into_iter().collect())
    }
}

fn network_names(network: &str) -> Result<NetworkNames> {
    if network.len() > MAX_NETWORK_NAME {
        return Err(Error::invalid_input(format!(
            "network name of {} bytes is longer than {MAX_NETWORK_NAME}",
            network.len()
        )));
    }
    NetworkNames::new(network)
}

/// The base chain: `type nat hook postrouting priority srcnat; policy accept`.
const POSTROUTING_CHAIN: BaseChain<'static> = BaseChain {
    name: POSTROUTING,
    kind: "nat",
    hook: HOOK_POSTROUTING,
    priority: PRIORITY_SRCNAT,
};

/// The multicast ranges, never masqueraded (as the reference).
fn multicast() -> [Exclusion; 2] {
    let mut v6_mask = vec![0u8; 16];
    let mut v6_net = vec![0u8; 16];
    if let (Some(m), Some(n)) = (v6_mask.first_mut(), v6_net.first_mut()) {
        *m = 0xff;
        *n = 0xff;
    }
    [
        Exclusion {
            text: "224.0.0.0/4".into(),
            family_v6: false,
            network: vec![224, 0, 0, 0],
            mask: vec![240, 0, 0, 0],
        },
        Exclusion {
            text: "ff00::/8".into(),
            family_v6: true,
            network: v6_net,
            mask: v6_mask,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_are_normalised_to_their_network() {
        let e = Exclusion::new(&"10.1.2.3/16".parse().unwrap());
        assert_eq!(e.text, "10.1.0.0/16");
        assert_eq!(e.network, [10, 1, 0, 0]);
        assert_eq!(e.mask, [255, 255, 0, 0]);
        assert_eq!(e.family(), IpFamily::V4);
        let e = Exclusion::new(&"fd00:1::5/64".parse().unwrap());
        assert_eq!(e.text, "fd00:1::/64");
        assert_eq!(e.family(), IpFamily::V6);
        assert_eq!(e.mask.iter().filter(|b| **b == 0xff).count(), 8);
        let [v4, v6] = multicast();
        assert_eq!(
            (v4.text.as_str(), v6.text.as_str()),
            ("224.0.0.0/4", "ff00::/8")
        );
        assert_eq!(v6.network.first(), Some(&0xff));
    }

    #[test]
    fn keys_round_trip_addresses() {
        for a in ["10.0.0.1", "fd00::1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(addr_of(&key_of(ip)), Some(ip));
        }
        assert_eq!(addr_of(&[1, 2, 3]), None);
    }

    #[test]
    fn network_names_are_bounded() {
        assert!(network_names(&"n".repeat(200)).is_ok());
        assert!(
            network_names(&"n".repeat(201))
                .unwrap_err()
                .is_invalid_input()
        );
    }
}
