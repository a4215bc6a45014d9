//! `doorman bench access`: access grants per second end to end over HTTP, as
//! a ratio to a bare endpoint of the same server processes that only signs a
//! credential, both measured in the same run, with latency percentiles, the
//! servers' CPU per request and their peak resident memory.
//!
//! The servers are real processes: `doorman bench serve-child` (hidden) is
//! `doorman serve` with the baseline's route beside the API, so each of
//! them also runs its log sequencer, webhook dispatcher and upkeep, as in
//! production. One process on durable SQLite, or one or several processes
//! on one PostgreSQL database (a fresh schema; the processes share it as in
//! docs/SERVICE.md, "Several processes on one database"). The load comes
//! from this process over loopback, spread over the server processes in
//! turn, the same for both sides, so the ratio is what the policy, the
//! reads and the writes cost.
//!
//! Requests per second is a capacity: both sides run with enough requests in
//! flight (256 by default) to saturate the servers. The bare side is
//! saturated from about 16 in flight; the full side needs more, because each
//! of its requests also waits for its commit, when it uses no CPU. With few
//! in flight that wait, not work, bounds it: `--concurrency 16` shows that
//! regime, and its p99 is the figure a single driver feels.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::routing::post;
use axum::Json;
use doorman_api::*;
use doorman_client::Client;
use doorman_domain::{Clock, LockId};
use doorman_server::{issuing, KeyFile, Service, ServiceConfig};
use doorman_testkit::{
    all_day, CarrierSpec, DoorSpec, DropSpotSpec, LockSpec, ManagerSpec, ParcelSpec, PropertySpec, SiteSpec,
};

use crate::{app, SystemClock};

/// Where the bench building stands, and where its driver asks from.
const BENCH_LOCATION: GeoPoint = GeoPoint { lat: 40.7, lon: -74.0 };

/// Where the servers keep their data.
#[derive(Clone, Debug)]
pub enum BenchDatabase {
    /// A fresh SQLite file (WAL, durable commits) in a temporary folder.
    Sqlite,
    /// A fresh schema in this PostgreSQL database.
    Postgres(String),
}

pub struct BenchOptions {
    pub requests: usize,
    pub concurrency: usize,
    pub database: BenchDatabase,
    /// Server processes (more than one only on PostgreSQL).
    pub processes: usize,
    /// How to start a server process: a program and its first arguments, to
    /// which `--database`, `--key-file` and `--data-dir` are added (see
    /// [`server_command`]).
    pub server: Vec<OsString>,
}

/// The command that starts a bench server from this executable: the
/// `doorman` binary's hidden `bench serve-child`.
pub fn server_command() -> anyhow::Result<Vec<OsString>> {
    let exe = std::env::current_exe().context("finding this executable")?;
    Ok(vec![exe.into_os_string(), "bench".into(), "serve-child".into()])
}

pub struct Measured {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// The server processes' CPU time (user + system) per request, µs.
    pub cpu_us: Option<f64>,
}

/// One access figure: both sides and the servers' peak memory.
pub struct AccessFigures {
    pub place: String,
    pub processes: usize,
    pub bare: Measured,
    pub full: Measured,
    /// The largest peak resident set (VmHWM, KiB) of the server processes
    /// after the bare side (baseline) and after the full side.
    pub peak_kib_bare: Option<u64>,
    pub peak_kib_full: Option<u64>,
}

impl AccessFigures {
    pub fn ratio(&self) -> f64 {
        self.full.per_second / self.bare.per_second
    }
}

/// CPU ticks (utime + stime, 100 per second) of a process, from
/// `/proc/PID/stat` (Linux; elsewhere nothing).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime is field
    // 14, stime field 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's peak resident set size in KiB (`VmHWM` in `/proc/PID/status`).
pub fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Runs `count` calls of `call(i)` with `concurrency` in flight; CPU is
/// counted on the processes `pids`.
async fn measure<F, Fut>(count: usize, concurrency: usize, pids: &[u32], call: F) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ticks = |pids: &[u32]| pids.iter().map(|p| cpu_ticks(*p)).sum::<Option<u64>>();
    let before = ticks(pids);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (call, next) = (call.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                call(i).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = start.elapsed();
    let cpu_us = before.zip(ticks(pids)).map(|(a, b)| b.saturating_sub(a) as f64 * 1e4 / count.max(1) as f64);
    all.sort();
    Ok(Measured {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        cpu_us,
    })
}

/// The benchmark's building: one door, one lock, one drop spot, one driver
/// of a carrier enabled at all hours, and `parcels` parcels due now.
fn site(parcels: usize) -> SiteSpec {
    let building = PropertySpec::new(CreateProperty {
        kind: PropertyKind::Building,
        name: "bench building".into(),
        address: "1 Bench St".into(),
        location: BENCH_LOCATION,
        time_zone: "UTC".into(),
    })
    .units(["1A"])
    .door(DoorSpec::new(AccessPointKind::Entrance, "entrance").locked(LockSpec::MOBILE))
    .drop_spot(DropSpotSpec::new(DropSpotKind::Lobby, "lobby", "entrance"))
    .tenant_notice(Some("bench"));
    let mut carrier =
        CarrierSpec::new("bench carrier").enabled_at("bench building", all_day(), ["lobby"]).driver("bench driver", 0);
    carrier.parcels = (0..parcels)
        .map(|i| ParcelSpec::new(&format!("BENCH-{i:07}"), "bench building", "1A", -3600, 6 * 3600))
        .collect();
    SiteSpec::new("bench", "1").manager(ManagerSpec::new("bench manager").property(building)).carrier(carrier)
}

