//! Several service processes on one database, and what they share beyond
//! the rows every other module keeps (migration `0019`).
//!
//! - **One log sequencer** ([`SequencerSeat`]): on PostgreSQL, the process
//!   whose dedicated session holds a session-level advisory lock (keyed by
//!   the schema, so isolated schemas in one database each have their own)
//!   sequences the log. The lock lives exactly as long as that session: when
//!   its process dies, even by SIGKILL, the kernel closes the socket, the
//!   server ends the session and releases the lock, and the next process to
//!   ask takes it. No clock is involved, so no lease can expire early or
//!   late. It only keeps the others from contending: a sequencing run still
//!   locks the tree's row (see [`crate::audit`]), so two sequencers at once
//!   would take turns, never fork the tree. On SQLite the one process (or the
//!   file's writer lock, for two openers) is enough: the seat is always held.
//! - **Log growth** ([`ClusterStore::log_growth`]): every append notifies
//!   (`pg_notify('doorman_log', <schema>)` in the statement that takes the
//!   indexes, so it is delivered when, and only if, the transaction
//!   commits); one listening session per store turns the notifications of
//!   its schema into a [`tokio::sync::watch`] that changes after each
//!   committed append of any process. After a lost connection it changes
//!   too (notifications may have been missed meanwhile). SQLite has none:
//!   there the process that appends is the process that waits.
//! - **Remote unlocks in flight**: a resident's request waits in the
//!   database for its lock's challenge, so whichever process the challenge
//!   reaches answers it; taking it deletes it, so it is answered once.
//! - **Broker service accounts**: each process's account on an external
//!   broker, so that every process writes the same Mosquitto files.

use std::time::Duration;

use async_trait::async_trait;
use doorman_domain::{AccessPointId, LockId, Principal, PropertyId, UnitId, UnixSeconds};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::exec::{to_i64, values, Cells, Exec, Record};
use crate::records::to_json;
use crate::sqlx_exec::{db_error, Backend};
use crate::{StoreError, StoreResult};

/// The notification channel of log appends; the payload is the schema.
pub(crate) const LOG_CHANNEL: &str = "doorman_log";

/// How long a check of the sequencer's session may take before the seat is
/// given up (a session that does not answer cannot be trusted to hold it).
const SEAT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where one process stands in the choice of the log's sequencer.
pub struct SequencerSeat {
    kind: SeatKind,
}

enum SeatKind {
    /// SQLite: the process is the sequencer.
    Alone,
    Postgres(Box<PgSeat>),
}

struct PgSeat {
    options: PgConnectOptions,
    session: Option<PgConnection>,
    held: bool,
}

impl std::fmt::Debug for SequencerSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerSeat").field("held", &self.is_held()).finish_non_exhaustive()
    }
}

impl SequencerSeat {
    pub(crate) fn alone() -> Self {
        Self { kind: SeatKind::Alone }
    }

    /// As last seen by [`SequencerSeat::hold`].
    pub fn is_held(&self) -> bool {
        match &self.kind {
            SeatKind::Alone => true,
            SeatKind::Postgres(seat) => seat.held,
        }
    }

    /// Whether this process is the sequencer now: keeps the seat if it holds
    /// it and its session still answers, takes it if it is free. Never
    /// fails: a database that does not answer means "not the sequencer"
    /// (the cause is logged), and the next call tries again.
    pub async fn hold(&mut self) -> bool {
        let SeatKind::Postgres(seat) = &mut self.kind else { return true };
        let PgSeat { options, session, held } = seat.as_mut();
        match tokio::time::timeout(SEAT_CHECK_TIMEOUT, check_or_take(options, session, *held)).await {
            Ok(Ok(now_held)) => *held = now_held,
            Ok(Err(error)) => {
                tracing::warn!(%error, "the log sequencer's session failed; giving the seat up");
                *session = None;
                *held = false;
            }
            Err(_) => {
                tracing::warn!("the log sequencer's session did not answer; giving the seat up");
                *session = None;
                *held = false;
            }
        }
        *held
    }
}

