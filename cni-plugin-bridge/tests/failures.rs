//! Bad calls give the right CNI code and leave nothing behind; DEL succeeds every way it can be
//! called; many ADDs at once on a fresh node all succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

fn setup() -> (TestNode, TestNs, TempDir) {
    let node = TestNode::new();
    let pod = node.pod("pod");
    (node, pod, TempDir::new("bridge-fail"))
}

/// The node's host veths.
fn veth_names(node: &TestNode) -> Vec<String> {
    link_names(node)
        .into_iter()
        .filter(|n| n.starts_with("veth"))
        .collect()
}

fn assert_untouched(node: &TestNode, pod: &TestNs, data: &TempDir) {
    let names = link_names(node);
    assert!(names.iter().all(|n| !n.starts_with("veth")), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "cni0"),
        "no bridge was created: {names:?}"
    );
    assert_eq!(reservations(data, "testnet"), 0);
    let pod_links = link_names(pod);
    let known = ["lo", "eth0", "other"];
    assert!(
        pod_links.iter().all(|n| known.contains(&n.as_str())),
        "{pod_links:?}"
    );
}

#[test]
fn unknown_ipam_type_is_a_config_error() {
    let (node, pod, data) = setup();
    let mut c = conf("1.0.0", &data, &["10.1.0.0/24"], json!({}));
    c["ipam"]["type"] = json!("no-such-ipam");
    let out = Call::new(OURS, "ADD", &pod).run(&node, &c);
    assert_eq!(out.code(), 7, "{}", out.json);
    assert!(out.json["msg"].as_str().unwrap().contains("no-such-ipam"));
    assert_untouched(&node, &pod, &data);
}

#[test]
fn bridge_name_taken_by_another_kind_of_link() {
    let (node, pod, data) = setup();
    node.ip(&[
        "link", "add", "cni0", "type", "veth", "peer", "name", "cni0peer",
    ])
    .unwrap();
    let out =
        Call::new(OURS, "ADD", &pod).run(&node, &conf("1.0.0", &data, &["10.1.0.0/24"], json!({})));
    assert_eq!(out.code(), 7, "{}", out.json);
    assert!(
        out.json["msg"].as_str().unwrap().contains("not a bridge"),
        "{}",
        out.json
    );
    assert_eq!(
        link(&node, "cni0").unwrap()["linkinfo"]["info_kind"],
        "veth"
    );
    assert_eq!(reservations(&data, "testnet"), 0);
    assert!(link(&pod, "eth0").is_none());
}

/// host-local reserves while the links are made: when it fails (here the range is used up), the
/// veth pair made meanwhile is removed again, and the first pod keeps its address.
#[test]
fn ipam_failure_removes_the_links_made_meanwhile() {
    let (node, pod, data) = setup();
    // 10.1.0.0/30 has one address to hand out: .1 is the gateway, .0 and .3 are not usable.
    let c = conf("1.0.0", &data, &["10.1.0.0/30"], json!({"isGateway": true}));
    Call::new(OURS, "ADD", &pod).run(&node, &c).expect_ok();
    let veths_before = veth_names(&node);
    assert_eq!(veths_before.len(), 1, "{veths_before:?}");

    let second_pod = node.pod("pod2");
    let mut call = Call::new(OURS, "ADD", &second_pod);
    call.container_id = "ctr2";
    let out = call.run(&node, &c);
    assert_ne!(out.code(), 0, "{}", out.json);
    assert!(
        out.json["msg"]
            .as_str()
            .unwrap()
            .contains("no IP addresses available"),
        "{}",
        out.json
    );
    let veths_after = veth_names(&node);
    assert_eq!(
        veths_after, veths_before,
        "the second pod's veth pair is gone"
    );
    assert!(link(&second_pod, "eth0").is_none());
    assert_eq!(
        reservations(&data, "testnet"),
        1,
        "the first pod keeps its address"
    );
}

/// host-local's configuration and state directory are checked on the pod thread while the veth
/// pair is made (on a node that has its bridge): a failed check removes the pair again, reserves
/// nothing and is reported with its own code.
#[test]
fn host_local_check_failing_after_the_veth_removes_it() {
    let (node, pod, data) = setup();
    let c = conf("1.0.0", &data, &["10.1.0.0/24"], json!({}));
    Call::new(OURS, "ADD", &pod).run(&node, &c).expect_ok();
    let veths_before = veth_names(&node);

    // A state directory that cannot be made: a path under a regular file.
    let blocker = data.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let mut bad = c.clone();
    bad["ipam"]["dataDir"] = json!(blocker.join("data").to_string_lossy());
    let second_pod = node.pod("pod2");
    let mut call = Call::new(OURS, "ADD", &second_pod);
    call.container_id = "ctr2";
    let out = call.run(&node, &bad);
    assert_eq!(out.code(), 5, "{}", out.json);
    assert!(
        out.json["msg"].as_str().unwrap().contains("blocker"),
        "{}",
        out.json
    );
    assert_eq!(
        veth_names(&node),
        veths_before,
        "the pair made meanwhile is gone"
    );
    assert!(link(&second_pod, "eth0").is_none());
    assert_eq!(reservations(&data, "testnet"), 1);
}

