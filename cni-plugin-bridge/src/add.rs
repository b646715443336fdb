//! ADD, in the reference's order: bridge, veth, (spoof check), IPAM, pod addresses and routes,
//! gateway on the bridge, masquerade, port wait, MAC refresh, DNS; except that the pod thread
//! opens the node's sysctl directories and the pod's netlink socket and makes host-local's checks
//! and reservation while this thread has the kernel make the veth pair (none of them needs it),
//! and that an existing bridge is adopted (brought up, promiscuous when asked) right after its
//! port is made rather than before. Anything that fails part-way undoes what this call made and
//! releases the address.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use cni_netlink::masquerade::Attachment;
use cni_netlink::sysctl::NetSysctls;
use cni_netlink::{Link, LinkKind, NetNs, Netlink, NsThread, VethPair};
use cni_skel::AddRequest;
use cni_types::{CniError, CniResult, Result100, Version};
use ipnetwork::IpNetwork;
use tokio::sync::OnceCell;

use crate::config::{BridgeConf, Settings};
use crate::error::BridgeError;
use crate::ipam::{self, EarlyAdd, Ipam};
use crate::masq::Masq;
use crate::plugin::load_settings;
use crate::pod::PendingSysctls;
use crate::result::{
    BRIDGE_INDEX, HOST_VETH_INDEX, apply_conf_dns, calc_gateways, container_interface,
    host_interface,
};
use crate::spoofcheck::SpoofCheck;
use crate::{host, pod};

/// How long the host veth may take to become a forwarding bridge port (the reference waits up
/// to about 2.5 s, with fixed sleeps; we wait for the kernel's notification).
const PORT_TIMEOUT: Duration = Duration::from_secs(3);

/// What this call has made so far, to undo on failure.
#[derive(Default)]
struct Made {
    /// The veth pair, by its host end's index (deleting either end deletes both).
    veth: Option<u32>,
    spoof: bool,
    ipam: bool,
    masq: bool,
}

/// The future of a value another thread makes.
type Making<T> = Pin<Box<dyn Future<Output = Result<T, BridgeError>> + Send>>;

/// A value the pod thread is still making: awaited where it is first needed, then kept, and so
/// is a failure (every later wait answers with the same error).
struct Awaited<T> {
    made: OnceCell<Result<T, CniError>>,
    pending: Mutex<Option<Making<T>>>,
    /// What it is, for the error when an earlier wait for it was abandoned.
    what: &'static str,
}

impl<T> Awaited<T> {
    fn new(
        what: &'static str,
        pending: impl Future<Output = Result<T, BridgeError>> + Send + 'static,
    ) -> Awaited<T> {
        Awaited {
            made: OnceCell::new(),
            pending: Mutex::new(Some(Box::pin(pending))),
            what,
        }
    }

    /// The value, waiting for it the first time.
    async fn get(&self) -> Result<&T, BridgeError> {
        let made = self
            .made
            .get_or_init(|| async {
                match self.pending.lock().ok().and_then(|mut p| p.take()) {
                    Some(pending) => pending.await.map_err(CniError::from),
                    None => Err(BridgeError::other(format!("{} was abandoned", self.what)).into()),
                }
            })
            .await;
        made.as_ref().map_err(|e| BridgeError::Cni(e.clone()))
    }

    /// The value, if it has been waited for and was made.
    fn ready(&self) -> Option<&T> {
        self.made.get().and_then(|made| made.as_ref().ok())
    }
}

/// The opened things one ADD works with.
struct Ctx<'a> {
    req: &'a AddRequest<BridgeConf>,
    s: Settings,
    /// The IPAM when it is not host-local (static, delegated), checked on this thread.
    ipam: Option<Ipam>,
    /// host-local's ADD, checked and run on the pod thread.
    early: Option<Awaited<Box<EarlyAdd>>>,
    masq: Option<Masq>,
    host: Netlink,
    /// The node's `net.ipv4`/`net.ipv6` sysctls, opened by the pod thread before it entered
    /// the pod's namespace.
    host_sysctls: Awaited<NetSysctls>,
    /// A thread in the pod namespace for this call: it opens the node's sysctl directories
    /// before it enters it, makes the pod's netlink socket, reserves host-local's address and
    /// later writes the pod interface's sysctls (one thread start for all of it).
    pod_thread: NsThread,
    /// The pod's netlink handle (its socket), made on the pod thread.
    pod: Awaited<Netlink>,
}

