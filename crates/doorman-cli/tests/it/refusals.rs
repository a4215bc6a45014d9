//! Every `RefusalReason`, each in the situation that causes it, through the
//! API: the driver gets 403 with the reason as `error.code`, and the manager's
//! record of the building's access requests holds the refusal. Where a rule
//! can be lifted, lifting it lets the driver in again.

use doorman_api::*;

use crate::fixture::{all_day, delivery, weekdays_8_to_8, Building, Options, AT_THE_DOOR, ELSEWHERE};
use crate::kit::{expect_error, Kit, HOUR};
use crate::lock::Handheld;
use reqwest::StatusCode;

use RefusalReason as R;

pub async fn refusal_parcel_unknown(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("PCL-0000")).await, R::ParcelUnknown).await?;
    assert_eq!((r.delivery_id, r.unit_id, r.driver_id, r.carrier_id), (None, None, b.dana.id, b.parcelo_id));
    // A parcel of another carrier is just as unknown: the scan says nothing
    // about other carriers' parcels.
    b.quickship
        .create_delivery(&delivery("QS-77", b.property.id, b.unit_3c.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("QS-77")).await, R::ParcelUnknown).await?;
    assert_eq!(r.delivery_id, None);
    Ok(())
}

pub async fn refusal_parcel_not_addressed_here(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let now = kit.now();
    let elsewhere = b
        .parcelo
        .create_delivery(&delivery("PCL-2002", b.brownstone.id, b.brownstone_unit.id, now - HOUR, now + HOUR))
        .await?;
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("PCL-2002")).await, R::ParcelNotAddressedHere).await?;
    assert_eq!(r.delivery_id, Some(elsewhere.id));
    // Recorded where the driver stood, not at the parcel's address.
    assert!(b.otto.property_access_requests(b.brownstone.id).await?.is_empty());
    Ok(())
}

pub async fn refusal_parcel_already_delivered(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    b.dana
        .client
        .complete_delivery(parcel.id, &CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: None })
        .await?;
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::ParcelAlreadyDelivered).await?;
    assert_eq!(r.delivery_id, Some(parcel.id));
    // Another driver of the carrier, too.
    b.expect_refused(b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-1001")).await, R::ParcelAlreadyDelivered)
        .await?;
    Ok(())
}

pub async fn refusal_delivery_closed(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.parcelo.update_eta(parcel.id, kit.now() + 600).await?;
    let cancelled = b.parcelo.cancel_delivery(parcel.id).await?;
    assert_eq!(cancelled.state, DeliveryState::Cancelled);
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::DeliveryClosed).await?;
    assert_eq!((r.delivery_id, r.unit_id), (Some(parcel.id), Some(b.unit_2b.id)));
    // The unit's residents see the refused attempt too.
    let seen = b.jun.client.unit_access_requests(b.unit_2b.id).await?;
    assert!(seen.iter().any(|x| x.id == r.id && x.refusal == Some(R::DeliveryClosed)));
    Ok(())
}

