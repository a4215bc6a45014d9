//! The event ring: bounded, trimmed only by acknowledgements, nothing lost, nothing doubled.

use std::collections::BTreeMap;

use doorman_lock::*;
use doorman_protocol::*;

use crate::fixture::*;

/// The service side of uploads: stores each event once by counter, checks the chain.
struct Service {
    verifier: EventChainVerifier,
    stored: BTreeMap<u64, Vec<u8>>,
    duplicates: usize,
}

impl Service {
    fn new() -> Self {
        Self { verifier: EventChainVerifier::new(device_public(), LOCK), stored: BTreeMap::new(), duplicates: 0 }
    }

    /// Uploads everything the lock holds, then acknowledges.
    fn sync<S: LockStorage + Clone>(&mut self, w: &mut World<S>, now: u64) {
        self.upload(w);
        w.lock.acknowledge(self.verifier.head().counter, now).unwrap();
    }

    /// Uploads everything the lock holds; what was stored already is recognised.
    fn upload<S: LockStorage + Clone>(&mut self, w: &World<S>) {
        let upload: Vec<Vec<u8>> = w.lock.events_after(0).map(|(_, b)| b.to_vec()).collect();
        for bytes in upload {
            match self.verifier.push(&bytes) {
                Ok(e) => {
                    assert!(self.stored.insert(e.counter, bytes).is_none());
                }
                Err(ChainError::AlreadySeen { counter, hash }) => {
                    let kept = decode_event(&self.stored[&counter], &device_public()).unwrap();
                    assert_eq!(kept.hash, hash, "a fork, not a repeat");
                    self.duplicates += 1;
                }
                Err(e) => panic!("chain broken: {e:?}"),
            }
        }
    }
}

#[test]
fn refusals_cannot_fill_the_ring_and_entries_wait_for_room() {
    let mut w = World::new();
    // Garbage at the door, many times: recorded until half full, then only counted.
    let mut now = NOW;
    for _ in 0..100 {
        now += 1;
        w.lock.present(b"garbage", now).unwrap();
    }
    let h = w.lock.health(now);
    assert_eq!(h.unacked_events, EVENT_RING_CAPACITY - LOW_PRIORITY_FREE);
    assert_eq!(h.suppressed_events as usize, 100 - (EVENT_RING_CAPACITY - LOW_PRIORITY_FREE - 1));
    // A real delivery still gets in.
    let cred = w.credential(1);
    assert!(w.enter(&cred, now).decision.entry().is_some());
    // Door cycles (a resident's key, say) fill the ring up to the entry reserve...
    while w.lock.health(now).unacked_events + ENTRY_RESERVE <= EVENT_RING_CAPACITY {
        now += 1;
        w.lock.release_from_inside(now).unwrap();
    }
    // ...and then entries are refused until the service takes the events.
    let next = w.credential(2);
    assert_eq!(w.refusal(&next, now), Some(LockRefusal::EventLogFull));
    let mut service = Service::new();
    service.sync(&mut w, now);
    assert_eq!(w.lock.health(now).unacked_events, 1, "only the suppression summary is left");
    let summary = w.last_event();
    assert_eq!(LockEventKind::from_event_kind(summary.record.kind), Some(LockEventKind::EventsSuppressed));
    assert!(summary.record.value > 60);
    assert!(w.enter(&next, now + 1).decision.entry().is_some());
    assert_eq!(w.lock.health(now).dropped_events, 0);
}

#[test]
fn acknowledgements_trim_only_what_was_stored_and_survive_restarts() {
    let mut w = World::new();
    for i in 0..5u8 {
        let c = w.credential(i + 1);
        w.enter(&c, NOW + u64::from(i));
    }
    let head = w.lock.event_head().counter;
    assert_eq!(w.lock.acknowledge(3, NOW).unwrap(), 3);
    assert_eq!(w.lock.acked(), 3);
    assert_eq!(w.lock.events_after(0).next().unwrap().0, 4);
    // Old and repeated acknowledgements do nothing; one beyond the head is clamped.
    assert_eq!(w.lock.acknowledge(2, NOW).unwrap(), 0);
    assert_eq!(w.lock.acknowledge(3, NOW).unwrap(), 0);
    w.reboot();
    assert_eq!(w.lock.acked(), 3);
    assert_eq!(w.lock.acknowledge(u64::MAX, NOW).unwrap() as u64, head - 3);
    assert_eq!(w.lock.acked(), head);
    assert_eq!(w.lock.events_after(0).count(), 0);
    // The next event continues the chain.
    w.lock.door_opened(NOW + 10).unwrap();
    assert_eq!(w.lock.events_after(0).next().unwrap().0, head + 1);
}

#[test]
fn offline_for_a_while_then_everything_arrives_once() {
    let mut w = World::new();
    let mut service = Service::new();
    let mut now = NOW;
    for round in 0..6u8 {
        // Offline: a few deliveries with their door cycles, a refusal, a reboot.
        for i in 0..3u8 {
            now += 5;
            let c = w.credential(round * 10 + i + 1);
            let out = w.enter(&c, now);
            assert!(out.decision.entry().is_some(), "round {round} delivery {i}: {:?}", out.decision);
            w.lock.door_opened(now + 1).unwrap();
            w.lock.door_closed(now + 2).unwrap();
            w.lock.present(b"noise", now + 3).unwrap();
        }
        w.reboot();
        // Online: the first acknowledgement is lost, so the lock sends everything again.
        service.upload(&w);
        service.sync(&mut w, now);
    }
    assert_eq!(service.duplicates, 6 * 18 + 1);
    assert_eq!(service.stored.len() as u64, w.lock.event_head().counter);
    let counters: Vec<u64> = service.stored.keys().copied().collect();
    assert_eq!(counters, (1..=w.lock.event_head().counter).collect::<Vec<_>>());
    let grants = service
        .stored
        .values()
        .filter(|b| decode_event(b, &device_public()).unwrap().record.kind == EventKind::AccessGranted)
        .count();
    assert_eq!(grants, 18);
}
