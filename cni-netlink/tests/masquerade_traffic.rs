//! Real packets through masquerade, inside three throwaway namespaces only:
//!
//! ```text
//! pod (10.1.0.5, fd00:1::5) --veth-- node (router, masquerade) --veth-- remote
//!                                                                  192.0.2.2, 2001:db8::2 (masqueraded)
//!                                                                  198.51.100.2, 2001:db8:1::2 (never)
//! ```
//!
//! The pod sends UDP datagrams to the remote's addresses; the remote reports the source it saw:
//! the node's address for masqueraded destinations, the pod's own for never-masqueraded ones.
//! Both backends are checked the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::masquerade::{Attachment, IptablesMasquerade, Masquerade};
use cni_netlink::testkit::TestNs;
use common::{Topology, ip, udp_pair};

fn topology() -> Topology {
    let t = Topology::new();
    let (node, pod, remote): (&TestNs, &TestNs, &TestNs) = (&t.node, &t.pod, &t.remote);
    let pod_path = pod.path().to_str().unwrap().to_string();
    let remote_path = remote.path().to_str().unwrap().to_string();
    ip(
        node,
        &[
            "link", "add", "vpod", "type", "veth", "peer", "name", "eth0", "netns", &pod_path,
        ],
    );
    ip(
        node,
        &[
            "link",
            "add",
            "vup",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &remote_path,
        ],
    );
    for (ns, dev, addrs) in [
        (node, "vpod", &["10.1.0.1/24", "fd00:1::1/64"][..]),
        (node, "vup", &["192.0.2.1/24", "2001:db8::1/64"][..]),
        (pod, "eth0", &["10.1.0.5/24", "fd00:1::5/64"][..]),
        (
            remote,
            "eth0",
            &[
                "192.0.2.2/24",
                "198.51.100.2/24",
                "2001:db8::2/64",
                "2001:db8:1::2/64",
            ][..],
        ),
    ] {
        for a in addrs {
            ip(ns, &["addr", "add", a, "dev", dev, "nodad"]);
        }
        ip(ns, &["link", "set", dev, "up"]);
        ip(ns, &["link", "set", "lo", "up"]);
    }
    ip(pod, &["route", "add", "default", "via", "10.1.0.1"]);
    ip(pod, &["-6", "route", "add", "default", "via", "fd00:1::1"]);
    ip(
        node,
        &["route", "add", "198.51.100.0/24", "via", "192.0.2.2"],
    );
    ip(
        node,
        &[
            "-6",
            "route",
            "add",
            "2001:db8:1::/64",
            "via",
            "2001:db8::2",
        ],
    );
    // Replies to unmasqueraded packets (not needed for one-way UDP, but a realistic remote).
    ip(remote, &["route", "add", "10.1.0.0/24", "via", "192.0.2.1"]);
    ip(
        remote,
        &["-6", "route", "add", "fd00:1::/64", "via", "2001:db8::1"],
    );
    node.netns()
        .sysctl_set_many(&[
            ("net/ipv4/ip_forward", "1"),
            ("net/ipv6/conf/all/forwarding", "1"),
        ])
        .unwrap();
    t
}

/// Sends one datagram from the pod to `dst` and returns the source address the remote saw.
fn seen_source(t: &Topology, dst: IpAddr) -> IpAddr {
    let (sender, receiver) = udp_pair(&t.pod, &t.remote, dst, Duration::from_secs(5));
    let target = receiver.local_addr().unwrap();
    // Neighbour resolution may drop the first datagram; send a few, bounded.
    let mut buf = [0u8; 16];
    for _ in 0..5 {
        sender.send_to(b"hello", target).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        if let Ok((n, from)) = receiver.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"hello");
            return from.ip();
        }
    }
    panic!("no datagram reached {target}");
}

fn pod_addrs() -> [IpNetwork; 2] {
    [
        "10.1.0.5/24".parse().unwrap(),
        "fd00:1::5/64".parse().unwrap(),
    ]
}

fn never() -> [IpNetwork; 2] {
    [
        "198.51.100.0/24".parse().unwrap(),
        "2001:db8:1::/64".parse().unwrap(),
    ]
}

fn check_masqueraded(t: &Topology) {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(seen_source(t, ip("192.0.2.2")), ip("192.0.2.1"));
    assert_eq!(seen_source(t, ip("2001:db8::2")), ip("2001:db8::1"));
    assert_eq!(seen_source(t, ip("198.51.100.2")), ip("10.1.0.5"));
    assert_eq!(seen_source(t, ip("2001:db8:1::2")), ip("fd00:1::5"));
}

fn check_not_masqueraded(t: &Topology) {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(seen_source(t, ip("192.0.2.2")), ip("10.1.0.5"));
    assert_eq!(seen_source(t, ip("2001:db8::2")), ip("fd00:1::5"));
}

#[test]
fn nftables_masquerade_rewrites_the_source_except_never_cidrs() {
    let t = topology();
    // Without masquerade the remote sees the pod's own addresses.
    check_not_masqueraded(&t);
    let masq = Masquerade::open(t.node.netns()).unwrap();
    let att = Attachment::new("pod-container", "eth0");
    masq.add("trafficnet", &att, &pod_addrs(), &never())
        .unwrap();
    check_masqueraded(&t);
    masq.remove("trafficnet", &att).unwrap();
    // Conntrack keeps NAT per flow; a new source port is a new flow.
    check_not_masqueraded(&t);
}

#[test]
fn iptables_masquerade_rewrites_the_source_except_never_cidrs() {
    let t = topology();
    let masq = IptablesMasquerade::open(t.node.netns());
    let att = Attachment::new("pod-container", "eth0");
    masq.add("trafficnet", &att, &pod_addrs(), &never())
        .unwrap();
    check_masqueraded(&t);
    masq.remove("trafficnet", &att).unwrap();
    check_not_masqueraded(&t);
}