/// The baseline: an endpoint of the same server that only signs one
/// credential (for a fixed handheld key and lock: what is signed does not
/// change what signing costs).
fn bare_signing_route(service: Arc<Service>) -> anyhow::Result<axum::Router> {
    let handheld = doorman_protocol::HandheldKey::from_secret(&[0x15; 32])
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .public_key()
        .as_sec1_bytes()
        .to_vec();
    let lock = LockId::random();
    let handheld = Arc::new(handheld);
    let counter = Arc::new(std::sync::atomic::AtomicI64::new(1));
    Ok(axum::Router::new().route(
        "/bench/sign",
        post(move || {
            let (service, handheld, counter) = (service.clone(), handheld.clone(), counter.clone());
            async move {
                let now = service.now();
                let sequence = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cred = issuing::credential(
                    &service.keys(),
                    &service.config().issuer,
                    &issuing::CredentialParams {
                        lock_id: lock,
                        sequence,
                        cti: [7; 16],
                        delivery_hash: issuing::delivery_hash(&[1; 16], doorman_domain::DeliveryId::random()),
                        handheld_key: &handheld,
                        issued_at: now,
                        expires_at: now + 300,
                    },
                )
                .map_err(doorman_web::error::ApiError::from)?;
                Ok::<_, doorman_web::error::ApiError>(Json(serde_json::json!({
                    "credential": doorman_domain::serde_b64::encode(&cred),
                })))
            }
        }),
    ))
}

/// `doorman bench serve-child`: `doorman serve` on `database` with the
/// baseline's route beside the API. Prints the operator's token on the
/// first start, then `doorman listening on URL`; stops (signing a last
/// checkpoint) when its standard input closes or on Ctrl-C / SIGTERM.
pub async fn serve_child(database: &str, key_file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = doorman_store::open(database).await.context("opening the database")?;
    let keys = KeyFile::load_or_create(key_file, clock.now()).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The bench's one driver stands for every driver of a city: no per-driver limit.
    let config = ServiceConfig { access_requests_per_driver: 0, ..ServiceConfig::default() };
    let service = app::service_with(store, clock, &keys, config)?;
    let beside = bare_signing_route(service.clone())?;
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let running = app::start_serving_beside(
        service,
        listen,
        Some(app::DEFAULT_LOG_INTERVAL),
        doorman_dashboard::DashboardConfig::default(),
        beside,
    )
    .await?;
    if let Some(token) = &running.operator_token {
        println!("{token}");
    }
    println!("doorman listening on {}", running.url());
    std::io::stdout().flush()?;
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    tokio::select! {
        _ = stdin_closed => {}
        () = app::shutdown_signal() => {}
    }
    running.stop().await
}

/// A bench server process; killed when dropped.
struct Server {
    child: std::process::Child,
    url: String,
    operator_token: Option<String>,
}

