//! Links: bridges, veth pairs, ports, lookups, deletion, waits. State is checked with `ip -j`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cni_netlink::testkit::{TestNode, TestNs};
use cni_netlink::{
    BridgePortFlags, BridgeSpec, ErrorKind, LinkKind, MacAddr, PortVlans, VethSpec, VlanRange,
};
use serde_json::Value;

/// `ip -j -d link show dev <name>` in `ns`, or `None` when the link does not exist.
fn ip_link(ns: &TestNs, name: &str) -> Option<Value> {
    let all = ns.ip_json(&["-d", "link", "show"]).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

fn flags(link: &Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// A bridge made with `own_mac` keeps its MAC when a port with a lower MAC is attached; one
/// made without takes the port's (the kernel's lowest-port-MAC rule) until its MAC is set.
#[tokio::test]
async fn a_bridge_made_with_its_own_mac_keeps_it_as_ports_are_added() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    for (name, own) in [("br-own", true), ("br-float", false)] {
        let br = nl
            .ensure_bridge(&BridgeSpec {
                own_mac: own,
                ..BridgeSpec::new(name)
            })
            .await
            .unwrap();
        let before = ip_link(&node, name).unwrap()["address"].clone();
        assert_eq!(Some(before.as_str().unwrap().parse().unwrap()), br.mac);
        let first: u8 = u8::from_str_radix(&before.as_str().unwrap()[..2], 16).unwrap();
        assert_eq!(
            first & 0x03,
            0x02,
            "{name}: unicast, locally administered: {before}"
        );
        // A port whose MAC is below any the bridge could have drawn (02:... is the lowest
        // locally administered unicast prefix).
        let port = format!("{name}-p");
        node.ip(&[
            "link",
            "add",
            &port,
            "address",
            "02:00:00:00:00:01",
            "type",
            "veth",
        ])
        .unwrap();
        node.ip(&["link", "set", &port, "master", name]).unwrap();
        let after = ip_link(&node, name).unwrap()["address"].clone();
        if own {
            assert_eq!(after, before, "{name} keeps its own MAC");
        } else {
            assert_eq!(
                after, "02:00:00:00:00:01",
                "{name} follows its lowest port MAC"
            );
        }
    }
    // On an existing bridge own_mac changes nothing.
    let again = nl
        .ensure_bridge(&BridgeSpec {
            own_mac: true,
            ..BridgeSpec::new("br-float")
        })
        .await
        .unwrap();
    assert_eq!(again.mac, Some(mac("02:00:00:00:00:01")));
}

#[tokio::test]
async fn ensure_bridge_creates_then_adopts() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    let spec = BridgeSpec {
        mtu: Some(1400),
        mac: Some(mac("02:00:00:00:00:aa")),
        ..BridgeSpec::new("br-test")
    };
    let br = nl.ensure_bridge(&spec).await.unwrap();
    assert_eq!(br.kind, LinkKind::Bridge);
    assert_eq!(br.mtu, 1400);
    assert!(br.admin_up);

    let seen = ip_link(&node, "br-test").unwrap();
    assert_eq!(seen["linkinfo"]["info_kind"], "bridge");
    assert_eq!(seen["mtu"], 1400);
    assert_eq!(seen["address"], "02:00:00:00:00:aa");
    assert!(flags(&seen).contains(&"UP".to_string()), "{seen}");
    assert_eq!(seen["ifindex"], br.index);

    // Again, and with another MTU: adopted as is (an existing bridge keeps its MTU).
    let again = nl
        .ensure_bridge(&BridgeSpec {
            mtu: Some(9000),
            ..spec.clone()
        })
        .await
        .unwrap();
    assert_eq!(again.index, br.index);
    assert_eq!(ip_link(&node, "br-test").unwrap()["mtu"], 1400);

    // An existing bridge that is down is brought up, and promiscuous mode is turned on.
    node.ip(&["link", "set", "br-test", "down"]).unwrap();
    let promisc = nl
        .ensure_bridge(&BridgeSpec {
            promiscuous: true,
            ..BridgeSpec::new("br-test")
        })
        .await
        .unwrap();
    assert!(promisc.promiscuous && promisc.admin_up);
    let seen = ip_link(&node, "br-test").unwrap();
    assert!(flags(&seen).contains(&"PROMISC".to_string()), "{seen}");
    assert!(flags(&seen).contains(&"UP".to_string()), "{seen}");
}

#[tokio::test]
async fn ensure_bridge_rejects_another_kind() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    node.ip(&[
        "link", "add", "notabr", "type", "veth", "peer", "name", "other",
    ])
    .unwrap();
    let err = nl
        .ensure_bridge(&BridgeSpec::new("notabr"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("not a bridge"), "{err}");
    assert_eq!(
        ip_link(&node, "notabr").unwrap()["linkinfo"]["info_kind"],
        "veth"
    );
}

