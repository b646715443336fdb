//! GC: the reservations and masquerade state of attachments that were added and never deleted
//! are freed by GC given the valid attachments; the valid ones and other networks are left
//! alone. Also after a simulated reboot: every namespace gone, the data directory kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod relkit;

use std::collections::BTreeSet;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use relkit::*;
use serde_json::{Value, json};

fn net(data: &TempDir, name: &str, bridge: &str, subnet: &str) -> Value {
    let mut c = conf(
        "1.1.0",
        data,
        &[subnet],
        json!({"isGateway": true, "ipMasq": true}),
    );
    c["name"] = json!(name);
    c["bridge"] = json!(bridge);
    c
}

fn add(node: &TestNode, pod: &TestNs, id: &str, c: &Value) {
    let mut call = Call::new(OURS, "ADD", pod);
    call.container_id = id;
    call.run(node, c).expect_ok();
}

fn gc(node: &TestNode, pod: &TestNs, c: &Value, valid: &[&str]) {
    let out = Call::new(OURS, "GC", pod).run(node, &gc_conf(c, valid));
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.ok, "GC failed: {} {}", out.json, out.stderr);
}

/// The container ids holding an address of `network`.
fn owners(data: &TempDir, network: &str) -> BTreeSet<String> {
    reservation_owners(data, network)
        .iter()
        .map(|o| o.split("\r\n").next().unwrap_or_default().to_owned())
        .collect()
}

/// The container ids with a masquerade element on the node.
fn masq_owners(node: &TestNs) -> BTreeSet<String> {
    nft_elements(node)
        .into_iter()
        .filter_map(|(_, c)| c.split(" id=").nth(1).map(str::to_owned))
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn gc_frees_stale_attachments_and_keeps_valid_ones_and_other_networks() {
    let node = TestNode::new();
    let data = TempDir::new("rel-gc");
    let a = net(&data, "neta", "cni0", "10.91.0.0/24");
    let b = net(&data, "netb", "cni1", "10.92.0.0/24");
    let mut pods: Vec<TestNs> = (0..6).map(|i| node.pod(&format!("a{i}"))).collect();
    let ids = ["va0", "va1", "va2", "st0", "st1", "st2"];
    for (pod, id) in pods.iter().zip(ids) {
        add(&node, pod, id, &a);
    }
    let bpods: Vec<TestNs> = (0..2).map(|i| node.pod(&format!("b{i}"))).collect();
    for (pod, id) in bpods.iter().zip(["b0", "b1"]) {
        add(&node, pod, id, &b);
    }
    assert_eq!(owners(&data, "neta").len(), 6);
    // The stale pods go away without DEL (their namespaces, with their veths, too).
    let veths_before = host_veths(&node).len();
    let stale = pods.split_off(3);
    let addrs_before: Vec<Vec<String>> = pods.iter().map(|p| addrs(p, "eth0")).collect();
    drop(stale);
    let start = std::time::Instant::now();
    while host_veths(&node).len() > veths_before - 3 && start.elapsed().as_secs() < 10 {
        // The kernel destroys a deleted namespace's devices asynchronously.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(host_veths(&node).len(), veths_before - 3);

    let holder = node.pod("gc");
    gc(&node, &holder, &a, &["va0", "va1", "va2"]);
    assert_eq!(owners(&data, "neta"), set(&["va0", "va1", "va2"]));
    assert_eq!(owners(&data, "netb"), set(&["b0", "b1"]));
    assert_eq!(
        masq_owners(&node),
        set(&["va0", "va1", "va2", "b0", "b1"]),
        "only the stale attachments' masquerading went"
    );
    assert_eq!(host_veths(&node).len(), 5, "valid veths untouched");
    // GC again changes nothing.
    gc(&node, &holder, &a, &["va0", "va1", "va2"]);
    assert_eq!(owners(&data, "neta").len(), 3);
    assert_eq!(masq_owners(&node).len(), 5);
    let addrs_after: Vec<Vec<String>> = pods.iter().map(|p| addrs(p, "eth0")).collect();
    assert_eq!(addrs_after, addrs_before, "valid pods keep their addresses");

    // GC of the other network with no valid attachment frees all of it, and nothing of neta.
    gc(&node, &holder, &b, &[]);
    assert!(owners(&data, "netb").is_empty());
    assert_eq!(owners(&data, "neta").len(), 3);
    assert_eq!(masq_owners(&node), set(&["va0", "va1", "va2"]));
}

#[test]
fn gc_after_a_simulated_reboot() {
    let data = TempDir::new("rel-gc-reboot");
    let a = net(&data, "neta", "cni0", "10.93.0.0/24");
    let b = net(&data, "netb", "cni1", "10.94.0.0/24");
    {
        // Before the reboot: four pods on neta, one on netb, never deleted.
        let node = TestNode::new();
        let pods: Vec<TestNs> = (0..5).map(|i| node.pod(&format!("p{i}"))).collect();
        for (i, pod) in pods.iter().enumerate().take(4) {
            add(&node, pod, &format!("old{i}"), &a);
        }
        add(&node, &pods[4], "oldb", &b);
        assert_eq!(owners(&data, "neta").len(), 4);
        // The reboot: every namespace (node and pods) is gone, with their links and nftables
        // state; the data directory stays.
    }
    let node = TestNode::new();
    let pod = node.pod("new");
    // The runtime brings one pod back under a new id before it collects.
    add(&node, &pod, "new0", &a);
    assert_eq!(owners(&data, "neta").len(), 5);
    let holder = node.pod("gc");
    gc(&node, &holder, &a, &["new0"]);
    assert_eq!(owners(&data, "neta"), set(&["new0"]));
    assert_eq!(masq_owners(&node), set(&["new0"]));
    assert_eq!(
        owners(&data, "netb"),
        set(&["oldb"]),
        "netb not collected yet"
    );
    gc(&node, &holder, &b, &[]);
    assert!(owners(&data, "netb").is_empty());
    assert_eq!(owners(&data, "neta"), set(&["new0"]));
    // DEL of an attachment from before the reboot, with its namespace gone, also succeeds.
    let mut del = Call::new(OURS, "DEL", &holder);
    del.container_id = "old1";
    del.netns = "/proc/self/ns/this-path-does-not-exist".into();
    let out = del.run(&node, &a);
    assert!(out.ok, "{} {}", out.json, out.stderr);
    // The freed addresses are given out again.
    let others: Vec<TestNs> = (0..4).map(|i| node.pod(&format!("q{i}"))).collect();
    for (i, p) in others.iter().enumerate() {
        add(&node, p, &format!("again{i}"), &a);
    }
    assert_eq!(owners(&data, "neta").len(), 5);
}
