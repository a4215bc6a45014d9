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
//! - Reads ([`Direct::principal_for_token`], [`Direct::access_context`]) use
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
//! - The access path's writes ([`Direct::claim_grant`],
//!   [`Direct::claim_grant_with_sequences`], [`Direct::next_lock_sequence`],
//!   [`Direct::record_access_request`]) are queued to the writer thread. It
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
//! - The other writes still run on sqlx's writer connection, with
//!   `synchronous = FULL`. A [`Turn`] lets one of the two writers write at a
//!   time, so this process's writers queue instead of sleeping in SQLite's
//!   busy handler; another process is kept out by SQLite's write lock
//!   (`BEGIN IMMEDIATE` with the busy timeout).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use doorman_domain::{
    AccessPoint, AccessRequestRecord, CarrierEnablement, CarrierId, DropSpot, Event, Grant, Lock, LockId, Principal,
    Property, PropertyId, UnitPreferences, UnixSeconds,
};
use rusqlite::{ffi, Connection, OpenFlags, ToSql};
use tokio::sync::oneshot;

use crate::audit::{append_rusqlite, entry_rows, EntryRow};
use crate::rows::*;
use crate::sql_store::sql;
use crate::{AccessContext, AccessContextQuery, LogIndex, StoreError, StoreResult};

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
/// Prepared statements kept per connection; more than the access path uses.
const STATEMENT_CACHE: usize = 32;
/// `$1` ... `$16`: the direct path binds the shared statements' numbered
/// placeholders by name.
const PLACEHOLDERS: [&str; 16] =
    ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15", "$16"];

pub(crate) struct Direct {
    path: PathBuf,
    busy_timeout: Duration,
    readers: Mutex<Vec<Connection>>,
    config: Mutex<ConfigCache>,
    /// To the writer thread; the thread ends when this is dropped.
    jobs: mpsc::Sender<Job>,
    turn: Turn,
}

/// A write the writer thread runs.
enum Write {
    Record { record: AccessRequestRecord, entries: Vec<EntryRow> },
    Claim { grant: Grant, record: AccessRequestRecord, now: UnixSeconds, number_doors: bool, entries: Vec<EntryRow> },
    NextSequence(LockId),
}

