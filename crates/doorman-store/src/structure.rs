//! Changing and taking away what a manager made (migration 0013): a
//! property's description, units, access points and drop spots edited or
//! removed, locks decommissioned or replaced.
//!
//! Removal is soft: the row gets `removed_at` and stays, so that history
//! (deliveries, grants, events, clips) keeps naming it; the lookups for new
//! work (`get_unit`, `list_units`, `get_access_point`, `list_access_points`,
//! `get_drop_spot`, `list_drop_spots` and the access path) skip it. A
//! decommissioned lock stays in `list_locks` and `get_lock` with its
//! `decommissioned_at` (and `replaced_by`); the access path, the MQTT
//! accounts and the lock's password hash skip it.
//!
//! Guarantees (checked by the conformance suite on both backends):
//! - each change and its log entries are written in one transaction; what
//!   is in the way of a removal is checked in that transaction, and a
//!   refusal (Conflict, naming it) writes nothing;
//! - a door's parent chain never loops: the chain is walked in the update's
//!   transaction;
//! - a removed drop spot leaves every enablement's allowed list in the same
//!   transaction;
//! - decommissioning marks the lock and deletes its MQTT account (the
//!   stored hash is blanked) together; replacing does that and stores the
//!   new lock with its account on the same door, and points the old lock at
//!   it, together; a door has at most one lock in service (a unique index).

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, AccessPointId, CarrierEnablement, DropSpot, DropSpotId, Event, Lock, LockId, Property, PropertyId,
    Unit, UnitId, UnixSeconds,
};

use crate::audit::append_in;
use crate::exec::{locking, values, Exec, Locking};
use crate::fleet::insert_fleet_lock_in;
use crate::records::{select, to_json};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// Changes to a property's structure; every [`Store`](crate::Store) is one.
/// Every method writes `events` in the same transaction as the change, only
/// if it happened.
#[async_trait]
pub trait StructureStore: Send + Sync {
    /// Changes the property's kind, name, address, location and time zone
    /// (not its manager, notice or creation time). NotFound for an unknown property.
    async fn update_property(&self, property: &Property, events: &[Event]) -> StoreResult<()>;

    /// Changes a unit's label. NotFound for an unknown or removed unit.
    async fn update_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()>;
    /// Removes the unit. NotFound for an unknown or removed unit; Conflict,
    /// naming it, if a resident, a unit door, a drop spot of the unit or an
    /// open delivery to it is in the way.
    async fn remove_unit(&self, unit: UnitId, at: UnixSeconds, events: &[Event]) -> StoreResult<()>;

    /// Changes an access point's kind, name, parent and unit. NotFound for
    /// an unknown or removed one; Conflict if its parent chain would then
    /// reach itself, or the parent or unit is not one in service of the property.
    async fn update_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()>;
    /// Removes the access point. NotFound for an unknown or removed one;
    /// Conflict, naming it, if a lock in service, a child door or a drop
    /// spot is in the way.
    async fn remove_access_point(&self, ap: AccessPointId, at: UnixSeconds, events: &[Event]) -> StoreResult<()>;

    /// Changes a drop spot's name, kind and unit. NotFound for an unknown or removed one.
    async fn update_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()>;
    /// Removes the drop spot and takes it out of every enablement's allowed
    /// drop spots. NotFound for an unknown or removed one.
    async fn remove_drop_spot(&self, spot: DropSpotId, at: UnixSeconds, events: &[Event]) -> StoreResult<()>;

    /// Takes the lock out of service at `at` and deletes its MQTT account.
    /// NotFound for an unknown lock; Conflict if it is already decommissioned.
    async fn decommission_lock(&self, lock: LockId, at: UnixSeconds, events: &[Event]) -> StoreResult<()>;
    /// Decommissions `old` at `new.created_at` and stores `new` (on the same
    /// door) with its MQTT account, `old.replaced_by` naming it. NotFound
    /// for an unknown lock; Conflict if `old` is already decommissioned.
    async fn replace_lock(
        &self,
        old: LockId,
        new: &Lock,
        mqtt_password_hash: &str,
        events: &[Event],
    ) -> StoreResult<()>;
}

/// $1 unit: the unit in service, row-locked.
const LOCK_UNIT: Locking = locking!("SELECT property_id FROM units WHERE id = $1 AND removed_at IS NULL");
/// $1 access point: the access point in service, row-locked.
const LOCK_ACCESS_POINT: Locking =
    locking!("SELECT property_id FROM access_points WHERE id = $1 AND removed_at IS NULL");
/// $1 drop spot: the drop spot in service, row-locked.
const LOCK_DROP_SPOT: Locking = locking!("SELECT property_id FROM drop_spots WHERE id = $1 AND removed_at IS NULL");
/// $1 lock: its decommissioning time (NULL: in service), row-locked.
const LOCK_LOCK: Locking = locking!("SELECT decommissioned_at FROM locks WHERE id = $1");

