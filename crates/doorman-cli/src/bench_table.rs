//! `doorman bench`: every figure from one run in one table, each beside a
//! baseline measured in the same run, with their ratio.
//!
//! Rows: the lock's verify against its bare signature checks and against
//! JWT, PASETO and Biscuit (measured by doorman-bench, whose binary prints
//! this same table with them: their crates stay out of the `doorman`
//! binary, which prints those rows as skipped); access grants per second
//! against the bare signing endpoint, on SQLite and on PostgreSQL with one
//! process and with several; log appends against bare batched inserts;
//! proof times against the bare hashing they contain; and the server
//! processes' peak resident memory.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use crate::bench::{measure_access, AccessFigures, BenchDatabase, BenchOptions};
use crate::bench_audit::{measure_audit, AuditBenchOptions};

/// The environment variable that names a PostgreSQL server for the table's
/// PostgreSQL rows when `--database` is not given.
pub const POSTGRES_ENV: &str = "DOORMAN_BENCH_POSTGRES_URL";

pub struct TableOptions {
    /// Access requests per side and figure.
    pub requests: usize,
    /// Access requests in flight.
    pub concurrency: usize,
    /// PostgreSQL server for its rows (None: they say they were skipped).
    pub postgres: Option<String>,
    /// Server processes for the scale-out row.
    pub processes: usize,
    /// Log entries per side, and per transaction.
    pub entries: usize,
    pub batch: usize,
    /// Tree size of the proof figures, and proofs measured.
    pub proof_size: u64,
    pub iterations: u64,
    /// How to start a server process (see [`crate::bench::server_command`]).
    pub server: Vec<OsString>,
}

impl TableOptions {
    /// Defaults that finish in a few minutes in release on two cores.
    pub fn full(server: Vec<OsString>, postgres: Option<String>) -> Self {
        TableOptions {
            requests: 4000,
            concurrency: 256,
            postgres,
            processes: 3,
            entries: 20_000,
            batch: 100,
            proof_size: 100_000_000,
            iterations: 20_000,
            server,
        }
    }

    /// A smoke run: every row, tiny sizes.
    pub fn quick(server: Vec<OsString>, postgres: Option<String>) -> Self {
        TableOptions {
            requests: 200,
            concurrency: 16,
            postgres,
            processes: 3,
            entries: 500,
            batch: 50,
            proof_size: 1_000_000,
            iterations: 500,
            server,
        }
    }
}

/// One row: a figure, its baseline (same run), and their ratio.
#[derive(Clone, Debug)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub baseline: String,
    pub baseline_value: String,
    /// figure / baseline, or why the row was not measured.
    pub ratio: Result<f64, String>,
    /// What the ratio should be, if there is a target.
    pub target: String,
}

impl Row {
    pub fn new(figure: &str, value: String, baseline: &str, baseline_value: String, ratio: f64, target: &str) -> Row {
        Row {
            figure: figure.into(),
            value,
            baseline: baseline.into(),
            baseline_value,
            ratio: Ok(ratio),
            target: target.into(),
        }
    }

    pub fn skipped(figure: &str, baseline: &str, why: &str) -> Row {
        Row {
            figure: figure.into(),
            value: "-".into(),
            baseline: baseline.into(),
            baseline_value: "-".into(),
            ratio: Err(why.into()),
            target: String::new(),
        }
    }
}

