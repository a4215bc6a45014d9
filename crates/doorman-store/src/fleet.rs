//! What the service keeps of its lock fleet (migration `0003_fleet`): each
//! lock's MQTT account (a password hash only), its signed events stored once
//! by (lock, counter) with the chain head they reach, flags for gaps and bad
//! events, its last health report, and the credentials revoked at it with
//! the sequence number of its latest revocation bundle; and what its locks
//! report of their doors (the entry door events belong to, see `doors`) and
//! the camera clips they announce.
//!
//! Guarantees (checked by the conformance suite on both backends):
//! - [`FleetStore::append_lock_event`] stores an event only as the next link
//!   of the stored chain: the head moves by compare-and-set in the same
//!   transaction as the event row and its log entries, and (lock, counter)
//!   is the event table's key, so an event is never stored twice, also when
//!   several service processes receive it at once;
//! - [`FleetStore::revoke_lock_credentials`] hands out each revocation
//!   sequence number once per lock, with the revoked list as of that number.

use async_trait::async_trait;
use doorman_domain::{ClipId, Event, Lock, LockId, PropertyId, UnixSeconds};

use crate::audit::{append_in, append_rows, entry_rows, EntryRow};
use crate::doors::{write_in, ClipFilter, ClipRecord, LockDoor, LockEventWrites, StoredClip};
use crate::exec::values;
use crate::exec::{to_i64, to_u64, Exec};
use crate::property::insert_lock_in;
use crate::records::columns;
use crate::records::select;
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// The last stored event of a lock's chain (counter 0, zero hash: none yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockChainHead {
    pub counter: u64,
    pub hash: [u8; 32],
    /// The event's lock time.
    pub time: u64,
}

impl LockChainHead {
    pub const GENESIS: LockChainHead = LockChainHead { counter: 0, hash: [0; 32], time: 0 };
}

/// One signed lock event as stored: verbatim, with what the service read
/// from it after checking its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLockEvent {
    pub lock_id: LockId,
    pub counter: u64,
    pub hash: [u8; 32],
    /// Lock time.
    pub time: u64,
    /// The signed bytes as the lock sent them.
    pub signed: Vec<u8>,
    /// Service time of receipt.
    pub received_at: UnixSeconds,
}

/// A gap the service saw in a lock's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockGap {
    /// The counter it needed next.
    pub expected: u64,
    /// The counter that came instead.
    pub found: u64,
}

/// What the service knows of one lock of its fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct LockFleetRecord {
    pub lock_id: LockId,
    pub property_id: PropertyId,
    pub head: LockChainHead,
    /// Set while events are missing before `found`.
    pub gap: Option<LockGap>,
    /// The last forged, forked or broken event seen, and when.
    pub problem: Option<(String, UnixSeconds)>,
    /// The last revocation bundle issued for the lock (0: none).
    pub revocation_sequence: u64,
    /// Service time of the last message from the lock.
    pub last_contact: Option<UnixSeconds>,
    /// The last health report (JSON as the fleet channel carries it) and when it came.
    pub health: Option<(String, UnixSeconds)>,
}

/// The fleet as an operator watches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockFleetCounts {
    /// Locks not decommissioned.
    pub in_service: u64,
    /// Of those, the ones with no contact since the cut-off (or none ever).
    pub stale: u64,
}

/// A credential revoked at a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCredential {
    /// The credential's `cti` (16 bytes).
    pub credential_id: Vec<u8>,
    pub expires_at: UnixSeconds,
}

/// The lock fleet's storage, its doors and clips; every [`crate::Store`] is one.
#[async_trait]
pub trait FleetStore: Send + Sync {
    /// Stores the lock and its fleet account (the `$7$` hash of its MQTT
    /// password) in one transaction, with `events`. Conflict if the access
    /// point already has a lock.
    async fn insert_fleet_lock(&self, lock: &Lock, mqtt_password_hash: &str, events: &[Event]) -> StoreResult<()>;
    /// The lock's MQTT password hash; None for an unknown lock, one without an
    /// account or a decommissioned one.
    async fn lock_mqtt_password_hash(&self, lock: LockId) -> StoreResult<Option<String>>;
    /// Every account of a lock in service: (lock, password hash), by lock id.
    async fn lock_mqtt_accounts(&self) -> StoreResult<Vec<(LockId, String)>>;

