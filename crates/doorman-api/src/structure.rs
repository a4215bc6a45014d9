//! Bodies of the routes that change and remove what a manager made: the
//! property's description, units, doors, drop spots, and locks taken out of
//! service or replaced.
//!
//! An edit names only what changes: a field left out stays as it is. For
//! the fields that may be cleared (a door's parent and unit, a drop spot's
//! unit), `null` clears and leaving the field out keeps it.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::{AccessPointId, AccessPointKind, DropSpotKind, GeoPoint, PropertyKind, UnitId};

/// A present field, `null` included: `Some(None)` clears, a missing field
/// (serde's default) is `None` and keeps.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateProperty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    /// IANA name, e.g. America/New_York.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PropertyKind>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateUnit {
    pub label: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateAccessPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AccessPointKind>,
    /// The door passed just before this one; `null` makes it a street door,
    /// leaving it out keeps the parent. A change must not make a cycle.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AccessPointId>, nullable)]
    pub parent_id: Option<Option<AccessPointId>>,
    /// For a unit door: whose door it is; `null` clears, leaving it out keeps.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<UnitId>, nullable)]
    pub unit_id: Option<Option<UnitId>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateDropSpot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DropSpotKind>,
    /// The unit the spot belongs to; `null` clears, leaving it out keeps.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<UnitId>, nullable)]
    pub unit_id: Option<Option<UnitId>>,
}

/// A new lock for the door of the lock it replaces (the old one is
/// decommissioned in the same step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplaceLock {
    /// Ed25519 device public key, 32 bytes, base64url.
    pub device_public_key: String,
    pub model: String,
    pub firmware: String,
    pub mobile_credential: bool,
    pub keypad: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_clears_and_a_missing_field_keeps() {
        let clear: UpdateAccessPoint = serde_json::from_str(r#"{"parent_id": null}"#).unwrap_or_default();
        assert_eq!(clear.parent_id, Some(None));
        assert_eq!(clear.unit_id, None);
        let keep: UpdateDropSpot = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(keep.unit_id, None);
        let back = serde_json::to_string(&clear).unwrap_or_default();
        assert_eq!(back, r#"{"parent_id":null}"#);
    }
}
