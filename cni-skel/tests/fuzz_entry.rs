//! Bounded-time fuzzing of the plugin entry point (`run_with`) with a small plugin: random and
//! hostile `CNI_*` variables (missing, empty, with `/`, `..`, NUL, huge), and configs that are
//! arbitrary bytes or structure-aware mutations of the shared JSON fixtures. Whatever the input:
//! no panic, exit status 0 or 1, and on 1 a valid error JSON with a spec code and a message; on
//! 0 the output the verb calls for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use cni_skel::{AddRequest, CheckRequest, CniEnv, DelRequest, Plugin};
use cni_types::{CniError, CniResult, IpConfig, Result100, Version};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The plugin's own keys: typed, so wrong types reach its parser.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmallConf {
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    names: Vec<String>,
}

thread_local! {
    /// How many calls on this thread reached the plugin's ADD (the fuzzing must get past the
    /// skel's checks; `run_with` runs the plugin on the calling thread).
    static REACHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Adds `address` (if any) to the previous result; DEL and CHECK look at their inputs only.
struct Small;

#[async_trait]
impl Plugin for Small {
    type Config = SmallConf;

    async fn add(&self, req: AddRequest<SmallConf>) -> Result<CniResult, CniError> {
        REACHED.with(|r| r.set(r.get() + 1));
        let mut r = req
            .config
            .prev_result()?
            .map(|p| p.to_current())
            .unwrap_or_else(|| Result100::new(Version::CURRENT));
        if let Some(a) = &req.config.plugin.address {
            r.ips.push(IpConfig {
                interface: None,
                address: cni_types::net::parse_cidr(a)?,
                gateway: None,
            });
        }
        if req.config.plugin.mtu.is_some_and(|m| m < 68) {
            return Err(CniError::invalid_config("mtu below 68"));
        }
        let _ = req.config.plugin.names.len();
        Ok(r.into())
    }

    async fn del(&self, req: DelRequest<SmallConf>) -> Result<(), CniError> {
        let _ = req.config.prev_result()?;
        Ok(())
    }

    async fn check(&self, req: CheckRequest<SmallConf>) -> Result<(), CniError> {
        req.config
            .prev_result()?
            .map(drop)
            .ok_or_else(|| CniError::invalid_config("CHECK needs prevResult"))
    }
}

fn fixtures() -> &'static [Value] {
    static ALL: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        let v: Vec<Value> = paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect();
        assert!(v.len() >= 20);
        v
    })
}

const VERBS: [&str; 10] = [
    "ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS", "", "add", "FROB", "ADD\0",
];

fn hostile_string(pick: usize) -> String {
    let values = [
        "eth0".to_owned(),
        "c1".to_owned(),
        String::new(),
        "a/b".to_owned(),
        "..".to_owned(),
        "../../etc".to_owned(),
        "a\0b".to_owned(),
        "a b".to_owned(),
        "x".repeat(5000),
        "é".repeat(9),
        "IgnoreUnknown=1;IP=10.0.0.300".to_owned(),
        "K8S_POD_NAME=a;=;==".to_owned(),
        "/proc/self/ns/net".to_owned(),
        "/nonexistent".to_owned(),
        "/usr/lib/cni:/nonexistent:".to_owned(),
    ];
    values[pick % values.len()].clone()
}

/// The environment: each variable present with a plausible or hostile value, or missing.
fn env_of(verb: usize, vals: &[(u8, usize); 5]) -> CniEnv {
    let names = [
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CNI_PATH",
    ];
    let plausible = ["c1", "/var/run/netns/x", "eth0", "", "/usr/lib/cni"];
    // Half the calls are ADDs, the rest any verb (or none, or garbage).
    let verb = if verb.is_multiple_of(2) {
        "ADD"
    } else {
        VERBS[(verb / 2) % VERBS.len()]
    };
    let mut vars = vec![("CNI_COMMAND".to_owned(), verb.to_owned())];
    for (i, (roll, pick)) in vals.iter().enumerate() {
        // About one variable in five is hostile, so that many calls reach the plugin.
        let hostile = *roll < 50;
        let value = if hostile {
            hostile_string(*pick)
        } else {
            plausible[i].to_owned()
        };
        // One in sixteen hostile picks drops the variable instead.
        if !(hostile && pick % 16 == 0) {
            vars.push((names[i].to_owned(), value));
        }
    }
    CniEnv::from_vars(vars)
}