enum Written {
    /// The log indexes of the write's events.
    Logged(Vec<LogIndex>),
    Claim(Option<(Grant, Vec<LogIndex>)>),
    Sequence(i64),
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
    fn read<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path, self.busy_timeout)?;
                conn.pragma_update(None, "query_only", "ON").map_err(sqlite_error)?;
                conn
            }
        };
        let result = read(&conn);
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

    pub(crate) fn principal_for_token(&self, hash: &[u8; 32]) -> StoreResult<Option<Principal>> {
        let row =
            self.read(|conn| query_opt(conn, sql::PRINCIPAL_FOR_TOKEN, &[&&hash[..]], PrincipalRow::from_rusqlite))?;
        opt_into_domain(row)
    }

    pub(crate) fn access_context(&self, q: &AccessContextQuery<'_>) -> StoreResult<Option<AccessContext>> {
        self.read(|conn| {
            // One read transaction: every part from the same snapshot.
            execute(conn, "BEGIN", &[])?;
            let context = read_context(conn, q, &self.config);
            // Ends the read even after an error (`read` drops a connection
            // left in a transaction, but need not).
            let ended = execute(conn, "COMMIT", &[]);
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

    pub(crate) async fn claim_grant(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<bool> {
        let write = Write::Claim {
            grant: grant.clone(),
            record: record.clone(),
            now,
            number_doors: false,
            entries: entry_rows(events)?,
        };
        match self.write(write).await? {
            Written::Claim(won) => Ok(won.is_some()),
            _ => Err(mismatched()),
        }
    }

    pub(crate) async fn claim_grant_with_sequences(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
        let write = Write::Claim {
            grant: grant.clone(),
            record: record.clone(),
            now,
            number_doors: true,
            entries: entry_rows(events)?,
        };
        match self.write(write).await? {
            Written::Claim(won) => Ok(won),
            _ => Err(mismatched()),
        }
    }
}

/// What an access request reads of its property that only a change to the
/// building's configuration changes: the property, its access points, drop
/// spots and locks.
struct PropertyParts {
    property: Property,
    drop_spots: Vec<DropSpot>,
    access_points: Vec<AccessPoint>,
    locks: Vec<Lock>,
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
struct ConfigCache {
    version: i64,
    properties: HashMap<PropertyId, PropertyConfig>,
}

/// At most this many properties are kept; beyond, the cache starts afresh.
const MAX_CACHED_PROPERTIES: usize = 4096;

impl ConfigCache {
    /// For a reader whose snapshot has `version`: the property's parts, and
    /// `carrier`'s enablement if known (Some(None): not enabled there), or
    /// None. A newer version empties the cache first.
    fn get(
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
    fn put(
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

/// The parts of [`Direct::access_context`], inside its read transaction.
fn read_context(
    conn: &Connection,
    q: &AccessContextQuery<'_>,
    cache: &Mutex<ConfigCache>,
) -> StoreResult<Option<AccessContext>> {
    let property = q.property.to_string();
    let carrier = q.carrier.to_string();
    let version = query_opt(conn, sql::ACCESS_CONFIG_VERSION, &[], |row| row.get::<_, i64>(0))?
        .ok_or_else(|| StoreError::Backend("access_config_version has no row".into()))?;
    let cached = cache.lock().unwrap_or_else(PoisonError::into_inner).get(version, q.property, q.carrier);
    let (parts, known) = match cached {
        Some(found) => found,
        None => {
            let Some(found) = query_opt(conn, sql::GET_PROPERTY, &[&property], PropertyRow::from_rusqlite)? else {
                return Ok(None);
            };
            let drop_spots = query_all(conn, sql::LIST_DROP_SPOTS, &[&property], DropSpotRow::from_rusqlite)?;
            let access_points = query_all(conn, sql::LIST_ACCESS_POINTS, &[&property], AccessPointRow::from_rusqlite)?;
            let locks = query_all(conn, sql::LIST_LOCKS, &[&property], LockRow::from_rusqlite)?;
            let parts = PropertyParts {
                property: found.into_domain()?,
                drop_spots: all_into_domain(drop_spots)?,
                access_points: all_into_domain(access_points)?,
                locks: all_into_domain(locks)?,
            };
            (Arc::new(parts), None)
        }
    };
    let enablement = match known {
        Some(enablement) => enablement,
        None => {
            let row = query_opt(conn, sql::GET_ENABLEMENT, &[&property, &carrier], EnablementRow::from_rusqlite)?;
            let enablement = opt_into_domain(row)?;
            cache.lock().unwrap_or_else(PoisonError::into_inner).put(version, &parts, q.carrier, &enablement);
            enablement
        }
    };
    let driver = query_opt(conn, sql::GET_DRIVER, &[&q.driver.to_string()], DriverRow::from_rusqlite)?;
    let delivery = opt_into_domain(query_opt(
        conn,
        sql::FIND_DELIVERY,
        &[&carrier, &q.tracking_number],
        DeliveryRow::from_rusqlite,
    )?)?;
    let (block, preferences) = match &delivery {
        Some(d) => {
            let unit = d.unit_id.to_string();
            let block = query_opt(conn, sql::ACTIVE_BLOCK, &[&unit, &q.now], BlockRow::from_rusqlite)?;
            let preferences = query_opt(conn, sql::GET_PREFERENCES, &[&unit], PreferencesRow::from_rusqlite)?;
            (opt_into_domain(block)?, opt_into_domain(preferences)?.unwrap_or_default())
        }
        None => (None, UnitPreferences::default()),
    };
    Ok(Some(AccessContext {
        property: parts.property.clone(),
        driver: opt_into_domain(driver)?,
        delivery,
        enablement,
        block,
        preferences,
        drop_spots: parts.drop_spots.clone(),
        access_points: parts.access_points.clone(),
        locks: parts.locks.clone(),
    }))
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

/// Maps an SQLite error as `db_error` maps sqlx's: schema refusals
/// (unique, foreign key, check) are conflicts.
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

/// Pairs `values` with the placeholders `$1`, `$2`, ... in order.
fn numbered<'a>(values: &'a [&'a dyn ToSql]) -> StoreResult<Vec<(&'static str, &'a dyn ToSql)>> {
    if values.len() > PLACEHOLDERS.len() {
        return Err(StoreError::Backend("too many values for one statement".into()));
    }
    Ok(PLACEHOLDERS.iter().copied().zip(values.iter().copied()).collect())
}

fn query_all<R>(
    conn: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
) -> StoreResult<Vec<R>> {
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let rows = statement.query_map(numbered(values)?.as_slice(), row).map_err(sqlite_error)?;
    rows.collect::<rusqlite::Result<Vec<R>>>().map_err(sqlite_error)
}

fn query_opt<R>(
    conn: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
) -> StoreResult<Option<R>> {
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let mut rows = statement.query_map(numbered(values)?.as_slice(), row).map_err(sqlite_error)?;
    rows.next().transpose().map_err(sqlite_error)
}

/// Runs a statement that returns no rows; how many rows it changed.
fn execute(conn: &Connection, sql: &str, values: &[&dyn ToSql]) -> StoreResult<usize> {
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    statement.execute(numbered(values)?.as_slice()).map_err(sqlite_error)
}

// --- the writer thread --------------------------------------------------------

/// A committed group on its way to the flusher: each caller with its result.
type Flush = Vec<(oneshot::Sender<StoreResult<Written>>, StoreResult<Written>)>;

/// Until the store is dropped: take what is queued, run it as one group,
/// hand the committed group to the flusher, which answers its callers once
/// it is on disk.
fn write_loop(mut conn: Connection, queue: &mpsc::Receiver<Job>, turn: &Turn, flusher: &mpsc::Sender<Flush>) {
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
            run_group(&mut conn, jobs.iter().map(|job| &job.write))
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
    conn: &mut Connection,
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
    if let Err(e) = execute(conn, "COMMIT", &[]) {
        rollback(conn);
        return Err(format!("commit failed: {e}"));
    }
    Ok(results)
}

fn begin(conn: &Connection) -> Result<(), String> {
    execute(conn, "BEGIN IMMEDIATE", &[]).map(drop).map_err(|e| e.to_string())
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
    execute(conn, "SAVEPOINT write", &[])?;
    let result = apply(conn, write);
    if result.is_err() {
        if conn.is_autocommit() {
            return Err(result.err().unwrap_or_else(|| StoreError::Backend("rolled back".into())));
        }
        execute(conn, "ROLLBACK TO write", &[])?;
    }
    execute(conn, "RELEASE write", &[])?;
    Ok(result)
}

/// A write changes nothing unless it succeeds whole: a claim that must lose
/// finds out by a read before it writes anything, so only an error leaves
/// changes to undo (by the group's rollback, or the write's savepoint).
fn apply(conn: &Connection, write: &Write) -> StoreResult<Written> {
    Ok(match write {
        Write::Record { record, entries } => {
            insert_access_request(conn, record)?;
            // Last in the write, as on the sqlx path (see the audit module).
            Written::Logged(append_rusqlite(conn, entries)?)
        }
        Write::NextSequence(lock) => Written::Sequence(next_sequence(conn, *lock)?),
        Write::Claim { grant, record, now, number_doors, entries } => {
            if live_grant_held(conn, grant, *now)? {
                return Ok(Written::Claim(None));
            }
            let mut grant = grant.clone();
            if *number_doors {
                for door in &mut grant.doors {
                    door.sequence = Some(next_sequence(conn, door.lock_id)?);
                }
            }
            insert_grant(conn, &grant)?;
            insert_access_request(conn, record)?;
            let indexes = append_rusqlite(conn, entries)?;
            Written::Claim(Some((grant, indexes)))
        }
    })
}

/// Whether one of the delivery's grants is live, so that the claim loses.
/// The writer holds SQLite's write lock for the whole group, so no other
/// claim (of this process or another) can come between this read and the
/// claim's writes.
fn live_grant_held(conn: &Connection, grant: &Grant, now: UnixSeconds) -> StoreResult<bool> {
    Ok(query_opt(conn, sql::LIVE_GRANT_HELD, &[&grant.delivery_id.to_string(), &now], |row| row.get::<_, i64>(0))?
        .is_some())
}

fn next_sequence(conn: &Connection, lock: LockId) -> StoreResult<i64> {
    query_opt(conn, sql::NEXT_LOCK_SEQUENCE, &[&lock.to_string()], |row| row.get::<_, i64>(0))?
        .ok_or(StoreError::NotFound)
}

fn insert_grant(conn: &Connection, grant: &Grant) -> StoreResult<()> {
    execute(
        conn,
        sql::INSERT_GRANT,
        &[
            &grant.id.to_string(),
            &grant.delivery_id.to_string(),
            &grant.driver_id.to_string(),
            &grant.carrier_id.to_string(),
            &grant.property_id.to_string(),
            &grant.unit_id.to_string(),
            &grant.drop_spot_id.to_string(),
            &to_json(&grant.doors, "granted doors")?,
            &grant.issued_at,
            &grant.expires_at,
            &grant.revoked_at,
        ],
    )?;
    Ok(())
}

fn insert_access_request(conn: &Connection, r: &AccessRequestRecord) -> StoreResult<()> {
    execute(
        conn,
        sql::INSERT_ACCESS_REQUEST,
        &[
            &r.id.to_string(),
            &r.driver_id.to_string(),
            &r.carrier_id.to_string(),
            &r.property_id.to_string(),
            &r.delivery_id.map(|id| id.to_string()),
            &r.unit_id.map(|id| id.to_string()),
            &r.position.lat,
            &r.position.lon,
            &r.at,
            &r.grant_id.map(|id| id.to_string()),
            &r.refusal.map(|reason| reason.as_str()),
        ],
    )?;
    Ok(())
}
