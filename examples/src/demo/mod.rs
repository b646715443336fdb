//! The seed's pod network, built and proven in namespaces of its own.
//!
//! [`run`] builds a LAN with `nodes` nodes (`192.168.1.11`…, the seed's table), routes every
//! node's pod subnet via that node with `cni-netlink`'s host-gw reconcile, attaches pods through
//! the real CNI exec protocol (cni-skel's runtime side running our `bridge` plugin as a process
//! inside the node's namespace), proves every pod reaches every pod without NAT with TCP probes,
//! then deletes every pod with CNI DEL and checks that nothing is left.
//!
//! The caller must already be in namespaces of its own
//! ([`crate::sandbox::enter_private_namespaces`]) and must dispatch to the plugin when invoked
//! as `bridge` ([`crate::multicall`]): the demo executes its own binary as the plugin.

mod options;
mod pods;
mod print;
mod probe;
mod report;
mod topology;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cni_netlink::{HOSTGW_PROTOCOL, HostGwOptions, IpFamily, RouteFilter};

pub use options::{DemoOptions, USAGE};
pub use probe::{PROBE_PORT, ProbeOutcome};
pub use report::{DemoReport, ExternalProbe, PodProbe, PodSummary, spread};
pub use topology::{CLUSTER_CIDR, EXTERNAL_IP, LAN_BRIDGE, NETWORK, POD_BRIDGE, conf_list};

use crate::cluster::ClusterMap;
use crate::error::{Error, Result};
use crate::multicall::install_plugin_links;
use pods::{Pod, add_pod, del_pod, leased_addresses};
use print::{say, step};
use probe::Listener;
use topology::{External, Lan, NodeEnv};

/// A temporary directory for the demo's state (plugin links, configs, IPAM data, result cache),
/// removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn create() -> Result<StateDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "cni-rs-pod-network-{}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        Ok(StateDir(dir))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the whole demo, writing its story to `out`, and returns what it found. An `Err` means
/// the demo could not be carried out (no privileges, a failed CNI ADD); a run whose probes
/// failed returns `Ok` with [`DemoReport::failures`] saying which.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport> {
    let state = StateDir::create()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the demo's runtime"))?
        .block_on(run_in(opts, out, &state.0))
}

async fn run_in(opts: &DemoOptions, out: &mut dyn Write, state: &Path) -> Result<DemoReport> {
    let map = ClusterMap::seed(opts.nodes)?;
    let mut report = DemoReport::default();

    step(out, 1, "the cluster: nodes on one LAN (the seed's table)");
    print::cluster_table(out, &map);
    let cni_path = install_plugin_links(&state.join("bin"))?;
    let lan = Lan::new().await?;
    let mut nodes = Vec::new();
    for node in &map.nodes {
        nodes.push(NodeEnv::new(&lan, node, state, &cni_path, opts.ip_masq).await?);
    }
    let external = match opts.ip_masq {
        true => Some(External::new(&lan).await?),
        false => None,
    };
    say!(
        out,
        "  made: a LAN namespace with switch {LAN_BRIDGE}; per node a namespace whose eth0 is cabled to it"
    );
    if external.is_some() {
        say!(
            out,
            "  made: a host outside the cluster on the LAN, {EXTERNAL_IP}"
        );
    }
    say!(
        out,
        "  CNI_PATH {} (bridge -> this executable)",
        cni_path.display()
    );

    step(
        out,
        2,
        "host-gw: every node routes the other pod subnets via their node (cni-netlink reconcile)",
    );
    for node in &nodes {
        let routes = map.routes_for(&node.node.name);
        let changes = node
            .nl
            .reconcile_host_gw(&routes, &HostGwOptions::default())
            .await
            .map_err(Error::netlink(format!(
                "host-gw routes on {}",
                node.node.name
            )))?;
        let installed = node
            .nl
            .routes(&RouteFilter {
                protocol: Some(HOSTGW_PROTOCOL),
                ..RouteFilter::default()
            })
            .await
            .map_err(Error::netlink("listing routes"))?;
        let shown: Vec<String> = installed
            .iter()
            .map(|r| {
                format!(
                    "{} via {}",
                    r.destination,
                    r.gateway.map(|g| g.to_string()).unwrap_or_default()
                )
            })
            .collect();
        say!(
            out,
            "  {}$ ip route  →  {}   ({} added)",
            node.node.name,
            shown.join(", "),
            changes.added.len()
        );
    }

    step(
        out,
        3,
        "pods: CNI ADD through cni-skel's runtime, which executes the bridge plugin on the node",
    );
    let mut pods: Vec<Pod> = Vec::new();
    let added = add_all(opts, &nodes, &mut pods, &mut report, out).await;
    let outcome = match added {
        Ok(()) => {
            prove(
                opts,
                &lan,
                &nodes,
                &pods,
                external.as_ref(),
                &mut report,
                out,
            )
            .await
        }
        Err(e) => Err(e),
    };

    step(
        out,
        5,
        "CNI DEL of every pod, then removing what the demo made",
    );
    let deleted = delete_all(&nodes, &pods, &mut report, out).await;
    for node in &nodes {
        let changes = node
            .nl
            .reconcile_host_gw(&[], &HostGwOptions::default())
            .await
            .map_err(Error::netlink(format!(
                "removing host-gw routes on {}",
                node.node.name
            )))?;
        say!(
            out,
            "  {}: {} host-gw route(s) removed",
            node.node.name,
            changes.removed.len()
        );
    }
    drop(pods);
    drop(nodes);
    drop(external);
    drop(lan);
    say!(out, "  namespaces closed; state directory removed on exit");
    outcome?;
    deleted?;

    step(out, 6, "summary");
    print::timings(out, "ADD", &report.add_times);
    print::timings(out, "DEL", &report.del_times);
    let failures = report.failures();
    if failures.is_empty() {
        say!(
            out,
            "  every pod reached every pod, same node and across nodes, without NAT ✓"
        );
    } else {
        for f in &failures {
            say!(out, "  ✗ {f}");
        }
    }
    Ok(report)
}

