//! One lock: the decisions of the protocol crate, the bolt, the door, the keypad, the
//! camera rule and the event ring, persisted before anything moves.

use doorman_protocol::{
    ChainHead, CredentialId, DeliveryHash, EncodeError, EventKind, EventRecord, KeyUpdateApplied, KeyUpdateError,
    LockDevicePublicKey, LockId, LockState, Nonce, PendingChallenge, RevocationApplied, RevocationError,
    SignedChallenge, SignedEvent, TrustedKey, Verdict,
};
use rand_core::CryptoRngCore;

use crate::codes::{door_code_refusal_code, EntrySource, LockEventKind, LockRefusal};
use crate::config::{LockConfig, LockIdentity};
use crate::ring::{EventRing, EVENT_RING_CAPACITY};
use crate::snapshot::{self, Extras, HEADER_LEN};
use crate::storage::LockStorage;
use crate::time_statement::{time_statement_marker, TimeStatementError, TimeSync, TIME_STATEMENT_ISSUER};
use doorman_protocol::DoorCodeVerdict;

/// Free ring slots an entry needs: granted (or code accepted), unlocked, opened,
/// closed, relocked, camera clip, and room for an alarm and a clock event.
pub const ENTRY_RESERVE: usize = 8;
/// Low-priority events (refusals) are recorded only while more than this many slots
/// are free; beyond, they are counted and summarised (`EventsSuppressed`), so nobody
/// can fill the ring by pressing keys or sending garbage.
pub const LOW_PRIORITY_FREE: usize = EVENT_RING_CAPACITY / 2;

/// Why a lock operation failed (as opposed to a refusal, which is a normal answer).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The storage failed; the bolt did not move. The lock is now faulted.
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A write failed earlier: reopen the lock from storage ([`Lock::open`]).
    #[error("a write failed earlier; reopen the lock from storage")]
    Faulted,
    /// The stored snapshot is not one this lock wrote.
    #[error("stored state is corrupt: {0}")]
    Corrupt(&'static str),
    /// The stored snapshot belongs to another lock id.
    #[error("stored state belongs to another lock")]
    WrongLock,
    /// [`Lock::open`] found nothing stored.
    #[error("nothing stored: provision the lock first")]
    NotProvisioned,
    /// [`Lock::provision`] found a stored state: re-provisioning would forget which
    /// credentials were used, so it is refused.
    #[error("already provisioned: open it instead")]
    AlreadyProvisioned,
    /// The trust anchors given at provisioning are not acceptable.
    #[error("trust anchors refused: {0}")]
    TrustAnchors(KeyUpdateError),
    /// A message could not be encoded (a protocol bug, never an input problem).
    #[error("encoding: {0}")]
    Encode(EncodeError),
}

/// The bolt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoltState {
    /// Thrown.
    Locked,
    /// Released for an entry.
    Released {
        /// Who it was released for.
        source: EntrySource,
        /// The credential, for credential entries.
        credential_id: Option<CredentialId>,
        /// The delivery, for credential entries.
        delivery_hash: Option<DeliveryHash>,
        /// Thrown again at this lock time if the door was not opened.
        relock_at: u64,
        /// The door has been opened since the release (it relocks when it closes).
        door_opened: bool,
    },
}

/// The door, as its sensor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorState {
    /// Shut.
    Closed,
    /// Open since `since` (lock time).
    Open {
        /// When it opened.
        since: u64,
        /// The ajar alarm went off.
        ajar_alarm: bool,
    },
}

/// What the host must do with the bolt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoltCommand {
    /// Release it (the state is already persisted).
    Release,
    /// Throw it.
    Throw,
}

/// Start recording: a non-resident is coming in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraTrigger {
    /// How they were let in.
    pub source: EntrySource,
    /// The credential, if any.
    pub credential_id: Option<CredentialId>,
    /// The delivery, if any.
    pub delivery_hash: Option<DeliveryHash>,
    /// Lock time of the unlock.
    pub lock_time: u64,
}

/// Something a person should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// The door has stayed open too long.
    DoorAjar {
        /// Seconds open.
        open_secs: u64,
    },
    /// The door opened while the bolt was thrown.
    DoorForced,
    /// The camera's heartbeat is stale.
    CameraStale,
}

/// What an operation asks of the hardware, and how many events it recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// Move the bolt.
    pub bolt: Option<BoltCommand>,
    /// Trigger the camera.
    pub camera: Option<CameraTrigger>,
    /// Raise an alarm.
    pub alarm: Option<Alarm>,
    /// Signed events recorded (and persisted).
    pub events_recorded: u32,
}

/// An entry the lock let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// How.
    pub source: EntrySource,
    /// The credential, for credential entries.
    pub credential_id: Option<CredentialId>,
    /// The delivery, for credential entries.
    pub delivery_hash: Option<DeliveryHash>,
    /// Which use of the credential (1 for a delivery); 1 for codes.
    pub use_number: u8,
    /// When the bolt relocks if the door is not opened.
    pub relock_at: u64,
}

