//! `doorman bench access`: access requests per second end to end over HTTP
//! with durable SQLite, as a ratio to a bare endpoint of the same server that
//! only signs a credential, both measured in the same run, with latency
//! percentiles. The load comes from this process over loopback, the same for
//! both, so the ratio is what the policy, the reads and the writes cost.
//!
//! Requests per second is a capacity: both sides run with enough requests in
//! flight (256 by default) to saturate the server. The bare side is
//! saturated from about 16 in flight; the full side needs more, because each
//! of its requests also waits for its group's commit and WAL flush, when it
//! uses no CPU. On a 2-core machine, at 128 in flight a quarter of the CPU
//! stood idle (`perf sched`: the writer waiting for work, the async workers
//! for responses, while the flusher waited for the disk's cache flush); 256
//! in flight used nearly both cores and gained about a tenth, 512 little
//! more. With few in flight that wait, not work, bounds it:
//! `--concurrency 16` shows that regime, and its p99 is the figure a single
//! driver feels.
//!
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::io::Write;
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

pub struct BenchOptions {
    pub requests: usize,
    pub concurrency: usize,
}

struct Measured {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// This process's CPU time (all threads, user + system) per request, µs.
    cpu_us: Option<f64>,
    /// Bytes this process wrote per request: the WAL, checkpoints, and the
    /// HTTP traffic both ways over loopback (the kernel counts every write).
    written: Option<f64>,
}

/// What the kernel counts for this process (Linux): CPU time in clock ticks
/// (`/proc/self/stat`, utime + stime, 100 per second) and bytes written
/// (`/proc/self/io`, `wchar`). Elsewhere, nothing.
#[derive(Clone, Copy)]
struct Counters {
    cpu_ticks: Option<u64>,
    written: Option<u64>,
}

impl Counters {
    fn read() -> Self {
        let cpu_ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
            // Fields after the command name (which may hold spaces): state is
            // field 3, utime field 14, stime field 15.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        });
        let written = std::fs::read_to_string("/proc/self/io")
            .ok()
            .and_then(|io| io.lines().find_map(|line| line.strip_prefix("wchar:").and_then(|v| v.trim().parse().ok())));
        Counters { cpu_ticks, written }
    }

