//! SQLite's access path without a thread hand-off per statement: its reads
//! run on the calling thread, its writes go to one writer thread that
//! commits them in groups, one flush to disk per group.
//!
//! Why: sqlx runs each SQLite connection on a thread of its own and hands
//! every statement over and back, and its pool pings a connection whenever
//! it lends one or takes it back. An access request made some thirty such
//! round trips, most of its cost on two cores, and its two write
//! transactions queued one behind the other on the single writer connection.
//!
//! - Reads (`principal_for_token` through [`Direct::read`],
//!   [`Direct::access_context`]) use
//!   a connection of their own on the calling thread: in WAL mode a reader
//!   never waits for the writer, and a handful of indexed lookups take
//!   microseconds, less than a hand-off to another thread would (it blocks
//!   the async task for that long, as signing a credential does; only a
//!   reader that finds the WAL being recovered waits, up to the busy
//!   timeout). The access context is read in one read transaction, so in
//!   one snapshot. Only the property's configuration is kept between calls
//!   (the property, its doors, drop spots and locks, carriers' enablements:
//!   [`ConfigCache`]), and used only under the configuration version the
//!   same snapshot reads, which triggers bump in every transaction that
//!   changes any of it (migration 0012); everything else is read afresh
//!   (SQLite itself drops a connection's page cache when another connection
//!   committed).
//! - The access path's writes ([`Direct::claim`], with or without numbering
//!   the doors, [`Direct::next_lock_sequence`],
//!   [`Direct::record_access_request`]), and the lock fleet's verified
//!   events ([`Direct::append_lock_event`]), are queued to the writer thread. It
//!   takes what is queued (at most [`MAX_BATCH`]: a group is what arrived
//!   while the previous one ran), runs it in one `BEGIN IMMEDIATE`
//!   transaction and commits once. A write that fails must fail alone: the
//!   group first runs without savepoints (a claim that would lose finds out
//!   by a read before it writes anything, so in the usual case nothing needs
//!   undoing); if any write fails, that attempt is rolled back whole and the
//!   group runs again with a savepoint around each write. The writer decides
//!   nothing from memory: sequence numbers are read and written, and a
//!   delivery's live grants read, in the transaction, under SQLite's write
//!   lock, so the guarantees hold across processes as before.
//! - A claim or a refusal record carries its transparency-log events,
//!   encoded by the caller before the write is queued: they take their
//!   indexes from the log counter and are written last in the write, so they
//!   commit, or roll back, with it.
//! - Durability (group commit, flushed in a pipeline): the writer
//!   connection runs with `synchronous = NORMAL`, so its COMMIT appends the
//!   group's frames to the WAL without waiting for the disk. The group then
//!   goes to a flusher thread, which `fdatasync`s the WAL file (once for
//!   every group that arrived while it flushed) and only then answers the
//!   group's callers: an `Ok` still means on disk. Meanwhile the writer runs
//!   the next group, so running writes and waiting for the disk overlap.
//!   WAL frames are ordered: a flush that covers a commit covers every
//!   earlier one. A failed flush fails every group it covered and stops the
//!   writer (after a failed fsync the kernel's page state cannot be
//!   trusted); the service must be restarted. Until its flush, a committed
//!   group is visible to readers: a read may show a write microseconds
//!   before it is durable, never a write that will later be undone while
//!   the process lives. An error in the commit fails the whole group, and
//!   nothing of it is stored.
//! - Checkpoints stay automatic in the writer's commits (every
//!   [`WAL_AUTOCHECKPOINT`] WAL pages): a checkpoint that runs while no other
//!   write can start completes, so the WAL is reused from its start instead
//!   of growing (a growing file costs the file system a zeroed block per
//!   frame). In NORMAL mode SQLite syncs the WAL before a checkpoint and the
//!   database file after it, so a checkpointed frame is durable in the
//!   database before the WAL is reused.
//! - What the path runs is not written here: the reads and writes are the
//!   store's operations (`delivery::read_context`, `delivery::claim_in`,
//!   `delivery::record_in`, `property::next_lock_sequence_in`, the log's
//!   `audit::append_rows`), run through [`Rusqlite`], this module's
//!   [`Exec`]; this module adds the threads, the group commit and the cache.
//! - Beyond the access path: the store's single-statement reads and writes
//!   (`Backend::one`, `Backend::all`, `Backend::write_one`, which most
//!   store methods are made of: a lock event's lookups, a delivery's
//!   announcement) and a delivery's update and completion run here too,
//!   a write as [`Direct::write_with`] (a closure the writer runs in its
//!   group, again in a savepoint if another write of the group failed).
//! - The other writes (transactions of several statements that read
//!   between them) still run on sqlx's writer connection, with
//!   `synchronous = FULL`. A [`Turn`] lets one of the two writers write at a
//!   time, so this process's writers queue instead of sleeping in SQLite's
//!   busy handler; another process is kept out by SQLite's write lock
//!   (`BEGIN IMMEDIATE` with the busy timeout).

