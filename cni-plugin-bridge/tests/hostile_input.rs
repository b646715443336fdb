//! Hostile input to the `bridge` binary: a table of bad configs and bad `CNI_*` variables, each
//! answered with the right CNI error code (asserted by number) and a clear message, a non-zero
//! exit, no panic, and no change on the host (no new link in the node or the pod, no nftables
//! element, no file written anywhere but the configured directories). Inputs that cannot go
//! through the environment (NUL bytes) are given to the library entry point in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod relkit;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use relkit::*;
use serde_json::{Value, json};

/// One hostile call: changes to a valid ADD's environment and its stdin.
struct Case {
    name: String,
    /// Variables to set (`Some`) or remove (`None`).
    env: Vec<(&'static str, Option<String>)>,
    stdin: Vec<u8>,
    code: u64,
    /// A word the message must contain (lower case).
    says: String,
}

fn with(base: &Value, key: &str, v: Value) -> Vec<u8> {
    let mut c = base.clone();
    c[key] = v;
    c.to_string().into_bytes()
}

/// Every file and directory under `root` with its size (directories: -1), for before/after
/// comparison.
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

/// What a hostile call must not change.
#[derive(Debug, PartialEq)]
struct HostState {
    node_links: Vec<String>,
    pod_links: Vec<String>,
    nft: Vec<(String, String)>,
    files: BTreeMap<PathBuf, i64>,
    var_lib_cni: BTreeMap<PathBuf, i64>,
    run_cni: BTreeMap<PathBuf, i64>,
}

fn host_state(node: &TestNode, pod: &TestNs, root: &TempDir) -> HostState {
    HostState {
        node_links: link_names(node),
        pod_links: link_names(pod),
        nft: nft_elements(node),
        // Outside the configured data directory (where ADD may make the network's directory).
        files: tree(root.path())
            .into_iter()
            .filter(|(p, _)| !p.starts_with(root.path().join("data")))
            .collect(),
        var_lib_cni: tree(Path::new("/var/lib/cni")),
        run_cni: tree(Path::new("/run/cni")),
    }
}

/// Runs `bin` in `node` with `env` (nothing inherited) in working directory `cwd`.
fn run_raw(
    node: &TestNode,
    bin: &str,
    env: &[(String, String)],
    cwd: &Path,
    stdin: &[u8],
) -> Output {
    let mut child = node
        .command(bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    Output {
        ok: out.status.success(),
        json: serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned())),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn base_env(pod: &TestNs) -> Vec<(String, String)> {
    [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        ("CNI_COMMAND", "ADD".to_owned()),
        ("CNI_CONTAINERID", "hostile".to_owned()),
        ("CNI_NETNS", pod.path().to_string_lossy().into_owned()),
        ("CNI_IFNAME", "eth0".to_owned()),
        ("CNI_PATH", GO_DIR.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn apply(env: &mut Vec<(String, String)>, changes: &[(&'static str, Option<String>)]) {
    for (k, v) in changes {
        env.retain(|(name, _)| name != k);
        if let Some(v) = v {
            env.push(((*k).to_owned(), v.clone()));
        }
    }
}

/// Runs every case and checks code, message, exit status, panics and host state.
fn check_cases(node: &TestNode, pod: &TestNs, root: &TempDir, bin: &str, cases: &[Case]) {
    let cwd = root.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut failures = Vec::new();
    for c in cases {
        let before = host_state(node, pod, root);
        let mut env = base_env(pod);
        apply(&mut env, &c.env);
        let out = run_raw(node, bin, &env, &cwd, &c.stdin);
        let msg = format!(
            "{} {}",
            out.json["msg"].as_str().unwrap_or_default(),
            out.json["details"].as_str().unwrap_or_default()
        )
        .to_lowercase();
        let code = out.json["code"].as_u64();
        let problem = if out.ok {
            Some("exited 0".to_owned())
        } else if out.stderr.contains("panicked") {
            Some(format!("panicked: {}", out.stderr))
        } else if code != Some(c.code) {
            Some(format!("code {code:?}, expected {}", c.code))
        } else if msg.is_empty() || !msg.contains(&c.says) {
            Some(format!("message does not say {:?}", c.says))
        } else {
            let after = host_state(node, pod, root);
            (after != before).then(|| format!("host changed: {before:?} -> {after:?}"))
        };
        if let Some(p) = problem {
            let mut line = format!("{}: {p}; output {}", c.name, out.json);
            line.truncate(1500);
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn setup() -> (TestNode, TestNs, TempDir) {
    let node = TestNode::new();
    lo_up(&node);
    let pod = node.pod("pod");
    (node, pod, TempDir::new("rel-hostile"))
}

fn base_conf(root: &TempDir) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "hostile",
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": true,
        "ipMasq": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.96.0.0/24"}]],
            "dataDir": root.path().join("data").to_string_lossy(),
        },
    })
}

#[test]
fn bad_configs_to_the_bridge_binary() {
    let (node, pod, root) = setup();
    let c = base_conf(&root);
    let text = c.to_string();
    let half = text.as_bytes()[..text.len() / 2].to_vec();
    let mut deep = vec![b'['; 100_000];
    deep.extend(vec![b']'; 100_000]);
    let mut huge_ranges = c.clone();
    huge_ranges["ipam"]["ranges"] = json!(vec![json!([{"subnet": "not-a-subnet"}]); 10_000]);
    let mut bad_range = c.clone();
    bad_range["ipam"]["ranges"] = json!({"subnet": "10.0.0.0/8"});
    let mut no_subnet = c.clone();
    no_subnet["ipam"]["ranges"] = json!([[{"rangeStart": "10.0.0.1"}]]);
    let huge_mtu = text.replacen('{', "{\"mtu\": 1e999,", 1).into_bytes();
    let table: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("empty stdin", Vec::new(), 6, "unmarshal"),
        ("truncated", half, 6, "unmarshal"),
        ("not an object", b"[1, 2]".to_vec(), 6, "unmarshal"),
        (
            "invalid utf-8",
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            6,
            "unmarshal",
        ),
        ("deep nesting", deep, 6, "unmarshal"),
        (
            "name of the wrong type",
            with(&c, "name", json!(7)),
            6,
            "unmarshal",
        ),
        (
            "version of the wrong type",
            with(&c, "cniVersion", json!(1.0)),
            6,
            "cniversion",
        ),
        // The plugin section's own keys: serde names the type, not the key (known weakness).
        (
            "mtu of the wrong type",
            with(&c, "mtu", json!("big")),
            7,
            "invalid type",
        ),
        (
            "isGateway of the wrong type",
            with(&c, "isGateway", json!("yes")),
            7,
            "boolean",
        ),
        (
            "ipam of the wrong type",
            with(&c, "ipam", json!("host-local")),
            7,
            "ipam",
        ),
        (
            "ranges of the wrong shape",
            bad_range.to_string().into_bytes(),
            7,
            "ipam",
        ),
        (
            "range without subnet",
            no_subnet.to_string().into_bytes(),
            7,
            "subnet",
        ),
        (
            "huge mtu",
            with(&c, "mtu", json!(99_999_999_999u64)),
            7,
            "mtu",
        ),
        ("mtu beyond f64", huge_mtu, 6, "out of range"),
        ("vlan beyond 4094", with(&c, "vlan", json!(4095)), 7, "vlan"),
        (
            "10000 bad ranges",
            huge_ranges.to_string().into_bytes(),
            7,
            "not-a-subnet",
        ),
        (
            "bridge name too long",
            with(&c, "bridge", json!("b".repeat(300))),
            7,
            "bridge",
        ),
        (
            "bridge name with a slash",
            with(&c, "bridge", json!("../cni0")),
            7,
            "bridge",
        ),
        (
            "unknown version",
            with(&c, "cniVersion", json!("9.9.9")),
            1,
            "9.9.9",
        ),
        (
            "next version",
            with(&c, "cniVersion", json!("1.2.0")),
            1,
            "1.2.0",
        ),
        (
            "too old version",
            with(&c, "cniVersion", json!("0.0.1")),
            1,
            "0.0.1",
        ),
        (
            "network name with a slash",
            with(&c, "name", json!("a/b")),
            7,
            "network name",
        ),
        (
            "network name ..",
            with(&c, "name", json!("..")),
            7,
            "network name",
        ),
        (
            "network name ../../etc",
            with(&c, "name", json!("../../etc")),
            7,
            "network name",
        ),
        (
            "network name with NUL",
            with(&c, "name", json!("a\u{0}b")),
            7,
            "network name",
        ),
        // Go's name check has no length limit either; the data directory cannot be made (I/O).
        (
            "huge network name",
            with(&c, "name", json!("n".repeat(1 << 20))),
            5,
            "too long",
        ),
    ];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(name, stdin, code, says)| Case {
            name: name.to_owned(),
            env: Vec::new(),
            stdin,
            code,
            says: says.to_owned(),
        })
        .collect();
    check_cases(&node, &pod, &root, OURS, &cases);
}

#[test]
fn bad_environment_to_the_bridge_binary() {
    let (node, pod, root) = setup();
    let c = base_conf(&root);
    let file = root.path().join("plain-file");
    std::fs::write(&file, b"not a namespace").unwrap();
    let s = |v: &str| Some(v.to_owned());
    let file = file.to_string_lossy().into_owned();
    let node_ns = node.path().to_string_lossy().into_owned();
    let table: Vec<(&str, &'static str, Option<String>, u64, &str)> = vec![
        ("unknown CNI_COMMAND", "CNI_COMMAND", s("FROB"), 4, "frob"),
        (
            "no CNI_CONTAINERID",
            "CNI_CONTAINERID",
            None,
            4,
            "cni_containerid",
        ),
        ("no CNI_NETNS", "CNI_NETNS", None, 4, "cni_netns"),
        ("no CNI_IFNAME", "CNI_IFNAME", None, 4, "cni_ifname"),
        ("no CNI_PATH", "CNI_PATH", None, 4, "cni_path"),
        ("CNI_ARGS not pairs", "CNI_ARGS", s("garbage"), 4, "garbage"),
        (
            "CNI_ARGS bad MAC",
            "CNI_ARGS",
            s("IgnoreUnknown=1;MAC=zz:zz"),
            4,
            "mac",
        ),
        (
            "container id with a slash",
            "CNI_CONTAINERID",
            s("a/b"),
            4,
            "containerid",
        ),
        (
            "container id ..",
            "CNI_CONTAINERID",
            s(".."),
            4,
            "containerid",
        ),
        (
            "container id ../../x",
            "CNI_CONTAINERID",
            s("../../x"),
            4,
            "containerid",
        ),
        (
            "container id of 300 bytes",
            "CNI_CONTAINERID",
            s(&"c".repeat(300)),
            4,
            "container id",
        ),
        (
            "ifname with a slash",
            "CNI_IFNAME",
            s("a/b"),
            4,
            "interface name",
        ),
        ("ifname ..", "CNI_IFNAME", s(".."), 4, "interface name"),
        (
            "ifname too long",
            "CNI_IFNAME",
            s("a-name-far-too-long"),
            4,
            "too long",
        ),
        (
            "ifname exists in the pod",
            "CNI_IFNAME",
            s("lo"),
            4,
            "already exists",
        ),
        ("netns a plain file", "CNI_NETNS", s(&file), 4, "netns"),
        ("netns a directory", "CNI_NETNS", s(&root.str()), 4, "netns"),
        (
            "netns missing",
            "CNI_NETNS",
            s("/proc/self/ns/no-such-ns"),
            4,
            "netns",
        ),
        // The reference skel's own check, with its code (ErrInvalidNetNS).
        ("netns the node's own", "CNI_NETNS", s(&node_ns), 8, "netns"),
    ];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(name, var, value, code, says)| Case {
            name: name.to_owned(),
            env: vec![(var, value)],
            stdin: c.to_string().into_bytes(),
            code,
            says: says.to_owned(),
        })
        .collect();
    check_cases(&node, &pod, &root, OURS, &cases);
}

#[test]
fn no_command_prints_the_about_line_and_changes_nothing() {
    // As the reference skel: without CNI_COMMAND a plugin that has an "about" line prints it on
    // stderr and exits 0.
    let (node, pod, root) = setup();
    let before = host_state(&node, &pod, &root);
    let mut env = base_env(&pod);
    apply(&mut env, &[("CNI_COMMAND", None)]);
    let conf = base_conf(&root).to_string();
    let out = run_raw(&node, OURS, &env, root.path(), conf.as_bytes());
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.contains("bridge"), "{}", out.stderr);
    assert_eq!(out.json, Value::String(String::new()));
    assert_eq!(host_state(&node, &pod, &root), before);
}

#[test]
fn data_dir_that_cannot_be_written() {
    let (node, pod, root) = setup();
    // Root ignores file modes: a path under a regular file is what cannot be created.
    let blocker = root.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let mut c = base_conf(&root);
    c["ipam"]["dataDir"] = json!(blocker.join("data").to_string_lossy());
    let cases = vec![Case {
        name: "dataDir under a regular file".into(),
        env: Vec::new(),
        stdin: c.to_string().into_bytes(),
        code: 5,
        says: "blocker".into(),
    }];
    check_cases(&node, &pod, &root, OURS, &cases);
    assert_eq!(
        link_names(&node),
        vec!["lo".to_owned()],
        "no bridge, no veth"
    );
}

#[test]
fn nul_bytes_through_the_library_entry_point() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let root = TempDir::new("rel-hostile-nul");
    let c = base_conf(&root).to_string();
    let run = |env: cni_skel::CniEnv| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // In the node namespace, as the plugin would run.
        let status = node
            .run_blocking(|| {
                cni_skel::run_with(
                    &cni_plugin_bridge::BridgePlugin,
                    env,
                    &mut c.as_bytes(),
                    &mut out,
                    &mut err,
                )
            })
            .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
        (status, v)
    };
    for (var, value, code, says) in [
        ("CNI_CONTAINERID", "a\0b", 4, "containerid"),
        ("CNI_IFNAME", "et\0h0", 4, "interface name"),
        ("CNI_NETNS", "/proc/self/ns/net\0x", 4, "netns"),
        ("CNI_ARGS", "K8S_POD_NAME=a\0b", 4, "args"),
        ("CNI_PATH", "/usr/lib/cni\0/x", 4, "cni_path"),
    ] {
        let env = cni_skel::CniEnv::from_vars(
            base_env(&pod)
                .into_iter()
                .filter(|(k, _)| k != var)
                .chain([(var.to_owned(), value.to_owned())]),
        );
        let (status, v) = run(env);
        if status == 0 {
            // A NUL inside a CNI_ARGS value or CNI_PATH entry the plugin never uses may be
            // harmless; then the ADD worked and its DEL must work too.
            assert!(matches!(var, "CNI_ARGS" | "CNI_PATH"), "{var}: {v}");
            let env = cni_skel::CniEnv::from_vars(base_env(&pod)).with("CNI_COMMAND", "DEL");
            assert_eq!(run(env).0, 0, "{var}");
            assert_eq!(link_names(&pod), vec!["lo".to_owned()], "{var}");
            continue;
        }
        let msg = format!("{} {}", v["msg"], v["details"]).to_lowercase();
        assert_eq!(v["code"].as_u64(), Some(code), "{var}: {v}");
        assert!(msg.contains(says), "{var}: {v}");
        assert!(host_veths(&node).is_empty(), "{var}");
        assert_eq!(link_names(&pod), vec!["lo".to_owned()], "{var}");
    }
}
