//! The runtime side against fake plugins (shell scripts that log every call): chain order,
//! prevResult passing, the result cache, disableCheck/disableGC, GC and STATUS rules, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cni_skel::{CniEnv, CniRuntime, RuntimeConf, SkelError};
use cni_types::{ErrorCode, GcAttachment, NetConfList};
use serde_json::{Value, json};

struct Lab {
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One logged call: plugin name, verb, the CNI_* values and the parsed stdin.
#[derive(Debug)]
struct Call {
    plugin: String,
    verb: String,
    container: String,
    ifname: String,
    netns: String,
    path: String,
    stdin: Value,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("cni-skel-rt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        Lab { dir }
    }

    /// A fake plugin `name`: logs each call; ADD prints a 1.0.0 result naming it with address
    /// 10.0.0.`n`/24; VERSION answers; when its config has `"fail":"<VERB>"` that verb fails with
    /// `"code"` (default 7); `"sleep"` makes it hang; `"slow":"<VERB>"` makes that verb take 0.3 s
    /// and log `DONE-<VERB>` when it ends.
    fn plugin(&self, name: &str, n: u8) {
        let log = self.dir.join("log");
        let script = format!(
            r#"#!/bin/sh
stdin=$(/bin/cat)
printf '%s|%s|%s|%s|%s|%s\n' {name} "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_IFNAME" "$CNI_NETNS" "$CNI_PATH" >> {log}
printf '%s\n' "$stdin" >> {log}
case "$stdin" in *'"sleep":true'*) exec /bin/sleep 30;; esac
case "$stdin" in *"\"slow\":\"$CNI_COMMAND\""*)
  /bin/sleep 0.3; printf '%s|DONE-%s|||||\n{{}}\n' {name} "$CNI_COMMAND" >> {log};; esac
case "$stdin" in *"\"fail\":\"$CNI_COMMAND\""*)
  code=7; case "$stdin" in *'"code":50'*) code=50;; esac
  printf '{{"code":%s,"msg":"{name} refused %s"}}' $code "$CNI_COMMAND"; exit 1;; esac
case "$CNI_COMMAND" in
  ADD) printf '{{"cniVersion":"1.0.0","interfaces":[{{"name":"{name}"}}],"ips":[{{"address":"10.0.0.{n}/24"}}]}}';;
  VERSION) printf '{{"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}}';;
esac
"#,
            log = log.display()
        );
        let path = self.dir.join("bin").join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn runtime(&self) -> CniRuntime {
        CniRuntime::new(vec![self.dir.join("missing"), self.dir.join("bin")])
            .with_cache_dir(self.dir.join("cache"))
            .with_env(CniEnv::from_vars([("PATH", "/usr/bin:/bin")]))
    }

    fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .map(|pair| {
                let f: Vec<&str> = pair[0].split('|').collect();
                Call {
                    plugin: f[0].into(),
                    verb: f[1].into(),
                    container: f[2].into(),
                    ifname: f[3].into(),
                    netns: f[4].into(),
                    path: f[5].into(),
                    stdin: serde_json::from_str(pair.get(1).copied().unwrap_or("null")).unwrap(),
                }
            })
            .collect()
    }

    fn sequence(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| format!("{} {}", c.verb, c.plugin))
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.dir.join("log"));
    }

    fn cache_file(&self, net: &str, cid: &str, ifname: &str) -> PathBuf {
        self.dir
            .join("cache/results")
            .join(format!("{net}-{cid}-{ifname}"))
    }
}

fn list(value: Value) -> NetConfList {
    NetConfList::from_value(value).unwrap()
}

fn three(version: &str) -> NetConfList {
    list(json!({
        "cniVersion": version, "name": "net",
        "plugins": [
            {"type": "a", "capabilities": {"portMappings": true, "mac": false}, "keep": {"x": 1}},
            {"type": "b"},
            {"type": "c", "capabilities": {"mac": true}}
        ]
    }))
}

