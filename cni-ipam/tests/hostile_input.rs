//! Hostile input to the `host-local` binary: each bad config or `CNI_*` variable gives the right
//! CNI error code (asserted by number) and a clear message, a non-zero exit, no panic, no
//! reservation, and no file anywhere outside the configured data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, our_host_local};
use serde_json::{Value, json};

/// Every path under `root` with its size (directories: -1).
fn tree(root: &Path) -> BTreeMap<PathBuf, i64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.insert(p, -1);
            } else {
                out.insert(p, i64::try_from(meta.len()).unwrap());
            }
        }
    }
    out
}

fn base_env() -> Vec<(String, String)> {
    [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "hostile"),
        ("CNI_NETNS", "/var/run/netns/hostile"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/usr/lib/cni"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

struct Case {
    name: String,
    env: Vec<(&'static str, Option<String>)>,
    stdin: Vec<u8>,
    code: u64,
    says: String,
}

/// Runs the cases in `cwd` under `root` and checks each one.
fn check(root: &TempDir, data: &Path, cases: &[Case]) {
    let cwd = root.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let outside = |t: BTreeMap<PathBuf, i64>| -> BTreeMap<PathBuf, i64> {
        t.into_iter()
            .filter(|(p, _)| !p.starts_with(data))
            .collect()
    };
    let mut failures = Vec::new();
    for c in cases {
        let before = outside(tree(root.path()));
        let var_lib = tree(Path::new("/var/lib/cni"));
        let mut env = base_env();
        for (k, v) in &c.env {
            env.retain(|(n, _)| n != k);
            if let Some(v) = v {
                env.push(((*k).to_owned(), v.clone()));
            }
        }
        let mut child = Command::new(our_host_local())
            .env_clear()
            .envs(env)
            .current_dir(&cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(&c.stdin);
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg = format!(
            "{} {}",
            v["msg"].as_str().unwrap_or_default(),
            v["details"].as_str().unwrap_or_default()
        )
        .to_lowercase();
        let reserved = tree(data)
            .keys()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.parse::<std::net::IpAddr>().is_ok())
            })
            .count();
        let problem = if out.status.success() {
            Some("exited 0".to_owned())
        } else if stderr.contains("panicked") {
            Some(format!("panicked: {stderr}"))
        } else if v["code"].as_u64() != Some(c.code) {
            Some(format!("code {:?}, expected {}", v["code"], c.code))
        } else if !msg.contains(&c.says) || msg.trim().is_empty() {
            Some(format!("message does not say {:?}", c.says))
        } else if reserved != 0 {
            Some(format!("{reserved} addresses reserved"))
        } else if outside(tree(root.path())) != before || tree(Path::new("/var/lib/cni")) != var_lib
        {
            Some("files written outside the data directory".to_owned())
        } else {
            None
        };
        if let Some(p) = problem {
            let mut line = format!("{}: {p}; output {v}", c.name);
            line.truncate(1500);
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn conf(data: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "hostile",
        "type": "bridge",
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.97.0.0/24"}]],
            "dataDir": data.to_string_lossy(),
        },
    })
}

fn set(c: &Value, path: &[&str], v: Value) -> Vec<u8> {
    let mut c = c.clone();
    let mut slot = &mut c;
    for k in path {
        slot = &mut slot[*k];
    }
    *slot = v;
    c.to_string().into_bytes()
}

#[test]
fn bad_configs_to_host_local() {
    let root = TempDir::new("rel-hl-hostile");
    let data = root.path().join("data");
    let c = conf(&data);
    let text = c.to_string();
    let blocker = root.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let table: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("empty stdin", Vec::new(), 6, "unmarshal"),
        (
            "truncated",
            text.as_bytes()[..text.len() / 3].to_vec(),
            6,
            "unmarshal",
        ),
        ("a number", b"42".to_vec(), 6, "unmarshal"),
        (
            "deep nesting",
            [vec![b'{'; 50_000], vec![b'}'; 50_000]].concat(),
            6,
            "unmarshal",
        ),
        ("no ipam", set(&c, &["ipam"], Value::Null), 7, "ipam"),
        (
            "ranges a string",
            set(&c, &["ipam", "ranges"], json!("x")),
            7,
            "ipam",
        ),
        (
            "dataDir a number",
            set(&c, &["ipam", "dataDir"], json!(7)),
            7,
            "ipam",
        ),
        (
            "no ranges",
            set(&c, &["ipam", "ranges"], json!([])),
            7,
            "no ip ranges",
        ),
        (
            "bad subnet",
            set(
                &c,
                &["ipam", "ranges"],
                json!([[{"subnet": "10.0.0.0/33"}]]),
            ),
            7,
            "10.0.0.0/33",
        ),
        (
            "rangeStart outside the subnet",
            set(
                &c,
                &["ipam", "ranges"],
                json!([[{"subnet": "10.97.0.0/24", "rangeStart": "10.98.0.1"}]]),
            ),
            7,
            "10.98.0.1",
        ),
        (
            "huge prefix count",
            set(
                &c,
                &["ipam", "ranges"],
                json!(vec![json!([{"subnet": "10.97.0.0/24"}]); 5000]),
            ),
            7,
            "overlap",
        ),
        (
            "unknown version",
            set(&c, &["cniVersion"], json!("7.0.0")),
            1,
            "7.0.0",
        ),
        (
            "network name ../x",
            set(&c, &["name"], json!("../x")),
            7,
            "network name",
        ),
        (
            "network name a/b",
            set(&c, &["name"], json!("a/b")),
            7,
            "network name",
        ),
        (
            "network name with NUL",
            set(&c, &["name"], json!("a\u{0}b")),
            7,
            "network name",
        ),
        (
            "dataDir under a regular file",
            set(
                &c,
                &["ipam", "dataDir"],
                json!(blocker.join("d").to_string_lossy()),
            ),
            5,
            "blocker",
        ),
        (
            "requested IP outside the ranges",
            set(&c, &["runtimeConfig"], json!({"ips": ["192.0.2.7/24"]})),
            7,
            "192.0.2.7",
        ),
    ];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(name, stdin, code, says)| Case {
            name: name.into(),
            env: Vec::new(),
            stdin,
            code,
            says: says.into(),
        })
        .collect();
    check(&root, &data, &cases);
}

