//! The lock's decision: one function, one typed verdict.
//!
//! [`LockState::verify_presentation`] checks, in this order, and stops at the first
//! failure:
//!
//! 1. **Issuer**: the `kid` is a trusted, active key allowed to sign credentials, the
//!    `alg` is that key's, and the COSE signature verifies. Nothing in the credential
//!    is read before this, so every later reason is about a genuine credential and a
//!    forger learns nothing but "bad signature".
//! 2. **Audience**: `aud` is this lock.
//! 3. **Time**: lifetime within the configured maximum; then, with a trusted clock at
//!    or above the time floor, `nbf - skew <= now < exp + skew`. Without one (clock lost
//!    or below the floor) only a credential bound to this challenge's nonce is accepted:
//!    the nonce proves it was issued after the challenge.
//! 4. **Revocation**: epoch not below the lock's, `cti` not in the revoked list.
//! 5. **Replay**: the lock sequence number is inside the window and has uses left.
//! 6. **Possession**: the presentation answers the lock's latest challenge (counter,
//!    age, nonce binding) and the handheld key in `cnf` signed it. Last, because it is
//!    the second signature check and only matters for a credential that passed
//!    everything else.
//!
//! Only when all pass does the lock record the use in its replay window and raise its
//! time floor; a refusal changes nothing but consumes the challenge.

use core::fmt;

use crate::challenge::{decode_presentation, possession_input, PendingChallenge, POSSESSION_INPUT_LEN};
use crate::cose::{decode_sign1, SIG_STRUCTURE_OVERHEAD};
use crate::credential::{decode_claims, CredentialClaims, MAX_CREDENTIAL_LEN};
use crate::ids::{CredentialId, DeliveryHash, LockId};
use crate::keys::{verify_p256, KeyId, KeyUsage};
use crate::replay::ReplayError;
use crate::state::LockState;
use crate::trust::AuthError;

/// Tolerances of the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyConfig {
    /// Allowed difference between the lock's clock and the issuer's, for `nbf`/`exp`.
    pub clock_skew_secs: u64,
    /// How long a challenge may be answered after the lock made it.
    pub challenge_ttl_secs: u64,
    /// Longest `exp - nbf` a lock accepts: bounds the damage of an issuer mistake.
    pub max_credential_lifetime_secs: u64,
}

impl Default for VerifyConfig {
    /// 60 s skew, 120 s to answer a challenge, credentials of at most one hour.
    fn default() -> Self {
        Self { clock_skew_secs: 60, challenge_ttl_secs: 120, max_credential_lifetime_secs: 3600 }
    }
}

/// Why a lock stays shut. The numeric codes are stable (they go into events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The presentation or credential is not well formed.
    Malformed,
    /// The issuer key id is not trusted.
    UnknownKey,
    /// The issuer key id was retired.
    RetiredKey,
    /// The key may not sign credentials, or the `alg` is not the key's.
    KeyNotAllowed,
    /// The issuer signature does not verify.
    BadSignature,
    /// For another lock.
    WrongAudience,
    /// The lock's time is below its floor (rolled back) and the credential is not
    /// bound to the challenge nonce.
    ClockBelowFloor,
    /// The lock lost its clock and the credential is not bound to the challenge nonce.
    NonceRequired,
    /// Before `nbf`.
    NotYetValid,
    /// At or after `exp`.
    Expired,
    /// `exp - nbf` longer than the lock allows.
    LifetimeTooLong,
    /// Issued under a revocation epoch the lock has moved past.
    EpochRevoked,
    /// Its id is revoked.
    Revoked,
    /// Its sequence number is below the replay window.
    ReplayTooOld,
    /// Used up.
    Replayed,
    /// Not an answer to the lock's latest challenge.
    StaleChallenge,
    /// The challenge is too old.
    ChallengeExpired,
    /// Bound to another challenge's nonce.
    NonceMismatch,
    /// The handheld signature does not verify: the credential was copied without the key.
    BadPossessionProof,
}

