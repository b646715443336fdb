//! The cases of Go host-local's `allocator_test.go`, run against [`MemStore`], plus the
//! multi-set operations of `ops`.

use std::net::IpAddr;

use super::allocator::{RangeAllocator, RangeIter};
use super::ops;
use super::range::RangeConf;
use super::range_set::RangeSet;
use super::store::{MemStore, Store};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rc(subnet: &str) -> RangeConf {
    RangeConf {
        subnet: Some(subnet.into()),
        ..RangeConf::default()
    }
}

fn set(subnets: &[&str]) -> RangeSet {
    let confs: Vec<RangeConf> = subnets.iter().map(|s| rc(s)).collect();
    RangeSet::canonicalize(&confs).unwrap()
}

fn ips(iter: RangeIter<'_>) -> Vec<String> {
    iter.map(|(ip, _)| ip.to_string()).collect()
}

#[test]
fn iter_from_the_beginning() {
    let s = set(&["192.168.1.0/29"]);
    assert_eq!(
        ips(RangeIter::new(&s, None)),
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
}

#[test]
fn iter_from_the_end() {
    let s = set(&["192.168.1.0/29"]);
    assert_eq!(
        ips(RangeIter::new(&s, Some(ip("192.168.1.6")))),
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
}

#[test]
fn iter_from_the_middle() {
    let s = set(&["192.168.1.0/29"]);
    assert_eq!(
        ips(RangeIter::new(&s, Some(ip("192.168.1.3")))),
        [
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6",
            "192.168.1.2",
            "192.168.1.3"
        ]
    );
}

#[test]
fn iter_across_ranges_and_back() {
    let s = set(&["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"]);
    assert_eq!(
        ips(RangeIter::new(&s, Some(ip("10.0.1.2")))),
        ["10.0.2.2", "10.0.0.2", "10.0.1.2"]
    );
}

#[test]
fn iter_never_yields_network_or_broadcast() {
    // Explicit bounds on the network and broadcast addresses (Go would hand them out).
    let confs = [
        RangeConf {
            subnet: Some("192.168.1.0/30".into()),
            range_start: Some("192.168.1.0".into()),
            range_end: Some("192.168.1.3".into()),
            gateway: None,
        },
        RangeConf {
            subnet: Some("192.168.2.0/30".into()),
            range_start: Some("192.168.2.0".into()),
            range_end: Some("192.168.2.3".into()),
            gateway: None,
        },
    ];
    let s = RangeSet::canonicalize(&confs).unwrap();
    assert_eq!(
        ips(RangeIter::new(&s, None)),
        ["192.168.1.2", "192.168.2.2"]
    );
    // After the last address of range 1, the walk continues in range 2.
    assert_eq!(
        ips(RangeIter::new(&s, Some(ip("192.168.1.3")))),
        ["192.168.2.2", "192.168.1.2"]
    );
}

/// One row of Go's round-robin table.
fn round_robin(subnets: &[&str], taken: &[&str], last: Option<&str>) -> Result<String, String> {
    let s = set(subnets);
    let store = MemStore::new();
    for t in taken {
        store.insert(ip(t), "id", Some("eth0")).unwrap();
    }
    if let Some(l) = last {
        store.set_last_reserved(0, ip(l)).unwrap();
    }
    let alloc = RangeAllocator::new(&s, &store, 0);
    alloc
        .get("ID", "eth0", None)
        .map(|a| a.address.ip().to_string())
        .map_err(|e| {
            assert_eq!(e.code(), 50);
            e.to_string()
        })
}

#[test]
fn round_robin_table() {
    type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a str>, &'a str);
    let cases: &[Case<'_>] = &[
        (&["10.0.0.0/29"], &[], None, "10.0.0.2"),
        (&["2001:db8:1::0/64"], &[], None, "2001:db8:1::2"),
        (&["10.0.0.0/30"], &[], None, "10.0.0.2"),
        (&["10.0.0.0/29"], &["10.0.0.2"], None, "10.0.0.3"),
        (&["10.0.0.0/29"], &[], Some("10.0.0.5"), "10.0.0.6"),
        (
            &["10.0.0.0/29"],
            &["10.0.0.4", "10.0.0.5"],
            Some("10.0.0.3"),
            "10.0.0.6",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.6"],
            Some("10.0.0.5"),
            "10.0.0.2",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.2"],
            Some("10.0.0.128"),
            "10.0.0.3",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            Some("10.0.0.3"),
            "10.0.0.3",
        ),
        (&["10.0.0.0/30", "10.0.1.0/30"], &[], None, "10.0.0.2"),
        (
            &["10.0.0.0/30", "10.0.1.0/30"],
            &[],
            Some("10.0.0.2"),
            "10.0.1.2",
        ),
        (
            &["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"],
            &[],
            Some("10.0.2.2"),
            "10.0.0.2",
        ),
    ];
    for (i, (subnets, taken, last, want)) in cases.iter().enumerate() {
        assert_eq!(
            round_robin(subnets, taken, *last).as_deref(),
            Ok(*want),
            "case {i}"
        );
    }
}

#[test]
fn out_of_ips_table() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["10.0.0.0/30"], &["10.0.0.2"]),
        (
            &["10.0.0.0/29"],
            &["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
        ),
        (&["10.0.0.0/30", "10.0.1.0/30"], &["10.0.0.2", "10.0.1.2"]),
    ];
    for (subnets, taken) in cases {
        let err = round_robin(subnets, taken, None).unwrap_err();
        assert!(
            err.starts_with("no IP addresses available in range set"),
            "{err}"
        );
    }
}

