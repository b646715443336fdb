//! VLAN settings: the access VLAN id and the trunk list (`vlanTrunk`).

use serde::{Deserialize, Serialize};

use crate::error::BridgeError;

/// The highest VLAN id a port may carry (4095 is reserved by 802.1Q).
pub const MAX_VLAN_ID: i64 = 4094;

/// One entry of `vlanTrunk`: either a range (`minID` and `maxID` together), a single `id`, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanTrunk {
    /// The first VLAN id of a range (requires `maxID`).
    #[serde(rename = "minID", default, skip_serializing_if = "Option::is_none")]
    pub min_id: Option<i64>,
    /// The last VLAN id of a range (requires `minID`).
    #[serde(rename = "maxID", default, skip_serializing_if = "Option::is_none")]
    pub max_id: Option<i64>,
    /// A single VLAN id.
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// Checks the access VLAN id: 0 (no VLAN) up to 4094.
///
/// Returns the id as a `u16` (0 when no VLAN is asked for).
pub fn check_vlan(vlan: i64) -> Result<u16, BridgeError> {
    if !(0..=MAX_VLAN_ID).contains(&vlan) {
        return Err(BridgeError::config(format!(
            "invalid VLAN ID {vlan} (must be between 0 and {MAX_VLAN_ID})"
        )));
    }
    u16::try_from(vlan).map_err(|_| {
        BridgeError::config(format!(
            "invalid VLAN ID {vlan} (must be between 0 and {MAX_VLAN_ID})"
        ))
    })
}

fn trunk_vid(value: i64, what: &str) -> Result<u16, BridgeError> {
    if !(1..=MAX_VLAN_ID).contains(&value) {
        return Err(BridgeError::config(format!(
            "incorrect trunk {what} parameter"
        )));
    }
    u16::try_from(value)
        .map_err(|_| BridgeError::config(format!("incorrect trunk {what} parameter")))
}

/// Collects the VLAN ids a `vlanTrunk` list names, deduplicated and sorted, with the reference's
/// validation and error messages.
///
/// An empty list yields an empty set (the reference then still turns VLAN filtering on, because
/// the key was present).
pub fn collect_trunk(trunk: &[VlanTrunk]) -> Result<Vec<u16>, BridgeError> {
    let mut vids = std::collections::BTreeSet::new();
    for item in trunk {
        match (item.min_id, item.max_id) {
            (Some(min), Some(max)) => {
                let min = trunk_vid(min, "minID")?;
                let max = trunk_vid(max, "maxID")?;
                if max < min {
                    return Err(BridgeError::config(
                        "minID is greater than maxID in trunk parameter",
                    ));
                }
                vids.extend(min..=max);
            }
            (None, Some(_)) => {
                return Err(BridgeError::config(
                    "minID and maxID should be configured simultaneously, minID is missing",
                ));
            }
            (Some(_), None) => {
                return Err(BridgeError::config(
                    "minID and maxID should be configured simultaneously, maxID is missing",
                ));
            }
            (None, None) => {}
        }
        if let Some(id) = item.id {
            vids.insert(trunk_vid(id, "id")?);
        }
    }
    Ok(vids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: i64, max: i64) -> VlanTrunk {
        VlanTrunk {
            min_id: Some(min),
            max_id: Some(max),
            id: None,
        }
    }

    fn single(id: i64) -> VlanTrunk {
        VlanTrunk {
            id: Some(id),
            ..VlanTrunk::default()
        }
    }

    fn message(trunk: &[VlanTrunk]) -> String {
        match collect_trunk(trunk) {
            Ok(v) => format!("unexpected success {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn vlan_ids_in_range() {
        assert_eq!(check_vlan(0).ok(), Some(0));
        assert_eq!(check_vlan(4094).ok(), Some(4094));
        for bad in [-100, 4095, 5000] {
            let err = check_vlan(bad).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some(format!("invalid VLAN ID {bad} (must be between 0 and 4094)").as_str())
            );
        }
    }

    #[test]
    fn empty_trunk_is_empty() {
        assert_eq!(collect_trunk(&[]).ok(), Some(vec![]));
    }

    #[test]
    fn ranges_and_ids_are_merged_sorted_and_deduplicated() {
        let got = collect_trunk(&[single(300), range(101, 104), single(102), range(103, 105)]);
        assert_eq!(got.ok(), Some(vec![101, 102, 103, 104, 105, 300]));
        let both = VlanTrunk {
            min_id: Some(10),
            max_id: Some(11),
            id: Some(5),
        };
        assert_eq!(collect_trunk(&[both]).ok(), Some(vec![5, 10, 11]));
    }

    #[test]
    fn the_reference_error_messages() {
        let no_max = VlanTrunk {
            min_id: Some(1),
            ..VlanTrunk::default()
        };
        let no_min = VlanTrunk {
            max_id: Some(1),
            ..VlanTrunk::default()
        };
        assert_eq!(
            message(&[no_max]),
            "minID and maxID should be configured simultaneously, maxID is missing"
        );
        assert_eq!(
            message(&[no_min]),
            "minID and maxID should be configured simultaneously, minID is missing"
        );
        assert_eq!(message(&[range(-1, 10)]), "incorrect trunk minID parameter");
        assert_eq!(
            message(&[range(4095, 4095)]),
            "incorrect trunk minID parameter"
        );
        assert_eq!(
            message(&[range(1, 5000)]),
            "incorrect trunk maxID parameter"
        );
        assert_eq!(message(&[range(1, 0)]), "incorrect trunk maxID parameter");
        assert_eq!(message(&[single(0)]), "incorrect trunk id parameter");
        assert_eq!(message(&[single(4095)]), "incorrect trunk id parameter");
        assert_eq!(
            message(&[range(20, 10)]),
            "minID is greater than maxID in trunk parameter"
        );
    }
}
