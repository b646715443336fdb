//! Go host-local's `host_local_test.go`, as our own tests, plus GC, STATUS, CHECK and bad
//! input with their CNI codes. Everything runs in-process on a temporary `dataDir`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use cni_ipam::host_local::disk::DiskStore;
use cni_ipam::host_local::store::Store;
use cni_ipam::{HostLocal, Ipam};
use cni_types::GcAttachment;
use common::{TempDir, block, files, request, request_args, run_in_process};
use serde_json::{Value, json};

fn dual_stack(dir: &TempDir, version: &str) -> Value {
    let resolv = dir.join("resolv.conf");
    fs::write(&resolv, "nameserver 192.0.2.3\n").unwrap();
    json!({
        "cniVersion": version, "name": "mynet", "type": "ipvlan", "master": "foo0",
        "ipam": {
            "type": "host-local",
            "dataDir": dir.str(),
            "resolvConf": resolv,
            "ranges": [
                [{"subnet": "10.1.2.0/24"}, {"subnet": "10.2.2.0/24"}],
                [{"subnet": "2001:db8:1::0/64"}]
            ],
            "routes": [
                {"dst": "0.0.0.0/0"}, {"dst": "::/0"},
                {"dst": "192.168.0.0/16", "gw": "1.1.1.1"},
                {"dst": "2001:db8:2::0/64", "gw": "2001:db8:3::1"}
            ]
        }
    })
}

fn simple(dir: &TempDir, subnet: &str) -> Value {
    json!({"cniVersion": "1.0.0", "name": "mynet", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": dir.str(), "subnet": subnet}})
}

fn read(dir: &TempDir, name: &str) -> String {
    fs::read_to_string(dir.join("mynet").join(name)).unwrap()
}

fn addresses(result: &cni_types::Result100) -> Vec<String> {
    result.ips.iter().map(|i| i.address.to_string()).collect()
}

#[test]
fn allocates_and_releases_with_add_del() {
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let dir = TempDir::new("adddel");
        let conf = dual_stack(&dir, version);
        let run = run_in_process(HostLocal, "ADD", &conf, "dummy", "eth0", "");
        assert_eq!(run.status, 0, "{version}: {}", run.stdout);
        // Nothing on stderr, not even about the missing last_reserved_ip files.
        assert_eq!(run.stderr, "", "{version}");
        let out = run.json();
        assert_eq!(out["cniVersion"], version);
        assert_eq!(out["ips"][0]["address"], "10.1.2.2/24");
        assert_eq!(out["ips"][0]["gateway"], "10.1.2.1");
        assert_eq!(out["ips"][1]["address"], "2001:db8:1::2/64");
        assert_eq!(out["ips"][1]["gateway"], "2001:db8:1::1");
        assert!(out["ips"][0].get("interface").is_none());
        assert_eq!(out["routes"].as_array().map(Vec::len), Some(4));
        assert_eq!(out["routes"][2]["gw"], "1.1.1.1");
        assert_eq!(out["dns"]["nameservers"], json!(["192.0.2.3"]));
        assert_eq!(
            run.stdout.contains("\"version\":"),
            version.starts_with("0."),
            "{version}: {}",
            run.stdout
        );

        assert_eq!(read(&dir, "10.1.2.2"), "dummy\r\neth0");
        assert_eq!(read(&dir, "2001:db8:1::2"), "dummy\r\neth0");
        assert_eq!(read(&dir, "last_reserved_ip.0"), "10.1.2.2");
        assert_eq!(read(&dir, "last_reserved_ip.1"), "2001:db8:1::2");

        let run = run_in_process(HostLocal, "DEL", &conf, "dummy", "eth0", "");
        assert_eq!(run.status, 0, "{}", run.stdout);
        assert_eq!(run.stdout, "");
        assert_eq!(
            files(&dir.join("mynet")),
            ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]
        );
    }
}

