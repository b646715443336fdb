//! The `host-local` and `static` binaries as processes: 64 concurrent allocations, sharing a
//! `dataDir` with the Go host-local in both directions, the same answers as Go static, and
//! delegation through `DelegatedIpam`. No network namespace is needed: IPAM touches files only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cni_ipam::{DelegatedIpam, Ipam, IpamError, add_then};
use cni_skel::CniEnv;
use cni_types::GcAttachment;
use common::{
    TempDir, block, cni_env, files, go_host_local, our_host_local, our_static, request, run_binary,
};
use serde_json::{Value, json};

fn spawn(bin: &Path, cmd: &str, conf: &Value, id: &str) -> Child {
    let mut child = Command::new(bin)
        .env_clear()
        .envs(cni_env(cmd, id, "eth0", ""))
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
    child
}

fn net_conf(dir: &TempDir, version: &str) -> Value {
    json!({"cniVersion": version, "name": "shared", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir.str(),
                 "ranges": [[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]}})
}

fn reservations(dir: &TempDir) -> Vec<String> {
    files(&dir.join("shared"))
        .into_iter()
        .filter(|f| f.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

/// Starts every child first, then collects them: the processes really overlap.
fn run_all(children: Vec<(String, Child)>) -> Vec<(String, Value)> {
    children
        .into_iter()
        .map(|(id, child)| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{id} failed: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v = if stdout.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&stdout).unwrap()
            };
            (id, v)
        })
        .collect()
}

fn v4_of(v: &Value) -> String {
    v["ips"][0]["address"].as_str().unwrap().to_string()
}

