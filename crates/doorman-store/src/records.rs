//! Every table's columns and how a row of them becomes a value ([`Record`]):
//! written once, read the same way through sqlx (both databases) and
//! through SQLite's direct path. The columns are portable (text, integers,
//! doubles, booleans, bytes), which lets one statement serve both databases.
//!
//! [`columns!`] names a table's columns in the order its `Record` reads
//! them; statements are assembled with `concat!` so that they stay
//! `&'static str` (no text is built per call).

use doorman_domain::{
    AccessPoint, AccessPointKind, AccessRequestRecord, Block, Carrier, CarrierEnablement, CarrierId, Delivery,
    DeliveryKind, DeliveryState, Driver, DriverId, DriverStatus, DropSpot, DropSpotKind, GeoPoint, Grant, GuestPass,
    Invitation, Lock, LockId, Manager, PickupPoint, Principal, Property, PropertyKind, RefusalReason, Resident,
    TenantNotice, Unit, UnitPreferences, Vehicle, VehiclePosition, VettingStatus, WebhookDelivery,
    WebhookDeliveryState, WebhookSubscription,
};
use serde::Serialize;

use crate::audit::{Hash, StoredCosignature, StoredEntry};
use crate::doors::{ClipRecord, DoorEntry, LockDoor, NewClip};
use crate::exec::{malformed, Cells, Record};
use crate::fleet::{LockChainHead, LockFleetRecord, LockGap, RevokedCredential, StoredLockEvent};
use crate::{StoreError, StoreResult};

/// A table's columns, in the order its [`Record`] reads them.
macro_rules! columns {
    (principal) => {
        "principal"
    };
    (party) => {
        "id, name, created_at"
    };
    (property) => {
        "id, manager_id, kind, name, address, lat, lon, time_zone, \
         notice_text, notice_notified_at, notice_live_from, created_at"
    };
    (unit) => {
        "id, property_id, label"
    };
    (access_point) => {
        "id, property_id, kind, name, parent_id, unit_id"
    };
    (lock) => {
        "id, property_id, access_point_id, device_public_key, model, firmware, mobile_credential, keypad, created_at, \
         decommissioned_at, replaced_by"
    };
    (drop_spot) => {
        "id, property_id, name, kind, access_point_id, unit_id"
    };
    (enablement) => {
        "property_id, carrier_id, enabled, hours, allowed_drop_spots, updated_at"
    };
    (invitation) => {
        "id, unit_id, name, email, created_at, expires_at, redeemed_at, resident_id"
    };
    (resident) => {
        "id, unit_id, name, email, created_at, moved_out_at"
    };
    (passkey) => {
        "id, principal, name, credential_id, credential, sign_count, token_id, created_at, last_used_at"
    };
    (ceremony) => {
        "hash, purpose, principal, state, created_at, expires_at"
    };
    (preferences) => {
        "preferred_drop_spot, allow_in_unit, alternate_address, pickup_point, pickup_point_id, access_lists"
    };
    (block) => {
        "unit_id, blocked_by, starts_at, ends_at, reason"
    };
    (driver) => {
        "id, carrier_id, name, handheld_public_key, vetting, vetted_at, status, created_at"
    };
    (delivery) => {
        "id, carrier_id, property_id, unit_id, tracking_number, kind, window_start, window_end, \
         eta, state, drop_spot_id, completed_by, photo_ref, hash_salt, created_at, updated_at"
    };
    (grant) => {
        "id, delivery_id, driver_id, carrier_id, property_id, unit_id, drop_spot_id, doors, \
         issued_at, expires_at, revoked_at"
    };
    (access_request) => {
        "id, driver_id, carrier_id, property_id, delivery_id, unit_id, lat, lon, requested_at, grant_id, refusal"
    };
    (vehicle) => {
        "id, owner_id, unit_id, property_id, name, plate, access_point_id, lock_id, drop_spot_id, created_at"
    };
    (position) => {
        "lat, lon, reported_at"
    };
    (guest_pass) => {
        "id, unit_id, property_id, vehicle_id, created_by, name, valid_from, valid_until, doors, created_at, revoked_at"
    };
    (subscription) => {
        "id, owner, url, events, active, created_at, after_index"
    };
    (webhook_delivery) => {
        "d.id, d.subscription_id, d.event_id, d.event_type, d.state, d.attempts, \
         d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at"
    };
    (pickup_point) => {
        "id, name, address, time_zone, hours, created_at"
    };
    (door) => {
        "lock_id, grant_id, delivery_id, carrier_id, driver_id, unit_id, opened_at, ajar_logged, version"
    };
    (clip) => {
        "id, lock_id, counter, sha256, recorded_at, property_id, access_point_id, delivery_id, carrier_id, \
         driver_id, unit_id, size, content_type, object_key, stored_at, deleted_at"
    };
    (fleet) => {
        "f.lock_id, l.property_id, f.head_counter, f.head_hash, f.head_time, f.gap_expected, f.gap_found, \
         f.problem, f.problem_at, f.revocation_sequence, f.last_contact, f.health, f.health_at"
    };
    (lock_event) => {
        "lock_id, counter, hash, event_time, signed, received_at"
    };
    (revoked) => {
        "credential_id, expires_at"
    };
    (cosignature) => {
        "witness, line, received_at"
    };
    (entry) => {
        "idx, entry"
    };
}
pub(crate) use columns;

