//! What the demo found, and the judgement of it.

use std::net::IpAddr;
use std::time::Duration;

use super::probe::ProbeOutcome;

/// A pod as the demo made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// The pod's name (`pod-<node>-<n>`, also its container id).
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// The address CNI ADD gave it.
    pub ip: IpAddr,
}

/// One pod-to-pod probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProbe {
    /// The client pod.
    pub from: PodSummary,
    /// The server pod.
    pub to: PodSummary,
    /// What happened.
    pub outcome: ProbeOutcome,
}

impl PodProbe {
    /// True when the server answered and saw the client's own address (no NAT).
    pub fn is_good(&self) -> bool {
        self.outcome.seen_source == Some(self.from.ip)
    }
}

/// A probe from a pod to the server outside the cluster (`--ip-masq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProbe {
    /// The client pod.
    pub from: PodSummary,
    /// The address of the pod's node, which masquerading must show.
    pub node_ip: IpAddr,
    /// What happened.
    pub outcome: ProbeOutcome,
}

impl ExternalProbe {
    /// True when the server answered and saw the node's address (masqueraded).
    pub fn is_good(&self) -> bool {
        self.outcome.seen_source == Some(self.node_ip)
    }
}

/// Everything one run of the demo established.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Every pod.
    pub pods: Vec<PodSummary>,
    /// Every ordered pair of pods (including a pod to itself).
    pub probes: Vec<PodProbe>,
    /// Pod to the outside (only with `--ip-masq`).
    pub external: Vec<ExternalProbe>,
    /// The duration of every CNI ADD, in pod order.
    pub add_times: Vec<Duration>,
    /// The duration of every CNI DEL, in pod order.
    pub del_times: Vec<Duration>,
    /// Anything left behind after DEL (leased addresses, cached results, ports on a bridge).
    pub leftovers: Vec<String>,
}

impl DemoReport {
    /// Every way the run fell short of the model; empty when all held.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for p in &self.probes {
            if !p.is_good() {
                failures.push(match (&p.outcome.seen_source, &p.outcome.error) {
                    (Some(seen), _) => format!(
                        "{} -> {}: the server saw {seen}, not {} (NAT)",
                        p.from.name, p.to.name, p.from.ip
                    ),
                    (None, e) => format!(
                        "{} -> {}: no connection ({})",
                        p.from.name,
                        p.to.name,
                        e.as_deref().unwrap_or("unknown error")
                    ),
                });
            }
        }
        for p in &self.external {
            if !p.is_good() {
                failures.push(format!(
                    "{} -> outside: expected the server to see the node address {}, got {}",
                    p.from.name,
                    p.node_ip,
                    p.outcome
                        .seen_source
                        .map(|s| s.to_string())
                        .or_else(|| p.outcome.error.clone())
                        .unwrap_or_default()
                ));
            }
        }
        failures.extend(self.leftovers.iter().map(|l| format!("left behind: {l}")));
        failures
    }

    /// True when every probe succeeded as the model says and nothing was left behind.
    pub fn all_good(&self) -> bool {
        self.failures().is_empty()
    }
}

/// Minimum, median and maximum of some durations (zero for none).
pub fn spread(times: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |i: usize| sorted.get(i).copied().unwrap_or_default();
    (
        at(0),
        at(sorted.len() / 2),
        at(sorted.len().saturating_sub(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, ip: [u8; 4]) -> PodSummary {
        PodSummary {
            name: name.into(),
            node: node.into(),
            ip: IpAddr::from(ip),
        }
    }

    fn seen(ip: Option<[u8; 4]>) -> ProbeOutcome {
        ProbeOutcome {
            seen_source: ip.map(IpAddr::from),
            error: ip.is_none().then(|| "connection timed out".to_owned()),
            took: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_good_run_has_no_failures() {
        let (a, b) = (
            pod("a", "node1", [10, 244, 1, 2]),
            pod("b", "node2", [10, 244, 2, 2]),
        );
        let report = DemoReport {
            pods: vec![a.clone(), b.clone()],
            probes: vec![PodProbe {
                from: a.clone(),
                to: b,
                outcome: seen(Some([10, 244, 1, 2])),
            }],
            external: vec![ExternalProbe {
                from: a,
                node_ip: IpAddr::from([192, 168, 1, 11]),
                outcome: seen(Some([192, 168, 1, 11])),
            }],
            ..DemoReport::default()
        };
        assert!(report.all_good(), "{:?}", report.failures());
    }

    #[test]
    fn nat_a_lost_connection_and_leftovers_are_each_reported() {
        let (a, b) = (
            pod("a", "node1", [10, 244, 1, 2]),
            pod("b", "node2", [10, 244, 2, 2]),
        );
        let report = DemoReport {
            probes: vec![
                PodProbe {
                    from: a.clone(),
                    to: b.clone(),
                    outcome: seen(Some([192, 168, 1, 11])),
                },
                PodProbe {
                    from: b,
                    to: a.clone(),
                    outcome: seen(None),
                },
            ],
            external: vec![ExternalProbe {
                from: a,
                node_ip: IpAddr::from([192, 168, 1, 11]),
                outcome: seen(Some([10, 244, 1, 2])),
            }],
            leftovers: vec!["node1: host-local still leases 10.244.1.2".into()],
            ..DemoReport::default()
        };
        let failures = report.failures();
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(failures[0].contains("saw 192.168.1.11, not 10.244.1.2 (NAT)"));
        assert!(failures[1].contains("no connection (connection timed out)"));
        assert!(failures[2].contains("expected the server to see the node address 192.168.1.11"));
        assert!(failures[3].starts_with("left behind: node1"));
        assert!(!report.all_good());
    }

    #[test]
    fn spread_is_min_median_max() {
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(spread(&[ms(30), ms(10), ms(20)]), (ms(10), ms(20), ms(30)));
        assert_eq!(spread(&[]), (ms(0), ms(0), ms(0)));
    }
}
