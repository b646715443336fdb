//! The one error type of this crate, and its mapping to CNI error codes.

use std::path::PathBuf;

use cni_types::{CniError, ErrorCode};

/// Everything that can go wrong when invoking plugins or running a config list.
///
/// A plugin that delegates converts it into a [`CniError`] with `?`: the delegated plugin's own
/// error ([`SkelError::Plugin`]) keeps its code, message and details; anything else becomes a
/// code that says what kind of failure it was (see the `From` impl).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkelError {
    /// A plugin name was empty.
    #[error("no plugin name provided")]
    EmptyPluginName,
    /// A plugin name contained a path separator (a `type` is a bare binary name).
    #[error("invalid plugin name {0:?}: a plugin type must not contain a path separator")]
    InvalidPluginName(String),
    /// There was no directory to search (`CNI_PATH` empty or unset).
    #[error("no paths provided to find plugin {0:?} (is CNI_PATH set?)")]
    NoPluginPaths(String),
    /// No regular file of that name in any directory of the search path.
    #[error("failed to find plugin {name:?} in path {paths:?}")]
    PluginNotFound {
        /// The plugin name.
        name: String,
        /// The directories searched.
        paths: Vec<PathBuf>,
    },
    /// The plugin binary could not be started (or waited for).
    #[error("failed to execute plugin {}: {source}", path.display())]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The operating system error.
        source: std::io::Error,
    },
    /// The plugin did not finish in time and was killed.
    #[error("plugin {} timed out after {after:?} and was killed", plugin.display())]
    Timeout {
        /// The binary.
        plugin: PathBuf,
        /// The time limit.
        after: std::time::Duration,
    },
    /// The plugin failed and printed a CNI error: kept as-is.
    #[error("{error}")]
    Plugin {
        /// The binary that failed.
        plugin: PathBuf,
        /// Its error, with its own code, message and details.
        error: CniError,
    },
    /// The plugin failed without printing anything on stdout (a crash, a panic, a signal).
    #[error("plugin {} failed ({status}) with {}", plugin.display(), describe_stderr(stderr))]
    PluginCrashed {
        /// The binary that failed.
        plugin: PathBuf,
        /// Its exit status, as text.
        status: String,
        /// What it wrote on stderr (trimmed).
        stderr: String,
    },
    /// The plugin failed and its stdout was not an error JSON.
    #[error("plugin {} failed ({status}) and its output is not a CNI error ({reason}): {stdout:?}", plugin.display())]
    PluginBadOutput {
        /// The binary that failed.
        plugin: PathBuf,
        /// Its exit status, as text.
        status: String,
        /// What it printed on stdout (trimmed).
        stdout: String,
        /// Why that is not an error JSON.
        reason: String,
    },
    /// The plugin succeeded but its output could not be decoded (a result, VERSION output).
    #[error("plugin {} returned output that cannot be decoded: {error}", plugin.display())]
    BadResult {
        /// The binary.
        plugin: PathBuf,
        /// The decoding error.
        error: CniError,
    },
    /// A CNI-level error raised by this crate or by `cni-types` (invalid config, version, name).
    #[error(transparent)]
    Cni(#[from] CniError),
    /// One plugin of a config list failed; names the plugin like libcni does.
    #[error("plugin type={plugin_type:?} name={network:?} failed ({verb}): {source}")]
    Chain {
        /// The plugin's `type`.
        plugin_type: String,
        /// The network name.
        network: String,
        /// The verb, lower case as libcni writes it (`add`, `delete`, `check`, `status`, `gc`).
        verb: &'static str,
        /// What went wrong.
        source: Box<SkelError>,
    },
    /// Several independent failures (GC continues on error and reports them all).
    #[error("{}", join_errors(.0))]
    Multiple(Vec<SkelError>),
    /// A network configuration file or directory could not be read.
    #[error("error reading {}: {source}", path.display())]
    ConfigIo {
        /// The file or directory.
        path: PathBuf,
        /// The operating system error.
        source: std::io::Error,
    },
    /// A network configuration file could not be parsed.
    #[error("error parsing {}: {error}", path.display())]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: CniError,
    },
    /// No configuration file in the directory declares that network name.
    #[error("no net configuration with name {name:?} in {}", dir.display())]
    NetworkNotFound {
        /// The directory searched.
        dir: PathBuf,
        /// The network name.
        name: String,
    },
    /// The directory has no configuration files at all.
    #[error("no net configurations found in {}", dir.display())]
    NoConfigs {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A cache key part was empty.
    #[error(
        "cache file path requires network name ({network:?}), container ID ({container_id:?}), and interface name ({ifname:?})"
    )]
    CacheKey {
        /// The network name.
        network: String,
        /// The container id.
        container_id: String,
        /// The interface name.
        ifname: String,
    },
    /// A cache file could not be read or written.
    #[error("result cache {}: {source}", path.display())]
    CacheIo {
        /// The file.
        path: PathBuf,
        /// The operating system error.
        source: std::io::Error,
    },
    /// A cache file holds something unusable.
    #[error("result cache {} is corrupt: {reason}", path.display())]
    CacheCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn describe_stderr(stderr: &str) -> String {
    if stderr.is_empty() {
        "no error message".to_owned()
    } else {
        format!("stderr {stderr:?}")
    }
}