#[test]
fn allocates_and_releases_on_a_specific_interface() {
    let dir = TempDir::new("eth1");
    let conf = dual_stack(&dir, "1.0.0");
    let r = block(HostLocal.add(&request(&conf, "dummy", "eth1"))).unwrap();
    assert_eq!(addresses(&r), ["10.1.2.2/24", "2001:db8:1::2/64"]);
    assert_eq!(read(&dir, "10.1.2.2"), "dummy\r\neth1");
    // DEL of another interface of the same container frees nothing.
    block(HostLocal.del(&request(&conf, "dummy", "eth0"))).unwrap();
    assert_eq!(read(&dir, "10.1.2.2"), "dummy\r\neth1");
    block(HostLocal.del(&request(&conf, "dummy", "eth1"))).unwrap();
    assert!(!dir.join("mynet/10.1.2.2").exists());
}

#[test]
fn repeat_allocating_is_an_error() {
    let dir = TempDir::new("repeat");
    let conf = dual_stack(&dir, "1.0.0");
    block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap();
    let e = block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to allocate for range 0: 10.1.2.2 has been allocated to dummy, duplicate allocation is not allowed"
    );
    let r = block(HostLocal.add(&request(&conf, "testing", "eth0"))).unwrap();
    assert_eq!(addresses(&r)[0], "10.1.2.3/24");
    assert!(block(HostLocal.add(&request(&conf, "dummy", "eth0"))).is_err());
    block(HostLocal.del(&request(&conf, "dummy", "eth0"))).unwrap();
    block(HostLocal.del(&request(&conf, "testing", "eth0"))).unwrap();
    assert_eq!(
        files(&dir.join("mynet")),
        ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]
    );
}

#[test]
fn del_works_on_backwards_compatible_allocation() {
    let dir = TempDir::new("legacy");
    let conf = dual_stack(&dir, "1.0.0");
    block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap();
    // Rewrite as an old host-local would have written it.
    fs::write(dir.join("mynet/10.1.2.2"), "dummy").unwrap();
    block(HostLocal.check(&request(&conf, "dummy", "eth0"))).unwrap();
    block(HostLocal.del(&request(&conf, "dummy", "eth0"))).unwrap();
    assert!(!dir.join("mynet/10.1.2.2").exists());
    // The new-form v6 file went in the first pass; the legacy file in the fallback pass.
    assert!(!dir.join("mynet/2001:db8:1::2").exists());
}

#[test]
fn del_of_unknown_id_is_fine() {
    let dir = TempDir::new("unknown");
    let conf = dual_stack(&dir, "1.0.0");
    block(HostLocal.del(&request(&conf, "nobody", "eth0"))).unwrap();
    // Even before the network directory exists, and repeatedly.
    assert!(!dir.join("mynet").exists());
    block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap();
    block(HostLocal.del(&request(&conf, "nobody", "eth0"))).unwrap();
    block(HostLocal.del(&request(&conf, "dummy", "eth0"))).unwrap();
    block(HostLocal.del(&request(&conf, "dummy", "eth0"))).unwrap();
}

#[test]
fn ignores_whitespace_in_disk_files() {
    let dir = TempDir::new("ws");
    let store = DiskStore::open(dir.path(), "mynet").unwrap();
    let ip = "10.1.2.2".parse().unwrap();
    assert!(store.reserve("   dummy\n ", "eth0", ip, 0).unwrap());
    assert_eq!(read(&dir, "10.1.2.2"), "dummy\r\neth0");
    assert_eq!(store.get_by_id("dummy", "eth0").unwrap(), vec![ip]);
    // A trailing newline (hand-edited file) still matches.
    fs::write(dir.join("mynet/10.1.2.2"), "dummy\r\neth0\n").unwrap();
    assert!(store.find_by_id("   dummy\n ", "eth0").unwrap());
    assert_eq!(store.release_by_id("dummy", "eth0").unwrap(), vec![ip]);
}