fn attachment() -> RuntimeConf {
    let mut rt = RuntimeConf::new("ctr1", "/run/netns/ctr1", "eth0");
    rt.args = vec![("K8S_POD_NAME".into(), "pod".into())];
    rt.capability_args.insert(
        "portMappings".into(),
        json!([{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]),
    );
    rt.capability_args
        .insert("mac".into(), json!("c2:11:22:33:44:55"));
    rt
}

fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn setup(tag: &str) -> Lab {
    let lab = Lab::new(tag);
    lab.plugin("a", 1);
    lab.plugin("b", 2);
    lab.plugin("c", 3);
    lab
}

#[test]
fn add_runs_the_chain_in_order_with_prev_result_and_caches_the_final_result() {
    let lab = setup("add");
    let rt = lab.runtime();
    let result = block(rt.add_network_list(&three("1.0.0"), &attachment())).unwrap();
    assert_eq!(result.to_current().interfaces[0].name, "c");
    assert_eq!(lab.sequence(), ["ADD a", "ADD b", "ADD c"]);
    let calls = lab.calls();
    for call in &calls {
        assert_eq!(
            (call.container.as_str(), call.ifname.as_str()),
            ("ctr1", "eth0")
        );
        assert_eq!(call.netns, "/run/netns/ctr1");
        assert!(call.path.ends_with("/bin"), "{}", call.path);
        assert_eq!(call.stdin["name"], "net");
        assert_eq!(call.stdin["cniVersion"], "1.0.0");
    }
    // First plugin: no prevResult; its enabled, supplied capability becomes runtimeConfig.
    assert!(calls[0].stdin.get("prevResult").is_none());
    assert_eq!(
        calls[0].stdin["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]})
    );
    assert_eq!(
        calls[0].stdin["keep"],
        json!({"x": 1}),
        "unknown keys pass through"
    );
    // Then each gets the previous plugin's result.
    assert_eq!(calls[1].stdin["prevResult"]["interfaces"][0]["name"], "a");
    assert!(calls[1].stdin.get("runtimeConfig").is_none());
    assert_eq!(calls[2].stdin["prevResult"]["interfaces"][0]["name"], "b");
    assert_eq!(
        calls[2].stdin["runtimeConfig"],
        json!({"mac": "c2:11:22:33:44:55"})
    );
    // The cache, in libcni's layout.
    let cached: Value =
        serde_json::from_slice(&std::fs::read(lab.cache_file("net", "ctr1", "eth0")).unwrap())
            .unwrap();
    assert_eq!(cached["kind"], "cniCacheV1");
    assert_eq!(cached["netns"], "/run/netns/ctr1");
    assert_eq!(cached["cniArgs"], json!([["K8S_POD_NAME", "pod"]]));
    assert_eq!(cached["result"]["interfaces"][0]["name"], "c");
    assert_eq!(
        block(async { rt.cached_result(&three("1.0.0"), &attachment()) })
            .unwrap()
            .unwrap(),
        result
    );
}

#[test]
fn add_failure_halts_the_chain_keeps_the_code_and_writes_no_cache() {
    let lab = setup("addfail");
    let mut conf = three("1.0.0");
    conf.plugins[1].insert("fail".into(), json!("ADD"));
    let err = block(lab.runtime().add_network_list(&conf, &attachment())).unwrap_err();
    assert_eq!(lab.sequence(), ["ADD a", "ADD b"]);
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert_eq!(
        err.to_string(),
        r#"plugin type="b" name="net" failed (add): b refused ADD"#
    );
    assert!(!lab.cache_file("net", "ctr1", "eth0").exists());
}

#[test]
fn add_validates_the_attachment_first() {
    let lab = setup("validate");
    let rt = lab.runtime();
    let mut bad = attachment();
    bad.container_id = String::new();
    let err = block(rt.add_network_list(&three("1.0.0"), &bad)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownContainer);
    bad.container_id = "bad/id".into();
    assert_eq!(
        block(rt.add_network_list(&three("1.0.0"), &bad))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidEnvironment
    );
    let mut bad = attachment();
    bad.ifname = "a-much-too-long-ifname".into();
    assert_eq!(
        block(rt.add_network_list(&three("1.0.0"), &bad))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidEnvironment
    );
    assert!(lab.calls().is_empty());
}

#[test]
fn del_runs_in_reverse_with_the_cached_result_and_removes_the_cache() {
    let lab = setup("del");
    let rt = lab.runtime();
    let conf = three("1.0.0");
    block(rt.add_network_list(&conf, &attachment())).unwrap();
    lab.clear_log();
    block(rt.del_network_list(&conf, &attachment())).unwrap();
    assert_eq!(lab.sequence(), ["DEL c", "DEL b", "DEL a"]);
    for call in lab.calls() {
        assert_eq!(
            call.stdin["prevResult"]["interfaces"][0]["name"], "c",
            "final ADD result"
        );
    }
    assert!(!lab.cache_file("net", "ctr1", "eth0").exists());
    // A second DEL still runs every plugin, without prevResult, and succeeds.
    lab.clear_log();
    block(rt.del_network_list(&conf, &attachment())).unwrap();
    let calls = lab.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.stdin.get("prevResult").is_none()));
}

