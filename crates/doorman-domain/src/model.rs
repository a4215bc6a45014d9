//! The things doorman keeps: who runs what, which doors lead where, who may
//! enter when, and what was decided.

use serde::{Deserialize, Serialize};

use crate::{
    AccessPointId, AccessRequestId, CarrierId, DeliveryId, DeliveryKind, DeliveryState, DriverId, DropSpotId, GeoPoint,
    GrantId, GuestPassId, InvitationId, LockId, ManagerId, PropertyId, RefusalReason, ResidentId, UnitId, UnixSeconds,
    VehicleId, WeeklyHours,
};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manager {
    pub id: ManagerId,
    pub name: String,
    pub created_at: UnixSeconds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Carrier {
    pub id: CarrierId,
    pub name: String,
    pub created_at: UnixSeconds,
}

string_enum!(
    /// What kind of place a property is.
    PropertyKind { Building => "building", House => "house", Vehicle => "vehicle" }
);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantNotice {
    /// What residents were told.
    pub text: String,
    /// When residents were notified.
    pub notified_at: UnixSeconds,
    /// Delivery access goes live at this instant, not before.
    pub live_from: UnixSeconds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Property {
    pub id: PropertyId,
    pub manager_id: ManagerId,
    pub kind: PropertyKind,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    /// IANA time zone; carriers' hours are read in it.
    pub time_zone: String,
    /// Until a tenant notice exists and its `live_from` has passed, no
    /// carrier is let in.
    pub tenant_notice: Option<TenantNotice>,
    pub created_at: UnixSeconds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unit {
    pub id: UnitId,
    pub property_id: PropertyId,
    pub label: String,
}

string_enum!(
    /// What an access point is, from the street inwards.
    AccessPointKind {
        Entrance => "entrance",
        Lobby => "lobby",
        PackageRoom => "package_room",
        UnitDoor => "unit_door",
        Garage => "garage",
        Trunk => "trunk",
    }
);

/// A door (or gate, garage door, trunk lid). Doors form a tree: `parent` is
/// the door one passes just before reaching this one, `None` for a door on
/// the street. The path to a drop spot is the chain of parents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessPoint {
    pub id: AccessPointId,
    pub property_id: PropertyId,
    pub kind: AccessPointKind,
    pub name: String,
    pub parent_id: Option<AccessPointId>,
    /// For a unit door: whose door it is.
    pub unit_id: Option<UnitId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lock {
    pub id: LockId,
    pub property_id: PropertyId,
    pub access_point_id: AccessPointId,
    /// The lock's Ed25519 device public key (signs its challenges and events).
    #[serde(with = "crate::serde_b64")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    pub device_public_key: Vec<u8>,
    pub model: String,
    pub firmware: String,
    /// Reads credentials from a handheld (NFC/BLE).
    pub mobile_credential: bool,
    /// Has a keypad for one-time door codes.
    pub keypad: bool,
    pub created_at: UnixSeconds,
    /// When the lock was taken out of service: from then on no credential,
    /// bundle or event is accepted for it, and its MQTT account is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decommissioned_at: Option<UnixSeconds>,
    /// The lock that took its place on the same door, if it was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<LockId>,
}

impl Lock {
    /// Whether the lock is in service (not decommissioned).
    pub fn is_active(&self) -> bool {
        self.decommissioned_at.is_none()
    }
}

string_enum!(
    /// Where a parcel may be left.
    DropSpotKind {
        Lobby => "lobby",
        PackageRoom => "package_room",
        UnitDoor => "unit_door",
        InUnit => "in_unit",
        Garage => "garage",
        Trunk => "trunk",
    }
);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DropSpot {
    pub id: DropSpotId,
    pub property_id: PropertyId,
    pub name: String,
    pub kind: DropSpotKind,
    /// The last door before the spot; the path to it is this door's chain.
    pub access_point_id: AccessPointId,
    /// Spots that belong to one unit (its door, inside it) name the unit.
    pub unit_id: Option<UnitId>,
}

/// A carrier let into a property: when, and to which drop spots (and so
/// through which doors) only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarrierEnablement {
    pub property_id: PropertyId,
    pub carrier_id: CarrierId,
    pub enabled: bool,
    pub hours: Vec<WeeklyHours>,
    pub allowed_drop_spots: Vec<DropSpotId>,
    pub updated_at: UnixSeconds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resident {
    pub id: ResidentId,
    pub unit_id: UnitId,
    pub name: String,
    pub email: String,
    /// When they moved in (redeemed their invitation): they read the unit's
    /// history from here on.
    pub created_at: UnixSeconds,
    /// When they moved out: their tokens and sessions ended then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_out_at: Option<UnixSeconds>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: InvitationId,
    pub unit_id: UnitId,
    pub name: String,
    pub email: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub redeemed_at: Option<UnixSeconds>,
    /// Set for a re-invitation: redeeming it brings back this resident (same
    /// account, history and preferences) instead of making a new one.
    #[serde(default)]
    pub resident_id: Option<ResidentId>,
}

/// A household's wishes, shared by the residents of a unit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitPreferences {
    /// Where parcels should go; `None` lets the carrier use its first allowed spot.
    pub preferred_drop_spot: Option<DropSpotId>,
    /// Whether a courier may go into the unit itself.
    pub allow_in_unit: bool,
    /// Where blocked deliveries should be diverted.
    pub alternate_address: Option<String>,
    /// A shop that holds parcels (free text; see `pickup_point_id` for the directory).
    pub pickup_point: Option<String>,
    /// The chosen pickup point from the directory (`/v1/pickup-points`):
    /// where deliveries are diverted when the unit blocks. Wins over
    /// `alternate_address`.
    #[serde(default)]
    pub pickup_point_id: Option<crate::PickupPointId>,
    /// Only these carriers may deliver here (empty: any enabled carrier).
    #[serde(default)]
    pub allowed_carriers: Vec<crate::CarrierId>,
    /// These carriers may not deliver here.
    #[serde(default)]
    pub blocked_carriers: Vec<crate::CarrierId>,
    /// Only these drivers may deliver here (empty: any of an allowed carrier).
    #[serde(default)]
    pub allowed_drivers: Vec<crate::DriverId>,
    /// These drivers may not deliver here.
    #[serde(default)]
    pub blocked_drivers: Vec<crate::DriverId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Block {
    pub unit_id: UnitId,
    pub blocked_by: ResidentId,
    pub from: UnixSeconds,
    /// Open-ended when `None`.
    pub until: Option<UnixSeconds>,
    pub reason: Option<String>,
}

impl Block {
    pub fn is_active(&self, now: UnixSeconds) -> bool {
        self.from <= now && self.until.is_none_or(|u| now < u)
    }
}

string_enum!(
    /// The carrier's background check of a driver.
    VettingStatus { Pending => "pending", Passed => "passed", Failed => "failed" }
);

string_enum!(
    DriverStatus { Active => "active", Suspended => "suspended" }
);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Driver {
    pub id: DriverId,
    pub carrier_id: CarrierId,
    pub name: String,
    /// The handheld's P-256 public key (SEC1 encoding); credentials are bound to it.
    #[serde(with = "crate::serde_b64::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    pub handheld_public_key: Option<Vec<u8>>,
    pub vetting: VettingStatus,
    pub vetted_at: Option<UnixSeconds>,
    pub status: DriverStatus,
    pub created_at: UnixSeconds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: DeliveryId,
    pub carrier_id: CarrierId,
    pub property_id: PropertyId,
    pub unit_id: UnitId,
    pub tracking_number: String,
    pub kind: DeliveryKind,
    pub window_start: UnixSeconds,
    pub window_end: UnixSeconds,
    pub eta: Option<UnixSeconds>,
    pub state: DeliveryState,
    /// Set on completion.
    pub drop_spot_id: Option<DropSpotId>,
    pub completed_by: Option<DriverId>,
    pub photo_ref: Option<String>,
    /// Salt of the delivery hash that credentials carry instead of the
    /// tracking number.
    #[serde(skip)]
    pub hash_salt: [u8; 16],
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

/// Where one door on a granted path stands: which lock, and how the driver
/// opens it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantedDoor {
    pub access_point_id: AccessPointId,
    pub lock_id: LockId,
    /// Credential id (COSE `cti`) when the lock reads credentials.
    #[serde(with = "crate::serde_b64::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    pub credential_id: Option<Vec<u8>>,
    /// The lock's sequence number the credential carries.
    pub sequence: Option<i64>,
    /// True when the door is opened with a one-time code instead.
    pub door_code: bool,
}

/// A grant: the doors one driver may open once, for one delivery, until it
/// expires. The credentials themselves are not kept (zero standing access:
/// a database dump opens nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    pub id: GrantId,
    pub delivery_id: DeliveryId,
    pub driver_id: DriverId,
    pub carrier_id: CarrierId,
    pub property_id: PropertyId,
    pub unit_id: UnitId,
    pub drop_spot_id: DropSpotId,
    pub doors: Vec<GrantedDoor>,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
}

/// Every access request, granted or refused, is recorded as one of these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequestRecord {
    pub id: AccessRequestId,
    pub driver_id: DriverId,
    pub carrier_id: CarrierId,
    /// Where the driver said they are.
    pub property_id: PropertyId,
    /// The parcel, when the scan matched one of the carrier's deliveries.
    pub delivery_id: Option<DeliveryId>,
    /// The unit of that parcel, so residents see requests for their unit.
    pub unit_id: Option<UnitId>,
    pub position: GeoPoint,
    pub at: UnixSeconds,
    pub grant_id: Option<GrantId>,
    pub refusal: Option<RefusalReason>,
}

/// A resident's car. Its trunk is an access point of the owner's home
/// property (kind `trunk`, no parent, belonging to the owner's unit) with the
/// trunk device as its lock and a `trunk` drop spot of the unit: so a trunk
/// delivery is an ordinary delivery to the owner's unit whose drop spot is
/// the trunk, and everything about it is scoped to the owner's unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Vehicle {
    pub id: VehicleId,
    /// The resident who registered it.
    pub owner_id: ResidentId,
    pub unit_id: UnitId,
    /// The owner's home property: the delivery address trunk deliveries are
    /// checked against.
    pub property_id: PropertyId,
    pub name: String,
    pub plate: Option<String>,
    pub access_point_id: AccessPointId,
    pub lock_id: LockId,
    pub drop_spot_id: DropSpotId,
    pub created_at: UnixSeconds,
}

