//! Helpers shared by the integration tests: temporary directories, requests, and running
//! plugins in-process or as processes.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use cni_ipam::{Ipam, IpamPlugin, IpamRequest};
use cni_skel::CniEnv;
use cni_types::{CniArgs, NetConf};
use serde_json::Value;

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("cni-ipam-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
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

/// A request from a JSON config.
pub fn request(conf: &Value, id: &str, ifname: &str) -> IpamRequest {
    let conf: NetConf = NetConf::from_value(conf.clone()).unwrap();
    IpamRequest::new(conf, id, ifname).unwrap()
}

/// A request with `CNI_ARGS`.
pub fn request_args(conf: &Value, id: &str, ifname: &str, args: &str) -> IpamRequest {
    request(conf, id, ifname).with_args(CniArgs::parse(args).unwrap())
}

/// Runs an async IPAM call on a current-thread runtime.
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// What a plugin run printed, and its exit status.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} / {:?}", self.stdout, self.stderr))
    }

    /// The error code printed by a failed run.
    pub fn code(&self) -> u64 {
        assert_ne!(self.status, 0, "expected a failure, got {}", self.stdout);
        self.json()["code"].as_u64().unwrap()
    }
}

/// The environment of one CNI call.
pub fn cni_env(cmd: &str, id: &str, ifname: &str, args: &str) -> Vec<(String, String)> {
    let mut v = vec![
        ("CNI_COMMAND".to_string(), cmd.to_string()),
        ("CNI_PATH".to_string(), "/usr/lib/cni".to_string()),
    ];
    if !id.is_empty() {
        v.push(("CNI_CONTAINERID".into(), id.into()));
    }
    if !ifname.is_empty() {
        v.push(("CNI_IFNAME".into(), ifname.into()));
    }
    if matches!(cmd, "ADD" | "CHECK" | "DEL") {
        v.push(("CNI_NETNS".into(), "/var/run/netns/test".into()));
    }
    if !args.is_empty() {
        v.push(("CNI_ARGS".into(), args.into()));
    }
    v
}

/// Runs an IPAM as a plugin in-process, through cni-skel's entry point.
pub fn run_in_process<I: Ipam>(
    ipam: I,
    cmd: &str,
    conf: &Value,
    id: &str,
    ifname: &str,
    args: &str,
) -> Run {
    let plugin = IpamPlugin::new(ipam, "test");
    let env = CniEnv::from_vars(cni_env(cmd, id, ifname, args));
    let stdin = serde_json::to_vec(conf).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(&plugin, env, &mut &stdin[..], &mut out, &mut err);
    Run {
        status: i32::from(status),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// Runs a plugin binary as a process.
pub fn run_binary(bin: &Path, cmd: &str, conf: &Value, id: &str, ifname: &str, args: &str) -> Run {
    let mut child = Command::new(bin)
        .env_clear()
        .envs(cni_env(cmd, id, ifname, args))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(conf).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Our host-local binary.
pub fn our_host_local() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_host-local"))
}

/// Our static binary.
pub fn our_static() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_static"))
}

/// The Go reference host-local binary.
pub fn go_host_local() -> PathBuf {
    PathBuf::from("/usr/lib/cni/host-local")
}

/// Sorted file names in a directory.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