use std::collections::HashMap;
use std::future::{ready, Future};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use doorman_domain::{
    AccessPoint, AccessRequestRecord, CarrierEnablement, CarrierId, DropSpot, Event, Grant, Lock, LockId, Property,
    PropertyId, UnixSeconds,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, CachedStatement, Connection, OpenFlags, ToSql};
use tokio::sync::oneshot;

use crate::audit::{entry_rows, EntryRow, LogIndex};
use crate::delivery::{claim_in, read_context, record_in};
use crate::doors::LockEventWrites;
use crate::exec::{ready_now, Cells, Dialect, Exec, Record, Value};
use crate::fleet::{append_lock_event_in, StoredLockEvent};
use crate::property::next_lock_sequence_in;
use crate::{AccessContext, AccessContextQuery, StoreError, StoreResult};

/// This process's turn to write to the database file: the writer thread
/// holds it for a group, a sqlx write transaction (`WriteTx`) from its
/// `BEGIN` to its end. Whoever holds it must not wait for a direct write
/// (the writer thread would wait for the turn: a deadlock).
pub(crate) type Turn = Arc<tokio::sync::Mutex<()>>;

/// The most writes one commit takes; bounds a group's latency under load.
pub(crate) const MAX_BATCH: usize = 64;
/// WAL pages after which the writer's commit checkpoints (SQLite's default
/// is 1000). A checkpoint copies each page the WAL holds once, however many
/// commits rewrote it (the last page of every index the access path appends
/// to, the pages of the by-delivery index): over 4000 pages fewer copies
/// and fewer flushes per request, measured about 5% more access requests per
/// second; the WAL stays within some 16 MB.
const WAL_AUTOCHECKPOINT: i64 = 4000;
/// Reader connections kept open between calls.
const MAX_IDLE_READERS: usize = 8;
/// Prepared statements kept per connection; more than the hot paths use
/// (the access path, a delivery's lifecycle, the lock fleet's intake).
const STATEMENT_CACHE: usize = 128;

pub(crate) struct Direct {
    path: PathBuf,
    busy_timeout: Duration,
    readers: Mutex<Vec<Connection>>,
    config: Mutex<ConfigCache>,
    /// To the writer thread; the thread ends when this is dropped.
    jobs: mpsc::Sender<Job>,
    turn: Turn,
}

/// A claim as the writer thread runs it (`delivery::claim_in`), its log
/// entries encoded.
pub(crate) struct Claim {
    pub grant: Grant,
    pub record: AccessRequestRecord,
    pub now: UnixSeconds,
    pub number_doors: bool,
    pub entries: Vec<EntryRow>,
}

/// A write the writer thread runs.
enum Write {
    Record {
        record: AccessRequestRecord,
        entries: Vec<EntryRow>,
    },
    Claim(Claim),
    NextSequence(LockId),
    /// A verified lock event with what it changes at the door and its log entries.
    LockEvent {
        event: Box<StoredLockEvent>,
        previous: u64,
        writes: Box<LockEventWrites>,
        entries: Vec<EntryRow>,
    },
    /// Any other write of the store (see [`Direct::write_with`]): the rows it changed.
    Other(Box<Run>),
}