#[test]
fn allocates_custom_ip_from_cni_args() {
    let dir = TempDir::new("custom");
    let conf = dual_stack(&dir, "1.0.0");
    let r = block(HostLocal.add(&request_args(&conf, "dummy", "eth0", "IP=10.1.2.88"))).unwrap();
    assert_eq!(addresses(&r), ["10.1.2.88/24", "2001:db8:1::2/64"]);
    assert_eq!(read(&dir, "10.1.2.88"), "dummy\r\neth0");
    assert_eq!(read(&dir, "last_reserved_ip.0"), "10.1.2.88");
}

#[test]
fn allocates_custom_ips_from_multiple_ranges_and_protocols() {
    let dir = TempDir::new("multi");
    let mut conf = json!({"cniVersion": "1.0.0", "name": "mynet", "type": "ipvlan",
        "ipam": {"type": "host-local", "dataDir": dir.str(), "ranges": [
            [{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}], [{"subnet": "2001:db8:1::/64"}]]}});
    conf["args"] = json!({"cni": {"ips": ["10.1.2.88", "10.1.3.77"]}});
    conf["runtimeConfig"] = json!({"ips": ["2001:db8:1::999"]});
    let r = block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap();
    assert_eq!(
        addresses(&r),
        ["10.1.2.88/24", "10.1.3.77/24", "2001:db8:1::999/64"]
    );
}

