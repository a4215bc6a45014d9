//! Door codes: one use, bounded window, growing keypad lockout.

use doorman_protocol::*;

use crate::common::*;

fn setup() -> (World, DoorCodeSecret, DoorCodePolicy, KeypadPolicy) {
    let w = World::new();
    let secret = derive_door_code_secret(b"service master secret, 32 bytes!", &LOCK).unwrap();
    (w, secret, DoorCodePolicy::default(), KeypadPolicy::default())
}

fn code_text(secret: &DoorCodeSecret, slot: u64, index: u8, policy: &DoorCodePolicy) -> String {
    door_code(secret, slot, index, policy).unwrap().to_string()
}

#[test]
fn secrets_differ_per_lock_and_master() {
    let master = b"service master secret, 32 bytes!";
    let a = derive_door_code_secret(master, &LOCK).unwrap();
    let b = derive_door_code_secret(master, &OTHER_LOCK).unwrap();
    let c = derive_door_code_secret(b"another master secret, 32 bytes", &LOCK).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_eq!(format!("{a:?}"), "DoorCodeSecret(..)");
}

#[test]
fn a_code_opens_once_within_its_window() {
    let (mut w, secret, policy, keypad) = setup();
    let slot = policy.time_slot(NOW);
    let code = code_text(&secret, slot, 2, &policy);
    assert_eq!(code.len(), 8);
    let v = w.lock.check_door_code(&secret, code.as_bytes(), NOW, &policy, &keypad);
    assert_eq!(v, DoorCodeVerdict::Accepted { slot, index: 2 });
    // Reused: refused, and counted as a failure.
    let v = w.lock.check_door_code(&secret, code.as_bytes(), NOW + 1, &policy, &keypad);
    assert_eq!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::Reused, locked_until: None });
    // Also after a restart from the persisted state.
    w.lock = LockState::from_bytes(&w.lock.to_bytes()).unwrap();
    let v = w.lock.check_door_code(&secret, code.as_bytes(), NOW + 2, &policy, &keypad);
    assert!(matches!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::Reused, .. }));
}

#[test]
fn codes_outside_the_window_or_for_another_lock_are_wrong() {
    let (mut w, secret, policy, keypad) = setup();
    let slot = policy.time_slot(NOW);
    // Two slots back is still valid, three is not; one ahead is valid (skew), two is not.
    for (s, ok) in [(slot - 3, false), (slot - 2, true), (slot + 1, true), (slot + 2, false)] {
        let code = code_text(&secret, s, 0, &policy);
        let v = w.lock.check_door_code(&secret, code.as_bytes(), NOW, &policy, &keypad);
        assert_eq!(matches!(v, DoorCodeVerdict::Accepted { .. }), ok, "slot offset {}", s as i64 - slot as i64);
    }
    let other = derive_door_code_secret(b"service master secret, 32 bytes!", &OTHER_LOCK).unwrap();
    let code = code_text(&other, slot, 0, &policy);
    let v = w.lock.check_door_code(&secret, code.as_bytes(), NOW, &policy, &keypad);
    assert!(matches!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::WrongCode, .. }));
    // Not eight digits.
    for bad in [&b"1234567"[..], b"123456789", b"1234567a", b""] {
        let v = w.lock.check_door_code(&secret, bad, NOW, &policy, &keypad);
        assert!(matches!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::Malformed, .. }));
    }
}

#[test]
fn a_brute_forced_keypad_locks_out_for_growing_times() {
    let (mut w, secret, policy, keypad) = setup();
    let real = code_text(&secret, policy.time_slot(NOW), 0, &policy);
    let mut now = NOW;
    let mut guess = 0u32;
    let mut wrong = |w: &mut World, now: u64| loop {
        guess += 1;
        let g = format!("{guess:08}");
        if g != real {
            return w.lock.check_door_code(&secret, g.as_bytes(), now, &policy, &keypad);
        }
    };
    // Five free attempts.
    for _ in 0..5 {
        assert_eq!(
            wrong(&mut w, now),
            DoorCodeVerdict::Refused { reason: DoorCodeRefusal::WrongCode, locked_until: None }
        );
    }
    // Then 30 s, 60 s, 120 s, ... up to 900 s.
    let mut lockouts = Vec::new();
    for _ in 0..8 {
        let DoorCodeVerdict::Refused { reason: DoorCodeRefusal::WrongCode, locked_until: Some(until) } =
            wrong(&mut w, now)
        else {
            panic!("expected a lockout");
        };
        lockouts.push(until - now);
        // While locked out even the right code is not looked at.
        let v = w.lock.check_door_code(&secret, real.as_bytes(), until - 1, &policy, &keypad);
        assert_eq!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::LockedOut, locked_until: Some(until) });
        now = until;
    }
    assert_eq!(lockouts, [30, 60, 120, 240, 480, 900, 900, 900]);
    // The lockout survives a restart.
    w.lock = LockState::from_bytes(&w.lock.to_bytes()).unwrap();
    assert_eq!(w.lock.keypad().failures(), 13);
    // The right code, once the keypad is open again, opens and resets the count.
    let real_now = code_text(&secret, policy.time_slot(now), 1, &policy);
    let v = w.lock.check_door_code(&secret, real_now.as_bytes(), now, &policy, &keypad);
    assert!(matches!(v, DoorCodeVerdict::Accepted { .. }));
    assert_eq!(w.lock.keypad().failures(), 0);
}

#[test]
fn brute_force_odds_are_what_the_protocol_document_says() {
    let odds = brute_force_odds(&DoorCodePolicy::default(), &KeypadPolicy::default());
    assert_eq!(odds.guesses_per_day, 105);
    assert_eq!(odds.valid_codes, 16);
    assert_eq!(odds.code_space, 100_000_000);
    let p = odds.probability_per_day();
    assert!((p - 1.68e-5).abs() < 1e-9, "{p}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md")).unwrap();
    for figure in ["105 guesses", "16 valid codes", "1.7 × 10⁻⁵"] {
        assert!(doc.contains(figure), "docs/PROTOCOL.md should state {figure:?}");
    }
}

#[test]
fn codes_are_rfc4226_truncations_of_hmac_sha256() {
    // The HOTP counter is slot * codes_per_slot + index: slot 0 index 0 is counter 0.
    // RFC 6238's SHA-256 test key, counter 1 (T = 59 s, 30 s steps) gives 46119246.
    let secret = DoorCodeSecret::from_bytes(*b"12345678901234567890123456789012");
    let policy = DoorCodePolicy::new(30, 0, 0, 1, 8).unwrap();
    assert_eq!(door_code(&secret, 1, 0, &policy).unwrap().to_string(), "46119246");
    // T = 1111111109 -> counter 37037036 -> 68084774 (RFC 6238 appendix B).
    assert_eq!(door_code(&secret, 37_037_036, 0, &policy).unwrap().to_string(), "68084774");
}
