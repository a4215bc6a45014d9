//! Locks, drivers and the service over the fleet channel, online and offline.

use std::time::Duration;

use doorman_devices::*;
use doorman_lock::{BoltState, EntrySource, LockEventKind, LockRefusal};
use doorman_protocol::*;

use crate::kit::*;

#[tokio::test]
async fn deliveries_succeed_and_every_event_reaches_the_service() {
    let fleet = Fleet::start(3).await;
    for i in 0..3 {
        let c = fleet.credential(i, &format!("1Z-{i}"));
        let d = fleet.deliver(i, &c).await;
        assert!(d.unlocked, "lock {i}: {:?}", d.reason);
        // The same credential again, at the same door: refused.
        let again = fleet.deliver(i, &c).await;
        assert_eq!(again.refused(), Some("replayed"));
    }
    for i in 0..3 {
        fleet.synced(i).await;
        let events = fleet.check_chain(i);
        let k = kinds(&events);
        for expected in [
            EventKind::Provisioned,
            EventKind::AccessGranted,
            EventKind::Unlocked,
            EventKind::CameraClip,
            EventKind::DoorOpened,
            EventKind::DoorClosed,
            LockEventKind::Relocked.event_kind(),
            EventKind::AccessRefused,
        ] {
            assert!(k.contains(&expected), "lock {i}: no {expected:?} in {k:?}");
        }
    }
    // Health reaches the service too.
    let id = fleet.lock_id(0);
    fleet.service.wait_until(WAIT, |s| s.health(id).is_some_and(|h| h.battery_percent == Some(100))).await.unwrap();
}

#[tokio::test]
async fn an_online_lock_refuses_a_revoked_credential_within_two_seconds() {
    let fleet = Fleet::start(1).await;
    let c = fleet.credential(0, "1Z-block");
    // The resident blocks: the service revokes and pushes.
    let bundle = fleet.service.revoke(fleet.lock_id(0), &c).unwrap();
    let started = tokio::time::Instant::now();
    fleet.bridge.handle().push_revocation_bundle(fleet.lock_id(0), &bundle).await.unwrap();
    fleet.sim(0).wait_until(Duration::from_secs(2), |h| h.revocation_sequence == 1).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fleet.deliver(0, &c).await.refused(), Some("revoked"));
    fleet.synced(0).await;
    assert!(kinds(&fleet.check_chain(0)).contains(&EventKind::RevocationApplied));
}

#[tokio::test]
async fn an_offline_lock_keeps_working_learns_revocations_from_a_handheld_and_uploads_everything_later() {
    let mut fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    fleet.synced(0).await;
    fleet.running_mut().disconnect(lock);

    // Offline: a valid driver gets in.
    let first = fleet.credential(0, "1Z-offline-1");
    assert!(fleet.deliver(0, &first).await.unlocked);

    // Two credentials are revoked after the cut; the pushed bundle cannot arrive.
    let revoked_a = fleet.credential(0, "1Z-offline-a");
    let revoked_b = fleet.credential(0, "1Z-offline-b");
    fleet.service.revoke(lock, &revoked_a).unwrap();
    let bundle = fleet.service.revoke(lock, &revoked_b).unwrap();
    fleet.bridge.handle().push_revocation_bundle(lock, &bundle).await.unwrap();
    // Until a handheld brings the bundle, the lock cannot know (exposure bounded by
    // the credential's lifetime): A still opens.
    assert!(fleet.deliver(0, &revoked_a).await.unlocked);
    // A handheld relays the latest bundle; B is refused from then on.
    let endpoint = fleet.endpoint();
    assert_eq!(endpoint.relay_revocation(lock, &bundle).await.unwrap(), Some(2));
    assert_eq!(endpoint.relay_revocation(lock, &bundle).await.unwrap(), None, "an old bundle again changes nothing");
    assert_eq!(fleet.deliver(0, &revoked_b).await.refused(), Some("revoked"));

    // The handheld also carries the events back; the lock keeps them until the service
    // acknowledges over the channel.
    let carried = endpoint.collect_events(lock, 0).await.unwrap();
    let receipt = fleet.service.receive_carried(lock, &carried);
    assert_eq!(receipt.ack, fleet.sim(0).health().unwrap().event_counter);
    assert!(fleet.sim(0).health().unwrap().unacked_events > 0);

    // More happens after the handheld left.
    let later = fleet.credential(0, "1Z-offline-2");
    assert!(fleet.deliver(0, &later).await.unlocked);

    // Back online: everything arrives, once, in one unbroken chain.
    fleet.running_mut().reconnect(lock).unwrap();
    fleet.synced(0).await;
    let events = fleet.check_chain(0);
    let grants = events.iter().filter(|e| e.record.kind == EventKind::AccessGranted).count();
    assert_eq!(grants, 3);
    assert!(fleet.service.duplicates(lock) > 0, "the carried events came again over MQTT and were recognised");
}

