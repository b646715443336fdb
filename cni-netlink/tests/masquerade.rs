//! nftables masquerade in real (throwaway) namespaces, checked independently with `nft -j`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::masquerade::{Attachment, Masquerade};
use cni_netlink::testkit::{TestNode, TestNs};
use serde_json::Value;

#[test]
fn masquerade_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Masquerade>();
    check::<cni_netlink::masquerade::IptablesMasquerade>();
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

/// `nft -j list ruleset` inside the namespace.
fn ruleset(ns: &TestNs) -> Value {
    let out = ns
        .command("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nft failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn objects<'a>(rs: &'a Value, kind: &str) -> Vec<&'a Value> {
    rs["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get(kind))
        .filter(|o| o["table"] == "cni_rs_masquerade")
        .collect()
}

fn has_table(ns: &TestNs) -> bool {
    let rs = ruleset(ns);
    rs["nftables"].as_array().unwrap().iter().any(|o| {
        o.get("table")
            .is_some_and(|t| t["name"] == "cni_rs_masquerade")
    })
}

/// (address, comment) of every element of every set of the table, across all networks.
fn elements(ns: &TestNs) -> BTreeSet<(String, String)> {
    let rs = ruleset(ns);
    let mut out = BTreeSet::new();
    for set in objects(&rs, "set") {
        for e in set["elem"].as_array().into_iter().flatten() {
            let (val, comment) = match e.get("elem") {
                Some(inner) => (&inner["val"], inner["comment"].as_str().unwrap_or("")),
                None => (e, ""),
            };
            out.insert((val.as_str().unwrap().to_string(), comment.to_string()));
        }
    }
    out
}

/// Rules per chain name, each as its comment.
fn rule_comments(ns: &TestNs, chain_prefix: &str) -> Vec<String> {
    let rs = ruleset(ns);
    objects(&rs, "rule")
        .into_iter()
        .filter(|r| r["chain"].as_str().unwrap().starts_with(chain_prefix))
        .map(|r| r["comment"].as_str().unwrap_or("").to_string())
        .collect()
}

fn pair(addr: &str, att: &Attachment) -> (String, String) {
    (
        addr.to_string(),
        format!("if={} id={}", att.ifname, att.container_id),
    )
}

#[test]
fn add_programs_sets_and_rules_and_is_idempotent() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let a = Attachment::new("container-a", "eth0");
    let addrs = [net("10.1.0.5/24"), net("fd00:1::5/64")];
    masq.add("net1", &a, &addrs, &[net("10.0.0.0/8")]).unwrap();

    let expected: BTreeSet<_> = [pair("10.1.0.5", &a), pair("fd00:1::5", &a)].into();
    assert_eq!(elements(&node), expected);
    let base = rule_comments(&node, "postrouting");
    assert_eq!(base.len(), 2, "one jump per IP version: {base:?}");
    let mut chain = rule_comments(&node, "net-");
    // The masquerade rule is last; exclusions come before it.
    assert_eq!(chain.pop().unwrap(), "masquerade net=net1");
    let exclusions: BTreeSet<_> = chain.into_iter().collect();
    let want: BTreeSet<String> = [
        "dst=10.0.0.0/8",
        "dst=10.1.0.0/24",
        "dst=fd00:1::/64",
        "dst=224.0.0.0/4",
        "dst=ff00::/8",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(exclusions, want);

    // The chain really is a nat postrouting hook at srcnat priority, and nft renders our rules.
    let rs = ruleset(&node);
    let post = objects(&rs, "chain")
        .into_iter()
        .find(|c| c["name"] == "postrouting")
        .unwrap();
    assert_eq!(post["type"], "nat");
    assert_eq!(post["hook"], "postrouting");
    assert_eq!(post["prio"], 100);

    // Adding again changes nothing at all (same rules, same handles, same elements).
    let before = ruleset(&node);
    masq.add("net1", &a, &addrs, &[net("10.0.0.0/8")]).unwrap();
    assert_eq!(ruleset(&node), before);
    assert_eq!(masq.attachments("net1").unwrap(), vec![a.clone()]);
    assert_eq!(masq.networks().unwrap(), vec!["net1".to_string()]);
    let entries = masq.entries("net1").unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.attachment == a));
}

