//! CHECK, per the reference: the bridge, the container veth and its host peer as `prevResult`
//! lists them, then the addresses and routes in the pod. Unlike the reference it works for a
//! layer-2 network (no IPAM CHECK without IPAM).

use cni_netlink::{Link, LinkKind, NetNs, Netlink};
use cni_skel::CheckRequest;
use cni_types::Interface;

use crate::config::{BridgeConf, Settings};
use crate::error::BridgeError;
use crate::ipam::Ipam;
use crate::plugin::load_settings;

fn mac_of(link: &Link) -> Option<String> {
    link.mac.map(|m| m.to_string())
}

fn kernel(context: &str) -> impl FnOnce(cni_netlink::Error) -> BridgeError + '_ {
    move |e| BridgeError::kernel(context, e)
}

/// Runs CHECK.
pub(crate) async fn check(req: &CheckRequest<BridgeConf>) -> Result<(), BridgeError> {
    let s = load_settings(&req.config, Some(&req.args))?;
    let ns = NetNs::open(&req.netns).map_err(|e| {
        BridgeError::kernel_with_code(4, format!("failed to open netns {:?}", req.netns), e)
    })?;
    // The pod's netlink socket is made on a thread of its own, which starts first: its start
    // overlaps the IPAM check and the bridge's. Errors keep the reference's order (IPAM, then
    // prevResult, then the bridge, then the pod).
    let pod = ns.connect();
    let host_side = async {
        if let Some(t) = &s.ipam_type {
            Ipam::for_check(t, req)?.check().await?;
        }
        let prev = req
            .config
            .prev_result_current()?
            .ok_or_else(|| BridgeError::config("Required prevResult missing"))?;
        let br_entry = prev.interfaces.iter().find(|i| i.name == s.bridge);
        let host = Netlink::connect_current()
            .await
            .map_err(kernel("failed to open netlink"))?;
        let bridge = check_bridge(&host, br_entry, &s).await?;
        Ok::<_, BridgeError>((prev, host, bridge))
    };
    let (pod, host_side) = tokio::join!(pod, host_side);
    let (prev, host, bridge) = host_side?;
    let netns = req.netns.to_string_lossy();
    let cont_entry = prev
        .interfaces
        .iter()
        .find(|i| i.name == req.ifname && i.sandbox.as_deref() == Some(&*netns));
    let cont_entry = cont_entry.ok_or_else(|| {
        let theirs = prev
            .interfaces
            .iter()
            .find(|i| i.name == req.ifname)
            .and_then(|i| i.sandbox.clone())
            .unwrap_or_default();
        BridgeError::other(format!(
            "Sandbox in prevResult {theirs} doesn't match configured netns: {netns}"
        ))
    })?;
    let pod = pod.map_err(kernel("failed to open netlink in the pod"))?;
    let cont = check_container(&pod, cont_entry).await?;

    let mut veth_found = false;
    for intf in &prev.interfaces {
        if intf.name == bridge.name || intf.name == cont_entry.name {
            continue;
        }
        if intf.sandbox.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(BridgeError::other(format!(
                "Interface {} should not be in sandbox",
                intf.name
            )));
        }
        let link = host
            .link_by_name(&intf.name)
            .await
            .map_err(kernel("failed to look up a host interface"))?
            .ok_or_else(|| BridgeError::other(format!("Interface name {} not found", intf.name)))?;
        if link.kind != LinkKind::Veth {
            continue;
        }
        let peers = cont.peer_index == Some(link.index) && link.peer_index == Some(cont.index);
        if !peers || link.master != Some(bridge.index) {
            continue;
        }
        if intf
            .mac
            .as_deref()
            .is_some_and(|m| Some(m) != mac_of(&link).as_deref())
        {
            return Err(BridgeError::other(format!(
                "Interface {} Mac doesn't match: {} not found",
                intf.name,
                intf.mac.as_deref().unwrap_or_default()
            )));
        }
        veth_found = true;
        break;
    }
    if !veth_found {
        return Err(BridgeError::other(format!(
            "CNI veth created for bridge {} was not found",
            s.bridge
        )));
    }

    for ip in &prev.ips {
        pod.expect_address(cont.index, ip.address)
            .await
            .map_err(kernel("an address of prevResult is missing"))?;
    }
    for route in &prev.routes {
        pod.expect_route(route.dst, route.gw)
            .await
            .map_err(kernel("a route of prevResult is missing"))?;
    }
    Ok(())
}

async fn check_bridge(
    host: &Netlink,
    entry: Option<&Interface>,
    s: &Settings,
) -> Result<Link, BridgeError> {
    let entry = entry.ok_or_else(|| {
        BridgeError::other(format!(
            "CNI created bridge {} in host namespace was not found",
            s.bridge
        ))
    })?;
    if entry.sandbox.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(BridgeError::other(format!(
            "Interface {} should not be in sandbox",
            entry.name
        )));
    }
    let link = host
        .link_by_name(&entry.name)
        .await
        .map_err(kernel("failed to look up the bridge"))?
        .ok_or_else(|| BridgeError::other(format!("Interface name {} not found", entry.name)))?;
    if link.kind != LinkKind::Bridge {
        return Err(BridgeError::other(format!(
            "Interface {} does not have link type of bridge",
            entry.name
        )));
    }
    if let Some(mac) = entry
        .mac
        .as_deref()
        .filter(|m| Some(*m) != mac_of(&link).as_deref())
    {
        return Err(BridgeError::other(format!(
            "Bridge interface {} Mac doesn't match: {mac}",
            entry.name
        )));
    }
    if link.promiscuous != s.promisc_mode {
        return Err(BridgeError::other(format!(
            "Bridge interface {} configured Promisc Mode {} doesn't match current state: {}",
            entry.name, s.promisc_mode, link.promiscuous
        )));
    }
    Ok(link)
}

async fn check_container(pod: &Netlink, entry: &Interface) -> Result<Link, BridgeError> {
    let link = pod
        .link_by_name(&entry.name)
        .await
        .map_err(kernel("failed to look up the container interface"))?
        .ok_or_else(|| BridgeError::other(format!("Interface name {} not found", entry.name)))?;
    if link.kind != LinkKind::Veth {
        return Err(BridgeError::other(format!(
            "Error: Container interface {} not of type veth",
            link.name
        )));
    }
    if link.peer_index.is_none() {
        return Err(BridgeError::other(format!(
            "Unable to obtain veth peer index for veth {}",
            link.name
        )));
    }
    if let Some(mac) = entry
        .mac
        .as_deref()
        .filter(|m| Some(*m) != mac_of(&link).as_deref())
    {
        return Err(BridgeError::other(format!(
            "Interface {} Mac {mac} doesn't match container Mac: {}",
            entry.name,
            mac_of(&link).unwrap_or_default()
        )));
    }
    Ok(link)
}
