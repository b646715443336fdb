//! Decoding a link straight from the bytes of an `RTM_NEWLINK` answer.
//!
//! A link answer carries dozens of attributes (`IFLA_AF_SPEC` with the per-family device
//! settings, `IFLA_LINKINFO` with every bridge or bridge-port option, `IFLA_MAP`,
//! `IFLA_PROP_LIST`, ...) of which [`Link`] keeps about ten. Decoding the whole message into
//! netlink-packet-route's enums cost most of a link read, and its parser is the largest piece of
//! code a plugin call executes; this walks the attributes once and decodes only the ones [`Link`]
//! needs, skipping the others by their length.
//!
//! The values decoded are those `LinkMessage::parse` gives for the same attributes, with the same
//! checks on them: an integer of the wrong size, a name that is not UTF-8, `IFLA_INFO_DATA`
//! without a preceding `IFLA_INFO_KIND`, ... make the answer malformed. Every length is checked
//! against the bytes at hand; nothing here panics on any input.

use super::info::{BridgePortInfo, Link, LinkKind, MacAddr, OperState, PortState};

/// Why an answer could not be decoded (a static description; the caller adds the context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

pub(crate) type Decoded<T> = std::result::Result<T, Malformed>;

/// Size of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;
/// Size of `struct nlattr`.
const NLA_HEADER_LEN: usize = 4;
/// The attribute type without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
const NLA_TYPE_MASK: u16 = 0x3fff;

// Link attributes (linux/if_link.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_AF_SPEC: u16 = 26;
/// In `IFLA_AF_SPEC`, IPv6's nest (its type is the address family).
const AF_INET6: u16 = 10;
/// In IPv6's nest, the device configuration: one `i32` per `DEVCONF_*` index.
const IFLA_INET6_CONF: u16 = 2;
/// `DEVCONF_ACCEPT_RA`.
const DEVCONF_ACCEPT_RA: usize = 3;

// Nested in IFLA_LINKINFO.
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_XSTATS: u16 = 3;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;

// Nested in IFLA_INFO_DATA of a bridge.
const IFLA_BR_VLAN_FILTERING: u16 = 7;

// Nested in IFLA_INFO_SLAVE_DATA of a bridge port.
const IFLA_BRPORT_STATE: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_LEARNING: u16 = 8;
const IFLA_BRPORT_ISOLATED: u16 = 33;

// Interface flags (linux/if.h).
const IFF_UP: u32 = 0x1;
const IFF_PROMISC: u32 = 0x100;
const IFF_LOWER_UP: u32 = 0x1_0000;

/// The attributes of a netlink message or of a nested attribute, as `(type, value)` pairs in
/// order. Yields one error and then stops when an attribute header is cut short or its length
/// does not fit.
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Decoded<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        // On an error, nothing more is yielded.
        self.rest = &[];
        let Some(&[l0, l1, k0, k1]) = rest.first_chunk::<NLA_HEADER_LEN>() else {
            return Some(Err(Malformed("attribute cut short")));
        };
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        if len < NLA_HEADER_LEN {
            return Some(Err(Malformed("attribute length below its header")));
        }
        let Some(value) = rest.get(NLA_HEADER_LEN..len) else {
            return Some(Err(Malformed("attribute longer than its message")));
        };
        // The last attribute may go without its padding.
        self.rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok((u16::from_ne_bytes([k0, k1]) & NLA_TYPE_MASK, value)))
    }
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(b.try_into().ok()?))
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}

/// A 4-byte attribute value, which must be exactly that long.
fn u32_value(value: &[u8], what: &'static str) -> Decoded<u32> {
    <[u8; 4]>::try_from(value)
        .map(u32::from_ne_bytes)
        .map_err(|_| Malformed(what))
}

/// A 1-byte attribute value, which must be exactly that long.
fn u8_value(value: &[u8], what: &'static str) -> Decoded<u8> {
    match value {
        [v] => Ok(*v),
        _ => Err(Malformed(what)),
    }
}

/// A string attribute: UTF-8, one trailing NUL dropped when there is one.
fn str_value<'a>(value: &'a [u8], what: &'static str) -> Decoded<&'a str> {
    let bytes = match value.split_last() {
        Some((0, head)) => head,
        _ => value,
    };
    std::str::from_utf8(bytes).map_err(|_| Malformed(what))
}

