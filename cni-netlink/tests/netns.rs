//! Opening namespaces, recognising non-namespaces, acting inside one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::fd::{AsFd, AsRawFd};

use cni_netlink::testkit::TestNode;
use cni_netlink::{ErrorKind, NetNs};

fn thread_netns_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap()
}

#[test]
fn missing_path_is_not_found() {
    let err = NetNs::open("/nonexistent/netns/x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn plain_file_and_directory_are_invalid_input() {
    let dir = std::env::temp_dir();
    let err = NetNs::open(&dir).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("not a namespace"), "{err}");

    let file = dir.join(format!("cni-netlink-plain-{}", std::process::id()));
    std::fs::write(&file, b"not a namespace").unwrap();
    let err = NetNs::open(&file).unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[test]
fn other_namespace_kind_is_invalid_input() {
    let err = NetNs::open("/proc/self/ns/uts").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("uts"), "{err}");
}

#[test]
fn host_namespace_passed_as_pod_is_rejectable() {
    let own = NetNs::current_thread().unwrap();
    assert_eq!(own.inode(), thread_netns_inode());
    assert!(own.is_current_thread().unwrap());
    let err = own.ensure_not_current_thread().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // The same namespace reached through another path is recognised too.
    let via_pid = NetNs::open(format!(
        "/proc/{}/task/{}/ns/net",
        std::process::id(),
        nix::unistd::gettid()
    ))
    .unwrap();
    assert!(via_pid.is_same(&own));
    assert!(via_pid.ensure_not_current_thread().is_err());

    let node = TestNode::new();
    assert!(!node.netns().is_same(&own));
    node.netns().ensure_not_current_thread().unwrap();
}

#[test]
fn test_namespace_path_opens_from_elsewhere_and_disappears_on_drop() {
    let node = TestNode::new();
    let pod = node.pod("p");
    let path = pod.path().to_path_buf();
    let reopened = NetNs::open(&path).unwrap();
    assert!(reopened.is_same(pod.netns()));
    assert!(!reopened.is_same(node.netns()));
    let inode = pod.netns().inode();
    drop(reopened);
    drop(pod);
    // The descriptor is closed, so the path no longer names that namespace (parallel tests may
    // reuse the descriptor number for something else, never for the dropped namespace).
    if let Ok(other) = NetNs::open(&path) {
        assert_ne!(other.inode(), inode);
    }
}

#[test]
fn run_blocking_runs_inside_and_leaves_the_caller_alone() {
    let node = TestNode::new();
    let before = thread_netns_inode();
    let inside = node.run_blocking(thread_netns_inode).unwrap();
    assert_eq!(inside, node.netns().inode());
    assert_ne!(inside, before);
    assert_eq!(thread_netns_inode(), before);

    // A borrowing closure works, and a panicking one becomes an error.
    let label = String::from("x");
    let len = node.netns().run_blocking(|| label.len()).unwrap();
    assert_eq!(len, 1);
    let err = node
        .netns()
        .run_blocking(|| -> u8 { panic!("boom") })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
}

#[test]
fn command_runs_in_the_namespace() {
    let node = TestNode::new();
    node.ip(&["link", "add", "marker0", "type", "bridge"])
        .unwrap();
    let links = node.ip_json(&["link", "show"]).unwrap();
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    assert!(names.contains(&"marker0"), "{names:?}");
    // The test's own namespace has no marker0.
    let own = std::process::Command::new("ip")
        .args(["link", "show", "marker0"])
        .output()
        .unwrap();
    assert!(!own.status.success());
    assert!(node.netns().as_fd().as_raw_fd() >= 0);
}

#[tokio::test]
async fn run_async_and_connect() {
    let node = TestNode::new();
    let ino = node.netns().run(thread_netns_inode).await.unwrap();
    assert_eq!(ino, node.netns().inode());
    let nl = node.connect().await.unwrap();
    let links = nl.links().await.unwrap();
    assert_eq!(links.len(), 1, "a new namespace has only lo: {links:?}");
    assert_eq!(links[0].name, "lo");
    assert!(nl.netns().is_same(node.netns()));
}

