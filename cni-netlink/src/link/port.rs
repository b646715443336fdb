//! Bridge ports: attaching, port flags and VLANs.

use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::BridgeVlanInfoFlags;
use rtnetlink::{LinkBridgePort, LinkBridgeVlan, LinkUnspec};

use crate::error::{Error, Result};
use crate::handle::Netlink;

/// Bridge-port settings to apply with [`Netlink::set_bridge_port`]; `None` leaves a setting alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePortFlags {
    /// Hairpin mode (reflect frames back out of the port they came in on).
    pub hairpin: Option<bool>,
    /// Port isolation (isolated ports only talk to non-isolated ones).
    pub isolated: Option<bool>,
    /// MAC learning.
    pub learning: Option<bool>,
}

/// An inclusive range of VLAN ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanRange {
    /// First id (1..=4094).
    pub start: u16,
    /// Last id (start..=4094).
    pub end: u16,
}

/// VLAN membership of a bridge port, as the bridge plugin's `vlan` and `vlanTrunk` express it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortVlans {
    /// The port's PVID, untagged (`vlan`).
    pub pvid: Option<u16>,
    /// Tagged VLANs (`vlanTrunk`).
    pub trunks: Vec<VlanRange>,
    /// Remove the default VLAN 1 membership first (the plugin's `preserveDefaultVlan: false`).
    pub remove_default: bool,
}

impl PortVlans {
    /// Checks every id is within 1..=4094 and every range is ordered.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: u16| (1..=4094).contains(&v);
        if let Some(p) = self.pvid
            && !ok(p)
        {
            return Err(Error::invalid_input(format!(
                "invalid VLAN id {p} (must be between 1 and 4094)"
            )));
        }
        for r in &self.trunks {
            if !ok(r.start) || !ok(r.end) || r.start > r.end {
                return Err(Error::invalid_input(format!(
                    "invalid VLAN range {}-{} (ids must be between 1 and 4094, start <= end)",
                    r.start, r.end
                )));
            }
        }
        Ok(())
    }
}

fn vlan_unsupported(port: u32, e: Error) -> Error {
    if e.is_unsupported() {
        Error::unsupported(format!(
            "VLANs on bridge port #{port}: this kernel has no bridge VLAN filtering \
             (CONFIG_BRIDGE_VLAN_FILTERING is not set)"
        ))
    } else {
        e
    }
}

impl Netlink {
    /// Enslaves `port` to `bridge`. Already attached to it is success.
    pub async fn attach_to_bridge(&self, port: u32, bridge: u32) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(port).controller(bridge).build(),
            "attaching to bridge",
            port,
        )
        .await
    }

    /// Releases `port` from its bridge. A port that has no bridge is success.
    pub async fn detach_from_bridge(&self, port: u32) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(port).nocontroller().build(),
            "detaching from bridge",
            port,
        )
        .await
    }

    /// Applies bridge-port flags (hairpin, isolated, learning) to a port through
    /// `IFLA_INFO_SLAVE_DATA`, the `ip link set DEV type bridge_slave ...` path. Setting a flag to
    /// the value it already has is success. Nothing to set is success.
    pub async fn set_bridge_port(&self, port: u32, flags: &BridgePortFlags) -> Result<()> {
        if *flags == BridgePortFlags::default() {
            return Ok(());
        }
        let mut msg = LinkBridgePort::new(port);
        if let Some(v) = flags.hairpin {
            msg = msg.hairpin(v);
        }
        if let Some(v) = flags.isolated {
            msg = msg.isolated(v);
        }
        if let Some(v) = flags.learning {
            msg = msg.learning(v);
        }
        self.socket
            .change(RouteNetlinkMessage::NewLink(msg.build()), 0, &|| {
                format!("setting bridge-port flags on #{port}")
            })
    }

    /// Programs a port's VLANs: optionally drops the default VLAN 1, then adds the PVID
    /// (untagged) and the tagged trunk ranges.
    ///
    /// Needs a bridge with VLAN filtering. On kernels built without it (like the one these tests
    /// run on) the kernel refuses with `EOPNOTSUPP`, reported as [`Error::Unsupported`] with a
    /// message saying so.
    pub async fn set_port_vlans(&self, port: u32, vlans: &PortVlans) -> Result<()> {
        vlans.validate()?;
        if vlans.remove_default {
            let msg = LinkBridgeVlan::new(port)
                .vlan(1, BridgeVlanInfoFlags::empty())
                .build();
            let removed = self
                .socket
                .change(RouteNetlinkMessage::DelLink(msg), 0, &|| {
                    format!("removing default VLAN 1 from port #{port}")
                });
            if let Err(e) = removed {
                // Not being a member of VLAN 1 already is what we want.
                if !e.is_not_found() && !e.is_invalid_input() {
                    return Err(vlan_unsupported(port, e));
                }
            }
        }
        if let Some(pvid) = vlans.pvid {
            let msg = LinkBridgeVlan::new(port)
                .vlan(
                    pvid,
                    BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged,
                )
                .build();
            self.send_vlan(port, msg).await?;
        }
        for range in &vlans.trunks {
            let mut msg = LinkBridgeVlan::new(port);
            msg = if range.start == range.end {
                msg.vlan(range.start, BridgeVlanInfoFlags::empty())
            } else {
                msg.vlan_range_start(range.start, BridgeVlanInfoFlags::empty())
                    .vlan_range_end(range.end, BridgeVlanInfoFlags::empty())
            };
            self.send_vlan(port, msg.build()).await?;
        }
        Ok(())
    }

    async fn send_vlan(
        &self,
        port: u32,
        msg: rtnetlink::packet_route::link::LinkMessage,
    ) -> Result<()> {
        // RTM_SETLINK, as `bridge vlan add` sends it.
        self.socket
            .change(
                RouteNetlinkMessage::SetLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &|| format!("adding VLANs to port #{port}"),
            )
            .map_err(|e| vlan_unsupported(port, e))
    }
}
