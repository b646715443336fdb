//! Least privilege in files: our host-local creates its data directory (including missing
//! parents) and every file in it with the same modes as the Go reference (`/usr/lib/cni/host-local`)
//! under the same umask, for ADD, CHECK and DEL (GC changes no mode), and writes nothing outside the configured
//! data directory (the whole temporary tree, the working directory and `/var/lib/cni` are compared
//! before and after).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, go_host_local, our_host_local};
use serde_json::{Value, json};

/// Relative path -> (kind, mode, uid, gid) of everything under a directory.
type Modes = BTreeMap<PathBuf, (char, u32, u32, u32)>;

/// The [`Modes`] of everything under `root`.
fn modes(root: &Path) -> Modes {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let kind = if m.is_dir() {
                stack.push(p.clone());
                'd'
            } else if m.file_type().is_symlink() {
                'l'
            } else {
                'f'
            };
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.insert(
                rel,
                (kind, m.permissions().mode() & 0o7777, m.uid(), m.gid()),
            );
        }
    }
    out
}

/// Runs `bin` with `umask`, in `cwd`, for one verb.
fn run(bin: &Path, umask: u32, cwd: &Path, cmd: &str, id: &str, conf: &Value) -> bool {
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", "/var/run/netns/lp")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: umask(2) is async-signal-safe and only changes the child's own mask.
    unsafe {
        command.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} {cmd}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    out.status.success()
}

fn conf(version: &str, data: &Path, valid: Option<&[&str]>) -> Value {
    let mut c = json!({
        "cniVersion": version,
        "name": "lp",
        "type": "bridge",
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.98.0.0/24"}], [{"subnet": "fd98::/64"}]],
            "dataDir": data.to_string_lossy(),
        },
    });
    if let Some(valid) = valid {
        c["cni.dev/valid-attachments"] = valid
            .iter()
            .map(|id| json!({"containerID": id, "ifname": "eth0"}))
            .collect();
    }
    c
}

/// The same sequence of calls with one binary, in its own tree; returns the tree's modes after
/// the ADDs and at the end, and asserts nothing was written outside the data directory.
fn exercise(bin: &Path, umask: u32) -> (Modes, Modes) {
    let root = TempDir::new("rel-lp");
    let cwd = root.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    // Missing parents: the plugin creates them.
    let data = root.path().join("state/cni/networks");
    let var_lib = modes_or_empty(Path::new("/var/lib/cni"));
    for id in ["a", "b", "c"] {
        run(bin, umask, &cwd, "ADD", id, &conf("1.0.0", &data, None));
    }
    run(bin, umask, &cwd, "CHECK", "a", &conf("1.0.0", &data, None));
    let after_add = modes(root.path());
    run(bin, umask, &cwd, "DEL", "b", &conf("1.0.0", &data, None));
    let end = modes(root.path());
    if bin == our_host_local() {
        // GC (which the Go v1.1.1 binary predates) removes files and changes no mode.
        run(
            bin,
            umask,
            &cwd,
            "GC",
            "",
            &conf("1.1.0", &data, Some(&["a"])),
        );
        let gc = modes(root.path());
        assert!(gc.len() < end.len(), "GC freed c's addresses");
        for (p, m) in &gc {
            assert_eq!(end.get(p), Some(m), "{p:?} after GC");
        }
    }
    for tree in [&after_add, &end] {
        let outside: Vec<_> = tree
            .keys()
            .filter(|p| !p.starts_with("state") && p.as_os_str() != "cwd")
            .collect();
        assert!(outside.is_empty(), "{}: {outside:?}", bin.display());
    }
    assert_eq!(modes_or_empty(Path::new("/var/lib/cni")), var_lib);
    (after_add, end)
}

fn modes_or_empty(p: &Path) -> Modes {
    if p.is_dir() {
        modes(p)
    } else {
        BTreeMap::new()
    }
}

#[test]
fn data_directory_and_files_keep_the_reference_modes() {
    for umask in [0o022, 0o077, 0o002] {
        let (ours_add, ours_end) = exercise(&our_host_local(), umask);
        let (go_add, go_end) = exercise(&go_host_local(), umask);
        // cwd, state, state/cni, networks, lp, lock, 2 last_reserved_ip, 3 x 2 addresses.
        assert_eq!(ours_add.len(), 14, "{ours_add:?}");
        assert_eq!(ours_add, go_add, "after ADD and CHECK, umask {umask:o}");
        assert_eq!(ours_end, go_end, "after DEL, umask {umask:o}");
        // Nothing world-writable, whatever the umask.
        for (p, (_, mode, _, _)) in &ours_end {
            assert_eq!(mode & 0o002, 0, "{p:?} is world-writable");
        }
    }
}
