//! Time per host-local ADD: in-process (blocking and async), our `host-local` process, and
//! Go's `/usr/lib/cni/host-local` process. Not a test: it prints figures.
//!
//! ```text
//! cargo build --release -p cni-ipam --bins --examples
//! target/release/examples/host-local-bench [count]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cni_ipam::{HostLocal, Ipam, IpamRequest};
use cni_types::NetConf;
use serde_json::{Value, json};

fn conf(dir: &Path) -> Value {
    json!({"cniVersion": "1.0.0", "name": "bench", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir,
                 "ranges": [[{"subnet": "10.200.0.0/16"}]]}})
}

fn request(conf: &Value, id: &str) -> IpamRequest {
    let c: NetConf = NetConf::from_value(conf.clone()).unwrap();
    IpamRequest::new(c, id, "eth0").unwrap()
}

fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cni-ipam-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Prints the median and the mean of per-ADD times (the median resists a busy machine).
fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let n = times.len();
    let median = times.get(n / 2).copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / u32::try_from(n.max(1)).unwrap();
    println!("{what:<40} {n:>5} ADDs  median {median:>10.1?}  mean {mean:>10.1?}");
}

fn timed(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn exec_add(bin: &Path, conf: &Value, id: &str) {
    let mut child = Command::new(bin)
        .env_clear()
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", id),
            ("CNI_NETNS", "/var/run/netns/bench"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(conf).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let exe = std::env::current_exe().unwrap();
    let ours = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("host-local"))
        .unwrap();
    let go = PathBuf::from("/usr/lib/cni/host-local");

    let dir = fresh_dir("blocking");
    let c = conf(&dir);
    let times = (0..n)
        .map(|i| {
            let req = request(&c, &format!("b{i}"));
            timed(|| {
                HostLocal.add_blocking(&req).unwrap();
            })
        })
        .collect();
    report("in-process, add_blocking", times);
    let _ = std::fs::remove_dir_all(&dir);

    let dir = fresh_dir("async");
    let c = conf(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let times = rt.block_on(async {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let req = request(&c, &format!("a{i}"));
            let t = Instant::now();
            HostLocal.add(&req).await.unwrap();
            times.push(t.elapsed());
        }
        times
    });
    report("in-process, Ipam::add (blocking pool)", times);
    let _ = std::fs::remove_dir_all(&dir);

    for (name, bin) in [
        ("our host-local process", &ours),
        ("Go host-local process", &go),
    ] {
        if !bin.exists() {
            println!("{name}: {} not found (build with --bins)", bin.display());
            continue;
        }
        let dir = fresh_dir("proc");
        let c = conf(&dir);
        let times = (0..n)
            .map(|i| timed(|| exec_add(bin, &c, &format!("p{i}"))))
            .collect();
        report(name, times);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
