//! One variant's world for one scenario: a fresh node namespace, its pod namespaces, the
//! network config, and the operation (ADD, CHECK or DEL of one pod) that the runs time.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use cni_netlink::NetNs;
use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::exec::{CallEnv, CallOptions, Launcher};
use super::floor::FloorWorker;
use super::stats::Sample;
use crate::error::{Error, Result};
use crate::sandbox::new_netns;

/// The network name in every config.
pub(crate) const NETWORK: &str = "benchnet";
/// The bridge on every node.
pub(crate) const BRIDGE: &str = "cni0";
/// The pod interface.
pub(crate) const IFNAME: &str = "eth0";
/// The pod subnet's network address (a /16, so up to 65k pods).
pub(crate) const SUBNET_BASE: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 0);
/// The pod subnet's prefix length.
pub(crate) const SUBNET_PREFIX: u8 = 16;

/// Which masquerade backend a plugin is told to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MasqBackend {
    /// nftables (ours: over netlink, in-process).
    Nftables,
    /// iptables (processes; the Go v1.1.1 bridge's only backend).
    Iptables,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Our `bridge` plugin process, with this masquerade backend when `ipMasq` is on.
    Ours(MasqBackend),
    /// The Go reference `bridge` (which execs `host-local`; iptables when `ipMasq` is on).
    Go,
    /// The same kernel work in-process through cni-netlink (nftables masquerade when on).
    Floor,
}

impl Variant {
    /// A short label; `masq` says whether the backend matters.
    pub fn label(self, masq: bool) -> &'static str {
        match (self, masq) {
            (Variant::Ours(_), false) => "ours",
            (Variant::Ours(MasqBackend::Nftables), true) => "ours nft",
            (Variant::Ours(MasqBackend::Iptables), true) => "ours ipt",
            (Variant::Go, false) => "go",
            (Variant::Go, true) => "go ipt",
            (Variant::Floor, false) => "floor",
            (Variant::Floor, true) => "floor nft",
        }
    }

    /// Whether it is a plugin process (with memory and CPU figures).
    pub fn is_plugin(self) -> bool {
        !matches!(self, Variant::Floor)
    }
}

/// A CNI verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `ADD`.
    Add,
    /// `CHECK` (with the ADD's result as `prevResult`).
    Check,
    /// `DEL` (with the ADD's result as `prevResult`, as a runtime's cache provides it).
    Del,
    /// `VERSION`: no kernel work at all, so its time is what starting and ending the plugin
    /// process costs (plugins only).
    Version,
}

impl Verb {
    /// Every verb measured, in the order they run.
    pub const ALL: [Verb; 4] = [Verb::Add, Verb::Check, Verb::Del, Verb::Version];
    /// The verbs of a pod's life (the targets' verbs).
    pub const LIFE: [Verb; 3] = [Verb::Add, Verb::Check, Verb::Del];

    /// `CNI_COMMAND`.
    pub fn command(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Check => "CHECK",
            Verb::Del => "DEL",
            Verb::Version => "VERSION",
        }
    }
}

/// Where the plugins are.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// Our `bridge`.
    pub(crate) ours: PathBuf,
    /// The Go reference directory (its `bridge`; also the `CNI_PATH` of every plugin).
    pub(crate) go_dir: PathBuf,
    /// The exec helper (this executable under the name [`super::exec::EXEC_HELPER`]).
    pub(crate) helper: PathBuf,
}

impl Binaries {
    /// Drops the plugin executables' pages from the page cache (`fsync`, then
    /// `posix_fadvise(POSIX_FADV_DONTNEED)`; pages a running process maps stay), so that every
    /// plugin starts a scenario from the same state: its first calls read it back, and later
    /// calls map what is cached.
    ///
    /// Peak RSS counts the executable's pages a call maps, and a page fault maps the cached
    /// pages around the faulting one (fault-around, 64 KiB). How much of a file is cached
    /// depends on its history: a freshly written binary is cached whole (our ADD measured
    /// 1256 KiB, CHECK 1192), one that sat unused is cached only where it was read, less
    /// still on a machine that pages out file pages nobody touched for a minute (DAMON
    /// reclaim, as the test machine does: the same bytes measured 1128 and 1000 KiB). The Go
    /// binaries, installed long before, would otherwise start from that lean state and a
    /// just-built plugin from the full one. Best effort: a file that cannot be dropped is
    /// left as it is.
    pub(crate) fn drop_cached(&self) {
        let go = ["bridge", "host-local"].map(|name| self.go_dir.join(name));
        for path in std::iter::once(&self.ours).chain(go.iter()) {
            let Ok(file) = std::fs::File::open(path) else {
                continue;
            };
            // Dirty pages (a binary just written) are not dropped: written back first.
            let _ = file.sync_all();
            // SAFETY: a valid open descriptor for the duration of the call; advice only.
            unsafe {
                libc::posix_fadvise(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    0,
                    0,
                    libc::POSIX_FADV_DONTNEED,
                );
            }
        }
    }
}

