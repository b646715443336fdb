//! Pieces shared by the result formats: routes and DNS.

use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::net::{cidr, null_default, opt_ip};

/// A route in a result (and in IPAM configs): `{"dst", "gw", "mtu", "advmss", "priority", "table",
/// "scope"}`; only `dst` is required.
///
/// `mtu`, `advmss`, `priority`, `table` and `scope` came with spec 1.1.0; like the reference, they
/// are carried through every format from 0.3.0 on and dropped only when converting to 0.1.0/0.2.0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    /// Destination network; host bits are kept as written.
    #[serde(with = "cidr")]
    pub dst: IpNetwork,
    /// Next hop; when absent the runtime may use the gateway of the matching `ips` entry.
    #[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Route MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Advertised maximum segment size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Route priority (metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Scope: 0 global, 253 link, 254 host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

impl Route {
    /// A route to `dst`, optionally via `gw`, with no other attributes.
    pub fn new(dst: IpNetwork, gw: Option<IpAddr>) -> Self {
        Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }

    /// The same route with only `dst` and `gw` (what 0.1.0/0.2.0 results can carry).
    pub fn dst_gw_only(&self) -> Self {
        Route::new(self.dst, self.gw)
    }
}

impl fmt::Display for Route {
    /// The reference's `Route.String()` form:
    /// `{Dst:… GW:… MTU:… AdvMSS:… Priority:… Table:… Scope:…}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref()
                .map_or_else(|| "<nil>".to_owned(), ToString::to_string)
        }
        write!(
            f,
            "{{Dst:{} GW:{} MTU:{} AdvMSS:{} Priority:{} Table:{} Scope:{}}}",
            self.dst,
            opt(&self.gw),
            self.mtu.unwrap_or(0),
            self.advmss.unwrap_or(0),
            self.priority.unwrap_or(0),
            opt(&self.table),
            opt(&self.scope)
        )
    }
}

/// DNS settings: `{"nameservers", "domain", "search", "options"}`, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers, in priority order.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub nameservers: Vec<String>,
    /// The local domain used for short host name lookups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains, in priority order.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub options: Vec<String>,
}

impl Dns {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.as_deref().unwrap_or_default().is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}
