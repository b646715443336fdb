use super::*;
use crate::testutil::TempDir;
use cni_types::ErrorCode;

fn env() -> CniEnv {
    CniEnv::from_vars([
        ("PATH", "/usr/bin:/bin"),
        ("CNI_COMMAND", "ADD"),
        ("KEEP", "me"),
    ])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn passes_exact_env_and_stdin_and_returns_stdout() {
    let dir = TempDir::new("exec");
    let out = dir.path().join("seen");
    let plugin = dir.script(
        "p",
        &format!(
            "env | sort > {0}.env; cat > {0}.stdin; printf '{{\"ok\":1}}'",
            out.display()
        ),
    );
    let stdout = rt()
        .block_on(exec_plugin(&plugin, b"{\"in\":true}", env().vars()))
        .unwrap();
    assert_eq!(stdout, b"{\"ok\":1}");
    let seen_env = std::fs::read_to_string(format!("{}.env", out.display())).unwrap();
    assert!(seen_env.contains("CNI_COMMAND=ADD\n"), "{seen_env}");
    assert!(seen_env.contains("KEEP=me\n"), "{seen_env}");
    // Only what was given (the shell adds PWD and SHLVL at most).
    assert!(!seen_env.contains("HOME="), "{seen_env}");
    let seen_stdin = std::fs::read(format!("{}.stdin", out.display())).unwrap();
    assert_eq!(seen_stdin, b"{\"in\":true}");
}

#[test]
fn large_stdin_and_stdout_do_not_deadlock() {
    let dir = TempDir::new("exec");
    let plugin = dir.script("cat", "cat");
    let big = vec![b'x'; 4 << 20];
    let stdout = rt()
        .block_on(exec_plugin(&plugin, &big, env().vars()))
        .unwrap();
    assert_eq!(stdout.len(), big.len());
}

/// A call given up on (its future dropped, here by a timeout) kills the plugin, which the
/// thread waiting for it then reaps.
#[test]
fn an_abandoned_call_kills_the_plugin() {
    let dir = TempDir::new("exec");
    let pid_file = dir.path().join("pid");
    let plugin = dir.script(
        "hang",
        &format!("echo $$ > {}; exec sleep 60", pid_file.display()),
    );
    let env = env();
    let call = exec_plugin(&plugin, b"{}", env.vars());
    let out = rt().block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(300), call).await
    });
    assert!(out.is_err(), "the plugin should still have been running");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    // Gone once killed and reaped; waited for without a fixed sleep of the test's own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proc_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(!proc_dir.exists(), "{} still runs", proc_dir.display());
}

#[test]
fn plugin_error_json_is_kept() {
    let dir = TempDir::new("exec");
    let plugin = dir.script(
        "p",
        r#"printf '{"cniVersion":"1.0.0","code":123,"msg":"boom","details":"more"}'; echo log >&2; exit 1"#,
    );
    let err = rt()
        .block_on(exec_plugin(&plugin, b"{}", env().vars()))
        .unwrap_err();
    match &err {
        SkelError::Plugin { error, .. } => {
            assert_eq!(error.code, ErrorCode::Other(123));
            assert_eq!(error.msg, "boom");
            assert_eq!(error.details, "more");
        }
        other => panic!("unexpected {other:?}"),
    }
    let cni = cni_types::CniError::from(err);
    assert_eq!(cni.code.code(), 123);
}

