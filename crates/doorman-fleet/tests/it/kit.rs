//! Brokers under test, accounts, and a recording service.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doorman_fleet::*;
use doorman_protocol::*;
use rand_core::OsRng;
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(10);

/// Three locks and a service account on one broker.
pub struct Env {
    pub endpoint: MqttEndpoint,
    pub scheme: TopicScheme,
    pub locks: Vec<(LockId, MqttCredentials)>,
    pub service: MqttCredentials,
    _broker: Broker,
}

enum Broker {
    Embedded { _broker: EmbeddedBroker },
    Mosquitto { _process: MosquittoProcess },
    External,
}

pub fn lock_ids() -> Vec<LockId> {
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut id);
        ids.push(LockId(id));
    }
    ids
}

fn accounts() -> (StaticAccounts, Vec<(LockId, MqttCredentials)>, MqttCredentials) {
    let accounts = StaticAccounts::new();
    let mut locks = Vec::new();
    for id in lock_ids() {
        let c = MqttCredentials::for_lock(id, &mut OsRng);
        accounts.add_lock(id, c.hash(&mut OsRng));
        locks.push((id, c));
    }
    // A name of its own, so tests sharing an external broker never share a client id.
    let mut tag = [0u8; 4];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut tag);
    let name = format!("doorman-service-{}", hex(&tag));
    let service = MqttCredentials::generate(name.clone(), &mut OsRng);
    accounts.add_service(&name, service.hash(&mut OsRng)).unwrap();
    (accounts, locks, service)
}