    /// The lock's fleet record; None for an unknown lock or one without an account.
    async fn lock_fleet(&self, lock: LockId) -> StoreResult<Option<LockFleetRecord>>;
    /// The fleet records of a property's locks, oldest lock first.
    async fn list_lock_fleet(&self, property: PropertyId) -> StoreResult<Vec<LockFleetRecord>>;
    /// How many locks are in service, and how many of them have not been
    /// heard from since `stale_before` (or never): what `/metrics` reports.
    async fn lock_fleet_counts(&self, stale_before: UnixSeconds) -> StoreResult<LockFleetCounts>;

    /// In one transaction: moves the lock's chain head from `previous` (its
    /// counter) to `event`, stores the event, marks the contact at
    /// `event.received_at`, clears a gap the event closes, and writes
    /// `events` (its log entries). Stale, and nothing written, if the head is
    /// no longer at `previous`; NotFound for a lock without an account.
    async fn append_lock_event(&self, event: &StoredLockEvent, previous: u64, events: &[Event]) -> StoreResult<()> {
        self.append_lock_event_with(event, previous, &LockEventWrites::default(), events).await
    }
    /// [`FleetStore::append_lock_event`] that also writes, in the same
    /// transaction, what the event changes at the door (the lock's door row,
    /// compared and set: Stale, and nothing written, if it moved since it was
    /// read) and the clip it announces.
    async fn append_lock_event_with(
        &self,
        event: &StoredLockEvent,
        previous: u64,
        writes: &LockEventWrites,
        events: &[Event],
    ) -> StoreResult<()>;
    /// One stored event.
    async fn lock_event(&self, lock: LockId, counter: u64) -> StoreResult<Option<StoredLockEvent>>;
    /// Stored events after `after`, by counter, at most `limit`.
    async fn list_lock_events(&self, lock: LockId, after: u64, limit: u32) -> StoreResult<Vec<StoredLockEvent>>;
    /// Flags a gap (and marks the contact).
    async fn flag_lock_gap(&self, lock: LockId, gap: LockGap, now: UnixSeconds) -> StoreResult<()>;
    /// Flags a forged, forked or broken event (and marks the contact).
    async fn flag_lock_problem(&self, lock: LockId, problem: &str, now: UnixSeconds) -> StoreResult<()>;
    /// Keeps the lock's latest health report (and marks the contact).
    async fn record_lock_health(&self, lock: LockId, health_json: &str, now: UnixSeconds) -> StoreResult<()>;

