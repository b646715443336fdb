//! Every fixture parses, is written back exactly, and converts as the reference converts it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cni_types::{
    CniError, CniResult, ErrorCode, GcAttachment, NetConf, NetConfList, Result100, Version,
    VersionInfo,
};
use serde_json::{Map, Value, json};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn result_fixture(v: Version) -> String {
    fixture(&format!("result-{v}.json"))
}

#[test]
fn every_result_fixture_parses_and_is_written_byte_exact() {
    for v in Version::ALL {
        let text = result_fixture(v);
        let parsed = CniResult::from_slice(v, text.as_bytes()).unwrap();
        assert_eq!(parsed.version(), v);
        let pretty = String::from_utf8(parsed.to_vec_pretty().unwrap()).unwrap();
        assert_eq!(pretty, text.trim_end(), "pretty output of {v}");
        let compact: Value = serde_json::from_slice(&parsed.to_vec().unwrap()).unwrap();
        assert_eq!(compact, serde_json::from_str::<Value>(&text).unwrap());
    }
}

#[test]
fn results_of_the_1_x_and_0_3_x_families_convert_to_every_other_fixture() {
    // Sources that carry interfaces and indices: every target fixture is reproduced exactly,
    // except that 1.0.0 sources cannot invent the 1.1.0 interface extras.
    let sources = [
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];
    for from in sources {
        let src = CniResult::from_slice(from, result_fixture(from).as_bytes()).unwrap();
        for to in Version::ALL {
            if to == Version::V1_1_0 && from != Version::V1_1_0 {
                continue;
            }
            if to == Version::V1_0_0 && from == Version::V1_1_0 {
                // Identity apart from the version: the extras stay.
                let got = src.convert_to(to).unwrap();
                let mut expected: Value = serde_json::from_str(&result_fixture(from)).unwrap();
                expected["cniVersion"] = json!("1.0.0");
                assert_eq!(got.to_value().unwrap(), expected);
                continue;
            }
            let got = src.convert_to(to).unwrap();
            assert_eq!(got.version(), to);
            let expected: Value = serde_json::from_str(&result_fixture(to)).unwrap();
            assert_eq!(got.to_value().unwrap(), expected, "{from} -> {to}");
        }
    }
}

#[test]
fn legacy_results_convert_up_without_interfaces() {
    for from in [Version::V0_1_0, Version::V0_2_0] {
        let src = CniResult::from_slice(from, result_fixture(from).as_bytes()).unwrap();
        for to in Version::ALL {
            let got = src.convert_to(to).unwrap().to_value().unwrap();
            let mut expected: Value = serde_json::from_str(&result_fixture(to)).unwrap();
            let obj = expected.as_object_mut().unwrap();
            if let Some(Value::Array(ips)) = obj.get_mut("ips") {
                for ip in ips {
                    ip.as_object_mut().unwrap().remove("interface");
                }
            }
            obj.remove("interfaces");
            assert_eq!(got, expected, "{from} -> {to}");
        }
    }
}

#[test]
fn ipam_result_fixture_round_trips_and_converts() {
    let text = fixture("result-ipam-1.0.0.json");
    let r = CniResult::from_slice(Version::V1_0_0, text.as_bytes()).unwrap();
    assert_eq!(
        r.to_value().unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );
    let current = r.to_current();
    assert!(current.interfaces.is_empty());
    assert_eq!(current.ips[0].interface, None);
    let legacy = current.to_json_for(Version::V0_2_0).unwrap();
    assert_eq!(
        legacy,
        json!({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1",
            "routes":[{"dst":"0.0.0.0/0"}]},"dns":{"nameservers":["10.1.0.1"]}})
    );
}

#[test]
fn l2_only_result_cannot_go_below_0_3_0() {
    let text = fixture("result-l2-1.1.0.json");
    let r = CniResult::from_slice(Version::V1_1_0, text.as_bytes()).unwrap();
    for to in [Version::V0_1_0, Version::V0_2_0] {
        let err = r.convert_to(to).unwrap_err();
        assert_eq!(err.msg, "cannot convert: no valid IP addresses");
    }
    let v040 = r.convert_to(Version::V0_4_0).unwrap().to_value().unwrap();
    assert_eq!(v040["interfaces"].as_array().unwrap().len(), 3);
    assert_eq!(v040["dns"], json!({}));
}