/// A variant's node with its pods.
pub(crate) struct World {
    pub(crate) variant: Variant,
    pub(crate) masq: bool,
    pub(crate) ns: NetNs,
    pub(crate) pods: Vec<NetNs>,
    /// The plugin executable and the exec helper serving its calls on this node (`None` for
    /// the floor).
    plugin: Option<(PathBuf, Launcher)>,
    cni_path: PathBuf,
    conf: Value,
    /// How plugin calls are observed (the memory pass traces them).
    call_opts: CallOptions,
}

/// The outcome of one operation.
pub(crate) struct OpOut {
    /// What it measured.
    pub(crate) sample: Sample,
    /// For a plugin ADD, the result it printed.
    pub(crate) result: Option<Value>,
    /// Why a plugin's CHECK, DEL or VERSION failed (a failed ADD is an error instead: nothing
    /// after it could run).
    pub(crate) failure: Option<String>,
}

/// `n` fresh pod namespaces.
pub(crate) fn new_pods(n: usize) -> Result<Vec<NetNs>> {
    (0..n).map(|_| new_netns()).collect()
}

/// The container id of pod `i`.
pub(crate) fn container_id(i: usize) -> String {
    format!("bench-{i:05}")
}

/// The floor's address of pod `i` (the plugins get theirs from host-local, in the same order).
pub(crate) fn pod_address(i: usize) -> Result<IpNetwork> {
    let host = u32::try_from(i)
        .ok()
        .and_then(|i| i.checked_add(2))
        .filter(|&h| h < (1u32 << (32 - SUBNET_PREFIX)) - 1)
        .ok_or_else(|| Error::Usage(format!("pod {i} does not fit in {}", subnet())))?;
    let ip = Ipv4Addr::from(u32::from(SUBNET_BASE) + host);
    IpNetwork::new(IpAddr::V4(ip), SUBNET_PREFIX)
        .map_err(|e| Error::Usage(format!("pod address {ip}: {e}")))
}

/// The gateway, on the bridge.
pub(crate) fn gateway() -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(SUBNET_BASE) + 1))
}

/// The pod subnet as config text.
pub(crate) fn subnet() -> String {
    format!("{SUBNET_BASE}/{SUBNET_PREFIX}")
}

/// The network config a variant's plugin gets: Kubernetes-style (`isDefaultGateway`),
/// host-local IPAM in `data_dir`.
pub(crate) fn config(variant: Variant, masq: bool, data_dir: &Path) -> Value {
    let mut conf = json!({
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "type": "bridge",
        "bridge": BRIDGE,
        "isDefaultGateway": true,
        "ipMasq": masq,
        "ipam": {"type": "host-local", "subnet": subnet(), "dataDir": data_dir},
    });
    if let (Variant::Ours(backend), Some(map)) = (variant, conf.as_object_mut()) {
        let name = match backend {
            MasqBackend::Nftables => "nftables",
            MasqBackend::Iptables => "iptables",
        };
        map.insert("ipMasqBackend".into(), Value::from(name));
    }
    conf
}

impl World {
    /// A fresh node namespace for the pod namespaces `pods` (which must hold no `eth0`);
    /// `state` is a directory of this world's own (host-local's data directory goes in it).
    pub(crate) fn new(
        variant: Variant,
        masq: bool,
        pods: Vec<NetNs>,
        bins: &Binaries,
        state: &Path,
    ) -> Result<World> {
        std::fs::create_dir_all(state)
            .map_err(Error::io(format!("creating {}", state.display())))?;
        let ns = new_netns()?;
        let executable = match variant {
            Variant::Ours(_) => Some(bins.ours.clone()),
            Variant::Go => Some(bins.go_dir.join("bridge")),
            Variant::Floor => None,
        };
        let plugin = match executable {
            // Started from a thread in the node's namespace, which the helper and the plugins
            // inherit.
            Some(path) => Some((
                path,
                ns.run_blocking(|| Launcher::start(&bins.helper))
                    .map_err(Error::netlink("entering the node namespace"))??,
            )),
            None => None,
        };
        let world = World {
            variant,
            masq,
            ns,
            pods,
            plugin,
            cni_path: bins.go_dir.clone(),
            conf: config(variant, masq, &state.join("ipam")),
            call_opts: CallOptions::default(),
        };
        if variant == Variant::Floor {
            super::floor::prepare_node(&world.ns)?;
        }
        Ok(world)
    }

    /// Makes every plugin call of this world report the plugin's anonymous memory at exit
    /// (traced: its times are then not comparable with untraced calls).
    pub(crate) fn trace_memory(&mut self) {
        self.call_opts.anon_at_exit = true;
    }

    /// Whether this world measures `verb` (the floor has no process, so no VERSION).
    pub(crate) fn runs(&self, verb: Verb) -> bool {
        self.variant.is_plugin() || verb != Verb::Version
    }

    /// The per-thread state an operation needs; call it on a thread inside the node namespace.
    pub(crate) fn worker(&self) -> Result<Worker> {
        Ok(match self.variant {
            Variant::Floor => Worker::Floor(Box::new(FloorWorker::new(&self.ns, self.masq)?)),
            _ => Worker::Plugin,
        })
    }

