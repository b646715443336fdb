//! Ensuring a bridge exists.

use rtnetlink::LinkBridge;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::InfoBridge;

use super::{Link, LinkKind, MacAddr, validate_ifname};
use crate::error::{Error, Result};
use crate::handle::Netlink;

/// What [`Netlink::ensure_bridge`] should make sure of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// The bridge name.
    pub name: String,
    /// MTU for a bridge created now (an existing bridge keeps its MTU, like the Go plugin).
    pub mtu: Option<u32>,
    /// MAC address to set (on a new or an existing bridge).
    pub mac: Option<MacAddr>,
    /// Turn promiscuous mode on (never turned off on an existing bridge).
    pub promiscuous: bool,
    /// Turn VLAN filtering on (needed for [`super::PortVlans`]).
    pub vlan_filtering: bool,
    /// Bring the bridge up (what a plugin wants; `false` leaves the admin state alone).
    pub up: bool,
    /// Give a bridge created now a MAC of its own (random, locally administered) in the create
    /// request, unless [`BridgeSpec::mac`] names one. A bridge whose MAC was set keeps it;
    /// otherwise the kernel gives it the lowest MAC of its ports, which changes as ports come
    /// and go (and while concurrent callers add theirs). An existing bridge is left as it is.
    pub own_mac: bool,
}

impl BridgeSpec {
    /// A spec for bridge `name` that is brought up and otherwise left at kernel defaults.
    pub fn new(name: impl Into<String>) -> BridgeSpec {
        BridgeSpec {
            name: name.into(),
            mtu: None,
            mac: None,
            promiscuous: false,
            vlan_filtering: false,
            up: true,
            own_mac: false,
        }
    }
}

/// A random unicast, locally administered MAC (what the kernel itself gives a new bridge).
fn random_local_mac() -> [u8; 6] {
    let [a, b, c, d, e, f, _, _] = super::veth::random_u64().to_le_bytes();
    [(a & 0xfe) | 0x02, b, c, d, e, f]
}

fn vlan_unsupported(name: &str) -> Error {
    Error::unsupported(format!(
        "bridge VLAN filtering on {name}: this kernel has no bridge VLAN filtering \
         (CONFIG_BRIDGE_VLAN_FILTERING is not set), so VLAN ids cannot be used"
    ))
}

impl Netlink {
    /// Makes sure a bridge called `spec.name` exists and matches `spec`, creating it or adopting
    /// an existing one. Idempotent: an existing bridge is success, and concurrent callers racing
    /// to create the same bridge all succeed.
    ///
    /// Errors: a link of that name that is not a bridge is [`Error::AlreadyExists`] ("... already
    /// exists but is a veth, not a bridge"); asking for VLAN filtering on a kernel without it is
    /// [`Error::Unsupported`].
    pub async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<Link> {
        validate_ifname(&spec.name)?;
        let existing = self.link_by_name(&spec.name).await?;
        self.ensure_bridge_from(spec, existing).await
    }

    /// [`Netlink::ensure_bridge`] for a caller that has just read the link called `spec.name`
    /// itself (`existing`, `None` when there was none): the same outcome without reading it
    /// again.
    ///
    /// Errors: as [`Netlink::ensure_bridge`]; `existing` of another name is
    /// [`Error::InvalidInput`].
    pub async fn ensure_bridge_from(
        &self,
        spec: &BridgeSpec,
        existing: Option<Link>,
    ) -> Result<Link> {
        validate_ifname(&spec.name)?;
        if let Some(link) = existing.as_ref().filter(|l| l.name != spec.name) {
            return Err(Error::invalid_input(format!(
                "link {:?} given as the bridge {:?}",
                link.name, spec.name
            )));
        }
        let existing = match existing {
            Some(link) => Some(link),
            None => self.create_bridge(spec).await?,
        };
        // Whether anything was changed since `link` was read: if not, it is returned as read
        // instead of being asked for again.
        let mut changed = false;
        let link = match existing {
            Some(link) => {
                if link.kind != LinkKind::Bridge {
                    return Err(Error::already_exists(format!(
                        "{:?} already exists but is a {}, not a bridge",
                        spec.name, link.kind
                    )));
                }
                if spec.vlan_filtering && link.vlan_filtering != Some(true) {
                    let msg = LinkBridge::new(&spec.name)
                        .index(link.index)
                        .append_info_data(InfoBridge::VlanFiltering(true))
                        .build();
                    self.socket
                        .change(RouteNetlinkMessage::NewLink(msg), 0, &|| {
                            "turning on VLAN filtering".to_owned()
                        })
                        .map_err(|e| {
                            if e.is_unsupported() {
                                vlan_unsupported(&spec.name)
                            } else {
                                e
                            }
                        })?;
                    changed = true;
                }
                if let Some(mac) = spec.mac
                    && link.mac != Some(mac)
                {
                    self.set_mac(link.index, mac).await?;
                    changed = true;
                }
                if spec.up && !link.admin_up {
                    self.set_link_up(link.index).await?;
                    changed = true;
                }
                link
            }
            None => self.link(&spec.name).await?,
        };
        if spec.promiscuous && !link.promiscuous {
            self.set_promiscuous(link.index, true).await?;
            changed = true;
        }
        if changed {
            self.link(&spec.name).await
        } else {
            Ok(link)
        }
    }

    /// Creates the bridge in one request. Returns `Some(link)` when it already existed (a
    /// concurrent creator won the race), `None` when this call created it.
    async fn create_bridge(&self, spec: &BridgeSpec) -> Result<Option<Link>> {
        let mut builder = LinkBridge::new(&spec.name);
        if !spec.up {
            builder = builder.down();
        }
        if let Some(mtu) = spec.mtu {
            builder = builder.mtu(mtu);
        }
        match spec.mac {
            Some(mac) => builder = builder.address(mac.octets().to_vec()),
            None if spec.own_mac => builder = builder.address(random_local_mac().to_vec()),
            None => {}
        }
        if spec.promiscuous {
            builder = builder.promiscuous(true);
        }
        if spec.vlan_filtering {
            builder = builder.append_info_data(InfoBridge::VlanFiltering(true));
        }
        let created = self.socket.change(
            RouteNetlinkMessage::NewLink(builder.build()),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("creating bridge {}", spec.name),
        );
        match created {
            Ok(()) => Ok(None),
            Err(e) => {
                if e.is_already_exists() {
                    // Someone else created a link of that name in between; adopt or reject it.
                    return Ok(Some(self.link(&spec.name).await?));
                }
                if spec.vlan_filtering && e.is_unsupported() {
                    return Err(vlan_unsupported(&spec.name));
                }
                Err(e)
            }
        }
    }
}