#[test]
fn route_attributes_survive_down_to_0_3_0_and_are_dropped_for_0_2_0() {
    let text = fixture("result-route-attrs-1.1.0.json");
    let r = CniResult::from_slice(Version::V1_1_0, text.as_bytes()).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r.to_value().unwrap(), original);
    let v030 = r.convert_to(Version::V0_3_0).unwrap().to_value().unwrap();
    assert_eq!(v030["routes"], original["routes"]);
    assert_eq!(v030["routes"][0]["table"], 0, "an explicit 0 table is kept");
    let v020 = r.convert_to(Version::V0_2_0).unwrap().to_value().unwrap();
    assert_eq!(
        v020["ip4"]["routes"],
        json!([{"dst":"0.0.0.0/0","gw":"10.22.0.1"},{"dst":"192.168.0.0/16"}])
    );
}

#[test]
fn bridge_config_of_every_version_parses_and_passes_unknown_keys_through() {
    #[derive(serde::Deserialize, serde::Serialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Bridge {
        bridge: String,
        #[serde(default)]
        is_gateway: bool,
        #[serde(default)]
        mtu: Option<u32>,
        #[serde(default)]
        hairpin_mode: bool,
    }
    for v in Version::ALL {
        let text = fixture(&format!("conf-bridge-{v}.json"));
        let conf = NetConf::<Bridge>::from_slice(text.as_bytes()).unwrap();
        conf.validate().unwrap();
        assert_eq!(conf.version().unwrap(), v);
        assert_eq!(conf.plugin.bridge, "cni0");
        assert!(conf.plugin.is_gateway);
        assert_eq!(conf.plugin.mtu, Some(1450));
        assert!(conf.ip_masq());
        assert_eq!(conf.ipam_type(), Some("host-local"));
        assert_eq!(conf.dns.as_ref().unwrap().search, vec!["cluster.local"]);
        assert!(conf.extra.contains_key("vendor.example/extra"));
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            conf.to_value().unwrap(),
            original,
            "{v} passes through unchanged"
        );
        // The untyped view keeps the plugin keys in `extra`.
        let plain = NetConf::<cni_types::NoPluginFields>::from_slice(text.as_bytes()).unwrap();
        assert_eq!(plain.extra["bridge"], "cni0");
        assert_eq!(plain.to_value().unwrap(), original);
    }
}

#[test]
fn chained_configs_parse_prev_result_in_their_own_version() {
    for (name, v) in [
        ("conf-portmap-1.1.0.json", Version::V1_1_0),
        ("conf-portmap-0.4.0.json", Version::V0_4_0),
    ] {
        let text = fixture(name);
        let conf = NetConf::<Map<String, Value>>::from_slice(text.as_bytes()).unwrap();
        let prev = conf.prev_result().unwrap().unwrap();
        assert_eq!(prev.version(), v);
        let current = conf.prev_result_current().unwrap().unwrap();
        assert_eq!(current.cni_version, Version::CURRENT);
        assert_eq!(current.ips.len(), 2);
        let pm = &conf.runtime_config.port_mappings;
        assert_eq!(pm.len(), 2);
        assert_eq!(pm[1].host_ip.as_deref(), Some("127.0.0.1"));
        assert!(conf.capabilities.as_ref().unwrap()["portMappings"]);
        assert_eq!(conf.plugin["snat"], true);
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(conf.to_value().unwrap(), original);
    }
}

#[test]
fn gc_config_gives_the_valid_attachments() {
    let text = fixture("conf-gc-1.1.0.json");
    let conf = NetConf::<cni_types::NoPluginFields>::from_slice(text.as_bytes()).unwrap();
    assert_eq!(
        conf.gc_valid_attachments(),
        &[
            GcAttachment::new("c1", "eth0"),
            GcAttachment::new("c2", "net1")
        ]
    );
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(conf.to_value().unwrap(), original);
}