#[test]
fn remove_is_idempotent_and_leaves_others() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let a = Attachment::new("ca", "eth0");
    let b = Attachment::new("cb", "eth0");
    let a2 = Attachment::new("ca", "net1");
    masq.add("n", &a, &[net("10.2.0.2/24")], &[]).unwrap();
    masq.add("n", &b, &[net("10.2.0.3/24")], &[]).unwrap();
    masq.add("n", &a2, &[net("10.2.0.4/24")], &[]).unwrap();

    masq.remove("n", &a).unwrap();
    masq.remove("n", &a).unwrap();
    masq.remove("n", &Attachment::new("never", "eth0")).unwrap();
    masq.remove("no-such-network", &a).unwrap();
    let left: BTreeSet<_> = [pair("10.2.0.3", &b), pair("10.2.0.4", &a2)].into();
    assert_eq!(elements(&node), left);
    assert_eq!(masq.attachments("n").unwrap(), vec![a2.clone(), b.clone()]);
    // Rules stay until the network is removed.
    assert_eq!(rule_comments(&node, "postrouting").len(), 2);
}

#[test]
fn reused_address_belongs_to_the_latest_attachment() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let old = Attachment::new("old", "eth0");
    let new = Attachment::new("new", "eth0");
    masq.add("n", &old, &[net("10.3.0.9/24")], &[]).unwrap();
    masq.add("n", &new, &[net("10.3.0.9/24")], &[]).unwrap();
    assert_eq!(elements(&node), [pair("10.3.0.9", &new)].into());
    // Removing the stale owner does not remove the new owner's entry.
    masq.remove("n", &old).unwrap();
    assert_eq!(elements(&node), [pair("10.3.0.9", &new)].into());
}

#[test]
fn gc_removes_only_invalid_attachments() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let atts: Vec<Attachment> = (0..4)
        .map(|i| Attachment::new(format!("c{i}"), "eth0"))
        .collect();
    for (i, a) in atts.iter().enumerate() {
        let addrs = [
            net(&format!("10.4.0.{}/24", i + 2)),
            net(&format!("fd00:4::{}/64", i + 2)),
        ];
        masq.add("gcnet", a, &addrs, &[]).unwrap();
    }
    masq.add("othernet", &atts[1], &[net("10.5.0.2/24")], &[])
        .unwrap();
    let valid = [atts[0].clone(), atts[2].clone()];
    let removed = masq.gc("gcnet", &valid).unwrap();
    assert_eq!(removed, vec![atts[1].clone(), atts[3].clone()]);
    assert_eq!(masq.attachments("gcnet").unwrap(), valid.to_vec());
    // The other network is untouched, and a second GC removes nothing.
    assert_eq!(masq.attachments("othernet").unwrap(), vec![atts[1].clone()]);
    assert!(masq.gc("gcnet", &valid).unwrap().is_empty());
    assert_eq!(elements(&node).len(), 5);
}

#[test]
fn remove_network_tears_down_one_network_then_the_table() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let a = Attachment::new("c", "eth0");
    masq.add("one", &a, &[net("10.6.0.2/24")], &[net("10.0.0.0/8")])
        .unwrap();
    masq.add("two", &a, &[net("10.7.0.2/24")], &[]).unwrap();
    assert_eq!(
        masq.networks().unwrap(),
        vec!["one".to_string(), "two".to_string()]
    );

    masq.remove_network("one").unwrap();
    assert_eq!(masq.networks().unwrap(), vec!["two".to_string()]);
    assert!(masq.attachments("one").unwrap().is_empty());
    assert_eq!(elements(&node), [pair("10.7.0.2", &a)].into());
    let rs = ruleset(&node);
    let chains: Vec<_> = objects(&rs, "chain")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        chains.len(),
        2,
        "postrouting and the remaining network's chain: {chains:?}"
    );
    assert_eq!(objects(&rs, "set").len(), 2);

    masq.remove_network("one").unwrap();
    masq.remove_network("two").unwrap();
    assert!(
        !has_table(&node),
        "the last network takes the table with it"
    );
    masq.remove_network("two").unwrap();
    // A network can be set up again afterwards.
    masq.add("two", &a, &[net("10.7.0.2/24")], &[]).unwrap();
    assert_eq!(masq.attachments("two").unwrap(), vec![a]);
}

