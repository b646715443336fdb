//! DEL, every way a runtime may send it: twice; for an attachment never added; after the pod's
//! namespace was deleted (its path gone); with `CNI_NETNS` empty; with and without
//! `prevResult`; after the bridge was removed by hand. Always success, and the address
//! reservation and the masquerade entry are gone in every case (and the veth wherever the
//! namespace is still reachable).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod relkit;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use relkit::*;
use serde_json::{Value, json};

fn net_conf(data: &TempDir) -> Value {
    conf(
        "1.1.0",
        data,
        &["10.90.0.0/24", "fd90::/64"],
        json!({"isDefaultGateway": true, "ipMasq": true}),
    )
}

fn call<'a>(cmd: &'a str, id: &'a str, pod: &TestNs) -> Call<'a> {
    let mut c = Call::new(OURS, cmd, pod);
    c.container_id = id;
    c
}

/// Asserts the call succeeded without a panic.
fn del_ok(out: Output, what: &str) {
    assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
    assert!(out.ok, "{what}: DEL failed: {} {}", out.json, out.stderr);
}

/// A pod namespace held by a process (`unshare -n sleep`), so that killing the process really
/// deletes it and its path (`/proc/<pid>/ns/net`) disappears.
struct ProcNs {
    child: Child,
    path: String,
}

impl ProcNs {
    fn new(node: &TestNode) -> ProcNs {
        let mut child = node
            .command("unshare")
            .args(["-n", "sh", "-c", "echo ready; exec sleep 600"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        let path = format!("/proc/{}/ns/net", child.id());
        ProcNs { child, path }
    }

    fn delete(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        assert!(!std::path::Path::new(&self.path).exists());
        self.path.clone()
    }
}

impl Drop for ProcNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn del_twice() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-del2");
    let c = net_conf(&data);
    call("ADD", "twice", &pod).run(&node, &c).expect_ok();
    assert_eq!(masq_entries_of(&node, "twice", "eth0").len(), 2, "v4 + v6");
    for n in 0..2 {
        del_ok(
            call("DEL", "twice", &pod).run(&node, &c),
            &format!("DEL {n}"),
        );
        assert_attachment_gone(
            &node,
            Some(&pod),
            &data,
            "testnet",
            "twice",
            "eth0",
            "twice",
        );
    }
}

#[test]
fn del_of_an_attachment_never_added() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-del-never");
    let c = net_conf(&data);
    let before = link_names(&node);
    // On a node where nothing exists yet (no bridge, no data directory, no nftables table) ...
    del_ok(call("DEL", "never", &pod).run(&node, &c), "fresh node");
    assert_eq!(link_names(&node), before, "DEL creates nothing");
    assert!(nft_elements(&node).is_empty());
    // ... and next to another attachment, which it leaves alone.
    call("ADD", "other", &pod).run(&node, &c).expect_ok();
    let other = node.pod("other");
    del_ok(
        call("DEL", "never", &other).run(&node, &c),
        "beside another",
    );
    assert_eq!(reservations(&data, "testnet"), 2);
    assert_eq!(masq_entries_of(&node, "other", "eth0").len(), 2);
    assert!(link(&pod, "eth0").is_some());
}

#[test]
fn del_after_the_pod_namespace_was_deleted() {
    let node = TestNode::new();
    let data = TempDir::new("rel-del-gone");
    let c = net_conf(&data);
    let ns = ProcNs::new(&node);
    let holder = node.pod("holder");
    let mut add = call("ADD", "gone", &holder);
    add.netns = ns.path.clone();
    add.run(&node, &c).expect_ok();
    assert_eq!(host_veths(&node).len(), 1);
    let path = ns.delete();
    let mut del = call("DEL", "gone", &holder);
    del.netns = path;
    del_ok(del.run(&node, &c), "netns gone");
    // The veth went with the namespace; everything else went with DEL.
    wait_host_veths_gone(&node);
    assert_attachment_gone(&node, None, &data, "testnet", "gone", "eth0", "netns gone");
}

#[test]
fn del_with_an_empty_netns() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-del-empty");
    let c = net_conf(&data);
    call("ADD", "empty", &pod).run(&node, &c).expect_ok();
    let mut del = call("DEL", "empty", &pod);
    del.netns = String::new();
    del_ok(del.run(&node, &c), "CNI_NETNS empty");
    // Without a namespace the veth cannot be reached; the reservation and masquerading are
    // keyed by the attachment and go.
    assert_eq!(reservations(&data, "testnet"), 0);
    assert!(masq_entries_of(&node, "empty", "eth0").is_empty());
    // When the runtime deletes the pod's namespace, the veth goes with it.
    drop(pod);
    wait_host_veths_gone(&node);
    assert_attachment_gone(
        &node,
        None,
        &data,
        "testnet",
        "empty",
        "eth0",
        "empty netns",
    );
}

#[test]
fn del_with_and_without_prev_result() {
    let node = TestNode::new();
    let data = TempDir::new("rel-del-prev");
    let c = net_conf(&data);
    for (i, with_prev) in [true, false].into_iter().enumerate() {
        let pod = node.pod("pod");
        let id = format!("prev{i}");
        let r = call("ADD", &id, &pod).run(&node, &c).expect_ok();
        let mut dc = c.clone();
        if with_prev {
            dc["prevResult"] = r;
        }
        del_ok(call("DEL", &id, &pod).run(&node, &dc), &id);
        assert_attachment_gone(&node, Some(&pod), &data, "testnet", &id, "eth0", &id);
    }
}

#[test]
fn del_after_the_bridge_was_removed_by_hand() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-del-nobr");
    let c = net_conf(&data);
    call("ADD", "nobridge", &pod).run(&node, &c).expect_ok();
    node.ip(&["link", "del", "cni0"]).unwrap();
    del_ok(call("DEL", "nobridge", &pod).run(&node, &c), "bridge gone");
    assert_attachment_gone(
        &node,
        Some(&pod),
        &data,
        "testnet",
        "nobridge",
        "eth0",
        "no bridge",
    );
    // The next ADD makes the bridge again.
    call("ADD", "again", &pod).run(&node, &c).expect_ok();
    assert!(link(&node, "cni0").is_some());
}

#[test]
fn del_after_the_interface_was_removed_or_renamed_in_the_pod() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-del-noif");
    let c = net_conf(&data);
    call("ADD", "noif", &pod).run(&node, &c).expect_ok();
    pod.ip(&["link", "del", "eth0"]).unwrap();
    del_ok(call("DEL", "noif", &pod).run(&node, &c), "interface gone");
    assert_attachment_gone(
        &node,
        Some(&pod),
        &data,
        "testnet",
        "noif",
        "eth0",
        "no interface",
    );
}
