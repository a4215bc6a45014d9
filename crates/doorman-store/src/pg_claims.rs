//! PostgreSQL group commit for access claims.
//!
//! A claim ends by taking log indexes from the one counter row
//! (`audit::append_rows`), whose row lock it then holds until its commit
//! is flushed: one claim at a time, each paying a whole WAL flush, however
//! many are in flight. Here the claims of a process are queued to one
//! writer task, which claims every one waiting (up to a limit) in one
//! transaction and appends all their entries at once: one counter bump and
//! one flush for all of them. `synchronous_commit` stays on: each claim is
//! answered after its transaction's commit is durable, as before.
//!
//! A batch is claimed set-wise (see [`together`]): one statement per step
//! for the whole group, not one per claim, so a group of 64 costs about
//! nine round trips instead of five for each claim. Its deliveries' rows
//! are locked first, in one order (by id) that every process follows: two
//! processes' batches that share parcels then take turns instead of
//! deadlocking. A claim in a batch gets the answer it would have had alone,
//! in the batch's order (the live-grant check sees the grants won before it
//! in the batch). If any statement of a batch fails (a deadlock with
//! another process's batch, an unknown lock), nothing of it was written and
//! each of its claims is run again alone, in a transaction of its own
//! (`delivery::claim_in`, as a claim alone always is), so a claim gets the
//! answer it would have had alone; a claim alone that the database
//! chose as a deadlock's victim is run again (up to [`DEADLOCK_RETRIES`]
//! times). A failed commit is answered as a failure to each claim (whether
//! it committed is unknown).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use doorman_domain::{AccessRequestRecord, Grant, LockId, UnixSeconds};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{append_rows, multi_insert, placeholders, EntryRow, LogIndex};
use crate::delivery::{claim_in, grant_values, record_values, GRANT_VALUES, RECORD_VALUES};
use crate::exec::{Exec, Value};
use crate::records::columns;
use crate::sqlx_exec::db_error;
use crate::{StoreError, StoreResult};

/// The environment variable that bounds the claims per transaction (1
/// turns group commit off).
pub const CLAIM_BATCH_ENV: &str = "DOORMAN_POSTGRES_CLAIM_BATCH";
/// Claims per transaction unless [`CLAIM_BATCH_ENV`] says otherwise.
pub const DEFAULT_CLAIM_BATCH: usize = 64;

/// How long the writer waits for its connection (the pool's own wait).
const WRITER_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many times a claim alone is run again after losing a deadlock.
const DEADLOCK_RETRIES: usize = 5;

type Claimed = StoreResult<Option<(Grant, Vec<LogIndex>)>>;

struct Job {
    grant: Grant,
    record: AccessRequestRecord,
    now: UnixSeconds,
    number_doors: bool,
    entries: Vec<EntryRow>,
    reply: oneshot::Sender<Claimed>,
}