/// The answer to a presentation or a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The bolt is released.
    Unlocked(Entry),
    /// It stays shut.
    Refused(LockRefusal),
}

impl Decision {
    /// The entry, if let in.
    pub fn entry(&self) -> Option<&Entry> {
        match self {
            Decision::Unlocked(e) => Some(e),
            Decision::Refused(_) => None,
        }
    }

    /// The refusal, if refused.
    pub fn refusal(&self) -> Option<LockRefusal> {
        match self {
            Decision::Unlocked(_) => None,
            Decision::Refused(r) => Some(*r),
        }
    }
}

/// A decision and its effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Let in or not.
    pub decision: Decision,
    /// What the hardware must do.
    pub effects: Effects,
}

/// A lock's health, for the fleet channel and the service's dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The lock.
    pub lock_id: LockId,
    /// The lock's time (host clock plus its correction).
    pub lock_time: u64,
    /// The lowest time the lock believes.
    pub time_floor: u64,
    /// The lock has no trustworthy clock.
    pub clock_lost: bool,
    /// Correction applied to the host clock, from signed time statements.
    pub clock_offset_secs: i64,
    /// Service time minus lock time at the last time statement.
    pub last_drift_secs: Option<i64>,
    /// Revocation bundle held.
    pub revocation_sequence: u64,
    /// Revocation epoch held.
    pub revocation_epoch: u64,
    /// Key update held.
    pub key_update_sequence: u64,
    /// Last event recorded.
    pub event_counter: u64,
    /// Last event the service acknowledged.
    pub acked_counter: u64,
    /// Events waiting for an acknowledgement.
    pub unacked_events: usize,
    /// Ring capacity.
    pub ring_capacity: usize,
    /// Low-priority events counted but not yet summarised.
    pub suppressed_events: u32,
    /// Events lost to a full ring since provisioning.
    pub dropped_events: u32,
    /// Seconds since the camera's last heartbeat (`None`: none since start).
    pub camera_heartbeat_age_secs: Option<u64>,
    /// The camera rule would refuse an entry now.
    pub camera_stale: bool,
    /// Consecutive wrong door codes.
    pub keypad_failures: u32,
    /// The keypad refuses input before this time.
    pub keypad_locked_until: u64,
    /// The bolt.
    pub bolt: BoltState,
    /// The door.
    pub door: DoorState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Handheld,
    Remote(u64),
}

impl Origin {
    fn source(self) -> EntrySource {
        match self {
            Origin::Handheld => EntrySource::Handheld,
            Origin::Remote(_) => EntrySource::Remote,
        }
    }
}

#[derive(Debug)]
struct Pending {
    challenge: PendingChallenge,
    origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// Entries, door, alarms, configuration: recorded while there is room.
    Normal,
    /// Refusals: recorded only while the ring is less than half full.
    Low,
}

#[derive(Debug, Clone, Copy, Default)]
struct Camera {
    last_heartbeat: Option<u64>,
    reported_stale: bool,
}

/// One lock. Generic over where it persists ([`LockStorage`]); every method takes the
/// host's clock reading `now` (unix seconds) and never reads a clock itself.
pub struct Lock<S: LockStorage> {
    identity: LockIdentity,
    device_public: LockDevicePublicKey,
    config: LockConfig,
    storage: S,
    state: LockState,
    ring: EventRing,
    extras: Extras,
    pending: Option<Pending>,
    time_request: Option<(Nonce, u64)>,
    last_drift: Option<i64>,
    bolt: BoltState,
    door: DoorState,
    camera: Camera,
    clock_lost_pending: bool,
    faulted: bool,
}

impl<S: LockStorage> core::fmt::Debug for Lock<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lock")
            .field("lock_id", &self.identity.lock_id)
            .field("event_head", &self.state.event_head().counter)
            .field("acked", &self.extras.acked)
            .field("bolt", &self.bolt)
            .field("door", &self.door)
            .field("faulted", &self.faulted)
            .finish()
    }
}

impl<S: LockStorage> Lock<S> {
    fn assemble(identity: LockIdentity, config: LockConfig, storage: S, restored: snapshot::Restored) -> Self {
        let device_public = identity.device.public_key();
        Self {
            identity,
            device_public,
            config,
            storage,
            state: restored.state,
            ring: restored.ring,
            extras: restored.extras,
            pending: None,
            time_request: None,
            last_drift: None,
            bolt: BoltState::Locked,
            door: DoorState::Closed,
            camera: Camera::default(),
            clock_lost_pending: false,
            faulted: false,
        }
    }

