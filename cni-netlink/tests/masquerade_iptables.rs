//! The iptables masquerade backend in a throwaway node namespace, checked with `iptables -S`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use cni_netlink::ipnetwork::IpNetwork;
use cni_netlink::masquerade::{Attachment, IptablesMasquerade};
use cni_netlink::testkit::{TestNode, TestNs};

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

/// `iptables -t nat -S` (or ip6tables) inside the namespace, one rule per line.
fn nat_rules(ns: &TestNs, tool: &str) -> Vec<String> {
    let listing = ns.output(tool, &["-w", "-t", "nat", "-S"]).unwrap();
    listing.lines().map(str::to_string).collect()
}

/// The Go reference's chain name, computed independently with `sha512sum`.
fn go_chain_name(network: &str, container: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "printf '%s' \"$1\" | sha512sum",
            "sh",
            &format!("{network}{container}"),
        ])
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("CNI-{}", &hex[..24])
}

fn ours(rules: &[String], needle: &str) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn add_follows_the_reference_layout_and_is_idempotent() {
    let node = TestNode::new();
    let masq = IptablesMasquerade::open(node.netns());
    let att = Attachment::new("c1", "eth0");
    let addrs = [net("10.1.0.5/24"), net("fd00:1::5/64")];
    masq.add("net1", &att, &addrs, &[net("10.0.0.0/8")])
        .unwrap();
    let chain = go_chain_name("net1", "c1");
    let v4 = nat_rules(&node, "iptables");
    let mine = ours(&v4, &chain);
    let comment = r#"--comment "name: \"net1\" id: \"c1\"""#;
    assert!(mine.contains(&format!("-N {chain}")), "{v4:#?}");
    assert!(
        mine.iter()
            .any(|r| r.starts_with(&format!("-A {chain} -d 10.1.0.0/24"))
                && r.contains(comment)
                && r.ends_with("-j ACCEPT"))
    );
    assert!(
        mine.iter()
            .any(|r| r.starts_with(&format!("-A {chain} -d 10.0.0.0/8")))
    );
    assert!(
        mine.iter()
            .any(|r| r.starts_with(&format!("-A {chain} ! -d 224.0.0.0/4"))
                && r.ends_with("-j MASQUERADE"))
    );
    assert!(
        mine.iter()
            .any(|r| r.starts_with("-A POSTROUTING -s 10.1.0.5/32")
                && r.ends_with(&format!("-j {chain}")))
    );
    assert_eq!(mine.len(), 5, "{mine:#?}");
    let v6 = nat_rules(&node, "ip6tables");
    assert!(
        ours(&v6, &chain)
            .iter()
            .any(|r| r.contains("! -d ff00::/8"))
    );
    assert!(
        ours(&v6, &chain)
            .iter()
            .any(|r| r.contains("-s fd00:1::5/128"))
    );

    masq.add("net1", &att, &addrs, &[net("10.0.0.0/8")])
        .unwrap();
    assert_eq!(
        nat_rules(&node, "iptables"),
        v4,
        "a second add changes nothing"
    );
    assert_eq!(nat_rules(&node, "ip6tables"), v6);
    assert_eq!(
        masq.attachments("net1").unwrap(),
        vec![Attachment::new("c1", "")]
    );
}

#[test]
fn remove_gc_and_network_teardown() {
    let node = TestNode::new();
    let masq = IptablesMasquerade::open(node.netns());
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let addrs = [
            net(&format!("10.2.0.{}/24", i + 2)),
            net(&format!("fd00:2::{}/64", i + 2)),
        ];
        masq.add("n", &Attachment::new(*id, "eth0"), &addrs, &[])
            .unwrap();
    }
    masq.add(
        "other",
        &Attachment::new("z", "eth0"),
        &[net("10.3.0.2/24")],
        &[],
    )
    .unwrap();

    masq.remove("n", &Attachment::new("a", "eth0")).unwrap();
    masq.remove("n", &Attachment::new("a", "eth0")).unwrap();
    masq.remove("n", &Attachment::new("never", "eth0")).unwrap();
    let chain_a = go_chain_name("n", "a");
    assert!(ours(&nat_rules(&node, "iptables"), &chain_a).is_empty());
    assert!(ours(&nat_rules(&node, "ip6tables"), &chain_a).is_empty());

    let removed = masq.gc("n", &[Attachment::new("c", "eth0")]).unwrap();
    assert_eq!(removed, vec![Attachment::new("b", "")]);
    assert_eq!(
        masq.attachments("n").unwrap(),
        vec![Attachment::new("c", "")]
    );
    assert_eq!(
        masq.attachments("other").unwrap(),
        vec![Attachment::new("z", "")]
    );

    masq.remove_network("n").unwrap();
    masq.remove_network("n").unwrap();
    assert!(masq.attachments("n").unwrap().is_empty());
    let left = nat_rules(&node, "iptables");
    assert!(
        ours(&left, "CNI-")
            .iter()
            .all(|r| r.contains(&go_chain_name("other", "z")))
    );
    assert!(ours(&nat_rules(&node, "ip6tables"), "CNI-").is_empty());
}

#[test]
fn both_backends_behave_alike_through_the_trait() {
    use cni_netlink::masquerade::{Backend, open};
    for backend in [Backend::Nftables, Backend::Iptables] {
        let node = TestNode::new();
        let masq = open(backend, Some(node.netns())).unwrap();
        let keep = Attachment::new("keep", "eth0");
        let gone = Attachment::new("gone", "eth0");
        masq.add("n", &keep, &[net("10.20.0.2/24")], &[]).unwrap();
        masq.add("n", &gone, &[net("10.20.0.3/24")], &[]).unwrap();
        masq.add("n", &gone, &[net("10.20.0.3/24")], &[]).unwrap();
        assert_eq!(masq.attachments("n").unwrap().len(), 2, "{backend:?}");
        let removed = masq.gc("n", std::slice::from_ref(&keep)).unwrap();
        assert_eq!(removed.len(), 1, "{backend:?}");
        assert_eq!(removed[0].container_id, "gone");
        masq.remove("n", &keep).unwrap();
        masq.remove("n", &keep).unwrap();
        assert!(masq.attachments("n").unwrap().is_empty(), "{backend:?}");
        masq.remove_network("n").unwrap();
        masq.remove_network("n").unwrap();
    }
}