#[test]
fn connect_and_requests_need_no_runtime() {
    let node = TestNode::new();
    // Polled outside any tokio runtime, with a plain executor: the handle's requests are made
    // on a plain socket in the calling thread.
    let nl = futures::executor::block_on(node.netns().connect()).unwrap();
    let links = futures::executor::block_on(nl.links()).unwrap();
    assert_eq!(links.len(), 1, "a new namespace has only lo: {links:?}");
    futures::executor::block_on(nl.set_link_up(links[0].index)).unwrap();
    let addrs = futures::executor::block_on(nl.addresses(Some(links[0].index), None)).unwrap();
    assert!(
        addrs.iter().any(|a| a.network.ip().is_loopback()),
        "lo has its addresses once up: {addrs:?}"
    );
}

#[test]
fn go_plugins_accept_the_fd_path() {
    // The Go loopback plugin opens CNI_NETNS with ns.GetNS (statfs must say nsfs) and sets lo up.
    let plugin = std::path::Path::new("/usr/lib/cni/loopback");
    assert!(
        plugin.exists(),
        "the Go reference plugins are expected in /usr/lib/cni"
    );
    let node = TestNode::new();
    let pod = node.pod("go");
    let out = std::process::Command::new(plugin)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_NETNS", pod.path())
        .env("CNI_IFNAME", "lo")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(br#"{"cniVersion":"1.0.0","name":"lo","type":"loopback"}"#)?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "loopback ADD with CNI_NETNS={} failed: {}{}",
        pod.path().display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lo = pod.ip_json(&["link", "show", "lo"]).unwrap();
    let flags = lo[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "UP"), "{lo}");
}

const ENV_BIND_SOURCE: &str = "CNI_NETLINK_BIND_SOURCE";
const ENV_BIND_INODE: &str = "CNI_NETLINK_BIND_INODE";

/// Runtimes hand out bind-mounted namespaces (`/var/run/netns/<name>`, what `ip netns add`,
/// containerd and CRI-O create). The test runs itself again in a private mount namespace
/// (`unshare --mount`), where the child bind-mounts a pod namespace onto a file and opens that.
#[test]
fn bind_mounted_namespace_opens() {
    if let (Ok(source), Ok(inode)) = (
        std::env::var(ENV_BIND_SOURCE),
        std::env::var(ENV_BIND_INODE),
    ) {
        let target = std::env::temp_dir().join(format!("cni-netlink-bind-{}", std::process::id()));
        std::fs::write(&target, b"").unwrap();
        nix::mount::mount(
            Some(source.as_str()),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let opened = NetNs::open(&target);
        // Lazily: the open descriptor keeps the mount busy until it is dropped.
        nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).unwrap();
        std::fs::remove_file(&target).unwrap();
        let opened = opened.unwrap();
        assert_eq!(opened.inode().to_string(), inode);
        assert_eq!(opened.path(), target.as_path());
        println!("BIND-OK {}", opened.inode());
        return;
    }
    let node = TestNode::new();
    let pod = node.pod("bound");
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bind_mounted_namespace_opens",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_BIND_SOURCE, pod.path())
        .env(ENV_BIND_INODE, pod.netns().inode().to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("BIND-OK {}", pod.netns().inode())),
        "{stdout}"
    );
}

/// A namespace thread is started away from its creator's CPU (when there is another), but its
/// closures may run on every CPU the process may use.
#[tokio::test]
async fn a_namespace_thread_gets_all_the_processs_cpus_for_its_closures() {
    let node = TestNode::new();
    let own = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    let thread = node.netns().spawn_thread().unwrap();
    let seen = thread
        .run(|| nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap())
        .await
        .unwrap();
    assert_eq!(seen, own);
}

