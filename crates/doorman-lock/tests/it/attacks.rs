//! Every way in that is not a valid, fresh, unused credential held by its handheld.

use doorman_lock::*;
use doorman_protocol::*;
use rand_core::OsRng;

use crate::fixture::*;

#[test]
fn a_delivery_opens_records_and_triggers_the_camera() {
    let mut w = World::new();
    let cred = w.credential(1);
    let out = w.enter(&cred, NOW);
    let entry = out.decision.entry().copied().unwrap();
    assert_eq!(entry.source, EntrySource::Handheld);
    assert_eq!(entry.credential_id, Some(CredentialId([1; 16])));
    assert_eq!(out.effects.bolt, Some(BoltCommand::Release));
    let trigger = out.effects.camera.unwrap();
    assert_eq!(trigger.delivery_hash, Some(DeliveryHash([1; 16])));
    assert!(matches!(w.lock.bolt(), BoltState::Released { .. }));
    assert_eq!(w.kinds(), vec![EventKind::Provisioned, EventKind::AccessGranted, EventKind::Unlocked]);
    let (head, events) = w.upload(ChainHead::GENESIS);
    assert_eq!(head.counter, 3);
    assert_eq!(events[2].record.value, EntrySource::Handheld.code());
}

#[test]
fn a_used_credential_is_refused_even_with_a_new_challenge() {
    let mut w = World::new();
    let cred = w.credential(1);
    assert!(w.enter(&cred, NOW).decision.entry().is_some());
    assert_eq!(w.refusal(&cred, NOW + 5), Some(LockRefusal::Credential(Refusal::Replayed)));
    let refused = w.last_event();
    assert_eq!(refused.record.kind, EventKind::AccessRefused);
    assert_eq!(refused.record.value, u64::from(Refusal::Replayed.code()));
}

#[test]
fn the_same_presentation_replayed_is_refused() {
    let mut w = World::new();
    let cred = w.credential(1);
    let signed = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let presentation = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    assert!(w.lock.present(presentation.as_bytes(), NOW).unwrap().decision.entry().is_some());
    // Replayed without a challenge, then against a fresh one.
    assert_eq!(
        w.lock.present(presentation.as_bytes(), NOW).unwrap().decision.refusal(),
        Some(LockRefusal::NoChallenge)
    );
    w.lock.challenge(&mut OsRng, NOW + 1).unwrap();
    let again = w.lock.present(presentation.as_bytes(), NOW + 1).unwrap();
    assert!(matches!(again.decision, Decision::Refused(LockRefusal::Credential(_))));
    assert_eq!(again.effects.bolt, None);
}

#[test]
fn a_credential_for_another_lock_is_refused() {
    let mut w = World::new();
    let mut claims = w.claims(1);
    claims.lock_id = LockId([0x43; 16]);
    let cred = w.issue(&claims);
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::Credential(Refusal::WrongAudience)));
}

#[test]
fn expired_and_not_yet_valid_credentials_are_refused() {
    let mut w = World::new();
    let cred = w.credential(1);
    let mut claims = w.claims(2);
    claims.not_before = NOW + 1000;
    claims.issued_at = NOW + 1000;
    claims.expires_at = NOW + 1300;
    let early = w.issue(&claims);
    assert_eq!(w.refusal(&early, NOW), Some(LockRefusal::Credential(Refusal::NotYetValid)));
    let skew = w.config.verify.clock_skew_secs;
    assert_eq!(w.refusal(&cred, NOW + 300 + skew), Some(LockRefusal::Credential(Refusal::Expired)));
}

