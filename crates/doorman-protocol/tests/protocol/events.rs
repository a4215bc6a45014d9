//! Receipts: a gap, a rewrite, a suppressed event all show.

use doorman_protocol::*;

use crate::common::*;

fn record(w: &mut World, kind: EventKind, now: u64) -> Vec<u8> {
    w.lock.record_event(&w.device, &EventRecord::new(kind), now).unwrap().as_bytes().to_vec()
}

#[test]
fn a_clean_chain_verifies_and_resumes() {
    let mut w = World::new();
    let events: Vec<_> = (0..5).map(|i| record(&mut w, EventKind::DoorOpened, NOW + i)).collect();
    let key = w.device.public_key();
    let head = verify_event_chain(key, LOCK, ChainHead::GENESIS, std::iter::empty::<&[u8]>()).unwrap();
    assert_eq!(head, ChainHead::GENESIS);
    let head = verify_event_chain(key, LOCK, ChainHead::GENESIS, events[..2].iter().map(Vec::as_slice)).unwrap();
    assert_eq!(head.counter, 2);
    let head = verify_event_chain(key, LOCK, head, events[2..].iter().map(Vec::as_slice)).unwrap();
    assert_eq!(head.counter, 5);
    assert_eq!(head.hash, w.lock.event_head().hash);
    // Decoded content.
    let e = decode_event(&events[0], &key).unwrap();
    assert_eq!((e.counter, e.time, e.prev_hash, e.record.kind), (1, NOW, [0; 32], EventKind::DoorOpened));
}

#[test]
fn a_gap_a_rewrite_a_repeat_and_a_forgery_show() {
    let mut w = World::new();
    let e1 = record(&mut w, EventKind::AccessGranted, NOW);
    let fork = w.lock.clone();
    let e2 = record(&mut w, EventKind::Unlocked, NOW + 1);
    let e3 = record(&mut w, EventKind::DoorOpened, NOW + 2);
    let key = w.device.public_key();
    let chain =
        |events: &[&Vec<u8>]| verify_event_chain(key, LOCK, ChainHead::GENESIS, events.iter().map(|e| e.as_slice()));

    // Suppressed event 2: a gap.
    assert_eq!(chain(&[&e1, &e3]), Err((1, ChainError::Gap { expected: 2, found: 3 })));
    // Event 2 rewritten (the device key re-signs a different event 2): the link breaks.
    let mut forked = fork;
    let e2_rewritten =
        forked.record_event(&w.device, &EventRecord::new(EventKind::DoorClosed), NOW + 1).unwrap().as_bytes().to_vec();
    assert_eq!(chain(&[&e1, &e2_rewritten]).map(|h| h.counter), Ok(2));
    assert_eq!(chain(&[&e1, &e2_rewritten, &e3]), Err((2, ChainError::BrokenLink)));
    // Event 2 edited without the key: its signature fails.
    let mut edited = e2.clone();
    let n = edited.len();
    edited[n - 70] ^= 1;
    assert_eq!(chain(&[&e1, &edited]), Err((1, ChainError::BadSignature)));
    // Uploaded twice: recognisable as already seen.
    let hash2 = decode_event(&e2, &key).unwrap().hash;
    assert_eq!(chain(&[&e1, &e2, &e2]), Err((2, ChainError::AlreadySeen { counter: 2, hash: hash2 })));
    // Another lock's key does not verify.
    let other = LockDeviceKey::from_secret(&[0x31; 32]).public_key();
    assert_eq!(
        verify_event_chain(other, LOCK, ChainHead::GENESIS, [e1.as_slice()]),
        Err((0, ChainError::BadSignature))
    );
    // Suppressing the tail (event 3) shows in the lock's next challenge.
    let (_, opened) = w.challenge(NOW + 3);
    assert_eq!(opened.challenge().event_counter, 3);
}

#[test]
fn event_times_never_go_backwards_except_an_announced_clock_restore() {
    let mut w = World::new();
    let e1 = record(&mut w, EventKind::DoorOpened, NOW + 100);
    let e2 = record(&mut w, EventKind::DoorClosed, NOW + 50); // clock stepped back
    let key = w.device.public_key();
    let head = verify_event_chain(key, LOCK, ChainHead::GENESIS, [e1.as_slice(), e2.as_slice()]).unwrap();
    assert_eq!(head.time, NOW + 100);
    assert!(decode_event(&e2, &key).unwrap().clock_lost);
    // A resync to an earlier, trusted time is announced by its own event.
    let e3 = w.lock.resync_clock(&w.device, NOW + 10).unwrap().as_bytes().to_vec();
    let e4 = record(&mut w, EventKind::DoorOpened, NOW + 20);
    let head = verify_event_chain(key, LOCK, head, [e3.as_slice(), e4.as_slice()]).unwrap();
    assert_eq!((head.counter, head.time), (4, NOW + 20));
}

#[test]
fn events_carry_what_the_service_needs() {
    let mut w = World::new();
    let rec = EventRecord {
        kind: EventKind::CameraClip,
        credential_id: Some(CredentialId([9; 16])),
        delivery_hash: Some(DeliveryHash([8; 16])),
        value: 42,
        data: Some([7; 32]),
    };
    let e = w.lock.record_event(&w.device, &rec, NOW).unwrap();
    assert!(e.len() <= 256);
    let d = decode_event(e.as_bytes(), &w.device.public_key()).unwrap();
    assert_eq!(d.record, rec);
    assert_eq!(EventKind::from_code(999), EventKind::Other(999));
    for r in Refusal::ALL {
        assert_eq!(Refusal::from_code(r.code()), Some(r));
    }
}
