//! Helpers of the reliability tests (crash, races, DEL, GC, hostile input): a seeded PRNG,
//! spawning the plugin without waiting, and independent views of what one attachment leaves
//! behind (veths, routes, host-local files, nftables set elements through `nft -j`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::io::Write;
use std::process::{Child, Stdio};

use cni_netlink::testkit::{TestNode, TestNs};
use serde_json::Value;

use crate::common::{OURS, TempDir, link_names, reservations};

/// A small deterministic PRNG (splitmix64), so that a failing run reproduces with its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Starts our plugin inside `node` with `conf` on stdin and returns the running child.
pub fn spawn(
    node: &TestNode,
    command: &str,
    container_id: &str,
    netns: &str,
    ifname: &str,
    conf: &Value,
) -> Child {
    let mut child = node
        .command(OURS)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    let mut stdin = child.stdin.take().unwrap();
    // The plugin may already be dead (killed) when the config is written: ignore EPIPE.
    let _ = stdin.write_all(conf.to_string().as_bytes());
    drop(stdin);
    child
}

/// The comments of every nftables set element in `ns` (`nft -j list ruleset`), each naming one
/// attachment (`if=<ifname> id=<container id>`), with the element's value.
pub fn nft_elements(ns: &TestNs) -> Vec<(String, String)> {
    let out = ns
        .command("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nft -j list ruleset: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    collect_elems(&v, &mut found);
    found
}

fn collect_elems(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            // A set lists `"elem": [...]`; each element with a comment is `{"elem": {"val",
            // "comment"}}`.
            if let Some(elem) = map.get("elem").filter(|e| e.is_object()) {
                out.push((
                    elem["val"].to_string(),
                    elem["comment"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            map.values().for_each(|x| collect_elems(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_elems(x, out)),
        _ => {}
    }
}

/// Whether the node still masquerades anything for container `id` (on `ifname`).
pub fn masq_entries_of(node: &TestNs, id: &str, ifname: &str) -> Vec<(String, String)> {
    let tag = format!("if={ifname} id={id}");
    nft_elements(node)
        .into_iter()
        .filter(|(_, c)| *c == tag)
        .collect()
}

/// Names of the host veths on the node.
pub fn host_veths(node: &TestNs) -> Vec<String> {
    link_names(node)
        .into_iter()
        .filter(|n| n.starts_with("veth"))
        .collect()
}

/// Waits (up to 10 s) until the node has no host veth: when a pod namespace is deleted, the
/// kernel destroys its devices, and with them the host ends, asynchronously (netns cleanup runs
/// on a work queue), so they may outlive the namespace by a few milliseconds.
pub fn wait_host_veths_gone(node: &TestNs) {
    let start = std::time::Instant::now();
    while !host_veths(node).is_empty() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The routes of `ns` (both families) that go out through a device other than `keep`.
pub fn routes_not_via(ns: &TestNs, keep: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        let v = ns.ip_json(&[fam, "route", "show", "table", "all"]).unwrap();
        for r in v.as_array().cloned().unwrap_or_default() {
            let dev = r["dev"].as_str().unwrap_or_default();
            if !keep.contains(&dev) && r["type"] != "local" && r["type"] != "multicast" {
                out.push(r.to_string());
            }
        }
    }
    out
}

/// The reservation files (by content) of `network` in `data`, ignoring `lock` and
/// `last_reserved_ip.*`.
pub fn reservation_owners(data: &TempDir, network: &str) -> Vec<String> {
    match std::fs::read_dir(data.path().join(network)) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .parse::<std::net::IpAddr>()
                    .is_ok()
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Asserts that attachment `id`/`ifname` of network `network` left nothing: no veth on either
/// side, no route through one, no host-local reservation, no nftables element.
pub fn assert_attachment_gone(
    node: &TestNode,
    pod: Option<&TestNs>,
    data: &TempDir,
    network: &str,
    id: &str,
    ifname: &str,
    context: &str,
) {
    let veths = host_veths(node);
    assert!(veths.is_empty(), "{context}: host veths left: {veths:?}");
    if let Some(pod) = pod {
        let links = link_names(pod);
        assert!(
            links.iter().all(|l| l == "lo"),
            "{context}: pod links left: {links:?}"
        );
        let r = routes_not_via(pod, &["lo"]);
        assert!(r.is_empty(), "{context}: pod routes left: {r:?}");
    }
    let r = routes_not_via(node, &["lo", "cni0"]);
    assert!(r.is_empty(), "{context}: node routes left: {r:?}");
    let owners = reservation_owners(data, network);
    assert!(
        owners.iter().all(|o| !o.starts_with(id)),
        "{context}: reservations left: {owners:?}"
    );
    assert_eq!(reservations(data, network), 0, "{context}: {owners:?}");
    let m = masq_entries_of(node, id, ifname);
    assert!(m.is_empty(), "{context}: masquerade entries left: {m:?}");
}
