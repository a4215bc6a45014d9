//! The lock fleet through the real service: its store, its MQTT channel (the
//! embedded broker, or a private Mosquitto run from the files the service
//! writes when `DOORMAN_TEST_MQTT_URL` says Mosquitto is available), locks
//! provisioned through the API and run as simulated devices (in this process,
//! or as a real `doorman lock run` process), drivers with handhelds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_cli::app::{self, FleetRunning};
use doorman_cli::config::{FleetBroker, FleetSettings};
use doorman_client::Client;
use doorman_devices::{DecisionJson, Handheld, LockBundle, LockEndpoint, MqttJson, RunOptions, RunningLocks};
use doorman_domain::{serde_b64, Clock, Event, EventKind};
use doorman_fleet::{lock_name, MqttCredentials, Uplink, UplinkKind};
use doorman_lock::LockConfig;
use doorman_protocol::{ChainHead, EventChainVerifier, LockDevicePublicKey};
use doorman_store::EntryFilter;
use doorman_testkit::places::{self, WALK_UP};
use doorman_testkit::{CarrierSpec, DoorSpec, DropSpotSpec, LockSpec, ManagerSpec, PropertySpec, Seeded, SiteSpec};
use rand_core::{OsRng, RngCore};

use crate::fixture::{all_day, delivery, AT_THE_DOOR};
use crate::kit::{Kit, TempDir, HOUR};

pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broker {
    Embedded,
    Mosquitto,
}

pub struct Driver {
    pub client: Client,
    pub handheld: Handheld,
}

/// A building whose doors are locked by fleet locks, and the channel to them.
pub struct FleetEnv {
    pub fleet: FleetRunning,
    pub rosa: Client,
    pub rosa_token: String,
    pub property: Property,
    pub unit_2b: Unit,
    pub jun: Client,
    pub parcelo: Client,
    pub drivers: Vec<Driver>,
    /// Street door, package room (in the path of every delivery), and a lock
    /// registered but never run (its account plays the attacker).
    pub bundles: Vec<LockBundle>,
    pub locks: Option<RunningLocks>,
    pub state_dir: TempDir,
    pub mosquitto: Option<MosquittoProcess>,
    /// The service's clock, which the in-process locks share.
    clock: Arc<dyn Clock>,
    /// What else the site's spec seeded (the fields above are taken from it).
    pub seeded: Seeded,
    _files: Option<TempDir>,
    parcels: std::sync::atomic::AtomicU32,
}

pub const ENTRANCE: usize = 0;
pub const ROOM: usize = 1;
pub const IDLE: usize = 2;

/// The fleet building, as data: 214 East 9th Street with unit 2B; the
/// street door and the package room behind it, each locked by a fleet lock
/// (mobile credentials), and a side gate whose lock is registered but never
/// run; the package room shelves; the tenant notice; Jun in 2B.
pub fn building() -> PropertySpec {
    PropertySpec::new(places::walk_up_property())
        .units(["2B"])
        .door(DoorSpec::new(AccessPointKind::Entrance, "street door").locked(LockSpec::MOBILE))
        .door(
            DoorSpec::new(AccessPointKind::PackageRoom, "package room").behind("street door").locked(LockSpec::MOBILE),
        )
        .door(DoorSpec::new(AccessPointKind::Entrance, "side gate").locked(LockSpec::MOBILE))
        .drop_spot(DropSpotSpec::new(DropSpotKind::PackageRoom, "package room shelves", "package room"))
        .tenant_notice(Some("Couriers may enter the package room."))
        .resident("Jun Park", "jun@example.org", "2B")
}

/// 2B's own front door, behind the street door, with no lock of its own: a
/// guest's path to 2B is the street door.
pub fn with_unit_2b_door(building: PropertySpec) -> PropertySpec {
    building.door(DoorSpec::new(AccessPointKind::UnitDoor, "2B front door").behind("street door").of_unit("2B"))
}

/// The fleet site around `building`: Rosa manages it; Parcelo, enabled there
/// at all hours for the package room shelves, vouches for Dana, Eli and Fay.
pub fn site(building: PropertySpec) -> SiteSpec {
    SiteSpec::new("Latchwell L2", "2.4.1").manager(ManagerSpec::new("Rosa Alvarez").property(building)).carrier(
        CarrierSpec::new("Parcelo")
            .enabled_at(WALK_UP, all_day(), ["package room shelves"])
            .driver("Dana", 30)
            .driver("Eli", 30)
            .driver("Fay", 30),
    )
}

fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