#[test]
fn never_allocates_broadcast() {
    let s = set(&["192.168.1.0/29"]);
    let store = MemStore::new();
    let alloc = RangeAllocator::new(&s, &store, 0);
    for i in 2..7 {
        let a = alloc.get(&format!("ID{i}"), "eth0", None).unwrap();
        assert_eq!(a.address.to_string(), format!("192.168.1.{i}/29"));
        assert_eq!(a.gateway.to_string(), "192.168.1.1");
    }
    let e = alloc.get("ID8", "eth0", None).unwrap_err();
    assert_eq!(e.code(), 50);
    assert_eq!(
        e.to_string(),
        "no IP addresses available in range set: 192.168.1.1-192.168.1.6"
    );
}

#[test]
fn release_then_allocate_moves_on() {
    let s = set(&["192.168.1.0/29"]);
    let store = MemStore::new();
    let alloc = RangeAllocator::new(&s, &store, 0);
    assert_eq!(
        alloc.get("ID", "eth0", None).unwrap().address.to_string(),
        "192.168.1.2/29"
    );
    assert_eq!(
        store.release_by_id("ID", "eth0").unwrap(),
        vec![ip("192.168.1.2")]
    );
    assert_eq!(
        alloc.get("ID", "eth0", None).unwrap().address.to_string(),
        "192.168.1.3/29"
    );
}

#[test]
fn requested_ip() {
    let s = set(&["192.168.1.0/29"]);
    let store = MemStore::new();
    let alloc = RangeAllocator::new(&s, &store, 0);
    let a = alloc.get("ID", "eth0", Some(ip("192.168.1.5"))).unwrap();
    assert_eq!(a.address.to_string(), "192.168.1.5/29");
    // The last reserved address follows requested allocations too.
    assert_eq!(store.last_reserved_ip(0).unwrap(), Some(ip("192.168.1.5")));
    let e = alloc
        .get("ID", "eth0", Some(ip("192.168.1.5")))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "requested IP address 192.168.1.5 is not available in range set 192.168.1.1-192.168.1.6"
    );
    assert_eq!(e.code(), 999);
    let e = alloc
        .get("ID2", "eth0", Some(ip("192.168.1.1")))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "requested ip 192.168.1.1 is subnet's gateway"
    );
    assert_eq!(e.code(), 7);
}