/// `SELECT` of a table's [`columns!`], then the rest of the statement.
macro_rules! select {
    ($table:ident, $($rest:literal)+) => {
        concat!("SELECT ", $crate::records::columns!($table), $($rest),+)
    };
}
pub(crate) use select;

/// The ids of `$1` delivery's grants. A grant is only ever stored together
/// with the access request that won it, and the request names it, so a
/// delivery's grants are found through its requests (by the index on
/// `access_requests (delivery_id, grant_id)`; no index on grants is keyed by
/// delivery, see migration 0011).
macro_rules! delivery_grant_ids {
    () => {
        "SELECT grant_id FROM access_requests WHERE delivery_id = $1 AND grant_id IS NOT NULL"
    };
}
pub(crate) use delivery_grant_ids;

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {e}")))
}

pub(crate) fn delivery_kind_str(kind: DeliveryKind) -> &'static str {
    match kind {
        DeliveryKind::Drop => "drop",
        DeliveryKind::Pickup => "pickup",
    }
}

fn parse_delivery_kind(text: &str) -> Option<DeliveryKind> {
    match text {
        "drop" => Some(DeliveryKind::Drop),
        "pickup" => Some(DeliveryKind::Pickup),
        _ => None,
    }
}

impl Record for Principal {
    fn read(c: &mut impl Cells) -> StoreResult<Principal> {
        c.json("token principal")
    }
}

impl Record for Manager {
    fn read(c: &mut impl Cells) -> StoreResult<Manager> {
        Ok(Manager { id: c.id("manager id")?, name: c.string("name")?, created_at: c.i64("created_at")? })
    }
}

impl Record for Carrier {
    fn read(c: &mut impl Cells) -> StoreResult<Carrier> {
        Ok(Carrier { id: c.id("carrier id")?, name: c.string("name")?, created_at: c.i64("created_at")? })
    }
}

impl Record for Property {
    fn read(c: &mut impl Cells) -> StoreResult<Property> {
        let (id, manager_id) = (c.id("property id")?, c.id("manager id")?);
        let kind = c.parse(PropertyKind::parse, "property kind")?;
        let (name, address) = (c.string("name")?, c.string("address")?);
        let location = GeoPoint { lat: c.f64()?, lon: c.f64()? };
        let time_zone = c.string("time zone")?;
        let tenant_notice = match (c.opt_string()?, c.opt_i64()?, c.opt_i64()?) {
            (Some(text), Some(notified_at), Some(live_from)) => Some(TenantNotice { text, notified_at, live_from }),
            (None, None, None) => None,
            _ => return Err(malformed("tenant notice")),
        };
        Ok(Property {
            id,
            manager_id,
            kind,
            name,
            address,
            location,
            time_zone,
            tenant_notice,
            created_at: c.i64("at")?,
        })
    }
}

impl Record for Unit {
    fn read(c: &mut impl Cells) -> StoreResult<Unit> {
        Ok(Unit { id: c.id("unit id")?, property_id: c.id("property id")?, label: c.string("label")? })
    }
}

impl Record for AccessPoint {
    fn read(c: &mut impl Cells) -> StoreResult<AccessPoint> {
        let (id, property_id) = (c.id("access point id")?, c.id("property id")?);
        let kind = c.parse(AccessPointKind::parse, "access point kind")?;
        let name = c.string("name")?;
        let (parent_id, unit_id) = (c.opt_id("parent access point id")?, c.opt_id("unit id")?);
        Ok(AccessPoint { id, property_id, kind, name, parent_id, unit_id })
    }
}

