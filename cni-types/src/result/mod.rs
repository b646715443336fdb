//! Results of every spec version: the three wire formats, a version-tagged [`CniResult`], parsing,
//! writing and conversion.
//!
//! | versions | type | shape |
//! |---|---|---|
//! | 0.1.0, 0.2.0 | [`Result020`] | `ip4` / `ip6` with nested routes |
//! | 0.3.0, 0.3.1, 0.4.0 | [`Result040`] | `interfaces`, `ips[]` with `version`, `routes` |
//! | 1.0.0, 1.1.0 | [`Result100`] | as 0.4.0 without `version`; interface `mtu`, `socketPath`, `pciID` |
//!
//! Any result converts to any version ([`CniResult::convert_to`]). Plugins build a [`Result100`] and
//! write it in the config's version with [`Result100::to_json_for`] / [`Result100::to_vec_for`].
//!
//! Conversion rules (those of the reference implementation):
//!
//! - within a format only `cniVersion` changes (1.0.0 ↔ 1.1.0 is the identity otherwise);
//! - 0.1.0/0.2.0 → later: `ip4`/`ip6` become `ips` entries without interface index, their routes
//!   are flattened into `routes` (IPv4 first), there are no interfaces;
//! - 0.3.x/0.4.0 → 1.x: `ips[].version` is dropped;
//! - 1.x → 0.3.x/0.4.0: `ips[].version` is computed from the address; interface `mtu`,
//!   `socketPath` and `pciID` are dropped; routes keep all their attributes;
//! - any → 0.1.0/0.2.0: the first IPv4 and the first IPv6 address are kept with their gateways,
//!   each route goes to the family of its destination (only `dst` and `gw`) if that family has an
//!   address, interfaces are dropped; with no address at all the conversion fails with
//!   `cannot convert: no valid IP addresses` (code 1).
//!
//! Parsing errors of results are decoding failures (code 6).

mod common;
mod convert;
mod v020;
mod v040;
mod v100;

use serde::Serialize;
use serde_json::Value;

pub use common::{Dns, Route};
pub use v020::{IpConfig020, Result020};
pub use v040::{Interface040, IpConfig040, IpVersion, Result040};
pub use v100::{Interface, IpConfig, Result100};

use crate::error::CniError;
use crate::version::{ResultFormat, Version, quoted_list};

/// A result in any spec version, tagged by its wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CniResult {
    /// A 0.1.0 or 0.2.0 result.
    V020(Result020),
    /// A 0.3.0, 0.3.1 or 0.4.0 result.
    V040(Result040),
    /// A 1.0.0 or 1.1.0 result.
    V100(Result100),
}

impl CniResult {
    /// The spec version the result is written in.
    pub fn version(&self) -> Version {
        match self {
            CniResult::V020(r) => r.cni_version,
            CniResult::V040(r) => r.cni_version,
            CniResult::V100(r) => r.cni_version,
        }
    }

    /// Parses a result given the version it is expected in (a config's `cniVersion`), as the
    /// reference's `create.Create(version, bytes)` does.
    ///
    /// The result's own `cniVersion` may be any version of the same format as `version`; when it is
    /// missing or empty, `version` is used (the reference's fix-up for plugins that omit it).
    /// Another version is a decoding failure (code 6): `result type supports ["1.0.0" "1.1.0"] but
    /// unmarshalled CNIVersion is "0.2.0"`; so is malformed JSON or a wrong field type.
    pub fn from_slice(version: Version, bytes: &[u8]) -> Result<CniResult, CniError> {
        let value: Value = serde_json::from_slice(bytes).map_err(decode_err)?;
        Self::from_value(version, value)
    }