#[test]
fn requested_ip_outside_start_end() {
    let confs = [RangeConf {
        subnet: Some("192.168.1.0/29".into()),
        range_start: Some("192.168.1.3".into()),
        range_end: Some("192.168.1.4".into()),
        gateway: None,
    }];
    let s = RangeSet::canonicalize(&confs).unwrap();
    let store = MemStore::new();
    let alloc = RangeAllocator::new(&s, &store, 0);
    for bad in ["192.168.1.2", "192.168.1.5"] {
        let e = alloc.get("ID", "eth0", Some(ip(bad))).unwrap_err();
        assert_eq!(e.code(), 7, "{bad}");
    }
    assert!(store.reservations().unwrap().is_empty());
}

#[test]
fn duplicate_dynamic_allocation_rejected() {
    let s = set(&["10.1.2.0/24"]);
    let store = MemStore::new();
    let alloc = RangeAllocator::new(&s, &store, 0);
    alloc.get("dummy", "eth0", None).unwrap();
    let e = alloc.get("dummy", "eth0", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "10.1.2.2 has been allocated to dummy, duplicate allocation is not allowed"
    );
    // Another interface of the same container is a different attachment.
    assert_eq!(
        alloc
            .get("dummy", "eth1", None)
            .unwrap()
            .address
            .to_string(),
        "10.1.2.3/24"
    );
}

