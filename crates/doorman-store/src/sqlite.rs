//! The embedded default: SQLite in one file.
//!
//! WAL (readers never wait for the writer), `synchronous = FULL` on sqlx's
//! connections (every commit fsyncs the WAL before it returns, so what a
//! method reported done survives a power loss; the access path's writer
//! reaches the same guarantee by flushing the WAL itself before it answers,
//! see `sqlite_direct`), `foreign_keys = ON` and a busy timeout on every connection. Every write transaction begins
//! with `BEGIN IMMEDIATE`: it takes the write lock up front, waiting out the
//! busy timeout if another process holds it, where a deferred `BEGIN` that
//! later upgrades to a write fails at once with SQLITE_BUSY.
//!
//! A file database has two writers in this process that take turns (see
//! `sqlite_direct`): the access path's writes go to a writer thread that
//! commits them in groups, one fsync per group; the other writes go through
//! sqlx's one writer connection. Taking turns makes writers of this process
//! queue instead of spinning in SQLite's busy handler. The access path's
//! reads run on the calling thread; the other reads use sqlx's pool of
//! readers. An in-memory database has one sqlx connection for everything.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use crate::sqlite_direct::Direct;
use crate::sqlx_exec::{db_error, Backend, WriteTx};
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a write waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    reads: SqlitePool,
    writes: SqlitePool,
    /// The access path's direct connections (file databases only).
    direct: Option<Direct>,
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
            .synchronous(SqliteSynchronous::Full);
        let file = options.get_filename().to_path_buf();
        let display = file.display().to_string();

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
            // No ping when the pool lends a connection: it is a file on
            // this machine, and a ping is a round trip to the connection's
            // thread.
            let writes = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
                .await
                .map_err(open_error)?;
            let readers = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 8));
            let reads = SqlitePoolOptions::new()
                .max_connections(u32::try_from(readers).unwrap_or(4))
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(open_error)?;
            (reads, writes)
        };
        MIGRATOR.run(&writes).await.map_err(|e| StoreError::Backend(format!("migrating SQLite: {e}")))?;
        let direct = if in_memory { None } else { Some(Direct::open(&file, BUSY_TIMEOUT)?) };
        Ok(Self { reads, writes, direct, location: display })
    }
}

fn open_error(error: sqlx::Error) -> StoreError {
    StoreError::Backend(format!("opening SQLite: {error}"))
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";

    fn reads(&self) -> &SqlitePool {
        &self.reads
    }

    async fn begin_write(&self) -> StoreResult<WriteTx<Sqlite>> {
        let turn = match &self.direct {
            Some(direct) => Some(direct.turn().clone().lock_owned().await),
            None => None,
        };
        let tx: Transaction<'static, Sqlite> = self.writes.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        Ok(WriteTx::new(tx, turn))
    }

    fn direct(&self) -> Option<&Direct> {
        self.direct.as_ref()
    }
}