async fn add_all(
    opts: &DemoOptions,
    nodes: &[NodeEnv],
    pods: &mut Vec<Pod>,
    report: &mut DemoReport,
    out: &mut dyn Write,
) -> Result<()> {
    for (index, node) in nodes.iter().enumerate() {
        for n in 1..=opts.pods_per_node {
            let name = format!("pod-{}-{n}", index + 1);
            let (pod, took) = add_pod(node, index, name).await?;
            say!(
                out,
                "  {:<9} on {:<6} eth0 {:<12} ADD {}",
                pod.name,
                node.node.name,
                pod.ip,
                print::ms(took)
            );
            report.add_times.push(took);
            report.pods.push(summary(&pod, nodes));
            pods.push(pod);
        }
        let bridge = node
            .nl
            .link(POD_BRIDGE)
            .await
            .map_err(Error::netlink("finding the pod bridge"))?;
        let addrs = node
            .nl
            .addresses(Some(bridge.index), Some(IpFamily::V4))
            .await
            .map_err(Error::netlink("listing bridge addresses"))?;
        let forward = node
            .ns
            .sysctl_get("net.ipv4.ip_forward")
            .unwrap_or_default();
        let shown: Vec<String> = addrs.iter().map(|a| a.network.to_string()).collect();
        say!(
            out,
            "  {}: bridge {POD_BRIDGE} {} (made by the plugin), net.ipv4.ip_forward={forward}",
            node.node.name,
            shown.join(", ")
        );
    }
    Ok(())
}

fn summary(pod: &Pod, nodes: &[NodeEnv]) -> PodSummary {
    PodSummary {
        name: pod.name.clone(),
        node: nodes
            .get(pod.node)
            .map(|n| n.node.name.clone())
            .unwrap_or_default(),
        ip: pod.ip,
    }
}

