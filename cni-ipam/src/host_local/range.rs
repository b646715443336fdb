//! One allocation range (`subnet`, `rangeStart`, `rangeEnd`, `gateway`) and its
//! canonicalisation, exactly as Go host-local's `range.go` does it, plus a stricter gateway
//! check (the gateway must lie inside the subnet).

use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::error::{IpamError, Result};
use crate::ip::{last_addr, network_addr, next_ip, parse_cidr, parse_ip, same_family};

/// A range as written in the configuration (strings, not yet checked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeConf {
    /// The subnet in CIDR notation (required); host bits must be clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The first address handed out (inclusive); defaults to the network address + 1.
    #[serde(
        rename = "rangeStart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub range_start: Option<String>,
    /// The last address handed out (inclusive); defaults to the last address of the subnet,
    /// minus one for IPv4 (the broadcast address).
    #[serde(rename = "rangeEnd", default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// The gateway returned with addresses of this range; defaults to the network address + 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// A canonical range: every field is set and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The subnet (network address and prefix).
    pub subnet: IpNetwork,
    /// The first address of the range (inclusive).
    pub range_start: IpAddr,
    /// The last address of the range (inclusive).
    pub range_end: IpAddr,
    /// The gateway; never handed out.
    pub gateway: IpAddr,
}

/// Treats `""` like an absent field, as Go's `net.IP` decoding does.
fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// Whether `ip` is in `subnet` and within the optional bounds (Go's `Range.Contains` while the
/// range is still being canonicalised).
fn in_bounds(subnet: &IpNetwork, start: Option<IpAddr>, end: Option<IpAddr>, ip: IpAddr) -> bool {
    same_family(subnet.ip(), ip)
        && subnet.contains(ip)
        && start.is_none_or(|s| ip >= s)
        && end.is_none_or(|e| ip <= e)
}

impl Range {
    /// Checks `conf` and fills in the defaults.
    ///
    /// Errors (all code 7), worded like Go's: a missing or unparsable subnet, `Network … too
    /// small to allocate from` (/31, /32, /127, /128), `Network has host bits set…`,
    /// `RangeStart … not in network …`, `RangeEnd … not in network …`, and (stricter than Go)
    /// `gateway … not in network …`.
    pub fn canonicalize(conf: &RangeConf) -> Result<Range> {
        let subnet_str =
            present(&conf.subnet).ok_or_else(|| IpamError::config("range has no subnet"))?;
        let raw = parse_cidr(subnet_str)?;
        let bits = if raw.is_ipv4() { 32 } else { 128 };
        if raw.prefix() > bits - 2 {
            return Err(IpamError::config(format!(
                "Network {raw} too small to allocate from"
            )));
        }
        let network = network_addr(&raw);
        if raw.ip() != network {
            return Err(IpamError::config(format!(
                "Network has host bits set. For a subnet mask of length {} the network address is {network}",
                raw.prefix()
            )));
        }
        let subnet = IpNetwork::new(network, raw.prefix())
            .map_err(|e| IpamError::config(format!("invalid subnet {raw}: {e}")))?;

        let gateway = match present(&conf.gateway) {
            Some(g) => {
                let g = parse_ip(g)?;
                if !in_bounds(&subnet, None, None, g) {
                    return Err(IpamError::config(format!(
                        "gateway {g} not in network {subnet}"
                    )));
                }
                g
            }
            None => next_ip(network),
        };
        let start_opt = present(&conf.range_start).map(parse_ip).transpose()?;
        let end_opt = present(&conf.range_end).map(parse_ip).transpose()?;

        let range_start = match start_opt {
            Some(s) => {
                if !in_bounds(&subnet, None, end_opt, s) {
                    return Err(IpamError::config(format!(
                        "RangeStart {s} not in network {subnet}"
                    )));
                }
                s
            }
            None => next_ip(network),
        };
        let range_end = match end_opt {
            Some(e) => {
                if !in_bounds(&subnet, Some(range_start), None, e) {
                    return Err(IpamError::config(format!(
                        "RangeEnd {e} not in network {subnet}"
                    )));
                }
                e
            }
            None => default_end(&subnet),
        };
        Ok(Range {
            subnet,
            range_start,
            range_end,
            gateway,
        })
    }

