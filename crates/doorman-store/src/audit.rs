//! The transparency log's storage: its entries, the stored hashes of its
//! Merkle tree, its checkpoints and their cosignatures, on both backends
//! (tables in `migrations/*/0002_transparency_log.sql`).
//!
//! - **Appending** ([`AuditStore::append_events`], and the write methods of
//!   every store trait that take events: [`append_in`], written once for
//!   sqlx and SQLite's direct path): an event gets its index in
//!   the transaction that writes the change it describes, from one counter
//!   row (`log_counter`) bumped with `UPDATE ... RETURNING`. Appenders that
//!   commit therefore take turns: on PostgreSQL the counter's row lock is
//!   held from the bump to the commit (so concurrent appenders serialize for
//!   that stretch; the bump is the last statement of each transaction, which
//!   keeps the stretch short and the lock order the same everywhere, so it
//!   cannot deadlock), and SQLite has one writer anyway. A rolled-back
//!   transaction rolls its bump back, so the committed entries are always a
//!   gap-free prefix `0..n` of the log.
//! - **Sequencing** ([`AuditStore::sequence`]): one transaction reads the
//!   tree's size (`log_tree`, locked on PostgreSQL so one sequencer runs at a
//!   time across processes), the entries committed after it and the hashes
//!   of the tree's right edge; an [`Integrator`] (the service's sequencer,
//!   which knows the Merkle tree and holds the log's key) turns them into the
//!   new stored hashes and a signed checkpoint, and the same transaction
//!   stores both and the new size. A checkpoint therefore only covers entries
//!   that were committed (durable) before it was, and a restart resumes from
//!   the size in `log_tree`.
//! - **Reading**: checkpoints with their cosignatures, stored hashes by key
//!   (proofs, tiles), and the entries a reader may see ([`EntryFilter`], on
//!   the scope columns written beside each entry).
//!
//! The store knows nothing of Merkle trees or signatures: hashes are opaque
//! 32-byte values under integer keys (`NodeId::stored_index` of doorman-tlog).

use std::ops::Range;
use std::sync::OnceLock;

use async_trait::async_trait;
use doorman_domain::{CarrierId, DriverId, Event, PropertyId, UnitId};

use crate::exec::{locking, to_i64, to_u64, Dialect, Exec, Value};
use crate::records::columns;
use crate::records::select;
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// The position of an entry in the log, from 0.
pub type LogIndex = u64;

/// Rows per multi-row `INSERT` (9 values each: well below both backends'
/// limits on bound values per statement).
pub(crate) const INSERT_CHUNK: usize = 200;

/// An entry as stored: its index and its canonical bytes (the Merkle leaf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: LogIndex,
    pub bytes: Vec<u8>,
}

/// A witness's cosignature of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCosignature {
    /// The witness key's name.
    pub witness: String,
    /// The signature line as the witness returned it (`— name base64\n`).
    pub line: String,
    pub received_at: i64,
}

/// A checkpoint the log signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    /// The signed note (text, blank line, the log's signature line).
    pub note: String,
    pub signed_at: i64,
    /// Ordered by witness name.
    pub cosignatures: Vec<StoredCosignature>,
}

/// How far the log has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogState {
    /// Entries appended (committed): the next index to hand out.
    pub appended: u64,
    /// Entries integrated into the stored tree and the latest checkpoint.
    pub integrated: u64,
}

/// Which entries to read: an entry matches if any part that is set matches
/// (an empty filter matches nothing). The service builds it from what the
/// reader may see and still checks every decoded event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntryFilter {
    /// Every entry (for the log's own tools and tests).
    pub everything: bool,
    /// Entries of these properties.
    pub properties: Vec<PropertyId>,
    /// Entries of this unit.
    pub unit: Option<UnitId>,
    /// Entries without a unit at this property whose kind is one of these
    /// (the shared doors of a resident's building).
    pub shared: Option<(PropertyId, Vec<&'static str>)>,
    pub carrier: Option<CarrierId>,
    /// Entries of this driver of this carrier (found among the carrier's).
    pub driver: Option<(CarrierId, DriverId)>,
    /// Entries of these kinds, wherever they are.
    pub kinds: Vec<&'static str>,
}

