//! Door events and camera clips (migration `0007_doors_clips`): the entry
//! each lock's door events belong to (`lock_doors`), and the clips the locks
//! announced with their signed `camera_clip` events (`clips`).
//!
//! Guarantees (checked by the conformance suite on both backends):
//! - a lock's door row changes only with the lock event that changes it
//!   ([`crate::FleetStore::append_lock_event_with`], in the chain head's
//!   transaction) or with the service's ajar timer
//!   ([`DoorStore::mark_door_ajar`]); both compare and set its `version`, so
//!   neither overwrites what the other wrote, and a door_ajar is logged once
//!   per opening;
//! - a clip row is created with its lock event, so only a clip the lock
//!   signed can ever be stored; it is marked stored, then deleted, each once,
//!   by a conditional update in the transaction that writes its log entry.

use async_trait::async_trait;
use doorman_domain::{
    AccessPointId, CarrierId, ClipId, DeliveryId, DriverId, Event, Grant, GrantId, LockId, PropertyId, UnitId,
    UnixSeconds,
};

use crate::StoreResult;

/// Whom a lock's door events concern: the entry they belong to (all `None`:
/// no known entry; they then concern the building, or the unit whose door it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DoorEntry {
    pub grant_id: Option<GrantId>,
    pub delivery_id: Option<DeliveryId>,
    pub carrier_id: Option<CarrierId>,
    pub driver_id: Option<DriverId>,
    pub unit_id: Option<UnitId>,
}

/// What the service knows of a lock's door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockDoor {
    pub lock_id: LockId,
    /// The entry the next door events belong to.
    pub entry: DoorEntry,
    /// Service time the opening was learnt; None while closed.
    pub opened_at: Option<UnixSeconds>,
    /// A door_ajar was logged for this opening.
    pub ajar_logged: bool,
    /// Compare-and-set counter of the row.
    pub version: i64,
}

impl LockDoor {
    /// A lock whose door the service knows nothing of yet.
    pub fn new(lock_id: LockId) -> Self {
        Self { lock_id, entry: DoorEntry::default(), opened_at: None, ajar_logged: false, version: 0 }
    }
}

/// The door row a lock event leaves, replacing the row read as `read`
/// (None: there was no row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorWrite {
    pub read: Option<i64>,
    pub door: LockDoor,
}

/// A clip a lock announced (its `camera_clip` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClip {
    pub id: ClipId,
    pub lock_id: LockId,
    pub counter: u64,
    pub sha256: [u8; 32],
    /// The lock's time of the event.
    pub recorded_at: UnixSeconds,
    pub property_id: PropertyId,
    pub access_point_id: AccessPointId,
    pub entry: DoorEntry,
}

/// A clip as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipRecord {
    pub clip: NewClip,
    /// Set once uploaded.
    pub size: Option<u64>,
    pub content_type: Option<String>,
    pub object_key: Option<String>,
    pub stored_at: Option<UnixSeconds>,
    pub deleted_at: Option<UnixSeconds>,
}

/// What storing a lock event writes besides the event and its log entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockEventWrites {
    pub door: Option<DoorWrite>,
    pub clip: Option<NewClip>,
}

/// The clips a list shows: a property's, or one unit's there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipFilter {
    pub property: PropertyId,
    pub unit: Option<UnitId>,
}

/// What an upload stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredClip {
    pub size: u64,
    pub content_type: String,
    pub object_key: String,
    pub stored_at: UnixSeconds,
}

/// Door and clip storage; every [`crate::Store`] is one.
#[async_trait]
pub trait DoorStore: Send + Sync {
    /// The lock's door row; None before its first door-related event.
    async fn lock_door(&self, lock: LockId) -> StoreResult<Option<LockDoor>>;
    /// The property's grants issued in `from..=to`, oldest first.
    async fn grants_issued_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<Grant>>;
    /// Doors open since `opened_before` or earlier with no door_ajar logged
    /// for that opening, oldest first, at most `limit`.
    async fn doors_open_since(&self, opened_before: UnixSeconds, limit: u32) -> StoreResult<Vec<LockDoor>>;
    /// Marks the door ajar if its row is still at `version` (the opening the
    /// caller saw, no door_ajar yet), with `events`, in one transaction.
    /// False, and nothing written, if the row moved on.
    async fn mark_door_ajar(&self, lock: LockId, version: i64, events: &[Event]) -> StoreResult<bool>;

