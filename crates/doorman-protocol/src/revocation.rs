//! Revocation bundles: what a lock must refuse before credentials expire by themselves.
//!
//! ```text
//! bundle payload = [ lock_id bstr(16), sequence uint, epoch uint, [ [ cti bstr(16), exp uint ], ... ] ]
//! signed = COSE_Sign1 by a trusted key with usage REVOCATION, external_aad = "doorman/revocation/v1"
//! ```
//!
//! A bundle is a full snapshot for one lock, not a delta: the newest one says
//! everything, so a lock that missed some needs only the latest. It is applied only if
//! its sequence is higher than the one the lock holds (an old bundle replayed is
//! refused). The epoch never goes down; a credential issued under an older epoch is
//! refused, which revokes everything outstanding for the lock in one step. Each revoked
//! id carries its credential's expiry, so the lock drops entries that can no longer
//! matter and the list stays small. If more than [`MAX_REVOKED`] live entries are
//! needed, the service bumps the epoch instead.

use crate::cbor::{FixedBytes, Malformed, Reader, Writer};
use crate::cose::{decode_sign1, encode_issuer_sign1, SIG_STRUCTURE_OVERHEAD};
use crate::ids::{CredentialId, LockId};
use crate::keys::{IssuerSigner, KeyUsage};
use crate::trust::{AuthError, TrustStore};
use crate::EncodeError;

/// Most revoked ids a lock holds.
pub const MAX_REVOKED: usize = 64;
/// Longest bundle a lock accepts.
pub const MAX_REVOCATION_BUNDLE_LEN: usize = 2048;
/// `external_aad` of a revocation bundle.
pub const REVOCATION_AAD: &[u8] = b"doorman/revocation/v1";

/// An encoded revocation bundle.
pub type RevocationBundle = FixedBytes<MAX_REVOCATION_BUNDLE_LEN>;

/// A revoked credential id, kept until its credential would have expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevokedEntry {
    /// The credential's `cti`.
    pub credential_id: CredentialId,
    /// The credential's `exp`.
    pub expires_at: u64,
}

/// The revocation state a lock holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationState {
    pub(crate) sequence: u64,
    pub(crate) epoch: u64,
    pub(crate) entries: [RevokedEntry; MAX_REVOKED],
    pub(crate) count: usize,
}

impl Default for RevocationState {
    fn default() -> Self {
        Self { sequence: 0, epoch: 0, entries: [RevokedEntry::default(); MAX_REVOKED], count: 0 }
    }
}

impl RevocationState {
    /// Sequence of the bundle held (0: none yet).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Current revocation epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Revoked ids held.
    pub fn entries(&self) -> &[RevokedEntry] {
        self.entries.get(..self.count).unwrap_or(&[])
    }

    /// True if `id` is revoked.
    pub fn is_revoked(&self, id: &CredentialId) -> bool {
        self.entries().iter().any(|e| e.credential_id == *id)
    }

    /// Drops entries whose credentials expired before `now - skew`.
    pub fn prune(&mut self, now: u64, skew: u64) {
        let mut kept = [RevokedEntry::default(); MAX_REVOKED];
        let mut n = 0;
        for e in self.entries() {
            if e.expires_at.saturating_add(skew) > now {
                if let Some(slot) = kept.get_mut(n) {
                    *slot = *e;
                    n += 1;
                }
            }
        }
        self.entries = kept;
        self.count = n;
    }
}

/// Why a lock refused a revocation bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationError {
    /// Not a bundle.
    Malformed,
    /// Signed by a key id the lock does not know.
    UnknownKey,
    /// Signed by a retired key.
    RetiredKey,
    /// The key may not sign revocation bundles, or its algorithm does not match.
    KeyNotAllowed,
    /// The signature does not verify.
    BadSignature,
    /// For another lock.
    WrongLock,
    /// Not newer than the bundle held: an old bundle replayed.
    Stale {
        /// Sequence held.
        held: u64,
        /// Sequence offered.
        offered: u64,
    },
    /// The epoch would go down.
    EpochRegressed,
    /// More live entries than the lock can hold (the service should bump the epoch).
    TooManyEntries,
}