/// What a sequencing run stores: the new stored hashes (key, hash) and the
/// checkpoint of the grown tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub hashes: Vec<(u64, [u8; 32])>,
    pub root: [u8; 32],
    /// The checkpoint as a signed note.
    pub note: String,
    pub signed_at: i64,
}

/// Grows the tree: the service's sequencer, called inside the sequencing
/// transaction (see the module documentation). Must not block for long.
pub trait Integrator: Send + Sync {
    /// The stored-hash keys (in the order [`Integrator::integrate`] wants
    /// their hashes) needed to continue a tree of `size` entries.
    fn frontier(&self, size: u64) -> Vec<u64>;

    /// Appends `entries` (indexes `size`, `size + 1`, ... in order) to the
    /// tree of `size` entries whose right edge has the `frontier` hashes;
    /// returns the hashes to store and the signed checkpoint of the tree of
    /// `size + entries.len()` entries.
    fn integrate(&self, size: u64, frontier: &[[u8; 32]], entries: &[StoredEntry]) -> Result<Integration, String>;
}

/// The outcome of a sequencing run that signed a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequenced {
    /// The tree size before.
    pub previous: u64,
    /// The size of the new checkpoint.
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events that go with no other change (a key rotation, a
    /// verified lock event), in one transaction; returns their indexes.
    async fn append_events(&self, events: &[Event]) -> StoreResult<Vec<LogIndex>>;

    /// One sequencing run over at most `max_batch` new entries: integrates
    /// them and stores the hashes, the checkpoint and the new size together.
    /// None if there was nothing to do (no new entry, and a checkpoint of the
    /// current size exists). Fails, storing nothing, if the integrator fails
    /// or a stored hash it needs is missing.
    async fn sequence(&self, max_batch: u32, integrator: &dyn Integrator) -> StoreResult<Option<Sequenced>>;

    async fn log_state(&self) -> StoreResult<LogState>;

    /// The checkpoint of the largest size, with its cosignatures.
    async fn latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>>;

    /// The checkpoint of this size, with its cosignatures.
    async fn checkpoint(&self, size: u64) -> StoreResult<Option<StoredCheckpoint>>;

    /// The checkpoints of size `from` or more, smallest first, at most
    /// `limit`, without their cosignatures (the log's integrity check walks
    /// them beside the entries).
    async fn checkpoints_from(&self, from: u64, limit: u32) -> StoreResult<Vec<StoredCheckpoint>>;

    /// The stored hashes under these keys, in the same order (a key may
    /// repeat). NotFound if any is missing.
    async fn log_hashes(&self, keys: &[u64]) -> StoreResult<Vec<[u8; 32]>>;

    /// The entries matching `filter` with an index in `range`, in index
    /// order, at most `limit`.
    async fn log_entries(&self, filter: &EntryFilter, range: Range<u64>, limit: u32) -> StoreResult<Vec<StoredEntry>>;

    /// Stores (or replaces) a witness's cosignature of the checkpoint of
    /// `size`. NotFound if there is no such checkpoint.
    async fn add_cosignature(&self, size: u64, witness: &str, line: &str, received_at: i64) -> StoreResult<()>;
}

/// An event as its `log_entries` row: the canonical bytes and the scope.
#[derive(Clone)]
pub(crate) struct EntryRow {
    pub bytes: Vec<u8>,
    pub kind: &'static str,
    pub at: i64,
    pub property_id: Option<String>,
    pub unit_id: Option<String>,
    pub carrier_id: Option<String>,
    pub driver_id: Option<String>,
    pub delivery_id: Option<String>,
}

impl EntryRow {
    pub(crate) fn of(event: &Event) -> StoreResult<Self> {
        let bytes = event.to_canonical_bytes();
        if bytes.is_empty() {
            return Err(StoreError::Backend(format!("cannot encode a {} event", event.kind.name())));
        }
        Ok(EntryRow {
            bytes,
            kind: event.kind.name(),
            at: event.at,
            property_id: event.property_id.map(|id| id.to_string()),
            unit_id: event.unit_id.map(|id| id.to_string()),
            carrier_id: event.carrier_id.map(|id| id.to_string()),
            driver_id: event.driver_id.map(|id| id.to_string()),
            delivery_id: event.delivery_id.map(|id| id.to_string()),
        })
    }
}