#[test]
fn fails_if_a_requested_ip_is_not_used() {
    let dir = TempDir::new("unused");
    let mut conf = json!({"cniVersion": "1.0.0", "name": "mynet", "type": "ipvlan",
        "ipam": {"type": "host-local", "dataDir": dir.str(), "ranges": [
            [{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]]}});
    conf["args"] = json!({"cni": {"ips": ["10.1.2.88", "10.1.2.77"]}});
    let e = block(HostLocal.add(&request(&conf, "dummy", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to allocate all requested IPs: 10.1.2.77"
    );
    assert_eq!(e.code(), 7);
    // Nothing stays reserved.
    let left: Vec<String> = files(&dir.join("mynet"))
        .into_iter()
        .filter(|f| f.starts_with("10."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn requested_gateway_or_taken_address() {
    let dir = TempDir::new("reqgw");
    let conf = simple(&dir, "10.1.2.0/24");
    let e = block(HostLocal.add(&request_args(&conf, "a", "eth0", "IP=10.1.2.1"))).unwrap_err();
    assert_eq!(e.code(), 7);
    assert_eq!(
        e.to_string(),
        "failed to allocate for range 0: requested ip 10.1.2.1 is subnet's gateway"
    );
    block(HostLocal.add(&request_args(&conf, "a", "eth0", "IP=10.1.2.9"))).unwrap();
    let e = block(HostLocal.add(&request_args(&conf, "b", "eth0", "IP=10.1.2.9"))).unwrap_err();
    assert_eq!(e.code(), 999);
    assert_eq!(
        e.to_string(),
        "failed to allocate for range 0: requested IP address 10.1.2.9 is not available in range set 10.1.2.1-10.1.2.254"
    );
}

#[test]
fn exhaustion_and_wrap_around_on_disk() {
    let dir = TempDir::new("exhaust");
    let conf = simple(&dir, "10.1.2.0/29");
    let mut got = Vec::new();
    for i in 0..5 {
        let r = block(HostLocal.add(&request(&conf, &format!("c{i}"), "eth0"))).unwrap();
        got.push(addresses(&r)[0].clone());
    }
    assert_eq!(
        got,
        [
            "10.1.2.2/29",
            "10.1.2.3/29",
            "10.1.2.4/29",
            "10.1.2.5/29",
            "10.1.2.6/29"
        ]
    );
    let e = block(HostLocal.add(&request(&conf, "c5", "eth0"))).unwrap_err();
    assert_eq!(e.code(), 50);
    assert_eq!(
        e.to_string(),
        "failed to allocate for range 0: no IP addresses available in range set: 10.1.2.1-10.1.2.6"
    );
    let st = block(HostLocal.status(&request(&conf, "", ""))).unwrap_err();
    assert_eq!(st.code(), 50);
    // Free .4: the next ADD wraps around from .6 and finds it.
    block(HostLocal.del(&request(&conf, "c2", "eth0"))).unwrap();
    block(HostLocal.status(&request(&conf, "", ""))).unwrap();
    let r = block(HostLocal.add(&request(&conf, "c6", "eth0"))).unwrap();
    assert_eq!(addresses(&r), ["10.1.2.4/29"]);
}

#[test]
fn check_finds_the_reservation() {
    let dir = TempDir::new("check");
    let conf = simple(&dir, "10.1.2.0/24");
    let e = block(HostLocal.check(&request(&conf, "c1", "eth0"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "host-local: Failed to find address added by container c1"
    );
    block(HostLocal.add(&request(&conf, "c1", "eth0"))).unwrap();
    block(HostLocal.check(&request(&conf, "c1", "eth0"))).unwrap();
    assert!(block(HostLocal.check(&request(&conf, "c1", "eth1"))).is_err());
    assert!(block(HostLocal.check(&request(&conf, "c2", "eth0"))).is_err());
    let run = run_in_process(HostLocal, "CHECK", &conf, "c2", "eth0", "");
    assert_eq!(run.code(), 999);
}

#[test]
fn gc_frees_only_stale_reservations() {
    let dir = TempDir::new("gc");
    let conf = simple(&dir, "10.1.2.0/24");
    for (id, ifname) in [
        ("keep", "eth0"),
        ("keep", "eth1"),
        ("gone", "eth0"),
        ("gone2", "net1"),
    ] {
        block(HostLocal.add(&request(&conf, id, ifname))).unwrap();
    }
    let net = dir.join("mynet");
    fs::write(net.join("10.1.2.200"), "legacy-kept").unwrap();
    fs::write(net.join("10.1.2.201"), "legacy-gone").unwrap();
    fs::write(net.join("README"), "not a reservation").unwrap();
    fs::create_dir(net.join("sub")).unwrap();
    fs::write(net.join("sub/10.1.2.99"), "gone\r\neth0").unwrap();

    let valid = vec![
        GcAttachment::new("keep", "eth0"),
        GcAttachment::new("legacy-kept", "eth3"),
    ];
    let req = request(&conf, "", "").with_valid_attachments(valid);
    assert_eq!(HostLocal.gc_blocking(&req).unwrap(), 4);
    assert_eq!(
        files(&net),
        [
            "10.1.2.2",
            "10.1.2.200",
            "README",
            "last_reserved_ip.0",
            "lock",
            "sub"
        ]
    );
    assert_eq!(read(&dir, "10.1.2.2"), "keep\r\neth0");
    assert_eq!(read(&dir, "last_reserved_ip.0"), "10.1.2.5");
    assert!(net.join("sub/10.1.2.99").exists());

    // Through the skel: GC with the spec's key, needs 1.1.0.
    let mut conf11 = conf.clone();
    conf11["cniVersion"] = json!("1.1.0");
    conf11["cni.dev/valid-attachments"] = json!([]);
    let run = run_in_process(HostLocal, "GC", &conf11, "", "", "");
    assert_eq!(run.status, 0, "{}", run.stdout);
    assert_eq!(files(&net), ["README", "last_reserved_ip.0", "lock", "sub"]);
    // GC of a network without state is a no-op.
    let other = TempDir::new("gc-empty");
    let req = request(&simple(&other, "10.1.2.0/24"), "", "");
    assert_eq!(HostLocal.gc_blocking(&req).unwrap(), 0);
    assert!(!other.join("mynet").exists());
}

#[test]
fn status_through_the_skel() {
    let dir = TempDir::new("status");
    let mut conf = simple(&dir, "10.1.2.0/30");
    conf["cniVersion"] = json!("1.1.0");
    assert_eq!(
        run_in_process(HostLocal, "STATUS", &conf, "", "", "").status,
        0
    );
    block(HostLocal.add(&request(&conf, "c1", "eth0"))).unwrap();
    let run = run_in_process(HostLocal, "STATUS", &conf, "", "", "");
    assert_eq!(run.code(), 50);
}

#[test]
fn bad_input_codes() {
    let dir = TempDir::new("bad");
    // A network name that would leave dataDir: refused by the skel and by the library.
    let mut conf = simple(&dir, "10.1.2.0/24");
    conf["name"] = json!("../x");
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "").code(),
        7
    );
    let req = request(&conf, "c1", "eth0");
    assert_eq!(block(HostLocal.add(&req)).unwrap_err().code(), 7);
    assert_eq!(block(HostLocal.del(&req)).unwrap_err().code(), 7);
    assert!(!dir.path().parent().unwrap().join("x").exists());
    assert_eq!(files(dir.path()), Vec::<String>::new());

    // Container ids and interface names (code 4; 3 for a missing id).
    let conf = simple(&dir, "10.1.2.0/24");
    for (id, ifname, code) in [
        ("../x", "eth0", 4),
        ("a/b", "eth0", 4),
        ("", "eth0", 3),
        ("c1", "../x", 4),
        ("c1", "", 4),
        ("c1", "waytoolonginterface", 4),
    ] {
        let e = block(HostLocal.add(&request(&conf, id, ifname))).unwrap_err();
        assert_eq!(e.code(), code, "{id:?} {ifname:?}: {e}");
    }

    // An unwritable dataDir (a path through a regular file): I/O failure, code 5.
    let file = dir.join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let mut conf = simple(&dir, "10.1.2.0/24");
    conf["ipam"]["dataDir"] = json!(file.join("data"));
    let e = block(HostLocal.add(&request(&conf, "c1", "eth0"))).unwrap_err();
    assert_eq!(e.code(), 5, "{e}");
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "").code(),
        5
    );
    let mut conf = simple(&dir, "10.1.2.0/24");
    conf["ipam"]["dataDir"] = json!("/proc/sys/cni-ipam-test");
    assert_eq!(
        block(HostLocal.add(&request(&conf, "c1", "eth0")))
            .unwrap_err()
            .code(),
        5
    );

    // A bad CIDR and a gateway outside the subnet, through the plugin: code 7.
    let conf = simple(&dir, "10.1.2.0/33");
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "").code(),
        7
    );
    let mut conf = simple(&dir, "10.1.2.0/24");
    conf["ipam"]["gateway"] = json!("10.1.3.1");
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "").code(),
        7
    );
    // An unparsable CNI_ARGS IP is code 4; a missing resolvConf file code 5.
    let conf = simple(&dir, "10.1.2.0/24");
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "IP=x").code(),
        4
    );
    // Unknown CNI_ARGS keys fail as in Go, unless IgnoreUnknown is set.
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "FOO=1").code(),
        4
    );
    let ok = run_in_process(
        HostLocal,
        "ADD",
        &conf,
        "c1",
        "eth0",
        "IgnoreUnknown=1;FOO=1;K8S_POD_NAME=p",
    );
    assert_eq!(ok.status, 0, "{}", ok.stdout);
    let mut conf = simple(&dir, "10.1.2.0/24");
    conf["ipam"]["resolvConf"] = json!(dir.join("missing.conf"));
    assert_eq!(
        block(HostLocal.add(&request(&conf, "c1", "eth0")))
            .unwrap_err()
            .code(),
        5
    );
    // A missing ipam section.
    let conf = json!({"cniVersion": "1.0.0", "name": "mynet", "type": "bridge"});
    assert_eq!(
        run_in_process(HostLocal, "ADD", &conf, "c1", "eth0", "").code(),
        7
    );
}

