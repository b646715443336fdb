//! Plain descriptions of links, decoded from netlink link messages.

use std::fmt;
use std::str::FromStr;

#[cfg(test)]
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgePortState, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};

use crate::error::Error;

/// A 48-bit Ethernet MAC address. Displays and parses as `aa:bb:cc:dd:ee:ff` (lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The address bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True for `00:00:00:00:00:00` (what a bridge without ports reports).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses six colon- or dash-separated hex octets.
    fn from_str(s: &str) -> Result<MacAddr, Error> {
        let bad = || Error::invalid_input(format!("{s:?} is not a MAC address"));
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for slot in out.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// The kind of a link (`IFLA_INFO_KIND`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// One end of a veth pair.
    Veth,
    /// A dummy interface.
    Dummy,
    /// A VLAN sub-interface.
    Vlan,
    /// A macvlan interface.
    MacVlan,
    /// An ipvlan interface.
    IpVlan,
    /// Any other kind, by its kernel name.
    Other(String),
    /// No kind reported (physical devices, loopback).
    None,
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkKind::Bridge => f.write_str("bridge"),
            LinkKind::Veth => f.write_str("veth"),
            LinkKind::Dummy => f.write_str("dummy"),
            LinkKind::Vlan => f.write_str("vlan"),
            LinkKind::MacVlan => f.write_str("macvlan"),
            LinkKind::IpVlan => f.write_str("ipvlan"),
            LinkKind::Other(s) => f.write_str(s),
            LinkKind::None => f.write_str("device"),
        }
    }
}

/// The RFC 2863 operational state of a link (`IFLA_OPERSTATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperState {
    /// The state cannot be determined (loopback and some virtual devices report this while usable).
    Unknown,
    /// A component is missing.
    NotPresent,
    /// Down.
    Down,
    /// Down because a lower layer is (a veth whose peer is down).
    LowerLayerDown,
    /// In a test mode.
    Testing,
    /// Waiting for an external event.
    Dormant,
    /// Up and able to pass packets.
    Up,
}

#[cfg(test)]
impl From<State> for OperState {
    fn from(s: State) -> OperState {
        match s {
            State::Up => OperState::Up,
            State::Down => OperState::Down,
            State::LowerLayerDown => OperState::LowerLayerDown,
            State::Testing => OperState::Testing,
            State::Dormant => OperState::Dormant,
            State::NotPresent => OperState::NotPresent,
            _ => OperState::Unknown,
        }
    }
}

/// The STP state of a bridge port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// Disabled (the port or its bridge is down).
    Disabled,
    /// Listening.
    Listening,
    /// Learning.
    Learning,
    /// Forwarding: frames pass.
    Forwarding,
    /// Blocking.
    Blocking,
    /// A state this crate does not name.
    Other(u8),
}

/// The bridge-port settings of a link enslaved to a bridge (`IFLA_INFO_SLAVE_DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BridgePortInfo {
    /// Hairpin mode: frames may leave through the port they came in on.
    pub hairpin: bool,
    /// Port isolation: isolated ports cannot talk to each other.
    pub isolated: bool,
    /// MAC learning on this port.
    pub learning: bool,
    /// The STP state, when reported.
    pub state: Option<PortState>,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Kind (bridge, veth, ...).
    pub kind: LinkKind,
    /// Hardware address, when the link has an Ethernet-sized one.
    pub mac: Option<MacAddr>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Operational state.
    pub oper_state: OperState,
    /// Carrier present (`IFF_LOWER_UP`).
    pub lower_up: bool,
    /// Promiscuous mode (`IFF_PROMISC`).
    pub promiscuous: bool,
    /// Index of the bridge (or other controller) this link is enslaved to.
    pub master: Option<u32>,
    /// For a veth: the peer's interface index (in the peer's namespace, see
    /// [`Link::peer_netns_id`]).
    pub peer_index: Option<u32>,
    /// For a veth whose peer lives in another namespace: that namespace's id as seen from here.
    pub peer_netns_id: Option<i32>,
    /// Bridge-port settings when the link is a bridge port.
    pub bridge_port: Option<BridgePortInfo>,
    /// For a bridge: whether VLAN filtering is on.
    pub vlan_filtering: Option<bool>,
    /// The link's IPv6 `accept_ra` (`net.ipv6.conf.<link>.accept_ra`) as the kernel reports it
    /// with the link; `None` when the answer carries no IPv6 configuration (IPv6 disabled).
    pub ipv6_accept_ra: Option<i32>,
}

impl Link {
    /// True when the link can pass packets: administratively up, and operationally up (or
    /// `Unknown`, which loopback-like devices report while working).
    pub fn is_usable(&self) -> bool {
        self.admin_up
            && matches!(self.oper_state, OperState::Up | OperState::Unknown)
            && self.lower_up
    }

