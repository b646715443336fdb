//! Concurrent callers: several handles and processes ensuring the same bridges, and many tasks of
//! a multi-thread runtime working in pod namespaces without leaving any runtime thread there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use cni_netlink::testkit::TestNode;
use cni_netlink::{BridgeSpec, LinkKind, NetNs, VethSpec};

const BRIDGES: usize = 25;
const ENV_NETNS: &str = "CNI_NETLINK_RACE_NETNS";

fn thread_netns_inode() -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/thread-self/ns/net").unwrap())
}

/// Ensures bridges race0..raceN in the namespace at `path` with a handle of its own (and its own
/// runtime); returns their indexes.
fn ensure_bridges(path: &std::path::Path) -> Vec<u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let nl = NetNs::open(path).unwrap().connect().await.unwrap();
        let mut out = Vec::new();
        for i in 0..BRIDGES {
            let br = nl
                .ensure_bridge(&BridgeSpec::new(format!("race{i}")))
                .await
                .unwrap();
            assert_eq!(br.kind, LinkKind::Bridge);
            assert!(br.admin_up);
            out.push(br.index);
        }
        out
    })
}

/// The bridges `ip` sees in `node`, name → index.
fn ip_bridges(node: &TestNode) -> Vec<(String, u64)> {
    let v = node
        .ip_json(&["-d", "link", "show", "type", "bridge"])
        .unwrap();
    let mut out: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["ifname"].as_str().unwrap().to_string(),
                l["ifindex"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn check_bridges(node: &TestNode, results: &[Vec<u32>]) {
    for r in results {
        assert_eq!(r, &results[0], "every caller got the same bridge indexes");
    }
    let seen = ip_bridges(node);
    assert_eq!(seen.len(), BRIDGES, "{seen:?}");
    for (i, index) in results[0].iter().enumerate() {
        assert!(
            seen.contains(&(format!("race{i}"), u64::from(*index))),
            "{seen:?}"
        );
    }
}

#[test]
fn threads_with_separate_handles_ensure_the_same_bridges() {
    let node = TestNode::new();
    let path = node.path().to_path_buf();
    let barrier = Arc::new(Barrier::new(6));
    let results: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let barrier = barrier.clone();
                let path = path.clone();
                s.spawn(move || {
                    barrier.wait();
                    ensure_bridges(&path)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    check_bridges(&node, &results);
}

/// Run by `two_processes_ensure_the_same_bridges` as a child process (with the race namespace in
/// the environment); run directly by the test harness it does the same in a namespace of its own.
#[test]
fn bridge_race_worker() {
    match std::env::var(ENV_NETNS) {
        Ok(path) => {
            // Start together with the other process: wait for the parent to close our stdin.
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink).unwrap();
            let indexes = ensure_bridges(std::path::Path::new(&path));
            let text: Vec<String> = indexes.iter().map(u32::to_string).collect();
            println!("RACE-RESULT {}", text.join(","));
        }
        Err(_) => {
            let node = TestNode::new();
            let indexes = ensure_bridges(node.path());
            check_bridges(&node, &[indexes]);
        }
    }
}

#[test]
fn two_processes_ensure_the_same_bridges() {
    let node = TestNode::new();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "bridge_race_worker",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ENV_NETNS, node.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Release both at once.
    let children: Vec<_> = children
        .into_iter()
        .map(|mut c| {
            drop(c.stdin.take());
            c
        })
        .collect();
    let mut results = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("RACE-RESULT ").map(|(_, r)| r.trim()))
            .unwrap_or_else(|| panic!("no result from the child: {stdout}"));
        results.push(
            line.split(',')
                .map(|n| n.parse::<u32>().unwrap())
                .collect::<Vec<_>>(),
        );
    }
    check_bridges(&node, &results);
}

/// Many tasks of a multi-thread runtime connect to pod namespaces, create veths into them, write
/// sysctls there and run closures there, all at once. Afterwards every worker thread and every
/// blocking-pool thread is still in the test's own namespace.
#[test]
fn no_runtime_thread_is_left_in_a_pod_namespace() {
    const WORKERS: usize = 4;
    const PODS: usize = 24;
    let host_inode = thread_netns_inode();
    let node = TestNode::new();
    let pods: Vec<_> = (0..PODS).map(|i| node.pod(&format!("pod{i}"))).collect();
    let pod_inodes: HashSet<u64> = pods.iter().map(|p| p.netns().inode()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap();

    rt.block_on(async {
        let nl = node.connect().await.unwrap();
        let mut tasks = Vec::new();
        for (i, pod) in pods.iter().enumerate() {
            let ns = pod.netns().clone();
            let nl = nl.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = vec![thread_netns_inode()];
                let podnl = ns.connect().await.unwrap();
                seen.push(thread_netns_inode());
                let pair = nl
                    .create_veth_pair(
                        &podnl,
                        &VethSpec {
                            container_up: true,
                            ..VethSpec::new("eth0")
                        },
                    )
                    .await
                    .unwrap();
                seen.push(thread_netns_inode());
                // Blocking helpers called from async code (they use their own threads).
                ns.sysctl_set("net/ipv4/conf/eth0/arp_notify", "1").unwrap();
                seen.push(thread_netns_inode());
                let inside = ns.run(thread_netns_inode).await.unwrap();
                assert_eq!(inside, ns.inode());
                let inside = ns.run_blocking(thread_netns_inode).unwrap();
                assert_eq!(inside, ns.inode());
                seen.push(thread_netns_inode());
                tokio::task::yield_now().await;
                let usable = nl
                    .wait_link_usable(pair.host.index, Duration::from_secs(10))
                    .await
                    .unwrap();
                assert!(usable.is_usable());
                let links = podnl.links().await.unwrap();
                assert!(links.iter().any(|l| l.name == "eth0"), "pod {i}: {links:?}");
                seen.push(thread_netns_inode());
                seen
            }));
        }
        for t in tasks {
            let seen = t.await.unwrap();
            assert!(seen.iter().all(|ino| *ino == host_inode), "{seen:?}");
        }
    });

    // Visit every worker: WORKERS tasks that block until all of them run, so each sits on its own
    // worker thread, and each reports its thread's namespace.
    let barrier = Arc::new(Barrier::new(WORKERS));
    let worker_view: Vec<(std::thread::ThreadId, u64)> = rt.block_on(async {
        let tasks: Vec<_> = (0..WORKERS)
            .map(|_| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait();
                    (std::thread::current().id(), thread_netns_inode())
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let distinct: HashSet<_> = worker_view.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), WORKERS, "every worker was visited");
    for (_, ino) in &worker_view {
        assert_eq!(*ino, host_inode);
        assert!(!pod_inodes.contains(ino));
    }

    // And the blocking pool.
    let pool_view: Vec<u64> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(
                tokio::task::spawn_blocking(thread_netns_inode)
                    .await
                    .unwrap(),
            );
        }
        out
    });
    assert!(
        pool_view.iter().all(|ino| *ino == host_inode),
        "{pool_view:?}"
    );
    assert_eq!(thread_netns_inode(), host_inode);

    // Every pod got its veth (checked independently).
    for pod in &pods {
        let v = pod.ip_json(&["link", "show", "eth0"]).unwrap();
        assert_eq!(v[0]["operstate"], "UP", "{v}");
    }
}
