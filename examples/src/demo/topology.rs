//! The demo's machines: a LAN namespace holding a switch (a bridge), node namespaces plugged into
//! it through veth "cables", and (with `--ip-masq`) a server outside the cluster on the same LAN.
//! Everything is made through `cni-netlink`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use cni_netlink::{AddrOptions, BridgeSpec, NetNs, Netlink, VethSpec};
use cni_skel::CniRuntime;
use cni_types::NetConfList;
use ipnetwork::{IpNetwork, Ipv4Network};
use serde_json::json;

use crate::cluster::Node;
use crate::error::{Error, Result};
use crate::sandbox::new_netns;

/// The name of the switch in the LAN namespace.
pub const LAN_BRIDGE: &str = "lan0";
/// The name of the per-node pod bridge, as in the seed.
pub const POD_BRIDGE: &str = "v-net-0";
/// The network name of the demo's config list.
pub const NETWORK: &str = "pod-network";
/// The cluster CIDR, never masqueraded with `--ip-masq`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// The address of the server outside the cluster (`--ip-masq`).
pub const EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);

/// The LAN all nodes share.
pub(crate) struct Lan {
    pub(crate) ns: NetNs,
    pub(crate) nl: Netlink,
    bridge: u32,
}

impl Lan {
    pub(crate) async fn new() -> Result<Lan> {
        let ns = new_netns()?;
        let nl = ns
            .connect()
            .await
            .map_err(Error::netlink("connecting to the LAN"))?;
        let bridge = nl
            .ensure_bridge(&BridgeSpec::new(LAN_BRIDGE))
            .await
            .map_err(Error::netlink("creating the LAN switch"))?;
        Ok(Lan {
            ns,
            nl,
            bridge: bridge.index,
        })
    }

    /// Plugs namespace `nl` into the switch: a veth whose end there is `eth0` with `address`,
    /// and whose end on the LAN side is called `port`. Brings `lo` and `eth0` up.
    pub(crate) async fn plug(&self, nl: &Netlink, port: &str, address: Ipv4Network) -> Result<()> {
        let what = format!("plugging {port} into the LAN");
        let spec = VethSpec {
            host_ifname: Some(port.to_owned()),
            bridge: Some(self.bridge),
            container_up: true,
            ..VethSpec::new("eth0")
        };
        let pair = self
            .nl
            .create_veth_pair(nl, &spec)
            .await
            .map_err(Error::netlink(&what))?;
        nl.add_address(pair.container.index, address.into(), AddrOptions::default())
            .await
            .map_err(Error::netlink(&what))?;
        loopback_up(nl).await
    }
}

/// Brings `lo` up in the namespace of `nl` (the runtime's job for pods, ours for machines).
pub(crate) async fn loopback_up(nl: &Netlink) -> Result<()> {
    let lo = nl.link("lo").await.map_err(Error::netlink("finding lo"))?;
    nl.set_link_up(lo.index)
        .await
        .map_err(Error::netlink("bringing lo up"))
}

/// One node: its namespace, its entry in the cluster map, and the container runtime's view of it
/// (the config list, the runtime with its result cache, the IPAM data directory).
pub(crate) struct NodeEnv {
    pub(crate) node: Node,
    pub(crate) ns: NetNs,
    pub(crate) nl: Netlink,
    pub(crate) list: NetConfList,
    pub(crate) runtime: CniRuntime,
    pub(crate) ipam_dir: PathBuf,
}

impl NodeEnv {
    /// Creates the node's namespace, plugs it into the LAN at its address and writes what its
    /// container runtime needs under `state/<name>/`.
    pub(crate) async fn new(
        lan: &Lan,
        node: &Node,
        state: &Path,
        cni_path: &Path,
        ip_masq: bool,
    ) -> Result<NodeEnv> {
        let IpAddr::V4(ip) = node.ip else {
            return Err(Error::Usage(format!(
                "{}: the demo's nodes are IPv4",
                node.name
            )));
        };
        let ns = new_netns()?;
        let nl = ns
            .connect()
            .await
            .map_err(Error::netlink(format!("connecting to {}", node.name)))?;
        let address =
            Ipv4Network::new(ip, 24).map_err(|e| Error::Usage(format!("{}: {e}", node.name)))?;
        lan.plug(&nl, &node.name, address).await?;
        let dir = state.join(&node.name);
        let ipam_dir = dir.join("ipam");
        let cache_dir = dir.join("cache");
        let list = conf_list(node.pod_cidr, &ipam_dir, ip_masq)?;
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let conf_file = dir.join("10-pod-network.conflist");
        let text = serde_json::to_vec_pretty(&list).map_err(|e| Error::Usage(e.to_string()))?;
        std::fs::write(&conf_file, text)
            .map_err(Error::io(format!("writing {}", conf_file.display())))?;
        let runtime = CniRuntime::new(vec![cni_path.to_path_buf()]).with_cache_dir(&cache_dir);
        Ok(NodeEnv {
            node: node.clone(),
            ns,
            nl,
            list,
            runtime,
            ipam_dir,
        })
    }
}

/// The config list a node's container runtime uses: our `bridge` plugin on `v-net-0`, gateway
/// and default gateway, host-local from the node's pod subnet.
pub fn conf_list(pod_cidr: IpNetwork, ipam_dir: &Path, ip_masq: bool) -> Result<NetConfList> {
    let value = json!({
        "cniVersion": "1.1.0",
        "name": NETWORK,
        "plugins": [{
            "type": "bridge",
            "bridge": POD_BRIDGE,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": ip_masq,
            "nonMasqueradeCIDRs": [CLUSTER_CIDR],
            "ipam": {
                "type": "host-local",
                "subnet": pod_cidr.to_string(),
                "dataDir": ipam_dir,
            },
        }],
    });
    NetConfList::from_value(value).map_err(|e| Error::Usage(format!("demo config list: {e}")))
}

/// A machine on the LAN outside the cluster (only with `--ip-masq`).
pub(crate) struct External {
    pub(crate) ns: NetNs,
    _nl: Netlink,
}

impl External {
    pub(crate) async fn new(lan: &Lan) -> Result<External> {
        let ns = new_netns()?;
        let nl = ns
            .connect()
            .await
            .map_err(Error::netlink("connecting to the external host"))?;
        let address = Ipv4Network::new(EXTERNAL_IP, 24).map_err(|e| Error::Usage(e.to_string()))?;
        lan.plug(&nl, "external", address).await?;
        Ok(External { ns, _nl: nl })
    }
}
