//! Routes: add, replace, delete, list, default routes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteProtocol, RouteScope as NlScope,
    RouteType, RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::addr::IpFamily;
use crate::error::{Error, Result};
use crate::handle::Netlink;

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// Route protocol `static` (`RTPROT_STATIC`), what routes added by this crate carry by default.
pub const PROTO_STATIC: u8 = 4;
/// Route protocol `boot` (`RTPROT_BOOT`), what `ip route add` uses.
pub const PROTO_BOOT: u8 = 3;
/// Route protocol `kernel` (`RTPROT_KERNEL`): prefix routes the kernel adds for addresses.
pub const PROTO_KERNEL: u8 = 2;

/// The scope of a route.
///
/// Converts to and from the kernel's `u8` (`RouteScope::from(253) == RouteScope::Link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteScope {
    /// Global (via a gateway).
    Universe,
    /// Site.
    Site,
    /// Directly attached to a link.
    Link,
    /// Local to this host.
    Host,
    /// Destination does not exist.
    Nowhere,
    /// Another value.
    Other(u8),
}

impl From<u8> for RouteScope {
    /// From the kernel's number (`RT_SCOPE_*`: 0 universe, 200 site, 253 link, 254 host, 255
    /// nowhere), as CNI results carry it.
    fn from(v: u8) -> RouteScope {
        NlScope::from(v).into()
    }
}

impl From<RouteScope> for u8 {
    /// To the kernel's number (`RT_SCOPE_*`).
    fn from(s: RouteScope) -> u8 {
        u8::from(NlScope::from(s))
    }
}

impl From<RouteScope> for NlScope {
    fn from(s: RouteScope) -> NlScope {
        match s {
            RouteScope::Universe => NlScope::Universe,
            RouteScope::Site => NlScope::Site,
            RouteScope::Link => NlScope::Link,
            RouteScope::Host => NlScope::Host,
            RouteScope::Nowhere => NlScope::NoWhere,
            RouteScope::Other(v) => NlScope::from(v),
        }
    }
}

impl From<NlScope> for RouteScope {
    fn from(s: NlScope) -> RouteScope {
        match s {
            NlScope::Universe => RouteScope::Universe,
            NlScope::Site => RouteScope::Site,
            NlScope::Link => RouteScope::Link,
            NlScope::Host => RouteScope::Host,
            NlScope::NoWhere => RouteScope::Nowhere,
            other => RouteScope::Other(u8::from(other)),
        }
    }
}

/// A route to add, replace or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix (`0.0.0.0/0` or `::/0` for a default route).
    pub destination: IpNetwork,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Scope; by default universe, or link for an IPv4 route without gateway (like `ip route`).
    pub scope: Option<RouteScope>,
    /// Table; main by default.
    pub table: Option<u32>,
    /// Path MTU (`RTAX_MTU`).
    pub mtu: Option<u32>,
    /// Route protocol (who owns the route); [`PROTO_STATIC`] by default.
    pub protocol: Option<u8>,
    /// Metric (priority).
    pub metric: Option<u32>,
    /// Treat the gateway as on-link even without a matching prefix route.
    pub onlink: bool,
}

impl RouteSpec {
    /// A route to `destination` with nothing else set.
    pub fn new(destination: IpNetwork) -> RouteSpec {
        RouteSpec {
            destination,
            gateway: None,
            oif: None,
            scope: None,
            table: None,
            mtu: None,
            protocol: None,
            metric: None,
            onlink: false,
        }
    }

