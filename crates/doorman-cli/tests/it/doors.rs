//! Door events and camera clips through the real service: simulated fleet
//! locks record entries, the service turns their signed events into door
//! events for whom they concern, logs a door left ajar once, and keeps,
//! serves and deletes the clips the lock's camera recorded.

use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_client::{Client, EventStream, StreamStart};
use doorman_domain::serde_b64;
use doorman_server::ServiceConfig;
use doorman_testkit::places::WALK_UP;
use doorman_testkit::{CarrierSpec, ManagerSpec, PropertySpec, SiteSpec};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::fleet::{self, Broker, FleetEnv, ENTRANCE, ROOM};
use crate::kit::{expect_error, Kit, TempDir};
use crate::notify::all_after;

const DOOR_KINDS: [&str; 5] = ["door_unlocked", "door_opened", "door_closed", "door_ajar", "relocked"];
const PATIENCE: Duration = Duration::from_secs(20);

/// The door events of `delivery` among `events`, as (kind, lock).
fn door_events(events: &[FeedEvent], delivery: DeliveryId) -> Vec<(&'static str, LockId)> {
    events
        .iter()
        .filter(|e| e.delivery_id == Some(delivery) && DOOR_KINDS.contains(&e.kind_name()))
        .map(|e| {
            let lock = match &e.kind {
                EventKind::DoorUnlocked { lock_id, .. }
                | EventKind::DoorOpened { lock_id, .. }
                | EventKind::DoorClosed { lock_id, .. }
                | EventKind::DoorAjar { lock_id, .. }
                | EventKind::Relocked { lock_id, .. } => *lock_id,
                _ => unreachable!(),
            };
            (e.kind_name(), lock)
        })
        .collect()
}

/// Reads `stream` until it has delivered `n` door events of `delivery`.
async fn stream_door_events(
    stream: &mut EventStream,
    delivery: DeliveryId,
    n: usize,
) -> anyhow::Result<Vec<(&'static str, LockId)>> {
    let mut seen = Vec::new();
    loop {
        let found = door_events(&seen, delivery);
        if found.len() >= n {
            return Ok(found);
        }
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Ok(Some(event))) => seen.push(event),
            Ok(Ok(None)) => anyhow::bail!("the stream closed; door events so far {found:?}"),
            Ok(Err(e)) => anyhow::bail!("the stream failed: {e}"),
            Err(_) => anyhow::bail!("no door event within {PATIENCE:?}; so far {found:?}"),
        }
    }
}

/// Who else is around: a neighbour in 3C, another building's manager,
/// another carrier.
pub(crate) struct Outsiders {
    kim: Client,
    kim_unit: UnitId,
    otto: Client,
    quickship: Client,
}

/// The fleet site with the outsiders in it: Kim in 3C, Otto (a manager of
/// no property here) and Quickship (a carrier not enabled here); and with
/// `building` changed as a story needs.
pub(crate) fn with_outsiders(building: impl FnOnce(PropertySpec) -> PropertySpec) -> SiteSpec {
    let building = building(fleet::building()).units(["3C"]).resident("Kim Lee", "kim@example.org", "3C");
    fleet::site(building).manager(ManagerSpec::new("Otto Weber")).carrier(CarrierSpec::new("Quickship"))
}

/// The fleet building with the outsiders ([`with_outsiders`]), its locks
/// running, and the outsiders' clients.
pub(crate) async fn start_with_outsiders(
    kit: &Kit,
    building: impl FnOnce(PropertySpec) -> PropertySpec,
) -> anyhow::Result<Option<(FleetEnv, Outsiders)>> {
    let Some(env) = FleetEnv::start_with(kit, Broker::Embedded, &with_outsiders(building)).await? else {
        return Ok(None);
    };
    let s = &env.seeded;
    let here = s.property(WALK_UP)?;
    let others = Outsiders {
        kim: here.resident("Kim Lee")?.client.clone(),
        kim_unit: here.unit("3C")?.id,
        otto: s.manager("Otto Weber")?.client.clone(),
        quickship: s.carrier("Quickship")?.client.clone(),
    };
    Ok(Some((env, others)))
}