/// The writer's queue, started on the first claim.
///
/// The writer runs on a thread of its own, with a runtime and a connection
/// of its own: between two statements of a group the database waits for
/// it, and on the service's runtime its wake-ups queued behind the HTTP
/// requests in flight (a profile showed the group's connection idle in its
/// transaction, waiting for the writer, for most of the group's time).
pub(crate) struct ClaimQueue {
    /// For claims alone when the writer cannot run (no thread).
    pool: PgPool,
    /// How the writer connects (the store's own options: its schema too).
    options: PgConnectOptions,
    limit: usize,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl ClaimQueue {
    pub(crate) fn new(pool: PgPool, options: PgConnectOptions) -> Self {
        let limit = std::env::var(CLAIM_BATCH_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_CLAIM_BATCH)
            .max(1);
        ClaimQueue { pool, options, limit, queue: OnceLock::new() }
    }

    /// The writer's thread, which ends when the queue's sender is dropped
    /// (with the store). If it cannot start, the receiver is dropped and
    /// every claim is made alone, on the caller's runtime.
    fn start_writer(&self) -> mpsc::UnboundedSender<Job> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (options, limit) = (self.options.clone(), self.limit);
        let started = std::thread::Builder::new().name("doorman-pg-claims".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::warn!(%error, "no runtime for the claim writer; claims are made alone");
                    return;
                }
            };
            runtime.block_on(async move {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options);
                writer(pool, limit, rx).await;
            });
        });
        if let Err(error) = started {
            tracing::warn!(%error, "no thread for the claim writer; claims are made alone");
        }
        tx
    }

    /// Claims through the writer (alone when group commit is off).
    pub(crate) async fn claim(
        &self,
        grant: Grant,
        record: AccessRequestRecord,
        now: UnixSeconds,
        number_doors: bool,
        entries: Vec<EntryRow>,
    ) -> Claimed {
        if self.limit == 1 {
            return alone(&self.pool, &grant, &record, now, number_doors, &entries).await;
        }
        let queue = self.queue.get_or_init(|| self.start_writer());
        let (reply, answer) = oneshot::channel();
        let job = Job { grant, record, now, number_doors, entries, reply };
        if let Err(mpsc::error::SendError(job)) = queue.send(job) {
            // The writer is gone (or never started): claim here.
            return alone(&self.pool, &job.grant, &job.record, job.now, job.number_doors, &job.entries).await;
        }
        answer.await.map_err(|_| StoreError::Backend("the claim writer stopped".into()))?
    }
}

async fn writer(pool: PgPool, limit: usize, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < limit {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let [job] = jobs.as_slice() {
            let claimed = alone(&pool, &job.grant, &job.record, job.now, job.number_doors, &job.entries).await;
            if let Some(job) = jobs.pop() {
                let _ = job.reply.send(claimed);
            }
            continue;
        }
        match together(&pool, &jobs).await {
            Ok(results) => {
                for (job, claimed) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(claimed));
                }
            }
            Err(Failed::Commit(why)) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Backend(format!("committing a group of claims: {why}"))));
                }
            }
            Err(Failed::Before(error)) => {
                tracing::debug!(%error, claims = jobs.len(), "a group of claims failed; claiming each alone");
                for job in jobs {
                    let claimed = alone(&pool, &job.grant, &job.record, job.now, job.number_doors, &job.entries).await;
                    let _ = job.reply.send(claimed);
                }
            }
        }
    }
}

/// PostgreSQL's "deadlock detected" (SQLSTATE 40P01): the victim's
/// transaction was rolled back and may be run again.
fn is_deadlock(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend(why) if why.contains("deadlock detected"))
}

/// One claim in a transaction of its own (again if it lost a deadlock).
async fn alone(
    pool: &PgPool,
    grant: &Grant,
    record: &AccessRequestRecord,
    now: UnixSeconds,
    number_doors: bool,
    entries: &[EntryRow],
) -> Claimed {
    let mut tries = 0;
    loop {
        match once(pool, grant, record, now, number_doors, entries).await {
            Err(error) if is_deadlock(&error) && tries < DEADLOCK_RETRIES => tries += 1,
            claimed => return claimed,
        }
    }
}

async fn once(
    pool: &PgPool,
    grant: &Grant,
    record: &AccessRequestRecord,
    now: UnixSeconds,
    number_doors: bool,
    entries: &[EntryRow],
) -> Claimed {
    let mut tx = pool.begin().await.map_err(db_error)?;
    match claim_in(&mut *tx, grant, record, now, number_doors, entries).await? {
        None => {
            tx.rollback().await.map_err(db_error)?;
            Ok(None)
        }
        Some(claimed) => {
            tx.commit().await.map_err(db_error)?;
            Ok(Some(claimed))
        }
    }
}

enum Failed {
    /// Nothing was written.
    Before(StoreError),
    /// The commit failed: whether it took effect is unknown.
    Commit(String),
}

