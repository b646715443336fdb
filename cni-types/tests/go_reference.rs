//! The Go reference implementation's type and version test cases (reference notes §4.1–4.3),
//! reproduced against this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use cni_types::net::parse_cidr;
use cni_types::{
    CniArgs, CniError, CniResult, Command, ErrorCode, Interface, IpConfig, IpConfig020, NetConf,
    NoPluginFields, Result020, Result100, Route, Version, VersionInfo, VersionNumber,
    negotiate_version, reconcile,
};
use serde_json::{Value, json};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The Go tests' result: one interface, 1.2.3.30/24 and abcd:1234:ffff::cdde/64, two routes, DNS.
fn test_result() -> Result100 {
    let mut r = Result100::new(Version::V1_0_0);
    r.interfaces.push(Interface {
        mac: Some("00:11:22:33:44:55".into()),
        sandbox: Some("/proc/3553/ns/net".into()),
        ..Interface::named("eth0")
    });
    r.ips.push(IpConfig {
        interface: Some(0),
        address: parse_cidr("1.2.3.30/24").unwrap(),
        gateway: Some(ip("1.2.3.1")),
    });
    r.ips.push(IpConfig {
        interface: Some(0),
        address: parse_cidr("abcd:1234:ffff::cdde/64").unwrap(),
        gateway: Some(ip("abcd:1234:ffff::1")),
    });
    r.routes.push(Route::new(
        parse_cidr("15.5.6.0/24").unwrap(),
        Some(ip("15.5.6.8")),
    ));
    r.routes.push(Route::new(
        parse_cidr("1111:dddd::/80").unwrap(),
        Some(ip("1111:dddd::aaaa")),
    ));
    r.dns.nameservers = vec!["1.2.3.4".into(), "1::cafe".into()];
    r.dns.domain = Some("acompany.com".into());
    r.dns.search = vec!["somedomain.com".into(), "otherdomain.net".into()];
    r.dns.options = vec!["foo".into(), "bar".into()];
    r
}

fn dns_json() -> Value {
    json!({"nameservers":["1.2.3.4","1::cafe"],"domain":"acompany.com",
           "search":["somedomain.com","otherdomain.net"],"options":["foo","bar"]})
}

// ---- pkg/types/types_test.go ----

#[test]
fn parse_cidr_keeps_the_host_address() {
    let n = parse_cidr("1.2.3.4/24").unwrap();
    assert_eq!(n.ip(), ip("1.2.3.4"));
    assert_eq!(n.prefix(), 24);
    assert_eq!(n.to_string(), "1.2.3.4/24");
    let n = parse_cidr("2001:db8::/32").unwrap();
    assert_eq!(n.ip(), ip("2001:db8::"));
    assert_eq!(n.to_string(), "2001:db8::/32");
}

#[test]
fn ipnet_is_a_json_string_and_bad_ones_are_errors() {
    let cfg: IpConfig = serde_json::from_value(json!({"address":"1.2.3.4/24"})).unwrap();
    assert_eq!(
        serde_json::to_value(&cfg).unwrap(),
        json!({"address":"1.2.3.4/24"})
    );
    for bad in [
        json!("1.2.3.4"),
        json!("1.2.3.4/33"),
        json!("1.2.3/24"),
        json!("foo/24"),
        json!("1.2.3.4/255.255.255.0"),
        json!("::1/129"),
        json!(5),
    ] {
        let v = json!({ "address": bad });
        assert!(serde_json::from_value::<IpConfig>(v).is_err(), "{bad}");
    }
}

#[test]
fn route_marshals_and_unmarshals() {
    let r: Route = serde_json::from_value(json!({"dst":"3.4.5.6/32","gw":"1.2.3.4"})).unwrap();
    assert_eq!(r.dst.to_string(), "3.4.5.6/32");
    assert_eq!(r.gw, Some(ip("1.2.3.4")));
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"dst":"3.4.5.6/32","gw":"1.2.3.4"})
    );
    let full = json!({"dst":"10.0.0.0/8","gw":"10.0.0.1","mtu":1500,"advmss":1460,
                      "priority":10,"table":0,"scope":253});
    let r: Route = serde_json::from_value(full.clone()).unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), full);
    assert_eq!(
        r.to_string(),
        "{Dst:10.0.0.0/8 GW:10.0.0.1 MTU:1500 AdvMSS:1460 Priority:10 Table:0 Scope:253}"
    );
    let bare = Route::new(parse_cidr("0.0.0.0/0").unwrap(), None);
    assert_eq!(
        bare.to_string(),
        "{Dst:0.0.0.0/0 GW:<nil> MTU:0 AdvMSS:0 Priority:0 Table:<nil> Scope:<nil>}"
    );
}

