//! Several `doorman serve` processes on one PostgreSQL behave as one
//! service: the real binary, three times, on a schema of its own, sharing
//! one key file. Runs when `DOORMAN_TEST_POSTGRES_URL` is set (it says it
//! was skipped otherwise).
//!
//! What it holds the service to (ARCHITECTURE.md, "Several processes"):
//! one credential per parcel whichever processes the drivers reach; one
//! log, gap-free and verified offline; every live event delivered once to a
//! stream on each process (so to streams on processes other than the one
//! that made it), woken through the database, not a timer; every webhook
//! event delivered once whichever process leased it; and the log's one
//! sequencer taken over by another process within 5 s of a SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_cli::audit_cmd;
use doorman_client::{Client, ClientError, StreamStart};
use doorman_domain::Clock;
use doorman_server::KeyFile;
use doorman_testkit::{places, seed, CarrierSpec, ManagerSpec, ParcelSpec, SiteSpec};
use doorman_tlog::{Checkpoint, Note, VerifierKey};
use sqlx::Connection;

use crate::kit::{fresh_database, Backend, TempDir, POSTGRES_ENV};
use crate::webhooks::Receiver;

const PROCESSES: usize = 3;
const CLIENTS: usize = 64;
const PARCELS: usize = 500;
/// How many of the 64 clients ask for each parcel (from different
/// processes and drivers).
const CONTENDERS: usize = 4;
const DRIVERS: usize = 8;
/// The log's sequencer must be taken over within this.
const TAKEOVER: Duration = Duration::from_secs(5);
/// How long the streams and webhooks have to catch up after the rush.
const CATCH_UP: Duration = Duration::from_secs(60);

/// `doorman serve` as a child process.
struct Serve {
    child: std::process::Child,
    url: String,
    operator_token: Option<String>,
}

