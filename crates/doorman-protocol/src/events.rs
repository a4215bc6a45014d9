//! Lock events (receipts): signed by the lock's device key and hash-chained.
//!
//! ```text
//! event payload = [ lock_id bstr(16), counter uint, time uint, prev_hash bstr(32), clock_lost bool,
//!                   kind uint, cti bstr(16) / null, delivery_hash bstr(16) / null,
//!                   value uint, data bstr(32) / null ]
//! signed    = COSE_Sign1 by the lock device key (EdDSA, no kid), external_aad = "doorman/event/v1"
//! hash      = SHA-256 of the whole signed event; the next event's prev_hash
//! ```
//!
//! Counters start at 1 and grow by one; the first event's `prev_hash` is 32 zero
//! bytes. So a missing event shows as a counter gap, a rewritten one as a broken hash
//! link (or a bad signature), and a suppressed tail shows when the lock's next
//! challenge or event reports a higher counter than the service has.

use sha2::{Digest, Sha256};

use crate::cbor::{FixedBytes, Malformed, Reader, Writer};
use crate::cose::{decode_sign1, encode_sign1, verify_sign1, SIG_STRUCTURE_OVERHEAD};
use crate::ids::{CredentialId, DeliveryHash, LockId};
use crate::keys::LockDevicePublicKey;
use crate::EncodeError;

/// `external_aad` of an event.
pub const EVENT_AAD: &[u8] = b"doorman/event/v1";
/// Longest signed event.
pub const MAX_EVENT_LEN: usize = 256;
const MAX_EVENT_PAYLOAD_LEN: usize = 176;

/// A signed event as the lock stores and uploads it.
pub type SignedEvent = FixedBytes<MAX_EVENT_LEN>;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The lock was provisioned or its state reset.
    Provisioned,
    /// A presentation was granted (`cti`, delivery hash, value = use number).
    AccessGranted,
    /// A presentation was refused (value = [`crate::Refusal::code`]).
    AccessRefused,
    /// A door code was accepted (value = slot, first byte of `data` = index).
    DoorCodeAccepted,
    /// A door code was refused.
    DoorCodeRefused,
    /// The keypad locked out (value = until).
    KeypadLockedOut,
    /// The bolt was released.
    Unlocked,
    /// The door opened.
    DoorOpened,
    /// The door closed.
    DoorClosed,
    /// A camera clip was recorded (data = its SHA-256).
    CameraClip,
    /// A revocation bundle was applied (value = sequence).
    RevocationApplied,
    /// A revocation bundle was refused.
    RevocationRefused,
    /// A key update was applied (value = sequence).
    KeysUpdated,
    /// A key update was refused.
    KeyUpdateRefused,
    /// The lock lost its clock.
    ClockLost,
    /// The lock trusts its clock again (value = the time it resynchronised to).
    ClockRestored,
    /// A kind this version does not know (kept, so newer locks stay verifiable).
    Other(u16),
}

impl EventKind {
    /// The wire code.
    pub fn code(self) -> u16 {
        match self {
            EventKind::Provisioned => 1,
            EventKind::AccessGranted => 2,
            EventKind::AccessRefused => 3,
            EventKind::DoorCodeAccepted => 4,
            EventKind::DoorCodeRefused => 5,
            EventKind::KeypadLockedOut => 6,
            EventKind::Unlocked => 7,
            EventKind::DoorOpened => 8,
            EventKind::DoorClosed => 9,
            EventKind::CameraClip => 10,
            EventKind::RevocationApplied => 11,
            EventKind::RevocationRefused => 12,
            EventKind::KeysUpdated => 13,
            EventKind::KeyUpdateRefused => 14,
            EventKind::ClockLost => 15,
            EventKind::ClockRestored => 16,
            EventKind::Other(c) => c,
        }
    }

    /// From the wire code.
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => EventKind::Provisioned,
            2 => EventKind::AccessGranted,
            3 => EventKind::AccessRefused,
            4 => EventKind::DoorCodeAccepted,
            5 => EventKind::DoorCodeRefused,
            6 => EventKind::KeypadLockedOut,
            7 => EventKind::Unlocked,
            8 => EventKind::DoorOpened,
            9 => EventKind::DoorClosed,
            10 => EventKind::CameraClip,
            11 => EventKind::RevocationApplied,
            12 => EventKind::RevocationRefused,
            13 => EventKind::KeysUpdated,
            14 => EventKind::KeyUpdateRefused,
            15 => EventKind::ClockLost,
            16 => EventKind::ClockRestored,
            c => EventKind::Other(c),
        }
    }
}

