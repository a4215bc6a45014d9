//! Trust anchors: the few issuer keys a lock trusts, by id, and the signed key update
//! that adds or retires them (rotation without a site visit).
//!
//! ```text
//! key update payload = [ sequence uint, [ op, ... ] ]
//! op = [ 0, kid bstr(8), alg int, public key bstr(32 | 33 | 65), usage uint ]   ; add
//!    / [ 1, kid bstr(8) ]                                                     ; retire
//! signed = COSE_Sign1 by a trusted key with usage KEY_UPDATE, external_aad = "doorman/key-update/v1"
//! ```
//!
//! A lock applies an update only if its sequence is higher than the one it holds,
//! atomically (all operations or none). A retired key id is remembered and never comes
//! back. The service makes each update *cumulative* (it re-states every key that should
//! be active and every retirement), so a lock that missed updates catches up with the
//! latest one alone.

use crate::cbor::{FixedBytes, Malformed, Reader, Writer};
use crate::cose::{encode_issuer_sign1, verify_sign1, Sign1, SIG_STRUCTURE_OVERHEAD};
use crate::keys::{Algorithm, IssuerSigner, KeyId, KeyUsage, PublicKey, TrustedKey};
use crate::EncodeError;

/// How many key ids a lock remembers, active and retired together.
pub const MAX_TRUSTED_KEYS: usize = 8;
/// Most operations in one key update.
pub const MAX_KEY_UPDATE_OPS: usize = 16;
/// Longest key update a lock accepts.
pub const MAX_KEY_UPDATE_LEN: usize = 1536;
/// `external_aad` of a key update.
pub const KEY_UPDATE_AAD: &[u8] = b"doorman/key-update/v1";

/// An encoded key update.
pub type KeyUpdate = FixedBytes<MAX_KEY_UPDATE_LEN>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrustSlot {
    Empty,
    Active(TrustedKey),
    Retired(KeyId),
}

/// What a lock knows about a key id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Never heard of it.
    Unknown,
    /// It was trusted and has been retired.
    Retired,
    /// Trusted.
    Active(TrustedKey),
}

/// The trust anchors a lock holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    pub(crate) slots: [TrustSlot; MAX_TRUSTED_KEYS],
    pub(crate) update_sequence: u64,
}

/// Why a set of trust anchors or a key update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUpdateError {
    /// Not a key update.
    Malformed,
    /// Signed by a key id the lock does not know.
    UnknownKey,
    /// Signed by a retired key.
    RetiredKey,
    /// The signing key may not sign key updates, or its algorithm does not match.
    KeyNotAllowed,
    /// The signature does not verify.
    BadSignature,
    /// Not newer than what the lock holds.
    Stale {
        /// Sequence the lock holds.
        held: u64,
        /// Sequence offered.
        offered: u64,
    },
    /// A key id is already bound to different key material.
    KeyConflict,
    /// More key ids than a lock can remember.
    TooManyKeys,
    /// After the update no key could sign a further update: refused so a lock can
    /// never be locked out of rotation.
    NoUpdateKeyLeft,
}

/// Why a signed message's signer is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    Malformed,
    UnknownKey,
    RetiredKey,
    KeyNotAllowed,
    BadSignature,
}

impl From<AuthError> for KeyUpdateError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed => KeyUpdateError::Malformed,
            AuthError::UnknownKey => KeyUpdateError::UnknownKey,
            AuthError::RetiredKey => KeyUpdateError::RetiredKey,
            AuthError::KeyNotAllowed => KeyUpdateError::KeyNotAllowed,
            AuthError::BadSignature => KeyUpdateError::BadSignature,
        }
    }
}

impl TrustStore {
    /// The anchors a lock is provisioned with (key update sequence 0). At least one
    /// key must be allowed to sign key updates.
    pub fn new(keys: &[TrustedKey]) -> Result<Self, KeyUpdateError> {
        let mut store = TrustStore { slots: [TrustSlot::Empty; MAX_TRUSTED_KEYS], update_sequence: 0 };
        for key in keys {
            store.add(*key)?;
        }
        store.check_update_key_left()?;
        Ok(store)
    }