/// `INSERT INTO <table> (<columns>) VALUES (...), (...)` for `rows` rows of
/// `per_row` values, numbered `$1` onwards.
pub(crate) fn multi_insert(table_and_columns: &str, rows: usize, per_row: usize) -> String {
    let row = |r: usize| format!("({})", placeholders(r * per_row + 1, per_row));
    format!("INSERT INTO {table_and_columns} VALUES {}", (0..rows).map(row).collect::<Vec<_>>().join(", "))
}

/// `$from, $from+1, ..` for `count` values.
pub(crate) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// The `INSERT` of `rows` log entries (at most [`INSERT_CHUNK`]), made once
/// per count and kept: an append builds no statement text.
fn insert_entries(rows: usize) -> &'static str {
    static STATEMENTS: [OnceLock<String>; INSERT_CHUNK] = [const { OnceLock::new() }; INSERT_CHUNK];
    match STATEMENTS.get(rows.wrapping_sub(1)) {
        Some(statement) => statement.get_or_init(|| {
            multi_insert(concat!("log_entries (", columns!(entry), ", ", entry_scope!(), ")"), rows, ENTRY_VALUES)
        }),
        None => "",
    }
}

/// The scope columns written beside each entry.
macro_rules! entry_scope {
    () => {
        "kind, at, property_id, unit_id, carrier_id, driver_id, delivery_id"
    };
}
use entry_scope;

/// Values per entry row.
const ENTRY_VALUES: usize = 9;

/// The rows of `events`, encoded (SQLite's direct path encodes them before
/// a write is queued: the writer thread, which every write waits for, only
/// inserts them).
pub(crate) fn entry_rows(events: &[Event]) -> StoreResult<Vec<EntryRow>> {
    events.iter().map(EntryRow::of).collect()
}

/// Takes indexes for `events` and writes them, inside the caller's write
/// transaction. Call it last in a transaction (see the module documentation).
pub(crate) async fn append_in(ex: &mut impl Exec, events: &[Event]) -> StoreResult<Vec<LogIndex>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    append_rows(ex, &entry_rows(events)?).await
}

/// [`append_in`] of encoded rows: the one log append, on every executor.
pub(crate) async fn append_rows(ex: &mut impl Exec, rows: &[EntryRow]) -> StoreResult<Vec<LogIndex>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let count = to_i64(rows.len() as u64, "event count")?;
    // The counter after: the indexes taken are `after - count .. after`.
    // On PostgreSQL the same statement notifies the other processes
    // (`crate::cluster`): delivered at commit, and only if it commits.
    let take = match ex.dialect() {
        Dialect::Sqlite => {
            "UPDATE log_counter SET next_index = next_index + $1 WHERE singleton = 1 RETURNING next_index"
        }
        Dialect::Postgres => concat!(
            "WITH bumped AS (UPDATE log_counter SET next_index = next_index + $1 WHERE singleton = 1 ",
            "RETURNING next_index) SELECT next_index FROM bumped, pg_notify('doorman_log', current_schema())"
        ),
    };
    let after: i64 = ex
        .fetch_optional(take, &[count.into()])
        .await?
        .ok_or_else(|| StoreError::Backend("log_counter has no row".into()))?;
    let first = to_u64(after - count, "log counter")?;
    let mut index = first;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut values = Vec::with_capacity(chunk.len() * ENTRY_VALUES);
        for row in chunk {
            values.extend([
                Value::from(to_i64(index, "log index")?),
                row.bytes.as_slice().into(),
                row.kind.into(),
                row.at.into(),
                row.property_id.as_deref().into(),
                row.unit_id.as_deref().into(),
                row.carrier_id.as_deref().into(),
                row.driver_id.as_deref().into(),
                row.delivery_id.as_deref().into(),
            ]);
            index += 1;
        }
        ex.execute(insert_entries(chunk.len()), &values).await?;
    }
    Ok((first..index).collect())
}

