//! Faults the service survives, each brought about for real: the `doorman
//! serve` process SIGKILLed in the middle of a burst of lock uploads and of
//! webhook deliveries, its PostgreSQL stopped under it (a private server the
//! test starts, never the machine's shared one), the MQTT broker killed and
//! started again while a revocation is made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_client::Client;
use doorman_devices::{RunOptions, RunningLocks, SimLock};
use doorman_domain::{serde_b64, Clock, Event, EventKind};
use doorman_protocol::{ChainHead, EventChainVerifier, LockDevicePublicKey};
use doorman_store::{EntryFilter, Store};
use doorman_testkit::places::WALK_UP;
use reqwest::StatusCode;

use crate::fleet::{eventually, Broker, FleetEnv, ENTRANCE, ROOM, WAIT};
use crate::kit::{Backend, Kit, TempDir};

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

/// `doorman serve` as a child process, with the environment it was given,
/// so that it can be killed and started again just the same.
struct ServeProcess {
    child: Child,
    url: String,
    operator_token: Option<String>,
}

impl ServeProcess {
    fn start(database: &str, data_dir: &Path, env: &[(&str, String)]) -> anyhow::Result<ServeProcess> {
        let crate::kit::ServeChild { child, url, operator_token } =
            crate::kit::serve_child(database, data_dir, "127.0.0.1:0", env)?;
        Ok(ServeProcess { child, url, operator_token })
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stored events of `lock` are exactly 1..=`head`, signed by it, one
/// unbroken chain, each logged once, verbatim.
async fn chain_is_whole(
    store: &Arc<dyn Store>,
    lock: LockId,
    device: LockDevicePublicKey,
    head: u64,
) -> anyhow::Result<()> {
    let stored = store.list_lock_events(lock, 0, 100_000).await?;
    let counters: Vec<u64> = stored.iter().map(|e| e.counter).collect();
    assert_eq!(counters, (1..=head).collect::<Vec<_>>(), "lock {lock}: lost or doubled events");
    let mut verifier = EventChainVerifier::resume(device, wire(lock), ChainHead::GENESIS);
    for e in &stored {
        verifier.push(&e.signed).map_err(|e| anyhow::anyhow!("lock {lock}: broken chain: {e:?}"))?;
    }
    let record = store.lock_fleet(lock).await?.context("fleet record")?;
    assert_eq!((record.gap, record.problem), (None, None), "lock {lock}: nothing flagged");
    let all = EntryFilter { everything: true, ..Default::default() };
    let mut logged = Vec::new();
    for entry in store.log_entries(&all, 0..u64::MAX >> 2, 100_000).await? {
        if let EventKind::LockEvent { lock_id, counter, signed } = Event::from_bytes(&entry.bytes)?.kind {
            if lock_id == lock {
                logged.push((counter, signed));
            }
        }
    }
    let expected: Vec<(u64, String)> = stored.iter().map(|e| (e.counter, serde_b64::encode(&e.signed))).collect();
    assert_eq!(logged, expected, "lock {lock}: each event logged once, verbatim, in order");
    Ok(())
}

// --- a. SIGKILL during a burst of lock uploads -------------------------------------

/// Two locks on the embedded broker of a `doorman serve` process record door
/// events as fast as the service acknowledges them (at most 12 in flight
/// each); the process is SIGKILLed mid-burst and started again on the same
/// database, key file and broker port. Every event a lock had acknowledged
/// is stored, nothing twice, and the chains go on where they were.
async fn killed_during_lock_uploads(backend: Backend) -> anyhow::Result<()> {
    let Some((database, _db_dir)) = crate::kit::fresh_database(backend).await? else {
        println!("skipped: set {} to run the PostgreSQL variant", crate::kit::POSTGRES_ENV);
        return Ok(());
    };
    let data = TempDir::new("doorman-faults-locks")?;
    let env = [("DOORMAN_MQTT_LISTEN", format!("127.0.0.1:{}", free_port()?))];
    let mut served = ServeProcess::start(&database, data.path(), &env)?;
    let operator = Client::new(&served.url).with_token(served.operator_token.clone().context("first start")?);
    let now = doorman_cli::SystemClock.now();
    let mut seeded = doorman_testkit::seed(&operator, &crate::fleet::site(crate::fleet::building()), now).await?;
    let building = seeded.property_mut(WALK_UP)?;
    let mut bundles = Vec::new();
    for door in ["street door", "package room"] {
        let lock = building.take_lock(door)?;
        bundles.push(crate::fleet::bundle_of(&lock.device_secret, lock.provisioned)?);
    }
    let state = TempDir::new("doorman-faults-lock-state")?;
    let mut options = RunOptions::new(state.path().to_path_buf());
    options.tick_every = Duration::from_millis(20);
    options.health_every = Duration::from_millis(200);
    let locks = RunningLocks::start(&bundles, options, Arc::new(doorman_cli::SystemClock)).await?;
    let sims: Vec<Arc<SimLock>> = locks.locks().to_vec();

    // The burst: each lock's door opens and closes as fast as its events are
    // acknowledged, never more than 12 ahead (a lock's ring holds 40).
    let stop = Arc::new(AtomicBool::new(false));
    let mut bursts = Vec::new();
    for sim in &sims {
        let (sim, stop) = (sim.clone(), stop.clone());
        bursts.push(tokio::spawn(async move {
            let mut open = false;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(h) = sim.health() {
                    if h.event_counter.saturating_sub(h.acked_counter) < 12 {
                        open = !open;
                        let _ = sim.door(open);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let acked =
        |sims: &[Arc<SimLock>]| -> u64 { sims.iter().filter_map(|s| s.health().ok()).map(|h| h.acked_counter).sum() };
    eventually("the service acknowledged 80 events", || async { Ok(acked(&sims) >= 80) }).await?;
    served.kill()?;
    let at_kill: Vec<(u64, u64)> =
        sims.iter().map(|s| s.health().map(|h| (h.event_counter, h.acked_counter))).collect::<Result<_, _>>()?;
    assert!(at_kill.iter().any(|(recorded, acked)| recorded > acked), "events were in flight: {at_kill:?}");

    // Started again on the same database and broker port: the locks come
    // back, send what was not acknowledged, and the burst goes on.
    let served = ServeProcess::start(&database, data.path(), &env)?;
    let before_restart = acked(&sims);
    eventually("40 more events are acknowledged after the restart", || async {
        Ok(acked(&sims) >= before_restart + 40)
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    for b in bursts {
        b.await?;
    }
    let store = doorman_store::open(&database).await?;
    for (i, (sim, bundle)) in sims.iter().zip(&bundles).enumerate() {
        let lock = LockId::from(uuid::Uuid::from_bytes(bundle.lock()?.0));
        let store_ = store.clone();
        let sim_ = sim.clone();
        eventually(&format!("lock {i} is in step with the service"), move || {
            let (store, sim) = (store_.clone(), sim_.clone());
            async move {
                let h = sim.health()?;
                let stored = store.lock_fleet(lock).await?.context("fleet")?.head.counter;
                Ok(h.event_counter == h.acked_counter && stored == h.event_counter)
            }
        })
        .await?;
        let head = sim.health()?.event_counter;
        let (_, acked_at_kill) = at_kill[i];
        assert!(head > acked_at_kill, "the chain went on after the restart");
        chain_is_whole(&store, lock, bundle.device_public_key()?, head).await?;
        println!(
            "lock {i}: {acked_at_kill} events acknowledged before the kill ({} recorded), {head} stored once each \
             after the restart",
            at_kill[i].0
        );
    }
    drop(locks);
    drop(served);
    Ok(())
}

// --- a. SIGKILL during a burst of webhook deliveries ---------------------------------

/// A webhook receiver that checks each signature, keeps every POST it got
/// (event id, body) and can hold its answers: a POST it holds when the
/// service is killed was received, but the service never learns it was.
#[derive(Clone)]
struct HoldingReceiver {
    url: String,
    secret: Arc<std::sync::Mutex<String>>,
    got: Arc<std::sync::Mutex<Vec<(u64, serde_json::Value)>>>,
    held: Arc<std::sync::atomic::AtomicUsize>,
    hold: Arc<tokio::sync::watch::Sender<bool>>,
}

impl HoldingReceiver {
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let r = HoldingReceiver {
            url: format!("http://{}/hook", listener.local_addr()?),
            secret: Arc::default(),
            got: Arc::default(),
            held: Arc::default(),
            hold: Arc::new(tokio::sync::watch::channel(false).0),
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(Self::receive)).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(r)
    }

    async fn receive(
        axum::extract::State(r): axum::extract::State<HoldingReceiver>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        use hmac::Mac;
        let header = headers.get("doorman-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let parts: BTreeMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
        let secret = r.secret.lock().unwrap().clone();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(parts.get("t").unwrap_or(&"").as_bytes());
        mac.update(b".");
        mac.update(&body);
        let signed = hex::decode(parts.get("v1").unwrap_or(&"")).is_ok_and(|v1| mac.verify_slice(&v1).is_ok());
        if !signed {
            return axum::http::StatusCode::UNAUTHORIZED;
        }
        let id: u64 = headers.get("doorman-event-id").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        r.got.lock().unwrap().push((id, serde_json::from_slice(&body).unwrap_or_default()));
        let mut hold = r.hold.subscribe();
        if *hold.borrow() {
            r.held.fetch_add(1, Ordering::SeqCst);
            let _ = hold.wait_for(|h| !h).await;
        }
        axum::http::StatusCode::NO_CONTENT
    }

    fn ids(&self) -> Vec<u64> {
        self.got.lock().unwrap().iter().map(|(id, _)| *id).collect()
    }
}

/// A manager's webhook receives every change of her building while units are
/// created as fast as the service takes them; the service is SIGKILLed while
/// the receiver holds its answer to a POST (so the POST arrived, and the
/// service never learnt it did), then started again. Every event reaches
/// the receiver. Delivery is at least once, the documented contract: the
/// POST caught by the kill is sent again once its lease ends, with the same
/// event id and the same body, so a receiver that dedupes on
/// `Doorman-Event-Id` sees each event once. The outbox holds one delivery
/// per event, delivered.
async fn killed_during_webhook_deliveries(backend: Backend) -> anyhow::Result<()> {
    let Some((database, _db_dir)) = crate::kit::fresh_database(backend).await? else {
        println!("skipped: set {} to run the PostgreSQL variant", crate::kit::POSTGRES_ENV);
        return Ok(());
    };
    let data = TempDir::new("doorman-faults-webhooks")?;
    let env = [
        ("DOORMAN_MQTT", "false".to_string()),
        ("DOORMAN_WEBHOOK_PRIVATE_TARGETS", "true".to_string()),
        // A delivery caught by the kill goes out again 2 s later.
        ("DOORMAN_WEBHOOK_LEASE_S", "2".to_string()),
    ];
    let mut served = ServeProcess::start(&database, data.path(), &env)?;
    let anon = Client::new(&served.url);
    let operator = anon.with_token(served.operator_token.clone().context("first start")?);
    let rosa_token = operator.create_manager("Rosa").await?.token;
    let rosa = anon.with_token(rosa_token.clone());
    let receiver = HoldingReceiver::start().await?;
    let hook = rosa.create_webhook(&CreateWebhook { url: receiver.url.clone(), events: vec![] }).await?;
    *receiver.secret.lock().unwrap() = hook.secret.clone();
    let property = rosa
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "webhook burst".into(),
            address: "2 Test St".into(),
            location: crate::fixture::HOME,
            time_zone: "America/New_York".into(),
        })
        .await?;

    // The burst: units, one change each, until the service stops answering.
    let burst = {
        let rosa = rosa.clone();
        tokio::spawn(async move {
            let mut created = 0u32;
            for i in 0..250 {
                if rosa.create_unit(property.id, &format!("burst-{i}")).await.is_err() {
                    break;
                }
                created += 1;
            }
            created
        })
    };
    eventually("the receiver got 40 events", || async { Ok(receiver.ids().len() >= 40) }).await?;
    receiver.hold.send_replace(true);
    eventually("the receiver holds a POST", || async { Ok(receiver.held.load(Ordering::SeqCst) >= 1) }).await?;
    served.kill()?;
    receiver.hold.send_replace(false);
    let created_before = burst.await?;
    let got_at_kill = receiver.ids().len();
    let held = *receiver.ids().last().context("the held POST")?;

    let served = ServeProcess::start(&database, data.path(), &env)?;
    let rosa = Client::new(&served.url).with_token(rosa_token);
    for i in 0..20 {
        rosa.create_unit(property.id, &format!("after-{i}")).await?;
    }
    // What Rosa's webhook must deliver: her view of the log after it was made.
    let mut expected = BTreeSet::new();
    let mut after = hook.webhook.after_index;
    loop {
        let page = rosa.events(after, None).await?;
        if page.events.is_empty() {
            break;
        }
        expected.extend(page.events.iter().map(|e| e.id));
        after = page.next_after;
    }
    assert!(expected.len() as u32 >= created_before + 20, "{} events for {created_before} units", expected.len());
    // Done when the receiver has every event and the service has recorded
    // each delivery (the one caught by the kill once its lease ended).
    eventually("every event reached the receiver and is recorded delivered", || async {
        let deliveries = rosa.webhook_deliveries(hook.webhook.id, None).await?;
        Ok(receiver.ids().into_iter().collect::<BTreeSet<_>>() == expected
            && deliveries.len() == expected.len()
            && deliveries.iter().all(|d| d.state == WebhookDeliveryState::Delivered))
    })
    .await?;

    let mut copies: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
    for (id, body) in receiver.got.lock().unwrap().iter() {
        copies.entry(*id).or_default().push(body.clone());
    }
    for (id, bodies) in &copies {
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "event {id}: a repeat carries the same body");
        assert_eq!(bodies[0]["id"], serde_json::json!(id), "the body's id is the header's");
    }
    assert!(copies[&held].len() >= 2, "the POST caught by the kill was sent again");
    let twice = copies.values().filter(|c| c.len() > 1).count();
    let deliveries = rosa.webhook_deliveries(hook.webhook.id, None).await?;
    let mut per_event: BTreeMap<u64, usize> = BTreeMap::new();
    for d in &deliveries {
        *per_event.entry(d.event_id).or_default() += 1;
        assert_eq!(d.state, WebhookDeliveryState::Delivered, "{d:?}");
    }
    assert_eq!(per_event.keys().copied().collect::<BTreeSet<_>>(), expected, "one outbox row per event");
    assert!(per_event.values().all(|n| *n == 1), "never two outbox rows for one event");
    println!(
        "{} events delivered; {got_at_kill} received before the kill; {twice} received twice across it (same id \
         and body: deduped on Doorman-Event-Id)",
        expected.len()
    );
    drop(served);
    Ok(())
}

// --- b. the database unreachable ---------------------------------------------------

/// A PostgreSQL server of the test's own (initdb and pg_ctl from the
/// machine's PostgreSQL, on a free port, in a temporary folder; run as the
/// `postgres` user when the test runs as root), so stopping it disturbs no
/// other test.
struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> anyhow::Result<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("no /usr/lib/postgresql: PostgreSQL's server programs are needed")?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .context("no initdb and pg_ctl under /usr/lib/postgresql/*/bin")?;
        let uid = Command::new("id").arg("-u").output()?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = TempDir::new("doorman-private-pg")?;
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:"]).arg(dir.path()).status()?;
            anyhow::ensure!(status.success(), "chown postgres {}: {status}", dir.path().display());
        }
        let pg = PrivatePostgres { dir, bin, port: free_port()?, as_postgres };
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])?;
        pg.up()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).current_dir(self.dir.path()).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Starts the server and waits until it accepts connections (`pg_ctl -w`).
    fn up(&self) -> anyhow::Result<()> {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"])
    }

    /// Stops it as a crash would: no checkpoint, connections dropped.
    fn down(&self) -> anyhow::Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"])
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// One request while the database is away: 503, `Retry-After`, and (for the
/// API) the machine-readable `unavailable`; how long it took.
async fn answers_unavailable(request: reqwest::RequestBuilder, api: bool) -> anyhow::Result<Duration> {
    let started = tokio::time::Instant::now();
    let response = request.send().await?;
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = response.headers().get("retry-after").context("a Retry-After header")?.to_str()?.to_string();
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry}");
    let body: serde_json::Value = response.json().await?;
    if api {
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("retry")), "{body}");
    } else {
        assert_eq!(body["status"], "unavailable", "{body}");
    }
    Ok(took)
}