/// A store operation's write as the writer thread runs it: it may run more
/// than once (again, in a savepoint, when another write of its group
/// failed), so it owns what it writes.
type Run = dyn Fn(&mut Rusqlite<'_>) -> StoreResult<u64> + Send;

enum Written {
    /// The log indexes of the write's events.
    Logged(Vec<LogIndex>),
    Claim(Option<(Grant, Vec<LogIndex>)>),
    Sequence(i64),
    Changed(u64),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<StoreResult<Written>>,
}

impl Direct {
    /// Opens the writer connection and starts the writer thread. The file
    /// must exist, in WAL mode, migrated.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let writer = connect(path, busy_timeout)?;
        // NORMAL: COMMIT does not wait for the disk; the flusher thread
        // fsyncs the WAL before anyone is answered (see the module docs).
        writer.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite_error)?;
        writer.pragma_update(None, "foreign_keys", "ON").map_err(sqlite_error)?;
        writer.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT).map_err(sqlite_error)?;
        // Savepoints keep their undo pages in a sub-journal: in memory, not
        // in a temporary file created and deleted for every write.
        writer.pragma_update(None, "temp_store", "MEMORY").map_err(sqlite_error)?;
        let mode: String = writer.pragma_query_value(None, "journal_mode", |r| r.get(0)).map_err(sqlite_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("SQLite journal mode is {mode}, not WAL")));
        }
        let wal = wal_path(path);
        let turn = Turn::default();
        let (jobs, queue) = mpsc::channel();
        let (flushes, flush_queue) = mpsc::channel();
        let writer_turn = turn.clone();
        let spawn = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(run)
                .map(drop)
                .map_err(|e| StoreError::Backend(format!("cannot start the SQLite {name}: {e}")))
        };
        spawn("doorman-sqlite-flusher", Box::new(move || flush_loop(&wal, &flush_queue)))?;
        spawn("doorman-sqlite-writer", Box::new(move || write_loop(writer, &queue, &writer_turn, &flushes)))?;
        Ok(Self {
            path: path.to_path_buf(),
            busy_timeout,
            readers: Mutex::new(Vec::new()),
            config: Mutex::default(),
            jobs,
            turn,
        })
    }

    pub(crate) fn turn(&self) -> &Turn {
        &self.turn
    }

    // --- reads ----------------------------------------------------------------

    /// Runs `read` on an idle reader connection (opening one if none is idle).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&mut Rusqlite<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path, self.busy_timeout)?;
                conn.pragma_update(None, "query_only", "ON").map_err(sqlite_error)?;
                conn
            }
        };
        let result = read(&mut Rusqlite(&conn));
        // A connection left inside a transaction would read an old snapshot
        // from then on: close it instead of keeping it.
        if conn.is_autocommit() {
            let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    pub(crate) fn access_context(&self, q: &AccessContextQuery<'_>) -> StoreResult<Option<AccessContext>> {
        self.read(|ex| {
            // One read transaction: every part from the same snapshot.
            run(ex.0, "BEGIN")?;
            let context = ready_now(read_context(ex, q, Some(&self.config)));
            // Ends the read even after an error (`read` drops a connection
            // left in a transaction, but need not).
            let ended = run(ex.0, "COMMIT");
            let context = context?;
            ended?;
            Ok(context)
        })
    }

    // --- writes ---------------------------------------------------------------

    /// Queues `write` for the writer thread and waits for its commit.
    async fn write(&self, write: Write) -> StoreResult<Written> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { write, reply }).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    pub(crate) async fn record_access_request(
        &self,
        record: &AccessRequestRecord,
        events: &[Event],
    ) -> StoreResult<Vec<LogIndex>> {
        match self.write(Write::Record { record: record.clone(), entries: entry_rows(events)? }).await? {
            Written::Logged(indexes) => Ok(indexes),
            _ => Err(mismatched()),
        }
    }

    pub(crate) async fn next_lock_sequence(&self, lock: LockId) -> StoreResult<i64> {
        match self.write(Write::NextSequence(lock)).await? {
            Written::Sequence(next) => Ok(next),
            _ => Err(mismatched()),
        }
    }

    /// Queues a lock event (see `fleet::append_lock_event_in`): the fleet's
    /// intake stores many small events, each worth a flush of its own
    /// through sqlx; here they share a group's.
    pub(crate) async fn append_lock_event(
        &self,
        event: &StoredLockEvent,
        previous: u64,
        writes: &LockEventWrites,
        entries: Vec<EntryRow>,
    ) -> StoreResult<()> {
        let write =
            Write::LockEvent { event: Box::new(event.clone()), previous, writes: Box::new(writes.clone()), entries };
        match self.write(write).await? {
            Written::Logged(_) => Ok(()),
            _ => Err(mismatched()),
        }
    }

    /// Queues any write of the store: `run` runs in the writer's next
    /// group, inside its transaction, and its answer (the rows it changed,
    /// or its error) comes once the group is on disk. `run` must decide
    /// from what it reads in the transaction, as every write does here.
    pub(crate) async fn write_with(
        &self,
        run: impl Fn(&mut Rusqlite<'_>) -> StoreResult<u64> + Send + 'static,
    ) -> StoreResult<u64> {
        match self.write(Write::Other(Box::new(run))).await? {
            Written::Changed(changed) => Ok(changed),
            _ => Err(mismatched()),
        }
    }

    /// Queues a claim (see `delivery::claim_in`).
    pub(crate) async fn claim(&self, claim: Claim) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
        match self.write(Write::Claim(claim)).await? {
            Written::Claim(won) => Ok(won),
            _ => Err(mismatched()),
        }
    }
}

