//! The replay window: which of this lock's credential sequence numbers have been used.
//!
//! Like the IPsec anti-replay window (RFC 4303 §3.4.3) it remembers the highest
//! sequence seen and the [`REPLAY_WINDOW`] numbers below it; anything older is refused
//! outright. Instead of one bit per number it keeps a use count, because a credential
//! may allow more than one use (`max_uses`). The service gives each credential for a
//! lock the next number, so the window only has to cover the credentials that can be
//! outstanding for one lock at once.

/// How many sequence numbers below the highest one are remembered.
pub const REPLAY_WINDOW: usize = 128;

/// Why a sequence number cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Below the window: possibly used, no longer known, so refused.
    TooOld,
    /// Used `max_uses` times already.
    Used,
    /// Sequence number 0 is never issued.
    Zero,
}

/// Fixed-size record of used sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest sequence number accepted so far (0: none).
    pub(crate) highest: u64,
    /// Use counts, indexed by `sequence % REPLAY_WINDOW`.
    pub(crate) uses: [u8; REPLAY_WINDOW],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self { highest: 0, uses: [0; REPLAY_WINDOW] }
    }
}

fn slot(sequence: u64) -> usize {
    // The modulus is a small power of two; the result always fits.
    usize::try_from(sequence % REPLAY_WINDOW as u64).unwrap_or(0)
}

impl ReplayWindow {
    /// Highest sequence number accepted so far (0: none).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// How many times `sequence` has been used, if it is inside the window.
    pub fn uses(&self, sequence: u64) -> Result<u8, ReplayError> {
        if sequence == 0 {
            return Err(ReplayError::Zero);
        }
        if sequence > self.highest {
            return Ok(0);
        }
        if self.highest - sequence >= REPLAY_WINDOW as u64 {
            return Err(ReplayError::TooOld);
        }
        Ok(self.uses.get(slot(sequence)).copied().unwrap_or(u8::MAX))
    }

    /// Would one more use of `sequence` be allowed? Returns the use number it would be (from 1).
    pub fn check(&self, sequence: u64, max_uses: u8) -> Result<u8, ReplayError> {
        let used = self.uses(sequence)?;
        if used >= max_uses {
            return Err(ReplayError::Used);
        }
        Ok(used.saturating_add(1))
    }

    /// Records one use of `sequence` (after [`Self::check`] allowed it).
    pub fn record(&mut self, sequence: u64) {
        if sequence == 0 {
            return;
        }
        if sequence > self.highest {
            let advance = sequence - self.highest;
            if advance >= REPLAY_WINDOW as u64 {
                self.uses = [0; REPLAY_WINDOW];
            } else {
                // Numbers highest+1 ..= sequence reuse the slots of numbers that just
                // fell out of the window.
                let mut s = self.highest;
                while s < sequence {
                    s += 1;
                    if let Some(u) = self.uses.get_mut(slot(s)) {
                        *u = 0;
                    }
                }
            }
            self.highest = sequence;
        } else if self.highest - sequence >= REPLAY_WINDOW as u64 {
            return;
        }
        if let Some(u) = self.uses.get_mut(slot(sequence)) {
            *u = u.saturating_add(1);
        }
    }
}
