//! Every configuration field of the bridge plugin, in real namespaces, with the kernel state
//! checked through `ip -j`, `nft` and `iptables`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

struct Env {
    node: TestNode,
    pod: TestNs,
    data: TempDir,
}

fn env() -> Env {
    let node = TestNode::new();
    let pod = node.pod("pod");
    Env {
        node,
        pod,
        data: TempDir::new("bridge-fields"),
    }
}

impl Env {
    fn conf(&self, subnets: &[&str], extra: Value) -> Value {
        conf("1.0.0", &self.data, subnets, extra)
    }

    fn add(&self, conf: &Value) -> Output {
        Call::new(OURS, "ADD", &self.pod).run(&self.node, conf)
    }

    fn del(&self, conf: &Value) -> Output {
        Call::new(OURS, "DEL", &self.pod).run(&self.node, conf)
    }

    fn host_veth(&self) -> Value {
        let name = link_names(&self.node)
            .into_iter()
            .find(|n| n.starts_with("veth"))
            .expect("a host veth");
        link(&self.node, &name).unwrap()
    }

    /// After a refused ADD: no veth anywhere and no address reserved.
    fn assert_nothing_left(&self) {
        assert!(link(&self.pod, "eth0").is_none());
        assert!(
            link_names(&self.node)
                .iter()
                .all(|n| !n.starts_with("veth"))
        );
        assert_eq!(reservations(&self.data, "testnet"), 0);
    }
}

#[test]
fn mtu_applies_to_a_new_bridge_and_both_veth_ends() {
    let e = env();
    e.add(&e.conf(&["10.1.0.0/24"], json!({"mtu": 1400})))
        .expect_ok();
    assert_eq!(link(&e.node, "cni0").unwrap()["mtu"], 1400);
    assert_eq!(link(&e.pod, "eth0").unwrap()["mtu"], 1400);
    assert_eq!(e.host_veth()["mtu"], 1400);
}

#[test]
fn hairpin_and_port_isolation_are_port_flags() {
    let e = env();
    e.add(&e.conf(
        &["10.1.0.0/24"],
        json!({"hairpinMode": true, "portIsolation": true}),
    ))
    .expect_ok();
    let port = e.host_veth();
    let data = &port["linkinfo"]["info_slave_data"];
    assert_eq!(data["hairpin"], true, "{port}");
    assert_eq!(data["isolated"], true, "{port}");

    let e = env();
    e.add(&e.conf(&["10.1.0.0/24"], json!({}))).expect_ok();
    let data = e.host_veth()["linkinfo"]["info_slave_data"].clone();
    assert_eq!(data["hairpin"], false);
    assert_eq!(data["isolated"], false);
}

#[test]
fn promiscuous_bridge() {
    let e = env();
    e.add(&e.conf(&["10.1.0.0/24"], json!({"promiscMode": true})))
        .expect_ok();
    let br = link(&e.node, "cni0").unwrap();
    assert!(br["promiscuity"].as_u64().unwrap() >= 1, "{br}");
}

#[test]
fn hairpin_with_promiscuous_is_refused_before_anything_is_made() {
    let e = env();
    let out = e.add(&e.conf(
        &["10.1.0.0/24"],
        json!({"hairpinMode": true, "promiscMode": true}),
    ));
    assert_eq!(out.code(), 7);
    assert_eq!(
        out.json["msg"],
        "cannot set hairpin mode and promiscuous mode at the same time"
    );
    assert!(link(&e.node, "cni0").is_none(), "not even the bridge");
    e.assert_nothing_left();
}

#[test]
fn gateway_or_not() {
    let e = env();
    let r = e.add(&e.conf(&["10.1.0.0/24"], json!({}))).expect_ok();
    assert!(
        addrs(&e.node, "cni0").is_empty(),
        "no isGateway: no bridge address"
    );
    // host-local names a gateway anyway; without isGateway it is only reported.
    assert_eq!(r["ips"][0]["gateway"], "10.1.0.1");
    assert!(r.get("routes").is_none(), "{r}");
    assert!(
        !routes(&e.pod, "-4")
            .iter()
            .any(|r| r.starts_with("default"))
    );

    let e = env();
    let r = e
        .add(&e.conf(&["10.1.0.0/24"], json!({"isGateway": true})))
        .expect_ok();
    assert_eq!(addrs(&e.node, "cni0"), vec!["10.1.0.1/24".to_owned()]);
    assert_eq!(r["ips"][0]["gateway"], "10.1.0.1");
    assert!(
        r.get("routes").is_none(),
        "isGateway alone adds no route: {r}"
    );
}

