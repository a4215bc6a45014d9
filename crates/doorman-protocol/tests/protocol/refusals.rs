//! Every attack the issue lists, attempted and refused.

use doorman_protocol::*;

use crate::common::*;

#[test]
fn a_valid_presentation_is_granted_once() {
    let mut w = World::new();
    let claims = w.claims(1);
    let cred = w.credential(&claims);
    let g = granted(w.attempt(cred.as_bytes(), NOW));
    assert_eq!(g.lock_id, LOCK);
    assert_eq!(g.credential_id, claims.credential_id);
    assert_eq!(g.delivery_hash, claims.delivery_hash);
    assert_eq!(g.issuer_key_id, w.issuer.key_id());
    assert_eq!((g.use_number, g.max_uses), (1, 1));
    assert_eq!(g.clock_hint, None);
    assert_eq!(w.lock.time_floor(), NOW);
}

#[test]
fn replay_of_a_used_credential_is_refused() {
    let mut w = World::new();
    let cred = w.credential(&w.claims(1));
    granted(w.attempt(cred.as_bytes(), NOW));
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW + 5)), Refusal::Replayed);
    // ... also after the lock restarted from its persisted state.
    w.lock = LockState::from_bytes(&w.lock.to_bytes()).unwrap();
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW + 6)), Refusal::Replayed);
}

#[test]
fn max_uses_allows_exactly_that_many() {
    let mut w = World::new();
    let claims = CredentialClaims { max_uses: 2, ..w.claims(1) };
    let cred = w.credential(&claims);
    assert_eq!(granted(w.attempt(cred.as_bytes(), NOW)).use_number, 1);
    assert_eq!(granted(w.attempt(cred.as_bytes(), NOW + 1)).use_number, 2);
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW + 2)), Refusal::Replayed);
}

#[test]
fn credentials_far_below_the_replay_window_are_refused() {
    let mut w = World::new();
    let newer = w.credential(&w.claims(1 + REPLAY_WINDOW as u64));
    granted(w.attempt(newer.as_bytes(), NOW));
    let old = w.credential(&w.claims(1));
    assert_eq!(refused(w.attempt(old.as_bytes(), NOW)), Refusal::ReplayTooOld);
    // Just inside the window is still fine.
    let inside = w.credential(&w.claims(2));
    granted(w.attempt(inside.as_bytes(), NOW));
}

#[test]
fn a_credential_for_another_lock_is_refused() {
    let mut w = World::new();
    let cred = w.credential(&CredentialClaims { lock_id: OTHER_LOCK, ..w.claims(1) });
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW)), Refusal::WrongAudience);
    // A careful handheld does not even send it.
    let (_, opened) = w.challenge(NOW);
    assert_eq!(w.handheld.present(&opened, cred.as_bytes()), Err(PresentError::WrongLock));
}

#[test]
fn expired_and_not_yet_valid_credentials_are_refused() {
    let mut w = World::new();
    let skew = w.cfg.clock_skew_secs;
    let c = w.claims(1);
    let cred = w.credential(&c);
    assert_eq!(refused(w.attempt(cred.as_bytes(), c.expires_at + skew)), Refusal::Expired);
    assert_eq!(refused(w.attempt(cred.as_bytes(), c.expires_at + 10 * skew)), Refusal::Expired);

    let mut w = World::new();
    let c = CredentialClaims { not_before: NOW + 600, expires_at: NOW + 900, ..w.claims(1) };
    let cred = w.credential(&c);
    assert_eq!(refused(w.attempt(cred.as_bytes(), c.not_before - skew - 1)), Refusal::NotYetValid);
    // Within the skew it is accepted.
    granted(w.attempt(cred.as_bytes(), c.not_before - skew));

    // The last second before exp + skew still opens.
    let mut w = World::new();
    let c = w.claims(1);
    let cred = w.credential(&c);
    granted(w.attempt(cred.as_bytes(), c.expires_at + skew - 1));
}

#[test]
fn credentials_living_too_long_are_refused() {
    let mut w = World::new();
    let c = CredentialClaims { expires_at: NOW + 86_400, ..w.claims(1) };
    let cred = w.credential(&c);
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW)), Refusal::LifetimeTooLong);
}

