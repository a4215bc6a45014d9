//! The embedded broker: rumqttd behind a small authorizing layer.
//!
//! rumqttd (0.20) authenticates connections but has no per-topic ACLs, so the port
//! clients reach is not rumqttd's. It is this module's listener, which speaks plain
//! MQTT 3.1.1 and, for each connection:
//!
//! 1. reads the CONNECT, authenticates its username and password against
//!    [`Accounts`] (refused: CONNACK "bad user name or password" and close), refuses a
//!    will on a topic the account may not publish, and ties the session to the
//!    username (like Mosquitto's `use_username_as_clientid`, so nobody can take over a
//!    lock's session): a new connection of an account closes that account's older one
//!    here, the session takeover of MQTT 3.1.1 §3.1.4;
//! 2. opens a connection to rumqttd on a loopback port and forwards the CONNECT with
//!    the username and a per-broker internal secret as password (rumqttd accepts that
//!    secret only, so going around this layer to the internal port gets nowhere), and
//!    a client id of its own for each connection: rumqttd 0.20 keeps a per-client-id
//!    table of pending wills that panics, and then refuses every later connection,
//!    when a client id comes back after a connection that ended before its CONNACK was
//!    written; with ids never reused that path is never taken;
//! 3. then copies packets both ways, frame by frame, looking only at what the client
//!    sends: a SUBSCRIBE with a filter the account may not read is answered here with
//!    failure (0x80) for every filter and not forwarded; a PUBLISH on a topic it may
//!    not write is acknowledged according to its QoS and dropped, as Mosquitto does
//!    (MQTT 3.1.1 §3.3.5 leaves the server that choice); everything else is forwarded.
//!
//! The rules are the ones of [`crate::topics`], the same the Mosquitto ACL file says.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Login, Packet, PubAck, PubComp, PubRec, SubAck};
use rumqttc::mqttbytes::{Protocol, QoS};
use rumqttc::SubscribeReasonCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::accounts::{Accounts, Principal, Secret};
use crate::topics::{Acl, TopicScheme};
use crate::FleetError;

/// How the embedded broker runs.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where MQTT clients connect (port 0: any free port, see [`EmbeddedBroker::local_addr`]).
    pub listen: SocketAddr,
    /// The topic scheme whose rules are enforced.
    pub scheme: TopicScheme,
    /// Largest MQTT packet accepted.
    pub max_packet_size: usize,
    /// How long a new connection may take to send its CONNECT.
    pub connect_timeout: Duration,
}

impl Default for BrokerConfig {
    /// 127.0.0.1:1884 (1883 is often a system Mosquitto), the default scheme, 64 KiB
    /// packets, 10 s to connect.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 1884)),
            scheme: TopicScheme::default(),
            max_packet_size: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A running embedded broker; dropping it stops it.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
    internal: JoinHandle<()>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.accept.abort();
        self.internal.abort();
    }
}

struct Shared {
    accounts: Arc<dyn Accounts>,
    scheme: TopicScheme,
    internal_addr: SocketAddr,
    internal_secret: Secret,
    max_packet_size: usize,
    connect_timeout: Duration,
    /// Each account's live connection: its number, and what closes it.
    sessions: Mutex<HashMap<String, (u64, oneshot::Sender<()>)>>,
    /// Each account's client id inside rumqttd: which of its two it used
    /// last (see [`Shared::client_id`]).
    client_ids: Mutex<HashMap<String, bool>>,
    next_connection: AtomicU64,
}

impl Shared {
    /// Registers connection `number` as `username`'s session, closing the one before.
    fn take_over(&self, username: &str, number: u64) -> oneshot::Receiver<()> {
        let (close, closed) = oneshot::channel();
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Dropping the older sender ends that connection's copy loop.
        sessions.insert(username.to_owned(), (number, close));
        closed
    }

    /// The client id a new connection of `username` has inside rumqttd: one
    /// of two per account, never the one its previous connection had.
    /// rumqttd keeps what it knows of every client id it has seen (its
    /// "graveyard", also for clean sessions), so an id per connection made
    /// its memory grow with every reconnection (a battery lock connects per
    /// visit); two per account keep it bounded by the fleet. They alternate
    /// so that a connection taking over never has the id of the one it
    /// replaces, whose end rumqttd may not have processed yet (rumqttd
    /// would drop the older connection by its id, and the older one's late
    /// disconnection could then end the newer).
    fn client_id(&self, username: &str) -> String {
        let mut ids = self.client_ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let second = ids.get(username).is_none_or(|last| !last);
        ids.insert(username.to_owned(), second);
        format!("{username}~{}", u8::from(second))
    }