#[test]
fn crashes_and_garbage_are_clear_errors() {
    let dir = TempDir::new("exec");
    let noisy = dir.script("noisy", "echo 'it broke' >&2; exit 3");
    let silent = dir.script("silent", "exit 2");
    let garbage = dir.script("garbage", "echo 'panic: not json'; exit 1");
    let rt = rt();
    let err = rt
        .block_on(exec_plugin(&noisy, b"", env().vars()))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SkelError::PluginCrashed { .. }), "{text}");
    assert!(text.contains("it broke") && text.contains('3'), "{text}");
    let err = rt
        .block_on(exec_plugin(&silent, b"", env().vars()))
        .unwrap_err();
    assert!(err.to_string().contains("no error message"), "{err}");
    let err = rt
        .block_on(exec_plugin(&garbage, b"", env().vars()))
        .unwrap_err();
    assert!(matches!(err, SkelError::PluginBadOutput { .. }), "{err}");
    assert!(err.to_string().contains("panic: not json"), "{err}");
    let missing = dir.path().join("missing");
    let err = rt
        .block_on(exec_plugin(&missing, b"", env().vars()))
        .unwrap_err();
    assert!(matches!(err, SkelError::Spawn { .. }), "{err}");
}

#[test]
fn result_version_falls_back_to_the_config_version() {
    let dir = TempDir::new("exec");
    let bare = dir.script("bare", r#"printf '{"ips":[{"address":"10.0.0.2/24"}]}'"#);
    let null = dir.script("null", "printf null");
    let own = dir.script(
        "own",
        r#"printf '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}]}'"#,
    );
    let rt = rt();
    let config = br#"{"cniVersion":"1.0.0","name":"n","type":"bare"}"#;
    let r = rt
        .block_on(exec_with_result(&bare, config, &env()))
        .unwrap();
    assert_eq!(r.version(), Version::V1_0_0);
    assert_eq!(r.to_current().ips.len(), 1);
    let r = rt
        .block_on(exec_with_result(&null, config, &env()))
        .unwrap();
    assert_eq!(r.version(), Version::V1_0_0);
    let r = rt.block_on(exec_with_result(&own, config, &env())).unwrap();
    assert_eq!(r.version(), Version::V0_4_0);
    let broken = dir.script("broken", "printf '{\"ips\":5}'");
    let err = rt
        .block_on(exec_with_result(&broken, config, &env()))
        .unwrap_err();
    assert!(matches!(err, SkelError::BadResult { .. }), "{err}");
}

#[test]
fn version_info_like_libcni() {
    let dir = TempDir::new("exec");
    let seen = dir.path().join("seen");
    let modern = dir.script(
        "modern",
        &format!(
            r#"env | sort > {}; printf '{{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0"]}}'"#,
            seen.display()
        ),
    );
    let ancient = dir.script(
        "ancient",
        r#"printf '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1"#,
    );
    let rt = rt();
    let info = rt.block_on(version_info(&modern, &env())).unwrap();
    assert_eq!(info.supported_versions, ["0.4.0", "1.0.0"]);
    let env_seen = std::fs::read_to_string(&seen).unwrap();
    for var in [
        "CNI_COMMAND=VERSION",
        "CNI_NETNS=dummy",
        "CNI_IFNAME=dummy",
        "CNI_PATH=dummy",
    ] {
        assert!(env_seen.contains(var), "{var} in {env_seen}");
    }
    let info = rt.block_on(version_info(&ancient, &env())).unwrap();
    assert_eq!(info.supported_versions, ["0.1.0"]);
}

#[test]
fn invoke_args_set_all_six_variables() {
    let args = InvokeArgs {
        command: Some(Command::Del),
        container_id: "c1".into(),
        netns: String::new(),
        ifname: "eth0".into(),
        args: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
        path: vec!["/a".into(), "/b".into()],
    };
    let env = args.to_env(&CniEnv::from_vars([("CNI_NETNS", "stale"), ("X", "y")]));
    assert_eq!(env.get("CNI_COMMAND"), Some("DEL"));
    assert_eq!(env.get("CNI_CONTAINERID"), Some("c1"));
    assert_eq!(env.get("CNI_NETNS"), Some(""));
    assert_eq!(env.get("CNI_ARGS"), Some("A=1;B=2"));
    assert_eq!(env.get("CNI_PATH"), Some("/a:/b"));
    assert_eq!(env.get("X"), Some("y"));
}