/// What an access request reads of its property that only a change to the
/// building's configuration changes: the property, its access points, drop
/// spots and locks.
pub(crate) struct PropertyParts {
    pub property: Property,
    pub drop_spots: Vec<DropSpot>,
    pub access_points: Vec<AccessPoint>,
    pub locks: Vec<Lock>,
}

/// A property's parts with the enablement of each carrier asked about
/// (None: not enabled there).
struct PropertyConfig {
    parts: Arc<PropertyParts>,
    enablements: HashMap<CarrierId, Option<CarrierEnablement>>,
}

/// Properties' configuration as read under one `access_config_version`
/// (migration 0012: triggers bump it in every transaction that changes any
/// of it, from any connection or process). A reader uses what is here only
/// when the version in its own read transaction is the same, so it uses
/// exactly what the database holds in its snapshot; a newer version empties
/// the cache, and a reader with an older snapshot reads for itself.
#[derive(Default)]
pub(crate) struct ConfigCache {
    version: i64,
    properties: HashMap<PropertyId, PropertyConfig>,
}

/// At most this many properties are kept; beyond, the cache starts afresh.
const MAX_CACHED_PROPERTIES: usize = 4096;

impl ConfigCache {
    /// For a reader whose snapshot has `version`: the property's parts, and
    /// `carrier`'s enablement if known (Some(None): not enabled there), or
    /// None. A newer version empties the cache first.
    pub(crate) fn get(
        &mut self,
        version: i64,
        property: PropertyId,
        carrier: CarrierId,
    ) -> Option<(Arc<PropertyParts>, Option<Option<CarrierEnablement>>)> {
        if version > self.version {
            self.version = version;
            self.properties.clear();
        }
        if version != self.version {
            return None;
        }
        let config = self.properties.get(&property)?;
        Some((config.parts.clone(), config.enablements.get(&carrier).cloned()))
    }

