//! Sysctls are per namespace: writing one in a pod changes that pod only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cni_netlink::sysctl::{forwarding_key, interface_key};
use cni_netlink::testkit::{TestNode, TestNs};
use cni_netlink::{ErrorKind, IpFamily, Netlink, VethSpec};

/// Reads a /proc/sys file from a child process running inside `ns` (independent of the crate).
fn cat(ns: &TestNs, path: &str) -> String {
    let out = ns.command("cat").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "cat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn own_ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .unwrap()
        .trim()
        .to_string()
}

/// A veth pair with its `eth0` end in the pod `podnl` is bound to; returns the host end's name.
async fn eth0_pair(nl: &Netlink, podnl: &Netlink) -> String {
    nl.create_veth_pair(podnl, &VethSpec::new("eth0"))
        .await
        .unwrap()
        .host
        .name
}

#[test]
fn writing_in_a_pod_changes_only_that_pod() {
    let host_before = own_ip_forward();
    let node = TestNode::new();
    let pod1 = node.pod("p1");
    let pod2 = node.pod("p2");

    assert_eq!(pod1.netns().sysctl_get("net.ipv4.ip_forward").unwrap(), "0");
    pod1.netns().sysctl_set("net.ipv4.ip_forward", "1").unwrap();

    assert_eq!(cat(&pod1, "/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(cat(&pod2, "/proc/sys/net/ipv4/ip_forward"), "0");
    assert_eq!(cat(&node, "/proc/sys/net/ipv4/ip_forward"), "0");
    assert_eq!(pod1.netns().sysctl_get("net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(pod2.netns().sysctl_get("net.ipv4.ip_forward").unwrap(), "0");
    // The test process's own namespace (the machine's, when run as root) is untouched.
    assert_eq!(own_ip_forward(), host_before);

    // /proc/sys is not per thread in the path sense: there is no /proc/thread-self/sys. What
    // decides the namespace is the thread that opens the file, which is why the crate opens it
    // on a thread inside the namespace.
    assert!(!std::path::Path::new("/proc/thread-self/sys").exists());
}

#[test]
fn concurrent_threads_see_their_own_namespaces() {
    let node = TestNode::new();
    let pods: Vec<TestNs> = (0..6).map(|i| node.pod(&format!("p{i}"))).collect();
    for (i, pod) in pods.iter().enumerate() {
        if i % 2 == 0 {
            pod.netns().sysctl_set("net/ipv4/ip_forward", "1").unwrap();
        }
    }
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    for (i, pod) in pods.iter().enumerate() {
                        let want = if i % 2 == 0 { "1" } else { "0" };
                        assert_eq!(pod.netns().sysctl_get("net.ipv4.ip_forward").unwrap(), want);
                    }
                }
            });
        }
    });
}

#[tokio::test]
async fn interface_sysctls_many_ensure_and_errors() {
    let node = TestNode::new();
    let pod = node.pod("p");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let host_if = eth0_pair(&nl, &podnl).await;

    let arp = interface_key(IpFamily::V4, "eth0", "arp_notify");
    let dad = interface_key(IpFamily::V6, "eth0", "accept_dad");
    let ra = interface_key(IpFamily::V6, "eth0", "accept_ra");
    pod.netns()
        .sysctl_set_many(&[(&arp, "1"), (&dad, "0"), (&ra, "0")])
        .unwrap();
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/eth0/accept_dad"), "0");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/eth0/accept_ra"), "0");
    // The host end (another namespace) keeps its defaults.
    assert_eq!(
        cat(
            &node,
            &format!("/proc/sys/net/ipv4/conf/{host_if}/arp_notify")
        ),
        "0"
    );
    node.netns()
        .sysctl_set(&interface_key(IpFamily::V6, &host_if, "accept_ra"), "0")
        .unwrap();
    assert_eq!(
        cat(
            &node,
            &format!("/proc/sys/net/ipv6/conf/{host_if}/accept_ra")
        ),
        "0"
    );

    // Write-if-different.
    assert!(pod.netns().enable_forwarding(IpFamily::V6).unwrap());
    assert!(!pod.netns().enable_forwarding(IpFamily::V6).unwrap());
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/all/forwarding"), "1");
    assert_eq!(forwarding_key(IpFamily::V4), "net/ipv4/ip_forward");

    // Errors.
    let err = pod
        .netns()
        .sysctl_set(&interface_key(IpFamily::V4, "nothere", "arp_notify"), "1")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = pod.netns().sysctl_set("kernel.hostname", "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = pod
        .netns()
        .sysctl_set("net.ipv4.ip_forward", "not-a-number")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    // One bad entry in a batch: the others are still written, the error is returned.
    let err = pod
        .netns()
        .sysctl_set_many(&[("net/ipv4/conf/nothere/arp_notify", "1"), (&arp, "0")])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "0");
}

