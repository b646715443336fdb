//! End to end: the pod network demo with the default topology, without and with `--ip-masq`,
//! asserting the full connectivity matrix, the source addresses (no NAT inside the cluster,
//! the node's address outside with masquerading) and a clean teardown.
//!
//! A `harness = false` test: its `main` is the demo's, so that this binary can also be the
//! `bridge` plugin the demo executes, and can enter its own user + network namespace while it is
//! still single-threaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

use cni_examples::demo::{self, DemoOptions, DemoReport};
use cni_examples::{multicall, sandbox};

fn check(name: &str, opts: &DemoOptions, report: &DemoReport) {
    let pods = opts.nodes * opts.pods_per_node;
    assert_eq!(report.pods.len(), pods, "{name}: pods");
    assert_eq!(
        report.probes.len(),
        pods * pods,
        "{name}: one probe per ordered pair"
    );
    let mut cross = 0;
    for p in &report.probes {
        assert_eq!(
            p.outcome.seen_source,
            Some(p.from.ip),
            "{name}: {} -> {} must connect and keep its source address: {:?}",
            p.from.name,
            p.to.name,
            p.outcome
        );
        if p.from.node != p.to.node {
            cross += 1;
        }
    }
    let per_node = opts.pods_per_node;
    assert_eq!(
        cross,
        pods * pods - opts.nodes * per_node * per_node,
        "{name}: cross-node probes"
    );
    // Addresses come from each node's pod subnet, the gateway .1 excluded.
    for pod in &report.pods {
        let node: usize = pod.node.trim_start_matches("node").parse().unwrap();
        assert!(
            pod.ip.to_string().starts_with(&format!("10.244.{node}.")),
            "{name}: {} has {}",
            pod.name,
            pod.ip
        );
        assert_ne!(pod.ip.to_string(), format!("10.244.{node}.1"));
    }
    if opts.ip_masq {
        assert_eq!(
            report.external.len(),
            pods,
            "{name}: one outside probe per pod"
        );
        for p in &report.external {
            assert_eq!(
                p.outcome.seen_source,
                Some(p.node_ip),
                "{name}: {} outside",
                p.from.name
            );
            let node: u8 = p.from.node.trim_start_matches("node").parse().unwrap();
            assert_eq!(p.node_ip.to_string(), format!("192.168.1.{}", 10 + node));
        }
    } else {
        assert!(report.external.is_empty());
    }
    assert_eq!(report.add_times.len(), pods, "{name}: ADD timings");
    assert_eq!(report.del_times.len(), pods, "{name}: DEL timings");
    assert!(
        report.leftovers.is_empty(),
        "{name}: {:?}",
        report.leftovers
    );
    assert!(report.all_good(), "{name}: {:?}", report.failures());
}

fn main() -> ExitCode {
    if let Some(code) = multicall::run_plugin_if_invoked() {
        return code;
    }
    // libtest's arguments (--nocapture, filters) are accepted and ignored: this binary runs
    // its scenarios in order.
    sandbox::enter_private_namespaces().expect("a private user + network namespace");
    let scenarios = [
        ("default topology", DemoOptions::default()),
        (
            "ipMasq with the cluster CIDR never masqueraded",
            DemoOptions {
                ip_masq: true,
                ..DemoOptions::default()
            },
        ),
        (
            "two nodes, three pods each",
            DemoOptions {
                nodes: 2,
                pods_per_node: 3,
                ..DemoOptions::default()
            },
        ),
    ];
    for (name, opts) in &scenarios {
        println!("=== pod network demo: {name}");
        let report =
            demo::run(opts, &mut std::io::stdout()).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, opts, &report);
        println!("=== {name}: ok");
    }
    println!("test result: ok. {} scenarios passed", scenarios.len());
    ExitCode::SUCCESS
}
