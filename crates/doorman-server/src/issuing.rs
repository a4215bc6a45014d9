//! Where the service turns a granted plan into protocol messages: COSE
//! credentials bound to the driver's handheld, and one-time door codes. All
//! the cryptography is the protocol crate's; this module only chooses the
//! claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_api::TrustAnchor;
use doorman_domain::{DeliveryId, LockId, UnixSeconds};
use doorman_protocol::credential::{issue_credential, CredentialClaims};
use doorman_protocol::keys::{Algorithm, HandheldPublicKey, IssuerSigningKey, PublicKey};
use doorman_protocol::{delivery_hash as protocol_delivery_hash, CredentialId, DeliveryHash};

use crate::{KeyRing, ServiceError, ServiceResult};

/// The kid of the Ed25519 issuer key with this seed.
pub fn issuer_kid(seed: &[u8; 32]) -> [u8; 8] {
    IssuerSigningKey::from_ed25519_secret(seed).key_id().0
}

/// The published issuer keys, as locks should trust them.
pub fn trust_anchors(keys: &KeyRing) -> Vec<TrustAnchor> {
    keys.published
        .iter()
        .map(|k| {
            let public = k.signer.public_key();
            TrustAnchor {
                kid: URL_SAFE_NO_PAD.encode(&k.kid),
                alg: match public.algorithm() {
                    Algorithm::EdDSA => "EdDSA".into(),
                    Algorithm::ES256 => "ES256".into(),
                },
                public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            }
        })
        .collect()
}

/// Checks a handheld key and returns its canonical (compressed SEC1) form,
/// so the registered key and a presented one compare byte for byte.
pub fn validate_handheld_key(bytes: &[u8]) -> ServiceResult<Vec<u8>> {
    parse_handheld_key(bytes).map(|k| k.as_sec1_bytes().to_vec())
}

/// Checks a handheld key and returns it parsed, for [`sign_credential`].
pub fn parse_handheld_key(bytes: &[u8]) -> ServiceResult<HandheldPublicKey> {
    HandheldPublicKey::from_sec1_bytes(bytes)
        .map_err(|_| ServiceError::invalid("handheld_public_key is not a P-256 public key (SEC1)"))
}

/// Checks a lock's Ed25519 device key.
pub fn validate_device_key(bytes: &[u8]) -> ServiceResult<()> {
    PublicKey::from_bytes(Algorithm::EdDSA, bytes)
        .map(|_| ())
        .map_err(|_| ServiceError::invalid("device_public_key is not an Ed25519 public key (32 bytes)"))
}

pub fn lock_wire_id(lock: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*lock.as_uuid().as_bytes())
}

/// What credentials carry instead of the tracking number.
pub fn delivery_hash(salt: &[u8; 16], delivery: DeliveryId) -> DeliveryHash {
    protocol_delivery_hash(salt, delivery.as_uuid().as_bytes())
}

pub struct CredentialParams<'a> {
    pub lock_id: LockId,
    pub sequence: i64,
    pub cti: [u8; 16],
    pub delivery_hash: DeliveryHash,
    /// Canonical SEC1 form (see [`validate_handheld_key`]).
    pub handheld_key: &'a [u8],
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// A one-use credential for one lock, signed with the active issuer key.
pub fn credential(keys: &KeyRing, issuer: &str, p: &CredentialParams<'_>) -> ServiceResult<Vec<u8>> {
    sign_credential(keys, issuer, p, parse_handheld_key(p.handheld_key)?)
}

/// Whether credentials with this issuer and validity can be issued at all:
/// [`sign_credential`] fails for no other reason than these (and a zero
/// sequence number, which the store never hands out). Lets a caller find
/// out before it commits a grant rather than after.
pub fn check_issuable(issuer: &str, issued_at: UnixSeconds, expires_at: UnixSeconds) -> ServiceResult<()> {
    if issuer.len() > doorman_protocol::credential::MAX_ISSUER_LEN {
        return Err(ServiceError::Internal("the issuer name is too long for a credential".into()));
    }
    if issued_at < 0 || expires_at <= issued_at {
        return Err(ServiceError::Internal("the credential's validity is out of range".into()));
    }
    Ok(())
}