    /// The clip announced by the lock's event `counter`.
    async fn clip_at(&self, lock: LockId, counter: u64) -> StoreResult<Option<ClipRecord>>;
    async fn get_clip(&self, id: ClipId) -> StoreResult<Option<ClipRecord>>;
    /// Marks the clip stored, with `events`, if it was neither stored nor
    /// deleted; false (nothing written) otherwise.
    async fn mark_clip_stored(&self, id: ClipId, stored: &StoredClip, events: &[Event]) -> StoreResult<bool>;
    /// Uploaded clips (deleted ones included), newest first, at most `limit`.
    async fn list_clips(&self, filter: ClipFilter, limit: u32) -> StoreResult<Vec<ClipRecord>>;
    /// Stored, undeleted clips stored before `before`, oldest first.
    async fn clips_stored_before(&self, before: UnixSeconds, limit: u32) -> StoreResult<Vec<ClipRecord>>;
    /// Marks the clip deleted at `at`, with `events`, if it was stored and
    /// not yet deleted; false (nothing written) otherwise.
    async fn mark_clip_deleted(&self, id: ClipId, at: UnixSeconds, events: &[Event]) -> StoreResult<bool>;
}

pub(crate) fn opt_id<T: std::str::FromStr>(v: Option<String>) -> StoreResult<Option<T>> {
    v.map(|s| crate::fleet::parse_id(&s)).transpose()
}

pub(crate) const DOOR_COLUMNS: &str =
    "lock_id, grant_id, delivery_id, carrier_id, driver_id, unit_id, opened_at, ajar_logged, version";

