//! `doorman bench audit`: the transparency log's two figures, each against a
//! baseline measured in the same run.
//!
//! 1. **Durable appends per second, as a ratio to bare batched inserts of
//!    the same bytes.** Both sides write the same event bytes in
//!    transactions of the same size, each through a writer with the same
//!    settings (SQLite: `BEGIN IMMEDIATE`, `synchronous = FULL`, one fsync
//!    per commit; or PostgreSQL with `--database`). The bare side
//!    (`doorman_store::baseline`) inserts rows of (index, bytes) into a
//!    scratch table of its own, in the same database file as the log (or a
//!    schema of its own on PostgreSQL), and nothing else. The log side
//!    appends them as events (index from the counter row, the scope columns
//!    and their indexes) and then runs the sequencer until a signed
//!    checkpoint covers them (two stored hashes per entry, one Ed25519
//!    signature per checkpoint): an append counts once it is durable *and*
//!    in a checkpoint. The two sides alternate in rounds so that both see
//!    the same disk and cache. Target: ratio >= 0.15.
//! 2. **Proof time at 10^8 entries**: inclusion and consistency proofs,
//!    generated and verified, in a genuine RFC 6962 tree of 10^8 entries
//!    whose stored hashes are read from memory (doorman-tlog's
//!    `PeriodicTree`, as in its `tlog_bench` example: entries repeat every
//!    2^16, so 10^8 entries fit in a few megabytes; every read is an array
//!    lookup and everything else is the real work). Target: <= 100 µs per
//!    proof (generate + verify). For scale, the same proofs served from the
//!    database of part 1 (SQL included) are printed too.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use doorman_domain::{
    AccessRequestId, CarrierId, Clock, DeliveryId, DriverId, DropSpotId, EventKind, GrantId, LockId, Principal,
    PropertyId, UnitId,
};
use doorman_server::audit::{new_event, Scope};
use doorman_server::{KeyFile, ServiceConfig};
use doorman_store::baseline::BareInserts;
use doorman_store::Store;
use doorman_tlog::{
    leaf_hash, prove_consistency, prove_inclusion, tree_hash, verify_consistency, verify_inclusion, PeriodicTree,
};

use crate::{app, SystemClock};

pub struct AuditBenchOptions {
    /// Entries per side.
    pub entries: usize,
    /// Entries per transaction, both sides.
    pub batch: usize,
    /// Tree size for the proof figures.
    pub proof_size: u64,
    /// Proofs measured per figure.
    pub iterations: u64,
    /// A PostgreSQL URL to measure on instead of a fresh SQLite file.
    pub database: Option<String>,
}

const APPEND_TARGET: f64 = 0.15;
const PROOF_TARGET: Duration = Duration::from_micros(100);
const ROUNDS: usize = 5;

/// Deterministic pseudo-random numbers (splitmix64).
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound.max(1)
    }
}