    /// A link with what a link message's header says (index and flags), before its attributes.
    pub(crate) fn from_header(
        index: u32,
        admin_up: bool,
        lower_up: bool,
        promiscuous: bool,
    ) -> Link {
        Link {
            index,
            name: String::new(),
            kind: LinkKind::None,
            mac: None,
            mtu: 0,
            admin_up,
            oper_state: OperState::Unknown,
            lower_up,
            promiscuous,
            master: None,
            peer_index: None,
            peer_netns_id: None,
            bridge_port: None,
            vlan_filtering: None,
            ipv6_accept_ra: None,
        }
    }

    /// What netlink-packet-route's decoding of the whole message gives, which the link reads
    /// used before they decoded the bytes themselves ([`super::raw`]); its tests compare the two.
    #[cfg(test)]
    pub(crate) fn from_message(msg: &LinkMessage) -> Link {
        let flags = &msg.header.flags;
        let mut link = Link::from_header(
            msg.header.index,
            flags.contains(LinkFlags::Up),
            flags.contains(LinkFlags::LowerUp),
            flags.contains(LinkFlags::Promisc),
        );
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = MacAddr::from_slice(a),
                LinkAttribute::Mtu(m) => link.mtu = *m,
                LinkAttribute::OperState(s) => link.oper_state = (*s).into(),
                LinkAttribute::Controller(c) if *c != 0 => link.master = Some(*c),
                LinkAttribute::Link(l) if *l != 0 => link.peer_index = Some(*l),
                LinkAttribute::LinkNetNsId(id) => link.peer_netns_id = Some(*id),
                LinkAttribute::LinkInfo(infos) => decode_info(infos, &mut link),
                LinkAttribute::AfSpecUnspec(specs) => {
                    for spec in specs {
                        if let AfSpecUnspec::Inet6(inet6) = spec {
                            for item in inet6 {
                                if let AfSpecInet6::DevConf(conf) = item {
                                    link.ipv6_accept_ra = Some(conf.accept_ra);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if link.kind != LinkKind::Veth {
            link.peer_index = None;
            link.peer_netns_id = None;
        }
        link
    }
}

#[cfg(test)]
fn decode_info(infos: &[LinkInfo], link: &mut Link) {
    for info in infos {
        match info {
            LinkInfo::Kind(kind) => link.kind = kind_of(kind),
            LinkInfo::Data(InfoData::Bridge(opts)) => {
                for opt in opts {
                    if let rtnetlink::packet_route::link::InfoBridge::VlanFiltering(on) = opt {
                        link.vlan_filtering = Some(*on);
                    }
                }
            }
            LinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                let mut port = BridgePortInfo::default();
                for opt in opts {
                    match opt {
                        InfoBridgePort::HairpinMode(v) => port.hairpin = *v,
                        InfoBridgePort::Isolated(v) => port.isolated = *v,
                        InfoBridgePort::Learning(v) => port.learning = *v,
                        InfoBridgePort::State(s) => port.state = Some(port_state(*s)),
                        _ => {}
                    }
                }
                link.bridge_port = Some(port);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
fn kind_of(kind: &InfoKind) -> LinkKind {
    match kind {
        InfoKind::Bridge => LinkKind::Bridge,
        InfoKind::Veth => LinkKind::Veth,
        InfoKind::Dummy => LinkKind::Dummy,
        InfoKind::Vlan => LinkKind::Vlan,
        InfoKind::MacVlan => LinkKind::MacVlan,
        InfoKind::IpVlan => LinkKind::IpVlan,
        other => LinkKind::Other(other.to_string()),
    }
}

#[cfg(test)]
fn port_state(s: BridgePortState) -> PortState {
    match s {
        BridgePortState::Disabled => PortState::Disabled,
        BridgePortState::Listening => PortState::Listening,
        BridgePortState::Learning => PortState::Learning,
        BridgePortState::Forwarding => PortState::Forwarding,
        BridgePortState::Blocking => PortState::Blocking,
        BridgePortState::Other(v) => PortState::Other(v),
        other => PortState::Other(u8::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let mac: MacAddr = "0A:1b:2c:3d:4e:5f".parse().unwrap_or(MacAddr([0; 6]));
        assert_eq!(mac.to_string(), "0a:1b:2c:3d:4e:5f");
        assert!("0a:1b:2c:3d:4e".parse::<MacAddr>().is_err());
        assert!("0a:1b:2c:3d:4e:5f:00".parse::<MacAddr>().is_err());
        assert!("zz:1b:2c:3d:4e:5f".parse::<MacAddr>().is_err());
        assert!("0a-1b-2c-3d-4e-5f".parse::<MacAddr>().is_ok());
        assert!(MacAddr([0; 6]).is_zero());
    }
}
