//! ADD, CHECK, DEL (and GC, STATUS) of our `bridge` in real namespaces, for every spec version,
//! with the kernel state checked independently through `ip -j`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

fn add(node: &TestNode, pod: &TestNs, conf: &Value) -> Value {
    Call::new(OURS, "ADD", pod).run(node, conf).expect_ok()
}

fn with_prev(conf: &Value, prev: &Value) -> Value {
    let mut c = conf.clone();
    c["prevResult"] = prev.clone();
    c
}

/// The checks every successful layer-3 ADD must pass, whatever the version.
fn assert_l3_state(node: &TestNode, pod: &TestNs, pod_addr: &str, gw_cidr: &str) {
    assert_eq!(addrs(node, "cni0"), vec![gw_cidr.to_owned()]);
    assert_eq!(addrs(pod, "eth0"), vec![pod_addr.to_owned()]);
    let eth0 = link(pod, "eth0").unwrap();
    assert_eq!(eth0["operstate"], "UP", "{eth0}");
    assert_eq!(eth0["linkinfo"]["info_kind"], "veth");
    let names = link_names(node);
    assert_eq!(names.len(), 3, "lo, cni0 and one veth: {names:?}");
    let veth = names.iter().find(|n| n.starts_with("veth")).unwrap();
    assert_eq!(veth.len(), 12);
    let host = link(node, veth).unwrap();
    assert_eq!(host["master"], "cni0");
    assert_eq!(host["operstate"], "UP");
    let br = link(node, "cni0").unwrap();
    assert_ne!(
        br["address"], host["address"],
        "the bridge keeps a MAC of its own"
    );
    assert_eq!(sysctl(node, "net/ipv4/ip_forward"), "1");
    assert_eq!(sysctl(pod, "net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(sysctl(pod, "net/ipv6/conf/eth0/accept_dad"), "0");
    assert_eq!(sysctl(node, "net/ipv6/conf/cni0/accept_ra"), "0");
    assert_eq!(
        sysctl(node, &format!("net/ipv6/conf/{veth}/accept_ra")),
        "0"
    );
}

fn assert_clean_after_del(node: &TestNode, pod: &TestNs, data: &TempDir) {
    assert!(
        link(pod, "eth0").is_none(),
        "the container interface is gone"
    );
    let names = link_names(node);
    assert!(
        names.iter().all(|n| !n.starts_with("veth")),
        "host veth gone: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "cni0"),
        "the bridge is never deleted"
    );
    assert_eq!(reservations(data, "testnet"), 0, "the address was released");
}

/// ADD writes the bridge's `accept_ra=0` only when the bridge does not have it yet: when
/// something turns it back on between two ADDs, the next ADD turns it off again.
#[test]
fn bridge_accept_ra_is_restored_by_the_next_add() {
    let node = TestNode::new();
    let data = TempDir::new("bridge-ra");
    let conf = conf("1.0.0", &data, &["10.1.2.0/24"], json!({"isGateway": true}));
    let first = node.pod("pod1");
    add(&node, &first, &conf);
    assert_eq!(sysctl(&node, "net/ipv6/conf/cni0/accept_ra"), "0");
    node.run_blocking(|| std::fs::write("/proc/sys/net/ipv6/conf/cni0/accept_ra", "2"))
        .unwrap()
        .unwrap();
    let second = node.pod("pod2");
    let mut call = Call::new(OURS, "ADD", &second);
    call.container_id = "ctr2";
    call.run(&node, &conf).expect_ok();
    assert_eq!(sysctl(&node, "net/ipv6/conf/cni0/accept_ra"), "0");
}

#[test]
fn ipv4_add_check_del_in_every_version() {
    for version in ALL_VERSIONS {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let data = TempDir::new("bridge-v4");
        let conf = conf(
            version,
            &data,
            &["10.1.2.0/24"],
            json!({"isDefaultGateway": true}),
        );
        let r = add(&node, &pod, &conf);
        assert_eq!(r["cniVersion"], version);
        if version == "0.1.0" || version == "0.2.0" {
            assert_eq!(r["ip4"]["ip"], "10.1.2.2/24", "{version}: {r}");
            assert_eq!(r["ip4"]["gateway"], "10.1.2.1");
            assert_eq!(r["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
        } else {
            let ifs = r["interfaces"].as_array().unwrap();
            assert_eq!(ifs.len(), 3, "{version}: {r}");
            assert_eq!(ifs[0]["name"], "cni0");
            assert!(ifs[1]["name"].as_str().unwrap().starts_with("veth"));
            assert_eq!(ifs[2]["name"], "eth0");
            assert_eq!(ifs[2]["sandbox"], pod.path().to_string_lossy().as_ref());
            assert!(ifs.iter().all(|i| i["mac"].as_str().unwrap().len() == 17));
            assert!(ifs[0].get("sandbox").is_none() && ifs[1].get("sandbox").is_none());
            assert_eq!(r["ips"][0]["address"], "10.1.2.2/24");
            assert_eq!(r["ips"][0]["gateway"], "10.1.2.1");
            assert_eq!(r["ips"][0]["interface"], 2);
            assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0", "gw": "10.1.2.1"}]));
            // The live MACs are the reported ones.
            assert_eq!(ifs[2]["mac"], link(&pod, "eth0").unwrap()["address"]);
            assert_eq!(ifs[0]["mac"], link(&node, "cni0").unwrap()["address"]);
            let veth = ifs[1]["name"].as_str().unwrap();
            assert_eq!(ifs[1]["mac"], link(&node, veth).unwrap()["address"]);
        }
        assert_l3_state(&node, &pod, "10.1.2.2/24", "10.1.2.1/24");
        assert!(routes(&pod, "-4").contains(&"default via 10.1.2.1".to_owned()));
        if version >= "0.4.0" {
            Call::new(OURS, "CHECK", &pod)
                .run(&node, &with_prev(&conf, &r))
                .expect_ok();
        }
        Call::new(OURS, "DEL", &pod)
            .run(&node, &with_prev(&conf, &r))
            .expect_ok();
        assert_clean_after_del(&node, &pod, &data);
    }
}

#[test]
fn ipv6_and_dual_stack() {
    for subnets in [vec!["2001:db8::/64"], vec!["192.168.0.0/24", "fd00::/64"]] {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let data = TempDir::new("bridge-v6");
        let conf = conf("1.0.0", &data, &subnets, json!({"isDefaultGateway": true}));
        let started = std::time::Instant::now();
        let r = add(&node, &pod, &conf);
        // No multi-second DAD or settle waits: the addresses are added without DAD.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let ips = r["ips"].as_array().unwrap();
        assert_eq!(ips.len(), subnets.len());
        let v6 = ips
            .iter()
            .find(|i| i["address"].as_str().unwrap().contains(':'))
            .unwrap();
        let v6_net: ipnetwork::IpNetwork = v6["address"].as_str().unwrap().parse().unwrap();
        let bridge_addrs = addrs(&node, "cni0");
        assert!(bridge_addrs.contains(&format!("{}/64", v6["gateway"].as_str().unwrap())));
        let pod_addrs = addrs(&pod, "eth0");
        assert!(pod_addrs.contains(&v6_net.to_string()), "{pod_addrs:?}");
        let info = pod.ip_json(&["-6", "addr", "show", "dev", "eth0"]).unwrap();
        assert!(
            !info.to_string().contains("tentative"),
            "no tentative address is left behind: {info}"
        );
        assert!(
            routes(&pod, "-6")
                .iter()
                .any(|r| r.starts_with("default via"))
        );
        assert_eq!(sysctl(&node, "net/ipv6/conf/all/forwarding"), "1");
        assert_eq!(sysctl(&pod, "net/ipv6/conf/eth0/keep_addr_on_down"), "1");
        Call::new(OURS, "CHECK", &pod)
            .run(&node, &with_prev(&conf, &r))
            .expect_ok();
        Call::new(OURS, "DEL", &pod).run(&node, &conf).expect_ok();
        assert_clean_after_del(&node, &pod, &data);
    }
}

#[test]
fn more_than_one_address_per_family_fails_in_0_2_0_and_is_undone() {
    for version in ["0.1.0", "0.2.0"] {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let data = TempDir::new("bridge-3nets");
        let conf = conf(
            version,
            &data,
            &["10.0.0.0/24", "fd00:1::/64", "fd00:2::/64"],
            json!({"isGateway": true}),
        );
        let out = Call::new(OURS, "ADD", &pod).run(&node, &conf);
        assert_eq!(out.code(), 7);
        let msg = format!("CNI version {version} does not support more than 1 address per family");
        assert_eq!(out.json["msg"], msg.as_str());
        assert!(link(&pod, "eth0").is_none(), "the veth was removed again");
        assert_eq!(
            reservations(&data, "testnet"),
            0,
            "the addresses were released"
        );
        // As in the reference, DEL refuses the same config the same way.
        assert_eq!(Call::new(OURS, "DEL", &pod).run(&node, &conf).code(), 7);
    }
}

#[test]
fn layer2_mode_in_every_version() {
    for version in ALL_VERSIONS {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let conf = l2_conf(version, json!({}));
        let out = Call::new(OURS, "ADD", &pod).run(&node, &conf);
        if version == "0.1.0" || version == "0.2.0" {
            assert!(!out.ok);
            assert!(
                out.json["msg"]
                    .as_str()
                    .unwrap()
                    .contains("cannot convert: no valid IP addresses"),
                "{}",
                out.json
            );
            assert!(
                link(&pod, "eth0").is_none(),
                "{version}: nothing is left behind"
            );
            continue;
        }
        let r = out.expect_ok();
        assert_eq!(r["interfaces"].as_array().unwrap().len(), 3);
        assert!(
            r.get("ips")
                .is_none_or(|ips| ips.as_array().is_none_or(Vec::is_empty))
        );
        assert_eq!(link(&pod, "eth0").unwrap()["operstate"], "UP");
        assert!(addrs(&node, "cni0").is_empty());
        if version >= "0.4.0" {
            // The reference fails here ("no plugin name provided"); layer 2 CHECK works for us.
            Call::new(OURS, "CHECK", &pod)
                .run(&node, &with_prev(&conf, &r))
                .expect_ok();
        }
        Call::new(OURS, "DEL", &pod).run(&node, &conf).expect_ok();
        assert!(link(&pod, "eth0").is_none());
    }
}

#[test]
fn check_detects_a_changed_attachment() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("bridge-check");
    let conf = conf("1.0.0", &data, &["10.9.0.0/24"], json!({"isGateway": true}));
    let r = add(&node, &pod, &conf);
    let good = with_prev(&conf, &r);
    Call::new(OURS, "CHECK", &pod).run(&node, &good).expect_ok();
    // A wrong MAC, a missing address, a missing prevResult: each fails.
    let mut wrong_mac = r.clone();
    wrong_mac["interfaces"][2]["mac"] = json!("02:00:00:00:00:99");
    assert!(
        !Call::new(OURS, "CHECK", &pod)
            .run(&node, &with_prev(&conf, &wrong_mac))
            .ok
    );
    pod.ip(&["addr", "del", "10.9.0.2/24", "dev", "eth0"])
        .unwrap();
    assert!(!Call::new(OURS, "CHECK", &pod).run(&node, &good).ok);
    let no_prev = Call::new(OURS, "CHECK", &pod).run(&node, &conf);
    assert_eq!(no_prev.code(), 7);
}

#[test]
fn second_pod_shares_the_bridge_and_reaches_the_first() {
    let node = TestNode::new();
    lo_up(&node);
    let (p1, p2) = (node.pod("p1"), node.pod("p2"));
    let data = TempDir::new("bridge-two");
    let conf = conf(
        "1.1.0",
        &data,
        &["10.7.0.0/24"],
        json!({"isDefaultGateway": true}),
    );
    let r1 = add(&node, &p1, &conf);
    let mut c2 = Call::new(OURS, "ADD", &p2);
    c2.container_id = "ctr2";
    let r2 = c2.run(&node, &conf).expect_ok();
    assert_ne!(r1["ips"][0]["address"], r2["ips"][0]["address"]);
    assert_eq!(
        r1["interfaces"][0]["mac"], r2["interfaces"][0]["mac"],
        "stable bridge MAC"
    );
    // Pod 2 connects to a listener in pod 1 across the bridge.
    let listener = p1
        .run_blocking(|| std::net::TcpListener::bind("10.7.0.2:7000"))
        .unwrap()
        .unwrap();
    let accept = std::thread::spawn(move || listener.accept().map(drop));
    p2.run_blocking(|| std::net::TcpStream::connect("10.7.0.2:7000"))
        .unwrap()
        .unwrap();
    accept.join().unwrap().unwrap();
    // The bridge keeps its MAC as ports come and go (it was pinned when the gateway was set).
    Call::new(OURS, "DEL", &p1).run(&node, &conf).expect_ok();
    assert_eq!(
        link(&node, "cni0").unwrap()["address"],
        r1["interfaces"][0]["mac"]
    );
}

#[test]
fn status_and_gc() {
    let node = TestNode::new();
    let data = TempDir::new("bridge-gc");
    // A /30 has exactly one usable address besides the gateway.
    let conf = conf(
        "1.1.0",
        &data,
        &["10.5.0.0/30"],
        json!({"isGateway": true, "ipMasq": true}),
    );
    let pods: Vec<TestNs> = (0..2).map(|i| node.pod(&format!("p{i}"))).collect();
    let status = |node: &TestNode| Call::new(OURS, "STATUS", &pods[0]).run(node, &conf);
    status(&node).expect_ok();
    let mut add = Call::new(OURS, "ADD", &pods[0]);
    add.container_id = "stale";
    add.run(&node, &conf).expect_ok();
    assert_eq!(status(&node).code(), 50, "every address is taken");
    assert!(nft_ruleset(&node).contains("id=stale"));
    // The pod goes away without DEL; GC with no valid attachment frees its address and masquerade
    // entry.
    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": "other", "ifname": "eth0"}]);
    Call::new(OURS, "GC", &pods[1])
        .run(&node, &gc_conf)
        .expect_ok();
    assert_eq!(reservations(&data, "testnet"), 0);
    assert!(!nft_ruleset(&node).contains("id=stale"));
    status(&node).expect_ok();
}

#[test]
fn other_ipam_types_are_delegated_to_their_binary() {
    // Go's host-local under another name is not served in-process: it must be exec'd from
    // CNI_PATH, and its reservations must appear in the same on-disk format.
    let bin = TempDir::new("bridge-delegate-bin");
    std::os::unix::fs::symlink(
        format!("{GO_DIR}/host-local"),
        bin.path().join("go-host-local"),
    )
    .unwrap();
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("bridge-delegate");
    let mut c = conf("1.0.0", &data, &["10.3.0.0/24"], json!({"isGateway": true}));
    c["ipam"]["type"] = json!("go-host-local");
    let mut call = Call::new(OURS, "ADD", &pod);
    call.cni_path = bin.str();
    let r = call.run(&node, &c).expect_ok();
    assert_eq!(r["ips"][0]["address"], "10.3.0.2/24");
    assert_eq!(reservations(&data, "testnet"), 1);
    let mut del = Call::new(OURS, "DEL", &pod);
    del.cni_path = bin.str();
    del.run(&node, &c).expect_ok();
    assert_eq!(reservations(&data, "testnet"), 0);
}

#[test]
fn static_ipam_in_process() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let c = json!({
        "cniVersion": "1.1.0", "name": "testnet", "type": "bridge", "bridge": "cni0",
        "isGateway": true,
        "ipam": {"type": "static", "addresses": [{"address": "10.4.0.9/24", "gateway": "10.4.0.1"}]}
    });
    // A CNI_PATH without any plugin proves no IPAM binary is needed.
    let empty = TempDir::new("bridge-empty-path");
    let mut call = Call::new(OURS, "ADD", &pod);
    call.cni_path = empty.str();
    let r = call.run(&node, &c).expect_ok();
    assert_eq!(r["ips"][0]["address"], "10.4.0.9/24");
    assert_eq!(addrs(&pod, "eth0"), vec!["10.4.0.9/24".to_owned()]);
    assert_eq!(addrs(&node, "cni0"), vec!["10.4.0.1/24".to_owned()]);
    let mut del = Call::new(OURS, "DEL", &pod);
    del.cni_path = empty.str();
    del.run(&node, &c).expect_ok();
}
