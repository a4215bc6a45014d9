//! The lock's persistent state: one plain, fixed-size struct with a fixed byte layout.
//!
//! The lock writes [`LockState::to_bytes`] to flash after every change that matters
//! (a grant, a door code, an event, a bundle, a key update) and before it moves the
//! bolt, so a power cut can never make it forget a used credential.
//!
//! Layout (all integers big-endian), [`LockState::ENCODED_LEN`] bytes:
//!
//! ```text
//! "DMLS" | version u8 = 1 | flags u8 (bit 0: clock lost) | lock_id [16]
//! time_floor u64 | challenge_counter u64 | event_counter u64 | last_event_hash [32]
//! key_update_sequence u64 | 8 x { state u8 (0 empty, 1 active, 2 retired) | usage u8 | alg u8 (0, 1 EdDSA, 2 ES256) | kid [8] | key [65] }
//! revocation_sequence u64 | revocation_epoch u64 | count u8 | 64 x { cti [16] | exp u64 }
//! replay_highest u64 | 128 x use count u8
//! keypad_failures u32 | keypad_locked_until u64 | 32 x { in_use u8 | index u8 | slot u64 }
//! checksum [8] = SHA-256 of everything before, first 8 bytes
//! ```
//!
//! Unused slots are all zeros and decoding insists on it, so decoding then encoding
//! gives back the same bytes.

use sha2::{Digest, Sha256};

use crate::challenge::{Challenge, PendingChallenge, SignedChallenge};
use crate::doorcode::{
    check_code, DoorCodePolicy, DoorCodeRefusal, DoorCodeSecret, DoorCodeVerdict, KeypadPolicy, KeypadState, UsedCode,
    MAX_USED_CODES,
};
use crate::events::{sign_event, ChainHead, EventHeader, EventKind, EventRecord, SignedEvent};
use crate::ids::{CredentialId, LockId, Nonce};
use crate::keys::{Algorithm, KeyId, KeyUsage, LockDeviceKey, PublicKey, TrustedKey};
use crate::replay::{ReplayWindow, REPLAY_WINDOW};
use crate::revocation::{apply_bundle, RevocationApplied, RevocationError, RevocationState, RevokedEntry, MAX_REVOKED};
use crate::trust::{KeyUpdateApplied, KeyUpdateError, TrustSlot, TrustStore, MAX_TRUSTED_KEYS};
use crate::verify::VerifyConfig;
use crate::EncodeError;

// The lock crate budgets 4 KiB of flash for this.
const _: () = assert!(LockState::ENCODED_LEN <= 4096);

/// Everything a lock must remember across power cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    pub(crate) lock_id: LockId,
    pub(crate) clock_lost: bool,
    pub(crate) time_floor: u64,
    pub(crate) challenge_counter: u64,
    pub(crate) event_counter: u64,
    pub(crate) last_event_hash: [u8; 32],
    pub(crate) trust: TrustStore,
    pub(crate) revocation: RevocationState,
    pub(crate) replay: ReplayWindow,
    pub(crate) keypad: KeypadState,
}

/// The persisted bytes could not be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Wrong length, magic or version.
    Format,
    /// The checksum does not match: corrupted storage.
    Checksum,
    /// A field holds a value the lock never writes.
    Invalid,
}

const MAGIC: &[u8; 4] = b"DMLS";
const VERSION: u8 = 1;
const KEY_SLOT_LEN: usize = 3 + 8 + 65;
const REVOKED_LEN: usize = 16 + 8;
const USED_CODE_LEN: usize = 2 + 8;
const BODY_LEN: usize = 4
    + 1
    + 1
    + 16
    + 8 * 3
    + 32
    + 8
    + MAX_TRUSTED_KEYS * KEY_SLOT_LEN
    + 8
    + 8
    + 1
    + MAX_REVOKED * REVOKED_LEN
    + 8
    + REPLAY_WINDOW
    + 4
    + 8
    + MAX_USED_CODES * USED_CODE_LEN;

impl LockState {
    /// Size of the persisted state.
    pub const ENCODED_LEN: usize = BODY_LEN + 8;

