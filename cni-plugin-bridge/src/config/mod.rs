//! The plugin's configuration: the `bridge` section of the network configuration as it arrives
//! ([`BridgeConf`]) and the checked settings the verbs use ([`Settings`]).
//!
//! Every key of the Go reference plugin is accepted with its default; validation follows the
//! reference's rules and messages. One key is ours: [`BridgeConf::non_masquerade_cidrs`].

mod mac;
mod vlan;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::BridgeError;
use cni_types::MacAddress;

pub use mac::MacSources;
pub use vlan::{MAX_VLAN_ID, VlanTrunk, check_vlan, collect_trunk};

/// The bridge name used when the configuration names none.
pub const DEFAULT_BRIDGE: &str = "cni0";

/// The longest interface name the kernel accepts (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// The `bridge` plugin's own keys of a network configuration, exactly as they are written.
///
/// Missing keys take the reference's defaults; `null` counts as missing (as Go's decoder treats
/// it). Unknown keys are not this type's business: the generic config keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeConf {
    /// `bridge`: the bridge to use or create (default `cni0`).
    #[serde(default = "default_bridge", deserialize_with = "bridge_or_default")]
    pub bridge: String,
    /// `isGateway`: put the gateway address(es) on the bridge and enable forwarding.
    #[serde(default, deserialize_with = "null_default")]
    pub is_gateway: bool,
    /// `isDefaultGateway`: also add a default route via the gateway (implies `isGateway`).
    #[serde(default, deserialize_with = "null_default")]
    pub is_default_gateway: bool,
    /// `forceAddress`: replace a conflicting bridge address instead of failing.
    #[serde(default, deserialize_with = "null_default")]
    pub force_address: bool,
    /// `ipMasqBackend`: `"nftables"` (our default) or `"iptables"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_masq_backend: Option<String>,
    /// `mtu`: the MTU of a new bridge and of both veth ends (0: the kernel's default).
    #[serde(default, deserialize_with = "null_default")]
    pub mtu: i64,
    /// `hairpinMode`: let frames leave the host veth port they came in by.
    #[serde(default, deserialize_with = "null_default")]
    pub hairpin_mode: bool,
    /// `promiscMode`: put the bridge in promiscuous mode.
    #[serde(default, deserialize_with = "null_default")]
    pub promisc_mode: bool,
    /// `vlan`: the access VLAN of the pod's port (0: none).
    #[serde(default, deserialize_with = "null_default")]
    pub vlan: i64,
    /// `vlanTrunk`: tagged VLANs of the pod's port. Present (even empty) turns VLAN filtering on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_trunk: Option<Vec<VlanTrunk>>,
    /// `preserveDefaultVlan`: keep the port's default VLAN 1 when a VLAN is configured.
    #[serde(default, deserialize_with = "null_default")]
    pub preserve_default_vlan: bool,
    /// `macspoofchk`: drop frames from the pod whose source MAC is not the pod's.
    #[serde(rename = "macspoofchk", default, deserialize_with = "null_default")]
    pub mac_spoof_check: bool,
    /// `enabledad`: run IPv6 duplicate address detection on the pod interface.
    #[serde(rename = "enabledad", default, deserialize_with = "null_default")]
    pub enable_dad: bool,
    /// `disableContainerInterface`: leave the pod interface down (layer 2 only).
    #[serde(default, deserialize_with = "null_default")]
    pub disable_container_interface: bool,
    /// `portIsolation`: mark the host veth port isolated (isolated ports cannot talk to each other).
    #[serde(default, deserialize_with = "null_default")]
    pub port_isolation: bool,
    /// `nonMasqueradeCIDRs` (ours, not in the reference): destinations traffic from the pods is
    /// never masqueraded to, on top of the pod's own subnet. Put the cluster's pod CIDR here so
    /// pod-to-pod traffic across nodes keeps its source address while `ipMasq` hides the pods
    /// from the rest of the world. The name and meaning follow Kubernetes' ip-masq-agent.
    #[serde(
        rename = "nonMasqueradeCIDRs",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_masquerade_cidrs: Vec<IpNetwork>,
}

impl Default for BridgeConf {
    fn default() -> Self {
        BridgeConf {
            bridge: default_bridge(),
            is_gateway: false,
            is_default_gateway: false,
            force_address: false,
            ip_masq_backend: None,
            mtu: 0,
            hairpin_mode: false,
            promisc_mode: false,
            vlan: 0,
            vlan_trunk: None,
            preserve_default_vlan: false,
            mac_spoof_check: false,
            enable_dad: false,
            disable_container_interface: false,
            port_isolation: false,
            non_masquerade_cidrs: Vec::new(),
        }
    }
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_owned()
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn bridge_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(default_bridge))
}

/// The masquerading backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MasqBackend {
    /// nftables over netlink (our default: no process per call).
    #[default]
    Nftables,
    /// iptables/ip6tables, as the reference uses when `ipMasqBackend` is unset.
    Iptables,
}

impl MasqBackend {
    /// Reads `ipMasqBackend`; a missing key means nftables. Anything but `"nftables"` or
    /// `"iptables"` is the reference's error.
    pub fn parse(value: Option<&str>) -> Result<Self, BridgeError> {
        match value {
            None | Some("nftables") => Ok(MasqBackend::Nftables),
            Some("iptables") => Ok(MasqBackend::Iptables),
            Some(other) => Err(BridgeError::config(format!(
                "unknown ipmasq backend {other:?}"
            ))),
        }
    }
}