#[test]
fn error_string_is_msg_and_details() {
    let e = CniError::plugin(1234, "some message").with_details("some details");
    assert_eq!(e.to_string(), "some message; some details");
    let e = CniError::plugin(1234, "some message");
    assert_eq!(e.to_string(), "some message");
}

#[test]
fn get_as_version_empty_means_0_1_0() {
    let r = test_result()
        .convert_to(Version::parse("").unwrap())
        .unwrap();
    assert_eq!(r.version(), Version::V0_1_0);
}

// ---- pkg/types/args_test.go ----

#[test]
fn args_bool_parsing() {
    for (s, want) in [
        ("True", true),
        ("true", true),
        ("1", true),
        ("False", false),
        ("false", false),
        ("0", false),
    ] {
        let args = CniArgs::parse(&format!("IgnoreUnknown={s}")).unwrap();
        assert_eq!(args.ignore_unknown, want, "{s}");
    }
    for bad in ["yes", "", "2", "tru"] {
        assert!(
            CniArgs::parse(&format!("IgnoreUnknown={bad}")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn unknown_args_fail_unless_ignore_unknown() {
    let args = CniArgs::parse("IP=10.0.0.2;SOME_KEY=x").unwrap();
    let err = args.reject_unknown(&[]).unwrap_err();
    assert_eq!(err.msg, r#"ARGS: unknown args ["SOME_KEY"]"#);
    assert!(args.reject_unknown(&["SOME_KEY"]).is_ok());
    for on in ["1", "true", "True"] {
        let args = CniArgs::parse(&format!("IgnoreUnknown={on};SOME_KEY=x")).unwrap();
        assert!(args.reject_unknown(&[]).is_ok(), "{on}");
    }
}

#[test]
fn known_args_that_do_not_parse_fail() {
    for bad in ["IP=not-an-ip", "MAC=zz:zz", "IP=10.0.0.1/40"] {
        let err = CniArgs::parse(bad).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEnvironment, "{bad}");
    }
    let err = CniArgs::parse("IP").unwrap_err();
    assert_eq!(err.msg, r#"ARGS: invalid pair "IP""#);
    let err = CniArgs::parse("A=b=c").unwrap_err();
    assert_eq!(err.msg, r#"ARGS: invalid pair "A=b=c""#);
    assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
}

// ---- pkg/types/020/types_test.go ----

fn result_020(version: Version) -> Result020 {
    let mut r = Result020::new(version);
    r.ip4 = Some(IpConfig020 {
        ip: parse_cidr("1.2.3.30/24").unwrap(),
        gateway: Some(ip("1.2.3.1")),
        routes: vec![Route::new(
            parse_cidr("15.5.6.0/24").unwrap(),
            Some(ip("15.5.6.8")),
        )],
    });
    r.ip6 = Some(IpConfig020 {
        ip: parse_cidr("abcd:1234:ffff::cdde/64").unwrap(),
        gateway: Some(ip("abcd:1234:ffff::1")),
        routes: vec![Route::new(
            parse_cidr("1111:dddd::/80").unwrap(),
            Some(ip("1111:dddd::aaaa")),
        )],
    });
    r.dns = test_result().dns;
    r
}

fn legacy_json(version: &str) -> Value {
    json!({
        "cniVersion": version,
        "ip4": {"ip":"1.2.3.30/24","gateway":"1.2.3.1","routes":[{"dst":"15.5.6.0/24","gw":"15.5.6.8"}]},
        "ip6": {"ip":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1",
                "routes":[{"dst":"1111:dddd::/80","gw":"1111:dddd::aaaa"}]},
        "dns": dns_json()
    })
}

#[test]
fn encodes_0_2_0_and_0_1_0_results_and_converts_between_them() {
    for (v, s) in [(Version::V0_2_0, "0.2.0"), (Version::V0_1_0, "0.1.0")] {
        let r = CniResult::V020(result_020(v));
        assert_eq!(r.to_value().unwrap(), legacy_json(s));
    }
    let r = CniResult::V020(result_020(Version::V0_2_0));
    let down = r.convert_to(Version::V0_1_0).unwrap();
    assert_eq!(down.to_value().unwrap(), legacy_json("0.1.0"));
    let up = down.convert_to(Version::V0_2_0).unwrap();
    assert_eq!(up, r);
}

#[test]
fn empty_cni_version_creates_a_0_1_0_result() {
    let bytes = br#"{"cniVersion":"","ip4":{"ip":"1.2.3.30/24"}}"#;
    let r = CniResult::from_slice(Version::parse("").unwrap(), bytes).unwrap();
    assert_eq!(r.version(), Version::V0_1_0);
    let r = CniResult::from_slice_own_version(br#"{"ip4":{"ip":"1.2.3.30/24"}}"#).unwrap();
    assert_eq!(r.version(), Version::V0_1_0);
}

// ---- pkg/types/040/types_test.go ----

fn result_040_json(version: &str) -> Value {
    json!({
        "cniVersion": version,
        "interfaces": [{"name":"eth0","mac":"00:11:22:33:44:55","sandbox":"/proc/3553/ns/net"}],
        "ips": [
            {"version":"4","interface":0,"address":"1.2.3.30/24","gateway":"1.2.3.1"},
            {"version":"6","interface":0,"address":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1"}
        ],
        "routes": [{"dst":"15.5.6.0/24","gw":"15.5.6.8"},{"dst":"1111:dddd::/80","gw":"1111:dddd::aaaa"}],
        "dns": dns_json()
    })
}

#[test]
fn correctly_encodes_a_0_3_x_result() {
    for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0] {
        let r = CniResult::from_value(v, result_040_json(v.as_str())).unwrap();
        assert_eq!(r.to_value().unwrap(), result_040_json(v.as_str()));
        assert_eq!(
            test_result().to_json_for(v).unwrap(),
            result_040_json(v.as_str())
        );
    }
}

#[test]
fn correctly_encodes_0_3_x_as_0_1_0() {
    let r = CniResult::from_value(Version::V0_3_1, result_040_json("0.3.1")).unwrap();
    assert_eq!(
        r.convert_to(Version::V0_1_0).unwrap().to_value().unwrap(),
        legacy_json("0.1.0")
    );
}

#[test]
fn round_trips_0_2_0_through_0_4_0_with_and_without_route_gateways() {
    let mut without_gw = result_020(Version::V0_2_0);
    for cfg in [&mut without_gw.ip4, &mut without_gw.ip6]
        .into_iter()
        .flatten()
    {
        for r in &mut cfg.routes {
            r.gw = None;
        }
    }
    for original in [result_020(Version::V0_2_0), without_gw] {
        let original = CniResult::V020(original);
        let up = original.convert_to(Version::V0_4_0).unwrap();
        let back = up.convert_to(Version::V0_2_0).unwrap();
        assert_eq!(back.to_vec().unwrap(), original.to_vec().unwrap());
    }
}

#[test]
fn interface_index_zero_is_kept_and_a_missing_one_omitted() {
    let zero = IpConfig {
        interface: Some(0),
        address: parse_cidr("10.1.2.3/24").unwrap(),
        gateway: None,
    };
    let v = serde_json::to_value(&zero).unwrap();
    assert_eq!(v, json!({"interface":0,"address":"10.1.2.3/24"}));
    assert_eq!(serde_json::from_value::<IpConfig>(v).unwrap(), zero);
    let none = IpConfig::new(parse_cidr("10.1.2.3/24").unwrap());
    assert_eq!(
        serde_json::to_value(&none).unwrap(),
        json!({"address":"10.1.2.3/24"})
    );
    // The same in the 0.4.0 shape.
    let mut r = Result100::new(Version::V1_0_0);
    r.ips = vec![zero, none];
    let v040 = r.to_json_for(Version::V0_4_0).unwrap();
    assert_eq!(
        v040["ips"],
        json!([{"version":"4","interface":0,"address":"10.1.2.3/24"},
               {"version":"4","address":"10.1.2.3/24"}])
    );
}

#[test]
fn downconverting_without_ips_to_0_2_0_fails() {
    let mut r = test_result();
    r.ips.clear();
    for v in [Version::V0_1_0, Version::V0_2_0] {
        let err = r.convert_to(v).unwrap_err();
        assert_eq!(err.to_string(), "cannot convert: no valid IP addresses");
    }
}

#[test]
fn address_of_wrong_type_is_a_decoding_error() {
    for v in Version::ALL {
        let bytes = if v.result_format() == cni_types::ResultFormat::V020 {
            br#"{"ip4":{"ip":5}}"#.to_vec()
        } else {
            br#"{"ips":[{"version":"4","address":5}]}"#.to_vec()
        };
        let err = CniResult::from_slice(v, &bytes).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecodingFailure, "{v}");
        assert!(err.msg.contains("invalid type"), "{v}: {}", err.msg);
    }
}

// ---- pkg/types/100/types_test.go ----

#[test]
fn encodes_a_1_1_0_result_with_interface_extras() {
    let mut r = test_result();
    r.cni_version = Version::V1_1_0;
    r.interfaces[0].mtu = Some(1500);
    r.interfaces[0].pci_id = Some("8086:9a01".into());
    r.interfaces[0].socket_path = Some("/path/to/vhost/fd".into());
    let v = CniResult::V100(r.clone()).to_value().unwrap();
    assert_eq!(
        v["interfaces"],
        json!([{"name":"eth0","mac":"00:11:22:33:44:55","mtu":1500,"sandbox":"/proc/3553/ns/net",
                "socketPath":"/path/to/vhost/fd","pciID":"8086:9a01"}])
    );
    // ... and as 0.4.0 the extras are dropped and `version` appears.
    assert_eq!(
        r.to_json_for(Version::V0_4_0).unwrap(),
        result_040_json("0.4.0")
    );
    assert_eq!(
        r.to_json_for(Version::V0_1_0).unwrap(),
        legacy_json("0.1.0")
    );
}

#[test]
fn converts_a_1_0_0_result_to_1_1_0_changing_only_the_version() {
    let r = test_result();
    let up = r.convert_to(Version::V1_1_0).unwrap();
    let CniResult::V100(up) = up else {
        panic!("not a 1.x result")
    };
    assert_eq!(up.cni_version, Version::V1_1_0);
    assert_eq!(
        Result100 {
            cni_version: Version::V1_0_0,
            ..up
        },
        r
    );
}

#[test]
fn encodes_1_0_0_as_written_by_the_reference() {
    let v = CniResult::V100(test_result()).to_value().unwrap();
    assert_eq!(
        v,
        json!({
            "cniVersion":"1.0.0",
            "interfaces":[{"name":"eth0","mac":"00:11:22:33:44:55","sandbox":"/proc/3553/ns/net"}],
            "ips":[{"interface":0,"address":"1.2.3.30/24","gateway":"1.2.3.1"},
                   {"interface":0,"address":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1"}],
            "routes":[{"dst":"15.5.6.0/24","gw":"15.5.6.8"},{"dst":"1111:dddd::/80","gw":"1111:dddd::aaaa"}],
            "dns": dns_json()
        })
    );
    // Empty DNS is dropped entirely in 1.x, written as {} in 0.4.0 and 0.2.0.
    let mut r = test_result();
    r.dns = Default::default();
    assert!(r.to_json_for(Version::V1_0_0).unwrap().get("dns").is_none());
    assert_eq!(r.to_json_for(Version::V0_4_0).unwrap()["dns"], json!({}));
    assert_eq!(r.to_json_for(Version::V0_2_0).unwrap()["dns"], json!({}));
}

// ---- pkg/version/*_test.go ----

#[test]
fn versions_starting_from_0_3_1() {
    assert_eq!(
        Version::starting_from(Version::V0_3_1),
        vec![
            Version::V0_3_1,
            Version::V0_4_0,
            Version::V1_0_0,
            Version::V1_1_0
        ]
    );
}

fn conf_with_prev(conf_version: &str, prev: Value) -> NetConf<NoPluginFields> {
    NetConf::from_value(
        json!({"cniVersion": conf_version, "name":"n", "type":"t", "prevResult": prev}),
    )
    .unwrap()
}

#[test]
fn parse_prev_result_cases() {
    // A 1.0.0 prevResult with extra `version` fields parses.
    let mut prev = test_result().to_json_for(Version::V1_0_0).unwrap();
    for ip in prev["ips"].as_array_mut().unwrap() {
        ip["version"] = json!("4");
    }
    let conf = conf_with_prev("1.0.0", prev);
    let parsed = conf.prev_result().unwrap().unwrap();
    assert_eq!(parsed, CniResult::V100(test_result()));

    // An unknown version.
    let mut prev = test_result().to_json_for(Version::V1_0_0).unwrap();
    prev["cniVersion"] = json!("5678.456");
    let err = conf_with_prev("1.0.0", prev).prev_result().unwrap_err();
    assert_eq!(
        err.msg,
        r#"could not parse prevResult: result type supports ["1.0.0" "1.1.0"] but unmarshalled CNIVersion is "5678.456""#
    );

    // A 0.2.0 prevResult under a 1.1.0 config.
    let prev = legacy_json("0.2.0");
    let err = conf_with_prev("1.1.0", prev).prev_result().unwrap_err();
    assert_eq!(
        err.msg,
        r#"could not parse prevResult: result type supports ["1.0.0" "1.1.0"] but unmarshalled CNIVersion is "0.2.0""#
    );

    // A prevResult without a version takes the config's.
    let mut prev = test_result().to_json_for(Version::V1_0_0).unwrap();
    prev.as_object_mut().unwrap().remove("cniVersion");
    let parsed = conf_with_prev("1.1.0", prev)
        .prev_result()
        .unwrap()
        .unwrap();
    assert_eq!(parsed.version(), Version::V1_1_0);

    // No prevResult.
    let conf: NetConf =
        NetConf::from_slice(br#"{"cniVersion":"1.0.0","name":"n","type":"t"}"#).unwrap();
    assert_eq!(conf.prev_result().unwrap(), None);
}

#[test]
fn greater_than_and_equal() {
    let a = VersionNumber::parse("1.1.1").unwrap();
    let b = VersionNumber::parse("1.1.0").unwrap();
    assert!(a > b);
    assert!(b <= b);
    assert!(Version::V1_1_0 > Version::V1_0_0);
    assert!(Version::V0_3_1 > Version::V0_3_0);
    assert!(Version::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn plugin_decoder_cases() {
    let err = VersionInfo::from_slice(br#"{"supportedVersions":["1.0.0"]}"#).unwrap_err();
    assert_eq!(err.msg, "decoding version info: missing field cniVersion");
    let info = VersionInfo::from_slice(br#"{"cniVersion":"0.2.0"}"#).unwrap();
    assert_eq!(info.supported_versions, vec!["0.1.0", "0.2.0"]);
    let err = VersionInfo::from_slice(br#"{"cniVersion":"0.4.0"}"#).unwrap_err();
    assert_eq!(
        err.msg,
        "decoding version info: missing field supportedVersions"
    );
    assert!(VersionInfo::from_slice(b"{").is_err());
    let info =
        VersionInfo::from_slice(br#"{"cniVersion":"1.1.0","supportedVersions":["9.8.7","1.0.0"]}"#)
            .unwrap();
    assert_eq!(info.known_versions(), vec![Version::V1_0_0]);
    assert!(info.supports(Version::V1_0_0));
    assert!(!info.supports(Version::V1_1_0));
}

#[test]
fn parse_version_cases() {
    assert_eq!(VersionNumber::parse("").unwrap(), Version::V0_1_0.number());
    assert_eq!(Version::parse("").unwrap(), Version::V0_1_0);
    assert_eq!(
        VersionNumber::parse("1").unwrap(),
        VersionNumber {
            major: 1,
            minor: 0,
            micro: 0
        }
    );
    assert_eq!(
        VersionNumber::parse("2.5").unwrap(),
        VersionNumber {
            major: 2,
            minor: 5,
            micro: 0
        }
    );
    for bad in [
        "1.2.3.4",
        "1.0.f",
        "adsfsadf",
        "1..0",
        ".1",
        "1.0.",
        "-1.0.0",
        "+1",
        "1.0.99999999999999999999999",
    ] {
        let err = VersionNumber::parse(bad).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecodingFailure, "{bad}");
    }
    assert_eq!(
        VersionNumber::parse("1.2.3.4").unwrap_err().msg,
        r#"invalid version "1.2.3.4": too many parts"#
    );
    for v in Version::ALL {
        assert_eq!(Version::parse(v.as_str()).unwrap(), v);
        assert_eq!(v.as_str().parse::<Version>().unwrap(), v);
        assert_eq!(v.to_string(), v.as_str());
        assert_eq!(serde_json::to_value(v).unwrap(), json!(v.as_str()));
        assert_eq!(
            serde_json::from_value::<Version>(json!(v.as_str())).unwrap(),
            v
        );
    }
    // Well-formed but unimplemented is an incompatible version, malformed a decoding failure.
    assert_eq!(
        Version::parse("1.2.3").unwrap_err().code,
        ErrorCode::IncompatibleVersion
    );
    assert_eq!(
        Version::parse("1.0").unwrap_err().code,
        ErrorCode::IncompatibleVersion
    );
    assert_eq!(
        Version::parse("x").unwrap_err().code,
        ErrorCode::DecodingFailure
    );
}

#[test]
fn reconciler_details_format() {
    let err = reconcile(Command::Add, "", &[Version::V1_0_0]).unwrap_err();
    assert_eq!(err.code, ErrorCode::IncompatibleVersion);
    assert_eq!(err.msg, "incompatible CNI versions");
    assert_eq!(
        err.details,
        r#"config is "0.1.0", plugin supports ["1.0.0"]"#
    );
    let err = reconcile(Command::Del, "1.2.3", &[Version::V0_4_0, Version::V1_0_0]).unwrap_err();
    assert_eq!(
        err.details,
        r#"config is "1.2.3", plugin supports ["0.4.0" "1.0.0"]"#
    );
    // A missing cniVersion is inferred as 0.1.0.
    assert_eq!(
        reconcile(Command::Add, "", &Version::ALL).unwrap(),
        Version::V0_1_0
    );
    assert_eq!(
        reconcile(Command::Version, "garbage", &[]).unwrap(),
        Version::CURRENT
    );
}

// ---- pkg/skel/skel_test.go (the version gates) ----

#[test]
fn check_gc_and_status_version_gates() {
    for (cmd, old, gate) in [
        (Command::Check, "0.3.0", Version::V0_4_0),
        (Command::Gc, "1.0.0", Version::V1_1_0),
        (Command::Status, "1.0.0", Version::V1_1_0),
    ] {
        let err = reconcile(cmd, old, &Version::ALL).unwrap_err();
        assert_eq!(err.code, ErrorCode::IncompatibleVersion);
        assert_eq!(err.msg, format!("config version does not allow {cmd}"));
        // A plugin supporting only older versions.
        let older: Vec<Version> = Version::ALL.into_iter().filter(|v| *v < gate).collect();
        let err = reconcile(cmd, gate.as_str(), &older).unwrap_err();
        assert_eq!(err.msg, format!("plugin version does not allow {cmd}"));
        // A malformed config version.
        let err = reconcile(cmd, "adsfsadf", &Version::ALL).unwrap_err();
        assert_eq!(err.code, ErrorCode::DecodingFailure);
        assert_eq!(reconcile(cmd, gate.as_str(), &Version::ALL).unwrap(), gate);
        assert!(!Version::parse(old).unwrap().allows(cmd));
        assert!(gate.allows(cmd));
    }
    for v in Version::ALL {
        assert!(v.allows(Command::Add) && v.allows(Command::Del) && v.allows(Command::Version));
    }
}

#[test]
fn unknown_command_is_code_4() {
    let err = "NOPE".parse::<Command>().unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidEnvironment);
    assert_eq!(err.msg, "unknown CNI_COMMAND: NOPE");
    assert!("add".parse::<Command>().is_err(), "commands are upper case");
    for c in Command::ALL {
        assert_eq!(c.as_str().parse::<Command>().unwrap(), c);
    }
}

// ---- libcni/conf_test.go (version selection) ----

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn libcni_version_selection() {
    let all = &Version::ALL;
    let pick = |v: Option<&str>, vs: Option<&[&str]>| {
        let vs = vs.map(strings);
        negotiate_version(v, vs.as_deref(), all)
    };
    assert_eq!(
        pick(None, Some(&["1.1.0", "0.4.0", "1.0.0"])).unwrap(),
        Version::V1_1_0
    );
    assert_eq!(
        pick(None, Some(&["99.0.0", "1.1.0", "0.4.0", "1.0.0"])).unwrap(),
        Version::V1_1_0
    );
    assert_eq!(
        pick(None, Some(&["1.0.f"])).unwrap_err().code,
        ErrorCode::DecodingFailure
    );
    assert_eq!(
        pick(Some("1.0.0"), Some(&["0.1.0", "0.4.0"])).unwrap(),
        Version::V1_0_0
    );
    // `[]` with no cniVersion is the empty version, i.e. 0.1.0.
    assert_eq!(pick(None, Some(&[])).unwrap(), Version::V0_1_0);
    // libcni keeps an unimplemented lone cniVersion verbatim; an implementation can only refuse it.
    let err = pick(Some("1.2.3"), None).unwrap_err();
    assert_eq!(err.code, ErrorCode::IncompatibleVersion);
    // Versions the implementation does not support are dropped.
    assert_eq!(
        negotiate_version(
            None,
            Some(&strings(&["1.1.0", "0.4.0"])),
            &[Version::V0_4_0]
        )
        .unwrap(),
        Version::V0_4_0
    );
}