#[test]
fn del_before_0_4_0_sends_no_prev_result_and_tolerates_a_corrupt_cache() {
    let lab = setup("delold");
    let rt = lab.runtime();
    block(rt.add_network_list(&three("0.3.1"), &attachment())).unwrap();
    lab.clear_log();
    block(rt.del_network_list(&three("0.3.1"), &attachment())).unwrap();
    assert!(
        lab.calls()
            .iter()
            .all(|c| c.stdin.get("prevResult").is_none())
    );
    assert!(!lab.cache_file("net", "ctr1", "eth0").exists());

    let conf = three("1.0.0");
    block(rt.add_network_list(&conf, &attachment())).unwrap();
    std::fs::write(lab.cache_file("net", "ctr1", "eth0"), b"{corrupt").unwrap();
    let err = block(rt.check_network_list(&conf, &attachment())).unwrap_err();
    assert!(matches!(err, SkelError::CacheCorrupt { .. }), "{err}");
    lab.clear_log();
    block(rt.del_network_list(&conf, &attachment())).unwrap();
    assert_eq!(lab.calls().len(), 3);
    assert!(!lab.cache_file("net", "ctr1", "eth0").exists());
}

#[test]
fn check_rules() {
    let lab = setup("check");
    let rt = lab.runtime();
    let conf = three("1.0.0");
    let err = block(rt.check_network_list(&conf, &attachment())).unwrap_err();
    assert!(err.to_string().contains("it was not added"), "{err}");
    block(rt.add_network_list(&conf, &attachment())).unwrap();
    lab.clear_log();
    block(rt.check_network_list(&conf, &attachment())).unwrap();
    assert_eq!(lab.sequence(), ["CHECK a", "CHECK b", "CHECK c"]);
    assert!(
        lab.calls()
            .iter()
            .all(|c| c.stdin["prevResult"]["interfaces"][0]["name"] == "c")
    );

    let mut disabled = conf.clone();
    disabled.disable_check = true;
    lab.clear_log();
    block(rt.check_network_list(&disabled, &attachment())).unwrap();
    assert!(lab.calls().is_empty(), "disableCheck executes nothing");

    let err = block(rt.check_network_list(&three("0.3.1"), &attachment())).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"configuration version "0.3.1" does not support the CHECK command"#
    );
}

#[test]
fn status_stops_at_the_first_error_and_keeps_its_code() {
    let lab = setup("status");
    let rt = lab.runtime();
    let mut conf = three("1.1.0");
    conf.plugins[1].insert("fail".into(), json!("STATUS"));
    conf.plugins[1].insert("code".into(), json!(50));
    let err = block(rt.status_network_list(&conf)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PluginNotAvailable);
    assert_eq!(cni_types::CniError::from(err).msg, "b refused STATUS");
    assert_eq!(lab.sequence(), ["STATUS a", "STATUS b"]);
    let calls = lab.calls();
    assert_eq!(calls[0].container, "", "STATUS has no attachment");
    assert_eq!(calls[0].stdin["cniVersion"], "1.1.0");
    lab.clear_log();
    block(rt.status_network_list(&three("1.0.0"))).unwrap();
    assert!(lab.calls().is_empty(), "no STATUS before 1.1.0");
}

