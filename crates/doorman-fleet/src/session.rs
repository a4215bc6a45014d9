//! One long-lived MQTT connection, the way uplink does it: a single event loop task
//! that polls for ever, waits with exponential backoff after an error, and
//! re-subscribes on every CONNACK (sessions are clean: what a lock must not miss is
//! retained by the broker or re-sent by the application, so nothing depends on the
//! broker keeping a session).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Outgoing, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::accounts::{MqttCredentials, Secret};
use crate::FleetError;

/// Where a broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttEndpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for MqttEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

impl MqttEndpoint {
    /// Parses `mqtt://[user:password@]host[:port]` (port 1883 by default); returns the
    /// credentials too when the URL carries them.
    pub fn parse(url: &str) -> Result<(Self, Option<MqttCredentials>), FleetError> {
        let bad = || FleetError::Config(format!("not an mqtt:// URL: {}", redact(url)));
        let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).ok_or_else(bad)?;
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let credentials = match userinfo {
            Some(u) => {
                let (user, pass) = u.split_once(':').ok_or_else(bad)?;
                if user.is_empty() {
                    return Err(bad());
                }
                Some(MqttCredentials { username: user.to_owned(), password: Secret::new(pass) })
            }
            None => None,
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (host, p.parse::<u16>().map_err(|_| bad())?),
                None if after.is_empty() => (host, 1883),
                None => return Err(bad()),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
                None => (hostport, 1883),
            }
        };
        if host.is_empty() || host.contains(['/', '@', '[', ']']) {
            return Err(bad());
        }
        Ok((Self { host: host.to_owned(), port }, credentials))
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            format!("{}://***@{}", url.get(..s).unwrap_or(""), url.get(at + 1..).unwrap_or(""))
        }
        _ => url.to_owned(),
    }
}

/// How to reach and stay connected to a broker.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The broker.
    pub endpoint: MqttEndpoint,
    /// The account (its username is also the client id).
    pub credentials: MqttCredentials,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// First wait after an error.
    pub backoff_min: Duration,
    /// Longest wait after errors.
    pub backoff_max: Duration,
    /// Largest packet sent or received.
    pub max_packet_size: usize,
}

impl SessionOptions {
    /// Defaults: 30 s keep-alive, backoff from 100 ms doubling to 10 s, 64 KiB packets.
    pub fn new(endpoint: MqttEndpoint, credentials: MqttCredentials) -> Self {
        Self {
            endpoint,
            credentials,
            keep_alive: Duration::from_secs(30),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            max_packet_size: 64 * 1024,
        }
    }
}

/// What the event loop reports.
#[derive(Debug, Clone)]
pub(crate) enum SessionEvent {
    /// CONNACK received and every subscription answered; `refused` lists the filters
    /// the broker refused.
    Ready { refused: Vec<String> },
    /// A message arrived.
    Message { topic: String, payload: Bytes },
    /// The connection failed or was refused; the loop waits and tries again.
    Disconnected { error: String },
}

/// A running session: publish through it; dropping it stops the event loop.
#[derive(Debug)]
pub(crate) struct Session {
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Starts the event loop; it subscribes to `subscriptions` after every CONNACK.
    pub(crate) fn start(
        options: &SessionOptions,
        subscriptions: Vec<String>,
        events: mpsc::Sender<SessionEvent>,
    ) -> Self {
        let mut mqtt = MqttOptions::new(
            options.credentials.username.clone(),
            options.endpoint.host.clone(),
            options.endpoint.port,
        );
        mqtt.set_credentials(options.credentials.username.clone(), options.credentials.password.expose());
        mqtt.set_keep_alive(options.keep_alive);
        mqtt.set_clean_session(true);
        mqtt.set_max_packet_size(options.max_packet_size, options.max_packet_size);
        let (client, eventloop) = AsyncClient::new(mqtt, 256);
        let task = tokio::spawn(run(
            eventloop,
            client.clone(),
            subscriptions,
            events,
            options.backoff_min,
            options.backoff_max,
        ));
        Self { client, task }
    }