/// Polls `check` until it holds (the fleet is asynchronous by nature: the
/// condition names what is waited for, the timeout bounds it).
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl FleetEnv {
    /// The building, its locks registered and running; `None` (after saying
    /// so) for Mosquitto when `DOORMAN_TEST_MQTT_URL` is not set.
    pub async fn start(kit: &Kit, broker: Broker) -> anyhow::Result<Option<FleetEnv>> {
        Self::start_with(kit, broker, &site(building())).await
    }

    /// [`FleetEnv::start`] for the building `spec` describes (the fleet
    /// site, [`site`], with more in it).
    pub async fn start_with(kit: &Kit, broker: Broker, spec: &SiteSpec) -> anyhow::Result<Option<FleetEnv>> {
        let (settings, files) = match broker {
            Broker::Embedded => (
                FleetSettings {
                    broker: FleetBroker::Embedded { listen: "127.0.0.1:0".parse()? },
                    public_url: None,
                    mosquitto_dir: None,
                },
                None,
            ),
            Broker::Mosquitto => {
                if std::env::var("DOORMAN_TEST_MQTT_URL").is_err() {
                    println!("skipped: DOORMAN_TEST_MQTT_URL is not set");
                    return Ok(None);
                }
                let dir = TempDir::new("doorman-mosquitto")?;
                let mut tag = [0u8; 4];
                OsRng.fill_bytes(&mut tag);
                let service =
                    MqttCredentials::generate(format!("doorman-service-{}", serde_b64::encode(&tag)), &mut OsRng);
                let url =
                    format!("mqtt://{}:{}@127.0.0.1:{}", service.username, service.password.expose(), free_port()?);
                let settings = FleetSettings {
                    broker: FleetBroker::External { url },
                    public_url: None,
                    mosquitto_dir: Some(dir.path().to_path_buf()),
                };
                (settings, Some(dir))
            }
        };
        let fleet = app::start_fleet(&kit.running.service, &settings).await?.context("a fleet channel")?;
        let env = Self::seed(kit, spec, fleet, files).await?;
        let mut env = env;
        if let Some(dir) = &env._files {
            // The service wrote the password and ACL files as the locks were
            // registered; Mosquitto starts from them.
            let (endpoint, _) = doorman_fleet::MqttEndpoint::parse(&env.fleet.broker_url)?;
            env.mosquitto = Some(MosquittoProcess::start(dir.path(), endpoint.port).await?);
        }
        tokio::time::timeout(WAIT, env.fleet.bridge.handle().wait_ready())
            .await
            .context("the service's fleet session did not come up")??;
        env.run_locks(kit.store()).await?;
        Ok(Some(env))
    }

    async fn seed(kit: &Kit, spec: &SiteSpec, fleet: FleetRunning, files: Option<TempDir>) -> anyhow::Result<FleetEnv> {
        let mut seeded = doorman_testkit::seed(&kit.operator, spec, kit.now()).await?;
        let rosa = seeded.manager("Rosa Alvarez")?.clone();
        let parcelo = seeded.carrier("Parcelo")?.client.clone();
        let mut drivers = Vec::new();
        for name in ["Dana", "Eli", "Fay"] {
            let driver = seeded.take_driver(name)?;
            let handheld = Handheld::from_secret(driver.handheld.secret())?;
            drivers.push(Driver { client: driver.client, handheld });
        }
        let building = seeded.property_mut(WALK_UP)?;
        let mut bundles = Vec::new();
        for door in ["street door", "package room", "side gate"] {
            let lock = building.take_lock(door)?;
            bundles.push(bundle_of(&lock.device_secret, lock.provisioned)?);
        }
        Ok(FleetEnv {
            fleet,
            rosa: rosa.client,
            rosa_token: rosa.token,
            property: building.property.clone(),
            unit_2b: building.unit("2B")?.clone(),
            jun: building.resident("Jun Park")?.client.clone(),
            parcelo,
            drivers,
            bundles,
            locks: None,
            state_dir: TempDir::new("doorman-fleet-locks")?,
            mosquitto: None,
            clock: kit.clock.clone(),
            seeded,
            _files: files,
            parcels: std::sync::atomic::AtomicU32::new(0),
        })
    }

    pub fn options(&self) -> RunOptions {
        let mut o = RunOptions::new(self.state_dir.path().to_path_buf());
        o.tick_every = Duration::from_millis(20);
        o.health_every = Duration::from_millis(200);
        o.config = LockConfig::default();
        o
    }

    /// Starts the street door and package room locks in this process, with
    /// the service's clock, and waits until each is subscribed (its first
    /// health report, sent once subscribed, is at the service).
    pub async fn run_locks(&mut self, store: &Arc<dyn doorman_store::Store>) -> anyhow::Result<()> {
        let running = RunningLocks::start(&self.bundles[..2], self.options(), self.clock.clone()).await?;
        self.locks = Some(running);
        for i in [ENTRANCE, ROOM] {
            self.sim(i).wait_until(WAIT, |h| !h.camera_stale).await?;
            let id = self.lock_id(i);
            eventually(&format!("lock {i} is on the fleet channel"), || async move {
                Ok(store.lock_fleet(id).await?.context("fleet")?.health.is_some())
            })
            .await?;
        }
        Ok(())
    }

    /// Where the service keeps Mosquitto's files (on Mosquitto).
    pub fn mosquitto_dir(&self) -> Option<&std::path::Path> {
        self._files.as_ref().map(TempDir::path)
    }

    pub fn lock_id(&self, i: usize) -> LockId {
        self.bundles[i].lock().map(|l| LockId::from(uuid::Uuid::from_bytes(l.0))).unwrap()
    }

    pub fn device(&self, i: usize) -> LockDevicePublicKey {
        self.bundles[i].device_public_key().unwrap()
    }

    pub fn sim(&self, i: usize) -> Arc<doorman_devices::SimLock> {
        self.locks.as_ref().unwrap().lock(wire(self.lock_id(i))).unwrap().clone()
    }

    pub fn endpoint(&self) -> LockEndpoint {
        self.locks.as_ref().unwrap().endpoint()
    }

    /// A new parcel for 2B, scanned by driver `d` at the street door.
    pub async fn parcel(&self, kit: &Kit, d: usize) -> anyhow::Result<AccessGranted> {
        let n = self.parcels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tracking = format!("1Z-FLEET-{n}");
        let now = kit.now();
        self.parcelo
            .create_delivery(&delivery(&tracking, self.property.id, self.unit_2b.id, now - HOUR, now + 3 * HOUR))
            .await?;
        let driver = &self.drivers[d];
        let granted = driver
            .client
            .request_access(&AccessRequest {
                tracking_number: tracking,
                property_id: self.property.id,
                handheld_public_key: driver.handheld.public_key_b64(),
                position: AT_THE_DOOR,
                drop_spot_id: None,
            })
            .await?;
        assert_eq!(granted.doors.len(), 2, "street door and package room");
        Ok(granted)
    }

    fn index_of(&self, lock: LockId) -> usize {
        (0..self.bundles.len()).find(|i| self.lock_id(*i) == lock).unwrap()
    }

    /// Driver `d` presents the grant's credential for lock `i` at `endpoint`, and walks through if let in.
    pub async fn present_at(
        &self,
        endpoint: &LockEndpoint,
        d: usize,
        granted: &AccessGranted,
        i: usize,
    ) -> anyhow::Result<DecisionJson> {
        let door = granted.doors.iter().find(|door| door.lock_id == self.lock_id(i)).context("no such door")?;
        let credential = serde_b64::decode(door.credential.as_deref().context("no credential")?)?;
        Ok(self.drivers[d]
            .handheld
            .walk_through(endpoint, wire(door.lock_id), &self.device(self.index_of(door.lock_id)), &credential)
            .await?)
    }

    pub async fn present(&self, d: usize, granted: &AccessGranted, i: usize) -> anyhow::Result<DecisionJson> {
        self.present_at(&self.endpoint(), d, granted, i).await
    }

    /// Every door of the grant, then the drop is confirmed.
    pub async fn deliver(&self, d: usize, granted: &AccessGranted) -> anyhow::Result<()> {
        for i in [ENTRANCE, ROOM] {
            let decision = self.present(d, granted, i).await?;
            anyhow::ensure!(decision.unlocked, "lock {i} refused: {:?}", decision.reason);
        }
        self.drivers[d]
            .client
            .complete_delivery(
                granted.delivery_id,
                &CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None },
            )
            .await?;
        Ok(())
    }

    /// Waits until the service stores every event lock `i` recorded (as
    /// `counters` reads the lock's (recorded, acknowledged) counters) and the
    /// lock has the acknowledgement; returns the lock's last counter.
    pub async fn synced_with<F, Fut>(&self, kit: &Kit, i: usize, counters: F) -> anyhow::Result<u64>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<(u64, u64)>>,
    {
        let id = self.lock_id(i);
        let waited = eventually(&format!("lock {i}'s events are stored and acknowledged"), || {
            let counters = counters();
            let store = kit.store().clone();
            async move {
                let (recorded, acked) = counters.await?;
                let stored = store.lock_fleet(id).await?.context("fleet record")?.head.counter;
                Ok(stored == recorded && acked == recorded)
            }
        })
        .await;
        if let Err(e) = waited {
            let record = kit.store().lock_fleet(id).await?;
            let lock = counters().await;
            anyhow::bail!("{e}: the lock says (recorded, acked) = {lock:?}; the service holds {record:?}");
        }
        Ok(counters().await?.0)
    }

    pub async fn synced(&self, kit: &Kit, i: usize) -> anyhow::Result<u64> {
        let sim = self.sim(i);
        self.synced_with(kit, i, || {
            let sim = sim.clone();
            async move {
                let h = sim.health()?;
                Ok((h.event_counter, h.acked_counter))
            }
        })
        .await
    }

    /// The service's stored events of lock `i` are exactly 1..=`head`, each
    /// signed by the lock, one unbroken chain, each logged once, verbatim.
    pub async fn check_chain(
        &self,
        kit: &Kit,
        i: usize,
        head: u64,
    ) -> anyhow::Result<Vec<doorman_protocol::LockEvent>> {
        let id = self.lock_id(i);
        let stored = kit.store().list_lock_events(id, 0, 100_000).await?;
        let counters: Vec<u64> = stored.iter().map(|e| e.counter).collect();
        assert_eq!(counters, (1..=head).collect::<Vec<_>>(), "lock {i}: lost or doubled events");
        let mut verifier = EventChainVerifier::resume(self.device(i), wire(id), ChainHead::GENESIS);
        let mut events = Vec::new();
        for e in &stored {
            events.push(verifier.push(&e.signed).map_err(|e| anyhow::anyhow!("lock {i}: broken chain: {e:?}"))?);
        }
        let record = kit.store().lock_fleet(id).await?.context("fleet record")?;
        assert_eq!((record.gap, record.problem), (None, None), "lock {i}: nothing flagged");
        let all = EntryFilter { everything: true, ..Default::default() };
        let mut logged = Vec::new();
        for entry in kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await? {
            if let EventKind::LockEvent { lock_id, counter, signed } = Event::from_bytes(&entry.bytes)?.kind {
                if lock_id == id {
                    logged.push((counter, signed));
                }
            }
        }
        let expected: Vec<(u64, String)> = stored.iter().map(|e| (e.counter, serde_b64::encode(&e.signed))).collect();
        assert_eq!(logged, expected, "lock {i}: each event logged once, verbatim, in order");
        Ok(events)
    }

    pub async fn health(&self, i: usize) -> anyhow::Result<LockHealthView> {
        let id = self.lock_id(i);
        self.rosa.lock_health(self.property.id).await?.into_iter().find(|h| h.lock_id == id).context("no health row")
    }
}

