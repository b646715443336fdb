//! Our `bridge` as the first plugin of a chain with the Go `portmap`, `firewall` and `tuning`
//! (and `bandwidth` in a second list), run by cni-skel's runtime side: the Go plugins consume
//! our result unchanged, and a published host port reaches a listener in the pod.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use cni_netlink::testkit::TestNode;
use cni_skel::{CniEnv, CniRuntime, RuntimeConf};
use cni_types::NetConfList;
use common::*;
use serde_json::{Value, json};

/// A plugin directory: our `bridge`, the Go plugins for the rest of the chain.
fn plugin_dir() -> TempDir {
    let dir = TempDir::new("bridge-chain-bin");
    std::os::unix::fs::symlink(OURS, dir.path().join("bridge")).unwrap();
    for go in ["portmap", "firewall", "tuning", "bandwidth", "host-local"] {
        std::os::unix::fs::symlink(format!("{GO_DIR}/{go}"), dir.path().join(go)).unwrap();
    }
    dir
}

/// Runs `f` with a runtime whose plugins start inside the node namespace: the runtime runs on a
/// thread that entered the node, and child processes inherit their parent thread's namespace.
fn in_node<T: Send, F: std::future::Future<Output = T>>(
    node: &TestNode,
    f: impl FnOnce() -> F + Send,
) -> T {
    node.run_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .unwrap()
}

fn runtime(bin: &TempDir, cache: &TempDir) -> CniRuntime {
    let env = CniEnv::from_vars([("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")]);
    CniRuntime::new(vec![PathBuf::from(bin.path())])
        .with_cache_dir(cache.path())
        .with_env(env)
}

#[test]
fn published_host_port_reaches_the_pod_through_go_portmap() {
    let node = TestNode::new();
    lo_up(&node);
    let pod = node.pod("pod");
    let (bin, cache, data) = (
        plugin_dir(),
        TempDir::new("bridge-chain-cache"),
        TempDir::new("bridge-chain-data"),
    );
    let list: Value = json!({
        "cniVersion": "1.0.0",
        "name": "chainnet",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "subnet": "10.30.0.0/24", "dataDir": data.str()}},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            {"type": "firewall"},
            {"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}}
        ]
    });
    let list_json = list;
    let list = NetConfList::from_value(list_json.clone()).unwrap();
    let mut rt = RuntimeConf::new("chainpod", pod.path().to_string_lossy(), "eth0");
    rt.capability_args.insert(
        "portMappings".into(),
        json!([{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]),
    );
    let runtime = &runtime(&bin, &cache);
    let (list, rt) = (&list, &rt);

    let result = in_node(&node, move || async move {
        runtime.add_network_list(list, rt).await
    })
    .unwrap();
    let result = result.to_value().unwrap();
    assert_eq!(
        result["interfaces"].as_array().unwrap().len(),
        3,
        "{result}"
    );
    assert_eq!(result["ips"][0]["address"], "10.30.0.2/24");
    assert_eq!(
        sysctl(&pod, "net/core/somaxconn"),
        "512",
        "tuning ran on our result"
    );

    // A listener in the pod, a client in the node connecting to the node's address + host port.
    let listener = pod
        .run_blocking(|| TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"hello from the pod").unwrap();
    });
    let reply = node
        .run_blocking(|| {
            let mut s = TcpStream::connect("10.30.0.1:18080")?;
            let mut buf = String::new();
            s.read_to_string(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })
        .unwrap()
        .unwrap();
    server.join().unwrap();
    assert_eq!(reply, "hello from the pod");

    // The whole list's CHECK stops at Go portmap v1.1.1, which checks an IPv6 DNAT chain it never
    // made ("could not check ipv6 dnat", fixed in later releases). Our CHECK accepts the final
    // result of the chain, as it came back through the Go plugins.
    let mut bridge_conf = list_json["plugins"][0].clone();
    bridge_conf["cniVersion"] = json!("1.0.0");
    bridge_conf["name"] = json!("chainnet");
    bridge_conf["prevResult"] = result.clone();
    let mut check = Call::new(OURS, "CHECK", &pod);
    check.container_id = "chainpod";
    check.run(&node, &bridge_conf).expect_ok();
    in_node(&node, move || async move {
        runtime.del_network_list(list, rt).await
    })
    .unwrap();
    assert!(link(&pod, "eth0").is_none());
    assert_eq!(reservations(&data, "chainnet"), 0);
    let nat = node
        .command("iptables")
        .args(["-t", "nat", "-S"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&nat.stdout).contains("18080"),
        "portmap cleaned up after our DEL"
    );
}

#[test]
fn go_bandwidth_consumes_our_result() {
    let node = TestNode::new();
    let pod = node.pod("pod");
    let (bin, cache, data) = (
        plugin_dir(),
        TempDir::new("bridge-bw-cache"),
        TempDir::new("bridge-bw-data"),
    );
    let list = NetConfList::from_value(json!({
        "cniVersion": "1.0.0",
        "name": "bwnet",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true,
             "ipam": {"type": "host-local", "subnet": "10.31.0.0/24", "dataDir": data.str()}},
            {"type": "bandwidth", "ingressRate": 1000000, "ingressBurst": 100000,
             "egressRate": 1000000, "egressBurst": 100000}
        ]
    }))
    .unwrap();
    let rt = RuntimeConf::new("bwpod", pod.path().to_string_lossy(), "eth0");
    let runtime = &runtime(&bin, &cache);
    let (list, rt) = (&list, &rt);
    let result = in_node(&node, move || async move {
        runtime.add_network_list(list, rt).await
    })
    .unwrap()
    .to_value()
    .unwrap();
    // bandwidth found our host veth (the container interface's peer) in our result and shaped it.
    let veth = result["interfaces"][1]["name"].as_str().unwrap().to_owned();
    let tc = node
        .command("tc")
        .args(["qdisc", "show", "dev", &veth])
        .output()
        .unwrap();
    let tc = String::from_utf8_lossy(&tc.stdout);
    assert!(tc.contains("tbf"), "{tc}");
    in_node(&node, move || async move {
        runtime.del_network_list(list, rt).await
    })
    .unwrap();
    assert!(link(&pod, "eth0").is_none());
    assert_eq!(reservations(&data, "bwnet"), 0);
}