impl Serve {
    /// Starts one and waits until it listens (it prints its address once it
    /// accepts connections). `feed_recheck_ms` is one minute: a stream that
    /// catches up in less was woken by the database's notification.
    fn start(database: &str, key_file: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<Serve> {
        let env = [
            ("DOORMAN_KEY_FILE", key_file.display().to_string()),
            ("DOORMAN_MQTT", "false".into()),
            ("DOORMAN_WEBHOOK_PRIVATE_TARGETS", "true".into()),
            ("DOORMAN_FEED_RECHECK_MS", "60000".into()),
            // Eight drivers stand for a city's: 250 requests each in seconds
            // is the load under test, not a driver to slow down.
            ("DOORMAN_ACCESS_REQUESTS_PER_DRIVER", "0".into()),
        ];
        let crate::kit::ServeChild { child, url, operator_token } =
            crate::kit::serve_child(database, data_dir, "127.0.0.1:0", &env)?;
        Ok(Serve { child, url, operator_token })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no last checkpoint, nothing.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process id of the `doorman serve` whose session holds the sequencer
/// seat of `schema` (its session names it: `doorman sequencer pid <id>`).
async fn sequencer_pid(admin: &mut sqlx::PgConnection, schema: &str) -> anyhow::Result<Option<u32>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT a.application_name::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
         AND l.classid = 1685024626::oid AND l.objid = hashtext($1)::oid",
    )
    .bind(schema)
    .fetch_all(admin)
    .await?;
    anyhow::ensure!(names.len() <= 1, "more than one sequencer: {names:?}");
    Ok(names.first().and_then(|n| n.strip_prefix("doorman sequencer pid ")).and_then(|pid| pid.parse().ok()))
}

/// The size of the latest checkpoint a process serves.
async fn checkpoint_size(client: &Client) -> anyhow::Result<u64> {
    let text = client.log_checkpoint().await?;
    Ok(Checkpoint::parse_text(Note::parse(text.as_bytes())?.text())?.size())
}

/// Polls `check` every 20 ms until it holds, for at most `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let polled = tokio::time::timeout(limit, async {
        loop {
            match check().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    polled.with_context(|| format!("{what}: not within {limit:?}"))?
}

/// Reads a stream until it holds an event with id `last` (or fails after
/// [`CATCH_UP`]); returns every id read, in order.
async fn read_until(stream: &mut doorman_client::EventStream, last: u64) -> anyhow::Result<Vec<u64>> {
    let mut ids = Vec::new();
    tokio::time::timeout(CATCH_UP, async {
        while ids.last().is_none_or(|id| *id < last) {
            let event = stream.next().await?.context("the stream ended")?;
            ids.push(event.id);
        }
        anyhow::Ok(())
    })
    .await
    .context("the stream did not catch up")??;
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_three_processes_grant_log_and_deliver_once_and_survive_the_sequencer_s_death() -> anyhow::Result<()> {
    let Some((database, _)) = fresh_database(Backend::Postgres).await? else {
        println!("skipped: set {POSTGRES_ENV} to run the three-process test");
        return Ok(());
    };
    let schema = database.rsplit_once("options[search_path]=").context("the test's schema")?.1.to_string();
    let mut admin = sqlx::PgConnection::connect(&std::env::var(POSTGRES_ENV)?).await?;
    let dir = TempDir::new("doorman-scale")?;
    let now = doorman_cli::SystemClock.now();
    let key_file = dir.path().join("keys.json");
    KeyFile::generate(now).and_then(|keys| keys.save(&key_file)).map_err(|e| anyhow::anyhow!("{e}"))?;

    // Three processes, one database, one key file; the first bootstraps.
    let mut served = Vec::new();
    for i in 0..PROCESSES {
        let data = dir.path().join(format!("process-{i}"));
        served.push(Serve::start(&database, &key_file, &data)?);
    }
    let operator_token = served[0].operator_token.clone().context("the first start prints the operator's token")?;
    anyhow::ensure!(served[1..].iter().all(|s| s.operator_token.is_none()), "one bootstrap");
    let anon: Vec<Client> = served.iter().map(|s| Client::new(&s.url)).collect();
    let holder = sequencer_pid(&mut admin, &schema).await?.context("one process holds the sequencer seat")?;
    anyhow::ensure!(served.iter().any(|s| s.pid() == holder), "the seat's holder is one of ours");

    // One building, one carrier with eight drivers, 500 parcels, seeded
    // through the first process.
    let building = places::walk_up().tenant_notice(Some("Couriers may enter to leave parcels in the package room."));
    let mut carrier =
        CarrierSpec::new("Parcelo").enabled_at(places::WALK_UP, doorman_testkit::all_day(), ["package room shelves"]);
    for d in 0..DRIVERS {
        carrier = carrier.driver(&format!("driver {d}"), 30);
    }
    for p in 0..PARCELS {
        let unit = if p % 2 == 0 { "2B" } else { "3C" };
        carrier = carrier.parcel(ParcelSpec::new(&format!("SCALE-{p:04}"), places::WALK_UP, unit, -600, 3600));
    }
    let spec = SiteSpec::new("scale-lock", "1.0").manager(ManagerSpec::new("Rosa").property(building)).carrier(carrier);
    let seeded = seed(&anon[0].with_token(&operator_token), &spec, now).await?;
    let rosa_token = seeded.manager("Rosa")?.token.clone();
    let rosa: Vec<Client> = anon.iter().map(|a| a.with_token(&rosa_token)).collect();
    let property = seeded.property(places::WALK_UP)?.property.id;

    // Rosa's webhook (made on the second process) and her live streams,
    // one on each process, from now on.
    let receiver = Receiver::start().await?;
    let hook = rosa[1].create_webhook(&CreateWebhook { url: receiver.url.clone(), events: vec![] }).await?;
    receiver.set_secret(&hook.secret);
    let mut streams = Vec::new();
    for client in &rosa {
        streams.push(client.event_stream(StreamStart::Now).await?);
    }

    // The rush: 64 clients, each a driver on one process; each parcel asked
    // for by four of them, on all three processes.
    let drivers: Vec<(String, String)> =
        seeded.drivers.iter().map(|d| (d.token.clone(), d.handheld.public_key_b64())).collect();
    let parcels: Vec<String> = seeded.deliveries.iter().map(|d| d.tracking_number.clone()).collect();
    anyhow::ensure!(parcels.len() == PARCELS);
    let parcels = Arc::new(parcels);
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..CLIENTS {
        let process = k % PROCESSES;
        let (token, key) = drivers[(k / (CLIENTS / CONTENDERS)) % DRIVERS].clone();
        let client = anon[process].with_token(token);
        let (parcels, barrier) = (parcels.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let mut outcomes = Vec::new();
            // Client k asks for the parcels p with p % 16 == k % 16.
            for tracking in parcels.iter().skip(k % (CLIENTS / CONTENDERS)).step_by(CLIENTS / CONTENDERS) {
                let request = AccessRequest {
                    tracking_number: tracking.clone(),
                    property_id: property,
                    handheld_public_key: key.clone(),
                    position: places::HOME,
                    drop_spot_id: None,
                };
                outcomes.push((tracking.clone(), process, client.request_access(&request).await));
            }
            outcomes
        });
    }
    let rush_began = tokio::time::Instant::now();
    let mut grants: BTreeMap<String, Vec<(usize, AccessGranted)>> = BTreeMap::new();
    let mut refused = 0;
    let mut answered = [0usize; PROCESSES];
    while let Some(joined) = tasks.join_next().await {
        for (tracking, process, outcome) in joined? {
            answered[process] += 1;
            match outcome {
                Ok(grant) => grants.entry(tracking).or_default().push((process, grant)),
                Err(ClientError::Api { body, .. }) if body.error.code == "access_already_granted" => refused += 1,
                Err(other) => anyhow::bail!("{tracking} on process {process}: {other}"),
            }
        }
    }
    let rush = rush_began.elapsed();
    // Exactly one credential per parcel, whichever process granted it.
    anyhow::ensure!(grants.len() == PARCELS, "{} parcels granted of {PARCELS}", grants.len());
    for (tracking, granted) in &grants {
        anyhow::ensure!(granted.len() == 1, "{tracking} was granted {} times", granted.len());
    }
    assert_eq!(refused, PARCELS * (CONTENDERS - 1));
    let by_process: Vec<usize> = (0..PROCESSES).map(|p| grants.values().filter(|g| g[0].0 == p).count()).collect();
    // Every process took its share of the contest (which one wins a parcel
    // is whichever locks its row first: with group-committed claims one
    // process may win them all, and that is no fault).
    assert!(answered.iter().all(|n| *n > 0), "every process answered some: {answered:?}");
    eprintln!("grants by process: {by_process:?}; answers by process: {answered:?}");

    // One log with no hole: the stored entries are 0..n, the sequencer
    // integrates all of them, and Rosa's export verifies offline.
    let (count, max): (i64, i64) =
        sqlx::query_as(&format!("SELECT count(*), COALESCE(max(idx), -1) FROM \"{schema}\".log_entries"))
            .fetch_one(&mut admin)
            .await?;
    assert_eq!(count, max + 1, "the log's indexes are 0..{count}");
    let size = u64::try_from(count)?;
    within(CATCH_UP, "the checkpoint covers the whole log", || {
        let client = anon[2].clone();
        async move { Ok(checkpoint_size(&client).await? == size) }
    })
    .await?;
    let key = VerifierKey::parse(anon[1].log_key().await?.trim())?;
    let bundle = audit_cmd::export(&rosa[2], None).await?;
    let report = doorman_audit::verify(&bundle, std::slice::from_ref(&key), None, &[]);
    assert!(report.is_ok(), "{}", report.render());
    let visible: BTreeSet<u64> = bundle.entries.iter().map(|e| e.index).collect();
    for (tracking, granted) in &grants {
        let index = granted[0].1.log_index;
        assert!(visible.contains(&index) && index < size, "{tracking}'s grant entry {index} is in the verified log");
    }

    // Every event of the rush reached each stream once, in order: so each
    // reached the streams of the two processes that did not make it.
    let first = grants.values().map(|g| g[0].1.log_index).min().context("a grant")?.saturating_sub(1);
    let expected: Vec<u64> = visible.iter().copied().filter(|i| *i >= first).collect();
    let last = *expected.last().context("events after the rush began")?;
    for (p, stream) in streams.iter_mut().enumerate() {
        let ids = read_until(stream, last).await.with_context(|| format!("the stream on process {p}"))?;
        assert_eq!(ids, expected, "the stream on process {p} got every event once, in order");
    }
    for (tracking, granted) in &grants {
        let (made_by, grant) = &granted[0];
        for p in (0..PROCESSES).filter(|p| p != made_by) {
            assert!(expected.contains(&grant.log_index), "{tracking} reached process {p}'s stream");
        }
    }

    // Every webhook event delivered once, whichever process leased it.
    within(CATCH_UP, "every webhook event delivered", || {
        let receiver = receiver.clone();
        let want = expected.len();
        async move { Ok(receiver.accepted().len() >= want) }
    })
    .await?;
    // A second dispatch round on every process, to show that none sends again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = receiver.got();
    assert!(got.iter().all(|r| r.signature_ok && r.answered < 300));
    let mut delivered: Vec<u64> = got.iter().map(|r| r.event_id).collect();
    delivered.sort_unstable();
    assert_eq!(delivered, expected, "each event delivered exactly once");

    // SIGKILL the sequencer: another process takes the seat and the log
    // goes on (a new checkpoint covering new entries) within 5 s.
    let victim = served.iter().position(|s| s.pid() == holder).context("the holder")?;
    let survivor = (victim + 1) % PROCESSES;
    let before = rosa[survivor].log_checkpoint().await?;
    served[victim].kill()?;
    let killed_at = tokio::time::Instant::now();
    let unit = rosa[survivor].create_unit(property, "after the kill").await?;
    let new_size = size + 1;
    within(TAKEOVER, "a surviving process signs a checkpoint over the new entry", || {
        let client = anon[survivor].clone();
        async move { Ok(checkpoint_size(&client).await? >= new_size) }
    })
    .await?;
    let takeover = killed_at.elapsed();
    let successor = sequencer_pid(&mut admin, &schema).await?.context("a new holder of the seat")?;
    assert_ne!(successor, holder);
    assert!(served.iter().enumerate().any(|(i, s)| i != victim && s.pid() == successor));
    // The new checkpoint extends the old one (consistency), and holds the
    // new unit's entry.
    let bundle = audit_cmd::export(&rosa[survivor], Some(before.clone())).await?;
    let report = doorman_audit::verify(&bundle, std::slice::from_ref(&key), Some(before.as_str()), &[]);
    assert!(report.is_ok(), "{}", report.render());
    let logged = crate::audit::events(&bundle);
    assert!(logged.values().any(|e| matches!(&e.kind, doorman_domain::EventKind::ConfigurationChanged { what }
        if what.contains(&unit.id.to_string()))));
    println!(
        "{PARCELS} parcels, {} requests by {CLIENTS} clients over {PROCESSES} processes ({by_process:?} grants \
         each) in {rush:?}; log of {size} entries; {} events to each stream and webhook; sequencer pid {holder} \
         killed, pid {successor} signed a checkpoint over a new entry {takeover:?} later",
        PARCELS * CONTENDERS,
        expected.len()
    );
    drop(served);
    Ok(())
}

/// Two service processes on one database and one Mosquitto (the kit's, and
/// a second booted over the kit's database with a broker account of its
/// own): both join the shared subscription, so each of the lock's messages
/// reaches one of them, in turn. A resident asks either process to open the
/// street door; the request waits in the database, and whichever process
/// the lock's challenge reaches answers it: every unlock opens the door,
/// once, and is logged once. The lock's events are stored once, as one
/// chain.
pub async fn fleet_remote_unlocks_are_answered_by_whichever_process_the_lock_reaches(
    kit: &crate::kit::Kit,
) -> anyhow::Result<()> {
    use crate::fleet::{Broker, FleetEnv, ENTRANCE, WAIT};
    use doorman_cli::config::{FleetBroker, FleetSettings};
    let Some(env) = FleetEnv::start(kit, Broker::Mosquitto).await? else { return Ok(()) };
    let mosquitto = env.mosquitto.as_ref().context("Mosquitto runs")?;
    // The second process: its own store over the same database, its own
    // broker account, the same Mosquitto files.
    let store = doorman_store::open(&kit.database_url).await?;
    let config = kit.running.service.config().clone();
    let second = doorman_cli::app::service_with(store, kit.clock.clone(), &kit.keys, config)?;
    let second_http = doorman_cli::app::start_with(second.clone(), "127.0.0.1:0".parse()?, None).await?;
    let (endpoint, _) = doorman_fleet::MqttEndpoint::parse(&env.fleet.broker_url)?;
    let account = doorman_fleet::MqttCredentials::generate(
        format!("doorman-service-2-{}", uuid::Uuid::new_v4().simple()),
        &mut rand_core::OsRng,
    );
    let url = format!("mqtt://{}:{}@127.0.0.1:{}", account.username, account.password.expose(), endpoint.port);
    let settings = FleetSettings {
        broker: FleetBroker::External { url },
        public_url: None,
        mosquitto_dir: env.mosquitto_dir().map(std::path::Path::to_path_buf),
    };
    let second_fleet = doorman_cli::app::start_fleet(&second, &settings).await?.context("a fleet channel")?;
    // The files now name both processes' accounts.
    let passwords = std::fs::read_to_string(env.mosquitto_dir().context("files")?.join("passwords"))?;
    assert!(passwords.contains(&format!("{}:", account.username)), "the second account is in the files");
    assert!(passwords.lines().filter(|l| l.starts_with("doorman-service-")).count() == 2, "{passwords}");
    mosquitto.reload()?;
    tokio::time::timeout(WAIT, second_fleet.bridge.handle().wait_ready()).await.context("second session")??;
    tokio::time::timeout(WAIT, env.fleet.bridge.handle().wait_ready()).await.context("first session")??;

    let jun_token = env.jun.token().context("Jun's token")?.to_string();
    let residents = [env.jun.clone(), Client::new(second_http.url()).with_token(jun_token)];
    let lock = env.lock_id(ENTRANCE);
    // Asked of the first process twice, then of the second twice, ...: as
    // Mosquitto hands a shared subscription's messages to its members in
    // turn, the challenges alternate between the processes, so whichever
    // takes the first one, some unlocks are answered by the process that
    // was not asked (memory alone would lose them).
    const UNLOCKS: usize = 6;
    for i in 0..UNLOCKS {
        let counter = env.sim(ENTRANCE).health()?.event_counter;
        let asked = residents[(i / 2) % 2].remote_unlock(env.unit_2b.id, &RemoteUnlock { lock_id: lock }).await?;
        assert_eq!(asked.lock_id, lock);
        env.sim(ENTRANCE)
            .wait_until(WAIT, |h| {
                h.event_counter > counter && matches!(h.bolt, doorman_lock::BoltState::Released { .. })
            })
            .await
            .with_context(|| format!("remote unlock {i} (asked of process {}) did not open the door", (i / 2) % 2))?;
    }
    // Each unlock logged once, by whichever process answered.
    let all = doorman_store::EntryFilter { everything: true, ..Default::default() };
    let logged = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    let unlocked = logged
        .iter()
        .filter_map(|e| doorman_domain::Event::from_bytes(&e.bytes).ok())
        .filter(|e| {
            matches!(e.kind, doorman_domain::EventKind::DoorUnlocked { lock_id, .. } if lock_id == lock)
                && matches!(e.actor, Some(doorman_domain::Actor::Principal(doorman_domain::Principal::Resident { .. })))
        })
        .count();
    assert_eq!(unlocked, UNLOCKS);
    // The lock's events, heard by two processes, stored once as one chain.
    let head = env.synced(kit, ENTRANCE).await?;
    env.check_chain(kit, ENTRANCE, head).await?;
    drop(second_fleet);
    second_http.stop().await
}
