//! Logging for plugins: `tracing` to stderr or a file, never to stdout (stdout carries the result).

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::env::CniEnv;

/// The variable holding the log filter, in `tracing` `EnvFilter` syntax (`debug`,
/// `cni_skel=trace,warn`...). Unset: warnings and errors only.
pub const LOG_ENV: &str = "CNI_RS_LOG";
/// The variable naming a file the log is appended to instead of stderr.
pub const LOG_FILE_ENV: &str = "CNI_RS_LOG_FILE";

/// Installs a global `tracing` subscriber configured from `env` ([`LOG_ENV`], [`LOG_FILE_ENV`]).
///
/// Writes to stderr unless a log file is named; if that file cannot be opened, logs go to stderr
/// with a warning. An invalid filter falls back to `warn`. Does nothing if a subscriber is
/// already installed. [`crate::main`] calls this; call it yourself if you use [`crate::run`].
pub fn init_logging(env: &CniEnv) {
    let directive = env.non_empty(LOG_ENV).unwrap_or("warn");
    let (filter, bad_filter) = match EnvFilter::try_new(directive) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("warn"), Some(e.to_string())),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true);
    let mut file_error = None;
    let installed = match env.non_empty(LOG_FILE_ENV) {
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => builder.with_writer(Mutex::new(file)).try_init().is_ok(),
            Err(e) => {
                file_error = Some(format!("cannot open log file {path}: {e}"));
                builder.with_writer(std::io::stderr).try_init().is_ok()
            }
        },
        None => builder.with_writer(std::io::stderr).try_init().is_ok(),
    };
    if installed {
        if let Some(e) = bad_filter {
            tracing::warn!("invalid {LOG_ENV} filter {directive:?}: {e}; using \"warn\"");
        }
        if let Some(e) = file_error {
            tracing::warn!("{e}; logging to stderr");
        }
    }
}
