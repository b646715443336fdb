//! Masquerade at scale: adding an attachment to a network that already has 1000 costs about what
//! the first ones did (the per-network rules are read, not rewritten; the kernel hashes the new
//! element into the set). Prints the figures (`cargo test --test masquerade_scale -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::masquerade::{Attachment, Masquerade};
use cni_netlink::testkit::TestNode;

fn addr(i: u32) -> [IpNetwork; 2] {
    let v4 = format!("10.{}.{}.{}/16", 100 + i / 65536, (i / 256) % 256, i % 256);
    let v6 = format!("fd00:99::{:x}/64", i + 1);
    [v4.parse().unwrap(), v6.parse().unwrap()]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `count` adds of fresh attachments numbered from `from`.
fn time_adds(masq: &Masquerade, from: u32, count: u32) -> Vec<Duration> {
    let never: [IpNetwork; 1] = ["10.0.0.0/8".parse().unwrap()];
    (from..from + count)
        .map(|i| {
            let att = Attachment::new(format!("container-{i:08}"), "eth0");
            let start = Instant::now();
            masq.add("scale", &att, &addr(i), &never).unwrap();
            start.elapsed()
        })
        .collect()
}

#[test]
fn add_stays_flat_with_a_thousand_attachments() {
    let node = TestNode::new();
    let masq = Masquerade::open(node.netns()).unwrap();
    // Warm up: the first add creates the table, chains, sets and rules.
    let first = time_adds(&masq, 0, 1)[0];
    let early = median(time_adds(&masq, 1, 50));
    time_adds(&masq, 51, 950);
    assert_eq!(masq.attachments("scale").unwrap().len(), 1001);
    let late = median(time_adds(&masq, 1001, 50));

    let victim = Attachment::new(format!("container-{:08}", 500), "eth0");
    let start = Instant::now();
    masq.remove("scale", &victim).unwrap();
    let remove = start.elapsed();
    let start = Instant::now();
    let listed = masq.entries("scale").unwrap();
    let list = start.elapsed();
    assert_eq!(listed.len(), 2 * 1050);

    eprintln!(
        "masquerade (nftables, dual-stack attachment): first add {first:?}; median add with \
         ~50 attachments {early:?}; median add with 1000+ attachments {late:?}; remove with 1050 \
         {remove:?}; list 2100 entries {list:?}"
    );
    // Flat, with generous slack for a shared 2-core machine.
    assert!(
        late <= early * 5 + Duration::from_millis(5),
        "add slowed down with the network's size: {early:?} -> {late:?}"
    );
}

/// For comparison: the iptables compatibility backend runs processes for every rule.
#[test]
fn iptables_backend_add_cost_for_comparison() {
    use cni_netlink::masquerade::IptablesMasquerade;
    let node = TestNode::new();
    let masq = IptablesMasquerade::open(node.netns());
    let never: [IpNetwork; 1] = ["10.0.0.0/8".parse().unwrap()];
    let times: Vec<Duration> = (0..5)
        .map(|i| {
            let att = Attachment::new(format!("container-{i}"), "eth0");
            let start = Instant::now();
            masq.add("scale", &att, &addr(i), &never).unwrap();
            start.elapsed()
        })
        .collect();
    assert_eq!(masq.attachments("scale").unwrap().len(), 5);
    eprintln!(
        "masquerade (iptables backend, dual-stack attachment): median add {:?}",
        median(times)
    );
}