#[test]
fn bad_environment_to_host_local() {
    let root = TempDir::new("rel-hl-hostile-env");
    let data = root.path().join("data");
    let stdin = conf(&data).to_string().into_bytes();
    let s = |v: &str| Some(v.to_owned());
    let table: Vec<(&str, &'static str, Option<String>, u64, &str)> = vec![
        ("unknown CNI_COMMAND", "CNI_COMMAND", s("FROB"), 4, "frob"),
        (
            "no CNI_CONTAINERID",
            "CNI_CONTAINERID",
            None,
            4,
            "cni_containerid",
        ),
        ("no CNI_IFNAME", "CNI_IFNAME", None, 4, "cni_ifname"),
        ("no CNI_PATH", "CNI_PATH", None, 4, "cni_path"),
        (
            "container id ../../x",
            "CNI_CONTAINERID",
            s("../../x"),
            4,
            "containerid",
        ),
        (
            "container id a/b",
            "CNI_CONTAINERID",
            s("a/b"),
            4,
            "containerid",
        ),
        ("ifname ..", "CNI_IFNAME", s(".."), 4, "interface name"),
        ("ifname a/b", "CNI_IFNAME", s("a/b"), 4, "interface name"),
        (
            "ifname too long",
            "CNI_IFNAME",
            s("a-name-far-too-long"),
            4,
            "too long",
        ),
        ("CNI_ARGS not pairs", "CNI_ARGS", s("garbage"), 4, "garbage"),
        ("CNI_ARGS unknown key", "CNI_ARGS", s("FOO=bar"), 4, "foo"),
        (
            "CNI_ARGS bad IP",
            "CNI_ARGS",
            s("IP=10.97.0.300"),
            4,
            "10.97.0.300",
        ),
    ];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(name, var, value, code, says)| Case {
            name: name.into(),
            env: vec![(var, value)],
            stdin: stdin.clone(),
            code,
            says: says.into(),
        })
        .collect();
    check(&root, &data, &cases);
}
