//! The bounded event ring: every signed event the service has not acknowledged yet.
//!
//! Fixed capacity, no allocation. Events enter in counter order and leave only from the
//! front, only when the service acknowledges up to a counter ([`EventRing::trim_through`]);
//! nothing is ever overwritten. A full ring refuses the push and the lock decides what
//! that means (see [`crate::Lock`]: entries are refused long before it is full).

use doorman_protocol::events::MAX_EVENT_LEN;

/// Events the ring holds.
pub const EVENT_RING_CAPACITY: usize = 40;

/// One stored event: its counter, then the signed bytes behind a 2-byte big-endian
/// length, exactly as they are persisted.
#[derive(Clone, Copy)]
struct Slot {
    counter: u64,
    framed: [u8; 2 + MAX_EVENT_LEN],
}

impl Slot {
    const EMPTY: Slot = Slot { counter: 0, framed: [0; 2 + MAX_EVENT_LEN] };

    fn len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.framed[0], self.framed[1]]))
    }

    fn framed(&self) -> &[u8] {
        self.framed.get(..2 + self.len()).unwrap_or(&[])
    }

    fn bytes(&self) -> &[u8] {
        self.framed.get(2..2 + self.len()).unwrap_or(&[])
    }
}

/// The ring is full, or the event does not fit a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFull;

/// Unacknowledged signed events, oldest first.
#[derive(Clone)]
pub struct EventRing {
    slots: [Slot; EVENT_RING_CAPACITY],
    start: usize,
    len: usize,
}

impl core::fmt::Debug for EventRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventRing")
            .field("len", &self.len)
            .field("first", &self.first_counter())
            .field("last", &self.last_counter())
            .finish()
    }
}

impl Default for EventRing {
    fn default() -> Self {
        Self { slots: [Slot::EMPTY; EVENT_RING_CAPACITY], start: 0, len: 0 }
    }
}

impl EventRing {
    /// Events held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is waiting for an acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    pub fn free(&self) -> usize {
        EVENT_RING_CAPACITY - self.len
    }

    fn slot(&self, i: usize) -> Option<&Slot> {
        if i >= self.len {
            return None;
        }
        self.slots.get((self.start + i) % EVENT_RING_CAPACITY)
    }

    /// Counter of the oldest event held.
    pub fn first_counter(&self) -> Option<u64> {
        self.slot(0).map(|s| s.counter)
    }

    /// Counter of the newest event held.
    pub fn last_counter(&self) -> Option<u64> {
        self.len.checked_sub(1).and_then(|i| self.slot(i)).map(|s| s.counter)
    }

    /// Appends an event (its counter must follow the last one; the lock guarantees it).
    pub fn push(&mut self, counter: u64, signed: &[u8]) -> Result<(), RingFull> {
        if self.len >= EVENT_RING_CAPACITY || signed.len() > MAX_EVENT_LEN {
            return Err(RingFull);
        }
        let len = u16::try_from(signed.len()).map_err(|_| RingFull)?;
        let index = (self.start + self.len) % EVENT_RING_CAPACITY;
        let slot = self.slots.get_mut(index).ok_or(RingFull)?;
        slot.counter = counter;
        slot.framed = [0; 2 + MAX_EVENT_LEN];
        let (head, body) = slot.framed.split_at_mut(2);
        head.copy_from_slice(&len.to_be_bytes());
        body.get_mut(..signed.len()).ok_or(RingFull)?.copy_from_slice(signed);
        self.len += 1;
        Ok(())
    }

    /// Drops every event with a counter at or below `counter`; returns how many.
    pub fn trim_through(&mut self, counter: u64) -> usize {
        let mut dropped = 0;
        while let Some(first) = self.slot(0) {
            if first.counter > counter {
                break;
            }
            if let Some(s) = self.slots.get_mut(self.start) {
                *s = Slot::EMPTY;
            }
            self.start = (self.start + 1) % EVENT_RING_CAPACITY;
            self.len -= 1;
            dropped += 1;
        }
        if self.len == 0 {
            self.start = 0;
        }
        dropped
    }

    /// The events held, oldest first, as (counter, signed bytes).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        (0..self.len).filter_map(move |i| self.slot(i).map(|s| (s.counter, s.bytes())))
    }

    /// The persisted form of each event (length-prefixed), oldest first.
    pub(crate) fn framed(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len).filter_map(move |i| self.slot(i).map(Slot::framed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_trim_wraps_around_and_refuses_when_full() {
        let mut ring = EventRing::default();
        let mut next = 1u64;
        for round in 0..5 {
            while ring.free() > 0 {
                ring.push(next, &[round as u8; 10]).unwrap();
                next += 1;
            }
            assert_eq!(ring.push(next, b"x"), Err(RingFull));
            let first = ring.first_counter().unwrap();
            assert_eq!(ring.trim_through(first + 6), 7);
            let counters: Vec<u64> = ring.iter().map(|(c, _)| c).collect();
            assert_eq!(counters, (first + 7..next).collect::<Vec<_>>());
        }
        assert_eq!(ring.trim_through(u64::MAX), EVENT_RING_CAPACITY - 7);
        assert!(ring.is_empty());
        assert_eq!(ring.push(1, &[0; MAX_EVENT_LEN + 1]), Err(RingFull));
    }
}