/// What may stand in the way of a removal: a query naming the first thing
/// found (its text), and what the refusal says of it.
struct Obstacle {
    sql: &'static str,
    says: &'static str,
}

const UNIT_OBSTACLES: &[Obstacle] = &[
    // A resident who moved out (migration 0014) is history, not in the way.
    Obstacle {
        sql: "SELECT name FROM residents WHERE unit_id = $1 AND moved_out_at IS NULL ORDER BY created_at, id LIMIT 1",
        says: "resident",
    },
    Obstacle {
        sql: "SELECT name FROM access_points WHERE unit_id = $1 AND removed_at IS NULL ORDER BY name, id LIMIT 1",
        says: "unit door",
    },
    Obstacle {
        sql: "SELECT name FROM drop_spots WHERE unit_id = $1 AND removed_at IS NULL ORDER BY name, id LIMIT 1",
        says: "drop spot",
    },
    Obstacle {
        sql: "SELECT tracking_number FROM deliveries WHERE unit_id = $1 \
              AND state IN ('registered', 'out_for_delivery', 'failed') ORDER BY created_at, id LIMIT 1",
        says: "open delivery",
    },
];

const ACCESS_POINT_OBSTACLES: &[Obstacle] = &[
    Obstacle {
        sql: "SELECT id FROM locks WHERE access_point_id = $1 AND decommissioned_at IS NULL LIMIT 1",
        says: "lock in service",
    },
    Obstacle {
        sql: "SELECT name FROM access_points WHERE parent_id = $1 AND removed_at IS NULL ORDER BY name, id LIMIT 1",
        says: "door behind it",
    },
    Obstacle {
        sql: "SELECT name FROM drop_spots WHERE access_point_id = $1 AND removed_at IS NULL ORDER BY name, id LIMIT 1",
        says: "drop spot",
    },
];

/// Conflict naming the first obstacle found for `id`, inside the caller's write.
async fn refuse_if_in_the_way(
    ex: &mut impl Exec,
    obstacles: &[Obstacle],
    id: crate::exec::Value<'_>,
    what: &str,
) -> StoreResult<()> {
    for o in obstacles {
        if let Some(found) = ex.fetch_optional::<String>(o.sql, std::slice::from_ref(&id)).await? {
            return Err(StoreError::Conflict(format!("the {what} still has a {} ({found})", o.says)));
        }
    }
    Ok(())
}

/// Marks the lock decommissioned at `at` and deletes its MQTT account,
/// inside the caller's write. NotFound, or Conflict if already decommissioned.
async fn decommission_in(ex: &mut impl Exec, lock: LockId, at: UnixSeconds) -> StoreResult<()> {
    let sql = ex.dialect().locking(LOCK_LOCK);
    match ex.fetch_optional::<Option<i64>>(sql, &[lock.into()]).await? {
        None => return Err(StoreError::NotFound),
        Some(Some(_)) => return Err(StoreError::Conflict("the lock is already decommissioned".into())),
        Some(None) => {}
    }
    ex.execute("UPDATE locks SET decommissioned_at = $2 WHERE id = $1", &[lock.into(), at.into()]).await?;
    // The account is gone: no password verifies against an empty hash, and
    // the account lists skip decommissioned locks too.
    ex.execute("UPDATE lock_fleet SET mqtt_password_hash = '' WHERE lock_id = $1", &[lock.into()]).await?;
    Ok(())
}

impl crate::exec::Record for Option<i64> {
    fn read(cells: &mut impl crate::exec::Cells) -> StoreResult<Option<i64>> {
        cells.opt_i64()
    }
}

#[async_trait]
impl<B: Backend> StructureStore for B {
    async fn update_property(&self, p: &Property, events: &[Event]) -> StoreResult<()> {
        let sql = "UPDATE properties SET kind = $2, name = $3, address = $4, lat = $5, lon = $6, time_zone = $7 \
                   WHERE id = $1";
        let values =
            values! { p.id, p.kind.as_str(), &p.name, &p.address, p.location.lat, p.location.lon, &p.time_zone };
        self.write_existing(sql, &values, events).await
    }

    async fn update_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()> {
        let sql = "UPDATE units SET label = $2 WHERE id = $1 AND removed_at IS NULL";
        self.write_existing(sql, &[unit.id.into(), (&unit.label).into()], events).await
    }

