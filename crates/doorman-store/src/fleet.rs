//! What the service keeps of its lock fleet (migration `0003_fleet`): each
//! lock's MQTT account (a password hash only), its signed events stored once
//! by (lock, counter) with the chain head they reach, flags for gaps and bad
//! events, its last health report, and the credentials revoked at it with
//! the sequence number of its latest revocation bundle.
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
use doorman_domain::{DeliveryId, Event, Grant, Lock, LockId, PropertyId, UnixSeconds};

use crate::{LockEventWrites, RevocationEvents, StoreResult};

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

/// A credential revoked at a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCredential {
    /// The credential's `cti` (16 bytes).
    pub credential_id: Vec<u8>,
    pub expires_at: UnixSeconds,
}

/// The lock fleet's storage; every [`crate::Store`] is one.
#[async_trait]
pub trait FleetStore: Send + Sync {
    /// Stores the lock and its fleet account (the `$7$` hash of its MQTT
    /// password) in one transaction, with `events`. Conflict if the access
    /// point already has a lock.
    async fn insert_fleet_lock(&self, lock: &Lock, mqtt_password_hash: &str, events: &[Event]) -> StoreResult<()>;
    /// The lock's MQTT password hash; None for an unknown lock or one without an account.
    async fn lock_mqtt_password_hash(&self, lock: LockId) -> StoreResult<Option<String>>;
    /// Every lock account: (lock, password hash), by lock id.
    async fn lock_mqtt_accounts(&self) -> StoreResult<Vec<(LockId, String)>>;

    /// The lock's fleet record; None for an unknown lock or one without an account.
    async fn lock_fleet(&self, lock: LockId) -> StoreResult<Option<LockFleetRecord>>;
    /// The fleet records of a property's locks, oldest lock first.
    async fn list_lock_fleet(&self, property: PropertyId) -> StoreResult<Vec<LockFleetRecord>>;

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

    /// Marks revoked the delivery's grants that are unrevoked and unexpired
    /// at `now` (a cancelled delivery), like
    /// [`crate::Store::revoke_live_grants_for_unit`] does for a unit, with the
    /// events `revoked` makes of each, in one transaction.
    async fn revoke_live_grants_for_delivery(
        &self,
        delivery: DeliveryId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>>;

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
}

pub(crate) fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| crate::StoreError::Backend(format!("{what} out of range")))
}

pub(crate) fn to_u64(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| crate::StoreError::Backend(format!("stored {what} is negative")))
}

pub(crate) fn to_hash(v: Vec<u8>) -> StoreResult<[u8; 32]> {
    v.try_into().map_err(|_| crate::StoreError::Backend("stored hash is not 32 bytes".into()))
}

pub(crate) fn parse_id<T: std::str::FromStr>(v: &str) -> StoreResult<T> {
    v.parse().map_err(|_| crate::StoreError::Backend("stored id is not a UUID".into()))
}

pub(crate) const FLEET_COLUMNS: &str = "f.lock_id, l.property_id, f.head_counter, f.head_hash, f.head_time, \
     f.gap_expected, f.gap_found, f.problem, f.problem_at, f.revocation_sequence, f.last_contact, f.health, f.health_at";

