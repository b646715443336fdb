//! The benchmark: our `bridge` plugin against the Go reference `bridge` + `host-local`, and
//! against the floor (the same kernel work in-process), through the real exec protocol.
//!
//! [`run`] measures ADD, CHECK and DEL — p50 and p99 latency, pods per second, CPU time and peak
//! RSS of the plugin processes (from `wait4(2)`) — for every scenario of the matrix (each
//! concurrency, `ipMasq` off and on, at [`BenchOptions::pods`]) and a serial scale run at
//! [`BenchOptions::scale_pods`] (the first hundred ADDs against the last hundred). In the matrix
//! every variant of a scenario gets a fresh node namespace with its own pod namespaces and
//! host-local data directory, and one call at a time the variants alternate call by call. In a
//! scale run the variants run one after the other on the same pod namespaces (each on a fresh
//! node), so the machine holds as many namespaces as a node with that many pods.
//!
//! The caller must already be in namespaces of its own
//! ([`crate::sandbox::enter_private_namespaces`]) and, unless [`BenchOptions::bridge`] names a
//! plugin binary, must dispatch to the plugin when invoked as `bridge` ([`crate::multicall`]).
//! Run it with `cargo run --release --example bench`.

mod exec;
mod floor;
mod memory;
mod options;
mod report;
mod runner;
mod stats;
mod world;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use exec::{EXEC_HELPER, run_exec_helper_if_invoked};
pub use memory::print_memory;
pub use options::{BenchOptions, Plugins, USAGE};
pub use report::{BenchReport, Scenario, ScenarioReport, print_scenario, print_targets};
pub use runner::Phases;
pub use stats::{Phase, Sample, Summary, quantile};
pub use world::{MasqBackend, Variant, Verb};

use crate::error::{Error, Result};
use crate::multicall::install_plugin_links;
use report::w;
use world::{Binaries, World};

/// A temporary directory for the run's state (plugin link, host-local data), removed when
/// dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn create() -> Result<StateDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("cni-rs-bench-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        Ok(StateDir(dir))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The variants of a scenario, in the order they alternate.
fn variants(opts: &BenchOptions, masq: bool) -> Vec<Variant> {
    let mut v = Vec::new();
    if opts.plugins.ours() {
        v.push(Variant::Ours(MasqBackend::Nftables));
        if masq {
            v.push(Variant::Ours(MasqBackend::Iptables));
        }
    }
    if opts.plugins.go() {
        v.push(Variant::Go);
    }
    if opts.floor {
        v.push(Variant::Floor);
    }
    v
}

/// How a matrix scenario's plugin calls are observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observe {
    /// Timed: latency, CPU, peak RSS (every variant, the floor included).
    Timed,
    /// The memory pass: every plugin call traced for its anonymous memory at exit (plugin
    /// variants only; the times are not comparable and not reported).
    Memory,
}

/// Runs one matrix scenario: builds every variant's world (a node and pods of its own), runs
/// the verbs with the variants alternating, drops the worlds.
fn scenario(
    opts: &BenchOptions,
    bins: &Binaries,
    state: &Path,
    s: Scenario,
    seq: usize,
    observe: Observe,
) -> Result<ScenarioReport> {
    let list: Vec<Variant> = variants(opts, s.masq)
        .into_iter()
        .filter(|v| observe == Observe::Timed || v.is_plugin())
        .collect();
    bins.drop_cached();
    let mut worlds = Vec::with_capacity(list.len());
    for (k, v) in list.iter().enumerate() {
        let mut world = World::new(
            *v,
            s.masq,
            world::new_pods(s.pods)?,
            bins,
            &state.join(format!("s{seq}-v{k}")),
        )?;
        if observe == Observe::Memory {
            world.trace_memory();
        }
        worlds.push(world);
    }
    let phases = runner::run_worlds(&worlds, s.concurrency)?;
    drop(worlds);
    Ok(ScenarioReport {
        scenario: s,
        results: list.into_iter().zip(phases).collect(),
    })
}