/// The seat's session (connecting it if needed); if it held the lock, that
/// it still answers (the lock lives as long as the session); otherwise
/// whether it takes the lock now.
async fn check_or_take(
    options: &PgConnectOptions,
    session: &mut Option<PgConnection>,
    held: bool,
) -> StoreResult<bool> {
    if session.is_none() {
        if held {
            return Ok(false);
        }
        *session = Some(PgConnection::connect_with(options).await.map_err(db_error)?);
    }
    let Some(conn) = session.as_mut() else { return Ok(false) };
    if held {
        conn.execute("SELECT 1", &[]).await?;
        return Ok(true);
    }
    // The key: 1685024626 ("door" in ASCII), and a hash of the schema.
    let sql = "SELECT CASE WHEN pg_try_advisory_lock(1685024626, hashtext(current_schema())) THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END";
    let taken: Option<i64> = conn.fetch_optional(sql, &[]).await?;
    Ok(taken == Some(1))
}

/// A resident's remote unlock waiting for its lock's challenge.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRemoteUnlock {
    pub lock_id: LockId,
    pub request_id: u64,
    /// Who asked.
    pub resident: Principal,
    pub unit_id: UnitId,
    pub property_id: PropertyId,
    pub access_point_id: AccessPointId,
    pub expires_at: UnixSeconds,
}

impl Record for PendingRemoteUnlock {
    fn read(c: &mut impl Cells) -> StoreResult<Self> {
        Ok(PendingRemoteUnlock {
            lock_id: c.id("lock id")?,
            request_id: c.u64("request id")?,
            resident: c.json("resident")?,
            unit_id: c.id("unit id")?,
            property_id: c.id("property id")?,
            access_point_id: c.id("access point id")?,
            expires_at: c.i64("expires_at")?,
        })
    }
}

/// What several processes on one database share beyond the other stores'
/// rows; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// This process's seat in the choice of the log's sequencer; `holder`
    /// names the process to the database (PostgreSQL's `application_name`
    /// of the seat's session, visible in `pg_stat_activity`).
    fn sequencer_seat(&self, holder: &str) -> SequencerSeat;

    /// Changes after every committed log append of any process on this
    /// database (None on SQLite: only this process appends there). Starts the
    /// store's listening session on first call; needs a tokio runtime.
    fn log_growth(&self) -> Option<watch::Receiver<u64>>;

    /// Stores a remote unlock in flight, and forgets those expired at `now`.
    async fn insert_remote_unlock(&self, pending: &PendingRemoteUnlock, now: UnixSeconds) -> StoreResult<()>;

    /// Takes (deletes and returns) the remote unlock in flight, if it is
    /// still there: of several callers, one gets it. Expired ones are
    /// returned too: the caller decides.
    async fn take_remote_unlock(&self, lock: LockId, request_id: u64) -> StoreResult<Option<PendingRemoteUnlock>>;

    /// Stores (or replaces) a broker service account's password hash.
    async fn upsert_service_account(&self, username: &str, password_hash: &str, now: UnixSeconds) -> StoreResult<()>;

    /// Every broker service account (username, password hash), by username.
    async fn service_accounts(&self) -> StoreResult<Vec<(String, String)>>;
}

#[async_trait]
impl<B: Backend> ClusterStore for B {
    fn sequencer_seat(&self, holder: &str) -> SequencerSeat {
        match self.postgres() {
            Some(pg) => SequencerSeat {
                kind: SeatKind::Postgres(Box::new(PgSeat {
                    options: (*pg.pool.connect_options()).clone().application_name(holder),
                    session: None,
                    held: false,
                })),
            },
            None => SequencerSeat::alone(),
        }
    }

    fn log_growth(&self) -> Option<watch::Receiver<u64>> {
        let pg = self.postgres()?;
        Some(pg.growth.get_or_init(|| start_listening(pg.pool.clone(), pg.schema.to_owned())).subscribe())
    }