    /// A freshly provisioned lock: its id, its trust anchors (at least one allowed to
    /// sign key updates) and the provisioning time as its first time floor.
    pub fn new(lock_id: LockId, trusted: &[TrustedKey], now: u64) -> Result<Self, KeyUpdateError> {
        Ok(Self {
            lock_id,
            clock_lost: false,
            time_floor: now,
            challenge_counter: 0,
            event_counter: 0,
            last_event_hash: [0; 32],
            trust: TrustStore::new(trusted)?,
            revocation: RevocationState::default(),
            replay: ReplayWindow::default(),
            keypad: KeypadState::default(),
        })
    }

    /// This lock's id.
    pub fn lock_id(&self) -> LockId {
        self.lock_id
    }

    /// The lowest time the lock will believe.
    pub fn time_floor(&self) -> u64 {
        self.time_floor
    }

    /// True once [`Self::set_clock_lost`] was called and until [`Self::resync_clock`].
    pub fn clock_lost(&self) -> bool {
        self.clock_lost
    }

    /// The trust anchors.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// The revocation state.
    pub fn revocation(&self) -> &RevocationState {
        &self.revocation
    }

    /// The replay window.
    pub fn replay(&self) -> &ReplayWindow {
        &self.replay
    }

    /// The keypad state.
    pub fn keypad(&self) -> &KeypadState {
        &self.keypad
    }

    /// The last event's counter, hash and time.
    pub fn event_head(&self) -> ChainHead {
        ChainHead { counter: self.event_counter, hash: self.last_event_hash, time: self.time_floor }
    }

    /// The lock's clock can no longer be trusted (its RTC lost power, say): from now on
    /// only credentials bound to a challenge nonce open it, and door codes do not.
    /// Records a [`crate::EventKind::ClockLost`] event.
    pub fn set_clock_lost(&mut self, device: &LockDeviceKey) -> Result<SignedEvent, EncodeError> {
        self.clock_lost = true;
        let floor = self.time_floor;
        self.record_event(device, &EventRecord::new(EventKind::ClockLost), floor)
    }

    /// The lock has a trustworthy time again, `trusted_time`, from an authenticated
    /// source such as [`crate::Grant::clock_hint`]. The time floor is set to it, even if
    /// lower (a wrong, too-high clock must not brick the lock), and a
    /// [`crate::EventKind::ClockRestored`] event records the jump, the one event whose
    /// time may be below its predecessor's.
    pub fn resync_clock(&mut self, device: &LockDeviceKey, trusted_time: u64) -> Result<SignedEvent, EncodeError> {
        self.clock_lost = false;
        self.time_floor = trusted_time;
        let record = EventRecord { value: trusted_time, ..EventRecord::new(EventKind::ClockRestored) };
        self.record_event(device, &record, trusted_time)
    }

    /// True when `now` can be used: the clock is not lost and not below the floor.
    pub fn has_trusted_time(&self, now: u64) -> bool {
        !self.clock_lost && now >= self.time_floor
    }

    /// Starts a challenge with a fresh random `nonce` (from the lock's RNG). Any earlier
    /// challenge can no longer be answered.
    pub fn new_challenge(&mut self, nonce: Nonce, now: u64) -> Result<PendingChallenge, EncodeError> {
        self.challenge_counter = self.challenge_counter.saturating_add(1);
        let challenge = Challenge {
            lock_id: self.lock_id,
            nonce,
            counter: self.challenge_counter,
            lock_time: now,
            revocation_sequence: self.revocation.sequence,
            key_update_sequence: self.trust.update_sequence,
            event_counter: self.event_counter,
            clock_lost: !self.has_trusted_time(now),
        };
        Ok(PendingChallenge { payload: challenge.encode()?, challenge })
    }

    /// [`Self::new_challenge`] and [`PendingChallenge::sign`] in one step.
    pub fn issue_challenge(
        &mut self,
        device: &LockDeviceKey,
        nonce: Nonce,
        now: u64,
    ) -> Result<(PendingChallenge, SignedChallenge), EncodeError> {
        let pending = self.new_challenge(nonce, now)?;
        let signed = pending.sign(device)?;
        Ok((pending, signed))
    }

    /// Applies a revocation bundle if it is for this lock, signed by a trusted key and
    /// newer than the one held. Entries already expired are dropped.
    pub fn apply_revocation_bundle(
        &mut self,
        bundle: &[u8],
        now: u64,
        config: &VerifyConfig,
    ) -> Result<RevocationApplied, RevocationError> {
        let now = self.has_trusted_time(now).then_some(now);
        apply_bundle(&mut self.revocation, &self.trust, &self.lock_id, bundle, now, config.clock_skew_secs)
    }

