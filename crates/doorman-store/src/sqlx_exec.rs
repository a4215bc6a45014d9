//! sqlx as an [`Exec`] (SQLite and PostgreSQL), and [`Backend`]: what a
//! store built on sqlx supplies so that every store trait is implemented
//! for it once, generically (the aggregate modules' `impl<B: Backend> ...`).
//!
//! A backend supplies where reads run (a pool), how a write transaction
//! begins (SQLite: `BEGIN IMMEDIATE` on its writer connection, in this
//! process's turn to write; PostgreSQL: a plain `BEGIN`) and, on SQLite
//! files, the direct path (`sqlite_direct`), which then serves the access
//! request's reads and writes, and also [`Backend::one`], [`Backend::all`]
//! and [`Backend::write_one`]: the single-statement reads and writes most
//! store methods are made of (no thread hand-off per statement; the write
//! committed in the writer's next group, one flush for the group).
//!
//! Every write runs in a transaction, so a method that writes several rows
//! leaves nothing behind when any of them fails (the transaction is rolled
//! back when it is dropped uncommitted).

use std::future::Future;
use std::ops::{Deref, DerefMut};

use doorman_domain::Event;
use sqlx::error::ErrorKind;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Row as _, SqliteConnection};

use crate::audit::{append_in, append_rows, entry_rows};
use crate::exec::{ready_now, Cells, Dialect, Exec, Record, Value};
use crate::sqlite_direct::Direct;
use crate::{StoreError, StoreResult};

/// Maps a database error to the store's error, keeping schema refusals
/// apart. The text never includes connection strings: sqlx does not put
/// them in errors once a pool is open, and opening scrubs its own errors.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation | ErrorKind::CheckViolation => {
                StoreError::Conflict(db.message().to_string())
            }
            _ if db.code().is_some_and(|code| server_unavailable(&code)) => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Backend(error.to_string()),
        },
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // The connection could not be made or was lost: the server is away,
        // not the request wrong.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Backend(error.to_string()),
    }
}

/// SQLSTATEs that say the server, not the statement, is the problem:
/// class 08 (connection exception), 57P01-57P03 (shutting down, crashed,
/// starting up) and 53300 (too many connections).
fn server_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// A write transaction, holding the backend's turn to write (SQLite with
/// its direct path: see `sqlite_direct::Turn`) until it commits or rolls
/// back; so it must not wait for a direct write. Dereferences to the
/// connection, which is an [`Exec`].
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub(crate) fn new(tx: sqlx::Transaction<'static, DB>, turn: Option<tokio::sync::OwnedMutexGuard<()>>) -> Self {
        Self { tx, _turn: turn }
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await.map_err(db_error)
    }
}

impl<DB: sqlx::Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// A store on sqlx. Implementing it implements every store trait.
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: sqlx::Database<Connection: Exec + Send>;

    /// "sqlite" or "postgres".
    const NAME: &'static str;

    /// Where reads run.
    fn reads(&self) -> &sqlx::Pool<Self::Db>;

    /// Begins a write transaction.
    fn begin_write(&self) -> impl Future<Output = StoreResult<WriteTx<Self::Db>>> + Send;

    /// SQLite's direct access path, on a file database.
    fn direct(&self) -> Option<&Direct>;

    /// What a PostgreSQL store shares between processes (None on SQLite).
    fn postgres(&self) -> Option<crate::cluster::PgCluster<'_>> {
        None
    }

    /// A connection to read on.
    fn read(&self) -> impl Future<Output = StoreResult<PoolConnection<Self::Db>>> + Send {
        async { self.reads().acquire().await.map_err(db_error) }
    }

    /// The first row of a read, as `R`.
    fn one<R: Record + Send>(
        &self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Option<R>>> + Send {
        async move {
            if let Some(direct) = self.direct() {
                return direct.read(|ex| ready_now(ex.fetch_optional(sql, values)));
            }
            self.read().await?.fetch_optional(sql, values).await
        }
    }

    /// Every row of a read, as `R`.
    fn all<R: Record + Send>(
        &self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Vec<R>>> + Send {
        async move {
            if let Some(direct) = self.direct() {
                return direct.read(|ex| ready_now(ex.fetch_all(sql, values)));
            }
            self.read().await?.fetch_all(sql, values).await
        }
    }

    /// One statement in its own write transaction, followed by `events` if
    /// it changed a row; how many rows it changed.
    fn write_one(
        &self,
        sql: &'static str,
        values: &[Value<'_>],
        events: &[Event],
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            if let Some(direct) = self.direct() {
                let values: Vec<Value<'static>> = values.iter().cloned().map(Value::into_owned).collect();
                let entries = entry_rows(events)?;
                return direct
                    .write_with(move |ex| {
                        let changed = ready_now(ex.execute(sql, &values))?;
                        if changed > 0 {
                            ready_now(append_rows(ex, &entries))?;
                        }
                        Ok(changed)
                    })
                    .await;
            }
            let mut tx = self.begin_write().await?;
            let changed = tx.execute(sql, values).await?;
            if changed > 0 {
                append_in(&mut *tx, events).await?;
            }
            tx.commit().await?;
            Ok(changed)
        }
    }

    /// [`Backend::write_one`] that is NotFound when no row changed.
    fn write_existing(
        &self,
        sql: &'static str,
        values: &[Value<'_>],
        events: &[Event],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async move {
            match self.write_one(sql, values, events).await? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        }
    }
}

/// The sqlx row as [`Cells`].
pub(crate) struct RowCells<'r, R> {
    row: &'r R,
    next: usize,
}

impl<R> RowCells<'_, R> {
    fn column(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }
}