/// Flip every byte of the presentation (credential, counter and handheld signature)
/// in several ways, against the very challenge it answers: never granted.
#[test]
fn any_single_flipped_byte_is_refused() {
    let mut w = World::new();
    let cred = w.credential(&w.claims(1));
    let snapshot = w.lock.clone();
    let nonce = Nonce([0x77; 16]);
    let (_, signed) = w.lock.issue_challenge(&w.device, nonce, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &w.device.public_key(), &LOCK).unwrap();
    let p = w.handheld.present(&opened, cred.as_bytes()).unwrap();

    let mut reasons = std::collections::BTreeMap::new();
    for i in 0..p.len() {
        for mask in [0x01u8, 0x02, 0x10, 0x80, 0xff] {
            let mut bytes = p.as_bytes().to_vec();
            bytes[i] ^= mask;
            let mut lock = snapshot.clone();
            let pending = lock.new_challenge(nonce, NOW).unwrap();
            let verdict = lock.verify_presentation(pending, &bytes, NOW, &w.cfg);
            let r = refused(verdict);
            *reasons.entry(r.as_str()).or_insert(0) += 1;
            assert_eq!(lock.replay(), snapshot.replay(), "a refusal must not spend anything");
        }
    }
    // The unmodified presentation is granted against the same challenge.
    let mut lock = snapshot.clone();
    let pending = lock.new_challenge(nonce, NOW).unwrap();
    granted(lock.verify_presentation(pending, p.as_bytes(), NOW, &w.cfg));
    assert!(reasons.contains_key("bad_signature"));
    assert!(reasons.contains_key("bad_possession_proof"));
    assert!(reasons.contains_key("malformed"));
}

/// A driver who holds the handheld key edits their own credential (say, a later
/// `exp`) and signs that: the issuer signature fails, whichever byte changed.
#[test]
fn any_single_flipped_byte_of_the_credential_is_refused_even_when_the_handheld_signs_it() {
    let mut w = World::new();
    let cred = w.credential(&w.claims(1));
    for i in 0..cred.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = cred.as_bytes().to_vec();
            bytes[i] ^= mask;
            let r = refused(w.attempt(&bytes, NOW));
            assert!(
                matches!(r, Refusal::Malformed | Refusal::BadSignature | Refusal::UnknownKey | Refusal::KeyNotAllowed),
                "byte {i} mask {mask:#x}: {r:?}"
            );
        }
    }
    granted(w.attempt(cred.as_bytes(), NOW));
}

#[test]
fn unknown_and_retired_key_ids_are_refused() {
    let mut w = World::new();
    // A key the lock never trusted, with its own kid ...
    let stranger = IssuerSigningKey::from_ed25519_secret(&[0x55; 32]);
    let cred = issue_credential(&stranger, &w.claims(1)).unwrap();
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW)), Refusal::UnknownKey);
    // ... or claiming the trusted kid.
    let impostor = IssuerSigningKey::from_ed25519_secret(&[0x55; 32]).with_key_id(w.issuer.key_id());
    let cred = issue_credential(&impostor, &w.claims(2)).unwrap();
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW)), Refusal::BadSignature);
    // A P-256 key under the Ed25519 key's id is not even tried.
    let wrong_alg = IssuerSigningKey::from_p256_secret(&[0x56; 32]).unwrap().with_key_id(w.issuer.key_id());
    let cred = issue_credential(&wrong_alg, &w.claims(3)).unwrap();
    assert_eq!(refused(w.attempt(cred.as_bytes(), NOW)), Refusal::KeyNotAllowed);

    // Rotation: the root adds a new issuer key and retires the old one.
    let new_issuer = IssuerSigningKey::from_ed25519_secret(&[0x66; 32]);
    let old_cred = w.credential(&w.claims(4));
    let update = issue_key_update(
        &w.root,
        1,
        &[KeyUpdateOp::Add(new_issuer.trusted_key(KeyUsage::ISSUER)), KeyUpdateOp::Retire(w.issuer.key_id())],
    )
    .unwrap();
    let applied = w.lock.apply_key_update(update.as_bytes()).unwrap();
    assert_eq!(applied.sequence, 1);
    assert_eq!(refused(w.attempt(old_cred.as_bytes(), NOW)), Refusal::RetiredKey);
    let new_cred = issue_credential(&new_issuer, &w.claims(5)).unwrap();
    granted(w.attempt(new_cred.as_bytes(), NOW));
    // A retired id never comes back, even if an update says so.
    let update = issue_key_update(&w.root, 2, &[KeyUpdateOp::Add(w.issuer.trusted_key(KeyUsage::ISSUER))]).unwrap();
    w.lock.apply_key_update(update.as_bytes()).unwrap();
    assert_eq!(w.lock.trust().status(&w.issuer.key_id()), KeyStatus::Retired);
}