/// `doorman serve` on a PostgreSQL that is stopped under it (a crash: `-m
/// immediate`): every request answers 503 with `Retry-After` (reads,
/// writes, `/readyz`), a write tried meanwhile leaves nothing, and when the
/// server is back the same process answers again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_database_down_answers_503_and_recovers_without_a_restart() -> anyhow::Result<()> {
    if std::env::var(crate::kit::POSTGRES_ENV).is_err() {
        println!("skipped: set {} (this machine has PostgreSQL) to run it", crate::kit::POSTGRES_ENV);
        return Ok(());
    }
    let pg = PrivatePostgres::start()?;
    let data = TempDir::new("doorman-faults-db")?;
    let served = ServeProcess::start(&pg.url(), data.path(), &[("DOORMAN_MQTT", "false".into())])?;
    let anon = Client::new(&served.url);
    let operator = anon.with_token(served.operator_token.clone().context("first start")?);
    let rosa_token = operator.create_manager("Rosa").await?.token;
    let rosa = anon.with_token(rosa_token.clone());
    let property = rosa
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "db down".into(),
            address: "3 Test St".into(),
            location: crate::fixture::HOME,
            time_zone: "America/New_York".into(),
        })
        .await?;
    rosa.create_unit(property.id, "before").await?;

    pg.down()?;
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for round in 0..3 {
        took.push(answers_unavailable(http.get(format!("{}/readyz", served.url)), false).await?);
        took.push(
            answers_unavailable(
                http.get(format!("{}/v1/properties/{}/units", served.url, property.id)).bearer_auth(&rosa_token),
                true,
            )
            .await?,
        );
        took.push(
            answers_unavailable(
                http.post(format!("{}/v1/properties/{}/units", served.url, property.id))
                    .bearer_auth(&rosa_token)
                    .json(&serde_json::json!({ "label": format!("while-down-{round}") })),
                true,
            )
            .await?,
        );
    }
    // The first request finds the server gone (a connection not made in
    // 2 s with room in the pool); the ones after it are told at once.
    assert!(took.iter().all(|t| *t < Duration::from_secs(5)), "{took:?}");
    assert!(took.iter().skip(1).all(|t| *t < Duration::from_secs(3)), "{took:?}");

    pg.up()?;
    eventually("the same process answers again", || async {
        Ok(http.get(format!("{}/readyz", served.url)).send().await?.status() == StatusCode::OK)
    })
    .await?;
    let units: Vec<String> = rosa.list_units(property.id).await?.into_iter().map(|u| u.label).collect();
    assert_eq!(units, vec!["before".to_string()], "nothing tried while the database was away was written");
    rosa.create_unit(property.id, "after").await?;
    assert_eq!(rosa.list_units(property.id).await?.len(), 2);
    println!("answers while the database was down: {took:?}");
    drop(served);
    Ok(())
}