    /// Forgets `username`'s session if it is still connection `number`.
    fn ended(&self, username: &str, number: u64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.get(username).is_some_and(|(n, _)| *n == number) {
            sessions.remove(username);
        }
    }
}

impl EmbeddedBroker {
    /// Binds `config.listen`, starts rumqttd on a loopback port behind it, and returns
    /// once both accept connections. `rng` makes the internal secret.
    pub async fn start(
        config: BrokerConfig,
        accounts: Arc<dyn Accounts>,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Self, FleetError> {
        let listener = TcpListener::bind(config.listen).await.map_err(FleetError::io("bind the MQTT listener"))?;
        let local_addr = listener.local_addr().map_err(FleetError::io("read the listener address"))?;
        let internal_addr = free_loopback_addr()?;
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let internal_secret = Secret::new(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret));
        let internal = start_rumqttd(internal_addr, &internal_secret, config.max_packet_size);
        let shared = Arc::new(Shared {
            accounts,
            scheme: config.scheme,
            internal_addr,
            internal_secret,
            max_packet_size: config.max_packet_size,
            connect_timeout: config.connect_timeout,
            sessions: Mutex::new(HashMap::new()),
            client_ids: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
        });
        probe(&shared).await?;
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        tracing::info!(%local_addr, "embedded MQTT broker listening");
        Ok(Self { local_addr, shared, accept, internal })
    }

    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `mqtt://host:port`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.local_addr)
    }

    /// A counter of the locks connected now (accounts named after a lock
    /// with a live session), for the service's `/metrics`.
    pub fn connected_locks(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            let sessions = shared.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sessions.keys().filter(|name| crate::topics::parse_lock_name(name).is_some()).count() as u64
        }
    }
}

fn free_loopback_addr() -> Result<SocketAddr, FleetError> {
    // rumqttd binds its own listener; ask the OS for a free port first.
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(FleetError::io("find a free port"))?;
    probe.local_addr().map_err(FleetError::io("find a free port"))
}