/// State written by the Go reference `bridge` plugin (`ipMasq: true`) is found and torn down by
/// this backend: same chain names, same comments.
#[test]
fn go_bridge_masquerade_is_found_and_removed() {
    let plugin = std::path::Path::new("/usr/lib/cni/bridge");
    assert!(
        plugin.exists(),
        "the Go reference plugins are expected in /usr/lib/cni"
    );
    let node = TestNode::new();
    let pod = node.pod("gopod");
    let data_dir = std::env::temp_dir().join(format!("cni-rs-masq-go-{}", std::process::id()));
    let config = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "gonet",
        "type": "bridge",
        "bridge": "cnigo0",
        "isGateway": true,
        "ipMasq": true,
        "ipam": {"type": "host-local", "subnet": "10.30.0.0/24", "dataDir": data_dir},
    });
    let mut child = node
        .command(plugin)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "gocontainer")
        .env("CNI_NETNS", pod.path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(config.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(
        out.status.success(),
        "Go bridge ADD failed: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let chain = go_chain_name("gonet", "gocontainer");
    assert!(!ours(&nat_rules(&node, "iptables"), &chain).is_empty());

    let masq = IptablesMasquerade::open(node.netns());
    assert_eq!(
        masq.attachments("gonet").unwrap(),
        vec![Attachment::new("gocontainer", "")]
    );
    masq.remove("gonet", &Attachment::new("gocontainer", "eth0"))
        .unwrap();
    assert!(
        ours(&nat_rules(&node, "iptables"), "CNI-").is_empty(),
        "{:#?}",
        nat_rules(&node, "iptables")
    );
}

/// `iptables` here is iptables-nft (its rules live in nf_tables tables `ip nat` / `ip6 nat`).
fn assert_iptables_is_nft() {
    let out = Command::new("iptables").arg("-V").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("nf_tables"),
        "these tests expect iptables-nft as `iptables`: {version}"
    );
}

/// `may_hold` and `may_hold_network` find what iptables-nft holds by reading `ip nat` and
/// `ip6 nat` over netlink: the attachment's chain, the network's commented jumps; nothing of
/// another attachment or network.
#[test]
fn may_hold_reads_iptables_nft_state_over_netlink() {
    assert_iptables_is_nft();
    let node = TestNode::new();
    let masq = IptablesMasquerade::open(node.netns());
    let (a, b, c) = (
        Attachment::new("a", "eth0"),
        Attachment::new("b", "eth0"),
        Attachment::new("c", "eth0"),
    );
    assert!(!masq.may_hold("n", &a).unwrap(), "an empty namespace");
    assert!(!masq.may_hold_network("n").unwrap());
    // a over IPv4 only, b over IPv6 only: both tables are read.
    masq.add("n", &a, &[net("10.4.0.2/24")], &[]).unwrap();
    masq.add("n", &b, &[net("fd00:4::2/64")], &[]).unwrap();
    assert!(masq.may_hold("n", &a).unwrap());
    assert!(masq.may_hold("n", &b).unwrap());
    assert!(!masq.may_hold("n", &c).unwrap());
    assert!(!masq.may_hold("other", &a).unwrap());
    assert!(masq.may_hold_network("n").unwrap());
    assert!(!masq.may_hold_network("other").unwrap());
    assert!(!masq.may_hold_network("n2").unwrap(), "a longer name");
    assert!(!masq.may_hold_network("").unwrap());

    masq.remove("n", &a).unwrap();
    assert!(!masq.may_hold("n", &a).unwrap());
    assert!(masq.may_hold_network("n").unwrap(), "b is left");
    masq.remove("n", &b).unwrap();
    assert!(!masq.may_hold("n", &b).unwrap());
    assert!(
        !masq.may_hold_network("n").unwrap(),
        "the empty nat tables iptables leaves behind hold nothing: {:#?}",
        nat_rules(&node, "iptables")
    );
}

/// A legacy `nat` table (IPv4 or IPv6) in the namespace means the rules may be there: only the
/// tool can read them. The namespace is the calling thread's, not the process's main thread's.
#[test]
fn may_hold_answers_yes_with_a_legacy_nat_table() {
    for tool in ["iptables-legacy", "ip6tables-legacy"] {
        let node = TestNode::new();
        let masq = IptablesMasquerade::open(node.netns());
        let a = Attachment::new("a", "eth0");
        let on_a_thread_inside = || {
            node.run_blocking(|| {
                let here = IptablesMasquerade::open_current();
                (
                    here.may_hold("n", &a).unwrap(),
                    here.may_hold_network("n").unwrap(),
                )
            })
            .unwrap()
        };
        assert!(!masq.may_hold("n", &a).unwrap(), "{tool}");
        assert_eq!(on_a_thread_inside(), (false, false), "{tool}");
        // Listing the nat table makes the kernel instantiate it in the namespace.
        nat_rules(&node, tool);
        assert!(masq.may_hold("n", &a).unwrap(), "{tool}");
        assert!(masq.may_hold_network("n").unwrap(), "{tool}");
        assert_eq!(on_a_thread_inside(), (true, true), "{tool}");
    }
}
