//! Storage for doorman: the [`Store`] trait and its two implementations,
//! SQLite (the embedded default, a file) and PostgreSQL (for several service
//! processes side by side). This is the only crate that contains SQL.
//!
//! [`Store`] is the sum of one trait per aggregate: [`AccountStore`]
//! (tokens, dashboard sessions, managers, carriers, drivers),
//! [`PropertyStore`] (properties, units, access points, locks, drop spots,
//! enablements, notices), [`ResidentStore`] (invitations, residents,
//! preferences, blocks, vehicles, guest passes), [`DeliveryStore`]
//! (deliveries, grants, access requests), [`FleetStore`] (lock accounts,
//! lock events, revocations, doors, clips), [`AuditStore`] (the
//! transparency log), [`NotifyStore`] (webhooks, their outbox, pickup
//! points), [`MailStore`] (people's notification choices, the mail outbox,
//! email sign-in links), [`StructureStore`] (changing and removing what a manager
//! made: units, doors, drop spots, locks) and [`TenancyStore`] (moving out,
//! carriers withdrawn, handovers), [`NamingStore`] (the records behind
//! a page of log events' ids, in bulk) and [`ClusterStore`] (what several
//! processes on one database share: the log's sequencer seat, wake-ups on
//! log growth, remote unlocks in flight, broker service accounts) and
//! [`PasskeyStore`] (passkeys, their WebAuthn ceremonies, re-invitations). Each
//! aggregate's module holds its trait and its one
//! implementation, generic over the backend (`sqlx_exec::Backend`).
//!
//! Each operation is written once, as statements run through a small
//! executor (`exec::Exec`) and rows read through one column cursor into
//! [`records`](crate::records) (the one way rows become values). SQLite has
//! two ways in, and runs the same operations through both: sqlx for
//! everything, and the direct access path (`sqlite_direct`: rusqlite,
//! in-thread reads, a group-commit writer) for the access request's own
//! reads and writes, which exists for throughput (sqlx hands every
//! statement to another thread and back).
//!
//! Guarantees every implementation gives (the conformance suite,
//! `tests/conformance.rs`, checks them on both backends):
//! - every method that writes more than one row does so in one transaction:
//!   after an error nothing of it remains;
//! - [`DeliveryStore::claim_grant`] lets at most one live grant exist per
//!   delivery, and the database enforces it (the delivery's row lock on
//!   PostgreSQL, the write lock on SQLite, taken before the check), so it
//!   holds across processes sharing one database;
//! - [`PropertyStore::next_lock_sequence`] and
//!   [`DeliveryStore::claim_grant_with_sequences`] never hand out the same
//!   number twice for one lock (they share one counter per lock, kept in the
//!   database);
//! - a write is durable when its method returns `Ok`: SQLite's sqlx
//!   connections run with `synchronous = FULL` (each commit fsyncs the WAL);
//!   the access path's writer runs with `synchronous = NORMAL` and fsyncs
//!   the WAL itself after each group commit, before it answers anyone of the
//!   group; PostgreSQL commits with its default `synchronous_commit = on`;
//! - every read sees what the database holds at that moment, also what
//!   another process wrote: nothing is cached in process memory, except the
//!   SQLite access path's copy of a property's configuration, which it uses
//!   only while a version, bumped by triggers in the same transaction as any
//!   change to that configuration, says it is current;
//! - errors never carry connection strings or passwords.
//!
//! Lists come in a stable order: deliveries and access requests newest first
//! (ties in insertion order, newest first); units by label, access points and
//! drop spots by name; enablements by last update; grants by issue time;
//! everything else oldest first.

use async_trait::async_trait;

mod accounts;
pub mod audit;
pub mod baseline;
pub mod cluster;
mod delivery;
pub mod doors;
mod exec;
pub mod fleet;
pub mod mail;
mod naming;
pub mod notify;
mod passkeys;
pub mod pg_claims;
pub mod postgres;
mod property;
mod records;
mod redact;
mod resident;
pub mod sqlite;
mod sqlite_direct;
mod sqlx_exec;
mod structure;
mod tenancy;

pub use accounts::{AccountStore, TokenRecord, WebSessionRecord};
pub use audit::{
    AuditStore, EntryFilter, Integration, Integrator, LogIndex, LogState, Sequenced, StoredCheckpoint,
    StoredCosignature, StoredEntry,
};
pub use cluster::{ClusterStore, PendingRemoteUnlock, SequencerSeat};
pub use delivery::{
    AccessContext, AccessContextQuery, AccessRequestFilter, DeliveryFilter, DeliveryStore, RevocationEvents,
};
pub use doors::{ClipFilter, ClipRecord, DoorEntry, DoorWrite, LockDoor, LockEventWrites, NewClip, StoredClip};
pub use fleet::{
    FleetStore, LockChainHead, LockFleetCounts, LockFleetRecord, LockGap, RevokedCredential, StoredLockEvent,
};
pub use mail::{LinkRedemption, MailAttempt, MailMessage, MailState, MailStore, SignInLink, EMAIL_SIGN_IN_TOKEN_LABEL};
pub use naming::{NameQuery, NameRows, NamingStore};
pub use notify::{AttemptResult, DueDelivery, NewDelivery, NotifyStore};
pub use passkeys::{CeremonyRecord, PasskeyRecord, PasskeyRemovalEvents, PasskeyStore, PasskeyUse};
pub use postgres::PostgresStore;
pub use property::PropertyStore;
pub use resident::ResidentStore;
pub use sqlite::SqliteStore;
pub use structure::StructureStore;
pub use tenancy::TenancyStore;

