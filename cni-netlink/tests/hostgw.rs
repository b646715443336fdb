//! Host-gw route reconciliation, checked with `ip -j route`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::testkit::{TestNode, TestNs};
use cni_netlink::{ErrorKind, HOSTGW_PROTOCOL, HostGwOptions, HostGwReport, HostGwRoute};

fn route(subnet: &str, gw: &str) -> HostGwRoute {
    HostGwRoute {
        subnet: subnet.parse().unwrap(),
        gateway: gw.parse().unwrap(),
        oif: None,
    }
}

fn nets(list: &[&str]) -> Vec<IpNetwork> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// (dst, gateway) of the routes `ip` shows for our protocol, v4 then v6, sorted.
fn owned_routes(ns: &TestNs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        let v = ns
            .ip_json(&[fam, "route", "show", "proto", &HOSTGW_PROTOCOL.to_string()])
            .unwrap();
        for r in v.as_array().unwrap() {
            out.push((
                r["dst"].as_str().unwrap().to_string(),
                r["gateway"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn reconcile_adds_replaces_removes_only_its_own_routes() {
    let node = TestNode::new();
    node.ip(&["link", "add", "n0", "type", "veth", "peer", "name", "n1"])
        .unwrap();
    node.ip(&["link", "set", "n1", "up"]).unwrap();
    node.ip(&["link", "set", "n0", "up"]).unwrap();
    node.ip(&["addr", "add", "192.168.1.10/24", "dev", "n0"])
        .unwrap();
    node.ip(&["addr", "add", "fd00:1::10/64", "dev", "n0", "nodad"])
        .unwrap();
    // Somebody else's routes: one to a subnet we will be asked for, one unrelated.
    node.ip(&["route", "add", "10.244.9.0/24", "via", "192.168.1.99"])
        .unwrap();
    node.ip(&["route", "add", "10.99.0.0/16", "via", "192.168.1.98"])
        .unwrap();
    let nl = node.connect().await.unwrap();
    let opts = HostGwOptions::default();

    let desired = vec![
        route("10.244.1.0/24", "192.168.1.11"),
        route("10.244.2.0/24", "192.168.1.12"),
        route("fd00:244:3::/64", "fd00:1::13"),
        route("10.244.9.0/24", "192.168.1.19"),
    ];
    let report = nl.reconcile_host_gw(&desired, &opts).await.unwrap();
    assert_eq!(
        report.added,
        nets(&["10.244.1.0/24", "10.244.2.0/24", "fd00:244:3::/64"])
    );
    assert_eq!(report.conflicts, nets(&["10.244.9.0/24"]));
    assert!(report.replaced.is_empty() && report.removed.is_empty());
    assert_eq!(
        owned_routes(&node),
        pairs(&[
            ("10.244.1.0/24", "192.168.1.11"),
            ("10.244.2.0/24", "192.168.1.12"),
            ("fd00:244:3::/64", "fd00:1::13"),
        ])
    );

    // Same input: nothing changes.
    let report = nl.reconcile_host_gw(&desired, &opts).await.unwrap();
    assert!(report.is_unchanged(), "{report:?}");

    // A node moved, one left, one joined.
    let desired = vec![
        route("10.244.2.0/24", "192.168.1.22"),
        route("fd00:244:3::/64", "fd00:1::13"),
        route("10.244.4.0/24", "192.168.1.14"),
    ];
    let report = nl.reconcile_host_gw(&desired, &opts).await.unwrap();
    assert_eq!(
        report,
        HostGwReport {
            added: nets(&["10.244.4.0/24"]),
            replaced: nets(&["10.244.2.0/24"]),
            removed: nets(&["10.244.1.0/24"]),
            conflicts: vec![],
        }
    );
    assert_eq!(
        owned_routes(&node),
        pairs(&[
            ("10.244.2.0/24", "192.168.1.22"),
            ("10.244.4.0/24", "192.168.1.14"),
            ("fd00:244:3::/64", "fd00:1::13"),
        ])
    );

    // Empty table: all of ours go, the others stay.
    let report = nl.reconcile_host_gw(&[], &opts).await.unwrap();
    assert_eq!(report.removed.len(), 3);
    assert!(owned_routes(&node).is_empty());
    let left = node.ip_json(&["route", "show", "10.244.9.0/24"]).unwrap();
    assert_eq!(left[0]["gateway"], "192.168.1.99");
    let left = node.ip_json(&["route", "show", "10.99.0.0/16"]).unwrap();
    assert_eq!(left[0]["gateway"], "192.168.1.98");
}

#[tokio::test]
async fn reconcile_rejects_duplicates_and_reports_unreachable_gateways() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    let dup = vec![
        route("10.244.1.0/24", "192.168.1.11"),
        route("10.244.1.5/24", "192.168.1.12"),
    ];
    let err = nl
        .reconcile_host_gw(&dup, &HostGwOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    // No interface reaches the gateway: the kernel's refusal comes back.
    let err = nl
        .reconcile_host_gw(
            &[route("10.244.1.0/24", "192.168.1.11")],
            &HostGwOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.errno().is_some(), "{err}");
    assert!(owned_routes(&node).is_empty());
}

#[tokio::test]
async fn reconcile_in_a_separate_table() {
    let node = TestNode::new();
    node.ip(&["link", "add", "n0", "type", "veth", "peer", "name", "n1"])
        .unwrap();
    node.ip(&["link", "set", "n1", "up"]).unwrap();
    node.ip(&["link", "set", "n0", "up"]).unwrap();
    node.ip(&["addr", "add", "192.168.1.10/24", "dev", "n0"])
        .unwrap();
    let nl = node.connect().await.unwrap();
    let opts = HostGwOptions {
        table: 100,
        ..HostGwOptions::default()
    };
    let report = nl
        .reconcile_host_gw(&[route("10.244.1.0/24", "192.168.1.11")], &opts)
        .await
        .unwrap();
    assert_eq!(report.added, nets(&["10.244.1.0/24"]));
    let t = node.ip_json(&["route", "show", "table", "100"]).unwrap();
    assert_eq!(t[0]["dst"], "10.244.1.0/24");
    assert!(
        node.ip_json(&["route", "show", "10.244.1.0/24"])
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );
}