#[tokio::test]
async fn a_lock_killed_mid_delivery_restarts_with_nothing_lost() {
    let mut fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    fleet.running_mut().disconnect(lock);
    let c = fleet.credential(0, "1Z-kill");
    let endpoint = fleet.endpoint();
    let decision = fleet.driver.enter(&endpoint, lock, &fleet.device(0), c.credential.as_bytes()).await.unwrap();
    assert!(decision.unlocked);
    endpoint.door(lock, true).await.unwrap();
    let before = fleet.sim(0).health().unwrap();

    fleet.kill_locks().await;
    fleet.run_locks().await;

    let after = fleet.sim(0).health().unwrap();
    assert_eq!(after.event_counter, before.event_counter);
    assert_eq!(after.bolt, BoltState::Locked);
    // The used credential is still used.
    assert_eq!(fleet.deliver(0, &c).await.refused(), Some("replayed"));
    // The counter continues, and the service gets one unbroken chain.
    fleet.synced(0).await;
    let events = fleet.check_chain(0);
    assert!(events.last().unwrap().counter > before.event_counter);
}

#[tokio::test]
async fn a_lock_whose_camera_is_jammed_refuses_deliveries_and_reports_it() {
    let fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    let c = fleet.credential(0, "1Z-camera");
    fleet.endpoint().camera(lock, true).await.unwrap();
    fleet.lock_clock.advance(120);
    fleet.sim(0).wait_until(WAIT, |h| h.camera_stale).await.unwrap();
    assert_eq!(fleet.deliver(0, &c).await.refused(), Some("camera_stale"));
    // The refusal reaches the service as a signed event.
    fleet.synced(0).await;
    let events = fleet.check_chain(0);
    let refusal = events.iter().find(|e| e.record.kind == EventKind::AccessRefused).unwrap();
    assert_eq!(LockRefusal::from_code(refusal.record.kind, refusal.record.value), Some(LockRefusal::CameraStale));
    assert!(kinds(&events).contains(&LockEventKind::CameraStale.event_kind()));
    // And the service sees the camera's state in the lock's health.
    fleet.service.wait_until(WAIT, |s| s.health(lock).is_some_and(|h| h.camera_stale)).await.unwrap();
    // The camera comes back: the same credential works.
    fleet.endpoint().camera(lock, false).await.unwrap();
    fleet.sim(0).wait_until(WAIT, |h| !h.camera_stale).await.unwrap();
    assert!(fleet.deliver(0, &c).await.unlocked);
}

#[tokio::test]
async fn a_lock_with_a_wrong_clock_gets_the_time_from_the_service() {
    let mut fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    fleet.synced(0).await;
    fleet.running_mut().disconnect(lock);
    // The lock's clock falls two hours behind (its RTC was reset, say).
    fleet.lock_clock.advance(-7200);
    assert!(fleet.sim(0).needs_time().unwrap());
    // A heartbeat from "the future" does not count: wait for one at the new time.
    fleet.sim(0).wait_until(WAIT, |h| !h.camera_stale).await.unwrap();
    let c = fleet.credential(0, "1Z-clock");
    assert_eq!(fleet.deliver(0, &c).await.refused(), Some("clock_below_floor"));
    // Online again: it asks for the time and gets a signed answer.
    fleet.running_mut().reconnect(lock).unwrap();
    let h = fleet
        .sim(0)
        .wait_until(WAIT, |h| !h.clock_lost && h.lock_time >= h.time_floor && h.clock_offset_secs == 7200)
        .await
        .unwrap();
    assert_eq!(h.lock_time, NOW as u64);
    let d = fleet.deliver(0, &c).await;
    assert!(d.unlocked, "{d:?}");
    fleet.synced(0).await;
    assert!(kinds(&fleet.check_chain(0)).contains(&EventKind::ClockRestored));
}

#[tokio::test]
async fn a_residents_remote_unlock_goes_through_the_service() {
    let fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    fleet.service.allow_remote_unlock(lock, 42).unwrap();
    fleet.bridge.handle().request_remote_unlock(lock, 42).await.unwrap();
    fleet
        .sim(0)
        .wait_until(WAIT, |h| matches!(h.bolt, BoltState::Released { source: EntrySource::Remote, .. }))
        .await
        .unwrap();
    // A request the service did not allow gets no presentation.
    fleet.bridge.handle().request_remote_unlock(lock, 43).await.unwrap();
    fleet.synced(0).await;
    let events = fleet.check_chain(0);
    let unlocks: Vec<_> = events.iter().filter(|e| e.record.kind == EventKind::Unlocked).collect();
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].record.value, EntrySource::Remote.code());
}

#[tokio::test]
async fn door_codes_work_once_through_the_endpoint() {
    let fleet = Fleet::start(1).await;
    let lock = fleet.lock_id(0);
    let secret = fleet.bundles[0].identity().unwrap().door_code_secret.unwrap();
    let policy = DoorCodePolicy::default();
    let code = door_code(&secret, policy.time_slot(NOW as u64), 0, &policy).unwrap().to_string();
    let endpoint = fleet.endpoint();
    let d = endpoint.door_code(lock, &code).await.unwrap();
    assert!(d.unlocked, "{d:?}");
    assert_eq!(endpoint.door_code(lock, &code).await.unwrap().refused(), Some("code_reused"));
    assert_eq!(endpoint.door_code(lock, "1234").await.unwrap().refused(), Some("code_malformed"));
    // Nothing here lets a passer-by acknowledge (and so erase) events.
    let raw = endpoint.call(&EndpointRequest::Status { lock: Some("not-a-lock".into()) }).await;
    assert!(raw.is_err());
    assert!(serde_json::from_str::<EndpointRequest>(r#"{"op":"ack","counter":99}"#).is_err());
}
