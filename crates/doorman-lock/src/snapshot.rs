//! The bytes a lock persists: its protocol state, what the lock adds, and its event ring.
//!
//! ```text
//! "DMLK" | version u8 = 1 | acked u64 | clock_offset i64 | suppressed u32 | dropped u32 | events u16
//! LockState::to_bytes()                          (fixed size, its own checksum inside)
//! events x { len u16 | signed event [len] }      (the unacknowledged events, oldest first)
//! checksum [8] = SHA-256 of everything before, first 8 bytes
//! ```
//!
//! Integers are big-endian. Reading it back re-checks every event's signature and
//! that the events are exactly `acked + 1 ..= LockState::event_head().counter`, ending
//! at the state's last event hash: a snapshot can only be the one the lock wrote.

use doorman_protocol::events::MAX_EVENT_LEN;
use doorman_protocol::{decode_event, LockDevicePublicKey, LockState};
use sha2::{Digest, Sha256};

use crate::ring::EventRing;
use crate::LockError;

const MAGIC: &[u8; 4] = b"DMLK";
const VERSION: u8 = 1;
/// Length of the lock's own header.
pub const HEADER_LEN: usize = 4 + 1 + 8 + 8 + 4 + 4 + 2;
/// Length of the checksum.
pub const CHECKSUM_LEN: usize = 8;
/// The persistent state without events: header, protocol state, checksum.
pub const STATE_LEN: usize = HEADER_LEN + LockState::ENCODED_LEN + CHECKSUM_LEN;
/// The largest snapshot: the state plus a full ring of the longest events.
pub const MAX_SNAPSHOT_LEN: usize = STATE_LEN + crate::EVENT_RING_CAPACITY * (2 + MAX_EVENT_LEN);

// A lock maker budgets 4 KiB of flash for the state (the event log lives beside it).
const _: () = assert!(STATE_LEN <= 4096);

/// What the lock persists besides the protocol state and the events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extras {
    /// The service acknowledged every event up to here.
    pub(crate) acked: u64,
    /// Added to the host clock to get the lock's time (set by signed time statements).
    pub(crate) clock_offset: i64,
    /// Low-priority events not recorded one by one since the last summary.
    pub(crate) suppressed: u32,
    /// Events that found the ring full (never an entry: entries are refused first).
    pub(crate) dropped: u32,
}

pub(crate) fn header(extras: &Extras, events: usize) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let count = u16::try_from(events).unwrap_or(u16::MAX).to_be_bytes();
    let fields: [&[u8]; 7] = [
        MAGIC,
        &[VERSION],
        &extras.acked.to_be_bytes(),
        &extras.clock_offset.to_be_bytes(),
        &extras.suppressed.to_be_bytes(),
        &extras.dropped.to_be_bytes(),
        &count,
    ];
    let mut pos = 0;
    for f in fields {
        if let Some(dst) = out.get_mut(pos..pos + f.len()) {
            dst.copy_from_slice(f);
        }
        pos += f.len();
    }
    out
}

pub(crate) fn checksum<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; CHECKSUM_LEN] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    for (d, s) in out.iter_mut().zip(digest.iter()) {
        *d = *s;
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LockError> {
        let end = self.pos.checked_add(n).ok_or(LockError::Corrupt("length"))?;
        let out = self.buf.get(self.pos..end).ok_or(LockError::Corrupt("truncated"))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LockError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| LockError::Corrupt("truncated"))
    }
}

pub(crate) struct Restored {
    pub(crate) state: LockState,
    pub(crate) ring: EventRing,
    pub(crate) extras: Extras,
}

/// Reads a snapshot back, checking it against the lock's device key.
pub(crate) fn decode(bytes: &[u8], device: &LockDevicePublicKey) -> Result<Restored, LockError> {
    let body_len = bytes.len().checked_sub(CHECKSUM_LEN).ok_or(LockError::Corrupt("truncated"))?;
    let (body, sum) = bytes.split_at(body_len);
    if checksum([body]) != sum {
        return Err(LockError::Corrupt("checksum"));
    }
    let mut r = Reader { buf: body, pos: 0 };
    if r.take(4)? != MAGIC || r.array::<1>()? != [VERSION] {
        return Err(LockError::Corrupt("not a lock snapshot"));
    }
    let extras = Extras {
        acked: u64::from_be_bytes(r.array()?),
        clock_offset: i64::from_be_bytes(r.array()?),
        suppressed: u32::from_be_bytes(r.array()?),
        dropped: u32::from_be_bytes(r.array()?),
    };
    let count = usize::from(u16::from_be_bytes(r.array()?));
    let state =
        LockState::from_bytes(r.take(LockState::ENCODED_LEN)?).map_err(|_| LockError::Corrupt("protocol state"))?;
    let head = state.event_head();
    let mut ring = EventRing::default();
    let mut expected = extras.acked;
    let mut last_hash = None;
    for _ in 0..count {
        let len = usize::from(u16::from_be_bytes(r.array()?));
        let signed = r.take(len)?;
        let event = decode_event(signed, device).map_err(|_| LockError::Corrupt("event signature"))?;
        expected = expected.checked_add(1).ok_or(LockError::Corrupt("counter"))?;
        if event.lock_id != state.lock_id() || event.counter != expected {
            return Err(LockError::Corrupt("event sequence"));
        }
        ring.push(event.counter, signed).map_err(|_| LockError::Corrupt("too many events"))?;
        last_hash = Some(event.hash);
    }
    if r.pos != body.len() || expected != head.counter {
        return Err(LockError::Corrupt("events do not end at the state's head"));
    }
    if last_hash.is_some_and(|h| h != head.hash) {
        return Err(LockError::Corrupt("last event is not the state's head"));
    }
    Ok(Restored { state, ring, extras })
}