#[test]
fn a_copied_credential_without_the_handheld_key_is_refused() {
    let mut w = World::new();
    let cred = w.credential(1);
    let thief = HandheldKey::from_secret(&[8; 32]).unwrap();
    let signed = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    // A careful handheld refuses to present someone else's credential...
    assert_eq!(thief.present(&opened, cred.as_bytes()).unwrap_err(), PresentError::NotMyCredential);
    // ...a thief signs anyway.
    let forged = thief.sign_presentation(opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
    let out = w.lock.present(forged.as_bytes(), NOW).unwrap();
    assert_eq!(out.decision.refusal(), Some(LockRefusal::Credential(Refusal::BadPossessionProof)));
    // Not spent: the real driver still gets in.
    assert!(w.enter(&cred, NOW + 1).decision.entry().is_some());
}

#[test]
fn an_answer_to_an_old_challenge_is_refused() {
    let mut w = World::new();
    let cred = w.credential(1);
    let first = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened_first = open_challenge(first.as_bytes(), &device_public(), &LOCK).unwrap();
    let old_answer = w.handheld.present(&opened_first, cred.as_bytes()).unwrap();
    // Someone else asks for a challenge in between: only the latest can be answered.
    w.lock.challenge(&mut OsRng, NOW + 1).unwrap();
    let out = w.lock.present(old_answer.as_bytes(), NOW + 1).unwrap();
    assert_eq!(out.decision.refusal(), Some(LockRefusal::Credential(Refusal::StaleChallenge)));
}

#[test]
fn an_answer_after_the_challenge_expired_is_refused() {
    let mut w = World::new();
    let cred = w.credential(1);
    let signed = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let answer = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    let late = NOW + w.config.verify.challenge_ttl_secs + 1;
    let out = w.lock.present(answer.as_bytes(), late).unwrap();
    assert_eq!(out.decision.refusal(), Some(LockRefusal::Credential(Refusal::ChallengeExpired)));
}

#[test]
fn a_fake_lock_cannot_get_a_presentation_for_the_real_one() {
    let w = World::new();
    let fake = LockDeviceKey::from_secret(&[1; 32]);
    let mut fake_state = LockState::new(LOCK, &[w.issuer.trusted_key(KeyUsage::ALL)], NOW).unwrap();
    let (_, signed) = fake_state.issue_challenge(&fake, Nonce([1; 16]), NOW).unwrap();
    assert_eq!(open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap_err(), ChallengeError::BadSignature);
}

#[test]
fn a_revoked_credential_is_refused_and_old_bundles_are_ignored() {
    let mut w = World::new();
    let cred = w.credential(1);
    let bundle = issue_revocation_bundle(
        &w.issuer,
        &LOCK,
        1,
        0,
        &[RevokedEntry { credential_id: CredentialId([1; 16]), expires_at: NOW + 300 }],
    )
    .unwrap();
    let applied = w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW).unwrap().unwrap();
    assert_eq!(applied.sequence, 1);
    assert_eq!(w.last_event().record.kind, EventKind::RevocationApplied);
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::Credential(Refusal::Revoked)));
    // The same bundle again (a reconnect re-delivers it): stale, nothing recorded.
    let head = w.lock.event_head().counter;
    assert!(matches!(
        w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW).unwrap(),
        Err(RevocationError::Stale { .. })
    ));
    assert_eq!(w.lock.event_head().counter, head);
    // A bundle for another lock, or signed by a stranger, is refused and recorded.
    let stranger = IssuerSigningKey::from_ed25519_secret(&[6; 32]);
    let forged = issue_revocation_bundle(&stranger, &LOCK, 2, 5, &[]).unwrap();
    assert_eq!(w.lock.apply_revocation_bundle(forged.as_bytes(), NOW).unwrap(), Err(RevocationError::UnknownKey));
    assert_eq!(w.last_event().record.kind, EventKind::RevocationRefused);
    // Revocation survives a reboot.
    w.reboot();
    assert_eq!(w.refusal(&cred, NOW + 1), Some(LockRefusal::Credential(Refusal::Revoked)));
}

#[test]
fn an_epoch_bump_revokes_everything_outstanding() {
    let mut w = World::new();
    let cred = w.credential(1);
    let bundle = issue_revocation_bundle(&w.issuer, &LOCK, 1, 1, &[]).unwrap();
    w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW).unwrap().unwrap();
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::Credential(Refusal::EpochRevoked)));
}

#[test]
fn keys_rotate_and_a_retired_key_opens_nothing() {
    let mut w = World::new();
    let old_cred = w.credential(1);
    let next = IssuerSigningKey::from_ed25519_secret(&[11; 32]).with_key_id(KeyId([0xbb; 8]));
    let update = issue_key_update(
        &w.issuer,
        1,
        &[KeyUpdateOp::Add(next.trusted_key(KeyUsage::ALL)), KeyUpdateOp::Retire(w.issuer.key_id())],
    )
    .unwrap();
    let applied = w.lock.apply_key_update(update.as_bytes(), NOW).unwrap().unwrap();
    assert_eq!(applied.sequence, 1);
    assert_eq!(w.last_event().record.kind, EventKind::KeysUpdated);
    assert_eq!(w.refusal(&old_cred, NOW), Some(LockRefusal::Credential(Refusal::RetiredKey)));
    w.issuer = next;
    let new_cred = w.credential(2);
    assert!(w.enter(&new_cred, NOW + 1).decision.entry().is_some());
    // Replayed, the update is refused (its signer is now retired).
    assert!(w.lock.apply_key_update(update.as_bytes(), NOW).unwrap().is_err());
}

#[test]
fn a_remote_unlock_answers_its_own_challenge_only() {
    let mut w = World::new();
    let cred = w.credential(1);
    let signed = w.lock.remote_challenge(77, &mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let presentation = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    // Sent at the door instead of through the service: the door has no challenge.
    assert_eq!(
        w.lock.present(presentation.as_bytes(), NOW).unwrap().decision.refusal(),
        Some(LockRefusal::NoChallenge)
    );
    // Another request id: refused, the challenge stays for the right one.
    assert_eq!(
        w.lock.present_remote(78, presentation.as_bytes(), NOW).unwrap().decision.refusal(),
        Some(LockRefusal::NoChallenge)
    );
    let out = w.lock.present_remote(77, presentation.as_bytes(), NOW).unwrap();
    assert_eq!(out.decision.entry().unwrap().source, EntrySource::Remote);
    assert!(out.effects.camera.is_some());
}

#[test]
fn provisioning_twice_is_refused() {
    let w = World::new();
    let again = Lock::provision(identity(), &[w.issuer.trusted_key(KeyUsage::ALL)], config(), w.storage.clone(), NOW);
    assert!(matches!(again, Err(LockError::AlreadyProvisioned)));
}