#[tokio::test]
async fn a_namespace_thread_writes_interface_sysctls_there() {
    let node = TestNode::new();
    let pod = node.pod("p");
    let nl = node.connect().await.unwrap();
    let thread = pod.netns().spawn_thread().unwrap();
    let podnl = thread.connect().await.unwrap();
    let host_if = eth0_pair(&nl, &podnl).await;

    let arp = interface_key(IpFamily::V4, "eth0", "arp_notify");
    let dad = interface_key(IpFamily::V6, "eth0", "accept_dad");
    thread
        .sysctl_set_many(&[(&arp, "1"), (&dad, "0")])
        .unwrap()
        .await
        .unwrap();
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/eth0/accept_dad"), "0");
    assert_eq!(
        cat(
            &node,
            &format!("/proc/sys/net/ipv4/conf/{host_if}/arp_notify")
        ),
        "0",
        "the host end, in another namespace, keeps its default"
    );

    // Every entry is tried; the first failure is the result.
    let missing = interface_key(IpFamily::V4, "nosuch0", "arp_notify");
    let err = thread
        .sysctl_set_many(&[(&missing, "1"), (&arp, "0")])
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "0");
    // A key outside net.* is refused before anything is written.
    let err = thread
        .sysctl_set_many(&[("kernel.hostname", "x")])
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// The link answer carries the link's IPv6 `accept_ra`, so a caller can skip writing it when it
/// already has the value.
#[tokio::test]
async fn a_link_reports_its_ipv6_accept_ra() {
    let node = TestNode::new();
    node.ip(&["link", "add", "br-ra", "type", "bridge"])
        .unwrap();
    let nl = node.netns().connect().await.unwrap();
    let key = interface_key(IpFamily::V6, "br-ra", "accept_ra");
    let before = node.netns().sysctl_get(&key).unwrap();
    let link = nl.link("br-ra").await.unwrap();
    assert_eq!(link.ipv6_accept_ra.map(|v| v.to_string()), Some(before));
    for value in ["0", "2", "1"] {
        node.netns().sysctl_set(&key, value).unwrap();
        let link = nl.link("br-ra").await.unwrap();
        assert_eq!(
            link.ipv6_accept_ra.map(|v| v.to_string()).as_deref(),
            Some(value)
        );
    }
}

/// A namespace's sysctl directories, opened inside it, stay that namespace's whichever thread
/// uses them: the test thread writes a pod's sysctls without entering the pod, and the node and
/// another pod keep theirs.
#[tokio::test]
async fn net_sysctls_stay_bound_to_the_namespace_they_were_opened_in() {
    let node = TestNode::new();
    let pod = node.pod("p");
    let other = node.pod("q");
    let nl = node.connect().await.unwrap();
    let podnl = pod.connect().await.unwrap();
    let host_if = eth0_pair(&nl, &podnl).await;

    let sysctls = pod.netns().sysctls().unwrap();
    // Used from threads in other namespaces: this one, and a thread inside `other`.
    sysctls.set("net/ipv4/conf/eth0/arp_notify", "1").unwrap();
    let from_other = sysctls.clone();
    other
        .netns()
        .run_blocking(move || from_other.set("net.ipv4.ip_forward", "1"))
        .unwrap()
        .unwrap();
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(cat(&other, "/proc/sys/net/ipv4/ip_forward"), "0");
    assert_eq!(cat(&node, "/proc/sys/net/ipv4/ip_forward"), "0");
    assert_eq!(
        cat(
            &node,
            &format!("/proc/sys/net/ipv4/conf/{host_if}/arp_notify")
        ),
        "0"
    );
    assert_eq!(sysctls.get("net.ipv4.conf.eth0.arp_notify").unwrap(), "1");

    // ensure writes only a differing value; enable_forwarding is ensure on the family's key.
    assert!(!sysctls.ensure("net/ipv4/ip_forward", "1").unwrap());
    assert!(sysctls.enable_forwarding(IpFamily::V6).unwrap());
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/all/forwarding"), "1");
    assert!(!sysctls.enable_forwarding(IpFamily::V6).unwrap());

    // Every entry of set_many is tried; the first failure is the result.
    let err = sysctls
        .set_many(&[
            ("net/ipv4/conf/nosuch0/arp_notify", "1"),
            ("net/ipv6/conf/eth0/accept_dad", "0"),
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(cat(&pod, "/proc/sys/net/ipv6/conf/eth0/accept_dad"), "0");
    // Only net.ipv4 and net.ipv6 keys are theirs, and nothing climbs out of them.
    for key in [
        "net.core.somaxconn",
        "kernel.hostname",
        "net/ipv4/../../kernel/hostname",
    ] {
        let err = sysctls.get(key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{key}: {err}");
    }
}

/// An [`NsThread`](cni_netlink::NsThread) that opened its namespace's sysctl directories ahead
/// of time writes through them, and still writes keys outside them (`net.core.*`) by path.
#[tokio::test]
async fn a_prepared_namespace_thread_writes_through_its_directories_and_by_path() {
    let node = TestNode::new();
    let pod = node.pod("p");
    let nl = node.connect().await.unwrap();
    let thread = pod.netns().spawn_thread().unwrap();
    thread.prepare_sysctls().unwrap();
    let podnl = thread.connect().await.unwrap();
    eth0_pair(&nl, &podnl).await;

    let arp = interface_key(IpFamily::V4, "eth0", "arp_notify");
    thread
        .sysctl_set_many(&[(&arp, "1"), ("net.core.somaxconn", "1234")])
        .unwrap()
        .await
        .unwrap();
    assert_eq!(cat(&pod, "/proc/sys/net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(cat(&pod, "/proc/sys/net/core/somaxconn"), "1234");
    assert_ne!(cat(&node, "/proc/sys/net/core/somaxconn"), "1234");
}
