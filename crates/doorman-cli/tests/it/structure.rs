//! Changing and removing what a manager made, end to end through HTTP: the
//! property's description, units, doors, drop spots, and locks decommissioned
//! or replaced. Each change answers what changed and is logged; what is in
//! the way of a removal is named (409), a door cycle is invalid (422), a
//! removed thing is not found afterwards (404) and new work no longer finds
//! it; every crossing (another manager, a carrier, a driver, a resident, a
//! thing of another property under this property's path) is refused as the
//! other manager routes refuse it. The fleet scenarios (`fleet_*`) check that
//! the broker refuses a decommissioned lock's account.

use anyhow::Context;
use doorman_api::*;
use doorman_domain::serde_b64;
use doorman_store::EntryFilter;
use reqwest::StatusCode;

use crate::authz::snapshot;
use crate::fixture::Building;
use crate::fleet::{eventually, Broker, FleetEnv, IDLE, WAIT};
use crate::kit::{expect_all, expect_error, Call, Kit};
use crate::lock::SimLock;

/// The configuration entries of the log, by their text.
async fn configuration_log(kit: &Kit) -> anyhow::Result<Vec<String>> {
    let all = EntryFilter { everything: true, ..Default::default() };
    let entries = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    let mut out = Vec::new();
    for e in entries {
        if let EventKind::ConfigurationChanged { what } = Event::from_bytes(&e.bytes)?.kind {
            out.push(what);
        }
    }
    Ok(out)
}

/// Asserts one configuration entry contains every one of `needles`.
async fn assert_logged(kit: &Kit, needles: &[&str]) -> anyhow::Result<()> {
    let log = configuration_log(kit).await?;
    anyhow::ensure!(
        log.iter().any(|what| needles.iter().all(|n| what.contains(n))),
        "no log entry contains {needles:?}; the configuration entries are:\n{}",
        log.join("\n")
    );
    Ok(())
}

fn new_device() -> String {
    SimLock::device_key_b64(&SimLock::device())
}

