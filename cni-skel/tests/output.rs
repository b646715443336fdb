//! The result is written in the config's `cniVersion`, for every spec version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_skel::CniEnv;
use cni_types::Version;
use common::{Recorder, config, full_env};
use serde_json::Value;

fn add_stdout(plugin: &Recorder, stdin: &[u8]) -> Value {
    let env = CniEnv::from_vars(full_env("ADD"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(plugin, env, &mut &stdin[..], &mut out, &mut err);
    assert_eq!(status, 0, "{}", String::from_utf8_lossy(&out));
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn result_is_converted_to_each_config_version() {
    let plugin = Recorder::new();
    for version in Version::ALL {
        let json = add_stdout(&plugin, &config(version.as_str()));
        assert_eq!(json["cniVersion"], version.as_str());
        match version {
            Version::V0_1_0 | Version::V0_2_0 => {
                assert_eq!(json["ip4"]["ip"], "10.1.2.3/24", "{json}");
                assert_eq!(json["ip4"]["gateway"], "10.1.2.1");
                assert!(json.get("interfaces").is_none());
            }
            Version::V0_3_0 | Version::V0_3_1 | Version::V0_4_0 => {
                assert_eq!(json["ips"][0]["version"], "4", "{json}");
                assert_eq!(json["interfaces"][0]["name"], "eth0");
            }
            Version::V1_0_0 | Version::V1_1_0 => {
                assert!(json["ips"][0].get("version").is_none(), "{json}");
                assert_eq!(json["ips"][0]["address"], "10.1.2.3/24");
            }
        }
    }
}

#[test]
fn prev_result_passes_through_unchanged_in_every_version() {
    let plugin = Recorder::new();
    for version in Version::ALL {
        // The first run produces a result in this version; feed it back as prevResult.
        let first = add_stdout(&plugin, &config(version.as_str()));
        let mut chained: Value = serde_json::from_slice(&config(version.as_str())).unwrap();
        chained["prevResult"] = first.clone();
        let second = add_stdout(&plugin, chained.to_string().as_bytes());
        assert_eq!(second, first, "{version}");
    }
}

#[test]
fn output_is_indented_like_the_reference() {
    let env = CniEnv::from_vars(full_env("ADD"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let stdin = config("1.0.0");
    cni_skel::run_with(&Recorder::new(), env, &mut &stdin[..], &mut out, &mut err);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("{\n    \"cniVersion\": \"1.0.0\""),
        "{text}"
    );
    assert!(err.is_empty(), "nothing on stderr by default");
}