    /// Like [`from_slice`](Self::from_slice), from parsed JSON.
    pub fn from_value(version: Version, mut value: Value) -> Result<CniResult, CniError> {
        let format = version.result_format();
        let obj = value.as_object_mut().ok_or_else(|| {
            CniError::decoding_failure("failed to decode result: not a JSON object")
        })?;
        let own = match obj.get("cniVersion") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(CniError::decoding_failure(format!(
                    "failed to decode result: cniVersion must be a string, got {other}"
                )));
            }
        };
        let own = match own {
            None => version,
            Some(s) => format
                .versions()
                .iter()
                .copied()
                .find(|v| v.as_str() == s)
                .ok_or_else(|| {
                    CniError::decoding_failure(format!(
                        "result type supports {} but unmarshalled CNIVersion is {s:?}",
                        quoted_list(format.versions())
                    ))
                })?,
        };
        obj.insert("cniVersion".into(), Value::String(own.as_str().into()));
        Ok(match format {
            ResultFormat::V020 => {
                CniResult::V020(serde_json::from_value(value).map_err(decode_err)?)
            }
            ResultFormat::V040 => {
                CniResult::V040(serde_json::from_value(value).map_err(decode_err)?)
            }
            ResultFormat::V100 => {
                CniResult::V100(serde_json::from_value(value).map_err(decode_err)?)
            }
        })
    }

    /// Parses a result in the version its own `cniVersion` names (missing or empty means 0.1.0, as
    /// in the reference). An unknown version is an error.
    pub fn from_slice_own_version(bytes: &[u8]) -> Result<CniResult, CniError> {
        let value: Value = serde_json::from_slice(bytes).map_err(decode_err)?;
        let version = match value.get("cniVersion") {
            None | Some(Value::Null) => Version::V0_1_0,
            Some(Value::String(s)) => Version::parse(s)?,
            Some(other) => {
                return Err(CniError::decoding_failure(format!(
                    "failed to decode result: cniVersion must be a string, got {other}"
                )));
            }
        };
        Self::from_value(version, value)
    }

    /// Converts to any version with the reference's rules (see the crate docs). Conversion to the
    /// same format only changes the version string. Converting a result without any IP address to
    /// 0.1.0/0.2.0 fails with `cannot convert: no valid IP addresses`.
    pub fn convert_to(&self, to: Version) -> Result<CniResult, CniError> {
        use ResultFormat as F;
        Ok(match (self, to.result_format()) {
            (CniResult::V020(r), F::V020) => CniResult::V020(Result020 {
                cni_version: to,
                ..r.clone()
            }),
            (CniResult::V020(r), F::V040) => CniResult::V040(convert::v020_to_v040(r, to)),
            (CniResult::V020(r), F::V100) => {
                let mid = convert::v020_to_v040(r, Version::V0_4_0);
                CniResult::V100(convert::v040_to_v100(&mid, to))
            }
            (CniResult::V040(r), F::V020) => CniResult::V020(convert::v040_to_v020(r, to)?),
            (CniResult::V040(r), F::V040) => CniResult::V040(Result040 {
                cni_version: to,
                ..r.clone()
            }),
            (CniResult::V040(r), F::V100) => CniResult::V100(convert::v040_to_v100(r, to)),
            (CniResult::V100(r), F::V020) => {
                let mid = convert::v100_to_v040(r, Version::V0_4_0);
                CniResult::V020(convert::v040_to_v020(&mid, to)?)
            }
            (CniResult::V100(r), F::V040) => CniResult::V040(convert::v100_to_v040(r, to)),
            (CniResult::V100(r), F::V100) => CniResult::V100(Result100 {
                cni_version: to,
                ..r.clone()
            }),
        })
    }

    /// [`CniResult::convert_to`] consuming the result: a conversion to the same format moves it
    /// and sets the version instead of copying it.
    pub fn into_version(self, to: Version) -> Result<CniResult, CniError> {
        use ResultFormat as F;
        match (self, to.result_format()) {
            (CniResult::V020(r), F::V020) => Ok(CniResult::V020(Result020 {
                cni_version: to,
                ..r
            })),
            (CniResult::V040(r), F::V040) => Ok(CniResult::V040(Result040 {
                cni_version: to,
                ..r
            })),
            (CniResult::V100(r), F::V100) => Ok(CniResult::V100(Result100 {
                cni_version: to,
                ..r
            })),
            (other, _) => other.convert_to(to),
        }
    }

    /// The result as a canonical 1.1.0 [`Result100`] (up-converted as the reference's
    /// `NewResultFromResult` does; never fails for results that parsed).
    pub fn to_current(&self) -> Result100 {
        match self {
            CniResult::V020(r) => {
                let mid = convert::v020_to_v040(r, Version::V0_4_0);
                convert::v040_to_v100(&mid, Version::CURRENT)
            }
            CniResult::V040(r) => convert::v040_to_v100(r, Version::CURRENT),
            CniResult::V100(r) => Result100 {
                cni_version: Version::CURRENT,
                ..r.clone()
            },
        }
    }

    /// The result as JSON, in its own version's shape.
    pub fn to_value(&self) -> Result<Value, CniError> {
        match self {
            CniResult::V020(r) => to_value(r),
            CniResult::V040(r) => to_value(r),
            CniResult::V100(r) => to_value(r),
        }
    }

    /// The result as compact JSON bytes (the bytes of [`CniResult::to_value`], written directly
    /// from the result rather than through a `Value`).
    pub fn to_vec(&self) -> Result<Vec<u8>, CniError> {
        serde_json::to_vec(self).map_err(encode_err)
    }

    /// The result as JSON bytes indented with four spaces and no trailing newline, exactly as the
    /// reference plugins print results. Written directly from the result: building the `Value`
    /// first and dropping it cost a bridge ADD about 50 000 instructions (7 %).
    pub fn to_vec_pretty(&self) -> Result<Vec<u8>, CniError> {
        to_vec_go_pretty(self)
    }
}

