//! The doorman protocol: what the service, a driver's handheld and a lock exchange.
//!
//! `#![no_std]`, and nothing on the lock's side allocates: messages are read from
//! borrowed slices and written into fixed buffers ([`FixedBytes`]). Time is always a
//! `u64` of unix seconds passed in; this crate never reads a clock, and knows nothing
//! of HTTP or SQL. Wire formats are standards: COSE_Sign1 (RFC 9052) for everything
//! signed, a CWT claims set (RFC 8392) with a proof-of-possession key (RFC 8747) for
//! the credential, HOTP with HMAC-SHA256 (RFC 4226/6238) for door codes, HKDF (RFC
//! 5869) for per-lock secrets. `docs/PROTOCOL.md` describes every message byte by byte;
//! `vectors/` holds test vectors produced by this code.
//!
//! # Who calls what
//!
//! **Service** (issuing side):
//! - [`IssuerSigningKey`] (Ed25519 by default, P-256 supported) with its [`KeyId`];
//!   [`IssuerSigningKey::trusted_key`] gives the anchor to provision into locks.
//! - [`issue_credential`]`(&key, &CredentialClaims) -> Credential`, one per lock on
//!   the path; [`delivery_hash`]`(salt, reference)`.
//! - [`derive_door_code_secret`]`(master, &lock_id)`, [`door_code`]`(&secret, slot, index, &policy)`.
//! - [`issue_revocation_bundle`], [`issue_key_update`].
//! - [`EventChainVerifier`] / [`verify_event_chain`] over the events a lock uploads.
//!
//! **Handheld**: [`HandheldKey`] (P-256); [`open_challenge`] checks the lock's
//! signature (a fake lock is refused); [`HandheldKey::present`] answers it.
//!
//! **Lock**: a [`LockState`] (persist it with [`LockState::to_bytes`]) and a
//! [`LockDeviceKey`]:
//! [`LockState::issue_challenge`], [`LockState::verify_presentation`] `-> Verdict`,
//! [`LockState::check_door_code`], [`LockState::apply_revocation_bundle`],
//! [`LockState::apply_key_update`], [`LockState::record_event`],
//! [`LockState::set_clock_lost`] / [`LockState::resync_clock`].
//!
//! # End to end
//!
//! ```
//! use doorman_protocol::*;
//!
//! let now = 1_760_000_000;
//! // Service: an Ed25519 issuer key, trusted by the lock for everything.
//! let issuer = IssuerSigningKey::from_ed25519_secret(&[7; 32]);
//! let lock_id = LockId([0x42; 16]);
//! let device = LockDeviceKey::from_secret(&[9; 32]);
//! let mut lock = LockState::new(lock_id, &[issuer.trusted_key(KeyUsage::ALL)], now - 3600)?;
//!
//! // Driver's handheld key, registered with the service.
//! let handheld = HandheldKey::from_secret(&[3; 32])?;
//!
//! // Service, after a package scan: one credential for this lock, valid 10 minutes.
//! let credential = issue_credential(&issuer, &CredentialClaims {
//!     issuer: "doorman",
//!     lock_id,
//!     not_before: now - 30,
//!     expires_at: now + 600,
//!     issued_at: now - 30,
//!     credential_id: CredentialId([1; 16]),
//!     handheld_key: handheld.public_key(),
//!     delivery_hash: delivery_hash(b"per-delivery secret salt", b"1Z999AA10123456784"),
//!     lock_sequence: 1,
//!     revocation_epoch: 0,
//!     max_uses: 1,
//!     challenge_nonce: None,
//! })?;
//! assert!(credential.len() <= 260);
//!
//! // At the door: the lock challenges, the handheld checks the lock and answers.
//! let (pending, signed) = lock.issue_challenge(&device, Nonce([5; 16]), now)?;
//! let opened = open_challenge(signed.as_bytes(), &device.public_key(), &lock_id)?;
//! let presentation = handheld.present(&opened, credential.as_bytes())?;
//!
//! // The lock decides, offline.
//! let verdict = lock.verify_presentation(pending, presentation.as_bytes(), now, &VerifyConfig::default());
//! let grant = verdict.granted().ok_or("refused")?;
//! assert_eq!(grant.credential_id, CredentialId([1; 16]));
//! let persisted = lock.to_bytes(); // write this before moving the bolt
//!
//! // The same presentation again is refused (the challenge is gone; a new one does not help).
//! let (pending, _) = lock.issue_challenge(&device, Nonce([6; 16]), now + 1)?;
//! let again = lock.verify_presentation(pending, presentation.as_bytes(), now + 1, &VerifyConfig::default());
//! assert_eq!(again, Verdict::Refused(Refusal::Replayed));
//!
//! // The lock records what happened; the service checks the chain.
//! let event = lock.record_event(&device, &EventRecord {
//!     credential_id: Some(grant.credential_id),
//!     delivery_hash: Some(grant.delivery_hash),
//!     value: u64::from(grant.use_number),
//!     ..EventRecord::new(EventKind::AccessGranted)
//! }, now + 2)?;
//! let head = verify_event_chain(device.public_key(), lock_id, ChainHead::GENESIS, [event.as_bytes()])
//!     .map_err(|_| "broken chain")?;
//! assert_eq!(head.counter, 1);
//! # let _ = persisted;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cbor;
pub mod challenge;
mod cose;
pub mod credential;
pub mod doorcode;
pub mod events;
mod ids;
pub mod keys;
pub mod replay;
pub mod revocation;
pub mod state;
pub mod trust;
pub mod verify;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use cbor::{FixedBytes, Malformed};
pub use challenge::{
    open_challenge, Challenge, ChallengeError, OpenedChallenge, PendingChallenge, PresentError, Presentation,
    SignedChallenge,
};
pub use cose::TAG_COSE_SIGN1;
pub use credential::{
    inspect_credential, issue_credential, issue_credential_into, Credential, CredentialClaims, UnverifiedCredential,
};
pub use doorcode::{
    brute_force_odds, derive_door_code_secret, door_code, BruteForceOdds, DoorCode, DoorCodePolicy, DoorCodeRefusal,
    DoorCodeSecret, DoorCodeVerdict, KeypadPolicy,
};
pub use events::{
    decode_event, verify_event_chain, ChainError, ChainHead, EventChainVerifier, EventKind, EventRecord, LockEvent,
    SignedEvent,
};
pub use ids::{delivery_hash, CredentialId, DeliveryHash, LockId, Nonce};
pub use keys::{
    Algorithm, HandheldKey, HandheldPublicKey, IssuerSigner, IssuerSigningKey, KeyError, KeyId, KeyUsage,
    LockDeviceKey, LockDevicePublicKey, PublicKey, SignError, TrustedKey,
};
pub use replay::{ReplayWindow, REPLAY_WINDOW};
pub use revocation::{
    issue_revocation_bundle, RevocationApplied, RevocationBundle, RevocationError, RevocationState, RevokedEntry,
};
pub use state::{LockState, StateError};
pub use trust::{issue_key_update, KeyStatus, KeyUpdate, KeyUpdateApplied, KeyUpdateError, KeyUpdateOp};
pub use verify::{AuthenticatedCredential, Grant, Refusal, Verdict, VerifyConfig};

/// Producing a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// The input breaks a rule of the protocol (a zero sequence number, `exp <= nbf`, ...).
    InvalidInput,
    /// More entries than a lock can hold.
    TooManyEntries,
    /// The issuer's signer failed (an HSM or key service did not sign).
    SignerFailed,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "output buffer too small",
            EncodeError::InvalidInput => "input breaks a protocol rule",
            EncodeError::TooManyEntries => "more entries than a lock can hold",
            EncodeError::SignerFailed => "the issuer's signer failed",
        })
    }
}

macro_rules! display_as_debug {
    ($($t:ty),*) => {$(
        impl core::fmt::Display for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }
        impl core::error::Error for $t {}
    )*};
}

display_as_debug!(Malformed, ChallengeError, PresentError, RevocationError, KeyUpdateError, ChainError, StateError);

impl core::error::Error for EncodeError {}
impl core::error::Error for KeyError {}
impl core::error::Error for Refusal {}
