//! ADD and DEL latency of our `bridge` against the Go reference `/usr/lib/cni/bridge` on the same
//! kind of node: a fresh test node namespace per plugin, N pods added one after the other, then
//! deleted. Both use host-local IPAM (ours in-process, Go's the `/usr/lib/cni/host-local`
//! binary) with `isDefaultGateway` and `ipMasq`, the common Kubernetes-style setup.
//!
//! ```sh
//! cargo build --release -p cni-plugin-bridge --bin bridge
//! cargo run --release -p cni-plugin-bridge --example bridge-bench -- 40
//! ```
//!
//! The first argument is the number of pods (default 40); `BRIDGE_BIN` overrides the path of our
//! binary (default: `target/release/bridge` next to this example).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cni_netlink::testkit::{TestNode, TestNs};
use serde_json::json;

fn our_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BRIDGE_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/examples/bench -> target/<profile>/bridge
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("bridge"))
        .unwrap()
}

fn call(node: &TestNode, bin: &PathBuf, cmd: &str, pod: &TestNs, id: &str, conf: &str) -> Duration {
    let start = Instant::now();
    let mut child = node
        .command(bin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", pod.path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{} {cmd} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    elapsed
}

struct Stats {
    mean: f64,
    p50: f64,
    p95: f64,
    max: f64,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(&v[((v.len() - 1) as f64 * q).round() as usize]);
    Stats {
        mean: v.iter().map(ms).sum::<f64>() / v.len() as f64,
        p50: at(0.5),
        p95: at(0.95),
        max: at(1.0),
    }
}

fn bench(label: &str, bin: &PathBuf, n: usize) -> (Stats, Stats) {
    let node = TestNode::new();
    let data = std::env::temp_dir().join(format!("bridge-bench-{}-{label}", std::process::id()));
    let conf = json!({
        "cniVersion": "1.0.0", "name": "benchnet", "type": "bridge", "bridge": "cni0",
        "isDefaultGateway": true, "ipMasq": true,
        "ipam": {"type": "host-local", "subnet": "10.200.0.0/16", "dataDir": data}
    })
    .to_string();
    let pods: Vec<TestNs> = (0..n).map(|i| node.pod(&format!("p{i}"))).collect();
    let adds: Vec<Duration> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| call(&node, bin, "ADD", p, &format!("c{i}"), &conf))
        .collect();
    let dels: Vec<Duration> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| call(&node, bin, "DEL", p, &format!("c{i}"), &conf))
        .collect();
    let _ = std::fs::remove_dir_all(&data);
    (stats(adds), stats(dels))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(40);
    let ours = our_binary();
    let go = PathBuf::from("/usr/lib/cni/bridge");
    println!("{n} pods per plugin, sequential; times in ms (mean / p50 / p95 / max)");
    for (label, bin) in [
        ("go", &go),
        ("rust", &ours),
        ("go-again", &go),
        ("rust-again", &ours),
    ] {
        let (add, del) = bench(label, bin, n);
        println!(
            "{label:>10}  ADD {:7.2} / {:7.2} / {:7.2} / {:7.2}   DEL {:7.2} / {:7.2} / {:7.2} / {:7.2}",
            add.mean, add.p50, add.p95, add.max, del.mean, del.p50, del.p95, del.max
        );
    }
}
