//! Shared helpers of the integration tests: run a bridge binary (ours or Go's) inside a test
//! node namespace, with a throwaway host-local data directory, and inspect kernel state with
//! `ip -j` independently of the plugin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use cni_netlink::testkit::{TestNode, TestNs};
use serde_json::{Value, json};

/// Our plugin binary.
pub const OURS: &str = env!("CARGO_BIN_EXE_bridge");
/// The Go reference binary (v1.1.1, speaks up to 1.0.0).
pub const GO: &str = "/usr/lib/cni/bridge";
/// Where the Go reference plugins live (host-local for the Go bridge, portmap, ...).
pub const GO_DIR: &str = "/usr/lib/cni";

/// Every version our plugin speaks.
pub const ALL_VERSIONS: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a plugin call returned.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub json: Value,
    pub stderr: String,
}

impl Output {
    /// The error code (panics when the call succeeded).
    pub fn code(&self) -> u64 {
        assert!(!self.ok, "expected a failure, got {}", self.json);
        self.json["code"].as_u64().expect("error JSON has a code")
    }

    pub fn expect_ok(self) -> Value {
        assert!(self.ok, "plugin failed: {} / {}", self.json, self.stderr);
        self.json
    }
}

/// One plugin call.
pub struct Call<'a> {
    pub bin: &'a str,
    pub command: &'a str,
    pub container_id: &'a str,
    pub netns: String,
    pub ifname: &'a str,
    pub args: &'a str,
    pub cni_path: String,
    /// The plugin's `PATH` (where it finds `iptables`).
    pub path: String,
}

impl<'a> Call<'a> {
    pub fn new(bin: &'a str, command: &'a str, netns: &TestNs) -> Call<'a> {
        Call {
            bin,
            command,
            container_id: "ctr1",
            netns: netns.path().to_string_lossy().into_owned(),
            ifname: "eth0",
            args: "",
            cni_path: GO_DIR.to_owned(),
            path: "/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        }
    }

    /// Runs the plugin inside `node` with `conf` on stdin.
    pub fn run(&self, node: &TestNode, conf: &Value) -> Output {
        let mut child = node
            .command(self.bin)
            .env_clear()
            .env("PATH", &self.path)
            .env("CNI_COMMAND", self.command)
            .env("CNI_CONTAINERID", self.container_id)
            .env("CNI_NETNS", &self.netns)
            .env("CNI_IFNAME", self.ifname)
            .env("CNI_ARGS", self.args)
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn plugin");
        // A plugin may exit before reading stdin (e.g. on a bad environment): ignore EPIPE.
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes());
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
        };
        Output {
            ok: out.status.success(),
            json,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A bridge network config with host-local IPAM over `subnets` (one range set each).
pub fn conf(version: &str, data_dir: &TempDir, subnets: &[&str], extra: Value) -> Value {
    let ranges: Vec<Value> = subnets.iter().map(|s| json!([{ "subnet": s }])).collect();
    let mut c = json!({
        "cniVersion": version,
        "name": "testnet",
        "type": "bridge",
        "bridge": "cni0",
        "ipam": { "type": "host-local", "ranges": ranges, "dataDir": data_dir.str() },
    });
    if let (Some(obj), Some(more)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    c
}

/// `c` as a GC config: `cni.dev/valid-attachments` lists the containers `valid` (each with
/// `eth0`).
pub fn gc_conf(c: &Value, valid: &[&str]) -> Value {
    let mut g = c.clone();
    g["cni.dev/valid-attachments"] = valid
        .iter()
        .map(|id| json!({"containerID": id, "ifname": "eth0"}))
        .collect();
    g
}

/// A layer-2 config (no IPAM).
pub fn l2_conf(version: &str, extra: Value) -> Value {
    let mut c = json!({ "cniVersion": version, "name": "testnet", "type": "bridge", "bridge": "cni0", "ipam": {} });
    if let (Some(obj), Some(more)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    c
}

/// `ip -j -d link show dev <name>` in `ns`, or `None` when there is no such link.
pub fn link(ns: &TestNs, name: &str) -> Option<Value> {
    let all = ns.ip_json(&["-d", "link", "show"]).unwrap();
    all.as_array()?
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

/// All link names of `ns`.
pub fn link_names(ns: &TestNs) -> Vec<String> {
    ns.ip_json(&["link", "show"])
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
}

/// The `address/prefix` strings of link `name` in `ns` (global scope only).
pub fn addrs(ns: &TestNs, name: &str) -> Vec<String> {
    let v = ns.ip_json(&["addr", "show", "dev", name]).unwrap();
    v.as_array()
        .and_then(|a| a.first())
        .and_then(|l| l["addr_info"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// The routes of `ns` for a family (`-4`/`-6`), as `dst via gw` strings.
pub fn routes(ns: &TestNs, family: &str) -> Vec<String> {
    let v = ns.ip_json(&[family, "route", "show"]).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} via {}",
                r["dst"].as_str().unwrap_or_default(),
                r["gateway"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// Reads a sysctl of `ns` (`net/ipv4/ip_forward` style key).
pub fn sysctl(ns: &TestNs, key: &str) -> String {
    let key = key.to_owned();
    ns.run_blocking(move || std::fs::read_to_string(format!("/proc/sys/{key}")))
        .unwrap()
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("<{e}>"))
}

/// The number of address files host-local keeps for `network` in `data_dir`.
pub fn reservations(data_dir: &TempDir, network: &str) -> usize {
    match std::fs::read_dir(data_dir.path().join(network)) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n != "lock" && !n.starts_with("last_reserved_ip")
            })
            .count(),
        Err(_) => 0,
    }
}

/// `nft list ruleset` of `ns`.
pub fn nft_ruleset(ns: &TestNs) -> String {
    let out = ns
        .command("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Brings the node's loopback up (some checks use it).
pub fn lo_up(ns: &TestNs) {
    ns.ip(&["link", "set", "lo", "up"]).unwrap();
}