    /// Whether `ip` lies in the subnet and between `range_start` and `range_end`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        in_bounds(
            &self.subnet,
            Some(self.range_start),
            Some(self.range_end),
            crate::ip::canonical_ip(ip),
        )
    }

    /// Whether the two ranges share an address (same family, and one holds the other's start
    /// or end).
    pub fn overlaps(&self, other: &Range) -> bool {
        same_family(self.range_start, other.range_start)
            && (self.contains(other.range_start)
                || self.contains(other.range_end)
                || other.contains(self.range_start)
                || other.contains(self.range_end))
    }

    /// Whether `ip` must never be handed out: the gateway, the network address, and for IPv4
    /// the broadcast address. (Go skips only the gateway; the other two can only be reached
    /// with an explicit `rangeStart`/`rangeEnd` on them.)
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        ip == self.gateway
            || ip == self.subnet.network()
            || (ip.is_ipv4() && ip == last_addr(&self.subnet))
    }

    /// The prefix length of addresses from this range.
    pub fn prefix(&self) -> u8 {
        self.subnet.prefix()
    }
}

/// The default last address: the subnet's last, minus one for IPv4 (broadcast).
fn default_end(subnet: &IpNetwork) -> IpAddr {
    match last_addr(subnet) {
        IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4).wrapping_sub(1))),
        v6 => v6,
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.range_start, self.range_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(subnet: &str, start: Option<&str>, end: Option<&str>, gw: Option<&str>) -> RangeConf {
        RangeConf {
            subnet: Some(subnet.into()),
            range_start: start.map(Into::into),
            range_end: end.map(Into::into),
            gateway: gw.map(Into::into),
        }
    }

    fn canon(
        subnet: &str,
        start: Option<&str>,
        end: Option<&str>,
        gw: Option<&str>,
    ) -> Result<Range> {
        Range::canonicalize(&conf(subnet, start, end, gw))
    }

    fn msg(r: Result<Range>) -> String {
        match r {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => {
                assert_eq!(e.code(), 7);
                e.to_string()
            }
        }
    }

    // Go range_test.go: defaults.
    #[test]
    fn v4_defaults() {
        let r = canon("192.0.2.0/24", None, None, None).unwrap();
        assert_eq!(r.range_start.to_string(), "192.0.2.1");
        assert_eq!(r.range_end.to_string(), "192.0.2.254");
        assert_eq!(r.gateway.to_string(), "192.0.2.1");
        assert_eq!(r.subnet.to_string(), "192.0.2.0/24");
        let r = canon("192.0.2.0/25", None, None, None).unwrap();
        assert_eq!(r.range_end.to_string(), "192.0.2.126");
    }

    #[test]
    fn v6_defaults() {
        let r = canon("2001:db8:1::/64", None, None, None).unwrap();
        assert_eq!(r.range_start.to_string(), "2001:db8:1::1");
        assert_eq!(r.range_end.to_string(), "2001:db8:1:0:ffff:ffff:ffff:ffff");
        assert_eq!(r.gateway.to_string(), "2001:db8:1::1");
    }

    #[test]
    fn too_small() {
        for s in [
            "192.0.2.0/31",
            "192.0.2.0/32",
            "2001:db8::/127",
            "2001:db8::/128",
        ] {
            assert!(
                msg(canon(s, None, None, None)).contains("too small to allocate from"),
                "{s}"
            );
        }
        assert_eq!(
            msg(canon("192.0.2.0/31", None, None, None)),
            "Network 192.0.2.0/31 too small to allocate from"
        );
    }

    #[test]
    fn host_bits_set() {
        assert_eq!(
            msg(canon("192.0.2.5/24", None, None, None)),
            "Network has host bits set. For a subnet mask of length 24 the network address is 192.0.2.0"
        );
    }

    #[test]
    fn bad_cidrs() {
        for s in [
            "192.0.2.0/33",
            "192.0.2.0",
            "garbage",
            "",
            "10.0.0.256/24",
            "2001:db8::/129",
        ] {
            let e = canon(s, None, None, None).unwrap_err();
            assert_eq!(e.code(), 7, "{s}");
        }
    }

    #[test]
    fn start_end_checks() {
        assert_eq!(
            msg(canon("192.0.2.0/24", Some("192.0.3.0"), None, None)),
            "RangeStart 192.0.3.0 not in network 192.0.2.0/24"
        );
        assert_eq!(
            msg(canon("192.0.2.0/24", None, Some("192.0.4.0"), None)),
            "RangeEnd 192.0.4.0 not in network 192.0.2.0/24"
        );
        // start > end reports the start, like Go.
        assert!(
            msg(canon(
                "192.0.2.0/24",
                Some("192.0.2.50"),
                Some("192.0.2.40"),
                None
            ))
            .starts_with("RangeStart 192.0.2.50")
        );
        // Wrong family.
        assert!(
            msg(canon("192.0.2.0/24", Some("2001:db8::1"), None, None)).starts_with("RangeStart")
        );
        // Garbage address.
        assert_eq!(
            canon("192.0.2.0/24", Some("x"), None, None)
                .unwrap_err()
                .code(),
            7
        );
    }

    #[test]
    fn explicit_fields_kept() {
        let r = canon(
            "192.0.2.0/24",
            Some("192.0.2.9"),
            Some("192.0.2.20"),
            Some("192.0.2.30"),
        )
        .unwrap();
        assert_eq!(r.to_string(), "192.0.2.9-192.0.2.20");
        assert_eq!(r.gateway.to_string(), "192.0.2.30");
        // Empty strings mean "unset", like Go.
        let r = canon("192.0.2.0/24", Some(""), Some(""), Some("")).unwrap();
        assert_eq!(r.to_string(), "192.0.2.1-192.0.2.254");
    }

    #[test]
    fn gateway_outside_subnet_rejected() {
        assert_eq!(
            msg(canon("192.0.2.0/24", None, None, Some("10.0.0.1"))),
            "gateway 10.0.0.1 not in network 192.0.2.0/24"
        );
        assert!(msg(canon("192.0.2.0/24", None, None, Some("2001:db8::1"))).starts_with("gateway"));
    }

    // Go range_test.go: Contains.
    #[test]
    fn contains_v4_v6() {
        let r = canon("192.0.2.0/24", None, None, None).unwrap();
        assert!(!r.contains("192.0.2.0".parse().unwrap()));
        assert!(r.contains("192.0.2.1".parse().unwrap()));
        assert!(r.contains("192.0.2.254".parse().unwrap()));
        assert!(!r.contains("192.0.2.255".parse().unwrap()));
        assert!(!r.contains("192.0.3.1".parse().unwrap()));
        assert!(!r.contains("2001:db8::1".parse().unwrap()));
        assert!(r.contains("::ffff:192.0.2.7".parse().unwrap()));
        let r = canon("2001:db8:1::/64", None, None, None).unwrap();
        assert!(r.contains("2001:db8:1::2".parse().unwrap()));
        assert!(!r.contains("2001:db8:2::2".parse().unwrap()));
        assert!(!r.contains("192.0.2.1".parse().unwrap()));
    }

    // Go range_test.go: the overlap table.
    #[test]
    fn overlap_table() {
        let r = |s: &str, a: Option<&str>, b: Option<&str>| canon(s, a, b, None).unwrap();
        let cases = [
            (
                r("10.0.0.0/24", None, None),
                r("10.0.1.0/24", None, None),
                false,
            ),
            (
                r("10.0.0.0/24", None, None),
                r("2001:db8::/64", None, None),
                false,
            ),
            (
                r("10.0.0.0/24", None, None),
                r("10.0.0.0/24", None, None),
                true,
            ),
            (
                r("10.0.0.0/20", None, None),
                r("10.0.5.0/24", None, None),
                true,
            ),
            (
                r("10.0.0.0/24", None, Some("10.0.0.127")),
                r("10.0.0.0/24", Some("10.0.0.128"), None),
                false,
            ),
            (
                r("10.0.0.0/24", None, Some("10.0.0.127")),
                r("10.0.0.0/24", Some("10.0.0.127"), None),
                true,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.overlaps(&b), want, "{a} vs {b}");
            assert_eq!(b.overlaps(&a), want, "{b} vs {a}");
        }
    }

    #[test]
    fn reserved_addresses() {
        let r = canon(
            "10.0.0.0/24",
            Some("10.0.0.0"),
            Some("10.0.0.255"),
            Some("10.0.0.9"),
        )
        .unwrap();
        for ip in ["10.0.0.0", "10.0.0.255", "10.0.0.9"] {
            assert!(r.is_reserved(ip.parse().unwrap()), "{ip}");
        }
        assert!(!r.is_reserved("10.0.0.1".parse().unwrap()));
        let r = canon("2001:db8::/64", None, None, None).unwrap();
        assert!(!r.is_reserved(r.range_end));
    }
}