/// Decodes the payload of an `RTM_NEWLINK` message (the `ifinfomsg` header and the attributes
/// after it) into a [`Link`].
pub(crate) fn decode_link(payload: &[u8]) -> Decoded<Link> {
    let index = u32_at(payload, 4).ok_or(Malformed("link header cut short"))?;
    let flags = u32_at(payload, 8).ok_or(Malformed("link header cut short"))?;
    // Past a complete header (the check above read up to byte 12 of 16).
    let attrs = payload
        .get(IFINFOMSG_LEN..)
        .ok_or(Malformed("link header cut short"))?;
    let mut link = Link::from_header(
        index,
        flags & IFF_UP != 0,
        flags & IFF_LOWER_UP != 0,
        flags & IFF_PROMISC != 0,
    );
    for attr in Attrs::new(attrs) {
        let (kind, value) = attr?;
        match kind {
            IFLA_IFNAME => link.name = str_value(value, "IFLA_IFNAME is not UTF-8")?.to_owned(),
            IFLA_ADDRESS => link.mac = MacAddr::from_slice(value),
            IFLA_MTU => link.mtu = u32_value(value, "IFLA_MTU is not 4 bytes")?,
            IFLA_OPERSTATE => {
                link.oper_state = oper_state(u8_value(value, "IFLA_OPERSTATE is not 1 byte")?)
            }
            IFLA_MASTER => {
                let master = u32_value(value, "IFLA_MASTER is not 4 bytes")?;
                if master != 0 {
                    link.master = Some(master);
                }
            }
            IFLA_LINK => {
                let peer = u32_value(value, "IFLA_LINK is not 4 bytes")?;
                if peer != 0 {
                    link.peer_index = Some(peer);
                }
            }
            IFLA_LINK_NETNSID => {
                let id = u32_value(value, "IFLA_LINK_NETNSID is not 4 bytes")?;
                link.peer_netns_id = Some(i32::from_ne_bytes(id.to_ne_bytes()));
            }
            IFLA_LINKINFO => decode_info(value, &mut link)?,
            IFLA_AF_SPEC => link.ipv6_accept_ra = ipv6_accept_ra(value),
            _ => {}
        }
    }
    if link.kind != LinkKind::Veth {
        link.peer_index = None;
        link.peer_netns_id = None;
    }
    Ok(link)
}

/// `accept_ra` from IPv6's device configuration in `IFLA_AF_SPEC`. `None` when there is none
/// (no IPv6 on the link) or when it is malformed: the value only ever spares a sysctl write, so
/// an answer this cannot read is not an error.
fn ipv6_accept_ra(spec: &[u8]) -> Option<i32> {
    let (_, inet6) = Attrs::new(spec)
        .map_while(Result::ok)
        .find(|(family, _)| *family == AF_INET6)?;
    let (_, conf) = Attrs::new(inet6)
        .map_while(Result::ok)
        .find(|(kind, _)| *kind == IFLA_INET6_CONF)?;
    let at = DEVCONF_ACCEPT_RA * 4;
    let bytes = conf.get(at..at + 4)?;
    Some(i32::from_ne_bytes(<[u8; 4]>::try_from(bytes).ok()?))
}

/// `IFLA_LINKINFO`: the kind, a bridge's VLAN filtering, a bridge port's settings.
fn decode_info(info: &[u8], link: &mut Link) -> Decoded<()> {
    if info.len() < NLA_HEADER_LEN {
        return Err(Malformed("IFLA_LINKINFO is empty"));
    }
    // Which kind the data that follows belongs to, as the kernel sends them: kind, then data.
    let mut kind_seen = false;
    let mut port_kind: Option<bool> = None; // Some(is a bridge port)
    for attr in Attrs::new(info) {
        let (kind, value) = attr?;
        match kind {
            IFLA_INFO_KIND => {
                link.kind = kind_of(str_value(value, "IFLA_INFO_KIND is not UTF-8")?);
                kind_seen = true;
            }
            IFLA_INFO_DATA | IFLA_INFO_XSTATS if !kind_seen => {
                return Err(Malformed("IFLA_INFO_DATA before IFLA_INFO_KIND"));
            }
            IFLA_INFO_DATA if link.kind == LinkKind::Bridge => {
                for attr in Attrs::new(value) {
                    let (kind, value) = attr?;
                    if kind == IFLA_BR_VLAN_FILTERING {
                        let on = u8_value(value, "IFLA_BR_VLAN_FILTERING is not 1 byte")?;
                        link.vlan_filtering = Some(on > 0);
                    }
                }
            }
            IFLA_INFO_SLAVE_KIND => {
                let port = str_value(value, "IFLA_INFO_SLAVE_KIND is not UTF-8")?;
                port_kind = Some(port == "bridge");
            }
            IFLA_INFO_SLAVE_DATA => match port_kind.take() {
                None => {
                    return Err(Malformed(
                        "IFLA_INFO_SLAVE_DATA before IFLA_INFO_SLAVE_KIND",
                    ));
                }
                Some(true) => link.bridge_port = Some(decode_bridge_port(value)?),
                Some(false) => {}
            },
            _ => {}
        }
    }
    Ok(())
}