    /// The client, to publish with.
    pub(crate) fn client(&self) -> &AsyncClient {
        &self.client
    }
}

async fn run(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    subscriptions: Vec<String>,
    events: mpsc::Sender<SessionEvent>,
    backoff_min: Duration,
    backoff_max: Duration,
) {
    let mut backoff = backoff_min;
    // Filters asked for, in order, waiting for their packet id; then by packet id.
    let mut unsent: VecDeque<String> = VecDeque::new();
    let mut in_flight: HashMap<u16, String> = HashMap::new();
    let mut refused: Vec<String> = Vec::new();
    loop {
        let event = match eventloop.poll().await {
            Ok(event) => event,
            Err(e) => {
                let error = e.to_string();
                tracing::debug!(%error, wait_ms = backoff.as_millis() as u64, "MQTT connection error");
                if events.send(SessionEvent::Disconnected { error }).await.is_err() {
                    return;
                }
                unsent.clear();
                in_flight.clear();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(backoff_max);
                continue;
            }
        };
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                if ack.code != ConnectReturnCode::Success {
                    // The event loop reports the refusal as an error next.
                    continue;
                }
                backoff = backoff_min;
                refused.clear();
                if subscriptions.is_empty() {
                    if events.send(SessionEvent::Ready { refused: Vec::new() }).await.is_err() {
                        return;
                    }
                    continue;
                }
                for filter in &subscriptions {
                    if client.try_subscribe(filter.clone(), QoS::AtLeastOnce).is_ok() {
                        unsent.push_back(filter.clone());
                    }
                }
            }
            Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                if let Some(filter) = unsent.pop_front() {
                    in_flight.insert(pkid, filter);
                }
            }
            Event::Incoming(Packet::SubAck(ack)) => {
                if let Some(filter) = in_flight.remove(&ack.pkid) {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        tracing::warn!(%filter, "MQTT subscription refused");
                        refused.push(filter);
                    }
                }
                if unsent.is_empty() && in_flight.is_empty() {
                    let ready = SessionEvent::Ready { refused: std::mem::take(&mut refused) };
                    if events.send(ready).await.is_err() {
                        return;
                    }
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                let message = SessionEvent::Message { topic: p.topic, payload: p.payload };
                if events.send(message).await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Publishes with QoS 1 without waiting: `Err` if the request queue is full (the
/// connection has been down a while); callers that must not lose the message keep it
/// and send it again on the next `Ready`.
pub(crate) fn try_publish(client: &AsyncClient, message: crate::messages::Message) -> Result<(), FleetError> {
    client.try_publish(message.topic, QoS::AtLeastOnce, message.retain, message.payload).map_err(|_| FleetError::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_credentials() {
        let (e, c) = MqttEndpoint::parse("mqtt://127.0.0.1:1883").unwrap();
        assert_eq!(e, MqttEndpoint { host: "127.0.0.1".into(), port: 1883 });
        assert!(c.is_none());
        let (e, c) = MqttEndpoint::parse("mqtt://lock:p%40ss@broker.example:8883/").unwrap();
        assert_eq!(e.port, 8883);
        assert_eq!(e.host, "broker.example");
        let c = c.unwrap();
        assert_eq!(c.username, "lock");
        assert_eq!(c.password.expose(), "p%40ss");
        assert_eq!(MqttEndpoint::parse("mqtt://host").unwrap().0.port, 1883);
        assert_eq!(MqttEndpoint::parse("mqtt://[::1]:1884").unwrap().0.host, "::1");
        for bad in ["http://x", "mqtt://", "mqtt://:pw@host", "mqtt://host:port"] {
            assert!(MqttEndpoint::parse(bad).is_err(), "{bad}");
        }
        let err = MqttEndpoint::parse("http://user:secret@host").unwrap_err().to_string();
        assert!(!err.contains("secret"));
    }
}