#[test]
fn key_updates_need_the_right_key_a_newer_sequence_and_keep_a_root() {
    let mut w = World::new();
    let extra = IssuerSigningKey::from_p256_secret(&[0x21; 32]).unwrap();
    let add = [KeyUpdateOp::Add(extra.trusted_key(KeyUsage::ISSUER))];
    // The online issuer key may not change the trust anchors.
    let by_issuer = issue_key_update(&w.issuer, 1, &add).unwrap();
    assert_eq!(w.lock.apply_key_update(by_issuer.as_bytes()), Err(KeyUpdateError::KeyNotAllowed));
    let update = issue_key_update(&w.root, 1, &add).unwrap();
    w.lock.apply_key_update(update.as_bytes()).unwrap();
    // Replayed, or older: refused.
    assert_eq!(w.lock.apply_key_update(update.as_bytes()), Err(KeyUpdateError::Stale { held: 1, offered: 1 }));
    // Retiring the only root would strand the lock.
    let strand = issue_key_update(&w.root, 2, &[KeyUpdateOp::Retire(w.root.key_id())]).unwrap();
    assert_eq!(w.lock.apply_key_update(strand.as_bytes()), Err(KeyUpdateError::NoUpdateKeyLeft));
    // The same kid with other key material is a conflict; nothing is applied.
    let before = w.lock.clone();
    let clash = IssuerSigningKey::from_ed25519_secret(&[0x22; 32]).with_key_id(extra.key_id());
    let bad = issue_key_update(
        &w.root,
        3,
        &[KeyUpdateOp::Retire(w.issuer.key_id()), KeyUpdateOp::Add(clash.trusted_key(KeyUsage::ISSUER))],
    )
    .unwrap();
    assert_eq!(w.lock.apply_key_update(bad.as_bytes()), Err(KeyUpdateError::KeyConflict));
    assert_eq!(w.lock, before);
    // The P-256 issuer added above is trusted for credentials.
    let cred = issue_credential(&extra, &w.claims(1)).unwrap();
    let g = granted(w.attempt(cred.as_bytes(), NOW));
    assert_eq!(g.issuer_key_id, extra.key_id());
}

#[test]
fn revoked_ids_and_epochs_are_refused() {
    let mut w = World::new();
    let c1 = w.claims(1);
    let c2 = w.claims(2);
    let (cred1, cred2) = (w.credential(&c1), w.credential(&c2));
    let bundle =
        w.revocation_bundle(1, 0, &[RevokedEntry { credential_id: c1.credential_id, expires_at: c1.expires_at }]);
    let applied = w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW, &w.cfg).unwrap();
    assert_eq!((applied.sequence, applied.epoch, applied.entries), (1, 0, 1));
    assert_eq!(refused(w.attempt(cred1.as_bytes(), NOW)), Refusal::Revoked);
    granted(w.attempt(cred2.as_bytes(), NOW));

    // Epoch 1 revokes everything issued under epoch 0.
    let cred3 = w.credential(&w.claims(3));
    let bundle = w.revocation_bundle(2, 1, &[]);
    w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW, &w.cfg).unwrap();
    assert_eq!(refused(w.attempt(cred3.as_bytes(), NOW)), Refusal::EpochRevoked);
    let cred4 = w.credential(&CredentialClaims { revocation_epoch: 1, ..w.claims(4) });
    granted(w.attempt(cred4.as_bytes(), NOW));
}