/// What the lock records; the lock adds id, counter, time and chain link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    /// What happened.
    pub kind: EventKind,
    /// The credential involved, if any.
    pub credential_id: Option<CredentialId>,
    /// The delivery involved, if any.
    pub delivery_hash: Option<DeliveryHash>,
    /// A number whose meaning depends on `kind`.
    pub value: u64,
    /// 32 bytes whose meaning depends on `kind` (a clip hash, for example).
    pub data: Option<[u8; 32]>,
}

impl EventRecord {
    /// A record with only a kind.
    pub fn new(kind: EventKind) -> Self {
        Self { kind, credential_id: None, delivery_hash: None, value: 0, data: None }
    }
}

/// The position of a chain: the last event's counter, hash and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Counter of the last event (0: none).
    pub counter: u64,
    /// Hash of the last event (zeros: none).
    pub hash: [u8; 32],
    /// Time of the last event.
    pub time: u64,
}

impl ChainHead {
    /// Before the first event.
    pub const GENESIS: ChainHead = ChainHead { counter: 0, hash: [0; 32], time: 0 };
}

/// A decoded, signature-checked event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockEvent {
    /// The lock.
    pub lock_id: LockId,
    /// Its position in the chain, from 1.
    pub counter: u64,
    /// Lock time (unix seconds; never below the previous event's).
    pub time: u64,
    /// Hash of the previous event.
    pub prev_hash: [u8; 32],
    /// The lock had no trustworthy clock (`time` is then its last known time).
    pub clock_lost: bool,
    /// What happened.
    pub record: EventRecord,
    /// SHA-256 of the signed event.
    pub hash: [u8; 32],
}

pub(crate) struct EventHeader {
    pub(crate) lock_id: LockId,
    pub(crate) counter: u64,
    pub(crate) time: u64,
    pub(crate) prev_hash: [u8; 32],
    pub(crate) clock_lost: bool,
}

pub(crate) fn encode_event_payload(h: &EventHeader, rec: &EventRecord, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    w.array(10)?
        .bytes(&h.lock_id.0)?
        .u64(h.counter)?
        .u64(h.time)?
        .bytes(&h.prev_hash)?
        .bool(h.clock_lost)?
        .u64(u64::from(rec.kind.code()))?
        .opt_bytes(rec.credential_id.as_ref().map(|c| &c.0[..]))?
        .opt_bytes(rec.delivery_hash.as_ref().map(|d| &d.0[..]))?
        .u64(rec.value)?
        .opt_bytes(rec.data.as_ref().map(|d| &d[..]))?;
    Ok(w.len())
}

pub(crate) fn sign_event(
    device: &crate::keys::LockDeviceKey,
    h: &EventHeader,
    rec: &EventRecord,
) -> Result<(SignedEvent, [u8; 32]), EncodeError> {
    let mut payload = [0u8; MAX_EVENT_PAYLOAD_LEN];
    let n = encode_event_payload(h, rec, &mut payload)?;
    let payload = payload.get(..n).ok_or(EncodeError::BufferTooSmall)?;
    let signed = SignedEvent::fill_with(|out| encode_sign1(out, device.signer(), None, EVENT_AAD, payload))?;
    let hash: [u8; 32] = Sha256::digest(signed.as_bytes()).into();
    Ok((signed, hash))
}

fn decode_payload(payload: &[u8]) -> Result<(EventHeader, EventRecord), Malformed> {
    let mut r = Reader::new(payload);
    r.array_of(10)?;
    let header = EventHeader {
        lock_id: LockId(r.bytes_fixed()?),
        counter: r.u64()?,
        time: r.u64()?,
        prev_hash: r.bytes_fixed()?,
        clock_lost: r.bool()?,
    };
    let kind = u16::try_from(r.u64()?).map_err(|_| Malformed)?;
    let record = EventRecord {
        kind: EventKind::from_code(kind),
        credential_id: r.opt_bytes_fixed()?.map(CredentialId),
        delivery_hash: r.opt_bytes_fixed()?.map(DeliveryHash),
        value: r.u64()?,
        data: r.opt_bytes_fixed()?,
    };
    r.finish()?;
    Ok((header, record))
}

