//! Go static IPAM's `static_test.go`, as our own tests, plus CHECK and error codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_ipam::{Ipam, StaticIpam};
use common::{block, request, request_args, run_in_process};
use serde_json::{Value, json};

fn conf(ipam: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "mynet", "type": "ipvlan", "master": "foo0", "ipam": ipam})
}

fn ips(out: &Value) -> Vec<(String, Option<String>)> {
    out["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["address"].as_str().unwrap_or_default().to_string(),
                        i["gateway"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pair(a: &str, gw: Option<&str>) -> (String, Option<String>) {
    (a.to_string(), gw.map(str::to_string))
}

#[test]
fn add_and_del() {
    for version in ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let mut c = conf(json!({"type": "static",
            "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"},
                          {"address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"}],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.10.5.1"}, {"dst": "3ffe:ffff:0:01ff::1/64"}],
            "dns": {"nameservers": ["8.8.8.8"], "domain": "example.com", "search": ["example.com"]}}));
        c["cniVersion"] = json!(version);
        let run = run_in_process(StaticIpam, "ADD", &c, "dummy", "eth0", "");
        assert_eq!(run.status, 0, "{}", run.stdout);
        let out = run.json();
        assert_eq!(out["cniVersion"], version);
        assert_eq!(
            ips(&out),
            [
                pair("10.10.0.1/24", Some("10.10.0.254")),
                pair("3ffe:ffff:0:1ff::1/64", Some("3ffe:ffff::1"))
            ]
        );
        assert_eq!(out["routes"][1]["gw"], "10.10.5.1");
        assert_eq!(out["routes"][2]["dst"], "3ffe:ffff:0:1ff::1/64");
        assert_eq!(out["dns"]["nameservers"], json!(["8.8.8.8"]));
        assert_eq!(out["dns"]["domain"], "example.com");
        assert_eq!(out["dns"]["search"], json!(["example.com"]));
        let run = run_in_process(StaticIpam, "DEL", &c, "dummy", "eth0", "");
        assert_eq!(run.status, 0);
    }
}

#[test]
fn keeps_multiple_gateways_for_one_destination() {
    let c = conf(json!({"type": "static",
        "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}, {"address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.10.0.254"}, {"dst": "0.0.0.0/0", "gw": "10.10.0.253"},
                   {"dst": "3ffe:ffff:0:01ff::1/64", "gw": "3ffe:ffff:0::1"}, {"dst": "3ffe:ffff:0:01ff::1/64", "gw": "3ffe:ffff:0::2"}]}));
    let r = block(StaticIpam.add(&request(&c, "dummy", "eth0"))).unwrap();
    let routes: Vec<String> = r
        .routes
        .iter()
        .map(|r| format!("{} {:?}", r.dst, r.gw.map(|g| g.to_string())))
        .collect();
    assert_eq!(
        routes,
        [
            "0.0.0.0/0 Some(\"10.10.0.254\")",
            "0.0.0.0/0 Some(\"10.10.0.253\")",
            "3ffe:ffff:0:1ff::1/64 Some(\"3ffe:ffff::1\")",
            "3ffe:ffff:0:1ff::1/64 Some(\"3ffe:ffff::2\")"
        ]
    );
}

#[test]
fn del_of_unknown_id_and_without_ipam_is_fine() {
    let c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    block(StaticIpam.del(&request(&c, "nobody", "eth0"))).unwrap();
    let c = json!({"cniVersion": "1.0.0", "name": "mynet", "type": "ipvlan"});
    assert_eq!(
        run_in_process(StaticIpam, "DEL", &c, "nobody", "eth0", "").status,
        0
    );
}

