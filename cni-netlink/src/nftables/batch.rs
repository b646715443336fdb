//! A small nf_tables message encoder: tables, chains, rules, sets and set elements, as the
//! masquerade and spoof-check modules write them.
//!
//! Netlink headers and attribute headers are in host byte order; the nf_tables integer attributes
//! are big-endian (`NLA_BE32`/`NLA_BE64`), as the kernel's `nf_tables_api.c` expects. Strings carry
//! their terminating NUL, as libnftnl sends them. Nothing here does I/O: a [`Batch`] is a byte
//! buffer that [`super::socket`] sends in one `sendmsg`.

use super::expr::{Expr, encode_exprs};

/// `NFNL_SUBSYS_NFTABLES`: the nf_tables subsystem of nfnetlink.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// Batch delimiters (`NFNL_MSG_BATCH_BEGIN`/`END`).
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
/// `NFNL_BATCH_GENID`: the batch is refused with `ERESTART` unless the ruleset generation matches.
const NFNL_BATCH_GENID: u16 = 1;

/// nf_tables message types (`enum nf_tables_msg_types`).
pub(crate) mod msg {
    pub(crate) const NEWTABLE: u16 = 0;
    pub(crate) const DELTABLE: u16 = 2;
    pub(crate) const NEWCHAIN: u16 = 3;
    pub(crate) const GETCHAIN: u16 = 4;
    pub(crate) const DELCHAIN: u16 = 5;
    pub(crate) const NEWRULE: u16 = 6;
    pub(crate) const GETRULE: u16 = 7;
    pub(crate) const DELRULE: u16 = 8;
    pub(crate) const NEWSET: u16 = 9;
    pub(crate) const GETSET: u16 = 10;
    pub(crate) const DELSET: u16 = 11;
    pub(crate) const NEWSETELEM: u16 = 12;
    pub(crate) const GETSETELEM: u16 = 13;
    pub(crate) const DELSETELEM: u16 = 14;
    pub(crate) const NEWGEN: u16 = 15;
    pub(crate) const GETGEN: u16 = 16;
}

/// Attribute numbers used by the encoder and the decoder.
pub(crate) mod attr {
    pub(crate) const TABLE_NAME: u16 = 1;
    pub(crate) const CHAIN_TABLE: u16 = 1;
    pub(crate) const CHAIN_NAME: u16 = 3;
    pub(crate) const CHAIN_HOOK: u16 = 4;
    pub(crate) const CHAIN_POLICY: u16 = 5;
    pub(crate) const CHAIN_TYPE: u16 = 7;
    pub(crate) const HOOK_HOOKNUM: u16 = 1;
    pub(crate) const HOOK_PRIORITY: u16 = 2;
    pub(crate) const RULE_TABLE: u16 = 1;
    pub(crate) const RULE_CHAIN: u16 = 2;
    pub(crate) const RULE_HANDLE: u16 = 3;
    pub(crate) const RULE_EXPRESSIONS: u16 = 4;
    pub(crate) const RULE_USERDATA: u16 = 7;
    pub(crate) const LIST_ELEM: u16 = 1;
    pub(crate) const EXPR_NAME: u16 = 1;
    pub(crate) const EXPR_DATA: u16 = 2;
    pub(crate) const SET_TABLE: u16 = 1;
    pub(crate) const SET_NAME: u16 = 2;
    pub(crate) const SET_FLAGS: u16 = 3;
    pub(crate) const SET_KEY_TYPE: u16 = 4;
    pub(crate) const SET_KEY_LEN: u16 = 5;
    pub(crate) const SET_ID: u16 = 10;
    pub(crate) const SET_ELEM_LIST_TABLE: u16 = 1;
    pub(crate) const SET_ELEM_LIST_SET: u16 = 2;
    pub(crate) const SET_ELEM_LIST_ELEMENTS: u16 = 3;
    pub(crate) const SET_ELEM_KEY: u16 = 1;
    pub(crate) const SET_ELEM_USERDATA: u16 = 6;
    pub(crate) const DATA_VALUE: u16 = 1;
    pub(crate) const DATA_VERDICT: u16 = 2;
    pub(crate) const VERDICT_CODE: u16 = 1;
    pub(crate) const VERDICT_CHAIN: u16 = 2;
    pub(crate) const GEN_ID: u16 = 1;
}