#[test]
fn sixty_four_concurrent_processes_get_distinct_addresses() {
    let dir = TempDir::new("64");
    let conf = net_conf(&dir, "1.1.0");
    let bin = our_host_local();
    let children: Vec<(String, Child)> = (0..64)
        .map(|i| {
            let id = format!("pod{i}");
            let c = spawn(&bin, "ADD", &conf, &id);
            (id, c)
        })
        .collect();
    let results = run_all(children);
    let v4: BTreeSet<String> = results.iter().map(|(_, v)| v4_of(v)).collect();
    let v6: BTreeSet<String> = results
        .iter()
        .map(|(_, v)| v["ips"][1]["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(v4.len(), 64, "{v4:?}");
    assert_eq!(v6.len(), 64);
    assert_eq!(reservations(&dir).len(), 128);
    // Every file names its owner.
    for (id, v) in &results {
        let ip = v4_of(v);
        let ip = ip.split('/').next().unwrap();
        let content = std::fs::read_to_string(dir.join("shared").join(ip)).unwrap();
        assert_eq!(content, format!("{id}\r\neth0"));
    }

    // And 64 concurrent DELs free everything.
    let children: Vec<(String, Child)> = (0..64)
        .map(|i| {
            let id = format!("pod{i}");
            let c = spawn(&bin, "DEL", &conf, &id);
            (id, c)
        })
        .collect();
    run_all(children);
    assert!(reservations(&dir).is_empty());
}

#[test]
fn go_and_rust_take_turns_on_one_data_dir() {
    let dir = TempDir::new("interop");
    // Go host-local v1.1.1 speaks up to 1.0.0.
    let conf = net_conf(&dir, "1.0.0");
    let (go, ours) = (go_host_local(), our_host_local());
    let mut seen = BTreeSet::new();
    let mut owner = Vec::new();
    for i in 0..20 {
        let (bin, who) = if i % 2 == 0 {
            (&go, "go")
        } else {
            (&ours, "rust")
        };
        let id = format!("{who}{i}");
        let run = run_binary(bin, "ADD", &conf, &id, "eth0", "");
        assert_eq!(run.status, 0, "{id}: {} {}", run.stdout, run.stderr);
        let out = run.json();
        let ip = v4_of(&out);
        // Round-robin continues across implementations: .2, .3, .4, ...
        assert_eq!(ip, format!("10.88.0.{}/24", i + 2), "{id}");
        assert_eq!(out["ips"][1]["address"], format!("fd00:88::{:x}/64", i + 2));
        assert!(seen.insert(ip));
        owner.push((id, bin));
    }
    // Each CHECKs the other's allocations.
    for (id, bin) in &owner {
        let other = if *bin == &go { &ours } else { &go };
        let run = run_binary(other, "CHECK", &conf, id, "eth0", "");
        assert_eq!(run.status, 0, "CHECK {id}: {}", run.stdout);
    }
    // Each releases what the other allocated.
    for (id, bin) in &owner {
        let other = if *bin == &go { &ours } else { &go };
        let run = run_binary(other, "DEL", &conf, id, "eth0", "");
        assert_eq!(run.status, 0, "DEL {id}: {}", run.stdout);
    }
    assert!(reservations(&dir).is_empty(), "{:?}", reservations(&dir));
}

#[test]
fn go_and_rust_at_once_never_collide() {
    let dir = TempDir::new("interop-conc");
    let conf = net_conf(&dir, "1.0.0");
    let (go, ours) = (go_host_local(), our_host_local());
    let children: Vec<(String, Child)> = (0..48)
        .map(|i| {
            let (bin, who) = if i % 2 == 0 {
                (&go, "go")
            } else {
                (&ours, "rust")
            };
            let id = format!("{who}{i}");
            let c = spawn(bin, "ADD", &conf, &id);
            (id, c)
        })
        .collect();
    let results = run_all(children);
    let v4: BTreeSet<String> = results.iter().map(|(_, v)| v4_of(v)).collect();
    assert_eq!(v4.len(), 48);
    // Cross DEL, concurrently too.
    let children: Vec<(String, Child)> = (0..48)
        .map(|i| {
            let (bin, who) = if i % 2 == 0 {
                (&ours, "go")
            } else {
                (&go, "rust")
            };
            let id = format!("{who}{i}");
            let c = spawn(bin, "DEL", &conf, &id);
            (id, c)
        })
        .collect();
    run_all(children);
    assert!(reservations(&dir).is_empty());
}

#[test]
fn rust_reads_legacy_files_go_wrote_and_go_reads_ours() {
    let dir = TempDir::new("legacy-interop");
    let conf = net_conf(&dir, "1.0.0");
    let run = run_binary(&go_host_local(), "ADD", &conf, "old", "eth0", "");
    assert_eq!(run.status, 0);
    // Make it look like a pre-ifname host-local wrote it.
    std::fs::write(dir.join("shared/10.88.0.2"), "old").unwrap();
    std::fs::write(dir.join("shared/fd00:88::2"), "old").unwrap();
    let run = run_binary(&our_host_local(), "CHECK", &conf, "old", "eth0", "");
    assert_eq!(run.status, 0, "{}", run.stdout);
    let run = run_binary(&our_host_local(), "DEL", &conf, "old", "eth0", "");
    assert_eq!(run.status, 0);
    assert!(reservations(&dir).is_empty());
    // The same modes as Go under the same umask: compare a file each of us created.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let go_dir = TempDir::new("modes-go");
    let go_conf = net_conf(&go_dir, "1.0.0");
    assert_eq!(
        run_binary(&go_host_local(), "ADD", &go_conf, "m", "eth0", "").status,
        0
    );
    let run = run_binary(&our_host_local(), "ADD", &conf, "new", "eth0", "");
    assert_eq!(run.status, 0);
    assert_eq!(run.json()["ips"][0]["address"], "10.88.0.3/24");
    for (ours, go) in [
        ("shared", "shared"),
        ("shared/10.88.0.3", "shared/10.88.0.2"),
        ("shared/last_reserved_ip.0", "shared/last_reserved_ip.0"),
        ("shared/lock", "shared/lock"),
    ] {
        assert_eq!(mode(&dir.join(ours)), mode(&go_dir.join(go)), "{ours}");
    }
    let run = run_binary(&go_host_local(), "DEL", &conf, "new", "eth0", "");
    assert_eq!(run.status, 0);
    assert!(reservations(&dir).is_empty());
}

#[test]
fn same_errors_as_go_for_bad_configs() {
    let dir = TempDir::new("errs");
    let (go, ours) = (go_host_local(), our_host_local());
    let exhausted = json!({"cniVersion": "1.0.0", "name": "shared", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir.str(), "subnet": "10.1.2.0/30"}});
    assert_eq!(
        run_binary(&ours, "ADD", &exhausted, "a", "eth0", "").status,
        0
    );
    let g = run_binary(&go, "ADD", &exhausted, "b", "eth0", "");
    let r = run_binary(&ours, "ADD", &exhausted, "b", "eth0", "");
    assert_eq!(g.json()["msg"], r.json()["msg"]);
    assert_eq!(r.code(), 50);
    let bad_name = json!({"cniVersion": "1.0.0", "name": "../x", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir.str(), "subnet": "10.1.2.0/24"}});
    assert_eq!(run_binary(&go, "ADD", &bad_name, "a", "eth0", "").code(), 7);
    assert_eq!(
        run_binary(&ours, "ADD", &bad_name, "a", "eth0", "").code(),
        7
    );
    let overlap = json!({"cniVersion": "1.0.0", "name": "shared", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir.str(),
                 "ranges": [[{"subnet": "10.1.0.0/22"}, {"subnet": "10.1.2.0/24"}]]}});
    let g = run_binary(&go, "ADD", &overlap, "a", "eth0", "");
    let r = run_binary(&ours, "ADD", &overlap, "a", "eth0", "");
    assert_eq!(g.json()["msg"], r.json()["msg"]);
    assert_eq!(r.code(), 7);
}