    /// Per request since `start`: CPU µs and bytes written.
    fn per_request(start: Counters, count: usize) -> (Option<f64>, Option<f64>) {
        let end = Counters::read();
        let n = count.max(1) as f64;
        let cpu = start.cpu_ticks.zip(end.cpu_ticks).map(|(a, b)| b.saturating_sub(a) as f64 * 1e4 / n);
        let written = start.written.zip(end.written).map(|(a, b)| b.saturating_sub(a) as f64 / n);
        (cpu, written)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Runs `count` calls of `call(i)` with `concurrency` in flight.
async fn measure<F, Fut>(count: usize, concurrency: usize, call: F) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counters = Counters::read();
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
    let (cpu_us, written) = Counters::per_request(counters, count);
    all.sort();
    Ok(Measured {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        cpu_us,
        written,
    })
}

struct Fixture {
    driver: Client,
    property: PropertyId,
    handheld_b64: String,
    handheld_sec1: Vec<u8>,
    lock: LockId,
    tracking: Vec<String>,
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

async fn seed(operator: &Client, parcels: usize, now: i64) -> anyhow::Result<Fixture> {
    let seeded = doorman_testkit::seed(operator, &site(parcels), now).await?;
    let driver = seeded.driver("bench driver")?;
    let handheld_sec1 = driver.handheld.key.public_key().as_sec1_bytes().to_vec();
    let building = seeded.property("bench building")?;
    Ok(Fixture {
        driver: driver.client.clone(),
        property: building.property.id,
        handheld_b64: driver.handheld.public_key_b64(),
        handheld_sec1,
        lock: building.lock("entrance")?.lock.id,
        tracking: seeded.deliveries.iter().map(|d| d.tracking_number.clone()).collect(),
    })
}

/// What the baseline signs for: the bench driver's handheld key and lock,
/// known once the fixture is seeded.
type SigningTarget = Arc<std::sync::OnceLock<(Vec<u8>, LockId)>>;

/// The baseline: the same server, an endpoint that only signs one credential.
fn bare_signing_route(service: Arc<Service>, target: SigningTarget) -> axum::Router {
    let counter = Arc::new(std::sync::atomic::AtomicI64::new(1));
    axum::Router::new().route(
        "/bench/sign",
        post(move || {
            let (service, target, counter) = (service.clone(), target.clone(), counter.clone());
            async move {
                let (handheld, lock) = target.get().context("fixture not seeded").map_err(internal)?;
                let now = service.now();
                let sequence = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cred = issuing::credential(
                    &service.keys(),
                    &service.config().issuer,
                    &issuing::CredentialParams {
                        lock_id: *lock,
                        sequence,
                        cti: [7; 16],
                        delivery_hash: issuing::delivery_hash(&[1; 16], doorman_domain::DeliveryId::random()),
                        handheld_key: handheld,
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
    )
}

fn internal(e: anyhow::Error) -> doorman_web::error::ApiError {
    doorman_web::error::ApiError::from(doorman_server::ServiceError::Internal(e.to_string()))
}

pub async fn access(opts: BenchOptions, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorman-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let result = access_in(&opts, &dir, out).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn access_in(opts: &BenchOptions, dir: &std::path::Path, out: &mut impl Write) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let db = format!("sqlite://{}", dir.join("bench.db").display());
    let store = doorman_store::open(&db).await?;
    let keys = KeyFile::generate(now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = app::service_with(store, clock, &keys, ServiceConfig::default())?;
    let operator_token = service.bootstrap().await.map_err(|e| anyhow::anyhow!("{e}"))?.context("fresh database")?;

    // One server, one listener: the API and the baseline route side by side.
    let target: SigningTarget = Arc::default();
    let app = doorman_web::router(service.clone()).merge(bare_signing_route(service.clone(), target.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let base = Client::new(format!("http://{addr}"));
    let warmup = opts.concurrency * 4;
    let fx = seed(&base.with_token(&operator_token), opts.requests + warmup, now).await?;
    let _ = target.set((fx.handheld_sec1.clone(), fx.lock));
    let driver = fx.driver.clone();

    writeln!(
        out,
        "doorman bench access: {} requests per side, {} in flight, SQLite (WAL) in {}",
        opts.requests,
        opts.concurrency,
        dir.display()
    )?;
    let request = |t: &str| AccessRequest {
        tracking_number: t.to_string(),
        property_id: fx.property,
        handheld_public_key: fx.handheld_b64.clone(),
        position: BENCH_LOCATION,
        drop_spot_id: None,
    };
    // Drivers scan parcels in route order, not in the order they were
    // created: the requests come in a random order (warm-up first).
    let mut tracking = fx.tracking.clone();
    if let Some(measured) = tracking.get_mut(warmup..) {
        use rand_core::RngCore;
        for i in (1..measured.len()).rev() {
            let j = (rand_core::OsRng.next_u64() % (i as u64 + 1)) as usize;
            measured.swap(i, j);
        }
    }
    let requests: Arc<Vec<AccessRequest>> = Arc::new(tracking.iter().map(|t| request(t)).collect());

    // Warm both paths (connections, caches, page cache) before measuring.
    let sign_client = driver.clone();
    let bare = |c: Client| {
        move |_i: usize| {
            let c = c.clone();
            async move {
                let (status, body) = c.send_raw(reqwest::Method::POST, "/bench/sign", None, None).await?;
                anyhow::ensure!(status.is_success(), "bare endpoint answered {status}: {body}");
                Ok(())
            }
        }
    };
    let full = |c: Client, reqs: Arc<Vec<AccessRequest>>, offset: usize| {
        move |i: usize| {
            let (c, reqs) = (c.clone(), reqs.clone());
            async move {
                let r = reqs.get(offset + i).context("ran out of parcels")?;
                c.request_access(r).await.context("access request")?;
                Ok(())
            }
        }
    };
    measure(warmup, opts.concurrency, bare(sign_client.clone())).await?;
    measure(warmup, opts.concurrency, full(driver.clone(), requests.clone(), 0)).await?;

    let baseline = measure(opts.requests, opts.concurrency, bare(sign_client.clone())).await?;
    let full_run = measure(opts.requests, opts.concurrency, full(driver.clone(), requests.clone(), warmup)).await?;

    writeln!(
        out,
        "\n{:<44} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "endpoint", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "bytes/req"
    )?;
    for (name, m) in [
        ("bare: sign one credential (baseline)", &baseline),
        ("POST /v1/access-requests (policy+store+sign)", &full_run),
    ] {
        let or_dash = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        writeln!(
            out,
            "{:<44} {:>10.0} {:>10.2} {:>10.2} {:>10} {:>10}",
            name,
            m.per_second,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            or_dash(m.cpu_us),
            or_dash(m.written)
        )?;
    }
    let ratio = full_run.per_second / baseline.per_second;
    writeln!(out, "\nratio full / bare = {ratio:.2} (target >= 0.30)")?;
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}