impl Ctx<'_> {
    fn attachment(&self) -> Attachment {
        Attachment::new(&self.req.container_id, &self.req.ifname)
    }

    /// `CNI_IFNAME` in the pod, if it is there.
    async fn pod_interface(&self) -> Result<Option<Link>, BridgeError> {
        self.pod
            .get()
            .await?
            .link_by_name(&self.req.ifname)
            .await
            .map_err(|e| BridgeError::kernel("failed to look up the container interface", e))
    }
}

fn in_pod(e: cni_netlink::Error) -> BridgeError {
    BridgeError::kernel("failed to open netlink in the pod", e)
}

/// Runs ADD and returns the result in the config's version.
pub(crate) async fn add(req: &AddRequest<BridgeConf>) -> Result<CniResult, BridgeError> {
    let s = load_settings(&req.config, Some(&req.args))?;
    s.check_for_add()?;
    // Everything that can be checked without changing anything is checked first, so a bad
    // call leaves nothing behind (not even a new bridge). Errors are reported in the order of
    // the checks: the IPAM configuration, the netns, the names masquerading and the spoof check
    // record, then netlink. host-local's checks (its configuration, its state directory) run on
    // the pod thread with its reservation, while this thread has the links made: a failure
    // there undoes the veth pair, and a node's first ADD waits for them before it makes the
    // bridge. When a check of this thread fails, host-local's are made here first, so that
    // its error still comes first.
    let host_local = s.ipam_type.as_deref() == Some("host-local");
    let ipam_first = |e: BridgeError| match host_local {
        true => Ipam::for_add("host-local", req).err().unwrap_or(e),
        false => e,
    };
    let pod_ns = NetNs::open(&req.netns).map_err(|e| {
        BridgeError::kernel_with_code(4, format!("failed to open netns {:?}", req.netns), e)
    });
    let ipam = match &s.ipam_type {
        Some(t) if !host_local => Some(Ipam::for_add(t, req)?),
        _ => None,
    };
    let pod_ns = pod_ns.map_err(ipam_first)?;
    let masq = match (s.ip_masq && s.is_layer3()).then_some(s.masq_backend) {
        Some(backend) => Some(Masq::open(backend).map_err(ipam_first)?),
        None => None,
    };
    // nftables records the attachment in an element comment of bounded length: an id too long
    // for it is refused here, before anything is made, rather than after the veth and the IPAM.
    if let Some(Masq::Nft(_)) = &masq
        && let Err(e) = Attachment::new(&req.container_id, &req.ifname).check_recordable()
    {
        return Err(ipam_first(BridgeError::env(format!(
            "container id cannot be used for IP masquerading: {e}"
        ))));
    }
    // Likewise an id that cannot name the spoof-check chains.
    if s.mac_spoof_check {
        SpoofCheck::new(&req.container_id, &req.ifname)
            .check()
            .map_err(ipam_first)?;
    }
    // The pod thread starts in this thread's namespace: there it first opens the node's sysctl
    // directories (needed once the veth exists), then it enters the pod's and makes its netlink
    // socket, while this thread opens its own netlink socket in the node's.
    let (pod_thread, host_sysctls) = pod_ns
        .spawn_thread_after(NetSysctls::open_current)
        .map_err(in_pod)?;
    let pod_connect = pod_thread.start_connect().map_err(in_pod)?;
    let host = Netlink::connect_current()
        .await
        .map_err(|e| BridgeError::kernel("failed to open netlink", e))?;
    // host-local needs neither the bridge nor the veth, only its files: after its socket, the
    // pod thread checks it and reserves the address while this thread has the kernel make the
    // links. Handed over only now, when nothing can fail any more before `build` (which waits
    // for it on every path and releases it after a failure); the pod thread is still making its
    // socket, so this costs it nothing.
    let early = host_local.then(|| {
        Awaited::new(
            "host-local's ADD",
            ipam::start_host_local_add(req, &pod_thread),
        )
    });
    let ctx = Ctx {
        req,
        s,
        ipam,
        early,
        masq,
        host,
        host_sysctls: Awaited::new("opening the node's sysctls", async {
            let failed = |e| BridgeError::kernel("failed to open the node's sysctls", e);
            host_sysctls.await.map_err(failed)?.map_err(failed)
        }),
        pod_thread,
        pod: Awaited::new("the pod's netlink socket", async {
            pod_connect.await.map_err(in_pod)
        }),
    };
    tracing::debug!("ADD: checks done");
    // Then, still before the veth exists, the pod thread opens the pod's sysctl directories, so
    // that the pod interface's sysctls take one short open each once it does.
    if ctx.s.ipam_type.is_some() {
        let _ = ctx.pod_thread.prepare_sysctls();
    }
    let mut made = Made::default();
    let r = match build(&ctx, &mut made).await {
        Ok(result) => Ok(result),
        Err(e) => {
            undo(&ctx, &made).await;
            Err(e)
        }
    };
    // The thread is done; ending it now would unmap its stack while this call still makes and
    // prints the answer.
    cni_skel::keep_until_exit(ctx.pod_thread);
    r
}

