//! Unit tests of the nf_tables encoding, checked byte by byte and through the decoder.

use super::*;
use crate::nftables::decode::{self, Attrs};
use crate::nftables::expr::{self, Expr, Verdict};

const T: Table<'static> = Table {
    family: NfFamily::Inet,
    name: "t",
};

/// The messages of a finished batch: (type, flags, seq, payload).
fn split(bytes: &[u8]) -> Vec<(u16, u16, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
        let flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
        let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
        assert!(len >= 16 && len <= rest.len(), "bad message length {len}");
        assert_eq!(len % 4, 0, "messages are 4-byte aligned");
        out.push((ty, flags, seq, rest[16..len].to_vec()));
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "trailing bytes");
    out
}

fn attrs_of(payload: &[u8]) -> Attrs<'_> {
    Attrs(&payload[4..])
}

#[test]
fn table_message_is_byte_exact() {
    let mut batch = Batch::new(100, None);
    batch.add_table(&T);
    let (bytes, next) = batch.finish();
    assert_eq!(next, 103);
    let expected: Vec<u8> = [
        // BATCH_BEGIN: len 20, type 16, flags REQUEST, seq 100, pid 0, AF_UNSPEC, v0, res_id 10 (BE)
        &20u32.to_ne_bytes()[..],
        &16u16.to_ne_bytes(),
        &1u16.to_ne_bytes(),
        &100u32.to_ne_bytes(),
        &0u32.to_ne_bytes(),
        &[0, 0, 0, 10],
        // NEWTABLE: len 28, type (10 << 8) | 0, flags REQUEST|ACK|CREATE, seq 101, family inet
        &28u32.to_ne_bytes(),
        &0x0a00u16.to_ne_bytes(),
        &0x405u16.to_ne_bytes(),
        &101u32.to_ne_bytes(),
        &0u32.to_ne_bytes(),
        &[1, 0, 0, 0],
        // NFTA_TABLE_NAME "t\0", padded: len 6, type 1
        &6u16.to_ne_bytes(),
        &1u16.to_ne_bytes(),
        b"t\0\0\0",
        // BATCH_END: len 20, type 17, seq 102
        &20u32.to_ne_bytes(),
        &17u16.to_ne_bytes(),
        &1u16.to_ne_bytes(),
        &102u32.to_ne_bytes(),
        &0u32.to_ne_bytes(),
        &[0, 0, 0, 10],
    ]
    .concat();
    assert_eq!(bytes, expected);
}

#[test]
fn batch_counts_acks_and_carries_genid() {
    let mut batch = Batch::new(7, Some(0x01020304));
    assert!(batch.is_empty());
    batch.add_table(&T);
    batch.del_set(&T, "s");
    assert_eq!(batch.acked_messages(), 2);
    assert_eq!(batch.first_seq(), 7);
    let (bytes, _) = batch.finish();
    let msgs = split(&bytes);
    assert_eq!(msgs.len(), 4);
    // The generation id is a big-endian NFNL_BATCH_GENID attribute of BEGIN.
    let (ty, _, _, payload) = &msgs[0];
    assert_eq!(*ty, 16);
    assert_eq!(attrs_of(payload).find(1), Some(&[1u8, 2, 3, 4][..]));
    // Every real message asks for an acknowledgement; seqs are consecutive.
    for (i, (_, flags, seq, _)) in msgs.iter().enumerate() {
        assert_eq!(*seq, 7 + i as u32);
        if i == 1 || i == 2 {
            assert_eq!(flags & NLM_F_ACK, NLM_F_ACK);
        }
    }
    assert_eq!(msgs[2].0, nft_type(msg::DELSET));
}

#[test]
fn base_chain_has_its_hook_priority_and_family() {
    let mut batch = Batch::new(1, None);
    let bridge = Table {
        family: NfFamily::Bridge,
        name: "tbl",
    };
    batch.add_base_chain(
        &bridge,
        &BaseChain {
            name: "pre",
            kind: "filter",
            hook: HOOK_BRIDGE_PREROUTING,
            priority: -300,
        },
    );
    let (bytes, _) = batch.finish();
    let msgs = split(&bytes);
    let (ty, _, _, payload) = &msgs[1];
    assert_eq!(*ty, nft_type(msg::NEWCHAIN));
    assert_eq!(payload[0], 7, "NFPROTO_BRIDGE");
    let a = attrs_of(payload);
    assert_eq!(decode::string(a.find(attr::CHAIN_TABLE).unwrap()), "tbl");
    assert_eq!(decode::string(a.find(attr::CHAIN_NAME).unwrap()), "pre");
    assert_eq!(decode::string(a.find(attr::CHAIN_TYPE).unwrap()), "filter");
    let hook = Attrs(a.find(attr::CHAIN_HOOK).unwrap());
    assert_eq!(hook.find(attr::HOOK_HOOKNUM), Some(&0u32.to_be_bytes()[..]));
    assert_eq!(
        hook.find(attr::HOOK_PRIORITY),
        Some(&(-300i32).to_be_bytes()[..])
    );
    assert_eq!(
        a.find(attr::CHAIN_POLICY),
        Some(&NF_ACCEPT.to_be_bytes()[..])
    );
}

