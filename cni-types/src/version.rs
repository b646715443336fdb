//! Spec versions, verbs, version negotiation and the VERSION output.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CniError;

/// A version of the CNI specification that this crate implements.
///
/// Ordered by release. Parsing accepts exactly the version strings below, plus the empty string,
/// which the spec's reference implementation reads as 0.1.0. Serialises as the version string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 0.1.0 (result format with `ip4`/`ip6`).
    V0_1_0,
    /// 0.2.0 (same result format as 0.1.0).
    V0_2_0,
    /// 0.3.0 (result format with `interfaces`, `ips[].version`).
    V0_3_0,
    /// 0.3.1.
    V0_3_1,
    /// 0.4.0 (adds CHECK).
    V0_4_0,
    /// 1.0.0 (drops `ips[].version`; config lists only).
    V1_0_0,
    /// 1.1.0 (adds STATUS and GC, `cniVersions`, interface `mtu`/`socketPath`/`pciID`).
    V1_1_0,
}

/// The three result wire formats used across spec versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResultFormat {
    /// 0.1.0 and 0.2.0: `ip4` / `ip6` objects.
    V020,
    /// 0.3.0, 0.3.1 and 0.4.0: `interfaces`, `ips` with `version`.
    V040,
    /// 1.0.0 and 1.1.0: `ips` without `version`, richer interfaces and routes.
    V100,
}

impl ResultFormat {
    /// The versions that use this format, oldest first.
    pub const fn versions(self) -> &'static [Version] {
        match self {
            Self::V020 => &[Version::V0_1_0, Version::V0_2_0],
            Self::V040 => &[Version::V0_3_0, Version::V0_3_1, Version::V0_4_0],
            Self::V100 => &[Version::V1_0_0, Version::V1_1_0],
        }
    }
}

impl Version {
    /// Every implemented version, oldest first (what the reference plugins advertise).
    pub const ALL: [Version; 7] = [
        Version::V0_1_0,
        Version::V0_2_0,
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];

    /// The newest implemented version, 1.1.0.
    pub const CURRENT: Version = Version::V1_1_0;

    /// The legacy versions whose results use the `ip4`/`ip6` format.
    pub const LEGACY: [Version; 2] = [Version::V0_1_0, Version::V0_2_0];

    /// The version string, e.g. `"0.4.0"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
            Self::V0_2_0 => "0.2.0",
            Self::V0_3_0 => "0.3.0",
            Self::V0_3_1 => "0.3.1",
            Self::V0_4_0 => "0.4.0",
            Self::V1_0_0 => "1.0.0",
            Self::V1_1_0 => "1.1.0",
        }
    }

    /// The numeric form of this version.
    pub const fn number(self) -> VersionNumber {
        let (major, minor, micro) = match self {
            Self::V0_1_0 => (0, 1, 0),
            Self::V0_2_0 => (0, 2, 0),
            Self::V0_3_0 => (0, 3, 0),
            Self::V0_3_1 => (0, 3, 1),
            Self::V0_4_0 => (0, 4, 0),
            Self::V1_0_0 => (1, 0, 0),
            Self::V1_1_0 => (1, 1, 0),
        };
        VersionNumber {
            major,
            minor,
            micro,
        }
    }

    /// The implemented version with this number, if any (`1.0` and `1.0.0` both give 1.0.0).
    pub fn from_number(number: VersionNumber) -> Option<Version> {
        Self::ALL.into_iter().find(|v| v.number() == number)
    }

    /// Parses a version string: exactly one of the implemented version strings, or `""` for 0.1.0.
    ///
    /// A malformed string is a decoding failure (code 6); a well-formed but unimplemented version
    /// (e.g. `"1.2.3"` or `"1.0"`) is an incompatible version (code 1).
    pub fn parse(s: &str) -> Result<Version, CniError> {
        if s.is_empty() {
            return Ok(Version::V0_1_0);
        }
        if let Some(v) = Self::ALL.into_iter().find(|v| v.as_str() == s) {
            return Ok(v);
        }
        VersionNumber::parse(s)?;
        Err(
            CniError::incompatible_version(format!("unsupported CNI version {s:?}")).with_details(
                format!("supported versions are {}", quoted_list(&Self::ALL)),
            ),
        )
    }

    /// Whether this config version allows the verb: CHECK needs 0.4.0, STATUS and GC need 1.1.0.
    pub fn allows(self, command: Command) -> bool {
        match command {
            Command::Add | Command::Del | Command::Version => true,
            Command::Check => self >= Version::V0_4_0,
            Command::Status | Command::Gc => self >= Version::V1_1_0,
        }
    }

    /// The result wire format of this version.
    pub const fn result_format(self) -> ResultFormat {
        match self {
            Self::V0_1_0 | Self::V0_2_0 => ResultFormat::V020,
            Self::V0_3_0 | Self::V0_3_1 | Self::V0_4_0 => ResultFormat::V040,
            Self::V1_0_0 | Self::V1_1_0 => ResultFormat::V100,
        }
    }

    /// The versions from `min` on, inclusive, e.g. `starting_from(V0_3_1)` is 0.3.1, 0.4.0, 1.0.0,
    /// 1.1.0.
    pub fn starting_from(min: Version) -> Vec<Version> {
        Self::ALL.into_iter().filter(|v| *v >= min).collect()
    }
}