/// The order of the checks holds though host-local's run on the pod thread: with both the
/// IPAM configuration and the netns bad, the IPAM's error is the one reported.
#[test]
fn a_bad_host_local_config_is_reported_before_a_bad_netns() {
    let (node, pod, data) = setup();
    let mut c = conf("1.0.0", &data, &["10.1.0.0/24"], json!({}));
    c["ipam"]["ranges"][0][0]["rangeStart"] = json!("10.9.0.5");
    let mut call = Call::new(OURS, "ADD", &pod);
    call.netns = "/proc/self/ns/nonexistent".to_owned();
    let out = call.run(&node, &c);
    assert_eq!(out.code(), 7, "{}", out.json);
    assert!(
        out.json["msg"].as_str().unwrap().contains("10.9.0.5"),
        "{}",
        out.json
    );
    assert_untouched(&node, &pod, &data);
}

#[test]
fn ifname_already_in_the_pod() {
    let (node, pod, data) = setup();
    pod.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other",
    ])
    .unwrap();
    let out =
        Call::new(OURS, "ADD", &pod).run(&node, &conf("1.0.0", &data, &["10.1.0.0/24"], json!({})));
    assert_eq!(out.code(), 4, "{}", out.json);
    assert!(
        out.json["msg"].as_str().unwrap().contains("already exists"),
        "{}",
        out.json
    );
    assert_untouched(&node, &pod, &data);
    assert_eq!(link(&pod, "eth0").unwrap()["linkinfo"]["info_kind"], "veth");
}

/// With the bridge already there (the usual case), the pod's taken interface name is found by
/// the veth pair's creation itself, which the kernel refuses whole: the same code and message
/// kind, the address reserved meanwhile is released, and the node keeps only the first pod's
/// veth.
#[test]
fn ifname_already_in_the_pod_with_the_bridge_there() {
    let (node, first, data) = setup();
    let c = conf("1.0.0", &data, &["10.1.0.0/24"], json!({}));
    Call::new(OURS, "ADD", &first).run(&node, &c).expect_ok();
    let veths_before = veth_names(&node);
    let pod = node.pod("pod2");
    pod.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other",
    ])
    .unwrap();
    let mut call = Call::new(OURS, "ADD", &pod);
    call.container_id = "ctr2";
    let out = call.run(&node, &c);
    assert_eq!(out.code(), 4, "{}", out.json);
    assert!(
        out.json["msg"].as_str().unwrap().contains("already exists"),
        "{}",
        out.json
    );
    let veths_after = veth_names(&node);
    assert_eq!(veths_after, veths_before);
    assert_eq!(reservations(&data, "testnet"), 1, "only the first pod's");
    assert_eq!(link(&pod, "eth0").unwrap()["linkinfo"]["info_kind"], "veth");
    assert!(link(&pod, "other").is_some());
}

#[test]
fn interface_name_too_long() {
    let (node, pod, data) = setup();
    let mut call = Call::new(OURS, "ADD", &pod);
    call.ifname = "a-name-far-too-long";
    let out = call.run(&node, &conf("1.0.0", &data, &["10.1.0.0/24"], json!({})));
    assert_eq!(out.code(), 4, "{}", out.json);
    assert_untouched(&node, &pod, &data);
}

#[test]
fn netns_that_is_not_a_namespace() {
    let (node, pod, data) = setup();
    let file = data.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let mut call = Call::new(OURS, "ADD", &pod);
    call.netns = file.to_string_lossy().into_owned();
    let out = call.run(&node, &conf("1.0.0", &data, &["10.1.0.0/24"], json!({})));
    assert_eq!(out.code(), 4, "{}", out.json);
    assert_untouched(&node, &pod, &data);
}

#[test]
fn malformed_configs() {
    let (node, pod, data) = setup();
    for (bad, code) in [
        (
            json!({"cniVersion": "1.0.0", "name": "testnet", "type": "bridge", "mtu": "big"}),
            7,
        ),
        (
            json!({"cniVersion": "1.0.0", "name": "testnet", "type": "bridge", "bridge": "../../etc"}),
            7,
        ),
        (
            json!({"cniVersion": "1.0.0", "name": "testnet", "type": "bridge", "vlanTrunk": [{"minID": 9}]}),
            7,
        ),
        (
            json!({"cniVersion": "9.9.9", "name": "testnet", "type": "bridge"}),
            1,
        ),
    ] {
        let out = Call::new(OURS, "ADD", &pod).run(&node, &bad);
        assert_eq!(out.code(), code, "{bad}: {}", out.json);
    }
    assert_untouched(&node, &pod, &data);
}

