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
/// How many ADDs are killed (ipMasq config).
const KILLS: usize = 80;

fn net_conf(data: &TempDir) -> Value {
    conf(
        "1.0.0",
        data,
        &["10.77.0.0/24"],
        json!({"isDefaultGateway": true, "ipMasq": true}),
    )
}

/// Runs `cmd` to completion and asserts it succeeded.
fn run_ok(node: &TestNode, cmd: &str, id: &str, netns: &str, c: &Value, ctx: &str) {
    let out = spawn(node, cmd, id, netns, "eth0", c)
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{ctx}: {cmd} failed: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nft list ruleset` of the node (text, no handles): after a DEL it must be what it was
/// before the ADD, whatever the ADD got to make (masquerade elements, spoof-check chains).
fn ruleset(node: &TestNode) -> String {
    nft_ruleset(node)
}

/// What one crash loop did.
struct CrashFigures {
    killed_running: usize,
    finished_first: usize,
    add_time: Duration,
    span_us: u64,
    elapsed: Duration,
}

/// Kills `kills` ADDs of `c` at seeded random points spread over one ADD's duration; after
/// each, DEL must succeed and leave nothing of the attachment, and the next ADD must work.
fn crash_loop(c: &Value, data: &TempDir, seed: u64, kills: usize) -> CrashFigures {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let netns = pod.path().to_string_lossy().into_owned();

    // Measure full ADDs (the first also creates the bridge) to spread the kills over one.
    let mut durations = Vec::new();
    for i in 0..3 {
        let id = format!("measure{i}");
        let t = Instant::now();
        run_ok(&node, "ADD", &id, &netns, c, "measuring");
        durations.push(t.elapsed());
        run_ok(&node, "DEL", &id, &netns, c, "measuring");
    }
    durations.sort();
    let add_time = durations[1];
    let mut span_us = u64::try_from(add_time.as_micros()).unwrap().max(1000);
    let mut recent = durations.clone();
    let baseline = ruleset(&node);

    let mut rng = Rng::new(seed);
    let (mut killed_running, mut finished_first) = (0, 0);
    let started = Instant::now();
    for i in 0..kills {
        let id = format!("crash{i}");
        let delay = Duration::from_micros(rng.below(span_us));
        let ctx = format!("kill {i} after {delay:?} (seed {seed:#x})");
        let mut child = spawn(&node, "ADD", &id, &netns, "eth0", c);
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
        run_ok(&node, "DEL", &id, &netns, c, &ctx);
        assert_attachment_gone(&node, Some(&pod), data, "testnet", &id, "eth0", &ctx);
        assert_eq!(ruleset(&node), baseline, "{ctx}: nftables state left");

        // And the attachment can be made again, and deleted cleanly. Its duration keeps the
        // kill schedule calibrated to the machine's current load (median of the last five).
        let t = Instant::now();
        run_ok(&node, "ADD", &id, &netns, c, &ctx);
        recent.push(t.elapsed());
        if recent.len() > 5 {
            recent.remove(0);
        }
        let mut sorted = recent.clone();
        sorted.sort();
        span_us = u64::try_from(sorted[sorted.len() / 2].as_micros())
            .unwrap()
            .max(1000);
        assert_eq!(reservations(data, "testnet"), 1, "{ctx}");
        if c["ipMasqBackend"] == "iptables" {
            // Go's layout: a CNI-<hash> chain per attachment, jumped to from POSTROUTING.
            let rules = ruleset(&node);
            assert_eq!(rules.matches("jump CNI-").count(), 1, "{ctx}: {rules}");
        } else {
            assert_eq!(masq_entries_of(&node, &id, "eth0").len(), 1, "{ctx}");
        }
        assert_eq!(host_veths(&node).len(), 1, "{ctx}");
        run_ok(&node, "DEL", &id, &netns, c, &ctx);
        assert_attachment_gone(&node, Some(&pod), data, "testnet", &id, "eth0", &ctx);
        assert_eq!(ruleset(&node), baseline, "{ctx}: nftables state left");
    }
    CrashFigures {
        killed_running,
        finished_first,
        add_time,
        span_us,
        elapsed: started.elapsed(),
    }
}

fn report(what: &str, kills: usize, f: &CrashFigures) {
    eprintln!(
        "{what}: {kills} ADDs, {} killed while running, {} finished before the kill; one ADD \
         takes {:?} (first measure); kills spread over the last {} us; {:?} in all",
        f.killed_running, f.finished_first, f.add_time, f.span_us, f.elapsed
    );
    // The schedule must really hit running ADDs, not only finished ones.
    assert!(
        f.killed_running >= kills / 2,
        "{} of {kills}",
        f.killed_running
    );
}

#[test]
fn sigkill_at_random_points_of_add_then_del_leaves_nothing() {
    let data = TempDir::new("rel-crash");
    let figures = crash_loop(&net_conf(&data), &data, SEED, KILLS);
    report("ipMasq", KILLS, &figures);
}

#[test]
fn sigkill_with_mac_spoof_check_then_del_leaves_nothing() {
    // macspoofchk adds per-attachment nftables chains (through the nft command), a longer ADD
    // with more points to die at.
    const SPOOF_KILLS: usize = 30;
    let data = TempDir::new("rel-crash-spoof");
    let mut c = net_conf(&data);
    c["macspoofchk"] = json!(true);
    let figures = crash_loop(&c, &data, SEED ^ 0x5900f, SPOOF_KILLS);
    report("ipMasq + macspoofchk", SPOOF_KILLS, &figures);
}

#[test]
fn sigkill_with_the_iptables_backend_then_del_leaves_nothing() {
    // The Go-compatible backend runs iptables processes: more, slower steps to die between.
    const IPT_KILLS: usize = 20;
    let data = TempDir::new("rel-crash-ipt");
    let mut c = net_conf(&data);
    c["ipMasqBackend"] = json!("iptables");
    let figures = crash_loop(&c, &data, SEED ^ 0x1b7, IPT_KILLS);
    report("ipMasq with iptables", IPT_KILLS, &figures);
}

#[test]
fn sigkill_during_del_then_del_again_leaves_nothing() {
    // A runtime whose DEL was killed sends it again.
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("rel-crash-del");
    let c = net_conf(&data);
    let netns = pod.path().to_string_lossy().into_owned();
    run_ok(&node, "ADD", "m", &netns, &c, "measuring");
    let t = Instant::now();
    run_ok(&node, "DEL", "m", &netns, &c, "measuring");
    let span_us = u64::try_from(t.elapsed().as_micros()).unwrap().max(1000);
    let baseline = ruleset(&node);
    let mut rng = Rng::new(SEED ^ 0xde1);
    for i in 0..20 {
        let id = format!("del{i}");
        run_ok(&node, "ADD", &id, &netns, &c, "setup");
        let delay = Duration::from_micros(rng.below(span_us));
        let ctx = format!("DEL {i} killed after {delay:?}");
        let mut child = spawn(&node, "DEL", &id, &netns, "eth0", &c);
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        run_ok(&node, "DEL", &id, &netns, &c, &ctx);
        assert_attachment_gone(&node, Some(&pod), &data, "testnet", &id, "eth0", &ctx);
        assert_eq!(ruleset(&node), baseline, "{ctx}");
    }
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
