//! `doorman simulate`: a city's day through the whole system. It starts a
//! service in a child process (see [`service`]: the real boot code, HTTP
//! API, embedded MQTT broker, background sequencer, SQLite or PostgreSQL) on
//! a simulated clock,
//! builds a city through the API, runs the day (see [`day`]) with simulated
//! drivers over HTTP and simulated locks (doorman-devices: the lock core and
//! its verifier) whose events go to the service over MQTT, then reports:
//! deliveries per second, the drivers' latency percentiles, refusals by
//! reason, lock events, the log's size, the service's resident memory at
//! 10%, 50% and 100% of the day (the child's, apart from the simulation's),
//! its CPU time per delivery apart from the simulation's, the service's
//! `/metrics` beside the simulation's own totals (it fails if they
//! disagree), and the log checked with doorman-audit, the code of
//! `doorman audit verify`, bundle by bundle.

pub mod city;
pub mod day;
pub mod locks;
pub mod service;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_client::metrics_text::Samples;
use doorman_client::Client;
use doorman_domain::{Clock, UnixSeconds};

use self::service::ServiceProcess;

/// The simulated clock: set by the day, read by the service and the locks.
#[derive(Debug, Default)]
pub struct SimClock(AtomicI64);

impl SimClock {
    pub fn set(&self, t: UnixSeconds) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> UnixSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct SimulateOptions {
    pub buildings: usize,
    pub parcels: usize,
    /// A PostgreSQL (or SQLite) URL; a fresh SQLite file in `data_dir` otherwise.
    pub database: Option<String>,
    pub processes: usize,
    /// Visits in flight at once.
    pub concurrency: usize,
    /// Where the SQLite file and keys go (a temporary folder, removed after, by default).
    pub data_dir: Option<PathBuf>,
    /// Show the progress bar (on a terminal).
    pub progress: bool,
}

/// What a run measured (also printed).
#[derive(Debug, Default)]
pub struct Summary {
    pub delivered: u64,
    pub deliveries_per_second: f64,
    pub log_size: u64,
    pub lock_events: u64,
    pub peak_rss_kib: u64,
    pub metrics_agree: bool,
    pub log_verified: bool,
}

/// Resident memory of a process now and at its peak, in KiB, from its
/// `/proc/<pid>/status` (Linux).
fn memory_kib(status: &str) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(status).unwrap_or_default();
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok());
    (field("VmRSS:"), field("VmHWM:"))
}

/// A process's CPU time (all threads, user + system) in seconds, from its
/// `/proc/<pid>/stat` (Linux).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat).ok()?;
    // After the command name (which may hold spaces): utime is field 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

const SELF_STATUS: &str = "/proc/self/status";
const SELF_STAT: &str = "/proc/self/stat";

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

fn bar(enabled: bool, len: u64, what: &str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>18} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