#[test]
fn gc_deletes_stale_cached_attachments_then_gcs_every_plugin() {
    let lab = Lab::new("gc");
    lab.plugin("a", 1);
    let rt = lab.runtime();
    let conf = list(json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "a"}]}));
    block(rt.add_network_list(&conf, &attachment())).unwrap();

    let mut disabled = conf.clone();
    disabled.disable_gc = true;
    block(rt.gc_network_list(&disabled, None)).unwrap();
    assert_eq!(lab.sequence(), ["ADD a"], "disableGC executes nothing");

    let valid = [GcAttachment::new("ctr1", "eth0")];
    block(rt.gc_network_list(&conf, Some(&valid))).unwrap();
    block(rt.gc_network_list(&conf, None)).unwrap();
    assert_eq!(lab.sequence(), ["ADD a", "GC a", "DEL a", "GC a"]);
    let calls = lab.calls();
    assert_eq!(
        calls[1].stdin["cni.dev/valid-attachments"],
        json!([{"containerID": "ctr1", "ifname": "eth0"}])
    );
    assert_eq!(
        calls[1].stdin["cni.dev/attachments"],
        json!([{"containerID": "ctr1", "ifname": "eth0"}])
    );
    assert_eq!(calls[1].container, "");
    // The stale attachment is deleted with what was cached at ADD.
    assert_eq!(
        (calls[2].container.as_str(), calls[2].netns.as_str()),
        ("ctr1", "/run/netns/ctr1")
    );
    assert_eq!(calls[2].stdin["prevResult"]["interfaces"][0]["name"], "a");
    assert_eq!(calls[3].stdin["cni.dev/valid-attachments"], json!([]));
    assert!(!lab.cache_file("net", "ctr1", "eth0").exists());
}

#[test]
fn gc_continues_past_failures_and_reports_them_all() {
    let lab = setup("gcfail");
    let rt = lab.runtime();
    let mut conf = three("1.1.0");
    conf.plugins[0].insert("fail".into(), json!("GC"));
    conf.plugins[2].insert("fail".into(), json!("GC"));
    let err = block(rt.gc_network_list(&conf, Some(&[]))).unwrap_err();
    assert_eq!(lab.sequence(), ["GC a", "GC b", "GC c"]);
    let SkelError::Multiple(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 2);
    assert!(
        err.to_string().contains("a refused GC") && err.to_string().contains("c refused GC"),
        "{err}"
    );
    // Before 1.1.0 only the stale-attachment DELs happen.
    lab.clear_log();
    block(rt.gc_network_list(&three("1.0.0"), None)).unwrap();
    assert!(lab.calls().is_empty());
}

#[test]
fn a_hanging_plugin_is_killed_at_the_timeout_for_every_verb() {
    let lab = setup("timeout");
    let rt = lab.runtime().with_timeout(Duration::from_millis(300));
    let conf = three("1.1.0");
    block(rt.add_network_list(&conf, &attachment())).unwrap();
    let mut hanging = conf.clone();
    hanging.plugins[1].insert("sleep".into(), json!(true));
    let start = Instant::now();
    let results = [
        block(rt.add_network_list(&hanging, &attachment())).map(drop),
        block(rt.check_network_list(&hanging, &attachment())),
        block(rt.status_network_list(&hanging)),
        block(rt.gc_network_list(&hanging, Some(&[GcAttachment::new("ctr1", "eth0")]))),
        block(rt.del_network_list(&hanging, &attachment())),
    ];
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    for result in results {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, SkelError::Chain { plugin_type, source, .. }
                if plugin_type == "b" && matches!(**source, SkelError::Timeout { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("timed out"), "{err}");
    }
}

#[test]
fn missing_plugin_and_version_validation() {
    let lab = setup("missing");
    let rt = lab.runtime();
    let conf = list(
        json!({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "a"}, {"type": "nope"}]}),
    );
    let err = block(rt.add_network_list(&conf, &attachment())).unwrap_err();
    assert!(
        err.to_string().contains(r#"failed to find plugin "nope""#),
        "{err}"
    );
    let err = block(rt.validate_network_list(&conf)).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let caps = block(rt.validate_network_list(&three("1.0.0"))).unwrap();
    assert_eq!(caps, ["mac", "portMappings"]);
    let err = block(rt.validate_network_list(&three("1.1.0"))).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"does not support config version "1.1.0""#),
        "{err}"
    );
    let info = block(rt.version_info("a")).unwrap();
    assert!(info.supported_versions.contains(&"0.4.0".to_owned()));
}

