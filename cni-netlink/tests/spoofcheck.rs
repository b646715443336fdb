//! MAC spoof checking in real (throwaway) namespaces, checked independently with `nft`: the rules
//! are what `nft -f` writes for the Go reference's layout, `nft`-written rules are removed by us
//! and ours by the reference's way of removing them, and spoofed frames are really dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use cni_netlink::spoofcheck::{SpoofCheck, SpoofCheckEntry};
use cni_netlink::testkit::{TestNode, TestNs};
use cni_netlink::{Attachment, MacAddr};
use common::{Topology, ip, udp_pair};
use serde_json::Value;

const MAC1: MacAddr = MacAddr([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
const MAC2: MacAddr = MacAddr([0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x09]);

#[test]
fn spoof_check_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SpoofCheck>();
}

/// Runs `nft <args>` inside `ns` and returns its output; fails the test when nft fails.
fn nft(ns: &TestNs, args: &[&str]) -> String {
    let out = ns.command("nft").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs an nft script (commands on separate lines, one transaction) inside `ns`.
fn nft_script(ns: &TestNs, script: &str) {
    nft(ns, &[script]);
}

/// The Go reference's ruleset for one attachment, as `nft` text (`comment` is what it writes,
/// `macspoofchk-<id>`; earlier cni-rs versions wrote `<id>`).
fn reference_script(id: &str, comment: &str, host_ifname: &str, mac: MacAddr) -> String {
    format!(
        "add table bridge nat\n\
         add chain bridge nat PREROUTING {{ type filter hook prerouting priority -300 ; policy accept ; }}\n\
         add chain bridge nat cni-br-iface-{id}\n\
         add chain bridge nat cni-br-iface-{id}-mac\n\
         flush chain bridge nat cni-br-iface-{id}\n\
         flush chain bridge nat cni-br-iface-{id}-mac\n\
         add rule bridge nat PREROUTING iifname \"{host_ifname}\" jump cni-br-iface-{id} comment \"{comment}\"\n\
         add rule bridge nat cni-br-iface-{id} jump cni-br-iface-{id}-mac comment \"{comment}\"\n\
         add rule bridge nat cni-br-iface-{id}-mac ether saddr {mac} return comment \"{comment}\"\n\
         add rule bridge nat cni-br-iface-{id}-mac drop comment \"{comment}\"\n"
    )
}

/// `nft -j list table bridge nat` without handles (an empty list when there is no table).
fn table_json(ns: &TestNs) -> Vec<Value> {
    ns.nft_objects(&["list", "table", "bridge", "nat"])
        .unwrap_or_default()
}

/// `nft --debug=netlink list table bridge nat`: the kernel's own view of every rule's
/// expressions and userdata, with the rule handles and positions left out.
fn netlink_listing(ns: &TestNs) -> String {
    nft(ns, &["--debug=netlink", "list", "table", "bridge", "nat"])
        .lines()
        .map(|l| {
            if l.starts_with("bridge nat ") {
                l.split(' ').take(3).collect::<Vec<_>>().join(" ")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names of the table's chains.
fn chains(ns: &TestNs) -> Vec<String> {
    table_json(ns)
        .iter()
        .filter_map(|o| o.get("chain"))
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// (chain, comment) of the table's rules.
fn rules(ns: &TestNs) -> Vec<(String, String)> {
    table_json(ns)
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| {
            (
                r["chain"].as_str().unwrap().to_owned(),
                r["comment"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn att(id: &str) -> Attachment {
    Attachment::new(id, "eth0")
}

#[test]
fn install_writes_exactly_what_nft_writes_for_the_reference_layout() {
    let by_nft = TestNode::new();
    let ours = TestNode::new();
    let sc = SpoofCheck::open(ours.netns()).unwrap();
    // The first attachment creates table and base chain; the second finds them.
    for (id, veth, mac) in [
        ("ctr1", "veth01234567", MAC1),
        ("0123456789abcdef0123456789abcdef", "vethabcdefabcde", MAC2),
    ] {
        let att_id = format!("{id}-eth0");
        let comment = format!("macspoofchk-{att_id}");
        nft_script(&by_nft, &reference_script(&att_id, &comment, veth, mac));
        sc.install(&att(id), veth, mac).unwrap();
        assert_eq!(table_json(&ours), table_json(&by_nft));
        assert_eq!(netlink_listing(&ours), netlink_listing(&by_nft));
    }
    assert!(
        netlink_listing(&ours).contains("userdata = { \\x00\\x16macspoofchk-ctr1-eth0\\x00 }"),
        "{}",
        netlink_listing(&ours)
    );
    let base = table_json(&ours)
        .into_iter()
        .find_map(|o| {
            o.get("chain")
                .filter(|c| c["name"] == "PREROUTING")
                .cloned()
        })
        .unwrap();
    assert_eq!(base["type"], "filter");
    assert_eq!(base["hook"], "prerouting");
    assert_eq!(base["prio"], -300);
    assert_eq!(base["policy"], "accept");
}

#[test]
fn install_again_replaces_the_rules_and_lists_back() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    assert!(sc.entries().unwrap().is_empty(), "no table yet");
    let a = att("ctr1");
    sc.install(&a, "vethaaaa", MAC1).unwrap();
    sc.install(&att("ctr2"), "vethbbbb", MAC2).unwrap();
    sc.install(&a, "vethcccc", MAC2).unwrap();
    assert_eq!(
        sc.entries().unwrap(),
        [
            SpoofCheckEntry {
                id: "ctr1-eth0".into(),
                host_ifname: Some("vethcccc".into()),
                mac: Some(MAC2),
            },
            SpoofCheckEntry {
                id: "ctr2-eth0".into(),
                host_ifname: Some("vethbbbb".into()),
                mac: Some(MAC2),
            },
        ]
    );
    // One jump rule per attachment, and the replaced one is what nft writes for it.
    let prerouting: Vec<_> = rules(&node)
        .into_iter()
        .filter(|(c, _)| c == "PREROUTING")
        .collect();
    assert_eq!(prerouting.len(), 2, "{prerouting:?}");
    let by_nft = TestNode::new();
    for (id, veth, mac) in [("ctr2", "vethbbbb", MAC2), ("ctr1", "vethcccc", MAC2)] {
        let id = format!("{id}-eth0");
        nft_script(
            &by_nft,
            &reference_script(&id, &format!("macspoofchk-{id}"), veth, mac),
        );
    }
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(|o| o.to_string());
        v
    };
    assert_eq!(sorted(table_json(&node)), sorted(table_json(&by_nft)));
}

#[test]
fn remove_is_idempotent_and_leaves_others_and_the_base_chain() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    // Nothing installed, not even the table.
    sc.remove(&att("ctr1")).unwrap();
    assert!(table_json(&node).is_empty());
    sc.install(&att("ctr1"), "veth1", MAC1).unwrap();
    sc.install(&att("ctr2"), "veth2", MAC2).unwrap();
    sc.remove(&att("ctr1")).unwrap();
    sc.remove(&att("ctr1")).unwrap();
    assert_eq!(
        chains(&node),
        [
            "PREROUTING",
            "cni-br-iface-ctr2-eth0",
            "cni-br-iface-ctr2-eth0-mac"
        ]
    );
    assert!(
        rules(&node)
            .iter()
            .all(|(_, c)| c == "macspoofchk-ctr2-eth0")
    );
    sc.remove(&att("ctr2")).unwrap();
    assert_eq!(chains(&node), ["PREROUTING"]);
    assert!(rules(&node).is_empty());
    assert!(sc.entries().unwrap().is_empty());
}

#[test]
fn remove_takes_away_what_nft_wrote() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    // The reference's rules, an earlier cni-rs version's (comment without the prefix), and a
    // rule of someone else in the base chain.
    nft_script(
        &node,
        &reference_script("go-eth0", "macspoofchk-go-eth0", "vethgo", MAC1),
    );
    nft_script(
        &node,
        &reference_script("old-eth0", "old-eth0", "vethold", MAC2),
    );
    nft(
        &node,
        &[
            "add",
            "rule",
            "bridge",
            "nat",
            "PREROUTING",
            "iifname",
            "\"x\"",
            "accept",
            "comment",
            "\"keep\"",
        ],
    );
    sc.remove(&att("go")).unwrap();
    sc.remove(&att("old")).unwrap();
    assert_eq!(chains(&node), ["PREROUTING"]);
    assert_eq!(rules(&node), [("PREROUTING".to_owned(), "keep".to_owned())]);
}

#[test]
fn the_references_teardown_removes_what_we_installed() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    sc.install(&att("ctr1"), "veth1", MAC1).unwrap();
    // What the reference's Teardown does: find the base-chain rule by its comment, delete it,
    // then delete both chains (without flushing them first).
    let listing: Value = serde_json::from_str(&nft(
        &node,
        &["-j", "-a", "list", "chain", "bridge", "nat", "PREROUTING"],
    ))
    .unwrap();
    let handles: Vec<String> = listing["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["comment"] == "macspoofchk-ctr1-eth0")
        .map(|r| r["handle"].to_string())
        .collect();
    assert_eq!(handles.len(), 1);
    let mut script = format!("delete rule bridge nat PREROUTING handle {}\n", handles[0]);
    script.push_str("delete chain bridge nat cni-br-iface-ctr1-eth0\n");
    script.push_str("delete chain bridge nat cni-br-iface-ctr1-eth0-mac\n");
    nft_script(&node, &script);
    assert_eq!(chains(&node), ["PREROUTING"]);
    assert!(sc.entries().unwrap().is_empty());
}

#[test]
fn gc_keeps_valid_attachments_and_what_is_not_ours() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    assert!(sc.gc(&[]).unwrap().is_empty(), "no table");
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        sc.install(&att(id), &format!("veth{i}"), MAC1).unwrap();
    }
    // An attachment whose interface is called "mac" (its chain looks like a -mac chain).
    sc.install(&Attachment::new("d", "mac"), "veth3", MAC2)
        .unwrap();
    // Not ours: a chain of someone else, and a rule of someone else in the base chain.
    nft_script(
        &node,
        "add chain bridge nat mine\n\
         add rule bridge nat mine drop\n\
         add rule bridge nat PREROUTING iifname \"x\" jump mine comment \"keep\"\n",
    );
    let valid = [att("b"), Attachment::new("gone", "eth0")];
    assert_eq!(sc.gc(&valid).unwrap(), ["a-eth0", "c-eth0", "d-mac"]);
    assert_eq!(ids(&sc), ["b-eth0"]);
    assert_eq!(
        chains(&node),
        [
            "PREROUTING",
            "cni-br-iface-b-eth0",
            "cni-br-iface-b-eth0-mac",
            "mine"
        ]
    );
    let prerouting: Vec<String> = rules(&node)
        .into_iter()
        .filter(|(c, _)| c == "PREROUTING")
        .map(|(_, comment)| comment)
        .collect();
    assert_eq!(prerouting, ["macspoofchk-b-eth0", "keep"]);
    assert!(
        sc.gc(&valid).unwrap().is_empty(),
        "a second GC has nothing to do"
    );
}

/// A node with the checks of `a-eth0` (veth0, MAC1) and `b-eth0` (veth1, MAC2).
fn node_with_a_and_b() -> (TestNode, SpoofCheck) {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    sc.install(&att("a"), "veth0", MAC1).unwrap();
    sc.install(&att("b"), "veth1", MAC2).unwrap();
    (node, sc)
}

/// The ids of the checks installed.
fn ids(sc: &SpoofCheck) -> Vec<String> {
    sc.entries().unwrap().into_iter().map(|e| e.id).collect()
}

#[test]
fn gc_leaves_a_chain_that_another_rule_jumps_to() {
    let (node, sc) = node_with_a_and_b();
    nft_script(
        &node,
        "add chain bridge nat mine\n\
         add rule bridge nat mine jump cni-br-iface-b-eth0\n",
    );
    assert_eq!(sc.gc(&[]).unwrap(), ["a-eth0"]);
    assert_eq!(ids(&sc), ["b-eth0"]);
}

#[test]
fn unusable_names_are_refused_before_anything_changes() {
    let node = TestNode::new();
    let sc = SpoofCheck::open(node.netns()).unwrap();
    for (a, veth) in [
        (Attachment::new("bad id", "eth0"), "veth0"),
        (Attachment::new("c\"1", "eth0"), "veth0"),
        (Attachment::new("c".repeat(300), "eth0"), "veth0"),
        (att("ok"), ""),
        (att("ok"), "veth-name-too-long"),
    ] {
        let err = sc.install(&a, veth, MAC1).unwrap_err();
        assert!(err.is_invalid_input(), "{a:?} {veth:?}: {err}");
    }
    assert!(
        sc.remove(&Attachment::new("bad id", "eth0"))
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(table_json(&node).is_empty());
}

#[test]
fn concurrent_installs_and_removes_each_land_once() {
    let node = TestNode::new();
    let workers = 4;
    let per_worker = 12;
    std::thread::scope(|s| {
        for w in 0..workers {
            let node = &node;
            s.spawn(move || {
                let sc = SpoofCheck::open(node.netns()).unwrap();
                for i in 0..per_worker {
                    let a = att(&format!("w{w}p{i}"));
                    sc.install(&a, &format!("veth{w}x{i}"), MAC1).unwrap();
                    // Every other one is removed again, the rest stay.
                    if i % 2 == 1 {
                        sc.remove(&a).unwrap();
                    }
                }
            });
        }
    });
    let sc = SpoofCheck::open(node.netns()).unwrap();
    let entries = sc.entries().unwrap();
    assert_eq!(entries.len(), workers * per_worker / 2);
    assert!(
        entries
            .iter()
            .all(|e| e.host_ifname.is_some() && e.mac == Some(MAC1))
    );
    let prerouting = rules(&node)
        .iter()
        .filter(|(c, _)| c == "PREROUTING")
        .count();
    assert_eq!(prerouting, entries.len(), "one jump rule each");
}

/// A bridge with two ports: `vpod` to a pod (10.5.0.5) and `vrem` to a remote (10.5.0.6).
fn topology() -> Topology {
    let t = Topology::new();
    ip(&t.node, &["link", "add", "br0", "type", "bridge"]);
    ip(&t.node, &["link", "set", "br0", "up"]);
    for (ns, dev, addr) in [
        (&t.pod, "vpod", "10.5.0.5/24"),
        (&t.remote, "vrem", "10.5.0.6/24"),
    ] {
        let path = ns.path().to_str().unwrap();
        let veth = [
            "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", path,
        ];
        ip(&t.node, &veth);
        ip(&t.node, &["link", "set", dev, "master", "br0", "up"]);
        ip(ns, &["addr", "add", addr, "dev", "eth0"]);
        ip(ns, &["link", "set", "eth0", "up"]);
    }
    t
}

fn mac_of(ns: &TestNs, dev: &str) -> MacAddr {
    let links = ns.ip_json(&["link", "show", "dev", dev]).unwrap();
    links[0]["address"].as_str().unwrap().parse().unwrap()
}

/// Sends up to three datagrams from the pod to the remote; true when one arrives.
fn reaches_remote(t: &Topology) -> bool {
    let dst = "10.5.0.6".parse().unwrap();
    let (sender, receiver) = udp_pair(&t.pod, &t.remote, dst, Duration::from_millis(300));
    let target = receiver.local_addr().unwrap();
    let mut buf = [0u8; 8];
    (0..3).any(|_| {
        sender.send_to(b"hello", target).unwrap();
        receiver.recv_from(&mut buf).is_ok()
    })
}

#[test]
fn spoofed_source_macs_are_dropped_at_the_bridge() {
    let t = topology();
    let pod_mac = mac_of(&t.pod, "eth0");
    assert!(
        reaches_remote(&t),
        "the bridge forwards without a spoof check"
    );
    let sc = SpoofCheck::open(t.node.netns()).unwrap();
    let a = att("pod");
    sc.install(&a, "vpod", pod_mac).unwrap();
    assert!(reaches_remote(&t), "frames with the pod's own MAC pass");
    // The pod takes another MAC: its frames (ARP included) no longer enter the bridge.
    ip(
        &t.pod,
        &["link", "set", "eth0", "address", "02:00:00:00:00:99"],
    );
    assert!(!reaches_remote(&t), "a spoofed source MAC is dropped");
    sc.remove(&a).unwrap();
    assert!(
        reaches_remote(&t),
        "without the check the new MAC passes again"
    );
}

#[test]
fn gc_where_collects_only_what_the_caller_agrees_to() {
    let (_node, sc) = node_with_a_and_b();
    let mine = |e: &SpoofCheckEntry| e.host_ifname.as_deref() == Some("veth0");
    assert_eq!(sc.gc_where(&[], mine).unwrap(), ["a-eth0"]);
    assert_eq!(ids(&sc), ["b-eth0"]);
    assert!(sc.gc_where(&[], mine).unwrap().is_empty());
}
