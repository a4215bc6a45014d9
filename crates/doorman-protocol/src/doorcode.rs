//! Door codes for keypad-only doors: one-time, time-bounded numeric codes.
//!
//! * Per-lock secret: HKDF-SHA256 (RFC 5869) with salt `"doorman/door-code/v1"`, the
//!   service's master secret as input keying material and the 16-byte lock id as
//!   info, 32 bytes out ([`derive_door_code_secret`]). Locks never share a secret, and
//!   the master secret stays out of the database.
//! * Code: HOTP (RFC 4226) with HMAC-SHA256 as RFC 6238 allows, counter
//!   `slot * codes_per_slot + index`, where `slot = unix_time / slot_secs` and `index`
//!   tells apart the codes the service hands out in the same slot. Dynamic truncation
//!   to 31 bits, then modulo `10^digits`.
//! * The lock accepts a code of any slot from `slots_back` before to `slots_ahead`
//!   after its current one and any index below `codes_per_slot`, once: used
//!   (slot, index) pairs are remembered until they leave the window.
//! * Wrong codes: `free_attempts` are free, then each further failure locks the
//!   keypad for `base_lockout_secs`, doubling per failure up to `max_lockout_secs`. The
//!   count persists with the lock state (a power cycle does not reset it) and resets on
//!   a correct code. See [`brute_force_odds`].

use core::fmt;

use subtle::ConstantTimeEq;

use crate::ids::{hmac_sha256, LockId};
use crate::keys::KeyError;

/// Salt of the per-lock secret derivation.
pub const DOOR_CODE_KDF_SALT: &[u8] = b"doorman/door-code/v1";
/// How many used codes a lock remembers; a policy's window must fit in it.
pub const MAX_USED_CODES: usize = 32;

/// A lock's door-code secret. Never printed; compared in constant time; wiped on drop.
#[derive(Clone)]
pub struct DoorCodeSecret([u8; 32]);

impl PartialEq for DoorCodeSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for DoorCodeSecret {}

impl fmt::Debug for DoorCodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DoorCodeSecret(..)")
    }
}

impl DoorCodeSecret {
    /// From the 32 bytes provisioned into the lock.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes, for provisioning the lock.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl Drop for DoorCodeSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Service side: the door-code secret of one lock, from the master secret.
pub fn derive_door_code_secret(master: &[u8], lock_id: &LockId) -> Result<DoorCodeSecret, KeyError> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(DOOR_CODE_KDF_SALT), master);
    let mut out = [0u8; 32];
    hk.expand(&lock_id.0, &mut out).map_err(|_| KeyError)?;
    Ok(DoorCodeSecret(out))
}

/// How codes are formed and how long they stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorCodePolicy {
    slot_secs: u64,
    slots_back: u8,
    slots_ahead: u8,
    codes_per_slot: u8,
    digits: u8,
}

impl Default for DoorCodePolicy {
    /// 5-minute slots, valid for the current and two previous slots plus one ahead for
    /// clock skew (10 to 20 minutes), 4 codes per slot, 8 digits.
    fn default() -> Self {
        Self { slot_secs: 300, slots_back: 2, slots_ahead: 1, codes_per_slot: 4, digits: 8 }
    }
}

impl DoorCodePolicy {
    /// A policy; `None` unless `slot_secs >= 1`, `6 <= digits <= 9`, `codes_per_slot >= 1`
    /// and the window's codes fit in [`MAX_USED_CODES`].
    pub fn new(slot_secs: u64, slots_back: u8, slots_ahead: u8, codes_per_slot: u8, digits: u8) -> Option<Self> {
        let p = Self { slot_secs, slots_back, slots_ahead, codes_per_slot, digits };
        let fits = p.valid_codes() <= MAX_USED_CODES as u64;
        (slot_secs >= 1 && (6..=9).contains(&digits) && codes_per_slot >= 1 && fits).then_some(p)
    }

    /// Length of a slot in seconds.
    pub fn slot_secs(&self) -> u64 {
        self.slot_secs
    }

    /// Digits per code.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// Codes per slot.
    pub fn codes_per_slot(&self) -> u8 {
        self.codes_per_slot
    }

    /// How many slots before its current one a lock still accepts a code of.
    pub fn slots_back(&self) -> u8 {
        self.slots_back
    }

