//! Random sequences of everything that can happen to a lock, with reboots and
//! acknowledgements in between: the invariants hold after every step.

use std::collections::HashSet;

use doorman_lock::*;
use doorman_protocol::*;
use proptest::prelude::*;

use crate::fixture::*;

#[derive(Debug, Clone)]
enum Step {
    Deliver,
    ReplayLast,
    Garbage,
    DoorCode(bool),
    Open,
    Close,
    Wait(u64),
    Reboot,
    Ack(u8),
    Heartbeat,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Deliver),
        2 => Just(Step::ReplayLast),
        2 => Just(Step::Garbage),
        1 => any::<bool>().prop_map(Step::DoorCode),
        2 => Just(Step::Open),
        2 => Just(Step::Close),
        2 => (1u64..120).prop_map(Step::Wait),
        1 => Just(Step::Reboot),
        2 => any::<u8>().prop_map(Step::Ack),
        1 => Just(Step::Heartbeat),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_whatever_happens(steps in proptest::collection::vec(step(), 1..60)) {
        let mut w = World::new();
        let mut now = NOW;
        let mut service = EventChainVerifier::new(device_public(), LOCK);
        let mut granted: HashSet<CredentialId> = HashSet::new();
        let mut last: Option<Credential> = None;
        let mut cti = 0u8;
        let mut dropped = 0u32;
        for s in steps {
            now += 1;
            match s {
                Step::Deliver => {
                    cti = cti.wrapping_add(1);
                    let c = w.credential(cti);
                    let out = w.enter(&c, now);
                    if let Some(e) = out.decision.entry() {
                        prop_assert!(granted.insert(e.credential_id.unwrap()), "a credential opened twice");
                        prop_assert_eq!(out.effects.bolt, Some(BoltCommand::Release));
                    }
                    last = Some(c);
                }
                Step::ReplayLast => {
                    if let Some(c) = last.clone() {
                        let out = w.enter(&c, now);
                        // A credential opens at most once. One refused for a
                        // passing reason (the event ring full until the
                        // service acknowledges) may still open, once.
                        if let Some(e) = out.decision.entry() {
                            prop_assert!(granted.insert(e.credential_id.unwrap()), "a replay opened the door");
                        }
                    }
                }
                Step::Garbage => {
                    prop_assert!(w.lock.present(b"\x83\x01\x40\x40", now).unwrap().decision.refusal().is_some());
                }
                Step::DoorCode(right) => {
                    let code = if right { door_code_at(now, 3) } else { b"99999999".to_vec() };
                    w.lock.enter_door_code(&code, now).unwrap();
                }
                Step::Open => { w.lock.door_opened(now).unwrap(); }
                Step::Close => { w.lock.door_closed(now).unwrap(); }
                Step::Wait(secs) => { now += secs; w.lock.tick(now).unwrap(); }
                Step::Reboot => {
                    let head = w.lock.event_head();
                    w.reboot();
                    prop_assert_eq!(w.lock.event_head(), head);
                    prop_assert_eq!(w.lock.bolt(), BoltState::Locked);
                }
                Step::Ack(n) => {
                    // The service takes some of what is waiting, in order, and acknowledges it.
                    let take: Vec<Vec<u8>> = w.lock.events_after(service.head().counter).take(usize::from(n % 16)).map(|(_, b)| b.to_vec()).collect();
                    for b in take {
                        prop_assert!(service.push(&b).is_ok());
                    }
                    w.lock.acknowledge(service.head().counter, now).unwrap();
                }
                Step::Heartbeat => { w.lock.camera_heartbeat(now).unwrap(); }
            }
            // Invariants: the ring holds exactly acked+1 ..= head, and continues the
            // service's chain without a gap.
            let h = w.lock.health(now);
            prop_assert!(h.unacked_events <= EVENT_RING_CAPACITY);
            prop_assert_eq!(h.acked_counter + h.unacked_events as u64, h.event_counter);
            let mut check = service.clone();
            for (_, b) in w.lock.events_after(service.head().counter) {
                prop_assert!(check.push(b).is_ok());
            }
            prop_assert_eq!(check.head(), w.lock.event_head());
            // The ring is bounded: an event is dropped (and counted) only when
            // the ring is full of unacknowledged ones, never to make room.
            if h.dropped_events > dropped {
                prop_assert!(h.unacked_events + 1 >= EVENT_RING_CAPACITY, "dropped with room left: {h:?}");
            }
            dropped = h.dropped_events;
        }
    }
}