#[test]
fn concurrent_attachments_then_gc_of_the_stale_ones() {
    let lab = Lab::new("concurrent");
    lab.plugin("a", 1);
    let rt = lab.runtime();
    let conf = list(json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "a"}]}));
    block(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let (rt, conf) = (rt.clone(), conf.clone());
            tasks.spawn(async move {
                let attachment =
                    RuntimeConf::new(format!("ctr-{i}"), format!("/run/netns/{i}"), "eth0");
                rt.add_network_list(&conf, &attachment).await
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap().unwrap();
        }
    });
    let cached = rt.cached_attachments(None).unwrap();
    assert_eq!(cached.len(), 32);
    // An attachment of another network, which this network's GC must not touch.
    let other = list(json!({"cniVersion": "1.1.0", "name": "other", "plugins": [{"type": "a"}]}));
    block(rt.add_network_list(&other, &RuntimeConf::new("ctr-1", "/run/netns/1", "eth1"))).unwrap();
    assert!(
        cached
            .iter()
            .all(|a| a.netns == format!("/run/netns/{}", &a.container_id[4..]))
    );
    lab.clear_log();
    let valid: Vec<GcAttachment> = (0..32)
        .step_by(2)
        .map(|i| GcAttachment::new(format!("ctr-{i}"), "eth0"))
        .collect();
    block(rt.gc_network_list(&conf, Some(&valid))).unwrap();
    let remaining: Vec<String> = rt
        .cached_attachments(None)
        .unwrap()
        .into_iter()
        .map(|a| a.container_id)
        .collect();
    assert_eq!(remaining.len(), 17);
    assert!(valid.iter().all(|v| remaining.contains(&v.container_id)));
    let log = std::fs::read_to_string(lab.dir.join("log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("a|DEL|ctr-")).count(),
        16
    );
    assert_eq!(log.lines().filter(|l| l.starts_with("a|GC|")).count(), 1);
    let ctr1: Vec<String> = rt
        .cached_attachments(Some("ctr-1"))
        .unwrap()
        .into_iter()
        .map(|a| a.network)
        .collect();
    assert_eq!(ctr1, ["other"]);
}

#[test]
fn del_without_a_cache_key_still_runs_the_plugins() {
    let lab = setup("nokey");
    let rt = lab.runtime();
    // No interface name: nothing can be cached or looked up, but DEL is best effort.
    let attachment = RuntimeConf::new("ctr1", "", "");
    block(rt.del_network_list(&three("1.0.0"), &attachment)).unwrap();
    assert_eq!(lab.sequence(), ["DEL c", "DEL b", "DEL a"]);
}

#[test]
fn gc_is_exclusive_an_add_waits_for_it() {
    let lab = Lab::new("exclusive");
    lab.plugin("a", 1);
    let rt = lab.runtime();
    let conf = list(
        json!({"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "a", "slow": "GC"}]}),
    );
    block(async {
        let mut tasks = tokio::task::JoinSet::new();
        let (gc_rt, gc_conf) = (rt.clone(), conf.clone());
        tasks.spawn(async move { gc_rt.gc_network_list(&gc_conf, Some(&[])).await });
        let (add_rt, add_conf) = (rt.clone(), conf.clone());
        tasks.spawn(async move {
            add_rt
                .add_network_list(&add_conf, &attachment())
                .await
                .map(drop)
        });
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap().unwrap();
        }
    });
    // The ADD started only after the GC had finished.
    assert_eq!(lab.sequence(), ["GC a", "DONE-GC a", "ADD a"]);
}