pub async fn refusal_tenant_notice_missing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed_with(kit, Options { tenant_notice: false, ..Options::default() }).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // No notice at all.
    assert_eq!(b.rosa.get_property(b.property.id).await?.tenant_notice, None);
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::TenantNoticeMissing).await?;

    // A notice that cannot be backdated.
    let past = SetTenantNotice { text: "Couriers may enter.".into(), live_from: Some(kit.now() - 1) };
    expect_error(
        b.rosa.set_tenant_notice(b.property.id, &past).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(b.rosa.get_property(b.property.id).await?.tenant_notice, None);

    // Notified now, live in two hours: not yet.
    let live_from = kit.now() + 2 * HOUR;
    let notice = SetTenantNotice { text: "From 4 pm, couriers may enter.".into(), live_from: Some(live_from) };
    let property = b.rosa.set_tenant_notice(b.property.id, &notice).await?;
    let stored = property.tenant_notice.clone().ok_or_else(|| anyhow::anyhow!("notice stored"))?;
    assert_eq!((stored.notified_at, stored.live_from), (kit.now(), live_from));
    assert_eq!(b.rosa.get_property(b.property.id).await?.tenant_notice, Some(stored));
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::TenantNoticeMissing).await?;
    kit.advance(2 * HOUR - 1);
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::TenantNoticeMissing).await?;

    // At live_from, access is live.
    kit.advance(1);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_carrier_not_enabled(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let now = kit.now();
    // QuickShip was never enabled here.
    b.quickship.create_delivery(&delivery("QS-77", b.property.id, b.unit_3c.id, now - HOUR, now + HOUR)).await?;
    b.expect_refused(b.sam.client.request_access(&b.ask_as(&b.sam, "QS-77")).await, R::CarrierNotEnabled).await?;
    // Being enabled at another property does not count here.
    let brownstone_door = b
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
    let stoop = b
        .otto
        .create_drop_spot(
            b.brownstone.id,
            &CreateDropSpot {
                name: "stoop".into(),
                kind: DropSpotKind::Lobby,
                access_point_id: brownstone_door.id,
                unit_id: None,
            },
        )
        .await?;
    b.otto
        .put_enablement(
            b.brownstone.id,
            b.quickship_id,
            &PutEnablement { enabled: true, hours: all_day(), allowed_drop_spots: vec![stoop.id] },
        )
        .await?;
    b.expect_refused(b.sam.client.request_access(&b.ask_as(&b.sam, "QS-77")).await, R::CarrierNotEnabled).await?;

    // Parcelo, enabled, then disabled by the manager.
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let off = PutEnablement { enabled: false, hours: weekdays_8_to_8(), allowed_drop_spots: vec![b.room_spot.id] };
    let stored = b.rosa.put_enablement(b.property.id, b.parcelo_id, &off).await?;
    assert!(!stored.enabled);
    let listed = b.rosa.list_enablements(b.property.id).await?;
    assert_eq!(listed.iter().filter(|e| e.carrier_id == b.parcelo_id && !e.enabled).count(), 1);
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::CarrierNotEnabled).await?;

    // And enabled again.
    b.rosa.put_enablement(b.property.id, b.parcelo_id, &PutEnablement { enabled: true, ..off }).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_carrier_outside_hours(kit: &Kit) -> anyhow::Result<()> {
    // Seeded at 07:00, so that the tenant notice is live before the hours start.
    let wednesday_2pm = kit.now();
    kit.set_time(wednesday_2pm - 7 * HOUR);
    let b = Building::seed(kit).await?;
    // A week-long window, so only the carrier's hours (Mon-Fri 08:00-20:00
    // New York time) decide.
    b.parcelo
        .create_delivery(&delivery(
            "PCL-1001",
            b.property.id,
            b.unit_2b.id,
            wednesday_2pm - 2 * 24 * HOUR,
            wednesday_2pm + 5 * 24 * HOUR,
        ))
        .await?;
    for (when, what) in [
        (wednesday_2pm + 6 * HOUR, "Wednesday 20:00, the end of the slot"),
        (wednesday_2pm + 7 * HOUR, "Wednesday 21:00"),
        (wednesday_2pm - 6 * HOUR - 60, "Wednesday 07:59"),
        (wednesday_2pm + 13 * HOUR, "Thursday 03:00"),
        (wednesday_2pm + 3 * 24 * HOUR - 2 * HOUR, "Saturday noon"),
    ] {
        kit.set_time(when);
        let result = b.dana.client.request_access(&b.ask("PCL-1001")).await;
        assert!(result.is_err(), "{what}: {result:?}");
        b.expect_refused(result, R::CarrierOutsideHours).await?;
    }
    // Wednesday 08:00 sharp: the slot starts.
    kit.set_time(wednesday_2pm - 6 * HOUR);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_driver_suspended(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let suspended = b
        .parcelo
        .update_driver(b.dana.id, &UpdateDriver { status: Some(DriverStatus::Suspended), ..Default::default() })
        .await?;
    assert_eq!(suspended.status, DriverStatus::Suspended);
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::DriverSuspended).await?;
    b.parcelo
        .update_driver(b.dana.id, &UpdateDriver { status: Some(DriverStatus::Active), ..Default::default() })
        .await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_driver_not_vetted(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let handheld = Handheld::generate();
    let pat = b
        .parcelo
        .create_driver(&CreateDriver {
            name: "Pat".into(),
            handheld_public_key: Some(handheld.public_key_b64()),
            vetting: VettingStatus::Pending,
            vetted_at: None,
        })
        .await?;
    let pat_client = kit.client(&pat.token);
    let ask = AccessRequest { handheld_public_key: handheld.public_key_b64(), ..b.ask("PCL-1001") };
    b.expect_refused(pat_client.request_access(&ask).await, R::DriverNotVetted).await?;

    let failed = b
        .parcelo
        .update_driver(pat.item.id, &UpdateDriver { vetting: Some(VettingStatus::Failed), ..Default::default() })
        .await?;
    assert_eq!((failed.vetting, failed.vetted_at), (VettingStatus::Failed, Some(kit.now())));
    b.expect_refused(pat_client.request_access(&ask).await, R::DriverNotVetted).await?;

    b.parcelo
        .update_driver(pat.item.id, &UpdateDriver { vetting: Some(VettingStatus::Passed), ..Default::default() })
        .await?;
    b.expect_granted(pat_client.request_access(&ask).await).await?;
    Ok(())
}

pub async fn refusal_handheld_not_registered(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // Dana's token on a phone that is not Dana's handheld.
    let other_phone = Handheld::generate();
    let ask = AccessRequest { handheld_public_key: other_phone.public_key_b64(), ..b.ask("PCL-1001") };
    b.expect_refused(b.dana.client.request_access(&ask).await, R::HandheldNotRegistered).await?;

    // A driver without any registered handheld.
    let lee = b
        .parcelo
        .create_driver(&CreateDriver {
            name: "Lee".into(),
            handheld_public_key: None,
            vetting: VettingStatus::Passed,
            vetted_at: Some(kit.now() - HOUR),
        })
        .await?;
    let lee_client = kit.client(&lee.token);
    b.expect_refused(lee_client.request_access(&ask).await, R::HandheldNotRegistered).await?;

    // The carrier registers Lee's phone: now it works.
    b.parcelo
        .update_driver(
            lee.item.id,
            &UpdateDriver { handheld_public_key: Some(other_phone.public_key_b64()), ..Default::default() },
        )
        .await?;
    b.expect_granted(lee_client.request_access(&ask).await).await?;
    Ok(())
}

pub async fn refusal_driver_not_at_property(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // Brooklyn, and two blocks away (about 220 m; the limit is 150 m).
    for position in [ELSEWHERE, GeoPoint { lat: 40.73146, lon: -73.98862 }] {
        let ask = AccessRequest { position, ..b.ask("PCL-1001") };
        let r = b.expect_refused(b.dana.client.request_access(&ask).await, R::DriverNotAtProperty).await?;
        assert_eq!(r.position, position, "the record keeps where the driver said they were");
    }
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_outside_delivery_window(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let t = kit.now();
    b.parcelo.create_delivery(&delivery("PCL-1001", b.property.id, b.unit_2b.id, t + HOUR, t + 3 * HOUR)).await?;
    // Before the window (and one second before it).
    for now in [t, t + HOUR - 1] {
        kit.set_time(now);
        b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::OutsideDeliveryWindow).await?;
    }
    // After it (one second after, and an hour after; still within hours).
    for now in [t + 3 * HOUR + 1, t + 4 * HOUR] {
        kit.set_time(now);
        b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::OutsideDeliveryWindow).await?;
    }
    // Its last second is inside.
    kit.set_time(t + 3 * HOUR);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn refusal_resident_blocked(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let blocked = b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: Some("away".into()) }).await?;
    assert_eq!((blocked.block.unit_id, blocked.block.blocked_by, blocked.block.until), (b.unit_2b.id, b.jun.id, None));
    assert!(blocked.revoked_grants.is_empty());
    let r = b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::ResidentBlocked).await?;
    // Jun sees the refused attempt on 2B.
    let seen = b.jun.client.unit_access_requests(b.unit_2b.id).await?;
    assert_eq!(seen.first().map(|x| (x.id, x.refusal)), Some((r.id, Some(R::ResidentBlocked))));
    // Other units are not affected.
    b.parcel(kit, "PCL-3001", b.unit_3c.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-3001")).await).await?;

    // Unblocking restores access.
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 1);
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 0);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;

    // A block with an end lifts by itself.
    b.parcel(kit, "PCL-3002", b.unit_3c.id).await?;
    let until = kit.now() + HOUR;
    b.kim.client.block(b.unit_3c.id, &CreateBlock { until: Some(until), reason: None }).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-3002")).await, R::ResidentBlocked).await?;
    kit.set_time(until);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-3002")).await).await?;
    Ok(())
}

