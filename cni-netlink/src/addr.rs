//! IP addresses on links.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;
use rtnetlink::AddressMessageBuilder;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};
use crate::handle::Netlink;

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> IpFamily {
        if ip.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }
}

/// The scope of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrScope {
    /// Global.
    Universe,
    /// Site-local.
    Site,
    /// Link-local (`fe80::/10`, `169.254/16`).
    Link,
    /// Host (loopback).
    Host,
    /// Another value.
    Other(u8),
}

/// Options of [`Netlink::add_address`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddrOptions {
    /// Skip IPv6 duplicate address detection (`IFA_F_NODAD`): the address is usable at once
    /// instead of staying tentative for a second or more. Ignored by the kernel for IPv4.
    pub nodad: bool,
    /// Do not create the prefix route (`IFA_F_NOPREFIXROUTE`).
    pub no_prefix_route: bool,
}

/// An address on a link, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// The address and its prefix length.
    pub network: IpNetwork,
    /// Its scope.
    pub scope: AddrScope,
    /// IPv6 DAD has not finished yet.
    pub tentative: bool,
    /// IPv6 DAD found a duplicate.
    pub dad_failed: bool,
    /// Added without DAD.
    pub nodad: bool,
    /// A static (non-autoconfigured) address.
    pub permanent: bool,
}

impl Address {
    pub(crate) fn from_message(msg: &AddressMessage) -> Option<Address> {
        let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
        let mut ip = None;
        let mut local = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Address(a) => ip = Some(*a),
                AddressAttribute::Local(a) => local = Some(*a),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours when present.
        let ip = local.or(ip)?;
        let network = IpNetwork::new(ip, msg.header.prefix_len).ok()?;
        Some(Address {
            index: msg.header.index,
            network,
            scope: match msg.header.scope {
                AddressScope::Universe => AddrScope::Universe,
                AddressScope::Site => AddrScope::Site,
                AddressScope::Link => AddrScope::Link,
                AddressScope::Host => AddrScope::Host,
                AddressScope::Nowhere => AddrScope::Other(255),
                AddressScope::Other(v) => AddrScope::Other(v),
                _ => AddrScope::Other(0),
            },
            tentative: flags.contains(AddressFlags::Tentative),
            dad_failed: flags.contains(AddressFlags::Dadfailed),
            nodad: flags.contains(AddressFlags::Nodad),
            permanent: flags.contains(AddressFlags::Permanent),
        })
    }
}

impl Netlink {
    /// Adds `addr` to link `index`. An identical address already present is success (the Go
    /// plugins ignore `EEXIST` the same way).
    pub async fn add_address(&self, index: u32, addr: IpNetwork, opts: AddrOptions) -> Result<()> {
        // The message rtnetlink's `address().add` makes (for IPv4 also IFA_LOCAL and, below
        // /31, IFA_BROADCAST).
        let mut msg = match addr.ip() {
            IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(ip, addr.prefix())
                .build(),
            IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(ip, addr.prefix())
                .build(),
        };
        let mut flags = AddressFlags::empty();
        if opts.nodad {
            flags |= AddressFlags::Nodad;
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        if opts.no_prefix_route {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        let added = self.socket.change(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("adding address {addr} to link #{index}"),
        );
        match added {
            Err(e) if e.is_already_exists() => Ok(()),
            other => other,
        }
    }

    /// Removes `addr` from link `index`. An address (or link) that is not there is success.
    pub async fn delete_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let found = self
            .addresses(Some(index), None)
            .await?
            .into_iter()
            .any(|a| a.network == addr);
        if !found {
            return Ok(());
        }
        let mut msg = AddressMessage::default();
        msg.header.family = match addr {
            IpNetwork::V4(_) => AddressFamily::Inet,
            IpNetwork::V6(_) => AddressFamily::Inet6,
        };
        msg.header.prefix_len = addr.prefix();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Address(addr.ip()));
        if addr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(addr.ip()));
        }
        let deleted = self
            .socket
            .change(RouteNetlinkMessage::DelAddress(msg), 0, &|| {
                format!("deleting address {addr} from link #{index}")
            });
        match deleted {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Lists addresses, optionally only those of link `index` and/or of one family.
    pub async fn addresses(
        &self,
        index: Option<u32>,
        family: Option<IpFamily>,
    ) -> Result<Vec<Address>> {
        let mut msg = AddressMessage::default();
        // Ask the kernel for one family only: it then runs that family's dump alone, so an IPv4
        // lookup on a node does not read the IPv6 link-local address of every pod's host veth.
        // (The link is picked out below: the kernel filters a dump by link only for a socket
        // in strict-checking mode.)
        if let Some(family) = family {
            msg.header.family = match family {
                IpFamily::V4 => AddressFamily::Inet,
                IpFamily::V6 => AddressFamily::Inet6,
            };
        }
        let msgs = self.dump(
            RouteNetlinkMessage::GetAddress(msg),
            &|| "listing addresses".to_owned(),
            |answer| match answer {
                RouteNetlinkMessage::NewAddress(msg) => Address::from_message(&msg),
                _ => None,
            },
        )?;
        Ok(msgs
            .into_iter()
            .filter(|a| index.is_none_or(|i| a.index == i))
            .filter(|a| family.is_none_or(|f| IpFamily::of(&a.network.ip()) == f))
            .collect())
    }

    /// Fails with [`Error::NotFound`] unless `addr` is on link `index` (a CHECK helper).
    pub async fn expect_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let present = self
            .addresses(Some(index), None)
            .await?
            .iter()
            .any(|a| a.network == addr);
        if present {
            Ok(())
        } else {
            Err(Error::not_found(format!("address {addr} on link #{index}")))
        }
    }
}