#[test]
fn sync_and_async_paths_agree() {
    let dir = TempDir::new("sync");
    let conf = simple(&dir, "10.1.2.0/24");
    let a = HostLocal
        .add_blocking(&request(&conf, "c1", "eth0"))
        .unwrap();
    let b = block(HostLocal.add(&request(&conf, "c2", "eth0"))).unwrap();
    assert_eq!(addresses(&a), ["10.1.2.2/24"]);
    assert_eq!(addresses(&b), ["10.1.2.3/24"]);
    HostLocal
        .del_blocking(&request(&conf, "c1", "eth0"))
        .unwrap();
    HostLocal
        .check_blocking(&request(&conf, "c2", "eth0"))
        .unwrap();
    HostLocal.status_blocking(&request(&conf, "", "")).unwrap();
}

#[test]
fn concurrent_in_process_allocations_are_distinct() {
    let dir = TempDir::new("threads");
    let conf = simple(&dir, "10.1.0.0/16");
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let conf = conf.clone();
            std::thread::spawn(move || {
                HostLocal
                    .add_blocking(&request(&conf, &format!("t{i}"), "eth0"))
                    .map(|r| addresses(&r)[0].clone())
            })
        })
        .collect();
    let mut got: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 32);
}

#[test]
fn last_reserved_file_is_rewritten_exactly() {
    let dir = TempDir::new("lastip");
    let store = DiskStore::open(dir.path(), "mynet").unwrap();
    for (ip, range) in [
        ("10.1.2.100", 0),
        ("10.1.2.9", 0),
        ("2001:db8::abcd", 1),
        ("2001:db8::1", 1),
    ] {
        assert!(
            store
                .reserve("c", "eth0", ip.parse().unwrap(), range)
                .unwrap()
        );
        assert_eq!(read(&dir, &format!("last_reserved_ip.{range}")), ip);
        assert_eq!(
            store.last_reserved_ip(range).unwrap(),
            Some(ip.parse().unwrap())
        );
    }
    // A garbled file is ignored, not an error (Go logs and starts over).
    fs::write(dir.join("mynet/last_reserved_ip.0"), "garbage").unwrap();
    assert_eq!(store.last_reserved_ip(0).unwrap(), None);
}

