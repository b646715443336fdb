//! Properties of the pure allocator over random range sets and random ADD/DEL sequences, on
//! the in-memory store: addresses are unique, inside the set, never reserved, and ADD fails
//! (code 50) exactly when the set is full.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use cni_ipam::host_local::ops;
use cni_ipam::host_local::range::RangeConf;
use cni_ipam::host_local::range_set::RangeSet;
use cni_ipam::host_local::store::MemStore;
use proptest::prelude::*;

/// Up to three non-overlapping small IPv4 ranges (distinct third octets), with optional
/// start/end offsets and gateway.
fn range_set() -> impl Strategy<Value = RangeSet> {
    prop::collection::btree_map(
        0u8..8,
        (28u8..=30, 0u32..3, 0u32..3, prop::option::of(1u32..3)),
        1..=3,
    )
    .prop_map(|m| {
        let confs: Vec<RangeConf> = m
            .into_iter()
            .map(|(octet, (prefix, skip_start, skip_end, gw))| {
                let size = 1u32 << (32 - u32::from(prefix));
                let base = u32::from(std::net::Ipv4Addr::new(10, 0, octet, 0));
                let ip = |off: u32| std::net::Ipv4Addr::from(base + off).to_string();
                let start = 1 + skip_start.min(size / 4);
                let end = (size - 2 - skip_end.min(size / 4)).max(start);
                RangeConf {
                    subnet: Some(format!("{}/{prefix}", ip(0))),
                    range_start: Some(ip(start)),
                    range_end: Some(ip(end)),
                    gateway: gw.map(ip),
                }
            })
            .collect();
        RangeSet::canonicalize(&confs).unwrap()
    })
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    Del(u8),
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => (0u8..40).prop_map(Op::Add), 1 => (0u8..40).prop_map(Op::Del)],
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn allocations_are_unique_valid_and_exhaust_exactly(set in range_set(), seq in ops_strategy()) {
        let store = MemStore::new();
        let sets = [set.clone()];
        let capacity = set.capacity();
        let mut live: BTreeMap<u8, IpAddr> = BTreeMap::new();
        for op in seq {
            match op {
                Op::Add(id) => {
                    let name = format!("c{id}");
                    let got = ops::allocate(&sets, &store, &name, "eth0", &[]);
                    if live.contains_key(&id) {
                        // A second dynamic ADD of one attachment is refused.
                        prop_assert_eq!(got.unwrap_err().code(), 999);
                        continue;
                    }
                    match got {
                        Ok(a) => {
                            prop_assert_eq!(a.len(), 1);
                            let ip = a[0].address.ip();
                            let r = set.range_for(ip);
                            prop_assert!(r.is_some(), "{} outside {}", ip, set);
                            prop_assert!(!r.unwrap().is_reserved(ip), "{} is reserved", ip);
                            prop_assert_eq!(a[0].gateway, r.unwrap().gateway);
                            prop_assert!(!live.values().any(|v| *v == ip), "{} handed out twice", ip);
                            live.insert(id, ip);
                        }
                        Err(e) => {
                            prop_assert_eq!(e.code(), 50);
                            prop_assert_eq!(live.len() as u128, capacity);
                        }
                    }
                }
                Op::Del(id) => {
                    let freed = ops::release(&store, &format!("c{id}"), "eth0", 1).unwrap();
                    match live.remove(&id) {
                        Some(ip) => prop_assert_eq!(freed, vec![ip]),
                        None => prop_assert!(freed.is_empty()),
                    }
                }
            }
            let full = ops::status(&sets, &store).is_err();
            prop_assert_eq!(full, live.len() as u128 >= capacity);
        }
    }
}
