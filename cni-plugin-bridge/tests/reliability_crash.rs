//! Crash anywhere: the `bridge` plugin is SIGKILLed at random points of ADD, many times over.
//! After the DEL a runtime sends next, nothing of that attachment is left (veths, routes,
//! host-local reservation, nftables element), and the next ADD works. An ADD that fails part-way
//! undoes what it made by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod relkit;

use std::time::{Duration, Instant};

use cni_netlink::testkit::TestNode;
use common::*;
use relkit::*;
use serde_json::{Value, json};

/// The seed of the kill schedule: a failure reproduces with the same seed.
const SEED: u64 = 0x5eed_c0de_0009;
/// How many ADDs are killed.
const KILLS: usize = 80;

fn net_conf(data: &TempDir) -> Value {
    conf(
        "1.0.0",
        data,
        &["10.77.0.0/24"],
        json!({"isDefaultGateway": true, "ipMasq": true}),
    )
}

#[test]
fn sigkill_at_random_points_of_add_then_del_leaves_nothing() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-crash");
    let c = net_conf(&data);
    let netns = pod.path().to_string_lossy().into_owned();

    // Measure full ADDs (the first also creates the bridge) to spread the kills over one.
    let mut durations = Vec::new();
    for i in 0..3 {
        let id = format!("measure{i}");
        let t = Instant::now();
        let out = spawn(&node, "ADD", &id, &netns, "eth0", &c)
            .wait_with_output()
            .unwrap();
        durations.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let out = spawn(&node, "DEL", &id, &netns, "eth0", &c)
            .wait_with_output()
            .unwrap();
        assert!(out.status.success());
    }
    durations.sort();
    let add_time = durations[1];
    let span_us = u64::try_from(add_time.as_micros()).unwrap().max(1000);

    let mut rng = Rng::new(SEED);
    let (mut killed_running, mut finished_first) = (0, 0);
    let started = Instant::now();
    for i in 0..KILLS {
        let id = format!("crash{i}");
        let delay = Duration::from_micros(rng.below(span_us));
        let ctx = format!("kill {i} after {delay:?} (seed {SEED:#x})");
        let mut child = spawn(&node, "ADD", &id, &netns, "eth0", &c);
        std::thread::sleep(delay);
        match child.try_wait().unwrap() {
            Some(_) => finished_first += 1,
            None => {
                child.kill().unwrap();
                killed_running += 1;
            }
        }
        child.wait().unwrap();

        // The runtime's next call for this attachment: DEL, which must succeed.
        let out = spawn(&node, "DEL", &id, &netns, "eth0", &c)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ctx}: DEL failed: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_attachment_gone(&node, Some(&pod), &data, "testnet", &id, "eth0", &ctx);

        // And the attachment can be made again.
        let out = spawn(&node, "ADD", &id, &netns, "eth0", &c)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ctx}: next ADD failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(reservations(&data, "testnet"), 1, "{ctx}");
        assert_eq!(masq_entries_of(&node, &id, "eth0").len(), 1, "{ctx}");
        assert_eq!(host_veths(&node).len(), 1, "{ctx}");
        let out = spawn(&node, "DEL", &id, &netns, "eth0", &c)
            .wait_with_output()
            .unwrap();
        assert!(out.status.success(), "{ctx}");
        assert_attachment_gone(&node, Some(&pod), &data, "testnet", &id, "eth0", &ctx);
    }
    eprintln!(
        "{KILLS} ADDs, {killed_running} killed while running, {finished_first} finished before \
         the kill; one ADD takes {add_time:?}; kills spread over {span_us} us; {:?} in all",
        started.elapsed()
    );
    // The schedule must really hit running ADDs, not only finished ones.
    assert!(killed_running >= KILLS / 2, "{killed_running} of {KILLS}");
}

#[test]
fn sigkill_during_concurrent_adds_then_del_leaves_nothing() {
    // Several ADDs of different pods are killed at once, as a runtime under memory pressure
    // would; each gets its DEL; the node ends clean and takes new pods.
    let node = TestNode::new();
    let data = TempDir::new("rel-crash-par");
    let c = net_conf(&data);
    let pods: Vec<_> = (0..8).map(|i| node.pod(&format!("p{i}"))).collect();
    let mut rng = Rng::new(SEED ^ 0xff);
    for round in 0..3 {
        let mut children: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                spawn(
                    &node,
                    "ADD",
                    &format!("r{round}p{i}"),
                    &p.path().to_string_lossy(),
                    "eth0",
                    &c,
                )
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(40_000)));
        for ch in &mut children {
            let _ = ch.kill();
            ch.wait().unwrap();
        }
        for (i, p) in pods.iter().enumerate() {
            let out = spawn(
                &node,
                "DEL",
                &format!("r{round}p{i}"),
                &p.path().to_string_lossy(),
                "eth0",
                &c,
            )
            .wait_with_output()
            .unwrap();
            assert!(out.status.success(), "round {round} pod {i}");
        }
        for (i, p) in pods.iter().enumerate() {
            let ctx = format!("round {round} pod {i}");
            assert_attachment_gone(
                &node,
                Some(p),
                &data,
                "testnet",
                &format!("r{round}p{i}"),
                "eth0",
                &ctx,
            );
        }
    }
    let p = &pods[0];
    let mut call = Call::new(OURS, "ADD", p);
    call.container_id = "after";
    call.run(&node, &c).expect_ok();
}

#[test]
fn add_failing_part_way_undoes_itself() {
    let node = TestNode::new();
    let data = TempDir::new("rel-partial");
    let c = net_conf(&data);

    // 1. The ifname already exists in the pod: refused before anything is made.
    let pod = node.pod("pod");
    pod.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other",
    ])
    .unwrap();
    let out = Call::new(OURS, "ADD", &pod).run(&node, &c);
    assert_eq!(out.code(), 4, "{}", out.json);
    assert!(host_veths(&node).is_empty());
    assert_eq!(reservations(&data, "testnet"), 0);
    assert!(masq_entries_of(&node, "ctr1", "eth0").is_empty());

    // 2. Masquerading fails after the veth, the pod's addresses and routes, the gateway and the
    // reservation exist: a foreign chain named like the plugin's base chain, with another hook,
    // makes the kernel refuse the plugin's nftables batch.
    let pod2 = node.pod("pod2");
    let out = node
        .command("nft")
        .arg(
            "add table inet cni_rs_masquerade; \
             add chain inet cni_rs_masquerade postrouting { type filter hook input priority 0; }",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut call = Call::new(OURS, "ADD", &pod2);
    call.container_id = "partial";
    let out = call.run(&node, &c);
    assert!(
        !out.ok,
        "the refused masquerade batch fails the ADD: {}",
        out.json
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        out.json["msg"].as_str().unwrap().contains("masquerad"),
        "{}",
        out.json
    );
    assert_attachment_gone(
        &node,
        Some(&pod2),
        &data,
        "testnet",
        "partial",
        "eth0",
        "masq failure",
    );

    // 3. Once the obstacle is gone, the same attachment is made in full.
    node.command("nft")
        .args(["delete", "table", "inet", "cni_rs_masquerade"])
        .output()
        .unwrap();
    call.run(&node, &c).expect_ok();
    assert_eq!(masq_entries_of(&node, "partial", "eth0").len(), 1);
    assert_eq!(reservations(&data, "testnet"), 1);
}
