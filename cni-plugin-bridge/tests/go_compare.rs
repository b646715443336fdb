//! The same configs through the Go reference `/usr/lib/cni/bridge` (v1.1.1, with Go
//! `host-local`) and through ours, each on a node of its own: the results have the same shape
//! (interfaces, ips, routes, dns) and the kernel state is the same, modulo random veth names and
//! MACs.
//!
//! Known, intended differences (not compared): v1.1.1 predates the reference's `arp_notify`
//! and DAD-off defaults, so the pod's `arp_notify`/`accept_dad` sysctls differ; our IPv6
//! addresses are added without DAD (`nodad`) instead of waiting for it to finish; v1.1.1 writes
//! an empty `"dns": {}` that cni-types omits; v1.1.1 accepts a layer-2 ADD in 0.2.0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

/// Replaces what is random (veth names, MACs) or per-node (the netns path) by placeholders.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                // Go writes an empty `"dns": {}` where cni-types omits it; both mean no DNS.
                .filter(|(k, v)| {
                    !(k.as_str() == "dns" && v.as_object().is_some_and(|o| o.is_empty()))
                })
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("mac", _) => json!("<mac>"),
                        ("sandbox", _) => json!("<netns>"),
                        ("name", Value::String(s)) if s.starts_with("veth") => json!("<veth>"),
                        _ => normalize(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// The kernel state that must match: links of node and pod (kind, mtu, master, state), the
/// addresses, the pod routes, forwarding.
fn kernel_state(node: &TestNode, pod: &TestNs) -> Value {
    let links = |ns: &TestNs| -> Vec<Value> {
        let mut out: Vec<Value> = ns
            .ip_json(&["-d", "link", "show"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                json!({
                    "name": normalize(&json!({"name": l["ifname"]}))["name"],
                    "kind": l["linkinfo"]["info_kind"],
                    "mtu": l["mtu"],
                    "master": l["master"],
                    "operstate": l["operstate"],
                    "hairpin": l["linkinfo"]["info_slave_data"]["hairpin"],
                    "promiscuity": l["promiscuity"],
                })
            })
            .collect();
        out.sort_by_key(|v| v.to_string());
        out
    };
    let addresses = |ns: &TestNs| -> Vec<String> {
        let mut out: Vec<String> = ns
            .ip_json(&["addr", "show"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| {
                let name = if l["ifname"].as_str().unwrap().starts_with("veth") {
                    "<veth>".to_owned()
                } else {
                    l["ifname"].as_str().unwrap().to_owned()
                };
                l["addr_info"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["scope"] == "global")
                    .map(move |a| {
                        format!("{name} {}/{}", a["local"].as_str().unwrap(), a["prefixlen"])
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    };
    let pod_routes = |family: &str| -> Vec<Value> {
        pod.ip_json(&[family, "route", "show", "table", "main"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                json!({"dst": r["dst"], "gateway": r["gateway"], "dev": r["dev"],
                       "protocol": r["protocol"], "scope": r["scope"]})
            })
            .collect()
    };
    json!({
        "node_links": links(node),
        "pod_links": links(pod),
        "node_addrs": addresses(node),
        "pod_addrs": addresses(pod),
        "pod_routes_v4": pod_routes("-4"),
        "pod_routes_v6": pod_routes("-6"),
        "ip_forward": sysctl(node, "net/ipv4/ip_forward"),
        "bridge_accept_ra": sysctl(node, "net/ipv6/conf/cni0/accept_ra"),
    })
}

struct Run {
    result: Value,
    state: Value,
    del_state: Value,
    reservations_after_del: usize,
}

fn run(bin: &str, version: &str, subnets: &[&str], extra: &Value, layer2: bool) -> Run {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("bridge-cmp");
    let conf = if layer2 {
        l2_conf(version, extra.clone())
    } else {
        conf(version, &data, subnets, extra.clone())
    };
    let out = Call::new(bin, "ADD", &pod).run(&node, &conf);
    let result = if out.ok {
        out.json
    } else {
        json!({"error": out.json["msg"]})
    };
    let state = kernel_state(&node, &pod);
    let mut del_conf = conf.clone();
    if out.ok && version >= "0.4.0" {
        del_conf["prevResult"] = result.clone();
        let check = Call::new(bin, "CHECK", &pod).run(&node, &del_conf);
        // The reference fails CHECK for layer 2 (it runs IPAM CHECK with an empty type); we do
        // not. Everything else must pass for both.
        assert!(
            check.ok || (layer2 && bin == GO),
            "{bin} CHECK: {}",
            check.json
        );
    }
    Call::new(bin, "DEL", &pod)
        .run(&node, &del_conf)
        .expect_ok();
    Run {
        result,
        state,
        del_state: kernel_state(&node, &pod),
        reservations_after_del: reservations(&data, "testnet"),
    }
}

/// The state without operational states. They follow through the kernel's linkwatch, up to a
/// second later (e.g. a bridge that lost its last port drops to DOWN after our DEL returns).
fn settle(mut v: Value) -> Value {
    for side in ["node_links", "pod_links"] {
        for l in v[side].as_array_mut().into_iter().flatten() {
            l["operstate"] = Value::Null;
        }
    }
    v
}

fn compare(version: &str, subnets: &[&str], extra: Value, layer2: bool) {
    let go = run(GO, version, subnets, &extra, layer2);
    let ours = run(OURS, version, subnets, &extra, layer2);
    let what = format!("{version} {subnets:?} {extra} l2={layer2}");
    assert_eq!(
        normalize(&ours.result),
        normalize(&go.result),
        "result of {what}"
    );
    // Operational states settle asynchronously in the kernel (linkwatch), and v1.1.1 does not
    // wait for them in layer-2 mode: compare them only on our side, where ADD waits for both
    // veth ends, and leave them out of the comparison.
    for side in ["node_links", "pod_links"] {
        for l in ours.state[side].as_array().unwrap() {
            if l["name"] != "lo" {
                assert_eq!(l["operstate"], "UP", "{what}: {l}");
            }
        }
    }
    assert_eq!(
        settle(ours.state),
        settle(go.state),
        "kernel state after ADD of {what}"
    );
    assert_eq!(
        settle(ours.del_state),
        settle(go.del_state),
        "kernel state after DEL of {what}"
    );
    assert_eq!(ours.reservations_after_del, go.reservations_after_del);
}

#[test]
fn ipv4_default_gateway_in_every_version_go_speaks() {
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        compare(
            version,
            &["10.1.2.0/24"],
            json!({"isDefaultGateway": true}),
            false,
        );
    }
}

#[test]
fn gateway_variants() {
    compare("1.0.0", &["10.1.2.0/24"], json!({}), false);
    compare("1.0.0", &["10.1.2.0/24"], json!({"isGateway": true}), false);
    compare(
        "1.0.0",
        &["10.1.2.0/24"],
        json!({"isGateway": true, "mtu": 1400}),
        false,
    );
    compare(
        "1.0.0",
        &["10.1.2.0/24"],
        json!({"isGateway": true, "hairpinMode": true}),
        false,
    );
    compare(
        "1.0.0",
        &["10.1.2.0/24"],
        json!({"isGateway": true, "promiscMode": true}),
        false,
    );
}

#[test]
fn ipv6_and_dual_stack() {
    compare(
        "1.0.0",
        &["2001:db8::/64"],
        json!({"isDefaultGateway": true}),
        false,
    );
    compare(
        "0.4.0",
        &["192.168.0.0/24", "fd00::/64"],
        json!({"isDefaultGateway": true}),
        false,
    );
}

#[test]
fn layer2() {
    // 0.1.0/0.2.0 are left out: v1.1.1 prints an empty 0.2.0 result for a layer-2 ADD, where the
    // current reference (and we) fail with "cannot convert: no valid IP addresses".
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        compare(version, &[], json!({}), true);
    }
}

#[test]
fn dns_from_the_config() {
    compare(
        "1.0.0",
        &["10.1.2.0/24"],
        json!({"isGateway": true, "dns": {"nameservers": ["10.1.2.53"], "search": ["example.com"]}}),
        false,
    );
}