/// Implements [`DoorStore`] for `$store` (database `$db`), and `write_in`,
/// which `append_lock_event_with` calls inside its transaction.
macro_rules! impl_doors {
    ($store:ident, $db:ty) => {
        pub(crate) mod doors_impl {
            use async_trait::async_trait;
            use doorman_domain::{ClipId, Event, Grant, LockId, PropertyId, UnixSeconds};
            use sqlx::Row as _;

            use super::audit_impl::append_in;
            use super::$store;
            use $crate::doors::{
                opt_id, ClipFilter, ClipRecord, DoorEntry, DoorStore, LockDoor, LockEventWrites, NewClip,
                StoredClip, DOOR_COLUMNS,
            };
            use $crate::fleet::{parse_id, to_hash, to_i64, to_u64};
            use $crate::rows::{grant_columns, GrantRow, IntoDomain as _};
            use $crate::sql_store::db_error;
            use $crate::{StoreError, StoreResult};

            type Row = <$db as sqlx::Database>::Row;

            const CLIP_SELECT: &str = "SELECT id, lock_id, counter, sha256, recorded_at, property_id, \
                 access_point_id, delivery_id, carrier_id, driver_id, unit_id, size, content_type, object_key, \
                 stored_at, deleted_at FROM clips";

            fn door(row: &Row) -> StoreResult<LockDoor> {
                let get = |e: sqlx::Error| db_error(e);
                Ok(LockDoor {
                    lock_id: parse_id(&row.try_get::<String, _>(0).map_err(get)?)?,
                    entry: DoorEntry {
                        grant_id: opt_id(row.try_get(1).map_err(get)?)?,
                        delivery_id: opt_id(row.try_get(2).map_err(get)?)?,
                        carrier_id: opt_id(row.try_get(3).map_err(get)?)?,
                        driver_id: opt_id(row.try_get(4).map_err(get)?)?,
                        unit_id: opt_id(row.try_get(5).map_err(get)?)?,
                    },
                    opened_at: row.try_get(6).map_err(get)?,
                    ajar_logged: row.try_get(7).map_err(get)?,
                    version: row.try_get(8).map_err(get)?,
                })
            }

            fn clip(row: &Row) -> StoreResult<ClipRecord> {
                let get = |e: sqlx::Error| db_error(e);
                Ok(ClipRecord {
                    clip: NewClip {
                        id: parse_id(&row.try_get::<String, _>(0).map_err(get)?)?,
                        lock_id: parse_id(&row.try_get::<String, _>(1).map_err(get)?)?,
                        counter: to_u64(row.try_get(2).map_err(get)?, "counter")?,
                        sha256: to_hash(row.try_get(3).map_err(get)?)?,
                        recorded_at: row.try_get(4).map_err(get)?,
                        property_id: parse_id(&row.try_get::<String, _>(5).map_err(get)?)?,
                        access_point_id: parse_id(&row.try_get::<String, _>(6).map_err(get)?)?,
                        entry: DoorEntry {
                            grant_id: None,
                            delivery_id: opt_id(row.try_get(7).map_err(get)?)?,
                            carrier_id: opt_id(row.try_get(8).map_err(get)?)?,
                            driver_id: opt_id(row.try_get(9).map_err(get)?)?,
                            unit_id: opt_id(row.try_get(10).map_err(get)?)?,
                        },
                    },
                    size: row.try_get::<Option<i64>, _>(11).map_err(get)?.map(|s| to_u64(s, "size")).transpose()?,
                    content_type: row.try_get(12).map_err(get)?,
                    object_key: row.try_get(13).map_err(get)?,
                    stored_at: row.try_get(14).map_err(get)?,
                    deleted_at: row.try_get(15).map_err(get)?,
                })
            }

            fn text<T: ToString>(v: Option<T>) -> Option<String> {
                v.map(|v| v.to_string())
            }

            /// Writes what a lock event changes besides its own row, inside
            /// the transaction `tx` is in. Stale if the door row is no longer
            /// the one the caller read.
            pub(crate) async fn write_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                writes: &LockEventWrites,
            ) -> StoreResult<()> {
                if let Some(w) = &writes.door {
                    let d = &w.door;
                    let e = &d.entry;
                    let n = match w.read {
                        Some(version) => sqlx::query(
                            "UPDATE lock_doors SET grant_id = $2, delivery_id = $3, carrier_id = $4, \
                             driver_id = $5, unit_id = $6, opened_at = $7, ajar_logged = $8, version = version + 1 \
                             WHERE lock_id = $1 AND version = $9",
                        )
                        .bind(d.lock_id.to_string())
                        .bind(text(e.grant_id))
                        .bind(text(e.delivery_id))
                        .bind(text(e.carrier_id))
                        .bind(text(e.driver_id))
                        .bind(text(e.unit_id))
                        .bind(d.opened_at)
                        .bind(d.ajar_logged)
                        .bind(version),
                        None => sqlx::query(
                            "INSERT INTO lock_doors (lock_id, grant_id, delivery_id, carrier_id, driver_id, \
                             unit_id, opened_at, ajar_logged, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) \
                             ON CONFLICT (lock_id) DO NOTHING",
                        )
                        .bind(d.lock_id.to_string())
                        .bind(text(e.grant_id))
                        .bind(text(e.delivery_id))
                        .bind(text(e.carrier_id))
                        .bind(text(e.driver_id))
                        .bind(text(e.unit_id))
                        .bind(d.opened_at)
                        .bind(d.ajar_logged),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    if n == 0 {
                        return Err(StoreError::Stale("the door's state moved".into()));
                    }
                }
                if let Some(c) = &writes.clip {
                    let e = &c.entry;
                    sqlx::query(
                        "INSERT INTO clips (id, lock_id, counter, sha256, recorded_at, property_id, \
                         access_point_id, delivery_id, carrier_id, driver_id, unit_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(c.id.to_string())
                    .bind(c.lock_id.to_string())
                    .bind(to_i64(c.counter, "counter")?)
                    .bind(&c.sha256[..])
                    .bind(c.recorded_at)
                    .bind(c.property_id.to_string())
                    .bind(c.access_point_id.to_string())
                    .bind(text(e.delivery_id))
                    .bind(text(e.carrier_id))
                    .bind(text(e.driver_id))
                    .bind(text(e.unit_id))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            impl $store {
                /// One conditional update with its events, in one transaction:
                /// true if it changed a row (and the events were written).
                async fn update_with_events<'q>(
                    &self,
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                    events: &[Event],
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let n = query.execute(&mut *tx).await.map_err(db_error)?.rows_affected();
                    if n == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    append_in(&mut *tx, events).await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }

            #[async_trait]
            impl DoorStore for $store {
                async fn lock_door(&self, lock: LockId) -> StoreResult<Option<LockDoor>> {
                    let row = sqlx::query(&format!("SELECT {DOOR_COLUMNS} FROM lock_doors WHERE lock_id = $1"))
                        .bind(lock.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(door).transpose()
                }

                async fn grants_issued_between(
                    &self,
                    property: PropertyId,
                    from: UnixSeconds,
                    to: UnixSeconds,
                ) -> StoreResult<Vec<Grant>> {
                    let rows = sqlx::query_as::<_, GrantRow>(concat!(
                        "SELECT ",
                        grant_columns!(),
                        " FROM grants WHERE property_id = $1 AND issued_at >= $2 AND issued_at <= $3 \
                         ORDER BY issued_at, id"
                    ))
                    .bind(property.to_string())
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.into_iter().map(|r| r.into_domain()).collect()
                }

                async fn doors_open_since(&self, opened_before: UnixSeconds, limit: u32) -> StoreResult<Vec<LockDoor>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {DOOR_COLUMNS} FROM lock_doors \
                         WHERE opened_at IS NOT NULL AND NOT ajar_logged AND opened_at <= $1 \
                         ORDER BY opened_at, lock_id LIMIT $2"
                    ))
                    .bind(opened_before)
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(door).collect()
                }

                async fn mark_door_ajar(&self, lock: LockId, version: i64, events: &[Event]) -> StoreResult<bool> {
                    self.update_with_events(
                        sqlx::query(
                            "UPDATE lock_doors SET ajar_logged = $3, version = version + 1 \
                             WHERE lock_id = $1 AND version = $2 AND opened_at IS NOT NULL AND NOT ajar_logged",
                        )
                        .bind(lock.to_string())
                        .bind(version)
                        .bind(true),
                        events,
                    )
                    .await
                }

                async fn clip_at(&self, lock: LockId, counter: u64) -> StoreResult<Option<ClipRecord>> {
                    let row = sqlx::query(&format!("{CLIP_SELECT} WHERE lock_id = $1 AND counter = $2"))
                        .bind(lock.to_string())
                        .bind(to_i64(counter, "counter")?)
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(clip).transpose()
                }

                async fn get_clip(&self, id: ClipId) -> StoreResult<Option<ClipRecord>> {
                    let row = sqlx::query(&format!("{CLIP_SELECT} WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(clip).transpose()
                }

                async fn mark_clip_stored(
                    &self,
                    id: ClipId,
                    stored: &StoredClip,
                    events: &[Event],
                ) -> StoreResult<bool> {
                    self.update_with_events(
                        sqlx::query(
                            "UPDATE clips SET size = $2, content_type = $3, object_key = $4, stored_at = $5 \
                             WHERE id = $1 AND stored_at IS NULL AND deleted_at IS NULL",
                        )
                        .bind(id.to_string())
                        .bind(to_i64(stored.size, "size")?)
                        .bind(stored.content_type.clone())
                        .bind(stored.object_key.clone())
                        .bind(stored.stored_at),
                        events,
                    )
                    .await
                }

                async fn list_clips(&self, filter: ClipFilter, limit: u32) -> StoreResult<Vec<ClipRecord>> {
                    let rows = match filter.unit {
                        Some(unit) => {
                            sqlx::query(&format!(
                                "{CLIP_SELECT} WHERE property_id = $1 AND unit_id = $2 AND stored_at IS NOT NULL \
                                 ORDER BY recorded_at DESC, counter DESC LIMIT $3"
                            ))
                            .bind(filter.property.to_string())
                            .bind(unit.to_string())
                            .bind(i64::from(limit))
                            .fetch_all(self.reads())
                            .await
                        }
                        None => {
                            sqlx::query(&format!(
                                "{CLIP_SELECT} WHERE property_id = $1 AND stored_at IS NOT NULL \
                                 ORDER BY recorded_at DESC, counter DESC LIMIT $2"
                            ))
                            .bind(filter.property.to_string())
                            .bind(i64::from(limit))
                            .fetch_all(self.reads())
                            .await
                        }
                    }
                    .map_err(db_error)?;
                    rows.iter().map(clip).collect()
                }

                async fn clips_stored_before(&self, before: UnixSeconds, limit: u32) -> StoreResult<Vec<ClipRecord>> {
                    let rows = sqlx::query(&format!(
                        "{CLIP_SELECT} WHERE stored_at IS NOT NULL AND deleted_at IS NULL AND stored_at < $1 \
                         ORDER BY stored_at, id LIMIT $2"
                    ))
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(clip).collect()
                }

                async fn mark_clip_deleted(&self, id: ClipId, at: UnixSeconds, events: &[Event]) -> StoreResult<bool> {
                    self.update_with_events(
                        sqlx::query(
                            "UPDATE clips SET deleted_at = $2 \
                             WHERE id = $1 AND stored_at IS NOT NULL AND deleted_at IS NULL",
                        )
                        .bind(id.to_string())
                        .bind(at),
                        events,
                    )
                    .await
                }
            }
        }
    };
}
pub(crate) use impl_doors;
