//! The rule shapes of the masquerade table, as nf_tables expressions, and the IP-version
//! specifics (header offsets, address lengths, set key types) they depend on.

use crate::addr::IpFamily;
use crate::nftables::expr::{META_NFPROTO, PAYLOAD_NETWORK_HEADER};
use crate::nftables::{Expr, Verdict};

/// Values compared against `meta nfproto`.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
/// nft's datatype numbers for `ipv4_addr` and `ipv6_addr`, so `nft list` prints the set types.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;

// The nf_tables specifics of each IP version, on the crate's own `IpFamily`.
impl IpFamily {
    /// The `meta nfproto` value of this family.
    fn nfproto(self) -> &'static [u8] {
        match self {
            IpFamily::V4 => &[NFPROTO_IPV4],
            IpFamily::V6 => &[NFPROTO_IPV6],
        }
    }

    /// Address length in bytes.
    pub(crate) fn addr_len(self) -> u32 {
        match self {
            IpFamily::V4 => 4,
            IpFamily::V6 => 16,
        }
    }

    /// Offsets of the source and destination address in the network header.
    fn saddr_offset(self) -> u32 {
        match self {
            IpFamily::V4 => 12,
            IpFamily::V6 => 8,
        }
    }

    fn daddr_offset(self) -> u32 {
        match self {
            IpFamily::V4 => 16,
            IpFamily::V6 => 24,
        }
    }

    /// nft's datatype number of the address type, the key type of address sets.
    pub(crate) fn set_key_type(self) -> u32 {
        match self {
            IpFamily::V4 => TYPE_IPADDR,
            IpFamily::V6 => TYPE_IP6ADDR,
        }
    }

    /// `meta nfproto <family>`.
    fn match_nfproto(self) -> [Expr<'static>; 2] {
        [Expr::Meta(META_NFPROTO), Expr::CmpEq(self.nfproto())]
    }

    /// Loads the address at `offset` of the network header.
    fn load_address(self, offset: u32) -> Expr<'static> {
        Expr::Payload {
            base: PAYLOAD_NETWORK_HEADER,
            offset,
            len: self.addr_len(),
        }
    }
}

/// The rule shapes this module writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuleSpec<'a> {
    /// `meta nfproto F ip[6] saddr @set jump chain`.
    JumpIfSourceInSet {
        /// IP version of the set.
        family: IpFamily,
        /// The set of source addresses.
        set: &'a str,
        /// The set's batch-local id (lets the rule reference a set created in the same batch).
        set_id: u32,
        /// The chain to jump to.
        chain: &'a str,
    },
    /// `meta nfproto F ip[6] daddr <net>/<prefix> return`.
    ReturnIfDestinationIn {
        /// IP version.
        family: IpFamily,
        /// The network address bytes (already masked).
        network: &'a [u8],
        /// The mask bytes (same length as `network`).
        mask: &'a [u8],
    },
    /// `masquerade`.
    Masquerade,
}

impl<'a> RuleSpec<'a> {
    /// The rule's expressions.
    pub(crate) fn exprs(&self) -> Vec<Expr<'a>> {
        let mut out = Vec::with_capacity(6);
        match *self {
            RuleSpec::JumpIfSourceInSet {
                family,
                set,
                set_id,
                chain,
            } => {
                out.extend(family.match_nfproto());
                out.push(family.load_address(family.saddr_offset()));
                out.push(Expr::Lookup { set, set_id });
                out.push(Expr::Verdict(Verdict::Jump(chain)));
            }
            RuleSpec::ReturnIfDestinationIn {
                family,
                network,
                mask,
            } => {
                out.extend(family.match_nfproto());
                if mask.iter().any(|m| *m != 0) {
                    out.push(family.load_address(family.daddr_offset()));
                    if mask.iter().any(|m| *m != 0xff) {
                        out.push(Expr::Mask(mask));
                    }
                    out.push(Expr::CmpEq(network));
                }
                out.push(Expr::Verdict(Verdict::Return));
            }
            RuleSpec::Masquerade => out.push(Expr::Masq),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_rule_loads_the_source_and_looks_it_up() {
        let rule = RuleSpec::JumpIfSourceInSet {
            family: IpFamily::V6,
            set: "pods",
            set_id: 2,
            chain: "net-x",
        };
        assert_eq!(
            rule.exprs(),
            [
                Expr::Meta(META_NFPROTO),
                Expr::CmpEq(&[NFPROTO_IPV6]),
                // The 16-byte IPv6 source at offset 8 of the network header.
                Expr::Payload {
                    base: PAYLOAD_NETWORK_HEADER,
                    offset: 8,
                    len: 16
                },
                Expr::Lookup {
                    set: "pods",
                    set_id: 2
                },
                Expr::Verdict(Verdict::Jump("net-x")),
            ]
        );
    }

    fn kinds(rule: &RuleSpec<'_>) -> Vec<&'static str> {
        rule.exprs()
            .iter()
            .map(|e| match e {
                Expr::Meta(_) => "meta",
                Expr::CmpEq(_) => "cmp",
                Expr::Payload { .. } => "payload",
                Expr::Mask(_) => "bitwise",
                Expr::Lookup { .. } => "lookup",
                Expr::Verdict(_) => "immediate",
                Expr::Masq => "masq",
                Expr::XtComment(_) => "match",
                Expr::Other(_) => "other",
            })
            .collect()
    }

    #[test]
    fn return_rule_uses_bitwise_only_for_partial_masks() {
        let partial = RuleSpec::ReturnIfDestinationIn {
            family: IpFamily::V4,
            network: &[10, 0, 0, 0],
            mask: &[255, 0, 0, 0],
        };
        assert_eq!(
            kinds(&partial),
            ["meta", "cmp", "payload", "bitwise", "cmp", "immediate"]
        );
        assert_eq!(partial.exprs()[3], Expr::Mask(&[255, 0, 0, 0]));
        let host = RuleSpec::ReturnIfDestinationIn {
            family: IpFamily::V4,
            network: &[10, 0, 0, 1],
            mask: &[255; 4],
        };
        assert_eq!(kinds(&host), ["meta", "cmp", "payload", "cmp", "immediate"]);
        let all = RuleSpec::ReturnIfDestinationIn {
            family: IpFamily::V6,
            network: &[0; 16],
            mask: &[0; 16],
        };
        assert_eq!(kinds(&all), ["meta", "cmp", "immediate"]);
        assert_eq!(kinds(&RuleSpec::Masquerade), ["masq"]);
    }
}