impl Refusal {
    /// Every reason, in code order.
    pub const ALL: [Refusal; 19] = [
        Refusal::Malformed,
        Refusal::UnknownKey,
        Refusal::RetiredKey,
        Refusal::KeyNotAllowed,
        Refusal::BadSignature,
        Refusal::WrongAudience,
        Refusal::ClockBelowFloor,
        Refusal::NonceRequired,
        Refusal::NotYetValid,
        Refusal::Expired,
        Refusal::LifetimeTooLong,
        Refusal::EpochRevoked,
        Refusal::Revoked,
        Refusal::ReplayTooOld,
        Refusal::Replayed,
        Refusal::StaleChallenge,
        Refusal::ChallengeExpired,
        Refusal::NonceMismatch,
        Refusal::BadPossessionProof,
    ];

    /// Stable numeric code (1..=19).
    pub fn code(self) -> u16 {
        let mut code = 0u16;
        for (i, r) in Refusal::ALL.iter().enumerate() {
            if *r == self {
                code = u16::try_from(i + 1).unwrap_or(0);
            }
        }
        code
    }

    /// From the numeric code.
    pub fn from_code(code: u16) -> Option<Self> {
        Refusal::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::RetiredKey => "retired_key",
            Refusal::KeyNotAllowed => "key_not_allowed",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::ClockBelowFloor => "clock_below_floor",
            Refusal::NonceRequired => "nonce_required",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Expired => "expired",
            Refusal::LifetimeTooLong => "lifetime_too_long",
            Refusal::EpochRevoked => "epoch_revoked",
            Refusal::Revoked => "revoked",
            Refusal::ReplayTooOld => "replay_too_old",
            Refusal::Replayed => "replayed",
            Refusal::StaleChallenge => "stale_challenge",
            Refusal::ChallengeExpired => "challenge_expired",
            Refusal::NonceMismatch => "nonce_mismatch",
            Refusal::BadPossessionProof => "bad_possession_proof",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed => Refusal::Malformed,
            AuthError::UnknownKey => Refusal::UnknownKey,
            AuthError::RetiredKey => Refusal::RetiredKey,
            AuthError::KeyNotAllowed => Refusal::KeyNotAllowed,
            AuthError::BadSignature => Refusal::BadSignature,
        }
    }
}

/// What a lock grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The lock (door) opened.
    pub lock_id: LockId,
    /// The credential's `cti`.
    pub credential_id: CredentialId,
    /// The delivery it was for.
    pub delivery_hash: DeliveryHash,
    /// The issuer key that signed it.
    pub issuer_key_id: KeyId,
    /// Its sequence number at this lock.
    pub lock_sequence: u64,
    /// Which use this was (from 1).
    pub use_number: u8,
    /// Uses it allows.
    pub max_uses: u8,
    /// Its `nbf`.
    pub not_before: u64,
    /// Its `exp`.
    pub expires_at: u64,
    /// Its `iat`.
    pub issued_at: u64,
    /// It was bound to the challenge nonce.
    pub nonce_bound: bool,
    /// Set when the lock had no trusted time: the issuer's `iat`, which the nonce proves
    /// fresh; the lock may resynchronise to it ([`LockState::resync_clock`]).
    pub clock_hint: Option<u64>,
}

/// The lock's answer to a presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Open.
    Granted(Grant),
    /// Stay shut.
    Refused(Refusal),
}

impl Verdict {
    /// The grant, if granted.
    pub fn granted(&self) -> Option<&Grant> {
        match self {
            Verdict::Granted(g) => Some(g),
            Verdict::Refused(_) => None,
        }
    }

    /// The reason, if refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Verdict::Granted(_) => None,
            Verdict::Refused(r) => Some(*r),
        }
    }
}

/// A credential whose issuer signature checked out (step 1 alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedCredential<'a> {
    /// The issuer key that signed it.
    pub key_id: KeyId,
    /// Its claims.
    pub claims: CredentialClaims<'a>,
}