/// `IFLA_INFO_SLAVE_DATA` of a bridge port.
fn decode_bridge_port(data: &[u8]) -> Decoded<BridgePortInfo> {
    let mut port = BridgePortInfo::default();
    for attr in Attrs::new(data) {
        let (kind, value) = attr?;
        match kind {
            IFLA_BRPORT_MODE => {
                port.hairpin = u8_value(value, "IFLA_BRPORT_MODE is not 1 byte")? > 0
            }
            IFLA_BRPORT_ISOLATED => {
                port.isolated = u8_value(value, "IFLA_BRPORT_ISOLATED is not 1 byte")? > 0
            }
            IFLA_BRPORT_LEARNING => {
                port.learning = u8_value(value, "IFLA_BRPORT_LEARNING is not 1 byte")? > 0
            }
            IFLA_BRPORT_STATE => {
                port.state = Some(port_state(u8_value(
                    value,
                    "IFLA_BRPORT_STATE is not 1 byte",
                )?))
            }
            _ => {}
        }
    }
    Ok(port)
}

/// `IF_OPER_*` (RFC 2863).
fn oper_state(v: u8) -> OperState {
    match v {
        1 => OperState::NotPresent,
        2 => OperState::Down,
        3 => OperState::LowerLayerDown,
        4 => OperState::Testing,
        5 => OperState::Dormant,
        6 => OperState::Up,
        _ => OperState::Unknown,
    }
}

/// `BR_STATE_*`.
fn port_state(v: u8) -> PortState {
    match v {
        0 => PortState::Disabled,
        1 => PortState::Listening,
        2 => PortState::Learning,
        3 => PortState::Forwarding,
        4 => PortState::Blocking,
        other => PortState::Other(other),
    }
}

