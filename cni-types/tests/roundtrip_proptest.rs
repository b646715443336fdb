//! Property tests: configs and results of every version survive writing and reading back, and
//! conversions keep what the target version can carry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cni_types::ipnetwork::IpNetwork;
use cni_types::{
    Bandwidth, CniArgs, CniError, CniResult, Dns, GcAttachment, Interface, Interface040, IpConfig,
    IpConfig020, IpConfig040, IpVersion, IpamConf, MacAddress, NetConf, NetConfList,
    NoPluginFields, PortMapping, RequestedIp, Result020, Result040, Result100, Route,
    RuntimeConfig, Version,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n)))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4(), ipv6()]
}

fn net() -> impl Strategy<Value = IpNetwork> {
    prop_oneof![
        (ipv4(), 0u8..=32).prop_map(|(ip, p)| IpNetwork::new(ip, p).unwrap()),
        (ipv6(), 0u8..=128).prop_map(|(ip, p)| IpNetwork::new(ip, p).unwrap()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ./:_\u{e9}\u{4e2d}\"\\\\-]{1,12}"
}

fn route() -> impl Strategy<Value = Route> {
    (
        net(),
        proptest::option::of(ip()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(dst, gw, mtu, advmss, priority, table, scope)| Route {
            dst,
            gw,
            mtu,
            advmss,
            priority,
            table,
            scope,
        })
}

fn dns() -> impl Strategy<Value = Dns> {
    (
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(nameservers, domain, search, options)| Dns {
            nameservers,
            domain,
            search,
            options,
        })
}

fn interface() -> impl Strategy<Value = Interface> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(name, mac, mtu, sandbox, socket_path, pci_id)| Interface {
            name,
            mac,
            mtu,
            sandbox,
            socket_path,
            pci_id,
        })
}

fn result100(version: Version) -> impl Strategy<Value = Result100> {
    (
        proptest::collection::vec(interface(), 0..3),
        proptest::collection::vec(
            (
                proptest::option::of(0usize..4),
                net(),
                proptest::option::of(ip()),
            ),
            0..4,
        ),
        proptest::collection::vec(route(), 0..4),
        dns(),
    )
        .prop_map(move |(interfaces, ips, routes, dns)| Result100 {
            cni_version: version,
            interfaces,
            ips: ips
                .into_iter()
                .map(|(interface, address, gateway)| IpConfig {
                    interface,
                    address,
                    gateway,
                })
                .collect(),
            routes,
            dns,
        })
}

fn result040(version: Version) -> impl Strategy<Value = Result040> {
    (
        proptest::collection::vec(
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(text()),
            ),
            0..3,
        ),
        proptest::collection::vec(
            (
                proptest::option::of(0usize..4),
                net(),
                proptest::option::of(ip()),
            ),
            0..4,
        ),
        proptest::collection::vec(route(), 0..4),
        dns(),
    )
        .prop_map(move |(ifs, ips, routes, dns)| Result040 {
            cni_version: version,
            interfaces: ifs
                .into_iter()
                .map(|(name, mac, sandbox)| Interface040 { name, mac, sandbox })
                .collect(),
            ips: ips
                .into_iter()
                .map(|(interface, address, gateway)| IpConfig040 {
                    version: IpVersion::of(address.ip()),
                    interface,
                    address,
                    gateway,
                })
                .collect(),
            routes,
            dns,
        })
}

fn ipconfig020(family_v4: bool) -> impl Strategy<Value = IpConfig020> {
    let addr = if family_v4 {
        (ipv4(), 0u8..=32)
            .prop_map(|(ip, p)| IpNetwork::new(ip, p).unwrap())
            .boxed()
    } else {
        (ipv6(), 0u8..=128)
            .prop_map(|(ip, p)| IpNetwork::new(ip, p).unwrap())
            .boxed()
    };
    (
        addr,
        proptest::option::of(ip()),
        proptest::collection::vec(route(), 0..3),
    )
        .prop_map(|(ip, gateway, routes)| IpConfig020 {
            ip,
            gateway,
            routes,
        })
}

fn result020(version: Version) -> impl Strategy<Value = Result020> {
    (
        proptest::option::of(ipconfig020(true)),
        proptest::option::of(ipconfig020(false)),
        dns(),
    )
        .prop_map(move |(ip4, ip6, dns)| Result020 {
            cni_version: version,
            ip4,
            ip6,
            dns,
        })
}

