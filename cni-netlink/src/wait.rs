//! Waiting for the kernel to reach a state, driven by netlink notifications instead of sleeps.
//!
//! Each wait subscribes to the relevant notification group first, then checks the current
//! state, then re-checks only when the kernel announces a change, until the state is reached or
//! the deadline passes. Nothing polls on a timer. The deadline uses tokio's timer, so the runtime
//! must have its time driver enabled (`enable_all()` or `enable_time()`).

use std::time::Duration;

use futures::StreamExt;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;

use crate::addr::{Address, IpFamily};
use crate::error::{Error, Result};
use crate::handle::Netlink;
use crate::link::Link;
use crate::netns::Events;

/// Aborts the notification driver when the wait ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for the next notification (of any kind) or the deadline. `Ok(false)` means the deadline
/// passed.
async fn next_event(events: &mut Events, deadline: tokio::time::Instant) -> Result<bool> {
    match tokio::time::timeout_at(deadline, events.next()).await {
        Err(_) => Ok(false),
        Ok(Some(_)) => Ok(true),
        Ok(None) => Err(Error::Internal(
            "the netlink notification socket closed".into(),
        )),
    }
}

/// True for link notifications about `index` (and for overrun/error messages, which force a
/// re-check).
fn concerns_link(msg: &NetlinkPayload<RouteNetlinkMessage>, index: u32) -> bool {
    match msg {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))
        | NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => l.header.index == index,
        NetlinkPayload::InnerMessage(_) => false,
        _ => true,
    }
}

impl Netlink {
    /// Waits until link `index` is usable ([`Link::is_usable`]: admin up, carrier, operstate up)
    /// and, when it is a bridge port, until the port forwards. Returns the link as it is then.
    /// A link that is already usable returns at once.
    ///
    /// On a bridge with STP on, a new port listens and learns for tens of seconds before it
    /// forwards; use [`Netlink::wait_link_up`] where operstate UP is enough (the CNI reference
    /// waits for that only).
    ///
    /// Errors: the link does not exist or disappears ([`Error::NotFound`]); the state is not
    /// reached within `timeout` ([`Error::Timeout`], naming the last state seen).
    pub async fn wait_link_usable(&self, index: u32, timeout: Duration) -> Result<Link> {
        self.wait_link(index, timeout, true).await
    }

    /// Waits until link `index` is usable ([`Link::is_usable`]: admin up, carrier, operstate up),
    /// whatever its bridge port's STP state. Returns the link as it is then; a link that is
    /// already up returns at once, without subscribing to notifications.
    ///
    /// Errors: as [`Netlink::wait_link_usable`].
    pub async fn wait_link_up(&self, index: u32, timeout: Duration) -> Result<Link> {
        self.wait_link(index, timeout, false).await
    }

    async fn wait_link(&self, index: u32, timeout: Duration, forwarding: bool) -> Result<Link> {
        let ready = |link: &Link| {
            link.is_usable()
                && (!forwarding
                    || link.bridge_port.is_none_or(|p| {
                        p.state
                            .is_none_or(|s| s == crate::link::PortState::Forwarding)
                    }))
        };
        let lookup = || async {
            self.link_by_index(index)
                .await?
                .ok_or_else(|| Error::not_found(format!("link #{index}")))
        };
        // Most links are ready by the time anyone asks: no notification socket for those.
        let link = lookup().await?;
        if ready(&link) {
            return Ok(link);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let (mut events, driver) = self.ns.subscribe(&[MulticastGroup::Link]).await?;
        let _driver = AbortOnDrop(driver);
        loop {
            // Looked up again after subscribing, so a change in between is not missed.
            let link = lookup().await?;
            if ready(&link) {
                return Ok(link);
            }
            // Skip notifications about other links; any about ours triggers a re-check.
            loop {
                let got = tokio::time::timeout_at(deadline, events.next()).await;
                match got {
                    Err(_) => {
                        return Err(Error::Timeout(format!(
                            "link {} (#{index}) not usable after {timeout:?}: admin {}, \
                             operstate {:?}, carrier {}, bridge port {:?}",
                            link.name,
                            if link.admin_up { "up" } else { "down" },
                            link.oper_state,
                            link.lower_up,
                            link.bridge_port.and_then(|p| p.state)
                        )));
                    }
                    Ok(None) => {
                        return Err(Error::Internal(
                            "the netlink notification socket closed".into(),
                        ));
                    }
                    Ok(Some((msg, _))) if concerns_link(&msg.payload, index) => break,
                    Ok(Some(_)) => {}
                }
            }
        }
    }

    /// Waits until no address of the given family on link `index` is tentative (IPv6 duplicate
    /// address detection finished), and returns the addresses then.
    ///
    /// Errors: DAD found a duplicate ([`Error::AlreadyExists`], naming the address); still
    /// tentative after `timeout` ([`Error::Timeout`]).
    pub async fn wait_addresses_settled(
        &self,
        index: u32,
        family: IpFamily,
        timeout: Duration,
    ) -> Result<Vec<Address>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let group: &'static [MulticastGroup] = match family {
            IpFamily::V4 => &[MulticastGroup::Ipv4Ifaddr],
            IpFamily::V6 => &[MulticastGroup::Ipv6Ifaddr],
        };
        let (mut events, driver) = self.ns.subscribe(group).await?;
        let _driver = AbortOnDrop(driver);
        loop {
            let addrs = self.addresses(Some(index), Some(family)).await?;
            if let Some(bad) = addrs.iter().find(|a| a.dad_failed) {
                return Err(Error::already_exists(format!(
                    "duplicate address detection failed for {} on link #{index}",
                    bad.network
                )));
            }
            let pending: Vec<String> = addrs
                .iter()
                .filter(|a| a.tentative)
                .map(|a| a.network.to_string())
                .collect();
            if pending.is_empty() {
                return Ok(addrs);
            }
            if !next_event(&mut events, deadline).await? {
                return Err(Error::Timeout(format!(
                    "addresses {} on link #{index} still tentative after {timeout:?}",
                    pending.join(", ")
                )));
            }
        }
    }
}
