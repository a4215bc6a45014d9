//! Door codes: once only, and a keypad that locks out for longer and longer.

use doorman_lock::*;
use doorman_protocol::*;

use crate::fixture::*;

#[test]
fn a_door_code_opens_once() {
    let mut w = World::new();
    let code = door_code_at(NOW, 0);
    let out = w.lock.enter_door_code(&code, NOW).unwrap();
    assert_eq!(out.decision.entry().unwrap().source, EntrySource::Keypad);
    assert_eq!(out.effects.bolt, Some(BoltCommand::Release));
    assert!(out.effects.camera.is_some());
    let accepted = w.kinds();
    assert_eq!(&accepted[1..], &[EventKind::DoorCodeAccepted, EventKind::Unlocked]);
    let again = w.lock.enter_door_code(&code, NOW + 10).unwrap();
    assert_eq!(again.decision.refusal(), Some(LockRefusal::DoorCode(DoorCodeRefusal::Reused)));
    // Still reused after a power cut.
    w.reboot();
    let after = w.lock.enter_door_code(&code, NOW + 20).unwrap();
    assert_eq!(after.decision.refusal(), Some(LockRefusal::DoorCode(DoorCodeRefusal::Reused)));
}

#[test]
fn brute_force_meets_a_growing_lockout_that_survives_reboots() {
    let mut w = World::new();
    let policy = KeypadPolicy::default();
    let mut now = NOW;
    let mut lockouts = Vec::new();
    for attempt in 1..=9u32 {
        let out = w.lock.enter_door_code(b"00000000", now).unwrap();
        assert_eq!(
            out.decision.refusal(),
            Some(LockRefusal::DoorCode(DoorCodeRefusal::WrongCode)),
            "attempt {attempt}"
        );
        let until = w.lock.health(now).keypad_locked_until;
        if until > now {
            lockouts.push(until - now);
            // While locked out even the right code is not looked at, nor recorded.
            let head = w.lock.event_head().counter;
            let right = door_code_at(now, 1);
            let refused = w.lock.enter_door_code(&right, now + 1).unwrap();
            assert_eq!(refused.decision.refusal(), Some(LockRefusal::DoorCode(DoorCodeRefusal::LockedOut)));
            assert_eq!(w.lock.event_head().counter, head);
            // A reboot does not reset the lockout.
            w.reboot();
            assert_eq!(w.lock.health(now).keypad_locked_until, until);
            now = until;
        }
    }
    assert_eq!(lockouts, vec![30, 60, 120, 240]);
    assert_eq!(policy.lockout_after(9), 240);
    let kinds = w.kinds();
    assert!(kinds.contains(&EventKind::KeypadLockedOut));
    // The right code after the lockout opens, and resets the count.
    let code = door_code_at(now, 2);
    assert!(w.lock.enter_door_code(&code, now).unwrap().decision.entry().is_some());
    assert_eq!(w.lock.health(now).keypad_failures, 0);
}

#[test]
fn a_lock_without_a_keypad_secret_refuses_codes() {
    let storage = MemoryStorage::new();
    let issuer = IssuerSigningKey::from_ed25519_secret(&[7; 32]);
    let identity = LockIdentity { door_code_secret: None, ..identity() };
    let mut lock = Lock::provision(identity, &[issuer.trusted_key(KeyUsage::ALL)], config(), storage, NOW).unwrap();
    let out = lock.enter_door_code(b"12345678", NOW).unwrap();
    assert_eq!(out.decision.refusal(), Some(LockRefusal::NoKeypad));
}