/// A store: every aggregate's storage, on one database.
#[async_trait]
pub trait Store:
    AccountStore
    + PropertyStore
    + ResidentStore
    + DeliveryStore
    + FleetStore
    + AuditStore
    + NotifyStore
    + MailStore
    + StructureStore
    + TenancyStore
    + NamingStore
    + ClusterStore
    + PasskeyStore
    + Send
    + Sync
    + 'static
{
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Readiness: the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

#[async_trait]
impl<B: sqlx_exec::Backend> Store for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        use exec::Exec as _;
        self.read().await?.execute("SELECT 1", &[]).await.map(drop)
    }
}

/// Opens the store a URL names, running its migrations: `postgres://` or
/// `postgresql://` is PostgreSQL; `sqlite:` or a plain file path is SQLite
/// (the file is created if missing).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    match Engine::of(url)? {
        Engine::Postgres => Ok(std::sync::Arc::new(PostgresStore::open(url).await?)),
        Engine::Sqlite => Ok(std::sync::Arc::new(SqliteStore::open(url).await?)),
    }
}

/// For tests on a shared PostgreSQL database: a store in a schema of its own
/// (see [`PostgresStore::open_isolated`]).
pub async fn open_isolated_postgres(base_url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    match Engine::of(base_url)? {
        Engine::Postgres => Ok(std::sync::Arc::new(PostgresStore::open_isolated(base_url).await?)),
        Engine::Sqlite => Err(StoreError::Backend("not a PostgreSQL URL: use postgres://".into())),
    }
}

/// For benchmarks and tests that start `doorman serve` processes on a
/// shared PostgreSQL database: creates a schema of their own (as
/// [`open_isolated_postgres`] does) and returns the URL that uses only it.
pub async fn isolated_postgres_url(base_url: &str) -> StoreResult<String> {
    match Engine::of(base_url)? {
        Engine::Postgres => {
            let (_, schema) = postgres::isolated_options(base_url).await?;
            let separator = if base_url.contains('?') { '&' } else { '?' };
            Ok(format!("{base_url}{separator}options[search_path]={schema}"))
        }
        Engine::Sqlite => Err(StoreError::Backend("not a PostgreSQL URL: use postgres://".into())),
    }
}

#[derive(Debug, PartialEq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// Whether `url` starts with `prefix`, ignoring ASCII case.
pub(crate) fn has_prefix(url: &str, prefix: &str) -> bool {
    url.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

impl Engine {
    fn of(url: &str) -> StoreResult<Engine> {
        if has_prefix(url, "postgres://") || has_prefix(url, "postgresql://") {
            Ok(Engine::Postgres)
        } else if has_prefix(url, "sqlite:") {
            Ok(Engine::Sqlite)
        } else if let Some((scheme, _)) = url.split_once("://") {
            // Name the scheme only, and only if it looks like one: the rest
            // of the URL may hold a password.
            let plain = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
            let shown = if plain { format!(" {scheme:?}") } else { String::new() };
            Err(StoreError::Backend(format!(
                "unsupported database URL scheme{shown}: use sqlite:, postgres:// or a file path"
            )))
        } else {
            Ok(Engine::Sqlite)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        for url in ["postgres://root@127.0.0.1/test", "postgresql://h/d", "POSTGRES://h/d"] {
            assert_eq!(Engine::of(url).unwrap(), Engine::Postgres, "{url}");
        }
        for url in ["sqlite://data/doorman.db", "sqlite:doorman.db", "sqlite::memory:", "doorman.db", "/var/lib/d.db"] {
            assert_eq!(Engine::of(url).unwrap(), Engine::Sqlite, "{url}");
        }
        let err = Engine::of("mysql://root:hunter2@db/x").unwrap_err().to_string();
        assert!(err.contains("\"mysql\"") && !err.contains("hunter2"), "{err}");
        let err = Engine::of("x:hunter2@db://y").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row that the operation needs does not exist (or is not usable, such
    /// as an expired or redeemed invitation).
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference rule of the schema refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A compare-and-set saw another state than expected.
    #[error("stale: {0}")]
    Stale(String),
    /// The database failed; the text never includes credentials.
    #[error("database error: {0}")]
    Backend(String),
    /// The database cannot be reached now (the server is down, restarting,
    /// or out of connections): nothing was done, and the same call may
    /// succeed later. The text never includes credentials.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}