impl Record for Lock {
    fn read(c: &mut impl Cells) -> StoreResult<Lock> {
        let (id, property_id, access_point_id) = (c.id("lock id")?, c.id("property id")?, c.id("access point id")?);
        let device_public_key = c.blob("device key")?;
        let (model, firmware) = (c.string("model")?, c.string("firmware")?);
        let (mobile_credential, keypad, created_at) = (c.bool()?, c.bool()?, c.i64("created_at")?);
        let (decommissioned_at, replaced_by) = (c.opt_i64()?, c.opt_id("replacing lock id")?);
        Ok(Lock {
            id,
            property_id,
            access_point_id,
            device_public_key,
            model,
            firmware,
            mobile_credential,
            keypad,
            created_at,
            decommissioned_at,
            replaced_by,
        })
    }
}

impl Record for DropSpot {
    fn read(c: &mut impl Cells) -> StoreResult<DropSpot> {
        let (id, property_id, name) = (c.id("drop spot id")?, c.id("property id")?, c.string("name")?);
        let kind = c.parse(DropSpotKind::parse, "drop spot kind")?;
        let (access_point_id, unit_id) = (c.id("access point id")?, c.opt_id("unit id")?);
        Ok(DropSpot { id, property_id, name, kind, access_point_id, unit_id })
    }
}

impl Record for CarrierEnablement {
    fn read(c: &mut impl Cells) -> StoreResult<CarrierEnablement> {
        let (property_id, carrier_id, enabled) = (c.id("property id")?, c.id("carrier id")?, c.bool()?);
        let (hours, allowed_drop_spots) = (c.json("carrier hours")?, c.json("allowed drop spots")?);
        Ok(CarrierEnablement { property_id, carrier_id, enabled, hours, allowed_drop_spots, updated_at: c.i64("at")? })
    }
}

impl Record for Invitation {
    fn read(c: &mut impl Cells) -> StoreResult<Invitation> {
        let (id, unit_id) = (c.id("invitation id")?, c.id("unit id")?);
        let (name, email) = (c.string("name")?, c.string("email")?);
        let (created_at, expires_at, redeemed_at) = (c.i64("created_at")?, c.i64("expires_at")?, c.opt_i64()?);
        let resident_id = c.opt_id("resident id")?;
        Ok(Invitation { id, unit_id, name, email, created_at, expires_at, redeemed_at, resident_id })
    }
}

impl Record for Resident {
    fn read(c: &mut impl Cells) -> StoreResult<Resident> {
        let (id, unit_id) = (c.id("resident id")?, c.id("unit id")?);
        let (name, email, created_at) = (c.string("name")?, c.string("email")?, c.i64("at")?);
        Ok(Resident { id, unit_id, name, email, created_at, moved_out_at: c.opt_i64()? })
    }
}

/// The allow and block lists of [`UnitPreferences`], as stored (one JSON column).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct AccessLists {
    #[serde(default)]
    pub allowed_carriers: Vec<CarrierId>,
    #[serde(default)]
    pub blocked_carriers: Vec<CarrierId>,
    #[serde(default)]
    pub allowed_drivers: Vec<DriverId>,
    #[serde(default)]
    pub blocked_drivers: Vec<DriverId>,
}

impl AccessLists {
    /// The column's value: None when every list is empty.
    pub(crate) fn column(p: &UnitPreferences) -> StoreResult<Option<String>> {
        if p.allowed_carriers.is_empty()
            && p.blocked_carriers.is_empty()
            && p.allowed_drivers.is_empty()
            && p.blocked_drivers.is_empty()
        {
            return Ok(None);
        }
        let lists = AccessLists {
            allowed_carriers: p.allowed_carriers.clone(),
            blocked_carriers: p.blocked_carriers.clone(),
            allowed_drivers: p.allowed_drivers.clone(),
            blocked_drivers: p.blocked_drivers.clone(),
        };
        to_json(&lists, "access lists").map(Some)
    }
}

