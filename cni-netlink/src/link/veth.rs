//! Creating a veth pair whose container end lands directly in the pod namespace.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Link, MacAddr, validate_ifname};
use crate::error::{Error, Result};
use crate::handle::Netlink;
use crate::netns::NetNs;

/// How many random host-side names [`Netlink::create_veth_pair`] tries before giving up.
const NAME_ATTEMPTS: usize = 10;

/// What [`Netlink::create_veth_pair`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// Name of the container end (`CNI_IFNAME`).
    pub container_ifname: String,
    /// Name of the host end; `None` picks `veth` + 8 random hex digits, retrying on collision.
    pub host_ifname: Option<String>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// MAC address of the container end.
    pub container_mac: Option<MacAddr>,
    /// Bridge (interface index, in the host namespace) to attach the host end to.
    pub bridge: Option<u32>,
    /// Bring the host end up.
    pub host_up: bool,
    /// Bring the container end up.
    pub container_up: bool,
}

impl VethSpec {
    /// A spec for container interface `ifname`: random host name, host end up, container end
    /// down (a plugin brings it up after adding addresses).
    pub fn new(container_ifname: impl Into<String>) -> VethSpec {
        VethSpec {
            container_ifname: container_ifname.into(),
            host_ifname: None,
            mtu: None,
            container_mac: None,
            bridge: None,
            host_up: true,
            container_up: false,
        }
    }
}

/// The two ends of a veth pair made by [`Netlink::create_veth_pair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPair {
    /// The host end, as seen in the handle's namespace.
    pub host: Link,
    /// The container end, as seen in the container namespace.
    pub container: Link,
}

/// A random host-side veth name: `veth` followed by 8 hex digits, as the Go plugins name them
/// ("NetworkManager ignores veth*"). The randomness comes from std's per-process random hash
/// keys mixed with a counter, so no extra dependency is needed.
pub fn random_veth_name() -> String {
    format!("veth{:08x}", random_u64() as u32)
}

/// 64 random bits for names and addresses: std's per-process random hash keys mixed with a
/// counter, the process id and the time, so no extra dependency is needed (not for secrets).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((n, std::process::id(), std::time::SystemTime::now()))
}

impl Netlink {
    /// Creates a veth pair in ONE request: the host end in this handle's namespace (named
    /// `spec.host_ifname` or randomly, MTU, attached to `spec.bridge`, up if asked) and the
    /// container end directly inside `container`'s namespace under `spec.container_ifname`
    /// (MTU, optional MAC). Only bringing the container end up (`spec.container_up`) takes a
    /// second request, because the kernel cannot open the peer before the pair exists.
    ///
    /// A random host name that collides is retried with a new one (up to 10 times).
    ///
    /// Errors: the container name is already taken in the container namespace, or an explicit
    /// host name is taken here: [`Error::AlreadyExists`].
    pub async fn create_veth_pair(&self, container: &Netlink, spec: &VethSpec) -> Result<VethPair> {
        if container.ns.is_same(&self.ns)
            && spec.host_ifname.as_deref() == Some(spec.container_ifname.as_str())
        {
            return Err(Error::invalid_input(
                "both veth ends would have the same name in the same namespace",
            ));
        }
        let pair = VethSpec {
            container_up: false,
            ..spec.clone()
        };
        let host = self.create_veth_pair_into(&container.ns, &pair).await?;
        let mut container_end = container.link(&spec.container_ifname).await?;
        if spec.container_up {
            // The kernel refuses IFF_UP on the peer inside the creating request (the peer is
            // opened before the pair is linked: ENOTCONN).
            container.set_link_up(container_end.index).await?;
            container_end = container.link(&spec.container_ifname).await?;
        }
        Ok(VethPair {
            host,
            container: container_end,
        })
    }

    /// Creates a veth pair like [`Netlink::create_veth_pair`], in one request, but given only
    /// the container's namespace: returns the host end, as this handle's namespace sees it,
    /// without reading the container end (read it from a handle of `container` when needed).
    /// For a caller whose handle of the container's namespace is still being opened on another
    /// thread: the kernel makes the pair meanwhile.
    ///
    /// A random host name that collides is retried with a new one (up to 10 times).
    ///
    /// Errors: as [`Netlink::create_veth_pair`] ([`Error::AlreadyExists`]: the container name is
    /// taken in `container`, or an explicit host name here); `spec.container_up` is refused
    /// ([`Error::InvalidInput`]: that takes a handle of the container's namespace).
    pub async fn create_veth_pair_into(&self, container: &NetNs, spec: &VethSpec) -> Result<Link> {
        validate_ifname(&spec.container_ifname)?;
        if let Some(name) = &spec.host_ifname {
            validate_ifname(name)?;
        }
        if spec.container_up {
            return Err(Error::invalid_input(
                "bringing the container end up takes a handle of its namespace",
            ));
        }
        for _ in 0..NAME_ATTEMPTS {
            let host_name = spec.host_ifname.clone().unwrap_or_else(random_veth_name);
            let msg = veth_message(container, spec, &host_name);
            let created = self.socket.change(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &|| {
                    format!(
                        "creating veth pair {host_name} <-> {}",
                        spec.container_ifname
                    )
                },
            );
            let err = match created {
                Ok(()) => return self.link(&host_name).await,
                Err(e) => e,
            };
            if !err.is_already_exists() {
                return Err(err);
            }
            // EEXIST does not say which name clashed; this side can be looked at: a random host
            // name that is taken is tried again, otherwise the container name clashed.
            let host_taken = self.link_by_name(&host_name).await?.is_some();
            if host_taken && spec.host_ifname.is_some() {
                return Err(Error::already_exists(format!(
                    "host interface {host_name:?} already exists"
                )));
            }
            if !host_taken {
                return Err(Error::already_exists(format!(
                    "interface {:?} already exists in network namespace {}",
                    spec.container_ifname,
                    container.path().display()
                )));
            }
        }
        Err(Error::already_exists(format!(
            "no free host veth name found after {NAME_ATTEMPTS} random tries"
        )))
    }
}

/// The `RTM_NEWLINK` message that makes the pair: the host end `host_name` in the sending
/// handle's namespace, the peer in `container`.
fn veth_message(container: &NetNs, spec: &VethSpec, host_name: &str) -> LinkMessage {
    let mut peer = LinkUnspec::new_with_name(&spec.container_ifname)
        .setns_by_fd(container.as_fd().as_raw_fd());
    if let Some(mtu) = spec.mtu {
        peer = peer.mtu(mtu);
    }
    if let Some(mac) = spec.container_mac {
        peer = peer.address(mac.octets().to_vec());
    }
    let mut host: LinkMessageBuilder<LinkVeth> = LinkVeth::new(host_name, &spec.container_ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    if let Some(mtu) = spec.mtu {
        host = host.mtu(mtu);
    }
    if let Some(bridge) = spec.bridge {
        host = host.controller(bridge);
    }
    if spec.host_up {
        host = host.up();
    }
    host.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_look_right_and_differ() {
        let a = random_veth_name();
        let b = random_veth_name();
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth"));
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
