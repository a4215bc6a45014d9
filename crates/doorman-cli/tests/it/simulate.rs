//! `doorman simulate`, through the real binary: a small city's day (a few
//! seconds) whose report says the log verified with doorman-audit and the
//! service's `/metrics` agreed with the simulation's own totals (the
//! command fails otherwise), with every planned refusal among its counts.

use std::process::Command;

use crate::kit::{fresh_database, Backend};

/// The refusals the day causes on purpose at its first parcels (`day::Mistake`).
const PLANNED: &[&str] = &[
    "parcel_unknown",
    "driver_not_at_property",
    "handheld_not_registered",
    "parcel_not_addressed_here",
    "access_already_granted",
    "parcel_already_delivered",
    "delivery_closed",
    "outside_delivery_window",
];

fn count(report: &str, label: &str) -> Option<u64> {
    report.lines().find_map(|l| l.trim().strip_prefix(label)?.split_whitespace().next()?.parse().ok())
}

async fn a_small_day(backend: Backend) -> anyhow::Result<()> {
    let Some((url, _dir)) = fresh_database(backend).await? else {
        eprintln!("skipped: no PostgreSQL configured");
        return Ok(());
    };
    let out = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["simulate", "--buildings", "3", "--parcels", "240", "--concurrency", "16", "--database", &url])
        .output()?;
    let report = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "simulate failed:\n{report}\n{errors}");

    let delivered = count(&report, "delivered").unwrap_or(0);
    assert!(delivered >= 180, "most parcels are delivered:\n{report}");
    assert!(count(&report, "access requests").unwrap_or(0) > delivered);
    assert!(count(&report, "lock events recorded").unwrap_or(0) >= 3 * delivered, "{report}");
    assert_eq!(count(&report, "locks not caught up"), Some(0), "{report}");
    for reason in PLANNED {
        assert!(report.lines().any(|l| l.trim().starts_with(reason)), "the day caused no {reason} refusal:\n{report}");
        assert!(report.contains(&format!("refused: {reason}")), "{reason} is compared with /metrics:\n{report}");
    }
    assert!(!report.contains("DISAGREE"), "{report}");
    assert!(report.contains("deliveries/s end to end"));
    assert!(report.contains("at  10% of the day") && report.contains("at 100% of the day"), "{report}");
    let verified = report.lines().find(|l| l.contains("checked with doorman-audit")).unwrap_or_default();
    assert!(verified.ends_with(": verified") && verified.contains("lock chains intact"), "{report}");
    Ok(())
}

// `sqlite::` and `postgres::` in the test's path, as the scenarios have: CI
// runs the PostgreSQL half by that filter.
mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simulate_a_small_city_day() -> anyhow::Result<()> {
        super::a_small_day(crate::kit::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simulate_a_small_city_day() -> anyhow::Result<()> {
        super::a_small_day(crate::kit::Backend::Postgres).await
    }
}

#[test]
fn simulate_refuses_several_processes_clearly() -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_doorman")).args(["simulate", "--processes", "3"]).output()?;
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(errors.contains("--processes 3") && errors.contains("--processes 1"), "{errors}");
    Ok(())
}
