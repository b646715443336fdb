//! The `passthrough` example plugin as a real process: driven by our runtime side for every spec
//! version, chained with the Go reference `tuning` plugin before and after it, and through the
//! `cnitool` example.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cni_netlink::testkit::TestNode;
use cni_skel::{CniEnv, CniRuntime, RuntimeConf};
use cni_types::{GcAttachment, NetConfList, Version};
use serde_json::{Value, json};

const GO_PLUGINS: &str = "/usr/lib/cni";

/// A scratch directory with a `bin/` holding our plugin, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cni-examples-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        // The plugin is found by its type name; link the cargo-built binary under that name.
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_passthrough"),
            dir.join("bin/passthrough"),
        )
        .unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The recorded calls: (command, config) per line.
    fn records(&self, file: &str) -> Vec<(String, Value)> {
        std::fs::read_to_string(self.path(file))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["command"].as_str().unwrap().to_owned(), v)
            })
            .collect()
    }

    fn runtime(&self) -> CniRuntime {
        CniRuntime::new(vec![self.path("bin"), PathBuf::from(GO_PLUGINS)])
            .with_cache_dir(self.path("cache"))
            .with_env(CniEnv::from_vars([("PATH", "/usr/bin:/bin")]))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The first plugin's configured result: an interface in the netns and an address.
fn first_result(netns: &Path, ifname: &str) -> Value {
    json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": ifname, "sandbox": netns.display().to_string()}],
        "ips": [{"interface": 0, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}]})
}

#[test]
fn every_spec_version_through_our_runtime() {
    let scratch = Scratch::new("versions");
    let node = TestNode::new();
    let runtime = scratch.runtime();
    for version in Version::ALL {
        let record = scratch.path(&format!("calls-{version}"));
        let list = NetConfList::from_value(json!({
            "cniVersion": version.as_str(), "name": "passnet",
            "plugins": [
                {"type": "passthrough", "record": record, "result": first_result(node.path(), "eth0")},
                {"type": "passthrough", "record": record}
            ]
        }))
        .unwrap();
        let rt = RuntimeConf::new("ctr-versions", node.path().display().to_string(), "eth0");
        let result = block(runtime.add_network_list(&list, &rt)).unwrap();
        assert_eq!(result.version(), version, "written in the config's version");
        let current = result.to_current();
        assert_eq!(
            current.ips[0].address.to_string(),
            "10.22.0.5/16",
            "{version}"
        );

        if version >= Version::V0_4_0 {
            block(runtime.check_network_list(&list, &rt)).unwrap();
        } else {
            assert!(block(runtime.check_network_list(&list, &rt)).is_err());
        }
        block(runtime.status_network_list(&list)).unwrap();
        let keep = [GcAttachment::new("ctr-versions", "eth0")];
        block(runtime.gc_network_list(&list, Some(&keep))).unwrap();
        block(runtime.del_network_list(&list, &rt)).unwrap();

        let records = scratch.records(&format!("calls-{version}"));
        let verbs: Vec<&str> = records.iter().map(|(c, _)| c.as_str()).collect();
        let expected: Vec<&str> = match version {
            Version::V1_1_0 => vec![
                "ADD", "ADD", "CHECK", "CHECK", "STATUS", "STATUS", "GC", "GC", "DEL", "DEL",
            ],
            Version::V0_4_0 | Version::V1_0_0 => vec!["ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL"],
            _ => vec!["ADD", "ADD", "DEL", "DEL"],
        };
        assert_eq!(verbs, expected, "{version}");
        // The second plugin got the first one's result as prevResult, in the list's version.
        let second_add = &records[1].1;
        assert_eq!(
            second_add["config"]["prevResult"]["cniVersion"],
            version.as_str()
        );
        assert_eq!(second_add["netns"], node.path().display().to_string());
        // DEL carries the cached result from 0.4.0 on.
        let last_del = &records[records.len() - 1].1;
        assert_eq!(
            last_del["config"].get("prevResult").is_some(),
            version >= Version::V0_4_0
        );
    }
}