/// Kind names are spliced into SQL (so that PostgreSQL can match its partial
/// index): only snake_case names are accepted.
fn kind_list(kinds: &[&'static str]) -> StoreResult<String> {
    let mut out = Vec::with_capacity(kinds.len());
    for kind in kinds {
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(StoreError::Backend(format!("not an event kind: {kind:?}")));
        }
        out.push(format!("'{kind}'"));
    }
    Ok(out.join(", "))
}

/// The `WHERE` of [`AuditStore::log_entries`] and its bound values (after
/// `$1` = range start, `$2` = range end, `$3` = limit). None if the filter
/// matches nothing.
pub(crate) fn entry_conditions(filter: &EntryFilter) -> StoreResult<Option<(String, Vec<String>)>> {
    if filter.everything {
        return Ok(Some(("TRUE".into(), Vec::new())));
    }
    let mut parts = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let next = |values: &mut Vec<String>, value: String| {
        values.push(value);
        format!("${}", values.len() + 3)
    };
    if !filter.properties.is_empty() {
        let list: Vec<String> = filter.properties.iter().map(|p| next(&mut values, p.to_string())).collect();
        parts.push(format!("property_id IN ({})", list.join(", ")));
    }
    if let Some(unit) = filter.unit {
        parts.push(format!("unit_id = {}", next(&mut values, unit.to_string())));
    }
    if let Some((property, kinds)) = &filter.shared {
        if !kinds.is_empty() {
            let p = next(&mut values, property.to_string());
            parts.push(format!("(unit_id IS NULL AND property_id = {p} AND kind IN ({}))", kind_list(kinds)?));
        }
    }
    if let Some(carrier) = filter.carrier {
        parts.push(format!("carrier_id = {}", next(&mut values, carrier.to_string())));
    }
    if let Some((carrier, driver)) = filter.driver {
        let c = next(&mut values, carrier.to_string());
        parts.push(format!("(carrier_id = {c} AND driver_id = {})", next(&mut values, driver.to_string())));
    }
    if !filter.kinds.is_empty() {
        parts.push(format!("kind IN ({})", kind_list(&filter.kinds)?));
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some((format!("({})", parts.join(" OR ")), values)))
}

/// The hashes under `keys`, in that order.
async fn read_hashes(ex: &mut impl Exec, keys: &[u64]) -> StoreResult<Vec<[u8; 32]>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique: Vec<u64> = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut found = std::collections::HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(INSERT_CHUNK * 4) {
        let sql = format!("SELECT idx, hash FROM log_hashes WHERE idx IN ({})", placeholders(1, chunk.len()));
        let values =
            chunk.iter().map(|key| Ok(to_i64(*key, "hash key")?.into())).collect::<StoreResult<Vec<Value<'_>>>>()?;
        found.extend(ex.fetch_all::<(u64, [u8; 32])>(&sql, &values).await?);
    }
    keys.iter().map(|key| found.get(key).copied().ok_or(StoreError::NotFound)).collect()
}