/// Rows per multi-row `INSERT` of grants or requests (11 values each, well
/// under PostgreSQL's 65,535 bound values per statement).
const INSERT_ROWS: usize = 256;

/// Every claim of `jobs` in one transaction, set-wise: each step is one
/// statement for the whole group, whatever its size, and the rows every
/// claim shares (the locks' sequences, the log's counter) are taken last
/// but for the rows that carry what they give.
///
/// 1. the group's delivery rows, locked in one order (by id) for every
///    process;
/// 2. their live grants (unrevoked, unexpired);
/// 3. in memory: which claims win (a claim loses to a live grant, read or
///    won earlier in the group, exactly as it would alone, in order);
/// 4. the doors' numbers: one `UPDATE` of every lock concerned, taking as
///    many numbers as it has doors in the group (the locks' rows locked in
///    id order first when there are several), handed out in the group's
///    order;
/// 5. one `INSERT` for the winners' grants and one for their requests;
/// 6. the log's indexes for every winner's entries (`append_rows`).
async fn together(pool: &PgPool, jobs: &[Job]) -> Result<Vec<Option<(Grant, Vec<LogIndex>)>>, Failed> {
    let mut tx = pool.begin().await.map_err(|e| Failed::Before(db_error(e)))?;
    let claimed = claim_group(&mut *tx, jobs).await.map_err(Failed::Before)?;
    let entries: Vec<EntryRow> = jobs
        .iter()
        .zip(&claimed)
        .filter(|(_, grant)| grant.is_some())
        .flat_map(|(job, _)| job.entries.iter().cloned())
        .collect();
    let indexes = append_rows(&mut *tx, &entries).await.map_err(Failed::Before)?;
    tx.commit().await.map_err(|e| Failed::Commit(e.to_string()))?;
    let mut indexes = indexes.into_iter();
    Ok(jobs
        .iter()
        .zip(claimed)
        .map(|(job, grant)| grant.map(|g| (g, indexes.by_ref().take(job.entries.len()).collect())))
        .collect())
}

/// Steps 1 to 5 of [`together`]: the grants won, in `jobs`' order (None for
/// a claim that lost to a live grant), stored with their requests.
async fn claim_group(ex: &mut impl Exec, jobs: &[Job]) -> StoreResult<Vec<Option<Grant>>> {
    // 1. Every delivery's row, in one order for every process.
    let mut deliveries: Vec<String> = jobs.iter().map(|job| job.grant.delivery_id.to_string()).collect();
    deliveries.sort();
    deliveries.dedup();
    let ids: Vec<Value<'_>> = deliveries.iter().map(|id| Value::from(id.as_str())).collect();
    let lock = format!("SELECT id FROM deliveries WHERE id IN ({}) ORDER BY id FOR UPDATE", placeholders(1, ids.len()));
    ex.fetch_all::<String>(&lock, &ids).await?;

    // 2. When each delivery's live grants expire (0: none is live), read
    // per delivery through the index of its requests (a subquery run for
    // each row, which the planner cannot turn into a scan of every grant)
    // and judged below at each claim's own time.
    let live_sql = format!(
        "SELECT d.id, COALESCE((SELECT max(g.expires_at) FROM grants g WHERE g.id IN \
         (SELECT r.grant_id FROM access_requests r WHERE r.delivery_id = d.id AND r.grant_id IS NOT NULL) \
         AND g.revoked_at IS NULL), 0) FROM deliveries d WHERE d.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut live: Vec<(String, UnixSeconds)> = ex.fetch_all(&live_sql, &ids).await?;

    // 3. Which claims win, in order: a winner's grant is live for the
    // claims after it.
    let mut claimed: Vec<Option<Grant>> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let delivery = job.grant.delivery_id.to_string();
        if live.iter().any(|(d, expires_at)| *d == delivery && *expires_at > job.now) {
            claimed.push(None);
            continue;
        }
        if job.grant.revoked_at.is_none() {
            live.push((delivery, job.grant.expires_at));
        }
        claimed.push(Some(job.grant.clone()));
    }

    // 4. The doors' numbers, taken before the rows that carry them.
    number_doors(ex, jobs, &mut claimed).await?;

    // 5. The winners' grants and requests.
    let won: Vec<(&Job, &Grant)> =
        jobs.iter().zip(&claimed).filter_map(|(job, grant)| grant.as_ref().map(|g| (job, g))).collect();
    for chunk in won.chunks(INSERT_ROWS) {
        let mut values = Vec::with_capacity(chunk.len() * GRANT_VALUES);
        for (_, grant) in chunk {
            values.extend(grant_values(grant)?);
        }
        ex.execute(&multi_insert(concat!("grants (", columns!(grant), ")"), chunk.len(), GRANT_VALUES), &values)
            .await?;
        let mut values = Vec::with_capacity(chunk.len() * RECORD_VALUES);
        for (job, _) in chunk {
            values.extend(record_values(&job.record));
        }
        let table = concat!("access_requests (", columns!(access_request), ")");
        ex.execute(&multi_insert(table, chunk.len(), RECORD_VALUES), &values).await?;
    }
    Ok(claimed)
}