#[test]
fn rule_carries_expressions_and_comment() {
    let exprs = [
        Expr::Meta(expr::META_IIFNAME),
        Expr::CmpEq(b"veth0\0\0\0\0\0\0\0\0\0\0\0"),
        Expr::Verdict(Verdict::Jump("next")),
    ];
    for append in [true, false] {
        let mut batch = Batch::new(1, None);
        batch.add_rule(&T, "c", &exprs, "hello", append);
        let (bytes, _) = batch.finish();
        let (ty, flags, seq, payload) = split(&bytes).remove(1);
        assert_eq!(ty, nft_type(msg::NEWRULE));
        assert_eq!(flags & NLM_F_APPEND != 0, append);
        let udata = attrs_of(&payload).find(attr::RULE_USERDATA).unwrap();
        assert_eq!(udata, b"\x00\x06hello\0");
        let m = decode::Message {
            msg_type: ty,
            seq,
            payload: &payload,
        };
        assert_eq!(decode::rule_exprs(&m), exprs);
        assert_eq!(decode::comment(udata).as_deref(), Some("hello"));
    }
}

#[test]
fn rules_are_deleted_by_handle_or_all_at_once() {
    let mut batch = Batch::new(1, None);
    batch.del_rule(&T, "c", Some(9));
    batch.del_rule(&T, "c", None);
    let (bytes, _) = batch.finish();
    let msgs = split(&bytes);
    let with = attrs_of(&msgs[1].3).find(attr::RULE_HANDLE);
    assert_eq!(with, Some(&9u64.to_be_bytes()[..]));
    assert_eq!(attrs_of(&msgs[2].3).find(attr::RULE_HANDLE), None);
}

#[test]
fn set_elements_carry_keys_and_comments() {
    let mut batch = Batch::new(1, None);
    batch.set_elements(true, &T, "s", &[]);
    assert!(batch.is_empty(), "no message for no elements");
    batch.set_elements(
        true,
        &T,
        "s",
        &[
            (vec![10, 1, 0, 5], Some("if=eth0 id=c1".into())),
            (vec![10, 1, 0, 6], None),
        ],
    );
    let (bytes, _) = batch.finish();
    let msgs = split(&bytes);
    let (ty, _, seq, payload) = &msgs[1];
    assert_eq!(*ty, nft_type(msg::NEWSETELEM));
    let m = decode::Message {
        msg_type: *ty,
        seq: *seq,
        payload,
    };
    let elems = decode::elements(&m);
    assert_eq!(elems.len(), 2);
    assert_eq!(elems[0].key, [10, 1, 0, 5]);
    assert_eq!(elems[0].comment, "if=eth0 id=c1");
    assert_eq!(elems[1].comment, "");
}

#[test]
fn comments_are_cut_on_char_boundaries() {
    let long = "é".repeat(200); // 400 bytes
    let udata = comment_udata(&long);
    assert_eq!(udata[0], 0);
    assert_eq!(usize::from(udata[1]), udata.len() - 2);
    assert!(udata.len() <= 257);
    let back = decode::comment(&udata).unwrap();
    assert!(long.starts_with(&back));
    assert_eq!(back.len(), 254);
}

#[test]
fn decoder_survives_garbage() {
    let junk = [0xffu8, 0xff, 0, 0, 1, 2, 3];
    assert_eq!(decode::messages(&junk).count(), 0);
    assert_eq!(Attrs(&junk).count(), 0);
    assert_eq!(decode::comment(&[0, 9, b'a']), None);
}

#[test]
fn messages_are_labelled_for_errors() {
    let mut batch = Batch::new(40, None);
    batch.add_table(&T);
    batch.add_chain(&T, "c");
    assert_eq!(batch.label(41), Some("adding table t"));
    assert_eq!(batch.label(42), Some("adding chain c"));
    assert_eq!(batch.label(40), None, "BEGIN has no label");
    assert_eq!(batch.label(43), None);
}