fn any_result() -> impl Strategy<Value = CniResult> {
    proptest::sample::select(Version::ALL.to_vec()).prop_flat_map(|v| match v.result_format() {
        cni_types::ResultFormat::V020 => result020(v).prop_map(CniResult::V020).boxed(),
        cni_types::ResultFormat::V040 => result040(v).prop_map(CniResult::V040).boxed(),
        cni_types::ResultFormat::V100 => result100(v).prop_map(CniResult::V100).boxed(),
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn extra_map() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("x-[a-zA-Z0-9./-]{1,10}", json_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn mac() -> impl Strategy<Value = MacAddress> {
    any::<[u8; 6]>().prop_map(MacAddress)
}

fn requested_ip() -> impl Strategy<Value = RequestedIp> {
    prop_oneof![
        ip().prop_map(RequestedIp::from),
        net().prop_map(|n| RequestedIp {
            ip: n.ip(),
            prefix: Some(n.prefix())
        }),
    ]
}

fn runtime_config() -> impl Strategy<Value = RuntimeConfig> {
    (
        proptest::collection::vec(
            (
                any::<u16>(),
                any::<u16>(),
                "tcp|udp|sctp",
                proptest::option::of(text()),
            ),
            0..3,
        ),
        proptest::option::of(proptest::array::uniform4(
            proptest::option::of(any::<u64>()),
        )),
        proptest::collection::vec(requested_ip(), 0..3),
        proptest::option::of(mac()),
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        extra_map(),
    )
        .prop_map(
            |(pms, bw, ips, mac, aliases, device_id, cgroup_path, extra)| RuntimeConfig {
                port_mappings: pms
                    .into_iter()
                    .map(
                        |(host_port, container_port, protocol, host_ip)| PortMapping {
                            host_port,
                            container_port,
                            protocol,
                            host_ip,
                        },
                    )
                    .collect(),
                bandwidth: bw.map(|[a, b, c, d]| Bandwidth {
                    ingress_rate: a,
                    ingress_burst: b,
                    egress_rate: c,
                    egress_burst: d,
                }),
                ips,
                mac,
                aliases,
                device_id,
                cgroup_path,
                extra,
                ..RuntimeConfig::default()
            },
        )
}

fn netconf() -> impl Strategy<Value = NetConf> {
    (
        proptest::sample::select(Version::ALL.to_vec()),
        "[a-z][a-z0-9_.-]{0,10}",
        "[a-z][a-z0-9-]{0,10}",
        proptest::option::of(any::<bool>()),
        proptest::option::of(("[a-z-]{1,10}", extra_map())),
        proptest::option::of(dns()),
        runtime_config(),
        proptest::option::of(proptest::collection::btree_map(
            "[a-zA-Z]{1,8}",
            any::<bool>(),
            0..3,
        )),
        proptest::option::of(proptest::collection::vec(
            ("[a-z0-9]{1,8}", "eth[0-9]"),
            0..3,
        )),
        extra_map(),
    )
        .prop_map(
            |(v, name, ty, ip_masq, ipam, dns, runtime_config, caps, attachments, extra)| NetConf {
                cni_version: v.as_str().to_owned(),
                name,
                plugin_type: ty,
                ip_masq,
                ipam: ipam.map(|(ipam_type, rest)| IpamConf { ipam_type, rest }),
                dns,
                runtime_config,
                capabilities: caps.map(|c: BTreeMap<String, bool>| c),
                valid_attachments: attachments.map(|a| {
                    a.into_iter()
                        .map(|(c, i)| GcAttachment::new(c, i))
                        .collect()
                }),
                extra,
                ..NetConf::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn results_of_every_version_round_trip(r in any_result()) {
        let v = r.version();
        let bytes = r.to_vec().unwrap();
        prop_assert_eq!(&CniResult::from_slice(v, &bytes).unwrap(), &r);
        let pretty = r.to_vec_pretty().unwrap();
        prop_assert_eq!(&CniResult::from_slice(v, &pretty).unwrap(), &r);
        prop_assert_eq!(&CniResult::from_slice_own_version(&bytes).unwrap(), &r);
    }

    #[test]
    fn results_are_written_as_the_bytes_of_their_json_value(r in any_result()) {
        // to_vec and to_vec_pretty serialise the result directly; the bytes must stay those of
        // its `Value` (field order, skipped fields, number and address forms).
        let value = r.to_value().unwrap();
        prop_assert_eq!(r.to_vec().unwrap(), serde_json::to_vec(&value).unwrap());
        let mut pretty = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut pretty, formatter);
        serde::Serialize::serialize(&value, &mut ser).unwrap();
        prop_assert_eq!(r.to_vec_pretty().unwrap(), pretty);
    }

    #[test]
    fn into_version_is_convert_to(r in any_result(), to in proptest::sample::select(Version::ALL.to_vec())) {
        let by_ref = r.convert_to(to);
        let owned = r.into_version(to);
        prop_assert_eq!(owned, by_ref);
    }

    #[test]
    fn every_conversion_keeps_what_the_target_can_carry(r in any_result(), to in proptest::sample::select(Version::ALL.to_vec())) {
        let current = r.to_current();
        match r.convert_to(to) {
            Ok(converted) => {
                prop_assert_eq!(converted.version(), to);
                // Written and read back in the target version.
                let bytes = converted.to_vec().unwrap();
                prop_assert_eq!(&CniResult::from_slice(to, &bytes).unwrap(), &converted);
                let back = converted.to_current();
                if to.result_format() == cni_types::ResultFormat::V020 {
                    // At most the first address of each family.
                    prop_assert!(back.ips.len() <= 2);
                    for ip in &back.ips {
                        prop_assert!(current.ips.iter().any(|c| c.address == ip.address && c.gateway == ip.gateway));
                    }
                    prop_assert_eq!(&back.dns, &current.dns);
                } else {
                    let addrs = |r: &Result100| r.ips.iter().map(|i| (i.address, i.gateway)).collect::<Vec<_>>();
                    prop_assert_eq!(addrs(&back), addrs(&current));
                    prop_assert_eq!(&back.routes, &current.routes);
                    prop_assert_eq!(&back.dns, &current.dns);
                    if r.version().result_format() != cni_types::ResultFormat::V020 {
                        prop_assert_eq!(back.interfaces.len(), current.interfaces.len());
                    }
                }
            }
            Err(e) => {
                prop_assert_eq!(to.result_format(), cni_types::ResultFormat::V020);
                prop_assert!(current.ips.is_empty());
                prop_assert_eq!(e.msg, "cannot convert: no valid IP addresses");
            }
        }
    }

    #[test]
    fn same_format_conversion_only_changes_the_version(r in any_result()) {
        for to in r.version().result_format().versions() {
            let c = r.convert_to(*to).unwrap();
            let back = c.convert_to(r.version()).unwrap();
            prop_assert_eq!(&back, &r);
        }
    }

    #[test]
    fn configs_round_trip_with_unknown_keys(conf in netconf()) {
        let bytes = conf.to_vec().unwrap();
        let back = NetConf::<NoPluginFields>::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &conf);
        // As an untyped JSON object too: writing back never loses or invents a key.
        let as_value: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(back.to_value().unwrap(), as_value);
        let as_map = NetConf::<Map<String, Value>>::from_slice(&bytes).unwrap();
        prop_assert_eq!(as_map.to_value().unwrap(), serde_json::from_slice::<Value>(&bytes).unwrap());
    }

    #[test]
    fn config_lists_round_trip(
        name in "[a-z][a-z0-9-]{0,10}",
        version in proptest::sample::select(Version::ALL.to_vec()),
        flags in any::<(bool, bool, bool)>(),
        plugins in proptest::collection::vec(("[a-z]{1,8}", extra_map()), 1..4),
        extra in extra_map(),
    ) {
        let list = NetConfList {
            cni_version: Some(version.as_str().into()),
            cni_versions: Some(vec![version.as_str().into()]),
            name,
            disable_check: flags.0,
            disable_gc: flags.1,
            load_only_inlined_plugins: flags.2,
            plugins: plugins.into_iter().map(|(t, mut m)| { m.insert("type".into(), Value::String(t)); m }).collect(),
            extra,
        };
        let bytes = serde_json::to_vec(&list).unwrap();
        let back = NetConfList::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &list);
        prop_assert_eq!(back.negotiated_version().unwrap(), version);
        for i in 0..list.plugins.len() {
            let conf = back.plugin_config(i, &Map::new(), None).unwrap();
            let parsed = NetConf::<NoPluginFields>::from_value(conf).unwrap();
            prop_assert_eq!(parsed.version().unwrap(), version);
            prop_assert_eq!(&parsed.name, &list.name);
        }
    }

    #[test]
    fn cni_args_round_trip(
        ignore in any::<bool>(),
        ips in proptest::collection::vec(requested_ip(), 0..3),
        mac in proptest::option::of(mac()),
        pod in proptest::option::of("[a-z0-9-]{1,10}"),
        extra in proptest::collection::vec(("X_[A-Z]{1,6}", "[a-zA-Z0-9./-]{0,8}"), 0..3),
    ) {
        let args = CniArgs { ignore_unknown: ignore, ips, mac, k8s_pod_name: pod, extra, ..CniArgs::default() };
        let s = args.to_string();
        prop_assert_eq!(CniArgs::parse(&s).unwrap(), args);
    }

    #[test]
    fn errors_round_trip(code in any::<u32>(), msg in text(), details in proptest::option::of(text())) {
        let mut e = CniError::plugin(code, msg);
        if let Some(d) = details { e = e.with_details(d); }
        let bytes = serde_json::to_vec(&e).unwrap();
        prop_assert_eq!(&CniError::from_slice(&bytes).unwrap(), &e);
        let spec = serde_json::to_vec(&e.to_json_for(Version::CURRENT)).unwrap();
        prop_assert_eq!(&CniError::from_slice(&spec).unwrap(), &e);
    }
}