    /// A new lock: its trust anchors (at least one may sign key updates) and the
    /// installation time as its first time floor. Records a `Provisioned` event and
    /// persists. Refused if `storage` already holds a state.
    pub fn provision(
        identity: LockIdentity,
        trusted: &[TrustedKey],
        config: LockConfig,
        mut storage: S,
        now: u64,
    ) -> Result<Self, LockError> {
        if storage.load().map_err(|e| LockError::Storage(Box::new(e)))?.is_some() {
            return Err(LockError::AlreadyProvisioned);
        }
        let state = LockState::new(identity.lock_id, trusted, now).map_err(LockError::TrustAnchors)?;
        let restored = snapshot::Restored { state, ring: EventRing::default(), extras: Extras::default() };
        let mut lock = Self::assemble(identity, config, storage, restored);
        let mut fx = Effects::default();
        lock.record(EventRecord::new(EventKind::Provisioned), now, Priority::Normal, &mut fx)?;
        lock.commit()?;
        Ok(lock)
    }

    /// The lock as it was last persisted: after a reboot, a crash or a power cut. The
    /// bolt starts thrown and the door closed (the host reports the sensor right after).
    pub fn open(identity: LockIdentity, config: LockConfig, mut storage: S) -> Result<Self, LockError> {
        let bytes = storage.load().map_err(|e| LockError::Storage(Box::new(e)))?.ok_or(LockError::NotProvisioned)?;
        let restored = snapshot::decode(&bytes, &identity.device.public_key())?;
        if restored.state.lock_id() != identity.lock_id {
            return Err(LockError::WrongLock);
        }
        Ok(Self::assemble(identity, config, storage, restored))
    }

    /// [`Self::open`] if something is stored, else [`Self::provision`].
    pub fn open_or_provision(
        identity: LockIdentity,
        trusted: &[TrustedKey],
        config: LockConfig,
        mut storage: S,
        now: u64,
    ) -> Result<Self, LockError> {
        if storage.load().map_err(|e| LockError::Storage(Box::new(e)))?.is_some() {
            Self::open(identity, config, storage)
        } else {
            Self::provision(identity, trusted, config, storage, now)
        }
    }

    // --- reading ------------------------------------------------------------------

    /// The lock's id.
    pub fn lock_id(&self) -> LockId {
        self.identity.lock_id
    }

    /// The device public key (what handhelds check challenges against).
    pub fn device_public_key(&self) -> LockDevicePublicKey {
        self.device_public
    }

    /// The policies.
    pub fn config(&self) -> &LockConfig {
        &self.config
    }

    /// The protocol state (read-only).
    pub fn state(&self) -> &LockState {
        &self.state
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The bolt.
    pub fn bolt(&self) -> BoltState {
        self.bolt
    }

    /// The door.
    pub fn door(&self) -> DoorState {
        self.door
    }

    /// The last event recorded.
    pub fn event_head(&self) -> ChainHead {
        self.state.event_head()
    }

    /// The last event the service acknowledged.
    pub fn acked(&self) -> u64 {
        self.extras.acked
    }

    /// The unacknowledged events with a counter above `after`, oldest first, as
    /// (counter, signed bytes): what to upload, or what a handheld carries back.
    pub fn events_after(&self, after: u64) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.ring.iter().filter(move |(c, _)| *c > after)
    }

    /// The lock's time for a host clock reading.
    pub fn lock_time(&self, now: u64) -> u64 {
        let t = i128::from(now) + i128::from(self.extras.clock_offset);
        u64::try_from(t.max(0)).unwrap_or(u64::MAX)
    }

    /// True when the lock should ask the service for the time: it lost its clock, or
    /// its clock is below its time floor.
    pub fn needs_time(&self, now: u64) -> bool {
        !self.state.has_trusted_time(self.lock_time(now))
    }

    /// Heartbeats are timed on the host clock, not the lock's corrected time, so a
    /// clock correction does not make a live camera look stale (or a dead one fresh).
    fn camera_stale(&self, now: u64) -> bool {
        match self.camera.last_heartbeat {
            None => true,
            Some(hb) => now < hb || now - hb > self.config.camera.max_heartbeat_age_secs,
        }
    }

    /// The lock's health now.
    pub fn health(&self, now: u64) -> Health {
        let t = self.lock_time(now);
        Health {
            lock_id: self.identity.lock_id,
            lock_time: t,
            time_floor: self.state.time_floor(),
            clock_lost: self.state.clock_lost(),
            clock_offset_secs: self.extras.clock_offset,
            last_drift_secs: self.last_drift,
            revocation_sequence: self.state.revocation().sequence(),
            revocation_epoch: self.state.revocation().epoch(),
            key_update_sequence: self.state.trust().update_sequence(),
            event_counter: self.state.event_head().counter,
            acked_counter: self.extras.acked,
            unacked_events: self.ring.len(),
            ring_capacity: EVENT_RING_CAPACITY,
            suppressed_events: self.extras.suppressed,
            dropped_events: self.extras.dropped,
            camera_heartbeat_age_secs: self.camera.last_heartbeat.map(|hb| now.saturating_sub(hb)),
            camera_stale: self.camera_stale(now),
            keypad_failures: self.state.keypad().failures(),
            keypad_locked_until: self.state.keypad().locked_until(),
            bolt: self.bolt,
            door: self.door,
        }
    }