/// [`credential`] for a handheld key already parsed (the key in `p` is not read).
pub fn sign_credential(
    keys: &KeyRing,
    issuer: &str,
    p: &CredentialParams<'_>,
    handheld_key: HandheldPublicKey,
) -> ServiceResult<Vec<u8>> {
    let as_u64 = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| ServiceError::Internal(format!("{what} out of range for a credential")))
    };
    let claims = CredentialClaims {
        issuer,
        lock_id: lock_wire_id(p.lock_id),
        not_before: as_u64(p.issued_at, "nbf")?,
        expires_at: as_u64(p.expires_at, "exp")?,
        issued_at: as_u64(p.issued_at, "iat")?,
        credential_id: CredentialId(p.cti),
        handheld_key,
        delivery_hash: p.delivery_hash,
        lock_sequence: as_u64(p.sequence, "sequence")?,
        revocation_epoch: 0,
        max_uses: 1,
        challenge_nonce: None,
    };
    issue_credential(&keys.active, &claims)
        .map(|c| c.as_bytes().to_vec())
        .map_err(|e| ServiceError::Internal(format!("cannot encode a credential: {e:?}")))
}

/// The lock's door-code secret, derived from the master secret and the
/// lock's id: never stored, never shared between locks.
pub fn door_code_secret(master: &[u8; 32], lock: LockId) -> ServiceResult<[u8; 32]> {
    doorman_protocol::doorcode::derive_door_code_secret(master, &lock_wire_id(lock))
        .map(|s| s.to_bytes())
        .map_err(|_| ServiceError::Internal("cannot derive a door-code secret".into()))
}

/// The (time slot, index) of the door code of the lock's `sequence`-th
/// grant issued at `issued_at`: what the lock's `door_code_accepted` event
/// names (value = slot, first data byte = index).
pub fn door_code_slot_index(issued_at: UnixSeconds, sequence: i64) -> (u64, u8) {
    let policy = doorman_protocol::doorcode::DoorCodePolicy::default();
    let slot = policy.time_slot(u64::try_from(issued_at).unwrap_or(0));
    let per_slot = i64::from(policy.codes_per_slot().max(1));
    let index = u8::try_from(sequence.saturating_sub(1).rem_euclid(per_slot)).unwrap_or(0);
    (slot, index)
}

/// The issue times whose door codes fall in time slot `slot`.
pub fn door_code_slot_times(slot: u64) -> (UnixSeconds, UnixSeconds) {
    let secs = doorman_protocol::doorcode::DoorCodePolicy::default().slot_secs().max(1);
    let from = slot.saturating_mul(secs);
    let to = from.saturating_add(secs - 1);
    (i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX))
}

/// The one-time code for the lock's `sequence`-th grant in the current time
/// slot. Indexes cycle through the slot's codes; a lock accepts each once.
pub fn door_code(master: &[u8; 32], lock: LockId, now: UnixSeconds, sequence: i64) -> ServiceResult<String> {
    use doorman_protocol::doorcode::{derive_door_code_secret, door_code as code_for, DoorCodePolicy};
    let policy = DoorCodePolicy::default();
    let secret = derive_door_code_secret(master, &lock_wire_id(lock))
        .map_err(|_| ServiceError::Internal("cannot derive a door-code secret".into()))?;
    let (slot, index) = door_code_slot_index(now, sequence);
    code_for(&secret, slot, index, &policy)
        .map(|c| c.to_string())
        .ok_or_else(|| ServiceError::Internal("door-code index outside the policy".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attribution reads a door code back from the lock's event: the grant's
    /// issue time falls in the slot's times, and its sequence gives the index
    /// the code was made with.
    #[test]
    fn a_door_codes_slot_and_index_lead_back_to_its_grant() {
        let master = [9u8; 32];
        let lock = LockId::random();
        for (issued_at, sequence) in [(1_773_252_000, 1), (1_773_252_299, 2), (1_773_252_300, 7), (1_773_252_001, 4)] {
            let (slot, index) = door_code_slot_index(issued_at, sequence);
            let (from, to) = door_code_slot_times(slot);
            assert!(from <= issued_at && issued_at <= to, "{issued_at} in {from}..={to}");
            assert!(index < 4);
            let secret =
                doorman_protocol::doorcode::DoorCodeSecret::from_bytes(door_code_secret(&master, lock).unwrap());
            let policy = doorman_protocol::doorcode::DoorCodePolicy::default();
            let expected = doorman_protocol::doorcode::door_code(&secret, slot, index, &policy).unwrap().to_string();
            assert_eq!(door_code(&master, lock, issued_at, sequence).unwrap(), expected);
        }
        assert_ne!(door_code_slot_index(1_773_252_000, 1), door_code_slot_index(1_773_252_000, 2));
    }
}