fn start_rumqttd(addr: SocketAddr, secret: &Secret, max_packet_size: usize) -> JoinHandle<()> {
    let router = rumqttd::RouterConfig {
        max_connections: 10_010,
        max_outgoing_packet_count: 200,
        // rumqttd keeps, in memory, a log of what was published under each
        // subscription filter (every lock's `commands/#` is one), and reads
        // subscribers' messages from it. 10 MB x 10 segments per filter let
        // the service's memory grow with every event and acknowledgement of
        // the day; 32 KiB x 2 keep the last hundred or so messages of each
        // filter (a subscriber further behind loses the oldest; a lock's
        // events are sent again until acknowledged, and a gap is asked for).
        max_segment_size: 32 * 1024,
        max_segment_count: 2,
        ..rumqttd::RouterConfig::default()
    };
    let expected = secret.clone();
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: max_packet_size,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    connections.set_auth_handler(move |_client: String, _user: String, password: String| {
        let ok = subtle::ConstantTimeEq::ct_eq(password.as_bytes(), expected.expose().as_bytes()).into();
        async move { ok }
    });
    let settings = rumqttd::ServerSettings {
        name: "doorman-internal".to_owned(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    let router_tx = rumqttd::Router::new(0, router).spawn();
    let mut server = rumqttd::Server::new(settings, router_tx, rumqttd::protocol::v4::V4);
    tokio::spawn(async move {
        if let Err(e) = server.start(rumqttd::LinkType::Remote).await {
            tracing::error!(error = %e, "embedded MQTT broker stopped");
        }
    })
}

/// Waits until rumqttd accepts a connection with the internal secret.
async fn probe(shared: &Shared) -> Result<(), FleetError> {
    let mut delay = Duration::from_millis(5);
    for _ in 0..12 {
        if let Ok(mut s) = TcpStream::connect(shared.internal_addr).await {
            let mut connect = rumqttc::mqttbytes::v4::Connect::new("doorman-probe");
            connect.login = Some(Login::new("doorman-probe", shared.internal_secret.expose()));
            let mut buf = BytesMut::new();
            if Packet::Connect(connect).write(&mut buf, shared.max_packet_size).is_ok()
                && s.write_all(&buf).await.is_ok()
            {
                let mut rbuf = BytesMut::new();
                if let Ok(Some(frame)) = read_frame(&mut s, &mut rbuf, 1024).await {
                    let mut frame = BytesMut::from(&frame[..]);
                    if let Ok(Packet::ConnAck(ack)) = Packet::read(&mut frame, 1024) {
                        if ack.code == ConnectReturnCode::Success {
                            // Just close: no DISCONNECT. rumqttd 0.20 takes a
                            // DISCONNECT and then the closed socket for two
                            // disconnections and logs the second as an error
                            // ("no-connection id 0 is already gone"). The probe
                            // has no will for a DISCONNECT to discard.
                            return Ok(());
                        }
                    }
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    Err(FleetError::Broker("the embedded broker did not start".into()))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                connections.spawn(async move {
                    if let Err(e) = serve(stream, &shared).await {
                        tracing::debug!(%peer, error = %e, "MQTT connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting an MQTT connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one whole MQTT packet (fixed header, remaining length, body) from `r`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, FleetError> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), max) {
            Ok(header) => return Ok(Some(buf.split_to(header.frame_length()).freeze())),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(FleetError::Protocol(e.to_string())),
        }
        if r.read_buf(buf).await.map_err(FleetError::io("read"))? == 0 {
            return Ok(None);
        }
    }
}

fn encode(packet: Packet, max: usize) -> Result<Bytes, FleetError> {
    let mut buf = BytesMut::new();
    packet.write(&mut buf, max).map_err(|e| FleetError::Protocol(e.to_string()))?;
    Ok(buf.freeze())
}

fn parse(frame: &[u8], max: usize) -> Result<Packet, FleetError> {
    Packet::read(&mut BytesMut::from(frame), max).map_err(|e| FleetError::Protocol(e.to_string()))
}

async fn refuse(stream: &mut TcpStream, code: ConnectReturnCode) -> Result<(), FleetError> {
    let bytes = encode(Packet::ConnAck(ConnAck::new(code, false)), 16)?;
    stream.write_all(&bytes).await.map_err(FleetError::io("write"))
}

async fn serve(mut client: TcpStream, shared: &Shared) -> Result<(), FleetError> {
    let max = shared.max_packet_size;
    let mut cbuf = BytesMut::with_capacity(4096);
    let first = tokio::time::timeout(shared.connect_timeout, read_frame(&mut client, &mut cbuf, max))
        .await
        .map_err(|_| FleetError::Protocol("no CONNECT in time".into()))??;
    let Some(first) = first else { return Ok(()) };
    let connect = match parse(&first, max)? {
        Packet::Connect(c) => c,
        _ => return Err(FleetError::Protocol("first packet is not CONNECT".into())),
    };
    if connect.protocol != Protocol::V4 {
        refuse(&mut client, ConnectReturnCode::RefusedProtocolVersion).await?;
        return Ok(());
    }
    let principal = match &connect.login {
        Some(login) => shared.accounts.authenticate(&login.username, &login.password).await,
        None => None,
    };
    let Some(principal) = principal else {
        tracing::info!(client_id = %connect.client_id, "MQTT login refused");
        refuse(&mut client, ConnectReturnCode::BadUserNamePassword).await?;
        return Ok(());
    };
    let acl = principal.acl(&shared.scheme);
    if connect.last_will.as_ref().is_some_and(|w| !acl.may_publish(&w.topic)) {
        refuse(&mut client, ConnectReturnCode::NotAuthorized).await?;
        return Ok(());
    }
    let username = principal.username();
    let number = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let taken_over = shared.take_over(&username, number);
    let result = relay(client, cbuf, connect, &username, principal, acl, taken_over, shared).await;
    shared.ended(&username, number);
    result
}

/// Copies one authenticated connection to rumqttd and back, until either side closes
/// or a newer connection of the same account takes the session over.
#[allow(clippy::too_many_arguments)]
async fn relay(
    client: TcpStream,
    mut cbuf: BytesMut,
    mut connect: rumqttc::mqttbytes::v4::Connect,
    username: &str,
    principal: Principal,
    acl: Acl,
    taken_over: oneshot::Receiver<()>,
    shared: &Shared,
) -> Result<(), FleetError> {
    let max = shared.max_packet_size;
    connect.client_id = shared.client_id(username);
    connect.login = Some(Login::new(username, shared.internal_secret.expose()));
    let mut broker = TcpStream::connect(shared.internal_addr).await.map_err(FleetError::io("reach rumqttd"))?;
    broker.write_all(&encode(Packet::Connect(connect), max)?).await.map_err(FleetError::io("write"))?;

    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    let (to_client, mut outbox) = mpsc::channel::<Bytes>(64);

    let writer = async move {
        while let Some(frame) = outbox.recv().await {
            client_tx.write_all(&frame).await.map_err(FleetError::io("write to client"))?;
        }
        Ok::<(), FleetError>(())
    };
    let from_broker = {
        let to_client = to_client.clone();
        async move {
            let mut buf = BytesMut::with_capacity(4096);
            while let Some(frame) = read_frame(&mut broker_rx, &mut buf, max).await? {
                if to_client.send(frame).await.is_err() {
                    break;
                }
            }
            Ok::<(), FleetError>(())
        }
    };
    let from_client = async move {
        let mut gate = Gate { acl, principal, denied_qos2: HashSet::new(), max };
        while let Some(frame) = read_frame(&mut client_rx, &mut cbuf, max).await? {
            match gate.inspect(&frame)? {
                Verdict::Forward => broker_tx.write_all(&frame).await.map_err(FleetError::io("write to rumqttd"))?,
                Verdict::Reply(reply) => {
                    if to_client.send(reply).await.is_err() {
                        break;
                    }
                }
                Verdict::Drop => {}
            }
        }
        Ok::<(), FleetError>(())
    };
    tokio::select! {
        r = writer => r,
        r = from_broker => r,
        r = from_client => r,
        _ = taken_over => {
            tracing::info!(%username, "MQTT session taken over by a newer connection");
            Ok(())
        }
    }
}

enum Verdict {
    Forward,
    Reply(Bytes),
    Drop,
}

/// The per-connection authorization of what a client sends.
struct Gate {
    acl: Acl,
    principal: Principal,
    denied_qos2: HashSet<u16>,
    max: usize,
}

const PUBLISH: u8 = 3;
const PUBREL: u8 = 6;
const SUBSCRIBE: u8 = 8;
const CONNECT: u8 = 1;

impl Gate {
    fn inspect(&mut self, frame: &[u8]) -> Result<Verdict, FleetError> {
        let kind = frame.first().map_or(0, |b| b >> 4);
        match kind {
            PUBLISH => {
                let Packet::Publish(p) = parse(frame, self.max)? else {
                    return Err(FleetError::Protocol("bad PUBLISH".into()));
                };
                if self.acl.may_publish(&p.topic) {
                    return Ok(Verdict::Forward);
                }
                tracing::warn!(principal = ?self.principal, topic = %p.topic, "MQTT publish refused by ACL");
                Ok(match p.qos {
                    QoS::AtMostOnce => Verdict::Drop,
                    QoS::AtLeastOnce => Verdict::Reply(encode(Packet::PubAck(PubAck::new(p.pkid)), self.max)?),
                    QoS::ExactlyOnce => {
                        self.denied_qos2.insert(p.pkid);
                        Verdict::Reply(encode(Packet::PubRec(PubRec::new(p.pkid)), self.max)?)
                    }
                })
            }
            PUBREL => {
                let Packet::PubRel(r) = parse(frame, self.max)? else {
                    return Err(FleetError::Protocol("bad PUBREL".into()));
                };
                if self.denied_qos2.remove(&r.pkid) {
                    Ok(Verdict::Reply(encode(Packet::PubComp(PubComp::new(r.pkid)), self.max)?))
                } else {
                    Ok(Verdict::Forward)
                }
            }
            SUBSCRIBE => {
                let Packet::Subscribe(s) = parse(frame, self.max)? else {
                    return Err(FleetError::Protocol("bad SUBSCRIBE".into()));
                };
                if s.filters.iter().all(|f| self.acl.may_subscribe(&f.path)) {
                    return Ok(Verdict::Forward);
                }
                let refused: Vec<&str> = s.filters.iter().map(|f| f.path.as_str()).collect();
                tracing::warn!(principal = ?self.principal, filters = ?refused, "MQTT subscribe refused by ACL");
                let codes = vec![SubscribeReasonCode::Failure; s.filters.len()];
                Ok(Verdict::Reply(encode(Packet::SubAck(SubAck::new(s.pkid, codes)), self.max)?))
            }
            CONNECT => Err(FleetError::Protocol("second CONNECT".into())),
            _ => Ok(Verdict::Forward),
        }
    }
}
