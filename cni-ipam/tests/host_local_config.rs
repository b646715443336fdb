//! Go host-local's `config_test.go`, as our own tests of `HostLocalConfig`, plus the
//! remaining config fields and bad inputs with their CNI codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_ipam::host_local::config::HostLocalConfig;
use cni_types::Version;
use common::{request, request_args};
use serde_json::{Value, json};

fn conf(ipam: Value) -> Value {
    json!({"cniVersion": "0.3.1", "name": "mynet", "type": "ipvlan", "master": "foo0", "ipam": ipam})
}

fn load(v: &Value) -> HostLocalConfig {
    HostLocalConfig::from_request(&request(v, "c", "eth0")).unwrap()
}

fn load_err(v: &Value) -> (u32, String) {
    let e = HostLocalConfig::from_request(&request(v, "c", "eth0")).unwrap_err();
    (e.code(), e.to_string())
}

/// `start-end gw subnet` of every range of every set.
fn describe(c: &HostLocalConfig) -> Vec<Vec<String>> {
    c.ranges
        .iter()
        .map(|s| {
            s.ranges()
                .iter()
                .map(|r| format!("{r} gw {} net {}", r.gateway, r.subnet))
                .collect()
        })
        .collect()
}

#[test]
fn old_style_config() {
    let c = load(&conf(json!({"type": "host-local", "subnet": "10.1.2.0/24",
        "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30"})));
    assert_eq!(c.network, "mynet");
    assert_eq!(c.version, Version::V0_3_1);
    assert_eq!(
        describe(&c),
        [["10.1.2.9-10.1.2.20 gw 10.1.2.30 net 10.1.2.0/24"]]
    );
    assert_eq!(c.data_dir.to_str(), Some("/var/lib/cni/networks"));
    assert!(c.resolv_conf.is_none() && c.routes.is_empty() && c.requested.is_empty());
}

#[test]
fn new_style_config() {
    let c = load(&conf(json!({"type": "host-local", "ranges": [
        [{"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30"},
         {"subnet": "10.1.4.0/24"}],
        [{"subnet": "11.1.2.0/24", "rangeStart": "11.1.2.9", "rangeEnd": "11.1.2.20", "gateway": "11.1.2.30"}]
    ]})));
    assert_eq!(
        describe(&c),
        [
            vec![
                "10.1.2.9-10.1.2.20 gw 10.1.2.30 net 10.1.2.0/24".to_string(),
                "10.1.4.1-10.1.4.254 gw 10.1.4.1 net 10.1.4.0/24".to_string()
            ],
            vec!["11.1.2.9-11.1.2.20 gw 11.1.2.30 net 11.1.2.0/24".to_string()]
        ]
    );
}

#[test]
fn mixed_config_with_runtime_ranges_first() {
    let mut v = conf(json!({"type": "host-local", "subnet": "10.1.2.0/24",
        "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30",
        "ranges": [[{"subnet": "11.1.2.0/24", "rangeStart": "11.1.2.9", "rangeEnd": "11.1.2.20", "gateway": "11.1.2.30"}]]}));
    v["runtimeConfig"] = json!({"irrelevant": "a", "ipRanges": [[{"subnet": "12.1.3.0/24"}]]});
    let c = load(&v);
    assert_eq!(
        describe(&c),
        [
            ["12.1.3.1-12.1.3.254 gw 12.1.3.1 net 12.1.3.0/24"],
            ["10.1.2.9-10.1.2.20 gw 10.1.2.30 net 10.1.2.0/24"],
            ["11.1.2.9-11.1.2.20 gw 11.1.2.30 net 11.1.2.0/24"]
        ]
    );
}

fn requested(c: &HostLocalConfig) -> Vec<String> {
    c.requested.iter().map(ToString::to_string).collect()
}

#[test]
fn cni_args_ip_with_and_without_prefix() {
    let v = conf(json!({"type": "host-local", "subnet": "10.1.2.0/24"}));
    for args in ["IP=10.1.2.10", "IP=10.1.2.10/24"] {
        let c = HostLocalConfig::from_request(&request_args(&v, "c", "eth0", args)).unwrap();
        assert_eq!(requested(&c), ["10.1.2.10"], "{args}");
    }
}

#[test]
fn args_ips_follow_cni_args() {
    for ips in [
        json!(["10.1.2.11", "11.11.11.11", "2001:db8:1::11"]),
        json!(["10.1.2.11/24", "11.11.11.11/24", "2001:db8:1::11/64"]),
    ] {
        let mut v = conf(json!({"type": "host-local", "ranges": [
            [{"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30"}],
            [{"subnet": "11.1.2.0/24", "rangeStart": "11.1.2.9", "rangeEnd": "11.1.2.20", "gateway": "11.1.2.30"}],
            [{"subnet": "2001:db8:1::/64"}]]}));
        v["args"] = json!({"cni": {"ips": ips}});
        let c =
            HostLocalConfig::from_request(&request_args(&v, "c", "eth0", "IP=10.1.2.10")).unwrap();
        assert_eq!(
            requested(&c),
            ["10.1.2.10", "10.1.2.11", "11.11.11.11", "2001:db8:1::11"]
        );
    }
}

