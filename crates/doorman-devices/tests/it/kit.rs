//! A fleet in a box: the embedded broker, the in-memory service behind the fleet bridge,
//! and a process of simulated locks, each with its own clock.

use std::sync::Arc;
use std::time::Duration;

use doorman_devices::*;
use doorman_domain::ManualClock;
use doorman_fleet::*;
use doorman_lock::LockConfig;
use doorman_protocol::*;
use rand_core::OsRng;

pub const NOW: i64 = 1_760_000_000;
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Fleet {
    pub service: Arc<InMemoryFleet>,
    pub lock_clock: Arc<ManualClock>,
    pub bundles: Vec<LockBundle>,
    pub locks: Option<RunningLocks>,
    pub bridge: FleetBridge,
    pub state_dir: tempfile::TempDir,
    pub driver: Handheld,
    _broker: EmbeddedBroker,
}

impl Fleet {
    /// `n` locks with keypads, online.
    pub async fn start(n: usize) -> Fleet {
        let service_clock = Arc::new(ManualClock::new(NOW));
        let lock_clock = Arc::new(ManualClock::new(NOW));
        let service = InMemoryFleet::new(IssuerSigningKey::generate_ed25519(&mut OsRng), service_clock.clone());
        let accounts = Arc::new(StaticAccounts::new());
        let service_account = MqttCredentials::generate("doorman-service", &mut OsRng);
        accounts.add_service("doorman-service", service_account.hash(&mut OsRng)).unwrap();
        let config = BrokerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..BrokerConfig::default() };
        let broker = EmbeddedBroker::start(config, accounts.clone(), &mut OsRng).await.unwrap();
        let mut bundles = Vec::new();
        for _ in 0..n {
            let mut id = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut OsRng, &mut id);
            let lock = LockId(id);
            let mut door = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut OsRng, &mut door);
            let creds = MqttCredentials::for_lock(lock, &mut OsRng);
            accounts.add_lock(lock, creds.hash(&mut OsRng));
            let bundle = LockBundle::generate(
                lock,
                &service.trust_anchors(),
                Some(&DoorCodeSecret::from_bytes(door)),
                &mut OsRng,
            )
            .with_mqtt(&broker.url(), &creds);
            service.register(lock, bundle.device_public_key().unwrap()).unwrap();
            bundles.push(bundle);
        }
        let (endpoint, _) = MqttEndpoint::parse(&broker.url()).unwrap();
        let mut session = SessionOptions::new(endpoint, service_account);
        session.backoff_min = Duration::from_millis(20);
        let bridge = FleetBridge::start(session, TopicScheme::default(), service.clone());
        tokio::time::timeout(WAIT, bridge.handle().wait_ready()).await.unwrap().unwrap();
        let mut fleet = Fleet {
            service,
            lock_clock,
            bundles,
            locks: None,
            bridge,
            state_dir: tempfile::tempdir().unwrap(),
            driver: Handheld::generate(&mut OsRng),
            _broker: broker,
        };
        fleet.run_locks().await;
        fleet
    }

    pub fn options(&self) -> RunOptions {
        let mut o = RunOptions::new(self.state_dir.path().to_path_buf());
        o.tick_every = Duration::from_millis(20);
        o.health_every = Duration::from_millis(200);
        o.config = LockConfig::default();
        o
    }

    /// (Re)starts the lock process on the same state folder, and waits until every
    /// camera has reported and every lock has been heard on the fleet channel.
    pub async fn run_locks(&mut self) {
        let running = RunningLocks::start(&self.bundles, self.options(), self.lock_clock.clone()).await.unwrap();
        self.locks = Some(running);
        for i in 0..self.bundles.len() {
            self.sim(i).wait_until(WAIT, |h| !h.camera_stale).await.unwrap();
            let id = self.lock_id(i);
            self.service.wait_until(WAIT, |s| s.health(id).is_some()).await.unwrap();
        }
    }

    /// SIGKILL: the process and everything in memory is gone; the state files stay.
    pub async fn kill_locks(&mut self) {
        self.locks = None;
        // Let the aborted tasks unwind before a new process opens the same files.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    pub fn running(&self) -> &RunningLocks {
        self.locks.as_ref().unwrap()
    }

    pub fn running_mut(&mut self) -> &mut RunningLocks {
        self.locks.as_mut().unwrap()
    }

    pub fn lock_id(&self, i: usize) -> LockId {
        self.bundles[i].lock().unwrap()
    }

    pub fn sim(&self, i: usize) -> Arc<SimLock> {
        self.running().lock(self.lock_id(i)).unwrap().clone()
    }

    pub fn device(&self, i: usize) -> LockDevicePublicKey {
        self.bundles[i].device_public_key().unwrap()
    }

    pub fn endpoint(&self) -> LockEndpoint {
        self.running().endpoint()
    }

    pub fn credential(&self, i: usize, delivery: &str) -> IssuedCredential {
        self.service.issue_credential(self.lock_id(i), self.driver.key().public_key(), delivery.as_bytes()).unwrap()
    }

    /// The driver walks through door `i` with `credential`.
    pub async fn deliver(&self, i: usize, credential: &IssuedCredential) -> DecisionJson {
        self.driver
            .walk_through(&self.endpoint(), self.lock_id(i), &self.device(i), credential.credential.as_bytes())
            .await
            .unwrap()
    }

    /// Waits until the service holds every event lock `i` recorded, and the lock knows it.
    pub async fn synced(&self, i: usize) {
        let sim = self.sim(i);
        let id = self.lock_id(i);
        let head = sim.health().unwrap().event_counter;
        self.service.wait_until(WAIT, |s| s.head(id).is_some_and(|h| h.counter >= head)).await.unwrap();
        sim.wait_until(WAIT, |h| h.acked_counter == h.event_counter).await.unwrap();
    }

    /// The service's stored chain of lock `i` is exactly 1..=the lock's head, unbroken.
    pub fn check_chain(&self, i: usize) -> Vec<LockEvent> {
        let id = self.lock_id(i);
        let events = self.service.events(id);
        let counters: Vec<u64> = events.iter().map(|e| e.counter).collect();
        let head = self.sim(i).health().unwrap().event_counter;
        assert_eq!(counters, (1..=head).collect::<Vec<_>>(), "lost or doubled events");
        assert!(self.service.problems(id).is_empty(), "{:?}", self.service.problems(id));
        events
    }
}

pub fn kinds(events: &[LockEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.record.kind).collect()
}