/// Events as the service writes them for a granted access request.
fn sample_events(count: usize, now: i64) -> anyhow::Result<Vec<doorman_domain::Event>> {
    let (property, carrier) = (PropertyId::random(), CarrierId::random());
    let units: Vec<UnitId> = (0..50).map(|_| UnitId::random()).collect();
    let drivers: Vec<DriverId> = (0..20).map(|_| DriverId::random()).collect();
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let driver = drivers.get(i % drivers.len()).copied();
        let scope = Scope {
            property: Some(property),
            unit: units.get(i % units.len()).copied(),
            carrier: Some(carrier),
            driver,
            delivery: Some(DeliveryId::random()),
        };
        let kind = EventKind::AccessGranted {
            request_id: AccessRequestId::random(),
            grant_id: GrantId::random(),
            drop_spot_id: DropSpotId::random(),
            locks: vec![LockId::random(), LockId::random()],
            expires_at: now + 300,
        };
        let actor = driver.map(|driver_id| Principal::Driver { driver_id, carrier_id: carrier });
        events.push(new_event(kind, now, scope, actor).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(events)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Mean time per call of `op` over `iterations` calls (after a warm-up).
fn per_op(iterations: u64, mut op: impl FnMut(u64)) -> Duration {
    for i in 0..iterations.min(1000) {
        op(i);
    }
    let start = Instant::now();
    for i in 0..iterations {
        op(i);
    }
    start.elapsed() / u32::try_from(iterations.max(1)).unwrap_or(u32::MAX)
}

/// What `doorman bench audit` measured, for `doorman bench`'s table.
pub struct AuditFigures {
    pub place: String,
    /// Bare batched inserts, rows per second.
    pub bare_rate: f64,
    /// Durable log appends in a checkpoint, entries per second.
    pub log_rate: f64,
    pub proof_size: u64,
    /// Inclusion proof, generated and verified.
    pub inclusion: Duration,
    /// Consistency proof, generated and verified.
    pub consistency: Duration,
    /// The baselines: as many bare SHA-256 node hashes as the mean proof
    /// has hashes (what any verifier must compute).
    pub inclusion_bare: Duration,
    pub consistency_bare: Duration,
}

pub async fn audit(options: AuditBenchOptions, out: &mut impl Write) -> anyhow::Result<()> {
    measure_audit(&options, out).await.map(drop)
}

/// Measures and reports to `out` (a sink for the table).
pub async fn measure_audit(options: &AuditBenchOptions, out: &mut impl Write) -> anyhow::Result<AuditFigures> {
    let dir = std::env::temp_dir().join(format!("doorman-bench-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = run(options, &dir, out).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Mean time of `hashes` node hashes, over `iterations` rounds.
fn bare_hashes(iterations: u64, hashes: usize) -> Duration {
    let (left, right) = (leaf_hash(b"left"), leaf_hash(b"right"));
    per_op(iterations, |_| {
        let mut h = left;
        for _ in 0..hashes {
            h = doorman_tlog::node_hash(black_box(&h), black_box(&right));
        }
        black_box(h);
    })
}

async fn run(options: &AuditBenchOptions, dir: &std::path::Path, out: &mut impl Write) -> anyhow::Result<AuditFigures> {
    let (store, bare_rows, place): (Arc<dyn Store>, BareInserts, String) = match &options.database {
        Some(url) => (
            doorman_store::open_isolated_postgres(url).await?,
            BareInserts::postgres(url).await?,
            "PostgreSQL (fresh schemas)".into(),
        ),
        None => {
            // one file: the store's tables, and the bare side's table beside them
            let file = dir.join("bench.db");
            let store = doorman_store::open(&format!("sqlite://{}", file.display())).await?;
            (store, BareInserts::sqlite(&file).await?, "SQLite in a file (WAL, synchronous = FULL)".into())
        }
    };
    let now = SystemClock.now();
    let keys = KeyFile::generate(now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = app::service_with(store.clone(), Arc::new(SystemClock), &keys, ServiceConfig::default())?;
    service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;

    let batch = options.batch.max(1);
    let events = sample_events(options.entries.max(batch), now)?;
    let bytes: Vec<Vec<u8>> = events.iter().map(doorman_domain::Event::to_canonical_bytes).collect();
    let mean_len = bytes.iter().map(Vec::len).sum::<usize>() / bytes.len().max(1);
    writeln!(
        out,
        "doorman bench audit: {place}; {} entries of {mean_len} bytes a side, {batch} per transaction",
        events.len()
    )?;

    // Alternate the sides round by round.
    let per_round = events.len().div_ceil(ROUNDS);
    let (mut bare, mut logged, mut sequencing) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut written = 0u64;
    for (events, bytes) in events.chunks(per_round).zip(bytes.chunks(per_round)) {
        let start = Instant::now();
        for chunk in bytes.chunks(batch) {
            bare_rows.insert(written, chunk).await?;
            written += chunk.len() as u64;
        }
        bare += start.elapsed();

        let start = Instant::now();
        for chunk in events.chunks(batch) {
            store.append_events(chunk).await?;
        }
        let appended = start.elapsed();
        service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        logged += start.elapsed();
        sequencing += start.elapsed() - appended;
    }
    let state = store.log_state().await?;
    anyhow::ensure!(
        state.integrated == events.len() as u64,
        "the checkpoint covers {} of {} entries",
        state.integrated,
        events.len()
    );
    let n = events.len() as f64;
    let (bare_rate, log_rate) = (n / bare.as_secs_f64(), n / logged.as_secs_f64());
    let ratio = log_rate / bare_rate;
    writeln!(out, "  bare batched inserts (index, bytes):       {bare_rate:>10.0} rows/s")?;
    writeln!(out, "  durable log appends, in a checkpoint:      {log_rate:>10.0} entries/s")?;
    writeln!(
        out,
        "    of which appending (committed) {:.0}%, sequencing (hashes stored, checkpoint signed) {:.0}%",
        100.0 * (logged - sequencing).as_secs_f64() / logged.as_secs_f64(),
        100.0 * sequencing.as_secs_f64() / logged.as_secs_f64()
    )?;
    writeln!(
        out,
        "  ratio {ratio:.2} (target >= {APPEND_TARGET}): {}",
        if ratio >= APPEND_TARGET { "meets" } else { "MISSES" }
    )?;

    // Proofs at 10^8 entries.
    let size = options.proof_size.max(2);
    let iterations = options.iterations.max(1);
    let periodic = PeriodicTree::new(16).context("building the periodic tree")?;
    let root = tree_hash(&periodic, size)?;
    let mut sequence = Sequence(7);
    let indexes: Vec<u64> = (0..iterations).map(|_| sequence.next(size)).collect();
    let olds: Vec<u64> = (0..iterations).map(|_| 1 + sequence.next(size - 1)).collect();
    let old_roots = olds.iter().map(|old| tree_hash(&periodic, *old)).collect::<Result<Vec<_>, _>>()?;
    let pick = |i: u64| usize::try_from(i).unwrap_or(0);
    let inclusion_proofs =
        indexes.iter().map(|i| prove_inclusion(&periodic, *i, size)).collect::<Result<Vec<_>, _>>()?;
    let consistency_proofs =
        olds.iter().map(|o| prove_consistency(&periodic, *o, size)).collect::<Result<Vec<_>, _>>()?;
    for (proof, index) in inclusion_proofs.iter().zip(&indexes) {
        proof.verify(&periodic.leaf_hash_at(*index), &root)?;
    }
    for (proof, old_root) in consistency_proofs.iter().zip(&old_roots) {
        proof.verify(old_root, &root)?;
    }
    let inclusion_gen = per_op(iterations, |i| {
        let index = indexes.get(pick(i)).copied().unwrap_or(0);
        black_box(prove_inclusion(&periodic, black_box(index), size).ok());
    });
    let inclusion_verify = per_op(iterations, |i| {
        if let (Some(proof), Some(index)) = (inclusion_proofs.get(pick(i)), indexes.get(pick(i))) {
            let leaf = periodic.leaf_hash_at(*index);
            black_box(verify_inclusion(&leaf, *index, size, black_box(&proof.path), &root).ok());
        }
    });
    let consistency_gen = per_op(iterations, |i| {
        let old = olds.get(pick(i)).copied().unwrap_or(1);
        black_box(prove_consistency(&periodic, black_box(old), size).ok());
    });
    let consistency_verify = per_op(iterations, |i| {
        if let (Some(proof), Some(old), Some(old_root)) =
            (consistency_proofs.get(pick(i)), olds.get(pick(i)), old_roots.get(pick(i)))
        {
            black_box(verify_consistency(*old, size, old_root, &root, black_box(&proof.path)).ok());
        }
    });
    let verdict = |d: Duration| if d <= PROOF_TARGET { "meets" } else { "MISSES" };
    writeln!(out, "proofs at {size} entries (RFC 6962 tree, stored hashes in memory), {iterations} each:")?;
    let inclusion = inclusion_gen + inclusion_verify;
    writeln!(
        out,
        "  inclusion:   generate {:>6.2} µs + verify {:>6.2} µs = {:>6.2} µs (target <= {} µs): {}",
        micros(inclusion_gen),
        micros(inclusion_verify),
        micros(inclusion),
        PROOF_TARGET.as_micros(),
        verdict(inclusion)
    )?;
    let consistency = consistency_gen + consistency_verify;
    writeln!(
        out,
        "  consistency: generate {:>6.2} µs + verify {:>6.2} µs = {:>6.2} µs (target <= {} µs): {}",
        micros(consistency_gen),
        micros(consistency_verify),
        micros(consistency),
        PROOF_TARGET.as_micros(),
        verdict(consistency)
    )?;

    // For scale: the same proofs from the database (SQL round trips included).
    let checkpoint = store.latest_checkpoint().await?.context("a checkpoint")?;
    let db_size = checkpoint.size;
    let samples = 200u64.min(db_size);
    let start = Instant::now();
    for _ in 0..samples {
        let index = sequence.next(db_size);
        let proof = service.inclusion_proof(index, db_size).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let leaf = leaf_hash(bytes.get(pick(index)).context("entry")?);
        verify_inclusion(&leaf, index, db_size, &proof, &doorman_tlog::Hash::from_bytes(checkpoint.root))?;
    }
    let from_db = start.elapsed() / u32::try_from(samples.max(1)).unwrap_or(1);
    writeln!(
        out,
        "  from the database at {db_size} entries: inclusion proof read, assembled and verified in {:.0} µs",
        micros(from_db)
    )?;
    let mean_hashes = |paths: &mut dyn Iterator<Item = usize>| {
        let (sum, n) = paths.fold((0usize, 0usize), |(s, n), len| (s + len, n + 1));
        sum.div_ceil(n.max(1))
    };
    let inclusion_hashes = mean_hashes(&mut inclusion_proofs.iter().map(|p| p.path.len() + 1));
    let consistency_hashes = mean_hashes(&mut consistency_proofs.iter().map(|p| p.path.len() * 2));
    Ok(AuditFigures {
        place,
        bare_rate,
        log_rate,
        proof_size: size,
        inclusion,
        consistency,
        inclusion_bare: bare_hashes(iterations, inclusion_hashes),
        consistency_bare: bare_hashes(iterations, consistency_hashes),
    })
}