fn mutate(doc: &mut Value, op: u8, key: usize, pick: usize) {
    let keys = [
        "cniVersion",
        "name",
        "type",
        "prevResult",
        "mtu",
        "address",
        "names",
        "ipam",
        "dns",
        "runtimeConfig",
        "args",
        "cni.dev/valid-attachments",
    ];
    let k = keys[key % keys.len()];
    let Value::Object(m) = doc else {
        return;
    };
    match op % 4 {
        0 => {
            m.remove(k);
        }
        1 => {
            let v = [
                json!(null),
                json!(7),
                json!(-1),
                json!(u64::MAX),
                json!(1e300),
                json!("9.9.9"),
                json!("1.1.0"),
                json!("0.2.0"),
                json!("a/b"),
                json!("10.0.0.1/24"),
                json!("10.0.0.1/99"),
                json!([]),
                json!({}),
                json!(["x", "y", "z"]),
                json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}),
                json!({"cniVersion": "1.0.0", "ips": [{"address": 5}]}),
                json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24"}}),
            ];
            m.insert(k.to_owned(), v[pick % v.len()].clone());
        }
        2 => {
            if let Some(other) = fixtures().get(pick % fixtures().len()) {
                m.insert(k.to_owned(), other.clone());
            }
        }
        _ => {
            if let Some(Value::String(s)) = m.get_mut(k) {
                s.truncate(pick % (s.len() + 1));
                if !s.is_char_boundary(s.len()) {
                    s.clear();
                }
            }
        }
    }
}

/// Runs the entry point and checks the protocol invariants.
fn check(env: CniEnv, stdin: &[u8]) {
    let verb = env.get("CNI_COMMAND").unwrap_or_default().to_owned();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(&Small, env, &mut &stdin[..], &mut out, &mut err);
    let text = String::from_utf8_lossy(&out);
    match status {
        0 => match verb.as_str() {
            "ADD" => {
                let v: Value = serde_json::from_slice(&out)
                    .unwrap_or_else(|e| panic!("ADD result is not JSON ({e}): {text}"));
                assert!(v["cniVersion"].is_string(), "{v}");
            }
            "VERSION" => {
                let v: Value = serde_json::from_slice(&out).unwrap();
                assert!(v["supportedVersions"].is_array(), "{v}");
            }
            "DEL" | "CHECK" | "GC" | "STATUS" => {
                assert!(out.is_empty(), "{verb} printed {text}");
            }
            other => panic!("verb {other:?} succeeded: {text}"),
        },
        1 => {
            let v: Value = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("error output is not JSON ({e}): {text}"));
            let code = v["code"].as_u64().unwrap_or_else(|| panic!("no code: {v}"));
            assert!(
                matches!(code, 1..=8 | 11 | 50 | 51 | 999),
                "code {code}: {v}"
            );
            assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
            assert!(v["cniVersion"].is_string(), "{v}");
        }
        other => panic!("exit status {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_config_bytes(
        verb in 0usize..12,
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        check(env_of(verb, &[(255, 0); 5]), &bytes);
    }
}

#[test]
fn hostile_environment_and_mutated_fixtures() {
    use proptest::test_runner::{Config, TestRunner};
    let strategy = (
        any::<usize>(),
        any::<[(u8, usize); 5]>(),
        any::<usize>(),
        proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 0..5),
        0usize..9,
    );
    let mut runner = TestRunner::new(Config {
        cases: 1500,
        failure_persistence: None,
        ..Config::default()
    });
    REACHED.with(|r| r.set(0));
    runner
        .run(&strategy, |(verb, vals, index, ops, version)| {
            let mut doc = fixtures()[index % fixtures().len()].clone();
            if let Value::Object(m) = &mut doc {
                // Most runs get a version the plugin speaks, so the plugin itself is reached.
                let v = [
                    "1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.3.0", "0.2.0", "0.1.0", "", "1.2.0",
                ];
                m.insert("cniVersion".into(), json!(v[version]));
            }
            for (op, key, pick) in ops {
                mutate(&mut doc, op, key, pick);
            }
            check(env_of(verb, &vals), &serde_json::to_vec(&doc).unwrap());
            Ok(())
        })
        .unwrap();
    let reached = REACHED.with(std::cell::Cell::get);
    assert!(
        reached >= 50,
        "only {reached} calls reached the plugin's ADD"
    );
    eprintln!("{reached} of 1500 calls reached the plugin's ADD");
}

#[test]
fn a_nul_in_any_variable_is_refused_or_harmless() {
    let conf = br#"{"cniVersion":"1.0.0","name":"n","type":"small"}"#;
    for var in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
        let mut env = env_of(0, &[(255, 0); 5]);
        assert_eq!(env.get("CNI_COMMAND"), Some("ADD"));
        env.set(var, "a\0b");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = cni_skel::run_with(&Small, env, &mut &conf[..], &mut out, &mut err);
        let v: Value = serde_json::from_slice(&out).unwrap();
        // The container id and ifname are checked by the skel (code 4); a netns path is only
        // the plugin's business, and this plugin never opens it.
        if var == "CNI_NETNS" {
            assert!(status == 0 || v["code"] == 4, "{var}: {v}");
        } else {
            assert_eq!((status, v["code"].as_u64()), (1, Some(4)), "{var}: {v}");
        }
    }
}
