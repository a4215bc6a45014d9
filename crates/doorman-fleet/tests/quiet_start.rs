//! The embedded broker starts without logging an error (it once logged
//! rumqttd's "no-connection id 0 is already gone" on every start: its
//! readiness probe said DISCONNECT and then closed, which rumqttd 0.20
//! counts as two disconnections). Its own test binary: it installs the
//! process's global log subscriber, to hear rumqttd's router thread too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use doorman_fleet::{BrokerConfig, EmbeddedBroker, MqttCredentials, StaticAccounts};
use rand_core::OsRng;
use rumqttc::mqttbytes::v4::{Connect, ConnectReturnCode, Login, Packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Every event logged anywhere in the process: (level, target, message).
#[derive(Default, Clone)]
struct Capture {
    events: Arc<Mutex<Vec<(Level, String, String)>>>,
    next_span: Arc<AtomicU64>,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        self.events.lock().unwrap().push((*meta.level(), meta.target().to_string(), message.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn errors(&self) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events.iter().filter(|(l, _, _)| *l == Level::ERROR).map(|(_, t, m)| format!("{t}: {m}")).collect()
    }
    fn saw(&self, text: &str) -> bool {
        self.events.lock().unwrap().iter().any(|(_, _, m)| m.contains(text))
    }
}

/// CONNECT through the authorizing layer, CONNACK, PINGREQ, PINGRESP, close.
async fn round_trip(addr: std::net::SocketAddr, c: &MqttCredentials) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut connect = Connect::new("quiet-start");
    connect.login = Some(Login::new(&c.username, c.password.expose()));
    let mut out = BytesMut::new();
    Packet::Connect(connect).write(&mut out, 1024).unwrap();
    Packet::PingReq.write(&mut out, 1024).unwrap();
    s.write_all(&out).await.unwrap();
    let mut got = BytesMut::new();
    let (mut acked, mut ponged) = (false, false);
    while !(acked && ponged) {
        assert!(s.read_buf(&mut got).await.unwrap() > 0, "the broker closed the connection");
        while let Ok(packet) = Packet::read(&mut got, 1024) {
            match packet {
                Packet::ConnAck(a) => {
                    assert_eq!(a.code, ConnectReturnCode::Success);
                    acked = true;
                }
                Packet::PingResp => ponged = true,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_starts_without_an_error() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();

    let accounts = StaticAccounts::new();
    let service = MqttCredentials::generate("doorman-service".to_string(), &mut OsRng);
    accounts.add_service("doorman-service", service.hash(&mut OsRng)).unwrap();
    let config = BrokerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..BrokerConfig::default() };
    let broker = EmbeddedBroker::start(config, Arc::new(accounts), &mut OsRng).await.unwrap();
    assert!(capture.saw("embedded MQTT broker listening"), "the capture hears the broker");
    // The readiness probe's connection ends at rumqttd's router (its own thread)...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !capture.saw("Disconnecting connection") {
        assert!(tokio::time::Instant::now() < deadline, "rumqttd never saw the probe leave");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and the router has handled what came after it: a client's whole round trip.
    round_trip(broker.local_addr(), &service).await;
    round_trip(broker.local_addr(), &service).await;
    assert_eq!(capture.errors(), Vec::<String>::new(), "a start logs no error");
}
