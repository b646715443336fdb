//! The cluster map: which node has which address and which pod subnet.
//!
//! It is what a host-gw network needs to know about the other nodes, and all it needs: each node
//! routes every other node's pod subnet via that node's address. In a Kubernetes cluster the same
//! table comes from the Node objects (`status.addresses` and `spec.podCIDRs`).
//!
//! Two file formats are accepted ([`ClusterMap::parse`]):
//!
//! ```text
//! # text: one node per line, "name node-ip pod-subnet"; '#' starts a comment
//! node1 192.168.1.11 10.244.1.0/24
//! node2 192.168.1.12 10.244.2.0/24
//! ```
//!
//! ```json
//! {"nodes": [{"name": "node1", "ip": "192.168.1.11", "podCIDR": "10.244.1.0/24"}]}
//! ```

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cni_netlink::HostGwRoute;
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name.
    pub name: String,
    /// The node's address on the network it shares with the other nodes.
    pub ip: IpAddr,
    /// The node's pod subnet.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: IpNetwork,
}

/// The nodes of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    /// Every node, in order.
    pub nodes: Vec<Node>,
}

impl ClusterMap {
    /// The seed's cluster generalised to `count` nodes: node `i` (from 1) is `node<i>` at
    /// `192.168.1.<10+i>` with pod subnet `10.244.<i>.0/24`. `count` must be 1 to 89 (the
    /// addresses stay below `192.168.1.100`).
    pub fn seed(count: usize) -> Result<ClusterMap> {
        if !(1..=89).contains(&count) {
            return Err(Error::Usage(format!(
                "the number of nodes must be 1 to 89, not {count}"
            )));
        }
        let nodes = (1..=count)
            .map(|i| {
                let line = format!("node{i} 192.168.1.{} 10.244.{i}.0/24", 10 + i);
                parse_line(&line).map_err(|reason| Error::ClusterMap {
                    path: PathBuf::from("<seed>"),
                    reason,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ClusterMap { nodes })
    }

    /// Reads a map from a file (JSON when its first non-blank character is `{`, text otherwise).
    pub fn load(path: &Path) -> Result<ClusterMap> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("reading cluster map {}", path.display())))?;
        ClusterMap::parse(&text).map_err(|reason| Error::ClusterMap {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses a map in either format and checks it: names and node addresses unique, pod subnets
    /// pairwise disjoint.
    pub fn parse(text: &str) -> std::result::Result<ClusterMap, String> {
        let map = if text.trim_start().starts_with('{') {
            serde_json::from_str::<ClusterMap>(text).map_err(|e| format!("invalid JSON: {e}"))?
        } else {
            let mut nodes = Vec::new();
            for (n, raw) in text.lines().enumerate() {
                let line = raw.split('#').next().unwrap_or_default().trim();
                if !line.is_empty() {
                    nodes.push(parse_line(line).map_err(|e| format!("line {}: {e}", n + 1))?);
                }
            }
            ClusterMap { nodes }
        };
        map.check()?;
        Ok(map)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let mut names = HashSet::new();
        let mut ips = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.name.is_empty() {
                return Err(format!("node {} has an empty name", i + 1));
            }
            if !names.insert(node.name.as_str()) {
                return Err(format!("node {} is listed twice", node.name));
            }
            if !ips.insert(node.ip) {
                return Err(format!("address {} is given to two nodes", node.ip));
            }
            let overlap = self.nodes.iter().skip(i + 1).find(|o| {
                o.pod_cidr.contains(node.pod_cidr.network())
                    || node.pod_cidr.contains(o.pod_cidr.network())
            });
            if let Some(other) = overlap {
                return Err(format!(
                    "pod subnets of {} ({}) and {} ({}) overlap",
                    node.name, node.pod_cidr, other.name, other.pod_cidr
                ));
            }
        }
        Ok(())
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The host-gw routes node `name` needs: every other node's pod subnet via that node's
    /// address. A node not in the map needs (and gets) none.
    pub fn routes_for(&self, name: &str) -> Vec<HostGwRoute> {
        self.nodes
            .iter()
            .filter(|n| n.name != name)
            .map(|n| HostGwRoute {
                subnet: n.pod_cidr,
                gateway: n.ip,
                oif: None,
            })
            .collect()
    }

    /// The map in the text format.
    pub fn to_text(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{} {} {}\n", n.name, n.ip, n.pod_cidr))
            .collect()
    }
}

fn parse_line(line: &str) -> std::result::Result<Node, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [name, ip, cidr] = fields.as_slice() else {
        return Err(format!(
            "expected \"name node-ip pod-subnet\", got {} field(s)",
            fields.len()
        ));
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|e| format!("bad node address {ip:?}: {e}"))?;
    let pod_cidr: IpNetwork = cidr
        .parse()
        .map_err(|e| format!("bad pod subnet {cidr:?}: {e}"))?;
    Ok(Node {
        name: (*name).to_owned(),
        ip,
        pod_cidr: IpNetwork::new(pod_cidr.network(), pod_cidr.prefix())
            .map_err(|e| format!("bad pod subnet {cidr:?}: {e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_give_the_same_map() {
        let text = "# the seed\nnode1 192.168.1.11 10.244.1.0/24\n\nnode2 192.168.1.12 10.244.2.0/24 # two\n";
        let json = r#"{"nodes":[{"name":"node1","ip":"192.168.1.11","podCIDR":"10.244.1.0/24"},
            {"name":"node2","ip":"192.168.1.12","podCIDR":"10.244.2.0/24"}]}"#;
        let a = ClusterMap::parse(text);
        let b = ClusterMap::parse(json);
        assert_eq!(a, b);
        assert_eq!(a.map(|m| m.nodes.len()), Ok(2));
    }

    #[test]
    fn routes_go_to_every_other_node() {
        let map = ClusterMap::seed(3).map_err(|e| e.to_string());
        let routes: Vec<String> = map
            .map(|m| m.routes_for("node1"))
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} via {}", r.subnet, r.gateway))
            .collect();
        assert_eq!(
            routes,
            [
                "10.244.2.0/24 via 192.168.1.12",
                "10.244.3.0/24 via 192.168.1.13"
            ]
        );
    }

    #[test]
    fn bad_maps_are_refused_with_the_reason() {
        let cases = [
            ("node1 192.168.1.11", "field"),
            ("node1 192.168.1.x 10.244.1.0/24", "bad node address"),
            ("node1 192.168.1.11 10.244.1.0/33", "bad pod subnet"),
            ("a 1.1.1.1 10.0.0.0/24\na 1.1.1.2 10.0.1.0/24", "twice"),
            ("a 1.1.1.1 10.0.0.0/24\nb 1.1.1.1 10.0.1.0/24", "two nodes"),
            ("a 1.1.1.1 10.0.0.0/16\nb 1.1.1.2 10.0.1.0/24", "overlap"),
            ("{\"nodes\": 3}", "invalid JSON"),
        ];
        for (text, want) in cases {
            match ClusterMap::parse(text) {
                Err(e) => assert!(e.contains(want), "{text:?}: {e}"),
                Ok(m) => panic!("{text:?} accepted: {m:?}"),
            }
        }
        assert!(ClusterMap::seed(0).is_err());
        assert!(ClusterMap::seed(90).is_err());
    }

    #[test]
    fn a_host_bit_in_a_subnet_is_normalised_and_text_round_trips() {
        let map = ClusterMap::parse("n 10.0.0.1 10.244.1.7/24").unwrap_or_default();
        assert_eq!(map.to_text(), "n 10.0.0.1 10.244.1.0/24\n");
        assert_eq!(ClusterMap::parse(&map.to_text()), Ok(map));
    }
}