#[test]
fn force_address_replaces_a_conflicting_ipv4_address() {
    let e = env();
    e.node
        .ip(&["link", "add", "cni0", "type", "bridge"])
        .unwrap();
    e.node
        .ip(&["addr", "add", "10.0.0.1/8", "dev", "cni0"])
        .unwrap();
    let out = e.add(&e.conf(&["10.1.2.0/24"], json!({"isGateway": true})));
    assert!(!out.ok);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("\"cni0\" already has an IP address different from 10.1.2.1/24"),
        "{msg}"
    );
    e.assert_nothing_left();
    e.add(&e.conf(
        &["10.1.2.0/24"],
        json!({"isGateway": true, "forceAddress": true}),
    ))
    .expect_ok();
    assert_eq!(addrs(&e.node, "cni0"), vec!["10.1.2.1/24".to_owned()]);
}

#[test]
fn ipv6_bridge_addresses_coexist_unless_they_overlap() {
    let e = env();
    e.node
        .ip(&["link", "add", "cni0", "type", "bridge"])
        .unwrap();
    e.node
        .ip(&["addr", "add", "2001:db8:1::1/48", "dev", "cni0"])
        .unwrap();
    let out = e.add(&e.conf(&["2001:db8:1:2::/64"], json!({"isGateway": true})));
    assert!(!out.ok, "overlapping prefixes conflict");
    e.assert_nothing_left();

    let e = env();
    e.node
        .ip(&["link", "add", "cni0", "type", "bridge"])
        .unwrap();
    e.node
        .ip(&["addr", "add", "2001:db8:1:2::1/64", "dev", "cni0"])
        .unwrap();
    e.add(&e.conf(&["fd00:1234::/64"], json!({"isGateway": true})))
        .expect_ok();
    let mut got = addrs(&e.node, "cni0");
    got.sort();
    assert_eq!(
        got,
        vec![
            "2001:db8:1:2::1/64".to_owned(),
            "fd00:1234::1/64".to_owned()
        ]
    );
}

#[test]
fn disabled_container_interface_stays_down_and_refuses_ipam() {
    let e = env();
    let l2 = l2_conf("1.0.0", json!({"disableContainerInterface": true}));
    Call::new(OURS, "ADD", &e.pod).run(&e.node, &l2).expect_ok();
    assert_ne!(link(&e.pod, "eth0").unwrap()["operstate"], "UP");
    Call::new(OURS, "DEL", &e.pod).run(&e.node, &l2).expect_ok();

    let out = e.add(&e.conf(&["10.1.0.0/24"], json!({"disableContainerInterface": true})));
    assert_eq!(out.code(), 7);
    assert_eq!(
        out.json["msg"],
        "cannot use IPAM when DisableContainerInterface flag is set"
    );
    e.assert_nothing_left();
}

#[test]
fn mac_precedence_cni_args_then_args_then_runtime_config() {
    let cases = [
        (
            "IgnoreUnknown=1;MAC=02:00:00:00:00:01",
            json!({}),
            "02:00:00:00:00:01",
        ),
        (
            "IgnoreUnknown=1;MAC=02:00:00:00:00:01",
            json!({"args": {"cni": {"mac": "02:00:00:00:00:02"}}}),
            "02:00:00:00:00:02",
        ),
        (
            "IgnoreUnknown=1;MAC=02:00:00:00:00:01",
            json!({"args": {"cni": {"mac": "02:00:00:00:00:02"}},
                   "runtimeConfig": {"mac": "02:00:00:00:00:00"}}),
            "02:00:00:00:00:00",
        ),
    ];
    for (cni_args, extra, want) in cases {
        let e = env();
        let mut call = Call::new(OURS, "ADD", &e.pod);
        call.args = cni_args;
        let r = call
            .run(&e.node, &e.conf(&["10.1.0.0/24"], extra))
            .expect_ok();
        assert_eq!(r["interfaces"][2]["mac"], want);
        assert_eq!(link(&e.pod, "eth0").unwrap()["address"], want);
    }
}

#[test]
fn vlans_are_refused_clearly_because_this_kernel_has_no_bridge_vlan_filtering() {
    // This kernel is built without CONFIG_BRIDGE_VLAN_FILTERING: `vlan`, `vlanTrunk` and
    // `preserveDefaultVlan` cannot take effect, and the plugin says so with code 2
    // ("unsupported field") instead of half-configuring the port.
    for extra in [
        json!({"vlan": 100}),
        json!({"vlanTrunk": [{"minID": 101, "maxID": 103}, {"id": 200}]}),
        json!({"vlan": 100, "preserveDefaultVlan": true}),
    ] {
        let e = env();
        let out = e.add(&e.conf(&["10.1.0.0/24"], extra.clone()));
        assert_eq!(out.code(), 2, "{extra}: {}", out.json);
        assert!(
            out.json["msg"].as_str().unwrap().contains("VLAN filtering"),
            "{}",
            out.json
        );
        assert!(
            link(&e.node, "cni0").is_none(),
            "no bridge is left half-made"
        );
        e.assert_nothing_left();
    }
    let e = env();
    assert_eq!(
        e.add(&e.conf(&["10.1.0.0/24"], json!({"vlan": 5000})))
            .code(),
        7
    );
}