impl Record for UnitPreferences {
    fn read(c: &mut impl Cells) -> StoreResult<UnitPreferences> {
        let (preferred_drop_spot, allow_in_unit) = (c.opt_id("drop spot id")?, c.bool()?);
        let (alternate_address, pickup_point) = (c.opt_string()?, c.opt_string()?);
        let pickup_point_id = c.opt_id("pickup point id")?;
        let lists: AccessLists = match c.opt_str()? {
            Some(text) => serde_json::from_str(text).map_err(|_| malformed("access lists"))?,
            None => AccessLists::default(),
        };
        Ok(UnitPreferences {
            preferred_drop_spot,
            allow_in_unit,
            alternate_address,
            pickup_point,
            pickup_point_id,
            allowed_carriers: lists.allowed_carriers,
            blocked_carriers: lists.blocked_carriers,
            allowed_drivers: lists.allowed_drivers,
            blocked_drivers: lists.blocked_drivers,
        })
    }
}

impl Record for Block {
    fn read(c: &mut impl Cells) -> StoreResult<Block> {
        let (unit_id, blocked_by) = (c.id("unit id")?, c.id("resident id")?);
        Ok(Block { unit_id, blocked_by, from: c.i64("starts_at")?, until: c.opt_i64()?, reason: c.opt_string()? })
    }
}

impl Record for Driver {
    fn read(c: &mut impl Cells) -> StoreResult<Driver> {
        let (id, carrier_id, name) = (c.id("driver id")?, c.id("carrier id")?, c.string("name")?);
        let handheld_public_key = c.opt_blob_vec()?;
        let (vetting, vetted_at) = (c.parse(VettingStatus::parse, "vetting status")?, c.opt_i64()?);
        let (status, created_at) = (c.parse(DriverStatus::parse, "driver status")?, c.i64("created_at")?);
        Ok(Driver { id, carrier_id, name, handheld_public_key, vetting, vetted_at, status, created_at })
    }
}

impl Record for Delivery {
    fn read(c: &mut impl Cells) -> StoreResult<Delivery> {
        let (id, carrier_id) = (c.id("delivery id")?, c.id("carrier id")?);
        let (property_id, unit_id) = (c.id("property id")?, c.id("unit id")?);
        let tracking_number = c.string("tracking number")?;
        let kind = c.parse(parse_delivery_kind, "delivery kind")?;
        let (window_start, window_end, eta) = (c.i64("window start")?, c.i64("window end")?, c.opt_i64()?);
        let state = c.parse(DeliveryState::parse, "delivery state")?;
        let (drop_spot_id, completed_by) = (c.opt_id("drop spot id")?, c.opt_id("driver id")?);
        let (photo_ref, hash_salt) = (c.opt_string()?, c.bytes("delivery hash salt")?);
        let (created_at, updated_at) = (c.i64("created_at")?, c.i64("updated_at")?);
        Ok(Delivery {
            id,
            carrier_id,
            property_id,
            unit_id,
            tracking_number,
            kind,
            window_start,
            window_end,
            eta,
            state,
            drop_spot_id,
            completed_by,
            photo_ref,
            hash_salt,
            created_at,
            updated_at,
        })
    }
}

impl Record for Grant {
    fn read(c: &mut impl Cells) -> StoreResult<Grant> {
        let (id, delivery_id, driver_id) = (c.id("grant id")?, c.id("delivery id")?, c.id("driver id")?);
        let (carrier_id, property_id, unit_id) = (c.id("carrier id")?, c.id("property id")?, c.id("unit id")?);
        let (drop_spot_id, doors) = (c.id("drop spot id")?, c.json("granted doors")?);
        let (issued_at, expires_at, revoked_at) = (c.i64("issued_at")?, c.i64("expires_at")?, c.opt_i64()?);
        Ok(Grant {
            id,
            delivery_id,
            driver_id,
            carrier_id,
            property_id,
            unit_id,
            drop_spot_id,
            doors,
            issued_at,
            expires_at,
            revoked_at,
        })
    }
}

impl Record for AccessRequestRecord {
    fn read(c: &mut impl Cells) -> StoreResult<AccessRequestRecord> {
        let (id, driver_id) = (c.id("access request id")?, c.id("driver id")?);
        let (carrier_id, property_id) = (c.id("carrier id")?, c.id("property id")?);
        let (delivery_id, unit_id) = (c.opt_id("delivery id")?, c.opt_id("unit id")?);
        let (position, at) = (GeoPoint { lat: c.f64()?, lon: c.f64()? }, c.i64("requested_at")?);
        let grant_id = c.opt_id("grant id")?;
        let refusal = c.opt_parse(RefusalReason::parse, "refusal reason")?;
        Ok(AccessRequestRecord {
            id,
            driver_id,
            carrier_id,
            property_id,
            delivery_id,
            unit_id,
            position,
            at,
            grant_id,
            refusal,
        })
    }
}