/// `NLA_F_NESTED`: set on every nested attribute, as libmnl does.
const NLA_F_NESTED: u16 = 0x8000;
/// Netlink header flags.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;

/// `NFPROTO_UNSPEC`: the family of batch delimiters and of the generation request.
const NFPROTO_UNSPEC: u8 = 0;
/// `NF_INET_POST_ROUTING` (inet) and `NF_BR_PRE_ROUTING` (bridge): the hooks of our base chains.
pub(crate) const HOOK_POSTROUTING: u32 = 4;
pub(crate) const HOOK_BRIDGE_PREROUTING: u32 = 0;
/// `NF_ACCEPT`, the base chain policy.
const NF_ACCEPT: u32 = 1;
/// The userdata TLV type of a comment (`NFTNL_UDATA_RULE_COMMENT` / `..._SET_ELEM_COMMENT`).
const UDATA_COMMENT: u8 = 0;

/// The protocol family of an nf_tables table (the `nfgen_family` of its messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NfFamily {
    /// `inet`: IPv4 and IPv6.
    Inet,
    /// `bridge`: frames crossing a Linux bridge.
    Bridge,
    /// `ip`: IPv4 only (iptables-nft's tables).
    Ip,
    /// `ip6`: IPv6 only (ip6tables-nft's tables).
    Ip6,
}

impl NfFamily {
    /// `NFPROTO_INET` / `NFPROTO_BRIDGE` / `NFPROTO_IPV4` / `NFPROTO_IPV6`.
    pub(crate) fn code(self) -> u8 {
        match self {
            NfFamily::Inet => 1,
            NfFamily::Ip => 2,
            NfFamily::Bridge => 7,
            NfFamily::Ip6 => 10,
        }
    }
}

/// A table: its family and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table<'a> {
    /// The family.
    pub(crate) family: NfFamily,
    /// The name.
    pub(crate) name: &'a str,
}

/// A base chain: `{ type <kind> hook <hook> priority <priority>; policy accept; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BaseChain<'a> {
    /// The chain name.
    pub(crate) name: &'a str,
    /// The chain type: `"nat"` or `"filter"`.
    pub(crate) kind: &'a str,
    /// The hook number of the table's family (`HOOK_*`).
    pub(crate) hook: u32,
    /// The priority.
    pub(crate) priority: i32,
}

/// A buffer of netlink messages framed as one nf_tables batch.
#[derive(Debug)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    next_seq: u32,
    first_seq: u32,
    acked: u32,
    labels: Vec<String>,
}

