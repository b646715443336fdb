//! The CNI error: a spec error code, a message and details, as printed on stdout by a failing plugin.

use std::fmt;
use std::sync::Arc;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::version::Version;

/// A CNI error code (spec §5 "Error").
///
/// Codes 0–99 are reserved by the spec; 100 and above are free for plugins. The named variants are
/// the well-known codes; every other number is carried by [`ErrorCode::Other`]. Two codes compare
/// equal when their numbers are equal, whichever variant spelled them.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: unknown error (used by the Go reference only).
    Unknown,
    /// 1: incompatible CNI version.
    IncompatibleVersion,
    /// 2: unsupported field in the network configuration; the message names the key and value.
    UnsupportedField,
    /// 3: the container is unknown or does not exist (the runtime need not clean up).
    UnknownContainer,
    /// 4: invalid necessary environment variables; the message names them.
    InvalidEnvironment,
    /// 5: I/O failure, e.g. reading the network configuration from stdin.
    IoFailure,
    /// 6: failed to decode content (configuration JSON, a version string, a result).
    DecodingFailure,
    /// 7: invalid network configuration (validation failed).
    InvalidConfig,
    /// 8: the plugin's own network namespace is `CNI_NETNS` (Go reference only).
    InvalidNetns,
    /// 11: a transient condition; the runtime should retry later.
    TryAgainLater,
    /// 50: the plugin is not available: it cannot service ADD requests (STATUS).
    PluginNotAvailable,
    /// 51: the plugin is not available, and existing containers in the network may have limited
    /// connectivity (STATUS).
    LimitedConnectivity,
    /// 999: an internal error without a more specific code (the Go skel's wrapper for untyped errors).
    Internal,
    /// Any other code; 100 and above are plugin-specific.
    Other(u32),
}

impl ErrorCode {
    /// The numeric code written in the error JSON.
    pub const fn code(self) -> u32 {
        match self {
            Self::Unknown => 0,
            Self::IncompatibleVersion => 1,
            Self::UnsupportedField => 2,
            Self::UnknownContainer => 3,
            Self::InvalidEnvironment => 4,
            Self::IoFailure => 5,
            Self::DecodingFailure => 6,
            Self::InvalidConfig => 7,
            Self::InvalidNetns => 8,
            Self::TryAgainLater => 11,
            Self::PluginNotAvailable => 50,
            Self::LimitedConnectivity => 51,
            Self::Internal => 999,
            Self::Other(code) => code,
        }
    }

    /// The code for a number, using the named variant when there is one.
    pub const fn from_code(code: u32) -> Self {
        match code {
            0 => Self::Unknown,
            1 => Self::IncompatibleVersion,
            2 => Self::UnsupportedField,
            3 => Self::UnknownContainer,
            4 => Self::InvalidEnvironment,
            5 => Self::IoFailure,
            6 => Self::DecodingFailure,
            7 => Self::InvalidConfig,
            8 => Self::InvalidNetns,
            11 => Self::TryAgainLater,
            50 => Self::PluginNotAvailable,
            51 => Self::LimitedConnectivity,
            999 => Self::Internal,
            other => Self::Other(other),
        }
    }

    /// Whether the code is in the plugin-specific range (100 and above).
    pub const fn is_plugin_specific(self) -> bool {
        self.code() >= 100
    }
}

impl PartialEq for ErrorCode {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

impl Eq for ErrorCode {}

impl std::hash::Hash for ErrorCode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code().hash(state);
    }
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> Self {
        Self::from_code(code)
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> Self {
        code.code()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The error of every fallible operation in this crate, and the error a plugin returns.
///
/// It carries what the spec's error JSON carries: a [`code`](ErrorCode), a short message and optional
/// details. [`Display`](fmt::Display) prints `msg; details` (or `msg` alone when there are no
/// details), as the Go reference does. A lower-level cause can be attached with
/// [`with_source`](CniError::with_source); it is reported by [`std::error::Error::source`] but never
/// serialised.
///
/// Serialising a `CniError` on its own writes `{"code", "msg", "details"}` (details omitted when
/// empty); [`to_json_for`](CniError::to_json_for) adds the spec's `cniVersion`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}{}", details_suffix(details))]
pub struct CniError {
    /// The spec error code.
    pub code: ErrorCode,
    /// A short human-readable message.
    pub msg: String,
    /// Longer details; empty when there are none.
    pub details: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

fn details_suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!("; {details}")
    }
}

impl PartialEq for CniError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.msg == other.msg && self.details == other.details
    }
}

impl Eq for CniError {}

