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
//! Each claim in a batch runs the same statements as alone
//! (`delivery::claim_rows_in`: the delivery's row lock, the live-grant
//! check, which sees the claims before it in the batch, the door numbers,
//! the rows), after the batch has locked all its deliveries' rows in one
//! order (by id) that every process follows: two processes' batches that
//! share parcels then take turns instead of deadlocking. If any statement
//! of a batch fails (a deadlock with another process's batch over two
//! locks' rows, an unknown lock), nothing of it was written and each of its
//! claims is run again alone, in a transaction of its own, so a claim gets
//! the answer it would have had alone; a claim alone that the database
//! chose as a deadlock's victim is run again (up to [`DEADLOCK_RETRIES`]
//! times). A failed commit is answered as a failure to each claim (whether
//! it committed is unknown).

use std::sync::OnceLock;

use doorman_domain::{AccessRequestRecord, Grant, UnixSeconds};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{append_rows, EntryRow, LogIndex};
use crate::delivery::{claim_in, claim_rows_in};
use crate::exec::Exec;
use crate::sqlx_exec::db_error;
use crate::{StoreError, StoreResult};

/// The environment variable that bounds the claims per transaction (1
/// turns group commit off).
pub const CLAIM_BATCH_ENV: &str = "DOORMAN_POSTGRES_CLAIM_BATCH";
/// Claims per transaction unless [`CLAIM_BATCH_ENV`] says otherwise.
pub const DEFAULT_CLAIM_BATCH: usize = 64;

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
pub(crate) struct ClaimQueue {
    pool: PgPool,
    limit: usize,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl ClaimQueue {
    pub(crate) fn new(pool: PgPool) -> Self {
        let limit = std::env::var(CLAIM_BATCH_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_CLAIM_BATCH)
            .max(1);
        ClaimQueue { pool, limit, queue: OnceLock::new() }
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
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(self.pool.clone(), self.limit, rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let job = Job { grant, record, now, number_doors, entries, reply };
        if let Err(mpsc::error::SendError(job)) = queue.send(job) {
            // The writer's runtime is gone: claim here.
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

/// Every claim of `jobs` in one transaction, their entries appended last.
async fn together(pool: &PgPool, jobs: &[Job]) -> Result<Vec<Option<(Grant, Vec<LogIndex>)>>, Failed> {
    let mut tx = pool.begin().await.map_err(|e| Failed::Before(db_error(e)))?;
    // Every delivery's row first, in one order for every process.
    let mut deliveries: Vec<_> = jobs.iter().map(|job| job.grant.delivery_id).collect();
    deliveries.sort_by_key(ToString::to_string);
    deliveries.dedup();
    for id in deliveries {
        let lock = "SELECT id FROM deliveries WHERE id = $1 FOR UPDATE";
        tx.fetch_optional::<()>(lock, &[id.into()]).await.map_err(Failed::Before)?;
    }
    let mut claimed = Vec::with_capacity(jobs.len());
    for job in jobs {
        let grant = claim_rows_in(&mut *tx, &job.grant, &job.record, job.now, job.number_doors)
            .await
            .map_err(Failed::Before)?;
        claimed.push(grant);
    }
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
