//! Helpers shared by the traffic tests: fixtures set up with `ip`, and UDP sockets made inside
//! the test namespaces.
#![allow(clippy::unwrap_used, clippy::panic, dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use cni_netlink::testkit::{TestNode, TestNs};

/// A node namespace and two more made by it, a pod and a remote, for a test to link up.
pub struct Topology {
    pub node: TestNode,
    pub pod: TestNs,
    pub remote: TestNs,
}

impl Topology {
    /// Three fresh namespaces, nothing in them yet.
    pub fn new() -> Topology {
        let node = TestNode::new();
        let pod = node.pod("pod");
        let remote = node.pod("remote");
        Topology { node, pod, remote }
    }
}

/// Runs `ip <args>` in `ns`; fails the test with ip's message.
pub fn ip(ns: &TestNs, args: &[&str]) {
    ns.ip(args)
        .unwrap_or_else(|e| panic!("ip {args:?} in {}: {e}", ns.name()));
}

/// A receiver bound to `dst` (any port) inside `to`, reads timing out after `timeout`, and a
/// sender bound to the unspecified address of the same family inside `from`. Sockets keep the
/// namespace they were made in, so both can be used from the test thread.
pub fn udp_pair(
    from: &TestNs,
    to: &TestNs,
    dst: IpAddr,
    timeout: Duration,
) -> (UdpSocket, UdpSocket) {
    let listen = SocketAddr::new(dst, 0);
    let receiver = to
        .run_blocking(|| UdpSocket::bind(listen))
        .unwrap()
        .unwrap();
    receiver.set_read_timeout(Some(timeout)).unwrap();
    let any: SocketAddr = if dst.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sender = from.run_blocking(|| UdpSocket::bind(any)).unwrap().unwrap();
    (sender, receiver)
}