impl Server {
    fn start(command: &[OsString], database: &str, key_file: &Path, data_dir: &Path) -> anyhow::Result<Server> {
        let (program, args) = command.split_first().context("no server command")?;
        let mut child = std::process::Command::new(program)
            .args(args)
            .arg("--database")
            .arg(database)
            .arg("--key-file")
            .arg(key_file)
            .arg("--data-dir")
            .arg(data_dir)
            .env("DOORMAN_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting a bench server")?;
        let stdout = child.stdout.take().context("its output")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut operator_token = None;
        loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the bench server exited before listening");
            };
            let line = line?;
            let line = line.trim();
            if line.starts_with("dm_") {
                operator_token = Some(line.to_string());
            }
            if let Some(rest) = line.strip_prefix("doorman listening on ") {
                let url = rest.split_whitespace().next().context("an address")?.to_string();
                std::thread::spawn(move || for _ in lines {});
                return Ok(Server { child, url, operator_token });
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its input (it signs a last checkpoint and exits), waits.
    fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Measures one access figure.
pub async fn measure_access(opts: &BenchOptions) -> anyhow::Result<AccessFigures> {
    let dir = std::env::temp_dir().join(format!("doorman-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = measure_in(opts, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_in(opts: &BenchOptions, dir: &Path) -> anyhow::Result<AccessFigures> {
    let processes = opts.processes.max(1);
    let (database, place) = match &opts.database {
        BenchDatabase::Sqlite => {
            anyhow::ensure!(processes == 1, "several processes share a PostgreSQL database, not a SQLite file");
            (format!("sqlite://{}", dir.join("bench.db").display()), "SQLite (WAL, durable commits)".to_string())
        }
        BenchDatabase::Postgres(url) => (
            doorman_store::isolated_postgres_url(url).await.context("a fresh PostgreSQL schema")?,
            "PostgreSQL (a fresh schema)".to_string(),
        ),
    };
    let now = SystemClock.now();
    let key_file = dir.join("keys.json");
    KeyFile::generate(now).and_then(|k| k.save(&key_file)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut servers: Vec<Server> = Vec::new();
    for i in 0..processes {
        let data: PathBuf = dir.join(format!("process-{i}"));
        servers.push(Server::start(&opts.server, &database, &key_file, &data)?);
    }
    let operator_token =
        servers.first().and_then(|s| s.operator_token.clone()).context("the first server prints the operator token")?;
    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let anon: Vec<Client> = servers.iter().map(|s| Client::new(&s.url)).collect();
    let first = anon.first().context("a server")?;

    let warmup = opts.concurrency * 4;
    let seeded = doorman_testkit::seed(&first.with_token(&operator_token), &site(opts.requests + warmup), now).await?;
    let driver = seeded.driver("bench driver")?;
    let building = seeded.property("bench building")?;
    let drivers: Arc<Vec<Client>> = Arc::new(anon.iter().map(|c| c.with_token(&driver.token)).collect());
    let request = |t: &str| AccessRequest {
        tracking_number: t.to_string(),
        property_id: building.property.id,
        handheld_public_key: driver.handheld.public_key_b64(),
        position: BENCH_LOCATION,
        drop_spot_id: None,
    };
    // Drivers scan parcels in route order, not in the order they were
    // created: the requests come in a random order (warm-up first).
    let mut tracking: Vec<String> = seeded.deliveries.iter().map(|d| d.tracking_number.clone()).collect();
    if let Some(measured) = tracking.get_mut(warmup..) {
        use rand_core::RngCore;
        for i in (1..measured.len()).rev() {
            let j = (rand_core::OsRng.next_u64() % (i as u64 + 1)) as usize;
            measured.swap(i, j);
        }
    }
    let requests: Arc<Vec<AccessRequest>> = Arc::new(tracking.iter().map(|t| request(t)).collect());

    let bare = |clients: Arc<Vec<Client>>| {
        move |i: usize| {
            let c = clients.get(i % clients.len()).cloned();
            async move {
                let c = c.context("a client")?;
                let (status, body) = c.send_raw(reqwest::Method::POST, "/bench/sign", None, None).await?;
                anyhow::ensure!(status.is_success(), "bare endpoint answered {status}: {body}");
                Ok(())
            }
        }
    };
    let full = |clients: Arc<Vec<Client>>, reqs: Arc<Vec<AccessRequest>>, offset: usize| {
        move |i: usize| {
            let c = clients.get(i % clients.len()).cloned();
            let reqs = reqs.clone();
            async move {
                let c = c.context("a client")?;
                let r = reqs.get(offset + i).context("ran out of parcels")?;
                c.request_access(r).await.context("access request")?;
                Ok(())
            }
        }
    };
    // Warm both paths (connections, caches, page cache) before measuring.
    measure(warmup, opts.concurrency, &pids, bare(drivers.clone())).await?;
    measure(warmup, opts.concurrency, &pids, full(drivers.clone(), requests.clone(), 0)).await?;

    let peak = |pids: &[u32]| pids.iter().filter_map(|p| peak_kib(*p)).max();
    let bare_run = measure(opts.requests, opts.concurrency, &pids, bare(drivers.clone())).await?;
    let peak_kib_bare = peak(&pids);
    let full_run =
        measure(opts.requests, opts.concurrency, &pids, full(drivers.clone(), requests.clone(), warmup)).await?;
    let peak_kib_full = peak(&pids);
    for server in servers {
        server.stop()?;
    }
    Ok(AccessFigures { place, processes, bare: bare_run, full: full_run, peak_kib_bare, peak_kib_full })
}

/// `doorman bench access`: one figure, in detail.
pub async fn access(opts: BenchOptions, out: &mut impl Write) -> anyhow::Result<()> {
    let f = measure_access(&opts).await?;
    writeln!(
        out,
        "doorman bench access: {} requests per side, {} in flight, {} server process(es) on {}",
        opts.requests, opts.concurrency, f.processes, f.place
    )?;
    writeln!(out, "\n{:<44} {:>10} {:>10} {:>10} {:>14}", "endpoint", "req/s", "p50 ms", "p99 ms", "server CPU µs")?;
    for (name, m) in
        [("bare: sign one credential (baseline)", &f.bare), ("POST /v1/access-requests (policy+store+sign)", &f.full)]
    {
        let cpu = m.cpu_us.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        writeln!(
            out,
            "{:<44} {:>10.0} {:>10.2} {:>10.2} {:>14}",
            name,
            m.per_second,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            cpu
        )?;
    }
    writeln!(out, "\nratio full / bare = {:.2}", f.ratio())?;
    if let (Some(a), Some(b)) = (f.peak_kib_bare, f.peak_kib_full) {
        writeln!(
            out,
            "peak resident memory of a server process: {} MiB after the bare side, {} MiB after the full side",
            a / 1024,
            b / 1024
        )?;
    }
    Ok(())
}
