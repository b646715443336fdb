//! The bridge plugin's ADD and DEL sequences end to end (host side in a node namespace), with the
//! time of each step printed (`--nocapture`) and the result checked with `ip -j`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cni_netlink::sysctl::interface_key;
use cni_netlink::testkit::TestNode;
use cni_netlink::{AddrOptions, BridgeSpec, IpFamily, NetNs, VethSpec};

const ROUNDS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn add_and_del_like_the_bridge_plugin() {
    let node = TestNode::new();
    let host = node.connect().await.unwrap();
    let mut steps: Vec<(&str, Vec<Duration>)> = vec![
        ("open + connect pod netns", vec![]),
        ("ensure bridge + gateway address", vec![]),
        ("create veth pair", vec![]),
        ("pod sysctls", vec![]),
        ("pod address + up + default route", vec![]),
        ("wait host port usable", vec![]),
        ("DEL: delete container link", vec![]),
        ("whole ADD", vec![]),
    ];
    let mut pods = Vec::new();
    for round in 0..ROUNDS {
        let pod = node.pod(&format!("pod{round}"));
        let path = pod.path().to_path_buf();
        let t0 = Instant::now();

        let t = Instant::now();
        let pod_ns = NetNs::open(&path).unwrap();
        pod_ns.ensure_not_current_thread().unwrap();
        let podnl = pod_ns.connect().await.unwrap();
        steps[0].1.push(t.elapsed());

        let t = Instant::now();
        let br = host.ensure_bridge(&BridgeSpec::new("cni0")).await.unwrap();
        host.add_address(
            br.index,
            "10.22.0.1/16".parse().unwrap(),
            AddrOptions::default(),
        )
        .await
        .unwrap();
        steps[1].1.push(t.elapsed());

        let t = Instant::now();
        let pair = host
            .create_veth_pair(
                &podnl,
                &VethSpec {
                    bridge: Some(br.index),
                    mtu: Some(1500),
                    ..VethSpec::new("eth0")
                },
            )
            .await
            .unwrap();
        steps[2].1.push(t.elapsed());

        let t = Instant::now();
        pod_ns
            .sysctl_set_many(&[
                (&interface_key(IpFamily::V4, "eth0", "arp_notify"), "1"),
                (&interface_key(IpFamily::V6, "eth0", "accept_dad"), "0"),
            ])
            .unwrap();
        steps[3].1.push(t.elapsed());

        let t = Instant::now();
        let ip = format!("10.22.0.{}/16", round + 10);
        podnl
            .add_address(
                pair.container.index,
                ip.parse().unwrap(),
                AddrOptions::default(),
            )
            .await
            .unwrap();
        podnl.set_link_up(pair.container.index).await.unwrap();
        podnl
            .replace_default_route("10.22.0.1".parse().unwrap(), Some(pair.container.index))
            .await
            .unwrap();
        steps[4].1.push(t.elapsed());

        let t = Instant::now();
        host.wait_link_usable(pair.host.index, Duration::from_secs(5))
            .await
            .unwrap();
        steps[5].1.push(t.elapsed());
        steps[7].1.push(t0.elapsed());

        // Independent check of the pod side.
        let addrs = pod.ip_json(&["addr", "show", "eth0"]).unwrap();
        assert_eq!(
            addrs[0]["addr_info"][0]["local"],
            ip.split('/').next().unwrap()
        );
        let default = pod.ip_json(&["route", "show", "default"]).unwrap();
        assert_eq!(default[0]["gateway"], "10.22.0.1");
        pods.push((pod, podnl, pair));
    }
    // Every host end is a port of the bridge.
    let ports = node.ip_json(&["link", "show", "master", "cni0"]).unwrap();
    assert_eq!(ports.as_array().unwrap().len(), ROUNDS);

    for (pod, podnl, pair) in &pods {
        let t = Instant::now();
        podnl.delete_link_by_name("eth0").await.unwrap();
        steps[6].1.push(t.elapsed());
        assert!(
            pod.ip_json(&["link", "show"])
                .unwrap()
                .as_array()
                .unwrap()
                .len()
                == 1
        );
        assert!(host.link_by_index(pair.host.index).await.unwrap().is_none());
        // DEL twice is success.
        assert!(podnl.delete_link_by_name("eth0").await.unwrap().is_none());
    }
    let ports = node.ip_json(&["link", "show", "master", "cni0"]).unwrap();
    assert!(ports.as_array().unwrap().is_empty());

    for (name, times) in steps {
        eprintln!("{name:<36} median {:?} over {ROUNDS}", median(times));
    }
}