/// What the rest of the network configuration contributes to the plugin's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfContext<'a> {
    /// `ipam.type`; empty or missing means layer-2 mode (no addresses).
    pub ipam_type: &'a str,
    /// The common `ipMasq` key: masquerade traffic from the pod addresses to destinations outside
    /// their subnet.
    pub ip_masq: bool,
    /// Where a container MAC may be requested.
    pub mac: MacSources,
}

/// Checks an interface name the way the kernel would (`dev_valid_name`), so a name can never
/// escape a `/proc/sys/net/.../<name>/...` path.
pub fn check_link_name(name: &str, what: &str) -> Result<(), BridgeError> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_IFNAME_LEN {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("may not be . or ..")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        Some("may not contain '/', ':', NUL or whitespace")
    } else {
        None
    };
    match problem {
        Some(p) => Err(BridgeError::config(format!("{what} {name:?} {p}"))),
        None => Ok(()),
    }
}

/// The checked settings of one call, with the reference's implications applied
/// (`isDefaultGateway` ⇒ `isGateway`, the MAC precedence resolved, the trunk collected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The bridge name.
    pub bridge: String,
    /// Gateway address(es) on the bridge, forwarding on.
    pub is_gateway: bool,
    /// A default route via the gateway in the pod.
    pub is_default_gateway: bool,
    /// Replace conflicting bridge addresses.
    pub force_address: bool,
    /// Masquerade the pod addresses.
    pub ip_masq: bool,
    /// The masquerading backend (checked only when `ip_masq` is on, as the reference does).
    pub masq_backend: MasqBackend,
    /// Destinations never masqueraded (besides the pod's own subnet).
    pub non_masquerade_cidrs: Vec<IpNetwork>,
    /// MTU for a new bridge and the veth pair; `None` for the kernel default.
    pub mtu: Option<u32>,
    /// Hairpin on the host veth port.
    pub hairpin_mode: bool,
    /// Promiscuous bridge.
    pub promisc_mode: bool,
    /// Access VLAN id; 0 for none.
    pub vlan: u16,
    /// Tagged VLAN ids, sorted and deduplicated.
    pub vlan_trunk: Vec<u16>,
    /// Whether VLAN filtering is asked for (`vlan` set, or `vlanTrunk` present even if empty).
    pub vlan_filtering: bool,
    /// Keep the port's default VLAN.
    pub preserve_default_vlan: bool,
    /// MAC spoof checking on the host veth.
    pub mac_spoof_check: bool,
    /// IPv6 DAD on the pod interface.
    pub enable_dad: bool,
    /// Leave the pod interface down.
    pub disable_container_interface: bool,
    /// Isolated bridge port.
    pub port_isolation: bool,
    /// The container MAC to set, if one was requested.
    pub mac: Option<MacAddress>,
    /// `ipam.type`, or `None` in layer-2 mode.
    pub ipam_type: Option<String>,
}

impl Settings {
    /// Checks what every verb checks (the reference's `loadNetConf`): the bridge name, MTU, VLAN id
    /// and trunk, the MAC sources, the masquerade exclusions.
    pub fn load(conf: &BridgeConf, ctx: &ConfContext<'_>) -> Result<Settings, BridgeError> {
        check_link_name(&conf.bridge, "bridge name")?;
        let mtu = match conf.mtu {
            0 => None,
            m @ 68..=65535 => u32::try_from(m).ok(),
            m => {
                return Err(BridgeError::config(format!(
                    "invalid MTU {m} (must be 0 for the default, or between 68 and 65535)"
                )));
            }
        };
        let vlan = check_vlan(conf.vlan)?;
        let vlan_trunk = match &conf.vlan_trunk {
            Some(t) => collect_trunk(t)?,
            None => Vec::new(),
        };
        let ipam_type = Some(ctx.ipam_type.to_owned()).filter(|t| !t.is_empty());
        Ok(Settings {
            bridge: conf.bridge.clone(),
            is_gateway: conf.is_gateway || conf.is_default_gateway,
            is_default_gateway: conf.is_default_gateway,
            force_address: conf.force_address,
            ip_masq: ctx.ip_masq,
            masq_backend: if ctx.ip_masq {
                MasqBackend::parse(conf.ip_masq_backend.as_deref())?
            } else {
                MasqBackend::parse(conf.ip_masq_backend.as_deref()).unwrap_or_default()
            },
            non_masquerade_cidrs: conf.non_masquerade_cidrs.clone(),
            mtu,
            hairpin_mode: conf.hairpin_mode,
            promisc_mode: conf.promisc_mode,
            vlan,
            vlan_filtering: vlan != 0 || conf.vlan_trunk.is_some(),
            vlan_trunk,
            preserve_default_vlan: conf.preserve_default_vlan,
            mac_spoof_check: conf.mac_spoof_check,
            enable_dad: conf.enable_dad,
            disable_container_interface: conf.disable_container_interface,
            port_isolation: conf.port_isolation,
            mac: ctx.mac.resolve(),
            ipam_type,
        })
    }

    /// Checks what only ADD checks in the reference: hairpin with promiscuous mode, and IPAM with a
    /// disabled container interface.
    pub fn check_for_add(&self) -> Result<(), BridgeError> {
        if self.hairpin_mode && self.promisc_mode {
            return Err(BridgeError::config(
                "cannot set hairpin mode and promiscuous mode at the same time",
            ));
        }
        if self.disable_container_interface && self.is_layer3() {
            return Err(BridgeError::config(
                "cannot use IPAM when DisableContainerInterface flag is set",
            ));
        }
        Ok(())
    }

    /// True when the network has IPAM (layer 3); false in layer-2 mode.
    pub fn is_layer3(&self) -> bool {
        self.ipam_type.is_some()
    }
}

#[cfg(test)]
mod tests;