impl Record for Vehicle {
    fn read(c: &mut impl Cells) -> StoreResult<Vehicle> {
        let (id, owner_id, unit_id) = (c.id("vehicle id")?, c.id("resident id")?, c.id("unit id")?);
        let (property_id, name, plate) = (c.id("property id")?, c.string("name")?, c.opt_string()?);
        let (access_point_id, lock_id) = (c.id("access point id")?, c.id("lock id")?);
        let (drop_spot_id, created_at) = (c.id("drop spot id")?, c.i64("created_at")?);
        Ok(Vehicle {
            id,
            owner_id,
            unit_id,
            property_id,
            name,
            plate,
            access_point_id,
            lock_id,
            drop_spot_id,
            created_at,
        })
    }
}

impl Record for VehiclePosition {
    fn read(c: &mut impl Cells) -> StoreResult<VehiclePosition> {
        Ok(VehiclePosition { position: GeoPoint { lat: c.f64()?, lon: c.f64()? }, reported_at: c.i64("reported_at")? })
    }
}

impl Record for GuestPass {
    fn read(c: &mut impl Cells) -> StoreResult<GuestPass> {
        let (id, unit_id, property_id) = (c.id("guest pass id")?, c.id("unit id")?, c.id("property id")?);
        let (vehicle_id, created_by, name) = (c.opt_id("vehicle id")?, c.id("resident id")?, c.string("name")?);
        let (valid_from, valid_until) = (c.i64("valid_from")?, c.i64("valid_until")?);
        let doors = c.json("guest pass doors")?;
        let (created_at, revoked_at) = (c.i64("created_at")?, c.opt_i64()?);
        let pass = GuestPass {
            id,
            unit_id,
            property_id,
            vehicle_id,
            created_by,
            name,
            valid_from,
            valid_until,
            doors,
            created_at,
            revoked_at,
        };
        Ok(pass)
    }
}

impl Record for WebhookSubscription {
    fn read(c: &mut impl Cells) -> StoreResult<WebhookSubscription> {
        let (id, owner, url) = (c.id("webhook id")?, c.json("webhook owner")?, c.string("webhook url")?);
        let (events, active, created_at) = (c.json("webhook events")?, c.bool()?, c.i64("created_at")?);
        let after_index = c.opt_u64("webhook index")?;
        Ok(WebhookSubscription { id, owner, url, events, active, created_at, after_index })
    }
}

impl Record for WebhookDelivery {
    fn read(c: &mut impl Cells) -> StoreResult<WebhookDelivery> {
        let (id, subscription_id) = (c.id("webhook delivery id")?, c.id("webhook id")?);
        let (event_id, event_type) = (c.u64("event id")?, c.string("event type")?);
        let state = c.parse(WebhookDeliveryState::parse, "webhook delivery state")?;
        let attempts = u32::try_from(c.i64("attempts")?).map_err(|_| malformed("attempts"))?;
        let (next_attempt_at, last_attempt_at) = (c.i64("next_attempt_at")?, c.opt_i64()?);
        let last_status = c.opt_i64()?.and_then(|s| u16::try_from(s).ok());
        let (last_error, delivered_at, created_at) = (c.opt_string()?, c.opt_i64()?, c.i64("created_at")?);
        Ok(WebhookDelivery {
            id,
            subscription_id,
            event_id,
            event_type,
            state,
            attempts,
            next_attempt_at,
            last_attempt_at,
            last_status,
            last_error,
            delivered_at,
            created_at,
        })
    }
}

impl Record for PickupPoint {
    fn read(c: &mut impl Cells) -> StoreResult<PickupPoint> {
        let (id, name, address) = (c.id("pickup point id")?, c.string("name")?, c.string("address")?);
        let (time_zone, hours, created_at) = (c.string("time zone")?, c.json("hours")?, c.i64("created_at")?);
        Ok(PickupPoint { id, name, address, time_zone, hours, created_at })
    }
}

