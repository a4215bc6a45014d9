//! One simulated lock: the lock core on a state file, a door sensor, a camera that
//! heartbeats and records clips (or is jammed), a battery.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use doorman_domain::Clock;
use doorman_fleet::LockHealth;
use doorman_lock::{
    BoltState, DoorState, Effects, FileStorage, Health, Lock, LockConfig, LockStorage, MemoryStorage, Outcome,
};
use doorman_protocol::{
    KeyUpdateApplied, KeyUpdateError, LockDevicePublicKey, LockId, Nonce, RevocationApplied, RevocationError,
    SignedChallenge,
};
use sha2::{Digest, Sha256};

use tokio::sync::Notify;

use crate::provisioning::LockBundle;
use crate::DeviceError;

/// Where a simulated lock keeps its snapshot: a file (`doorman lock run`,
/// which survives restarts) or memory (the city simulation's thousands of
/// locks, which would otherwise fsync a file at every event).
#[derive(Debug)]
enum Snapshot {
    File(FileStorage),
    Memory(MemoryStorage),
}

impl LockStorage for Snapshot {
    type Error = std::io::Error;

    fn load(&mut self) -> Result<Option<Vec<u8>>, std::io::Error> {
        match self {
            Snapshot::File(f) => f.load(),
            Snapshot::Memory(m) => m.load().map_err(std::io::Error::other),
        }
    }

    fn store(&mut self, parts: &[&[u8]]) -> Result<(), std::io::Error> {
        match self {
            Snapshot::File(f) => f.store(parts),
            Snapshot::Memory(m) => m.store(parts).map_err(std::io::Error::other),
        }
    }
}

struct State {
    lock: Lock<Snapshot>,
    camera_jammed: bool,
    battery_percent: u8,
    clips: u64,
    /// The latest clips recorded, waiting to be uploaded (bounded).
    recorded: std::collections::VecDeque<RecordedClip>,
}

/// Most recorded clips a simulated camera keeps for upload.
const KEPT_CLIPS: usize = 32;

/// A clip the simulated camera recorded: its bytes, whose SHA-256 the lock
/// signed in its `camera_clip` event `counter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedClip {
    /// The lock event that announced it.
    pub counter: u64,
    /// The footage.
    pub bytes: Vec<u8>,
}

/// The simulated camera's footage: a few bytes that name the lock, the clip
/// and the lock time (what a real camera would encode as video).
fn footage(lock: &LockId, clip: u64, lock_time: u64) -> Vec<u8> {
    let mut bytes = b"doorman simulated clip\n".to_vec();
    bytes.extend_from_slice(&lock.0);
    bytes.extend_from_slice(&clip.to_be_bytes());
    bytes.extend_from_slice(&lock_time.to_be_bytes());
    bytes
}

/// A simulated lock, shared by its endpoint, its MQTT agent and its ticker.
pub struct SimLock {
    lock_id: LockId,
    device_public: LockDevicePublicKey,
    keypad: bool,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    changed: Notify,
}

impl std::fmt::Debug for SimLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLock").field("lock_id", &self.lock_id).finish_non_exhaustive()
    }
}

fn now(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.now()).unwrap_or(0)
}

