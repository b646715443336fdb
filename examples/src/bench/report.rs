//! What a run found, printed as Markdown tables (so a run's output can go into BENCHMARKS.md as
//! it is), with the ratios against the Go reference and the floor, and the targets' verdicts.

use std::io::Write;

use super::runner::Phases;
use super::stats::Summary;
use super::world::{MasqBackend, Variant, Verb};
use crate::error::{Error, Result};

/// One scenario's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Pods on the node.
    pub pods: usize,
    /// Calls at once.
    pub concurrency: usize,
    /// `ipMasq`.
    pub masq: bool,
}

/// One scenario's figures, by variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioReport {
    /// What ran.
    pub scenario: Scenario,
    /// Each variant's ADD, CHECK and DEL phases.
    pub results: Vec<(Variant, Phases)>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchReport {
    /// The matrix: every concurrency, `ipMasq` off and on, at `--pods`.
    pub matrix: Vec<ScenarioReport>,
    /// The serial scale runs at `--scale-pods`.
    pub scale: Vec<ScenarioReport>,
    /// The memory passes (`--memory-pods`, every call traced; times not used).
    pub memory: Vec<ScenarioReport>,
}

impl ScenarioReport {
    /// The phases of `variant`, if it ran.
    pub fn phases(&self, variant: Variant) -> Option<&Phases> {
        self.results
            .iter()
            .find(|(v, _)| *v == variant)
            .map(|(_, p)| p)
    }

    /// The pairs compared: ours against Go with the same masquerade backend first.
    pub(super) fn pairs(&self) -> Vec<(Variant, Variant)> {
        let ours = match self.scenario.masq {
            false => vec![Variant::Ours(MasqBackend::Nftables)],
            true => vec![
                Variant::Ours(MasqBackend::Iptables),
                Variant::Ours(MasqBackend::Nftables),
            ],
        };
        ours.into_iter()
            .filter(|v| self.phases(*v).is_some())
            .map(|v| (v, Variant::Go))
            .filter(|(_, go)| self.phases(*go).is_some())
            .collect()
    }
}

/// How many pods make the "first" and "last" groups of a scale run: a hundred, or half.
pub(super) fn scale_group(pods: usize) -> usize {
    100.min(pods / 2)
}