#[test]
fn gc_frees_ownerless_files_left_by_a_crash() {
    // Go host-local creates the file, then writes it: a kill in between leaves an empty file
    // that no DEL matches. GC frees it (no valid attachment has an empty id).
    let dir = TempDir::new("gc-crash");
    let conf = simple(&dir, "10.1.2.0/24");
    block(HostLocal.add(&request(&conf, "alive", "eth0"))).unwrap();
    fs::write(dir.join("mynet/10.1.2.50"), "").unwrap();
    block(HostLocal.del(&request(&conf, "whoever", "eth0"))).unwrap();
    assert!(dir.join("mynet/10.1.2.50").exists());
    let req =
        request(&conf, "", "").with_valid_attachments(vec![GcAttachment::new("alive", "eth0")]);
    assert_eq!(HostLocal.gc_blocking(&req).unwrap(), 1);
    assert!(!dir.join("mynet/10.1.2.50").exists());
    assert!(dir.join("mynet/10.1.2.2").exists());
}

#[test]
fn add_in_an_opened_store_is_add_and_locks_like_a_fresh_store() {
    use cni_ipam::host_local::config::HostLocalConfig;
    let dir = TempDir::new("addin");
    let conf = dual_stack(&dir, "1.0.0");
    let req = request(&conf, "opened", "eth0");
    let hl_conf = HostLocalConfig::from_request(&req).unwrap();
    let store = DiskStore::open(&hl_conf.data_dir, &hl_conf.network).unwrap();
    let result = HostLocal.add_blocking_in(&req, hl_conf, &store).unwrap();
    assert_eq!(
        addresses(&result),
        ["10.1.2.2/24", "2001:db8:1::2/64"],
        "{result:?}"
    );
    assert_eq!(result.routes.len(), 4);
    assert_eq!(
        result.dns.nameservers,
        vec!["192.0.2.3".to_string()],
        "DNS from resolvConf"
    );
    assert_eq!(read(&dir, "10.1.2.2"), "opened\r\neth0");
    assert_eq!(read(&dir, "last_reserved_ip.1"), "2001:db8:1::2");

    // Its first lock used the descriptor `open` made; every lock, that one and later ones,
    // excludes other holders, as a non-blocking flock on the lock file from elsewhere shows.
    let try_lock = || {
        let file = fs::File::open(dir.join("mynet").join("lock")).unwrap();
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
    };
    let fresh = DiskStore::open(dir.path(), "mynet").unwrap();
    for store in [&fresh, &fresh, &store, &store.clone()] {
        let held = store.lock().unwrap();
        assert!(
            !try_lock(),
            "the lock file was free while the store was locked"
        );
        drop(held);
        assert!(
            try_lock(),
            "the lock file stayed locked after the lock was dropped"
        );
    }

    // The same attachment again is refused, as with add_blocking.
    let again = HostLocal
        .add_blocking_in(&req, HostLocalConfig::from_request(&req).unwrap(), &store)
        .unwrap_err();
    assert!(again.to_string().contains("opened"), "{again}");
}

