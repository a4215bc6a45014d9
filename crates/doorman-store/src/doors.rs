//! Door events and camera clips (migration `0007_doors_clips`): the entry
//! each lock's door events belong to (`lock_doors`), and the clips the locks
//! announced with their signed `camera_clip` events (`clips`).
//!
//! Guarantees (checked by the conformance suite on both backends):
//! - a lock's door row changes only with the lock event that changes it
//!   ([`crate::FleetStore::append_lock_event_with`], in the chain head's
//!   transaction) or with the service's ajar timer
//!   ([`crate::FleetStore::mark_door_ajar`]); both compare and set its `version`, so
//!   neither overwrites what the other wrote, and a door_ajar is logged once
//!   per opening;
//! - a clip row is created with its lock event, so only a clip the lock
//!   signed can ever be stored; it is marked stored, then deleted, each once,
//!   by a conditional update in the transaction that writes its log entry.

use doorman_domain::{
    AccessPointId, CarrierId, ClipId, DeliveryId, DriverId, GrantId, LockId, PropertyId, UnitId, UnixSeconds,
};

use crate::exec::values;
use crate::exec::{to_i64, Exec};
use crate::{StoreError, StoreResult};

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

/// Writes what a lock event changes besides its own row, inside the
/// caller's write (the lock event's). Stale if the door row is no longer
/// the one the caller read.
pub(crate) async fn write_in(ex: &mut impl Exec, writes: &LockEventWrites) -> StoreResult<()> {
    if let Some(w) = &writes.door {
        let (d, e) = (&w.door, &w.door.entry);
        let entry =
            [e.grant_id.into(), e.delivery_id.into(), e.carrier_id.into(), e.driver_id.into(), e.unit_id.into()];
        let row = [[d.lock_id.into()].as_slice(), &entry, &[d.opened_at.into(), d.ajar_logged.into()]].concat();
        let changed = match w.read {
            Some(version) => {
                let sql = "UPDATE lock_doors SET grant_id = $2, delivery_id = $3, carrier_id = $4, driver_id = $5, \
                           unit_id = $6, opened_at = $7, ajar_logged = $8, version = version + 1 \
                           WHERE lock_id = $1 AND version = $9";
                ex.execute(sql, &[row.as_slice(), &[version.into()]].concat()).await?
            }
            None => {
                let sql = "INSERT INTO lock_doors (lock_id, grant_id, delivery_id, carrier_id, driver_id, unit_id, \
                           opened_at, ajar_logged, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) \
                           ON CONFLICT (lock_id) DO NOTHING";
                ex.execute(sql, &row).await?
            }
        };
        if changed == 0 {
            return Err(StoreError::Stale("the door's state moved".into()));
        }
    }
    if let Some(c) = &writes.clip {
        let e = &c.entry;
        let sql = "INSERT INTO clips (id, lock_id, counter, sha256, recorded_at, property_id, access_point_id, \
                   delivery_id, carrier_id, driver_id, unit_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        let values = values! {
            c.id, c.lock_id, to_i64(c.counter, "counter")?, &c.sha256, c.recorded_at, c.property_id,
            c.access_point_id, e.delivery_id, e.carrier_id, e.driver_id, e.unit_id
        };
        ex.execute(sql, &values).await?;
    }
    Ok(())
}