    /// A default route (`0.0.0.0/0` or `::/0`, by the gateway's family) via `gateway`.
    pub fn default_via(gateway: IpAddr) -> RouteSpec {
        let dst = match gateway {
            IpAddr::V4(_) => IpNetwork::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            IpAddr::V6(_) => IpNetwork::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        // A zero prefix is always valid; the fallback is never taken.
        let dst = dst.unwrap_or(IpNetwork::V4(ipnetwork::Ipv4Network::from(
            Ipv4Addr::UNSPECIFIED,
        )));
        RouteSpec {
            gateway: Some(gateway),
            ..RouteSpec::new(dst)
        }
    }

    /// Sets the output interface.
    pub fn dev(mut self, oif: u32) -> RouteSpec {
        self.oif = Some(oif);
        self
    }

    /// Sets the gateway.
    pub fn via(mut self, gateway: IpAddr) -> RouteSpec {
        self.gateway = Some(gateway);
        self
    }

    fn message(&self, for_delete: bool) -> Result<RouteMessage> {
        let dst = self.destination;
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dst.network(), dst.prefix())
            .map_err(|e| Error::invalid_input(format!("route to {dst}: {e}")))?;
        if let Some(gw) = self.gateway {
            b = b
                .gateway(gw)
                .map_err(|e| Error::invalid_input(format!("route to {dst} via {gw}: {e}")))?;
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if let Some(table) = self.table {
            b = b.table_id(table);
        }
        if let Some(metric) = self.metric {
            b = b.priority(metric);
        }
        if self.onlink {
            b = b.onlink();
        }
        let scope = match (self.scope, for_delete) {
            (Some(s), _) => s,
            (None, true) => RouteScope::Nowhere,
            (None, false) if self.gateway.is_none() && dst.is_ipv4() => RouteScope::Link,
            (None, false) => RouteScope::Universe,
        };
        b = b.scope(scope.into());
        b = match (self.protocol, for_delete) {
            (Some(p), _) => b.protocol(RouteProtocol::from(p)),
            (None, true) => b.protocol(RouteProtocol::Unspec),
            (None, false) => b.protocol(RouteProtocol::Static),
        };
        if for_delete {
            b = b.kind(RouteType::Unspec);
        }
        let mut msg = b.build();
        if let Some(mtu) = self.mtu {
            msg.attributes
                .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        }
        Ok(msg)
    }
}

/// A route as the kernel reports it (unicast routes only).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Destination prefix.
    pub destination: IpNetwork,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Table.
    pub table: u32,
    /// Route protocol.
    pub protocol: u8,
    /// Scope.
    pub scope: RouteScope,
    /// Metric (priority).
    pub metric: Option<u32>,
    /// Path MTU.
    pub mtu: Option<u32>,
}

impl Route {
    fn from_message(msg: &RouteMessage) -> Option<Route> {
        if msg.header.kind != RouteType::Unicast {
            return None;
        }
        let mut table = u32::from(msg.header.table);
        let (mut dst, mut gateway, mut oif, mut metric, mut mtu) = (None, None, None, None, None);
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(a) => dst = ip_of(a),
                RouteAttribute::Gateway(a) => gateway = ip_of(a),
                RouteAttribute::Via(RouteVia::Inet(a)) => gateway = Some(IpAddr::V4(*a)),
                RouteAttribute::Via(RouteVia::Inet6(a)) => gateway = Some(IpAddr::V6(*a)),
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::Priority(p) => metric = Some(*p),
                RouteAttribute::Metrics(ms) => {
                    for m in ms {
                        if let RouteMetric::Mtu(v) = m {
                            mtu = Some(*v);
                        }
                    }
                }
                _ => {}
            }
        }
        let dst = match (dst, msg.header.address_family) {
            (Some(ip), _) => ip,
            (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (None, AddressFamily::Inet6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (None, _) => return None,
        };
        Some(Route {
            destination: IpNetwork::new(dst, msg.header.destination_prefix_length).ok()?,
            gateway,
            oif,
            table,
            protocol: u8::from(msg.header.protocol),
            scope: msg.header.scope.into(),
            metric,
            mtu,
        })
    }
}