/// What [`links`] made, and the sysctl writes it started on the pod thread.
struct Links {
    bridge: Link,
    pair: VethPair,
    /// The pod interface's first sysctls (layer 3 only).
    pod_sysctls: Option<PendingSysctls>,
    /// `accept_ra=0` on the host veth.
    host_accept_ra: PendingSysctls,
}

/// The bridge as [`links`] has it when it makes the veth pair.
enum BridgeState {
    /// Read, and ready to attach a port to; adopted once the pair is made.
    Found(Link),
    /// Made or set up already.
    Ensured(Link),
}

/// The bridge, the veth pair and its port settings. As soon as the veth exists, the pod thread
/// starts the pod interface's first sysctls (layer 3) and then the host veth's `accept_ra`.
///
/// When the bridge is there already (every ADD but a node's first), the pair is made at once,
/// attached to it, without waiting for the pod's netlink socket: the kernel refuses a name the
/// pod already has, before it makes anything. Otherwise the pod is looked at first, so that a
/// name it already has fails the call before the bridge is made.
async fn links(ctx: &Ctx<'_>, made: &mut Made) -> Result<Links, BridgeError> {
    let (req, s) = (ctx.req, &ctx.s);
    let existing = ctx
        .host
        .link_by_name(&s.bridge)
        .await
        .map_err(|e| host::bridge_error(s, e))?;
    let attachable = existing.as_ref().is_some_and(|b| {
        b.kind == LinkKind::Bridge && (!s.vlan_filtering || b.vlan_filtering == Some(true))
    });
    // Not attachable yet (none, or one to set up first): the pod is looked at before the
    // bridge is made or set up, then the pair is made the same way.
    let ready = match existing {
        Some(found) if attachable => BridgeState::Found(found),
        existing => {
            if let Some(early) = &ctx.early {
                early.get().await?;
            }
            if ctx.pod_interface().await?.is_some() {
                return Err(pod::ifname_taken(req));
            }
            BridgeState::Ensured(host::ensure_bridge(&ctx.host, s, existing).await?)
        }
    };
    let bridge_index = match &ready {
        BridgeState::Found(link) | BridgeState::Ensured(link) => link.index,
    };
    let spec = pod::veth_spec(s, &req.ifname, bridge_index);
    let host_end = match ctx
        .host
        .create_veth_pair_into(ctx.pod_thread.netns(), &spec)
        .await
    {
        Ok(host_end) => host_end,
        // EEXIST: the pod's name (or, after ten random tries, the host's).
        Err(e) if e.is_already_exists() => {
            return Err(match ctx.pod_interface().await {
                Ok(Some(_)) => pod::ifname_taken(req),
                _ => pod::veth_error(&req.ifname, e),
            });
        }
        Err(e) => return Err(pod::veth_error(&req.ifname, e)),
    };
    made.veth = Some(host_end.index);
    // A bridge found attachable is adopted now (brought up, promiscuous when asked), as
    // `ensureBridge` does before the veth; nothing it does depends on the order.
    let bridge = match ready {
        BridgeState::Found(found) => host::ensure_bridge(&ctx.host, s, Some(found)).await?,
        BridgeState::Ensured(ensured) => ensured,
    };
    let container = ctx.pod_interface().await?.ok_or_else(|| {
        BridgeError::other(format!("the container interface {:?} vanished", req.ifname))
    })?;
    let pair = VethPair {
        host: host_end,
        container,
    };
    tracing::debug!(bridge = %bridge.name, host_veth = %pair.host.name, "ADD: veth pair created");
    host::bridge_accept_ra(ctx.host_sysctls.get().await?, &bridge);
    let pod_sysctls = s
        .ipam_type
        .is_some()
        .then(|| pod::start_base_sysctls(&ctx.pod_thread, s, &pair.container.name));
    let host_accept_ra = pod::start_host_accept_ra(
        &ctx.pod_thread,
        ctx.host_sysctls.get().await?,
        &pair.host.name,
    );
    pod::configure_port(&ctx.host, s, &pair.host).await?;
    Ok(Links {
        bridge,
        pair,
        pod_sysctls,
        host_accept_ra,
    })
}

