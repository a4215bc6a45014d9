//! Rows as both backends return them (text, integers, floats, booleans and
//! bytes only) and their conversion to and from the domain types. Keeping the
//! columns portable is what lets one piece of SQL serve SQLite and PostgreSQL.
//!
//! Each `*_columns!` macro names a table's columns in the order of its row
//! struct; queries are assembled with `concat!` so they stay `&'static str`.

use doorman_domain::{AccessPoint, AccessPointKind};
use doorman_domain::{
    AccessRequestRecord, Block, Carrier, CarrierEnablement, Delivery, DeliveryKind, DeliveryState, Driver,
    DriverStatus, DropSpot, DropSpotKind, GeoPoint, Grant, Invitation, Lock, Manager, Principal, Property,
    PropertyKind, RefusalReason, Resident, TenantNotice, Unit, UnitPreferences, VettingStatus,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{StoreError, StoreResult};

/// A row that could not have been written by this crate.
fn malformed(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} is malformed"))
}

pub(crate) fn parse_id<T: From<uuid::Uuid>>(text: &str, what: &str) -> StoreResult<T> {
    uuid::Uuid::parse_str(text).map(T::from).map_err(|_| malformed(what))
}

pub(crate) fn parse_opt_id<T: From<uuid::Uuid>>(text: Option<&str>, what: &str) -> StoreResult<Option<T>> {
    text.map(|t| parse_id(t, what)).transpose()
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| malformed(what))
}

