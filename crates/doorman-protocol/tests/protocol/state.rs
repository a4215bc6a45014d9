//! The persisted lock state and the message sizes.

use doorman_protocol::*;

use crate::common::*;

#[test]
fn state_is_small_fixed_and_round_trips() {
    const { assert!(LockState::ENCODED_LEN <= 4096) };
    let mut w = World::new();
    // Exercise every part of the state.
    let cred = w.credential(&w.claims(3));
    granted(w.attempt(cred.as_bytes(), NOW));
    let c = w.claims(9);
    let bundle =
        w.revocation_bundle(1, 2, &[RevokedEntry { credential_id: c.credential_id, expires_at: c.expires_at }]);
    w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW, &w.cfg).unwrap();
    let p256 = IssuerSigningKey::from_p256_secret(&[0x42; 32]).unwrap();
    let update = issue_key_update(
        &w.root,
        1,
        &[KeyUpdateOp::Add(p256.trusted_key(KeyUsage::CREDENTIALS)), KeyUpdateOp::Retire(KeyId([1; 8]))],
    )
    .unwrap();
    w.lock.apply_key_update(update.as_bytes()).unwrap();
    w.lock.record_event(&w.device, &EventRecord::new(EventKind::Unlocked), NOW + 1).unwrap();
    let secret = DoorCodeSecret::from_bytes([1; 32]);
    let policy = DoorCodePolicy::default();
    let code = door_code(&secret, policy.time_slot(NOW), 0, &policy).unwrap().to_string();
    assert!(matches!(
        w.lock.check_door_code(&secret, code.as_bytes(), NOW + 2, &policy, &KeypadPolicy::default()),
        DoorCodeVerdict::Accepted { .. }
    ));
    w.lock.check_door_code(&secret, b"00000000", NOW + 3, &policy, &KeypadPolicy::default());
    w.lock.set_clock_lost(&w.device).unwrap();

    let bytes = w.lock.to_bytes();
    assert_eq!(bytes.len(), LockState::ENCODED_LEN);
    let back = LockState::from_bytes(&bytes).unwrap();
    assert_eq!(back, w.lock);
    assert_eq!(back.to_bytes(), bytes);
}

#[test]
fn corrupted_state_is_detected() {
    let w = World::new();
    let bytes = w.lock.to_bytes();
    for i in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes;
        b[i] ^= 0x20;
        assert!(LockState::from_bytes(&b).is_err(), "byte {i}");
    }
    assert_eq!(LockState::from_bytes(&bytes[1..]), Err(StateError::Format));
}

#[test]
fn credential_sizes_meet_the_target() {
    let w = World::new();
    let c = w.claims(1);
    // Realistic worst case of the numbers: 32-bit sequence and epoch.
    let c = CredentialClaims { lock_sequence: 4_000_000_000, revocation_epoch: 70_000, ..c };
    let ed = issue_credential(&w.issuer, &c).unwrap();
    assert!(ed.len() <= 260, "Ed25519 issuer, P-256 handheld: {}", ed.len());
    let bound = issue_credential(&w.issuer, &CredentialClaims { challenge_nonce: Some(Nonce([1; 16])), ..c }).unwrap();
    assert!(bound.len() <= 260, "nonce-bound: {}", bound.len());
    let p256 = IssuerSigningKey::from_p256_secret(&[0x42; 32]).unwrap();
    let es = issue_credential(&p256, &c).unwrap();
    assert_eq!(es.len(), ed.len(), "both signatures are 64 bytes");
    let (_, signed) = World::new().lock.issue_challenge(&w.device, Nonce([0; 16]), NOW).unwrap();
    assert!(signed.len() <= 160, "challenge: {}", signed.len());
}

#[test]
fn issuing_refuses_claims_that_break_the_rules() {
    let w = World::new();
    for bad in [
        CredentialClaims { lock_sequence: 0, ..w.claims(1) },
        CredentialClaims { max_uses: 0, ..w.claims(1) },
        CredentialClaims { expires_at: NOW - 60, ..w.claims(1) },
        CredentialClaims { issuer: &"x".repeat(65), ..w.claims(1) },
    ] {
        assert_eq!(issue_credential(&w.issuer, &bad).unwrap_err(), EncodeError::InvalidInput);
    }
}

#[test]
fn inspecting_a_credential_gives_back_its_claims() {
    let w = World::new();
    let c = CredentialClaims { challenge_nonce: Some(Nonce([3; 16])), ..w.claims(7) };
    let cred = w.credential(&c);
    let view = inspect_credential(cred.as_bytes()).unwrap();
    assert_eq!(view.claims, c);
    assert_eq!(view.key_id, w.issuer.key_id());
    assert_eq!(view.algorithm, Algorithm::EdDSA);
    assert_eq!(LockId::from_audience(std::str::from_utf8(&LOCK.audience()).unwrap()), Some(LOCK));
}