    async fn insert_remote_unlock(&self, p: &PendingRemoteUnlock, now: UnixSeconds) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM remote_unlocks WHERE expires_at <= $1", &[now.into()]).await?;
        let sql = "INSERT INTO remote_unlocks (lock_id, request_id, resident, unit_id, property_id, \
                   access_point_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let values = values! {
            p.lock_id, to_i64(p.request_id, "request id")?, to_json(&p.resident, "a principal")?, p.unit_id,
            p.property_id, p.access_point_id, p.expires_at
        };
        tx.execute(sql, &values).await?;
        tx.commit().await
    }

    async fn take_remote_unlock(&self, lock: LockId, request_id: u64) -> StoreResult<Option<PendingRemoteUnlock>> {
        let mut tx = self.begin_write().await?;
        let sql = "DELETE FROM remote_unlocks WHERE lock_id = $1 AND request_id = $2 RETURNING lock_id, request_id, \
                   resident, unit_id, property_id, access_point_id, expires_at";
        let taken = tx.fetch_optional(sql, &[lock.into(), to_i64(request_id, "request id")?.into()]).await?;
        tx.commit().await?;
        Ok(taken)
    }

    async fn upsert_service_account(&self, username: &str, hash: &str, now: UnixSeconds) -> StoreResult<()> {
        let sql = "INSERT INTO fleet_service_accounts (username, password_hash, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, \
                   updated_at = excluded.updated_at";
        self.write_one(sql, &[username.into(), hash.into(), now.into()], &[]).await.map(drop)
    }

    async fn service_accounts(&self) -> StoreResult<Vec<(String, String)>> {
        self.all("SELECT username, password_hash FROM fleet_service_accounts ORDER BY username", &[]).await
    }
}

/// What a PostgreSQL store shares with [`ClusterStore`].
pub(crate) struct PgCluster<'a> {
    pub pool: &'a PgPool,
    /// The schema its connections use (the payload of its notifications).
    pub schema: &'a str,
    pub growth: &'a std::sync::OnceLock<watch::Sender<u64>>,
    /// The group-committing claim writer (`crate::pg_claims`).
    pub claims: Option<&'a crate::pg_claims::ClaimQueue>,
    /// The access path's configuration cache (`delivery::read_context`).
    pub config: Option<&'a std::sync::Mutex<crate::sqlite_direct::ConfigCache>>,
}

/// The listening session: a task that bumps the returned channel for each
/// notification of `schema` and after each lost connection. Without a
/// runtime (never the case in the service) the channel never changes.
fn start_listening(pool: PgPool, schema: String) -> watch::Sender<u64> {
    let (tx, _) = watch::channel(0u64);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime to listen for other processes' log appends");
        return tx;
    };
    let bump = tx.clone();
    runtime.spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let error = listen(&pool, &schema, &bump).await;
            tracing::warn!(%error, "listening for log appends failed; trying again");
            // Whatever was appended meanwhile went unheard.
            bump.send_modify(|n| *n = n.wrapping_add(1));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    tx
}

/// Listens until the session fails (the task lives as long as the
/// runtime: one session per store).
async fn listen(pool: &PgPool, schema: &str, bump: &watch::Sender<u64>) -> StoreError {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return db_error(e),
    };
    if let Err(e) = listener.listen(LOG_CHANNEL).await {
        return db_error(e);
    }
    // Appends between the last wake-up and this session's start are news.
    bump.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        let received = match listener.try_recv().await {
            Ok(received) => received,
            Err(e) => return db_error(e),
        };
        match received {
            Some(notification) if notification.payload() == schema => {
                bump.send_modify(|n| *n = n.wrapping_add(1));
            }
            Some(_) => {}
            // The connection was lost (the next call reconnects): what was
            // sent meanwhile is lost with it.
            None => bump.send_modify(|n| *n = n.wrapping_add(1)),
        }
    }
}
