//! The embedded default: SQLite in one file.
//!
//! WAL (readers never wait for the writer), `synchronous = NORMAL`,
//! `foreign_keys = ON` and a busy timeout on every connection. Writes go
//! through one writer connection and every write transaction begins with
//! `BEGIN IMMEDIATE`: it takes the write lock up front, waiting out the busy
//! timeout if another process holds it, where a deferred `BEGIN` that later
//! upgrades to a write fails at once with SQLITE_BUSY. The single writer
//! makes writers of this process queue in the pool instead of spinning in
//! SQLite's busy handler; reads use a pool of their own.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use crate::sql_store::{db_error, impl_store};
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a write waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    reads: SqlitePool,
    writes: SqlitePool,
    /// The file (or in-memory name), for Debug; SQLite URLs carry no secrets.
    location: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `location`: a
    /// `sqlite:` URL (`sqlite://data/doorman.db`, `sqlite::memory:`) or a
    /// plain file path. Runs the migrations.
    pub async fn open(location: &str) -> StoreResult<Self> {
        let in_memory = location.contains(":memory:") || location.contains("mode=memory");
        let options = if crate::has_prefix(location, "sqlite:") {
            // sqlx expects the scheme in lower case
            let rest = location.get("sqlite:".len()..).unwrap_or_default();
            SqliteConnectOptions::from_str(&format!("sqlite:{rest}"))
                .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?
        } else {
            SqliteConnectOptions::new().filename(location)
        };
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let display = options.get_filename().display().to_string();

        let (reads, writes) = if in_memory {
            // An in-memory database lives as long as a connection to it and
            // is not shared between pools: one connection, kept forever,
            // serves reads and writes.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(open_error)?;
            (pool.clone(), pool)
        } else {
            // WAL is a property of the file: the writer's first connection
            // (opened here, before any reader) sets it, readers find it set
            // (switching modes needs a lock that the busy timeout cannot wait for).
            let writes = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
                .await
                .map_err(open_error)?;
            let readers = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 8));
            let reads = SqlitePoolOptions::new()
                .max_connections(u32::try_from(readers).unwrap_or(4))
                .connect_with(options)
                .await
                .map_err(open_error)?;
            (reads, writes)
        };
        MIGRATOR.run(&writes).await.map_err(|e| StoreError::Backend(format!("migrating SQLite: {e}")))?;
        Ok(Self { reads, writes, location: display })
    }

    fn reads(&self) -> &SqlitePool {
        &self.reads
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writes.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)
    }
}

fn open_error(error: sqlx::Error) -> StoreError {
    StoreError::Backend(format!("opening SQLite: {error}"))
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
