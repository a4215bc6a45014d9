//! The bolt and the door: relock, ajar alarm, forced door.

use doorman_lock::*;
use doorman_protocol::*;

use crate::fixture::*;

#[test]
fn the_bolt_relocks_when_the_door_closes_after_an_entry() {
    let mut w = World::new();
    w.lock.camera_heartbeat(NOW).unwrap();
    let cred = w.credential(1);
    w.enter(&cred, NOW);
    assert_eq!(w.lock.door_opened(NOW + 2).unwrap().alarm, None);
    // Past the relock timeout with the door open: the bolt waits, the ajar alarm goes off.
    let fx = w.lock.tick(NOW + 62).unwrap();
    assert_eq!(fx.bolt, None);
    assert_eq!(fx.alarm, Some(Alarm::DoorAjar { open_secs: 60 }));
    let fx = w.lock.door_closed(NOW + 63).unwrap();
    assert_eq!(fx.bolt, Some(BoltCommand::Throw));
    assert_eq!(w.lock.bolt(), BoltState::Locked);
    let (_, events) = w.upload(ChainHead::GENESIS);
    let kinds: Vec<_> = events.iter().map(|e| e.record.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Provisioned,
            EventKind::AccessGranted,
            EventKind::Unlocked,
            EventKind::DoorOpened,
            LockEventKind::DoorAjar.event_kind(),
            EventKind::DoorClosed,
            LockEventKind::DoorAjarCleared.event_kind(),
            LockEventKind::Relocked.event_kind(),
        ]
    );
    // The door events of an entry carry the delivery they belong to.
    let door_events = [&events[3], &events[5], &events[7]];
    assert!(door_events.iter().all(|e| e.record.delivery_hash == Some(DeliveryHash([1; 16]))));
}

#[test]
fn the_bolt_relocks_on_the_timeout_when_nobody_opens() {
    let mut w = World::new();
    let cred = w.credential(1);
    let entry = *w.enter(&cred, NOW).decision.entry().unwrap();
    assert_eq!(w.lock.tick(entry.relock_at - 1).unwrap().bolt, None);
    let fx = w.lock.tick(entry.relock_at).unwrap();
    assert_eq!(fx.bolt, Some(BoltCommand::Throw));
    let relocked = w.last_event();
    assert_eq!(LockEventKind::from_event_kind(relocked.record.kind), Some(LockEventKind::Relocked));
    assert_eq!(relocked.record.value, 1);
}

#[test]
fn a_door_left_open_raises_the_alarm_once() {
    let mut w = World::new();
    w.lock.release_from_inside(NOW).unwrap();
    w.lock.door_opened(NOW).unwrap();
    let after = w.config.ajar_alarm_after_secs;
    assert_eq!(w.lock.tick(NOW + after - 1).unwrap().alarm.filter(|a| *a != Alarm::CameraStale), None);
    assert_eq!(w.lock.tick(NOW + after).unwrap().alarm, Some(Alarm::DoorAjar { open_secs: after }));
    assert_eq!(w.lock.tick(NOW + after + 1).unwrap().alarm, None);
    assert!(matches!(w.lock.door(), DoorState::Open { ajar_alarm: true, .. }));
}

#[test]
fn a_door_opened_while_locked_is_recorded_as_forced() {
    let mut w = World::new();
    let fx = w.lock.door_opened(NOW).unwrap();
    assert_eq!(fx.alarm, Some(Alarm::DoorForced));
    let opened = w.last_event();
    assert_eq!(opened.record.kind, EventKind::DoorOpened);
    assert_eq!(opened.record.value, 1);
    // Repeated sensor reports change nothing.
    assert_eq!(w.lock.door_opened(NOW + 1).unwrap().events_recorded, 0);
}