    /// How many slots after its current one a lock already accepts a code of.
    pub fn slots_ahead(&self) -> u8 {
        self.slots_ahead
    }

    /// The slot `unix_time` falls in.
    pub fn time_slot(&self, unix_time: u64) -> u64 {
        unix_time / self.slot_secs.max(1)
    }

    /// How many different codes a lock accepts at any moment.
    pub fn valid_codes(&self) -> u64 {
        (u64::from(self.slots_back) + u64::from(self.slots_ahead) + 1) * u64::from(self.codes_per_slot)
    }

    /// `10^digits`.
    pub fn code_space(&self) -> u64 {
        10u64.pow(u32::from(self.digits))
    }
}

/// A door code; `Display` prints it zero-padded to its number of digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DoorCode {
    value: u32,
    digits: u8,
}

impl fmt::Debug for DoorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DoorCode(..)")
    }
}

impl fmt::Display for DoorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = usize::from(self.digits))
    }
}

impl DoorCode {
    /// The numeric value.
    pub fn value(&self) -> u32 {
        self.value
    }

    /// The ASCII digits as typed on a keypad (first `digits` bytes used).
    pub fn ascii(&self) -> ([u8; 9], usize) {
        let mut out = [b'0'; 9];
        let n = usize::from(self.digits).min(9);
        let mut v = self.value;
        for d in out.iter_mut().take(n).rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        (out, n)
    }
}

fn hotp(secret: &DoorCodeSecret, counter: u64, digits: u8) -> u32 {
    let mac = hmac_sha256(&secret.0, &[&counter.to_be_bytes()]);
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    for (i, w) in word.iter_mut().enumerate() {
        *w = mac.get(offset + i).copied().unwrap_or(0);
    }
    let bin = u32::from_be_bytes(word) & 0x7fff_ffff;
    bin % 10u32.pow(u32::from(digits))
}

/// Service side: the door code for (`slot`, `index`), or `None` if `index` is outside
/// the policy.
pub fn door_code(secret: &DoorCodeSecret, slot: u64, index: u8, policy: &DoorCodePolicy) -> Option<DoorCode> {
    if index >= policy.codes_per_slot {
        return None;
    }
    let counter = slot.checked_mul(u64::from(policy.codes_per_slot))?.checked_add(u64::from(index))?;
    Some(DoorCode { value: hotp(secret, counter, policy.digits), digits: policy.digits })
}

/// How the keypad answers wrong codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadPolicy {
    free_attempts: u32,
    base_lockout_secs: u64,
    max_lockout_secs: u64,
}

impl Default for KeypadPolicy {
    /// 5 free attempts, then 30 s doubling to at most 15 minutes.
    fn default() -> Self {
        Self { free_attempts: 5, base_lockout_secs: 30, max_lockout_secs: 900 }
    }
}

impl KeypadPolicy {
    /// A policy; `None` unless `1 <= base_lockout_secs <= max_lockout_secs`.
    pub fn new(free_attempts: u32, base_lockout_secs: u64, max_lockout_secs: u64) -> Option<Self> {
        (base_lockout_secs >= 1 && base_lockout_secs <= max_lockout_secs).then_some(Self {
            free_attempts,
            base_lockout_secs,
            max_lockout_secs,
        })
    }

    /// Lockout after the `failures`-th consecutive wrong code (0 while still free).
    pub fn lockout_after(&self, failures: u32) -> u64 {
        if failures <= self.free_attempts {
            return 0;
        }
        let doublings = failures - self.free_attempts - 1;
        let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.base_lockout_secs.saturating_mul(factor).min(self.max_lockout_secs)
    }
}

/// A remembered used code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UsedCode {
    pub(crate) in_use: bool,
    pub(crate) index: u8,
    pub(crate) slot: u64,
}

/// The keypad's persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeypadState {
    pub(crate) failures: u32,
    pub(crate) locked_until: u64,
    pub(crate) used: [UsedCode; MAX_USED_CODES],
}