/// Implements [`Exec`] for a sqlx connection type and [`Cells`] for its
/// rows (sqlx's query types are tied to one database).
macro_rules! sqlx_exec {
    ($conn:ty, $db:ty, $row:ty, $dialect:expr) => {
        impl Cells for RowCells<'_, $row> {
            fn opt_str(&mut self) -> StoreResult<Option<&str>> {
                let i = self.column();
                self.row.try_get::<Option<&str>, _>(i).map_err(db_error)
            }

            fn opt_i64(&mut self) -> StoreResult<Option<i64>> {
                let i = self.column();
                self.row.try_get::<Option<i64>, _>(i).map_err(db_error)
            }

            fn f64(&mut self) -> StoreResult<f64> {
                let i = self.column();
                self.row.try_get::<f64, _>(i).map_err(db_error)
            }

            fn bool(&mut self) -> StoreResult<bool> {
                let i = self.column();
                self.row.try_get::<bool, _>(i).map_err(db_error)
            }

            fn opt_blob(&mut self) -> StoreResult<Option<&[u8]>> {
                let i = self.column();
                self.row.try_get::<Option<&[u8]>, _>(i).map_err(db_error)
            }
        }

        impl Exec for $conn {
            fn dialect(&self) -> Dialect {
                $dialect
            }

            fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> impl Future<Output = StoreResult<u64>> + Send {
                async move {
                    let mut query = sqlx::query::<$db>(sql);
                    for value in values {
                        query = bind!(query, value);
                    }
                    Ok(query.execute(&mut *self).await.map_err(db_error)?.rows_affected())
                }
            }

            fn fetch_optional<R: Record + Send>(
                &mut self,
                sql: &str,
                values: &[Value<'_>],
            ) -> impl Future<Output = StoreResult<Option<R>>> + Send {
                async move {
                    let mut query = sqlx::query::<$db>(sql);
                    for value in values {
                        query = bind!(query, value);
                    }
                    let row = query.fetch_optional(&mut *self).await.map_err(db_error)?;
                    row.map(|row| R::read(&mut RowCells { row: &row, next: 0 })).transpose()
                }
            }

            fn fetch_all<R: Record + Send>(
                &mut self,
                sql: &str,
                values: &[Value<'_>],
            ) -> impl Future<Output = StoreResult<Vec<R>>> + Send {
                async move {
                    let mut query = sqlx::query::<$db>(sql);
                    for value in values {
                        query = bind!(query, value);
                    }
                    let rows = query.fetch_all(&mut *self).await.map_err(db_error)?;
                    rows.iter().map(|row| R::read(&mut RowCells { row, next: 0 })).collect()
                }
            }
        }
    };
}

/// Binds one [`Value`] with its own type (a NULL keeps its column's type).
macro_rules! bind {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Text(v) => $query.bind(*v),
            Value::Owned(v) => $query.bind(v.as_deref()),
            Value::Id(v) => $query.bind(v.as_ref().map(|id| id.as_str())),
            Value::Int(v) => $query.bind(*v),
            Value::Real(v) => $query.bind(*v),
            Value::Bool(v) => $query.bind(*v),
            Value::Blob(v) => $query.bind(*v),
            Value::OwnedBlob(v) => $query.bind(v.as_deref()),
        }
    };
}

sqlx_exec!(SqliteConnection, sqlx::Sqlite, sqlx::sqlite::SqliteRow, Dialect::Sqlite);
sqlx_exec!(PgConnection, sqlx::Postgres, sqlx::postgres::PgRow, Dialect::Postgres);
