//! The reference skel's test cases (`cni:pkg/skel/skel_test.go`, reference notes §4.1), and bad
//! input to the plugin entry point, driven in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cni_skel::{CniEnv, Reply};
use cni_types::{ErrorCode, Version};
use common::{Recorder, call, config, env_of, error, full_env};

fn without(vars: &[(&'static str, String)], name: &str) -> Vec<(&'static str, String)> {
    vars.iter().filter(|(k, _)| *k != name).cloned().collect()
}

#[test]
fn add_extracts_env_and_stdin_and_calls_add_only() {
    let plugin = Recorder::new();
    let stdin = config("1.0.0");
    let outcome = call(&plugin, &env_of(&full_env("ADD")), &stdin);
    assert!(
        matches!(outcome.result, Ok(Reply::Stdout(_))),
        "{outcome:?}"
    );
    assert_eq!(plugin.verbs(), ["ADD"]);
    let seen = plugin.last();
    assert_eq!(seen.container_id, "some-container-id");
    assert_eq!(seen.netns.as_deref(), Some("/some/netns/path"));
    assert_eq!(seen.ifname, "eth0");
    assert_eq!(seen.args, "K8S_POD_NAME=pod;FOO=bar");
    assert_eq!(seen.cni_path, ["/some/cni/path", "/other"]);
    assert_eq!(seen.name, "skel-test");
    assert_eq!(seen.some_field.as_deref(), Some("some-value"));
    assert_eq!(seen.version, Version::V1_0_0);
    assert_eq!(seen.stdin, stdin, "the raw config is kept for delegation");
}

/// Required (true) / optional (false) per verb, as the reference's table plus STATUS (spec:
/// `CNI_PATH` optional) and VERSION.
const TABLE: [(&str, [(&str, bool); 5]); 6] = [
    (
        "ADD",
        [
            ("CNI_CONTAINERID", true),
            ("CNI_NETNS", true),
            ("CNI_IFNAME", true),
            ("CNI_ARGS", false),
            ("CNI_PATH", true),
        ],
    ),
    (
        "CHECK",
        [
            ("CNI_CONTAINERID", true),
            ("CNI_NETNS", true),
            ("CNI_IFNAME", true),
            ("CNI_ARGS", false),
            ("CNI_PATH", true),
        ],
    ),
    (
        "DEL",
        [
            ("CNI_CONTAINERID", true),
            ("CNI_NETNS", false),
            ("CNI_IFNAME", true),
            ("CNI_ARGS", false),
            ("CNI_PATH", true),
        ],
    ),
    (
        "GC",
        [
            ("CNI_CONTAINERID", false),
            ("CNI_NETNS", false),
            ("CNI_IFNAME", false),
            ("CNI_ARGS", false),
            ("CNI_PATH", true),
        ],
    ),
    (
        "STATUS",
        [
            ("CNI_CONTAINERID", false),
            ("CNI_NETNS", false),
            ("CNI_IFNAME", false),
            ("CNI_ARGS", false),
            ("CNI_PATH", false),
        ],
    ),
    (
        "VERSION",
        [
            ("CNI_CONTAINERID", false),
            ("CNI_NETNS", false),
            ("CNI_IFNAME", false),
            ("CNI_ARGS", false),
            ("CNI_PATH", false),
        ],
    ),
];

#[test]
fn required_and_optional_env_vars_per_verb() {
    for (verb, vars) in TABLE {
        for (var, required) in vars {
            let plugin = Recorder::new();
            // GC/STATUS need a 1.1.0 config; the others accept it too.
            let env = env_of(&without(&full_env(verb), var));
            let outcome = call(&plugin, &env, &config("1.1.0"));
            if required {
                let e = error(outcome);
                assert_eq!(e.code, ErrorCode::InvalidEnvironment, "{verb} {var}");
                assert_eq!(
                    e.msg,
                    format!("required env variables [{var}] missing"),
                    "{verb}"
                );
                assert!(plugin.verbs().is_empty(), "{verb} {var}: no callback");
            } else {
                assert!(outcome.result.is_ok(), "{verb} without {var}: {outcome:?}");
            }
            // Present but empty counts as missing, as in the reference.
            let mut empty = full_env(verb);
            for (k, v) in &mut empty {
                if *k == var {
                    v.clear();
                }
            }
            let outcome = call(&Recorder::new(), &env_of(&empty), &config("1.1.0"));
            assert_eq!(outcome.result.is_err(), required, "{verb} with empty {var}");
        }
    }
}

#[test]
fn reports_all_missing_vars_not_just_the_first() {
    let env = CniEnv::from_vars([("CNI_COMMAND", "CHECK"), ("CNI_CONTAINERID", "id")]);
    let e = error(call(&Recorder::new(), &env, &config("1.0.0")));
    assert_eq!(e.code, ErrorCode::InvalidEnvironment);
    assert_eq!(
        e.msg,
        "required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing"
    );
}

#[test]
fn del_without_netns_gets_none_and_calls_only_del() {
    let plugin = Recorder::new();
    let env = env_of(&without(&full_env("DEL"), "CNI_NETNS"));
    let outcome = call(&plugin, &env, &config("0.4.0"));
    assert_eq!(outcome.result, Ok(Reply::Empty));
    assert_eq!(plugin.verbs(), ["DEL"]);
    assert_eq!(plugin.last().netns, None);
}

#[test]
fn invalid_container_id_and_interface_names() {
    for verb in ["ADD", "CHECK", "DEL"] {
        let mut vars = full_env(verb);
        vars[1].1 = "some-%%container-id".into();
        let e = error(call(&Recorder::new(), &env_of(&vars), &config("1.0.0")));
        assert_eq!(e.code, ErrorCode::InvalidEnvironment);
        assert_eq!(e.msg, "invalid characters in containerID");
        assert_eq!(e.details, "some-%%container-id");
    }
    let bad_names = [
        ("0123456789abcdef", "interface name is too long"),
        (".", "interface name is . or .."),
        ("..", "interface name is . or .."),
        (
            "eth/0",
            "interface name contains / or : or whitespace characters",
        ),
        (
            "eth:0",
            "interface name contains / or : or whitespace characters",
        ),
        (
            "eth 0",
            "interface name contains / or : or whitespace characters",
        ),
        (
            "eth\t0",
            "interface name contains / or : or whitespace characters",
        ),
    ];
    for (name, msg) in bad_names {
        let plugin = Recorder::new();
        let mut vars = full_env("ADD");
        vars[3].1 = name.into();
        let e = error(call(&plugin, &env_of(&vars), &config("1.0.0")));
        assert_eq!(e.code, ErrorCode::InvalidEnvironment, "{name:?}");
        assert_eq!(e.msg, msg, "{name:?}");
        assert!(plugin.verbs().is_empty());
    }
    // GC and STATUS do not look at the attachment variables at all.
    let mut vars = full_env("GC");
    vars[1].1 = "bad%%id".into();
    vars[3].1 = "way-too-long-interface".into();
    assert!(
        call(&Recorder::new(), &env_of(&vars), &config("1.1.0"))
            .result
            .is_ok()
    );
}

#[test]
fn missing_cni_version_is_0_1_0() {
    let stdin = br#"{"name":"skel-test","type":"recorder"}"#;
    let plugin = Recorder::supporting(&[Version::V0_1_0]);
    let outcome = call(&plugin, &env_of(&full_env("ADD")), stdin);
    assert!(outcome.result.is_ok(), "{outcome:?}");
    assert_eq!(plugin.last().version, Version::V0_1_0);

    let plugin = Recorder::supporting(&[Version::V1_0_0]);
    let e = error(call(&plugin, &env_of(&full_env("ADD")), stdin));
    assert_eq!(e.code, ErrorCode::IncompatibleVersion);
    assert_eq!(e.msg, "incompatible CNI versions");
    assert_eq!(e.details, r#"config is "0.1.0", plugin supports ["1.0.0"]"#);
    assert!(plugin.verbs().is_empty());
}

#[test]
fn add_and_del_need_an_exactly_supported_version() {
    let plugin = Recorder::supporting(&[Version::V0_3_1, Version::V1_0_0]);
    for (version, ok) in [
        ("0.3.1", true),
        ("1.0.0", true),
        ("0.4.0", false),
        ("9.9.9", false),
        ("1.0", false),
    ] {
        for verb in ["ADD", "DEL"] {
            let outcome = call(&plugin, &env_of(&full_env(verb)), &config(version));
            assert_eq!(outcome.result.is_ok(), ok, "{verb} {version}: {outcome:?}");
            if !ok {
                let e = error(outcome);
                assert_eq!(e.code, ErrorCode::IncompatibleVersion);
                assert_eq!(
                    e.details,
                    format!(r#"config is "{version}", plugin supports ["0.3.1" "1.0.0"]"#)
                );
            }
        }
    }
}

#[test]
fn check_gc_status_version_gates() {
    for (verb, since) in [("CHECK", "0.4.0"), ("GC", "1.1.0"), ("STATUS", "1.1.0")] {
        let too_old = if verb == "CHECK" { "0.3.0" } else { "1.0.0" };
        let plugin = Recorder::new();
        let e = error(call(&plugin, &env_of(&full_env(verb)), &config(too_old)));
        assert_eq!(e.code, ErrorCode::IncompatibleVersion, "{verb}");
        assert_eq!(e.msg, format!("config version does not allow {verb}"));
        assert!(plugin.verbs().is_empty());

        // The plugin only speaks versions before the verb existed.
        let old_plugin = Recorder::supporting(&[Version::V0_1_0, Version::V0_2_0, Version::V0_3_0]);
        let e = error(call(&old_plugin, &env_of(&full_env(verb)), &config(since)));
        assert_eq!(e.code, ErrorCode::IncompatibleVersion);
        assert_eq!(e.msg, format!("plugin version does not allow {verb}"));

        let e = error(call(&plugin, &env_of(&full_env(verb)), &config("adsfsadf")));
        assert_eq!(e.code, ErrorCode::DecodingFailure, "{verb}: {e}");

        let stdin = format!(r#"{{"cniVersion":"{since}","name":"te%%st","type":"r"}}"#);
        let e = error(call(&plugin, &env_of(&full_env(verb)), stdin.as_bytes()));
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert_eq!(e.msg, "invalid characters found in network name");
        assert_eq!(e.details, "te%%st");

        let outcome = call(&plugin, &env_of(&full_env(verb)), &config(since));
        assert_eq!(outcome.result, Ok(Reply::Empty), "{verb}");
        assert_eq!(plugin.verbs(), [verb]);
    }
}

#[test]
fn version_prints_versions_and_does_not_read_stdin() {
    struct NoRead;
    impl std::io::Read for NoRead {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("VERSION must not read stdin")
        }
    }
    let plugin = Recorder::supporting(&[Version::V0_4_0, Version::V1_0_0]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let env = CniEnv::from_vars([("CNI_COMMAND", "VERSION")]);
    let status = cni_skel::run_with(&plugin, env, &mut NoRead, &mut out, &mut err);
    assert_eq!(status, 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"]}\n"
    );
    assert!(err.is_empty());
}

/// VERSION, the about text and protocol errors are answered before an async runtime is started
/// (a plugin process does not pay for building one): `run_with` gives them even when called
/// where no runtime could be started, inside another runtime's `block_on`.
#[test]
fn version_about_and_protocol_errors_need_no_runtime() {
    let mut plugin = Recorder::supporting(&[Version::V1_0_0]);
    plugin.about = "ABOUT".into();
    let outer = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = |env: CniEnv, stdin: &[u8]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = outer.block_on(async {
            cni_skel::run_with(&plugin, env, &mut &stdin[..], &mut out, &mut err)
        });
        (
            status,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let (status, out, _) = run(CniEnv::from_vars([("CNI_COMMAND", "VERSION")]), b"");
    assert_eq!(status, 0);
    assert!(out.contains("\"supportedVersions\":[\"1.0.0\"]"), "{out}");

    let (status, out, err) = run(CniEnv::default(), b"");
    assert_eq!(status, 0);
    assert!(out.is_empty());
    assert!(err.starts_with("ABOUT\n"), "{err}");

    let (status, out, _) = run(env_of(&full_env("ADD")), b"{not json");
    assert_eq!(status, 1);
    assert!(out.contains("\"code\": 6"), "{out}");
    assert_eq!(plugin.verbs(), Vec::<&str>::new());
}

/// The config is read into a buffer large enough for it from the start: one read for the data
/// and one that sees the end, not a series of growing reads.
#[test]
fn stdin_is_read_in_one_read_and_the_end() {
    struct Counting<'a> {
        data: &'a [u8],
        reads: usize,
    }
    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            let n = buf.len().min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }
    // A config of about 2 KiB, like a Kubernetes bridge config with a prevResult.
    let padding = "x".repeat(2000);
    let stdin = format!(r#"{{"cniVersion":"1.0.0","name":"n","type":"r","pad":"{padding}"}}"#);
    let mut reader = Counting {
        data: stdin.as_bytes(),
        reads: 0,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let plugin = Recorder::new();
    let outcome = rt.block_on(cni_skel::handle(
        &plugin,
        &env_of(&full_env("ADD")),
        &mut reader,
    ));
    assert!(outcome.result.is_ok(), "{outcome:?}");
    assert_eq!(plugin.last().stdin, stdin.as_bytes());
    assert_eq!(reader.reads, 2);
}

#[test]
fn unknown_and_missing_command() {
    let e = error(call(
        &Recorder::new(),
        &env_of(&full_env("NOPE")),
        &config("1.0.0"),
    ));
    assert_eq!(e.code, ErrorCode::InvalidEnvironment);
    assert_eq!(e.msg, "unknown CNI_COMMAND: NOPE");

    let e = error(call(&Recorder::new(), &CniEnv::default(), b""));
    assert_eq!(e.code, ErrorCode::InvalidEnvironment);
    assert_eq!(e.msg, "required env variables [CNI_COMMAND] missing");

    let mut plugin = Recorder::supporting(&[Version::V0_4_0, Version::V1_0_0]);
    plugin.about = "AWESOME PLUGIN".into();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(
        &plugin,
        CniEnv::default(),
        &mut &b""[..],
        &mut out,
        &mut err,
    );
    assert_eq!(status, 0);
    assert!(out.is_empty());
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "AWESOME PLUGIN\nCNI protocol versions supported: 0.4.0, 1.0.0\n"
    );
}

#[test]
fn failing_stdin_is_code_5() {
    struct Banana;
    impl std::io::Read for Banana {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("banana"))
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = rt.block_on(cni_skel::handle(
        &Recorder::new(),
        &env_of(&full_env("ADD")),
        &mut Banana,
    ));
    let e = error(outcome);
    assert_eq!(e.code, ErrorCode::IoFailure);
    assert_eq!(e.msg, "error reading from stdin: banana");
}

#[test]
fn plugin_errors_are_returned_as_is_and_printed_as_error_json() {
    let plugin = Recorder::new();
    let stdin = br#"{"cniVersion":"0.4.0","name":"n","type":"r","failWith":1234}"#;
    let e = error(call(&plugin, &env_of(&full_env("ADD")), stdin));
    assert_eq!(e.code.code(), 1234);
    assert_eq!(e.msg, "asked to fail");
    assert_eq!(e.details, "ADD");

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cni_skel::run_with(
        &plugin,
        env_of(&full_env("DEL")),
        &mut &stdin[..],
        &mut out,
        &mut err,
    );
    assert_eq!(status, 1);
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"cniVersion":"0.4.0","code":1234,"msg":"asked to fail","details":"DEL"})
    );
}

#[test]
fn untyped_failures_become_internal_errors() {
    // What a plugin gets when it `?`s a lower error into CniError: code 999 with the text.
    let lower = cni_skel::SkelError::PluginNotFound {
        name: "host-local".into(),
        paths: vec!["/opt/cni/bin".into()],
    };
    let e = cni_types::CniError::from(lower);
    assert_eq!(e.code, ErrorCode::Internal);
    assert_eq!(
        e.msg,
        r#"failed to find plugin "host-local" in path ["/opt/cni/bin"]"#
    );
}
