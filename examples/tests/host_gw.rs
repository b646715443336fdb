//! The `host-gw` agent binary in a throwaway node namespace, checked with `ip -j route`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cni_netlink::testkit::{TestNode, TestNs};
use serde_json::Value;

const AGENT: &str = env!("CARGO_BIN_EXE_host-gw");

/// A node namespace whose `eth0` (one end of a veth pair, both ends up; this kernel has no
/// dummy driver) has 192.168.1.11/24, and a map file for it.
struct Fixture {
    node: TestNode,
    map: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let node = TestNode::new();
        node.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "lan"])
            .unwrap();
        node.ip(&["link", "set", "lan", "up"]).unwrap();
        node.ip(&["addr", "add", "192.168.1.11/24", "dev", "eth0"])
            .unwrap();
        node.ip(&["link", "set", "eth0", "up"]).unwrap();
        let map =
            std::env::temp_dir().join(format!("cni-rs-host-gw-{}-{tag}.map", std::process::id()));
        Fixture { node, map }
    }

    fn write_map(&self, text: &str) {
        std::fs::write(&self.map, text).unwrap();
    }

    fn once(&self, node: &str) -> std::process::Output {
        agent(
            &self.node,
            &[
                "--once",
                "--node",
                node,
                "--map",
                self.map.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap()
    }

    /// `(destination, gateway, protocol)` of every route but the kernel's own.
    fn routes(&self) -> Vec<(String, String, String)> {
        let routes = self.node.ip_json(&["route", "show"]).unwrap();
        let mut out: Vec<_> = routes
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["protocol"] != "kernel")
            .map(|r| (text(&r["dst"]), text(&r["gateway"]), text(&r["protocol"])))
            .collect();
        out.sort();
        out
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.map);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn agent(ns: &TestNs, args: &[&str]) -> Command {
    let mut cmd = ns.command(AGENT);
    cmd.args(args);
    cmd
}

/// The agent process, killed and reaped however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn route(dst: &str, gw: &str) -> (String, String, String) {
    (dst.into(), gw.into(), "201".into())
}

const SEED: &str = "node1 192.168.1.11 10.244.1.0/24\nnode2 192.168.1.12 10.244.2.0/24\nnode3 192.168.1.13 10.244.3.0/24\n";

#[test]
fn once_installs_the_other_nodes_routes_and_removes_stale_ones() {
    let f = Fixture::new("once");
    f.write_map(SEED);
    let out = f.once("node1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("added [10.244.2.0/24,10.244.3.0/24]"),
        "{stdout}"
    );
    assert_eq!(
        f.routes(),
        [
            route("10.244.2.0/24", "192.168.1.12"),
            route("10.244.3.0/24", "192.168.1.13")
        ]
    );

    // Again: nothing to do.
    let out = f.once("node1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "node1: unchanged"
    );

    // node2 moved, node3 left, node4 joined (JSON this time); a foreign static route to
    // node5's subnet is reported as a conflict and left alone.
    f.node
        .ip(&[
            "route",
            "add",
            "10.244.5.0/24",
            "via",
            "192.168.1.99",
            "proto",
            "static",
        ])
        .unwrap();
    f.write_map(
        r#"{"nodes": [
            {"name": "node1", "ip": "192.168.1.11", "podCIDR": "10.244.1.0/24"},
            {"name": "node2", "ip": "192.168.1.22", "podCIDR": "10.244.2.0/24"},
            {"name": "node4", "ip": "192.168.1.14", "podCIDR": "10.244.4.0/24"},
            {"name": "node5", "ip": "192.168.1.15", "podCIDR": "10.244.5.0/24"}]}"#,
    );
    let out = f.once("node1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "node1: added [10.244.4.0/24] replaced [10.244.2.0/24] removed [10.244.3.0/24] conflicts [10.244.5.0/24]"
    );
    assert_eq!(
        f.routes(),
        [
            route("10.244.2.0/24", "192.168.1.22"),
            route("10.244.4.0/24", "192.168.1.14"),
            (
                "10.244.5.0/24".into(),
                "192.168.1.99".into(),
                "static".into()
            ),
        ]
    );
}

#[test]
fn a_map_without_this_node_or_a_broken_map_changes_nothing() {
    let f = Fixture::new("refuse");
    f.write_map(SEED);
    assert!(f.once("node1").status.success());
    let before = f.routes();
    assert_eq!(before.len(), 2);

    f.write_map("node2 192.168.1.12 10.244.2.0/24\n");
    let out = f.once("node1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"node1\" is not in the map"));
    f.write_map("node1 192.168.1.11 10.244.1.0/24\nnode2 192.168.1.12\n");
    let out = f.once("node1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{out:?}"
    );
    assert_eq!(f.routes(), before);

    let out = agent(&f.node, &["--once", "--node", "node1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "missing --map is a usage error");
}

#[test]
fn the_agent_follows_changes_of_the_map() {
    let f = Fixture::new("watch");
    f.write_map(SEED);
    let mut child = Running(
        agent(
            &f.node,
            &[
                "--node",
                "node1",
                "--map",
                f.map.to_str().unwrap(),
                "--poll-ms",
                "20",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.contains("added [10.244.2.0/24,10.244.3.0/24]"),
        "{first}"
    );

    // A map with a different modification time: the agent re-reads it and removes node3's route.
    let modified = std::fs::metadata(&f.map).unwrap().modified().unwrap();
    f.write_map("node1 192.168.1.11 10.244.1.0/24\nnode2 192.168.1.12 10.244.2.0/24\n");
    let file = std::fs::File::options().write(true).open(&f.map).unwrap();
    file.set_modified(modified + std::time::Duration::from_secs(1))
        .unwrap();
    drop(file);
    let next = lines.next().unwrap().unwrap();
    drop(child);
    assert_eq!(
        next,
        "node1: removed [10.244.3.0/24]".replace("removed", "added [] replaced [] removed")
            + " conflicts []"
    );
    assert_eq!(f.routes(), [route("10.244.2.0/24", "192.168.1.12")]);
}
