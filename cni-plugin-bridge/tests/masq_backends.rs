//! DEL and GC remove an attachment's masquerade state from both backends, whichever made it
//! (ours with either `ipMasqBackend`, or the Go reference bridge with iptables), and run
//! `iptables` only when there may be iptables state. Checked with `iptables -S` and `nft -j` in
//! the node namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use cni_netlink::testkit::{TestNode, TestNs};
use common::*;
use serde_json::{Value, json};

/// The node's iptables masquerade state: the `CNI-` chains and rules of `iptables -t nat -S` and
/// `ip6tables -t nat -S`.
fn iptables_state(node: &TestNode) -> Vec<String> {
    let mut out = Vec::new();
    for tool in ["iptables", "ip6tables"] {
        let listed = node.output(tool, &["-w", "-t", "nat", "-S"]).unwrap();
        out.extend(
            listed
                .lines()
                .filter(|l| l.contains("CNI-"))
                .map(|l| format!("{tool} {l}")),
        );
    }
    out
}

/// The node's nftables set elements recorded for container `id` (`nft -j list ruleset`).
fn nft_state(node: &TestNode, id: &str) -> Vec<Value> {
    node.nft_objects(&["list", "ruleset"])
        .unwrap()
        .into_iter()
        .filter_map(|o| o.get("set").cloned())
        .flat_map(|set| set["elem"].as_array().cloned().unwrap_or_default())
        .filter(|e| {
            e["elem"]["comment"]
                .as_str()
                .is_some_and(|c| c.ends_with(&format!(" id={id}")))
        })
        .collect()
}

/// A masquerading network config of backend `backend` (`None`: the default, nftables).
fn masq_conf(data: &TempDir, backend: Option<&str>) -> Value {
    let mut extra = json!({"isGateway": true, "ipMasq": true});
    if let Some(b) = backend {
        extra["ipMasqBackend"] = json!(b);
    }
    conf("1.1.0", data, &["10.61.0.0/24", "fd00:61::/64"], extra)
}

/// `call` of our plugin for container `id` in `pod`.
fn ours<'a>(command: &'a str, pod: &TestNs, id: &'a str) -> Call<'a> {
    let mut call = Call::new(OURS, command, pod);
    call.container_id = id;
    call
}

#[test]
fn del_configured_for_the_other_backend_leaves_no_masquerade_state() {
    for (made_by, deleted_with) in [("iptables", "nftables"), ("nftables", "iptables")] {
        let ctx = format!("ADD with {made_by}, DEL with {deleted_with}");
        let node = TestNode::new();
        let pod = node.pod("pod");
        let data = TempDir::new("bridge-masq-switch");
        ours("ADD", &pod, "ctr1")
            .run(&node, &masq_conf(&data, Some(made_by)))
            .expect_ok();
        let made = (iptables_state(&node).len(), nft_state(&node, "ctr1").len());
        match made_by {
            "iptables" => assert!(made.0 >= 2 && made.1 == 0, "{ctx}: {made:?}"),
            _ => assert!(made.0 == 0 && made.1 == 2, "{ctx}: {made:?}"),
        }

        let del_conf = masq_conf(&data, Some(deleted_with));
        ours("DEL", &pod, "ctr1").run(&node, &del_conf).expect_ok();
        assert_eq!(iptables_state(&node), Vec::<String>::new(), "{ctx}");
        assert_eq!(nft_state(&node, "ctr1"), Vec::<Value>::new(), "{ctx}");
        assert_eq!(reservations(&data, "testnet"), 0, "{ctx}");
        ours("DEL", &pod, "ctr1").run(&node, &del_conf).expect_ok();
    }
}

#[test]
fn gc_collects_the_masquerade_state_of_both_backends() {
    let node = TestNode::new();
    let data = TempDir::new("bridge-masq-gc");
    let (ipt, nft) = (
        masq_conf(&data, Some("iptables")),
        masq_conf(&data, Some("nftables")),
    );
    let pods: Vec<TestNs> = ["pa", "pb", "pk"].iter().map(|p| node.pod(p)).collect();
    ours("ADD", &pods[0], "gone-ipt")
        .run(&node, &ipt)
        .expect_ok();
    ours("ADD", &pods[1], "gone-nft")
        .run(&node, &nft)
        .expect_ok();
    ours("ADD", &pods[2], "keep").run(&node, &ipt).expect_ok();

    // Configured for nftables: the iptables state of `gone-ipt` goes too, `keep`'s stays.
    let gc = ours("GC", &pods[0], "gc");
    gc.run(&node, &gc_conf(&nft, &["keep"])).expect_ok();
    let left = iptables_state(&node);
    assert!(
        left.iter().all(|r| !r.contains("gone-ipt")) && left.iter().any(|r| r.contains("keep")),
        "{left:#?}"
    );
    assert!(nft_state(&node, "gone-nft").is_empty());

    // Configured for iptables, nothing valid: the rest goes.
    gc.run(&node, &gc_conf(&ipt, &[])).expect_ok();
    assert_eq!(iptables_state(&node), Vec::<String>::new());
    assert_eq!(reservations(&data, "testnet"), 0);
}

