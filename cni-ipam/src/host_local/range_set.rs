//! A range set: the pool one address is taken from (Go's `RangeSet`).

use std::fmt;
use std::net::IpAddr;

use crate::error::{IpamError, Result};
use crate::host_local::range::{Range, RangeConf};
use crate::ip::{canonical_ip, same_family};

/// A non-empty list of non-overlapping ranges of one address family; one address is allocated
/// from each range set on ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// The first range (also `ranges[0]`), kept apart so reading it cannot fail.
    head: Range,
    ranges: Vec<Range>,
}

impl RangeSet {
    /// Canonicalises every range and checks the set: not empty (`empty range set`), one family
    /// (`mixed address families`), no overlap (`subnets A and B overlap`). Errors are code 7.
    pub fn canonicalize(confs: &[RangeConf]) -> Result<RangeSet> {
        let ranges = confs
            .iter()
            .map(Range::canonicalize)
            .collect::<Result<Vec<_>>>()?;
        let first = *ranges
            .first()
            .ok_or_else(|| IpamError::config("empty range set"))?;
        if ranges
            .iter()
            .any(|r| !same_family(r.range_start, first.range_start))
        {
            return Err(IpamError::config("mixed address families"));
        }
        for (i, a) in ranges.iter().enumerate() {
            for b in ranges.iter().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(IpamError::config(format!("subnets {a} and {b} overlap")));
                }
            }
        }
        Ok(RangeSet {
            head: first,
            ranges,
        })
    }

    /// The ranges, in configuration order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// The first range (a set is never empty).
    pub fn first(&self) -> &Range {
        &self.head
    }

    /// Whether the set is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.first().range_start.is_ipv4()
    }

    /// The range holding `ip`, if any.
    pub fn range_for(&self, ip: IpAddr) -> Option<&Range> {
        let ip = canonical_ip(ip);
        self.ranges.iter().find(|r| r.contains(ip))
    }

    /// Whether some range of the set holds `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.range_for(ip).is_some()
    }

    /// Whether any range of `self` overlaps any range of `other`.
    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.ranges
            .iter()
            .any(|a| other.ranges.iter().any(|b| a.overlaps(b)))
    }

    /// How many addresses the set can hand out (reserved addresses excluded), saturating.
    pub fn capacity(&self) -> u128 {
        self.ranges.iter().fold(0u128, |acc, r| {
            let mut reserved = vec![r.gateway, r.subnet.network()];
            if r.subnet.is_ipv4() {
                reserved.push(crate::ip::last_addr(&r.subnet));
            }
            reserved.sort();
            reserved.dedup();
            let inside = reserved.iter().filter(|ip| r.contains(**ip)).count() as u128;
            acc.saturating_add(span(r.range_start, r.range_end).saturating_sub(inside))
        })
    }
}

/// The number of addresses from `a` to `b` inclusive (same family, `a <= b`), saturating.
fn span(a: IpAddr, b: IpAddr) -> u128 {
    let n = |ip: IpAddr| match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    };
    n(b).saturating_sub(n(a)).saturating_add(1)
}

impl fmt::Display for RangeSet {
    /// `start-end,start-end`, as Go prints a set in its error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(subnet: &str, start: Option<&str>, end: Option<&str>) -> RangeConf {
        RangeConf {
            subnet: Some(subnet.into()),
            range_start: start.map(Into::into),
            range_end: end.map(Into::into),
            gateway: None,
        }
    }

    // Go range_set_test.go: membership.
    #[test]
    fn membership() {
        let set = RangeSet::canonicalize(&[
            rc("192.168.0.0/24", None, None),
            rc("172.16.1.0/24", None, None),
        ])
        .unwrap();
        assert!(set.contains("192.168.0.55".parse().unwrap()));
        assert!(set.contains("172.16.1.99".parse().unwrap()));
        assert!(!set.contains("192.168.1.55".parse().unwrap()));
        assert!(!set.contains("2001:db8::1".parse().unwrap()));
        assert_eq!(
            set.to_string(),
            "192.168.0.1-192.168.0.254,172.16.1.1-172.16.1.254"
        );
        assert!(set.is_ipv4());
    }

    // Go range_set_test.go: overlap within a set and across sets.
    #[test]
    fn overlap_within_and_across() {
        let e = RangeSet::canonicalize(&[
            rc("192.168.0.0/20", None, None),
            rc("192.168.2.0/24", None, None),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "subnets 192.168.0.1-192.168.15.254 and 192.168.2.1-192.168.2.254 overlap"
        );
        assert_eq!(e.code(), 7);
        let a = RangeSet::canonicalize(&[rc("192.168.0.0/20", None, None)]).unwrap();
        let b = RangeSet::canonicalize(&[
            rc("10.0.0.0/24", None, None),
            rc("192.168.5.0/24", None, None),
        ])
        .unwrap();
        let c = RangeSet::canonicalize(&[rc("10.1.0.0/24", None, None)]).unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn empty_and_mixed_rejected() {
        assert_eq!(
            RangeSet::canonicalize(&[]).unwrap_err().to_string(),
            "empty range set"
        );
        let e = RangeSet::canonicalize(&[
            rc("10.0.0.0/24", None, None),
            rc("2001:db8::/64", None, None),
        ])
        .unwrap_err();
        assert_eq!(e.to_string(), "mixed address families");
    }

    #[test]
    fn capacity_excludes_reserved() {
        // /29: .1 (gw) .. .6 -> 5 usable.
        let set = RangeSet::canonicalize(&[rc("10.0.0.0/29", None, None)]).unwrap();
        assert_eq!(set.capacity(), 5);
        // Explicit start at the network address and end at broadcast: still 5.
        let set = RangeSet::canonicalize(&[rc("10.0.0.0/29", Some("10.0.0.0"), Some("10.0.0.7"))])
            .unwrap();
        assert_eq!(set.capacity(), 5);
        let set =
            RangeSet::canonicalize(&[rc("10.0.0.0/30", None, None), rc("10.0.1.0/30", None, None)])
                .unwrap();
        assert_eq!(set.capacity(), 2);
    }
}
