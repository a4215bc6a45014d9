//! A simulated lock's MQTT agent: the lock's side of the fleet channel.
//!
//! On every connection it publishes its health, asks for the time and publishes every
//! event the service has not acknowledged; after that each new event as it is
//! recorded. It applies what the service sends (acknowledgements, revocation bundles,
//! key updates, time statements, remote unlocks). Offline it does nothing: the lock
//! keeps working and keeps its events.

use std::sync::Arc;
use std::time::Duration;

use doorman_fleet::{Downlink, LinkEvent, LockLink, LockRequest, SessionOptions, TopicScheme, Uplink};
use tokio::task::JoinHandle;

use crate::sim_lock::SimLock;
use crate::DeviceError;

/// How the agent talks to the fleet.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Broker and account.
    pub session: SessionOptions,
    /// Topic scheme.
    pub scheme: TopicScheme,
    /// Health report period.
    pub health_every: Duration,
    /// Time request period (a request also goes out on every connection).
    pub time_every: Duration,
}

impl AgentOptions {
    /// Health every 30 s, time every hour.
    pub fn new(session: SessionOptions) -> Self {
        Self {
            session,
            scheme: TopicScheme::default(),
            health_every: Duration::from_secs(30),
            time_every: Duration::from_secs(3600),
        }
    }
}

/// Starts the agent of `lock`; abort the handle to stop it.
pub fn spawn_agent(lock: Arc<SimLock>, options: AgentOptions) -> Result<JoinHandle<()>, DeviceError> {
    let link = LockLink::start(lock.lock_id(), options.scheme.clone(), options.session.clone())?;
    Ok(tokio::spawn(run(lock, link, options)))
}

struct Agent {
    lock: Arc<SimLock>,
    link: LockLink,
    connected: bool,
    published: u64,
    /// The acknowledged counter at the last health report.
    acked_at_last_report: u64,
}

async fn run(lock: Arc<SimLock>, link: LockLink, options: AgentOptions) {
    let mut agent = Agent { lock, link, connected: false, published: 0, acked_at_last_report: 0 };
    let mut health = tokio::time::interval(options.health_every);
    let mut time = tokio::time::interval(options.time_every);
    loop {
        let lock = agent.lock.clone();
        let changed = lock.changed();
        tokio::select! {
            event = agent.link.next() => {
                let Some(event) = event else { return };
                if let Err(e) = agent.on_event(event) {
                    tracing::warn!(lock = ?agent.lock.lock_id(), error = %e, "fleet command failed");
                }
            }
            _ = changed => {}
            _ = health.tick() => {
                agent.publish_health();
                agent.resend_if_stalled();
            }
            _ = time.tick() => agent.request_time(),
        }
        if let Err(e) = agent.publish_events() {
            tracing::warn!(lock = ?agent.lock.lock_id(), error = %e, "publishing events failed");
        }
    }
}

impl Agent {
    fn on_event(&mut self, event: LinkEvent) -> Result<(), DeviceError> {
        match event {
            LinkEvent::Connected { refused } => {
                if !refused.is_empty() {
                    tracing::error!(lock = ?self.lock.lock_id(), ?refused, "the broker refused this lock's subscription");
                }
                self.connected = true;
                // Everything not acknowledged goes out again.
                self.published = 0;
                self.publish_health();
                self.request_time();
            }
            LinkEvent::Disconnected { error } => {
                if self.connected {
                    tracing::info!(lock = ?self.lock.lock_id(), %error, "fleet channel lost; working offline");
                }
                self.connected = false;
            }
            LinkEvent::Command(command) => self.on_command(command)?,
        }
        Ok(())
    }

    fn on_command(&mut self, command: Downlink) -> Result<(), DeviceError> {
        let lock = self.lock.lock_id();
        match command {
            Downlink::Ack { counter } => {
                self.lock.acknowledge(counter)?;
            }
            Downlink::Resend { after } => self.published = self.published.min(after),
            Downlink::RevocationBundle(bundle) => match self.lock.apply_revocation_bundle(&bundle)? {
                Ok(applied) => tracing::info!(?lock, sequence = applied.sequence, "revocation bundle applied"),
                Err(e) => tracing::debug!(?lock, error = ?e, "revocation bundle not applied"),
            },
            Downlink::KeyUpdate(update) => match self.lock.apply_key_update(&update)? {
                Ok(applied) => tracing::info!(?lock, sequence = applied.sequence, "key update applied"),
                Err(e) => tracing::debug!(?lock, error = ?e, "key update not applied"),
            },
            Downlink::TimeStatement(statement) => {
                self.lock.apply_time_statement(&statement)?;
            }
            Downlink::Unlock { request_id } => {
                let challenge = self.lock.remote_challenge(request_id)?;
                let request = LockRequest::Challenge { request_id, challenge: challenge.as_bytes().to_vec() };
                self.link.publish(&Uplink::Request(request))?;
            }
            Downlink::Present { request_id, presentation } => {
                let outcome = self.lock.present_remote(request_id, &presentation)?;
                tracing::info!(?lock, request_id, decision = ?outcome.decision, "remote unlock");
            }
        }
        Ok(())
    }

    fn publish_health(&self) {
        if !self.connected {
            return;
        }
        match self.lock.health_report() {
            Ok(h) => {
                let _ = self.link.publish(&Uplink::Health(h));
            }
            Err(e) => tracing::warn!(error = %e, "no health report"),
        }
    }

    fn request_time(&self) {
        if !self.connected {
            return;
        }
        if let Ok(nonce) = self.lock.time_request() {
            let _ = self.link.publish(&Uplink::Request(LockRequest::Time { nonce }));
        }
    }

    /// Events published but not acknowledged by the next health report, with
    /// no acknowledgement in between, go out again: the broker may have
    /// dropped them (a subscriber that falls behind loses the oldest of its
    /// filter's log), or the queue was full. The service stores each event
    /// once, so a repeat is harmless; without this the lock would wait for
    /// its next connection.
    fn resend_if_stalled(&mut self) {
        let Ok(health) = self.lock.health() else { return };
        let acked = health.acked_counter;
        if self.connected && self.published > acked && acked == self.acked_at_last_report {
            self.published = acked;
        }
        self.acked_at_last_report = acked;
    }

    fn publish_events(&mut self) -> Result<(), DeviceError> {
        if !self.connected {
            return Ok(());
        }
        for (counter, bytes) in self.lock.events_after(self.published)? {
            if self.link.publish(&Uplink::Event(bytes)).is_err() {
                // The queue is full: the rest goes out later (after the
                // next health report without progress, or connection).
                break;
            }
            self.published = counter;
        }
        Ok(())
    }
}