async fn build(ctx: &Ctx<'_>, made: &mut Made) -> Result<CniResult, BridgeError> {
    let (req, s) = (ctx.req, &ctx.s);
    let links = links(ctx, made).await;
    // host-local's ADD is settled whatever happened to the links, so that a failure releases
    // what it reserved. A failed check of it is reported first (it comes first in the order of
    // the checks); a link error before a failed reservation, as in the reference's order.
    let early = match &ctx.early {
        Some(early) => match early.get().await {
            Ok(done) => {
                made.ipam = done.reserved();
                Some(done)
            }
            Err(check) => return Err(check),
        },
        None => None,
    };
    let Links {
        bridge,
        pair,
        pod_sysctls: sysctls,
        host_accept_ra,
    } = links?;

    let mac = |l: &Link| l.mac.map(|m| m.to_string());
    let mut result = Result100::new(Version::CURRENT);
    result.interfaces = vec![
        host_interface(&bridge.name, mac(&bridge)),
        host_interface(&pair.host.name, mac(&pair.host)),
        container_interface(
            &req.ifname,
            mac(&pair.container),
            &req.netns.to_string_lossy(),
        ),
    ];

    if s.mac_spoof_check {
        let container_mac = pair
            .container
            .mac
            .ok_or_else(|| BridgeError::other("the container interface has no MAC address"))?;
        made.spoof = true;
        SpoofCheck::new(&req.container_id, &req.ifname).setup(&pair.host.name, container_mac)?;
    }

    let ipam_result = match (early, &ctx.ipam) {
        (Some(done), _) => Some(done.take()?),
        (None, Some(ipam)) => {
            let done = ipam.add().await?;
            made.ipam = true;
            Some(done)
        }
        (None, None) => None,
    };
    if let Some(ipam_result) = ipam_result {
        tracing::debug!("ADD: IPAM done");
        result.ips = ipam_result.ips;
        result.routes = ipam_result.routes;
        result.dns = ipam_result.dns;
        if result.ips.is_empty() {
            return Err(BridgeError::other("IPAM plugin returned missing IP config"));
        }
        let gateways = calc_gateways(&mut result, s.is_gateway, s.is_default_gateway)?;
        let sysctls =
            sysctls.unwrap_or_else(|| pod::start_base_sysctls(&ctx.pod_thread, s, &req.ifname));
        pod::configure_l3(
            ctx.pod.get().await?,
            &ctx.pod_thread,
            sysctls,
            &pair.container,
            s,
            &result,
        )
        .await?;
        tracing::debug!("ADD: pod interface configured");
        if s.is_gateway {
            host::ensure_gateways(
                &ctx.host,
                ctx.host_sysctls.get().await?,
                &bridge,
                &gateways,
                s,
            )
            .await?;
            tracing::debug!("ADD: gateway on the bridge");
        }
        if let Some(masq) = &ctx.masq {
            let addrs: Vec<IpNetwork> = result.ips.iter().map(|ip| ip.address).collect();
            made.masq = true;
            masq.add(
                &req.config.name,
                &ctx.attachment(),
                &addrs,
                &s.non_masquerade_cidrs,
            )?;
            tracing::debug!("ADD: masquerade entry added");
        }
    } else if !s.disable_container_interface {
        ctx.pod
            .get()
            .await?
            .set_link_up(pair.container.index)
            .await
            .map_err(|e| BridgeError::kernel(format!("failed to set {:?} up", req.ifname), e))?;
    }

    // The port must be up before the pod's first packets (its gratuitous ARP) go out.
    let host_veth = if s.disable_container_interface {
        ctx.host
            .link_by_index(pair.host.index)
            .await
            .map_err(|e| BridgeError::kernel("failed to look the host veth up", e))?
    } else {
        Some(wait_ports(ctx, &pair).await?)
    };
    tracing::debug!("ADD: ports up");
    // MACs may have changed: the host veth's when enslaved, the bridge's with its first port.
    if let Some(slot) = result.interfaces.get_mut(HOST_VETH_INDEX) {
        slot.mac = host_veth.as_ref().and_then(mac).or(slot.mac.take());
    }
    let bridge_now = ctx
        .host
        .link_by_index(bridge.index)
        .await
        .map_err(|e| BridgeError::kernel("failed to look the bridge up", e))?;
    if let Some(slot) = result.interfaces.get_mut(BRIDGE_INDEX) {
        slot.mac = bridge_now.as_ref().and_then(mac).or(slot.mac.take());
    }

    host_accept_ra.await;
    apply_conf_dns(&mut result, req.config.dns.as_ref());
    // Convert here, not in the skel, so a result the config's version cannot express (layer 2
    // with 0.1.0/0.2.0) fails this ADD and is undone.
    Ok(result.convert_to(req.version)?)
}

