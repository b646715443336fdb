//! The guide's `ptp-lite` plugin, run by cni-skel's runtime side from its config list in
//! `examples/conf/`, inside throwaway node and pod namespaces; checked with `ip -j` and a TCP
//! connection from pod to pod through the node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_netlink::testkit::{TestNode, TestNs};
use cni_skel::{CniRuntime, RuntimeConf, SkelError, load_conf_list};
use cni_types::{NetConfList, Result100};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_ptp-lite");

struct Setup {
    node: TestNode,
    list: NetConfList,
    runtime: CniRuntime,
    state: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let state =
            std::env::temp_dir().join(format!("cni-rs-ptp-lite-{}-{tag}", std::process::id()));
        let conf_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
        let mut list = load_conf_list(&conf_dir, "ptp-lite-net").unwrap();
        // The shipped config keeps host-local's default dataDir; the test uses its own.
        list.plugins[0]["ipam"]["dataDir"] = json!(state.join("ipam"));
        let plugin_dir = Path::new(PLUGIN).parent().unwrap().to_path_buf();
        let runtime = CniRuntime::new(vec![plugin_dir]).with_cache_dir(state.join("cache"));
        Setup {
            node: TestNode::new(),
            list,
            runtime,
            state,
        }
    }

    /// Runs `f` with the runtime on a thread inside the node namespace, so the plugin process
    /// starts there, as a container runtime on that node would run it.
    fn on_node<T: Send>(&self, f: impl AsyncFnOnce(&CniRuntime, &NetConfList) -> T + Send) -> T {
        self.node
            .run_blocking(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(f(&self.runtime, &self.list))
            })
            .unwrap()
    }

    fn add(&self, pod: &TestNs) -> Result<Result100, SkelError> {
        let rc = attachment(pod);
        self.on_node(async |rt, list| rt.add_network_list(list, &rc).await.map(|r| r.to_current()))
    }

    fn check(&self, pod: &TestNs) -> Result<(), SkelError> {
        let rc = attachment(pod);
        self.on_node(async |rt, list| rt.check_network_list(list, &rc).await)
    }

    fn del(&self, pod: &TestNs) -> Result<(), SkelError> {
        let rc = attachment(pod);
        self.on_node(async |rt, list| rt.del_network_list(list, &rc).await)
    }

    fn leases(&self) -> Vec<String> {
        let dir = self.state.join("ipam").join("ptp-lite-net");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut leases: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect();
        leases.sort();
        leases
    }

    fn veths(&self) -> usize {
        let links = self.node.ip_json(&["-d", "link", "show"]).unwrap();
        links
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["linkinfo"]["info_kind"] == "veth")
            .count()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn attachment(pod: &TestNs) -> RuntimeConf {
    RuntimeConf::new(pod.name(), pod.path().to_string_lossy(), "eth0")
}

fn addresses(pod: &TestNs, dev: &str) -> Vec<String> {
    let addrs = pod.ip_json(&["-4", "addr", "show", "dev", dev]).unwrap();
    addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

fn routes(ns: &TestNs) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let routes = ns.ip_json(&["-4", "route", "show"]).unwrap();
    let mut out: Vec<_> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (text(&r["dst"]), text(&r["gateway"]), text(&r["dev"])))
        .collect();
    out.sort();
    out
}