impl LockState {
    /// Step 1 alone: trusted issuer key and signature, then the claims. Used by
    /// [`Self::verify_presentation`]; exposed for tools and benchmarks.
    pub fn authenticate_credential<'c>(&self, credential: &'c [u8]) -> Result<AuthenticatedCredential<'c>, Refusal> {
        if credential.len() > MAX_CREDENTIAL_LEN {
            return Err(Refusal::Malformed);
        }
        let msg = decode_sign1(credential).map_err(|_| Refusal::Malformed)?;
        let mut scratch = [0u8; MAX_CREDENTIAL_LEN + SIG_STRUCTURE_OVERHEAD];
        let key = self.trust.authenticate(&msg, &[], KeyUsage::CREDENTIALS, &mut scratch)?;
        let claims = decode_claims(msg.payload).map_err(|_| Refusal::Malformed)?;
        Ok(AuthenticatedCredential { key_id: key.kid, claims })
    }

    /// Verifies a presentation against the challenge it answers, at lock time `now`.
    ///
    /// Consumes the challenge whatever the outcome. On a grant the use is recorded in
    /// the replay window and the time floor raised: persist the state (see
    /// [`Self::to_bytes`]) before moving the bolt.
    pub fn verify_presentation(
        &mut self,
        challenge: PendingChallenge,
        presentation: &[u8],
        now: u64,
        config: &VerifyConfig,
    ) -> Verdict {
        match self.check_presentation(&challenge, presentation, now, config) {
            Ok(grant) => Verdict::Granted(grant),
            Err(reason) => Verdict::Refused(reason),
        }
    }

    fn check_presentation(
        &mut self,
        pending: &PendingChallenge,
        presentation: &[u8],
        now: u64,
        config: &VerifyConfig,
    ) -> Result<Grant, Refusal> {
        let parts = decode_presentation(presentation).map_err(|_| Refusal::Malformed)?;

        // 1. Issuer key and signature.
        let cred = self.authenticate_credential(parts.credential)?;
        let c = &cred.claims;

        // 2. Audience.
        if c.lock_id != self.lock_id {
            return Err(Refusal::WrongAudience);
        }

        // 3. Time.
        if c.expires_at.saturating_sub(c.not_before) > config.max_credential_lifetime_secs {
            return Err(Refusal::LifetimeTooLong);
        }
        let trusted_time = self.has_trusted_time(now);
        if trusted_time {
            if now.saturating_add(config.clock_skew_secs) < c.not_before {
                return Err(Refusal::NotYetValid);
            }
            if now >= c.expires_at.saturating_add(config.clock_skew_secs) {
                return Err(Refusal::Expired);
            }
        } else if c.challenge_nonce.is_none() {
            return Err(if self.clock_lost { Refusal::NonceRequired } else { Refusal::ClockBelowFloor });
        }

        // 4. Revocation.
        if c.revocation_epoch < self.revocation.epoch {
            return Err(Refusal::EpochRevoked);
        }
        if self.revocation.is_revoked(&c.credential_id) {
            return Err(Refusal::Revoked);
        }

        // 5. Replay.
        let use_number = self.replay.check(c.lock_sequence, c.max_uses).map_err(|e| match e {
            ReplayError::TooOld => Refusal::ReplayTooOld,
            ReplayError::Used => Refusal::Replayed,
            ReplayError::Zero => Refusal::Malformed,
        })?;

        // 6. Possession, against the latest challenge.
        let ch = &pending.challenge;
        if parts.counter != ch.counter || ch.counter != self.challenge_counter || ch.lock_id != self.lock_id {
            return Err(Refusal::StaleChallenge);
        }
        if trusted_time && (now < ch.lock_time || now - ch.lock_time > config.challenge_ttl_secs) {
            return Err(Refusal::ChallengeExpired);
        }
        if c.challenge_nonce.is_some_and(|n| n != ch.nonce) {
            return Err(Refusal::NonceMismatch);
        }
        let mut buf = [0u8; POSSESSION_INPUT_LEN];
        let input =
            possession_input(&mut buf, pending.payload.as_bytes(), parts.credential).map_err(|_| Refusal::Malformed)?;
        if !verify_p256(c.handheld_key.as_sec1_bytes(), input, parts.signature) {
            return Err(Refusal::BadPossessionProof);
        }

        // Granted: spend the use, move the floor.
        self.replay.record(c.lock_sequence);
        if trusted_time {
            self.time_floor = self.time_floor.max(now);
        }
        Ok(Grant {
            lock_id: c.lock_id,
            credential_id: c.credential_id,
            delivery_hash: c.delivery_hash,
            issuer_key_id: cred.key_id,
            lock_sequence: c.lock_sequence,
            use_number,
            max_uses: c.max_uses,
            not_before: c.not_before,
            expires_at: c.expires_at,
            issued_at: c.issued_at,
            nonce_bound: c.challenge_nonce.is_some(),
            clock_hint: (!trusted_time).then_some(c.issued_at),
        })
    }
}