pub async fn refusal_drop_spot_not_allowed(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let prefs = |spot: Option<DropSpotId>, allow_in_unit: bool| UnitPreferences {
        preferred_drop_spot: spot,
        allow_in_unit,
        alternate_address: None,
        pickup_point: None,
        ..Default::default()
    };
    // Jun prefers the lobby bench, which Parcelo may not use.
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(Some(b.lobby_spot.id), false)).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::DropSpotNotAllowed).await?;
    // ... nor 2B's doormat.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(Some(b.door_2b_spot.id), false)).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::DropSpotNotAllowed).await?;

    // Inside 2B: Parcelo may, but Jun has not allowed couriers in.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(Some(b.in_2b_spot.id), false)).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::DropSpotNotAllowed).await?;
    // With allow_in_unit it is fine.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(Some(b.in_2b_spot.id), true)).await?;
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    assert_eq!(grant.drop_spot_id, b.in_2b_spot.id);

    // No preference, and the driver proposes a spot the carrier may not use.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(None, false)).await?;
    b.parcel(kit, "PCL-1002", b.unit_2b.id).await?;
    let ask = AccessRequest { drop_spot_id: Some(b.lobby_spot.id), ..b.ask("PCL-1002") };
    b.expect_refused(b.dana.client.request_access(&ask).await, R::DropSpotNotAllowed).await?;
    // ... or the inside of 2B, which Jun now does not allow.
    let ask = AccessRequest { drop_spot_id: Some(b.in_2b_spot.id), ..b.ask("PCL-1002") };
    b.expect_refused(b.dana.client.request_access(&ask).await, R::DropSpotNotAllowed).await?;

    // A parcel for 3C cannot go inside 2B, even with 2B's consent.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(None, true)).await?;
    b.parcel(kit, "PCL-3001", b.unit_3c.id).await?;
    let ask = AccessRequest { drop_spot_id: Some(b.in_2b_spot.id), ..b.ask("PCL-3001") };
    b.expect_refused(b.dana.client.request_access(&ask).await, R::DropSpotNotAllowed).await?;

    // The resident's preference wins over the driver's choice.
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(Some(b.room_spot.id), false)).await?;
    let ask = AccessRequest { drop_spot_id: Some(b.lobby_spot.id), ..b.ask("PCL-1002") };
    let grant = b.expect_granted(b.dana.client.request_access(&ask).await).await?;
    assert_eq!(grant.drop_spot_id, b.room_spot.id);
    Ok(())
}