/// Runs one scale scenario: the variants one after the other (in `reverse` order if asked),
/// each on a fresh node but all on the SAME pod namespaces (every DEL leaves them empty again).
/// So the machine holds about `s.pods` namespaces, as a node with that many pods does: the
/// kernel's per-namespace costs (the /proc/sys dentry chains, for one) then match a real node's
/// instead of growing with the number of variants.
fn scale_scenario(
    opts: &BenchOptions,
    bins: &Binaries,
    state: &Path,
    s: Scenario,
    seq: usize,
    reverse: bool,
) -> Result<ScenarioReport> {
    let mut list = variants(opts, s.masq);
    if reverse {
        list.reverse();
    }
    let pods = world::new_pods(s.pods)?;
    let mut results = Vec::with_capacity(list.len());
    for (k, v) in list.into_iter().enumerate() {
        let world = World::new(
            v,
            s.masq,
            pods.clone(),
            bins,
            &state.join(format!("s{seq}-v{k}")),
        )?;
        let phases = runner::run_worlds(std::slice::from_ref(&world), 1)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Verification("a scale run returned nothing".into()))?;
        results.push((v, phases));
    }
    // The report lists the variants in their usual order.
    if reverse {
        results.reverse();
    }
    Ok(ScenarioReport {
        scenario: s,
        results,
    })
}

/// The machine, for the report: CPU model, cores, kernel, load.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{model}, {cores} cores, kernel {}, load average {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Runs the benchmark, writing Markdown tables to `out` as scenarios finish, and returns every
/// figure. Fails when a plugin call fails (the benchmark is also a proof that every call works)
/// or the Go plugins are asked for and missing.
pub fn run(opts: &BenchOptions, out: &mut dyn Write) -> Result<BenchReport> {
    let state = StateDir::create()?;
    let ours = match &opts.bridge {
        Some(p) => p.clone(),
        None => install_plugin_links(&state.0.join("bin"))?.join("bridge"),
    };
    let bins = Binaries {
        ours,
        go_dir: opts.go_dir.clone(),
        helper: install_helper(&state.0.join("bin"))?,
    };
    if opts.plugins.go() {
        for name in ["bridge", "host-local"] {
            let p = bins.go_dir.join(name);
            if !p.is_file() {
                return Err(Error::Usage(format!(
                    "the Go reference plugin {} is missing (Debian package \
                     containernetworking-plugins), or use --plugins ours",
                    p.display()
                )));
            }
        }
    }
    w(out, format_args!("## Machine\n\n{}\n", machine()))?;
    w(
        out,
        format_args!(
            "ours: {} (host-local in-process; ipMasq: nftables over netlink, or iptables \
             processes)\ngo: {}/bridge + host-local (v1.1.1: ipMasq only with iptables, here {})\n\
             floor: cni-netlink in-process (veth into the pod, bridge port, the pod end's \
             accept_dad=0 and arp_notify=1, address, link up, default route; nftables element \
             with ipMasq)",
            bins.ours.display(),
            bins.go_dir.display(),
            iptables_version()
        ),
    )?;
    method_floor(&bins, out)?;
    let mut report = BenchReport::default();
    let mut seq = 0;
    for &masq in &opts.masq {
        for &concurrency in &opts.concurrency {
            let s = Scenario {
                pods: opts.pods,
                concurrency,
                masq,
            };
            let r = scenario(opts, &bins, &state.0, s, seq, Observe::Timed)?;
            seq += 1;
            print_scenario(out, &r, false)?;
            report.matrix.push(r);
        }
    }
    if opts.scale_pods > 0 {
        for (k, &masq) in opts.masq.iter().enumerate() {
            let s = Scenario {
                pods: opts.scale_pods,
                concurrency: 1,
                masq,
            };
            let r = scale_scenario(opts, &bins, &state.0, s, seq, k % 2 == 1)?;
            seq += 1;
            print_scenario(out, &r, true)?;
            report.scale.push(r);
        }
    }
    if let (true, Some(why)) = (opts.memory_pods > 0, memory::unavailable()) {
        w(out, format_args!("\nThe memory pass is skipped: {why}."))?;
    } else if opts.memory_pods > 0 {
        for &masq in &opts.masq {
            let s = Scenario {
                pods: opts.memory_pods,
                concurrency: 1,
                masq,
            };
            let r = scenario(opts, &bins, &state.0, s, seq, Observe::Memory)?;
            seq += 1;
            print_memory(out, &r)?;
            report.memory.push(r);
        }
    }
    print_targets(out, &report)?;
    if let Some(wrapper) = &opts.wrap {
        wrapped_call(
            &bins,
            &state.0.join("wrapped"),
            wrapper,
            opts.masq.last().copied().unwrap_or(false),
            opts.wrap_verb,
            opts.wrap_first,
        )?;
        let which = match opts.wrap_first {
            true => "the node's first pod, which makes the bridge",
            false => "the node's second pod",
        };
        w(
            out,
            format_args!(
                "\none {} of ours ({which}) ran under: {}",
                opts.wrap_verb.command(),
                wrapper.join(" ")
            ),
        )?;
    }
    Ok(report)
}