    async fn remove_unit(&self, unit: UnitId, at: UnixSeconds, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = tx.dialect().locking(LOCK_UNIT);
        if tx.fetch_optional::<String>(sql, &[unit.into()]).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        refuse_if_in_the_way(&mut *tx, UNIT_OBSTACLES, unit.into(), "unit").await?;
        tx.execute("UPDATE units SET removed_at = $2 WHERE id = $1", &[unit.into(), at.into()]).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn update_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = tx.dialect().locking(LOCK_ACCESS_POINT);
        match tx.fetch_optional::<String>(sql, &[ap.id.into()]).await? {
            Some(property) if property == ap.property_id.to_string() => {}
            _ => return Err(StoreError::NotFound),
        }
        // The new parent chain, walked up to the street: it must be doors in
        // service of the property, and must not come back to this door.
        let mut next = ap.parent_id;
        let mut steps = 0;
        while let Some(parent) = next {
            if parent == ap.id {
                return Err(StoreError::Conflict("parent_id: the doors would form a cycle".into()));
            }
            steps += 1;
            if steps > 10_000 {
                return Err(StoreError::Conflict("parent_id: the chain of doors does not end".into()));
            }
            let sql = "SELECT parent_id FROM access_points WHERE id = $1 AND property_id = $2 AND removed_at IS NULL";
            let Some(row) = tx.fetch_optional::<ParentRow>(sql, &[parent.into(), ap.property_id.into()]).await? else {
                return Err(StoreError::Conflict("parent_id: no such access point in this property".into()));
            };
            next = row.0;
        }
        if let Some(unit) = ap.unit_id {
            let sql = "SELECT label FROM units WHERE id = $1 AND property_id = $2 AND removed_at IS NULL";
            if tx.fetch_optional::<String>(sql, &[unit.into(), ap.property_id.into()]).await?.is_none() {
                return Err(StoreError::Conflict("unit_id: no such unit in this property".into()));
            }
        }
        let sql = "UPDATE access_points SET kind = $2, name = $3, parent_id = $4, unit_id = $5 WHERE id = $1";
        let values = values! { ap.id, ap.kind.as_str(), &ap.name, ap.parent_id, ap.unit_id };
        tx.execute(sql, &values).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn remove_access_point(&self, ap: AccessPointId, at: UnixSeconds, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = tx.dialect().locking(LOCK_ACCESS_POINT);
        if tx.fetch_optional::<String>(sql, &[ap.into()]).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        refuse_if_in_the_way(&mut *tx, ACCESS_POINT_OBSTACLES, ap.into(), "door").await?;
        tx.execute("UPDATE access_points SET removed_at = $2 WHERE id = $1", &[ap.into(), at.into()]).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn update_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = tx.dialect().locking(LOCK_DROP_SPOT);
        if tx.fetch_optional::<String>(sql, &[spot.id.into()]).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(unit) = spot.unit_id {
            let sql = "SELECT label FROM units WHERE id = $1 AND property_id = $2 AND removed_at IS NULL";
            if tx.fetch_optional::<String>(sql, &[unit.into(), spot.property_id.into()]).await?.is_none() {
                return Err(StoreError::Conflict("unit_id: no such unit in this property".into()));
            }
        }
        let sql = "UPDATE drop_spots SET name = $2, kind = $3, unit_id = $4 WHERE id = $1";
        let values = values! { spot.id, &spot.name, spot.kind.as_str(), spot.unit_id };
        tx.execute(sql, &values).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn remove_drop_spot(&self, spot: DropSpotId, at: UnixSeconds, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = tx.dialect().locking(LOCK_DROP_SPOT);
        let Some(property) = tx.fetch_optional::<String>(sql, &[spot.into()]).await? else {
            return Err(StoreError::NotFound);
        };
        let property = PropertyId::from(uuid::Uuid::parse_str(&property).map_err(|_| crate::exec::malformed("id"))?);
        tx.execute("UPDATE drop_spots SET removed_at = $2 WHERE id = $1", &[spot.into(), at.into()]).await?;
        let sql = select!(enablement, " FROM enablements WHERE property_id = $1 ORDER BY updated_at, carrier_id");
        let enablements: Vec<CarrierEnablement> = tx.fetch_all(sql, &[property.into()]).await?;
        for e in enablements.iter().filter(|e| e.allowed_drop_spots.contains(&spot)) {
            let kept: Vec<DropSpotId> = e.allowed_drop_spots.iter().copied().filter(|s| *s != spot).collect();
            let sql = "UPDATE enablements SET allowed_drop_spots = $3 WHERE property_id = $1 AND carrier_id = $2";
            let values = values! { e.property_id, e.carrier_id, to_json(&kept, "allowed drop spots")? };
            tx.execute(sql, &values).await?;
        }
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn decommission_lock(&self, lock: LockId, at: UnixSeconds, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        decommission_in(&mut *tx, lock, at).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn replace_lock(
        &self,
        old: LockId,
        new: &Lock,
        mqtt_password_hash: &str,
        events: &[Event],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        decommission_in(&mut *tx, old, new.created_at).await?;
        insert_fleet_lock_in(&mut *tx, new, mqtt_password_hash).await?;
        tx.execute("UPDATE locks SET replaced_by = $2 WHERE id = $1", &[old.into(), new.id.into()]).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }
}

/// An access point's parent (NULL: a street door).
struct ParentRow(Option<AccessPointId>);

impl crate::exec::Record for ParentRow {
    fn read(cells: &mut impl crate::exec::Cells) -> StoreResult<ParentRow> {
        Ok(ParentRow(cells.opt_id("parent access point id")?))
    }
}