/// A granted delivery through two fleet locks: the unit's resident, the
/// property's manager and the carrier each get door_unlocked → door_opened →
/// door_closed → relocked at each door, for that delivery, in order, on the
/// live stream and in the feed; a neighbour, another manager and another
/// carrier get none of them.
pub async fn door_events_reach_the_right_principals_in_order(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, others)) = start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let watchers: [(&str, &Client); 4] =
        [("jun", &env.jun), ("rosa", &env.rosa), ("parcelo", &env.parcelo), ("dana", &env.drivers[0].client)];
    let mut streams = Vec::new();
    for (name, client) in watchers {
        streams.push((name, client.event_stream(StreamStart::Now).await?));
    }
    let granted = env.parcel(kit, 0).await?;
    env.deliver(0, &granted).await?;
    for i in [ENTRANCE, ROOM] {
        env.synced(kit, i).await?;
    }
    let (entrance, room) = (env.lock_id(ENTRANCE), env.lock_id(ROOM));
    // In order at each door (the two locks upload independently, so their
    // events may interleave in the log).
    let at_each_door = ["door_unlocked", "door_opened", "door_closed", "relocked"];
    let check = |who: String, got: &[(&'static str, LockId)]| {
        assert_eq!(got.len(), 2 * at_each_door.len(), "{who}: {got:?}");
        for lock in [entrance, room] {
            let here: Vec<&str> = got.iter().filter(|(_, l)| *l == lock).map(|(k, _)| *k).collect();
            assert_eq!(here, at_each_door, "{who}: {got:?}");
        }
    };
    for ((name, client), (_, stream)) in watchers.iter().zip(streams.iter_mut()) {
        let live = stream_door_events(stream, granted.delivery_id, 2 * at_each_door.len()).await?;
        check(format!("{name}'s live stream"), &live);
        let feed = all_after(client, None).await?;
        let paged = door_events(&feed, granted.delivery_id);
        check(format!("{name}'s feed"), &paged);
        assert_eq!(paged, live, "{name}: the feed and the stream agree");
        // Each door event names the whole entry.
        for e in feed.iter().filter(|e| DOOR_KINDS.contains(&e.kind_name())) {
            assert_eq!(e.unit_id, Some(env.unit_2b.id), "{name}: {e:?}");
            assert_eq!(e.property_id, Some(env.property.id), "{name}: {e:?}");
            assert!(e.carrier_id.is_some() && e.driver_id.is_some(), "{name}: {e:?}");
        }
    }
    for (name, client) in [("kim", &others.kim), ("otto", &others.otto), ("quickship", &others.quickship)] {
        let feed = all_after(client, None).await?;
        let leaked: Vec<_> = feed
            .iter()
            .filter(|e| {
                DOOR_KINDS.contains(&e.kind_name())
                    || e.delivery_id == Some(granted.delivery_id)
                    || e.unit_id == Some(env.unit_2b.id)
            })
            .collect();
        assert!(leaked.is_empty(), "{name} sees another's door events: {leaked:?}");
    }
    Ok(())
}

pub fn ajar_after_30s() -> ServiceConfig {
    ServiceConfig { door_ajar_after_s: 30, ..ServiceConfig::default() }
}

/// A driver holds the door open: past `door_ajar_after_s` the service logs
/// door_ajar once; the lock's own ajar alarm (later) adds no second one.
pub async fn door_held_open_is_logged_ajar_once(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = FleetEnv::start(kit, Broker::Embedded).await? else { return Ok(()) };
    let service = &kit.running.service;
    let granted = env.parcel(kit, 0).await?;
    let entrance = env.lock_id(ENTRANCE);
    let door = granted.doors.iter().find(|d| d.lock_id == entrance).unwrap();
    let credential = serde_b64::decode(door.credential.as_deref().unwrap())?;
    let wire = doorman_protocol::LockId(*entrance.as_uuid().as_bytes());
    let endpoint = env.endpoint();
    let decision = env.drivers[0].handheld.enter(&endpoint, wire, &env.device(ENTRANCE), &credential).await?;
    assert!(decision.unlocked, "{decision:?}");
    endpoint.door(wire, true).await?;
    env.synced(kit, ENTRANCE).await?;
    assert_eq!(service.door_ajar_tick().await?, 0, "just opened");
    kit.advance(31);
    assert_eq!(service.door_ajar_tick().await?, 1, "open past door_ajar_after_s");
    assert_eq!(service.door_ajar_tick().await?, 0, "once per opening");
    // The lock's own alarm (60 s) comes later: stored, not logged again.
    kit.advance(40);
    let sim = env.sim(ENTRANCE);
    crate::fleet::eventually("the lock raises its ajar alarm", || {
        let sim = sim.clone();
        async move { Ok(sim.health()?.event_counter > 5) }
    })
    .await?;
    endpoint.door(wire, false).await?;
    let head = env.synced(kit, ENTRANCE).await?;
    let kinds: Vec<_> = env.check_chain(kit, ENTRANCE, head).await?.iter().map(|e| e.record.kind).collect();
    let lock_ajar = doorman_lock::LockEventKind::DoorAjar.event_kind();
    assert!(kinds.contains(&lock_ajar), "the lock raised its own alarm: {kinds:?}");
    assert_eq!(service.door_ajar_tick().await?, 0, "closed");
    let feed = all_after(&env.rosa, None).await?;
    let doors: Vec<&str> = door_events(&feed, granted.delivery_id).into_iter().map(|(k, _)| k).collect();
    assert_eq!(doors, ["door_unlocked", "door_opened", "door_ajar", "door_closed", "relocked"]);
    let jun = all_after(&env.jun, None).await?;
    assert_eq!(door_events(&jun, granted.delivery_id).iter().filter(|(k, _)| *k == "door_ajar").count(), 1);
    Ok(())
}