fn added(node: &TestNode, pod: &TestNs, conf: &Value) -> Value {
    Call::new(OURS, "ADD", pod).run(node, conf).expect_ok()
}

#[test]
fn del_twice_and_never_added() {
    let (node, pod, data) = setup();
    let c = conf(
        "1.0.0",
        &data,
        &["10.1.0.0/24"],
        json!({"isGateway": true, "ipMasq": true}),
    );
    Call::new(OURS, "DEL", &pod).run(&node, &c).expect_ok();
    added(&node, &pod, &c);
    Call::new(OURS, "DEL", &pod).run(&node, &c).expect_ok();
    Call::new(OURS, "DEL", &pod).run(&node, &c).expect_ok();
    assert!(link(&pod, "eth0").is_none());
    assert_eq!(reservations(&data, "testnet"), 0);
}

#[test]
fn del_after_the_netns_is_gone_frees_everything() {
    let (node, pod, data) = setup();
    let c = conf(
        "1.0.0",
        &data,
        &["10.1.0.0/24"],
        json!({"isGateway": true, "ipMasq": true}),
    );
    added(&node, &pod, &c);
    // The runtime deleted the namespace (its veth went with it) and its path is gone. (The
    // test kit's /proc/<pid>/fd/<n> path of a dropped namespace could name a reused descriptor,
    // so a path that no longer exists stands for it.)
    drop(pod);
    let other = node.pod("other");
    let mut del = Call::new(OURS, "DEL", &other);
    del.netns = data
        .path()
        .join("deleted-netns")
        .to_string_lossy()
        .into_owned();
    del.run(&node, &c).expect_ok();
    assert_eq!(reservations(&data, "testnet"), 0);
    assert!(!nft_ruleset(&node).contains("id=ctr1"));
}

#[test]
fn del_without_prev_result_and_after_the_bridge_was_removed() {
    let (node, pod, data) = setup();
    let c = conf("1.0.0", &data, &["10.1.0.0/24"], json!({"isGateway": true}));
    let r = added(&node, &pod, &c);
    node.ip(&["link", "del", "cni0"]).unwrap();
    let mut with_prev = c.clone();
    with_prev["prevResult"] = r;
    Call::new(OURS, "DEL", &pod)
        .run(&node, &with_prev)
        .expect_ok();
    Call::new(OURS, "DEL", &pod).run(&node, &c).expect_ok();
    assert!(link(&pod, "eth0").is_none());
    assert_eq!(reservations(&data, "testnet"), 0);
}

#[test]
fn thirty_two_adds_at_once_on_a_fresh_node() {
    let node = TestNode::new();
    let data = TempDir::new("bridge-race");
    let c = conf(
        "1.0.0",
        &data,
        &["10.8.0.0/24"],
        json!({"isDefaultGateway": true, "ipMasq": true}),
    );
    let pods: Vec<TestNs> = (0..32).map(|i| node.pod(&format!("p{i}"))).collect();
    let ids: Vec<String> = (0..32).map(|i| format!("ctr{i}")).collect();
    let results: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .zip(&ids)
            .map(|(pod, id)| {
                let (node, c) = (&node, &c);
                s.spawn(move || {
                    let mut call = Call::new(OURS, "ADD", pod);
                    call.container_id = id;
                    call.run(node, c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen = BTreeSet::new();
    let mut added = Vec::new();
    for r in results {
        let r = r.expect_ok();
        assert!(seen.insert(r["ips"][0]["address"].as_str().unwrap().to_owned()));
        added.push(r);
    }
    assert_eq!(seen.len(), 32);
    // While ports were being added the bridge's MAC followed the lowest port MAC until the
    // gateway pinned it: every result must carry the pinned one, so every CHECK passes.
    let bridge_mac = link(&node, "cni0").unwrap()["address"].clone();
    for ((pod, id), r) in pods.iter().zip(&ids).zip(added) {
        assert_eq!(r["interfaces"][0]["name"], "cni0");
        assert_eq!(r["interfaces"][0]["mac"], bridge_mac, "{id}");
        let mut with_prev = c.clone();
        with_prev["prevResult"] = r;
        let mut call = Call::new(OURS, "CHECK", pod);
        call.container_id = id;
        call.run(&node, &with_prev).expect_ok();
    }
    let names = link_names(&node);
    assert_eq!(names.iter().filter(|n| *n == "cni0").count(), 1);
    assert_eq!(names.iter().filter(|n| n.starts_with("veth")).count(), 32);
    assert_eq!(addrs(&node, "cni0"), vec!["10.8.0.1/24".to_owned()]);
    assert_eq!(reservations(&data, "testnet"), 32);
}