#[test]
fn mac_spoof_check_rules_follow_the_attachment() {
    let e = env();
    let conf = e.conf(&["10.1.0.0/24"], json!({"macspoofchk": true}));
    let r = e.add(&conf).expect_ok();
    let rules = nft_ruleset(&e.node);
    let mac = r["interfaces"][2]["mac"].as_str().unwrap();
    assert!(rules.contains("table bridge nat"), "{rules}");
    assert!(
        rules.contains("chain cni-br-iface-ctr1-eth0-mac"),
        "{rules}"
    );
    assert!(
        rules.contains(&format!("ether saddr {mac} return")),
        "{rules}"
    );
    let veth = r["interfaces"][1]["name"].as_str().unwrap();
    assert!(
        rules.contains(&format!("iifname \"{veth}\" jump cni-br-iface-ctr1-eth0")),
        "{rules}"
    );
    e.del(&conf).expect_ok();
    let rules = nft_ruleset(&e.node);
    assert!(!rules.contains("cni-br-iface-ctr1-eth0"), "{rules}");
    e.del(&conf).expect_ok();
}

#[test]
fn duplicate_address_detection_on_request() {
    let e = env();
    e.add(&e.conf(&["fd00:5::/64"], json!({"enabledad": true})))
        .expect_ok();
    assert_eq!(sysctl(&e.pod, "net/ipv6/conf/eth0/accept_dad"), "1");
    assert_eq!(sysctl(&e.pod, "net/ipv6/conf/eth0/enhanced_dad"), "1");
    let info = e
        .pod
        .ip_json(&["-6", "addr", "show", "dev", "eth0"])
        .unwrap();
    assert!(
        !info.to_string().contains("tentative"),
        "ADD waited for DAD: {info}"
    );
}

#[test]
fn masquerade_with_nftables_keeps_pod_cidr_traffic_unmasqueraded() {
    let e = env();
    let conf = e.conf(
        &["10.1.0.0/24"],
        json!({"ipMasq": true, "nonMasqueradeCIDRs": ["10.244.0.0/16"]}),
    );
    e.add(&conf).expect_ok();
    let rules = nft_ruleset(&e.node);
    assert!(
        rules.contains("10.1.0.2 comment \"if=eth0 id=ctr1\""),
        "{rules}"
    );
    assert!(rules.contains("ip daddr 10.244.0.0/16 return"), "{rules}");
    assert!(rules.contains("ip daddr 10.1.0.0/24 return"), "{rules}");
    assert!(rules.contains("masquerade"), "{rules}");
    // DEL without a netns still removes the entry (keyed by network + attachment).
    let mut del = Call::new(OURS, "DEL", &e.pod);
    del.netns = String::new();
    del.run(&e.node, &conf).expect_ok();
    assert!(!nft_ruleset(&e.node).contains("id=ctr1"));
    assert_eq!(reservations(&e.data, "testnet"), 0);
}

#[test]
fn masquerade_with_iptables_when_asked() {
    let e = env();
    let conf = e.conf(
        &["10.1.0.0/24"],
        json!({"ipMasq": true, "ipMasqBackend": "iptables"}),
    );
    e.add(&conf).expect_ok();
    let list = || {
        let out = e
            .node
            .command("iptables")
            .args(["-t", "nat", "-S"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rules = list();
    assert!(
        rules.contains("-A POSTROUTING -s 10.1.0.2/32 -m comment"),
        "{rules}"
    );
    assert!(rules.contains("-d 10.1.0.0/24 -m comment"), "{rules}");
    assert!(rules.contains("-j MASQUERADE"), "{rules}");
    e.del(&conf).expect_ok();
    assert!(!list().contains("CNI-"), "{}", list());
    let bad = e.conf(
        &["10.1.0.0/24"],
        json!({"ipMasq": true, "ipMasqBackend": "pf"}),
    );
    let out = e.add(&bad);
    assert_eq!(out.code(), 7);
    assert_eq!(out.json["msg"], "unknown ipmasq backend \"pf\"");
}

#[test]
fn an_existing_bridge_with_stp_does_not_hold_add_back() {
    // Like the reference, ADD waits for the port's operstate, not for STP to let it forward
    // (listening + learning take 30 s with the default forward delay).
    let e = env();
    e.node
        .ip(&["link", "add", "cni0", "type", "bridge", "stp_state", "1"])
        .unwrap();
    let started = std::time::Instant::now();
    e.add(&e.conf(&["10.1.0.0/24"], json!({"isGateway": true})))
        .expect_ok();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(e.host_veth()["operstate"], "UP");
    assert_eq!(link(&e.pod, "eth0").unwrap()["operstate"], "UP");
}