fn join_errors(errors: &[SkelError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl SkelError {
    /// The CNI error code this failure maps to.
    ///
    /// A delegated plugin's own error keeps its code; a CNI error keeps its code; a chain step has
    /// the code of its cause; a cache or config file problem is an I/O (5) or decoding (6)
    /// failure; the rest (plugin not found, crashed, garbage output) is internal (999).
    pub fn code(&self) -> ErrorCode {
        match self {
            SkelError::Plugin { error, .. } | SkelError::Cni(error) => error.code,
            SkelError::ConfigParse { error, .. } => error.code,
            SkelError::Chain { source, .. } => source.code(),
            SkelError::Multiple(errors) => {
                errors.first().map_or(ErrorCode::Internal, SkelError::code)
            }
            SkelError::ConfigIo { .. } | SkelError::CacheIo { .. } => ErrorCode::IoFailure,
            SkelError::CacheCorrupt { .. } | SkelError::BadResult { .. } => {
                ErrorCode::DecodingFailure
            }
            SkelError::NetworkNotFound { .. } | SkelError::NoConfigs { .. } => {
                ErrorCode::InvalidConfig
            }
            SkelError::EmptyPluginName
            | SkelError::InvalidPluginName(_)
            | SkelError::NoPluginPaths(_)
            | SkelError::PluginNotFound { .. }
            | SkelError::Spawn { .. }
            | SkelError::Timeout { .. }
            | SkelError::PluginCrashed { .. }
            | SkelError::PluginBadOutput { .. }
            | SkelError::CacheKey { .. } => ErrorCode::Internal,
        }
    }

    /// The delegated plugin's own error, if this failure is one (looking through chain steps).
    pub fn plugin_error(&self) -> Option<&CniError> {
        match self {
            SkelError::Plugin { error, .. } => Some(error),
            SkelError::Chain { source, .. } => source.plugin_error(),
            _ => None,
        }
    }
}

impl From<SkelError> for CniError {
    /// A delegated plugin's error (or a CNI error) is returned unchanged, so the runtime sees the
    /// delegate's code, message and details; anything else becomes [`SkelError::code`] with the
    /// error's text as message.
    fn from(err: SkelError) -> Self {
        match err {
            SkelError::Plugin { error, .. } | SkelError::Cni(error) => error,
            SkelError::Chain { source, .. } if source.plugin_error().is_some() => {
                CniError::from(*source)
            }
            other => CniError::new(other.code(), other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegated_error_keeps_code_message_details() {
        let inner = CniError::plugin(123, "boom").with_details("more");
        let err = SkelError::Plugin {
            plugin: "/opt/cni/bin/x".into(),
            error: inner.clone(),
        };
        assert_eq!(err.code(), ErrorCode::Other(123));
        assert_eq!(err.to_string(), "boom; more");
        let chained = SkelError::Chain {
            plugin_type: "x".into(),
            network: "n".into(),
            verb: "add",
            source: Box::new(err),
        };
        assert_eq!(chained.code().code(), 123);
        assert_eq!(CniError::from(chained), inner);
    }

    #[test]
    fn other_failures_map_to_codes_with_text() {
        let crash = SkelError::PluginCrashed {
            plugin: "/bin/p".into(),
            status: "exit status: 2".into(),
            stderr: String::new(),
        };
        let e = CniError::from(crash);
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(e.msg.contains("no error message"), "{}", e.msg);
        let nf = SkelError::NetworkNotFound {
            dir: "/etc/cni/net.d".into(),
            name: "x".into(),
        };
        assert_eq!(CniError::from(nf).code, ErrorCode::InvalidConfig);
    }
}
