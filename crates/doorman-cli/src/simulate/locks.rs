//! The city's locks: a doorman-devices simulated lock per building (the lock
//! core and its verifier, state in memory) whose MQTT agent connects to the
//! service's broker for a visit and disconnects once the service has
//! acknowledged every event, as a battery lock would; and, while a lock is
//! offline, the driver's handheld carrying its events to the service over
//! HTTP (the lock keeps them until it is back online and acknowledged).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use doorman_api::{AccessGranted, CarriedEvents};
use doorman_client::Client;
use doorman_devices::{spawn_agent, AgentOptions, Handheld, LockBundle, SimLock};
use doorman_domain::serde_b64;
use doorman_fleet::{MqttEndpoint, SessionOptions};
use doorman_lock::Decision;
use doorman_protocol::open_challenge;
use tokio::task::JoinHandle;

/// Unacknowledged events past which a driver carries an offline lock's
/// events to the service before entering.
const CARRY_FROM: usize = 12;

/// Unacknowledged events above which a driver at an online lock waits for
/// the service's acknowledgements before entering (the ring holds 40).
const ROOM_WANTED: usize = 16;

/// How long a visit's lock waits for the service to acknowledge its events
/// before it disconnects anyway (what is left goes out at the next connection).
const SETTLE: Duration = Duration::from_secs(30);

pub struct CityLock {
    pub sim: Arc<SimLock>,
    pub id: doorman_domain::LockId,
    session: SessionOptions,
    slot: Mutex<Slot>,
    /// One person at the door at a time: a second driver's challenge would
    /// replace the first's (the lock answers only its latest).
    door: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Slot {
    agent: Option<JoinHandle<()>>,
    /// Visits at the door now.
    visits: u32,
    /// Bumped at every connection, so a settling task never ends a newer one.
    generation: u64,
}

/// What the lock did with a presented credential.
pub enum AtTheDoor {
    /// Opened, the driver went in and the door closed behind them.
    WentIn,
    /// The lock refused (its reason).
    Refused(&'static str),
}

impl CityLock {
    pub fn new(sim: Arc<SimLock>, bundle: &LockBundle) -> anyhow::Result<CityLock> {
        let (url, credentials) = bundle.mqtt_credentials().context("the lock has an MQTT account")?;
        let (endpoint, _) = MqttEndpoint::parse(&url)?;
        let mut session = SessionOptions::new(endpoint, credentials);
        session.backoff_min = Duration::from_millis(50);
        session.backoff_max = Duration::from_secs(2);
        let id = doorman_domain::LockId::from(uuid::Uuid::from_bytes(sim.lock_id().0));
        Ok(CityLock { sim, id, session, slot: Mutex::new(Slot::default()), door: tokio::sync::Mutex::new(()) })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A visit begins: an online lock connects (if it is not connected).
    pub fn arrive(&self, online: bool) -> anyhow::Result<()> {
        let mut slot = self.slot();
        slot.visits += 1;
        if online && slot.agent.is_none() {
            let mut options = AgentOptions::new(self.session.clone());
            options.health_every = Duration::from_secs(600);
            slot.agent = Some(spawn_agent(self.sim.clone(), options)?);
            slot.generation += 1;
        }
        Ok(())
    }

    /// The visit is over: once nobody else is at the door and the service
    /// acknowledged everything (or [`SETTLE`] passed), the lock disconnects.
    pub fn leave(self: &Arc<Self>) {
        let generation = {
            let mut slot = self.slot();
            slot.visits = slot.visits.saturating_sub(1);
            if slot.visits > 0 || slot.agent.is_none() {
                return;
            }
            slot.generation
        };
        let lock = self.clone();
        tokio::spawn(async move {
            let _ = lock.sim.wait_until(SETTLE, |h| h.acked_counter >= h.event_counter).await;
            let mut slot = lock.slot();
            if slot.visits == 0 && slot.generation == generation {
                if let Some(agent) = slot.agent.take() {
                    agent.abort();
                }
            }
        });
    }

    /// Connected to the broker now.
    pub fn connected(&self) -> bool {
        self.slot().agent.is_some()
    }

    /// Everything the lock recorded is acknowledged by the service.
    pub fn settled(&self) -> bool {
        self.sim.health().is_ok_and(|h| h.acked_counter >= h.event_counter)
    }

    /// Waits (at most `timeout`) until the service acknowledged every event.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        self.sim.wait_until(timeout, |h| h.acked_counter >= h.event_counter).await.is_ok()
    }

    /// A driver takes a minute from one door to the next; an online lock
    /// meanwhile hands its events over. The simulation goes faster than
    /// that, so before entering, the driver waits (at most [`SETTLE`]) until
    /// the lock's log has room again; an offline lock's log fills, and the
    /// lock refuses entries (`event_log_full`) until it is back online.
    pub async fn wait_for_room(&self, online: bool) -> anyhow::Result<()> {
        if online && self.sim.health()?.unacked_events > ROOM_WANTED {
            let _ = self.sim.wait_until(SETTLE, |h| h.unacked_events <= ROOM_WANTED / 2).await;
        }
        Ok(())
    }

    /// An offline lock's events, carried by the driver's handheld to the
    /// service (`POST /v1/locks/{id}/events`) when many are waiting.
    pub async fn carry_events(&self, driver: &Client) -> anyhow::Result<bool> {
        let health = self.sim.health()?;
        if health.unacked_events < CARRY_FROM {
            return Ok(false);
        }
        let events = self.sim.events_after(health.acked_counter)?;
        let carried = CarriedEvents { events: events.iter().map(|(_, bytes)| serde_b64::encode(bytes)).collect() };
        driver.upload_lock_events(self.id, &carried).await.context("carrying a lock's events")?;
        Ok(true)
    }

    /// The driver at the door with a granted credential: the lock's
    /// challenge, the handheld's presentation, the verifier's decision; if let
    /// in, the door opens and closes.
    pub async fn enter(&self, handheld: &Handheld, granted: &AccessGranted) -> anyhow::Result<AtTheDoor> {
        let door = granted.doors.first().context("a grant names its door")?;
        let credential = serde_b64::decode(door.credential.as_deref().context("a credential for the door")?)
            .map_err(|_| anyhow::anyhow!("the credential is not base64url"))?;
        self.present(handheld, &credential).await
    }

    /// A credential (a driver's or a guest's) presented at the lock.
    pub async fn present(&self, handheld: &Handheld, credential: &[u8]) -> anyhow::Result<AtTheDoor> {
        let _at_the_door = self.door.lock().await;
        // The hardware's tick first: the camera's heartbeat at this hour.
        self.sim.tick()?;
        let signed = self.sim.challenge()?;
        let opened = open_challenge(signed.as_bytes(), &self.sim.device_public_key(), &self.sim.lock_id())
            .map_err(|e| anyhow::anyhow!("the lock's challenge does not check out: {e:?}"))?;
        let presentation =
            handheld.key().present(&opened, credential).map_err(|e| anyhow::anyhow!("cannot present: {e:?}"))?;
        match self.sim.present(presentation.as_bytes())?.decision {
            Decision::Unlocked(_) => {
                self.sim.door(true)?;
                self.sim.door(false)?;
                Ok(AtTheDoor::WentIn)
            }
            Decision::Refused(reason) => Ok(AtTheDoor::Refused(reason.as_str())),
        }
    }
}