/// Links [`EXEC_HELPER`] in `dir` to this executable.
fn install_helper(dir: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("finding the running executable"))?;
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let link = dir.join(EXEC_HELPER);
    std::os::unix::fs::symlink(&exe, &link).map_err(Error::io(format!(
        "linking {} to {}",
        link.display(),
        exe.display()
    )))?;
    Ok(link)
}

/// What the measuring method itself reports for `/bin/true` run as a plugin would be: the
/// smallest peak RSS it can show, and the time of starting and reaping a trivial process.
fn method_floor(bins: &Binaries, out: &mut dyn Write) -> Result<()> {
    let truth = Path::new("/bin/true");
    if !truth.is_file() {
        return Ok(());
    }
    let env = exec::CallEnv {
        command: "VERSION",
        container_id: "none",
        netns: Path::new("/nonexistent"),
        ifname: world::IFNAME,
        cni_path: &bins.go_dir,
    };
    let mut times = Vec::new();
    let mut spawns = Vec::new();
    let mut rss = 0;
    let launcher = exec::Launcher::start(&bins.helper)?;
    for _ in 0..20 {
        let done = launcher.call(truth, &[], &env, b"", exec::CallOptions::default())?;
        times.push(done.elapsed);
        spawns.push(done.spawn);
        rss = rss.max(done.max_rss_kib);
    }
    w(
        out,
        format_args!(
            "method floor (/bin/true through the same exec path): p50 {:.2} ms from its execve \
             to its reaping (the helper's fork before it, not timed: p50 {:.2} ms), peak RSS \
             {rss} KiB\n",
            quantile(&times, 0.5).as_secs_f64() * 1000.0,
            quantile(&spawns, 0.5).as_secs_f64() * 1000.0
        ),
    )
}

fn iptables_version() -> String {
    std::process::Command::new("iptables")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "iptables not found".into())
}

/// One ADD of ours to make the bridge, then the second pod's ADD under `wrapper` (a profiler),
/// with `ipMasq` set to `masq` (nftables); with `verb` CHECK or DEL, the second pod's ADD runs
/// plainly and that verb (with the ADD's result as `prevResult`) under `wrapper`. With `first`,
/// the node's first ADD (which makes the bridge) runs under `wrapper` instead.
fn wrapped_call(
    bins: &Binaries,
    state: &Path,
    wrapper: &[String],
    masq: bool,
    verb: Verb,
    first: bool,
) -> Result<()> {
    let (program, wrapper_args) = wrapper
        .split_first()
        .ok_or_else(|| Error::Usage("an empty wrapper command".into()))?;
    let world = World::new(
        Variant::Ours(MasqBackend::Nftables),
        masq,
        world::new_pods(2)?,
        bins,
        state,
    )?;
    let (plugin, launcher) = world
        .plugin()
        .ok_or_else(|| Error::Verification("no plugin to profile".into()))?;
    // The node's first ADD (only with `first`: nothing before it), or the second pod's call.
    let index = usize::from(!first);
    let pod = world
        .pods
        .get(index)
        .ok_or_else(|| Error::Verification("no such pod".into()))?;
    let id = world::container_id(index);
    world
        .ns
        .run_blocking(|| -> Result<()> {
            let mut worker = world.worker()?;
            if !first {
                world.op(&mut worker, Verb::Add, 0, None)?;
            }
            let prev = match verb {
                Verb::Add | Verb::Version => None,
                Verb::Check | Verb::Del => {
                    let added = world.op(&mut worker, Verb::Add, 1, None)?;
                    Some(added.result.ok_or_else(|| {
                        Error::Verification("the second pod's ADD gave no result".into())
                    })?)
                }
            };
            let env = exec::CallEnv {
                command: verb.command(),
                container_id: &id,
                netns: pod.path(),
                ifname: world::IFNAME,
                cni_path: world.cni_path(),
            };
            let stdin = world.stdin(verb, prev.as_ref())?;
            let mut args: Vec<&std::ffi::OsStr> = wrapper_args.iter().map(|a| a.as_ref()).collect();
            args.push(plugin.as_os_str());
            let done = launcher.call(
                Path::new(program),
                &args,
                &env,
                &stdin,
                exec::CallOptions::default(),
            )?;
            match done.failure {
                Some(failure) => Err(Error::Verification(failure)),
                None => Ok(()),
            }
        })
        .map_err(Error::netlink("entering the node namespace"))?
}
