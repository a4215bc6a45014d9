//! The service's end of the channel, and the seam to the service.
//!
//! [`FleetBridge`] is one MQTT session with a service account, subscribed to every
//! lock's uplink. It hands what arrives to a [`FleetService`] (the service implements
//! it over its store), each lock's messages one at a time in arrival order and
//! different locks' side by side ([`WORKERS`] at once), and publishes the answers: an acknowledgement after each event, a resend request when the service saw
//! a gap, a time statement, the presentation of a remote unlock. [`FleetHandle`] is how
//! the service pushes to one lock: revocation bundles, key updates, remote-unlock
//! requests.
//!
//! The lock is named by the topic, which the broker's ACL guarantees is the
//! publisher's own; the service still checks every event's signature with that lock's
//! device key ([`intake_event`] does it with the protocol crate's chain verifier).

use std::sync::Arc;

use doorman_protocol::{ChainError, ChainHead, EventChainVerifier, LockDevicePublicKey, LockEvent, LockId, Nonce};
use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::messages::{Downlink, LockHealth, LockRequest, Uplink};
use crate::session::{Session, SessionEvent, SessionOptions};
use crate::topics::{Channel, TopicScheme};
use crate::FleetError;

/// What the service answers to an uploaded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventReceipt {
    /// Every event of this lock up to here is stored (0: none); sent to the lock, which
    /// drops them from its ring.
    pub ack: u64,
    /// Set when the service saw a gap: the lock should send the events after this
    /// counter again.
    pub resend_after: Option<u64>,
}

/// The seam: what the service does with what locks send. Implemented by the service
/// over its store; called by [`FleetBridge`] for one lock's messages one at a time,
/// for different locks' concurrently.
#[async_trait::async_trait]
pub trait FleetService: Send + Sync + 'static {
    /// A signed event from `lock`, verbatim. Verify it against the lock's device key
    /// and the stored chain head ([`intake_event`]), store it once by (lock, counter),
    /// and return how far the stored chain now reaches.
    async fn event_received(&self, lock: LockId, signed_event: &[u8]) -> EventReceipt;

    /// A health report from `lock`.
    async fn health_received(&self, lock: LockId, health: LockHealth);

    /// `lock` asks for the time: return a signed time statement answering `nonce`
    /// (`doorman_lock::issue_time_statement`), or `None` to ignore it.
    async fn time_requested(&self, lock: LockId, nonce: Nonce) -> Option<Vec<u8>>;

    /// `lock` answered the remote-unlock request `request_id` with its signed
    /// challenge: return the presentation (a credential for this lock bound to the
    /// challenge nonce, presented with the service's remote-unlock handheld key), or
    /// `None` if the request is no longer wanted.
    async fn remote_challenge(&self, lock: LockId, request_id: u64, signed_challenge: &[u8]) -> Option<Vec<u8>>;
}

/// The service's MQTT session; dropping it disconnects.
#[derive(Debug)]
pub struct FleetBridge {
    handle: FleetHandle,
    _session: Session,
    dispatcher: JoinHandle<()>,
}

impl Drop for FleetBridge {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

/// Sends to locks; cheap to clone.
#[derive(Debug, Clone)]
pub struct FleetHandle {
    client: AsyncClient,
    scheme: TopicScheme,
    ready: watch::Receiver<bool>,
}

impl FleetBridge {
    /// Connects with a service account and starts handing messages to `service`.
    pub fn start(options: SessionOptions, scheme: TopicScheme, service: Arc<dyn FleetService>) -> Self {
        Self::start_in(options, scheme, None, service)
    }

    /// [`FleetBridge::start`], as one of several service processes on one
    /// broker when `group` is set: each lock's message then goes to one
    /// member of the shared subscription `group` only
    /// ([`TopicScheme::shared_service_subscriptions`]), so each is handled
    /// once. Each member needs an account of its own when the broker ties
    /// sessions to usernames (Mosquitto's `use_username_as_clientid`).
    pub fn start_in(
        options: SessionOptions,
        scheme: TopicScheme,
        group: Option<&str>,
        service: Arc<dyn FleetService>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let subscriptions = match group {
            Some(group) => scheme.shared_service_subscriptions(group),
            None => scheme.service_subscriptions(),
        };
        let session = Session::start(&options, subscriptions, tx);
        let (ready_tx, ready) = watch::channel(false);
        let handle = FleetHandle { client: session.client().clone(), scheme, ready };
        let dispatcher = tokio::spawn(dispatch(rx, handle.clone(), service, ready_tx));
        Self { handle, _session: session, dispatcher }
    }