#[test]
fn allocate_dual_stack_and_rollback() {
    let sets = [
        set(&["10.1.2.0/24", "10.2.2.0/24"]),
        set(&["2001:db8:1::/64"]),
    ];
    let store = MemStore::new();
    let got = ops::allocate(&sets, &store, "c1", "eth0", &[]).unwrap();
    let got: Vec<String> = got.iter().map(|a| a.address.to_string()).collect();
    assert_eq!(got, ["10.1.2.2/24", "2001:db8:1::2/64"]);

    // Take the whole v6 set's next candidate? Simpler: request a taken v6 address, so the v4
    // allocation of this ADD must be rolled back.
    let e = ops::allocate(&sets, &store, "c2", "eth0", &[ip("2001:db8:1::2")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failed to allocate for range 1: requested IP address 2001:db8:1::2"),
        "{e}"
    );
    assert_eq!(store.reservations().unwrap().len(), 2);
    assert!(store.get_by_id("c2", "eth0").unwrap().is_empty());
}

#[test]
fn requested_ips_across_sets_and_leftovers() {
    let sets = [
        set(&["10.1.2.0/24", "10.2.2.0/24"]),
        set(&["2001:db8:1::/64"]),
    ];
    let store = MemStore::new();
    let got = ops::allocate(
        &sets,
        &store,
        "c1",
        "eth0",
        &[ip("2001:db8:1::999"), ip("10.2.2.77"), ip("10.2.2.77")],
    )
    .unwrap();
    let got: Vec<String> = got.iter().map(|a| a.address.to_string()).collect();
    assert_eq!(got, ["10.2.2.77/24", "2001:db8:1::999/64"]);

    // Two v4 requests for one v4 set: the second is left over, everything is undone.
    let e = ops::allocate(
        &sets,
        &store,
        "c2",
        "eth0",
        &[ip("10.1.2.9"), ip("10.1.2.10")],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to allocate all requested IPs: 10.1.2.10"
    );
    assert_eq!(e.code(), 7);
    assert!(store.get_by_id("c2", "eth0").unwrap().is_empty());

    // A requested address in no set at all.
    let e = ops::allocate(&sets, &store, "c3", "eth0", &[ip("192.168.9.9")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to allocate all requested IPs: 192.168.9.9"
    );
}

#[test]
fn release_check_and_legacy() {
    let sets = [set(&["10.1.2.0/24"])];
    let store = MemStore::new();
    ops::allocate(&sets, &store, "c1", "eth0", &[]).unwrap();
    ops::check(&store, "c1", "eth0").unwrap();
    let e = ops::check(&store, "c1", "eth1").unwrap_err();
    assert_eq!(
        e.to_string(),
        "host-local: Failed to find address added by container c1"
    );
    assert_eq!(
        ops::release(&store, "c1", "eth0", 1).unwrap(),
        vec![ip("10.1.2.2")]
    );
    // DEL again, and DEL of an unknown id, succeed.
    assert!(ops::release(&store, "c1", "eth0", 1).unwrap().is_empty());
    assert!(
        ops::release(&store, "nobody", "eth0", 1)
            .unwrap()
            .is_empty()
    );

    // A legacy (id-only) reservation is found by CHECK and freed by DEL for any ifname.
    store.insert(ip("10.1.2.50"), "old", None).unwrap();
    ops::check(&store, "old", "eth7").unwrap();
    assert_eq!(
        ops::release(&store, "old", "eth7", 1).unwrap(),
        vec![ip("10.1.2.50")]
    );
}

#[test]
fn legacy_freed_only_when_no_exact_match() {
    let store = MemStore::new();
    store.insert(ip("10.1.2.2"), "c1", Some("eth0")).unwrap();
    store.insert(ip("10.1.2.3"), "c1", None).unwrap();
    assert_eq!(
        ops::release(&store, "c1", "eth0", 1).unwrap(),
        vec![ip("10.1.2.2")]
    );
    assert_eq!(
        ops::release(&store, "c1", "eth0", 1).unwrap(),
        vec![ip("10.1.2.3")]
    );
}

#[test]
fn gc_frees_only_stale() {
    let store = MemStore::new();
    store.insert(ip("10.1.2.2"), "keep", Some("eth0")).unwrap();
    store.insert(ip("10.1.2.3"), "keep", Some("eth1")).unwrap();
    store.insert(ip("10.1.2.4"), "gone", Some("eth0")).unwrap();
    store.insert(ip("10.1.2.5"), "keep", None).unwrap();
    store.insert(ip("10.1.2.6"), "oldgone", None).unwrap();
    store.set_last_reserved(0, ip("10.1.2.6")).unwrap();
    let valid = vec![("keep".to_string(), "eth0".to_string())];
    let freed: Vec<IpAddr> = ops::gc(&store, &valid)
        .unwrap()
        .iter()
        .map(|r| r.ip)
        .collect();
    assert_eq!(freed, [ip("10.1.2.3"), ip("10.1.2.4"), ip("10.1.2.6")]);
    let left: Vec<IpAddr> = store.reservations().unwrap().iter().map(|r| r.ip).collect();
    assert_eq!(left, [ip("10.1.2.2"), ip("10.1.2.5")]);
    assert_eq!(store.last_reserved_ip(0).unwrap(), Some(ip("10.1.2.6")));
    // An empty list frees everything.
    assert_eq!(ops::gc(&store, &[]).unwrap().len(), 2);
    assert!(store.reservations().unwrap().is_empty());
}

#[test]
fn status_reports_exhaustion() {
    let sets = [set(&["10.0.0.0/30"]), set(&["2001:db8::/64"])];
    let store = MemStore::new();
    ops::status(&sets, &store).unwrap();
    let usage = ops::usage(&sets, &store).unwrap();
    assert_eq!(usage[0].capacity, 1);
    ops::allocate(&sets, &store, "c1", "eth0", &[]).unwrap();
    let e = ops::status(&sets, &store).unwrap_err();
    assert_eq!(e.code(), 50);
    assert_eq!(
        e.to_string(),
        "no IP addresses available in range set 0 (10.0.0.1-10.0.0.2)"
    );
    // The next ADD fails with the same code, and leaves nothing behind.
    let e = ops::allocate(&sets, &store, "c2", "eth0", &[]).unwrap_err();
    assert_eq!(e.code(), 50);
    assert!(store.get_by_id("c2", "eth0").unwrap().is_empty());
    ops::release(&store, "c1", "eth0", 1).unwrap();
    ops::status(&sets, &store).unwrap();
}
