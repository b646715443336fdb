//! Bad input to the plugin entry point always gives the right spec code, a clear message, an
//! error JSON on stdout and exit status 1, and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_skel::CniEnv;
use cni_types::ErrorCode;
use common::{Recorder, call, config, env_of, error, full_env};
use proptest::prelude::*;

fn add_error(stdin: &[u8]) -> cni_types::CniError {
    error(call(&Recorder::new(), &env_of(&full_env("ADD")), stdin))
}

#[test]
fn garbage_config_is_a_decoding_failure() {
    for stdin in [
        &b""[..],
        b"garbage",
        b"{",
        b"[]",
        b"42",
        b"\"x\"",
        b"null",
        b"\xff\xfe",
    ] {
        let e = add_error(stdin);
        assert_eq!(e.code, ErrorCode::DecodingFailure, "{stdin:?}: {e}");
        assert!(
            e.msg.starts_with("error unmarshall network config: "),
            "{e}"
        );
    }
    let e = add_error(br#"{"cniVersion":"1.0.0","name":7,"type":"r"}"#);
    assert_eq!(e.code, ErrorCode::DecodingFailure, "{e}");
    let e = add_error(br#"{"cniVersion":1,"name":"n","type":"r"}"#);
    assert_eq!(e.code, ErrorCode::DecodingFailure, "{e}");
}

#[test]
fn missing_or_invalid_network_name() {
    let e = add_error(br#"{"cniVersion":"1.0.0","type":"r"}"#);
    assert_eq!(
        (e.code, e.msg.as_str()),
        (ErrorCode::InvalidConfig, "missing network name")
    );
    let e = add_error(br#"{"cniVersion":"1.0.0","name":"","type":"r"}"#);
    assert_eq!(e.code, ErrorCode::InvalidConfig);
    let e = add_error(br#"{"cniVersion":"1.0.0","name":"-bad","type":"r"}"#);
    assert_eq!(e.code, ErrorCode::InvalidConfig);
    assert_eq!(e.details, "-bad");
}

/// The first stage reads `name` and `cniVersion` of a config that repeats them as the whole
/// config is read: the last one counts.
#[test]
fn a_repeated_name_or_version_counts_once_the_last() {
    let e = add_error(br#"{"cniVersion":"1.0.0","name":"n","name":"-bad","type":"r"}"#);
    assert_eq!(
        (e.code, e.details.as_str()),
        (ErrorCode::InvalidConfig, "-bad")
    );
    let e = add_error(br#"{"cniVersion":"1.0.0","cniVersion":7,"name":"n","type":"r"}"#);
    assert_eq!(e.code, ErrorCode::DecodingFailure, "{e}");
    assert!(e.msg.contains("cniVersion"), "{e}");
}

#[test]
fn plugin_section_of_the_wrong_type_is_invalid_config() {
    let e = add_error(br#"{"cniVersion":"1.0.0","name":"n","type":"r","failWith":"soon"}"#);
    assert_eq!(e.code, ErrorCode::InvalidConfig, "{e}");
    assert!(
        e.msg.contains("failWith") || e.msg.contains("invalid type"),
        "{e}"
    );
    let e = add_error(br#"{"cniVersion":"1.0.0","name":"n","type":"r","ipam":"host-local"}"#);
    assert_eq!(e.code, ErrorCode::InvalidConfig, "{e}");
}

#[test]
fn invalid_cni_args_is_an_environment_error() {
    let mut vars = full_env("ADD");
    vars[4].1 = "novalue;K=V".into();
    let plugin = Recorder::new();
    let e = error(call(&plugin, &env_of(&vars), &config("1.0.0")));
    assert_eq!(e.code, ErrorCode::InvalidEnvironment);
    assert_eq!(e.msg, r#"ARGS: invalid pair "novalue""#);
    assert!(plugin.verbs().is_empty());
}

#[test]
fn own_network_namespace_is_refused_unless_overridden() {
    for verb in ["ADD", "DEL"] {
        let mut vars = full_env(verb);
        vars[2].1 = "/proc/thread-self/ns/net".into();
        let plugin = Recorder::new();
        let e = error(call(&plugin, &env_of(&vars), &config("1.0.0")));
        assert_eq!(e.code, ErrorCode::InvalidNetns);
        assert_eq!(
            e.msg,
            "plugin's netns and netns from CNI_NETNS should not be the same"
        );
        assert!(plugin.verbs().is_empty(), "refused before the plugin runs");
        vars.push(("CNI_NETNS_OVERRIDE", "TRUE".into()));
        assert!(
            call(&plugin, &env_of(&vars), &config("1.0.0"))
                .result
                .is_ok()
        );
    }
}

#[test]
fn a_result_that_cannot_be_written_in_the_config_version_is_an_error() {
    // A result without IP addresses has no 0.2.0 form.
    let mut plugin = Recorder::new();
    plugin.result = cni_types::Result100::default();
    let e = error(call(&plugin, &env_of(&full_env("ADD")), &config("0.2.0")));
    assert_eq!(e.msg, "cannot convert: no valid IP addresses");
}

#[test]
fn prev_result_of_another_format_is_reported_by_the_plugin() {
    let stdin = br#"{"cniVersion":"1.0.0","name":"n","type":"r",
        "prevResult":{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}}"#;
    let e = add_error(stdin);
    assert_eq!(e.code, ErrorCode::DecodingFailure);
    assert!(e.msg.starts_with("could not parse prevResult: "), "{e}");
}

#[test]
fn every_error_is_printed_as_json_with_exit_status_1() {
    type Case = (Vec<(&'static str, String)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (vec![], b"".to_vec()),
        (full_env("NOPE"), config("1.0.0")),
        (full_env("ADD"), b"nope".to_vec()),
        (full_env("GC"), config("0.4.0")),
        (full_env("ADD"), config("7.7.7")),
    ];
    for (vars, stdin) in cases {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = cni_skel::run_with(
            &Recorder::new(),
            CniEnv::from_vars(vars.iter().map(|(k, v)| (*k, v.clone()))),
            &mut &stdin[..],
            &mut out,
            &mut err,
        );
        assert_eq!(status, 1);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(json["code"].as_u64().is_some_and(|c| c > 0), "{json}");
        assert!(
            json["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        assert_eq!(json["cniVersion"], "1.1.0");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any environment and any stdin: no panic; success or a well-formed error JSON.
    #[test]
    fn never_panics(
        command in prop::sample::select(vec!["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION", "", "add", "X"]),
        container in "[ -~]{0,12}",
        ifname in "[ -~]{0,18}",
        args in "[ -~]{0,16}",
        version in prop::sample::select(vec!["", "0.1.0", "0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "2.0.0", "1.0", "x.y", "1.2.3.4"]),
        name in "[ -~]{0,10}",
        extra in prop::collection::vec(any::<u8>(), 0..64),
        json_stdin in any::<bool>(),
    ) {
        let stdin = if json_stdin {
            serde_json::json!({"cniVersion": version, "name": name, "type": "r",
                "prevResult": {"cniVersion": version, "ips": [{"address": "10.0.0.1/24"}]}})
                .to_string().into_bytes()
        } else {
            extra
        };
        let env = CniEnv::from_vars([
            ("CNI_COMMAND", command.to_owned()),
            ("CNI_CONTAINERID", container),
            ("CNI_NETNS", "/nonexistent/ns".to_owned()),
            ("CNI_IFNAME", ifname),
            ("CNI_ARGS", args),
            ("CNI_PATH", "/nonexistent".to_owned()),
        ]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = cni_skel::run_with(&Recorder::new(), env, &mut &stdin[..], &mut out, &mut err);
        prop_assert!(status <= 1);
        if status == 1 {
            let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert!(json["code"].as_u64().is_some());
        } else if !out.is_empty() {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
        }
    }
}
