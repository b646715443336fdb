//! Bounded-time fuzzing of config and result parsing (proptest on the stable toolchain, where
//! cargo-fuzz cannot run): arbitrary bytes, and structure-aware mutations of the JSON fixtures
//! (members deleted, values replaced by other types, hostile strings and numbers, subtrees moved
//! between fixtures, deep nesting). Whatever the input: no panic; a refusal carries a spec error
//! code and a message, and serialises to error JSON; what is accepted writes back to JSON that
//! parses again to the same thing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cni_types::{
    CniArgs, CniError, CniResult, ErrorCode, NetConf, NetConfList, NoPluginFields, Version,
    validate,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The fixtures, read once per test binary.
fn fixtures() -> &'static [Value] {
    static ALL: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    ALL.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let v: Vec<Value> = paths
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert!(v.len() >= 20, "fixtures found: {}", v.len());
    v
}

/// The codes a CNI error may carry: the spec's, 8 (Go), 999, or a plugin's own (100+).
fn assert_spec_error(e: &CniError, input: &[u8]) {
    let code = e.code.code();
    assert!(
        matches!(code, 1..=8 | 11 | 50 | 51 | 999) || code >= 100,
        "code {code} for {}",
        String::from_utf8_lossy(input)
    );
    assert!(!e.msg.is_empty(), "empty message for code {code}");
    for v in Version::ALL {
        let j = e.to_json_for(v);
        assert_eq!(j["code"].as_u64(), Some(u64::from(code)));
        assert!(j["msg"].is_string());
    }
}

fn check<T>(r: Result<T, CniError>, input: &[u8]) -> Option<T> {
    match r {
        Ok(t) => Some(t),
        Err(e) => {
            assert_spec_error(&e, input);
            None
        }
    }
}

/// Feeds `bytes` to every parser and checks the invariants.
fn exercise(bytes: &[u8]) {
    if let Some(conf) = check(NetConf::<NoPluginFields>::from_slice(bytes), bytes) {
        let _ = check(conf.validate(), bytes);
        let _ = check(conf.version(), bytes);
        let _ = check(conf.prev_result(), bytes);
        let again = conf.to_vec().unwrap();
        let reparsed = NetConf::<NoPluginFields>::from_slice(&again)
            .unwrap_or_else(|e| panic!("written config does not parse: {e}"));
        assert_eq!(
            reparsed.to_vec().unwrap(),
            again,
            "config write-back is stable"
        );
    }
    let _ = check(NetConf::<Map<String, Value>>::from_slice(bytes), bytes);
    if let Some(list) = check(NetConfList::from_slice(bytes), bytes) {
        for i in 0..=list.plugins.len() {
            let _ = check(list.plugin_config(i, &Map::new(), None), bytes);
            let _ = check(list.gc_config(i, &[]), bytes);
        }
        let _ = check(list.negotiated_version(), bytes);
    }
    for v in Version::ALL {
        if let Some(r) = check(CniResult::from_slice(v, bytes), bytes) {
            let written = r.to_vec().unwrap();
            let back = CniResult::from_slice(v, &written)
                .unwrap_or_else(|e| panic!("written {v:?} result does not parse: {e}"));
            assert_eq!(
                back.to_vec().unwrap(),
                written,
                "result write-back is stable"
            );
            for to in Version::ALL {
                let _ = check(r.convert_to(to), bytes);
            }
        }
    }
    let _ = check(CniResult::from_slice_own_version(bytes), bytes);
    let _ = check(CniError::from_slice(bytes), bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = check(CniArgs::parse(s), bytes);
        let _ = check(validate::interface_name(s), bytes);
        let _ = check(validate::container_id(s), bytes);
        let _ = check(validate::network_name(s), bytes);
        let _ = check(Version::parse(s), bytes);
    }
}

/// Every path (object keys and array indexes) in `v`.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(PathStep::Key(k.clone()));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// Hostile values a mutation may put anywhere.
fn hostile(pick: usize) -> Value {
    let values = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5e308),
        json!(4095),
        json!(65536),
        json!(""),
        json!("../../etc/passwd"),
        json!("a/b"),
        json!("a\u{0}b"),
        json!("9.9.9"),
        json!("1.1.0"),
        json!("0.1.0"),
        json!("10.0.0.1/33"),
        json!("fe80::1/64"),
        json!("10.1.2.3/24"),
        json!("zz:zz:zz:zz:zz:zz"),
        json!("x".repeat(10_000)),
        json!("é\u{202e}\u{feff}"),
        json!([]),
        json!({}),
        json!([{}]),
        json!({"cniVersion": "1.0.0"}),
    ];
    match values.get(pick % (values.len() + 1)) {
        Some(v) => v.clone(),
        None => (0..300).fold(json!(1), |v, _| json!([v])),
    }
}