impl Serialize for CniResult {
    /// Writes the result in its own version's shape (the same JSON as [`CniResult::to_value`]).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CniResult::V020(r) => r.serialize(serializer),
            CniResult::V040(r) => r.serialize(serializer),
            CniResult::V100(r) => r.serialize(serializer),
        }
    }
}

impl From<Result100> for CniResult {
    fn from(r: Result100) -> Self {
        CniResult::V100(r)
    }
}

impl From<Result040> for CniResult {
    fn from(r: Result040) -> Self {
        CniResult::V040(r)
    }
}

impl From<Result020> for CniResult {
    fn from(r: Result020) -> Self {
        CniResult::V020(r)
    }
}

impl Result100 {
    /// Converts this result to `version` (any spec version).
    pub fn convert_to(&self, version: Version) -> Result<CniResult, CniError> {
        CniResult::V100(self.clone()).convert_to(version)
    }

    /// This result as JSON in the shape of `version`, which is what a plugin prints for a config of
    /// that `cniVersion`.
    pub fn to_json_for(&self, version: Version) -> Result<Value, CniError> {
        self.convert_to(version)?.to_value()
    }

    /// This result as compact JSON bytes in the shape of `version`.
    pub fn to_vec_for(&self, version: Version) -> Result<Vec<u8>, CniError> {
        self.convert_to(version)?.to_vec()
    }

    /// This result as JSON bytes in the shape of `version`, indented as the reference prints.
    pub fn to_vec_pretty_for(&self, version: Version) -> Result<Vec<u8>, CniError> {
        self.convert_to(version)?.to_vec_pretty()
    }
}

/// Writes JSON indented with four spaces, as Go's `json.MarshalIndent(v, "", "    ")`.
pub(crate) fn to_vec_go_pretty<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CniError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).map_err(encode_err)?;
    Ok(out)
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, CniError> {
    serde_json::to_value(value).map_err(encode_err)
}

fn decode_err(e: serde_json::Error) -> CniError {
    CniError::decoding_failure(format!("failed to decode result: {e}"))
}

fn encode_err(e: serde_json::Error) -> CniError {
    CniError::internal(format!("failed to encode JSON: {e}"))
}