/// Where a vehicle last said it was (personal data: its owner and the access
/// policy read it, nobody else).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VehiclePosition {
    pub position: GeoPoint,
    /// When the service received it (its clock, not the car's).
    pub reported_at: UnixSeconds,
}

/// One door of a guest pass: a credential bound to the guest's handheld, or
/// a door code. The credential itself is not kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestDoor {
    pub access_point_id: AccessPointId,
    pub lock_id: LockId,
    /// The credential's id (COSE `cti`), for revocation.
    #[serde(with = "crate::serde_b64::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    pub credential_id: Option<Vec<u8>>,
    pub sequence: i64,
    /// True when the door is opened with a one-time code.
    pub door_code: bool,
}

/// A resident's time-bounded access for a named person (a cleaner, a dog
/// sitter, a courier of their choice) to the doors from the street to their
/// unit's door, or (shared by a vehicle owner) to their trunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestPass {
    pub id: GuestPassId,
    pub unit_id: UnitId,
    pub property_id: PropertyId,
    /// Set when the pass opens a vehicle's trunk.
    pub vehicle_id: Option<VehicleId>,
    pub created_by: ResidentId,
    /// Who the guest is, as the resident named them.
    pub name: String,
    pub valid_from: UnixSeconds,
    pub valid_until: UnixSeconds,
    pub doors: Vec<GuestDoor>,
    pub created_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
}
