//! The access policy of SPEC capability 3: a driver who scanned a parcel at a
//! property is let in only if every rule holds. [`decide_access`] checks the
//! rules in a fixed order and returns either the plan (which drop spot, which
//! doors, how each opens) or the first rule that failed.
//!
//! The order is part of the contract (clients and tests rely on it): facts
//! about the parcel first, then the property, the carrier, the driver, the
//! place and time, then the resident's wishes (a block, then their carrier
//! and driver lists), the drop spot, and last the doors (`no_way_through`).
//! When the chosen drop spot is a vehicle's trunk, the vehicle's rules follow
//! the choice of the spot, before the doors: a position reported, fresh, at
//! the delivery address, the driver beside it. `RefusalReason::ALL` lists the
//! reasons in their declaration order, which is not this order; the tests'
//! `place` (policy/tests.rs) is. `access_already_granted` is not returned
//! here: the service's grant claim returns it after the policy granted.

use serde::{Deserialize, Serialize};

use crate::model::string_enum;
use crate::{
    hours, AccessPoint, AccessPointId, Block, CarrierEnablement, Delivery, DeliveryId, DeliveryState, Driver,
    DriverStatus, DropSpot, DropSpotId, DropSpotKind, GeoPoint, Lock, LockId, Property, UnitId, UnitPreferences,
    UnixSeconds, VettingStatus,
};

string_enum!(
    /// Why an access request was refused. The text form is the
    /// machine-readable code the API returns and the audit log records.
    RefusalReason {
        ParcelUnknown => "parcel_unknown",
        ParcelNotAddressedHere => "parcel_not_addressed_here",
        ParcelAlreadyDelivered => "parcel_already_delivered",
        DeliveryClosed => "delivery_closed",
        TenantNoticeMissing => "tenant_notice_missing",
        CarrierNotEnabled => "carrier_not_enabled",
        CarrierOutsideHours => "carrier_outside_hours",
        DriverSuspended => "driver_suspended",
        DriverNotVetted => "driver_not_vetted",
        HandheldNotRegistered => "handheld_not_registered",
        DriverNotAtProperty => "driver_not_at_property",
        OutsideDeliveryWindow => "outside_delivery_window",
        ResidentBlocked => "resident_blocked",
        DropSpotNotAllowed => "drop_spot_not_allowed",
        NoWayThrough => "no_way_through",
        AccessAlreadyGranted => "access_already_granted",
        CarrierRefusedByResident => "carrier_refused_by_resident",
        DriverRefusedByResident => "driver_refused_by_resident",
        VehiclePositionUnknown => "vehicle_position_unknown",
        VehiclePositionStale => "vehicle_position_stale",
        VehicleNotAtAddress => "vehicle_not_at_address",
        DriverNotAtVehicle => "driver_not_at_vehicle",
    }
);

impl RefusalReason {
    /// A sentence for people (drivers, residents reading their feed).
    pub fn explain(&self) -> &'static str {
        match self {
            RefusalReason::ParcelUnknown => "no parcel of this carrier has that tracking number",
            RefusalReason::ParcelNotAddressedHere => "the parcel is addressed to another property",
            RefusalReason::ParcelAlreadyDelivered => "the parcel has already been delivered",
            RefusalReason::DeliveryClosed => "the delivery was cancelled or diverted",
            RefusalReason::TenantNoticeMissing => {
                "delivery access is not live here: the tenants have not been notified yet"
            }
            RefusalReason::CarrierNotEnabled => "the carrier is not enabled at this property",
            RefusalReason::CarrierOutsideHours => "the carrier is enabled here, but not at this hour",
            RefusalReason::DriverSuspended => "the driver is suspended",
            RefusalReason::DriverNotVetted => "the driver has not passed the carrier's background check",
            RefusalReason::HandheldNotRegistered => "the handheld's key is not the one registered for this driver",
            RefusalReason::DriverNotAtProperty => "the driver's position is not at the property",
            RefusalReason::OutsideDeliveryWindow => "the time is outside the delivery window",
            RefusalReason::ResidentBlocked => "the resident has blocked delivery access",
            RefusalReason::DropSpotNotAllowed => "no drop spot allowed for this carrier suits this delivery",
            RefusalReason::NoWayThrough => "a door on the path to the drop spot has no lock this driver can open",
            RefusalReason::AccessAlreadyGranted => "a credential for this parcel is already outstanding",
            RefusalReason::CarrierRefusedByResident => "the resident does not accept deliveries by this carrier",
            RefusalReason::DriverRefusedByResident => "the resident does not accept deliveries by this driver",
            RefusalReason::VehiclePositionUnknown => "the vehicle has not reported where it is",
            RefusalReason::VehiclePositionStale => "the vehicle's last reported position is too old",
            RefusalReason::VehicleNotAtAddress => "the vehicle is not parked at the delivery address",
            RefusalReason::DriverNotAtVehicle => "the driver's position is not at the vehicle",
        }
    }
}

