//! Signed time statements: how the service tells a lock the time, with nothing but the
//! protocol's credential format and the lock's trust anchors.
//!
//! The lock asks with a fresh random nonce; the service answers with a credential
//! signed by a trusted credential key whose `aud` is the lock, whose challenge nonce is
//! that nonce, whose delivery hash is the fixed [`time_statement_marker`] and whose
//! `iat` is the service's time. The lock checks the signature and the key with
//! [`doorman_protocol::LockState::authenticate_credential`] (the protocol's step 1), then
//! that the nonce is the one it is waiting for: so the statement is fresh, for this lock,
//! and cannot be replayed later to roll the clock back.
//!
//! Such a statement can never open a door: it is bound to a time-request nonce, and the
//! verifier refuses any credential bound to a nonce other than that of the challenge it
//! answers (`NonceMismatch`); challenge nonces and time-request nonces are independent
//! 16-byte random values. The `cnf` key is an ephemeral key the service discards.

use doorman_protocol::{
    delivery_hash, issue_credential, Credential, CredentialClaims, CredentialId, DeliveryHash, EncodeError,
    HandheldKey, IssuerSigner, LockId, Nonce,
};
use rand_core::CryptoRngCore;

/// The `iss` of a time statement.
pub const TIME_STATEMENT_ISSUER: &str = "doorman/time";
/// How long a statement stays within its `nbf`..`exp` (informational; freshness comes
/// from the nonce).
pub const TIME_STATEMENT_VALIDITY_SECS: u64 = 60;

/// The delivery hash that marks a credential as a time statement.
pub fn time_statement_marker() -> DeliveryHash {
    delivery_hash(b"doorman/time-statement/v1", b"")
}

/// Service side: the statement "it is `now`" for `lock_id`, answering `nonce`.
pub fn issue_time_statement(
    key: &(impl IssuerSigner + ?Sized),
    lock_id: LockId,
    nonce: Nonce,
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<Credential, EncodeError> {
    let mut cti = [0u8; 16];
    rng.fill_bytes(&mut cti);
    let ephemeral = HandheldKey::generate(rng);
    issue_credential(
        key,
        &CredentialClaims {
            issuer: TIME_STATEMENT_ISSUER,
            lock_id,
            not_before: now,
            expires_at: now.saturating_add(TIME_STATEMENT_VALIDITY_SECS),
            issued_at: now,
            credential_id: CredentialId(cti),
            handheld_key: ephemeral.public_key(),
            delivery_hash: time_statement_marker(),
            lock_sequence: 1,
            revocation_epoch: 0,
            max_uses: 1,
            challenge_nonce: Some(nonce),
        },
    )
}

/// Why a lock did not take a time statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeStatementError {
    /// The lock has no time request outstanding (or it expired).
    #[error("no time request outstanding")]
    NotRequested,
    /// The statement's issuer key or signature is not trusted.
    #[error("not signed by a trusted key: {0}")]
    Untrusted(doorman_protocol::Refusal),
    /// Signed, but not a time statement for this lock and this request.
    #[error("not a time statement answering this lock's request")]
    NotForThisRequest,
}

/// What a lock did with a time statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSync {
    /// The statement's time.
    pub service_time: u64,
    /// Service time minus the lock's time before the correction.
    pub drift_secs: i64,
    /// The lock had lost its clock or was below its time floor and resynchronised
    /// (a `ClockRestored` event).
    pub resynced: bool,
}