/// Waits, on kernel notifications, until both veth ends are operationally up (the pod end first,
/// which is no bridge port), and returns the host end as it is then.
///
/// Like the reference, "up" means operstate UP, not STP forwarding: on a bridge with STP on, a new
/// port spends tens of seconds listening and learning, and ADD does not wait for that.
async fn wait_ports(ctx: &Ctx<'_>, pair: &VethPair) -> Result<Link, BridgeError> {
    ctx.pod
        .get()
        .await?
        .wait_link_up(pair.container.index, PORT_TIMEOUT)
        .await
        .map_err(|e| BridgeError::kernel("the container interface did not come up", e))?;
    ctx.host
        .wait_link_up(pair.host.index, PORT_TIMEOUT)
        .await
        .map_err(|e| BridgeError::kernel("bridge port in error state", e))
}

async fn undo(ctx: &Ctx<'_>, made: &Made) {
    let req = ctx.req;
    if made.masq
        && let Some(masq) = &ctx.masq
        && let Err(e) = masq.remove(&req.config.name, &ctx.attachment())
    {
        tracing::warn!(error = %e, "undo: removing masquerading");
    }
    if let Some(host_end) = made.veth {
        // Deleting the host end deletes the container end with it.
        if let Err(e) = ctx.host.delete_link(host_end).await {
            tracing::warn!(error = %e, "undo: deleting the veth pair");
        }
    }
    if made.spoof
        && let Err(e) = SpoofCheck::new(&req.container_id, &req.ifname).teardown()
    {
        tracing::warn!(error = %e, "undo: removing the MAC spoof check");
    }
    let early = ctx
        .early
        .as_ref()
        .and_then(|e| e.ready())
        .map(|early| early.ipam());
    if made.ipam
        && let Some(ipam) = early.or(ctx.ipam.as_ref())
    {
        ipam.release().await;
    }
}
