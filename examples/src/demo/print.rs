//! How the demo shows what it did: step headers, the seed's tables, the connectivity matrix.

use std::io::Write;
use std::time::Duration;

use super::report::{PodProbe, PodSummary, spread};
use crate::cluster::ClusterMap;

/// Writes a line, ignoring a closed output (the demo's work does not depend on being watched).
macro_rules! say {
    ($out:expr) => { let _ = writeln!($out); };
    ($out:expr, $($arg:tt)*) => { let _ = writeln!($out, $($arg)*); };
}
pub(crate) use say;

pub(crate) fn step(out: &mut dyn Write, n: u32, title: &str) {
    say!(out);
    say!(out, "── Step {n}: {title} ──");
}

pub(crate) fn cluster_table(out: &mut dyn Write, map: &ClusterMap) {
    say!(
        out,
        "  | Node    | IP address      | Pod subnet      | Bridge  | Gateway      |"
    );
    say!(
        out,
        "  | ------- | --------------- | --------------- | ------- | ------------ |"
    );
    for n in &map.nodes {
        let gw = match n.pod_cidr {
            ipnetwork::IpNetwork::V4(v4) => v4.nth(1).map(|g| g.to_string()).unwrap_or_default(),
            ipnetwork::IpNetwork::V6(_) => String::new(),
        };
        say!(
            out,
            "  | {:<7} | {:<15} | {:<15} | v-net-0 | {:<12} |",
            n.name,
            n.ip,
            n.pod_cidr.to_string(),
            gw
        );
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The matrix: a row per client pod, a column per server pod.
pub(crate) fn matrix(out: &mut dyn Write, pods: &[PodSummary], probes: &[PodProbe]) {
    let width = pods
        .iter()
        .map(|p| p.name.len().max(p.ip.to_string().len()))
        .max()
        .unwrap_or(0);
    let label = pods.iter().map(|p| p.name.len()).max().unwrap_or(0).max(9);
    let mut header = format!("  {:<label$} {:<15} │", "from \\ to", "");
    for p in pods {
        header.push_str(&format!(" {:^width$}", p.name));
    }
    say!(out, "{header}");
    let mut sub = format!("  {:<label$} {:<15} │", "", "");
    for p in pods {
        sub.push_str(&format!(" {:^width$}", p.ip.to_string()));
    }
    say!(out, "{sub}");
    for from in pods {
        let mut row = format!("  {:<label$} {:<15} │", from.name, from.ip.to_string());
        for to in pods {
            let cell = probes
                .iter()
                .find(|p| p.from.name == from.name && p.to.name == to.name)
                .map(|p| if p.is_good() { "✓" } else { "✗" })
                .unwrap_or("?");
            row.push_str(&format!(" {cell:^width$}"));
        }
        say!(out, "{row}");
    }
    say!(
        out,
        "  ✓ = TCP connection answered, and the server saw the client's own address"
    );
}

pub(crate) fn timings(out: &mut dyn Write, verb: &str, times: &[Duration]) {
    let (min, median, max) = spread(times);
    let total: Duration = times.iter().sum();
    say!(
        out,
        "  CNI {verb}: {} pods, min {}, median {}, max {}, total {}",
        times.len(),
        ms(min),
        ms(median),
        ms(max),
        ms(total)
    );
}
