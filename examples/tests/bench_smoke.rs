//! The benchmark runs end to end: `--quick` with 5 pods, our plugin only (the Go reference may be
//! absent in CI), ipMasq off and on (both of our backends), the floor too. No timed assertions:
//! it checks that every call of every phase ran and was measured, and that the report printed.
//!
//! A `harness = false` test: its `main` can be the `bridge` plugin the benchmark executes, and
//! enters its own user + network namespace while still single-threaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

use cni_examples::bench::{self, BenchOptions, Plugins, Variant, Verb};
use cni_examples::{multicall, sandbox};

fn main() -> ExitCode {
    if let Some(code) = bench::run_exec_helper_if_invoked() {
        return code;
    }
    if let Some(code) = multicall::run_plugin_if_invoked() {
        return code;
    }
    sandbox::enter_private_namespaces().expect(
        "the benchmark needs a private user + network namespace (unprivileged user namespaces)",
    );
    let args = [
        "--quick",
        "--pods",
        "5",
        "--plugins",
        "ours",
        "--scale-pods",
        "4",
    ];
    let opts = BenchOptions::parse(args.iter().map(|s| s.to_string()))
        .unwrap()
        .unwrap();
    assert_eq!(opts.plugins, Plugins::Ours);
    let mut printed = Vec::new();
    let report = bench::run(&opts, &mut printed).unwrap_or_else(|e| panic!("bench failed: {e}"));
    let text = String::from_utf8(printed).unwrap();

    // Matrix: concurrency 1 and 8, ipMasq off and on; scale: 4 pods, off and on.
    assert_eq!(report.matrix.len(), 4, "{text}");
    assert_eq!(report.scale.len(), 2, "{text}");
    for r in report.matrix.iter().chain(&report.scale) {
        let expected = if r.scenario.masq { 3 } else { 2 };
        assert_eq!(r.results.len(), expected, "variants of {:?}", r.scenario);
        for (variant, phases) in &r.results {
            assert_ne!(*variant, Variant::Go);
            for verb in Verb::ALL {
                let phase = phases.get(verb);
                if verb == Verb::Version && !variant.is_plugin() {
                    assert!(phase.samples.is_empty(), "the floor starts no process");
                    continue;
                }
                assert_eq!(phase.samples.len(), r.scenario.pods, "{variant:?} {verb:?}");
                assert!(!phase.wall.is_zero());
                for s in &phase.samples {
                    assert!(!s.latency.is_zero());
                    assert_eq!(s.max_rss_kib.is_some_and(|k| k > 0), variant.is_plugin());
                    assert_eq!(s.cpu.is_some(), variant.is_plugin());
                }
            }
        }
    }
    // The memory pass (--quick: 3 pods), ipMasq off and on: every call traced, its anonymous
    // memory at exit read, and smaller than its peak RSS (which also counts the binary's pages).
    assert_eq!(report.memory.len(), 2, "{text}");
    for r in &report.memory {
        assert_eq!(r.scenario.pods, 3);
        for (variant, phases) in &r.results {
            assert!(variant.is_plugin(), "the floor has no process to measure");
            for verb in Verb::ALL {
                let phase = phases.get(verb);
                assert_eq!(phase.samples.len(), 3, "{variant:?} {verb:?}");
                for s in &phase.samples {
                    let (anon, rss) = (s.anon_kib.unwrap(), s.max_rss_kib.unwrap());
                    assert!(
                        anon > 0 && anon < rss,
                        "{variant:?} {verb:?}: {anon} vs {rss}"
                    );
                }
            }
        }
    }
    for needle in [
        "## Machine",
        "### Memory of one call: 3 pods, 1 at a time, ipMasq on",
        "method floor (/bin/true",
        "### 5 pods, 8 at a time, ipMasq on",
        "| ours ipt | ADD |",
        "| floor nft | DEL |",
        "| ours | VERSION |",
        "p50 over the floor's",
        "| ADD p50 | first 2 ms | last 2 ms |",
        "## Targets",
        "4 pods, ipMasq off (ours): ADD p50 of the last 2",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    println!("bench smoke: ok ({} bytes of report)", text.len());
    ExitCode::SUCCESS
}