#[tokio::test]
async fn invalid_names_are_invalid_input() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    for name in ["", "this-name-is-too-long", "a/b"] {
        let err = nl.ensure_bridge(&BridgeSpec::new(name)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}: {err}");
    }
}

/// This kernel is built without CONFIG_BRIDGE_VLAN_FILTERING: asking for VLAN filtering or
/// port VLANs must fail with a clear Unsupported error, and leave nothing half-made.
#[tokio::test]
async fn vlan_filtering_is_unsupported_on_this_kernel() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    let err = nl
        .ensure_bridge(&BridgeSpec {
            vlan_filtering: true,
            ..BridgeSpec::new("br-vlan")
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("VLAN filtering"), "{err}");
    assert!(
        ip_link(&node, "br-vlan").is_none(),
        "no bridge is left behind"
    );

    // On an existing bridge too.
    let br = nl
        .ensure_bridge(&BridgeSpec::new("br-plain"))
        .await
        .unwrap();
    let err = nl
        .ensure_bridge(&BridgeSpec {
            vlan_filtering: true,
            ..BridgeSpec::new("br-plain")
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    // Port VLANs (pvid + trunk) on a bridge port.
    let pod = node.pod("vlan");
    let podnl = pod.connect().await.unwrap();
    let pair = nl
        .create_veth_pair(
            &podnl,
            &VethSpec {
                bridge: Some(br.index),
                ..VethSpec::new("eth0")
            },
        )
        .await
        .unwrap();
    let vlans = PortVlans {
        pvid: Some(100),
        trunks: vec![VlanRange {
            start: 200,
            end: 210,
        }],
        remove_default: true,
    };
    let err = nl
        .set_port_vlans(pair.host.index, &vlans)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("VLAN filtering"), "{err}");

    // Bad ids are refused before asking the kernel.
    let bad = PortVlans {
        pvid: Some(4095),
        ..PortVlans::default()
    };
    let err = nl.set_port_vlans(pair.host.index, &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[tokio::test]
async fn veth_pair_lands_in_both_namespaces_in_one_request() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let br = nl.ensure_bridge(&BridgeSpec::new("cni0")).await.unwrap();
    let spec = VethSpec {
        mtu: Some(1450),
        container_mac: Some(mac("0a:58:0a:00:00:05")),
        bridge: Some(br.index),
        ..VethSpec::new("eth0")
    };
    let pair = nl.create_veth_pair(&podnl, &spec).await.unwrap();

    // Host end: random veth + 8 hex, on the bridge, up, MTU.
    let host_name = pair.host.name.clone();
    assert_eq!(host_name.len(), 12, "{host_name}");
    assert!(host_name.starts_with("veth"));
    assert!(host_name[4..].chars().all(|c| c.is_ascii_hexdigit()));
    let host = ip_link(&node, &host_name).unwrap();
    assert_eq!(host["master"], "cni0");
    assert_eq!(host["mtu"], 1450);
    assert!(flags(&host).contains(&"UP".to_string()), "{host}");
    assert_eq!(host["linkinfo"]["info_kind"], "veth");
    assert!(
        ip_link(&node, "eth0").is_none(),
        "the container end is not on the host"
    );

    // Container end: in the pod, named eth0, MAC and MTU set, down.
    let cont = ip_link(&pod, "eth0").unwrap();
    assert_eq!(cont["address"], "0a:58:0a:00:00:05");
    assert_eq!(cont["mtu"], 1450);
    assert!(!flags(&cont).contains(&"UP".to_string()), "{cont}");
    assert!(ip_link(&pod, &host_name).is_none());

    // Peer indexes as CHECK needs them.
    assert_eq!(pair.host.peer_index, Some(pair.container.index));
    assert_eq!(pair.container.peer_index, Some(pair.host.index));
    assert_eq!(pair.host.master, Some(br.index));
    assert_eq!(pair.container.mac, Some(mac("0a:58:0a:00:00:05")));

    // Both ends up at creation when asked.
    let up = nl
        .create_veth_pair(
            &podnl,
            &VethSpec {
                container_up: true,
                ..VethSpec::new("eth1")
            },
        )
        .await
        .unwrap();
    assert!(up.container.admin_up && up.host.admin_up);
    assert!(flags(&ip_link(&pod, "eth1").unwrap()).contains(&"UP".to_string()));
}

#[tokio::test]
async fn veth_name_collisions() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    nl.create_veth_pair(&podnl, &VethSpec::new("eth0"))
        .await
        .unwrap();
    let veths_before = count_veths(&node);

    // The container name is taken in the pod: a clear AlreadyExists, nothing left on the host.
    let err = nl
        .create_veth_pair(&podnl, &VethSpec::new("eth0"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("\"eth0\""), "{err}");
    assert_eq!(count_veths(&node), veths_before);

    // An explicit host name that is taken.
    node.ip(&["link", "add", "hostx", "type", "bridge"])
        .unwrap();
    let err = nl
        .create_veth_pair(
            &podnl,
            &VethSpec {
                host_ifname: Some("hostx".into()),
                ..VethSpec::new("eth1")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("hostx"), "{err}");
    assert!(ip_link(&pod, "eth1").is_none());

    // The same name on both ends in the same namespace is refused up front.
    let err = nl
        .create_veth_pair(
            &nl,
            &VethSpec {
                host_ifname: Some("same".into()),
                ..VethSpec::new("same")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

fn count_veths(ns: &TestNs) -> usize {
    let all = ns.ip_json(&["-d", "link", "show"]).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "veth")
        .count()
}

#[tokio::test]
async fn bridge_port_flags_and_promiscuous_mode() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let br = nl.ensure_bridge(&BridgeSpec::new("cni0")).await.unwrap();
    let pair = nl
        .create_veth_pair(&podnl, &VethSpec::new("eth0"))
        .await
        .unwrap();
    assert_eq!(pair.host.master, None);

    // Attach separately (idempotent).
    nl.attach_to_bridge(pair.host.index, br.index)
        .await
        .unwrap();
    nl.attach_to_bridge(pair.host.index, br.index)
        .await
        .unwrap();
    let port = ip_link(&node, &pair.host.name).unwrap();
    assert_eq!(port["master"], "cni0");

    let set = BridgePortFlags {
        hairpin: Some(true),
        isolated: Some(true),
        learning: Some(false),
    };
    nl.set_bridge_port(pair.host.index, &set).await.unwrap();
    nl.set_bridge_port(pair.host.index, &set).await.unwrap();
    let data = &ip_link(&node, &pair.host.name).unwrap()["linkinfo"]["info_slave_data"];
    assert_eq!(data["hairpin"], true, "{data}");
    assert_eq!(data["isolated"], true, "{data}");
    assert_eq!(data["learning"], false, "{data}");
    let info = nl.link_by_index(pair.host.index).await.unwrap().unwrap();
    let bp = info.bridge_port.unwrap();
    assert!(bp.hairpin && bp.isolated && !bp.learning);

    // Only the given flag changes.
    nl.set_bridge_port(
        pair.host.index,
        &BridgePortFlags {
            hairpin: Some(false),
            ..BridgePortFlags::default()
        },
    )
    .await
    .unwrap();
    let data = &ip_link(&node, &pair.host.name).unwrap()["linkinfo"]["info_slave_data"];
    assert_eq!(data["hairpin"], false, "{data}");
    assert_eq!(data["isolated"], true, "{data}");

    // Promiscuous mode on the bridge, on and off.
    nl.set_promiscuous(br.index, true).await.unwrap();
    assert!(flags(&ip_link(&node, "cni0").unwrap()).contains(&"PROMISC".to_string()));
    nl.set_promiscuous(br.index, false).await.unwrap();
    assert!(!flags(&ip_link(&node, "cni0").unwrap()).contains(&"PROMISC".to_string()));

    // Detach.
    nl.detach_from_bridge(pair.host.index).await.unwrap();
    assert!(
        ip_link(&node, &pair.host.name)
            .unwrap()
            .get("master")
            .is_none()
    );
}

#[tokio::test]
async fn generic_settings_lookup_and_delete() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let pair = nl
        .create_veth_pair(&podnl, &VethSpec::new("eth0"))
        .await
        .unwrap();
    let idx = pair.container.index;

    podnl.set_mtu(idx, 1300).await.unwrap();
    podnl.set_mac(idx, mac("02:11:22:33:44:55")).await.unwrap();
    podnl.set_link_up(idx).await.unwrap();
    podnl.set_link_up(idx).await.unwrap();
    let seen = ip_link(&pod, "eth0").unwrap();
    assert_eq!(seen["mtu"], 1300);
    assert_eq!(seen["address"], "02:11:22:33:44:55");
    assert!(flags(&seen).contains(&"UP".to_string()));
    podnl.set_link_down(idx).await.unwrap();
    assert!(!flags(&ip_link(&pod, "eth0").unwrap()).contains(&"UP".to_string()));
    let err = podnl.set_mac(idx, MacAddr([0; 6])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // Lookups.
    let by_name = podnl.link("eth0").await.unwrap();
    let by_index = podnl.link_by_index(idx).await.unwrap().unwrap();
    assert_eq!(by_name, by_index);
    assert_eq!(by_name.kind, LinkKind::Veth);
    assert_eq!(by_name.mtu, 1300);
    assert!(podnl.link_by_name("nothere").await.unwrap().is_none());
    assert!(podnl.link_by_index(99999).await.unwrap().is_none());
    assert_eq!(
        podnl.link("nothere").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let names: Vec<String> = podnl
        .links()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, vec!["lo".to_string(), "eth0".to_string()]);

    // Deleting the container end removes the host end too; deleting again is success.
    let gone = podnl.delete_link_by_name("eth0").await.unwrap();
    assert_eq!(gone.map(|l| l.index), Some(idx));
    assert!(ip_link(&pod, "eth0").is_none());
    assert!(ip_link(&node, &pair.host.name).is_none());
    assert!(podnl.delete_link_by_name("eth0").await.unwrap().is_none());
    podnl.delete_link(idx).await.unwrap();
}

#[tokio::test]
async fn wait_link_usable_follows_events() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let br = nl.ensure_bridge(&BridgeSpec::new("cni0")).await.unwrap();
    let pair = nl
        .create_veth_pair(
            &podnl,
            &VethSpec {
                bridge: Some(br.index),
                ..VethSpec::new("eth0")
            },
        )
        .await
        .unwrap();

    // The container end is down, so the host end has no carrier: a short wait times out.
    let err = nl
        .wait_link_usable(pair.host.index, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains(&pair.host.name), "{err}");

    // Bring the container end up while waiting: the wait returns as soon as the kernel says so.
    let waiter = {
        let nl = nl.clone();
        let idx = pair.host.index;
        tokio::spawn(async move {
            let start = Instant::now();
            let link = nl.wait_link_usable(idx, Duration::from_secs(10)).await;
            (link, start.elapsed())
        })
    };
    podnl.set_link_up(pair.container.index).await.unwrap();
    let (link, took) = waiter.await.unwrap();
    let link = link.unwrap();
    assert!(link.is_usable());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    eprintln!("host veth usable {took:?} after the container end went up");
    let seen = ip_link(&node, &pair.host.name).unwrap();
    assert_eq!(seen["operstate"], "UP");
    assert_eq!(seen["linkinfo"]["info_slave_data"]["state"], "forwarding");

    // Already usable: returns at once. Missing: NotFound.
    let again = nl
        .wait_link_usable(pair.host.index, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(again.index, pair.host.index);
    let err = nl
        .wait_link_usable(99999, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// `ensure_bridge_from` with the link already read: no bridge made again, a missing one made, a
/// link of another name refused.
#[tokio::test]
async fn ensure_bridge_from_a_link_already_read() {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    let spec = BridgeSpec::new("br-read");
    let made = nl.ensure_bridge_from(&spec, None).await.unwrap();
    assert_eq!(made.kind, LinkKind::Bridge);
    assert_eq!(ip_link(&node, "br-read").unwrap()["ifindex"], made.index);

    node.ip(&["link", "set", "br-read", "down"]).unwrap();
    let read = nl.link_by_name("br-read").await.unwrap();
    let adopted = nl.ensure_bridge_from(&spec, read).await.unwrap();
    assert_eq!(adopted.index, made.index);
    assert!(adopted.admin_up, "brought up as ensure_bridge does");
    assert!(flags(&ip_link(&node, "br-read").unwrap()).contains(&"UP".to_string()));

    let lo = nl.link_by_name("lo").await.unwrap();
    let err = nl.ensure_bridge_from(&spec, lo).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// `create_veth_pair_into`: the same pair as `create_veth_pair`, made with only the pod's
/// namespace; a name the pod already has is refused and nothing is made.
#[tokio::test]
async fn veth_pair_into_a_namespace_without_its_handle() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let br = nl.ensure_bridge(&BridgeSpec::new("cni0")).await.unwrap();
    let spec = VethSpec {
        mtu: Some(1450),
        bridge: Some(br.index),
        ..VethSpec::new("eth0")
    };
    let host = nl.create_veth_pair_into(pod.netns(), &spec).await.unwrap();
    assert_eq!(host.master, Some(br.index));
    assert!(host.admin_up);
    let seen = ip_link(&node, &host.name).unwrap();
    assert_eq!(seen["master"], "cni0");
    assert_eq!(seen["mtu"], 1450);
    let cont = ip_link(&pod, "eth0").unwrap();
    assert_eq!(cont["mtu"], 1450);
    assert_eq!(host.peer_index, cont["ifindex"].as_u64().map(|i| i as u32));

    let veths = |ns: &TestNs| {
        ns.ip_json(&["link", "show", "type", "veth"])
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    let err = nl
        .create_veth_pair_into(pod.netns(), &VethSpec::new("eth0"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("\"eth0\""), "{err}");
    assert_eq!((veths(&node), veths(&pod)), (1, 1), "nothing more made");

    let err = nl
        .create_veth_pair_into(
            pod.netns(),
            &VethSpec {
                container_up: true,
                ..VethSpec::new("eth1")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}