impl From<AuthError> for RevocationError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed => RevocationError::Malformed,
            AuthError::UnknownKey => RevocationError::UnknownKey,
            AuthError::RetiredKey => RevocationError::RetiredKey,
            AuthError::KeyNotAllowed => RevocationError::KeyNotAllowed,
            AuthError::BadSignature => RevocationError::BadSignature,
        }
    }
}

/// A bundle was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationApplied {
    /// Sequence now held.
    pub sequence: u64,
    /// Epoch now held.
    pub epoch: u64,
    /// Revoked ids kept (expired ones dropped).
    pub entries: usize,
}

/// Checks and applies a bundle to `state`; `now`/`skew` decide which entries are
/// already expired (`None` when the lock has no trustworthy time: keep them all).
pub(crate) fn apply_bundle(
    state: &mut RevocationState,
    trust: &TrustStore,
    lock_id: &LockId,
    bundle: &[u8],
    now: Option<u64>,
    skew: u64,
) -> Result<RevocationApplied, RevocationError> {
    if bundle.len() > MAX_REVOCATION_BUNDLE_LEN {
        return Err(RevocationError::Malformed);
    }
    let msg = decode_sign1(bundle).map_err(|_| RevocationError::Malformed)?;
    let mut scratch = [0u8; MAX_REVOCATION_BUNDLE_LEN + SIG_STRUCTURE_OVERHEAD];
    trust.authenticate(&msg, REVOCATION_AAD, KeyUsage::REVOCATION, &mut scratch)?;

    let malformed = |_: Malformed| RevocationError::Malformed;
    let mut r = Reader::new(msg.payload);
    r.array_of(4).map_err(malformed)?;
    if LockId(r.bytes_fixed().map_err(malformed)?) != *lock_id {
        return Err(RevocationError::WrongLock);
    }
    let sequence = r.u64().map_err(malformed)?;
    if sequence <= state.sequence {
        return Err(RevocationError::Stale { held: state.sequence, offered: sequence });
    }
    let epoch = r.u64().map_err(malformed)?;
    if epoch < state.epoch {
        return Err(RevocationError::EpochRegressed);
    }
    let n = r.array().map_err(malformed)?;
    let mut next = RevocationState { sequence, epoch, ..RevocationState::default() };
    for _ in 0..n {
        r.array_of(2).map_err(malformed)?;
        let entry = RevokedEntry {
            credential_id: CredentialId(r.bytes_fixed().map_err(malformed)?),
            expires_at: r.u64().map_err(malformed)?,
        };
        let live = now.is_none_or(|now| entry.expires_at.saturating_add(skew) > now);
        if live && !next.is_revoked(&entry.credential_id) {
            let slot = next.entries.get_mut(next.count).ok_or(RevocationError::TooManyEntries)?;
            *slot = entry;
            next.count += 1;
        }
    }
    r.finish().map_err(malformed)?;
    *state = next;
    Ok(RevocationApplied { sequence, epoch, entries: state.count })
}

/// Signs a revocation bundle for one lock.
pub fn issue_revocation_bundle(
    key: &(impl IssuerSigner + ?Sized),
    lock_id: &LockId,
    sequence: u64,
    epoch: u64,
    revoked: &[RevokedEntry],
) -> Result<RevocationBundle, EncodeError> {
    if revoked.len() > MAX_REVOKED {
        return Err(EncodeError::TooManyEntries);
    }
    let mut payload = [0u8; MAX_REVOCATION_BUNDLE_LEN];
    let n = {
        let mut w = Writer::new(&mut payload);
        w.array(4)?.bytes(&lock_id.0)?.u64(sequence)?.u64(epoch)?.array(revoked.len() as u64)?;
        for e in revoked {
            w.array(2)?.bytes(&e.credential_id.0)?.u64(e.expires_at)?;
        }
        w.len()
    };
    let payload = payload.get(..n).ok_or(EncodeError::BufferTooSmall)?;
    RevocationBundle::fill_with(|out| encode_issuer_sign1(out, key, REVOCATION_AAD, payload))
}
