use super::*;

fn conf(json: &str) -> BridgeConf {
    serde_json::from_str(json).unwrap()
}

fn l3() -> ConfContext<'static> {
    ConfContext {
        ipam_type: "host-local",
        ..ConfContext::default()
    }
}

fn load(json: &str) -> Result<Settings, BridgeError> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let ctx = ConfContext {
        ip_masq: v["ipMasq"].as_bool().unwrap_or(false),
        ..l3()
    };
    Settings::load(&conf(json), &ctx)
}

fn load_err(json: &str) -> String {
    match load(json).and_then(|s| s.check_for_add().map(|()| s)) {
        Ok(s) => format!("unexpected success: {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_are_the_references() {
    let s = load("{}").unwrap();
    assert_eq!(s.bridge, "cni0");
    assert!(!s.is_gateway && !s.is_default_gateway && !s.force_address && !s.ip_masq);
    assert_eq!(s.masq_backend, MasqBackend::Nftables);
    assert_eq!(s.mtu, None);
    assert!(!s.hairpin_mode && !s.promisc_mode);
    assert_eq!(s.vlan, 0);
    assert!(s.vlan_trunk.is_empty() && !s.vlan_filtering && !s.preserve_default_vlan);
    assert!(!s.mac_spoof_check && !s.enable_dad && !s.disable_container_interface);
    assert!(!s.port_isolation);
    assert!(s.non_masquerade_cidrs.is_empty());
    assert_eq!(s.mac, None);
    assert_eq!(s.ipam_type.as_deref(), Some("host-local"));
    assert!(s.is_layer3());
    assert_eq!(BridgeConf::default(), conf("{}"));
}

#[test]
fn nulls_count_as_missing() {
    let s = load(
        r#"{"bridge":null,"isGateway":null,"mtu":null,"vlan":null,"nonMasqueradeCIDRs":null}"#,
    )
    .unwrap();
    assert_eq!(s.bridge, "cni0");
    assert!(!s.is_gateway);
}

#[test]
fn every_key_is_read() {
    let s = load(
        r#"{"bridge":"br-x","isGateway":false,"isDefaultGateway":true,"forceAddress":true,
            "ipMasq":true,"ipMasqBackend":"iptables","mtu":1400,"hairpinMode":true,
            "promiscMode":false,"vlan":0,"vlanTrunk":[{"id":7}],"preserveDefaultVlan":true,
            "macspoofchk":true,"enabledad":true,"disableContainerInterface":false,
            "portIsolation":true,"nonMasqueradeCIDRs":["10.244.0.0/16","fd00:10::/48"]}"#,
    )
    .unwrap();
    assert_eq!(s.bridge, "br-x");
    assert!(s.is_gateway, "isDefaultGateway implies isGateway");
    assert!(s.is_default_gateway && s.force_address && s.ip_masq);
    assert_eq!(s.masq_backend, MasqBackend::Iptables);
    assert_eq!(s.mtu, Some(1400));
    assert!(s.hairpin_mode && !s.promisc_mode);
    assert_eq!(s.vlan_trunk, vec![7]);
    assert!(s.vlan_filtering && s.preserve_default_vlan);
    assert!(s.mac_spoof_check && s.enable_dad && s.port_isolation);
    assert_eq!(s.non_masquerade_cidrs.len(), 2);
    s.check_for_add().unwrap();
}

#[test]
fn serialises_back_with_the_same_keys() {
    let c = conf(
        r#"{"bridge":"b","macspoofchk":true,"enabledad":true,"nonMasqueradeCIDRs":["10.0.0.0/8"]}"#,
    );
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["macspoofchk"], true);
    assert_eq!(v["enabledad"], true);
    assert_eq!(v["nonMasqueradeCIDRs"][0], "10.0.0.0/8");
    assert_eq!(conf(&v.to_string()), c);
}

