//! Delegation: a plugin running its IPAM plugin as a real process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cni_skel::{AddRequest, CheckRequest, CniEnv, DelRequest, GcRequest, Plugin, StatusRequest};
use cni_types::{CniError, CniResult, ErrorCode};

/// A plugin whose every verb is delegated to the IPAM plugin named in its config; ADD then
/// fails if the config says `"failAfterIpam": true`.
struct Delegating;

#[async_trait]
impl Plugin for Delegating {
    type Config = serde_json::Value;

    async fn add(&self, req: AddRequest<serde_json::Value>) -> Result<CniResult, CniError> {
        let ipam = req.config.ipam_type().unwrap_or_default().to_owned();
        let fail = req.config.plugin["failAfterIpam"] == true;
        req.delegate
            .add_then(&ipam, |result| async move {
                if fail {
                    Err(CniError::plugin(150, "interface setup failed"))
                } else {
                    Ok(CniResult::from(result))
                }
            })
            .await
    }
    async fn del(&self, req: DelRequest<serde_json::Value>) -> Result<(), CniError> {
        Ok(req
            .delegate
            .del(req.config.ipam_type().unwrap_or_default())
            .await?)
    }
    async fn check(&self, req: CheckRequest<serde_json::Value>) -> Result<(), CniError> {
        Ok(req
            .delegate
            .check(req.config.ipam_type().unwrap_or_default())
            .await?)
    }
    async fn status(&self, req: StatusRequest<serde_json::Value>) -> Result<(), CniError> {
        Ok(req
            .delegate
            .status(req.config.ipam_type().unwrap_or_default())
            .await?)
    }
    async fn gc(&self, req: GcRequest<serde_json::Value>) -> Result<(), CniError> {
        Ok(req
            .delegate
            .gc(req.config.ipam_type().unwrap_or_default())
            .await?)
    }
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake IPAM plugin: logs `$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME $X_CALLER` and its stdin
/// to `log`, answers ADD with an address, and fails every verb with code 11 when its config
/// contains `"ipamFails"`.
fn fake_ipam(tag: &str) -> (Dir, PathBuf) {
    let dir = std::env::temp_dir().join(format!("cni-skel-delegate-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let script = format!(
        r#"#!/bin/sh
stdin=$(/bin/cat)
echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME $X_CALLER" >> {log}
echo "$stdin" >> {log}
case "$stdin" in *ipamFails*) printf '{{"code":11,"msg":"pool busy","details":"retry"}}'; exit 1;; esac
if [ "$CNI_COMMAND" = ADD ]; then printf '{{"cniVersion":"0.4.0","ips":[{{"version":"4","address":"10.9.0.7/16","gateway":"10.9.0.1"}}]}}'; fi
"#,
        log = log.display()
    );
    let path = dir.join("fake-ipam");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (Dir(dir), log)
}

fn run(command: &str, bin: &Path, stdin: &str) -> (u8, serde_json::Value) {
    let env = CniEnv::from_vars([
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", "ctr-1"),
        ("CNI_NETNS", "/nonexistent/netns"),
        ("CNI_IFNAME", "eth1"),
        ("CNI_PATH", &format!("/nonexistent:{}", bin.display())),
        ("X_CALLER", "kept"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(&Delegating, env, &mut stdin.as_bytes(), &mut out, &mut err);
    let json = if out.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out).unwrap()
    };
    (status, json)
}

const CONF: &str = r#"{"cniVersion":"1.0.0","name":"net","type":"delegating","ipam":{"type":"fake-ipam","subnet":"10.9.0.0/16"}}"#;

#[test]
fn delegated_add_gets_same_env_and_config_and_its_result_is_used() {
    let (dir, log) = fake_ipam("add");
    let (status, json) = run("ADD", &dir.0, CONF);
    assert_eq!(status, 0, "{json}");
    // The 0.4.0 IPAM result, up-converted and written in the config's 1.0.0.
    assert_eq!(json["cniVersion"], "1.0.0");
    assert_eq!(json["ips"][0]["address"], "10.9.0.7/16");
    assert!(json["ips"][0].get("version").is_none());
    let logged = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines[0], "ADD ctr-1 eth1 kept");
    assert_eq!(lines[1], CONF, "the config is passed unchanged");
}

#[test]
fn failure_after_delegated_add_releases_it() {
    let (dir, log) = fake_ipam("release");
    let conf = CONF.replace(
        r#""type":"delegating""#,
        r#""type":"delegating","failAfterIpam":true"#,
    );
    let (status, json) = run("ADD", &dir.0, &conf);
    assert_eq!(status, 1);
    assert_eq!(json["code"], 150);
    assert_eq!(json["msg"], "interface setup failed");
    let verbs: Vec<String> = std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .step_by(2)
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(verbs, ["ADD", "DEL"]);
}

#[test]
fn delegate_errors_keep_their_code_for_every_verb() {
    let (dir, log) = fake_ipam("errors");
    let conf = CONF
        .replace("1.0.0", "1.1.0")
        .replace(r#""subnet""#, r#""ipamFails":1,"subnet""#);
    for verb in ["ADD", "DEL", "CHECK", "STATUS", "GC"] {
        let (status, json) = run(verb, &dir.0, &conf);
        assert_eq!(status, 1, "{verb}");
        assert_eq!(
            json["code"],
            ErrorCode::TryAgainLater.code(),
            "{verb}: {json}"
        );
        assert_eq!(json["msg"], "pool busy");
        assert_eq!(json["details"], "retry");
    }
    let verbs: Vec<String> = std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .step_by(2)
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    // A failed delegated ADD is not followed by DEL (the delegate did not allocate).
    assert_eq!(verbs, ["ADD", "DEL", "CHECK", "STATUS", "GC"]);
}

#[test]
fn missing_delegate_is_a_clear_error() {
    let (dir, _log) = fake_ipam("missing");
    let conf = CONF.replace("fake-ipam", "no-such-ipam");
    let (status, json) = run("ADD", &dir.0, &conf);
    assert_eq!(status, 1);
    assert_eq!(json["code"], 999);
    let msg = json["msg"].as_str().unwrap();
    assert!(
        msg.contains("failed to find plugin \"no-such-ipam\""),
        "{msg}"
    );
    let conf = CONF.replace("fake-ipam", "../bin/sh");
    let (_, json) = run("ADD", &dir.0, &conf);
    assert!(
        json["msg"]
            .as_str()
            .unwrap()
            .contains("invalid plugin name"),
        "{json}"
    );
}
