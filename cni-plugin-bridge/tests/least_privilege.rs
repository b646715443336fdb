//! Least privilege in files, for the bridge with its in-process host-local: the data directory
//! (with missing parents) and its files get the same modes as the Go reference bridge + Go
//! host-local create in a parallel data directory, and ADD, DEL and GC write nothing
//! outside the configured data directory (the temporary tree, the working directory,
//! `/var/lib/cni` and `/run/cni` are compared before and after).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cni_netlink::testkit::TestNode;
use common::*;
use serde_json::{Value, json};

/// Relative path -> (is a directory, mode) of everything under a directory.
type Modes = BTreeMap<PathBuf, (bool, u32)>;

fn modes(root: &Path) -> Modes {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, (m.is_dir(), m.permissions().mode() & 0o7777));
        }
    }
    out
}

fn conf(version: &str, data: &Path) -> Value {
    json!({
        "cniVersion": version,
        "name": "lp",
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": true,
        "ipMasq": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.99.0.0/24"}]],
            "dataDir": data.to_string_lossy(),
        },
    })
}

/// Runs `bin` in `node`, working directory `cwd`.
fn run(node: &TestNode, bin: &str, cwd: &Path, cmd: &str, id: &str, netns: &str, c: &Value) {
    let mut child = node
        .command(bin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", GO_DIR)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(c.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{bin} {cmd}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ADD two pods and DEL one with `bin`; returns the modes of the temporary tree.
fn exercise(bin: &str, version: &str) -> (Modes, TempDir, TestNode) {
    let node = TestNode::new();
    let root = TempDir::new("rel-lp-bridge");
    let cwd = root.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let data = root.path().join("state/networks");
    let c = conf(version, &data);
    let pods: Vec<_> = (0..2).map(|i| node.pod(&format!("p{i}"))).collect();
    let paths: Vec<String> = pods
        .iter()
        .map(|p| p.path().to_string_lossy().into_owned())
        .collect();
    run(&node, bin, &cwd, "ADD", "a", &paths[0], &c);
    run(&node, bin, &cwd, "ADD", "b", &paths[1], &c);
    let r = modes(root.path());
    run(&node, bin, &cwd, "DEL", "b", &paths[1], &c);
    drop(pods);
    (r, root, node)
}

#[test]
fn data_directory_modes_match_the_reference_and_nothing_is_written_elsewhere() {
    let elsewhere = || {
        (
            modes(Path::new("/var/lib/cni")),
            modes(Path::new("/run/cni")),
        )
    };
    let before = elsewhere();
    // The Go bridge v1.1.1 speaks up to 1.0.0.
    let (ours, our_root, our_node) = exercise(OURS, "1.0.0");
    let (go, _go_root, _go_node) = exercise(GO, "1.0.0");
    assert_eq!(
        ours, go,
        "the same tree with the same modes as Go's bridge + host-local"
    );
    // cwd, state, networks, lp, lock, last_reserved_ip.0, two addresses.
    assert_eq!(ours.len(), 8, "{ours:?}");
    for (p, (_, mode)) in &ours {
        assert_eq!(mode & 0o002, 0, "{p:?} is world-writable");
    }
    // GC of what is left writes nothing new either.
    let data = our_root.path().join("state/networks");
    let pod = our_node.pod("p0again");
    let cwd = our_root.path().join("cwd");
    let mut gc = conf("1.1.0", &data);
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "a", "ifname": "eth0"}]);
    let tree = modes(our_root.path());
    run(
        &our_node,
        OURS,
        &cwd,
        "GC",
        "",
        &pod.path().to_string_lossy(),
        &gc,
    );
    assert_eq!(modes(our_root.path()), tree);
    assert!(modes(&cwd).is_empty(), "nothing in the working directory");
    assert_eq!(elsewhere(), before, "nothing in /var/lib/cni or /run/cni");
}