#[test]
fn answers_version_and_about_like_a_go_plugin() {
    let scratch = Scratch::new("version");
    let info = block(scratch.runtime().version_info("passthrough")).unwrap();
    let all: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(info.supported_versions, all);
    let out = Command::new(env!("CARGO_BIN_EXE_passthrough"))
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let about = String::from_utf8(out.stderr).unwrap();
    assert!(about.starts_with("passthrough "), "{about}");
    assert!(
        about.ends_with(
            "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n"
        ),
        "{about}"
    );
}

#[test]
fn errors_from_the_real_process_keep_their_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_passthrough"))
        .env_clear()
        .env("CNI_COMMAND", "CHECK")
        .env("CNI_CONTAINERID", "c")
        .env("CNI_NETNS", "/nonexistent")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/nonexistent")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], 6, "{err}");
    assert!(
        err["msg"]
            .as_str()
            .unwrap()
            .starts_with("error unmarshall network config")
    );
}

fn ip_forward(node: &TestNode) -> String {
    let out = node
        .command("cat")
        .arg("/proc/sys/net/ipv4/ip_forward")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Ours first, then Go's `tuning` (it needs a prevResult), then ours again after it: for every
/// version both speak (the Go plugins here support up to 1.0.0).
#[test]
fn chained_with_the_go_tuning_plugin_before_and_after_it() {
    assert!(
        Path::new(GO_PLUGINS).join("tuning").is_file(),
        "the Go reference plugins are expected in {GO_PLUGINS}"
    );
    let scratch = Scratch::new("tuning");
    let runtime = scratch.runtime();
    for version in Version::ALL.into_iter().filter(|v| *v <= Version::V1_0_0) {
        let node = TestNode::new();
        assert_eq!(ip_forward(&node), "0");
        let record = scratch.path(&format!("tuning-{version}"));
        let list = NetConfList::from_value(json!({
            "cniVersion": version.as_str(), "name": "tunenet",
            "plugins": [
                {"type": "passthrough", "result": first_result(node.path(), "lo")},
                {"type": "tuning", "sysctl": {"net.ipv4.ip_forward": "1"}},
                {"type": "passthrough", "record": record}
            ]
        }))
        .unwrap();
        let rt = RuntimeConf::new("ctr-tuning", node.path().display().to_string(), "lo");
        let result = block(runtime.add_network_list(&list, &rt))
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(result.version(), version);
        assert_eq!(
            ip_forward(&node),
            "1",
            "tuning applied its sysctl in the namespace ({version})"
        );
        // Our plugin after tuning saw tuning's result (our first result, passed on) as prevResult.
        let records = scratch.records(&format!("tuning-{version}"));
        let prev = &records[0].1["config"]["prevResult"];
        assert_eq!(prev["cniVersion"], version.as_str(), "{prev}");
        let ip = if version <= Version::V0_2_0 {
            &prev["ip4"]["ip"]
        } else {
            &prev["ips"][0]["address"]
        };
        assert_eq!(ip, "10.22.0.5/16", "{prev}");
        if version >= Version::V0_4_0 {
            block(runtime.check_network_list(&list, &rt))
                .unwrap_or_else(|e| panic!("{version}: {e}"));
        }
        block(runtime.del_network_list(&list, &rt)).unwrap_or_else(|e| panic!("{version}: {e}"));
        let verbs: Vec<String> = scratch
            .records(&format!("tuning-{version}"))
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let expected = if version >= Version::V0_4_0 {
            vec!["ADD", "CHECK", "DEL"]
        } else {
            vec!["ADD", "DEL"]
        };
        assert_eq!(verbs, expected, "{version}");
    }
}

#[test]
fn the_cnitool_example_runs_a_network_from_a_config_directory() {
    let scratch = Scratch::new("cnitool");
    let node = TestNode::new();
    let netconf = scratch.path("net.d");
    std::fs::create_dir_all(&netconf).unwrap();
    let record = scratch.path("cnitool-calls");
    std::fs::write(
        netconf.join("10-pass.conflist"),
        json!({"cniVersion": "1.1.0", "name": "toolnet", "plugins": [
            {"type": "passthrough", "record": record, "result": first_result(node.path(), "net1"),
             "capabilities": {"mac": true}}]})
        .to_string(),
    )
    .unwrap();
    let netns = node.path().display().to_string();
    let cnitool = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cnitool"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("CNI_PATH", scratch.path("bin"))
            .env("NETCONFPATH", &netconf)
            .env("CNI_CACHE_DIR", scratch.path("cache"))
            .env("CNI_ARGS", "K8S_POD_NAME=web")
            .env(
                "CAP_ARGS",
                r#"{"mac":"c2:11:22:33:44:55","portMappings":[]}"#,
            )
            .output()
            .unwrap()
    };
    let out = cnitool(&["-i", "net1", "add", "toolnet", &netns]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["ips"][0]["address"], "10.22.0.5/16");
    let cached: Vec<_> = std::fs::read_dir(scratch.path("cache/results"))
        .unwrap()
        .collect();
    assert_eq!(cached.len(), 1);
    for args in [
        ["check", "toolnet"],
        ["status", "toolnet"],
        ["gc", "toolnet"],
    ] {
        let out = cnitool(&["-i", "net1", args[0], args[1], &netns]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // gc without valid attachments deleted the cached attachment; a DEL after it is still fine.
    let out = cnitool(&["-i", "net1", "del", "toolnet", &netns]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = scratch.records("cnitool-calls");
    let verbs: Vec<&str> = records.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(verbs, ["ADD", "CHECK", "STATUS", "DEL", "GC", "DEL"]);
    let add = &records[0].1;
    assert!(add["containerId"].as_str().unwrap().starts_with("cnitool-"));
    assert_eq!(add["ifname"], "net1");
    assert_eq!(add["args"], "K8S_POD_NAME=web");
    assert_eq!(
        add["config"]["runtimeConfig"],
        json!({"mac": "c2:11:22:33:44:55"})
    );
    let out = cnitool(&["add", "nosuchnet", &netns]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no net configuration with name \"nosuchnet\"")
    );
}

/// `CNI_RS_LOG` turns logging on, `CNI_RS_LOG_FILE` sends it to a file; stdout stays the result.
#[test]
fn logging_goes_to_stderr_or_a_file_never_stdout() {
    let scratch = Scratch::new("logging");
    let log = scratch.path("plugin.log");
    let config = br#"{"cniVersion":"1.0.0","name":"lognet","type":"passthrough"}"#;
    let run = |extra: &[(&str, &Path)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_passthrough"));
        cmd.env_clear()
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", "ctr-log")
            .env("CNI_NETNS", "/nonexistent/netns")
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", scratch.path("bin"))
            .env("CNI_RS_LOG", "debug")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), config).unwrap();
        child.wait_with_output().unwrap()
    };
    let to_stderr = run(&[]);
    assert!(to_stderr.status.success());
    let result: Value = serde_json::from_slice(&to_stderr.stdout).unwrap();
    assert_eq!(result["cniVersion"], "1.0.0");
    let stderr = String::from_utf8(to_stderr.stderr).unwrap();
    assert!(
        stderr.contains("plugin call") && stderr.contains("ctr-log"),
        "{stderr}"
    );

    let to_file = run(&[("CNI_RS_LOG_FILE", &log)]);
    assert!(to_file.status.success());
    assert!(to_file.stderr.is_empty());
    assert_eq!(
        serde_json::from_slice::<Value>(&to_file.stdout).unwrap(),
        result
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("DEBUG") && logged.contains("plugin call"),
        "{logged}"
    );
}
