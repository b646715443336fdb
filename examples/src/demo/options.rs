//! The demo's command line.

use std::time::Duration;

use crate::error::{Error, Result};

/// What the demo builds and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Number of nodes (1 to 89; default 3, as in the seed).
    pub nodes: usize,
    /// Pods per node (1 to 250; default 2).
    pub pods_per_node: usize,
    /// Keep the topology after the probes until Enter or Ctrl-C, for inspection.
    pub keep: bool,
    /// Turn `ipMasq` on (with the cluster CIDR on the never-masquerade list) and probe a server
    /// outside the cluster too.
    pub ip_masq: bool,
    /// How long a probe waits for a connection and for its answer.
    pub probe_timeout: Duration,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            nodes: 3,
            pods_per_node: 2,
            keep: false,
            ip_masq: false,
            probe_timeout: Duration::from_secs(1),
        }
    }
}

/// The `--help` text.
pub const USAGE: &str = "\
pod-network: the seed's pod network (bridge + host-gw) built in private namespaces

usage: cargo run --release --example pod-network -- [options]

  --nodes N           nodes on the LAN (default 3: 192.168.1.11-13, pods 10.244.N.0/24)
  --pods-per-node N   pods attached on every node through CNI ADD (default 2)
  --ip-masq           ipMasq on, cluster CIDR 10.244.0.0/16 never masqueraded; also probe a
                      server outside the cluster (192.168.1.100), which sees the node's address
  --keep              keep everything after the probes for inspection, until Enter or Ctrl-C
  --probe-timeout-ms  connect/answer timeout of one probe (default 1000)
  -h, --help          this text

It runs in a user + network namespace of its own (as root too), so it never touches the
machine's network and sends nothing outside the namespaces it made.";

impl DemoOptions {
    /// Parses the arguments after the program name. `Ok(None)` means help was asked for.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Option<DemoOptions>> {
        let mut opts = DemoOptions::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<usize> {
                let v = inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Usage(format!("{name} needs a number")))?;
                v.parse()
                    .map_err(|_| Error::Usage(format!("{name}: {v:?} is not a number")))
            };
            match flag.as_str() {
                "--nodes" => opts.nodes = value("--nodes")?,
                "--pods-per-node" => opts.pods_per_node = value("--pods-per-node")?,
                "--probe-timeout-ms" => {
                    opts.probe_timeout = Duration::from_millis(value("--probe-timeout-ms")? as u64)
                }
                "--keep" => opts.keep = true,
                "--ip-masq" => opts.ip_masq = true,
                "-h" | "--help" => return Ok(None),
                other => {
                    return Err(Error::Usage(format!(
                        "unknown argument {other:?} (see --help)"
                    )));
                }
            }
        }
        if !(1..=89).contains(&opts.nodes) {
            return Err(Error::Usage(format!(
                "--nodes must be 1 to 89, not {}",
                opts.nodes
            )));
        }
        if !(1..=250).contains(&opts.pods_per_node) {
            return Err(Error::Usage(format!(
                "--pods-per-node must be 1 to 250, not {}",
                opts.pods_per_node
            )));
        }
        Ok(Some(opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<DemoOptions>> {
        DemoOptions::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_and_values() {
        let opts = parse(&["--nodes", "4", "--pods-per-node=3", "--ip-masq", "--keep"]);
        let want = DemoOptions {
            nodes: 4,
            pods_per_node: 3,
            keep: true,
            ip_masq: true,
            ..DemoOptions::default()
        };
        assert_eq!(opts.ok().flatten(), Some(want));
        assert_eq!(parse(&[]).ok().flatten(), Some(DemoOptions::default()));
        assert!(matches!(parse(&["--help"]), Ok(None)));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (args, want) in [
            (&["--nodes"][..], "needs a number"),
            (&["--nodes", "x"][..], "not a number"),
            (&["--nodes", "0"][..], "1 to 89"),
            (&["--pods-per-node", "251"][..], "1 to 250"),
            (&["--bogus"][..], "unknown argument"),
        ] {
            let msg = parse(args).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(want), "{args:?}: {msg:?}");
        }
    }
}