async fn prove(
    opts: &DemoOptions,
    lan: &Lan,
    nodes: &[NodeEnv],
    pods: &[Pod],
    external: Option<&External>,
    report: &mut DemoReport,
    out: &mut dyn Write,
) -> Result<()> {
    step(
        out,
        4,
        "connectivity: a TCP listener in every pod, a connection from every pod to every pod",
    );
    let _listeners = pods
        .iter()
        .map(|p| Listener::start(&p.ns))
        .collect::<Result<Vec<_>>>()?;
    let _outside = external.map(|e| Listener::start(&e.ns)).transpose()?;
    for from in pods {
        for to in pods {
            let outcome = probe::probe(&from.ns, to.ip, opts.probe_timeout);
            report.probes.push(PodProbe {
                from: summary(from, nodes),
                to: summary(to, nodes),
                outcome,
            });
        }
    }
    print::matrix(out, &report.pods, &report.probes);
    say!(out);
    say!(
        out,
        "  across nodes, the source address each server saw (the client's own: no NAT):"
    );
    let mut shown = std::collections::HashSet::new();
    for p in report.probes.iter().filter(|p| p.from.node != p.to.node) {
        if shown.insert((p.from.node.clone(), p.to.node.clone())) {
            let seen = p
                .outcome
                .seen_source
                .map(|s| s.to_string())
                .unwrap_or_else(|| "nothing".into());
            let mark = if p.is_good() { "✓ no NAT" } else { "✗" };
            say!(
                out,
                "    {} ({}) → {} ({}): server saw {seen}  {mark}",
                p.from.name,
                p.from.ip,
                p.to.name,
                p.to.ip
            );
        }
    }
    if external.is_some() {
        say!(out);
        say!(
            out,
            "  ipMasq on: to a host outside the cluster ({EXTERNAL_IP}) the pods are masqueraded:"
        );
        for pod in pods {
            let outcome = probe::probe(&pod.ns, EXTERNAL_IP.into(), opts.probe_timeout);
            let node_ip = nodes
                .get(pod.node)
                .map(|n| n.node.ip)
                .unwrap_or(EXTERNAL_IP.into());
            let probe = ExternalProbe {
                from: summary(pod, nodes),
                node_ip,
                outcome,
            };
            let seen = probe
                .outcome
                .seen_source
                .map(|s| s.to_string())
                .unwrap_or_else(|| "nothing".into());
            let mark = if probe.is_good() {
                "✓ NAT to the node's address"
            } else {
                "✗"
            };
            say!(
                out,
                "    {} ({}) → {EXTERNAL_IP}: server saw {seen}  {mark}",
                pod.name,
                pod.ip
            );
            report.external.push(probe);
        }
    }
    if opts.keep {
        keep(lan, nodes, pods, out);
    }
    Ok(())
}

async fn delete_all(
    nodes: &[NodeEnv],
    pods: &[Pod],
    report: &mut DemoReport,
    out: &mut dyn Write,
) -> Result<()> {
    let mut first_error = None;
    for pod in pods {
        let Some(node) = nodes.get(pod.node) else {
            continue;
        };
        match del_pod(node, pod).await {
            Ok(took) => {
                say!(out, "  {:<9} DEL {}", pod.name, print::ms(took));
                report.del_times.push(took);
            }
            Err(e) => {
                say!(out, "  {:<9} DEL failed: {e}", pod.name);
                first_error.get_or_insert(e);
            }
        }
    }
    for node in nodes {
        let name = &node.node.name;
        for ip in leased_addresses(&node.ipam_dir)? {
            report
                .leftovers
                .push(format!("{name}: host-local still leases {ip}"));
        }
        let cached = node
            .runtime
            .cached_attachments(None)
            .map_err(Error::cni("reading the result cache"))?;
        for c in cached {
            report
                .leftovers
                .push(format!("{name}: cached result of {}", c.container_id));
        }
        if let Some(bridge) = node
            .nl
            .link_by_name(POD_BRIDGE)
            .await
            .map_err(Error::netlink("finding the pod bridge"))?
        {
            let links = node
                .nl
                .links()
                .await
                .map_err(Error::netlink("listing links"))?;
            for port in links.iter().filter(|l| l.master == Some(bridge.index)) {
                report
                    .leftovers
                    .push(format!("{name}: {} still on {POD_BRIDGE}", port.name));
            }
        }
        if report.leftovers.is_empty() {
            say!(
                out,
                "  {name}: host-local leases none, result cache empty, no port left on {POD_BRIDGE}"
            );
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--keep`: say how to look around, then wait for Enter or Ctrl-C.
fn keep(lan: &Lan, nodes: &[NodeEnv], pods: &[Pod], out: &mut dyn Write) {
    let pid = std::process::id();
    say!(out);
    say!(out, "── kept for inspection ──");
    say!(
        out,
        "  The namespaces belong to this process (pid {pid}) and its private user namespace."
    );
    say!(out, "  From another terminal (as the same user, or root):");
    say!(
        out,
        "    {:<9} nsenter --user=/proc/{pid}/ns/user --net={} bridge link",
        "lan",
        lan.ns.path().display()
    );
    for node in nodes {
        say!(
            out,
            "    {:<9} nsenter --user=/proc/{pid}/ns/user --net={} ip route",
            node.node.name,
            node.ns.path().display()
        );
    }
    for pod in pods {
        say!(
            out,
            "    {:<9} nsenter --user=/proc/{pid}/ns/user --net={} ip addr",
            pod.name,
            pod.ns.path().display()
        );
    }
    say!(
        out,
        "  Press Enter (or Ctrl-C) to delete the pods and tear everything down."
    );
    let _ = out.flush();
    crate::wait::enter_or_interrupt();
}
