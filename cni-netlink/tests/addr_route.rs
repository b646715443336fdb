//! Addresses and routes, checked with `ip -j`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::time::Duration;

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::route::{PROTO_STATIC, TABLE_MAIN};
use cni_netlink::testkit::{TestNode, TestNs};
use cni_netlink::{
    AddrOptions, BridgeSpec, ErrorKind, IpFamily, Netlink, RouteFilter, RouteScope, RouteSpec,
};
use serde_json::Value;

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `addr_info` entries of `dev` as (local/prefix, flags...) seen by `ip -j addr`.
fn ip_addrs(ns: &TestNs, dev: &str) -> Vec<Value> {
    let v = ns.ip_json(&["addr", "show", "dev", dev]).unwrap();
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

fn has_addr(ns: &TestNs, dev: &str, cidr: &str) -> bool {
    ip_addrs(ns, dev)
        .iter()
        .any(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]) == cidr)
}

fn ip_routes(ns: &TestNs, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["route", "show"];
    all.extend_from_slice(args);
    ns.ip_json(&all).unwrap().as_array().cloned().unwrap()
}

/// A namespace with a bridge `br0` that is up (bridges without ports still take addresses and
/// routes).
async fn setup() -> (TestNode, Netlink, u32) {
    let node = TestNode::new();
    let nl = node.connect().await.unwrap();
    let br = nl.ensure_bridge(&BridgeSpec::new("br0")).await.unwrap();
    (node, nl, br.index)
}

