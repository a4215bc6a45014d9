//! `doorman bench`'s table in its smallest form, so that it cannot rot: every
//! row is there, and every measured ratio is a positive number. No timing
//! is asserted. The PostgreSQL rows are measured when
//! `DOORMAN_TEST_POSTGRES_URL` is set and say they were skipped otherwise.

use doorman_cli::bench_table::{self, TableOptions};

use crate::kit::POSTGRES_ENV;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_prints_every_row() -> anyhow::Result<()> {
    let postgres = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.trim().is_empty());
    let server = vec![env!("CARGO_BIN_EXE_doorman").into(), "bench".into(), "serve-child".into()];
    let options = TableOptions {
        requests: 40,
        concurrency: 4,
        processes: 3,
        entries: 100,
        batch: 20,
        proof_size: 4096,
        iterations: 50,
        ..TableOptions::quick(server, postgres.clone())
    };
    let mut out = Vec::new();
    let rows = bench_table::run(&options, None, &mut out, &mut std::io::sink()).await?;
    let table = String::from_utf8(out)?;
    println!("{table}");

    let expected = [
        "lock verify (presentation)",
        "access grants/s, SQLite, 1 process",
        "peak memory of a server, SQLite, 1 process",
        "access grants/s, PostgreSQL, 1 process",
        "peak memory of a server, PostgreSQL, 1 process",
        "access grants/s, PostgreSQL, 3 processes",
        "peak memory of a server, PostgreSQL, 3 processes",
        "log appends, SQLite",
        "log appends, PostgreSQL",
        "inclusion proof at 4096, made + verified",
        "consistency proof at 4096, made + verified",
    ];
    for figure in expected {
        let row = rows.iter().find(|r| r.figure == figure);
        let row = row.ok_or_else(|| anyhow::anyhow!("no row {figure:?} in\n{table}"))?;
        anyhow::ensure!(table.contains(figure), "{figure:?} is not printed");
        let on_postgres = figure.contains("PostgreSQL");
        let protocol = figure.starts_with("lock verify") || figure.starts_with("credential verify");
        match &row.ratio {
            Ok(ratio) => anyhow::ensure!(ratio.is_finite() && *ratio > 0.0, "{figure}: ratio {ratio}"),
            // doorman's own table leaves the token formats to doorman-bench
            Err(why) if protocol => anyhow::ensure!(why.contains("doorman-bench"), "{figure}: {why}"),
            Err(why) if on_postgres && postgres.is_none() => {
                anyhow::ensure!(why == "skipped: no PostgreSQL given", "{figure}: {why}")
            }
            Err(why) => anyhow::bail!("{figure} was not measured: {why}"),
        }
    }
    // JWT, PASETO and Biscuit rows, one each
    for format in ["JWT", "PASETO", "Biscuit"] {
        anyhow::ensure!(rows.iter().any(|r| r.baseline.starts_with(format)), "no {format} row");
    }
    Ok(())
}
