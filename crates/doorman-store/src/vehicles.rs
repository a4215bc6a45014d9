//! Storage of vehicles (a resident's car, its trunk device and its last
//! position) and of guest passes (a resident's time-bounded access for a
//! named person), both backends through `impl_vehicles!`.
//!
//! A vehicle's trunk is an access point, a lock (with its fleet account) and
//! a drop spot of the owner's home property and unit: [`VehicleStore::insert_vehicle`]
//! writes them with the vehicle in one transaction. Only the last position
//! of a vehicle is kept. A guest pass numbers its doors (each lock's next
//! credential sequence number, the counter grants use) in the transaction
//! that stores it.

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, DropSpot, Event, GeoPoint, GuestPass, GuestPassId, Lock, PropertyId, TrunkFacts, UnitId, UnixSeconds,
    Vehicle, VehicleId, VehiclePosition,
};

use crate::rows::{from_json, parse_id, parse_opt_id};
use crate::StoreResult;

#[async_trait]
pub trait VehicleStore: Send + Sync {
    /// In one transaction: the trunk's access point, its lock and the lock's
    /// fleet account (`mqtt_password_hash`, as `insert_fleet_lock`), its drop
    /// spot, the vehicle, and `events`. Conflict (nothing written) if a
    /// reference does not hold.
    async fn insert_vehicle(
        &self,
        vehicle: &Vehicle,
        trunk: &AccessPoint,
        lock: &Lock,
        mqtt_password_hash: &str,
        spot: &DropSpot,
        events: &[Event],
    ) -> StoreResult<()>;
    async fn get_vehicle(&self, id: VehicleId) -> StoreResult<Option<Vehicle>>;
    /// The unit's vehicles, oldest first.
    async fn list_vehicles(&self, unit: UnitId) -> StoreResult<Vec<Vehicle>>;
    /// Replaces the vehicle's last position. NotFound for an unknown vehicle.
    async fn put_vehicle_position(&self, vehicle: VehicleId, position: &VehiclePosition) -> StoreResult<()>;
    async fn vehicle_position(&self, vehicle: VehicleId) -> StoreResult<Option<VehiclePosition>>;
    /// The trunks of the unit's vehicles with their last positions: what the
    /// access policy reads for a trunk delivery.
    async fn trunk_facts(&self, unit: UnitId) -> StoreResult<Vec<TrunkFacts>>;

    /// In one transaction: numbers every door of `pass` with its lock's next
    /// sequence number (in the order of `pass.doors`; whatever `sequence` a
    /// door had is replaced), stores the pass and `events`; returns the pass
    /// as stored. NotFound, nothing stored, if a door names an unknown lock.
    async fn insert_guest_pass(&self, pass: &GuestPass, events: &[Event]) -> StoreResult<GuestPass>;
    async fn get_guest_pass(&self, id: GuestPassId) -> StoreResult<Option<GuestPass>>;
    /// The unit's passes, newest first.
    async fn list_guest_passes(&self, unit: UnitId) -> StoreResult<Vec<GuestPass>>;
    /// The property's passes, revoked ones too, whose window
    /// `valid_from..=valid_until` meets `from..=to`, oldest first: where a
    /// lock's door event finds the pass its credential or code belongs to.
    async fn guest_passes_valid_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<GuestPass>>;
    /// Marks the pass revoked at `now` and writes `events`, if it was not
    /// revoked yet; returns it as it now is. None (nothing written) if it
    /// does not exist or was already revoked.
    async fn revoke_guest_pass(
        &self,
        id: GuestPassId,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<GuestPass>>;
}

pub(crate) const VEHICLE_COLUMNS: &str =
    "id, owner_id, unit_id, property_id, name, plate, access_point_id, lock_id, drop_spot_id, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct VehicleRow {
    pub id: String,
    pub owner_id: String,
    pub unit_id: String,
    pub property_id: String,
    pub name: String,
    pub plate: Option<String>,
    pub access_point_id: String,
    pub lock_id: String,
    pub drop_spot_id: String,
    pub created_at: i64,
}