/// `no_way_through` cannot be reached through the API, on purpose: the
/// service refuses a lock that has neither a credential reader nor a keypad
/// (422 below), a door's parent must already exist in the same property (so
/// the door tree can neither break nor loop), and a drop spot must sit behind
/// a door of its property. The rule guards against rows the API would not
/// write (an older version, a manual edit), so the test writes such a lock
/// through the store, then asks through the API. `domain::no_way_through_*`
/// covers the rule itself, loops and broken chains included.
pub async fn refusal_no_way_through(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let bike_room = b
        .rosa
        .create_access_point(
            b.property.id,
            &CreateAccessPoint {
                kind: AccessPointKind::PackageRoom,
                name: "bike room".into(),
                parent_id: Some(b.lobby.id),
                unit_id: None,
            },
        )
        .await?;
    let inert = RegisterLock {
        access_point_id: bike_room.id,
        device_public_key: crate::lock::SimLock::device_key_b64(&crate::lock::SimLock::device()),
        model: "padlock".into(),
        firmware: "none".into(),
        mobile_credential: false,
        keypad: false,
    };
    expect_error(
        b.rosa.register_lock(b.property.id, &inert).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(b.rosa.list_locks(b.property.id).await?.len(), 4, "the refused lock was not stored");

    kit.store()
        .insert_lock(
            &Lock {
                id: LockId::random(),
                property_id: b.property.id,
                access_point_id: bike_room.id,
                device_public_key: doorman_domain::serde_b64::decode(&inert.device_public_key)?,
                model: inert.model.clone(),
                firmware: inert.firmware.clone(),
                mobile_credential: false,
                keypad: false,
                created_at: kit.now(),
                decommissioned_at: None,
                replaced_by: None,
            },
            &[],
        )
        .await?;
    let rack = b
        .rosa
        .create_drop_spot(
            b.property.id,
            &CreateDropSpot {
                name: "bike room rack".into(),
                kind: DropSpotKind::PackageRoom,
                access_point_id: bike_room.id,
                unit_id: None,
            },
        )
        .await?;
    b.rosa
        .put_enablement(
            b.property.id,
            b.parcelo_id,
            &PutEnablement { enabled: true, hours: weekdays_8_to_8(), allowed_drop_spots: vec![rack.id] },
        )
        .await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::NoWayThrough).await?;
    assert!(kit.store().list_grants(parcel.id).await?.is_empty());
    Ok(())
}