fn parse_enum<T>(text: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(text).ok_or_else(|| malformed(what))
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

/// A row that becomes a domain value (or an error if it is malformed).
pub(crate) trait IntoDomain {
    type Domain;
    fn into_domain(self) -> StoreResult<Self::Domain>;
}

/// Grants a revoking `UPDATE … RETURNING` gave back, oldest first, with the
/// log events `revoked` makes for them (written in the same transaction by
/// the caller).
pub(crate) fn revoked_with_events(
    rows: Vec<GrantRow>,
    revoked: &crate::RevocationEvents,
) -> StoreResult<(Vec<doorman_domain::Grant>, Vec<doorman_domain::Event>)> {
    let mut grants = all_into_domain(rows)?;
    grants.sort_by_key(|g| (g.issued_at, g.id));
    let mut events = Vec::new();
    for grant in &grants {
        events.extend(revoked(grant).map_err(crate::StoreError::Backend)?);
    }
    Ok((grants, events))
}

pub(crate) fn all_into_domain<R: IntoDomain>(rows: Vec<R>) -> StoreResult<Vec<R::Domain>> {
    rows.into_iter().map(IntoDomain::into_domain).collect()
}

pub(crate) fn opt_into_domain<R: IntoDomain>(row: Option<R>) -> StoreResult<Option<R::Domain>> {
    row.map(IntoDomain::into_domain).transpose()
}

#[derive(sqlx::FromRow)]
pub(crate) struct PrincipalRow {
    pub principal: String,
}

impl IntoDomain for PrincipalRow {
    type Domain = Principal;
    fn into_domain(self) -> StoreResult<Principal> {
        from_json(&self.principal, "token principal")
    }
}

macro_rules! party_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use party_columns;

/// Managers and carriers have the same shape.
#[derive(sqlx::FromRow)]
pub(crate) struct PartyRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

pub(crate) struct ManagerRow(pub PartyRow);
pub(crate) struct CarrierRow(pub PartyRow);

impl IntoDomain for ManagerRow {
    type Domain = Manager;
    fn into_domain(self) -> StoreResult<Manager> {
        let PartyRow { id, name, created_at } = self.0;
        Ok(Manager { id: parse_id(&id, "manager id")?, name, created_at })
    }
}

impl IntoDomain for CarrierRow {
    type Domain = Carrier;
    fn into_domain(self) -> StoreResult<Carrier> {
        let PartyRow { id, name, created_at } = self.0;
        Ok(Carrier { id: parse_id(&id, "carrier id")?, name, created_at })
    }
}

macro_rules! property_columns {
    () => {
        "id, manager_id, kind, name, address, lat, lon, time_zone, \
         notice_text, notice_notified_at, notice_live_from, created_at"
    };
}
pub(crate) use property_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct PropertyRow {
    pub id: String,
    pub manager_id: String,
    pub kind: String,
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub time_zone: String,
    pub notice_text: Option<String>,
    pub notice_notified_at: Option<i64>,
    pub notice_live_from: Option<i64>,
    pub created_at: i64,
}

impl IntoDomain for PropertyRow {
    type Domain = Property;
    fn into_domain(self) -> StoreResult<Property> {
        let tenant_notice = match (self.notice_text, self.notice_notified_at, self.notice_live_from) {
            (Some(text), Some(notified_at), Some(live_from)) => Some(TenantNotice { text, notified_at, live_from }),
            (None, None, None) => None,
            _ => return Err(malformed("tenant notice")),
        };
        Ok(Property {
            id: parse_id(&self.id, "property id")?,
            manager_id: parse_id(&self.manager_id, "manager id")?,
            kind: parse_enum(&self.kind, PropertyKind::parse, "property kind")?,
            name: self.name,
            address: self.address,
            location: GeoPoint { lat: self.lat, lon: self.lon },
            time_zone: self.time_zone,
            tenant_notice,
            created_at: self.created_at,
        })
    }
}

macro_rules! unit_columns {
    () => {
        "id, property_id, label"
    };
}
pub(crate) use unit_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UnitRow {
    pub id: String,
    pub property_id: String,
    pub label: String,
}

impl IntoDomain for UnitRow {
    type Domain = Unit;
    fn into_domain(self) -> StoreResult<Unit> {
        Ok(Unit {
            id: parse_id(&self.id, "unit id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            label: self.label,
        })
    }
}

macro_rules! access_point_columns {
    () => {
        "id, property_id, kind, name, parent_id, unit_id"
    };
}
pub(crate) use access_point_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct AccessPointRow {
    pub id: String,
    pub property_id: String,
    pub kind: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub unit_id: Option<String>,
}

impl IntoDomain for AccessPointRow {
    type Domain = AccessPoint;
    fn into_domain(self) -> StoreResult<AccessPoint> {
        Ok(AccessPoint {
            id: parse_id(&self.id, "access point id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            kind: parse_enum(&self.kind, AccessPointKind::parse, "access point kind")?,
            name: self.name,
            parent_id: parse_opt_id(self.parent_id.as_deref(), "parent access point id")?,
            unit_id: parse_opt_id(self.unit_id.as_deref(), "unit id")?,
        })
    }
}

macro_rules! lock_columns {
    () => {
        "id, property_id, access_point_id, device_public_key, model, firmware, \
         mobile_credential, keypad, created_at"
    };
}
pub(crate) use lock_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct LockRow {
    pub id: String,
    pub property_id: String,
    pub access_point_id: String,
    pub device_public_key: Vec<u8>,
    pub model: String,
    pub firmware: String,
    pub mobile_credential: bool,
    pub keypad: bool,
    pub created_at: i64,
}

impl IntoDomain for LockRow {
    type Domain = Lock;
    fn into_domain(self) -> StoreResult<Lock> {
        Ok(Lock {
            id: parse_id(&self.id, "lock id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            access_point_id: parse_id(&self.access_point_id, "access point id")?,
            device_public_key: self.device_public_key,
            model: self.model,
            firmware: self.firmware,
            mobile_credential: self.mobile_credential,
            keypad: self.keypad,
            created_at: self.created_at,
        })
    }
}

macro_rules! drop_spot_columns {
    () => {
        "id, property_id, name, kind, access_point_id, unit_id"
    };
}
pub(crate) use drop_spot_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct DropSpotRow {
    pub id: String,
    pub property_id: String,
    pub name: String,
    pub kind: String,
    pub access_point_id: String,
    pub unit_id: Option<String>,
}

impl IntoDomain for DropSpotRow {
    type Domain = DropSpot;
    fn into_domain(self) -> StoreResult<DropSpot> {
        Ok(DropSpot {
            id: parse_id(&self.id, "drop spot id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            name: self.name,
            kind: parse_enum(&self.kind, DropSpotKind::parse, "drop spot kind")?,
            access_point_id: parse_id(&self.access_point_id, "access point id")?,
            unit_id: parse_opt_id(self.unit_id.as_deref(), "unit id")?,
        })
    }
}

macro_rules! enablement_columns {
    () => {
        "property_id, carrier_id, enabled, hours, allowed_drop_spots, updated_at"
    };
}
pub(crate) use enablement_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct EnablementRow {
    pub property_id: String,
    pub carrier_id: String,
    pub enabled: bool,
    pub hours: String,
    pub allowed_drop_spots: String,
    pub updated_at: i64,
}

impl IntoDomain for EnablementRow {
    type Domain = CarrierEnablement;
    fn into_domain(self) -> StoreResult<CarrierEnablement> {
        Ok(CarrierEnablement {
            property_id: parse_id(&self.property_id, "property id")?,
            carrier_id: parse_id(&self.carrier_id, "carrier id")?,
            enabled: self.enabled,
            hours: from_json(&self.hours, "carrier hours")?,
            allowed_drop_spots: from_json(&self.allowed_drop_spots, "allowed drop spots")?,
            updated_at: self.updated_at,
        })
    }
}

macro_rules! invitation_columns {
    () => {
        "id, unit_id, name, email, created_at, expires_at, redeemed_at"
    };
}
pub(crate) use invitation_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    pub id: String,
    pub unit_id: String,
    pub name: String,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
}

impl IntoDomain for InvitationRow {
    type Domain = Invitation;
    fn into_domain(self) -> StoreResult<Invitation> {
        Ok(Invitation {
            id: parse_id(&self.id, "invitation id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            name: self.name,
            email: self.email,
            created_at: self.created_at,
            expires_at: self.expires_at,
            redeemed_at: self.redeemed_at,
        })
    }
}

macro_rules! resident_columns {
    () => {
        "id, unit_id, name, email, created_at"
    };
}
pub(crate) use resident_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct ResidentRow {
    pub id: String,
    pub unit_id: String,
    pub name: String,
    pub email: String,
    pub created_at: i64,
}

impl IntoDomain for ResidentRow {
    type Domain = Resident;
    fn into_domain(self) -> StoreResult<Resident> {
        Ok(Resident {
            id: parse_id(&self.id, "resident id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            name: self.name,
            email: self.email,
            created_at: self.created_at,
        })
    }
}

macro_rules! preferences_columns {
    () => {
        "preferred_drop_spot, allow_in_unit, alternate_address, pickup_point, pickup_point_id, access_lists"
    };
}
pub(crate) use preferences_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct PreferencesRow {
    pub preferred_drop_spot: Option<String>,
    pub allow_in_unit: bool,
    pub alternate_address: Option<String>,
    pub pickup_point: Option<String>,
    pub pickup_point_id: Option<String>,
    pub access_lists: Option<String>,
}

/// The allow and block lists of [`UnitPreferences`], as stored (one JSON column).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct AccessLists {
    #[serde(default)]
    pub allowed_carriers: Vec<doorman_domain::CarrierId>,
    #[serde(default)]
    pub blocked_carriers: Vec<doorman_domain::CarrierId>,
    #[serde(default)]
    pub allowed_drivers: Vec<doorman_domain::DriverId>,
    #[serde(default)]
    pub blocked_drivers: Vec<doorman_domain::DriverId>,
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
        serde_json::to_string(&lists).map(Some).map_err(|e| StoreError::Backend(e.to_string()))
    }
}

impl IntoDomain for PreferencesRow {
    type Domain = UnitPreferences;
    fn into_domain(self) -> StoreResult<UnitPreferences> {
        let lists: AccessLists = match self.access_lists.as_deref() {
            Some(text) => serde_json::from_str(text)
                .map_err(|_| StoreError::Backend("stored access lists do not decode".into()))?,
            None => AccessLists::default(),
        };
        Ok(UnitPreferences {
            preferred_drop_spot: parse_opt_id(self.preferred_drop_spot.as_deref(), "drop spot id")?,
            allow_in_unit: self.allow_in_unit,
            alternate_address: self.alternate_address,
            pickup_point: self.pickup_point,
            pickup_point_id: parse_opt_id(self.pickup_point_id.as_deref(), "pickup point id")?,
            allowed_carriers: lists.allowed_carriers,
            blocked_carriers: lists.blocked_carriers,
            allowed_drivers: lists.allowed_drivers,
            blocked_drivers: lists.blocked_drivers,
        })
    }
}

macro_rules! block_columns {
    () => {
        "unit_id, blocked_by, starts_at, ends_at, reason"
    };
}
pub(crate) use block_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct BlockRow {
    pub unit_id: String,
    pub blocked_by: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub reason: Option<String>,
}

impl IntoDomain for BlockRow {
    type Domain = Block;
    fn into_domain(self) -> StoreResult<Block> {
        Ok(Block {
            unit_id: parse_id(&self.unit_id, "unit id")?,
            blocked_by: parse_id(&self.blocked_by, "resident id")?,
            from: self.starts_at,
            until: self.ends_at,
            reason: self.reason,
        })
    }
}

macro_rules! driver_columns {
    () => {
        "id, carrier_id, name, handheld_public_key, vetting, vetted_at, status, created_at"
    };
}
pub(crate) use driver_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct DriverRow {
    pub id: String,
    pub carrier_id: String,
    pub name: String,
    pub handheld_public_key: Option<Vec<u8>>,
    pub vetting: String,
    pub vetted_at: Option<i64>,
    pub status: String,
    pub created_at: i64,
}

impl IntoDomain for DriverRow {
    type Domain = Driver;
    fn into_domain(self) -> StoreResult<Driver> {
        Ok(Driver {
            id: parse_id(&self.id, "driver id")?,
            carrier_id: parse_id(&self.carrier_id, "carrier id")?,
            name: self.name,
            handheld_public_key: self.handheld_public_key,
            vetting: parse_enum(&self.vetting, VettingStatus::parse, "vetting status")?,
            vetted_at: self.vetted_at,
            status: parse_enum(&self.status, DriverStatus::parse, "driver status")?,
            created_at: self.created_at,
        })
    }
}

macro_rules! delivery_columns {
    () => {
        "id, carrier_id, property_id, unit_id, tracking_number, kind, window_start, window_end, \
         eta, state, drop_spot_id, completed_by, photo_ref, hash_salt, created_at, updated_at"
    };
}
pub(crate) use delivery_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub carrier_id: String,
    pub property_id: String,
    pub unit_id: String,
    pub tracking_number: String,
    pub kind: String,
    pub window_start: i64,
    pub window_end: i64,
    pub eta: Option<i64>,
    pub state: String,
    pub drop_spot_id: Option<String>,
    pub completed_by: Option<String>,
    pub photo_ref: Option<String>,
    pub hash_salt: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl IntoDomain for DeliveryRow {
    type Domain = Delivery;
    fn into_domain(self) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: parse_id(&self.id, "delivery id")?,
            carrier_id: parse_id(&self.carrier_id, "carrier id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            tracking_number: self.tracking_number,
            kind: parse_enum(&self.kind, parse_delivery_kind, "delivery kind")?,
            window_start: self.window_start,
            window_end: self.window_end,
            eta: self.eta,
            state: parse_enum(&self.state, DeliveryState::parse, "delivery state")?,
            drop_spot_id: parse_opt_id(self.drop_spot_id.as_deref(), "drop spot id")?,
            completed_by: parse_opt_id(self.completed_by.as_deref(), "driver id")?,
            photo_ref: self.photo_ref,
            hash_salt: self.hash_salt.as_slice().try_into().map_err(|_| malformed("delivery hash salt"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

macro_rules! grant_columns {
    () => {
        "id, delivery_id, driver_id, carrier_id, property_id, unit_id, drop_spot_id, doors, \
         issued_at, expires_at, revoked_at"
    };
}
pub(crate) use grant_columns;

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

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    pub id: String,
    pub delivery_id: String,
    pub driver_id: String,
    pub carrier_id: String,
    pub property_id: String,
    pub unit_id: String,
    pub drop_spot_id: String,
    pub doors: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl IntoDomain for GrantRow {
    type Domain = Grant;
    fn into_domain(self) -> StoreResult<Grant> {
        Ok(Grant {
            id: parse_id(&self.id, "grant id")?,
            delivery_id: parse_id(&self.delivery_id, "delivery id")?,
            driver_id: parse_id(&self.driver_id, "driver id")?,
            carrier_id: parse_id(&self.carrier_id, "carrier id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            drop_spot_id: parse_id(&self.drop_spot_id, "drop spot id")?,
            doors: from_json(&self.doors, "granted doors")?,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

macro_rules! access_request_columns {
    () => {
        "id, driver_id, carrier_id, property_id, delivery_id, unit_id, lat, lon, requested_at, \
         grant_id, refusal"
    };
}
pub(crate) use access_request_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct AccessRequestRow {
    pub id: String,
    pub driver_id: String,
    pub carrier_id: String,
    pub property_id: String,
    pub delivery_id: Option<String>,
    pub unit_id: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub requested_at: i64,
    pub grant_id: Option<String>,
    pub refusal: Option<String>,
}

impl IntoDomain for AccessRequestRow {
    type Domain = AccessRequestRecord;
    fn into_domain(self) -> StoreResult<AccessRequestRecord> {
        Ok(AccessRequestRecord {
            id: parse_id(&self.id, "access request id")?,
            driver_id: parse_id(&self.driver_id, "driver id")?,
            carrier_id: parse_id(&self.carrier_id, "carrier id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            delivery_id: parse_opt_id(self.delivery_id.as_deref(), "delivery id")?,
            unit_id: parse_opt_id(self.unit_id.as_deref(), "unit id")?,
            position: GeoPoint { lat: self.lat, lon: self.lon },
            at: self.requested_at,
            grant_id: parse_opt_id(self.grant_id.as_deref(), "grant id")?,
            refusal: self
                .refusal
                .as_deref()
                .map(|r| parse_enum(r, RefusalReason::parse, "refusal reason"))
                .transpose()?,
        })
    }
}

/// Reading rows on SQLite's direct path (`sqlite_direct`): the fields in
/// the order of the table's `*_columns!` (a test checks the two lists
/// agree), read by position.
macro_rules! from_rusqlite {
    ($($row:ident = $columns:ident { $($field:ident),* $(,)? })*) => {
        $(
            impl $row {
                pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                    let mut column = 0..;
                    Ok(Self { $($field: row.get(column.next().unwrap_or_default())?),* })
                }
            }
        )*

        #[cfg(test)]
        mod from_rusqlite_order {
            fn words(list: &str) -> Vec<&str> {
                list.split(',').map(str::trim).filter(|w| !w.is_empty()).collect()
            }

            #[test]
            fn fields_are_read_in_the_order_of_the_columns() {
                $(
                    assert_eq!(
                        words(concat!($(stringify!($field), ","),*)),
                        words(super::$columns!()),
                        stringify!($row)
                    );
                )*
            }
        }
    };
}

macro_rules! principal_columns {
    () => {
        "principal"
    };
}
pub(crate) use principal_columns;

from_rusqlite! {
    PrincipalRow = principal_columns { principal }
    PropertyRow = property_columns {
        id, manager_id, kind, name, address, lat, lon, time_zone, notice_text, notice_notified_at, notice_live_from,
        created_at,
    }
    AccessPointRow = access_point_columns { id, property_id, kind, name, parent_id, unit_id }
    LockRow = lock_columns {
        id, property_id, access_point_id, device_public_key, model, firmware, mobile_credential, keypad, created_at,
    }
    DropSpotRow = drop_spot_columns { id, property_id, name, kind, access_point_id, unit_id }
    EnablementRow = enablement_columns { property_id, carrier_id, enabled, hours, allowed_drop_spots, updated_at }
    PreferencesRow = preferences_columns {
        preferred_drop_spot, allow_in_unit, alternate_address, pickup_point, pickup_point_id, access_lists,
    }
    BlockRow = block_columns { unit_id, blocked_by, starts_at, ends_at, reason }
    DriverRow = driver_columns { id, carrier_id, name, handheld_public_key, vetting, vetted_at, status, created_at }
    DeliveryRow = delivery_columns {
        id, carrier_id, property_id, unit_id, tracking_number, kind, window_start, window_end, eta, state, drop_spot_id,
        completed_by, photo_ref, hash_salt, created_at, updated_at,
    }
}