/// Formats versions the way the Go reference's `%q` prints a string slice: `["a" "b"]`.
pub(crate) fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    format!("[{}]", inner.join(" "))
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = CniError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Any well-formed version number `major[.minor[.micro]]`, implemented or not (e.g. `99.0.0` in a
/// config's `cniVersions`). Missing parts are 0; `""` is 0.1.0, as in the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionNumber {
    /// Major part.
    pub major: u64,
    /// Minor part.
    pub minor: u64,
    /// Micro (patch) part.
    pub micro: u64,
}

impl VersionNumber {
    /// Parses `major[.minor[.micro]]`; errors are decoding failures (code 6).
    pub fn parse(s: &str) -> Result<VersionNumber, CniError> {
        if s.is_empty() {
            return Ok(Version::V0_1_0.number());
        }
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() >= 4 {
            return Err(CniError::decoding_failure(format!(
                "invalid version {s:?}: too many parts"
            )));
        }
        let mut numbers = [0u64; 3];
        for ((slot, part), name) in numbers
            .iter_mut()
            .zip(parts.iter())
            .zip(["major", "minor", "micro"])
        {
            let valid = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let parsed = if valid {
                part.parse::<u64>().ok()
            } else {
                None
            };
            match parsed {
                Some(n) => *slot = n,
                None => {
                    return Err(CniError::decoding_failure(format!(
                        "failed to convert {name} version part {part:?}: invalid number"
                    )));
                }
            }
        }
        let [major, minor, micro] = numbers;
        Ok(VersionNumber {
            major,
            minor,
            micro,
        })
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

impl From<Version> for VersionNumber {
    fn from(v: Version) -> Self {
        v.number()
    }
}

/// A CNI verb, as given in `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `ADD`: attach the container to the network.
    Add,
    /// `DEL`: detach the container; best effort, idempotent.
    Del,
    /// `CHECK`: verify an attachment (0.4.0 and later).
    Check,
    /// `STATUS`: report whether the plugin can service ADD (1.1.0 and later).
    Status,
    /// `GC`: remove resources of attachments no longer valid (1.1.0 and later).
    Gc,
    /// `VERSION`: report the supported spec versions.
    Version,
}

impl Command {
    /// Every verb.
    pub const ALL: [Command; 6] = [
        Command::Add,
        Command::Del,
        Command::Check,
        Command::Status,
        Command::Gc,
        Command::Version,
    ];