impl SimLock {
    /// Opens the lock's state in `state_dir` (`<lock id>.state`), or provisions it from
    /// `bundle` the first time.
    pub fn open(
        bundle: &LockBundle,
        config: LockConfig,
        state_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, DeviceError> {
        let storage = FileStorage::new(state_dir.join(format!("{}.state", bundle.lock_id)));
        Self::open_on(bundle, config, Snapshot::File(storage), clock)
    }

    /// A lock provisioned from `bundle` whose state lives in memory only
    /// (lost with the process): for simulations of many locks.
    pub fn in_memory(bundle: &LockBundle, config: LockConfig, clock: Arc<dyn Clock>) -> Result<Arc<Self>, DeviceError> {
        Self::open_on(bundle, config, Snapshot::Memory(MemoryStorage::new()), clock)
    }

    fn open_on(
        bundle: &LockBundle,
        config: LockConfig,
        storage: Snapshot,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, DeviceError> {
        let identity = bundle.identity()?;
        let lock_id = identity.lock_id;
        let keypad = identity.door_code_secret.is_some();
        let lock = Lock::open_or_provision(identity, &bundle.trusted()?, config, storage, now(clock.as_ref()))?;
        let device_public = lock.device_public_key();
        let state = State {
            lock,
            camera_jammed: false,
            battery_percent: 100,
            clips: 0,
            recorded: std::collections::VecDeque::new(),
        };
        Ok(Arc::new(Self { lock_id, device_public, keypad, clock, state: Mutex::new(state), changed: Notify::new() }))
    }

    /// The lock's id.
    pub fn lock_id(&self) -> LockId {
        self.lock_id
    }

    /// Its device public key.
    pub fn device_public_key(&self) -> LockDevicePublicKey {
        self.device_public
    }

    /// Has a keypad.
    pub fn keypad(&self) -> bool {
        self.keypad
    }

    /// Host time now.
    pub fn now(&self) -> u64 {
        now(self.clock.as_ref())
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, DeviceError> {
        self.state.lock().map_err(|_| DeviceError::Poisoned)
    }

    /// Runs `f` on the lock core, then carries out its effects: the camera records a
    /// clip for every non-resident entry (unless it is jammed); then wakes whoever
    /// waits for a change (the MQTT agent publishes new events, tests wait on health).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Lock<Snapshot>, u64) -> Result<(T, Effects), doorman_lock::LockError>,
    ) -> Result<T, DeviceError> {
        let t = self.now();
        let value = {
            let mut s = self.state()?;
            let (value, fx) = f(&mut s.lock, t)?;
            if let Some(trigger) = fx.camera {
                if !s.camera_jammed {
                    s.clips += 1;
                    let bytes = footage(&self.lock_id, s.clips, trigger.lock_time);
                    let clip: [u8; 32] = Sha256::digest(&bytes).into();
                    s.lock.camera_clip(clip, trigger.credential_id, trigger.delivery_hash, t)?;
                    let counter = s.lock.health(t).event_counter;
                    if s.recorded.len() >= KEPT_CLIPS {
                        s.recorded.pop_front();
                    }
                    s.recorded.push_back(RecordedClip { counter, bytes });
                }
            }
            value
        };
        self.changed.notify_waiters();
        Ok(value)
    }

    /// A fresh challenge for a handheld.
    pub fn challenge(&self) -> Result<SignedChallenge, DeviceError> {
        self.with(|l, t| Ok((l.challenge(&mut rand_core::OsRng, t)?, Effects::default())))
    }

    /// A handheld's presentation.
    pub fn present(&self, presentation: &[u8]) -> Result<Outcome, DeviceError> {
        self.with(|l, t| l.present(presentation, t).map(|o| (o, o.effects)))
    }

    /// A remote-unlock challenge for the service.
    pub fn remote_challenge(&self, request_id: u64) -> Result<SignedChallenge, DeviceError> {
        self.with(|l, t| Ok((l.remote_challenge(request_id, &mut rand_core::OsRng, t)?, Effects::default())))
    }

    /// The service's presentation for a remote unlock.
    pub fn present_remote(&self, request_id: u64, presentation: &[u8]) -> Result<Outcome, DeviceError> {
        self.with(|l, t| l.present_remote(request_id, presentation, t).map(|o| (o, o.effects)))
    }

    /// A code typed on the keypad.
    pub fn door_code(&self, code: &[u8]) -> Result<Outcome, DeviceError> {
        self.with(|l, t| l.enter_door_code(code, t).map(|o| (o, o.effects)))
    }

    /// The door sensor.
    pub fn door(&self, open: bool) -> Result<Effects, DeviceError> {
        self.with(|l, t| if open { l.door_opened(t) } else { l.door_closed(t) }.map(|fx| (fx, fx)))
    }

    /// The inside release.
    pub fn release_from_inside(&self) -> Result<Effects, DeviceError> {
        self.with(|l, t| l.release_from_inside(t).map(|fx| (fx, fx)))
    }

    /// The clips the camera recorded and not yet handed over, oldest first;
    /// taking them empties the list.
    pub fn take_clips(&self) -> Result<Vec<RecordedClip>, DeviceError> {
        Ok(self.state()?.recorded.drain(..).collect())
    }

    /// Jams (or frees) the camera: no heartbeats, no clips.
    pub fn set_camera_jammed(&self, jammed: bool) -> Result<(), DeviceError> {
        self.state()?.camera_jammed = jammed;
        Ok(())
    }

    /// Sets the simulated battery charge.
    pub fn set_battery(&self, percent: u8) -> Result<(), DeviceError> {
        self.state()?.battery_percent = percent.min(100);
        Ok(())
    }

    /// One tick of the hardware: the camera heartbeats (unless jammed), the lock relocks,
    /// raises alarms, notices a stale camera.
    pub fn tick(&self) -> Result<Effects, DeviceError> {
        if !self.state()?.camera_jammed {
            self.with(|l, t| l.camera_heartbeat(t).map(|fx| (fx, fx)))?;
        }
        self.with(|l, t| l.tick(t).map(|fx| (fx, fx)))
    }

    /// A revocation bundle (from the fleet channel or a handheld).
    pub fn apply_revocation_bundle(
        &self,
        bundle: &[u8],
    ) -> Result<Result<RevocationApplied, RevocationError>, DeviceError> {
        self.with(|l, t| Ok((l.apply_revocation_bundle(bundle, t)?, Effects::default())))
    }

    /// A key update.
    pub fn apply_key_update(&self, update: &[u8]) -> Result<Result<KeyUpdateApplied, KeyUpdateError>, DeviceError> {
        self.with(|l, t| Ok((l.apply_key_update(update, t)?, Effects::default())))
    }

    /// Starts a time request.
    pub fn time_request(&self) -> Result<Nonce, DeviceError> {
        self.with(|l, t| Ok((l.time_request(&mut rand_core::OsRng, t), Effects::default())))
    }

    /// A signed time statement.
    pub fn apply_time_statement(&self, statement: &[u8]) -> Result<bool, DeviceError> {
        self.with(|l, t| {
            let r = l.apply_time_statement(statement, t)?;
            if let Err(e) = &r {
                tracing::warn!(lock = ?self.lock_id, error = %e, "time statement refused");
            }
            Ok((r.is_ok(), Effects::default()))
        })
    }

    /// Needs a time statement.
    pub fn needs_time(&self) -> Result<bool, DeviceError> {
        let t = self.now();
        Ok(self.state()?.lock.needs_time(t))
    }

    /// The service stored every event up to `counter`.
    pub fn acknowledge(&self, counter: u64) -> Result<usize, DeviceError> {
        self.with(|l, t| Ok((l.acknowledge(counter, t)?, Effects::default())))
    }

    /// The unacknowledged events after `after`, as (counter, bytes).
    pub fn events_after(&self, after: u64) -> Result<Vec<(u64, Vec<u8>)>, DeviceError> {
        Ok(self.state()?.lock.events_after(after).map(|(c, b)| (c, b.to_vec())).collect())
    }

    /// The core's health.
    pub fn health(&self) -> Result<Health, DeviceError> {
        let t = self.now();
        Ok(self.state()?.lock.health(t))
    }

    /// The health report for the fleet channel.
    pub fn health_report(&self) -> Result<LockHealth, DeviceError> {
        let t = self.now();
        let s = self.state()?;
        let h = s.lock.health(t);
        Ok(LockHealth {
            lock_time: h.lock_time,
            time_floor: h.time_floor,
            clock_lost: h.clock_lost,
            clock_drift_secs: h.last_drift_secs,
            battery_percent: Some(s.battery_percent),
            revocation_sequence: h.revocation_sequence,
            revocation_epoch: h.revocation_epoch,
            key_update_sequence: h.key_update_sequence,
            event_counter: h.event_counter,
            acked_counter: h.acked_counter,
            unacked_events: u32::try_from(h.unacked_events).unwrap_or(u32::MAX),
            suppressed_events: h.suppressed_events,
            dropped_events: h.dropped_events,
            camera_heartbeat_age_secs: h.camera_heartbeat_age_secs,
            camera_stale: h.camera_stale,
            keypad_locked_until: h.keypad_locked_until,
            bolt: match h.bolt {
                BoltState::Locked => "locked".into(),
                BoltState::Released { .. } => "released".into(),
            },
            door: match h.door {
                DoorState::Closed => "closed".into(),
                DoorState::Open { .. } => "open".into(),
            },
            firmware: Some(concat!("doorman-sim/", env!("CARGO_PKG_VERSION")).to_owned()),
        })
    }

    /// Waits until the next operation on the lock.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Waits until `condition` holds for the lock's health, at most `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Health) -> bool,
    ) -> Result<Health, DeviceError> {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.changed.notified();
                let h = self.health()?;
                if condition(&h) {
                    return Ok(h);
                }
                notified.await;
            }
        })
        .await
        .map_err(|_| DeviceError::Timeout)?
    }
}