#[tokio::test]
async fn a_namespace_thread_runs_every_closure_inside_and_ends_with_its_handle() {
    let node = TestNode::new();
    let before = thread_netns_inode();
    let thread = node.netns().spawn_thread().unwrap();
    assert!(thread.netns().is_same(node.netns()));
    // Every closure runs inside, on the same thread, in order; the caller stays where it was.
    let first = thread
        .run(|| (thread_netns_inode(), std::thread::current().id()))
        .await
        .unwrap();
    let second = thread
        .run(|| (thread_netns_inode(), std::thread::current().id()))
        .await
        .unwrap();
    assert_eq!(first.0, node.netns().inode());
    assert_eq!(first, second, "both closures ran on the one thread");
    assert_ne!(first.1, std::thread::current().id());
    assert_eq!(thread_netns_inode(), before);

    // Its netlink connection is bound to the namespace.
    let nl = thread.connect().await.unwrap();
    assert!(nl.netns().is_same(node.netns()));
    let links = nl.links().await.unwrap();
    assert_eq!(links.len(), 1, "a new namespace has only lo: {links:?}");

    // A panicking closure ends the thread: it and every later call are errors, not hangs.
    let err = thread.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    let err = thread.run(|| 1u8).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);

    // Dropping the handle ends the thread: the namespace's only other holder is gone, so the
    // thread's own /proc/self/task entry disappears.
    let thread = node.netns().spawn_thread().unwrap();
    let tid = thread.run(|| nix::unistd::gettid().as_raw()).await.unwrap();
    let task = format!("/proc/self/task/{tid}");
    assert!(std::path::Path::new(&task).exists());
    drop(thread);
    // A bound for a slow machine, not a speed requirement.
    for _ in 0..10_000 {
        if !std::path::Path::new(&task).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        !std::path::Path::new(&task).exists(),
        "the namespace thread outlived its handle"
    );
}

#[tokio::test]
async fn a_started_closure_runs_before_its_result_is_awaited() {
    let node = TestNode::new();
    let thread = node.netns().spawn_thread().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let started = thread
        .start(move || {
            tx.send(thread_netns_inode()).unwrap();
            7u8
        })
        .unwrap();
    // The closure is on its way without the future being polled: its message arrives while
    // this thread blocks (the bound is for a slow machine, not a speed requirement).
    let inode = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the started closure ran before being awaited");
    assert_eq!(inode, node.netns().inode());
    assert_eq!(started.await.unwrap(), 7);

    // Dropping a started future does not stop its closure, nor the ones after it.
    let (tx, rx) = std::sync::mpsc::channel();
    drop(thread.start(move || tx.send(1u8).unwrap()).unwrap());
    assert_eq!(thread.run(|| 2u8).await.unwrap(), 2);
    assert_eq!(
        rx.try_recv().unwrap(),
        1,
        "the dropped job ran before the next one"
    );
}

/// `spawn_thread_after`: the first closure runs on the new thread in the caller's namespace,
/// before the thread enters the target one, and later closures and `start_connect` run inside.
#[tokio::test]
async fn a_namespace_thread_can_first_work_in_its_creators_namespace() {
    let node = TestNode::new();
    let before = thread_netns_inode();
    let (thread, first) = node
        .netns()
        .spawn_thread_after(|| (thread_netns_inode(), std::thread::current().id()))
        .unwrap();
    // Queued behind the first closure, handed over before anything is awaited.
    let connecting = thread.start_connect().unwrap();
    let (where_first_ran, first_thread) = first.await.unwrap();
    assert_eq!(
        where_first_ran, before,
        "the first closure ran in the caller's namespace"
    );
    assert_ne!(first_thread, std::thread::current().id());
    let (inside, later_thread) = thread
        .run(|| (thread_netns_inode(), std::thread::current().id()))
        .await
        .unwrap();
    assert_eq!(inside, node.netns().inode());
    assert_eq!(later_thread, first_thread, "one thread for both");
    let nl = connecting.await.unwrap();
    assert!(nl.netns().is_same(node.netns()));
    assert_eq!(
        nl.links().await.unwrap().len(),
        1,
        "only lo in a new namespace"
    );
    assert_eq!(thread_netns_inode(), before);

    // A first closure that panics: its future says so, the thread's jobs do not hang.
    let (thread, first) = node
        .netns()
        .spawn_thread_after(|| -> u8 { panic!("boom") })
        .unwrap();
    assert_eq!(first.await.unwrap_err().kind(), ErrorKind::Internal);
    assert_eq!(
        thread.run(|| 1u8).await.unwrap_err().kind(),
        ErrorKind::Internal
    );
}
