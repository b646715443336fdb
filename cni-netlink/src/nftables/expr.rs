//! The nf_tables expressions our rules are made of, written into a rule and read back from the
//! kernel's dumps with the same type.
//!
//! Every load goes to register 1 and every compare reads it, as nft does for these simple rules;
//! a verdict goes to the verdict register. Decoding is bounds-checked and borrows from the
//! message: an expression this module does not know, or a form it does not write (another
//! register, another compare operator), comes back as [`Expr::Other`].

use super::batch::{attr, nest_end, nest_start, put_attr, put_str};
use super::decode::{Attrs, str_ref};

/// Verdict codes (`NF_DROP`, `NF_ACCEPT`, `enum nft_verdicts`).
const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_JUMP: i32 = -3;
const NFT_RETURN: i32 = -5;
/// Registers: the verdict register and the first 16-byte data register.
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
/// `NFT_CMP_EQ`.
const NFT_CMP_EQ: u32 = 0;

/// `meta` keys (`enum nft_meta_keys`).
pub(crate) const META_IIFNAME: u32 = 6;
pub(crate) const META_NFPROTO: u32 = 15;
/// `payload` bases (`enum nft_payload_bases`).
pub(crate) const PAYLOAD_LINK_HEADER: u32 = 0;
pub(crate) const PAYLOAD_NETWORK_HEADER: u32 = 1;

