//! Links: lookup, generic settings, deletion; bridges ([`BridgeSpec`]), veth pairs
//! ([`VethSpec`]) and bridge ports ([`BridgePortFlags`], [`PortVlans`]) in submodules.

mod bridge;
mod info;
mod port;
pub(crate) mod raw;
mod veth;

use rtnetlink::LinkUnspec;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkMessage;

pub use bridge::BridgeSpec;
pub use info::{BridgePortInfo, Link, LinkKind, MacAddr, OperState, PortState};
pub use port::{BridgePortFlags, PortVlans, VlanRange};
pub use veth::{VethPair, VethSpec, random_veth_name};

use crate::error::{Error, Result};
use crate::handle::Netlink;
use crate::socket::Query;

/// Linux's limit for interface names (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Checks an interface name the way the kernel does (`dev_valid_name`): 1 to 15 bytes, not `.`
/// or `..`, no `/`, `:` or whitespace.
pub fn validate_ifname(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid_input(format!(
            "interface name {name:?} {why}"
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_IFNAME_LEN {
        return bad("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("is reserved");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return bad("contains '/', ':' or whitespace");
    }
    Ok(())
}

impl Netlink {
    /// Looks a link up by name. A missing link is `Ok(None)`.
    ///
    /// Links are read without counters (`RTEXT_FILTER_SKIP_STATS`), decoding only the
    /// attributes [`Link`] has.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>> {
        validate_ifname(name)?;
        self.read_one(Query::Name(name), &|| format!("looking up link {name}"))
    }

    /// Looks a link up by index. A missing link is `Ok(None)`.
    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        self.read_one(Query::Index(index), &|| format!("looking up link #{index}"))
    }

    fn read_one(&self, query: Query<'_>, context: &dyn Fn() -> String) -> Result<Option<Link>> {
        match self.socket.links(query, context) {
            Ok(links) => Ok(links.into_iter().next()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`Netlink::link_by_name`], but a missing link is [`Error::NotFound`].
    pub async fn link(&self, name: &str) -> Result<Link> {
        self.link_by_name(name).await?.ok_or_else(|| {
            Error::not_found(format!(
                "link {name} in network namespace {}",
                self.ns.path().display()
            ))
        })
    }

    /// All links of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        self.socket
            .links(Query::All, &|| "listing links".to_owned())
    }

    /// Brings a link up. Already up is success.
    pub async fn set_link_up(&self, index: u32) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(index).up().build(),
            "setting link up",
            index,
        )
        .await
    }

    /// Takes a link down. Already down is success.
    pub async fn set_link_down(&self, index: u32) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(index).down().build(),
            "setting link down",
            index,
        )
        .await
    }

    /// Sets a link's MTU.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(index).mtu(mtu).build(),
            "setting MTU",
            index,
        )
        .await
    }

    /// Sets a link's MAC address (also how a plugin pins a bridge's MAC to its current value so
    /// the kernel stops re-deriving it from the ports). An all-zero MAC is refused.
    pub async fn set_mac(&self, index: u32, mac: MacAddr) -> Result<()> {
        if mac.is_zero() {
            return Err(Error::invalid_input("cannot set the all-zero MAC address"));
        }
        self.change(
            LinkUnspec::new_with_index(index)
                .address(mac.octets().to_vec())
                .build(),
            "setting MAC address",
            index,
        )
        .await
    }

    /// Turns promiscuous mode on or off.
    pub async fn set_promiscuous(&self, index: u32, on: bool) -> Result<()> {
        self.change(
            LinkUnspec::new_with_index(index).promiscuous(on).build(),
            "setting promiscuous mode",
            index,
        )
        .await
    }

    /// Deletes a link by index. A missing link is success.
    pub async fn delete_link(&self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self
            .socket
            .change(RouteNetlinkMessage::DelLink(msg), 0, &|| {
                format!("deleting link #{index}")
            }) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Deletes a link by name. A missing link is success. Returns the link as it was before the
    /// deletion, when there was one (a plugin's DEL reads its addresses first with
    /// [`Netlink::addresses`] if it needs them).
    pub async fn delete_link_by_name(&self, name: &str) -> Result<Option<Link>> {
        match self.link_by_name(name).await? {
            Some(link) => {
                self.delete_link(link.index).await?;
                Ok(Some(link))
            }
            None => Ok(None),
        }
    }

    /// Sends an `RTM_NEWLINK` change (the `ip link set` path) for an existing link.
    pub(crate) async fn change(&self, msg: LinkMessage, what: &str, index: u32) -> Result<()> {
        self.socket
            .change(RouteNetlinkMessage::NewLink(msg), 0, &|| {
                format!("{what} on link #{index}")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        assert!(validate_ifname("eth0").is_ok());
        assert!(validate_ifname("veth0123456789a").is_ok());
        assert!(validate_ifname("veth0123456789ab").is_err());
        assert!(validate_ifname("").is_err());
        assert!(validate_ifname("..").is_err());
        assert!(validate_ifname("a/b").is_err());
        assert!(validate_ifname("a b").is_err());
        assert!(validate_ifname("a:1").is_err());
    }
}