impl Env {
    pub async fn embedded() -> Env {
        let (accounts, locks, service) = accounts();
        let config = BrokerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..BrokerConfig::default() };
        let broker = EmbeddedBroker::start(config, Arc::new(accounts), &mut OsRng).await.unwrap();
        let (endpoint, _) = MqttEndpoint::parse(&broker.url()).unwrap();
        Env { endpoint, scheme: TopicScheme::default(), locks, service, _broker: Broker::Embedded { _broker: broker } }
    }

    /// A second Mosquitto on a free port with the project's generated files, when
    /// `DOORMAN_TEST_MQTT_URL` says Mosquitto is available; `None` (and "skipped")
    /// otherwise.
    pub async fn mosquitto(test: &str) -> Option<Env> {
        if std::env::var("DOORMAN_TEST_MQTT_URL").is_err() {
            println!("skipped {test}: DOORMAN_TEST_MQTT_URL is not set");
            return None;
        }
        let (accounts, locks, service) = accounts();
        let scheme = TopicScheme::default();
        let process = MosquittoProcess::start(&scheme, &accounts).await;
        let endpoint = MqttEndpoint { host: "127.0.0.1".into(), port: process.addr.port() };
        Some(Env { endpoint, scheme, locks, service, _broker: Broker::Mosquitto { _process: process } })
    }

    /// The broker `DOORMAN_TEST_MQTT_URL` names, as it is (the system Mosquitto allows
    /// anonymous clients and has no ACL, so only the channel itself is tested there),
    /// under a prefix of its own.
    pub async fn external(test: &str) -> Option<Env> {
        let Ok(url) = std::env::var("DOORMAN_TEST_MQTT_URL") else {
            println!("skipped {test}: DOORMAN_TEST_MQTT_URL is not set");
            return None;
        };
        let (endpoint, creds) = MqttEndpoint::parse(&url).unwrap();
        let (_, locks, service) = accounts();
        let locks = match &creds {
            // A broker with accounts: every client uses the URL's.
            Some(c) => locks
                .into_iter()
                .map(|(id, _)| (id, MqttCredentials { username: lock_name(id), ..c.clone() }))
                .collect(),
            None => locks,
        };
        let mut tag = [0u8; 6];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut tag);
        let scheme = TopicScheme::new(&format!("doorman-test-{}", hex(&tag))).unwrap();
        Some(Env { endpoint, scheme, locks, service, _broker: Broker::External })
    }

    pub fn session(&self, creds: &MqttCredentials) -> SessionOptions {
        let mut o = SessionOptions::new(self.endpoint.clone(), creds.clone());
        o.backoff_min = Duration::from_millis(20);
        o.backoff_max = Duration::from_millis(500);
        o
    }

    pub fn link(&self, i: usize) -> LockLink {
        let (id, creds) = &self.locks[i];
        LockLink::start(*id, self.scheme.clone(), self.session(creds)).unwrap()
    }

    pub fn lock(&self, i: usize) -> LockId {
        self.locks[i].0
    }

    /// A raw MQTT client logged in as lock `i` (for attacks).
    pub fn raw(&self, creds: &MqttCredentials, client_id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
        let mut o = rumqttc::MqttOptions::new(client_id, self.endpoint.host.clone(), self.endpoint.port);
        o.set_credentials(creds.username.clone(), creds.password.expose());
        o.set_keep_alive(Duration::from_secs(30));
        rumqttc::AsyncClient::new(o, 64)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct MosquittoProcess {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl MosquittoProcess {
    async fn start(scheme: &TopicScheme, accounts: &StaticAccounts) -> Self {
        let bin = std::env::var("DOORMAN_TEST_MOSQUITTO").map(PathBuf::from).unwrap_or_else(|_| {
            ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .expect("DOORMAN_TEST_MQTT_URL is set but no mosquitto binary found (set DOORMAN_TEST_MOSQUITTO)")
        });
        let dir = tempfile::tempdir().unwrap();
        let paths = MosquittoFiles::generate(scheme, accounts).write_to(dir.path()).unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        // Started by root, Mosquitto would drop to its own user, who cannot read a
        // private temp dir: stay the user who owns it.
        let run_as = {
            use std::os::unix::fs::MetadataExt as _;
            (std::fs::metadata(dir.path()).unwrap().uid() == 0).then_some("root")
        };
        std::fs::write(&conf, mosquitto::config_file(addr, &paths, dir.path(), run_as)).unwrap();
        let child = Command::new(bin).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let mut process = MosquittoProcess { child, addr, _dir: dir };
        // Wait until it listens (it has only just been started).
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return process;
            }
            if let Some(status) = process.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(process._dir.path().join("mosquitto.log")).unwrap_or_default();
                panic!("mosquitto exited with {status}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mosquitto did not start listening on {addr}");
    }
}

impl Drop for MosquittoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the recording service saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Event { lock: LockId, counter: u64 },
    Rejected { lock: LockId },
    Health { lock: LockId, health: LockHealth },
    Time { lock: LockId, nonce: Nonce },
    Challenge { lock: LockId, request_id: u64 },
}

/// A lock's stored chain: its head and its events by counter.
type Chain = (ChainHead, BTreeMap<u64, Vec<u8>>);

/// A [`FleetService`] that checks and stores events like the real one would, and
/// reports everything it sees.
pub struct RecordingService {
    devices: HashMap<LockId, LockDevicePublicKey>,
    chains: Mutex<HashMap<LockId, Chain>>,
    seen: mpsc::UnboundedSender<Seen>,
}

impl RecordingService {
    pub fn new(devices: HashMap<LockId, LockDevicePublicKey>) -> (Arc<Self>, mpsc::UnboundedReceiver<Seen>) {
        let (seen, rx) = mpsc::unbounded_channel();
        (Arc::new(Self { devices, chains: Mutex::new(HashMap::new()), seen }), rx)
    }

