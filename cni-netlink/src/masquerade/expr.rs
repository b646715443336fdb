//! The expressions of the few rule shapes the masquerade module writes, and the IP-version
//! specifics (header offsets, address lengths, set key types) they depend on.

use super::nft::{attr, nest_end, nest_start, put_attr, put_str};

/// Values compared against `meta nfproto`.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
/// Verdict codes (`enum nft_verdicts`).
const NFT_JUMP: i32 = -3;
const NFT_RETURN: i32 = -5;
/// Registers: the verdict register and the first 16-byte data register.
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
/// `NFT_META_NFPROTO`, `NFT_PAYLOAD_NETWORK_HEADER`, `NFT_CMP_EQ`.
const NFT_META_NFPROTO: u32 = 15;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_CMP_EQ: u32 = 0;
/// nft's datatype numbers for `ipv4_addr` and `ipv6_addr`, so `nft list` prints the set types.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;

/// The IP version a rule or set is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4: 4-byte addresses.
    V4,
    /// IPv6: 16-byte addresses.
    V6,
}

impl Family {
    /// The `meta nfproto` value of this family.
    fn nfproto(self) -> u8 {
        match self {
            Family::V4 => NFPROTO_IPV4,
            Family::V6 => NFPROTO_IPV6,
        }
    }

    /// Address length in bytes.
    pub(crate) fn addr_len(self) -> u32 {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// Offsets of the source and destination address in the network header.
    fn saddr_offset(self) -> u32 {
        match self {
            Family::V4 => 12,
            Family::V6 => 8,
        }
    }

    fn daddr_offset(self) -> u32 {
        match self {
            Family::V4 => 16,
            Family::V6 => 24,
        }
    }

    /// nft's datatype number of the address type, the key type of address sets.
    pub(crate) fn set_key_type(self) -> u32 {
        match self {
            Family::V4 => TYPE_IPADDR,
            Family::V6 => TYPE_IP6ADDR,
        }
    }
}

/// The rule shapes this module writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuleSpec<'a> {
    /// `meta nfproto F ip[6] saddr @set jump chain`.
    JumpIfSourceInSet {
        /// IP version of the set.
        family: Family,
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
        family: Family,
        /// The network address bytes (already masked).
        network: &'a [u8],
        /// The mask bytes (same length as `network`).
        mask: &'a [u8],
    },
    /// `masquerade`.
    Masquerade,
}

/// Appends the expressions of `rule` to a rule's expression list.
pub(crate) fn encode_rule(b: &mut Vec<u8>, rule: &RuleSpec<'_>) {
    match rule {
        RuleSpec::JumpIfSourceInSet {
            family,
            set,
            set_id,
            chain,
        } => {
            match_nfproto(b, *family);
            load_address(b, *family, family.saddr_offset());
            expr(b, "lookup", |b| {
                put_str(b, 1, set); // NFTA_LOOKUP_SET
                put_attr(b, 2, &NFT_REG_1.to_be_bytes()); // NFTA_LOOKUP_SREG
                put_attr(b, 4, &set_id.to_be_bytes()); // NFTA_LOOKUP_SET_ID
            });
            verdict(b, NFT_JUMP, Some(chain));
        }
        RuleSpec::ReturnIfDestinationIn {
            family,
            network,
            mask,
        } => {
            match_nfproto(b, *family);
            if mask.iter().any(|m| *m != 0) {
                load_address(b, *family, family.daddr_offset());
                if mask.iter().any(|m| *m != 0xff) {
                    expr(b, "bitwise", |b| {
                        put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_BITWISE_SREG
                        put_attr(b, 2, &NFT_REG_1.to_be_bytes()); // NFTA_BITWISE_DREG
                        put_attr(b, 3, &family.addr_len().to_be_bytes()); // NFTA_BITWISE_LEN
                        let m = nest_start(b, 4); // NFTA_BITWISE_MASK
                        put_attr(b, attr::DATA_VALUE, mask);
                        nest_end(b, m);
                        let x = nest_start(b, 5); // NFTA_BITWISE_XOR
                        put_attr(b, attr::DATA_VALUE, &vec![0u8; mask.len()]);
                        nest_end(b, x);
                    });
                }
                cmp_eq(b, network);
            }
            verdict(b, NFT_RETURN, None);
        }
        RuleSpec::Masquerade => expr(b, "masq", |_| {}),
    }
}

fn match_nfproto(b: &mut Vec<u8>, family: Family) {
    expr(b, "meta", |b| {
        put_attr(b, 2, &NFT_META_NFPROTO.to_be_bytes()); // NFTA_META_KEY
        put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_META_DREG
    });
    cmp_eq(b, &[family.nfproto()]);
}

fn load_address(b: &mut Vec<u8>, family: Family, offset: u32) {
    expr(b, "payload", |b| {
        put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_PAYLOAD_DREG
        put_attr(b, 2, &NFT_PAYLOAD_NETWORK_HEADER.to_be_bytes()); // NFTA_PAYLOAD_BASE
        put_attr(b, 3, &offset.to_be_bytes()); // NFTA_PAYLOAD_OFFSET
        put_attr(b, 4, &family.addr_len().to_be_bytes()); // NFTA_PAYLOAD_LEN
    });
}

fn cmp_eq(b: &mut Vec<u8>, data: &[u8]) {
    expr(b, "cmp", |b| {
        put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_CMP_SREG
        put_attr(b, 2, &NFT_CMP_EQ.to_be_bytes()); // NFTA_CMP_OP
        let d = nest_start(b, 3); // NFTA_CMP_DATA
        put_attr(b, attr::DATA_VALUE, data);
        nest_end(b, d);
    });
}

fn verdict(b: &mut Vec<u8>, code: i32, chain: Option<&str>) {
    expr(b, "immediate", |b| {
        put_attr(b, 1, &NFT_REG_VERDICT.to_be_bytes()); // NFTA_IMMEDIATE_DREG
        let data = nest_start(b, 2); // NFTA_IMMEDIATE_DATA
        let v = nest_start(b, attr::DATA_VERDICT);
        put_attr(b, attr::VERDICT_CODE, &code.to_be_bytes());
        if let Some(chain) = chain {
            put_str(b, attr::VERDICT_CHAIN, chain);
        }
        nest_end(b, v);
        nest_end(b, data);
    });
}

fn expr(b: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    let elem = nest_start(b, attr::LIST_ELEM);
    put_str(b, attr::EXPR_NAME, name);
    let d = nest_start(b, attr::EXPR_DATA);
    data(b);
    nest_end(b, d);
    nest_end(b, elem);
}