    /// Keeps what a reader read under `version`, unless the cache has moved
    /// on to another version meanwhile.
    pub(crate) fn put(
        &mut self,
        version: i64,
        parts: &Arc<PropertyParts>,
        carrier: CarrierId,
        enablement: &Option<CarrierEnablement>,
    ) {
        if version != self.version {
            return;
        }
        let id = parts.property.id;
        if self.properties.len() >= MAX_CACHED_PROPERTIES && !self.properties.contains_key(&id) {
            self.properties.clear();
        }
        let config = self
            .properties
            .entry(id)
            .or_insert_with(|| PropertyConfig { parts: parts.clone(), enablements: HashMap::new() });
        config.enablements.insert(carrier, enablement.clone());
    }
}

fn writer_gone() -> StoreError {
    StoreError::Backend("the SQLite writer has stopped".into())
}

fn mismatched() -> StoreError {
    StoreError::Backend("the SQLite writer answered another kind of write".into())
}

fn connect(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| StoreError::Backend(format!("opening SQLite: {e}")))?;
    conn.busy_timeout(busy_timeout).map_err(sqlite_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Maps an SQLite error as `sqlx_exec::db_error` maps sqlx's: schema
/// refusals (unique, foreign key, check) are conflicts.
fn sqlite_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(e, message)
            if matches!(
                e.extended_code,
                ffi::SQLITE_CONSTRAINT_UNIQUE
                    | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    | ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                    | ffi::SQLITE_CONSTRAINT_CHECK
            ) =>
        {
            StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
        }
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        _ => StoreError::Backend(error.to_string()),
    }
}

/// A connection of the direct path as an [`Exec`]: each call runs its
/// statement (prepared once per connection) and returns a ready future.
pub(crate) struct Rusqlite<'c>(&'c Connection);

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match self {
            Value::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Owned(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Id(Some(id)) => ToSqlOutput::Borrowed(ValueRef::Text(id.as_str().as_bytes())),
            Value::Int(Some(n)) => ToSqlOutput::Owned(Owned::Integer(*n)),
            Value::Real(x) => ToSqlOutput::Owned(Owned::Real(*x)),
            Value::Bool(b) => ToSqlOutput::Owned(Owned::Integer(i64::from(*b))),
            Value::Blob(Some(bytes)) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Value::OwnedBlob(Some(bytes)) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Value::Text(None)
            | Value::Owned(None)
            | Value::Id(None)
            | Value::Int(None)
            | Value::Blob(None)
            | Value::OwnedBlob(None) => ToSqlOutput::Owned(Owned::Null),
        })
    }
}

/// The statement, from the connection's cache, with `values` bound to its
/// `$n` placeholders (by name: `$n` takes `values[n - 1]`, wherever and
/// however often it stands).
fn prepare<'c>(conn: &'c Connection, sql: &str, values: &[Value<'_>]) -> StoreResult<CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    for index in 1..=statement.parameter_count() {
        let number = statement.parameter_name(index).and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok());
        let value = number
            .and_then(|n| values.get(n.wrapping_sub(1)))
            .ok_or_else(|| StoreError::Backend(format!("no value for parameter {index} of a statement")))?;
        statement.raw_bind_parameter(index, value).map_err(sqlite_error)?;
    }
    Ok(statement)
}

/// Runs a statement without values (transaction control).
fn run(conn: &Connection, sql: &str) -> StoreResult<usize> {
    prepare(conn, sql, &[])?.raw_execute().map_err(sqlite_error)
}

/// The first row of a statement, read as `R`.
fn first<R: Record>(conn: &Connection, sql: &str, values: &[Value<'_>]) -> StoreResult<Option<R>> {
    let mut statement = prepare(conn, sql, values)?;
    let mut rows = statement.raw_query();
    let row = rows.next().map_err(sqlite_error)?;
    row.map(|row| R::read(&mut RowCells { row, next: 0 })).transpose()
}

/// Every row of a statement, each read as `R`.
fn all<R: Record>(conn: &Connection, sql: &str, values: &[Value<'_>]) -> StoreResult<Vec<R>> {
    let mut statement = prepare(conn, sql, values)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        out.push(R::read(&mut RowCells { row, next: 0 })?);
    }
    Ok(out)
}

impl Exec for Rusqlite<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> impl Future<Output = StoreResult<u64>> + Send {
        let changed = prepare(self.0, sql, values).and_then(|mut s| s.raw_execute().map_err(sqlite_error));
        ready(changed.map(|n| n as u64))
    }

    fn fetch_optional<R: Record + Send>(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Option<R>>> + Send {
        ready(first(self.0, sql, values))
    }

    fn fetch_all<R: Record + Send>(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Vec<R>>> + Send {
        ready(all(self.0, sql, values))
    }
}

/// A rusqlite row as [`Cells`].
struct RowCells<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    next: usize,
}

impl RowCells<'_, '_> {
    fn cell(&mut self) -> StoreResult<ValueRef<'_>> {
        self.next += 1;
        self.row.get_ref(self.next - 1).map_err(sqlite_error)
    }
}