/// The prefix with its host bits cleared (`10.22.0.5/16` → `10.22.0.0/16`).
pub(crate) fn normalize(n: IpNetwork) -> IpNetwork {
    IpNetwork::new(n.network(), n.prefix()).unwrap_or(n)
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Which routes [`Netlink::routes`] returns; `None` fields match everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteFilter {
    /// Only this table.
    pub table: Option<u32>,
    /// Only routes out of this interface.
    pub oif: Option<u32>,
    /// Only this family.
    pub family: Option<IpFamily>,
    /// Only routes of this protocol.
    pub protocol: Option<u8>,
}

impl Netlink {
    /// Adds a route. An existing route with the same destination, table and metric is
    /// [`Error::AlreadyExists`]; use [`Netlink::replace_route`] for "make it so".
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<()> {
        let msg = spec.message(false)?;
        self.socket.change(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("adding route to {}", spec.destination),
        )
    }

    /// Adds or replaces a route (`NLM_F_REPLACE`): idempotent.
    pub async fn replace_route(&self, spec: &RouteSpec) -> Result<()> {
        let msg = spec.message(false)?;
        self.socket.change(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
            &|| format!("replacing route to {}", spec.destination),
        )
    }

    /// Deletes the route matching `spec` (destination, table, and gateway/interface/metric/
    /// protocol when given). A missing route is success.
    pub async fn delete_route(&self, spec: &RouteSpec) -> Result<()> {
        let msg = spec.message(true)?;
        let deleted = self
            .socket
            .change(RouteNetlinkMessage::DelRoute(msg), 0, &|| {
                format!("deleting route to {}", spec.destination)
            });
        match deleted {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Adds or replaces the default route of `gateway`'s family via `gateway` (out of `oif` when
    /// given) in the main table.
    pub async fn replace_default_route(&self, gateway: IpAddr, oif: Option<u32>) -> Result<()> {
        let mut spec = RouteSpec::default_via(gateway);
        spec.oif = oif;
        self.replace_route(&spec).await
    }

    /// The default routes of a family in the main table.
    pub async fn default_routes(&self, family: IpFamily) -> Result<Vec<Route>> {
        let filter = RouteFilter {
            table: Some(TABLE_MAIN),
            family: Some(family),
            ..RouteFilter::default()
        };
        Ok(self
            .routes(&filter)
            .await?
            .into_iter()
            .filter(|r| r.destination.prefix() == 0)
            .collect())
    }

    /// Lists unicast routes matching `filter`.
    pub async fn routes(&self, filter: &RouteFilter) -> Result<Vec<Route>> {
        let mut out = Vec::new();
        let families = match filter.family {
            Some(f) => vec![f],
            None => vec![IpFamily::V4, IpFamily::V6],
        };
        for family in families {
            let msg = match family {
                IpFamily::V4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
                IpFamily::V6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
            };
            let routes = self.dump(
                RouteNetlinkMessage::GetRoute(msg),
                &|| "listing routes".to_owned(),
                |answer| match answer {
                    RouteNetlinkMessage::NewRoute(msg) => Route::from_message(&msg),
                    _ => None,
                },
            )?;
            out.extend(routes.into_iter().filter(|r| {
                filter.table.is_none_or(|t| r.table == t)
                    && filter.oif.is_none_or(|o| r.oif == Some(o))
                    && filter.protocol.is_none_or(|p| r.protocol == p)
            }));
        }
        Ok(out)
    }

    /// Fails with [`Error::NotFound`] unless a route to `destination` (via `gateway`, when given)
    /// exists in the main table (a CHECK helper). `destination` may carry host bits
    /// (`10.22.0.5/16` looks for `10.22.0.0/16`).
    pub async fn expect_route(
        &self,
        destination: IpNetwork,
        gateway: Option<IpAddr>,
    ) -> Result<()> {
        let destination = normalize(destination);
        let family = IpFamily::of(&destination.ip());
        let filter = RouteFilter {
            table: Some(TABLE_MAIN),
            family: Some(family),
            ..RouteFilter::default()
        };
        let found =
            self.routes(&filter).await?.iter().any(|r| {
                r.destination == destination && (gateway.is_none() || r.gateway == gateway)
            });
        if found {
            Ok(())
        } else {
            Err(Error::not_found(match gateway {
                Some(gw) => format!("route to {destination} via {gw}"),
                None => format!("route to {destination}"),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_numbers() {
        for (n, s) in [
            (0u8, RouteScope::Universe),
            (200, RouteScope::Site),
            (253, RouteScope::Link),
            (254, RouteScope::Host),
            (255, RouteScope::Nowhere),
            (42, RouteScope::Other(42)),
        ] {
            assert_eq!(RouteScope::from(n), s);
            assert_eq!(u8::from(s), n);
        }
    }

    #[test]
    fn default_route_spec_follows_the_gateway_family() {
        let v4 = RouteSpec::default_via(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(v4.destination.to_string(), "0.0.0.0/0");
        let v6 = RouteSpec::default_via(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v6.destination.to_string(), "::/0");
    }
}
