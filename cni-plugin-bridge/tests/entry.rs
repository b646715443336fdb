//! The binary's own C `main` (`cni_skel::c_main`, without the Rust runtime's start-up) keeps
//! what that start-up guaranteed: a closed standard descriptor is opened on `/dev/null`, and a
//! closed stdout pipe is a failed write, not a `SIGPIPE` death.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

const OURS: &str = env!("CARGO_BIN_EXE_bridge");

fn version() -> Command {
    let mut cmd = Command::new(OURS);
    cmd.env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn a_closed_stdout_is_opened_on_dev_null() {
    // The log file is the first file the plugin opens: on a closed descriptor 1 it would become
    // the plugin's stdout, and the answer would be written into the log.
    let log = std::env::temp_dir().join(format!("cni-entry-test-{}.log", std::process::id()));
    let mut cmd = version();
    cmd.env("CNI_RS_LOG_FILE", &log);
    // SAFETY: close(2) is async-signal-safe; the child closes its own stdout before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        !logged.contains("supportedVersions"),
        "the answer went to the log: {logged}"
    );
}

#[test]
fn a_closed_stdout_pipe_is_a_failed_write_not_sigpipe() {
    // A pipe nobody will read: its read end is closed before the plugin starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = version().stdout(writer).status().unwrap();
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert_eq!(status.code(), Some(1), "{status:?}");
}