fn unreadable(error: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Backend(format!("a stored value does not read: {error}"))
}

impl Cells for RowCells<'_, '_> {
    fn opt_str(&mut self) -> StoreResult<Option<&str>> {
        self.cell()?.as_str_or_null().map_err(unreadable)
    }

    fn opt_i64(&mut self) -> StoreResult<Option<i64>> {
        self.cell()?.as_i64_or_null().map_err(unreadable)
    }

    fn f64(&mut self) -> StoreResult<f64> {
        match self.cell()? {
            ValueRef::Integer(n) => Ok(n as f64),
            other => other.as_f64().map_err(unreadable),
        }
    }

    fn bool(&mut self) -> StoreResult<bool> {
        Ok(self.cell()?.as_i64().map_err(unreadable)? != 0)
    }

    fn opt_blob(&mut self) -> StoreResult<Option<&[u8]>> {
        self.cell()?.as_blob_or_null().map_err(unreadable)
    }
}

// --- the writer thread --------------------------------------------------------

/// A committed group on its way to the flusher: each caller with its result.
type Flush = Vec<(oneshot::Sender<StoreResult<Written>>, StoreResult<Written>)>;

/// Until the store is dropped: take what is queued, run it as one group,
/// hand the committed group to the flusher, which answers its callers once
/// it is on disk.
fn write_loop(conn: Connection, queue: &mpsc::Receiver<Job>, turn: &Turn, flusher: &mpsc::Sender<Flush>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let outcome = {
            let _turn = turn.blocking_lock();
            run_group(&conn, jobs.iter().map(|job| &job.write))
        };
        match outcome {
            Ok(results) => {
                let group: Flush = jobs.into_iter().map(|job| job.reply).zip(results).collect();
                if let Err(mpsc::SendError(group)) = flusher.send(group) {
                    // The flusher stopped after a failed flush: nothing
                    // written from now on can be promised durable.
                    fail(group, "the SQLite WAL could not be flushed earlier; restart the service");
                    return;
                }
            }
            Err(why) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Backend(why.clone())));
                }
            }
        }
    }
}

fn fail(group: Flush, why: &str) {
    for (reply, _) in group {
        let _ = reply.send(Err(StoreError::Backend(why.into())));
    }
}

