//! `macspoofchk` end to end: our rules are the Go reference's (`/usr/lib/cni/bridge` v1.1.1,
//! which supports `macspoofchk`), each side's DEL removes the other's, and GC removes the checks
//! of attachments not in `validAttachments` (only this network's: other bridges' stay).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

fn spoof_conf(version: &str, data: &TempDir, subnet: &str) -> Value {
    conf(version, data, &[subnet], json!({"macspoofchk": true}))
}

fn run(bin: &str, cmd: &str, node: &TestNode, pod: &TestNs, id: &str, c: &Value) -> Value {
    let mut call = Call::new(bin, cmd, pod);
    call.container_id = id;
    let out = call.run(node, c);
    assert!(out.ok, "{bin} {cmd} {id}: {} {}", out.json, out.stderr);
    out.json
}

/// `nft -j list table bridge nat` of the node without handles, with `subst` (pairs of
/// text and placeholder) applied; empty when there is no table.
fn table(node: &TestNode, subst: &[(&str, &str)]) -> Value {
    let objects = node
        .nft_objects(&["list", "table", "bridge", "nat"])
        .unwrap_or_default();
    let mut text = Value::Array(objects).to_string();
    for (from, to) in subst {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

/// Names of the node's `cni-br-iface-` chains and comments of its rules.
fn spoof_objects(node: &TestNode) -> Vec<String> {
    let rs = nft_ruleset(node);
    rs.lines()
        .map(str::trim)
        .filter(|l| l.contains("cni-br-iface-") || l.contains("macspoofchk-"))
        .map(str::to_owned)
        .collect()
}

/// (host veth name, container MAC) of an ADD result.
fn veth_and_mac(result: &Value) -> (String, String) {
    (
        result["interfaces"][1]["name"].as_str().unwrap().to_owned(),
        result["interfaces"][2]["mac"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn our_rules_are_the_go_references() {
    let mut tables = Vec::new();
    for bin in [GO, OURS] {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let data = TempDir::new("spoof-cmp");
        let c = spoof_conf("1.0.0", &data, "10.61.0.0/24");
        let result = run(bin, "ADD", &node, &pod, "ctr1", &c);
        let (veth, mac) = veth_and_mac(&result);
        let t = table(&node, &[(&veth, "<veth>"), (&mac, "<mac>")]);
        assert!(
            t.to_string().contains("macspoofchk-ctr1-eth0"),
            "{bin}: {t}"
        );
        tables.push(t);
        run(bin, "DEL", &node, &pod, "ctr1", &c);
    }
    assert_eq!(tables[1], tables[0], "ours (right) against Go's (left)");
}

/// ADD by `adder`, DEL by `deleter`: the attachment's rules and chains are gone, another
/// attachment's stay, and a second DEL (by either) succeeds.
fn cross_del(adder: &str, deleter: &str) {
    let node = TestNode::new();
    let pods = [node.pod("pod1"), node.pod("pod2")];
    let data = TempDir::new("spoof-cross");
    let c = spoof_conf("1.0.0", &data, "10.62.0.0/24");
    run(adder, "ADD", &node, &pods[0], "ctr1", &c);
    run(adder, "ADD", &node, &pods[1], "ctr2", &c);
    assert!(
        spoof_objects(&node)
            .iter()
            .any(|l| l.contains("cni-br-iface-ctr1-eth0")),
        "{}",
        nft_ruleset(&node)
    );
    run(deleter, "DEL", &node, &pods[0], "ctr1", &c);
    let left = spoof_objects(&node);
    assert!(
        left.iter().all(|l| !l.contains("ctr1")),
        "{adder} ADD, {deleter} DEL left: {left:#?}"
    );
    assert!(left.iter().any(|l| l.contains("cni-br-iface-ctr2-eth0")));
    run(deleter, "DEL", &node, &pods[0], "ctr1", &c);
    run(adder, "DEL", &node, &pods[0], "ctr1", &c);
    run(deleter, "DEL", &node, &pods[1], "ctr2", &c);
    assert!(spoof_objects(&node).is_empty(), "{}", nft_ruleset(&node));
}

#[test]
fn go_add_then_our_del_leaves_no_spoof_check() {
    cross_del(GO, OURS);
}

#[test]
fn our_add_then_go_del_leaves_no_spoof_check() {
    cross_del(OURS, GO);
}

#[test]
fn gc_removes_the_spoof_checks_of_this_networks_stale_attachments() {
    let node = TestNode::new();
    let data = TempDir::new("spoof-gc");
    let a = spoof_conf("1.1.0", &data, "10.63.0.0/24");
    let mut b = spoof_conf("1.1.0", &data, "10.64.0.0/24");
    b["name"] = json!("othernet");
    b["bridge"] = json!("cni1");
    let pods: Vec<TestNs> = (0..4).map(|i| node.pod(&format!("p{i}"))).collect();
    run(OURS, "ADD", &node, &pods[0], "valid", &a);
    run(OURS, "ADD", &node, &pods[1], "stale", &a);
    run(OURS, "ADD", &node, &pods[2], "gone", &a);
    // Another network's attachment, on another bridge: not in this network's valid list.
    run(OURS, "ADD", &node, &pods[3], "other", &b);
    // A pod that went away without DEL: its veth went with its namespace.
    let mut pods = pods;
    drop(pods.remove(2));
    let chains = |node: &TestNode| -> Vec<String> {
        let mut ids: Vec<String> = spoof_objects(node)
            .iter()
            .filter_map(|l| l.strip_prefix("chain cni-br-iface-"))
            .filter_map(|l| l.strip_suffix("-eth0 {"))
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(chains(&node), ["gone", "other", "stale", "valid"]);
    let out = Call::new(OURS, "GC", &pods[0]).run(&node, &gc_conf(&a, &["valid"]));
    assert!(out.ok, "GC failed: {} {}", out.json, out.stderr);
    assert_eq!(chains(&node), ["other", "valid"]);
    // Every rule left belongs to a chain left.
    let rules: Vec<String> = spoof_objects(&node)
        .into_iter()
        .filter(|l| l.contains("comment"))
        .collect();
    assert_eq!(rules.len(), 8, "{rules:#?}");
    assert!(
        rules
            .iter()
            .all(|l| l.contains("macspoofchk-valid-eth0") || l.contains("macspoofchk-other-eth0"))
    );
    // The valid pod still has its check, and its DEL removes it.
    run(OURS, "DEL", &node, &pods[0], "valid", &a);
    run(OURS, "DEL", &node, &pods[2], "other", &b);
    assert!(spoof_objects(&node).is_empty(), "{}", nft_ruleset(&node));
}