pub fn small_clips() -> ServiceConfig {
    ServiceConfig { clip_max_bytes: 4096, clip_retention_days: 30, ..ServiceConfig::default() }
}

/// The `clip_ready` and `clip_deleted` entries of the audit log for `clip`
/// that `reader` gets (after sequencing what was written), in log order,
/// with their indexes.
async fn logged_clip_events(kit: &Kit, reader: &Client, clip: ClipId) -> anyhow::Result<Vec<(u64, Event)>> {
    kit.running.service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut after = None;
    let mut found = Vec::new();
    loop {
        let page = reader.audit_entries(&AuditEntriesQuery { after, size: None, limit: None }).await?;
        for entry in &page.entries {
            let event = Event::from_bytes(&serde_b64::decode(&entry.entry)?)?;
            let about_it = match &event.kind {
                EventKind::ClipReady { clip_id, .. } | EventKind::ClipDeleted { clip_id } => *clip_id == clip,
                _ => false,
            };
            if about_it {
                found.push((entry.index, event));
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(found),
        }
    }
}

/// The hex SHA-256 a `clip_ready` entry of the audit log names for `clip`.
async fn logged_hash(kit: &Kit, reader: &Client, clip: ClipId) -> anyhow::Result<Option<String>> {
    Ok(logged_clip_events(kit, reader, clip).await?.into_iter().find_map(|(_, e)| match e.kind {
        EventKind::ClipReady { sha256, .. } => Some(sha256),
        _ => None,
    }))
}

/// Keeps the service's clips in a fresh folder (removed with the value).
pub(crate) fn clips_in_a_folder(kit: &Kit) -> anyhow::Result<TempDir> {
    let folder = TempDir::new("doorman-clips")?;
    let store = doorman_server::clips::open_clip_store(&folder.path().display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    kit.running.service.attach_clip_store(store);
    Ok(folder)
}

/// The lock's camera clips: uploaded by hash alone (a wrong, unknown or too
/// large upload refused), their hash in the audit log, readable by the
/// unit's resident and the manager only, deleted after retention with the
/// deletion logged.
pub async fn clips_are_kept_shown_to_the_right_people_and_deleted(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, others)) = start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let folder = clips_in_a_folder(kit)?;

    let granted = env.parcel(kit, 0).await?;
    env.deliver(0, &granted).await?;
    let entrance = env.lock_id(ENTRANCE);
    env.synced(kit, ENTRANCE).await?;
    env.synced(kit, ROOM).await?;
    let recorded = env.sim(ENTRANCE).take_clips()?;
    assert_eq!(recorded.len(), 1, "one entry, one clip");
    let clip = &recorded[0];
    let hash = hex::encode(Sha256::digest(&clip.bytes));

    // Refused: another body, a counter with no clip, a body too large.
    let mut forged = clip.bytes.clone();
    forged.push(b'!');
    let wrong = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", forged).await;
    expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "clip_hash_mismatch");
    let unknown = kit.anon.upload_clip(entrance, 1, "video/mp4", clip.bytes.clone()).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "unknown_clip");
    let elsewhere = kit.anon.upload_clip(env.lock_id(ROOM), clip.counter + 1000, "video/mp4", clip.bytes.clone()).await;
    expect_error(elsewhere, StatusCode::NOT_FOUND, "unknown_clip");
    let huge = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", vec![0u8; 5000]).await;
    expect_error(huge, StatusCode::PAYLOAD_TOO_LARGE, "clip_too_large");
    let bad_type = kit.anon.upload_clip(entrance, clip.counter, "video/mp4; evil", clip.bytes.clone()).await;
    expect_error(bad_type, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(env.rosa.property_clips(env.property.id).await?.is_empty(), "nothing refused was kept");

    // Accepted, once; again changes nothing.
    let view = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", clip.bytes.clone()).await?;
    assert_eq!((view.sha256.as_str(), view.size), (hash.as_str(), clip.bytes.len() as u64));
    assert_eq!((view.unit_id, view.delivery_id), (Some(env.unit_2b.id), Some(granted.delivery_id)));
    let again = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", clip.bytes.clone()).await?;
    assert_eq!(again, view);
    let object = folder.path().join(entrance.to_string()).join(clip.counter.to_string());
    assert_eq!(std::fs::read(&object)?, clip.bytes, "the object is in the folder");

    // The hash is in the log: the feed and the audit entries say the same.
    let feed = all_after(&env.jun, None).await?;
    let ready: Vec<_> = feed
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ClipReady { clip_id, sha256, .. } if *clip_id == view.clip_id => Some((sha256, e.delivery_id)),
            _ => None,
        })
        .collect();
    assert_eq!(ready, [(&hash, Some(granted.delivery_id))], "one clip_ready, for the delivery");
    assert_eq!(logged_hash(kit, &env.rosa, view.clip_id).await?.as_deref(), Some(hash.as_str()));
    assert_eq!(logged_hash(kit, &env.jun, view.clip_id).await?.as_deref(), Some(hash.as_str()));

    // Readable by the unit's resident and the manager, with the logged hash.
    for (name, reader) in [("jun", &env.jun), ("rosa", &env.rosa)] {
        let got = reader.clip(view.clip_id).await?;
        assert_eq!(got.bytes, clip.bytes, "{name}");
        assert_eq!(got.sha256.as_deref(), Some(hash.as_str()), "{name}");
        assert_eq!(got.etag, Some(format!("\"{hash}\"")), "{name}");
        assert_eq!(got.content_type.as_deref(), Some("video/mp4"), "{name}");
        assert_eq!(reader.clip_info(view.clip_id).await?, view, "{name}");
    }
    assert_eq!(env.jun.unit_clips(env.unit_2b.id).await?, vec![view.clone()]);
    assert_eq!(env.rosa.unit_clips(env.unit_2b.id).await?, vec![view.clone()]);
    assert_eq!(env.rosa.property_clips(env.property.id).await?, vec![view.clone()]);
    // Nobody else, not even the carrier and driver of the entry.
    let driver = &env.drivers[0].client;
    for (name, reader) in [
        ("parcelo", &env.parcelo),
        ("dana", driver),
        ("kim", &others.kim),
        ("otto", &others.otto),
        ("quickship", &others.quickship),
        ("anon", &kit.anon),
    ] {
        let status = if name == "anon" { StatusCode::UNAUTHORIZED } else { StatusCode::NOT_FOUND };
        let code = if name == "anon" { "unauthenticated" } else { "not_found" };
        expect_error(reader.clip(view.clip_id).await, status, code);
        expect_error(reader.clip_info(view.clip_id).await, status, code);
    }
    expect_error(others.kim.unit_clips(env.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(others.otto.unit_clips(env.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(others.otto.property_clips(env.property.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(env.parcelo.property_clips(env.property.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(env.jun.property_clips(env.property.id).await, StatusCode::NOT_FOUND, "not_found");

    // Retention: not yet at 29 days; at 31 the object is gone, reads say so,
    // the deletion is in the log.
    kit.advance(29 * 24 * 3600);
    assert_eq!(kit.running.service.sweep_clips().await?, 0);
    assert!(object.exists());
    kit.advance(2 * 24 * 3600);
    assert_eq!(kit.running.service.sweep_clips().await?, 1);
    assert_eq!(kit.running.service.sweep_clips().await?, 0, "once");
    assert!(!object.exists(), "the object is gone from the folder");
    expect_error(env.jun.clip(view.clip_id).await, StatusCode::GONE, "clip_deleted");
    expect_error(env.rosa.clip(view.clip_id).await, StatusCode::GONE, "clip_deleted");
    expect_error(others.kim.clip(view.clip_id).await, StatusCode::NOT_FOUND, "not_found");
    let reupload = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", clip.bytes.clone()).await;
    expect_error(reupload, StatusCode::GONE, "clip_deleted");
    let deleted = env.rosa.clip_info(view.clip_id).await?;
    let deleted_at = deleted.deleted_at.context("the clip is marked deleted")?;
    assert_eq!(deleted_at, kit.now(), "deleted by the sweep");
    let feed = all_after(&env.jun, None).await?;
    let gone: Vec<u64> = feed
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ClipDeleted { clip_id } if clip_id == view.clip_id))
        .map(|e| e.id)
        .collect();
    assert_eq!(gone.len(), 1, "one clip_deleted in the resident's feed");
    // The deletion is in the audit log too, after the clip's hash, once,
    // for the unit's resident and the manager; a neighbour, another manager
    // and another carrier read neither entry.
    for (name, reader) in [("jun", &env.jun), ("rosa", &env.rosa)] {
        let logged = logged_clip_events(kit, reader, view.clip_id).await?;
        let kinds: Vec<&str> = logged.iter().map(|(_, e)| e.kind.name()).collect();
        assert_eq!(kinds, ["clip_ready", "clip_deleted"], "{name}'s audit entries");
        let (index, deletion) = &logged[1];
        assert_eq!(*index, gone[0], "{name}: the feed's clip_deleted is that entry");
        assert_eq!(deletion.at, deleted_at, "{name}");
        assert_eq!((deletion.property_id, deletion.unit_id), (Some(env.property.id), Some(env.unit_2b.id)), "{name}");
        assert_eq!(deletion.delivery_id, Some(granted.delivery_id), "{name}");
    }
    for (name, reader) in [("kim", &others.kim), ("otto", &others.otto), ("quickship", &others.quickship)] {
        assert!(logged_clip_events(kit, reader, view.clip_id).await?.is_empty(), "{name} reads the clip's entries");
    }
    Ok(())
}

/// One delivery's whole story, as each principal's feed and live stream
/// tell it: the ETA, the driver at the door, the grant, each door unlocked,
/// opened, closed and relocked (in order at each door), the drop with its
/// photo, the camera's clip. The unit's resident, the manager and the
/// carrier read it in that order, the driver its own part of it (from the
/// request on), the same on the stream as in the feed; a neighbour, another
/// manager and another carrier read none of it, in either.
pub async fn a_delivery_s_whole_story_in_order(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, others)) = start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let _folder = clips_in_a_folder(kit)?;
    let watchers: [(&str, &Client); 7] = [
        ("jun", &env.jun),
        ("rosa", &env.rosa),
        ("parcelo", &env.parcelo),
        ("dana", &env.drivers[0].client),
        ("kim", &others.kim),
        ("otto", &others.otto),
        ("quickship", &others.quickship),
    ];
    let mut streams = Vec::new();
    for (name, client) in watchers {
        streams.push((name, client.event_stream(StreamStart::Now).await?));
    }

    let now = kit.now();
    let parcel = env
        .parcelo
        .create_delivery(&crate::fixture::delivery(
            "1Z-STORY-1",
            env.property.id,
            env.unit_2b.id,
            now - 3600,
            now + 3600,
        ))
        .await?;
    env.parcelo.update_eta(parcel.id, now + 600).await?;
    let driver = &env.drivers[0];
    let granted = driver
        .client
        .request_access(&AccessRequest {
            tracking_number: "1Z-STORY-1".into(),
            property_id: env.property.id,
            handheld_public_key: driver.handheld.public_key_b64(),
            position: crate::fixture::AT_THE_DOOR,
            drop_spot_id: None,
        })
        .await?;
    for i in [ENTRANCE, ROOM] {
        let decision = env.present(0, &granted, i).await?;
        assert!(decision.unlocked, "lock {i}: {decision:?}");
        env.synced(kit, i).await?;
    }
    driver
        .client
        .complete_delivery(
            parcel.id,
            &CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: Some("photos/story.jpg".into()) },
        )
        .await?;
    let clip = env.sim(ENTRANCE).take_clips()?.into_iter().next().expect("the entrance camera recorded the entry");
    kit.anon.upload_clip(env.lock_id(ENTRANCE), clip.counter, "video/mp4", clip.bytes.clone()).await?;

    let door_story = ["door_unlocked", "door_opened", "door_closed", "relocked"];
    let whole = ["eta_updated", "access_requested", "access_granted", "delivered", "clip_ready"];
    let drivers_part = &whole[1..];
    let readers =
        [("jun", &env.jun, &whole[..]), ("rosa", &env.rosa, &whole[..]), ("parcelo", &env.parcelo, &whole[..])];
    for (name, reader, expected) in readers.into_iter().chain([("dana", &driver.client, drivers_part)]) {
        let story: Vec<FeedEvent> =
            all_after(reader, None).await?.into_iter().filter(|e| e.delivery_id == Some(parcel.id)).collect();
        let kinds: Vec<&str> = story.iter().map(|e| e.kind_name()).collect();
        // The live stream tells the same story, in the same order.
        let (_, stream) = streams.iter_mut().find(|(n, _)| *n == name).context("a stream")?;
        let live: Vec<FeedEvent> = stream_until(stream, "the clip is ready", |e| {
            e.delivery_id == Some(parcel.id) && e.kind_name() == "clip_ready"
        })
        .await?
        .into_iter()
        .filter(|e| e.delivery_id == Some(parcel.id))
        .collect();
        assert_eq!(live, story, "{name}: the live stream and the feed agree");
        // Around the doors: the order of the whole story.
        let outside: Vec<&str> = kinds.iter().copied().filter(|k| !door_story.contains(k)).collect();
        assert_eq!(outside, expected, "{name}: {kinds:?}");
        // The doors: after the grant, before the drop, in order at each door.
        let granted_at = kinds.iter().position(|k| *k == "access_granted").unwrap();
        let delivered_at = kinds.iter().position(|k| *k == "delivered").unwrap();
        let doors = door_events(&story, parcel.id);
        assert_eq!(doors.len(), 2 * door_story.len(), "{name}: {kinds:?}");
        assert!(kinds[granted_at..delivered_at].iter().filter(|k| door_story.contains(k)).count() == doors.len());
        for lock in [env.lock_id(ENTRANCE), env.lock_id(ROOM)] {
            let here: Vec<&str> = doors.iter().filter(|(_, l)| *l == lock).map(|(k, _)| *k).collect();
            assert_eq!(here, door_story, "{name} at {lock}");
        }
        // What the drop and the clip say.
        assert!(
            story.iter().any(|e| matches!(&e.kind,
            EventKind::Delivered { photo_ref: Some(p), .. } if p == "photos/story.jpg")),
            "{name}"
        );
        let expected = hex::encode(Sha256::digest(&clip.bytes));
        assert!(
            story.iter().any(|e| matches!(&e.kind,
            EventKind::ClipReady { sha256, .. } if *sha256 == expected)),
            "{name}"
        );
    }
    for (name, reader) in [("kim", &others.kim), ("otto", &others.otto), ("quickship", &others.quickship)] {
        let leaked: Vec<FeedEvent> =
            all_after(reader, None).await?.into_iter().filter(|e| e.delivery_id == Some(parcel.id)).collect();
        assert!(leaked.is_empty(), "{name} reads another's delivery: {leaked:?}");
    }
    // The outsiders' live streams: each does something of its own; the
    // stream sends that, and nothing of the delivery before it (Kim, a
    // resident of the building, also gets the street door's and package
    // room's raw `lock_event` entries: they name no unit or delivery, and
    // the whole building gets them so that any resident can check the
    // locks' chains).
    others.kim.block(others.kim_unit, &CreateBlock { until: None, reason: None }).await?;
    others.otto.create_property(&crate::fixture::pacific_st()).await?;
    let now = kit.now();
    let theirs = others
        .quickship
        .create_delivery(&crate::fixture::delivery("QS-STORY", env.property.id, others.kim_unit, now, now + 3600))
        .await?;
    others.quickship.update_eta(theirs.id, now + 1800).await?;
    for (name, own) in [("kim", "blocked"), ("otto", "configuration_changed"), ("quickship", "eta_updated")] {
        let (_, stream) = streams.iter_mut().find(|(n, _)| *n == name).context("a stream")?;
        let got = stream_until(stream, &format!("{name}'s own {own}"), |e| e.kind_name() == own).await?;
        let raw_lock_record = |e: &FeedEvent| {
            name == "kim" && e.kind_name() == "lock_event" && e.unit_id.is_none() && e.delivery_id.is_none()
        };
        let theirs: Vec<&str> = got.iter().filter(|e| !raw_lock_record(e)).map(|e| e.kind_name()).collect();
        assert_eq!(theirs, [own], "{name}'s live stream reads another's delivery: {got:?}");
    }
    Ok(())
}

/// A car's trunk on the fleet channel: its owner is told when the trunk
/// unlocks, opens, closes and relocks for a delivery; a neighbour is not.
pub async fn the_owner_is_told_when_the_trunk_opens_and_closes(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, others)) = start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let (secret, device_public_key) = crate::fleet::new_device();
    let car = env
        .jun
        .register_vehicle(
            env.unit_2b.id,
            &RegisterVehicle {
                name: "Civic".into(),
                plate: Some("KXN-4471".into()),
                device_public_key,
                model: "TrunkLatch T1".into(),
                firmware: "1.0.0".into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?;
    let trunk_id = car.vehicle.lock_id;
    let bundle = crate::fleet::bundle_of(&secret, car.trunk_lock)?;
    let running =
        doorman_devices::RunningLocks::start(std::slice::from_ref(&bundle), env.options(), kit.clock.clone()).await?;
    let store = kit.store().clone();
    crate::fleet::eventually("the trunk is on the fleet channel", || {
        let store = store.clone();
        async move { Ok(store.lock_fleet(trunk_id).await?.map(|f| f.health.is_some()).unwrap_or(false)) }
    })
    .await?;
    let mut prefs = env.jun.get_preferences(env.unit_2b.id).await?;
    prefs.preferred_drop_spot = Some(car.vehicle.drop_spot_id);
    env.jun.put_preferences(env.unit_2b.id, &prefs).await?;
    env.jun.report_vehicle_position(car.vehicle.id, crate::fixture::HOME).await?;

    let now = kit.now();
    let parcel = env
        .parcelo
        .create_delivery(&crate::fixture::delivery(
            "1Z-TRUNK-FLEET",
            env.property.id,
            env.unit_2b.id,
            now - 60,
            now + 3600,
        ))
        .await?;
    let driver = &env.drivers[0];
    let granted = driver
        .client
        .request_access(&AccessRequest {
            tracking_number: "1Z-TRUNK-FLEET".into(),
            property_id: env.property.id,
            handheld_public_key: driver.handheld.public_key_b64(),
            position: crate::fixture::AT_THE_DOOR,
            drop_spot_id: None,
        })
        .await?;
    assert_eq!(granted.doors.iter().map(|d| d.lock_id).collect::<Vec<_>>(), vec![trunk_id], "the trunk only");
    let credential = serde_b64::decode(granted.doors[0].credential.as_deref().expect("a credential"))?;
    let device = bundle.device_public_key()?;
    let decision =
        driver.handheld.walk_through(&running.endpoint(), crate::lock::wire(trunk_id), &device, &credential).await?;
    assert!(decision.unlocked, "{decision:?}");

    let story = ["door_unlocked", "door_opened", "door_closed", "relocked"];
    let jun = env.jun.clone();
    crate::fleet::eventually("the owner has read the trunk relock", || {
        let jun = jun.clone();
        async move { Ok(door_events(&all_after(&jun, None).await?, parcel.id).len() >= story.len()) }
    })
    .await?;
    let seen = door_events(&all_after(&env.jun, None).await?, parcel.id);
    assert_eq!(seen, story.iter().map(|k| (*k, trunk_id)).collect::<Vec<_>>());
    let neighbour = all_after(&others.kim, None).await?;
    assert!(neighbour.iter().all(|e| e.delivery_id != Some(parcel.id)), "the neighbour reads nothing of the trunk");
    Ok(())
}

/// The door events among `events` at `lock`.
fn door_events_at(events: &[FeedEvent], lock: LockId) -> Vec<&FeedEvent> {
    events
        .iter()
        .filter(|e| match &e.kind {
            EventKind::DoorUnlocked { lock_id, .. }
            | EventKind::DoorOpened { lock_id, .. }
            | EventKind::DoorClosed { lock_id, .. }
            | EventKind::DoorAjar { lock_id, .. }
            | EventKind::Relocked { lock_id, .. } => *lock_id == lock,
            _ => false,
        })
        .collect()
}

/// Reads `stream` until `stop` holds for an event; returns every event read.
async fn stream_until(
    stream: &mut EventStream,
    what: &str,
    stop: impl Fn(&FeedEvent) -> bool,
) -> anyhow::Result<Vec<FeedEvent>> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Ok(Some(event))) => {
                let done = stop(&event);
                seen.push(event);
                if done {
                    return Ok(seen);
                }
            }
            Ok(Ok(None)) => anyhow::bail!("the stream closed before {what}; so far {seen:?}"),
            Ok(Err(e)) => anyhow::bail!("the stream failed before {what}: {e}"),
            Err(_) => anyhow::bail!("not {what} within {PATIENCE:?}; so far {seen:?}"),
        }
    }
}

