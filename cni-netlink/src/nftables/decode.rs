//! Decoding of the kernel's netlink replies: message framing, attributes, and the nf_tables
//! objects read back (rules, chains, sets, set elements, the generation).
//!
//! Every reader is bounds-checked: a truncated or malformed reply yields fewer items, never a panic.

use super::batch::attr;
use super::expr::{Expr, decode_exprs};

/// `NLMSG_ERROR` and `NLMSG_DONE`.
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// One netlink message of a reply buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    /// `nlmsg_type`.
    pub(crate) msg_type: u16,
    /// `nlmsg_seq`.
    pub(crate) seq: u32,
    /// The bytes after the netlink header.
    pub(crate) payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// For `NLMSG_ERROR` and `NLMSG_DONE`: the (negative) errno, 0 for an acknowledgement, and for
    /// an error the sequence number of the request it answers.
    pub(crate) fn error_code(&self) -> Option<(i32, u32)> {
        let code = i32::from_ne_bytes(self.payload.get(0..4)?.try_into().ok()?);
        let seq = self
            .payload
            .get(12..16)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_ne_bytes)
            .unwrap_or(self.seq);
        Some((code, seq))
    }

    /// The attributes of an nf_tables message (after its `nfgenmsg`).
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        Attrs(self.payload.get(NFGENMSG_LEN..).unwrap_or_default())
    }
}

/// Splits a receive buffer into messages.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = rest.get(..NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes(header.get(0..4)?.try_into().ok()?) as usize;
        let msg_type = u16::from_ne_bytes(header.get(4..6)?.try_into().ok()?);
        let seq = u32::from_ne_bytes(header.get(8..12)?.try_into().ok()?);
        if len < NLMSG_HDRLEN {
            return None;
        }
        let payload = rest.get(NLMSG_HDRLEN..len)?;
        rest = rest.get(align(len)..).unwrap_or_default();
        Some(Message {
            msg_type,
            seq,
            payload,
        })
    })
}

/// An iterator over netlink attributes: `(type without flags, payload)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let len = u16::from_ne_bytes(self.0.get(0..2)?.try_into().ok()?) as usize;
        let attr_type = u16::from_ne_bytes(self.0.get(2..4)?.try_into().ok()?) & NLA_TYPE_MASK;
        if len < 4 {
            return None;
        }
        let payload = self.0.get(4..len)?;
        self.0 = self.0.get(align(len)..).unwrap_or_default();
        Some((attr_type, payload))
    }
}

impl<'a> Attrs<'a> {
    /// The payload of the first attribute of this type.
    pub(crate) fn find(self, attr_type: u16) -> Option<&'a [u8]> {
        let mut all = self;
        Iterator::find(&mut all, |(t, _)| *t == attr_type).map(|(_, p)| p)
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The bytes of a string attribute before its NUL terminator.
fn until_nul(payload: &[u8]) -> &[u8] {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    payload.get(..end).unwrap_or_default()
}

/// A string attribute without its NUL terminator.
pub(crate) fn string(payload: &[u8]) -> String {
    String::from_utf8_lossy(until_nul(payload)).into_owned()
}

/// A string attribute without its NUL terminator, borrowed; `None` when it is not UTF-8.
pub(crate) fn str_ref(payload: &[u8]) -> Option<&str> {
    std::str::from_utf8(until_nul(payload)).ok()
}

/// The comment stored in nft userdata (TLV type 0), if any.
pub(crate) fn comment(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while let [kind, len, tail @ ..] = rest {
        let value = tail.get(..usize::from(*len))?;
        if *kind == 0 {
            return Some(string(value));
        }
        rest = tail.get(usize::from(*len)..)?;
    }
    None
}

/// A rule read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleInfo {
    /// The chain it lives in.
    pub(crate) chain: String,
    /// Its handle.
    pub(crate) handle: u64,
    /// Its comment (empty when it has none).
    pub(crate) comment: String,
}

/// Decodes an `NFT_MSG_NEWRULE` message of a dump.
pub(crate) fn rule(msg: &Message<'_>) -> Option<RuleInfo> {
    let attrs = msg.attrs();
    let chain = string(attrs.find(attr::RULE_CHAIN)?);
    let handle = u64::from_be_bytes(attrs.find(attr::RULE_HANDLE)?.try_into().ok()?);
    let comment = attrs
        .find(attr::RULE_USERDATA)
        .and_then(comment)
        .unwrap_or_default();
    Some(RuleInfo {
        chain,
        handle,
        comment,
    })
}

/// The expressions of an `NFT_MSG_NEWRULE` message of a dump.
pub(crate) fn rule_exprs<'a>(msg: &Message<'a>) -> Vec<Expr<'a>> {
    msg.attrs()
        .find(attr::RULE_EXPRESSIONS)
        .map(decode_exprs)
        .unwrap_or_default()
}

/// The name attribute of a chain or set message of a dump.
pub(crate) fn object_name(msg: &Message<'_>, name_attr: u16) -> Option<String> {
    msg.attrs().find(name_attr).map(string)
}

/// A set element read back from the kernel: its key bytes and comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElementInfo {
    /// The key (an address in network byte order).
    pub(crate) key: Vec<u8>,
    /// The comment (empty when it has none).
    pub(crate) comment: String,
}

/// Decodes the elements of an `NFT_MSG_NEWSETELEM` message of a dump.
pub(crate) fn elements(msg: &Message<'_>) -> Vec<ElementInfo> {
    let Some(list) = msg.attrs().find(attr::SET_ELEM_LIST_ELEMENTS) else {
        return Vec::new();
    };
    Attrs(list)
        .filter(|(t, _)| *t == attr::LIST_ELEM)
        .filter_map(|(_, elem)| {
            let elem = Attrs(elem);
            let key = Attrs(elem.find(attr::SET_ELEM_KEY)?).find(attr::DATA_VALUE)?;
            let comment = elem
                .find(attr::SET_ELEM_USERDATA)
                .and_then(comment)
                .unwrap_or_default();
            Some(ElementInfo {
                key: key.to_vec(),
                comment,
            })
        })
        .collect()
}

/// The generation id of an `NFT_MSG_NEWGEN` reply.
pub(crate) fn generation(msg: &Message<'_>) -> Option<u32> {
    let id = msg.attrs().find(attr::GEN_ID)?;
    Some(u32::from_be_bytes(id.try_into().ok()?))
}