/// Tunables of the policy; the service reads them from its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRules {
    /// How far from the property's point a driver may stand, in metres.
    pub max_distance_m: f64,
    /// Tolerance around the delivery window, in seconds.
    pub window_grace_s: i64,
    /// A vehicle's last position is trusted for a trunk delivery this long.
    #[serde(default = "default_vehicle_position_max_age_s")]
    pub vehicle_position_max_age_s: i64,
    /// How far from the delivery address a vehicle may be parked, in metres.
    #[serde(default = "default_vehicle_radius_m")]
    pub vehicle_radius_m: f64,
}

fn default_vehicle_position_max_age_s() -> i64 {
    300
}

fn default_vehicle_radius_m() -> f64 {
    100.0
}

impl Default for PolicyRules {
    fn default() -> Self {
        Self {
            max_distance_m: 150.0,
            window_grace_s: 0,
            vehicle_position_max_age_s: default_vehicle_position_max_age_s(),
            vehicle_radius_m: default_vehicle_radius_m(),
        }
    }
}

/// What the policy knows of a vehicle whose trunk is a drop spot: the trunk's
/// access point and the vehicle's last position, if it ever reported one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrunkFacts {
    pub access_point_id: AccessPointId,
    pub last_position: Option<crate::VehiclePosition>,
}

/// Everything the decision needs, gathered by the caller beforehand.
#[derive(Clone, Copy, Debug)]
pub struct AccessFacts<'a> {
    pub now: UnixSeconds,
    pub rules: &'a PolicyRules,
    /// The property the driver says they are at.
    pub at_property: &'a Property,
    pub driver: &'a Driver,
    /// The handheld key the request carries (SEC1 P-256).
    pub handheld_key: &'a [u8],
    pub position: GeoPoint,
    /// The carrier's delivery with the scanned tracking number, if any.
    pub delivery: Option<&'a Delivery>,
    /// The driver's carrier at `at_property`, if ever enabled.
    pub enablement: Option<&'a CarrierEnablement>,
    /// An active block of the parcel's unit, if any.
    pub block: Option<&'a Block>,
    pub preferences: &'a UnitPreferences,
    /// A spot the driver asked for; the resident's preference wins over it.
    pub requested_drop_spot: Option<DropSpotId>,
    pub drop_spots: &'a [DropSpot],
    pub access_points: &'a [AccessPoint],
    pub locks: &'a [Lock],
    /// The vehicles whose trunks are drop spots of the parcel's unit (empty
    /// when it has none: only a trunk spot reads them).
    pub trunks: &'a [TrunkFacts],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenMethod {
    /// The door has no lock to open.
    Walk,
    /// The lock verifies a credential from the handheld.
    Credential,
    /// Keypad only: a one-time door code.
    DoorCode,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DoorStep {
    pub access_point_id: AccessPointId,
    pub lock_id: Option<LockId>,
    pub method: OpenMethod,
}

/// What to grant when every rule holds.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessPlan {
    pub delivery_id: DeliveryId,
    pub unit_id: UnitId,
    pub drop_spot_id: DropSpotId,
    /// From the street inwards.
    pub doors: Vec<DoorStep>,
}

/// Applies every rule in order; the first that fails is the answer.
pub fn decide_access(f: &AccessFacts<'_>) -> Result<AccessPlan, RefusalReason> {
    let delivery = f.delivery.ok_or(RefusalReason::ParcelUnknown)?;
    if delivery.property_id != f.at_property.id {
        return Err(RefusalReason::ParcelNotAddressedHere);
    }
    match delivery.state {
        DeliveryState::Delivered => return Err(RefusalReason::ParcelAlreadyDelivered),
        s if !s.is_open() => return Err(RefusalReason::DeliveryClosed),
        _ => {}
    }
    if f.at_property.tenant_notice.as_ref().is_none_or(|n| n.live_from > f.now) {
        return Err(RefusalReason::TenantNoticeMissing);
    }
    let enablement = f
        .enablement
        .filter(|e| e.enabled && e.carrier_id == f.driver.carrier_id && e.property_id == f.at_property.id)
        .ok_or(RefusalReason::CarrierNotEnabled)?;
    if !hours::within_hours(&enablement.hours, &f.at_property.time_zone, f.now) {
        return Err(RefusalReason::CarrierOutsideHours);
    }
    if f.driver.status == DriverStatus::Suspended {
        return Err(RefusalReason::DriverSuspended);
    }
    if f.driver.vetting != VettingStatus::Passed {
        return Err(RefusalReason::DriverNotVetted);
    }
    if f.driver.handheld_public_key.as_deref() != Some(f.handheld_key) {
        return Err(RefusalReason::HandheldNotRegistered);
    }
    if f.position.distance_m(&f.at_property.location) > f.rules.max_distance_m {
        return Err(RefusalReason::DriverNotAtProperty);
    }
    let grace = f.rules.window_grace_s;
    if f.now < delivery.window_start.saturating_sub(grace) || f.now > delivery.window_end.saturating_add(grace) {
        return Err(RefusalReason::OutsideDeliveryWindow);
    }
    if f.block.is_some_and(|b| b.unit_id == delivery.unit_id && b.is_active(f.now)) {
        return Err(RefusalReason::ResidentBlocked);
    }
    let p = f.preferences;
    let carrier = f.driver.carrier_id;
    if p.blocked_carriers.contains(&carrier)
        || (!p.allowed_carriers.is_empty() && !p.allowed_carriers.contains(&carrier))
    {
        return Err(RefusalReason::CarrierRefusedByResident);
    }
    let driver = f.driver.id;
    if p.blocked_drivers.contains(&driver) || (!p.allowed_drivers.is_empty() && !p.allowed_drivers.contains(&driver)) {
        return Err(RefusalReason::DriverRefusedByResident);
    }
    let spot = choose_drop_spot(f, delivery, enablement).ok_or(RefusalReason::DropSpotNotAllowed)?;
    if spot.kind == DropSpotKind::Trunk {
        check_vehicle(f, spot)?;
    }
    let doors = path_to(spot.access_point_id, f.access_points, f.locks).ok_or(RefusalReason::NoWayThrough)?;
    Ok(AccessPlan { delivery_id: delivery.id, unit_id: delivery.unit_id, drop_spot_id: spot.id, doors })
}