#[test]
fn masquerade_backend() {
    assert_eq!(
        load(r#"{"ipMasq":true}"#).unwrap().masq_backend,
        MasqBackend::Nftables
    );
    assert_eq!(
        load(r#"{"ipMasq":true,"ipMasqBackend":"nftables"}"#)
            .unwrap()
            .masq_backend,
        MasqBackend::Nftables
    );
    assert_eq!(
        load_err(r#"{"ipMasq":true,"ipMasqBackend":"pf"}"#),
        r#"unknown ipmasq backend "pf""#
    );
    // Like the reference, an unknown backend matters only when masquerading is on.
    assert!(load(r#"{"ipMasq":false,"ipMasqBackend":"pf"}"#).is_ok());
}

#[test]
fn hairpin_and_promisc_together_fail_on_add() {
    let s = load(r#"{"hairpinMode":true,"promiscMode":true}"#).unwrap();
    let err = s.check_for_add().unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot set hairpin mode and promiscuous mode at the same time"
    );
    assert_eq!(err.code(), 7);
}

#[test]
fn disabled_container_interface_needs_layer2() {
    assert_eq!(
        load_err(r#"{"disableContainerInterface":true}"#),
        "cannot use IPAM when DisableContainerInterface flag is set"
    );
    let l2 = Settings::load(
        &conf(r#"{"disableContainerInterface":true}"#),
        &ConfContext::default(),
    )
    .unwrap();
    assert!(!l2.is_layer3());
    l2.check_for_add().unwrap();
}

#[test]
fn vlan_range_and_filtering() {
    assert!(load(r#"{"vlan":100}"#).unwrap().vlan_filtering);
    assert_eq!(
        load_err(r#"{"vlan":-100}"#),
        "invalid VLAN ID -100 (must be between 0 and 4094)"
    );
    assert_eq!(
        load_err(r#"{"vlan":5000}"#),
        "invalid VLAN ID 5000 (must be between 0 and 4094)"
    );
    let empty_trunk = load(r#"{"vlanTrunk":[]}"#).unwrap();
    assert!(empty_trunk.vlan_filtering && empty_trunk.vlan_trunk.is_empty());
    let trunk = load(r#"{"vlanTrunk":[{"minID":200,"maxID":202},{"id":101},{"id":201}]}"#).unwrap();
    assert_eq!(trunk.vlan_trunk, vec![101, 200, 201, 202]);
    assert_eq!(
        load_err(r#"{"vlanTrunk":[{"minID":5}]}"#),
        "minID and maxID should be configured simultaneously, maxID is missing"
    );
}

#[test]
fn mtu_bounds() {
    assert_eq!(load(r#"{"mtu":0}"#).unwrap().mtu, None);
    assert_eq!(load(r#"{"mtu":9000}"#).unwrap().mtu, Some(9000));
    for bad in ["-1", "67", "65536", "99999999999"] {
        let e = load(&format!(r#"{{"mtu":{bad}}}"#)).unwrap_err();
        assert_eq!(e.code(), 7, "{bad}");
    }
}

#[test]
fn bridge_names_are_checked() {
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "../../etc",
        "br 0",
        "br:0",
        "a-very-long-bridge-name",
    ] {
        let json = serde_json::json!({ "bridge": bad }).to_string();
        let e = load(&json).unwrap_err();
        assert_eq!(e.code(), 7, "{bad:?}");
    }
    assert!(load(r#"{"bridge":"exactly15chars_"}"#).is_ok());
}

#[test]
fn layer2_when_ipam_type_is_empty() {
    let s = Settings::load(&BridgeConf::default(), &ConfContext::default()).unwrap();
    assert!(!s.is_layer3());
    assert_eq!(s.ipam_type, None);
}

#[test]
fn mac_from_the_sources() {
    let ctx = ConfContext {
        mac: MacSources {
            cni_args: Some("02:00:00:00:00:01".parse().unwrap()),
            args: None,
            runtime_config: Some("02:00:00:00:00:00".parse().unwrap()),
        },
        ..ConfContext::default()
    };
    let s = Settings::load(&BridgeConf::default(), &ctx).unwrap();
    assert_eq!(
        s.mac.map(|m| m.to_string()).as_deref(),
        Some("02:00:00:00:00:00")
    );
}

#[test]
fn wrong_types_are_decode_errors_not_panics() {
    for bad in [
        r#"{"portIsolation":"true"}"#,
        r#"{"mtu":"1500"}"#,
        r#"{"vlan":1e40}"#,
        r#"{"vlanTrunk":{"id":1}}"#,
        r#"{"nonMasqueradeCIDRs":["10.0.0.0/33"]}"#,
        r#"{"bridge":5}"#,
    ] {
        assert!(serde_json::from_str::<BridgeConf>(bad).is_err(), "{bad}");
    }
}