/// A checkpoint row (size, root, note, signed_at) with its cosignatures.
async fn checkpoint(ex: &mut impl Exec, sql: &str, values: &[Value<'_>]) -> StoreResult<Option<StoredCheckpoint>> {
    let Some((size, (root, (note, signed_at)))) =
        ex.fetch_optional::<(i64, (Hash, (String, i64)))>(sql, values).await?
    else {
        return Ok(None);
    };
    let sql = select!(cosignature, " FROM log_cosignatures WHERE size = $1 ORDER BY witness");
    let cosignatures = ex.fetch_all(sql, &[size.into()]).await?;
    Ok(Some(StoredCheckpoint { size: to_u64(size, "checkpoint size")?, root: root.0, note, signed_at, cosignatures }))
}

/// A stored 32-byte hash.
pub(crate) struct Hash(pub [u8; 32]);

#[async_trait]
impl<B: Backend> AuditStore for B {
    async fn append_events(&self, events: &[Event]) -> StoreResult<Vec<LogIndex>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let indexes = append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(indexes)
    }

    async fn sequence(&self, max_batch: u32, integrator: &dyn Integrator) -> StoreResult<Option<Sequenced>> {
        let mut tx = self.begin_write().await?;
        let dialect = tx.dialect();
        let tree = dialect.locking(locking!("SELECT size FROM log_tree WHERE singleton = 1"));
        let size: i64 =
            tx.fetch_optional(tree, &[]).await?.ok_or_else(|| StoreError::Backend("log_tree has no row".into()))?;
        // The counter before the entries: every index below it was
        // committed before this read (with its bump), so the entries read
        // next must include them (PostgreSQL reads each statement at its
        // own moment).
        let counter = "SELECT next_index FROM log_counter WHERE singleton = 1";
        let appended: i64 = tx.fetch_optional(counter, &[]).await?.unwrap_or_default();
        let signed =
            tx.fetch_optional::<i64>("SELECT size FROM log_checkpoints WHERE size = $1", &[size.into()]).await?;
        let sql = select!(entry, " FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2");
        let rows: Vec<StoredEntry> = tx.fetch_all(sql, &[size.into(), i64::from(max_batch.max(1)).into()]).await?;
        let previous = to_u64(size, "tree size")?;
        // Only the gap-free run after the tree: a missing entry stops the
        // log here rather than being skipped.
        let mut entries = Vec::with_capacity(rows.len());
        for entry in rows {
            if entry.index != previous + entries.len() as u64 {
                break;
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            if appended > size {
                tx.rollback().await?;
                return Err(StoreError::Backend(format!(
                    "log entry {size} is missing: {appended} entries were appended"
                )));
            }
            if signed.is_some() {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        let frontier = read_hashes(&mut *tx, &integrator.frontier(previous)).await?;
        let integration = integrator.integrate(previous, &frontier, &entries).map_err(StoreError::Backend)?;
        let new_size = to_i64(previous + entries.len() as u64, "tree size")?;
        for chunk in integration.hashes.chunks(INSERT_CHUNK) {
            let mut values = Vec::with_capacity(chunk.len() * 2);
            for (key, hash) in chunk {
                values.extend([Value::from(to_i64(*key, "hash key")?), hash.into()]);
            }
            tx.execute(&multi_insert("log_hashes (idx, hash)", chunk.len(), 2), &values).await?;
        }
        let sql = "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)";
        let values =
            [new_size.into(), (&integration.root).into(), (&integration.note).into(), integration.signed_at.into()];
        tx.execute(sql, &values).await?;
        tx.execute("UPDATE log_tree SET size = $1 WHERE singleton = 1", &[new_size.into()]).await?;
        tx.commit().await?;
        let size = to_u64(new_size, "tree size")?;
        Ok(Some(Sequenced { previous, size, root: integration.root, note: integration.note }))
    }

    async fn log_state(&self) -> StoreResult<LogState> {
        let sql = "SELECT (SELECT next_index FROM log_counter WHERE singleton = 1), \
                   (SELECT size FROM log_tree WHERE singleton = 1)";
        let (appended, integrated): (i64, i64) = self.one(sql, &[]).await?.ok_or(StoreError::NotFound)?;
        Ok(LogState { appended: to_u64(appended, "log counter")?, integrated: to_u64(integrated, "tree size")? })
    }

    async fn latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        let sql = "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1";
        checkpoint(&mut *self.read().await?, sql, &[]).await
    }

    async fn checkpoint(&self, size: u64) -> StoreResult<Option<StoredCheckpoint>> {
        let sql = "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size = $1";
        checkpoint(&mut *self.read().await?, sql, &[to_i64(size, "tree size")?.into()]).await
    }

    async fn checkpoints_from(&self, from: u64, limit: u32) -> StoreResult<Vec<StoredCheckpoint>> {
        let sql = "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2";
        let rows: Vec<(i64, (Hash, (String, i64)))> =
            self.all(sql, &[to_i64(from, "tree size")?.into(), i64::from(limit).into()]).await?;
        rows.into_iter()
            .map(|(size, (root, (note, signed_at)))| {
                Ok(StoredCheckpoint {
                    size: to_u64(size, "checkpoint size")?,
                    root: root.0,
                    note,
                    signed_at,
                    cosignatures: Vec::new(),
                })
            })
            .collect()
    }

    async fn log_hashes(&self, keys: &[u64]) -> StoreResult<Vec<[u8; 32]>> {
        read_hashes(&mut *self.read().await?, keys).await
    }

    async fn log_entries(&self, filter: &EntryFilter, range: Range<u64>, limit: u32) -> StoreResult<Vec<StoredEntry>> {
        let Some((condition, scope)) = entry_conditions(filter)? else { return Ok(Vec::new()) };
        if range.start >= range.end || limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM log_entries WHERE idx >= $1 AND idx < $2 AND {condition} ORDER BY idx LIMIT $3",
            columns!(entry)
        );
        let mut values = vec![
            to_i64(range.start, "log index")?.into(),
            to_i64(range.end, "log index")?.into(),
            i64::from(limit).into(),
        ];
        values.extend(scope.into_iter().map(Value::from));
        self.all(&sql, &values).await
    }

    async fn add_cosignature(&self, size: u64, witness: &str, line: &str, received_at: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let size = to_i64(size, "tree size")?;
        if tx.fetch_optional::<i64>("SELECT size FROM log_checkpoints WHERE size = $1", &[size.into()]).await?.is_none()
        {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        let sql = "INSERT INTO log_cosignatures (size, witness, line, received_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, received_at = excluded.received_at";
        tx.execute(sql, &[size.into(), witness.into(), line.into(), received_at.into()]).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use doorman_domain::{EventKind, UnitId, EVENT_FORMAT_VERSION};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

    use super::*;
    use crate::SqliteStore;

    /// A store in a temporary file, and a connection of its own to it.
    struct TestStore {
        store: SqliteStore,
        pool: SqlitePool,
        _dir: std::path::PathBuf,
    }

    impl TestStore {
        async fn open() -> Self {
            let dir = std::env::temp_dir().join(format!("doorman-audit-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("log.db");
            let store = SqliteStore::open(file.to_str().unwrap()).await.unwrap();
            let options = SqliteConnectOptions::new().filename(&file);
            let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
            TestStore { store, pool, _dir: dir }
        }
    }

    impl std::ops::Deref for TestStore {
        type Target = SqliteStore;
        fn deref(&self) -> &SqliteStore {
            &self.store
        }
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self._dir);
        }
    }

    fn event(kind: EventKind, unit: Option<UnitId>) -> Event {
        Event {
            v: EVENT_FORMAT_VERSION,
            at: 1_800_000_000,
            kind,
            property_id: Some(PropertyId::random()),
            unit_id: unit,
            carrier_id: None,
            driver_id: None,
            delivery_id: None,
            actor: None,
            salt: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    /// Not a Merkle tree: one "hash" per entry (its index), the root is the
    /// size. Enough to check what the store does around the integrator.
    struct Counting {
        fail: AtomicBool,
    }

    impl Integrator for Counting {
        fn frontier(&self, size: u64) -> Vec<u64> {
            size.checked_sub(1).into_iter().collect()
        }

        fn integrate(&self, size: u64, frontier: &[[u8; 32]], entries: &[StoredEntry]) -> Result<Integration, String> {
            if self.fail.load(Ordering::SeqCst) {
                return Err("integrator failed".into());
            }
            assert_eq!(frontier.len(), usize::from(size > 0));
            let mut hashes = Vec::new();
            for (offset, entry) in entries.iter().enumerate() {
                assert_eq!(entry.index, size + offset as u64);
                let mut hash = [0u8; 32];
                hash[..8].copy_from_slice(&entry.index.to_be_bytes());
                hashes.push((entry.index, hash));
            }
            let mut root = [0u8; 32];
            root[..8].copy_from_slice(&(size + entries.len() as u64).to_be_bytes());
            Ok(Integration { hashes, root, note: format!("size {}\n", size + entries.len() as u64), signed_at: 7 })
        }
    }

    #[tokio::test]
    async fn appends_sequence_and_read_back() {
        let store = TestStore::open().await;
        let integrator = Counting { fail: AtomicBool::new(false) };
        assert_eq!(store.latest_checkpoint().await.unwrap(), None);
        // A fresh log signs the empty tree once.
        let first = store.sequence(10, &integrator).await.unwrap().unwrap();
        assert_eq!((first.previous, first.size), (0, 0));
        assert_eq!(store.sequence(10, &integrator).await.unwrap(), None);

        let unit = UnitId::random();
        let events: Vec<Event> = (0..25).map(|i| event(EventKind::Unblocked, (i % 2 == 0).then_some(unit))).collect();
        assert_eq!(store.append_events(&events[..5]).await.unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(store.append_events(&events[5..]).await.unwrap(), (5..25).collect::<Vec<_>>());
        assert_eq!(store.log_state().await.unwrap(), LogState { appended: 25, integrated: 0 });

        // A failing integrator stores nothing.
        integrator.fail.store(true, Ordering::SeqCst);
        assert!(store.sequence(10, &integrator).await.is_err());
        assert_eq!(store.log_state().await.unwrap().integrated, 0);
        integrator.fail.store(false, Ordering::SeqCst);

        // Batches of at most 10, resuming where the last one ended.
        let mut sizes = Vec::new();
        while let Some(done) = store.sequence(10, &integrator).await.unwrap() {
            sizes.push(done.size);
        }
        assert_eq!(sizes, vec![10, 20, 25]);
        let latest = store.latest_checkpoint().await.unwrap().unwrap();
        assert_eq!((latest.size, latest.note.as_str()), (25, "size 25\n"));
        assert_eq!(store.checkpoint(10).await.unwrap().unwrap().size, 10);
        assert_eq!(store.checkpoint(11).await.unwrap(), None);
        let sizes: Vec<u64> = store.checkpoints_from(5, 10).await.unwrap().iter().map(|c| c.size).collect();
        assert_eq!(sizes, vec![10, 20, 25]);
        assert_eq!(store.checkpoints_from(0, 2).await.unwrap().len(), 2);

        // Hashes come back in the order asked, repeats included.
        let hashes = store.log_hashes(&[3, 0, 3]).await.unwrap();
        assert_eq!((hashes[0][7], hashes[1][7], hashes[2][7]), (3, 0, 3));
        assert!(matches!(store.log_hashes(&[99]).await, Err(StoreError::NotFound)));

        // Entries by scope, in index order, bounded.
        let mine = EntryFilter { unit: Some(unit), ..Default::default() };
        let found = store.log_entries(&mine, 0..25, 100).await.unwrap();
        assert_eq!(found.iter().map(|e| e.index).collect::<Vec<_>>(), (0..25).step_by(2).collect::<Vec<_>>());
        assert_eq!(found[0].bytes, events[0].to_canonical_bytes());
        assert_eq!(store.log_entries(&mine, 3..9, 2).await.unwrap().len(), 2);
        assert!(store.log_entries(&EntryFilter::default(), 0..25, 100).await.unwrap().is_empty());
        let all = EntryFilter { everything: true, ..Default::default() };
        assert_eq!(store.log_entries(&all, 0..25, 100).await.unwrap().len(), 25);
        let kinds = EntryFilter { kinds: vec!["unblocked"], ..Default::default() };
        assert_eq!(store.log_entries(&kinds, 0..25, 100).await.unwrap().len(), 25);
        let bad = EntryFilter { kinds: vec!["x' OR '1"], ..Default::default() };
        assert!(store.log_entries(&bad, 0..25, 100).await.is_err());

        // Cosignatures belong to a checkpoint.
        store.add_cosignature(25, "w1", "— w1 AAAA\n", 9).await.unwrap();
        store.add_cosignature(25, "w1", "— w1 BBBB\n", 10).await.unwrap();
        assert!(matches!(store.add_cosignature(26, "w1", "x", 9).await, Err(StoreError::NotFound)));
        let latest = store.latest_checkpoint().await.unwrap().unwrap();
        assert_eq!(latest.cosignatures.len(), 1);
        assert_eq!(latest.cosignatures[0].line, "— w1 BBBB\n");
    }

    #[tokio::test]
    async fn a_missing_entry_stops_the_sequencer() {
        let store = TestStore::open().await;
        let integrator = Counting { fail: AtomicBool::new(false) };
        store.append_events(&[event(EventKind::Unblocked, None), event(EventKind::Unblocked, None)]).await.unwrap();
        sqlx::query("DELETE FROM log_entries WHERE idx = 0").execute(&store.pool).await.unwrap();
        let err = store.sequence(10, &integrator).await.unwrap_err().to_string();
        assert!(err.contains("log entry 0 is missing"), "{err}");
    }
}
