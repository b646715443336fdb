//! The config lists shipped in `examples/conf/` (the README's worked examples) load with
//! cni-skel's config-directory loader and are accepted by the plugins they name; the cluster map
//! parses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use cni_examples::cluster::ClusterMap;
use cni_plugin_bridge::{BridgeConf, load_settings};
use cni_skel::load_conf_list;
use cni_skel::runtime::load_conf_lists;
use cni_types::NetConf;
use serde_json::Map;

fn conf_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/conf"))
}

#[test]
fn every_shipped_list_loads_and_names_its_plugins() {
    let lists = load_conf_lists(conf_dir()).unwrap();
    let mut names: Vec<&str> = lists.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["pod-network", "ptp-lite-net"]);
}

#[test]
fn the_pod_network_list_is_a_valid_bridge_config_with_the_cluster_never_masqueraded() {
    let list = load_conf_list(conf_dir(), "pod-network").unwrap();
    assert_eq!(list.plugin_type(0), Some("bridge"));
    assert_eq!(list.plugin_type(1), Some("portmap"));
    let value = list.plugin_config(0, &Map::new(), None).unwrap();
    let conf = NetConf::<BridgeConf>::from_value(value).unwrap();
    let settings = load_settings(&conf, None).unwrap();
    assert!(settings.is_gateway && settings.is_layer3());
    assert_eq!(conf.plugin.bridge, "v-net-0");
    assert_eq!(
        conf.plugin.non_masquerade_cidrs[0].to_string(),
        "10.244.0.0/16"
    );
    assert!(conf.ip_masq());
}

#[test]
fn the_demo_writes_the_same_kind_of_list() {
    let list = cni_examples::demo::conf_list(
        "10.244.2.0/24".parse().unwrap(),
        Path::new("/tmp/ipam"),
        true,
    )
    .unwrap();
    let value = list.plugin_config(0, &Map::new(), None).unwrap();
    let conf = NetConf::<BridgeConf>::from_value(value).unwrap();
    assert!(load_settings(&conf, None).unwrap().is_gateway);
    assert_eq!(conf.plugin.bridge, cni_examples::demo::POD_BRIDGE);
}

#[test]
fn the_sample_cluster_map_is_the_seeds() {
    let map = ClusterMap::load(&conf_dir().join("cluster-map.txt")).unwrap();
    assert_eq!(map, ClusterMap::seed(3).unwrap());
}