impl Batch {
    /// Starts a batch whose messages take sequence numbers from `seq` on. With `genid`, the kernel
    /// refuses the whole batch with `ERESTART` when the ruleset changed since that generation.
    pub(crate) fn new(seq: u32, genid: Option<u32>) -> Batch {
        let mut buf = Vec::with_capacity(1024);
        let start = begin_msg(
            &mut buf,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        if let Some(genid) = genid {
            put_attr(&mut buf, NFNL_BATCH_GENID, &genid.to_be_bytes());
        }
        end_msg(&mut buf, start);
        Batch {
            buf,
            next_seq: seq.wrapping_add(1),
            first_seq: seq,
            acked: 0,
            labels: Vec::new(),
        }
    }

    /// Sequence number of the BEGIN message (the one an `ERESTART` refers to).
    pub(crate) fn first_seq(&self) -> u32 {
        self.first_seq
    }

    /// How many messages asked for an acknowledgement.
    pub(crate) fn acked_messages(&self) -> u32 {
        self.acked
    }

    /// What the message with sequence number `seq` does (for error messages).
    pub(crate) fn label(&self, seq: u32) -> Option<&str> {
        let index = seq.wrapping_sub(self.first_seq).checked_sub(1)?;
        self.labels
            .get(usize::try_from(index).ok()?)
            .map(String::as_str)
    }

    /// True when no message was added between BEGIN and END.
    pub(crate) fn is_empty(&self) -> bool {
        self.acked == 0
    }

    /// Closes the batch and returns its bytes and the sequence number after it.
    pub(crate) fn finish(mut self) -> (Vec<u8>, u32) {
        let seq = self.next_seq;
        let start = begin_msg(
            &mut self.buf,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        end_msg(&mut self.buf, start);
        (self.buf, seq.wrapping_add(1))
    }

    fn message(
        &mut self,
        family: NfFamily,
        label: String,
        msg_type: u16,
        extra_flags: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = begin_msg(
            &mut self.buf,
            nft_type(msg_type),
            NLM_F_REQUEST | NLM_F_ACK | extra_flags,
            self.next_seq,
            family.code(),
            0,
        );
        body(&mut self.buf);
        end_msg(&mut self.buf, start);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.acked += 1;
        self.labels.push(label);
    }

    /// `add table <family> <table>` (no-op when it exists).
    pub(crate) fn add_table(&mut self, table: &Table<'_>) {
        let label = format!("adding table {}", table.name);
        self.message(table.family, label, msg::NEWTABLE, NLM_F_CREATE, |b| {
            put_str(b, attr::TABLE_NAME, table.name);
        });
    }

    /// `delete table <family> <table>` with everything in it.
    pub(crate) fn del_table(&mut self, table: &Table<'_>) {
        let label = format!("deleting table {}", table.name);
        self.message(table.family, label, msg::DELTABLE, 0, |b| {
            put_str(b, attr::TABLE_NAME, table.name)
        });
    }

    /// `add chain <family> <table> <chain> { type <kind> hook <hook> priority <priority>; policy
    /// accept; }` (no-op when it exists with the same hook and priority).
    pub(crate) fn add_base_chain(&mut self, table: &Table<'_>, chain: &BaseChain<'_>) {
        let label = format!("adding chain {}", chain.name);
        self.message(table.family, label, msg::NEWCHAIN, NLM_F_CREATE, |b| {
            put_str(b, attr::CHAIN_TABLE, table.name);
            put_str(b, attr::CHAIN_NAME, chain.name);
            let hook = nest_start(b, attr::CHAIN_HOOK);
            put_attr(b, attr::HOOK_HOOKNUM, &chain.hook.to_be_bytes());
            put_attr(b, attr::HOOK_PRIORITY, &chain.priority.to_be_bytes());
            nest_end(b, hook);
            put_attr(b, attr::CHAIN_POLICY, &NF_ACCEPT.to_be_bytes());
            put_str(b, attr::CHAIN_TYPE, chain.kind);
        });
    }

    /// `add chain <family> <table> <chain>` (a regular chain, target of jumps; no-op when it
    /// exists).
    pub(crate) fn add_chain(&mut self, table: &Table<'_>, chain: &str) {
        self.regular_chain(table, chain, false);
    }

    /// `create chain <family> <table> <chain>`: like [`Batch::add_chain`], but the kernel refuses
    /// it (`EEXIST`, and the whole batch changes nothing) when the chain exists.
    pub(crate) fn create_chain(&mut self, table: &Table<'_>, chain: &str) {
        self.regular_chain(table, chain, true);
    }

    fn regular_chain(&mut self, table: &Table<'_>, chain: &str, exclusive: bool) {
        let (verb, flags) = if exclusive {
            ("creating", NLM_F_CREATE | NLM_F_EXCL)
        } else {
            ("adding", NLM_F_CREATE)
        };
        let label = format!("{verb} chain {chain}");
        let name = (attr::CHAIN_TABLE, attr::CHAIN_NAME, chain);
        self.named(table, label, msg::NEWCHAIN, flags, name);
    }

    /// A message that names one object of `table` and says nothing else: `(table attribute,
    /// name attribute, name)`.
    fn named(
        &mut self,
        table: &Table<'_>,
        label: String,
        msg_type: u16,
        flags: u16,
        (table_attr, name_attr, name): (u16, u16, &str),
    ) {
        self.message(table.family, label, msg_type, flags, |b| {
            put_str(b, table_attr, table.name);
            put_str(b, name_attr, name);
        });
    }

    /// `delete chain <family> <table> <chain>`: the kernel deletes the chain's own rules with it,
    /// and refuses (`EBUSY`) while a rule elsewhere still jumps to it.
    pub(crate) fn del_chain(&mut self, table: &Table<'_>, chain: &str) {
        let label = format!("deleting chain {chain}");
        let name = (attr::CHAIN_TABLE, attr::CHAIN_NAME, chain);
        self.named(table, label, msg::DELCHAIN, 0, name);
    }

    /// `add set <family> <table> <set> { type <key type>; }` with a batch-local id (so rules of
    /// the same batch can refer to it). `key_type` is nft's datatype number, which `nft list`
    /// uses to print the set's type; `key_len` the key length in bytes.
    pub(crate) fn add_set(
        &mut self,
        table: &Table<'_>,
        set: &str,
        set_id: u32,
        key_type: u32,
        key_len: u32,
    ) {
        let label = format!("adding set {set}");
        self.message(table.family, label, msg::NEWSET, NLM_F_CREATE, |b| {
            put_str(b, attr::SET_TABLE, table.name);
            put_str(b, attr::SET_NAME, set);
            put_attr(b, attr::SET_FLAGS, &0u32.to_be_bytes());
            put_attr(b, attr::SET_KEY_TYPE, &key_type.to_be_bytes());
            put_attr(b, attr::SET_KEY_LEN, &key_len.to_be_bytes());
            put_attr(b, attr::SET_ID, &set_id.to_be_bytes());
        });
    }

    /// `delete set <family> <table> <set>`.
    pub(crate) fn del_set(&mut self, table: &Table<'_>, set: &str) {
        let label = format!("deleting set {set}");
        let name = (attr::SET_TABLE, attr::SET_NAME, set);
        self.named(table, label, msg::DELSET, 0, name);
    }

    /// Adds a rule of `exprs` with a comment. `append` puts it at the end of the chain, otherwise
    /// at the start.
    pub(crate) fn add_rule(
        &mut self,
        table: &Table<'_>,
        chain: &str,
        exprs: &[Expr<'_>],
        comment: &str,
        append: bool,
    ) {
        let flags = NLM_F_CREATE | if append { NLM_F_APPEND } else { 0 };
        let label = format!("adding rule {comment:?} to chain {chain}");
        self.message(table.family, label, msg::NEWRULE, flags, |b| {
            put_str(b, attr::RULE_TABLE, table.name);
            put_str(b, attr::RULE_CHAIN, chain);
            let list = nest_start(b, attr::RULE_EXPRESSIONS);
            encode_exprs(b, exprs);
            nest_end(b, list);
            put_attr(b, attr::RULE_USERDATA, &comment_udata(comment));
        });
    }

    /// Deletes one rule by handle, or every rule of the chain (`flush chain`) when `handle` is
    /// `None`.
    pub(crate) fn del_rule(&mut self, table: &Table<'_>, chain: &str, handle: Option<u64>) {
        let label = format!("deleting rules of chain {chain}");
        self.message(table.family, label, msg::DELRULE, 0, |b| {
            put_str(b, attr::RULE_TABLE, table.name);
            put_str(b, attr::RULE_CHAIN, chain);
            if let Some(handle) = handle {
                put_attr(b, attr::RULE_HANDLE, &handle.to_be_bytes());
            }
        });
    }

    /// Adds (`add == true`) or deletes set elements; each is a key and an optional comment.
    pub(crate) fn set_elements(
        &mut self,
        add: bool,
        table: &Table<'_>,
        set: &str,
        elements: &[(Vec<u8>, Option<String>)],
    ) {
        let (msg_type, flags, verb) = if add {
            (msg::NEWSETELEM, NLM_F_CREATE, "adding")
        } else {
            (msg::DELSETELEM, 0, "deleting")
        };
        self.elements(msg_type, flags, verb, table, set, elements);
    }

    /// Adds set elements that must all be new (`NLM_F_EXCL`): if one exists, the kernel refuses
    /// it with `EEXIST` and the whole batch changes nothing.
    pub(crate) fn create_elements(
        &mut self,
        table: &Table<'_>,
        set: &str,
        elements: &[(Vec<u8>, Option<String>)],
    ) {
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        self.elements(msg::NEWSETELEM, flags, "creating", table, set, elements);
    }

    fn elements(
        &mut self,
        msg_type: u16,
        flags: u16,
        verb: &str,
        table: &Table<'_>,
        set: &str,
        elements: &[(Vec<u8>, Option<String>)],
    ) {
        if elements.is_empty() {
            return;
        }
        let label = format!("{verb} elements of set {set}");
        self.message(table.family, label, msg_type, flags, |b| {
            put_str(b, attr::SET_ELEM_LIST_TABLE, table.name);
            put_str(b, attr::SET_ELEM_LIST_SET, set);
            let list = nest_start(b, attr::SET_ELEM_LIST_ELEMENTS);
            for (key, comment) in elements {
                let elem = nest_start(b, attr::LIST_ELEM);
                let k = nest_start(b, attr::SET_ELEM_KEY);
                put_attr(b, attr::DATA_VALUE, key);
                nest_end(b, k);
                if let Some(comment) = comment {
                    put_attr(b, attr::SET_ELEM_USERDATA, &comment_udata(comment));
                }
                nest_end(b, elem);
            }
            nest_end(b, list);
        });
    }
}

/// A single (non-batched) request: `GETGEN`, or a dump of rules, chains, sets or set elements
/// of the tables of `family` (`None`: every family).
pub(crate) fn request(
    msg_type: u16,
    flags: u16,
    seq: u32,
    family: Option<NfFamily>,
    body: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    let start = begin_msg(
        &mut buf,
        nft_type(msg_type),
        NLM_F_REQUEST | flags,
        seq,
        family.map_or(NFPROTO_UNSPEC, NfFamily::code),
        0,
    );
    body(&mut buf);
    end_msg(&mut buf, start);
    buf
}

/// The netlink message type of an nf_tables message.
pub(crate) fn nft_type(msg_type: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg_type
}

/// Writes a comment as nft's userdata TLV (type 0, length, NUL-terminated text). Comments are cut
/// at 254 bytes (on a character boundary) so the length fits its byte.
pub(crate) fn comment_udata(comment: &str) -> Vec<u8> {
    let mut end = comment.len().min(254);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    let text = comment.as_bytes().get(..end).unwrap_or_default();
    let mut out = Vec::with_capacity(text.len() + 3);
    out.push(UDATA_COMMENT);
    out.push(u8::try_from(text.len() + 1).unwrap_or(u8::MAX));
    out.extend_from_slice(text);
    out.push(0);
    out
}

/// Appends a netlink + nfgenmsg header with a zero length; returns its offset for [`end_msg`].
fn begin_msg(
    buf: &mut Vec<u8>,
    msg_type: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched by end_msg
    buf.extend_from_slice(&msg_type.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
    buf.push(family); // nfgen_family
    buf.push(0); // version: NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    start
}

fn end_msg(buf: &mut [u8], start: usize) {
    let len = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    if let Some(slot) = buf.get_mut(start..start + 4) {
        slot.copy_from_slice(&len.to_ne_bytes());
    }
}

/// Appends one attribute, padded to 4 bytes.
pub(crate) fn put_attr(b: &mut Vec<u8>, attr_type: u16, data: &[u8]) {
    let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&attr_type.to_ne_bytes());
    b.extend_from_slice(data);
    pad(b);
}

/// Appends a NUL-terminated string attribute.
pub(crate) fn put_str(b: &mut Vec<u8>, attr_type: u16, s: &str) {
    let mut data = Vec::with_capacity(s.len() + 1);
    data.extend_from_slice(s.as_bytes());
    data.push(0);
    put_attr(b, attr_type, &data);
}

/// Opens a nested attribute; returns its offset for [`nest_end`].
pub(crate) fn nest_start(b: &mut Vec<u8>, attr_type: u16) -> usize {
    let start = b.len();
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&(attr_type | NLA_F_NESTED).to_ne_bytes());
    start
}

/// Closes a nested attribute opened by [`nest_start`].
pub(crate) fn nest_end(b: &mut [u8], start: usize) {
    let len = u16::try_from(b.len() - start).unwrap_or(u16::MAX);
    if let Some(slot) = b.get_mut(start..start + 2) {
        slot.copy_from_slice(&len.to_ne_bytes());
    }
}

fn pad(b: &mut Vec<u8>) {
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