impl Record for LockDoor {
    fn read(c: &mut impl Cells) -> StoreResult<LockDoor> {
        let lock_id = c.id("lock id")?;
        let (grant_id, delivery_id) = (c.opt_id("grant id")?, c.opt_id("delivery id")?);
        let (carrier_id, driver_id, unit_id) = (c.opt_id("carrier id")?, c.opt_id("driver id")?, c.opt_id("unit id")?);
        let entry = DoorEntry { grant_id, delivery_id, carrier_id, driver_id, unit_id };
        Ok(LockDoor { lock_id, entry, opened_at: c.opt_i64()?, ajar_logged: c.bool()?, version: c.i64("version")? })
    }
}

impl Record for ClipRecord {
    fn read(c: &mut impl Cells) -> StoreResult<ClipRecord> {
        let (id, lock_id, counter) = (c.id("clip id")?, c.id("lock id")?, c.u64("counter")?);
        let (sha256, recorded_at) = (c.bytes("clip hash")?, c.i64("recorded_at")?);
        let (property_id, access_point_id) = (c.id("property id")?, c.id("access point id")?);
        let (delivery_id, carrier_id) = (c.opt_id("delivery id")?, c.opt_id("carrier id")?);
        let (driver_id, unit_id) = (c.opt_id("driver id")?, c.opt_id("unit id")?);
        let entry = DoorEntry { grant_id: None, delivery_id, carrier_id, driver_id, unit_id };
        let clip = NewClip { id, lock_id, counter, sha256, recorded_at, property_id, access_point_id, entry };
        let (size, content_type, object_key) = (c.opt_u64("size")?, c.opt_string()?, c.opt_string()?);
        Ok(ClipRecord { clip, size, content_type, object_key, stored_at: c.opt_i64()?, deleted_at: c.opt_i64()? })
    }
}

/// Two columns that are set together, or not at all.
fn pair<A, B>(a: Option<A>, b: Option<B>) -> Option<(A, B)> {
    a.zip(b)
}

impl Record for LockFleetRecord {
    fn read(c: &mut impl Cells) -> StoreResult<LockFleetRecord> {
        let (lock_id, property_id) = (c.id("lock id")?, c.id("property id")?);
        let head = LockChainHead { counter: c.u64("counter")?, hash: c.bytes("chain hash")?, time: c.u64("time")? };
        let gap = pair(c.opt_u64("gap")?, c.opt_u64("gap")?).map(|(expected, found)| LockGap { expected, found });
        let problem = pair(c.opt_string()?, c.opt_i64()?);
        let (revocation_sequence, last_contact) = (c.u64("sequence")?, c.opt_i64()?);
        let health = pair(c.opt_string()?, c.opt_i64()?);
        Ok(LockFleetRecord { lock_id, property_id, head, gap, problem, revocation_sequence, last_contact, health })
    }
}

impl Record for StoredLockEvent {
    fn read(c: &mut impl Cells) -> StoreResult<StoredLockEvent> {
        let (lock_id, counter, hash) = (c.id("lock id")?, c.u64("counter")?, c.bytes("event hash")?);
        let (time, signed, received_at) = (c.u64("time")?, c.blob("signed event")?, c.i64("received_at")?);
        Ok(StoredLockEvent { lock_id, counter, hash, time, signed, received_at })
    }
}

impl Record for RevokedCredential {
    fn read(c: &mut impl Cells) -> StoreResult<RevokedCredential> {
        Ok(RevokedCredential { credential_id: c.blob("credential id")?, expires_at: c.i64("expires_at")? })
    }
}

impl Record for StoredCosignature {
    fn read(c: &mut impl Cells) -> StoreResult<StoredCosignature> {
        let (witness, line, received_at) = (c.string("witness")?, c.string("line")?, c.i64("received_at")?);
        Ok(StoredCosignature { witness, line, received_at })
    }
}

impl Record for StoredEntry {
    fn read(c: &mut impl Cells) -> StoreResult<StoredEntry> {
        Ok(StoredEntry { index: c.u64("log index")?, bytes: c.blob("log entry")? })
    }
}

impl Record for Hash {
    fn read(c: &mut impl Cells) -> StoreResult<Hash> {
        Ok(Hash(c.bytes("stored hash")?))
    }
}

impl Record for LockId {
    fn read(c: &mut impl Cells) -> StoreResult<LockId> {
        c.id("lock id")
    }
}

/// A stored Merkle tree hash: (key, hash).
impl Record for (u64, [u8; 32]) {
    fn read(c: &mut impl Cells) -> StoreResult<(u64, [u8; 32])> {
        Ok((c.u64("hash key")?, c.bytes("log hash")?))
    }
}