/// One structure-aware mutation of `doc`, at the node chosen by `sel`.
fn mutate(doc: &mut Value, donor: &Value, op: u8, sel: usize, pick: usize) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = all[sel % all.len()].clone();
    match op % 6 {
        0 => {
            // Delete the member or element.
            if let Some((last, parent)) = path.split_last() {
                match (at(doc, parent), last) {
                    (Value::Object(m), PathStep::Key(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(a), PathStep::Index(i)) if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        1 => *at(doc, &path) = hostile(pick),
        2 => {
            // Move a subtree of another fixture here.
            let mut donors = Vec::new();
            paths(donor, &mut Vec::new(), &mut donors);
            let mut d = donor.clone();
            *at(doc, &path) = at(&mut d, &donors[pick % donors.len()]).clone();
        }
        3 => {
            // Add a well-known key with a hostile value to an object.
            if let Value::Object(m) = at(doc, &path) {
                let keys = [
                    "cniVersion",
                    "name",
                    "type",
                    "prevResult",
                    "ipam",
                    "ips",
                    "routes",
                    "interfaces",
                    "dns",
                    "plugins",
                    "runtimeConfig",
                    "args",
                    "cniVersions",
                    "disableCheck",
                    "disableGC",
                    "cni.dev/valid-attachments",
                    "gateway",
                ];
                m.insert(
                    keys[pick % keys.len()].to_owned(),
                    hostile(pick / keys.len()),
                );
            }
        }
        4 => {
            let old = at(doc, &path).take();
            *at(doc, &path) = json!([old]);
        }
        _ => {
            // A string shortened or a number changed in sign.
            let slot = at(doc, &path);
            match slot {
                Value::String(s) => {
                    let cut = s
                        .char_indices()
                        .nth(pick % (s.len() + 1))
                        .map_or(s.len(), |c| c.0);
                    s.truncate(cut);
                }
                Value::Number(n) => {
                    *slot = n.as_f64().map_or(Value::Null, |f| json!(-f));
                }
                _ => *slot = hostile(pick),
            }
        }
    }
}

#[test]
fn every_fixture_passes_the_checks_unmutated() {
    for f in fixtures() {
        exercise(&serde_json::to_vec(f).unwrap());
    }
}

proptest! {
    // Bounded: a few hundred cases each, well under a few seconds in a debug build.
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 250, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures(
        index in any::<usize>(),
        donor in any::<usize>(),
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let all = fixtures();
        let mut doc = all[index % all.len()].clone();
        let donor = &all[donor % all.len()];
        for (op, sel, pick) in ops {
            mutate(&mut doc, donor, op, sel, pick);
        }
        exercise(&serde_json::to_vec(&doc).unwrap());
    }

    #[test]
    fn mutated_fixture_text(index in any::<usize>(), cut in any::<usize>(), insert in "[\\{\\}\\[\\]\":,0-9a-z.\\\\ -]{0,8}") {
        // Text-level damage on top: a cut and an insertion at the same place.
        let all = fixtures();
        let text = serde_json::to_string(&all[index % all.len()]).unwrap();
        let at = text.char_indices().nth(cut % text.len()).map_or(0, |c| c.0);
        let damaged = format!("{}{}{}", &text[..at], insert, &text[at..]);
        exercise(damaged.as_bytes());
    }
}

#[test]
fn codes_of_hostile_values_in_key_places() {
    // A few of the mutations above, pinned with their exact codes.
    let conf = |v: Value| serde_json::to_vec(&v).unwrap();
    let e = CniResult::from_slice(
        Version::ALL[Version::ALL.len() - 1],
        &conf(json!({"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.1/33"}]})),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::DecodingFailure, "{e}");
    let e = validate::interface_name("et\u{0}h0").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidEnvironment, "{e}");
    let e = validate::network_name("a\u{0}b").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidConfig, "{e}");
    let e = validate::container_id("a\u{0}b").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidEnvironment, "{e}");
}