pub async fn refusal_access_already_granted(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let first = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    assert_eq!(first.expires_at, kit.now() + 300);
    // The same driver again, and another driver of the carrier: one
    // credential per parcel at a time.
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::AccessAlreadyGranted).await?;
    b.expect_refused(b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-1001")).await, R::AccessAlreadyGranted).await?;
    // Still live one second before expiry.
    kit.set_time(first.expires_at - 1);
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, R::AccessAlreadyGranted).await?;
    // Once it expired, a new one may be issued.
    kit.set_time(first.expires_at);
    let second = b.expect_granted(b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-1001")).await).await?;
    assert_ne!(first.grant_id, second.grant_id);
    let grants = kit.store().list_grants(parcel.id).await?;
    assert_eq!(grants.iter().map(|g| g.id).collect::<Vec<_>>(), vec![first.grant_id, second.grant_id]);
    Ok(())
}

/// Everything wrong at once, then fixed one rule at a time: each answer
/// names the first rule, in the order `decide_access` documents.
pub async fn rules_are_checked_in_their_fixed_order(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed_with(kit, Options { tenant_notice: false, enable_parcelo: false }).await?;
    let t = kit.now();
    let parcelo = &b.parcelo;
    let ask_for = |tracking: &str| {
        let request = b.ask(tracking);
        let client = b.dana.client.clone();
        async move { client.request_access(&request).await }
    };

    // Facts about the parcel come before everything about the property.
    b.expect_refused(ask_for("PCL-0000").await, R::ParcelUnknown).await?;
    parcelo.create_delivery(&delivery("PCL-2002", b.brownstone.id, b.brownstone_unit.id, t, t + HOUR)).await?;
    b.expect_refused(ask_for("PCL-2002").await, R::ParcelNotAddressedHere).await?;
    let cancelled = b.parcel(kit, "PCL-1000", b.unit_2b.id).await?;
    parcelo.cancel_delivery(cancelled.id).await?;
    b.expect_refused(ask_for("PCL-1000").await, R::DeliveryClosed).await?;

    // The parcel under test: everything else is wrong.
    let parcel =
        parcelo.create_delivery(&delivery("PCL-1001", b.property.id, b.unit_2b.id, t + HOUR, t + 3 * HOUR)).await?;
    parcelo
        .update_driver(
            b.dana.id,
            &UpdateDriver {
                status: Some(DriverStatus::Suspended),
                vetting: Some(VettingStatus::Pending),
                ..Default::default()
            },
        )
        .await?;
    b.jun.client.block(b.unit_2b.id, &CreateBlock::default()).await?;
    let prefs = |spot: DropSpotId| UnitPreferences {
        preferred_drop_spot: Some(spot),
        allow_in_unit: false,
        alternate_address: None,
        pickup_point: None,
        ..Default::default()
    };
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(b.lobby_spot.id)).await?;
    let stranger = Handheld::generate();
    let mut ask =
        AccessRequest { handheld_public_key: stranger.public_key_b64(), position: ELSEWHERE, ..b.ask("PCL-1001") };
    let mut expected = Vec::new();
    let mut refused = |reason: RefusalReason| {
        expected.push(reason);
        reason
    };

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::TenantNoticeMissing)).await?;
    b.rosa
        .set_tenant_notice(b.property.id, &SetTenantNotice { text: "Couriers may enter.".into(), live_from: None })
        .await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::CarrierNotEnabled)).await?;
    let saturday_morning = vec![WeeklyHours { days: vec!["sat".into()], start: "09:00".into(), end: "10:00".into() }];
    let enable = |hours| PutEnablement { enabled: true, hours, allowed_drop_spots: vec![b.room_spot.id] };
    b.rosa.put_enablement(b.property.id, b.parcelo_id, &enable(saturday_morning)).await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::CarrierOutsideHours)).await?;
    b.rosa.put_enablement(b.property.id, b.parcelo_id, &enable(weekdays_8_to_8())).await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::DriverSuspended)).await?;
    parcelo
        .update_driver(b.dana.id, &UpdateDriver { status: Some(DriverStatus::Active), ..Default::default() })
        .await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::DriverNotVetted)).await?;
    parcelo
        .update_driver(b.dana.id, &UpdateDriver { vetting: Some(VettingStatus::Passed), ..Default::default() })
        .await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::HandheldNotRegistered)).await?;
    ask.handheld_public_key = b.dana.handheld.public_key_b64();

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::DriverNotAtProperty)).await?;
    ask.position = AT_THE_DOOR;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::OutsideDeliveryWindow)).await?;
    kit.set_time(t + 90 * 60);

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::ResidentBlocked)).await?;
    b.jun.client.unblock(b.unit_2b.id).await?;

    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::DropSpotNotAllowed)).await?;
    b.jun.client.put_preferences(b.unit_2b.id, &prefs(b.room_spot.id)).await?;

    let grant = b.expect_granted(b.dana.client.request_access(&ask).await).await?;
    assert_eq!((grant.delivery_id, grant.drop_spot_id), (parcel.id, b.room_spot.id));
    b.expect_refused(b.dana.client.request_access(&ask).await, refused(R::AccessAlreadyGranted)).await?;

    // Jun's view of 2B tells the same story, newest first.
    let mut story: Vec<Option<RefusalReason>> = b
        .jun
        .client
        .unit_access_requests(b.unit_2b.id)
        .await?
        .into_iter()
        .filter(|r| r.delivery_id == Some(parcel.id))
        .map(|r| r.refusal)
        .collect();
    story.reverse();
    let mut want: Vec<Option<RefusalReason>> = expected.iter().copied().map(Some).collect();
    want.insert(want.len() - 1, None);
    assert_eq!(story, want);
    // Every reason of the enum was met in this test or its neighbours;
    // only these are not reachable on this one parcel.
    // (The residents' allow and block lists are tested in notify.rs, the
    // vehicle's rules, which follow the choice of a trunk, in vehicles.rs.)
    let elsewhere = [
        R::ParcelUnknown,
        R::ParcelNotAddressedHere,
        R::ParcelAlreadyDelivered,
        R::DeliveryClosed,
        R::NoWayThrough,
        R::CarrierRefusedByResident,
        R::DriverRefusedByResident,
        R::VehiclePositionUnknown,
        R::VehiclePositionStale,
        R::VehicleNotAtAddress,
        R::DriverNotAtVehicle,
    ];
    for reason in RefusalReason::ALL {
        assert!(expected.contains(reason) || elsewhere.contains(reason), "{reason} untested");
    }
    Ok(())
}
