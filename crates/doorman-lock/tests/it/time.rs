//! Clocks that go back, clocks that are lost, and the signed time that fixes them.

use doorman_lock::*;
use doorman_protocol::*;
use rand_core::OsRng;

use crate::fixture::*;

#[test]
fn a_clock_rolled_back_below_the_floor_admits_only_nonce_bound_credentials() {
    let mut w = World::new();
    let first = w.credential(1);
    assert!(w.enter(&first, NOW).decision.entry().is_some());
    // Someone sets the clock back two hours, inside an old credential's validity.
    let back = NOW - 7200;
    let mut claims = w.claims(2);
    claims.not_before = back - 60;
    claims.issued_at = back - 60;
    claims.expires_at = back + 600;
    let old = w.issue(&claims);
    assert_eq!(w.refusal(&old, back), Some(LockRefusal::Credential(Refusal::ClockBelowFloor)));
    assert!(w.lock.needs_time(back));
    // Door codes need trusted time.
    let code = door_code_at(back, 0);
    assert_eq!(
        w.lock.enter_door_code(&code, back).unwrap().decision.refusal(),
        Some(LockRefusal::DoorCode(DoorCodeRefusal::NoTrustedTime))
    );
    // A credential bound to this challenge's nonce proves it is fresh, opens, and its
    // issue time puts the lock's clock right.
    let signed = w.lock.challenge(&mut OsRng, back).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let mut claims = w.claims(3);
    claims.challenge_nonce = Some(opened.challenge().nonce);
    claims.issued_at = NOW + 10;
    claims.not_before = NOW + 10;
    claims.expires_at = NOW + 300;
    let bound = w.issue(&claims);
    let presentation = w.handheld.present(&opened, bound.as_bytes()).unwrap();
    let out = w.lock.present(presentation.as_bytes(), back).unwrap();
    assert!(out.decision.entry().is_some());
    assert!(w.kinds().contains(&EventKind::ClockRestored));
    assert_eq!(w.lock.lock_time(back), NOW + 10);
    assert!(!w.lock.needs_time(back));
    let (_, events) = w.upload(ChainHead::GENESIS);
    assert!(events.windows(2).all(|p| p[1].counter == p[0].counter + 1));
}

#[test]
fn a_signed_time_statement_corrects_the_clock_once() {
    let mut w = World::new();
    let host = NOW - 7200; // the host's clock is two hours behind
    assert!(w.lock.needs_time(host));
    let nonce = w.lock.time_request(&mut OsRng, host);
    let statement = issue_time_statement(&w.issuer, LOCK, nonce, NOW, &mut OsRng).unwrap();
    let sync = w.lock.apply_time_statement(statement.as_bytes(), host + 1).unwrap().unwrap();
    assert!(sync.resynced);
    assert_eq!(sync.service_time, NOW);
    assert_eq!(w.lock.lock_time(host + 1), NOW);
    assert_eq!(w.last_event().record.kind, EventKind::ClockRestored);
    // The correction is persisted.
    w.reboot();
    assert_eq!(w.lock.lock_time(host + 1), NOW);
    // Replaying the statement later (to roll the clock back) is refused.
    assert_eq!(
        w.lock.apply_time_statement(statement.as_bytes(), host + 100).unwrap(),
        Err(TimeStatementError::NotRequested)
    );
    let nonce = w.lock.time_request(&mut OsRng, host + 100);
    assert_eq!(
        w.lock.apply_time_statement(statement.as_bytes(), host + 101).unwrap(),
        Err(TimeStatementError::NotForThisRequest)
    );
    // A small forward drift is corrected with a ClockAdjusted event.
    let statement = issue_time_statement(&w.issuer, LOCK, nonce, NOW + 130, &mut OsRng).unwrap();
    let sync = w.lock.apply_time_statement(statement.as_bytes(), host + 101).unwrap().unwrap();
    assert!(!sync.resynced);
    assert_eq!(sync.drift_secs, 30);
    assert_eq!(LockEventKind::from_event_kind(w.last_event().record.kind), Some(LockEventKind::ClockAdjusted));
}

#[test]
fn time_statements_from_strangers_or_for_other_locks_are_refused() {
    let mut w = World::new();
    let nonce = w.lock.time_request(&mut OsRng, NOW);
    let stranger = IssuerSigningKey::from_ed25519_secret(&[6; 32]);
    let forged = issue_time_statement(&stranger, LOCK, nonce, NOW + 1000, &mut OsRng).unwrap();
    assert_eq!(
        w.lock.apply_time_statement(forged.as_bytes(), NOW).unwrap(),
        Err(TimeStatementError::Untrusted(Refusal::UnknownKey))
    );
    let other = issue_time_statement(&w.issuer, LockId([1; 16]), nonce, NOW + 1000, &mut OsRng).unwrap();
    assert_eq!(w.lock.apply_time_statement(other.as_bytes(), NOW).unwrap(), Err(TimeStatementError::NotForThisRequest));
    // An ordinary credential is not a time statement.
    let cred = w.credential(1);
    assert_eq!(w.lock.apply_time_statement(cred.as_bytes(), NOW).unwrap(), Err(TimeStatementError::NotForThisRequest));
    // Too late.
    let late = issue_time_statement(&w.issuer, LOCK, nonce, NOW + 5, &mut OsRng).unwrap();
    let ttl = w.config.time_request_ttl_secs;
    assert_eq!(
        w.lock.apply_time_statement(late.as_bytes(), NOW + ttl + 1).unwrap(),
        Err(TimeStatementError::NotRequested)
    );
}

#[test]
fn a_time_statement_never_opens_the_door() {
    let mut w = World::new();
    let nonce = w.lock.time_request(&mut OsRng, NOW);
    let statement = issue_time_statement(&w.issuer, LOCK, nonce, NOW, &mut OsRng).unwrap();
    let signed = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let attacker = HandheldKey::from_secret(&[8; 32]).unwrap();
    let p = attacker.sign_presentation(opened.payload(), opened.challenge().counter, statement.as_bytes()).unwrap();
    let out = w.lock.present(p.as_bytes(), NOW).unwrap();
    assert_eq!(out.decision.refusal(), Some(LockRefusal::Credential(Refusal::NonceMismatch)));
}

#[test]
fn a_lost_clock_refuses_plain_credentials_and_codes() {
    let mut w = World::new();
    w.lock.clock_lost(NOW).unwrap();
    assert_eq!(w.last_event().record.kind, EventKind::ClockLost);
    let cred = w.credential(1);
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::Credential(Refusal::NonceRequired)));
    w.reboot();
    assert!(w.lock.needs_time(NOW));
    assert_eq!(
        w.lock.enter_door_code(&door_code_at(NOW, 0), NOW).unwrap().decision.refusal(),
        Some(LockRefusal::DoorCode(DoorCodeRefusal::NoTrustedTime))
    );
}