    pub fn stored(&self, lock: LockId) -> Vec<u64> {
        self.chains.lock().unwrap().get(&lock).map(|(_, m)| m.keys().copied().collect()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl FleetService for RecordingService {
    async fn event_received(&self, lock: LockId, signed_event: &[u8]) -> EventReceipt {
        let Some(device) = self.devices.get(&lock) else {
            let _ = self.seen.send(Seen::Rejected { lock });
            return EventReceipt { ack: 0, resend_after: None };
        };
        let mut chains = self.chains.lock().unwrap();
        let (head, stored) = chains.entry(lock).or_insert((ChainHead::GENESIS, BTreeMap::new()));
        let intake = intake_event(
            *device,
            lock,
            *head,
            |c| stored.get(&c).map(|b| decode_event(b, device).unwrap().hash),
            signed_event,
        );
        match intake {
            Intake::New(e) => {
                stored.insert(e.counter, signed_event.to_vec());
                *head = ChainHead { counter: e.counter, hash: e.hash, time: e.time };
                let _ = self.seen.send(Seen::Event { lock, counter: e.counter });
            }
            Intake::Repeat { .. } | Intake::Gap { .. } => {}
            Intake::Fork { .. } | Intake::Invalid(_) => {
                let _ = self.seen.send(Seen::Rejected { lock });
            }
        }
        intake.receipt(head.counter)
    }

    async fn health_received(&self, lock: LockId, health: LockHealth) {
        let _ = self.seen.send(Seen::Health { lock, health });
    }

    async fn time_requested(&self, lock: LockId, nonce: Nonce) -> Option<Vec<u8>> {
        let _ = self.seen.send(Seen::Time { lock, nonce });
        Some(nonce.0.to_vec())
    }

    async fn remote_challenge(&self, lock: LockId, request_id: u64, signed_challenge: &[u8]) -> Option<Vec<u8>> {
        let _ = self.seen.send(Seen::Challenge { lock, request_id });
        Some(signed_challenge.iter().rev().copied().collect())
    }
}

/// A lock's protocol state and device key, to make real signed events.
pub struct EventSource {
    pub state: LockState,
    pub device: LockDeviceKey,
}

impl EventSource {
    pub fn new(lock: LockId, seed: u8) -> Self {
        let issuer = IssuerSigningKey::from_ed25519_secret(&[seed; 32]);
        Self {
            state: LockState::new(lock, &[issuer.trusted_key(KeyUsage::ALL)], 1_760_000_000).unwrap(),
            device: LockDeviceKey::from_secret(&[seed; 32]),
        }
    }

    pub fn next(&mut self) -> Vec<u8> {
        let t = self.state.time_floor() + 1;
        self.state.record_event(&self.device, &EventRecord::new(EventKind::DoorOpened), t).unwrap().to_vec()
    }
}

pub async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("timed out").expect("closed")
}

/// The next command a lock link receives (skipping connection events).
pub async fn next_command(link: &mut LockLink) -> Downlink {
    loop {
        match tokio::time::timeout(WAIT, link.next()).await.expect("timed out").expect("closed") {
            LinkEvent::Command(c) => return c,
            LinkEvent::Connected { refused } => assert!(refused.is_empty(), "refused: {refused:?}"),
            LinkEvent::Disconnected { .. } => {}
        }
    }
}

/// Waits for the link to be connected and subscribed; returns the commands that came first.
pub async fn connected(link: &mut LockLink) -> Vec<Downlink> {
    let mut early = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, link.next()).await.expect("timed out").expect("closed") {
            LinkEvent::Connected { refused } => {
                assert!(refused.is_empty(), "refused: {refused:?}");
                return early;
            }
            LinkEvent::Disconnected { .. } => {}
            LinkEvent::Command(c) => early.push(c),
        }
    }
}

/// A raw MQTT client, for doing what a well-behaved lock never would.
pub struct RawClient {
    pub client: rumqttc::AsyncClient,
    pub rx: mpsc::UnboundedReceiver<Result<rumqttc::Packet, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawClient {
    /// Connects once (no reconnection): the first item is the CONNACK or the error.
    pub fn connect(env: &Env, creds: &MqttCredentials, client_id: &str) -> Self {
        let (client, mut eventloop) = env.raw(creds, client_id);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
        });
        Self { client, rx, task }
    }

    pub async fn next(&mut self) -> Result<rumqttc::Packet, String> {
        loop {
            let p = recv(&mut self.rx).await;
            if !matches!(p, Ok(rumqttc::Packet::PingResp)) {
                return p;
            }
        }
    }
}