/// A guest of 2B walks through the shared street door (a fleet lock) with
/// their pass: the door events and the camera's clip belong to 2B, as a
/// delivery's would. Jun (2B) is told, live and in the feed, and reads the
/// clip; the manager is told; Kim (3C), another manager and a carrier learn
/// nothing of it.
pub async fn a_guest_s_door_events_and_clip_belong_to_the_host_s_unit(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, others)) = start_with_outsiders(kit, fleet::with_unit_2b_door).await? else { return Ok(()) };
    let _folder = clips_in_a_folder(kit)?;
    let entrance = env.lock_id(ENTRANCE);
    let mut jun_live = env.jun.event_stream(StreamStart::Now).await?;
    let mut kim_live = others.kim.event_stream(StreamStart::Now).await?;

    let guest = doorman_devices::Handheld::generate(&mut rand_core::OsRng);
    let req = CreateGuestPass {
        handheld_public_key: Some(guest.public_key_b64()),
        ..crate::guests::pass("Ana (cleaner)", kit.now(), 3600)
    };
    let issued = env.jun.create_guest_pass(env.unit_2b.id, &req).await?;
    let [door] = issued.doors.as_slice() else { anyhow::bail!("only the street door is locked") };
    assert_eq!(door.lock_id, entrance);
    let credential = serde_b64::decode(door.credential.as_deref().context("a credential")?)?;
    let wire = doorman_protocol::LockId(*entrance.as_uuid().as_bytes());
    let decision = guest.walk_through(&env.endpoint(), wire, &env.device(ENTRANCE), &credential).await?;
    assert!(decision.unlocked, "{decision:?}");

    // Jun's live stream: the pass, then the door's story at the street door.
    let story = ["door_unlocked", "door_opened", "door_closed", "relocked"];
    let live = stream_until(
        &mut jun_live,
        "the street door relocked",
        |e| matches!(e.kind, EventKind::Relocked { lock_id, .. } if lock_id == entrance),
    )
    .await?;
    let live_doors: Vec<&str> = door_events_at(&live, entrance).iter().map(|e| e.kind_name()).collect();
    assert_eq!(live_doors, story, "jun's live stream: {:?}", kinds_of(&live));
    env.synced(kit, ENTRANCE).await?;
    for (name, reader) in [("jun", &env.jun), ("rosa", &env.rosa)] {
        let feed = all_after(reader, None).await?;
        let doors = door_events_at(&feed, entrance);
        assert_eq!(doors.iter().map(|e| e.kind_name()).collect::<Vec<_>>(), story, "{name}'s feed");
        for e in doors {
            assert_eq!((e.property_id, e.unit_id), (Some(env.property.id), Some(env.unit_2b.id)), "{name}: {e:?}");
            assert_eq!((e.carrier_id, e.driver_id, e.delivery_id), (None, None, None), "{name}: {e:?}");
        }
    }

    // The camera's clip of the guest's entry is 2B's: Jun and Rosa read it.
    let clip = env.sim(ENTRANCE).take_clips()?.into_iter().next().context("the entrance camera recorded the entry")?;
    let view = kit.anon.upload_clip(entrance, clip.counter, "video/mp4", clip.bytes.clone()).await?;
    assert_eq!((view.unit_id, view.delivery_id), (Some(env.unit_2b.id), None));
    for (name, reader) in [("jun", &env.jun), ("rosa", &env.rosa)] {
        assert_eq!(reader.clip(view.clip_id).await?.bytes, clip.bytes, "{name}");
    }
    assert_eq!(env.jun.unit_clips(env.unit_2b.id).await?, vec![view.clone()]);
    for (name, reader) in [("kim", &others.kim), ("otto", &others.otto), ("quickship", &others.quickship)] {
        expect_error(reader.clip(view.clip_id).await, StatusCode::NOT_FOUND, "not_found");
        let feed = all_after(reader, None).await?;
        let leaked: Vec<_> =
            feed.iter().filter(|e| DOOR_KINDS.contains(&e.kind_name()) || e.unit_id == Some(env.unit_2b.id)).collect();
        assert!(leaked.is_empty(), "{name} learns of 2B's guest: {leaked:?}");
    }
    // Kim's live stream, up to an event of Kim's own: no door event, nothing
    // of 2B (the street door's raw `lock_event` entries name no unit and
    // concern the building, as they do for a delivery's entry).
    others.kim.block(others.kim_unit, &CreateBlock { until: None, reason: None }).await?;
    let kims = stream_until(&mut kim_live, "kim's own block", |e| e.kind_name() == "blocked").await?;
    let leaked: Vec<_> = kims
        .iter()
        .filter(|e| e.kind_name() != "lock_event" || e.unit_id.is_some() || e.delivery_id.is_some())
        .map(|e| e.kind_name())
        .collect();
    assert_eq!(leaked, ["blocked"], "kim's live stream: {kims:?}");
    Ok(())
}

fn kinds_of(events: &[FeedEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind_name()).collect()
}