    /// The handle to push to locks.
    pub fn handle(&self) -> FleetHandle {
        self.handle.clone()
    }
}

/// Tasks that handle uplinks; a lock's messages always go to the same one, so
/// they are handled in order, while other locks' are handled meanwhile (the
/// service's intake of an event waits for its database write: one at a time,
/// the whole fleet waited for each).
pub const WORKERS: usize = 32;

/// Messages waiting for one worker before the dispatcher waits too.
const WORKER_QUEUE: usize = 256;

fn worker_of(lock: &LockId) -> usize {
    let mut first = [0u8; 8];
    first.copy_from_slice(lock.0.get(8..16).unwrap_or(&[0; 8]));
    (u64::from_le_bytes(first) % WORKERS as u64) as usize
}

async fn dispatch(
    mut rx: mpsc::Receiver<SessionEvent>,
    handle: FleetHandle,
    service: Arc<dyn FleetService>,
    ready: watch::Sender<bool>,
) {
    // Dropping the senders (this task ends or is aborted) ends the workers.
    let workers: Vec<mpsc::Sender<(LockId, Uplink)>> = (0..WORKERS)
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<(LockId, Uplink)>(WORKER_QUEUE);
            let (handle, service) = (handle.clone(), service.clone());
            tokio::spawn(async move {
                while let Some((lock, uplink)) = rx.recv().await {
                    handle_uplink(&handle, service.as_ref(), lock, uplink).await;
                }
            });
            tx
        })
        .collect();
    while let Some(event) = rx.recv().await {
        match event {
            SessionEvent::Ready { refused } => {
                if !refused.is_empty() {
                    tracing::error!(?refused, "the broker refused the service's subscriptions: check its ACL");
                }
                let _ = ready.send(true);
            }
            SessionEvent::Disconnected { error } => {
                tracing::debug!(%error, "fleet channel disconnected");
                let _ = ready.send(false);
            }
            SessionEvent::Message { topic, payload } => {
                let Some((lock, Channel::Up(kind))) = handle.scheme.parse(&topic) else {
                    tracing::warn!(%topic, "message on an unexpected topic ignored");
                    continue;
                };
                let uplink = match Uplink::decode(kind, &payload) {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::warn!(%topic, error = %e, "malformed message from a lock ignored");
                        continue;
                    }
                };
                if let Some(worker) = workers.get(worker_of(&lock)) {
                    if worker.send((lock, uplink)).await.is_err() {
                        tracing::error!("a fleet worker stopped; the lock will send again");
                    }
                }
            }
        }
    }
}

async fn handle_uplink(handle: &FleetHandle, service: &dyn FleetService, lock: LockId, uplink: Uplink) {
    match uplink {
        Uplink::Event(bytes) => {
            let receipt = service.event_received(lock, &bytes).await;
            handle.send_nowait(lock, &Downlink::Ack { counter: receipt.ack });
            if let Some(after) = receipt.resend_after {
                handle.send_nowait(lock, &Downlink::Resend { after });
            }
        }
        Uplink::Health(health) => service.health_received(lock, health).await,
        Uplink::Request(LockRequest::Time { nonce }) => {
            if let Some(statement) = service.time_requested(lock, nonce).await {
                handle.send_nowait(lock, &Downlink::TimeStatement(statement));
            }
        }
        Uplink::Request(LockRequest::Challenge { request_id, challenge }) => {
            if let Some(presentation) = service.remote_challenge(lock, request_id, &challenge).await {
                handle.send_nowait(lock, &Downlink::Present { request_id, presentation });
            }
        }
    }
}