/// Makes committed groups durable: flush the WAL once for every group
/// queued, then answer their callers (a caller that has gone away loses
/// nothing: its write stands, as any committed write does). Stops at the
/// first failed flush.
fn flush_loop(wal: &Path, queue: &mpsc::Receiver<Flush>) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = queue.recv() {
        let mut groups = vec![first];
        groups.extend(queue.try_iter());
        let flushed = match &file {
            Some(f) => f.sync_data(),
            // The WAL exists once a group has committed; it is never
            // replaced while connections to the database are open.
            None => std::fs::File::open(wal).and_then(|f| f.sync_data().map(|()| f)).map(|f| file = Some(f)),
        };
        match flushed {
            Ok(()) => {
                for (reply, result) in groups.into_iter().flatten() {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "flushing the SQLite WAL failed; the writer stops");
                let why = format!("flushing the SQLite WAL failed: {e}");
                for group in groups {
                    fail(group, &why);
                }
                return;
            }
        }
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Runs the writes in one transaction: one result per write, or Err (and
/// nothing stored) if the group as a whole failed.
///
/// First without savepoints: a claim that would lose is found out by a read
/// before it writes anything, so a group where every write succeeds needs no
/// undo, and SQLite's savepoints (a copy of every page a write touches, kept
/// in case it is rolled back) were a fifth of the writer's time. If any write
/// fails, that attempt is rolled back whole and the group runs again with a
/// savepoint around each write, so that the failing one fails alone. Nobody
/// sees the first attempt: results are answered after the commit.
fn run_group<'a>(
    conn: &Connection,
    writes: impl ExactSizeIterator<Item = &'a Write> + Clone,
) -> Result<Vec<StoreResult<Written>>, String> {
    begin(conn)?;
    let whole: StoreResult<Vec<Written>> = writes.clone().map(|write| apply(conn, write)).collect();
    let results = match whole {
        Ok(written) => written.into_iter().map(Ok).collect(),
        Err(_) => {
            rollback(conn);
            begin(conn)?;
            let mut results = Vec::with_capacity(writes.len());
            for write in writes {
                match run_one(conn, write) {
                    Ok(result) => results.push(result),
                    Err(broken) => {
                        // The transaction can no longer be trusted (SQLite
                        // rolled it back after an I/O error, or a savepoint
                        // could not be undone): none of the group is kept.
                        rollback(conn);
                        return Err(format!("the write group was rolled back: {broken}"));
                    }
                }
            }
            results
        }
    };
    if let Err(e) = run(conn, "COMMIT") {
        rollback(conn);
        return Err(format!("commit failed: {e}"));
    }
    Ok(results)
}

fn begin(conn: &Connection) -> Result<(), String> {
    run(conn, "BEGIN IMMEDIATE").map(drop).map_err(|e| e.to_string())
}

/// Ends the open transaction, if SQLite has not already ended it.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// One write: a claim or a record with its log entries in a savepoint (on
/// its error everything it did is rolled back to the savepoint, the log
/// counter included), a single statement as it is. The outer error means
/// the group's transaction is broken.
fn run_one(conn: &Connection, write: &Write) -> StoreResult<StoreResult<Written>> {
    if matches!(write, Write::NextSequence(_)) {
        // One statement: SQLite undoes a failed statement by itself and
        // the transaction goes on, unless the failure ended it.
        let result = apply(conn, write);
        if result.is_err() && conn.is_autocommit() {
            return Err(result.err().unwrap_or_else(|| StoreError::Backend("rolled back".into())));
        }
        return Ok(result);
    }
    run(conn, "SAVEPOINT write")?;
    let result = apply(conn, write);
    if result.is_err() {
        if conn.is_autocommit() {
            return Err(result.err().unwrap_or_else(|| StoreError::Backend("rolled back".into())));
        }
        run(conn, "ROLLBACK TO write")?;
    }
    run(conn, "RELEASE write")?;
    Ok(result)
}

/// A write changes nothing unless it succeeds whole: a claim that must lose
/// finds out by a read before it writes anything, so only an error leaves
/// changes to undo (by the group's rollback, or the write's savepoint).
fn apply(conn: &Connection, write: &Write) -> StoreResult<Written> {
    let ex = &mut Rusqlite(conn);
    Ok(match write {
        Write::Record { record, entries } => Written::Logged(ready_now(record_in(ex, record, entries))?),
        Write::NextSequence(lock) => {
            Written::Sequence(ready_now(next_lock_sequence_in(ex, *lock))?.ok_or(StoreError::NotFound)?)
        }
        Write::Claim(c) => {
            Written::Claim(ready_now(claim_in(ex, &c.grant, &c.record, c.now, c.number_doors, &c.entries))?)
        }
        Write::LockEvent { event, previous, writes, entries } => {
            ready_now(append_lock_event_in(ex, event, *previous, writes, entries))?;
            Written::Logged(Vec::new())
        }
        Write::Other(run) => Written::Changed(run(ex)?),
    })
}