fn kind_of(kind: &str) -> LinkKind {
    match kind {
        "bridge" => LinkKind::Bridge,
        "veth" => LinkKind::Veth,
        "dummy" => LinkKind::Dummy,
        "vlan" => LinkKind::Vlan,
        "macvlan" => LinkKind::MacVlan,
        "ipvlan" => LinkKind::IpVlan,
        other => LinkKind::Other(other.to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use rtnetlink::packet_core::{Emitable, Parseable};
    use rtnetlink::packet_route::link::{
        BridgePortState, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind,
        InfoPortData, InfoPortKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Map, State,
    };

    use super::*;

    /// The bytes netlink-packet-route's own serializer makes of `msg` (the payload of an
    /// `RTM_NEWLINK` message).
    fn bytes_of(msg: &LinkMessage) -> Vec<u8> {
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    /// Decodes `bytes` both ways and checks they agree; returns the link.
    fn same_both_ways(bytes: &[u8]) -> Link {
        let parsed = LinkMessage::parse(bytes).expect("netlink-packet-route parses it");
        let theirs = Link::from_message(&parsed);
        let ours = decode_link(bytes).expect("decoded");
        assert_eq!(ours, theirs);
        ours
    }

    fn message(index: u32, flags: LinkFlags, attributes: Vec<LinkAttribute>) -> LinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = flags;
        msg.attributes = attributes;
        msg
    }

    /// Attributes every link answer has, which the decoder skips or reads.
    fn common(name: &str, mac: [u8; 6], mtu: u32) -> Vec<LinkAttribute> {
        vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::MinMtu(68),
            LinkAttribute::MaxMtu(65535),
            LinkAttribute::Map(Map::default()),
            LinkAttribute::Address(mac.to_vec()),
            LinkAttribute::Broadcast(vec![0xff; 6]),
            LinkAttribute::Qdisc("noqueue".into()),
        ]
    }

    fn bridge() -> LinkMessage {
        let mut attrs = common("cni0", [2, 0, 0, 0, 0, 1], 1500);
        attrs.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            LinkInfo::Data(InfoData::Bridge(vec![
                InfoBridge::HelloTimer(0),
                InfoBridge::ForwardDelay(1500),
                InfoBridge::HelloTime(200),
                InfoBridge::MaxAge(2000),
                InfoBridge::AgeingTime(30000),
                InfoBridge::StpState(BridgeStpState::Disabled),
                InfoBridge::Priority(32768),
                InfoBridge::VlanFiltering(true),
                InfoBridge::GroupFwdMask(0),
                InfoBridge::VlanDefaultPvid(1),
                InfoBridge::GroupAddr([1, 0x80, 0xc2, 0, 0, 0]),
            ])),
        ]));
        attrs.push(LinkAttribute::Promiscuity(1));
        message(
            7,
            LinkFlags::Up | LinkFlags::Broadcast | LinkFlags::Promisc | LinkFlags::LowerUp,
            attrs,
        )
    }

    fn bridge_port() -> LinkMessage {
        let mut attrs = common("veth1234abcd", [0xaa, 0xbb, 0xcc, 0, 0, 2], 1400);
        attrs.push(LinkAttribute::Controller(7));
        attrs.push(LinkAttribute::Link(3));
        attrs.push(LinkAttribute::LinkNetNsId(0));
        attrs.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![
                InfoBridgePort::State(BridgePortState::Forwarding),
                InfoBridgePort::Priority(32),
                InfoBridgePort::Cost(2),
                InfoBridgePort::HairpinMode(true),
                InfoBridgePort::Guard(false),
                InfoBridgePort::Protect(false),
                InfoBridgePort::FastLeave(false),
                InfoBridgePort::Learning(true),
                InfoBridgePort::UnicastFlood(true),
                InfoBridgePort::Isolated(true),
            ])),
        ]));
        message(9, LinkFlags::Up | LinkFlags::LowerUp, attrs)
    }

    fn veth_with_peer_elsewhere() -> LinkMessage {
        let mut attrs = common("eth0", [0x0a, 0x58, 10, 1, 0, 2], 1500);
        attrs.push(LinkAttribute::Link(42));
        attrs.push(LinkAttribute::LinkNetNsId(3));
        // The kernel sends no IFLA_INFO_DATA for a veth.
        attrs.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Veth,
        )]));
        message(2, LinkFlags::Broadcast, attrs)
    }

    fn loopback() -> LinkMessage {
        let mut attrs = common("lo", [0; 6], 65536);
        if let Some(LinkAttribute::OperState(s)) = attrs.get_mut(2) {
            *s = State::Unknown;
        }
        message(
            1,
            LinkFlags::Up | LinkFlags::Loopback | LinkFlags::LowerUp,
            attrs,
        )
    }

    fn dummy_with_other_port_kind() -> LinkMessage {
        let mut attrs = common("dummy0", [2, 1, 2, 3, 4, 5], 1500);
        attrs.push(LinkAttribute::Controller(0));
        attrs.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Other("wireguardish".into())),
            LinkInfo::PortKind(InfoPortKind::Other("team".into())),
        ]));
        message(5, LinkFlags::empty(), attrs)
    }

    #[test]
    fn a_bridge_with_vlan_filtering() {
        let link = same_both_ways(&bytes_of(&bridge()));
        assert_eq!(link.kind, LinkKind::Bridge);
        assert_eq!(link.vlan_filtering, Some(true));
        assert_eq!(link.name, "cni0");
        assert_eq!(link.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert!(link.promiscuous && link.admin_up && link.lower_up);
        assert_eq!(link.bridge_port, None);
    }

    #[test]
    fn a_bridge_port_with_hairpin_isolated_and_state() {
        let link = same_both_ways(&bytes_of(&bridge_port()));
        assert_eq!(link.master, Some(7));
        assert_eq!(
            link.bridge_port,
            Some(BridgePortInfo {
                hairpin: true,
                isolated: true,
                learning: true,
                state: Some(PortState::Forwarding),
            })
        );
        assert_eq!((link.peer_index, link.peer_netns_id), (Some(3), Some(0)));
        assert_eq!(link.mtu, 1400);
    }

    #[test]
    fn a_veth_with_its_peer_in_another_namespace() {
        let link = same_both_ways(&bytes_of(&veth_with_peer_elsewhere()));
        assert_eq!(link.kind, LinkKind::Veth);
        assert_eq!((link.peer_index, link.peer_netns_id), (Some(42), Some(3)));
        assert!(!link.admin_up);
    }

    #[test]
    fn a_link_without_linkinfo() {
        let link = same_both_ways(&bytes_of(&loopback()));
        assert_eq!(link.kind, LinkKind::None);
        assert_eq!(link.oper_state, OperState::Unknown);
        assert_eq!(link.mtu, 65536);
        assert!(link.mac.is_some_and(|m| m.is_zero()));
    }

    #[test]
    fn other_kinds_and_ports_of_other_controllers() {
        let link = same_both_ways(&bytes_of(&dummy_with_other_port_kind()));
        assert_eq!(link.kind, LinkKind::Other("wireguardish".into()));
        assert_eq!((link.master, link.bridge_port), (None, None));
    }

    #[test]
    fn every_port_state_and_oper_state() {
        for v in 0..=7u8 {
            let mut msg = bridge_port();
            msg.attributes
                .push(LinkAttribute::OperState(State::from(v)));
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Dummy),
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::State(
                    BridgePortState::from(v),
                )])),
            ]));
            let link = same_both_ways(&bytes_of(&msg));
            assert_eq!(link.kind, LinkKind::Dummy);
            // A later IFLA_LINKINFO replaces the kind, not the veth peer fields' reset rule.
            assert_eq!(link.peer_index, None);
        }
    }

    /// Every prefix of a message (cut anywhere, as a short read or a lying length would) is
    /// decoded without a panic: an error, or, when the cut falls between attributes, the link
    /// netlink-packet-route also decodes from those bytes.
    #[test]
    fn every_truncation_is_an_error_or_the_same_link() {
        for msg in [
            bridge(),
            bridge_port(),
            veth_with_peer_elsewhere(),
            loopback(),
        ] {
            let bytes = bytes_of(&msg);
            for len in 0..bytes.len() {
                let cut = bytes.get(..len).unwrap();
                match decode_link(cut) {
                    Ok(link) => {
                        let theirs = LinkMessage::parse(cut)
                            .map(|m| Link::from_message(&m))
                            .expect("a prefix we decode, they decode too");
                        assert_eq!(link, theirs, "cut at {len}");
                    }
                    Err(Malformed(why)) => assert!(!why.is_empty()),
                }
            }
        }
    }

    #[test]
    fn garbage_and_zero_length_attributes_are_errors() {
        let good = bytes_of(&bridge());
        let mut header = good.get(..IFINFOMSG_LEN).unwrap().to_vec();
        // A zero-length attribute (its length below its own header).
        let mut zero = header.clone();
        zero.extend_from_slice(&[0, 0, 3, 0]);
        assert!(decode_link(&zero).is_err());
        // An attribute whose length runs past the message.
        let mut long = header.clone();
        long.extend_from_slice(&[200, 0, 3, 0, b'e', b't', b'h', 0]);
        assert!(decode_link(&long).is_err());
        // Three stray bytes after the attributes.
        let mut stray = good.clone();
        stray.extend_from_slice(&[1, 2, 3]);
        assert!(decode_link(&stray).is_err());
        // Wrong-sized integers and a name that is not UTF-8.
        for (kind, value) in [
            (IFLA_MTU, &[1u8, 2][..]),
            (IFLA_MASTER, &[1, 2, 3, 4, 5, 6, 7, 8][..]),
            (IFLA_OPERSTATE, &[6, 6][..]),
            (IFLA_LINK_NETNSID, &[][..]),
            (IFLA_IFNAME, &[0xff, 0xfe, 0][..]),
            (IFLA_LINKINFO, &[][..]),
        ] {
            let mut bad = header.clone();
            let len = u16::try_from(4 + value.len()).unwrap();
            bad.extend_from_slice(&len.to_ne_bytes());
            bad.extend_from_slice(&kind.to_ne_bytes());
            bad.extend_from_slice(value);
            assert!(decode_link(&bad).is_err(), "attribute {kind} {value:?}");
            assert!(
                LinkMessage::parse(&bad[..]).is_err(),
                "they refuse {kind} too"
            );
        }
        // Data before its kind; a nested zero-length attribute; port data without port kind.
        for info in [
            vec![8u8, 0, 2, 0, 0, 0, 0, 0],
            vec![
                11, 0, 1, 0, b'b', b'r', b'i', b'd', b'g', b'e', 0, 0, 8, 0, 2, 0, 0, 0, 0, 0,
            ],
            vec![4, 0, 5, 0],
        ] {
            let mut bad = header.clone();
            let len = u16::try_from(4 + info.len()).unwrap();
            bad.extend_from_slice(&len.to_ne_bytes());
            bad.extend_from_slice(&IFLA_LINKINFO.to_ne_bytes());
            bad.extend_from_slice(&info);
            assert!(decode_link(&bad).is_err(), "{info:?}");
        }
        // Random bytes after a valid header never panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            header.truncate(IFINFOMSG_LEN);
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                header.push((seed >> 24) as u8);
            }
            let _ = decode_link(&header);
        }
    }
}