impl VehicleRow {
    pub(crate) fn into_vehicle(self) -> StoreResult<Vehicle> {
        Ok(Vehicle {
            id: parse_id(&self.id, "vehicle id")?,
            owner_id: parse_id(&self.owner_id, "resident id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            name: self.name,
            plate: self.plate,
            access_point_id: parse_id(&self.access_point_id, "access point id")?,
            lock_id: parse_id(&self.lock_id, "lock id")?,
            drop_spot_id: parse_id(&self.drop_spot_id, "drop spot id")?,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PositionRow {
    pub lat: f64,
    pub lon: f64,
    pub reported_at: i64,
}

impl PositionRow {
    pub(crate) fn into_position(self) -> VehiclePosition {
        VehiclePosition { position: GeoPoint { lat: self.lat, lon: self.lon }, reported_at: self.reported_at }
    }
}

pub(crate) const GUEST_PASS_COLUMNS: &str =
    "id, unit_id, property_id, vehicle_id, created_by, name, valid_from, valid_until, doors, created_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct GuestPassRow {
    pub id: String,
    pub unit_id: String,
    pub property_id: String,
    pub vehicle_id: Option<String>,
    pub created_by: String,
    pub name: String,
    pub valid_from: i64,
    pub valid_until: i64,
    pub doors: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl GuestPassRow {
    pub(crate) fn into_pass(self) -> StoreResult<GuestPass> {
        Ok(GuestPass {
            id: parse_id(&self.id, "guest pass id")?,
            unit_id: parse_id(&self.unit_id, "unit id")?,
            property_id: parse_id(&self.property_id, "property id")?,
            vehicle_id: parse_opt_id(self.vehicle_id.as_deref(), "vehicle id")?,
            created_by: parse_id(&self.created_by, "resident id")?,
            name: self.name,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            doors: from_json(&self.doors, "guest pass doors")?,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// Stamps [`VehicleStore`] out for one backend (as `impl_store!` does).
macro_rules! impl_vehicles {
    ($store:ident, $db:ty) => {
        mod vehicles_impl {
            use async_trait::async_trait;
            use doorman_domain::{
                AccessPoint, DropSpot, Event, GuestPass, GuestPassId, Lock, PropertyId, TrunkFacts, UnitId,
                UnixSeconds, Vehicle, VehicleId, VehiclePosition,
            };

            use super::audit_impl::append_in;
            use super::$store;
            use $crate::rows::to_json;
            use $crate::sql_store::{db_error, sql};
            use $crate::vehicles::{
                GuestPassRow, PositionRow, VehicleRow, VehicleStore, GUEST_PASS_COLUMNS, VEHICLE_COLUMNS,
            };
            use $crate::{StoreError, StoreResult};

            #[async_trait]
            impl VehicleStore for $store {
                async fn insert_vehicle(
                    &self,
                    v: &Vehicle,
                    ap: &AccessPoint,
                    lock: &Lock,
                    mqtt_password_hash: &str,
                    spot: &DropSpot,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    super::store_impl::insert_access_point_statement(ap).execute(&mut *tx).await.map_err(db_error)?;
                    super::fleet_impl::insert_fleet_lock_in(&mut tx, lock, mqtt_password_hash).await?;
                    super::store_impl::insert_drop_spot_statement(spot).execute(&mut *tx).await.map_err(db_error)?;
                    sqlx::query(&format!(
                        "INSERT INTO vehicles ({VEHICLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    ))
                    .bind(v.id.to_string())
                    .bind(v.owner_id.to_string())
                    .bind(v.unit_id.to_string())
                    .bind(v.property_id.to_string())
                    .bind(v.name.as_str())
                    .bind(v.plate.as_deref())
                    .bind(v.access_point_id.to_string())
                    .bind(v.lock_id.to_string())
                    .bind(v.drop_spot_id.to_string())
                    .bind(v.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    append_in(&mut *tx, events).await?;
                    tx.commit().await
                }

                async fn get_vehicle(&self, id: VehicleId) -> StoreResult<Option<Vehicle>> {
                    sqlx::query_as::<_, VehicleRow>(&format!("SELECT {VEHICLE_COLUMNS} FROM vehicles WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?
                        .map(VehicleRow::into_vehicle)
                        .transpose()
                }

                async fn list_vehicles(&self, unit: UnitId) -> StoreResult<Vec<Vehicle>> {
                    sqlx::query_as::<_, VehicleRow>(&format!(
                        "SELECT {VEHICLE_COLUMNS} FROM vehicles WHERE unit_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(unit.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .map(VehicleRow::into_vehicle)
                    .collect()
                }

                async fn put_vehicle_position(&self, vehicle: VehicleId, p: &VehiclePosition) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let known: Option<String> = sqlx::query_scalar("SELECT id FROM vehicles WHERE id = $1")
                        .bind(vehicle.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if known.is_none() {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "INSERT INTO vehicle_positions (vehicle_id, lat, lon, reported_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (vehicle_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, \
                         reported_at = excluded.reported_at",
                    )
                    .bind(vehicle.to_string())
                    .bind(p.position.lat)
                    .bind(p.position.lon)
                    .bind(p.reported_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await
                }

                async fn vehicle_position(&self, vehicle: VehicleId) -> StoreResult<Option<VehiclePosition>> {
                    Ok(sqlx::query_as::<_, PositionRow>(
                        "SELECT lat, lon, reported_at FROM vehicle_positions WHERE vehicle_id = $1",
                    )
                    .bind(vehicle.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?
                    .map(PositionRow::into_position))
                }

                async fn trunk_facts(&self, unit: UnitId) -> StoreResult<Vec<TrunkFacts>> {
                    let mut out = Vec::new();
                    for v in self.list_vehicles(unit).await? {
                        out.push(TrunkFacts {
                            access_point_id: v.access_point_id,
                            last_position: self.vehicle_position(v.id).await?,
                        });
                    }
                    Ok(out)
                }

                async fn insert_guest_pass(&self, pass: &GuestPass, events: &[Event]) -> StoreResult<GuestPass> {
                    let mut tx = self.begin_write().await?;
                    let mut stored = pass.clone();
                    for door in &mut stored.doors {
                        let next: Option<i64> = sqlx::query_scalar(sql::NEXT_LOCK_SEQUENCE)
                            .bind(door.lock_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        let Some(next) = next else {
                            tx.rollback().await?;
                            return Err(StoreError::NotFound);
                        };
                        door.sequence = next;
                    }
                    sqlx::query(&format!(
                        "INSERT INTO guest_passes ({GUEST_PASS_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    ))
                    .bind(stored.id.to_string())
                    .bind(stored.unit_id.to_string())
                    .bind(stored.property_id.to_string())
                    .bind(stored.vehicle_id.map(|id| id.to_string()))
                    .bind(stored.created_by.to_string())
                    .bind(stored.name.as_str())
                    .bind(stored.valid_from)
                    .bind(stored.valid_until)
                    .bind(to_json(&stored.doors, "guest pass doors")?)
                    .bind(stored.created_at)
                    .bind(stored.revoked_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    append_in(&mut *tx, events).await?;
                    tx.commit().await?;
                    Ok(stored)
                }

                async fn get_guest_pass(&self, id: GuestPassId) -> StoreResult<Option<GuestPass>> {
                    sqlx::query_as::<_, GuestPassRow>(&format!(
                        "SELECT {GUEST_PASS_COLUMNS} FROM guest_passes WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?
                    .map(GuestPassRow::into_pass)
                    .transpose()
                }

                async fn list_guest_passes(&self, unit: UnitId) -> StoreResult<Vec<GuestPass>> {
                    sqlx::query_as::<_, GuestPassRow>(&format!(
                        "SELECT {GUEST_PASS_COLUMNS} FROM guest_passes WHERE unit_id = $1 \
                         ORDER BY created_at DESC, id"
                    ))
                    .bind(unit.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .map(GuestPassRow::into_pass)
                    .collect()
                }

                async fn guest_passes_valid_between(
                    &self,
                    property: PropertyId,
                    from: UnixSeconds,
                    to: UnixSeconds,
                ) -> StoreResult<Vec<GuestPass>> {
                    sqlx::query_as::<_, GuestPassRow>(&format!(
                        "SELECT {GUEST_PASS_COLUMNS} FROM guest_passes \
                         WHERE property_id = $1 AND valid_until >= $2 AND valid_from <= $3 \
                         ORDER BY created_at, id"
                    ))
                    .bind(property.to_string())
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .map(GuestPassRow::into_pass)
                    .collect()
                }

                async fn revoke_guest_pass(
                    &self,
                    id: GuestPassId,
                    now: UnixSeconds,
                    events: &[Event],
                ) -> StoreResult<Option<GuestPass>> {
                    let mut tx = self.begin_write().await?;
                    let row = sqlx::query_as::<_, GuestPassRow>(&format!(
                        "UPDATE guest_passes SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                         RETURNING {GUEST_PASS_COLUMNS}"
                    ))
                    .bind(id.to_string())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let pass = row.into_pass()?;
                    append_in(&mut *tx, events).await?;
                    tx.commit().await?;
                    Ok(Some(pass))
                }
            }
        }
    };
}
pub(crate) use impl_vehicles;