impl FleetHandle {
    /// Waits until the session is connected and subscribed.
    pub async fn wait_ready(&self) -> Result<(), FleetError> {
        let mut ready = self.ready.clone();
        ready.wait_for(|r| *r).await.map(|_| ()).map_err(|_| FleetError::Closed)
    }

    /// True while connected and subscribed.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Sends `command` to `lock` (QoS 1; retained for bundles, key updates and
    /// acknowledgements). Queued while disconnected.
    pub async fn send(&self, lock: LockId, command: &Downlink) -> Result<(), FleetError> {
        let m = command.encode(&self.scheme, lock);
        self.client.publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload).await.map_err(|_| FleetError::Closed)
    }

    /// Publishes without blocking the bridge: the event loop that feeds the bridge
    /// also drains the request queue, so the bridge must never wait on a full queue.
    fn send_nowait(&self, lock: LockId, command: &Downlink) {
        let m = command.encode(&self.scheme, lock);
        let client = self.client.clone();
        if let Err(rumqttc::ClientError::TryRequest(request)) =
            client.try_publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload)
        {
            tokio::spawn(async move {
                if let rumqttc::Request::Publish(p) = request {
                    let _ = client.publish(p.topic, p.qos, p.retain, p.payload.to_vec()).await;
                }
            });
        }
    }

    /// Pushes the latest revocation bundle of `lock`.
    pub async fn push_revocation_bundle(&self, lock: LockId, bundle: &[u8]) -> Result<(), FleetError> {
        self.send(lock, &Downlink::RevocationBundle(bundle.to_vec())).await
    }

    /// Pushes the latest (cumulative) key update.
    pub async fn push_key_update(&self, lock: LockId, update: &[u8]) -> Result<(), FleetError> {
        self.send(lock, &Downlink::KeyUpdate(update.to_vec())).await
    }

    /// Pushes a signed time statement (normally the answer to the lock's request, sent
    /// by the bridge itself).
    pub async fn push_time_statement(&self, lock: LockId, statement: &[u8]) -> Result<(), FleetError> {
        self.send(lock, &Downlink::TimeStatement(statement.to_vec())).await
    }

    /// Asks `lock` for a remote unlock; its challenge comes back through
    /// [`FleetService::remote_challenge`].
    pub async fn request_remote_unlock(&self, lock: LockId, request_id: u64) -> Result<(), FleetError> {
        self.send(lock, &Downlink::Unlock { request_id }).await
    }
}

/// The service's verdict on one uploaded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// The next event of the chain: store it; the head moves to it.
    New(LockEvent),
    /// Already stored, identical: nothing to do (the lock re-sent it).
    Repeat {
        /// Its counter.
        counter: u64,
    },
    /// A different event with a counter already stored: the lock's history forked
    /// (flag the lock).
    Fork {
        /// The counter.
        counter: u64,
    },
    /// Events are missing before this one: ask the lock to resend.
    Gap {
        /// The counter the service needs next.
        expected: u64,
        /// The counter received.
        found: u64,
    },
    /// Not this lock's, or forged, or a broken link.
    Invalid(ChainError),
}

/// Checks `event` against the chain the service stored for `lock` (its `head`, and the
/// hash of an earlier stored event when asked for one).
pub fn intake_event(
    device_key: LockDevicePublicKey,
    lock: LockId,
    head: ChainHead,
    stored_hash: impl FnOnce(u64) -> Option<[u8; 32]>,
    event: &[u8],
) -> Intake {
    match EventChainVerifier::resume(device_key, lock, head).push(event) {
        Ok(e) => Intake::New(e),
        Err(ChainError::AlreadySeen { counter, hash }) => {
            if stored_hash(counter) == Some(hash) {
                Intake::Repeat { counter }
            } else {
                Intake::Fork { counter }
            }
        }
        Err(ChainError::Gap { expected, found }) => Intake::Gap { expected, found },
        Err(e) => Intake::Invalid(e),
    }
}

impl Intake {
    /// The receipt to send back, given the stored head after handling it.
    pub fn receipt(&self, head_after: u64) -> EventReceipt {
        EventReceipt { ack: head_after, resend_after: matches!(self, Intake::Gap { .. }).then_some(head_after) }
    }
}