// --- c. the MQTT broker restarted --------------------------------------------------

/// Mosquitto (a private one, run from the files the service writes) is
/// killed; while it is down a resident blocks her unit, revoking a driver's
/// credential, and another driver delivers through the offline locks.
/// Started again on the same port: the service's session and the locks
/// reconnect, the revocation reaches the street door (which then refuses the
/// credential), and every event recorded offline arrives once.
pub async fn fleet_faults_mosquitto_restarted_locks_resync_and_revocations_arrive(kit: &Kit) -> anyhow::Result<()> {
    let Some(mut env) = FleetEnv::start(kit, Broker::Mosquitto).await? else { return Ok(()) };
    for i in [ENTRANCE, ROOM] {
        env.synced(kit, i).await?;
    }
    let revoked = env.parcel(kit, 1).await?;
    let offline_delivery = env.parcel(kit, 0).await?;
    let dir = env.mosquitto_dir().context("the Mosquitto files' folder")?.to_path_buf();
    let (endpoint, _) = doorman_fleet::MqttEndpoint::parse(&env.fleet.broker_url)?;
    drop(env.mosquitto.take());

    let blocked = env.jun.block(env.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    assert_eq!(blocked.revoked_grants.len(), 2, "both open grants of 2B are revoked");
    // Offline, the locks know nothing yet: a delivery granted before goes
    // through (its grant was revoked too, but the lock cannot know), and
    // the events stay on the locks.
    env.deliver(0, &offline_delivery).await.ok();
    assert_eq!(env.sim(ENTRANCE).health()?.revocation_sequence, 0);

    env.mosquitto = Some(crate::fleet::MosquittoProcess::start(&dir, endpoint.port).await?);
    env.sim(ENTRANCE).wait_until(WAIT, |h| h.revocation_sequence >= 1).await.context("the revocation arrived")?;
    let refused = env.present(1, &revoked, ENTRANCE).await?;
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    for i in [ENTRANCE, ROOM] {
        let head = env.synced(kit, i).await?;
        env.check_chain(kit, i, head).await?;
    }
    Ok(())
}

// --- keys rotated while deliveries go on -------------------------------------------

/// The issuer key rotates on a running service with an online lock (the
/// street door) and one offline (the package room):
/// - announced: the online lock takes the key update at once; the old key
///   keeps signing, so deliveries open both doors, the offline one included;
/// - the offline lock comes back: the service sees it is behind and sends
///   the update; once every lock in service holds it, the new key signs;
/// - the old key retired while the package room is offline again: a
///   handheld carries the latest key update to it; a credential the old key
///   signed is refused by both locks, new deliveries go on.
///
/// Each step is in the log.
pub async fn fleet_key_rotation_keeps_deliveries_going_and_retires_the_old_key(kit: &Kit) -> anyhow::Result<()> {
    let keys_dir = TempDir::new("doorman-rotation")?;
    let key_file = keys_dir.path().join("keys.json");
    kit.keys.save(&key_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = kit.running.service.clone();
    service.attach_key_custody(doorman_server::KeyCustody::new(key_file.clone(), None));
    let Some(mut env) = FleetEnv::start(kit, Broker::Embedded).await? else { return Ok(()) };
    // The side gate's lock was never heard from: taken out of service, so
    // the rotation does not wait for it.
    env.rosa.decommission_lock(env.property.id, env.lock_id(crate::fleet::IDLE)).await?;
    let (entrance, room) = (env.lock_id(ENTRANCE), env.lock_id(ROOM));
    for i in [ENTRANCE, ROOM] {
        env.synced(kit, i).await?;
    }
    // The locks were registered a minute before the rotation.
    kit.advance(60);
    let kid_of = |granted: &AccessGranted, lock: LockId| -> anyhow::Result<String> {
        let door = granted.doors.iter().find(|d| d.lock_id == lock).context("door")?;
        let bytes = serde_b64::decode(door.credential.as_deref().context("credential")?)?;
        let inspected =
            doorman_protocol::credential::inspect_credential(&bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(serde_b64::encode(&inspected.key_id.0))
    };

    env.locks.as_mut().context("locks")?.disconnect(wire(room));
    let old = kit.operator.key_rotation().await?.active_kid;
    // Signed with the old key, kept unused for after its retirement.
    let kept = env.parcel(kit, 2).await?;
    let announced = kit.operator.rotate_keys().await?;
    let new = announced.pending_kid.clone().context("a pending key")?;
    assert_eq!((announced.active_kid.as_str(), announced.key_update_sequence), (old.as_str(), 1));
    assert!(announced.published.contains(&old) && announced.published.contains(&new));
    expect_conflict(kit.operator.rotate_keys().await);
    expect_conflict(kit.operator.retire_keys().await);
    env.sim(ENTRANCE).wait_until(WAIT, |h| h.key_update_sequence == 1).await.context("pushed to the online lock")?;
    assert_eq!(env.sim(ROOM).health()?.key_update_sequence, 0);
    eventually("the service knows which lock is behind", || async {
        Ok(kit.operator.key_rotation().await?.locks_behind == vec![room])
    })
    .await?;

    // Deliveries go on with the old key, through the offline lock too.
    let during = env.parcel(kit, 0).await?;
    assert_eq!(kid_of(&during, entrance)?, old);
    env.deliver(0, &during).await?;
    assert_eq!(service.advance_key_rotation().await?, None, "the package room has not said it holds the key");

    // Back online: its health says it is behind; the service sends the update.
    env.locks.as_mut().context("locks")?.reconnect(wire(room))?;
    env.sim(ROOM).wait_until(WAIT, |h| h.key_update_sequence == 1).await.context("sent on reconnection")?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let activated = loop {
        if let Some(kid) = service.advance_key_rotation().await? {
            break kid;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the new key never started signing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(activated, new, "the new key signs once every lock in service holds it");
    let after = env.parcel(kit, 1).await?;
    assert_eq!((kid_of(&after, entrance)?, kid_of(&after, room)?), (new.clone(), new.clone()));
    env.deliver(1, &after).await?;

    // The old key retired while the package room is offline again.
    env.locks.as_mut().context("locks")?.disconnect(wire(room));
    let retired = kit.operator.retire_keys().await?;
    assert_eq!((retired.published.clone(), retired.key_update_sequence), (vec![new.clone()], 2));
    assert_eq!(kit.anon.keys().await?.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>(), vec![new.clone()]);
    env.sim(ENTRANCE).wait_until(WAIT, |h| h.key_update_sequence == 2).await?;
    let update = kit.anon.key_update().await?;
    assert_eq!(update.sequence, 2);
    let relayed = env.endpoint().relay_key_update(wire(room), &serde_b64::decode(&update.update)?).await?;
    assert_eq!(relayed, Some(2), "a handheld carried the update to the offline lock");
    for i in [ENTRANCE, ROOM] {
        let refused = env.present(2, &kept, i).await?;
        assert!(!refused.unlocked, "lock {i} opened for a credential of the retired key: {refused:?}");
    }
    let last = env.parcel(kit, 0).await?;
    env.deliver(0, &last).await?;
    env.locks.as_mut().context("locks")?.reconnect(wire(room))?;

    // Each step, in the log.
    let all = EntryFilter { everything: true, ..Default::default() };
    let mut steps = Vec::new();
    for entry in kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await? {
        match Event::from_bytes(&entry.bytes)?.kind {
            EventKind::ConfigurationChanged { what } if what.contains("issuer key") => steps.push(what),
            EventKind::KeyRotated { kid } => steps.push(format!("rotated to {kid}")),
            _ => {}
        }
    }
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].contains(&new) && steps[0].contains("announced"), "{steps:?}");
    assert_eq!(steps[1], format!("rotated to {new}"));
    assert!(steps[2].contains(&old) && steps[2].contains("retired"), "{steps:?}");
    Ok(())
}

/// The key file sealed at rest through the real binary: a plain file is
/// sealed in place by `doorman keys encrypt` (no seed left in clear), the
/// service starts from it with the same key and serves the same keys; with
/// no key or a wrong one it refuses to start, saying why, and the file is
/// left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_sealed_at_rest_open_only_with_their_key() -> anyhow::Result<()> {
    let data = TempDir::new("doorman-sealed-keys")?;
    let database = format!("sqlite://{}", data.path().join("doorman.db").display());
    let plain_env = [("DOORMAN_MQTT", "false".to_string())];
    let mut served = ServeProcess::start(&database, data.path(), &plain_env)?;
    let kids: Vec<String> = Client::new(&served.url).keys().await?.keys.into_iter().map(|k| k.kid).collect();
    served.kill()?;
    let key_file = data.path().join("keys.json");
    let plain = std::fs::read_to_string(&key_file)?;
    let plain_file: serde_json::Value = serde_json::from_str(&plain)?;
    let seed = plain_file["issuer_keys"][0]["seed"].as_str().context("a seed in the plain file")?.to_string();

    let doorman = |args: &[&str], key: Option<&str>| -> anyhow::Result<std::process::Output> {
        let mut c = Command::new(env!("CARGO_BIN_EXE_doorman"));
        c.args(args).env_remove("DOORMAN_KEY_ENCRYPTION_KEY").env("DOORMAN_MQTT", "false").env("DOORMAN_LOG", "warn");
        if let Some(k) = key {
            c.env("DOORMAN_KEY_ENCRYPTION_KEY", k);
        }
        Ok(c.output()?)
    };
    let new_key = doorman(&["keys", "new-encryption-key"], None)?;
    assert!(new_key.status.success());
    let kek = String::from_utf8(new_key.stdout)?.trim().to_string();
    let key_path = key_file.display().to_string();
    let sealed = doorman(&["keys", "encrypt", "--key-file", &key_path], Some(&kek))?;
    assert!(sealed.status.success(), "{}", String::from_utf8_lossy(&sealed.stderr));
    let text = std::fs::read_to_string(&key_file)?;
    assert!(text.contains(doorman_server::keys::SEALED_FORMAT) && !text.contains(&seed), "{text}");

    let sealed_env = [("DOORMAN_MQTT", "false".to_string()), ("DOORMAN_KEY_ENCRYPTION_KEY", kek.clone())];
    let served = ServeProcess::start(&database, data.path(), &sealed_env)?;
    let again: Vec<String> = Client::new(&served.url).keys().await?.keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(again, kids, "the same keys, read from the sealed file");
    drop(served);

    let data_dir = data.path().display().to_string();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--database", &database, "--data-dir", &data_dir];
    let wrong = doorman(&["keys", "new-encryption-key"], None)?;
    let wrong = String::from_utf8(wrong.stdout)?.trim().to_string();
    for (key, says) in [(None, "set DOORMAN_KEY_ENCRYPTION_KEY"), (Some(wrong.as_str()), "does not open it")] {
        let refused = doorman(&serve, key)?;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "served with {key:?}");
        assert!(stderr.contains(says) && stderr.contains("keys.json"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&key_file)?, text, "the key file is left as it was");
    }
    let short = doorman(&serve, Some("c2hvcnQ="))?;
    assert!(String::from_utf8_lossy(&short.stderr).contains("32 bytes"));
    Ok(())
}

fn expect_conflict<T: std::fmt::Debug>(result: Result<T, doorman_client::ClientError>) {
    crate::kit::expect_error(result, StatusCode::CONFLICT, "conflict");
}

// --- the tests ------------------------------------------------------------------

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_killed_service_keeps_every_acknowledged_lock_event() -> anyhow::Result<()> {
        super::killed_during_lock_uploads(crate::kit::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_killed_service_delivers_every_webhook_event_at_least_once() -> anyhow::Result<()> {
        super::killed_during_webhook_deliveries(crate::kit::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_killed_service_keeps_every_acknowledged_lock_event() -> anyhow::Result<()> {
        super::killed_during_lock_uploads(crate::kit::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_killed_service_delivers_every_webhook_event_at_least_once() -> anyhow::Result<()> {
        super::killed_during_webhook_deliveries(crate::kit::Backend::Postgres).await
    }
}
