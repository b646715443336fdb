//! Races: 64 ADDs at once on a fresh node (no bridge yet), and ADDs and DELs of the same and of
//! different containers at once. No call fails spuriously, no address is shared, and no
//! half-made state is left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod relkit;

use std::collections::BTreeSet;
use std::process::Output as ProcOutput;
use std::time::Instant;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use relkit::*;
use serde_json::{Value, json};

fn run(node: &TestNode, cmd: &str, id: &str, pod: &TestNs, c: &Value) -> ProcOutput {
    spawn(node, cmd, id, &pod.path().to_string_lossy(), "eth0", c)
        .wait_with_output()
        .unwrap()
}

fn ok(out: &ProcOutput, what: &str) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn net_conf(data: &TempDir, subnet: &str) -> Value {
    conf(
        "1.1.0",
        data,
        &[subnet],
        json!({"isDefaultGateway": true, "ipMasq": true}),
    )
}

#[test]
fn sixty_four_adds_at_once_on_a_fresh_node() {
    const N: usize = 64;
    let node = TestNode::new();
    let data = TempDir::new("rel-race64");
    let c = net_conf(&data, "10.64.0.0/24");
    let pods: Vec<TestNs> = (0..N).map(|i| node.pod(&format!("p{i}"))).collect();
    let started = Instant::now();
    let outs: Vec<ProcOutput> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, pod)| {
                let (node, c) = (&node, &c);
                s.spawn(move || run(node, "ADD", &format!("c{i}"), pod, c))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut seen = BTreeSet::new();
    for (i, out) in outs.iter().enumerate() {
        let r = ok(out, &format!("ADD c{i}"));
        let addr = r["ips"][0]["address"].as_str().unwrap().to_owned();
        // The kernel agrees with the result.
        assert_eq!(addrs(&pods[i], "eth0"), vec![addr.clone()]);
        assert!(seen.insert(addr.clone()), "address {addr} given twice");
    }
    assert_eq!(seen.len(), N);
    let names = link_names(&node);
    assert_eq!(names.iter().filter(|n| *n == "cni0").count(), 1);
    assert_eq!(host_veths(&node).len(), N);
    assert_eq!(addrs(&node, "cni0"), vec!["10.64.0.1/24".to_owned()]);
    assert_eq!(reservations(&data, "testnet"), N);
    let elems = nft_elements(&node);
    assert_eq!(elems.len(), N, "{elems:?}");
    let owners: BTreeSet<&str> = elems.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(owners.len(), N, "one masquerade element per attachment");
    eprintln!("{N} concurrent ADDs on a fresh node in {elapsed:?}");

    // And all DELs at once leave nothing.
    std::thread::scope(|s| {
        for (i, pod) in pods.iter().enumerate() {
            let (node, c) = (&node, &c);
            s.spawn(move || ok(&run(node, "DEL", &format!("c{i}"), pod, c), "DEL"));
        }
    });
    for (i, pod) in pods.iter().enumerate() {
        assert_attachment_gone(
            &node,
            Some(pod),
            &data,
            "testnet",
            &format!("c{i}"),
            "eth0",
            "after 64 DELs",
        );
    }
    assert!(nft_elements(&node).is_empty());
}

#[test]
fn adds_and_dels_of_same_and_different_containers_at_once() {
    const HALF: usize = 8;
    const ROUNDS: usize = 4;
    let node = TestNode::new();
    let data = TempDir::new("rel-mix");
    let c = net_conf(&data, "10.65.0.0/24");
    let pods: Vec<TestNs> = (0..2 * HALF).map(|i| node.pod(&format!("m{i}"))).collect();
    let id = |round: usize, i: usize| format!("r{round}c{i}");
    let started = Instant::now();

    // Round 0 adds the first half; every later round deletes the half added before (each with
    // two DELs at once, as a runtime retrying) while adding the other half.
    for round in 0..=ROUNDS {
        let (add_half, del_half) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let results: Vec<(usize, Value)> = std::thread::scope(|s| {
            let mut adds = Vec::new();
            for k in 0..HALF {
                let i = add_half * HALF + k;
                let (node, c, pod) = (&node, &c, &pods[i]);
                let cid = id(round, i);
                adds.push(s.spawn(move || (i, ok(&run(node, "ADD", &cid, pod, c), "ADD"))));
                if round > 0 {
                    let j = del_half * HALF + k;
                    let prev = id(round - 1, j);
                    for _ in 0..2 {
                        let (pod, prev) = (&pods[j], prev.clone());
                        s.spawn(move || ok(&run(node, "DEL", &prev, pod, c), "DEL"));
                    }
                }
            }
            adds.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut seen = BTreeSet::new();
        for (i, r) in &results {
            let a = r["ips"][0]["address"].as_str().unwrap().to_owned();
            assert_eq!(addrs(&pods[*i], "eth0"), vec![a.clone()], "round {round}");
            assert!(seen.insert(a), "round {round}: address shared");
            assert_eq!(masq_entries_of(&node, &id(round, *i), "eth0").len(), 1);
        }
        if round > 0 {
            for k in 0..HALF {
                let j = del_half * HALF + k;
                assert!(link(&pods[j], "eth0").is_none(), "round {round}");
                assert!(masq_entries_of(&node, &id(round - 1, j), "eth0").is_empty());
            }
        }
        assert_eq!(reservations(&data, "testnet"), HALF, "round {round}");
        assert_eq!(host_veths(&node).len(), HALF, "round {round}");
        assert_eq!(nft_elements(&node).len(), HALF, "round {round}");
    }

    // The same container's ADD and DEL at once (a runtime giving up on an ADD): whichever
    // order they take, DEL succeeds, and after the runtime's final DEL nothing is left.
    let last_half = usize::from(!ROUNDS.is_multiple_of(2));
    std::thread::scope(|s| {
        for k in 0..HALF {
            let i = last_half * HALF + k;
            let (node, c, pod) = (&node, &c, &pods[i]);
            s.spawn(move || ok(&run(node, "DEL", &id(ROUNDS, i), pod, c), "DEL"));
        }
        for k in 0..HALF {
            let i = (1 - last_half) * HALF + k;
            let (node, c, pod) = (&node, &c, &pods[i]);
            s.spawn(move || {
                let out = run(node, "ADD", &format!("same{i}"), pod, c);
                assert!(
                    !String::from_utf8_lossy(&out.stderr).contains("panicked"),
                    "{out:?}"
                );
                if !out.status.success() {
                    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert!(e["code"].as_u64().is_some(), "{e}");
                }
            });
            s.spawn(move || ok(&run(node, "DEL", &format!("same{i}"), pod, c), "DEL"));
        }
    });
    for k in 0..HALF {
        let i = (1 - last_half) * HALF + k;
        ok(
            &run(&node, "DEL", &format!("same{i}"), &pods[i], &c),
            "final DEL",
        );
    }
    for (i, pod) in pods.iter().enumerate() {
        let ctx = format!("pod {i}");
        assert_attachment_gone(
            &node,
            Some(pod),
            &data,
            "testnet",
            &format!("same{i}"),
            "eth0",
            &ctx,
        );
    }
    assert!(nft_elements(&node).is_empty());
    eprintln!(
        "{} ADDs and {} DELs in {ROUNDS} mixed rounds in {:?}",
        (ROUNDS + 1) * HALF + HALF,
        ROUNDS * HALF * 2 + 3 * HALF,
        started.elapsed()
    );
}