    /// Applies a signed key update (see [`crate::trust`]).
    pub fn apply_key_update(&mut self, update: &[u8]) -> Result<KeyUpdateApplied, KeyUpdateError> {
        self.trust.apply_update(update)
    }

    /// Records an event: signs it with the device key, links it to the previous one and
    /// advances the chain and the time floor. Persist the state with the event.
    pub fn record_event(
        &mut self,
        device: &LockDeviceKey,
        record: &EventRecord,
        now: u64,
    ) -> Result<SignedEvent, EncodeError> {
        let trusted = self.has_trusted_time(now);
        let time = if trusted { now } else { self.time_floor };
        let header = EventHeader {
            lock_id: self.lock_id,
            counter: self.event_counter.saturating_add(1),
            time,
            prev_hash: self.last_event_hash,
            clock_lost: !trusted,
        };
        let (signed, hash) = sign_event(device, &header, record)?;
        self.event_counter = header.counter;
        self.last_event_hash = hash;
        self.time_floor = time;
        Ok(signed)
    }

    /// Checks a code typed on the keypad (ASCII digits) at lock time `now`.
    pub fn check_door_code(
        &mut self,
        secret: &DoorCodeSecret,
        entered: &[u8],
        now: u64,
        policy: &DoorCodePolicy,
        keypad: &KeypadPolicy,
    ) -> DoorCodeVerdict {
        if !self.has_trusted_time(now) {
            return DoorCodeVerdict::Refused { reason: DoorCodeRefusal::NoTrustedTime, locked_until: None };
        }
        let verdict = check_code(&mut self.keypad, secret, entered, now, policy, keypad);
        if matches!(verdict, DoorCodeVerdict::Accepted { .. }) {
            self.time_floor = self.time_floor.max(now);
        }
        verdict
    }