    // --- the ring and persistence -------------------------------------------------

    fn check_ok(&self) -> Result<(), LockError> {
        if self.faulted {
            Err(LockError::Faulted)
        } else {
            Ok(())
        }
    }

    fn push_signed(&mut self, signed: &SignedEvent, fx: &mut Effects) -> Result<(), LockError> {
        let counter = self.state.event_head().counter;
        if self.ring.push(counter, signed.as_bytes()).is_err() {
            // The state advanced past an event the ring could not take: never persist that.
            self.faulted = true;
            return Err(LockError::Faulted);
        }
        fx.events_recorded += 1;
        Ok(())
    }

    fn record(&mut self, record: EventRecord, t: u64, priority: Priority, fx: &mut Effects) -> Result<bool, LockError> {
        let free = self.ring.free();
        // The last slot is kept for a clock event (see `clock_lost`).
        let room = match priority {
            Priority::Normal => free > 1,
            Priority::Low => free > LOW_PRIORITY_FREE,
        };
        if !room {
            match priority {
                Priority::Normal => self.extras.dropped = self.extras.dropped.saturating_add(1),
                Priority::Low => self.extras.suppressed = self.extras.suppressed.saturating_add(1),
            }
            return Ok(false);
        }
        let signed = self.state.record_event(&self.identity.device, &record, t).map_err(LockError::Encode)?;
        self.push_signed(&signed, fx)?;
        Ok(true)
    }

    /// Records the summary of suppressed refusals once there is room again.
    fn summarise_suppressed(&mut self, t: u64, fx: &mut Effects) -> Result<(), LockError> {
        if self.extras.suppressed > 0 && self.ring.free() > LOW_PRIORITY_FREE {
            let record = EventRecord {
                value: u64::from(self.extras.suppressed),
                ..EventRecord::new(LockEventKind::EventsSuppressed.event_kind())
            };
            if self.record(record, t, Priority::Normal, fx)? {
                self.extras.suppressed = 0;
            }
        }
        Ok(())
    }

    /// Persists everything. On failure the lock is faulted: nothing moves until it is
    /// reopened from storage, which still holds the last good snapshot.
    fn commit(&mut self) -> Result<(), LockError> {
        let header = snapshot::header(&self.extras, self.ring.len());
        let state = self.state.to_bytes();
        let mut parts: [&[u8]; EVENT_RING_CAPACITY + 3] = [&[]; EVENT_RING_CAPACITY + 3];
        let mut n = 0;
        for part in [&header[..], &state[..]].into_iter().chain(self.ring.framed()) {
            if let Some(slot) = parts.get_mut(n) {
                *slot = part;
                n += 1;
            }
        }
        let sum = snapshot::checksum(parts.iter().take(n).copied());
        if let Some(slot) = parts.get_mut(n) {
            *slot = &sum;
            n += 1;
        }
        let result = self.storage.store(parts.get(..n).unwrap_or(&[]));
        result.map_err(|e| {
            self.faulted = true;
            LockError::Storage(Box::new(e))
        })
    }

    // --- entries ------------------------------------------------------------------