/// Implements [`FleetStore`] for `$store` (database `$db`), whose
/// `begin_write()` and `reads()` are those of `impl_store!`.
macro_rules! impl_fleet {
    ($store:ident, $db:ty) => {
        mod fleet_impl {
            use async_trait::async_trait;
            use doorman_domain::{DeliveryId, Event, Grant, Lock, LockId, PropertyId, UnixSeconds};
            use sqlx::Row as _;

            use super::audit_impl::append_in;
            use super::$store;
            use $crate::fleet::{
                parse_id, to_hash, to_i64, to_u64, FleetStore, LockChainHead, LockFleetRecord, LockGap,
                RevokedCredential, StoredLockEvent, FLEET_COLUMNS,
            };
            use $crate::rows::{delivery_grant_ids, grant_columns, revoked_with_events, GrantRow};
            use $crate::sql_store::db_error;
            use $crate::{RevocationEvents, StoreError, StoreResult};

            type Row = <$db as sqlx::Database>::Row;

            /// A lock with its fleet account (no MQTT password, only its
            /// hash; the chain starts empty), inside the caller's write.
            pub(crate) async fn insert_fleet_lock_in(
                tx: &mut $crate::sql_store::WriteTx<$db>,
                lock: &Lock,
                mqtt_password_hash: &str,
            ) -> StoreResult<()> {
                super::store_impl::insert_lock_statement(lock).execute(&mut **tx).await.map_err(db_error)?;
                sqlx::query("INSERT INTO lock_fleet (lock_id, mqtt_password_hash, head_hash) VALUES ($1, $2, $3)")
                    .bind(lock.id.to_string())
                    .bind(mqtt_password_hash)
                    .bind(&[0u8; 32][..])
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            fn fleet_record(row: &Row) -> StoreResult<LockFleetRecord> {
                let get = |e: sqlx::Error| db_error(e);
                let gap = match (
                    row.try_get::<Option<i64>, _>(5).map_err(get)?,
                    row.try_get::<Option<i64>, _>(6).map_err(get)?,
                ) {
                    (Some(e), Some(f)) => Some(LockGap { expected: to_u64(e, "gap")?, found: to_u64(f, "gap")? }),
                    _ => None,
                };
                let problem = match (
                    row.try_get::<Option<String>, _>(7).map_err(get)?,
                    row.try_get::<Option<i64>, _>(8).map_err(get)?,
                ) {
                    (Some(p), Some(at)) => Some((p, at)),
                    _ => None,
                };
                let health = match (
                    row.try_get::<Option<String>, _>(11).map_err(get)?,
                    row.try_get::<Option<i64>, _>(12).map_err(get)?,
                ) {
                    (Some(h), Some(at)) => Some((h, at)),
                    _ => None,
                };
                Ok(LockFleetRecord {
                    lock_id: parse_id(&row.try_get::<String, _>(0).map_err(get)?)?,
                    property_id: parse_id(&row.try_get::<String, _>(1).map_err(get)?)?,
                    head: LockChainHead {
                        counter: to_u64(row.try_get::<i64, _>(2).map_err(get)?, "counter")?,
                        hash: to_hash(row.try_get::<Vec<u8>, _>(3).map_err(get)?)?,
                        time: to_u64(row.try_get::<i64, _>(4).map_err(get)?, "time")?,
                    },
                    gap,
                    problem,
                    revocation_sequence: to_u64(row.try_get::<i64, _>(9).map_err(get)?, "sequence")?,
                    last_contact: row.try_get::<Option<i64>, _>(10).map_err(get)?,
                    health,
                })
            }

            fn stored_event(row: &Row) -> StoreResult<StoredLockEvent> {
                let get = |e: sqlx::Error| db_error(e);
                Ok(StoredLockEvent {
                    lock_id: parse_id(&row.try_get::<String, _>(0).map_err(get)?)?,
                    counter: to_u64(row.try_get::<i64, _>(1).map_err(get)?, "counter")?,
                    hash: to_hash(row.try_get::<Vec<u8>, _>(2).map_err(get)?)?,
                    time: to_u64(row.try_get::<i64, _>(3).map_err(get)?, "time")?,
                    signed: row.try_get::<Vec<u8>, _>(4).map_err(get)?,
                    received_at: row.try_get::<i64, _>(5).map_err(get)?,
                })
            }

            const EVENT_COLUMNS: &str = "lock_id, counter, hash, event_time, signed, received_at";

            fn revoked_list(rows: &[Row]) -> StoreResult<Vec<RevokedCredential>> {
                rows.iter()
                    .map(|r| {
                        Ok(RevokedCredential {
                            credential_id: r.try_get::<Vec<u8>, _>(0).map_err(db_error)?,
                            expires_at: r.try_get::<i64, _>(1).map_err(db_error)?,
                        })
                    })
                    .collect()
            }

            const LIVE_REVOKED: &str = "SELECT credential_id, expires_at FROM lock_revocations \
                 WHERE lock_id = $1 AND expires_at > $2 ORDER BY expires_at DESC, credential_id";

            impl $store {
                /// One update of the lock's fleet row in its own transaction; NotFound if there is none.
                async fn fleet_update<'q>(
                    &self,
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let n = query.execute(&mut *tx).await.map_err(db_error)?.rows_affected();
                    if n == 0 {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    tx.commit().await
                }
            }

            #[async_trait]
            impl FleetStore for $store {
                async fn insert_fleet_lock(
                    &self,
                    lock: &Lock,
                    mqtt_password_hash: &str,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    insert_fleet_lock_in(&mut tx, lock, mqtt_password_hash).await?;
                    append_in(&mut *tx, events).await?;
                    tx.commit().await
                }

                async fn lock_mqtt_password_hash(&self, lock: LockId) -> StoreResult<Option<String>> {
                    sqlx::query_scalar::<_, String>("SELECT mqtt_password_hash FROM lock_fleet WHERE lock_id = $1")
                        .bind(lock.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)
                }

                async fn lock_mqtt_accounts(&self) -> StoreResult<Vec<(LockId, String)>> {
                    let rows = sqlx::query("SELECT lock_id, mqtt_password_hash FROM lock_fleet ORDER BY lock_id")
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                parse_id(&r.try_get::<String, _>(0).map_err(db_error)?)?,
                                r.try_get::<String, _>(1).map_err(db_error)?,
                            ))
                        })
                        .collect()
                }

                async fn lock_fleet(&self, lock: LockId) -> StoreResult<Option<LockFleetRecord>> {
                    let sql = format!(
                        "SELECT {FLEET_COLUMNS} FROM lock_fleet f JOIN locks l ON l.id = f.lock_id WHERE f.lock_id = $1"
                    );
                    let row =
                        sqlx::query(&sql).bind(lock.to_string()).fetch_optional(self.reads()).await.map_err(db_error)?;
                    row.as_ref().map(fleet_record).transpose()
                }

                async fn list_lock_fleet(&self, property: PropertyId) -> StoreResult<Vec<LockFleetRecord>> {
                    let sql = format!(
                        "SELECT {FLEET_COLUMNS} FROM lock_fleet f JOIN locks l ON l.id = f.lock_id \
                         WHERE l.property_id = $1 ORDER BY l.created_at, l.id"
                    );
                    let rows =
                        sqlx::query(&sql).bind(property.to_string()).fetch_all(self.reads()).await.map_err(db_error)?;
                    rows.iter().map(fleet_record).collect()
                }

                async fn append_lock_event_with(
                    &self,
                    event: &StoredLockEvent,
                    previous: u64,
                    writes: &$crate::LockEventWrites,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let counter = to_i64(event.counter, "counter")?;
                    let mut tx = self.begin_write().await?;
                    let moved = sqlx::query(
                        "UPDATE lock_fleet SET head_counter = $2, head_hash = $3, head_time = $4, last_contact = $5, \
                         gap_expected = CASE WHEN gap_found IS NULL OR $2 >= gap_found THEN NULL ELSE gap_expected END, \
                         gap_found = CASE WHEN gap_found IS NULL OR $2 >= gap_found THEN NULL ELSE gap_found END \
                         WHERE lock_id = $1 AND head_counter = $6",
                    )
                    .bind(event.lock_id.to_string())
                    .bind(counter)
                    .bind(&event.hash[..])
                    .bind(to_i64(event.time, "time")?)
                    .bind(event.received_at)
                    .bind(to_i64(previous, "counter")?)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    if moved == 0 {
                        let exists = sqlx::query_scalar::<_, i64>("SELECT head_counter FROM lock_fleet WHERE lock_id = $1")
                            .bind(event.lock_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        tx.rollback().await?;
                        return Err(match exists {
                            None => StoreError::NotFound,
                            Some(head) => StoreError::Stale(format!("the chain head is at {head}")),
                        });
                    }
                    sqlx::query(&format!("INSERT INTO lock_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                        .bind(event.lock_id.to_string())
                        .bind(counter)
                        .bind(&event.hash[..])
                        .bind(to_i64(event.time, "time")?)
                        .bind(event.signed.as_slice())
                        .bind(event.received_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if let Err(e) = super::doors_impl::write_in(&mut *tx, writes).await {
                        tx.rollback().await?;
                        return Err(e);
                    }
                    append_in(&mut *tx, events).await?;
                    tx.commit().await
                }

                async fn lock_event(&self, lock: LockId, counter: u64) -> StoreResult<Option<StoredLockEvent>> {
                    let sql = format!("SELECT {EVENT_COLUMNS} FROM lock_events WHERE lock_id = $1 AND counter = $2");
                    let row = sqlx::query(&sql)
                        .bind(lock.to_string())
                        .bind(to_i64(counter, "counter")?)
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(stored_event).transpose()
                }

                async fn list_lock_events(
                    &self,
                    lock: LockId,
                    after: u64,
                    limit: u32,
                ) -> StoreResult<Vec<StoredLockEvent>> {
                    let sql = format!(
                        "SELECT {EVENT_COLUMNS} FROM lock_events WHERE lock_id = $1 AND counter > $2 \
                         ORDER BY counter LIMIT $3"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(lock.to_string())
                        .bind(to_i64(after, "counter")?)
                        .bind(i64::from(limit))
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(stored_event).collect()
                }

                async fn flag_lock_gap(&self, lock: LockId, gap: LockGap, now: UnixSeconds) -> StoreResult<()> {
                    self.fleet_update(
                        sqlx::query(
                            "UPDATE lock_fleet SET gap_expected = $2, gap_found = $3, last_contact = $4 \
                             WHERE lock_id = $1",
                        )
                        .bind(lock.to_string())
                        .bind(to_i64(gap.expected, "counter")?)
                        .bind(to_i64(gap.found, "counter")?)
                        .bind(now),
                    )
                    .await
                }

                async fn flag_lock_problem(&self, lock: LockId, problem: &str, now: UnixSeconds) -> StoreResult<()> {
                    self.fleet_update(
                        sqlx::query(
                            "UPDATE lock_fleet SET problem = $2, problem_at = $3, last_contact = $3 WHERE lock_id = $1",
                        )
                        .bind(lock.to_string())
                        .bind(problem)
                        .bind(now),
                    )
                    .await
                }

                async fn record_lock_health(
                    &self,
                    lock: LockId,
                    health_json: &str,
                    now: UnixSeconds,
                ) -> StoreResult<()> {
                    self.fleet_update(
                        sqlx::query(
                            "UPDATE lock_fleet SET health = $2, health_at = $3, last_contact = $3 WHERE lock_id = $1",
                        )
                        .bind(lock.to_string())
                        .bind(health_json)
                        .bind(now),
                    )
                    .await
                }

                async fn revoke_live_grants_for_delivery(
                    &self,
                    delivery: DeliveryId,
                    now: UnixSeconds,
                    revoked: &RevocationEvents,
                ) -> StoreResult<Vec<Grant>> {
                    let mut tx = self.begin_write().await?;
                    let rows = sqlx::query_as::<_, GrantRow>(concat!(
                        "UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL AND expires_at > $2 AND id IN (",
                        delivery_grant_ids!(),
                        ") RETURNING ",
                        grant_columns!()
                    ))
                    .bind(delivery.to_string())
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let (grants, events) = revoked_with_events(rows, revoked)?;
                    append_in(&mut *tx, &events).await?;
                    tx.commit().await?;
                    Ok(grants)
                }

                async fn revoke_lock_credentials(
                    &self,
                    lock: LockId,
                    revoked: &[RevokedCredential],
                    now: UnixSeconds,
                ) -> StoreResult<(u64, Vec<RevokedCredential>)> {
                    let mut tx = self.begin_write().await?;
                    let Some(sequence) = sqlx::query_scalar::<_, i64>(
                        "UPDATE lock_fleet SET revocation_sequence = revocation_sequence + 1 WHERE lock_id = $1 \
                         RETURNING revocation_sequence",
                    )
                    .bind(lock.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?
                    else {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    };
                    for r in revoked {
                        sqlx::query(
                            "INSERT INTO lock_revocations (lock_id, credential_id, expires_at, revoked_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (lock_id, credential_id) DO NOTHING",
                        )
                        .bind(lock.to_string())
                        .bind(r.credential_id.as_slice())
                        .bind(r.expires_at)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    let rows = sqlx::query(LIVE_REVOKED)
                        .bind(lock.to_string())
                        .bind(now)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let live = revoked_list(&rows)?;
                    tx.commit().await?;
                    Ok((to_u64(sequence, "sequence")?, live))
                }

                async fn lock_revocations(
                    &self,
                    lock: LockId,
                    now: UnixSeconds,
                ) -> StoreResult<Option<(u64, Vec<RevokedCredential>)>> {
                    let Some(sequence) =
                        sqlx::query_scalar::<_, i64>("SELECT revocation_sequence FROM lock_fleet WHERE lock_id = $1")
                            .bind(lock.to_string())
                            .fetch_optional(self.reads())
                            .await
                            .map_err(db_error)?
                    else {
                        return Ok(None);
                    };
                    let rows = sqlx::query(LIVE_REVOKED)
                        .bind(lock.to_string())
                        .bind(now)
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    Ok(Some((to_u64(sequence, "sequence")?, revoked_list(&rows)?)))
                }
            }
        }
    };
}
pub(crate) use impl_fleet;