    /// The key update sequence the lock holds.
    pub fn update_sequence(&self) -> u64 {
        self.update_sequence
    }

    /// What the lock knows about `kid`.
    pub fn status(&self, kid: &KeyId) -> KeyStatus {
        for slot in &self.slots {
            match slot {
                TrustSlot::Active(k) if k.kid == *kid => return KeyStatus::Active(*k),
                TrustSlot::Retired(r) if r == kid => return KeyStatus::Retired,
                _ => {}
            }
        }
        KeyStatus::Unknown
    }

    /// The active keys.
    pub fn active_keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.slots.iter().filter_map(|s| match s {
            TrustSlot::Active(k) => Some(k),
            _ => None,
        })
    }

    /// Checks who signed `msg`, then the signature, building the Sig_structure in `scratch`.
    pub(crate) fn authenticate(
        &self,
        msg: &Sign1<'_>,
        aad: &[u8],
        usage: KeyUsage,
        scratch: &mut [u8],
    ) -> Result<TrustedKey, AuthError> {
        let kid = msg.kid.ok_or(AuthError::Malformed)?;
        let key = match self.status(&kid) {
            KeyStatus::Unknown => return Err(AuthError::UnknownKey),
            KeyStatus::Retired => return Err(AuthError::RetiredKey),
            KeyStatus::Active(k) => k,
        };
        if !key.usage.contains(usage) || key.key.algorithm() != msg.alg {
            return Err(AuthError::KeyNotAllowed);
        }
        if !verify_sign1(msg, aad, &key.key, scratch) {
            return Err(AuthError::BadSignature);
        }
        Ok(key)
    }

    fn add(&mut self, key: TrustedKey) -> Result<(), KeyUpdateError> {
        match self.status(&key.kid) {
            KeyStatus::Retired => return Ok(()),
            KeyStatus::Active(existing) if existing.key != key.key => return Err(KeyUpdateError::KeyConflict),
            KeyStatus::Active(_) => {
                for slot in self.slots.iter_mut() {
                    if let TrustSlot::Active(k) = slot {
                        if k.kid == key.kid {
                            k.usage = key.usage;
                        }
                    }
                }
                return Ok(());
            }
            KeyStatus::Unknown => {}
        }
        // An empty slot, else the slot of a retired id (forgetting that retirement: the
        // id then reads as unknown, which a lock refuses just the same).
        let slot = match self.slots.iter_mut().find(|s| **s == TrustSlot::Empty) {
            Some(s) => s,
            None => {
                self.slots.iter_mut().find(|s| matches!(s, TrustSlot::Retired(_))).ok_or(KeyUpdateError::TooManyKeys)?
            }
        };
        *slot = TrustSlot::Active(key);
        Ok(())
    }

    fn retire(&mut self, kid: KeyId) -> Result<(), KeyUpdateError> {
        match self.status(&kid) {
            KeyStatus::Retired => Ok(()),
            KeyStatus::Active(_) => {
                for slot in self.slots.iter_mut() {
                    if matches!(slot, TrustSlot::Active(k) if k.kid == kid) {
                        *slot = TrustSlot::Retired(kid);
                    }
                }
                Ok(())
            }
            KeyStatus::Unknown => {
                // Remember the retirement if there is room, so the id can never be added.
                if let Some(slot) = self.slots.iter_mut().find(|s| **s == TrustSlot::Empty) {
                    *slot = TrustSlot::Retired(kid);
                }
                Ok(())
            }
        }
    }

    fn check_update_key_left(&self) -> Result<(), KeyUpdateError> {
        if self.active_keys().any(|k| k.usage.contains(KeyUsage::KEY_UPDATE)) {
            Ok(())
        } else {
            Err(KeyUpdateError::NoUpdateKeyLeft)
        }
    }

    /// Applies a signed key update; on any error nothing changes.
    pub fn apply_update(&mut self, update: &[u8]) -> Result<KeyUpdateApplied, KeyUpdateError> {
        if update.len() > MAX_KEY_UPDATE_LEN {
            return Err(KeyUpdateError::Malformed);
        }
        let msg = crate::cose::decode_sign1(update).map_err(|_| KeyUpdateError::Malformed)?;
        let mut scratch = [0u8; MAX_KEY_UPDATE_LEN + SIG_STRUCTURE_OVERHEAD];
        self.authenticate(&msg, KEY_UPDATE_AAD, KeyUsage::KEY_UPDATE, &mut scratch)?;

        let mut r = Reader::new(msg.payload);
        let malformed = |_: Malformed| KeyUpdateError::Malformed;
        r.array_of(2).map_err(malformed)?;
        let sequence = r.u64().map_err(malformed)?;
        if sequence <= self.update_sequence {
            return Err(KeyUpdateError::Stale { held: self.update_sequence, offered: sequence });
        }
        let n = r.array().map_err(malformed)?;
        if n > MAX_KEY_UPDATE_OPS as u64 {
            return Err(KeyUpdateError::Malformed);
        }
        let mut next = self.clone();
        for _ in 0..n {
            match decode_op(&mut r).map_err(malformed)? {
                KeyUpdateOp::Add(key) => next.add(key)?,
                KeyUpdateOp::Retire(kid) => next.retire(kid)?,
            }
        }
        r.finish().map_err(malformed)?;
        next.check_update_key_left()?;
        next.update_sequence = sequence;
        *self = next;
        Ok(KeyUpdateApplied { sequence, active_keys: self.active_keys().count() })
    }
}