impl KeypadState {
    /// Consecutive wrong codes so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The keypad refuses input before this time.
    pub fn locked_until(&self) -> u64 {
        self.locked_until
    }
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorCodeRefusal {
    /// The lock has no trustworthy time (lost, or below its floor): codes cannot be checked.
    NoTrustedTime,
    /// The keypad is locked out; the input was not looked at.
    LockedOut,
    /// Not `digits` ASCII digits.
    Malformed,
    /// Not a valid code now.
    WrongCode,
    /// A valid code that was already used.
    Reused,
}

/// The answer to a code typed on the keypad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorCodeVerdict {
    /// Open.
    Accepted {
        /// The code's slot.
        slot: u64,
        /// The code's index in the slot.
        index: u8,
    },
    /// Stay shut.
    Refused {
        /// Why.
        reason: DoorCodeRefusal,
        /// When the keypad accepts input again, if it is locked out.
        locked_until: Option<u64>,
    },
}

fn parse_digits(entered: &[u8], digits: u8) -> Option<u32> {
    if entered.len() != usize::from(digits) {
        return None;
    }
    let mut v: u32 = 0;
    for c in entered {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// Checks `entered` against the codes valid at `now`; updates `keypad`.
pub(crate) fn check_code(
    keypad: &mut KeypadState,
    secret: &DoorCodeSecret,
    entered: &[u8],
    now: u64,
    policy: &DoorCodePolicy,
    keypad_policy: &KeypadPolicy,
) -> DoorCodeVerdict {
    if now < keypad.locked_until {
        return DoorCodeVerdict::Refused {
            reason: DoorCodeRefusal::LockedOut,
            locked_until: Some(keypad.locked_until),
        };
    }
    let current = policy.time_slot(now);
    let first = current.saturating_sub(u64::from(policy.slots_back));
    let last = current.saturating_add(u64::from(policy.slots_ahead));
    let reason = match parse_digits(entered, policy.digits) {
        None => DoorCodeRefusal::Malformed,
        Some(value) => {
            let mut matched = None;
            for slot in first..=last {
                for index in 0..policy.codes_per_slot {
                    if let Some(code) = door_code(secret, slot, index, policy) {
                        if bool::from(code.value.ct_eq(&value)) {
                            matched = Some((slot, index));
                        }
                    }
                }
            }
            match matched {
                None => DoorCodeRefusal::WrongCode,
                Some((slot, index)) => {
                    let used = keypad.used.iter().any(|u| u.in_use && u.slot == slot && u.index == index);
                    if used {
                        DoorCodeRefusal::Reused
                    } else {
                        // Forget codes that left the window, then remember this one.
                        for u in keypad.used.iter_mut() {
                            if u.in_use && u.slot < first {
                                *u = UsedCode::default();
                            }
                        }
                        if let Some(free) = keypad.used.iter_mut().find(|u| !u.in_use) {
                            *free = UsedCode { in_use: true, index, slot };
                            keypad.failures = 0;
                            return DoorCodeVerdict::Accepted { slot, index };
                        }
                        // Cannot remember it, so cannot accept it only once.
                        DoorCodeRefusal::Reused
                    }
                }
            }
        }
    };
    keypad.failures = keypad.failures.saturating_add(1);
    let lockout = keypad_policy.lockout_after(keypad.failures);
    let locked_until = if lockout > 0 {
        keypad.locked_until = now.saturating_add(lockout);
        Some(keypad.locked_until)
    } else {
        None
    };
    DoorCodeVerdict::Refused { reason, locked_until }
}

/// What a keypad attacker can achieve in a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForceOdds {
    /// Most wrong guesses the lockout lets through in 24 hours (guessing instantly
    /// whenever the keypad is open).
    pub guesses_per_day: u64,
    /// Codes the lock accepts at any moment.
    pub valid_codes: u64,
    /// Possible codes.
    pub code_space: u64,
}

impl BruteForceOdds {
    /// Upper bound on the chance that a day of guessing opens the door.
    pub fn probability_per_day(&self) -> f64 {
        (self.guesses_per_day as f64) * (self.valid_codes as f64) / (self.code_space as f64)
    }
}

/// Computes [`BruteForceOdds`] for a pair of policies.
pub fn brute_force_odds(policy: &DoorCodePolicy, keypad: &KeypadPolicy) -> BruteForceOdds {
    const DAY: u64 = 86_400;
    let mut t = 0u64;
    let mut failures = 0u32;
    let mut guesses = 0u64;
    while t < DAY && guesses < DAY * 10 {
        guesses += 1;
        failures = failures.saturating_add(1);
        t = t.saturating_add(keypad.lockout_after(failures));
    }
    BruteForceOdds { guesses_per_day: guesses, valid_codes: policy.valid_codes(), code_space: policy.code_space() }
}
