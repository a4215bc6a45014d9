//! The lock's end of the channel: one session subscribed to its own commands.
//!
//! The lock keeps its unacknowledged events itself (the lock crate's event ring, saved
//! with its state), which is what makes nothing get lost across restarts: on every
//! [`LinkEvent::Connected`] the lock publishes every event the service has not
//! acknowledged yet, and the service, storing each event once by (lock, counter),
//! makes the repeats harmless.

use doorman_protocol::LockId;
use tokio::sync::mpsc;

use crate::messages::{Downlink, Uplink};
use crate::session::{try_publish, Session, SessionEvent, SessionOptions};
use crate::topics::{lock_name, Channel, TopicScheme};
use crate::FleetError;

/// What the lock hears from the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Connected and subscribed: publish health and every unacknowledged event now.
    /// `refused` lists subscriptions the broker refused (a misconfigured ACL).
    Connected {
        /// Refused filters.
        refused: Vec<String>,
    },
    /// The service sent something.
    Command(Downlink),
    /// The connection dropped; the link reconnects by itself.
    Disconnected {
        /// Why.
        error: String,
    },
}

/// A lock's MQTT link.
#[derive(Debug)]
pub struct LockLink {
    lock: LockId,
    scheme: TopicScheme,
    session: Session,
    events: mpsc::Receiver<SessionEvent>,
}

/// Publishes for one lock; cheap to clone.
#[derive(Debug, Clone)]
pub struct LockPublisher {
    lock: LockId,
    scheme: TopicScheme,
    client: rumqttc::AsyncClient,
}

impl LockPublisher {
    /// Publishes without waiting (QoS 1). `Err(Busy)` while the link has been down for
    /// a while: keep the message and send it again after the next `Connected`.
    pub fn publish(&self, uplink: &Uplink) -> Result<(), FleetError> {
        try_publish(&self.client, uplink.encode(&self.scheme, self.lock))
    }
}

impl LockLink {
    /// Connects as `lock` (the credentials' username must be the lock's name).
    pub fn start(lock: LockId, scheme: TopicScheme, options: SessionOptions) -> Result<Self, FleetError> {
        if options.credentials.username != lock_name(lock) {
            return Err(FleetError::Config("a lock's MQTT username is its lock id".into()));
        }
        let (tx, events) = mpsc::channel(256);
        let session = Session::start(&options, vec![scheme.lock_subscription(lock)], tx);
        Ok(Self { lock, scheme, session, events })
    }

    /// The next thing that happens; `None` once the link is gone.
    pub async fn next(&mut self) -> Option<LinkEvent> {
        loop {
            match self.events.recv().await? {
                SessionEvent::Ready { refused } => return Some(LinkEvent::Connected { refused }),
                SessionEvent::Disconnected { error } => return Some(LinkEvent::Disconnected { error }),
                SessionEvent::Message { topic, payload } => match self.scheme.parse(&topic) {
                    Some((lock, Channel::Down(kind))) if lock == self.lock => match Downlink::decode(kind, &payload) {
                        Ok(command) => return Some(LinkEvent::Command(command)),
                        Err(e) => tracing::warn!(%topic, error = %e, "malformed command ignored"),
                    },
                    _ => tracing::warn!(%topic, "message on an unexpected topic ignored"),
                },
            }
        }
    }

    /// A publisher for this lock.
    pub fn publisher(&self) -> LockPublisher {
        LockPublisher { lock: self.lock, scheme: self.scheme.clone(), client: self.session.client().clone() }
    }

    /// Publishes without waiting (see [`LockPublisher::publish`]).
    pub fn publish(&self, uplink: &Uplink) -> Result<(), FleetError> {
        try_publish(self.session.client(), uplink.encode(&self.scheme, self.lock))
    }
}