#[tokio::test]
async fn addresses_v4_v6_nodad_idempotent() {
    let (node, nl, br) = setup().await;
    nl.add_address(br, net("10.22.0.1/24"), AddrOptions::default())
        .await
        .unwrap();
    // Adding it again is success.
    nl.add_address(br, net("10.22.0.1/24"), AddrOptions::default())
        .await
        .unwrap();
    assert!(has_addr(&node, "br0", "10.22.0.1/24"));

    let nodad = AddrOptions {
        nodad: true,
        ..AddrOptions::default()
    };
    nl.add_address(br, net("fd00:22::1/64"), nodad)
        .await
        .unwrap();
    let v6 = ip_addrs(&node, "br0")
        .into_iter()
        .find(|a| a["local"] == "fd00:22::1")
        .unwrap();
    assert_eq!(v6["nodad"], true, "{v6}");
    assert!(v6.get("tentative").is_none(), "{v6}");

    // With DAD on a bridge without carrier the address stays tentative; the crate reports it.
    nl.add_address(br, net("fd00:33::1/64"), AddrOptions::default())
        .await
        .unwrap();
    let listed = nl.addresses(Some(br), Some(IpFamily::V6)).await.unwrap();
    let with_dad = listed
        .iter()
        .find(|a| a.network == net("fd00:33::1/64"))
        .unwrap();
    let seen = ip_addrs(&node, "br0")
        .into_iter()
        .find(|a| a["local"] == "fd00:33::1")
        .unwrap();
    assert_eq!(
        with_dad.tentative,
        seen.get("tentative").is_some(),
        "{seen}"
    );
    assert!(!with_dad.nodad);
    let no_dad = listed
        .iter()
        .find(|a| a.network == net("fd00:22::1/64"))
        .unwrap();
    assert!(no_dad.nodad && !no_dad.tentative);

    // Listing by family and link.
    let v4 = nl.addresses(Some(br), Some(IpFamily::V4)).await.unwrap();
    assert_eq!(
        v4.iter().map(|a| a.network).collect::<Vec<_>>(),
        vec![net("10.22.0.1/24")]
    );
    nl.expect_address(br, net("10.22.0.1/24")).await.unwrap();
    assert_eq!(
        nl.expect_address(br, net("10.22.0.2/24"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    // Delete, and delete again (success).
    nl.delete_address(br, net("10.22.0.1/24")).await.unwrap();
    nl.delete_address(br, net("10.22.0.1/24")).await.unwrap();
    nl.delete_address(br, net("fd00:22::1/64")).await.unwrap();
    assert!(!has_addr(&node, "br0", "10.22.0.1/24"));
    assert!(!has_addr(&node, "br0", "fd00:22::1/64"));
    assert!(has_addr(&node, "br0", "fd00:33::1/64"));
    // A link that does not exist: nothing to delete.
    nl.delete_address(99999, net("10.9.9.9/32")).await.unwrap();
}

#[tokio::test]
async fn no_prefix_route_option() {
    let (node, nl, br) = setup().await;
    nl.add_address(
        br,
        net("10.40.0.1/24"),
        AddrOptions {
            no_prefix_route: true,
            ..AddrOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(has_addr(&node, "br0", "10.40.0.1/24"));
    assert!(ip_routes(&node, &["dev", "br0"]).is_empty());
}

#[tokio::test]
async fn dad_settles_on_a_usable_link() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let pair = nl
        .create_veth_pair(
            &podnl,
            &cni_netlink::VethSpec {
                container_up: true,
                ..cni_netlink::VethSpec::new("eth0")
            },
        )
        .await
        .unwrap();
    // Make DAD quick, then add an address with DAD on and wait for it to settle.
    pod.netns()
        .sysctl_set("net/ipv6/conf/eth0/dad_transmits", "1")
        .unwrap();
    pod.netns()
        .sysctl_set("net/ipv6/neigh/eth0/retrans_time_ms", "100")
        .unwrap();
    podnl
        .add_address(
            pair.container.index,
            net("fd00:44::5/64"),
            AddrOptions::default(),
        )
        .await
        .unwrap();
    let settled = podnl
        .wait_addresses_settled(pair.container.index, IpFamily::V6, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(settled.iter().all(|a| !a.tentative));
    let seen = ip_addrs(&pod, "eth0")
        .into_iter()
        .find(|a| a["local"] == "fd00:44::5")
        .unwrap();
    assert!(seen.get("tentative").is_none(), "{seen}");
}

#[tokio::test]
async fn routes_add_replace_delete_list() {
    let (node, nl, br) = setup().await;
    nl.add_address(br, net("10.22.0.1/24"), AddrOptions::default())
        .await
        .unwrap();
    // The bridge has no carrier; routes via it need to be on-link-independent, so bring a port.
    let spec = RouteSpec {
        gateway: Some(ip("10.22.0.254")),
        oif: Some(br),
        metric: Some(50),
        mtu: Some(1400),
        onlink: true,
        ..RouteSpec::new(net("10.50.0.0/16"))
    };
    nl.add_route(&spec).await.unwrap();
    let err = nl.add_route(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    nl.replace_route(&spec).await.unwrap();

    let seen = ip_routes(&node, &["10.50.0.0/16"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["gateway"], "10.22.0.254");
    assert_eq!(seen[0]["dev"], "br0");
    assert_eq!(seen[0]["metric"], 50);
    assert_eq!(seen[0]["protocol"], "static");
    assert_eq!(seen[0]["metrics"][0]["mtu"], 1400, "{seen:?}");

    let listed = nl
        .routes(&RouteFilter {
            oif: Some(br),
            family: Some(IpFamily::V4),
            table: Some(TABLE_MAIN),
            ..RouteFilter::default()
        })
        .await
        .unwrap();
    let r = listed
        .iter()
        .find(|r| r.destination == net("10.50.0.0/16"))
        .unwrap();
    assert_eq!(r.gateway, Some(ip("10.22.0.254")));
    assert_eq!(r.metric, Some(50));
    assert_eq!(r.mtu, Some(1400));
    assert_eq!(r.protocol, PROTO_STATIC);
    assert_eq!(r.scope, RouteScope::Universe);
    // The kernel's prefix route for the address is listed too.
    assert!(
        listed
            .iter()
            .any(|r| r.destination == net("10.22.0.0/24") && r.scope == RouteScope::Link)
    );

    // Replace changes the gateway in place.
    let moved = RouteSpec {
        gateway: Some(ip("10.22.0.253")),
        ..spec.clone()
    };
    nl.replace_route(&moved).await.unwrap();
    let seen = ip_routes(&node, &["10.50.0.0/16"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["gateway"], "10.22.0.253");
    nl.expect_route(net("10.50.0.0/16"), Some(ip("10.22.0.253")))
        .await
        .unwrap();
    assert!(
        nl.expect_route(net("10.50.0.0/16"), Some(ip("10.22.0.254")))
            .await
            .is_err()
    );

    // A device route gets link scope, like `ip route add ... dev br0`.
    nl.add_route(&RouteSpec::new(net("10.60.0.0/24")).dev(br))
        .await
        .unwrap();
    assert_eq!(ip_routes(&node, &["10.60.0.0/24"])[0]["scope"], "link");

    // Delete (also when already gone).
    nl.delete_route(&moved).await.unwrap();
    nl.delete_route(&moved).await.unwrap();
    assert!(ip_routes(&node, &["10.50.0.0/16"]).is_empty());
    nl.delete_route(&RouteSpec::new(net("10.60.0.0/24")))
        .await
        .unwrap();
    assert!(ip_routes(&node, &["10.60.0.0/24"]).is_empty());
}

#[tokio::test]
async fn routes_in_another_table_with_protocol_and_scope() {
    let (node, nl, br) = setup().await;
    let spec = RouteSpec {
        oif: Some(br),
        table: Some(1234),
        protocol: Some(77),
        scope: Some(RouteScope::Link),
        ..RouteSpec::new(net("192.168.77.0/24"))
    };
    nl.add_route(&spec).await.unwrap();
    let seen = ip_routes(&node, &["table", "1234"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["dst"], "192.168.77.0/24");
    assert_eq!(seen[0]["protocol"], "77");
    assert_eq!(seen[0]["scope"], "link");
    assert!(
        ip_routes(&node, &["192.168.77.0/24"]).is_empty(),
        "not in main"
    );

    let listed = nl
        .routes(&RouteFilter {
            table: Some(1234),
            ..RouteFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].table, 1234);
    assert_eq!(listed[0].protocol, 77);
    nl.delete_route(&RouteSpec {
        table: Some(1234),
        ..RouteSpec::new(net("192.168.77.0/24"))
    })
    .await
    .unwrap();
    assert!(ip_routes(&node, &["table", "1234"]).is_empty());
}

#[tokio::test]
async fn default_routes_v4_and_v6() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let pair = nl
        .create_veth_pair(
            &podnl,
            &cni_netlink::VethSpec {
                container_up: true,
                ..cni_netlink::VethSpec::new("eth0")
            },
        )
        .await
        .unwrap();
    let eth0 = pair.container.index;
    let nodad = AddrOptions {
        nodad: true,
        ..AddrOptions::default()
    };
    podnl
        .add_address(eth0, net("10.22.0.5/24"), nodad)
        .await
        .unwrap();
    podnl
        .add_address(eth0, net("fd00:22::5/64"), nodad)
        .await
        .unwrap();
    podnl
        .replace_default_route(ip("10.22.0.1"), Some(eth0))
        .await
        .unwrap();
    podnl
        .replace_default_route(ip("10.22.0.1"), Some(eth0))
        .await
        .unwrap();
    podnl
        .replace_default_route(ip("fd00:22::1"), None)
        .await
        .unwrap();

    let v4 = ip_routes(&pod, &["default"]);
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0]["gateway"], "10.22.0.1");
    assert_eq!(v4[0]["dev"], "eth0");
    let v6 = pod.ip_json(&["-6", "route", "show", "default"]).unwrap();
    assert_eq!(v6[0]["gateway"], "fd00:22::1", "{v6}");

    let d4 = podnl.default_routes(IpFamily::V4).await.unwrap();
    assert_eq!(d4.len(), 1);
    assert_eq!(d4[0].gateway, Some(ip("10.22.0.1")));
    assert_eq!(d4[0].destination, net("0.0.0.0/0"));
    let d6 = podnl.default_routes(IpFamily::V6).await.unwrap();
    assert_eq!(d6.len(), 1);
    assert_eq!(d6[0].gateway, Some(ip("fd00:22::1")));
    podnl
        .expect_route(net("0.0.0.0/0"), Some(ip("10.22.0.1")))
        .await
        .unwrap();
    // The prefix route of the address, looked up from the address itself.
    podnl.expect_route(net("10.22.0.5/24"), None).await.unwrap();
    assert_eq!(
        podnl
            .expect_route(net("10.23.0.5/24"), None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    podnl
        .delete_route(&RouteSpec::default_via(ip("10.22.0.1")))
        .await
        .unwrap();
    assert!(ip_routes(&pod, &["default"]).is_empty());
}
