//! The camera rule: a jammed camera must not let a courier in unrecorded.

use doorman_lock::*;
use doorman_protocol::*;
use rand_core::OsRng;

use crate::fixture::*;

fn camera_config() -> LockConfig {
    LockConfig { camera: CameraPolicy { refuse_entry_when_stale: true, max_heartbeat_age_secs: 30 }, ..config() }
}

#[test]
fn a_stale_camera_refuses_deliveries_and_reports_it_without_spending_the_credential() {
    let mut w = World::with(MemoryStorage::new(), camera_config());
    let cred = w.credential(1);
    w.lock.camera_heartbeat(NOW - 100).unwrap();
    // The camera went quiet 100 s ago (jammed): refused before the credential is read.
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::CameraStale));
    let refused = w.last_event();
    assert_eq!(refused.record.kind, EventKind::AccessRefused);
    assert_eq!(LockRefusal::from_code(refused.record.kind, refused.record.value), Some(LockRefusal::CameraStale));
    // Door codes too, and the code is not spent either.
    let code = door_code_at(NOW, 0);
    assert_eq!(w.lock.enter_door_code(&code, NOW).unwrap().decision.refusal(), Some(LockRefusal::CameraStale));
    // The tick notices and records the stale camera once, with an alarm.
    let fx = w.lock.tick(NOW).unwrap();
    assert_eq!(fx.alarm, Some(Alarm::CameraStale));
    assert_eq!(LockEventKind::from_event_kind(w.last_event().record.kind), Some(LockEventKind::CameraStale));
    assert_eq!(w.lock.tick(NOW + 1).unwrap().events_recorded, 0);
    assert!(w.lock.health(NOW).camera_stale);
    // The camera comes back: recorded, and the same credential and code now work.
    w.lock.camera_heartbeat(NOW + 2).unwrap();
    assert_eq!(LockEventKind::from_event_kind(w.last_event().record.kind), Some(LockEventKind::CameraRestored));
    assert!(w.enter(&cred, NOW + 3).decision.entry().is_some());
    assert!(w.lock.enter_door_code(&code, NOW + 4).unwrap().decision.entry().is_some());
}

#[test]
fn a_lock_that_never_heard_its_camera_refuses_under_the_policy() {
    let mut w = World::with(MemoryStorage::new(), camera_config());
    let cred = w.credential(1);
    assert_eq!(w.refusal(&cred, NOW), Some(LockRefusal::CameraStale));
    // After a reboot the camera must prove itself again.
    w.lock.camera_heartbeat(NOW).unwrap();
    w.reboot();
    assert_eq!(w.refusal(&cred, NOW + 1), Some(LockRefusal::CameraStale));
}

#[test]
fn with_the_policy_off_a_stale_camera_only_raises_the_alarm() {
    let mut w = World::new();
    let cred = w.credential(1);
    assert_eq!(w.lock.tick(NOW).unwrap().alarm, Some(Alarm::CameraStale));
    assert!(w.enter(&cred, NOW).decision.entry().is_some());
}

#[test]
fn a_residents_remote_unlock_and_the_inside_release_ignore_the_camera_rule() {
    let mut w = World::with(MemoryStorage::new(), camera_config());
    let cred = w.credential(1);
    let signed = w.lock.remote_challenge(1, &mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let p = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    let out = w.lock.present_remote(1, p.as_bytes(), NOW).unwrap();
    assert_eq!(out.decision.entry().unwrap().source, EntrySource::Remote);
    let fx = w.lock.release_from_inside(NOW + 1).unwrap();
    assert_eq!(fx.bolt, Some(BoltCommand::Release));
    assert_eq!(fx.camera, None, "residents leaving are not filmed");
}

#[test]
fn a_clip_hash_goes_into_the_chain() {
    let mut w = World::new();
    let cred = w.credential(1);
    let trigger = w.enter(&cred, NOW).effects.camera.unwrap();
    w.lock.camera_clip([0xcc; 32], trigger.credential_id, trigger.delivery_hash, NOW + 30).unwrap();
    let clip = w.last_event();
    assert_eq!(clip.record.kind, EventKind::CameraClip);
    assert_eq!(clip.record.data, Some([0xcc; 32]));
    assert_eq!(clip.record.delivery_hash, Some(DeliveryHash([1; 16])));
}