#[test]
fn runtime_config_and_args_fixture_is_fully_typed() {
    let text = fixture("conf-runtimeconfig-1.0.0.json");
    let conf = NetConf::<cni_types::NoPluginFields>::from_slice(text.as_bytes()).unwrap();
    let rc = &conf.runtime_config;
    assert_eq!(rc.port_mappings[0].container_port, 80);
    assert_eq!(rc.ip_ranges[0][0].subnet.to_string(), "10.22.0.0/16");
    assert_eq!(
        rc.ip_ranges[0][0].range_end.unwrap().to_string(),
        "10.22.0.200"
    );
    assert_eq!(rc.bandwidth.unwrap().egress_burst, Some(60000));
    assert_eq!(rc.dns.as_ref().unwrap().options, vec!["ndots:5"]);
    assert_eq!(rc.ips[0].to_string(), "10.22.0.42/16");
    assert_eq!(rc.mac.unwrap().to_string(), "c2:11:22:33:44:55");
    assert_eq!(rc.aliases, vec!["web", "www"]);
    assert_eq!(rc.device_id.as_deref(), Some("0000:04:00.5"));
    assert_eq!(
        rc.infiniband_guid.as_deref(),
        Some("c2:11:22:33:44:55:66:77")
    );
    assert_eq!(
        rc.cgroup_path.as_deref(),
        Some("/kubepods/burstable/pod123")
    );
    assert_eq!(rc.extra["io.example/custom"], json!([1, 2]));
    let args = conf.args.as_ref().unwrap();
    let cni = args.cni.as_ref().unwrap();
    assert_eq!(cni.ips.len(), 2);
    assert_eq!(cni.ips[0].prefix, None);
    assert_eq!(cni.ips[1].prefix, Some(64));
    assert_eq!(cni.labels[0].key, "app");
    assert_eq!(cni.extra["future"], 1);
    assert_eq!(args.extra["org.example"], json!({"a": "b"}));
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(conf.to_value().unwrap(), original);
}

#[test]
fn conflist_fixture_builds_each_plugin_config() {
    let text = fixture("conflist-bridge-portmap.json");
    let list = NetConfList::from_slice(text.as_bytes()).unwrap();
    assert!(!list.disable_check, "\"false\" string accepted");
    assert!(list.load_only_inlined_plugins);
    assert_eq!(list.negotiated_version().unwrap(), Version::V1_1_0);
    assert_eq!(list.plugin_type(1), Some("portmap"));
    assert_eq!(list.extra["io.example/meta"], "kept");

    let mut caps = Map::new();
    caps.insert(
        "portMappings".into(),
        json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
    );
    caps.insert("bandwidth".into(), json!({"ingressRate": 1}));
    let first = list.plugin_config(0, &caps, None).unwrap();
    assert_eq!(first["name"], "mynet");
    assert_eq!(first["cniVersion"], "1.1.0");
    assert!(
        first.get("runtimeConfig").is_none(),
        "bridge declares no capability"
    );
    assert!(first.get("prevResult").is_none());

    let prev =
        CniResult::from_slice(Version::V1_0_0, fixture("result-1.0.0.json").as_bytes()).unwrap();
    let second = list.plugin_config(1, &caps, Some(&prev)).unwrap();
    assert_eq!(
        second["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}),
        "only enabled and supplied capabilities"
    );
    assert_eq!(
        second["capabilities"]["portMappings"], true,
        "left in place"
    );
    assert_eq!(second["prevResult"]["cniVersion"], "1.1.0");
    assert_eq!(second["snat"], true);
    // The built config parses as a plugin config with a prevResult in its own version.
    let conf = NetConf::<cni_types::NoPluginFields>::from_value(second).unwrap();
    assert_eq!(conf.prev_result_current().unwrap().unwrap().ips.len(), 2);
    assert_eq!(conf.runtime_config.port_mappings[0].host_port, 8080);

    let gc = list
        .gc_config(2, &[GcAttachment::new("c1", "eth0")])
        .unwrap();
    assert_eq!(
        gc["cni.dev/valid-attachments"],
        json!([{"containerID":"c1","ifname":"eth0"}])
    );
    assert_eq!(gc["cni.dev/attachments"], gc["cni.dev/valid-attachments"]);
    assert_eq!(gc["sysctl"]["net.core.somaxconn"], "500");
    let status = list.status_config(0).unwrap();
    assert_eq!(status["cniVersion"], "1.1.0");
    assert!(list.plugin_config(3, &caps, None).is_err());
}

#[test]
fn error_fixture_parses_and_is_written_back() {
    let text = fixture("error-7.json");
    let err = CniError::from_slice(text.as_bytes()).unwrap();
    assert_eq!(err.code, ErrorCode::InvalidConfig);
    assert_eq!(err.msg, "Invalid Configuration");
    assert_eq!(
        err.to_json_for(Version::V1_1_0),
        serde_json::from_str::<Value>(&text).unwrap()
    );
}

#[test]
fn version_fixture_is_what_a_plugin_of_every_version_prints() {
    let text = fixture("version-1.1.0.json");
    let info = VersionInfo::from_slice(text.as_bytes()).unwrap();
    assert_eq!(info, VersionInfo::new(&Version::ALL));
    assert_eq!(info.known_versions(), Version::ALL.to_vec());
}

#[test]
fn canonical_result_from_every_fixture_agrees_on_addresses() {
    let reference: Result100 =
        CniResult::from_slice(Version::V1_1_0, result_fixture(Version::V1_1_0).as_bytes())
            .unwrap()
            .to_current();
    for v in Version::ALL {
        let r = CniResult::from_slice(v, result_fixture(v).as_bytes())
            .unwrap()
            .to_current();
        let addrs: Vec<_> = r.ips.iter().map(|ip| (ip.address, ip.gateway)).collect();
        let want: Vec<_> = reference
            .ips
            .iter()
            .map(|ip| (ip.address, ip.gateway))
            .collect();
        assert_eq!(addrs, want, "{v}");
        assert_eq!(r.routes, reference.routes, "{v}");
        assert_eq!(r.dns, reference.dns, "{v}");
    }
}

/// The workspace copy of the fixtures (shared by the other crates) must match this crate's own.
/// When the crate is built from its published package there is no workspace copy to compare.
#[test]
fn workspace_fixture_copy_matches() {
    let own = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let shared = format!("{}/../tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    if !std::path::Path::new(&shared).is_dir() {
        return;
    }
    let mut count = 0;
    for entry in std::fs::read_dir(&own).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let a = std::fs::read(entry.path()).unwrap();
        let b = std::fs::read(std::path::Path::new(&shared).join(&name))
            .unwrap_or_else(|e| panic!("{name:?} missing from {shared}: {e}"));
        assert_eq!(a, b, "{name:?} differs between {own} and {shared}");
        count += 1;
    }
    assert!(count >= 20);
}