/// Time per operation, in µs.
pub fn micros(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn per_second(v: f64, unit: &str) -> String {
    format!("{v:.0} {unit}/s")
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// The figures of the protocol rows, as doorman-bench measures them.
pub const PROTOCOL_ROWS: [(&str, &str); 4] = [
    ("lock verify (presentation)", "bare signature checks"),
    ("credential verify (doorman)", "JWT EdDSA (jsonwebtoken)"),
    ("credential verify (doorman)", "PASETO v4.public (pasetors)"),
    ("credential verify (doorman)", "Biscuit (biscuit-auth)"),
];

fn access_rows(rows: &mut Vec<Row>, what: &str, figures: Result<AccessFigures, String>, target: &str) {
    let grants = format!("access grants/s, {what}");
    let bare = "bare signing endpoint, same processes";
    let memory = format!("peak memory of a server, {what}");
    let idle = "same, after the bare side";
    match figures {
        Ok(f) => {
            rows.push(Row::new(
                &grants,
                per_second(f.full.per_second, "req"),
                bare,
                per_second(f.bare.per_second, "req"),
                f.ratio(),
                target,
            ));
            let ratio = f.peak_kib_full.zip(f.peak_kib_bare).map(|(a, b)| a as f64 / b.max(1) as f64);
            rows.push(match ratio {
                Some(ratio) => Row::new(&memory, mib(f.peak_kib_full), idle, mib(f.peak_kib_bare), ratio, ""),
                None => Row::skipped(&memory, idle, "no /proc/PID/status here"),
            });
        }
        Err(why) => {
            rows.push(Row::skipped(&grants, bare, &why));
            rows.push(Row::skipped(&memory, idle, &why));
        }
    }
}

/// Measures every row but the protocol's (which the caller passes: `None`
/// prints them as skipped) and returns them in the table's order.
pub async fn measure(
    opts: &TableOptions,
    protocol: Option<Vec<Row>>,
    progress: &mut impl Write,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = protocol.unwrap_or_else(|| {
        PROTOCOL_ROWS
            .iter()
            .map(|(f, b)| Row::skipped(f, b, "in doorman-bench: cargo run --release -p doorman-bench"))
            .collect()
    });
    let access = |database: BenchDatabase, processes: usize| BenchOptions {
        requests: opts.requests,
        concurrency: opts.concurrency,
        database,
        processes,
        server: opts.server.clone(),
    };
    writeln!(progress, "measuring access grants on SQLite, one process ...")?;
    let failed = |e: anyhow::Error| format!("failed: {e:#}");
    let sqlite = measure_access(&access(BenchDatabase::Sqlite, 1)).await.map_err(failed);
    access_rows(&mut rows, "SQLite, 1 process", sqlite, ">= 0.30");
    let three = format!("PostgreSQL, {} processes", opts.processes);
    match &opts.postgres {
        Some(url) => {
            writeln!(progress, "measuring access grants on PostgreSQL, one process ...")?;
            let one = measure_access(&access(BenchDatabase::Postgres(url.clone()), 1)).await.map_err(failed);
            access_rows(&mut rows, "PostgreSQL, 1 process", one, ">= 0.15");
            writeln!(progress, "measuring access grants on PostgreSQL, {} processes ...", opts.processes)?;
            let many =
                measure_access(&access(BenchDatabase::Postgres(url.clone()), opts.processes)).await.map_err(failed);
            access_rows(&mut rows, &three, many, "");
        }
        None => {
            for what in ["PostgreSQL, 1 process", three.as_str()] {
                access_rows(&mut rows, what, Err("skipped: no PostgreSQL given".into()), "");
            }
        }
    }

    let audit = |database: Option<String>| AuditBenchOptions {
        entries: opts.entries,
        batch: opts.batch,
        proof_size: opts.proof_size,
        iterations: opts.iterations,
        database,
    };
    writeln!(progress, "measuring log appends and proofs on SQLite ...")?;
    let sqlite = measure_audit(&audit(None), &mut std::io::sink()).await?;
    let bare = "bare batched inserts, same bytes";
    rows.push(Row::new(
        "log appends, SQLite",
        per_second(sqlite.log_rate, "entries"),
        bare,
        per_second(sqlite.bare_rate, "rows"),
        sqlite.log_rate / sqlite.bare_rate,
        ">= 0.15",
    ));
    match &opts.postgres {
        Some(url) => {
            writeln!(progress, "measuring log appends on PostgreSQL ...")?;
            match measure_audit(&audit(Some(url.clone())), &mut std::io::sink()).await {
                Ok(pg) => rows.push(Row::new(
                    "log appends, PostgreSQL",
                    per_second(pg.log_rate, "entries"),
                    bare,
                    per_second(pg.bare_rate, "rows"),
                    pg.log_rate / pg.bare_rate,
                    ">= 0.15",
                )),
                Err(e) => rows.push(Row::skipped("log appends, PostgreSQL", bare, &format!("failed: {e:#}"))),
            }
        }
        None => rows.push(Row::skipped("log appends, PostgreSQL", bare, "skipped: no PostgreSQL given")),
    }
    let size = sqlite.proof_size;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    rows.push(Row::new(
        &format!("inclusion proof at {size}, made + verified"),
        micros(sqlite.inclusion),
        "bare SHA-256 of its hashes",
        micros(sqlite.inclusion_bare),
        ratio(sqlite.inclusion, sqlite.inclusion_bare),
        "<= 100 µs",
    ));
    rows.push(Row::new(
        &format!("consistency proof at {size}, made + verified"),
        micros(sqlite.consistency),
        "bare SHA-256 of its hashes",
        micros(sqlite.consistency_bare),
        ratio(sqlite.consistency, sqlite.consistency_bare),
        "<= 100 µs",
    ));
    Ok(rows)
}

/// Prints the table.
pub fn print(rows: &[Row], out: &mut impl Write) -> std::io::Result<()> {
    let w = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let (wf, wv, wb, wbv) =
        (w(|r| &r.figure).max(6), w(|r| &r.value).max(5), w(|r| &r.baseline).max(8), w(|r| &r.baseline_value).max(5));
    writeln!(
        out,
        "{:<wf$}  {:>wv$}  {:<wb$}  {:>wbv$}  {:>6}  target",
        "figure", "value", "baseline", "value", "ratio"
    )?;
    for r in rows {
        match &r.ratio {
            Ok(ratio) => writeln!(
                out,
                "{:<wf$}  {:>wv$}  {:<wb$}  {:>wbv$}  {:>6.2}  {}",
                r.figure, r.value, r.baseline, r.baseline_value, ratio, r.target
            )?,
            Err(why) => writeln!(
                out,
                "{:<wf$}  {:>wv$}  {:<wb$}  {:>wbv$}  {why}",
                r.figure, r.value, r.baseline, r.baseline_value
            )?,
        }
    }
    Ok(())
}

/// Measures and prints: progress to `progress`, the table to `out`.
pub async fn run(
    opts: &TableOptions,
    protocol: Option<Vec<Row>>,
    out: &mut impl Write,
    progress: &mut impl Write,
) -> anyhow::Result<Vec<Row>> {
    let rows = measure(opts, protocol, progress).await?;
    writeln!(
        out,
        "doorman bench: one run; access: {} requests a side, {} in flight; log: {} entries a side, {} per transaction; proofs: {} each",
        opts.requests, opts.concurrency, opts.entries, opts.batch, opts.iterations
    )?;
    print(&rows, out)?;
    writeln!(out, "ratio = value / baseline (times: lower is better; rates: higher is better)")?;
    Ok(rows)
}

/// The table's flags (`doorman bench`, `doorman-bench all`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TableArgs {
    /// A smoke run: every row, tiny sizes (seconds, not minutes).
    #[arg(long)]
    pub quick: bool,
    /// A PostgreSQL server for the PostgreSQL rows (fresh schemas in it);
    /// without it (or DOORMAN_BENCH_POSTGRES_URL) they say they were skipped.
    #[arg(long, env = POSTGRES_ENV)]
    pub database: Option<String>,
    /// Access requests per side and figure [default: 4000; quick 200].
    #[arg(long)]
    pub requests: Option<usize>,
    /// Access requests in flight [default: 256; quick 16].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Server processes of the scale-out row [default: 3].
    #[arg(long)]
    pub processes: Option<usize>,
    /// Log entries per side [default: 20000; quick 500].
    #[arg(long)]
    pub entries: Option<usize>,
    /// Log entries per transaction, both sides [default: 100; quick 50].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tree size of the proof figures [default: 10^8; quick 10^6].
    #[arg(long)]
    pub proof_size: Option<u64>,
    /// Proofs measured per figure [default: 20000; quick 500].
    #[arg(long)]
    pub iterations: Option<u64>,
}

impl TableArgs {
    pub fn options(&self, server: Vec<OsString>) -> TableOptions {
        let postgres = self.database.clone().filter(|u| !u.trim().is_empty());
        let d = if self.quick { TableOptions::quick(server, postgres) } else { TableOptions::full(server, postgres) };
        TableOptions {
            requests: self.requests.unwrap_or(d.requests),
            concurrency: self.concurrency.unwrap_or(d.concurrency),
            processes: self.processes.unwrap_or(d.processes),
            entries: self.entries.unwrap_or(d.entries),
            batch: self.batch.unwrap_or(d.batch),
            proof_size: self.proof_size.unwrap_or(d.proof_size),
            iterations: self.iterations.unwrap_or(d.iterations),
            ..d
        }
    }
}