/// Writes one line of the report, flushed (a long run's progress shows as it goes).
pub(super) fn w(out: &mut dyn Write, text: std::fmt::Arguments<'_>) -> Result<()> {
    out.write_fmt(text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(Error::io("writing the report"))
}

fn opt_f(v: Option<f64>, prec: usize) -> String {
    v.map(|v| format!("{v:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

fn ratio(num: Option<f64>, den: Option<f64>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.1}x", n / d),
        _ => "-".into(),
    }
}

/// Prints one scenario's table, its ratios and (for a scale run) first against last hundred.
pub fn print_scenario(out: &mut dyn Write, r: &ScenarioReport, scale: bool) -> Result<()> {
    let s = r.scenario;
    w(
        out,
        format_args!(
            "\n### {} pods, {} at a time, ipMasq {}\n",
            s.pods,
            s.concurrency,
            if s.masq { "on" } else { "off" }
        ),
    )?;
    w(
        out,
        format_args!(
            "| variant | verb | p50 ms | p99 ms | pods/s | CPU p50 ms | peak RSS KiB | failed |\n|---|---|---:|---:|---:|---:|---:|---:|"
        ),
    )?;
    for (variant, phases) in &r.results {
        for verb in Verb::ALL {
            let m = phases.get(verb).summary();
            if m.count == 0 {
                continue;
            }
            w(
                out,
                format_args!(
                    "| {} | {} | {:.2} | {:.2} | {:.0} | {} | {} | {} |",
                    variant.label(s.masq),
                    verb.command(),
                    m.p50_ms,
                    m.p99_ms,
                    m.per_sec,
                    opt_f(m.cpu_p50_ms, 2),
                    m.max_rss_kib
                        .map(|k| k.to_string())
                        .unwrap_or_else(|| "-".into()),
                    m.failed,
                ),
            )?;
        }
    }
    for (variant, phases) in &r.results {
        for verb in Verb::ALL {
            let failures = &phases.get(verb).failures;
            if let Some(first) = failures.first() {
                w(
                    out,
                    format_args!(
                        "\n{} {}: {} of {} calls failed; the first: {}",
                        variant.label(s.masq),
                        verb.command(),
                        failures.len(),
                        s.pods,
                        first.split_whitespace().collect::<Vec<_>>().join(" ")
                    ),
                )?;
            }
        }
    }
    let pairs = r.pairs();
    if !pairs.is_empty() {
        w(
            out,
            format_args!(
                "\n| ours vs go (>1: ours better) | verb | p50 | p99 | pods/s | CPU | peak RSS |\n|---|---|---:|---:|---:|---:|---:|"
            ),
        )?;
        for (ours, go) in pairs {
            for verb in Verb::ALL {
                let (Some(o), Some(g)) = (summary(r, ours, verb), summary(r, go, verb)) else {
                    continue;
                };
                w(
                    out,
                    format_args!(
                        "| {} vs {} | {} | {} | {} | {} | {} | {} |",
                        ours.label(s.masq),
                        go.label(s.masq),
                        verb.command(),
                        ratio(Some(g.p50_ms), Some(o.p50_ms)),
                        ratio(Some(g.p99_ms), Some(o.p99_ms)),
                        ratio(Some(o.per_sec), Some(g.per_sec)),
                        ratio(g.cpu_p50_ms, o.cpu_p50_ms),
                        ratio(
                            g.max_rss_kib.map(|k| k as f64),
                            o.max_rss_kib.map(|k| k as f64)
                        ),
                    ),
                )?;
            }
        }
    }
    if r.phases(Variant::Floor).is_some() {
        let above: Vec<String> = r
            .results
            .iter()
            .filter(|(v, _)| v.is_plugin())
            .map(|(v, _)| {
                let per_verb: Vec<String> = Verb::LIFE
                    .iter()
                    .map(|&verb| {
                        let p = summary(r, *v, verb).map(|m| m.p50_ms);
                        let f = summary(r, Variant::Floor, verb).map(|m| m.p50_ms);
                        format!("{} {}", verb.command(), ratio(p, f))
                    })
                    .collect();
                format!("{}: {}", v.label(s.masq), per_verb.join(", "))
            })
            .collect();
        w(
            out,
            format_args!("\np50 over the floor's: {}", above.join("; ")),
        )?;
    }
    if scale {
        print_scale(out, r)?;
    }
    Ok(())
}

fn summary(r: &ScenarioReport, v: Variant, verb: Verb) -> Option<Summary> {
    r.phases(v).map(|p| p.get(verb).summary())
}

fn print_scale(out: &mut dyn Write, r: &ScenarioReport) -> Result<()> {
    let n = r.scenario.pods;
    let g = scale_group(n);
    w(
        out,
        format_args!(
            "\n| ADD p50 | first {g} ms | last {g} ms | last / first |\n|---|---:|---:|---:|"
        ),
    )?;
    for (variant, phases) in &r.results {
        let first = phases.add.p50_of(0..g);
        let last = phases.add.p50_of(n.saturating_sub(g)..n);
        w(
            out,
            format_args!(
                "| {} | {first:.2} | {last:.2} | {} |",
                variant.label(r.scenario.masq),
                ratio(Some(last), Some(first))
            ),
        )?;
    }
    Ok(())
}

/// A target's verdict line.
fn verdict(out: &mut dyn Write, met: bool, text: String) -> Result<()> {
    w(
        out,
        format_args!("- {} {text}", if met { "met:" } else { "MISSED:" }),
    )
}

/// Prints the targets with what this run measured.
pub fn print_targets(out: &mut dyn Write, report: &BenchReport) -> Result<()> {
    w(out, format_args!("\n## Targets\n"))?;
    for r in report.matrix.iter().filter(|r| r.scenario.concurrency == 1) {
        for (ours, go) in r.pairs() {
            for verb in Verb::LIFE {
                let (Some(o), Some(g)) = (summary(r, ours, verb), summary(r, go, verb)) else {
                    continue;
                };
                verdict(
                    out,
                    o.p50_ms * 5.0 <= g.p50_ms,
                    format!(
                        "{} p50 ≤ 1/5 of Go's, ipMasq {} ({} vs {}): {:.2} ms vs {:.2} ms = 1/{:.1}",
                        verb.command(),
                        if r.scenario.masq { "on" } else { "off" },
                        ours.label(r.scenario.masq),
                        go.label(r.scenario.masq),
                        o.p50_ms,
                        g.p50_ms,
                        g.p50_ms / o.p50_ms.max(f64::MIN_POSITIVE)
                    ),
                )?;
            }
        }
    }
    for r in report.matrix.iter().filter(|r| r.scenario.concurrency == 8) {
        for (ours, go) in r.pairs() {
            for verb in Verb::LIFE {
                let (Some(o), Some(g)) = (summary(r, ours, verb), summary(r, go, verb)) else {
                    continue;
                };
                verdict(
                    out,
                    o.per_sec >= 5.0 * g.per_sec,
                    format!(
                        "{} pods/s with 8 at once ≥ 5x Go's, ipMasq {} ({} vs {}): {:.0} vs {:.0} = {:.1}x",
                        verb.command(),
                        if r.scenario.masq { "on" } else { "off" },
                        ours.label(r.scenario.masq),
                        go.label(r.scenario.masq),
                        o.per_sec,
                        g.per_sec,
                        o.per_sec / g.per_sec.max(f64::MIN_POSITIVE)
                    ),
                )?;
            }
        }
    }
    let runs: Vec<&ScenarioReport> = report.matrix.iter().chain(&report.scale).collect();
    let passes: Vec<&ScenarioReport> = report.memory.iter().collect();
    // Peak RSS over every timed call; anonymous memory (what a call has of its own) over the
    // memory pass.
    for (what, runs, figure) in [
        (
            "peak RSS per plugin process ≤ 1/4 of Go's (largest of every call)",
            &runs,
            (|m: &Summary| m.max_rss_kib) as fn(&Summary) -> Option<u64>,
        ),
        (
            "anonymous memory per plugin process at exit ≤ 1/4 of Go's (largest of every call of the memory pass)",
            &passes,
            |m: &Summary| m.anon_kib,
        ),
    ] {
        let largest = |pick: &dyn Fn(Variant) -> bool| -> Option<u64> {
            runs.iter()
                .flat_map(|r| r.results.iter())
                .filter(|(v, _)| pick(*v))
                .flat_map(|(_, p)| Verb::ALL.map(|verb| figure(&p.get(verb).summary())))
                .flatten()
                .max()
        };
        if let (Some(o), Some(g)) = (
            largest(&|v| matches!(v, Variant::Ours(_))),
            largest(&|v| v == Variant::Go),
        ) {
            verdict(
                out,
                o * 4 <= g,
                format!(
                    "{what}: {o} KiB vs {g} KiB = 1/{:.1}",
                    g as f64 / (o.max(1)) as f64
                ),
            )?;
        }
    }
    for r in &report.scale {
        let n = r.scenario.pods;
        let g = scale_group(n);
        for (v, p) in r
            .results
            .iter()
            .filter(|(v, _)| matches!(v, Variant::Ours(_)))
        {
            let first = p.add.p50_of(0..g);
            let last = p.add.p50_of(n.saturating_sub(g)..n);
            verdict(
                out,
                last <= 1.5 * first,
                format!(
                    "{n} pods, ipMasq {} ({}): ADD p50 of the last {g} within 1.5x of the first {g}: {last:.2} ms vs {first:.2} ms = {:.2}x",
                    if r.scenario.masq { "on" } else { "off" },
                    v.label(r.scenario.masq),
                    last / first.max(f64::MIN_POSITIVE)
                ),
            )?;
        }
    }
    Ok(())
}