/// Numbers the doors of the winning claims that ask for it: one `UPDATE`
/// takes, for every lock concerned, as many numbers as it has such doors
/// (`NotFound` if a lock is unknown); they are handed out in the group's
/// order, as one claim after another would have taken them.
async fn number_doors(ex: &mut impl Exec, jobs: &[Job], claimed: &mut [Option<Grant>]) -> StoreResult<()> {
    // Per lock (by its text, as the database returns it): the lock, how
    // many numbers the group takes, and then the next one to hand out.
    let mut wanted: BTreeMap<String, (LockId, i64, i64)> = BTreeMap::new();
    for (job, grant) in jobs.iter().zip(claimed.iter()) {
        let Some(grant) = grant.as_ref().filter(|_| job.number_doors) else { continue };
        for door in &grant.doors {
            wanted.entry(door.lock_id.to_string()).or_insert((door.lock_id, 0, 0)).1 += 1;
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    if wanted.len() > 1 {
        // Several locks' rows: in one order for every process.
        let ids: Vec<Value<'_>> = wanted.values().map(|(lock, _, _)| Value::from(*lock)).collect();
        let sql = format!("SELECT id FROM locks WHERE id IN ({}) ORDER BY id FOR UPDATE", placeholders(1, ids.len()));
        ex.fetch_all::<String>(&sql, &ids).await?;
    }
    let rows: Vec<String> = (0..wanted.len()).map(|i| format!("(${}, ${}::BIGINT)", 2 * i + 1, 2 * i + 2)).collect();
    let sql = format!(
        "UPDATE locks SET sequence = locks.sequence + wanted.n FROM (VALUES {}) AS wanted (id, n) \
         WHERE locks.id = wanted.id RETURNING locks.id, locks.sequence",
        rows.join(", ")
    );
    let values: Vec<Value<'_>> =
        wanted.values().flat_map(|(lock, n, _)| [Value::from(*lock), Value::from(*n)]).collect();
    let after: Vec<(String, i64)> = ex.fetch_all(&sql, &values).await?;
    if after.len() != wanted.len() {
        return Err(StoreError::NotFound);
    }
    // The next number of each lock: the first of the range it took.
    for (lock, last) in after {
        let (_, taken, next) = wanted.get_mut(&lock).ok_or(StoreError::NotFound)?;
        *next = last - *taken + 1;
    }
    for (job, grant) in jobs.iter().zip(claimed.iter_mut()) {
        let Some(grant) = grant.as_mut().filter(|_| job.number_doors) else { continue };
        for door in &mut grant.doors {
            let (_, _, next) = wanted.get_mut(&door.lock_id.to_string()).ok_or(StoreError::NotFound)?;
            door.sequence = Some(*next);
            *next += 1;
        }
    }
    Ok(())
}