#[test]
fn an_older_revocation_bundle_replayed_is_refused() {
    let mut w = World::new();
    let c = w.claims(1);
    let entry = RevokedEntry { credential_id: c.credential_id, expires_at: c.expires_at };
    let first = w.revocation_bundle(1, 0, &[entry]);
    let second = w.revocation_bundle(2, 0, &[]);
    w.lock.apply_revocation_bundle(first.as_bytes(), NOW, &w.cfg).unwrap();
    w.lock.apply_revocation_bundle(second.as_bytes(), NOW, &w.cfg).unwrap();
    // Replaying the first one would un-revoke nothing here, but must not roll back either.
    assert_eq!(
        w.lock.apply_revocation_bundle(first.as_bytes(), NOW, &w.cfg),
        Err(RevocationError::Stale { held: 2, offered: 1 })
    );
    assert_eq!(
        w.lock.apply_revocation_bundle(second.as_bytes(), NOW, &w.cfg),
        Err(RevocationError::Stale { held: 2, offered: 2 })
    );
    // An epoch never goes down, a bundle for another lock is refused, the root key
    // (key updates only) may not sign bundles.
    let up = w.revocation_bundle(3, 5, &[]);
    w.lock.apply_revocation_bundle(up.as_bytes(), NOW, &w.cfg).unwrap();
    let down = w.revocation_bundle(4, 4, &[]);
    assert_eq!(w.lock.apply_revocation_bundle(down.as_bytes(), NOW, &w.cfg), Err(RevocationError::EpochRegressed));
    let other = issue_revocation_bundle(&w.issuer, &OTHER_LOCK, 9, 5, &[]).unwrap();
    assert_eq!(w.lock.apply_revocation_bundle(other.as_bytes(), NOW, &w.cfg), Err(RevocationError::WrongLock));
    let by_root = issue_revocation_bundle(&w.root, &LOCK, 9, 5, &[]).unwrap();
    assert_eq!(w.lock.apply_revocation_bundle(by_root.as_bytes(), NOW, &w.cfg), Err(RevocationError::KeyNotAllowed));
    assert_eq!(w.lock.revocation().sequence(), 3);
}

#[test]
fn expired_revocations_are_dropped() {
    let mut w = World::new();
    let live = RevokedEntry { credential_id: CredentialId([1; 16]), expires_at: NOW + 100 };
    let dead = RevokedEntry { credential_id: CredentialId([2; 16]), expires_at: NOW - 1000 };
    let bundle = w.revocation_bundle(1, 0, &[live, dead]);
    let applied = w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW, &w.cfg).unwrap();
    assert_eq!(applied.entries, 1);
    assert_eq!(w.lock.revocation().entries(), &[live]);
    // More than a lock can hold is refused by the issuer (bump the epoch instead).
    let many: Vec<_> =
        (0..65u8).map(|i| RevokedEntry { credential_id: CredentialId([i; 16]), expires_at: NOW + 100 }).collect();
    assert_eq!(issue_revocation_bundle(&w.issuer, &LOCK, 2, 0, &many).unwrap_err(), EncodeError::TooManyEntries);
}

