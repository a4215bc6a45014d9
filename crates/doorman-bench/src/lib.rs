//! doorman benchmarks: each prints ratios measured in the same run.
//!
//! `cargo run --release -p doorman-bench` prints `doorman bench`'s one table
//! with its protocol rows measured: the lock's verify against its bare
//! signature checks, and the credential against JWT, PASETO and Biscuit.
//! Those three formats' crates are this crate's only: the `doorman` binary
//! does not carry them (nor their RSA, protobuf and Datalog code), so its
//! `doorman bench` prints those rows as skipped.

pub mod protocol;

use doorman_cli::bench_table::{micros, Row, PROTOCOL_ROWS};

/// The table's protocol rows, measured now.
pub fn table_rows() -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let f = protocol::measure()?;
    let ns = |ns: f64| micros(std::time::Duration::from_nanos(ns as u64));
    let mut rows = Vec::new();
    let [(lock, bare), formats @ ..] = PROTOCOL_ROWS;
    rows.push(Row::new(lock, ns(f.full), bare, ns(f.base), f.ratio, &format!("<= {:.2}", protocol::TARGET_LOCK_RATIO)));
    let doorman = f.rows.first().ok_or("no doorman row")?;
    for ((figure, baseline), other) in formats.iter().zip(f.rows.iter().skip(1)) {
        rows.push(Row::new(figure, ns(doorman.ns), baseline, ns(other.ns), doorman.ns / other.ns, ""));
    }
    Ok(rows)
}