/// Our static and Go's give the same addresses, routes and DNS.
#[test]
fn static_matches_go_static() {
    let go = Path::new("/usr/lib/cni/static");
    let cases = [
        (
            json!({"type": "static",
                "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}, {"address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"}],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.10.5.1"}],
                "dns": {"nameservers": ["8.8.8.8"], "domain": "example.com", "search": ["example.com"]}}),
            "",
        ),
        (
            json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}),
            "IP=10.1.1.1/24,10.2.2.2/16;GATEWAY=10.10.0.7,10.1.1.9",
        ),
        (json!({"type": "static"}), "IP=10.1.1.1/24"),
    ];
    for (ipam, args) in cases {
        for version in ["0.2.0", "0.4.0", "1.0.0"] {
            if version == "0.2.0" && !args.is_empty() {
                continue;
            }
            let conf = json!({"cniVersion": version, "name": "n", "type": "x", "ipam": ipam});
            let g = run_binary(go, "ADD", &conf, "c", "eth0", args);
            let r = run_binary(&our_static(), "ADD", &conf, "c", "eth0", args);
            assert_eq!(
                g.status, r.status,
                "{conf} {args}: {} vs {}",
                g.stdout, r.stdout
            );
            // An empty "dns": {} is written by some formats and not others; compare without.
            let strip = |mut v: Value| {
                if v["dns"] == json!({}) {
                    v.as_object_mut().unwrap().remove("dns");
                }
                v
            };
            assert_eq!(strip(g.json()), strip(r.json()), "{conf} {args}");
        }
    }
}

fn delegating(dir_of_plugin: &Path) -> DelegatedIpam {
    DelegatedIpam::new().with_env(CniEnv::from_vars([
        ("CNI_PATH", dir_of_plugin.to_string_lossy().as_ref()),
        ("CNI_NETNS", "/var/run/netns/test"),
    ]))
}

#[test]
fn delegation_runs_any_ipam_binary() {
    let dir = TempDir::new("delegate");
    let ours_dir = our_host_local().parent().unwrap().to_path_buf();
    for (plugin_dir, version) in [
        (ours_dir.as_path(), "1.1.0"),
        (Path::new("/usr/lib/cni"), "1.0.0"),
    ] {
        let conf = net_conf(&dir, version);
        let ipam = delegating(plugin_dir);
        let r = block(ipam.add(&request(&conf, "d1", "eth0"))).unwrap();
        assert_eq!(r.ips.len(), 2);
        assert!(r.ips.iter().all(|i| i.interface.is_none()));
        let ip = r.ips[0].address.ip().to_string();
        assert!(dir.join("shared").join(&ip).exists());
        block(ipam.check(&request(&conf, "d1", "eth0"))).unwrap();
        // A delegated error keeps its code.
        let e = block(ipam.check(&request(&conf, "nobody", "eth0"))).unwrap_err();
        assert_eq!(e.code(), 999, "{e}");
        let mut bad = conf.clone();
        bad["name"] = json!("../x");
        assert_eq!(
            block(ipam.add(&request(&bad, "d1", "eth0")))
                .unwrap_err()
                .code(),
            7
        );
        // add_then releases through delegated DEL when the caller's work fails.
        let out: Result<(), IpamError> =
            block(add_then(&ipam, &request(&conf, "d2", "eth0"), |_| async {
                Err(IpamError::internal("veth creation failed"))
            }));
        assert!(out.is_err());
        block(ipam.del(&request(&conf, "d1", "eth0"))).unwrap();
        assert!(
            reservations(&dir).is_empty(),
            "{plugin_dir:?}: {:?}",
            reservations(&dir)
        );
    }
    // STATUS and GC (1.1.0) go to our binary.
    let conf = net_conf(&dir, "1.1.0");
    let ipam = delegating(&ours_dir);
    block(ipam.add(&request(&conf, "g1", "eth0"))).unwrap();
    block(ipam.add(&request(&conf, "g2", "eth0"))).unwrap();
    block(ipam.status(&request(&conf, "", ""))).unwrap();
    let req = request(&conf, "", "").with_valid_attachments(vec![GcAttachment::new("g1", "eth0")]);
    block(ipam.gc(&req)).unwrap();
    assert_eq!(reservations(&dir).len(), 2);
    // A missing plugin is an error, not a panic.
    let mut missing = conf.clone();
    missing["ipam"]["type"] = json!("no-such-ipam");
    assert!(block(ipam.add(&request(&missing, "g3", "eth0"))).is_err());
}
