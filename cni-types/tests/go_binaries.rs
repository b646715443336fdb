//! Conformance against the Go reference plugins installed in `/usr/lib/cni`: what they print
//! parses, and is written back exactly as they wrote it.
//!
//! Only IPAM plugins are run (host-local with a private data directory, static): they need no
//! network namespace and touch nothing but the temporary directory this test creates and removes.
//! Without the binaries the test fails under `CI=true` and says so otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cni_types::{CniError, CniResult, ErrorCode, Version, VersionInfo};
use serde_json::{Value, json};

const PLUGIN_DIR: &str = "/usr/lib/cni";

fn plugins_present() -> bool {
    let present = Path::new(PLUGIN_DIR).join("host-local").is_file()
        && Path::new(PLUGIN_DIR).join("static").is_file();
    if !present {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the Go reference plugins are not installed in {PLUGIN_DIR} (apt-get install containernetworking-plugins)"
            );
        }
        eprintln!("NOTE: {PLUGIN_DIR}/host-local missing; Go conformance not checked");
    }
    present
}

/// A temporary directory removed on drop, even when the test fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cni-types-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a plugin; returns (success, stdout).
fn run(plugin: &str, command: &str, container: &str, stdin: &Value) -> (bool, Vec<u8>) {
    let mut child = Command::new(Path::new(PLUGIN_DIR).join(plugin))
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container)
        .env("CNI_NETNS", "/var/run/netns/unused")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", PLUGIN_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), out.stdout)
}

/// The reference at this snapshot writes an empty `"dns": {}` in 1.0.0 results; current Go (and
/// this crate) omit it. Everything else must match byte for byte.
fn without_empty_dns_in_1x(version: Version, go: &[u8]) -> String {
    let text = String::from_utf8(go.to_vec()).unwrap();
    if version >= Version::V1_0_0 {
        text.replace(",\n    \"dns\": {}", "")
    } else {
        text
    }
}

#[test]
fn host_local_results_of_every_version_parse_and_are_rewritten_exactly() {
    if !plugins_present() {
        return;
    }
    let dir = TempDir::new("host-local");
    let (ok, version_out) = run("host-local", "VERSION", "", &json!({"cniVersion": "1.0.0"}));
    assert!(ok);
    let info = VersionInfo::from_slice(&version_out).unwrap();
    let versions = info.known_versions();
    assert!(versions.len() >= 6, "{info:?}");

    for v in &versions {
        let conf = json!({
            "cniVersion": v.as_str(), "name": "t", "type": "host-local",
            "ipam": {"type": "host-local", "dataDir": dir.0,
                     "ranges": [[{"subnet": "10.9.0.0/24"}], [{"subnet": "fd00:9::/64"}]],
                     "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:9::1"}]}
        });
        let (ok, out) = run("host-local", "ADD", &format!("c-{v}"), &conf);
        assert!(ok, "{v}: {}", String::from_utf8_lossy(&out));
        let parsed = CniResult::from_slice(*v, &out).unwrap();
        assert_eq!(parsed.version(), *v);
        let ours = String::from_utf8(parsed.to_vec_pretty().unwrap()).unwrap();
        assert_eq!(ours, without_empty_dns_in_1x(*v, &out), "{v}");
        let current = parsed.to_current();
        assert_eq!(current.ips.len(), 2, "{v}");
        assert!(current.ips.iter().all(|ip| ip.interface.is_none()));
        let (ok, out) = run("host-local", "DEL", &format!("c-{v}"), &conf);
        assert!(ok && out.is_empty(), "{v}");
    }

    // A version the plugin does not support gives the reference's error, which we parse and whose
    // details our own reconciliation reproduces exactly.
    let conf = json!({"cniVersion": "9.9.9", "name": "t", "type": "host-local",
                      "ipam": {"type": "host-local", "dataDir": dir.0, "subnet": "10.9.0.0/24"}});
    let (ok, out) = run("host-local", "ADD", "c-err", &conf);
    assert!(!ok);
    let go_err = CniError::from_slice(&out).unwrap();
    assert_eq!(go_err.code, ErrorCode::IncompatibleVersion);
    let ours = cni_types::reconcile(cni_types::Command::Add, "9.9.9", &versions).unwrap_err();
    assert_eq!(ours, go_err);
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        serde_json::from_slice::<Value>(&out).unwrap()
    );
}

#[test]
fn static_results_with_routes_and_dns_are_rewritten_exactly() {
    if !plugins_present() {
        return;
    }
    for v in [
        Version::V0_2_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
    ] {
        let conf = json!({
            "cniVersion": v.as_str(), "name": "t", "type": "static",
            "ipam": {"type": "static",
                "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"},
                              {"address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"}],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.10.5.1"},
                           {"dst": "3ffe:ffff:0:01ff::1/64"}],
                "dns": {"nameservers": ["8.8.8.8"], "domain": "example.com",
                        "search": ["example.com"], "options": ["ndots:5"]}}
        });
        let (ok, out) = run("static", "ADD", "c", &conf);
        assert!(ok, "{v}: {}", String::from_utf8_lossy(&out));
        let parsed = CniResult::from_slice(v, &out).unwrap();
        let ours = String::from_utf8(parsed.to_vec_pretty().unwrap()).unwrap();
        assert_eq!(ours, String::from_utf8(out.clone()).unwrap(), "{v}");
        // Our conversion from the 1.0.0 result gives what Go printed for this version.
        let canonical = parsed.to_current();
        let converted = canonical.to_json_for(v).unwrap();
        assert_eq!(
            converted,
            serde_json::from_slice::<Value>(&out).unwrap(),
            "{v}"
        );
    }
}