/// A key update was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUpdateApplied {
    /// The sequence now held.
    pub sequence: u64,
    /// How many keys are active after it.
    pub active_keys: usize,
}

/// One change to the trust anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUpdateOp {
    /// Trust this key (or change the usage of an active key with the same id and material).
    Add(TrustedKey),
    /// Stop trusting this key id, for good.
    Retire(KeyId),
}

fn decode_op(r: &mut Reader<'_>) -> Result<KeyUpdateOp, Malformed> {
    let n = r.array()?;
    match (n, r.u64()?) {
        (5, 0) => {
            let kid = KeyId(r.bytes_fixed()?);
            let alg = Algorithm::from_cose_id(r.i64()?).ok_or(Malformed)?;
            let key = PublicKey::from_bytes(alg, r.bytes()?).map_err(|_| Malformed)?;
            let usage = KeyUsage::from_bits(r.u8()?).ok_or(Malformed)?;
            Ok(KeyUpdateOp::Add(TrustedKey { kid, key, usage }))
        }
        (2, 1) => Ok(KeyUpdateOp::Retire(KeyId(r.bytes_fixed()?))),
        _ => Err(Malformed),
    }
}

/// Signs a key update with `key` (which the locks must trust with usage KEY_UPDATE).
pub fn issue_key_update(
    key: &(impl IssuerSigner + ?Sized),
    sequence: u64,
    ops: &[KeyUpdateOp],
) -> Result<KeyUpdate, EncodeError> {
    if ops.len() > MAX_KEY_UPDATE_OPS {
        return Err(EncodeError::TooManyEntries);
    }
    let mut payload = [0u8; MAX_KEY_UPDATE_LEN];
    let n = {
        let mut w = Writer::new(&mut payload);
        w.array(2)?.u64(sequence)?.array(ops.len() as u64)?;
        for op in ops {
            match op {
                KeyUpdateOp::Add(k) => {
                    w.array(5)?
                        .u64(0)?
                        .bytes(&k.kid.0)?
                        .i64(k.key.algorithm().cose_id())?
                        .bytes(k.key.as_bytes())?
                        .u64(u64::from(k.usage.bits()))?;
                }
                KeyUpdateOp::Retire(kid) => {
                    w.array(2)?.u64(1)?.bytes(&kid.0)?;
                }
            }
        }
        w.len()
    };
    let payload = payload.get(..n).ok_or(EncodeError::BufferTooSmall)?;
    KeyUpdate::fill_with(|out| encode_issuer_sign1(out, key, KEY_UPDATE_AAD, payload))
}