/// A trunk delivery: the vehicle said recently enough that it is parked at
/// the delivery address, and the driver stands next to it.
fn check_vehicle(f: &AccessFacts<'_>, spot: &DropSpot) -> Result<(), RefusalReason> {
    let last = f
        .trunks
        .iter()
        .find(|t| t.access_point_id == spot.access_point_id)
        .and_then(|t| t.last_position)
        .ok_or(RefusalReason::VehiclePositionUnknown)?;
    if f.now.saturating_sub(last.reported_at) > f.rules.vehicle_position_max_age_s {
        return Err(RefusalReason::VehiclePositionStale);
    }
    if last.position.distance_m(&f.at_property.location) > f.rules.vehicle_radius_m {
        return Err(RefusalReason::VehicleNotAtAddress);
    }
    if f.position.distance_m(&last.position) > f.rules.max_distance_m {
        return Err(RefusalReason::DriverNotAtVehicle);
    }
    Ok(())
}

/// Whether this carrier may leave this delivery at `spot`. A trunk is the
/// owner's, not the building's: it needs no manager's allowance, only the
/// owner's choice of it as the unit's drop spot.
fn spot_allowed(f: &AccessFacts<'_>, d: &Delivery, e: &CarrierEnablement, spot: &DropSpot) -> bool {
    let owners_trunk = spot.kind == DropSpotKind::Trunk
        && spot.unit_id == Some(d.unit_id)
        && f.preferences.preferred_drop_spot == Some(spot.id);
    spot.property_id == d.property_id
        && (e.allowed_drop_spots.contains(&spot.id) || owners_trunk)
        && spot.unit_id.is_none_or(|u| u == d.unit_id)
        && (spot.kind != DropSpotKind::InUnit || f.preferences.allow_in_unit)
}

/// The resident's preferred spot decides; without one, the driver's choice;
/// without that, the first spot the carrier may use. A preference or a choice
/// that is not allowed refuses rather than silently going elsewhere.
fn choose_drop_spot<'a>(f: &AccessFacts<'a>, d: &Delivery, e: &CarrierEnablement) -> Option<&'a DropSpot> {
    let find = |id: DropSpotId| f.drop_spots.iter().find(|s| s.id == id);
    // A return waits at the spot the resident named when scheduling it.
    let waiting = if d.kind == crate::DeliveryKind::Pickup { d.drop_spot_id } else { None };
    match waiting.or(f.preferences.preferred_drop_spot).or(f.requested_drop_spot) {
        Some(id) => find(id).filter(|s| spot_allowed(f, d, e, s)),
        None => e.allowed_drop_spots.iter().filter_map(|id| find(*id)).find(|s| spot_allowed(f, d, e, s)),
    }
}

/// The doors from the street to `inner`, outermost first, with how each one
/// opens. `None` when the chain is broken, loops, or a door cannot be opened
/// by a driver.
pub fn path_to(inner: AccessPointId, access_points: &[AccessPoint], locks: &[Lock]) -> Option<Vec<DoorStep>> {
    let mut doors = Vec::new();
    let mut next = Some(inner);
    while let Some(id) = next {
        if doors.len() > access_points.len() {
            return None; // a loop in the door tree
        }
        let ap = access_points.iter().find(|a| a.id == id)?;
        let lock = locks.iter().find(|l| l.access_point_id == id);
        let method = match lock {
            None => OpenMethod::Walk,
            Some(l) if l.mobile_credential => OpenMethod::Credential,
            Some(l) if l.keypad => OpenMethod::DoorCode,
            Some(_) => return None,
        };
        doors.push(DoorStep { access_point_id: id, lock_id: lock.map(|l| l.id), method });
        next = ap.parent_id;
    }
    doors.reverse();
    Some(doors)
}

#[cfg(test)]
mod tests;