#[test]
fn a_config_missing_common_keys_is_written_back_without_inventing_them() {
    let text = br#"{"ipam":{"type":"static","addresses":[{"address":"10.0.0.2/24"}]}}"#;
    let conf = NetConf::<cni_types::NoPluginFields>::from_slice(text).unwrap();
    assert_eq!(
        conf.to_value().unwrap(),
        serde_json::from_slice::<Value>(text).unwrap()
    );
    assert!(conf.validate().is_err(), "no name");
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Static {
        r#type: String,
        addresses: Vec<Value>,
    }
    let ipam: Static = conf.ipam.as_ref().unwrap().parse().unwrap();
    assert_eq!(ipam.r#type, "static");
    assert_eq!(ipam.addresses.len(), 1);
}

#[test]
fn json_null_reads_as_empty_like_go_nil_slices() {
    let r = CniResult::from_slice(
        Version::V1_0_0,
        br#"{"cniVersion":"1.0.0","interfaces":null,"ips":null,"routes":null,
             "dns":{"nameservers":null,"domain":null,"search":null,"options":null}}"#,
    )
    .unwrap();
    assert_eq!(r.to_value().unwrap(), json!({"cniVersion":"1.0.0"}));
    let r = CniResult::from_slice(
        Version::V0_4_0,
        br#"{"cniVersion":"0.4.0","ips":null,"dns":null}"#,
    )
    .unwrap();
    assert_eq!(
        r.to_value().unwrap(),
        json!({"cniVersion":"0.4.0","dns":{}})
    );
    let conf = NetConf::<cni_types::NoPluginFields>::from_slice(
        br#"{"name":"n","type":"t","runtimeConfig":{"portMappings":null,"aliases":null},"args":{"cni":{"ips":null}}}"#,
    )
    .unwrap();
    assert!(conf.runtime_config.is_empty());
    let conf = NetConf::<cni_types::NoPluginFields>::from_slice(
        br#"{"name":"n","type":"t","runtimeConfig":null}"#,
    )
    .unwrap();
    assert!(conf.runtime_config.is_empty());
}

#[test]
fn strict_plugins_can_reject_unknown_keys_with_code_2() {
    let text = fixture("conf-bridge-1.0.0.json");
    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Bridge {
        bridge: String,
        is_gateway: bool,
        mtu: u32,
        hairpin_mode: bool,
    }
    let conf = NetConf::<Bridge>::from_slice(text.as_bytes()).unwrap();
    let err = conf.reject_unknown_keys(&[]).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnsupportedField);
    assert!(err.msg.contains("vendor.example/extra="), "{}", err.msg);
    assert!(
        err.msg.contains("\"keep\""),
        "the value is named: {}",
        err.msg
    );
    conf.reject_unknown_keys(&["vendor.example/extra"]).unwrap();
    let gc = NetConf::<cni_types::NoPluginFields>::from_slice(
        br#"{"name":"n","type":"t","cni.dev/future-key":1}"#,
    )
    .unwrap();
    gc.reject_unknown_keys(&[]).unwrap();
}