    fn challenge_for(
        &mut self,
        origin: Origin,
        rng: &mut impl CryptoRngCore,
        now: u64,
    ) -> Result<SignedChallenge, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        // Not persisted: after a reboot a repeated challenge counter comes with a new
        // nonce, and every presentation signs the nonce, so old answers stay useless.
        let (challenge, signed) =
            self.state.issue_challenge(&self.identity.device, Nonce(nonce), t).map_err(LockError::Encode)?;
        self.pending = Some(Pending { challenge, origin });
        Ok(signed)
    }

    /// A handheld at the door asks for a challenge. Any earlier challenge can no longer
    /// be answered.
    pub fn challenge(&mut self, rng: &mut impl CryptoRngCore, now: u64) -> Result<SignedChallenge, LockError> {
        self.challenge_for(Origin::Handheld, rng, now)
    }

    /// The service asks, over the fleet channel, to unlock remotely (`request_id` tells
    /// the answer apart); the signed challenge goes back to the service.
    pub fn remote_challenge(
        &mut self,
        request_id: u64,
        rng: &mut impl CryptoRngCore,
        now: u64,
    ) -> Result<SignedChallenge, LockError> {
        self.challenge_for(Origin::Remote(request_id), rng, now)
    }

    fn refuse(&mut self, kind: EventKind, reason: LockRefusal, t: u64, record: bool) -> Result<Outcome, LockError> {
        let mut fx = Effects::default();
        if record {
            let rec = EventRecord { value: reason.code(), ..EventRecord::new(kind) };
            self.record(rec, t, Priority::Low, &mut fx)?;
        }
        self.commit()?;
        Ok(Outcome { decision: Decision::Refused(reason), effects: fx })
    }

    /// A lock-policy refusal that happens before any credential or code is looked at.
    fn policy_refusal(&self, source: EntrySource, now: u64) -> Option<LockRefusal> {
        if source != EntrySource::Remote && self.config.camera.refuse_entry_when_stale && self.camera_stale(now) {
            return Some(LockRefusal::CameraStale);
        }
        if self.ring.free() < ENTRY_RESERVE {
            return Some(LockRefusal::EventLogFull);
        }
        None
    }

    /// A handheld answers the latest challenge with a presentation.
    pub fn present(&mut self, presentation: &[u8], now: u64) -> Result<Outcome, LockError> {
        self.present_from(Origin::Handheld, presentation, now)
    }

    /// The service answers a remote-unlock challenge with a presentation.
    pub fn present_remote(&mut self, request_id: u64, presentation: &[u8], now: u64) -> Result<Outcome, LockError> {
        self.present_from(Origin::Remote(request_id), presentation, now)
    }

    fn present_from(&mut self, origin: Origin, presentation: &[u8], now: u64) -> Result<Outcome, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let source = origin.source();
        let pending = match self.pending.take() {
            Some(p) if p.origin == origin => p,
            other => {
                // Someone else's challenge stays answerable by them.
                self.pending = other;
                return self.refuse(EventKind::AccessRefused, LockRefusal::NoChallenge, t, true);
            }
        };
        if let Some(reason) = self.policy_refusal(source, now) {
            return self.refuse(EventKind::AccessRefused, reason, t, true);
        }
        let grant = match self.state.verify_presentation(pending.challenge, presentation, t, &self.config.verify) {
            Verdict::Granted(g) => g,
            Verdict::Refused(r) => return self.refuse(EventKind::AccessRefused, LockRefusal::Credential(r), t, true),
        };
        let mut fx = Effects::default();
        let mut t = t;
        if let Some(issued_at) = grant.clock_hint {
            // The nonce proved the credential was issued after the challenge: its `iat`
            // is a trustworthy time.
            self.resync_to(issued_at, now, &mut fx)?;
            t = self.lock_time(now);
        }
        let granted = EventRecord {
            credential_id: Some(grant.credential_id),
            delivery_hash: Some(grant.delivery_hash),
            value: u64::from(grant.use_number),
            ..EventRecord::new(EventKind::AccessGranted)
        };
        self.record(granted, t, Priority::Normal, &mut fx)?;
        let entry = self.release(source, Some(grant.credential_id), Some(grant.delivery_hash), t, &mut fx)?;
        Ok(Outcome { decision: Decision::Unlocked(Entry { use_number: grant.use_number, ..entry }), effects: fx })
    }

    /// Records `Unlocked`, persists, and only then releases the bolt.
    fn release(
        &mut self,
        source: EntrySource,
        credential_id: Option<CredentialId>,
        delivery_hash: Option<DeliveryHash>,
        t: u64,
        fx: &mut Effects,
    ) -> Result<Entry, LockError> {
        let unlocked =
            EventRecord { credential_id, delivery_hash, value: source.code(), ..EventRecord::new(EventKind::Unlocked) };
        self.record(unlocked, t, Priority::Normal, fx)?;
        self.commit()?;
        let relock_at = t.saturating_add(self.config.relock_after_secs);
        let door_opened = matches!(self.door, DoorState::Open { .. });
        self.bolt = BoltState::Released { source, credential_id, delivery_hash, relock_at, door_opened };
        fx.bolt = Some(BoltCommand::Release);
        if source.is_non_resident() {
            fx.camera = Some(CameraTrigger { source, credential_id, delivery_hash, lock_time: t });
        }
        Ok(Entry { source, credential_id, delivery_hash, use_number: 1, relock_at })
    }

    /// A code typed on the keypad (ASCII digits).
    pub fn enter_door_code(&mut self, code: &[u8], now: u64) -> Result<Outcome, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        if self.identity.door_code_secret.is_none() {
            return Ok(Outcome { decision: Decision::Refused(LockRefusal::NoKeypad), effects: Effects::default() });
        }
        if t < self.state.keypad().locked_until() {
            // The keypad is off: the input is not looked at and, so that nobody can fill
            // the ring by pressing keys, not recorded either.
            let reason = LockRefusal::DoorCode(doorman_protocol::DoorCodeRefusal::LockedOut);
            return Ok(Outcome { decision: Decision::Refused(reason), effects: Effects::default() });
        }
        if let Some(reason) = self.policy_refusal(EntrySource::Keypad, now) {
            return self.refuse(EventKind::DoorCodeRefused, reason, t, true);
        }
        let Some(secret) = self.identity.door_code_secret.as_ref() else {
            return Ok(Outcome { decision: Decision::Refused(LockRefusal::NoKeypad), effects: Effects::default() });
        };
        let verdict = self.state.check_door_code(secret, code, t, &self.config.door_codes, &self.config.keypad);
        match verdict {
            DoorCodeVerdict::Accepted { slot, index } => {
                let mut fx = Effects::default();
                let mut data = [0u8; 32];
                data[0] = index;
                let accepted =
                    EventRecord { value: slot, data: Some(data), ..EventRecord::new(EventKind::DoorCodeAccepted) };
                self.record(accepted, t, Priority::Normal, &mut fx)?;
                let entry = self.release(EntrySource::Keypad, None, None, t, &mut fx)?;
                Ok(Outcome { decision: Decision::Unlocked(entry), effects: fx })
            }
            DoorCodeVerdict::Refused { reason, locked_until } => {
                let mut fx = Effects::default();
                let refused = EventRecord {
                    value: door_code_refusal_code(reason),
                    ..EventRecord::new(EventKind::DoorCodeRefused)
                };
                self.record(refused, t, Priority::Low, &mut fx)?;
                if let Some(until) = locked_until {
                    let lockout = EventRecord { value: until, ..EventRecord::new(EventKind::KeypadLockedOut) };
                    self.record(lockout, t, Priority::Normal, &mut fx)?;
                }
                // The failure count is persisted even when the event was suppressed: a
                // power cycle must not reset the lockout.
                self.commit()?;
                Ok(Outcome { decision: Decision::Refused(LockRefusal::DoorCode(reason)), effects: fx })
            }
        }
    }

    /// The inside release (exit button, a resident's own key): no credential, no camera.
    pub fn release_from_inside(&mut self, now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        self.release(EntrySource::Inside, None, None, t, &mut fx)?;
        Ok(fx)
    }

    // --- door, relock, alarms, camera -----------------------------------------------

    fn entry_ids(&self) -> (Option<CredentialId>, Option<DeliveryHash>) {
        match self.bolt {
            BoltState::Released { credential_id, delivery_hash, .. } => (credential_id, delivery_hash),
            BoltState::Locked => (None, None),
        }
    }

    /// The door sensor reports the door open.
    pub fn door_opened(&mut self, now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        if matches!(self.door, DoorState::Open { .. }) {
            return Ok(fx);
        }
        let forced = self.bolt == BoltState::Locked;
        if let BoltState::Released { door_opened, .. } = &mut self.bolt {
            *door_opened = true;
        }
        self.door = DoorState::Open { since: t, ajar_alarm: false };
        let (credential_id, delivery_hash) = self.entry_ids();
        let opened = EventRecord {
            credential_id,
            delivery_hash,
            value: u64::from(forced),
            ..EventRecord::new(EventKind::DoorOpened)
        };
        self.record(opened, t, Priority::Normal, &mut fx)?;
        self.commit()?;
        if forced {
            fx.alarm = Some(Alarm::DoorForced);
        }
        Ok(fx)
    }

    /// The door sensor reports the door closed: relocks if it had been opened.
    pub fn door_closed(&mut self, now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        let DoorState::Open { ajar_alarm, .. } = self.door else {
            return Ok(fx);
        };
        self.door = DoorState::Closed;
        let (credential_id, delivery_hash) = self.entry_ids();
        self.record(
            EventRecord { credential_id, delivery_hash, ..EventRecord::new(EventKind::DoorClosed) },
            t,
            Priority::Normal,
            &mut fx,
        )?;
        if ajar_alarm {
            self.record(EventRecord::new(LockEventKind::DoorAjarCleared.event_kind()), t, Priority::Normal, &mut fx)?;
        }
        if let BoltState::Released { door_opened: true, .. } = self.bolt {
            self.relock(0, t, &mut fx)?;
        }
        self.commit()?;
        Ok(fx)
    }

    fn relock(&mut self, why: u64, t: u64, fx: &mut Effects) -> Result<(), LockError> {
        let (credential_id, delivery_hash) = self.entry_ids();
        let rec = EventRecord {
            credential_id,
            delivery_hash,
            value: why,
            ..EventRecord::new(LockEventKind::Relocked.event_kind())
        };
        self.record(rec, t, Priority::Normal, fx)?;
        self.bolt = BoltState::Locked;
        fx.bolt = Some(BoltCommand::Throw);
        Ok(())
    }

    /// Called periodically (every second or so): relocks on the timeout, raises the
    /// ajar alarm, notices a stale camera, summarises suppressed refusals, forgets an
    /// unanswered time request.
    pub fn tick(&mut self, now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        if let BoltState::Released { relock_at, door_opened: false, .. } = self.bolt {
            if self.door == DoorState::Closed && t >= relock_at {
                self.relock(1, t, &mut fx)?;
            }
        }
        if let DoorState::Open { since, ajar_alarm: false } = self.door {
            let open_secs = t.saturating_sub(since);
            if open_secs >= self.config.ajar_alarm_after_secs {
                self.door = DoorState::Open { since, ajar_alarm: true };
                let rec = EventRecord { value: open_secs, ..EventRecord::new(LockEventKind::DoorAjar.event_kind()) };
                self.record(rec, t, Priority::Normal, &mut fx)?;
                fx.alarm = Some(Alarm::DoorAjar { open_secs });
            }
        }
        if !self.camera.reported_stale && self.camera_stale(now) {
            self.camera.reported_stale = true;
            let age = self.camera.last_heartbeat.map_or(0, |hb| now.saturating_sub(hb));
            let rec = EventRecord { value: age, ..EventRecord::new(LockEventKind::CameraStale.event_kind()) };
            self.record(rec, t, Priority::Normal, &mut fx)?;
            fx.alarm = fx.alarm.or(Some(Alarm::CameraStale));
        }
        if let Some((_, asked)) = self.time_request {
            if now < asked || now - asked > self.config.time_request_ttl_secs {
                self.time_request = None;
            }
        }
        self.summarise_suppressed(t, &mut fx)?;
        if fx.events_recorded > 0 {
            self.commit()?;
        }
        Ok(fx)
    }

    /// The camera says it is alive.
    pub fn camera_heartbeat(&mut self, now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        self.camera.last_heartbeat = Some(now);
        if self.camera.reported_stale {
            self.camera.reported_stale = false;
            self.record(EventRecord::new(LockEventKind::CameraRestored.event_kind()), t, Priority::Normal, &mut fx)?;
            self.commit()?;
        }
        Ok(fx)
    }

    /// The camera finished a clip: its SHA-256 goes into the chain (the service stores
    /// the clip and checks the hash).
    pub fn camera_clip(
        &mut self,
        clip_sha256: [u8; 32],
        credential_id: Option<CredentialId>,
        delivery_hash: Option<DeliveryHash>,
        now: u64,
    ) -> Result<Effects, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        let rec = EventRecord {
            credential_id,
            delivery_hash,
            data: Some(clip_sha256),
            ..EventRecord::new(EventKind::CameraClip)
        };
        self.record(rec, t, Priority::Normal, &mut fx)?;
        self.commit()?;
        Ok(fx)
    }

    // --- what the service sends -------------------------------------------------------

    /// A revocation bundle, pushed by the service or carried by a handheld. A bundle
    /// the lock already holds (or an older one) is answered `Stale` and not recorded:
    /// that is what a reconnect delivers.
    pub fn apply_revocation_bundle(
        &mut self,
        bundle: &[u8],
        now: u64,
    ) -> Result<Result<RevocationApplied, RevocationError>, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        let result = self.state.apply_revocation_bundle(bundle, t, &self.config.verify);
        match &result {
            Ok(applied) => {
                let rec = EventRecord { value: applied.sequence, ..EventRecord::new(EventKind::RevocationApplied) };
                self.record(rec, t, Priority::Normal, &mut fx)?;
                self.commit()?;
            }
            Err(RevocationError::Stale { .. }) => {}
            Err(_) => {
                if self.record(EventRecord::new(EventKind::RevocationRefused), t, Priority::Low, &mut fx)? {
                    self.commit()?;
                }
            }
        }
        Ok(result)
    }

    /// A signed key update (rotation of the issuer keys the lock trusts).
    pub fn apply_key_update(
        &mut self,
        update: &[u8],
        now: u64,
    ) -> Result<Result<KeyUpdateApplied, KeyUpdateError>, LockError> {
        self.check_ok()?;
        let t = self.lock_time(now);
        let mut fx = Effects::default();
        let result = self.state.apply_key_update(update);
        match &result {
            Ok(applied) => {
                let rec = EventRecord { value: applied.sequence, ..EventRecord::new(EventKind::KeysUpdated) };
                self.record(rec, t, Priority::Normal, &mut fx)?;
                self.commit()?;
            }
            Err(KeyUpdateError::Stale { .. }) => {}
            Err(_) => {
                if self.record(EventRecord::new(EventKind::KeyUpdateRefused), t, Priority::Low, &mut fx)? {
                    self.commit()?;
                }
            }
        }
        Ok(result)
    }

    /// The service has stored every event up to `counter`: they leave the ring. A
    /// counter beyond the lock's own head is clamped (it cannot acknowledge what the
    /// lock never wrote). Returns how many events left.
    pub fn acknowledge(&mut self, counter: u64, now: u64) -> Result<usize, LockError> {
        self.check_ok()?;
        let counter = counter.min(self.state.event_head().counter);
        if counter <= self.extras.acked {
            return Ok(0);
        }
        let trimmed = self.ring.trim_through(counter);
        self.extras.acked = counter;
        let mut fx = Effects::default();
        if self.clock_lost_pending {
            self.apply_clock_lost(&mut fx)?;
        }
        self.summarise_suppressed(self.lock_time(now), &mut fx)?;
        self.commit()?;
        Ok(trimmed)
    }

    /// Starts a time request: the nonce goes to the service, which answers with a
    /// signed time statement ([`crate::issue_time_statement`]).
    pub fn time_request(&mut self, rng: &mut impl CryptoRngCore, now: u64) -> Nonce {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        self.time_request = Some((Nonce(nonce), now));
        Nonce(nonce)
    }

    /// A signed time statement answering the outstanding time request.
    pub fn apply_time_statement(
        &mut self,
        statement: &[u8],
        now: u64,
    ) -> Result<Result<TimeSync, TimeStatementError>, LockError> {
        self.check_ok()?;
        let Some((nonce, asked)) = self.time_request else {
            return Ok(Err(TimeStatementError::NotRequested));
        };
        if now < asked || now - asked > self.config.time_request_ttl_secs {
            self.time_request = None;
            return Ok(Err(TimeStatementError::NotRequested));
        }
        let claims = match self.state.authenticate_credential(statement) {
            Ok(c) => c.claims,
            Err(r) => return Ok(Err(TimeStatementError::Untrusted(r))),
        };
        let answers = claims.lock_id == self.identity.lock_id
            && claims.challenge_nonce == Some(nonce)
            && claims.delivery_hash == time_statement_marker()
            && claims.issuer == TIME_STATEMENT_ISSUER;
        if !answers {
            return Ok(Err(TimeStatementError::NotForThisRequest));
        }
        self.time_request = None;
        let service_time = claims.issued_at;
        let before = self.lock_time(now);
        let drift = i128::from(service_time) - i128::from(before);
        let drift_secs = i64::try_from(drift).unwrap_or(if drift < 0 { i64::MIN } else { i64::MAX });
        let mut fx = Effects::default();
        let resynced = !self.state.has_trusted_time(before) || service_time < self.state.time_floor();
        if resynced {
            self.resync_to(service_time, now, &mut fx)?;
        } else {
            self.set_offset(service_time, now);
            if drift_secs.unsigned_abs() > self.config.clock_adjust_report_secs {
                let rec =
                    EventRecord { value: service_time, ..EventRecord::new(LockEventKind::ClockAdjusted.event_kind()) };
                self.record(rec, service_time, Priority::Normal, &mut fx)?;
            }
        }
        self.last_drift = Some(drift_secs);
        self.commit()?;
        Ok(Ok(TimeSync { service_time, drift_secs, resynced }))
    }

    fn set_offset(&mut self, trusted_time: u64, now: u64) {
        let offset = i128::from(trusted_time) - i128::from(now);
        self.extras.clock_offset = i64::try_from(offset).unwrap_or(0);
    }

    fn resync_to(&mut self, trusted_time: u64, now: u64, fx: &mut Effects) -> Result<(), LockError> {
        self.set_offset(trusted_time, now);
        if self.ring.free() == 0 {
            // Resynchronising records an event; with no room for it the floor stays
            // (and a full ring refuses every entry anyway).
            self.extras.dropped = self.extras.dropped.saturating_add(1);
            return Ok(());
        }
        self.clock_lost_pending = false;
        let signed = self.state.resync_clock(&self.identity.device, trusted_time).map_err(LockError::Encode)?;
        self.push_signed(&signed, fx)
    }

    /// The host's real-time clock lost power: from now on only nonce-bound credentials
    /// open the lock, and door codes do not, until a signed time statement arrives.
    pub fn clock_lost(&mut self, _now: u64) -> Result<Effects, LockError> {
        self.check_ok()?;
        let mut fx = Effects::default();
        self.apply_clock_lost(&mut fx)?;
        self.commit()?;
        Ok(fx)
    }

    fn apply_clock_lost(&mut self, fx: &mut Effects) -> Result<(), LockError> {
        if self.ring.free() == 0 {
            // Only possible when the ring is full, which refuses every entry until the
            // service acknowledges; the loss is applied as soon as there is room.
            self.clock_lost_pending = true;
            return Ok(());
        }
        self.clock_lost_pending = false;
        let signed = self.state.set_clock_lost(&self.identity.device).map_err(LockError::Encode)?;
        self.push_signed(&signed, fx)
    }
}

/// Size of the lock's own header in a snapshot (for budgets).
pub const SNAPSHOT_HEADER_LEN: usize = HEADER_LEN;