#[test]
fn cni_args_ip_and_gateway() {
    let c = conf(json!({"type": "static", "routes": [{"dst": "0.0.0.0/0"}]}));
    let r = run_in_process(
        StaticIpam,
        "ADD",
        &c,
        "d",
        "eth0",
        "IP=10.10.0.1/24;GATEWAY=10.10.0.254",
    );
    assert_eq!(ips(&r.json()), [pair("10.10.0.1/24", Some("10.10.0.254"))]);
    let r = run_in_process(
        StaticIpam,
        "ADD",
        &c,
        "d",
        "eth0",
        "IP=10.10.0.1/24,11.11.0.1/24;GATEWAY=10.10.0.254,11.11.0.254",
    );
    assert_eq!(
        ips(&r.json()),
        [
            pair("10.10.0.1/24", Some("10.10.0.254")),
            pair("11.11.0.1/24", Some("11.11.0.254"))
        ]
    );
    // CNI_ARGS addresses are appended to the configured ones; GATEWAY only matches them.
    let c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    let r = run_in_process(
        StaticIpam,
        "ADD",
        &c,
        "d",
        "eth0",
        "IP=10.1.1.1/24;GATEWAY=10.10.0.7,10.1.1.9",
    );
    assert_eq!(
        ips(&r.json()),
        [
            pair("10.10.0.1/24", None),
            pair("10.1.1.1/24", Some("10.1.1.9"))
        ]
    );
}

#[test]
fn runtime_config_and_args_replace_the_addresses() {
    let mut c = conf(
        json!({"type": "static", "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}]}),
    );
    c["runtimeConfig"] = json!({"ips": ["10.10.0.7/24", "3ffe:ffff:0:01ff::7/64"]});
    let r = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap();
    let got: Vec<String> = r.ips.iter().map(|i| i.address.to_string()).collect();
    assert_eq!(got, ["10.10.0.7/24", "3ffe:ffff:0:1ff::7/64"]);
    assert!(r.ips.iter().all(|i| i.gateway.is_none()));

    let mut c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    c["args"] = json!({"cni": {"ips": ["10.10.0.8/24"]}});
    let r = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.10.0.8/24");
    assert_eq!(r.ips.len(), 1);
}

#[test]
fn precedence_runtime_over_args_over_cni_args() {
    let mut c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    c["args"] = json!({"cni": {"ips": ["10.10.0.2/24"]}});
    c["runtimeConfig"] = json!({"ips": ["10.10.0.3/24"]});
    let r = block(StaticIpam.add(&request_args(&c, "d", "eth0", "IP=10.10.0.4/24"))).unwrap();
    let got: Vec<String> = r.ips.iter().map(|i| i.address.to_string()).collect();
    assert_eq!(got, ["10.10.0.3/24"]);
    c["runtimeConfig"] = json!({});
    let r = block(StaticIpam.add(&request_args(&c, "d", "eth0", "IP=10.10.0.4/24"))).unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.10.0.2/24");
}

#[test]
fn missing_ipam_key_is_an_error_with_args_or_runtime_config() {
    let mut c = json!({"cniVersion": "1.0.0", "name": "mynet", "type": "ipvlan",
        "args": {"cni": {"ips": ["10.10.0.2/24"]}}});
    let e = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(e.to_string(), "IPAM config missing 'ipam' key");
    assert_eq!(e.code(), 7);
    c["args"] = json!({});
    c["runtimeConfig"] = json!({"ips": ["10.10.0.2/24"]});
    assert_eq!(
        run_in_process(StaticIpam, "ADD", &c, "d", "eth0", "").code(),
        7
    );
}

#[test]
fn invalid_cidrs_everywhere() {
    let c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1"}]}));
    let e = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the 'address' field is expected to be in CIDR notation, got: '10.10.0.1'"
    );
    assert_eq!(e.code(), 7);
    let c = conf(json!({"type": "static", "addresses": [{"gateway": "10.10.0.1"}]}));
    assert_eq!(
        block(StaticIpam.add(&request(&c, "d", "eth0")))
            .unwrap_err()
            .code(),
        7
    );
    let c = conf(
        json!({"type": "static", "addresses": [{"address": "10.10.0.1/24", "gateway": "zz"}]}),
    );
    assert_eq!(
        block(StaticIpam.add(&request(&c, "d", "eth0")))
            .unwrap_err()
            .code(),
        7
    );

    let base = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    let mut c = base.clone();
    c["args"] = json!({"cni": {"ips": ["10.10.0.2"]}});
    let e = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "an entry in the 'ips' field is NOT in CIDR notation, got: '10.10.0.2'"
    );
    let mut c = base.clone();
    c["runtimeConfig"] = json!({"ips": ["10.10.0.3"]});
    assert_eq!(
        block(StaticIpam.add(&request(&c, "d", "eth0")))
            .unwrap_err()
            .code(),
        7
    );
    // Garbage in args is a config error already when parsing the config.
    let mut c = base.clone();
    c["args"] = json!({"cni": {"ips": ["garbage"]}});
    assert_eq!(
        run_in_process(StaticIpam, "ADD", &c, "d", "eth0", "").code(),
        7
    );

    // CNI_ARGS: code 4.
    let e = block(StaticIpam.add(&request_args(&base, "d", "eth0", "IP=10.10.0.5"))).unwrap_err();
    assert_eq!(e.code(), 4);
    assert_eq!(
        e.to_string(),
        "the 'ip' field is expected to be in CIDR notation, got: '10.10.0.5'"
    );
    let e = block(StaticIpam.add(&request_args(&base, "d", "eth0", "GATEWAY=bad"))).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string()),
        (4, "invalid gateway address: bad".into())
    );
    assert_eq!(
        run_in_process(StaticIpam, "ADD", &base, "d", "eth0", "IP=bad").code(),
        4
    );
    assert_eq!(
        run_in_process(StaticIpam, "ADD", &base, "d", "eth0", "FOO=1").code(),
        4
    );
    assert_eq!(
        run_in_process(
            StaticIpam,
            "ADD",
            &base,
            "d",
            "eth0",
            "IgnoreUnknown=1;FOO=1"
        )
        .status,
        0
    );
}