    /// In one transaction: adds `revoked` to the lock's revoked credentials
    /// (each once), takes the lock's next revocation sequence number and
    /// returns it with every revoked credential not expired at `now`
    /// (newest expiry first). NotFound for a lock without an account.
    async fn revoke_lock_credentials(
        &self,
        lock: LockId,
        revoked: &[RevokedCredential],
        now: UnixSeconds,
    ) -> StoreResult<(u64, Vec<RevokedCredential>)>;
    /// The lock's current revocation sequence and its revoked credentials
    /// not expired at `now` (newest expiry first); None for a lock without an account.
    async fn lock_revocations(
        &self,
        lock: LockId,
        now: UnixSeconds,
    ) -> StoreResult<Option<(u64, Vec<RevokedCredential>)>>;
    /// The lock's door row; None before its first door-related event.
    async fn lock_door(&self, lock: LockId) -> StoreResult<Option<LockDoor>>;
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

/// A lock with its fleet account (no MQTT password, only its hash; the
/// chain starts empty), inside the caller's write.
pub(crate) async fn insert_fleet_lock_in(ex: &mut impl Exec, lock: &Lock, mqtt_password_hash: &str) -> StoreResult<()> {
    insert_lock_in(ex, lock).await?;
    let sql = "INSERT INTO lock_fleet (lock_id, mqtt_password_hash, head_hash) VALUES ($1, $2, $3)";
    ex.execute(sql, &[lock.id.into(), mqtt_password_hash.into(), (&[0u8; 32]).into()]).await.map(drop)
}

/// [`FleetStore::append_lock_event_with`] inside the caller's write (sqlx's
/// transaction, or the SQLite writer's group): Stale or NotFound before
/// anything is written if the head is not at `previous`; the caller rolls
/// back on any other error.
pub(crate) async fn append_lock_event_in(
    ex: &mut impl Exec,
    event: &StoredLockEvent,
    previous: u64,
    writes: &LockEventWrites,
    entries: &[EntryRow],
) -> StoreResult<()> {
    let counter = to_i64(event.counter, "counter")?;
    let time = to_i64(event.time, "time")?;
    let sql = "UPDATE lock_fleet SET head_counter = $2, head_hash = $3, head_time = $4, last_contact = $5, \
               gap_expected = CASE WHEN gap_found IS NULL OR $2 >= gap_found THEN NULL ELSE gap_expected END, \
               gap_found = CASE WHEN gap_found IS NULL OR $2 >= gap_found THEN NULL ELSE gap_found END \
               WHERE lock_id = $1 AND head_counter = $6";
    let values = values! {
        event.lock_id, counter, &event.hash, time, event.received_at, to_i64(previous, "counter")?
    };
    if ex.execute(sql, &values).await? == 0 {
        let sql = "SELECT head_counter FROM lock_fleet WHERE lock_id = $1";
        let head: Option<i64> = ex.fetch_optional(sql, &[event.lock_id.into()]).await?;
        return Err(match head {
            None => StoreError::NotFound,
            Some(head) => StoreError::Stale(format!("the chain head is at {head}")),
        });
    }
    let sql = concat!("INSERT INTO lock_events (", columns!(lock_event), ") VALUES ($1, $2, $3, $4, $5, $6)");
    let values = values! { event.lock_id, counter, &event.hash, time, event.signed.as_slice(), event.received_at };
    ex.execute(sql, &values).await?;
    write_in(ex, writes).await?;
    append_rows(ex, entries).await.map(drop)
}

/// $1 lock, $2 now: the lock's revoked credentials not expired at now.
const LIVE_REVOKED: &str = select!(
    revoked,
    " FROM lock_revocations WHERE lock_id = $1 AND expires_at > $2 ORDER BY expires_at DESC, credential_id"
);

#[async_trait]
impl<B: Backend> FleetStore for B {
    async fn insert_fleet_lock(&self, lock: &Lock, mqtt_password_hash: &str, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_fleet_lock_in(&mut *tx, lock, mqtt_password_hash).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn lock_mqtt_password_hash(&self, lock: LockId) -> StoreResult<Option<String>> {
        let sql = "SELECT f.mqtt_password_hash FROM lock_fleet f JOIN locks l ON l.id = f.lock_id \
                   WHERE f.lock_id = $1 AND l.decommissioned_at IS NULL";
        self.one(sql, &[lock.into()]).await
    }

    async fn lock_mqtt_accounts(&self) -> StoreResult<Vec<(LockId, String)>> {
        let sql = "SELECT f.lock_id, f.mqtt_password_hash FROM lock_fleet f JOIN locks l ON l.id = f.lock_id \
                   WHERE l.decommissioned_at IS NULL ORDER BY f.lock_id";
        self.all(sql, &[]).await
    }

    async fn lock_fleet(&self, lock: LockId) -> StoreResult<Option<LockFleetRecord>> {
        let sql = select!(fleet, " FROM lock_fleet f JOIN locks l ON l.id = f.lock_id WHERE f.lock_id = $1");
        self.one(sql, &[lock.into()]).await
    }

    async fn list_lock_fleet(&self, property: PropertyId) -> StoreResult<Vec<LockFleetRecord>> {
        let sql = select!(
            fleet,
            " FROM lock_fleet f JOIN locks l ON l.id = f.lock_id WHERE l.property_id = $1 ORDER BY l.created_at, l.id"
        );
        self.all(sql, &[property.into()]).await
    }

    async fn lock_fleet_counts(&self, stale_before: UnixSeconds) -> StoreResult<LockFleetCounts> {
        let sql = "SELECT (SELECT COUNT(*) FROM locks WHERE decommissioned_at IS NULL), \
                   (SELECT COUNT(*) FROM locks l LEFT JOIN lock_fleet f ON f.lock_id = l.id \
                    WHERE l.decommissioned_at IS NULL AND (f.last_contact IS NULL OR f.last_contact < $1))";
        let (in_service, stale): (i64, i64) =
            self.one(sql, &[stale_before.into()]).await?.ok_or(StoreError::NotFound)?;
        Ok(LockFleetCounts { in_service: to_u64(in_service, "lock count")?, stale: to_u64(stale, "lock count")? })
    }

    async fn append_lock_event_with(
        &self,
        event: &StoredLockEvent,
        previous: u64,
        writes: &LockEventWrites,
        events: &[Event],
    ) -> StoreResult<()> {
        let entries = entry_rows(events)?;
        // SQLite: through the access path's writer, committed in a group
        // with whatever else is queued (one flush for many events).
        if let Some(direct) = self.direct() {
            return direct.append_lock_event(event, previous, writes, entries).await;
        }
        let mut tx = self.begin_write().await?;
        match append_lock_event_in(&mut *tx, event, previous, writes, &entries).await {
            Ok(()) => tx.commit().await,
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    async fn lock_event(&self, lock: LockId, counter: u64) -> StoreResult<Option<StoredLockEvent>> {
        let sql = select!(lock_event, " FROM lock_events WHERE lock_id = $1 AND counter = $2");
        self.one(sql, &[lock.into(), to_i64(counter, "counter")?.into()]).await
    }

    async fn list_lock_events(&self, lock: LockId, after: u64, limit: u32) -> StoreResult<Vec<StoredLockEvent>> {
        let sql =
            select!(lock_event, " FROM lock_events WHERE lock_id = $1 AND counter > $2 ORDER BY counter LIMIT $3");
        let values = [lock.into(), to_i64(after, "counter")?.into(), i64::from(limit).into()];
        self.all(sql, &values).await
    }

    async fn flag_lock_gap(&self, lock: LockId, gap: LockGap, now: UnixSeconds) -> StoreResult<()> {
        let sql = "UPDATE lock_fleet SET gap_expected = $2, gap_found = $3, last_contact = $4 WHERE lock_id = $1";
        let values =
            [lock.into(), to_i64(gap.expected, "counter")?.into(), to_i64(gap.found, "counter")?.into(), now.into()];
        self.write_existing(sql, &values, &[]).await
    }

    async fn flag_lock_problem(&self, lock: LockId, problem: &str, now: UnixSeconds) -> StoreResult<()> {
        let sql = "UPDATE lock_fleet SET problem = $2, problem_at = $3, last_contact = $3 WHERE lock_id = $1";
        self.write_existing(sql, &[lock.into(), problem.into(), now.into()], &[]).await
    }

    async fn record_lock_health(&self, lock: LockId, health_json: &str, now: UnixSeconds) -> StoreResult<()> {
        let sql = "UPDATE lock_fleet SET health = $2, health_at = $3, last_contact = $3 WHERE lock_id = $1";
        self.write_existing(sql, &[lock.into(), health_json.into(), now.into()], &[]).await
    }

    async fn revoke_lock_credentials(
        &self,
        lock: LockId,
        revoked: &[RevokedCredential],
        now: UnixSeconds,
    ) -> StoreResult<(u64, Vec<RevokedCredential>)> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE lock_fleet SET revocation_sequence = revocation_sequence + 1 WHERE lock_id = $1 \
                   RETURNING revocation_sequence";
        let Some(sequence) = tx.fetch_optional::<i64>(sql, &[lock.into()]).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        };
        for r in revoked {
            let sql = "INSERT INTO lock_revocations (lock_id, credential_id, expires_at, revoked_at) \
                       VALUES ($1, $2, $3, $4) ON CONFLICT (lock_id, credential_id) DO NOTHING";
            tx.execute(sql, &[lock.into(), r.credential_id.as_slice().into(), r.expires_at.into(), now.into()]).await?;
        }
        let live = tx.fetch_all(LIVE_REVOKED, &[lock.into(), now.into()]).await?;
        tx.commit().await?;
        Ok((to_u64(sequence, "sequence")?, live))
    }

    async fn lock_revocations(
        &self,
        lock: LockId,
        now: UnixSeconds,
    ) -> StoreResult<Option<(u64, Vec<RevokedCredential>)>> {
        let mut conn = self.read().await?;
        let sql = "SELECT revocation_sequence FROM lock_fleet WHERE lock_id = $1";
        let Some(sequence) = conn.fetch_optional::<i64>(sql, &[lock.into()]).await? else {
            return Ok(None);
        };
        let live = conn.fetch_all(LIVE_REVOKED, &[lock.into(), now.into()]).await?;
        Ok(Some((to_u64(sequence, "sequence")?, live)))
    }

    async fn lock_door(&self, lock: LockId) -> StoreResult<Option<LockDoor>> {
        self.one(select!(door, " FROM lock_doors WHERE lock_id = $1"), &[lock.into()]).await
    }

    async fn doors_open_since(&self, opened_before: UnixSeconds, limit: u32) -> StoreResult<Vec<LockDoor>> {
        let sql = concat!(
            "SELECT ",
            columns!(door),
            " FROM lock_doors WHERE opened_at IS NOT NULL AND NOT ajar_logged AND opened_at <= $1 \
             ORDER BY opened_at, lock_id LIMIT $2"
        );
        self.all(sql, &[opened_before.into(), i64::from(limit).into()]).await
    }

    async fn mark_door_ajar(&self, lock: LockId, version: i64, events: &[Event]) -> StoreResult<bool> {
        let sql = "UPDATE lock_doors SET ajar_logged = $3, version = version + 1 \
                   WHERE lock_id = $1 AND version = $2 AND opened_at IS NOT NULL AND NOT ajar_logged";
        Ok(self.write_one(sql, &[lock.into(), version.into(), true.into()], events).await? > 0)
    }

    async fn clip_at(&self, lock: LockId, counter: u64) -> StoreResult<Option<ClipRecord>> {
        let sql = select!(clip, " FROM clips WHERE lock_id = $1 AND counter = $2");
        self.one(sql, &[lock.into(), to_i64(counter, "counter")?.into()]).await
    }

    async fn get_clip(&self, id: ClipId) -> StoreResult<Option<ClipRecord>> {
        self.one(select!(clip, " FROM clips WHERE id = $1"), &[id.into()]).await
    }

    async fn mark_clip_stored(&self, id: ClipId, stored: &StoredClip, events: &[Event]) -> StoreResult<bool> {
        let sql = "UPDATE clips SET size = $2, content_type = $3, object_key = $4, stored_at = $5 \
                   WHERE id = $1 AND stored_at IS NULL AND deleted_at IS NULL";
        let values = values! {
            id, to_i64(stored.size, "size")?, &stored.content_type, &stored.object_key, stored.stored_at
        };
        Ok(self.write_one(sql, &values, events).await? > 0)
    }

    async fn list_clips(&self, filter: ClipFilter, limit: u32) -> StoreResult<Vec<ClipRecord>> {
        let limit = i64::from(limit);
        let mut conn = self.read().await?;
        match filter.unit {
            Some(unit) => {
                let sql = concat!(
                    "SELECT ",
                    columns!(clip),
                    " FROM clips WHERE property_id = $1 AND unit_id = $2 AND stored_at IS NOT NULL \
                     ORDER BY recorded_at DESC, counter DESC LIMIT $3"
                );
                conn.fetch_all(sql, &[filter.property.into(), unit.into(), limit.into()]).await
            }
            None => {
                let sql = concat!(
                    "SELECT ",
                    columns!(clip),
                    " FROM clips WHERE property_id = $1 AND stored_at IS NOT NULL \
                     ORDER BY recorded_at DESC, counter DESC LIMIT $2"
                );
                conn.fetch_all(sql, &[filter.property.into(), limit.into()]).await
            }
        }
    }

    async fn clips_stored_before(&self, before: UnixSeconds, limit: u32) -> StoreResult<Vec<ClipRecord>> {
        let sql = concat!(
            "SELECT ",
            columns!(clip),
            " FROM clips WHERE stored_at IS NOT NULL AND deleted_at IS NULL AND stored_at < $1 \
             ORDER BY stored_at, id LIMIT $2"
        );
        self.all(sql, &[before.into(), i64::from(limit).into()]).await
    }

    async fn mark_clip_deleted(&self, id: ClipId, at: UnixSeconds, events: &[Event]) -> StoreResult<bool> {
        let sql = "UPDATE clips SET deleted_at = $2 WHERE id = $1 AND stored_at IS NOT NULL AND deleted_at IS NULL";
        Ok(self.write_one(sql, &[id.into(), at.into()], events).await? > 0)
    }
}