pub async fn run(opts: SimulateOptions, out: &mut impl Write) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        opts.processes == 1,
        "--processes {}: several service processes on one database need the shared log sequencer of the \
         scale-out work (issue 18 item 1), which is not built yet; run with --processes 1",
        opts.processes
    );
    anyhow::ensure!(opts.buildings >= 1, "--buildings must be at least 1");
    anyhow::ensure!(opts.parcels >= 1, "--parcels must be at least 1");
    let (dir, temporary) = match &opts.data_dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("doorman-simulate-{}", uuid::Uuid::new_v4())), true),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(&opts, &dir, out).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(opts: &SimulateOptions, dir: &std::path::Path, out: &mut impl Write) -> anyhow::Result<Summary> {
    // The day begins at 06:00 UTC of today's date (the wall clock read once).
    let today = crate::SystemClock.now().div_euclid(86_400) * 86_400;
    let day_start = today;
    let clock = Arc::new(SimClock::default());
    clock.set(day_start + i64::from(day::DAY_START_MIN) * 60 - 3600);
    let database = opts.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("simulate.db").display()));
    let service = Arc::new(ServiceProcess::start(&database, dir, clock.now()).await?);
    let log_key = service.hello.log_key.clone();
    let operator = Client::new(service.hello.url.clone()).with_token(&service.hello.operator_token);
    writeln!(
        out,
        "doorman simulate: {} buildings, {} parcels, {} (backend {}), {} visits in flight; the service in process {}",
        opts.buildings,
        opts.parcels,
        if opts.database.is_some() { "the given database" } else { "a fresh SQLite file" },
        service.hello.backend,
        opts.concurrency,
        service.pid,
    )?;

    #[allow(clippy::disallowed_methods)] // wall time of the run, for its figures
    let started = std::time::Instant::now();
    let progress = bar(opts.progress, opts.buildings as u64, "building the city");
    let city = city::build(&operator, opts.buildings, clock.clone(), 64, &progress).await?;
    progress.finish_and_clear();
    let built_in = started.elapsed();
    writeln!(out, "city built through the API in {:.1} s", built_in.as_secs_f64())?;

    let day = Arc::new(day::Day::new(city, clock.clone(), service.clone(), day_start));
    let progress = bar(opts.progress, opts.parcels as u64, "the day");
    let marks = [(10u64, "10%"), (50, "50%"), (100, "100%")];
    // (mark, parcels done, the service's resident memory, the simulation's)
    let mut rss_marks: Vec<(&str, u64, Option<u64>, Option<u64>)> = Vec::new();
    #[allow(clippy::disallowed_methods)]
    let day_started = std::time::Instant::now();
    let cpu_started = (service.cpu_seconds(), cpu_seconds(SELF_STAT));
    let total = opts.parcels as u64;
    day::run(day.clone(), opts.parcels, opts.concurrency, |d| {
        let done = d.parcels_done.load(Ordering::Relaxed);
        progress.set_position(done);
        for (pct, name) in marks {
            if done * 100 >= total * pct && !rss_marks.iter().any(|(n, _, _, _)| *n == name) {
                rss_marks.push((name, done, service.memory_kib().0, memory_kib(SELF_STATUS).0));
            }
        }
    })
    .await?;
    progress.finish_and_clear();

    // The day's end: every lock connects and hands over what it kept.
    let progress = bar(opts.progress, day.city.buildings.len() as u64, "locks catching up");
    let mut unsettled = 0usize;
    for chunk in day.city.buildings.chunks(256) {
        for b in chunk {
            b.lock.arrive(true)?;
        }
        for b in chunk {
            if !b.lock.wait_settled(Duration::from_secs(60)).await {
                unsettled += 1;
            }
            b.lock.leave();
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let day_secs = day_started.elapsed().as_secs_f64();
    let cpu_service = cpu_started.0.zip(service.cpu_seconds()).map(|(a, b)| b - a);
    let cpu_simulation = cpu_started.1.zip(cpu_seconds(SELF_STAT)).map(|(a, b)| b - a);
    let (rss_end, hwm_day) = service.memory_kib();
    let log_size = service.sequence().await?;

    // The figures.
    let t = &day.tally;
    let delivered = t.delivered.load(Ordering::Relaxed);
    let per_second = delivered as f64 / day_secs.max(1e-9);
    let (p50, p90, p99, max) = {
        let l = t.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (l.quantile_ms(0.50), l.quantile_ms(0.90), l.quantile_ms(0.99), l.quantile_ms(1.0))
    };
    let lock_events: u64 =
        day.city.buildings.iter().map(|b| b.lock.sim.health().map(|h| h.event_counter).unwrap_or(0)).sum();
    writeln!(
        out,
        "\nthe day ({} simulated hours) in {day_secs:.1} s of wall time",
        (day::DAY_END_MIN - day::DAY_START_MIN) / 60
    )?;
    writeln!(out, "  parcels announced      {:>10}", t.announced.load(Ordering::Relaxed))?;
    writeln!(out, "  access requests        {:>10}", t.requests.load(Ordering::Relaxed))?;
    writeln!(out, "  granted                {:>10}", t.granted.load(Ordering::Relaxed))?;
    writeln!(out, "  doors opened (drivers) {:>10}", t.door_entries.load(Ordering::Relaxed))?;
    writeln!(out, "  delivered              {:>10}   {per_second:.0} deliveries/s end to end", delivered)?;
    if let (Some(service_cpu), Some(simulation_cpu)) = (cpu_service, cpu_simulation) {
        // The machine may be shared: CPU time per delivery is what the run
        // cost, whoever else was busy; two idle cores give 2 s per second.
        let per = |cpu: f64| cpu * 1e3 / (delivered.max(1) as f64);
        let (service_ms, simulation_ms) = (per(service_cpu), per(simulation_cpu));
        writeln!(
            out,
            "  CPU per delivery: service {service_ms:.2} ms, simulation {simulation_ms:.2} ms; on 2 idle cores at \
             most {:.0} deliveries/s for both, {:.0} for the service alone",
            2000.0 / (service_ms + simulation_ms).max(1e-9),
            2000.0 / service_ms.max(1e-9)
        )?;
    }
    writeln!(out, "  returns collected      {:>10}", t.returns_collected.load(Ordering::Relaxed))?;
    writeln!(out, "  guests let in          {:>10}", t.guest_entries.load(Ordering::Relaxed))?;
    writeln!(
        out,
        "  blocks / unblocks      {:>10}",
        format!("{} / {}", t.blocks.load(Ordering::Relaxed), t.unblocks.load(Ordering::Relaxed))
    )?;
    writeln!(
        out,
        "  lock events recorded   {lock_events:>10}   (offline locks' carried by handhelds {} times)",
        t.events_carried.load(Ordering::Relaxed)
    )?;
    writeln!(out, "  locks not caught up    {unsettled:>10}")?;
    writeln!(out, "  access latency (driver, ms): p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}")?;
    let refusals = day::Tally::snapshot(&t.refusals);
    writeln!(out, "  refusals by reason:")?;
    for (reason, n) in &refusals {
        writeln!(out, "    {reason:<28} {n:>8}")?;
    }
    let lock_refusals = day::Tally::snapshot(&t.lock_refusals);
    for (reason, n) in &lock_refusals {
        writeln!(out, "    at the lock: {reason:<15} {n:>8}")?;
    }
    for (code, n) in day::Tally::snapshot(&t.other_errors) {
        writeln!(out, "    other answer: {code:<14} {n:>8}")?;
    }
    writeln!(out, "  transparency log       {log_size:>10} entries")?;
    writeln!(out, "  resident memory of the service (process {}; the simulation's own beside it):", service.pid)?;
    for (name, done, rss, own) in &rss_marks {
        writeln!(
            out,
            "    at {name:>4} of the day ({done:>8} parcels): {:>8}   (simulation {})",
            mib(*rss),
            mib(*own)
        )?;
    }
    writeln!(out, "    after the locks caught up:        {:>8}   peak so far {}", mib(rss_end), mib(hwm_day))?;

    // The service's own counters beside the simulation's.
    let samples = Samples::parse(&operator.metrics().await?).map_err(|e| anyhow::anyhow!("/metrics: {e}"))?;
    let mut rows: Vec<(String, f64, f64)> = vec![
        (
            "access requests".into(),
            t.requests.load(Ordering::Relaxed) as f64,
            samples.value("doorman_access_requests_total", &[]),
        ),
        (
            "granted".into(),
            t.granted.load(Ordering::Relaxed) as f64,
            samples.value("doorman_access_requests_total", &[("outcome", "granted")]),
        ),
        (
            "refused".into(),
            refusals.values().sum::<u64>() as f64,
            samples.value("doorman_access_requests_total", &[("outcome", "refused")]),
        ),
        (
            "access request answers (HTTP)".into(),
            t.requests.load(Ordering::Relaxed) as f64,
            samples.value("doorman_http_requests_total", &[("route", "/v1/access-requests")]),
        ),
        (
            "drops confirmed (HTTP 200)".into(),
            (delivered + t.returns_collected.load(Ordering::Relaxed)) as f64,
            samples.value(
                "doorman_http_requests_total",
                &[("route", "/v1/deliveries/{delivery_id}/complete"), ("status", "200")],
            ),
        ),
        ("log entries".into(), log_size as f64, samples.value("doorman_log_checkpoint_size", &[])),
        ("locks in service".into(), day.city.buildings.len() as f64, samples.value("doorman_locks_in_service", &[])),
    ];
    let by_reason = samples.by_label("doorman_access_refusals_total", "reason");
    for reason in refusals.keys().chain(by_reason.keys()).collect::<std::collections::BTreeSet<_>>() {
        rows.push((
            format!("refused: {reason}"),
            refusals.get(reason).copied().unwrap_or(0) as f64,
            by_reason.get(reason).copied().unwrap_or(0.0),
        ));
    }
    writeln!(out, "\n  {:<40} {:>12} {:>12}", "the simulation counted / /metrics says", "simulation", "/metrics")?;
    let mut disagree = Vec::new();
    for (name, ours, theirs) in &rows {
        let same = (ours - theirs).abs() < 0.5;
        writeln!(out, "  {name:<40} {ours:>12.0} {theirs:>12.0}{}", if same { "" } else { "   DISAGREE" })?;
        if !same {
            disagree.push(name.clone());
        }
    }
    writeln!(
        out,
        "  (also: stale locks {}, connected now {}, webhook outbox {}, sequencer lag {})",
        samples.value("doorman_locks_stale", &[]),
        samples.value("doorman_locks_connected", &[]),
        samples.value("doorman_outbox_depth", &[("outbox", "webhook")]),
        samples.value("doorman_log_sequencer_lag_entries", &[]),
    )?;

    // The log, checked as a landlord and the operator would check it.
    let (verified, checked) = verify_log(&operator, &day.city, &log_key, log_size, opts.progress, out).await?;
    let (_, hwm) = service.memory_kib();
    writeln!(
        out,
        "  peak resident memory of the service, verification included: {} (the simulation's: {})",
        mib(hwm),
        mib(memory_kib(SELF_STATUS).1)
    )?;
    drop(day);
    service.stop().await?;
    anyhow::ensure!(disagree.is_empty(), "/metrics disagrees with the simulation on: {}", disagree.join(", "));
    anyhow::ensure!(verified, "the transparency log did not verify");
    anyhow::ensure!(unsettled == 0, "{unsettled} locks did not hand over their events");
    Ok(Summary {
        delivered,
        deliveries_per_second: per_second,
        log_size,
        lock_events,
        peak_rss_kib: hwm_day.unwrap_or(0),
        metrics_agree: disagree.is_empty(),
        log_verified: verified && checked > 0,
    })
}

/// Each manager's bundle (their buildings' entries, with proofs, the lock
/// chains among them, every grant's request) and the operator's, checked
/// with `doorman_audit::verify` against the log's key; returns whether all
/// verified and how many entries were checked.
async fn verify_log(
    operator: &Client,
    city: &city::City,
    log_key: &str,
    log_size: u64,
    progress: bool,
    out: &mut impl Write,
) -> anyhow::Result<(bool, u64)> {
    let key = doorman_tlog::VerifierKey::parse(log_key).context("the log key")?;
    let readers: Vec<(&str, &Client)> =
        std::iter::once(("operator", operator)).chain(city.managers.iter().map(|m| ("manager", m))).collect();
    let bar = bar(progress, readers.len() as u64, "verifying the log");
    let (mut entries, mut chains, mut grants, mut problems) = (0u64, 0usize, 0usize, Vec::new());
    let mut seen = std::collections::BTreeSet::new();
    for (who, client) in &readers {
        let bundle =
            crate::audit_cmd::export(client, None).await.with_context(|| format!("exporting a {who}'s bundle"))?;
        let report = doorman_audit::verify(&bundle, std::slice::from_ref(&key), None, &[]);
        entries += bundle.entries.len() as u64;
        seen.extend(bundle.entries.iter().map(|e| e.index));
        for checked in &report.checked {
            match checked {
                doorman_audit::Verified::LockChainIntact { .. } => chains += 1,
                doorman_audit::Verified::GrantsAnswered { count } => grants += count,
                _ => {}
            }
        }
        if !report.is_ok() {
            problems.push(format!("{who}: {}", report.render()));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    writeln!(
        out,
        "\nthe log, checked with doorman-audit (the code of `doorman audit verify`): {} bundles, {} entries \
         ({} distinct of {log_size}; the others are carriers' and drivers' own), {chains} lock chains intact, \
         {grants} grants each answering its request: {}",
        readers.len(),
        entries,
        seen.len(),
        if problems.is_empty() { "verified" } else { "PROBLEMS" }
    )?;
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    Ok((problems.is_empty(), entries))
}