impl CniError {
    /// An error with any code and message, without details.
    pub fn new(code: impl Into<ErrorCode>, msg: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            msg: msg.into(),
            details: String::new(),
            source: None,
        }
    }

    /// Code 1: incompatible CNI version.
    pub fn incompatible_version(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::IncompatibleVersion, msg)
    }

    /// Code 2: unsupported field in the network configuration (name the key and value).
    pub fn unsupported_field(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedField, msg)
    }

    /// Code 3: the container is unknown or does not exist.
    pub fn unknown_container(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnknownContainer, msg)
    }

    /// Code 4: invalid environment variables (name them).
    pub fn invalid_environment(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidEnvironment, msg)
    }

    /// Code 5: I/O failure.
    pub fn io_failure(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::IoFailure, msg)
    }

    /// Code 6: failed to decode content.
    pub fn decoding_failure(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::DecodingFailure, msg)
    }

    /// Code 7: invalid network configuration.
    pub fn invalid_config(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, msg)
    }

    /// Code 11: a transient condition; the runtime should try again later.
    pub fn try_again_later(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::TryAgainLater, msg)
    }

    /// Code 50: the plugin is not available, it cannot service ADD (STATUS).
    pub fn plugin_not_available(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::PluginNotAvailable, msg)
    }

    /// Code 50 under the name "no connectivity": the plugin cannot service ADD, so new containers
    /// would get no connectivity. The same as [`plugin_not_available`](Self::plugin_not_available).
    pub fn no_connectivity(msg: impl Into<String>) -> Self {
        Self::plugin_not_available(msg)
    }

    /// Code 51: the plugin is not available and existing containers may have limited connectivity
    /// (STATUS).
    pub fn limited_connectivity(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::LimitedConnectivity, msg)
    }

    /// Code 999: an internal error with no more specific code.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, msg)
    }

    /// A plugin-specific error. Codes below 100 are reserved by the spec; a plugin should pass 100
    /// or more (the code is used as given).
    pub fn plugin(code: u32, msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::from_code(code), msg)
    }

    /// The same error with `details` set.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// The same error with a lower-level cause attached (reported by `source()`, not serialised).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The error JSON as the spec writes it, with `cniVersion` first.
    pub fn to_json_for(&self, version: Version) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("cniVersion".into(), version.as_str().into());
        map.insert("code".into(), self.code.code().into());
        map.insert("msg".into(), self.msg.clone().into());
        if !self.details.is_empty() {
            map.insert("details".into(), self.details.clone().into());
        }
        serde_json::Value::Object(map)
    }

    /// Parses an error JSON (with or without `cniVersion`), e.g. a delegated plugin's stdout.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CniError> {
        serde_json::from_slice(bytes).map_err(|e| {
            CniError::decoding_failure("failed to decode error result").with_details(e.to_string())
        })
    }
}

impl Serialize for CniError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.details.is_empty() { 2 } else { 3 };
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("code", &self.code.code())?;
        map.serialize_entry("msg", &self.msg)?;
        if !self.details.is_empty() {
            map.serialize_entry("details", &self.details)?;
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct ErrorWire {
    #[serde(default, rename = "cniVersion")]
    _cni_version: Option<String>,
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

impl<'de> Deserialize<'de> for CniError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ErrorWire::deserialize(deserializer)?;
        Ok(CniError::new(wire.code, wire.msg).with_details(wire.details))
    }
}

impl From<serde_json::Error> for CniError {
    /// JSON syntax errors and truncated input become code 6 (decoding failure); well-formed JSON
    /// with wrong types or invalid values becomes code 7 (invalid configuration).
    fn from(err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let code = match err.classify() {
            Category::Data => ErrorCode::InvalidConfig,
            Category::Io | Category::Syntax | Category::Eof => ErrorCode::DecodingFailure,
        };
        CniError::new(code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_constructors() {
        let cases = [
            (CniError::incompatible_version("m"), 1),
            (CniError::unsupported_field("m"), 2),
            (CniError::unknown_container("m"), 3),
            (CniError::invalid_environment("m"), 4),
            (CniError::io_failure("m"), 5),
            (CniError::decoding_failure("m"), 6),
            (CniError::invalid_config("m"), 7),
            (CniError::try_again_later("m"), 11),
            (CniError::plugin_not_available("m"), 50),
            (CniError::no_connectivity("m"), 50),
            (CniError::limited_connectivity("m"), 51),
            (CniError::internal("m"), 999),
            (CniError::plugin(100, "m"), 100),
            (CniError::plugin(4242, "m"), 4242),
        ];
        for (err, code) in cases {
            assert_eq!(err.code.code(), code);
            assert_eq!(ErrorCode::from_code(code), err.code);
            assert_eq!(u32::from(err.code), code);
        }
        assert!(ErrorCode::from(100).is_plugin_specific());
        assert!(!ErrorCode::InvalidConfig.is_plugin_specific());
        assert_eq!(ErrorCode::Other(7), ErrorCode::InvalidConfig);
        assert_eq!(ErrorCode::from_code(8), ErrorCode::InvalidNetns);
    }

    #[test]
    fn json_forms() {
        let e = CniError::invalid_config("Invalid Configuration")
            .with_details("Network 192.168.0.0/31 too small to allocate from.");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":7,"msg":"Invalid Configuration","details":"Network 192.168.0.0/31 too small to allocate from."}"#
        );
        assert_eq!(
            serde_json::to_string(&e.to_json_for(Version::V1_1_0)).unwrap(),
            r#"{"cniVersion":"1.1.0","code":7,"msg":"Invalid Configuration","details":"Network 192.168.0.0/31 too small to allocate from."}"#
        );
        let bare = CniError::try_again_later("busy");
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"code":11,"msg":"busy"}"#
        );
        assert_eq!(
            CniError::from_slice(br#"{"code":11,"msg":"busy"}"#).unwrap(),
            bare
        );
        let err = CniError::from_slice(b"not json").unwrap_err();
        assert_eq!(err.code, ErrorCode::DecodingFailure);
        assert!(CniError::from_slice(br#"{"msg":"no code"}"#).is_err());
        assert!(CniError::from_slice(br#"{"code":-1,"msg":"m"}"#).is_err());
    }

    #[test]
    fn display_and_source() {
        use std::error::Error as _;
        let io = std::io::Error::other("disk on fire");
        let e = CniError::io_failure("failed to write state").with_source(io);
        assert_eq!(e.to_string(), "failed to write state");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
        // The source does not take part in equality or JSON.
        assert_eq!(e, CniError::io_failure("failed to write state"));
    }

    #[test]
    fn serde_json_errors_map_to_codes() {
        let syntax = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(CniError::from(syntax).code, ErrorCode::DecodingFailure);
        let data = serde_json::from_str::<u8>("300").unwrap_err();
        assert_eq!(CniError::from(data).code, ErrorCode::InvalidConfig);
    }
}