#[test]
fn check_with_hints_answers_as_check_whatever_the_hints() {
    use cni_ipam::host_local::ops::{check, check_with_hints};
    use cni_ipam::host_local::store::MemStore;
    use std::net::IpAddr;

    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let dir = TempDir::new("hints");
    let disk = DiskStore::open(dir.path(), "mynet").unwrap();
    let mem = MemStore::new();
    for (addr, id, ifname) in [
        ("10.1.2.2", "c1", Some("eth0")),
        ("10.1.2.3", "c2", Some("eth0")),
        ("10.1.2.4", "old", None),
    ] {
        mem.insert(ip(addr), id, ifname).unwrap();
        let content = match ifname {
            Some(i) => format!("{id}\r\n{i}"),
            None => id.to_string(),
        };
        fs::write(dir.join("mynet").join(addr), content).unwrap();
    }
    // Not reservations: a directory and a symlink named by an address.
    fs::create_dir(dir.join("mynet").join("10.1.2.9")).unwrap();
    std::os::unix::fs::symlink(
        dir.join("mynet").join("10.1.2.2"),
        dir.join("mynet").join("10.1.2.8"),
    )
    .unwrap();

    let stores: [&dyn Store; 2] = [&disk, &mem];
    for store in stores {
        // One address looked up is what the full list says about it.
        assert_eq!(
            store.reservation(ip("10.1.2.3")).unwrap(),
            store
                .reservations()
                .unwrap()
                .into_iter()
                .find(|r| r.ip == ip("10.1.2.3"))
        );
        assert_eq!(store.reservation(ip("10.1.2.7")).unwrap(), None);
        assert_eq!(store.reservation(ip("10.1.2.8")).unwrap(), None);
        assert_eq!(store.reservation(ip("10.1.2.9")).unwrap(), None);

        let hint_sets: [&[IpAddr]; 5] = [
            &[],
            &[ip("10.1.2.2")],
            &[ip("10.1.2.3"), ip("10.1.2.4")],
            &[ip("10.1.2.7"), ip("10.1.2.8"), ip("10.1.2.9")],
            &[ip("::ffff:10.1.2.2")],
        ];
        for hints in hint_sets {
            for (id, ifname) in [
                ("c1", "eth0"),
                ("c1", "eth1"),
                ("c2", "eth0"),
                ("old", "eth0"),
                ("c3", "eth0"),
            ] {
                let full = check(store, id, ifname).map_err(|e| e.to_string());
                let hinted = check_with_hints(store, id, ifname, hints).map_err(|e| e.to_string());
                assert_eq!(hinted, full, "{id}/{ifname} with hints {hints:?}");
            }
        }
    }
}