#[test]
fn a_presentation_without_the_handheld_key_is_refused() {
    let mut w = World::new();
    let cred = w.credential(&w.claims(1));
    // The credential was copied to another device, which signs with its own key.
    let thief = HandheldKey::from_secret(&[0x99; 32]).unwrap();
    let (pending, opened) = w.challenge(NOW);
    assert_eq!(thief.present(&opened, cred.as_bytes()), Err(PresentError::NotMyCredential));
    let p = thief.sign_presentation(opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
    let v = w.lock.verify_presentation(pending, p.as_bytes(), NOW, &w.cfg);
    assert_eq!(refused(v), Refusal::BadPossessionProof);
    // Garbage instead of a signature.
    let (pending, opened) = w.challenge(NOW);
    let p = w.handheld.sign_presentation(opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
    let mut bytes = p.as_bytes().to_vec();
    let n = bytes.len();
    bytes[n - 64..].fill(0);
    assert_eq!(refused(w.lock.verify_presentation(pending, &bytes, NOW, &w.cfg)), Refusal::BadPossessionProof);
    // The credential was never spent.
    granted(w.attempt(cred.as_bytes(), NOW));
}

#[test]
fn a_response_to_an_old_challenge_is_refused() {
    let mut w = World::new();
    let cred = w.credential(&w.claims(1));
    // The handheld answers challenge 1 but the answer is captured, not delivered.
    let (old_pending, old_opened) = w.challenge(NOW);
    let captured = w.handheld.present(&old_opened, cred.as_bytes()).unwrap();
    // The lock moved on to challenge 2: the captured answer fails against it ...
    let (pending, _) = w.challenge(NOW + 10);
    let v = w.lock.verify_presentation(pending, captured.as_bytes(), NOW + 10, &w.cfg);
    assert_eq!(refused(v), Refusal::StaleChallenge);
    // ... and even against challenge 1 itself, since it is no longer the latest.
    let v = w.lock.verify_presentation(old_pending, captured.as_bytes(), NOW + 10, &w.cfg);
    assert_eq!(refused(v), Refusal::StaleChallenge);
    // Forging the counter does not help: the signature covers the nonce.
    let (pending, opened) = w.challenge(NOW + 20);
    let forged =
        w.handheld.sign_presentation(old_opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
    let v = w.lock.verify_presentation(pending, forged.as_bytes(), NOW + 20, &w.cfg);
    assert_eq!(refused(v), Refusal::BadPossessionProof);
    // A challenge answered too late.
    let (pending, opened) = w.challenge(NOW + 30);
    let late = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    let at = NOW + 30 + w.cfg.challenge_ttl_secs + 1;
    assert_eq!(refused(w.lock.verify_presentation(pending, late.as_bytes(), at, &w.cfg)), Refusal::ChallengeExpired);
    // Still unspent: a fresh challenge works.
    granted(w.attempt(cred.as_bytes(), NOW + 40));
}

#[test]
fn a_fake_lock_is_refused_by_the_handheld() {
    let mut w = World::new();
    let fake = LockDeviceKey::from_secret(&[0xee; 32]);
    let (_, signed) = w.lock.issue_challenge(&fake, Nonce([1; 16]), NOW).unwrap();
    assert_eq!(
        open_challenge(signed.as_bytes(), &w.device.public_key(), &LOCK).unwrap_err(),
        ChallengeError::BadSignature
    );
    let (_, signed) = w.lock.issue_challenge(&w.device, Nonce([2; 16]), NOW).unwrap();
    assert_eq!(
        open_challenge(signed.as_bytes(), &w.device.public_key(), &OTHER_LOCK).unwrap_err(),
        ChallengeError::WrongLock
    );
}

#[test]
fn a_clock_rolled_back_below_the_floor_is_refused() {
    let mut w = World::new();
    let first = w.credential(&w.claims(1));
    granted(w.attempt(first.as_bytes(), NOW));
    assert_eq!(w.lock.time_floor(), NOW);
    // Someone sets the lock's clock back an hour to replay a credential that expired.
    let c = CredentialClaims { not_before: NOW - 3900, expires_at: NOW - 3300, issued_at: NOW - 3900, ..w.claims(2) };
    let expired = w.credential(&c);
    assert_eq!(refused(w.attempt(expired.as_bytes(), NOW - 3600)), Refusal::ClockBelowFloor);
    // Events never go below the floor either.
    let e = w.lock.record_event(&w.device, &EventRecord::new(EventKind::DoorOpened), NOW - 3600).unwrap();
    let e = decode_event(e.as_bytes(), &w.device.public_key()).unwrap();
    assert_eq!((e.time, e.clock_lost), (NOW, true));
    // Door codes are not checked without a trustworthy time.
    let secret = DoorCodeSecret::from_bytes([7; 32]);
    let v =
        w.lock.check_door_code(&secret, b"12345678", NOW - 3600, &DoorCodePolicy::default(), &KeypadPolicy::default());
    assert!(matches!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::NoTrustedTime, .. }));
}

#[test]
fn a_lock_that_lost_its_clock_accepts_only_nonce_bound_credentials() {
    let mut w = World::new();
    w.lock.set_clock_lost(&w.device).unwrap();
    let garbage_time = 5; // the RTC reset to 1970
    let plain = w.credential(&w.claims(1));
    assert_eq!(refused(w.attempt(plain.as_bytes(), garbage_time)), Refusal::NonceRequired);

    // The challenge says the clock is lost; the handheld relays its nonce to the
    // service, which binds the credential to it.
    let (pending, opened) = w.challenge(garbage_time);
    assert!(opened.challenge().clock_lost);
    let issued_at = NOW + 100;
    let bound = w.credential(&CredentialClaims {
        challenge_nonce: Some(opened.challenge().nonce),
        issued_at,
        not_before: issued_at,
        expires_at: issued_at + 300,
        ..w.claims(2)
    });
    let p = w.handheld.present(&opened, bound.as_bytes()).unwrap();
    let g = granted(w.lock.verify_presentation(pending, p.as_bytes(), garbage_time, &w.cfg));
    assert!(g.nonce_bound);
    assert_eq!(g.clock_hint, Some(issued_at));

    // Bound to a nonce, it is useless against any other challenge.
    let bound3 = w.credential(&CredentialClaims { challenge_nonce: Some(Nonce([0xab; 16])), ..w.claims(3) });
    assert_eq!(refused(w.attempt(bound3.as_bytes(), garbage_time)), Refusal::NonceMismatch);

    // The lock resynchronises to the issuer's time and leaves lost-clock mode.
    w.lock.resync_clock(&w.device, g.clock_hint.unwrap()).unwrap();
    assert!(!w.lock.clock_lost());
    let later = w.credential(&CredentialClaims { not_before: issued_at, expires_at: issued_at + 300, ..w.claims(4) });
    granted(w.attempt(later.as_bytes(), issued_at + 10));
}
