//! The memory pass: what one call costs in memory of its own.
//!
//! `ru_maxrss` (the matrix's "peak RSS") counts every page a plugin process mapped, the pages of
//! its executable and shared libraries included; those are page cache, shared by every process
//! running the same binary and by the next call. The memory a call adds to the node is its
//! anonymous memory: heap, stacks, copied-on-write data. This pass runs ADD, CHECK, DEL and
//! VERSION of a few pods one at a time with every plugin process traced, and reads `Anonymous`
//! from its `/proc/<pid>/smaps_rollup` when it exits (see [`super::exec`]). Tracing stops the
//! process at its exec and at its exit, so this pass's times are not reported.

use std::io::Write;

use super::report::{ScenarioReport, w};
use super::world::Verb;
use crate::error::Result;

/// Why the memory pass cannot run here, if it cannot: Yama's `ptrace_scope` 3 forbids every
/// use of ptrace, `PTRACE_TRACEME` included.
pub(crate) fn unavailable() -> Option<String> {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok()?;
    (scope.trim() == "3").then(|| {
        "kernel.yama.ptrace_scope is 3 (no ptrace at all), and the pass traces each plugin".into()
    })
}

/// Prints one memory pass: per variant and verb, the largest anonymous memory at exit and the
/// largest peak RSS of its calls, then ours against Go's.
pub fn print_memory(out: &mut dyn Write, r: &ScenarioReport) -> Result<()> {
    let s = r.scenario;
    w(
        out,
        format_args!(
            "\n### Memory of one call: {} pods, 1 at a time, ipMasq {}\n\n\
             Anonymous memory (heap, stacks, copied-on-write pages) of the plugin process at its \
             exit, and its peak RSS (which also counts the mapped pages of its executable and \
             libraries), the largest of each verb's calls, KiB.\n\n\
             | variant | verb | anonymous at exit | peak RSS |\n|---|---|---:|---:|",
            s.pods,
            if s.masq { "on" } else { "off" }
        ),
    )?;
    for (v, phases) in &r.results {
        for verb in Verb::ALL {
            let m = phases.get(verb).summary();
            w(
                out,
                format_args!(
                    "| {} | {} | {} | {} |",
                    v.label(s.masq),
                    verb.command(),
                    kib(m.anon_kib),
                    kib(m.max_rss_kib)
                ),
            )?;
        }
    }
    let pairs = r.pairs();
    if !pairs.is_empty() {
        w(
            out,
            format_args!(
                "\n| Go / ours (>1: ours smaller) | verb | anonymous at exit | peak RSS |\n|---|---|---:|---:|"
            ),
        )?;
    }
    for (ours, go) in pairs {
        let (Some(o), Some(g)) = (r.phases(ours), r.phases(go)) else {
            continue;
        };
        for verb in Verb::ALL {
            let (o, g) = (o.get(verb).summary(), g.get(verb).summary());
            w(
                out,
                format_args!(
                    "| {} vs {} | {} | {} | {} |",
                    ours.label(s.masq),
                    go.label(s.masq),
                    verb.command(),
                    ratio(g.anon_kib, o.anon_kib),
                    ratio(g.max_rss_kib, o.max_rss_kib)
                ),
            )?;
        }
    }
    Ok(())
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |k| k.to_string())
}

fn ratio(num: Option<u64>, den: Option<u64>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d > 0 => format!("{:.1}x", n as f64 / d as f64),
        _ => "-".into(),
    }
}