pub async fn property_edits_are_checked_and_logged(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let before = b.rosa.get_property(p).await?;
    let edit = UpdateProperty {
        name: Some("214 E 9th St (Walk-up)".into()),
        time_zone: Some("America/Chicago".into()),
        ..Default::default()
    };
    let edited = b.rosa.update_property(p, &edit).await?;
    assert_eq!(edited.name, "214 E 9th St (Walk-up)");
    assert_eq!(edited.time_zone, "America/Chicago");
    assert_eq!((edited.address.as_str(), edited.location), (b.property.address.as_str(), b.property.location));
    assert_eq!(edited.tenant_notice, before.tenant_notice, "the notice stays");
    assert_eq!(b.rosa.get_property(p).await?, edited);
    assert_logged(kit, &[&format!("property {p} edited"), "time zone America/Chicago (was America/New_York)"]).await?;

    // Bad values: 422, and nothing changes.
    for bad in [
        UpdateProperty { time_zone: Some("Mars/Olympus_Mons".into()), ..Default::default() },
        UpdateProperty { name: Some("   ".into()), ..Default::default() },
        UpdateProperty { location: Some(GeoPoint { lat: 123.0, lon: 0.0 }), ..Default::default() },
    ] {
        expect_error(b.rosa.update_property(p, &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    assert_eq!(b.rosa.get_property(p).await?, edited);
    Ok(())
}

pub async fn units_are_relabelled_and_removed_when_nothing_is_in_the_way(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let relabelled = b.rosa.update_unit(p, b.unit_3c.id, &UpdateUnit { label: "3C (rear)".into() }).await?;
    assert_eq!(relabelled.label, "3C (rear)");
    assert_logged(kit, &[&format!("unit {} relabelled", b.unit_3c.id), "\"3C (rear)\" (was \"3C\")"]).await?;
    let bad = b.rosa.update_unit(p, b.unit_3c.id, &UpdateUnit { label: String::new() }).await;
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");

    // In the way: a resident (3C: Kim), a unit door and its drop spots (2B).
    let err = expect_error(b.rosa.remove_unit(p, b.unit_3c.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("resident (Kim Lee)"), "{}", err.error.message);
    let err = expect_error(b.rosa.remove_unit(p, b.unit_2b.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("resident"), "{}", err.error.message);

    // An open delivery is in the way until it is cancelled.
    let five = b.rosa.create_unit(p, "5E").await?;
    let parcel = b.parcel(kit, "PCL-5E", five.id).await?;
    let err = expect_error(b.rosa.remove_unit(p, five.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("open delivery (PCL-5E)"), "{}", err.error.message);
    b.parcelo.cancel_delivery(parcel.id).await?;
    b.rosa.remove_unit(p, five.id).await?;
    assert_logged(kit, &[&format!("unit {} removed", five.id), "\"5E\""]).await?;

    // Gone for new work: lists, edits, a second removal, invitations, parcels.
    assert!(!b.rosa.list_units(p).await?.iter().any(|u| u.id == five.id));
    expect_error(b.rosa.remove_unit(p, five.id).await, StatusCode::NOT_FOUND, "not_found");
    let relabel = b.rosa.update_unit(p, five.id, &UpdateUnit { label: "5F".into() }).await;
    expect_error(relabel, StatusCode::NOT_FOUND, "not_found");
    let invite = CreateInvitation { name: "New".into(), email: "new@example.org".into() };
    expect_error(b.rosa.invite_resident(five.id, &invite).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(
        b.parcel(kit, "PCL-5E-2", five.id).await.map_err(client_error),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    // Its history stays: the cancelled parcel still names it.
    assert_eq!(b.parcelo.get_delivery(parcel.id).await?.unit_id, five.id);
    Ok(())
}

fn client_error(e: anyhow::Error) -> doorman_client::ClientError {
    match e.downcast::<doorman_client::ClientError>() {
        Ok(e) => e,
        Err(e) => panic!("not a client error: {e}"),
    }
}

pub async fn doors_move_without_cycles_and_go_only_when_free(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    // entrance <- lobby <- package room: the street door may not move behind
    // the package room, nor behind itself (422, nothing changes).
    for parent in [b.package_room.id, b.entrance.id] {
        let looped = UpdateAccessPoint { parent_id: Some(Some(parent)), ..Default::default() };
        let err = expect_error(
            b.rosa.update_access_point(p, b.entrance.id, &looped).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
        assert!(err.error.message.contains("cycle"), "{}", err.error.message);
    }
    // A door of Otto's building is no parent here.
    let stoop = b
        .otto
        .create_access_point(
            b.brownstone.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "stoop".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let foreign = UpdateAccessPoint { parent_id: Some(Some(stoop.id)), ..Default::default() };
    let res = b.rosa.update_access_point(p, b.lobby.id, &foreign).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let unit_door_without_unit = UpdateAccessPoint { unit_id: Some(None), ..Default::default() };
    let res = b.rosa.update_access_point(p, b.door_2b.id, &unit_door_without_unit).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert_eq!(b.rosa.list_access_points(p).await?.len(), 4, "nothing changed");

    // The package room moves to hang off the street door, renamed; then,
    // with `null`, onto the street; leaving the field out keeps the parent.
    let moved = UpdateAccessPoint {
        name: Some("parcel room".into()),
        parent_id: Some(Some(b.entrance.id)),
        ..Default::default()
    };
    let room = b.rosa.update_access_point(p, b.package_room.id, &moved).await?;
    assert_eq!((room.name.as_str(), room.parent_id), ("parcel room", Some(b.entrance.id)));
    assert_logged(kit, &[&format!("access point {} edited", room.id), "\"parcel room\"", "behind"]).await?;
    let (status, text) = b
        .rosa
        .send_raw(
            reqwest::Method::PATCH,
            &format!("/v1/properties/{p}/access-points/{}", room.id),
            Some(reqwest::Body::from(r#"{"parent_id": null}"#)),
            Some("application/json"),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(serde_json::from_str::<AccessPoint>(&text)?.parent_id, None);
    let renamed = UpdateAccessPoint { name: Some("package room".into()), ..Default::default() };
    assert_eq!(b.rosa.update_access_point(p, room.id, &renamed).await?.parent_id, None, "a missing field keeps");

    // Removal: in the way are a lock in service, a door behind, a drop spot.
    let err = expect_error(b.rosa.remove_access_point(p, b.entrance.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("lock in service"), "{}", err.error.message);
    let garage = b
        .rosa
        .create_access_point(
            p,
            &CreateAccessPoint {
                kind: AccessPointKind::Garage,
                name: "garage".into(),
                parent_id: Some(b.entrance.id),
                unit_id: None,
            },
        )
        .await?;
    let bay = b
        .rosa
        .create_drop_spot(
            p,
            &CreateDropSpot {
                name: "bay".into(),
                kind: DropSpotKind::Garage,
                access_point_id: garage.id,
                unit_id: None,
            },
        )
        .await?;
    let err = expect_error(b.rosa.remove_access_point(p, garage.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("drop spot (bay)"), "{}", err.error.message);
    let err = expect_error(b.rosa.remove_access_point(p, b.lobby.id).await, StatusCode::CONFLICT, "conflict");
    assert!(err.error.message.contains("lock in service"), "{}", err.error.message);
    b.rosa.remove_drop_spot(p, bay.id).await?;
    b.rosa.remove_access_point(p, garage.id).await?;
    assert_logged(kit, &[&format!("access point {} removed", garage.id), "garage"]).await?;
    assert!(!b.rosa.list_access_points(p).await?.iter().any(|a| a.id == garage.id));
    expect_error(b.rosa.remove_access_point(p, garage.id).await, StatusCode::NOT_FOUND, "not_found");
    let res = b.rosa.update_access_point(p, garage.id, &renamed).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found");
    // A removed door is nobody's parent any more, and holds no new lock.
    let behind = CreateAccessPoint {
        kind: AccessPointKind::Lobby,
        name: "behind the garage".into(),
        parent_id: Some(garage.id),
        unit_id: None,
    };
    expect_error(b.rosa.create_access_point(p, &behind).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let lock = RegisterLock {
        access_point_id: garage.id,
        device_public_key: new_device(),
        model: "x".into(),
        firmware: "1".into(),
        mobile_credential: true,
        keypad: false,
    };
    expect_error(b.rosa.register_lock(p, &lock).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    Ok(())
}

pub async fn drop_spots_are_edited_and_leave_the_carriers_lists(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let edit =
        UpdateDropSpot { name: Some("parcel shelves".into()), unit_id: Some(Some(b.unit_3c.id)), ..Default::default() };
    let shelves = b.rosa.update_drop_spot(p, b.room_spot.id, &edit).await?;
    assert_eq!((shelves.name.as_str(), shelves.unit_id), ("parcel shelves", Some(b.unit_3c.id)));
    let cleared = b
        .rosa
        .update_drop_spot(p, b.room_spot.id, &UpdateDropSpot { unit_id: Some(None), ..Default::default() })
        .await?;
    assert_eq!((cleared.name.as_str(), cleared.unit_id), ("parcel shelves", None));
    assert_logged(kit, &[&format!("drop spot {} edited", b.room_spot.id), "\"parcel shelves\""]).await?;
    let foreign_unit = UpdateDropSpot { unit_id: Some(Some(b.brownstone_unit.id)), ..Default::default() };
    let res = b.rosa.update_drop_spot(p, b.room_spot.id, &foreign_unit).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");

    // Parcelo is allowed to the shelves and inside 2B; removing "inside 2B"
    // takes it off Parcelo's list in the same step, logged for Parcelo too.
    b.rosa.remove_drop_spot(p, b.in_2b_spot.id).await?;
    let parcelo =
        b.rosa.list_enablements(p).await?.into_iter().find(|e| e.carrier_id == b.parcelo_id).context("parcelo")?;
    assert_eq!(parcelo.allowed_drop_spots, vec![b.room_spot.id]);
    assert_logged(kit, &[&format!("drop spot {} removed", b.in_2b_spot.id)]).await?;
    assert_logged(kit, &[&format!("drop spot {} removed from carrier {}", b.in_2b_spot.id, b.parcelo_id)]).await?;
    assert!(!b.rosa.list_drop_spots(p).await?.iter().any(|s| s.id == b.in_2b_spot.id));
    expect_error(b.rosa.remove_drop_spot(p, b.in_2b_spot.id).await, StatusCode::NOT_FOUND, "not_found");
    let res = b.rosa.update_drop_spot(p, b.in_2b_spot.id, &edit).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found");
    // A carrier cannot be given it again, and 2B's resident cannot prefer it.
    let put =
        PutEnablement { enabled: true, hours: crate::fixture::all_day(), allowed_drop_spots: vec![b.in_2b_spot.id] };
    let res = b.rosa.put_enablement(p, b.parcelo_id, &put).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let prefs = UnitPreferences { preferred_drop_spot: Some(b.in_2b_spot.id), ..Default::default() };
    let res = b.jun.client.put_preferences(b.unit_2b.id, &prefs).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    // The access path no longer offers it: a parcel to 2B goes to the shelves.
    b.parcel(kit, "PCL-2B", b.unit_2b.id).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-2B")).await).await?;
    assert_eq!(granted.drop_spot_id, b.room_spot.id);
    Ok(())
}

pub async fn locks_are_decommissioned_and_replaced(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let room_lock = b.room_lock.id;

    // A replacement with a bad device key writes nothing.
    let bad = ReplaceLock {
        device_public_key: "not base64!".into(),
        model: "Latchwell L3".into(),
        firmware: "3.0.0".into(),
        mobile_credential: true,
        keypad: true,
    };
    expect_error(b.rosa.replace_lock(p, room_lock, &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(b.rosa.list_locks(p).await?.iter().all(|l| l.decommissioned_at.is_none()));

    // The package room's keypad lock is replaced by a lock that reads
    // credentials too: the old one is out of service, pointing at the new.
    let replacement = ReplaceLock { device_public_key: new_device(), ..bad.clone() };
    let provisioned = b.rosa.replace_lock(p, room_lock, &replacement).await?;
    let new = provisioned.lock.clone();
    assert_eq!((new.access_point_id, new.model.as_str()), (b.package_room.id, "Latchwell L3"));
    assert!(provisioned.mqtt.is_some() && provisioned.door_code_secret.is_some());
    let locks = b.rosa.list_locks(p).await?;
    let old = locks.iter().find(|l| l.id == room_lock).context("the old lock is listed")?;
    assert_eq!((old.decommissioned_at, old.replaced_by), (Some(kit.now()), Some(new.id)));
    assert!(locks.iter().any(|l| l.id == new.id && l.decommissioned_at.is_none()));
    assert_logged(kit, &[&format!("lock {room_lock} replaced by lock {}", new.id), "chain ends at event 0"]).await?;
    // Lock health shows the swap.
    let health = b.rosa.lock_health(p).await?;
    let old_h = health.iter().find(|h| h.lock_id == room_lock).context("old in health")?;
    assert_eq!((old_h.decommissioned_at, old_h.replaced_by), (Some(kit.now()), Some(new.id)));
    let new_h = health.iter().find(|h| h.lock_id == new.id).context("new in health")?;
    assert_eq!((new_h.decommissioned_at, new_h.replaced_by, new_h.events_stored), (None, None, 0));

    // The access path sees the new lock at once: a grant's package room door
    // is the new lock, never the old one.
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    let room = granted.doors.iter().find(|d| d.access_point_id == b.package_room.id).context("room door")?;
    assert_eq!(room.lock_id, new.id);
    assert!(!granted.doors.iter().any(|d| d.lock_id == room_lock));

    // 2B's door lock is decommissioned without a successor.
    let gone = b.rosa.decommission_lock(p, b.door_2b_lock.id).await?;
    assert_eq!((gone.decommissioned_at, gone.replaced_by), (Some(kit.now()), None));
    assert_logged(kit, &[&format!("lock {} decommissioned", b.door_2b_lock.id), "MQTT account is deleted"]).await?;
    let stored = kit.store().lock_mqtt_password_hash(b.door_2b_lock.id).await?;
    assert_eq!(stored, None, "its MQTT account is gone");
    // Twice, or replacing what is out of service: 409.
    for res in [
        b.rosa.decommission_lock(p, b.door_2b_lock.id).await.map(drop),
        b.rosa.replace_lock(p, room_lock, &replacement).await.map(drop),
    ] {
        expect_error(res, StatusCode::CONFLICT, "conflict");
    }
    // Its door is free to go, but nothing else is taken for it: neither a
    // bundle nor events.
    let res = b.rosa.lock_revocation_bundle(p, b.door_2b_lock.id).await;
    expect_error(res, StatusCode::CONFLICT, "conflict");
    let events = CarriedEvents { events: vec![serde_b64::encode(&[0u8; 64])] };
    let res = b.rosa.upload_lock_events(b.door_2b_lock.id, &events).await;
    expect_error(res, StatusCode::CONFLICT, "conflict");
    // An unknown lock: 404 (another property's: see the crossings).
    expect_error(b.rosa.decommission_lock(p, LockId::random()).await, StatusCode::NOT_FOUND, "not_found");
    Ok(())
}

/// Every structure route of `b`'s building, with valid bodies.
fn structure_calls(b: &Building, property: PropertyId) -> Vec<Call> {
    let p = format!("/v1/properties/{property}");
    let replace = ReplaceLock {
        device_public_key: new_device(),
        model: "x".into(),
        firmware: "1".into(),
        mobile_credential: true,
        keypad: false,
    };
    vec![
        Call::patch(p.clone(), &UpdateProperty { name: Some("Mine now".into()), ..Default::default() }),
        Call::patch(format!("{p}/units/{}", b.unit_3c.id), &UpdateUnit { label: "X".into() }),
        Call::delete(format!("{p}/units/{}", b.unit_3c.id)),
        Call::patch(
            format!("{p}/access-points/{}", b.lobby.id),
            &UpdateAccessPoint { name: Some("X".into()), ..Default::default() },
        ),
        Call::delete(format!("{p}/access-points/{}", b.package_room.id)),
        Call::patch(
            format!("{p}/drop-spots/{}", b.lobby_spot.id),
            &UpdateDropSpot { name: Some("X".into()), ..Default::default() },
        ),
        Call::delete(format!("{p}/drop-spots/{}", b.lobby_spot.id)),
        Call::post(format!("{p}/locks/{}/decommission", b.entrance_lock.id), &()),
        Call::post(format!("{p}/locks/{}/replace", b.lobby_lock.id), &replace),
    ]
}

pub async fn structure_routes_refuse_every_crossing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let calls = structure_calls(&b, b.property.id);
    // Another manager: the property does not exist for him.
    expect_all(&b.otto, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    // A carrier, a driver, a resident: not their routes, and not told
    // whether the property exists either.
    for client in [&b.parcelo, &b.dana.client, &b.jun.client] {
        expect_all(client, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    }
    // Rosa's things under Otto's property's path: Otto does not find them
    // (and Rosa does not find Otto's property).
    let under_otto = structure_calls(&b, b.brownstone.id);
    expect_all(&b.otto, &under_otto[1..], StatusCode::NOT_FOUND, "not_found").await?;
    expect_all(&b.rosa, &under_otto, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(snapshot(kit, &b).await?, before, "the crossings changed nothing");

    // Otto's things under Rosa's property's path: Rosa does not find them.
    let ob = b.brownstone.id;
    let stoop = b
        .otto
        .create_access_point(
            ob,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "stoop".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let step = b
        .otto
        .create_drop_spot(
            ob,
            &CreateDropSpot {
                name: "top step".into(),
                kind: DropSpotKind::Lobby,
                access_point_id: stoop.id,
                unit_id: None,
            },
        )
        .await?;
    let otto_lock = b
        .otto
        .register_lock(
            ob,
            &RegisterLock {
                access_point_id: stoop.id,
                device_public_key: new_device(),
                model: "x".into(),
                firmware: "1".into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?
        .lock;
    let p = format!("/v1/properties/{}", b.property.id);
    let replace = ReplaceLock {
        device_public_key: new_device(),
        model: "x".into(),
        firmware: "1".into(),
        mobile_credential: true,
        keypad: false,
    };
    let crossing = [
        Call::patch(format!("{p}/units/{}", b.brownstone_unit.id), &UpdateUnit { label: "X".into() }),
        Call::delete(format!("{p}/units/{}", b.brownstone_unit.id)),
        Call::patch(format!("{p}/access-points/{}", stoop.id), &UpdateAccessPoint::default()),
        Call::delete(format!("{p}/access-points/{}", stoop.id)),
        Call::patch(format!("{p}/drop-spots/{}", step.id), &UpdateDropSpot::default()),
        Call::delete(format!("{p}/drop-spots/{}", step.id)),
        Call::post(format!("{p}/locks/{}/decommission", otto_lock.id), &()),
        Call::post(format!("{p}/locks/{}/replace", otto_lock.id), &replace),
    ];
    expect_all(&b.rosa, &crossing, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(b.otto.list_units(ob).await?.len(), 1);
    assert_eq!(b.otto.list_access_points(ob).await?, vec![stoop]);
    assert_eq!(b.otto.list_drop_spots(ob).await?, vec![step]);
    assert_eq!(b.otto.list_locks(ob).await?, vec![otto_lock]);
    Ok(())
}

// --- the broker refuses a decommissioned lock ------------------------------------

/// Whether the broker accepts the MQTT account: true on a successful
/// CONNACK, false when it refuses the connection.
async fn broker_accepts(url: &str, creds: &doorman_fleet::MqttCredentials) -> anyhow::Result<bool> {
    use rumqttc::{ConnectionError, Event as MqttEvent, Packet};
    let (endpoint, _) = doorman_fleet::MqttEndpoint::parse(url)?;
    let mut options = rumqttc::MqttOptions::new(creds.username.clone(), endpoint.host.clone(), endpoint.port);
    options.set_credentials(creds.username.clone(), creds.password.expose());
    let (client, mut events) = rumqttc::AsyncClient::new(options, 4);
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            match events.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => return Ok(true),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(_)) => return Ok(false),
                // Some brokers close the socket instead of answering.
                Err(ConnectionError::Io(_)) | Err(ConnectionError::MqttState(_)) => return Ok(false),
                Err(e) => anyhow::bail!("connecting failed otherwise: {e}"),
            }
        }
    })
    .await
    .context("the broker did not answer")?;
    let _ = client.disconnect().await;
    answer
}

async fn decommissioned_lock_is_refused(kit: &Kit, broker: Broker) -> anyhow::Result<()> {
    let Some(env) = FleetEnv::start(kit, broker).await? else { return Ok(()) };
    let (url, creds) = env.bundles[IDLE].mqtt_credentials().context("account")?;
    assert!(broker_accepts(&url, &creds).await?, "the lock's account works while it is in service");
    let idle = env.lock_id(IDLE);
    let lock = env.rosa.decommission_lock(env.property.id, idle).await?;
    assert!(lock.decommissioned_at.is_some());
    if let Some(mosquitto) = &env.mosquitto {
        mosquitto.reload()?;
    }
    let (url, creds) = (url.clone(), creds.clone());
    eventually("the broker refuses the decommissioned lock", || {
        let (url, creds) = (url.clone(), creds.clone());
        async move { Ok(!broker_accepts(&url, &creds).await?) }
    })
    .await?;
    // The locks in service still connect (the street door's account).
    let (url, creds) = env.bundles[crate::fleet::ENTRANCE].mqtt_credentials().context("account")?;
    assert!(broker_accepts(&url, &creds).await?, "the other locks keep their accounts");
    let health = env.rosa.lock_health(env.property.id).await?;
    assert!(health.iter().any(|h| h.lock_id == idle && h.decommissioned_at.is_some()));
    Ok(())
}

pub async fn fleet_decommissioned_lock_is_refused_by_the_embedded_broker(kit: &Kit) -> anyhow::Result<()> {
    decommissioned_lock_is_refused(kit, Broker::Embedded).await
}

pub async fn fleet_decommissioned_lock_is_refused_by_mosquitto(kit: &Kit) -> anyhow::Result<()> {
    decommissioned_lock_is_refused(kit, Broker::Mosquitto).await
}