/// The Go reference bridge v1.1.1 masquerades with iptables only; our DEL with the default
/// backend (nftables) removes its chain and jump rules.
#[test]
fn del_with_the_default_backend_removes_the_go_reference_masquerade() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("bridge-masq-go");
    // IPv4 only: v1.1.1 waits for IPv6 DAD.
    let go_conf = conf(
        "1.0.0",
        &data,
        &["10.61.0.0/24"],
        json!({"isGateway": true, "ipMasq": true}),
    );
    let mut add = Call::new(GO, "ADD", &pod);
    add.container_id = "goctr";
    add.run(&node, &go_conf).expect_ok();
    let made = iptables_state(&node);
    assert!(
        made.iter()
            .any(|r| r.contains("-A POSTROUTING -s 10.61.0.2/32")),
        "the Go plugin masqueraded with iptables: {made:#?}"
    );

    ours("DEL", &pod, "goctr").run(&node, &go_conf).expect_ok();
    assert_eq!(iptables_state(&node), Vec::<String>::new());
    assert!(link(&pod, "eth0").is_none());
    assert_eq!(reservations(&data, "testnet"), 0);
}

/// A `PATH` whose `iptables` and `ip6tables` log each run to a file, then run the real tool.
struct LoggingIptables {
    dir: TempDir,
}

impl LoggingIptables {
    fn new() -> LoggingIptables {
        let dir = TempDir::new("bridge-masq-path");
        let script = format!(
            "#!/bin/sh\necho \"${{0##*/}} $*\" >> {}\nexec /usr/sbin/${{0##*/}} \"$@\"\n",
            dir.path().join("runs").display()
        );
        let wrapper = dir.path().join("logging-xtables");
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        for tool in ["iptables", "ip6tables"] {
            std::os::unix::fs::symlink(&wrapper, dir.path().join(tool)).unwrap();
        }
        LoggingIptables { dir }
    }

    /// The runs logged since the last call (and forgets them).
    fn take_runs(&self) -> Vec<String> {
        let log = self.dir.path().join("runs");
        let runs = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        runs.lines().map(str::to_owned).collect()
    }

    /// `call` with this `PATH` only.
    fn call<'a>(&self, command: &'a str, pod: &TestNs, id: &'a str) -> Call<'a> {
        let mut call = ours(command, pod, id);
        call.path = self.dir.str();
        call
    }
}

/// With nftables configured, DEL and GC run no `iptables` process when the node has no iptables
/// masquerade state (the detection reads nf_tables and /proc instead), and do run it when it
/// may have some: the attachment's chain in iptables-nft's tables, or a legacy `nat` table.
#[test]
fn nftables_del_runs_iptables_only_when_there_may_be_iptables_state() {
    let tools = LoggingIptables::new();
    let node = TestNode::new();
    let pod = node.pod("pod");
    let data = TempDir::new("bridge-masq-noexec");
    let (nft, ipt) = (masq_conf(&data, None), masq_conf(&data, Some("iptables")));
    let legacy_nat = || {
        node.run_blocking(|| {
            ["ip_tables_names", "ip6_tables_names"].iter().any(|f| {
                std::fs::read_to_string(format!("/proc/thread-self/net/{f}"))
                    .is_ok_and(|names| names.lines().any(|l| l == "nat"))
            })
        })
        .unwrap()
    };
    assert!(!legacy_nat(), "a new node has no legacy nat table");

    // No iptables state: no run, on DEL, on a repeated DEL, on GC.
    tools.call("ADD", &pod, "ctr1").run(&node, &nft).expect_ok();
    tools.call("DEL", &pod, "ctr1").run(&node, &nft).expect_ok();
    tools.call("DEL", &pod, "ctr1").run(&node, &nft).expect_ok();
    tools
        .call("GC", &pod, "gc")
        .run(&node, &gc_conf(&nft, &[]))
        .expect_ok();
    assert_eq!(tools.take_runs(), Vec::<String>::new());
    assert!(nft_state(&node, "ctr1").is_empty());

    // The control: this PATH is the one the plugin runs iptables from.
    tools.call("ADD", &pod, "ctr1").run(&node, &ipt).expect_ok();
    assert!(
        !tools.take_runs().is_empty(),
        "the iptables ADD ran iptables"
    );
    // The attachment's chain is in iptables-nft's tables: DEL runs the teardown.
    tools.call("DEL", &pod, "ctr1").run(&node, &nft).expect_ok();
    let runs = tools.take_runs();
    assert!(runs.iter().any(|r| r.contains(" -X CNI-")), "{runs:#?}");
    assert_eq!(iptables_state(&node), Vec::<String>::new());
    // Gone now: no run again.
    tools.call("DEL", &pod, "ctr1").run(&node, &nft).expect_ok();
    assert_eq!(tools.take_runs(), Vec::<String>::new());

    // A legacy nat table (here: listed, so created, by iptables-legacy) may hold the rules:
    // then DEL runs the tool, finds nothing and succeeds.
    node.output("iptables-legacy", &["-w", "-t", "nat", "-S"])
        .unwrap();
    assert!(legacy_nat());
    tools.call("DEL", &pod, "ctr1").run(&node, &nft).expect_ok();
    assert!(!tools.take_runs().is_empty());
}