#[test]
fn add_check_del_and_pod_to_pod_through_the_node() {
    let s = Setup::new("verbs");
    let (a, b) = (s.node.pod("pod-a"), s.node.pod("pod-b"));
    let ra = s.add(&a).unwrap();
    let rb = s.add(&b).unwrap();
    assert_eq!(ra.ips[0].address.to_string(), "10.250.0.2/32");
    assert_eq!(rb.ips[0].address.to_string(), "10.250.0.3/32");
    assert_eq!(
        ra.ips[0].gateway.map(|g| g.to_string()).as_deref(),
        Some("10.250.0.1")
    );
    assert_eq!(ra.interfaces.len(), 2);
    assert_eq!(
        ra.interfaces[1].sandbox.as_deref(),
        Some(&*a.path().to_string_lossy())
    );
    assert_eq!(ra.ips[0].interface, Some(1));

    // Pod side: the /32, the gateway on the link, the default route; MTU from the config.
    assert_eq!(addresses(&a, "eth0"), ["10.250.0.2/32"]);
    let eth0 = a.ip_json(&["link", "show", "eth0"]).unwrap();
    assert_eq!(eth0[0]["mtu"], 1500);
    assert_eq!(
        routes(&a),
        [
            ("10.250.0.1".into(), String::new(), "eth0".into()),
            ("default".into(), "10.250.0.1".into(), "eth0".into()),
        ]
    );
    // Node side: a /32 route to each pod through its own veth, each veth with the gateway.
    let node_routes = routes(&s.node);
    let host_a = &ra.interfaces[0].name;
    assert!(
        node_routes.contains(&("10.250.0.2".into(), String::new(), host_a.clone())),
        "{node_routes:?}"
    );
    assert_eq!(addresses(&s.node, host_a), ["10.250.0.1/32"]);
    assert_eq!(
        s.node.netns().sysctl_get("net.ipv4.ip_forward").unwrap(),
        "1"
    );

    // TCP from pod a to pod b, forwarded by the node; b sees a's own address.
    let listener = b
        .run_blocking(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 7000)).unwrap())
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        conn.write_all(peer.ip().to_string().as_bytes()).unwrap();
    });
    let seen = a
        .run_blocking(|| {
            let to = SocketAddr::from(([10, 250, 0, 3], 7000));
            let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
            let mut seen = String::new();
            conn.read_to_string(&mut seen).unwrap();
            seen
        })
        .unwrap();
    server.join().unwrap();
    assert_eq!(seen, "10.250.0.2");

    s.check(&a).unwrap();
    // CHECK notices a missing address.
    a.ip(&["addr", "del", "10.250.0.2/32", "dev", "eth0"])
        .unwrap();
    let err = s.check(&a).unwrap_err().to_string();
    assert!(err.contains("eth0"), "{err}");

    assert_eq!(s.leases(), ["10.250.0.2", "10.250.0.3"]);
    assert_eq!(s.veths(), 2);
    s.del(&a).unwrap();
    s.del(&b).unwrap();
    assert!(s.leases().is_empty());
    assert_eq!(s.veths(), 0);
    assert!(!routes(&s.node).iter().any(|r| r.0.starts_with("10.250.")));
    // DEL again: nothing left to do, still success.
    s.del(&a).unwrap();
}

#[test]
fn a_failed_add_releases_its_address() {
    let s = Setup::new("fail");
    // The pod already has an eth0: the veth cannot be made, after IPAM ADD succeeded.
    let busy = s.node.pod("pod-busy");
    busy.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other",
    ])
    .unwrap();
    let err = s.add(&busy).unwrap_err().to_string();
    assert!(err.contains("veth"), "{err}");
    assert!(s.leases().is_empty(), "{:?}", s.leases());
    assert_eq!(s.veths(), 0);
    // The next pod gets an address (host-local goes on round-robin after the one it released).
    let pod = s.node.pod("pod-c");
    assert_eq!(
        s.add(&pod).unwrap().ips[0].address.to_string(),
        "10.250.0.3/32"
    );
    assert_eq!(s.leases(), ["10.250.0.3"]);
    s.del(&pod).unwrap();
}

#[test]
fn del_after_the_pod_is_gone_still_releases_the_address() {
    let s = Setup::new("gone");
    let pod = s.node.pod("pod-d");
    s.add(&pod).unwrap();
    let rc = attachment(&pod);
    drop(pod);
    s.on_node(async |rt, list| rt.del_network_list(list, &rc).await)
        .unwrap();
    // (The kernel removes the pod's veth when it tears the namespace down, asynchronously.)
    assert!(s.leases().is_empty());
}