/// One expression of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expr<'a> {
    /// `meta load <key> => reg 1`.
    Meta(u32),
    /// `payload load <len>b @ <base> header + <offset> => reg 1`.
    Payload {
        /// `PAYLOAD_*`.
        base: u32,
        /// Byte offset in that header.
        offset: u32,
        /// Bytes loaded.
        len: u32,
    },
    /// `cmp eq reg 1 <data>`.
    CmpEq(&'a [u8]),
    /// `bitwise reg 1 = (reg 1 & <mask>) ^ 0`.
    Mask(&'a [u8]),
    /// `lookup reg 1 set <set>`; `set_id` names a set created in the same batch (0 when read
    /// back).
    Lookup {
        /// The set name.
        set: &'a str,
        /// The batch-local set id.
        set_id: u32,
    },
    /// `immediate reg 0 <verdict>`.
    Verdict(Verdict<'a>),
    /// `masq`.
    Masq,
    /// An x_tables `comment` match (how iptables-nft stores `-m comment --comment <text>`):
    /// the text (decoding only).
    XtComment(&'a str),
    /// Anything else, by expression name (decoding only).
    Other(&'a str),
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict<'a> {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump <chain>`.
    Jump(&'a str),
}

impl Verdict<'_> {
    fn code(&self) -> i32 {
        match self {
            Verdict::Accept => NF_ACCEPT,
            Verdict::Drop => NF_DROP,
            Verdict::Return => NFT_RETURN,
            Verdict::Jump(_) => NFT_JUMP,
        }
    }
}

/// Appends `exprs` to a rule's expression list.
pub(crate) fn encode_exprs(b: &mut Vec<u8>, exprs: &[Expr<'_>]) {
    for e in exprs {
        encode(b, e);
    }
}

fn encode(b: &mut Vec<u8>, e: &Expr<'_>) {
    match *e {
        Expr::Meta(key) => expr(b, "meta", |b| {
            put_attr(b, 2, &key.to_be_bytes()); // NFTA_META_KEY
            put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_META_DREG
        }),
        Expr::Payload { base, offset, len } => expr(b, "payload", |b| {
            put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_PAYLOAD_DREG
            put_attr(b, 2, &base.to_be_bytes()); // NFTA_PAYLOAD_BASE
            put_attr(b, 3, &offset.to_be_bytes()); // NFTA_PAYLOAD_OFFSET
            put_attr(b, 4, &len.to_be_bytes()); // NFTA_PAYLOAD_LEN
        }),
        Expr::CmpEq(data) => expr(b, "cmp", |b| {
            put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_CMP_SREG
            put_attr(b, 2, &NFT_CMP_EQ.to_be_bytes()); // NFTA_CMP_OP
            let d = nest_start(b, 3); // NFTA_CMP_DATA
            put_attr(b, attr::DATA_VALUE, data);
            nest_end(b, d);
        }),
        Expr::Mask(mask) => expr(b, "bitwise", |b| {
            let len = u32::try_from(mask.len()).unwrap_or(u32::MAX);
            put_attr(b, 1, &NFT_REG_1.to_be_bytes()); // NFTA_BITWISE_SREG
            put_attr(b, 2, &NFT_REG_1.to_be_bytes()); // NFTA_BITWISE_DREG
            put_attr(b, 3, &len.to_be_bytes()); // NFTA_BITWISE_LEN
            let m = nest_start(b, 4); // NFTA_BITWISE_MASK
            put_attr(b, attr::DATA_VALUE, mask);
            nest_end(b, m);
            let x = nest_start(b, 5); // NFTA_BITWISE_XOR
            put_attr(b, attr::DATA_VALUE, &vec![0u8; mask.len()]);
            nest_end(b, x);
        }),
        Expr::Lookup { set, set_id } => expr(b, "lookup", |b| {
            put_str(b, 1, set); // NFTA_LOOKUP_SET
            put_attr(b, 2, &NFT_REG_1.to_be_bytes()); // NFTA_LOOKUP_SREG
            put_attr(b, 4, &set_id.to_be_bytes()); // NFTA_LOOKUP_SET_ID
        }),
        Expr::Verdict(v) => expr(b, "immediate", |b| {
            put_attr(b, 1, &NFT_REG_VERDICT.to_be_bytes()); // NFTA_IMMEDIATE_DREG
            let data = nest_start(b, 2); // NFTA_IMMEDIATE_DATA
            let verdict = nest_start(b, attr::DATA_VERDICT);
            put_attr(b, attr::VERDICT_CODE, &v.code().to_be_bytes());
            if let Verdict::Jump(chain) = v {
                put_str(b, attr::VERDICT_CHAIN, chain);
            }
            nest_end(b, verdict);
            nest_end(b, data);
        }),
        Expr::Masq => expr(b, "masq", |_| {}),
        // Never written: iptables' and unknown expressions have no encoding here.
        Expr::XtComment(_) | Expr::Other(_) => {}
    }
}

fn expr(b: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    let elem = nest_start(b, attr::LIST_ELEM);
    put_str(b, attr::EXPR_NAME, name);
    let d = nest_start(b, attr::EXPR_DATA);
    data(b);
    nest_end(b, d);
    nest_end(b, elem);
}

/// Decodes a rule's `NFTA_RULE_EXPRESSIONS` list.
pub(crate) fn decode_exprs(list: &[u8]) -> Vec<Expr<'_>> {
    Attrs(list)
        .filter(|(t, _)| *t == attr::LIST_ELEM)
        .map(|(_, elem)| {
            let elem = Attrs(elem);
            let name = elem.find(attr::EXPR_NAME).and_then(str_ref).unwrap_or("");
            let data = Attrs(elem.find(attr::EXPR_DATA).unwrap_or_default());
            decode(name, data).unwrap_or(Expr::Other(name))
        })
        .collect()
}

fn be32(payload: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(payload.try_into().ok()?))
}

/// The value of a nested `NFTA_DATA_VALUE`.
fn value(nested: &[u8]) -> Option<&[u8]> {
    Attrs(nested).find(attr::DATA_VALUE)
}

fn decode<'a>(name: &'a str, d: Attrs<'a>) -> Option<Expr<'a>> {
    let reg = |t: u16, want: u32| d.find(t).and_then(be32) == Some(want);
    Some(match name {
        "meta" if reg(1, NFT_REG_1) => Expr::Meta(be32(d.find(2)?)?),
        "payload" if reg(1, NFT_REG_1) => Expr::Payload {
            base: be32(d.find(2)?)?,
            offset: be32(d.find(3)?)?,
            len: be32(d.find(4)?)?,
        },
        "cmp" if reg(1, NFT_REG_1) && reg(2, NFT_CMP_EQ) => Expr::CmpEq(value(d.find(3)?)?),
        "bitwise" if reg(1, NFT_REG_1) && reg(2, NFT_REG_1) => {
            let xor = value(d.find(5)?)?;
            if xor.iter().any(|x| *x != 0) {
                return None;
            }
            Expr::Mask(value(d.find(4)?)?)
        }
        "lookup" if reg(2, NFT_REG_1) && d.find(3).is_none() => Expr::Lookup {
            set: str_ref(d.find(1)?)?,
            set_id: d.find(4).and_then(be32).unwrap_or(0),
        },
        "immediate" if reg(1, NFT_REG_VERDICT) => {
            let verdict = Attrs(Attrs(d.find(2)?).find(attr::DATA_VERDICT)?);
            let code = i32::from_be_bytes(verdict.find(attr::VERDICT_CODE)?.try_into().ok()?);
            Expr::Verdict(match code {
                NF_ACCEPT => Verdict::Accept,
                NF_DROP => Verdict::Drop,
                NFT_RETURN => Verdict::Return,
                NFT_JUMP => Verdict::Jump(str_ref(verdict.find(attr::VERDICT_CHAIN)?)?),
                _ => return None,
            })
        }
        "masq" => Expr::Masq,
        // NFTA_MATCH_NAME, NFTA_MATCH_INFO (struct xt_comment_info: the NUL-padded text).
        "match" if d.find(1).and_then(str_ref) == Some("comment") => {
            Expr::XtComment(str_ref(d.find(3)?)?)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expression_round_trips() {
        let exprs = [
            Expr::Meta(META_IIFNAME),
            Expr::CmpEq(b"veth1234\0\0\0\0\0\0\0\0"),
            Expr::Payload {
                base: PAYLOAD_LINK_HEADER,
                offset: 6,
                len: 6,
            },
            Expr::Mask(&[255, 255, 0, 0]),
            Expr::Lookup {
                set: "pods",
                set_id: 3,
            },
            Expr::Verdict(Verdict::Jump("next")),
            Expr::Verdict(Verdict::Return),
            Expr::Verdict(Verdict::Drop),
            Expr::Verdict(Verdict::Accept),
            Expr::Masq,
        ];
        let mut b = Vec::new();
        encode_exprs(&mut b, &exprs);
        assert_eq!(decode_exprs(&b), exprs);
    }

    #[test]
    fn unknown_or_other_forms_decode_as_other() {
        let mut b = Vec::new();
        expr(&mut b, "counter", |_| {});
        // A compare with another operator (NFT_CMP_NEQ).
        expr(&mut b, "cmp", |b| {
            put_attr(b, 1, &NFT_REG_1.to_be_bytes());
            put_attr(b, 2, &1u32.to_be_bytes());
        });
        assert_eq!(
            decode_exprs(&b),
            [Expr::Other("counter"), Expr::Other("cmp")]
        );
        assert!(decode_exprs(&[0xff, 0xff, 1]).is_empty());
    }

    #[test]
    fn iptables_comment_matches_decode_as_their_text() {
        let mut b = Vec::new();
        let mut info = b"name: \"net\" id: \"c1\"".to_vec();
        info.resize(256, 0);
        for name in ["comment", "conntrack"] {
            expr(&mut b, "match", |b| {
                put_str(b, 1, name); // NFTA_MATCH_NAME
                put_attr(b, 2, &0u32.to_be_bytes()); // NFTA_MATCH_REV
                put_attr(b, 3, &info); // NFTA_MATCH_INFO
            });
        }
        assert_eq!(
            decode_exprs(&b),
            [
                Expr::XtComment(r#"name: "net" id: "c1""#),
                Expr::Other("match")
            ]
        );
    }
}