/// Why an event does not continue a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// Not an event.
    Malformed,
    /// Not signed by this lock's device key: forged or altered.
    BadSignature,
    /// Signed by this device key but naming another lock.
    WrongLock,
    /// At or before the head: an upload repeated (compare `hash` with the stored event
    /// of that counter to tell a harmless repeat from a fork).
    AlreadySeen {
        /// Its counter.
        counter: u64,
        /// Its hash.
        hash: [u8; 32],
    },
    /// Events are missing between the head and this one.
    Gap {
        /// Counter expected.
        expected: u64,
        /// Counter found.
        found: u64,
    },
    /// The counter follows but `prev_hash` does not match the head: history was rewritten.
    BrokenLink,
    /// Time went below the previous event's.
    TimeWentBackwards,
}

/// Decodes and checks the signature of one event (no chain checks).
pub fn decode_event(bytes: &[u8], device_key: &LockDevicePublicKey) -> Result<LockEvent, ChainError> {
    if bytes.len() > MAX_EVENT_LEN {
        return Err(ChainError::Malformed);
    }
    let msg = decode_sign1(bytes).map_err(|_| ChainError::Malformed)?;
    if msg.kid.is_some() || msg.payload.len() > MAX_EVENT_PAYLOAD_LEN {
        return Err(ChainError::Malformed);
    }
    let mut scratch = [0u8; MAX_EVENT_PAYLOAD_LEN + SIG_STRUCTURE_OVERHEAD + 16];
    if !verify_sign1(&msg, EVENT_AAD, &device_key.as_public_key(), &mut scratch) {
        return Err(ChainError::BadSignature);
    }
    let (h, record) = decode_payload(msg.payload).map_err(|_| ChainError::Malformed)?;
    Ok(LockEvent {
        lock_id: h.lock_id,
        counter: h.counter,
        time: h.time,
        prev_hash: h.prev_hash,
        clock_lost: h.clock_lost,
        record,
        hash: Sha256::digest(bytes).into(),
    })
}

/// Service side: follows one lock's event chain, event by event.
#[derive(Debug, Clone)]
pub struct EventChainVerifier {
    device_key: LockDevicePublicKey,
    lock_id: LockId,
    head: ChainHead,
}

impl EventChainVerifier {
    /// From the first event.
    pub fn new(device_key: LockDevicePublicKey, lock_id: LockId) -> Self {
        Self::resume(device_key, lock_id, ChainHead::GENESIS)
    }

    /// From a head the service stored earlier.
    pub fn resume(device_key: LockDevicePublicKey, lock_id: LockId, head: ChainHead) -> Self {
        Self { device_key, lock_id, head }
    }

    /// The last event accepted.
    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// Checks that `event` is the next one and advances; on error the head stays.
    pub fn push(&mut self, event: &[u8]) -> Result<LockEvent, ChainError> {
        let e = decode_event(event, &self.device_key)?;
        if e.lock_id != self.lock_id {
            return Err(ChainError::WrongLock);
        }
        if e.counter <= self.head.counter {
            return Err(ChainError::AlreadySeen { counter: e.counter, hash: e.hash });
        }
        let expected = self.head.counter.saturating_add(1);
        if e.counter != expected {
            return Err(ChainError::Gap { expected, found: e.counter });
        }
        if e.prev_hash != self.head.hash {
            return Err(ChainError::BrokenLink);
        }
        if e.time < self.head.time && e.record.kind != EventKind::ClockRestored {
            return Err(ChainError::TimeWentBackwards);
        }
        self.head = ChainHead { counter: e.counter, hash: e.hash, time: e.time };
        Ok(e)
    }
}

/// Service side: checks that `events` continue the chain at `start`; returns the new
/// head, or the index of the first bad event and what is wrong with it.
pub fn verify_event_chain<'a>(
    device_key: LockDevicePublicKey,
    lock_id: LockId,
    start: ChainHead,
    events: impl IntoIterator<Item = &'a [u8]>,
) -> Result<ChainHead, (usize, ChainError)> {
    let mut v = EventChainVerifier::resume(device_key, lock_id, start);
    for (i, e) in events.into_iter().enumerate() {
        v.push(e).map_err(|err| (i, err))?;
    }
    Ok(v.head())
}
