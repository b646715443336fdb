//! Pods: a namespace each, attached and detached by the node's container runtime — cni-skel's
//! runtime side executing the config list, which runs our `bridge` plugin as a process.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cni_netlink::NetNs;
use cni_skel::{CniRuntime, RuntimeConf};
use cni_types::NetConfList;

use super::topology::{NodeEnv, loopback_up};
use crate::error::{Error, Result};
use crate::sandbox::new_netns;

/// The interface name of every pod's network attachment.
pub(crate) const POD_IFNAME: &str = "eth0";

/// A pod attached to the network.
pub(crate) struct Pod {
    /// `pod-<node>-<n>`, also the container id.
    pub(crate) name: String,
    /// Index of its node in the demo's node list.
    pub(crate) node: usize,
    pub(crate) ns: NetNs,
    /// The address the plugin reported.
    pub(crate) ip: IpAddr,
    pub(crate) attachment: RuntimeConf,
}

/// Runs `job` on a fresh OS thread that entered `ns`, under a current-thread tokio runtime of
/// its own there. Processes the job spawns (the plugins) start in `ns`, as they would when a
/// container runtime on that node executes them. No tokio worker ever changes namespace.
pub(crate) async fn on_node_thread<T, F, Fut>(ns: &NetNs, job: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    ns.run(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("starting a runtime in the node namespace"))?
            .block_on(job())
    })
    .await
    .map_err(Error::netlink("entering the node namespace"))?
}

/// Creates pod `name` on `node` and runs CNI ADD for it; returns the pod and the ADD's duration
/// (thread start, plugin exec, everything the plugin does).
pub(crate) async fn add_pod(node: &NodeEnv, index: usize, name: String) -> Result<(Pod, Duration)> {
    let ns = new_netns()?;
    let nl = ns
        .connect()
        .await
        .map_err(Error::netlink(format!("connecting to {name}")))?;
    loopback_up(&nl).await?;
    let attachment = RuntimeConf::new(&name, ns.path().to_string_lossy(), POD_IFNAME);
    let (runtime, list, rc) = (node.runtime.clone(), node.list.clone(), attachment.clone());
    let start = Instant::now();
    let result = on_node_thread(&node.ns, move || async move {
        runtime
            .add_network_list(&list, &rc)
            .await
            .map_err(Error::cni(format!("CNI ADD of {}", rc.container_id)))
    })
    .await?;
    let took = start.elapsed();
    let ip = result
        .to_current()
        .ips
        .first()
        .map(|c| c.address.ip())
        .ok_or_else(|| Error::Verification(format!("CNI ADD of {name} returned no address")))?;
    Ok((
        Pod {
            name,
            node: index,
            ns,
            ip,
            attachment,
        },
        took,
    ))
}

/// Runs CNI DEL for `pod` on its node; returns the DEL's duration.
pub(crate) async fn del_pod(node: &NodeEnv, pod: &Pod) -> Result<Duration> {
    del_attachment(&node.ns, &node.runtime, &node.list, &pod.attachment).await
}

async fn del_attachment(
    ns: &NetNs,
    runtime: &CniRuntime,
    list: &NetConfList,
    attachment: &RuntimeConf,
) -> Result<Duration> {
    let (runtime, list, rc) = (runtime.clone(), list.clone(), attachment.clone());
    let start = Instant::now();
    on_node_thread(ns, move || async move {
        runtime
            .del_network_list(&list, &rc)
            .await
            .map_err(Error::cni(format!("CNI DEL of {}", rc.container_id)))
    })
    .await?;
    Ok(start.elapsed())
}

/// The addresses host-local still holds in `ipam_dir` (files named after an address).
pub(crate) fn leased_addresses(ipam_dir: &std::path::Path) -> Result<Vec<String>> {
    let mut leased = Vec::new();
    let networks = match std::fs::read_dir(ipam_dir) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(leased),
        Err(e) => return Err(Error::io(format!("reading {}", ipam_dir.display()))(e)),
    };
    for network in networks {
        let network = network.map_err(Error::io("listing the IPAM directory"))?;
        let Ok(entries) = std::fs::read_dir(network.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.parse::<IpAddr>().is_ok() {
                leased.push(name);
            }
        }
    }
    leased.sort();
    Ok(leased)
}