    /// The `CNI_COMMAND` value, e.g. `"ADD"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Check => "CHECK",
            Self::Status => "STATUS",
            Self::Gc => "GC",
            Self::Version => "VERSION",
        }
    }

    /// The first spec version that has this verb.
    pub const fn since(self) -> Version {
        match self {
            Self::Add | Self::Del | Self::Version => Version::V0_1_0,
            Self::Check => Version::V0_4_0,
            Self::Status | Self::Gc => Version::V1_1_0,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Command {
    type Err = CniError;

    /// Parses a `CNI_COMMAND` value (exact, upper case). Anything else is code 4
    /// `unknown CNI_COMMAND: X`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CniError::invalid_environment(format!("unknown CNI_COMMAND: {s}")))
    }
}

/// Checks a config version against the versions a plugin supports, for a verb, with the reference
/// skel's rules and messages, and returns the config's version.
///
/// - The config version must be well-formed, else code 6.
/// - CHECK needs a config version ≥ 0.4.0 (code 1 `config version does not allow CHECK`) and some
///   supported version ≥ the config's (code 1 `plugin version does not allow CHECK`); GC and STATUS
///   the same with 1.1.0.
/// - Then the config version must be exactly one of `supported` (code 1 `incompatible CNI
///   versions`, details `config is "X", plugin supports ["a" "b"]`).
///
/// VERSION needs no check and returns [`Version::CURRENT`].
pub fn reconcile(
    command: Command,
    config_version: &str,
    supported: &[Version],
) -> Result<Version, CniError> {
    if command == Command::Version {
        return Ok(Version::CURRENT);
    }
    let number = VersionNumber::parse(config_version)?;
    if matches!(command, Command::Check | Command::Gc | Command::Status) {
        if number < command.since().number() {
            return Err(CniError::incompatible_version(format!(
                "config version does not allow {command}"
            )));
        }
        if !supported.iter().any(|v| v.number() >= number) {
            return Err(CniError::incompatible_version(format!(
                "plugin version does not allow {command}"
            )));
        }
    }
    // An empty config version means 0.1.0 (the reference decodes a missing version as "0.1.0").
    let effective = if config_version.is_empty() {
        Version::V0_1_0.as_str()
    } else {
        config_version
    };
    supported
        .iter()
        .copied()
        .find(|v| v.as_str() == effective)
        .ok_or_else(|| {
            CniError::incompatible_version("incompatible CNI versions").with_details(format!(
                "config is {effective:?}, plugin supports {}",
                quoted_list(supported)
            ))
        })
}

/// Selects the version of a config list (spec §1 "Version considerations", libcni's rules).
///
/// Candidates are the entries of `cni_versions` plus `cni_version`; those not in `supported` are
/// dropped and the highest remaining one is taken. A malformed candidate is a decoding failure
/// (code 6). Without any candidate (no `cniVersion`, no or empty `cniVersions`) the version is
/// 0.1.0, as the reference reads an empty version. When candidates exist but none is supported the
/// error is code 1.
pub fn negotiate_version(
    cni_version: Option<&str>,
    cni_versions: Option<&[String]>,
    supported: &[Version],
) -> Result<Version, CniError> {
    let mut candidates: Vec<&str> = cni_versions
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    if let Some(v) = cni_version
        && (!v.is_empty() || candidates.is_empty())
    {
        candidates.push(v);
    }
    if candidates.is_empty() {
        candidates.push("");
    }
    let mut best: Option<Version> = None;
    for candidate in &candidates {
        let number = VersionNumber::parse(candidate)?;
        if let Some(v) = Version::from_number(number).filter(|v| supported.contains(v)) {
            best = best.max(Some(v));
        }
    }
    best.ok_or_else(|| {
        CniError::incompatible_version("incompatible CNI versions").with_details(format!(
            "config supports {}, implementation supports {}",
            quoted_list(&candidates),
            quoted_list(supported)
        ))
    })
}

/// The output of the VERSION verb: `{"cniVersion": ..., "supportedVersions": [...]}`.
///
/// Versions are kept as strings because a runtime reads this from plugins that may support
/// versions this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The version of the VERSION output itself (the reference always writes its current version).
    #[serde(default)]
    pub cni_version: String,
    /// Every version the plugin supports.
    #[serde(default)]
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    /// The VERSION output of a plugin supporting `supported`, with `cniVersion` = 1.1.0.
    pub fn new(supported: &[Version]) -> Self {
        Self {
            cni_version: Version::CURRENT.as_str().to_owned(),
            supported_versions: supported.iter().map(|v| v.as_str().to_owned()).collect(),
        }
    }

    /// Decodes a plugin's VERSION output with the reference's rules: `cniVersion` is required;
    /// `supportedVersions` is required too, except that a 0.2.0 plugin without it supports 0.1.0
    /// and 0.2.0. Errors are decoding failures (code 6).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CniError> {
        let mut info: VersionInfo = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decoding_failure(format!("decoding version info: {e}")))?;
        if info.cni_version.is_empty() {
            return Err(CniError::decoding_failure(
                "decoding version info: missing field cniVersion",
            ));
        }
        if info.supported_versions.is_empty() {
            if info.cni_version == Version::V0_2_0.as_str() {
                info.supported_versions = Version::LEGACY
                    .iter()
                    .map(|v| v.as_str().to_owned())
                    .collect();
            } else {
                return Err(CniError::decoding_failure(
                    "decoding version info: missing field supportedVersions",
                ));
            }
        }
        Ok(info)
    }

    /// The supported versions this crate implements (unknown strings are skipped).
    pub fn known_versions(&self) -> Vec<Version> {
        self.supported_versions
            .iter()
            .filter_map(|s| Version::parse(s).ok())
            .collect()
    }

    /// Whether `version` is listed as supported.
    pub fn supports(&self, version: Version) -> bool {
        self.supported_versions
            .iter()
            .any(|s| s == version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn formats_and_gates() {
        for v in Version::ALL {
            assert!(v.result_format().versions().contains(&v));
            assert_eq!(Version::from_number(v.number()), Some(v));
            assert_eq!(v.allows(Command::Check), v >= Version::V0_4_0);
            assert_eq!(v.allows(Command::Gc), v == Version::V1_1_0);
            assert_eq!(v.allows(Command::Status), v == Version::V1_1_0);
        }
        assert_eq!(Version::CURRENT, Version::V1_1_0);
        assert_eq!(Command::Check.since(), Version::V0_4_0);
        assert_eq!(Command::Gc.to_string(), "GC");
    }

    #[test]
    fn negotiation_errors_name_both_sides() {
        let vs = vec!["2.0.0".to_owned()];
        let err = negotiate_version(None, Some(&vs), &Version::ALL).unwrap_err();
        assert_eq!(err.code, ErrorCode::IncompatibleVersion);
        assert_eq!(
            err.details,
            r#"config supports ["2.0.0"], implementation supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]"#
        );
        // A short version string names the same version.
        assert_eq!(
            negotiate_version(Some("1.0"), None, &Version::ALL).unwrap(),
            Version::V1_0_0
        );
        // The absent cniVersion with absent cniVersions is 0.1.0.
        assert_eq!(
            negotiate_version(None, None, &Version::ALL).unwrap(),
            Version::V0_1_0
        );
        assert_eq!(
            negotiate_version(Some(""), None, &Version::ALL).unwrap(),
            Version::V0_1_0
        );
    }

    #[test]
    fn version_info_json() {
        let info = VersionInfo::new(&[Version::V0_4_0, Version::V1_0_0]);
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0"]}"#
        );
    }
}