/// A lock device's secret and its public key (base64url) to register.
pub fn new_device() -> ([u8; 32], String) {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let device = doorman_protocol::LockDeviceKey::from_secret(&secret);
    (secret, serde_b64::encode(&device.public_key().0))
}

/// What `doorman lock provision` would write for a lock the service registered.
pub fn bundle_of(secret: &[u8; 32], provisioned: LockProvisioned) -> anyhow::Result<LockBundle> {
    let mqtt = provisioned.mqtt.context("the service issues an MQTT account")?;
    assert_eq!(mqtt.username, provisioned.lock.id.to_string());
    let bundle = LockBundle {
        lock_id: lock_name(wire(provisioned.lock.id)),
        device_secret: serde_b64::encode(secret),
        trust_anchors: doorman_cli::lock_cmd::anchors_of(&provisioned.trust_anchors),
        door_code_secret: provisioned.door_code_secret,
        mqtt: Some(MqttJson { url: mqtt.url, username: mqtt.username, password: mqtt.password }),
    };
    bundle.identity()?;
    Ok(bundle)
}

/// A private Mosquitto on a free port, run from the files the service keeps.
pub struct MosquittoProcess {
    child: Child,
}

impl MosquittoProcess {
    pub async fn start(dir: &std::path::Path, port: u16) -> anyhow::Result<Self> {
        let bin = std::env::var("DOORMAN_TEST_MOSQUITTO").map(PathBuf::from).ok().or_else(|| {
            ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
        let bin =
            bin.context("DOORMAN_TEST_MQTT_URL is set but no mosquitto binary found (set DOORMAN_TEST_MOSQUITTO)")?;
        let paths = doorman_fleet::MosquittoPaths { passwords: dir.join("passwords"), acl: dir.join("acl") };
        let run_as = {
            use std::os::unix::fs::MetadataExt as _;
            (std::fs::metadata(dir)?.uid() == 0).then_some("root")
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, doorman_fleet::mosquitto::config_file(addr, &paths, dir, run_as))?;
        let child = Command::new(bin).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let mut process = MosquittoProcess { child };
        eventually("mosquitto listens", || {
            let exited = process.child.try_wait();
            async move {
                if let Some(status) = exited? {
                    anyhow::bail!("mosquitto exited with {status}");
                }
                Ok(tokio::net::TcpStream::connect(addr).await.is_ok())
            }
        })
        .await?;
        Ok(process)
    }
}

impl MosquittoProcess {
    /// Makes Mosquitto read its password and ACL files again (SIGHUP).
    pub fn reload(&self) -> anyhow::Result<()> {
        let status = Command::new("kill").arg("-HUP").arg(self.child.id().to_string()).status()?;
        anyhow::ensure!(status.success(), "kill -HUP mosquitto: {status}");
        Ok(())
    }
}

impl Drop for MosquittoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn env(kit: &Kit, broker: Broker) -> anyhow::Result<Option<FleetEnv>> {
    FleetEnv::start(kit, broker).await
}

// --- scenarios ------------------------------------------------------------------

/// Several drivers deliver through two fleet locks; every event each lock
/// records reaches the service, once, verified, logged; health is visible.
pub async fn fleet_deliveries_reach_the_service(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    deliveries_scenario(kit, &env).await
}

async fn deliveries_scenario(kit: &Kit, env: &FleetEnv) -> anyhow::Result<()> {
    // Nothing revoked yet, or no such lock here: no bundle to carry.
    let none = env.rosa.lock_revocation_bundle(env.property.id, env.lock_id(ENTRANCE)).await;
    crate::kit::expect_error(none, reqwest::StatusCode::NOT_FOUND, "not_found");
    let unknown = env.rosa.lock_revocation_bundle(env.property.id, LockId::random()).await;
    crate::kit::expect_error(unknown, reqwest::StatusCode::NOT_FOUND, "not_found");
    for d in 0..env.drivers.len() {
        let granted = env.parcel(kit, d).await?;
        env.deliver(d, &granted).await?;
        // The same credential again: the lock remembers it was used.
        let again = env.present(d, &granted, ENTRANCE).await?;
        assert!(!again.unlocked, "a used credential opens again");
    }
    for i in [ENTRANCE, ROOM] {
        let head = env.synced(kit, i).await?;
        let events = env.check_chain(kit, i, head).await?;
        let kinds: Vec<_> = events.iter().map(|e| e.record.kind).collect();
        let granted = kinds.iter().filter(|k| **k == doorman_protocol::EventKind::AccessGranted).count();
        assert_eq!(granted, env.drivers.len(), "lock {i}: one entry per driver in {kinds:?}");
        if i == ENTRANCE {
            assert!(kinds.contains(&doorman_protocol::EventKind::AccessRefused), "the replay is on record");
        }
        let id = env.lock_id(i);
        eventually("the lock's health report is in", || async move {
            Ok(env.health(i).await?.battery_percent == Some(100) && env.health(i).await?.reported_at.is_some())
        })
        .await?;
        let h = env.health(i).await?;
        assert_eq!(h.lock_id, id);
        assert!(h.last_contact.is_some() && !h.camera_stale && !h.revocation_stale, "{h:?}");
        assert_eq!(h.events_stored, head);
        // The lock asked for the time on connecting and took the service's signed statement.
        eventually("the lock reports its clock drift", || async move {
            let h = env.health(i).await?;
            Ok(h.clock_drift_secs == Some(0) && !h.clock_stale && !h.clock_lost)
        })
        .await?;
    }
    Ok(())
}

/// A resident's block revokes the outstanding credential; the online lock
/// has the bundle within 2 seconds and refuses it.
pub async fn fleet_block_reaches_an_online_lock_within_two_seconds(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    block_scenario(kit, &env).await
}

async fn block_scenario(kit: &Kit, env: &FleetEnv) -> anyhow::Result<()> {
    let granted = env.parcel(kit, 0).await?;
    let started = tokio::time::Instant::now();
    let blocked = env.jun.block(env.unit_2b.id, &CreateBlock { until: None, reason: Some("away".into()) }).await?;
    assert_eq!(blocked.revoked_grants, vec![granted.grant_id]);
    for i in [ENTRANCE, ROOM] {
        let left = Duration::from_secs(2).saturating_sub(started.elapsed());
        env.sim(i)
            .wait_until(left, |h| h.revocation_sequence == 1)
            .await
            .with_context(|| format!("lock {i} did not get the revocation within 2 s"))?;
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let refused = env.present(0, &granted, ENTRANCE).await?;
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    // The service issued bundle 1, and the lock says it holds it.
    eventually("the lock reports the bundle it holds", || async move {
        let h = env.health(ENTRANCE).await?;
        Ok(h.revocation_sequence == Some(1) && h.revocation_sequence_issued == 1 && !h.revocation_stale)
    })
    .await?;
    let head = env.synced(kit, ENTRANCE).await?;
    env.check_chain(kit, ENTRANCE, head).await?;
    Ok(())
}

/// The carrier cancels a delivery: its outstanding credential is revoked and
/// online locks refuse it within 2 seconds.
pub async fn fleet_cancelled_delivery_is_refused_within_two_seconds(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    let granted = env.parcel(kit, 0).await?;
    let started = tokio::time::Instant::now();
    env.parcelo.cancel_delivery(granted.delivery_id).await?;
    env.sim(ROOM).wait_until(Duration::from_secs(2), |h| h.revocation_sequence == 1).await?;
    assert!(started.elapsed() < Duration::from_secs(2));
    let refused = env.present(0, &granted, ROOM).await?;
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    Ok(())
}

/// A lock cut off from the network still admits a valid driver; a credential
/// revoked after the cut opens until a handheld relays the bundle, then not;
/// back online, every event arrives once, the chain unbroken.
pub async fn fleet_offline_lock_catches_up_without_loss_or_doubles(kit: &Kit) -> anyhow::Result<()> {
    let Some(mut env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    let lock = env.lock_id(ENTRANCE);
    env.synced(kit, ENTRANCE).await?;
    env.locks.as_mut().unwrap().disconnect(wire(lock));

    // Offline: a valid driver gets in.
    let first = env.parcel(kit, 0).await?;
    env.deliver(0, &first).await?;

    // Two credentials are revoked after the cut.
    let a = env.parcel(kit, 1).await?;
    let b = env.parcel(kit, 2).await?;
    let blocked = env.jun.block(env.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    assert_eq!(blocked.revoked_grants.len(), 2);
    // The online package room lock knows at once; the street door cannot.
    env.sim(ROOM).wait_until(WAIT, |h| h.revocation_sequence == 1).await?;
    let opened = env.present(1, &a, ENTRANCE).await?;
    assert!(opened.unlocked, "the offline lock cannot know yet: {opened:?}");
    // A handheld carries the bundle the service signs for the lock.
    let carried = env.rosa.lock_revocation_bundle(env.property.id, lock).await?;
    assert_eq!(carried.sequence, 1);
    let bytes = serde_b64::decode(&carried.bundle)?;
    assert_eq!(env.endpoint().relay_revocation(wire(lock), &bytes).await?, Some(1));
    let refused = env.present(2, &b, ENTRANCE).await?;
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    // While offline the service has not heard of these.
    let offline_counter = env.sim(ENTRANCE).health()?.event_counter;
    let stored = kit.store().lock_fleet(lock).await?.context("fleet")?.head.counter;
    assert!(stored < offline_counter, "the offline lock's events are still on it");

    // The handheld carries the lock's events to the service.
    let carried = env.endpoint().collect_events(wire(lock), 0).await?;
    let upload = CarriedEvents { events: carried.iter().map(|e| serde_b64::encode(e)).collect() };
    // Events signed by another lock, or garbage, are refused and change nothing.
    let room_events = env.endpoint().collect_events(wire(env.lock_id(ROOM)), 0).await?;
    let foreign = CarriedEvents { events: room_events.iter().take(1).map(|e| serde_b64::encode(e)).collect() };
    if !foreign.events.is_empty() {
        let refused = env.drivers[0].client.upload_lock_events(lock, &foreign).await;
        crate::kit::expect_error(refused, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    let garbage = CarriedEvents { events: vec!["AAAA".into()] };
    let refused = env.drivers[0].client.upload_lock_events(lock, &garbage).await;
    crate::kit::expect_error(refused, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let refused = env.jun.upload_lock_events(lock, &upload).await;
    crate::kit::expect_error(refused, reqwest::StatusCode::NOT_FOUND, "not_found");
    let receipt = env.drivers[0].client.upload_lock_events(lock, &upload).await?;
    assert_eq!((receipt.stored_through, receipt.missing_after), (offline_counter, None));
    // Twice is the same as once.
    let again = env.drivers[1].client.upload_lock_events(lock, &upload).await?;
    assert_eq!(again.stored_through, offline_counter);
    assert_eq!(kit.store().lock_fleet(lock).await?.context("fleet")?.problem, None);
    // More happens after the handheld left: A tries again.
    let refused = env.present(1, &a, ENTRANCE).await?;
    assert!(!refused.unlocked, "{refused:?}");
    assert!(env.sim(ENTRANCE).health()?.event_counter > offline_counter);

    // Back online: everything arrives, once, in one unbroken chain.
    env.locks.as_mut().unwrap().reconnect(wire(lock))?;
    let head = env.synced(kit, ENTRANCE).await?;
    assert!(head >= offline_counter);
    let events = env.check_chain(kit, ENTRANCE, head).await?;
    let kinds: Vec<_> = events.iter().map(|e| e.record.kind).collect();
    assert!(kinds.contains(&doorman_protocol::EventKind::RevocationApplied), "{kinds:?}");
    Ok(())
}

/// A stale camera heartbeat: the lock refuses delivery unlocks, and the
/// refusal reaches the service (as an event and in the lock's health).
pub async fn fleet_stale_camera_refuses_deliveries_and_it_is_reported(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    let endpoint = env.endpoint();
    let lock = env.lock_id(ENTRANCE);
    endpoint.camera(wire(lock), true).await?;
    // The heartbeat ages past the policy's 90 seconds.
    kit.advance(120);
    env.sim(ENTRANCE).wait_until(WAIT, |h| h.camera_stale).await?;
    let granted = env.parcel(kit, 0).await?;
    let refused = env.present(0, &granted, ENTRANCE).await?;
    assert_eq!(refused.reason.as_deref(), Some("camera_stale"), "{refused:?}");
    let head = env.synced(kit, ENTRANCE).await?;
    let events = env.check_chain(kit, ENTRANCE, head).await?;
    let refusal = events.iter().rev().find(|e| e.record.kind == doorman_protocol::EventKind::AccessRefused);
    let refusal = refusal.context("the refusal is among the lock's events at the service")?;
    assert_eq!(
        doorman_lock::LockRefusal::from_code(refusal.record.kind, refusal.record.value),
        Some(doorman_lock::LockRefusal::CameraStale)
    );
    eventually("the health shows the camera stale", || async {
        let h = env.health(ENTRANCE).await?;
        Ok(h.camera_stale && h.camera_heartbeat_age_secs.is_some_and(|a| a >= 90))
    })
    .await?;
    // The camera comes back: deliveries work again.
    endpoint.camera(wire(lock), false).await?;
    env.sim(ENTRANCE).wait_until(WAIT, |h| !h.camera_stale).await?;
    let again = env.parcel(kit, 1).await?;
    env.deliver(1, &again).await?;
    Ok(())
}

/// Another lock's MQTT account can neither read nor write this lock's topics.
pub async fn fleet_another_locks_account_cannot_reach_this_lock(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    acl_scenario(kit, &env, true).await
}

async fn acl_scenario(kit: &Kit, env: &FleetEnv, strict: bool) -> anyhow::Result<()> {
    use rumqttc::{Event as MqttEvent, Packet, QoS, SubscribeReasonCode};
    let target = wire(env.lock_id(ENTRANCE));
    let attacker = wire(env.lock_id(IDLE));
    let (url, creds) = env.bundles[IDLE].mqtt_credentials().context("account")?;
    let (endpoint, _) = doorman_fleet::MqttEndpoint::parse(&url)?;
    let mut options = rumqttc::MqttOptions::new(creds.username.clone(), endpoint.host.clone(), endpoint.port);
    options.set_credentials(creds.username.clone(), creds.password.expose());
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    let scheme = doorman_fleet::TopicScheme::default();
    // Reading: every subscription to the other lock's topics is refused (the
    // embedded broker answers with a failure code; Mosquitto 2.0 may grant it
    // and then checks its ACL on every delivery, so nothing must ever arrive).
    client.subscribe(scheme.lock_subscription(target), QoS::AtLeastOnce).await?;
    client.subscribe(scheme.uplink(target, UplinkKind::Events), QoS::AtLeastOnce).await?;
    client.subscribe(scheme.lock_subscription(attacker), QoS::AtLeastOnce).await?;
    // Writing: a forged health report on its topic, then one on the attacker's own.
    let forged = Uplink::Health(doorman_fleet::LockHealth { battery_percent: Some(7), ..Default::default() })
        .encode(&scheme, target);
    client.publish(forged.topic, QoS::AtLeastOnce, false, forged.payload).await?;
    let own = Uplink::Health(doorman_fleet::LockHealth { battery_percent: Some(55), ..Default::default() })
        .encode(&scheme, attacker);
    client.publish(own.topic, QoS::AtLeastOnce, false, own.payload).await?;
    let mut subacks = Vec::new();
    let mut pubacks = 0;
    let own_prefix = format!("{}/locks/{}/", scheme.prefix(), lock_name(attacker));
    let barrier = scheme.downlink(attacker, doorman_fleet::DownlinkKind::Unlock);
    let mut barrier_seen = false;
    let mut barrier_sent = false;
    let handle = env.fleet.bridge.handle();
    tokio::time::timeout(WAIT, async {
        while !(subacks.len() == 3 && pubacks >= 2 && barrier_seen) {
            if subacks.len() == 3 && !barrier_sent {
                // The service commands the target, then the attacker's own lock: the
                // attacker must get its own command, and never the target's.
                handle.send(target, &doorman_fleet::Downlink::Unlock { request_id: 7 }).await?;
                handle.send(attacker, &doorman_fleet::Downlink::Unlock { request_id: 8 }).await?;
                barrier_sent = true;
            }
            match events.poll().await {
                Ok(MqttEvent::Incoming(Packet::SubAck(ack))) => subacks.extend(ack.return_codes),
                Ok(MqttEvent::Incoming(Packet::PubAck(_))) => pubacks += 1,
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    anyhow::ensure!(p.topic.starts_with(&own_prefix), "the attacker read {}", p.topic);
                    barrier_seen |= p.topic == barrier;
                }
                Ok(_) => {}
                Err(e) => anyhow::bail!("the attacker's connection failed: {e}"),
            }
        }
        anyhow::Ok(())
    })
    .await
    .context("the broker did not answer the attacker")??;
    let (to_target, to_own) = subacks.split_at(2);
    assert_eq!(to_own, [SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
    if strict {
        assert!(to_target.iter().all(|c| *c == SubscribeReasonCode::Failure), "{subacks:?}");
    }
    // What the attacker may write (its own topic) arrives; what it may not never does.
    let idle = env.lock_id(IDLE);
    eventually("the attacker's own report arrives", || async move {
        let r = kit.store().lock_fleet(idle).await?.context("fleet")?;
        Ok(r.health.is_some_and(|(json, _)| json.contains("\"battery_percent\":55")))
    })
    .await?;
    let target_health = kit.store().lock_fleet(env.lock_id(ENTRANCE)).await?.context("fleet")?.health;
    assert!(target_health.is_some_and(|(json, _)| !json.contains("\"battery_percent\":7")), "the forged report landed");
    // A wrong password is refused outright.
    let mut wrong = rumqttc::MqttOptions::new("x", endpoint.host.clone(), endpoint.port);
    wrong.set_credentials(lock_name(target), creds.password.expose());
    let (_c, mut wrong_events) = rumqttc::AsyncClient::new(wrong, 4);
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            match wrong_events.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(a))) => return a.code != rumqttc::ConnectReturnCode::Success,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    })
    .await?;
    assert!(refused, "another lock's password opened this lock's account");
    Ok(())
}

/// The same story on Mosquitto, from the files the service writes.
pub async fn fleet_on_mosquitto_runs_the_same_story(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Mosquitto).await? else { return Ok(()) };
    assert!(env.mosquitto.is_some());
    deliveries_scenario(kit, &env).await?;
    acl_scenario(kit, &env, false).await?;
    block_scenario(kit, &env).await
}

/// A real `doorman lock run` process, killed with SIGKILL with the door open
/// mid-delivery and started again: the used credential stays used, the
/// counter goes on, and the service ends up with every event once.
pub async fn fleet_killed_lock_process_loses_nothing(kit: &Kit) -> anyhow::Result<()> {
    // The lock process reads the wall clock: so does the service here.
    kit.set_time(doorman_cli::SystemClock.now());
    let Some(mut env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    // The street door moves to a process of its own, with the state it had.
    env.locks = None;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let bundle_file = env.state_dir.path().join("entrance.json");
    env.bundles[ENTRANCE].write(&bundle_file)?;
    let state = &env.state_dir;
    let port = free_port()?;
    let endpoint = LockEndpoint::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let lock = wire(env.lock_id(ENTRANCE));
    let mut process = LockProcess::start(&bundle_file, port, state.path(), &endpoint, lock).await?;

    let granted = env.parcel(kit, 0).await?;
    let door = granted.doors.iter().find(|d| d.lock_id == env.lock_id(ENTRANCE)).context("door")?;
    let credential = serde_b64::decode(door.credential.as_deref().context("credential")?)?;
    let handheld = &env.drivers[0].handheld;
    let decision = handheld.enter(&endpoint, lock, &env.device(ENTRANCE), &credential).await?;
    assert!(decision.unlocked, "{decision:?}");
    endpoint.door(lock, true).await?;
    let before = endpoint.status(lock).await?;

    process.kill();
    let _process = LockProcess::start(&bundle_file, port, state.path(), &endpoint, lock).await?;
    let after = endpoint.status(lock).await?;
    assert!(after.event_counter >= before.event_counter, "the counter went back: {after:?} after {before:?}");
    let again = handheld.enter(&endpoint, lock, &env.device(ENTRANCE), &credential).await?;
    assert!(!again.unlocked, "the used credential opened again after the restart: {again:?}");
    endpoint.door(lock, false).await?;
    let latest = endpoint.status(lock).await?;
    assert!(latest.event_counter > before.event_counter, "the counter continues");

    let head = env
        .synced_with(kit, ENTRANCE, || {
            let endpoint = endpoint.clone();
            async move {
                let status = endpoint.status(lock).await?;
                Ok((status.event_counter, status.acked_counter))
            }
        })
        .await?;
    env.check_chain(kit, ENTRANCE, head).await?;
    Ok(())
}

struct LockProcess {
    child: Child,
}

impl LockProcess {
    async fn start(
        bundle: &std::path::Path,
        port: u16,
        state: &std::path::Path,
        endpoint: &LockEndpoint,
        lock: doorman_protocol::LockId,
    ) -> anyhow::Result<Self> {
        let child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["lock", "run", "--bundle"])
            .arg(bundle)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
            .arg(state)
            .env("DOORMAN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut process = LockProcess { child };
        eventually("the lock process serves with a live camera", || {
            let exited = process.child.try_wait();
            let endpoint = endpoint.clone();
            async move {
                if let Some(status) = exited? {
                    anyhow::bail!("doorman lock run exited with {status}");
                }
                Ok(endpoint.status(lock).await.is_ok_and(|s| !s.camera_stale))
            }
        })
        .await?;
        Ok(process)
    }

    /// SIGKILL.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LockProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `doorman lock provision` registers a lock and writes the bundle the
/// service's answer makes (MQTT account included); `doorman lock run` starts
/// from it and is heard by the service; `doorman lock health` shows it.
pub async fn fleet_provisioned_bundle_runs_as_a_lock_process(kit: &Kit) -> anyhow::Result<()> {
    kit.set_time(doorman_cli::SystemClock.now());
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    let back = env
        .rosa
        .create_access_point(
            env.property.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "back door".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let dir = TempDir::new("doorman-provision")?;
    let bundle_file = dir.path().join("back.json");
    let doorman = |args: &[&str]| -> anyhow::Result<std::process::Output> {
        Ok(Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(args)
            .env("DOORMAN_URL", kit.running.url())
            .env("DOORMAN_TOKEN", &env.rosa_token)
            .output()?)
    };
    let (property, ap) = (env.property.id.to_string(), back.id.to_string());
    let out = doorman(&[
        "lock",
        "provision",
        "--property",
        &property,
        "--access-point",
        &ap,
        "--out",
        bundle_file.to_str().context("utf-8 path")?,
    ])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle = LockBundle::read(&bundle_file)?;
    let mqtt = bundle.mqtt.clone().context("the bundle carries the MQTT account")?;
    assert_eq!(mqtt.url, env.fleet.lock_url);
    assert_eq!(mqtt.username, bundle.lock_id);
    let lock = bundle.lock()?;
    let id = LockId::from(uuid::Uuid::from_bytes(lock.0));
    // The password is shown once: the service keeps a hash that verifies it, not it.
    let hash = kit.store().lock_mqtt_password_hash(id).await?.context("an account")?;
    assert!(!hash.contains(&mqtt.password));
    assert!(doorman_fleet::PasswordHash::parse(&hash)?.verify(&mqtt.password));

    let port = free_port()?;
    let endpoint = LockEndpoint::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let state = TempDir::new("doorman-provisioned-lock")?;
    let _process = LockProcess::start(&bundle_file, port, state.path(), &endpoint, lock).await?;
    eventually("the service hears the new lock", || async move {
        let r = kit.store().lock_fleet(id).await?.context("fleet")?;
        Ok(r.health.is_some() && r.head.counter >= 1)
    })
    .await?;
    let out = doorman(&["lock", "health", "--property", &property])?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A table a manager reads: the door by name, times in the building's zone,
    // and why a flag is up under its row.
    assert!(text.starts_with(&format!("locks of {} (times in {})", env.property.name, env.property.time_zone)));
    let lines: Vec<&str> = text.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.starts_with("back door") && l.contains(&id.to_string()) && l.contains("100%"))
        .with_context(|| format!("no row for the back door's lock in {text}"))?;
    if lines[row].contains("CLOCK STALE") {
        assert!(lines[row + 1..].iter().take_while(|l| l.starts_with("    ")).any(|l| l.starts_with("    clock: ")));
    }
    let out = doorman(&["lock", "health", "--property", &property, "--json"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<doorman_api::LockHealthView> = serde_json::from_slice(&out.stdout)?;
    assert!(rows.iter().any(|h| h.lock_id == id && h.access_point_id == back.id && h.battery_percent == Some(100)));
    Ok(())
}

/// A resident opens the street door from afar: the lock is asked over MQTT,
/// answers with its challenge, and opens for the service's one-use
/// credential; the unlock is on the lock's record at the service and in the
/// log. Nobody else can ask, and a unit door of another unit is not theirs.
pub async fn fleet_resident_opens_a_shared_door_remotely(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = env(kit, Broker::Embedded).await? else { return Ok(()) };
    let lock = env.lock_id(ENTRANCE);
    let before = env.sim(ENTRANCE).health()?.event_counter;
    let asked = env.jun.remote_unlock(env.unit_2b.id, &RemoteUnlock { lock_id: lock }).await?;
    assert_eq!(asked.lock_id, lock);
    env.sim(ENTRANCE)
        .wait_until(WAIT, |h| matches!(h.bolt, doorman_lock::BoltState::Released { .. }))
        .await
        .context("the lock did not open for the remote unlock")?;
    let head = env.synced(kit, ENTRANCE).await?;
    assert!(head > before);
    let events = env.check_chain(kit, ENTRANCE, head).await?;
    let remote = doorman_lock::EntrySource::Remote.code();
    assert!(
        events.iter().any(|e| e.record.kind == doorman_protocol::EventKind::Unlocked && e.record.value == remote),
        "the lock recorded a remote entry"
    );
    let all = EntryFilter { everything: true, ..Default::default() };
    let logged = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    let unlocked = logged.iter().filter_map(|e| Event::from_bytes(&e.bytes).ok()).find(|e| {
        matches!(e.kind, EventKind::DoorUnlocked { lock_id, .. } if lock_id == lock)
            && matches!(e.actor, Some(doorman_domain::Actor::Principal(doorman_domain::Principal::Resident { .. })))
    });
    assert!(unlocked.is_some_and(|e| e.unit_id == Some(env.unit_2b.id)), "the resident's remote unlock is logged");
    // The same from the dashboard: the door is a button on the resident's page.
    let invitation = env
        .rosa
        .invite_resident(env.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let lee = crate::dashboard::sign_in(kit, &kit.anon.redeem_invitation(&invitation.code).await?.token).await?;
    let home = reqwest::Client::new()
        .get(format!("{}/app/resident", kit.running.url()))
        .header(reqwest::header::COOKIE, &lee)
        .send()
        .await?
        .text()
        .await?;
    assert!(home.contains(&format!("id=\"unlock-{lock}\"")), "the street door can be opened: {home}");
    let counter = env.sim(ENTRANCE).health()?.event_counter;
    let r = crate::dashboard::post_form(kit, &lee, "/app/resident/unlock", &[("lock_id", &lock.to_string())]).await?;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let to = r.headers()[reqwest::header::LOCATION].to_str()?.to_string();
    assert_eq!(to, format!("/app/resident?opening={lock}"));
    env.sim(ENTRANCE)
        .wait_until(WAIT, |h| h.event_counter > counter && matches!(h.bolt, doorman_lock::BoltState::Released { .. }))
        .await
        .context("the lock did not open for the dashboard's remote unlock")?;
    // Another lock id is refused with the API's code on an HTML page.
    let r =
        crate::dashboard::post_form(kit, &lee, "/app/resident/unlock", &[("lock_id", &LockId::random().to_string())])
            .await?;
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    // The manager's audit page folds the locks' raw events away unless asked for.
    env.synced(kit, ENTRANCE).await?;
    kit.running.service.sequence_now().await?;
    let rosa = crate::dashboard::sign_in(kit, &env.rosa_token).await?;
    let audit = |query: &'static str| {
        let rosa = rosa.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{}/app/audit{query}", kit.running.url()))
                .header(reqwest::header::COOKIE, rosa)
                .send()
                .await?
                .text()
                .await
        }
    };
    let folded = audit("").await?;
    assert!(folded.contains("id=\"show-raw\"") && !folded.contains("Lock reported event"), "{folded}");
    assert!(folded.contains("Times are America/New_York time"), "{folded}");
    let raw = audit("?raw=1").await?;
    assert!(raw.contains("Lock reported event") && raw.contains("id=\"fold-raw\""), "{raw}");
    // Not for a driver, not for an unknown lock, not for another unit's resident.
    let refused = env.drivers[0].client.remote_unlock(env.unit_2b.id, &RemoteUnlock { lock_id: lock }).await;
    crate::kit::expect_error(refused, reqwest::StatusCode::NOT_FOUND, "not_found");
    let unknown = env.jun.remote_unlock(env.unit_2b.id, &RemoteUnlock { lock_id: LockId::random() }).await;
    crate::kit::expect_error(unknown, reqwest::StatusCode::NOT_FOUND, "not_found");
    let other_unit = env.rosa.create_unit(env.property.id, "3C").await?;
    let other = env.jun.remote_unlock(other_unit.id, &RemoteUnlock { lock_id: lock }).await;
    crate::kit::expect_error(other, reqwest::StatusCode::NOT_FOUND, "not_found");
    Ok(())
}