#[test]
fn one_address_per_family_before_0_3_0() {
    let mut c = conf(
        json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}, {"address": "10.11.0.1/24"}]}),
    );
    c["cniVersion"] = json!("0.2.0");
    let e = block(StaticIpam.add(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CNI version 0.2.0 does not support more than 1 address per family"
    );
    c["ipam"]["addresses"] = json!([{"address": "10.10.0.1/24"}, {"address": "2001:db8::1/64"}]);
    let run = run_in_process(StaticIpam, "ADD", &c, "d", "eth0", "");
    assert_eq!(run.status, 0, "{}", run.stdout);
    assert_eq!(run.json()["ip4"]["ip"], "10.10.0.1/24");
}

#[test]
fn check_against_prev_result() {
    let mut c = conf(
        json!({"type": "static", "addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}]}),
    );
    let e = block(StaticIpam.check(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(e.to_string(), "Required prevResult missing");
    c["prevResult"] = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}]});
    block(StaticIpam.check(&request(&c, "d", "eth0"))).unwrap();
    assert_eq!(
        run_in_process(StaticIpam, "CHECK", &c, "d", "eth0", "").status,
        0
    );
    c["prevResult"] = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.10.0.1/24", "gateway": "10.10.0.1"}]});
    let e = block(StaticIpam.check(&request(&c, "d", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "static: Failed to match addr 10.10.0.1 on interface eth0"
    );
    assert_eq!(
        run_in_process(StaticIpam, "CHECK", &c, "d", "eth0", "").code(),
        999
    );
    // An address missing from prevResult is not reported (as in the reference).
    c["prevResult"] = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.10.0.2/24"}]});
    block(StaticIpam.check(&request(&c, "d", "eth0"))).unwrap();
}

#[test]
fn chosen_by_type_and_usable_behind_pointers() {
    let c = conf(json!({"type": "static", "addresses": [{"address": "10.10.0.1/24"}]}));
    let ipam = cni_ipam::ipam_for("static");
    let r = block(ipam.add(&request(&c, "d", "eth0"))).unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.10.0.1/24");
    let shared: std::sync::Arc<dyn Ipam> = std::sync::Arc::new(StaticIpam);
    assert_eq!(block(shared.add(&request(&c, "d", "eth0"))).unwrap(), r);
    // A boxed IPAM runs as a plugin too.
    let run = run_in_process(cni_ipam::ipam_for("static"), "ADD", &c, "d", "eth0", "");
    assert_eq!(run.json()["ips"][0]["address"], "10.10.0.1/24");
}