    /// The persisted form.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        let mut w = Out::new(&mut out);
        w.put(MAGIC);
        w.u8(VERSION);
        w.u8(u8::from(self.clock_lost));
        w.put(&self.lock_id.0);
        w.u64(self.time_floor);
        w.u64(self.challenge_counter);
        w.u64(self.event_counter);
        w.put(&self.last_event_hash);
        w.u64(self.trust.update_sequence);
        for slot in &self.trust.slots {
            let mut key = [0u8; 65];
            let (state, usage, alg, kid) = match slot {
                TrustSlot::Empty => (0, 0, 0, [0; 8]),
                TrustSlot::Retired(kid) => (2, 0, 0, kid.0),
                TrustSlot::Active(k) => {
                    for (d, s) in key.iter_mut().zip(k.key.as_bytes()) {
                        *d = *s;
                    }
                    let alg = match k.key.algorithm() {
                        Algorithm::EdDSA => 1,
                        Algorithm::ES256 => 2,
                    };
                    (1, k.usage.bits(), alg, k.kid.0)
                }
            };
            w.u8(state);
            w.u8(usage);
            w.u8(alg);
            w.put(&kid);
            w.put(&key);
        }
        w.u64(self.revocation.sequence);
        w.u64(self.revocation.epoch);
        w.u8(u8::try_from(self.revocation.count).unwrap_or(u8::MAX));
        for (i, e) in self.revocation.entries.iter().enumerate() {
            if i < self.revocation.count {
                w.put(&e.credential_id.0);
                w.u64(e.expires_at);
            } else {
                w.put(&[0; REVOKED_LEN]);
            }
        }
        w.u64(self.replay.highest);
        w.put(&self.replay.uses);
        w.u32(self.keypad.failures);
        w.u64(self.keypad.locked_until);
        for u in &self.keypad.used {
            if u.in_use {
                w.u8(1);
                w.u8(u.index);
                w.u64(u.slot);
            } else {
                w.put(&[0; USED_CODE_LEN]);
            }
        }
        let body_len = w.pos;
        let digest = Sha256::digest(out.get(..body_len).unwrap_or(&[]));
        if let Some(sum) = out.get_mut(body_len..) {
            for (d, s) in sum.iter_mut().zip(digest.iter()) {
                *d = *s;
            }
        }
        out
    }

    /// Reads the persisted form back, checking every field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(StateError::Format);
        }
        let (body, sum) = bytes.split_at(BODY_LEN);
        let digest = Sha256::digest(body);
        if digest.get(..8) != Some(sum) {
            return Err(StateError::Checksum);
        }
        let mut r = In { buf: body, pos: 0 };
        if r.take::<4>()? != *MAGIC || r.u8()? != VERSION {
            return Err(StateError::Format);
        }
        let clock_lost = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(StateError::Invalid),
        };
        let lock_id = LockId(r.take()?);
        let time_floor = r.u64()?;
        let challenge_counter = r.u64()?;
        let event_counter = r.u64()?;
        let last_event_hash = r.take()?;

        let update_sequence = r.u64()?;
        let mut slots = [TrustSlot::Empty; MAX_TRUSTED_KEYS];
        for slot in slots.iter_mut() {
            let state = r.u8()?;
            let usage = r.u8()?;
            let alg = r.u8()?;
            let kid = KeyId(r.take()?);
            let key: [u8; 65] = r.take()?;
            *slot = match (state, alg) {
                (0, 0) if usage == 0 && kid.0 == [0; 8] && key == [0; 65] => TrustSlot::Empty,
                (2, 0) if usage == 0 && key == [0; 65] => TrustSlot::Retired(kid),
                (1, 1 | 2) => {
                    let (alg, len) = if alg == 1 { (Algorithm::EdDSA, 32) } else { (Algorithm::ES256, 65) };
                    let (used, pad) = key.split_at(len);
                    if pad.iter().any(|b| *b != 0) {
                        return Err(StateError::Invalid);
                    }
                    let key = PublicKey::from_bytes(alg, used).map_err(|_| StateError::Invalid)?;
                    if key.as_bytes() != used {
                        return Err(StateError::Invalid);
                    }
                    let usage = KeyUsage::from_bits(usage).ok_or(StateError::Invalid)?;
                    TrustSlot::Active(TrustedKey { kid, key, usage })
                }
                _ => return Err(StateError::Invalid),
            };
        }
        let trust = TrustStore { slots, update_sequence };
        // Key ids are unique.
        for (i, a) in trust.slots.iter().enumerate() {
            for b in trust.slots.iter().skip(i + 1) {
                if let (Some(x), Some(y)) = (slot_kid(a), slot_kid(b)) {
                    if x == y {
                        return Err(StateError::Invalid);
                    }
                }
            }
        }

        let mut revocation = RevocationState { sequence: r.u64()?, epoch: r.u64()?, ..RevocationState::default() };
        revocation.count = usize::from(r.u8()?);
        if revocation.count > MAX_REVOKED {
            return Err(StateError::Invalid);
        }
        for (i, e) in revocation.entries.iter_mut().enumerate() {
            let entry = RevokedEntry { credential_id: CredentialId(r.take()?), expires_at: r.u64()? };
            if i >= revocation.count && entry != RevokedEntry::default() {
                return Err(StateError::Invalid);
            }
            *e = entry;
        }

        let replay = ReplayWindow { highest: r.u64()?, uses: r.take()? };

        let mut keypad = KeypadState { failures: r.u32()?, locked_until: r.u64()?, ..KeypadState::default() };
        for u in keypad.used.iter_mut() {
            let in_use = r.u8()?;
            let index = r.u8()?;
            let slot = r.u64()?;
            *u = match in_use {
                1 => UsedCode { in_use: true, index, slot },
                0 if index == 0 && slot == 0 => UsedCode::default(),
                _ => return Err(StateError::Invalid),
            };
        }
        if r.pos != BODY_LEN {
            return Err(StateError::Format);
        }
        Ok(Self {
            lock_id,
            clock_lost,
            time_floor,
            challenge_counter,
            event_counter,
            last_event_hash,
            trust,
            revocation,
            replay,
            keypad,
        })
    }
}

fn slot_kid(slot: &TrustSlot) -> Option<KeyId> {
    match slot {
        TrustSlot::Empty => None,
        TrustSlot::Retired(kid) => Some(*kid),
        TrustSlot::Active(k) => Some(k.kid),
    }
}

/// Fixed-layout writer; the layout is sized exactly, so running out of room would be
/// a bug caught by the round-trip tests, never a panic.
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Out<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }
}

struct In<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl In<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let end = self.pos.checked_add(N).ok_or(StateError::Format)?;
        let bytes = self.buf.get(self.pos..end).ok_or(StateError::Format)?;
        self.pos = end;
        <[u8; N]>::try_from(bytes).map_err(|_| StateError::Format)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(u8::from_be_bytes(self.take()?))
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
}