#[test]
fn runtime_config_ips() {
    let mut v = conf(json!({"type": "host-local", "subnet": "10.1.2.0/24"}));
    v["runtimeConfig"] = json!({"ips": ["192.168.0.1", "192.168.0.5/24", "2001:db8::1/64"]});
    assert_eq!(
        requested(&load(&v)),
        ["192.168.0.1", "192.168.0.5", "2001:db8::1"]
    );
}

#[test]
fn overlap_between_range_sets() {
    let v = conf(json!({"type": "host-local", "ranges": [
        [{"subnet": "10.1.2.0/24"}, {"subnet": "10.2.2.0/24"}],
        [{"subnet": "10.1.4.0/24"}, {"subnet": "10.1.6.0/24"}, {"subnet": "10.1.8.0/24"}, {"subnet": "10.1.2.0/24"}]]}));
    assert_eq!(load_err(&v), (7, "range set 0 overlaps with 1".into()));
}

#[test]
fn overlap_within_range_set() {
    let v = conf(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/22"}, {"subnet": "10.1.2.0/24"}]]}),
    );
    assert_eq!(
        load_err(&v),
        (
            7,
            "invalid range set 0: subnets 10.1.0.1-10.1.3.254 and 10.1.2.1-10.1.2.254 overlap"
                .into()
        )
    );
}

#[test]
fn mixed_families_in_a_set() {
    let v = conf(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/22"}, {"subnet": "2001:db8:5::/64"}]]}),
    );
    assert_eq!(
        load_err(&v),
        (7, "invalid range set 0: mixed address families".into())
    );
}

#[test]
fn too_many_ranges_for_0_2_0() {
    let mut v = conf(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "11.1.2.0/24"}]]}),
    );
    v["cniVersion"] = json!("0.2.0");
    assert_eq!(
        load_err(&v),
        (
            7,
            "CNI version 0.2.0 does not support more than 1 address per family".into()
        )
    );
    v["ipam"]["ranges"] = json!([[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/48"}]]);
    load(&v);
}

#[test]
fn every_field_is_read() {
    let v = conf(json!({"type": "host-local", "subnet": "10.1.2.0/24",
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.1.2.7"}],
        "dataDir": "/run/my-orchestrator/state", "resolvConf": "/etc/my-resolv.conf"}));
    let c = load(&v);
    assert_eq!(c.routes.len(), 2);
    assert_eq!(
        c.routes[1].gw.map(|g| g.to_string()).as_deref(),
        Some("10.1.2.7")
    );
    assert_eq!(c.data_dir.to_str(), Some("/run/my-orchestrator/state"));
    assert_eq!(
        c.resolv_conf.as_deref().and_then(|p| p.to_str()),
        Some("/etc/my-resolv.conf")
    );
    // Empty strings mean the defaults.
    let c = load(&conf(
        json!({"type": "host-local", "subnet": "10.1.2.0/24", "dataDir": "", "resolvConf": ""}),
    ));
    assert_eq!(c.data_dir.to_str(), Some("/var/lib/cni/networks"));
    assert!(c.resolv_conf.is_none());
}

#[test]
fn bad_inputs_are_code_7() {
    let cases = [
        (json!({"type": "host-local"}), "no IP ranges specified"),
        (
            json!({"type": "host-local", "ranges": []}),
            "no IP ranges specified",
        ),
        (
            json!({"type": "host-local", "ranges": [[]]}),
            "invalid range set 0: empty range set",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/33"}),
            "invalid range set 0: invalid CIDR address: 10.1.2.0/33",
        ),
        (
            json!({"type": "host-local", "subnet": "banana"}),
            "invalid range set 0: invalid CIDR address: banana",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.5/24"}),
            "invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.2.0",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/24", "gateway": "10.9.9.1"}),
            "invalid range set 0: gateway 10.9.9.1 not in network 10.1.2.0/24",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/24", "gateway": "nope"}),
            "invalid range set 0: invalid IP address: nope",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/24", "rangeStart": "10.1.3.1"}),
            "invalid range set 0: RangeStart 10.1.3.1 not in network 10.1.2.0/24",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/24", "rangeEnd": "10.1.3.1"}),
            "invalid range set 0: RangeEnd 10.1.3.1 not in network 10.1.2.0/24",
        ),
        (
            json!({"type": "host-local", "subnet": "10.1.2.0/31"}),
            "invalid range set 0: Network 10.1.2.0/31 too small to allocate from",
        ),
        (
            json!({"type": "host-local", "ranges": [[{"rangeStart": "10.1.2.3"}]]}),
            "invalid range set 0: range has no subnet",
        ),
    ];
    for (ipam, want) in cases {
        assert_eq!(load_err(&conf(ipam)), (7, want.to_string()));
    }
    // Wrong JSON types in the section are code 7 too.
    let (code, _) = load_err(&conf(json!({"type": "host-local", "ranges": "10.0.0.0/8"})));
    assert_eq!(code, 7);
    let (code, _) = load_err(&conf(
        json!({"type": "host-local", "subnet": "10.0.0.0/8", "routes": [{"dst": "x"}]}),
    ));
    assert_eq!(code, 7);
    // No ipam section at all.
    let v = json!({"cniVersion": "0.3.1", "name": "mynet", "type": "ipvlan"});
    assert_eq!(load_err(&v), (7, "IPAM config missing 'ipam' key".into()));
}
