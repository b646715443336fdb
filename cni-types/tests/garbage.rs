//! No input makes the crate panic: truncated JSON, wrong types, huge numbers, deep nesting and
//! random bytes all give errors with the right spec code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cni_types::{
    CniArgs, CniError, CniResult, ErrorCode, MacAddress, NetConf, NetConfList, NoPluginFields,
    RequestedIp, Version, VersionInfo, VersionNumber, validate,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 20);
    out
}

#[derive(serde::Deserialize, serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Bridge {
    #[serde(default)]
    bridge: String,
    #[serde(default)]
    mtu: Option<u32>,
}

/// Feeds `bytes` to every parser; returns nothing, it only must not panic.
fn parse_everything(bytes: &[u8]) {
    let _ = NetConf::<NoPluginFields>::from_slice(bytes);
    let _ = NetConf::<Bridge>::from_slice(bytes);
    let _ = NetConf::<Map<String, Value>>::from_slice(bytes);
    let _ = NetConfList::from_slice(bytes);
    for v in Version::ALL {
        if let Ok(r) = CniResult::from_slice(v, bytes) {
            for to in Version::ALL {
                let _ = r.convert_to(to);
            }
            let _ = r.to_vec_pretty();
        }
    }
    let _ = CniResult::from_slice_own_version(bytes);
    let _ = CniError::from_slice(bytes);
    let _ = VersionInfo::from_slice(bytes);
    if let Ok(conf) = NetConf::<NoPluginFields>::from_slice(bytes) {
        let _ = conf.prev_result();
        let _ = conf.version();
        let _ = conf.validate();
    }
    if let Ok(list) = NetConfList::from_slice(bytes) {
        for i in 0..list.plugins.len() + 1 {
            let _ = list.plugin_config(i, &Map::new(), None);
            let _ = list.gc_config(i, &[]);
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = CniArgs::parse(s);
        let _ = Version::parse(s);
        let _ = VersionNumber::parse(s);
        let _ = s.parse::<MacAddress>();
        let _ = s.parse::<RequestedIp>();
        let _ = validate::container_id(s);
        let _ = validate::interface_name(s);
        let _ = validate::network_name(s);
    }
}

#[test]
fn every_truncation_of_every_fixture_is_an_error_not_a_panic() {
    let mut checked = 0;
    // Fixtures that differ from another only in their version string add nothing here.
    let near_duplicates = ["bridge-0.", "result-0.1.0", "result-0.3."];
    for (name, bytes) in fixtures() {
        if near_duplicates.iter().any(|d| name.contains(d)) {
            continue;
        }
        for cut in 0..bytes.len() {
            let truncated = &bytes[..cut];
            let _ = NetConf::<Bridge>::from_slice(truncated);
            let _ = CniResult::from_slice(Version::V0_2_0, truncated);
            let _ = CniResult::from_slice(Version::V0_4_0, truncated);
            let _ = CniError::from_slice(truncated);
            let _ = VersionInfo::from_slice(truncated);
            // A config cut short (before its closing brace) is a decoding failure.
            let trimmed = String::from_utf8_lossy(&bytes).trim_end().len();
            if cut < trimmed {
                let err = NetConf::<NoPluginFields>::from_slice(truncated).unwrap_err();
                assert_eq!(err.code, ErrorCode::DecodingFailure, "{name} cut at {cut}");
                let err = CniResult::from_slice(Version::V1_0_0, truncated).unwrap_err();
                assert_eq!(err.code, ErrorCode::DecodingFailure, "{name} cut at {cut}");
                let err = NetConfList::from_slice(truncated).unwrap_err();
                assert_eq!(err.code, ErrorCode::DecodingFailure, "{name} cut at {cut}");
            }
            checked += 1;
        }
    }
    assert!(checked > 8_000, "{checked}");
}

#[test]
fn wrong_types_in_a_config_are_invalid_config() {
    let cases = [
        r#"[]"#,
        r#""a string""#,
        r#"{"name": 5}"#,
        r#"{"cniVersion": 1.0}"#,
        r#"{"type": ["bridge"]}"#,
        r#"{"ipMasq": "yes"}"#,
        r#"{"ipam": "host-local"}"#,
        r#"{"ipam": {"type": 7}}"#,
        r#"{"dns": {"nameservers": "8.8.8.8"}}"#,
        r#"{"capabilities": {"portMappings": "true"}}"#,
        r#"{"runtimeConfig": {"portMappings": [{"hostPort": "80", "containerPort": 80}]}}"#,
        r#"{"runtimeConfig": {"portMappings": [{"hostPort": 70000, "containerPort": 80}]}}"#,
        r#"{"runtimeConfig": {"mac": "not-a-mac"}}"#,
        r#"{"runtimeConfig": {"ips": ["10.0.0.1/99"]}}"#,
        r#"{"runtimeConfig": {"ipRanges": [[{"subnet": "10.0.0.0"}]]}}"#,
        r#"{"runtimeConfig": {"bandwidth": {"ingressRate": -1}}}"#,
        r#"{"args": {"cni": {"ips": "10.0.0.1"}}}"#,
        r#"{"cni.dev/valid-attachments": [{"containerID": 1, "ifname": "eth0"}]}"#,
        r#"{"cni.dev/attachments": {"containerID": "c"}}"#,
        r#"{"bridge": 5}"#,
        r#"{"mtu": 99999999999999999999999}"#,
        r#"{"mtu": -1}"#,
        r#"{"mtu": 1.5}"#,
    ];
    for case in cases {
        let err = NetConf::<Bridge>::from_slice(case.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig, "{case}: {err}");
        assert!(
            err.msg.starts_with("error unmarshall network config: "),
            "{case}"
        );
    }
}

#[test]
fn wrong_types_and_huge_numbers_in_results_are_decoding_failures() {
    let cases = [
        r#"[]"#,
        r#"null"#,
        r#"{"cniVersion": 1}"#,
        r#"{"interfaces": {}}"#,
        r#"{"interfaces": [{"name": 5}]}"#,
        r#"{"interfaces": [{"name": "eth0", "mtu": 99999999999999999999}]}"#,
        r#"{"interfaces": [{"name": "eth0", "mtu": -5}]}"#,
        r#"{"ips": [{"address": "10.0.0.1/24", "interface": 18446744073709551616}]}"#,
        r#"{"ips": [{"address": "10.0.0.1/24", "interface": -1}]}"#,
        r#"{"ips": [{"address": "10.0.0.1"}]}"#,
        r#"{"ips": [{"address": "10.0.0.1/24", "gateway": "nope"}]}"#,
        r#"{"routes": [{"dst": "0.0.0.0/0", "scope": 256}]}"#,
        r#"{"routes": [{"dst": "0.0.0.0/0", "table": 4294967296}]}"#,
        r#"{"routes": [{"dst": "0.0.0.0/0", "priority": 1e400}]}"#,
        r#"{"routes": [{"gw": "10.0.0.1"}]}"#,
        r#"{"dns": "x"}"#,
        r#"{"dns": {"domain": 5}}"#,
    ];
    for case in cases {
        for v in [Version::V0_4_0, Version::V1_1_0] {
            if v == Version::V0_4_0 && case.contains("mtu") && case.contains("interfaces") {
                // 0.4.0 interfaces have no mtu: the key is ignored there.
                assert!(CniResult::from_slice(v, case.as_bytes()).is_ok());
                continue;
            }
            let err = CniResult::from_slice(v, case.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{v} {case} parsed"));
            assert_eq!(err.code, ErrorCode::DecodingFailure, "{v} {case}: {err}");
        }
    }
    for case in [
        r#"{"ip4": {"ip": 5}}"#,
        r#"{"ip4": {"ip": "10.0.0.1/24", "routes": {}}}"#,
        r#"{"ip6": "x"}"#,
    ] {
        let err = CniResult::from_slice(Version::V0_2_0, case.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecodingFailure, "{case}: {err}");
    }
    let err = CniResult::from_slice(
        Version::V0_4_0,
        br#"{"ips": [{"version": "5", "address": "10.0.0.1/24"}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::DecodingFailure);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let deep = format!(
        "{{\"name\":\"n\",\"type\":\"t\",\"x\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    parse_everything(deep.as_bytes());
    assert!(NetConf::<NoPluginFields>::from_slice(deep.as_bytes()).is_err());
    let deep_result = format!("{{\"dns\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(CniResult::from_slice(Version::V1_0_0, deep_result.as_bytes()).is_err());
}

#[test]
fn config_lists_with_rule_violations_are_invalid_config() {
    let cases = [
        (r#"{"plugins": [{"type": "bridge"}]}"#, "no name"),
        (
            r#"{"name": 5, "plugins": [{"type": "bridge"}]}"#,
            "invalid name type",
        ),
        (r#"{"name": "n", "plugins": []}"#, "no plugins in list"),
        (
            r#"{"name": "n", "loadOnlyInlinedPlugins": true}"#,
            "loadOnlyInlinedPlugins",
        ),
        (
            r#"{"name": "n", "plugins": [{"bridge": "x"}]}"#,
            "missing 'type'",
        ),
        (
            r#"{"name": "n", "plugins": [{"type": 5}]}"#,
            "missing 'type'",
        ),
        (
            r#"{"name": "n", "plugins": [{"type": "../bin/x"}]}"#,
            "invalid plugin type",
        ),
        (
            r#"{"name": "n", "disableCheck": "yes", "plugins": [{"type": "b"}]}"#,
            "boolean",
        ),
        (
            r#"{"name": "n", "disableGC": 1, "plugins": [{"type": "b"}]}"#,
            "boolean",
        ),
        (r#"{"name": "n", "plugins": ["bridge"]}"#, "invalid type"),
    ];
    for (case, needle) in cases {
        let err = NetConfList::from_slice(case.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig, "{case}");
        assert!(err.to_string().contains(needle), "{case}: {err}");
    }
    // Lenient booleans accepted as libcni does, in any case.
    let ok = NetConfList::from_slice(
        br#"{"name":"n","disableCheck":"TRUE","disableGC":"False","plugins":[{"type":"b"}]}"#,
    )
    .unwrap();
    assert!(ok.disable_check);
    assert!(!ok.disable_gc);
    // A missing plugins key is fine when plugins may come from elsewhere.
    let ok = NetConfList::from_slice(br#"{"name":"n"}"#).unwrap();
    assert!(ok.plugins.is_empty());
    assert_eq!(
        ok.negotiated_version().unwrap(),
        Version::V0_1_0,
        "no version at all means 0.1.0"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        parse_everything(&bytes);
    }

    #[test]
    fn random_json_like_text_never_panics(s in r#"[\{\}\[\]":,0-9a-zA-Z. /\-]{0,120}"#) {
        parse_everything(s.as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(index in 0usize..24, pos in any::<usize>(), byte in any::<u8>()) {
        let all = fixtures();
        let (_, bytes) = &all[index % all.len()];
        let mut bytes = bytes.clone();
        let len = bytes.len();
        bytes[pos % len] = byte;
        parse_everything(&bytes);
    }
}
