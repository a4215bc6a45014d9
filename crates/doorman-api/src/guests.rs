//! Bodies of the vehicle and guest-pass routes: a resident registers their
//! car and its trunk device, the car reports where it is, and a resident
//! gives a named guest time-bounded access to their doors or trunk.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AccessPointId, GeoPoint, LockId, LockProvisioned};
pub use doorman_domain::{GuestDoor, GuestPass, GuestPassId, Vehicle, VehicleId, VehiclePosition};

/// `POST /v1/units/{unit_id}/vehicles`: the owner registers their car with
/// its trunk device (a lock: its Ed25519 device key, and how it opens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisterVehicle {
    pub name: String,
    #[serde(default)]
    pub plate: Option<String>,
    /// The trunk device's Ed25519 public key, base64url.
    pub device_public_key: String,
    pub model: String,
    pub firmware: String,
    /// The trunk device reads credentials from a handheld.
    pub mobile_credential: bool,
    /// The trunk device has a keypad for one-time codes.
    pub keypad: bool,
}

/// A registered vehicle and its trunk device's provisioning (shown once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VehicleProvisioned {
    pub vehicle: Vehicle,
    pub trunk_lock: LockProvisioned,
}

/// `POST /v1/vehicles/{vehicle_id}/positions`: where the car is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportPosition {
    pub position: GeoPoint,
}

/// `POST /v1/units/{unit_id}/guests` and `POST /v1/vehicles/{vehicle_id}/trunk-passes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateGuestPass {
    /// Who the guest is (a cleaner, a dog sitter, a courier).
    pub name: String,
    /// Unix seconds: the doors open from here...
    pub valid_from: i64,
    /// ...until here (exclusive). At most the service's maximum after `valid_from`.
    pub valid_until: i64,
    /// The guest's handheld P-256 key (SEC1, base64url): credentials are
    /// bound to it. Required when a door on the way reads credentials.
    #[serde(default)]
    pub handheld_public_key: Option<String>,
    /// How many times each credential may open its door (1 by default, at most 10).
    #[serde(default)]
    pub max_uses: Option<u8>,
}

/// One door of an issued pass and what opens it (shown once: the service
/// keeps neither the credential nor the code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GuestDoorAccess {
    pub access_point_id: AccessPointId,
    pub access_point_name: String,
    pub lock_id: LockId,
    /// COSE_Sign1 credential, base64url: `nbf` = valid_from, `exp` = valid_until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// One-time code for a keypad-only door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code: Option<String>,
    /// When the keypad starts accepting the code (unix seconds, at or after valid_from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code_valid_from: Option<i64>,
    /// When the keypad stops accepting it (at or before valid_until).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code_valid_until: Option<i64>,
}

/// A created pass with its credentials and codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GuestPassIssued {
    pub pass: GuestPass,
    /// From the street inwards; doors without a lock are not listed.
    pub doors: Vec<GuestDoorAccess>,
}
