//! The baseline of `doorman bench audit`, and nothing else: bare batched
//! inserts of (index, bytes) rows into a scratch table of their own (in a
//! SQLite file, typically the store's own, through a connection of their
//! own with the store's settings; or in a schema of their own on
//! PostgreSQL), with the same multi-row statements and the same transaction
//! sizes as the log's appends. No store trait carries it, and no migration
//! creates its table.

use std::path::Path;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::audit::{multi_insert, INSERT_CHUNK};
use crate::exec::{to_i64, Exec, Value};
use crate::postgres::{connect_error, isolated_options};
use crate::sqlx_exec::db_error;
use crate::StoreResult;

/// Where the bare rows go.
pub struct BareInserts {
    target: Target,
}

enum Target {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const TABLE: &str = "bench_bare_entries (idx, entry)";

impl BareInserts {
    /// The SQLite file at `path` (created if missing; the bench passes the
    /// store's own file, so both sides write to one database), through a
    /// connection with the store's settings for its sqlx writes: WAL,
    /// `synchronous = FULL` (a commit fsyncs the WAL), `BEGIN IMMEDIATE`,
    /// waiting for the store's writers rather than failing while they write.
    pub async fn sqlite(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(db_error)?;
        let create =
            "CREATE TABLE IF NOT EXISTS bench_bare_entries (idx INTEGER PRIMARY KEY NOT NULL, entry BLOB NOT NULL)";
        pool.acquire().await.map_err(db_error)?.execute(create, &[]).await?;
        Ok(Self { target: Target::Sqlite(pool) })
    }

    /// A schema of its own in the PostgreSQL database at `url`.
    pub async fn postgres(url: &str) -> StoreResult<Self> {
        let (options, _schema) = isolated_options(url).await?;
        let pool =
            PgPoolOptions::new().max_connections(1).connect_with(options).await.map_err(|e| connect_error(e, url))?;
        let create =
            "CREATE TABLE IF NOT EXISTS bench_bare_entries (idx BIGINT PRIMARY KEY NOT NULL, entry BYTEA NOT NULL)";
        pool.acquire().await.map_err(db_error)?.execute(create, &[]).await?;
        Ok(Self { target: Target::Postgres(pool) })
    }

    /// Inserts `entries` under indexes `first..`, in one transaction.
    pub async fn insert(&self, first: u64, entries: &[Vec<u8>]) -> StoreResult<()> {
        match &self.target {
            Target::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
                insert_in(&mut *tx, first, entries).await?;
                tx.commit().await.map_err(db_error)
            }
            Target::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db_error)?;
                insert_in(&mut *tx, first, entries).await?;
                tx.commit().await.map_err(db_error)
            }
        }
    }
}

async fn insert_in(ex: &mut impl Exec, first: u64, entries: &[Vec<u8>]) -> StoreResult<()> {
    let mut index = first;
    for chunk in entries.chunks(INSERT_CHUNK) {
        let mut values = Vec::with_capacity(chunk.len() * 2);
        for bytes in chunk {
            values.extend([Value::from(to_i64(index, "index")?), bytes.as_slice().into()]);
            index += 1;
        }
        ex.execute(&multi_insert(TABLE, chunk.len(), 2), &values).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn bare_rows_go_to_a_table_of_their_own() {
        let dir = std::env::temp_dir().join(format!("doorman-bare-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let bare = BareInserts::sqlite(&dir.join("bare.db")).await.unwrap();
        bare.insert(0, &[vec![1], vec![2]]).await.unwrap();
        bare.insert(2, &[vec![3]]).await.unwrap();
        let Target::Sqlite(pool) = &bare.target else { unreachable!() };
        let bare: i64 = pool
            .acquire()
            .await
            .unwrap()
            .fetch_optional("SELECT COUNT(*) FROM bench_bare_entries", &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bare, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