    /// Times `verb` of pod `i`; `prev` is the pod's ADD result (for CHECK and DEL).
    pub(crate) fn op(
        &self,
        worker: &mut Worker,
        verb: Verb,
        i: usize,
        prev: Option<&Value>,
    ) -> Result<OpOut> {
        let pod = self
            .pods
            .get(i)
            .ok_or_else(|| Error::Verification(format!("no pod {i}")))?;
        let id = container_id(i);
        match (worker, &self.plugin) {
            (Worker::Floor(floor), _) => {
                let latency = floor.op(verb, pod, &id, pod_address(i)?)?;
                let sample = Sample {
                    latency,
                    max_rss_kib: None,
                    anon_kib: None,
                    cpu: None,
                    failed: false,
                };
                Ok(OpOut {
                    sample,
                    result: None,
                    failure: None,
                })
            }
            (Worker::Plugin, Some((plugin, launcher))) => {
                let stdin = self.stdin(verb, prev)?;
                let env = CallEnv {
                    command: verb.command(),
                    container_id: &id,
                    netns: pod.path(),
                    ifname: IFNAME,
                    cni_path: &self.cni_path,
                };
                let done = launcher.call(plugin, &[], &env, &stdin, self.call_opts)?;
                if let (Verb::Add, Some(failure)) = (verb, &done.failure) {
                    return Err(Error::Verification(failure.clone()));
                }
                let result = match verb {
                    Verb::Add => Some(serde_json::from_slice(&done.stdout).map_err(|e| {
                        Error::Verification(format!(
                            "{} ADD of {id} printed no JSON result: {e}",
                            self.variant.label(self.masq)
                        ))
                    })?),
                    _ => None,
                };
                let sample = Sample {
                    latency: done.elapsed,
                    max_rss_kib: Some(done.max_rss_kib),
                    anon_kib: done.anon_kib,
                    cpu: Some(done.cpu),
                    failed: done.failure.is_some(),
                };
                Ok(OpOut {
                    sample,
                    result,
                    failure: done.failure,
                })
            }
            (Worker::Plugin, None) => Err(Error::Verification(
                "a plugin worker for a world without a plugin".into(),
            )),
        }
    }

    /// The bytes on the plugin's stdin: the config, with `prevResult` for CHECK and DEL.
    pub(crate) fn stdin(&self, verb: Verb, prev: Option<&Value>) -> Result<Vec<u8>> {
        let mut conf = self.conf.clone();
        if matches!(verb, Verb::Check | Verb::Del)
            && let (Some(prev), Some(map)) = (prev, conf.as_object_mut())
        {
            map.insert("prevResult".into(), prev.clone());
        }
        serde_json::to_vec(&conf).map_err(|e| Error::Verification(format!("config: {e}")))
    }

    /// The plugin executable and the exec helper of its calls (`None` for the floor).
    pub(crate) fn plugin(&self) -> Option<(&Path, &Launcher)> {
        self.plugin
            .as_ref()
            .map(|(path, launcher)| (path.as_path(), launcher))
    }

    /// `CNI_PATH`.
    pub(crate) fn cni_path(&self) -> &Path {
        &self.cni_path
    }
}

/// Per-thread state of the operations.
pub(crate) enum Worker {
    /// Plugin calls need nothing but the thread's namespace.
    Plugin,
    /// The floor's runtime and netlink sockets.
    Floor(Box<FloorWorker>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_compare_like_with_like() {
        let dir = Path::new("/tmp/x");
        let go = config(Variant::Go, true, dir);
        assert_eq!(go["ipMasq"], true);
        assert!(
            go.get("ipMasqBackend").is_none(),
            "Go v1.1.1 has no backend key"
        );
        let ipt = config(Variant::Ours(MasqBackend::Iptables), true, dir);
        assert_eq!(ipt["ipMasqBackend"], "iptables");
        let nft = config(Variant::Ours(MasqBackend::Nftables), false, dir);
        assert_eq!(nft["ipMasq"], false);
        assert_eq!(nft["ipam"]["subnet"], "10.200.0.0/16");
        assert_eq!(nft["ipam"]["dataDir"], "/tmp/x");
    }

    #[test]
    fn floor_addresses_follow_host_local_order() -> Result<()> {
        assert_eq!(pod_address(0)?.to_string(), "10.200.0.2/16");
        assert_eq!(pod_address(254)?.to_string(), "10.200.1.0/16");
        assert!(pod_address(70_000).is_err());
        assert_eq!(gateway().to_string(), "10.200.0.1");
        assert_eq!(container_id(7), "bench-00007");
        Ok(())
    }

    #[test]
    fn labels() {
        assert_eq!(Variant::Ours(MasqBackend::Iptables).label(false), "ours");
        assert_eq!(Variant::Ours(MasqBackend::Iptables).label(true), "ours ipt");
        assert_eq!(Variant::Go.label(true), "go ipt");
        assert!(!Variant::Floor.is_plugin());
        assert_eq!(Verb::Del.command(), "DEL");
        assert_eq!(Verb::Version.command(), "VERSION");
        assert!(!Verb::LIFE.contains(&Verb::Version));
    }
}