#[test]
fn never_masquerade_cidrs_accumulate_per_network() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let a = Attachment::new("c1", "eth0");
    let b = Attachment::new("c2", "eth0");
    masq.add("n", &a, &[net("10.8.0.2/24")], &[net("10.0.0.0/8")])
        .unwrap();
    masq.add(
        "n",
        &b,
        &[net("10.8.0.3/24")],
        &[net("172.16.0.0/12"), net("10.0.0.1/8")],
    )
    .unwrap();
    let chain: BTreeSet<_> = rule_comments(&node, "net-").into_iter().collect();
    assert!(chain.contains("dst=10.0.0.0/8"));
    assert!(chain.contains("dst=172.16.0.0/12"));
    // 10.0.0.1/8 is the same network as 10.0.0.0/8: no second rule; subnet 10.8.0.0/24 once.
    assert_eq!(chain.len(), 6, "{chain:?}");
}

#[test]
fn invalid_input_is_rejected() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    let a = Attachment::new("c", "eth0");
    let err = masq.add("", &a, &[net("10.9.0.2/24")], &[]).unwrap_err();
    assert!(err.is_invalid_input());
    let err = masq
        .add(
            "n",
            &Attachment::new("c", "bad name"),
            &[net("10.9.0.2/24")],
            &[],
        )
        .unwrap_err();
    assert!(err.is_invalid_input());
    let err = masq.add(&"x".repeat(300), &a, &[], &[]).unwrap_err();
    assert!(err.is_invalid_input());
    assert!(!has_table(&node), "nothing was written");
}

#[test]
fn concurrent_adds_create_the_network_once() {
    let node = TestNode::new();
    std::thread::scope(|s| {
        for i in 0..32 {
            let node = &node;
            s.spawn(move || {
                let masq = Masquerade::open(node.netns()).unwrap();
                let a = Attachment::new(format!("c{i}"), "eth0");
                masq.add(
                    "busy",
                    &a,
                    &[net(&format!("10.10.0.{}/24", i + 2))],
                    &[net("10.0.0.0/8")],
                )
                .unwrap();
            });
        }
    });
    let masq = Masquerade::open(node.netns()).unwrap();
    assert_eq!(masq.attachments("busy").unwrap().len(), 32);
    assert_eq!(rule_comments(&node, "postrouting").len(), 2);
    // 10.0.0.0/8, 10.10.0.0/24, the two multicast ranges, and masquerade: no duplicates.
    assert_eq!(rule_comments(&node, "net-").len(), 5);
}

#[test]
fn adds_racing_network_teardown_leave_a_consistent_table() {
    let node = TestNode::new();
    let never = [net("10.0.0.0/8")];
    std::thread::scope(|s| {
        for i in 0..4 {
            let node = &node;
            s.spawn(move || {
                let masq = Masquerade::open(node.netns()).unwrap();
                let a = Attachment::new(format!("c{i}"), "eth0");
                for _ in 0..40 {
                    masq.add("racy", &a, &[net(&format!("10.11.0.{}/24", i + 2))], &never)
                        .unwrap();
                }
            });
        }
        let node = &node;
        s.spawn(move || {
            let masq = Masquerade::open(node.netns()).unwrap();
            for _ in 0..20 {
                masq.remove_network("racy").unwrap();
            }
        });
    });
    // Whatever interleaving happened, one more add per pod leaves exactly one copy of the rules.
    let masq = Masquerade::open(node.netns()).unwrap();
    for i in 0..4 {
        let a = Attachment::new(format!("c{i}"), "eth0");
        masq.add("racy", &a, &[net(&format!("10.11.0.{}/24", i + 2))], &never)
            .unwrap();
    }
    assert_eq!(masq.attachments("racy").unwrap().len(), 4);
    assert_eq!(rule_comments(&node, "postrouting").len(), 2);
    let chain = rule_comments(&node, "net-");
    assert_eq!(chain.len(), 5, "{chain:?}");
    assert_eq!(chain.last().unwrap(), "masquerade net=racy");
}

#[test]
fn a_refused_batch_is_an_error_and_changes_nothing() {
    let node = TestNode::new();
    // A foreign chain of the same name with another hook: the kernel refuses our base chain.
    let out = node
        .command("nft")
        .arg(
            "add table inet cni_rs_masquerade; \
             add chain inet cni_rs_masquerade postrouting { type filter hook input priority 0; }",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = ruleset(&node);
    let masq = Masquerade::open(node.netns()).unwrap();
    let err = masq
        .add(
            "n",
            &Attachment::new("c", "eth0"),
            &[net("10.12.0.2/24")],
            &[],
        )
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    // The batch is atomic: no set, chain or element of it was left behind.
    assert_eq!(ruleset(&node), before);
    // The socket is still usable afterwards.
    assert!(masq.attachments("n").unwrap().is_empty());
}
