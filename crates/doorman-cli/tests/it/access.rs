//! Granted requests and what follows them: the credentials a lock accepts
//! (once, for its own door, from the driver's handheld only), door codes for
//! keypad-only doors, revocation by a block, and the delivery's lifecycle.

use doorman_api::*;
use doorman_protocol::{inspect_credential, DoorCodeRefusal, DoorCodeVerdict, Refusal, VerifyConfig};
use reqwest::StatusCode;

use crate::fixture::Building;
use crate::kit::{expect_error, Kit, HOUR};
use crate::lock::{wire, Handheld, Outcome};

/// How far past `exp` a lock still accepts a credential (its clock may lag the service's).
fn skew() -> i64 {
    i64::try_from(VerifyConfig::default().clock_skew_secs).unwrap_or(i64::MAX)
}

fn credential_bytes(door: &DoorAccess) -> anyhow::Result<Vec<u8>> {
    let text =
        door.credential.as_deref().ok_or_else(|| anyhow::anyhow!("{} has no credential", door.access_point_name))?;
    Ok(doorman_domain::serde_b64::decode(text)?)
}

pub async fn granted_request_opens_exactly_the_path(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    let now = kit.now();
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // The scan as the handheld read it, with stray whitespace.
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("  PCL-1001 ")).await).await?;
    assert_eq!((grant.delivery_id, grant.drop_spot_id), (parcel.id, b.room_spot.id));
    assert_eq!(grant.drop_spot_name, "package room shelves");
    assert_eq!(grant.expires_at, now + 300);

    // From the street inwards: the two credential doors, then the keypad-only
    // package room; nothing else (2B's door is not on the way).
    let path: Vec<_> = grant.doors.iter().map(|d| (d.access_point_id, d.lock_id)).collect();
    assert_eq!(
        path,
        vec![(b.entrance.id, b.entrance_lock.id), (b.lobby.id, b.lobby_lock.id), (b.package_room.id, b.room_lock.id)]
    );
    let [street, lobby, room] = [&grant.doors[0], &grant.doors[1], &grant.doors[2]];
    for door in [street, lobby] {
        assert!(door.door_code.is_none(), "a credential reader gets a credential, not a code");
        let bytes = credential_bytes(door)?;
        assert!(bytes.len() <= 260, "{} bytes", bytes.len());
    }
    assert!(room.credential.is_none());
    // Each credential door names its lock's key as registered, so the
    // handheld (`doorman driver deliver`) checks the lock's challenge against
    // the service's word, not the lock's; a keypad-only door names none.
    let locks = b.rosa.list_locks(b.property.id).await?;
    for door in [street, lobby] {
        let lock = locks.iter().find(|l| l.id == door.lock_id).ok_or_else(|| anyhow::anyhow!("lock listed"))?;
        let registered = doorman_domain::serde_b64::encode(&lock.device_public_key);
        assert_eq!(door.lock_public_key.as_deref(), Some(registered.as_str()), "{}", door.access_point_name);
    }
    assert_eq!(room.lock_public_key, None);
    let code = room.door_code.clone().ok_or_else(|| anyhow::anyhow!("keypad-only door gets a code"))?;
    assert!(code.len() == 8 && code.bytes().all(|c| c.is_ascii_digit()), "{code}");

    // What the service keeps: the grant, its doors and credential ids, no credential.
    let grants = kit.store().list_grants(parcel.id).await?;
    assert_eq!(grants.len(), 1);
    let stored = &grants[0];
    assert_eq!((stored.id, stored.driver_id, stored.unit_id), (grant.grant_id, b.dana.id, b.unit_2b.id));
    assert_eq!((stored.issued_at, stored.expires_at, stored.revoked_at), (now, now + 300, None));
    assert_eq!(stored.doors.len(), 3);
    for (kept, given) in stored.doors.iter().zip(&grant.doors) {
        assert_eq!(kept.lock_id, given.lock_id);
        assert_eq!(kept.door_code, given.door_code.is_some());
        match &given.credential {
            Some(_) => {
                let bytes = credential_bytes(given)?;
                let cred = inspect_credential(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
                assert_eq!(kept.credential_id.as_deref(), Some(&cred.claims.credential_id.0[..]));
                assert_eq!(cred.claims.lock_id, wire(given.lock_id));
                assert_eq!(&cred.claims.handheld_key, &b.dana.handheld.key.public_key());
                assert_eq!(Some(cred.claims.lock_sequence as i64), kept.sequence);
                assert_eq!((cred.claims.not_before, cred.claims.expires_at), (now as u64, (now + 300) as u64));
                assert_eq!(cred.claims.max_uses, 1);
            }
            None => assert_eq!(kept.credential_id, None),
        }
    }

    // At the doors, offline.
    let keys = kit.anon.keys().await?;
    let stranger = Handheld::generate();
    let at = now + 30;
    assert_eq!(
        b.entrance_lock.present(&keys, street, &stranger, at)?,
        Outcome::StaysShut(Refusal::BadPossessionProof),
        "a copied credential without Dana's key"
    );
    assert_eq!(b.entrance_lock.present(&keys, street, &b.dana.handheld, at)?, Outcome::Opens);
    assert_eq!(
        b.entrance_lock.present(&keys, street, &b.dana.handheld, at + 1)?,
        Outcome::StaysShut(Refusal::Replayed)
    );
    assert_eq!(
        b.entrance_lock.present(&keys, lobby, &b.dana.handheld, at + 2)?,
        Outcome::StaysShut(Refusal::WrongAudience),
        "the lobby's credential at the street door"
    );
    assert_eq!(b.lobby_lock.present(&keys, lobby, &b.dana.handheld, at + 3)?, Outcome::Opens);
    assert!(matches!(b.room_lock.type_code(&keys, &code, at + 4)?, DoorCodeVerdict::Accepted { .. }));
    assert!(matches!(
        b.room_lock.type_code(&keys, &code, at + 5)?,
        DoorCodeVerdict::Refused { reason: DoorCodeRefusal::Reused, .. }
    ));

    // A credential is dead at its expiry (plus the lock's allowance for clock skew).
    let second_parcel = b.parcel(kit, "PCL-1002", b.unit_2b.id).await?;
    let late = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1002")).await).await?;
    assert_eq!(late.delivery_id, second_parcel.id);
    let late_street = late.doors.first().ok_or_else(|| anyhow::anyhow!("street door"))?;
    assert_eq!(
        b.entrance_lock.present(&keys, late_street, &b.dana.handheld, late.expires_at + skew())?,
        Outcome::StaysShut(Refusal::Expired)
    );

    // Everyone concerned sees the parcel.
    assert!(b.dana.client.list_deliveries().await?.iter().any(|d| d.id == parcel.id));
    assert_eq!(b.dana.client.get_delivery(parcel.id).await?.id, parcel.id);
    assert!(b.rosa.property_deliveries(b.property.id).await?.iter().any(|d| d.id == parcel.id));
    assert!(b.jun.client.unit_deliveries(b.unit_2b.id).await?.iter().any(|d| d.id == parcel.id));
    Ok(())
}

pub async fn in_unit_drop_goes_through_the_unit_door(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.jun
        .client
        .put_preferences(
            b.unit_2b.id,
            &UnitPreferences {
                preferred_drop_spot: Some(b.in_2b_spot.id),
                allow_in_unit: true,
                alternate_address: None,
                pickup_point: Some("Corner Deli, 200 E 9th St".into()),
                ..Default::default()
            },
        )
        .await?;
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    assert_eq!(grant.drop_spot_id, b.in_2b_spot.id);
    let locks: Vec<_> = grant.doors.iter().map(|d| d.lock_id).collect();
    assert_eq!(locks, vec![b.entrance_lock.id, b.lobby_lock.id, b.door_2b_lock.id], "not via the package room");
    assert!(grant.doors.iter().all(|d| d.credential.is_some() && d.door_code.is_none()));

    let keys = kit.anon.keys().await?;
    let unit_door = &grant.doors[2];
    let at = kit.now() + 10;
    assert_eq!(
        b.entrance_lock.present(&keys, unit_door, &b.dana.handheld, at)?,
        Outcome::StaysShut(Refusal::WrongAudience)
    );
    assert_eq!(b.door_2b_lock.present(&keys, unit_door, &b.dana.handheld, at)?, Outcome::Opens);

    let done = b
        .dana
        .client
        .complete_delivery(parcel.id, &CompleteDelivery { drop_spot_id: b.in_2b_spot.id, photo_ref: None })
        .await?;
    assert_eq!((done.state, done.drop_spot_id), (DeliveryState::Delivered, Some(b.in_2b_spot.id)));
    Ok(())
}

pub async fn block_revokes_a_live_grant(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;

    // A block elsewhere leaves it alone.
    let other = b.kim.client.block(b.unit_3c.id, &CreateBlock::default()).await?;
    assert!(other.revoked_grants.is_empty());
    b.kim.client.unblock(b.unit_3c.id).await?;

    kit.advance(60);
    let blocked =
        b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: Some("changed my mind".into()) }).await?;
    assert_eq!(blocked.revoked_grants, vec![grant.grant_id]);
    let stored = kit.store().get_grant(grant.grant_id).await?.ok_or_else(|| anyhow::anyhow!("grant kept"))?;
    assert_eq!(stored.revoked_at, Some(kit.now()));

    // The driver can neither confirm a drop under it nor get a new one.
    expect_error(
        b.dana
            .client
            .complete_delivery(parcel.id, &CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: None })
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, RefusalReason::ResidentBlocked).await?;
    assert_eq!(b.jun.client.block(b.unit_2b.id, &CreateBlock::default()).await?.revoked_grants, vec![]);

    // Unblocked, the parcel may get a new credential (the revoked one does not count).
    b.jun.client.unblock(b.unit_2b.id).await?;
    let again = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    assert_ne!(again.grant_id, grant.grant_id);

    // An expired grant is not revoked by a later block: nothing is outstanding.
    kit.set_time(again.expires_at);
    assert!(b.jun.client.block(b.unit_2b.id, &CreateBlock::default()).await?.revoked_grants.is_empty());
    let keys = kit.anon.keys().await?;
    assert_eq!(
        b.entrance_lock.present(&keys, &again.doors[0], &b.dana.handheld, again.expires_at + skew())?,
        Outcome::StaysShut(Refusal::Expired)
    );
    Ok(())
}

pub async fn complete_delivery_flow_and_its_errors(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    assert_eq!(parcel.state, DeliveryState::Registered);
    let eta = kit.now() + 600;
    let out = b.parcelo.update_eta(parcel.id, eta).await?;
    assert_eq!((out.state, out.eta), (DeliveryState::OutForDelivery, Some(eta)));
    // The resident's pre-arrival notice.
    let seen = b.jun.client.unit_deliveries(b.unit_2b.id).await?;
    assert_eq!(seen.iter().find(|d| d.id == parcel.id).map(|d| d.eta), Some(Some(eta)));

    let done_at = |spot: DropSpotId, photo: Option<&str>| CompleteDelivery {
        drop_spot_id: spot,
        photo_ref: photo.map(String::from),
    };
    // Nothing to confirm before access was granted.
    expect_error(
        b.dana.client.complete_delivery(parcel.id, &done_at(b.room_spot.id, None)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    let state_now = || async { Ok::<_, anyhow::Error>(b.parcelo.get_delivery(parcel.id).await?.state) };

    // Another spot than the granted one, a photo reference that is too long.
    expect_error(
        b.dana.client.complete_delivery(parcel.id, &done_at(b.lobby_spot.id, None)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    let long = "p".repeat(501);
    expect_error(
        b.dana.client.complete_delivery(parcel.id, &done_at(b.room_spot.id, Some(&long))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(state_now().await?, DeliveryState::OutForDelivery, "a refused completion changes nothing");
    // Not the driver who got the grant, not this carrier's driver, not a driver.
    expect_error(
        b.eli.client.complete_delivery(parcel.id, &done_at(b.room_spot.id, None)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        b.sam.client.complete_delivery(parcel.id, &done_at(b.room_spot.id, None)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        b.parcelo.complete_delivery(parcel.id, &done_at(b.room_spot.id, None)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(state_now().await?, DeliveryState::OutForDelivery);

    kit.advance(120);
    let done =
        b.dana.client.complete_delivery(parcel.id, &done_at(grant.drop_spot_id, Some("photo://pcl-1001"))).await?;
    assert_eq!(done.state, DeliveryState::Delivered);
    assert_eq!((done.drop_spot_id, done.completed_by), (Some(b.room_spot.id), Some(b.dana.id)));
    assert_eq!((done.photo_ref.as_deref(), done.updated_at), (Some("photo://pcl-1001"), kit.now()));
    assert_eq!(
        b.jun.client.unit_deliveries(b.unit_2b.id).await?.first().map(|d| d.state),
        Some(DeliveryState::Delivered)
    );
    // The credential is spent: the grant ends now, without being "revoked".
    let stored = kit.store().get_grant(grant.grant_id).await?.ok_or_else(|| anyhow::anyhow!("grant kept"))?;
    assert_eq!((stored.expires_at, stored.revoked_at), (kit.now(), None));

    // Nothing moves a delivered parcel.
    expect_error(
        b.dana.client.complete_delivery(parcel.id, &done_at(grant.drop_spot_id, None)).await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
    expect_error(b.parcelo.cancel_delivery(parcel.id).await, StatusCode::CONFLICT, "illegal_transition");
    expect_error(b.parcelo.update_eta(parcel.id, eta).await, StatusCode::CONFLICT, "illegal_transition");
    let after = b.parcelo.get_delivery(parcel.id).await?;
    assert_eq!((after.state, after.photo_ref.as_deref()), (DeliveryState::Delivered, Some("photo://pcl-1001")));
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-1001")).await, RefusalReason::ParcelAlreadyDelivered)
        .await?;

    // Cancelling is final too.
    let other = b.parcel(kit, "PCL-1002", b.unit_3c.id).await?;
    assert_eq!(b.parcelo.cancel_delivery(other.id).await?.state, DeliveryState::Cancelled);
    expect_error(b.parcelo.cancel_delivery(other.id).await, StatusCode::CONFLICT, "illegal_transition");
    expect_error(b.parcelo.update_eta(other.id, eta).await, StatusCode::CONFLICT, "illegal_transition");
    Ok(())
}

pub async fn invitations_are_one_time(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let invite = |email: &str| CreateInvitation { name: "Ana Ruiz".into(), email: email.into() };
    let invitation = b.rosa.invite_resident(b.unit_3c.id, &invite("ana@example.org")).await?;
    assert_eq!(invitation.invitation.expires_at, kit.now() + 14 * 24 * HOUR);
    let ana = kit.anon.redeem_invitation(&invitation.code).await?;
    assert_eq!(ana.item.unit_id, b.unit_3c.id);
    let me = kit.client(&ana.token).whoami().await?;
    assert_eq!(me.principal, Principal::Resident { resident_id: ana.item.id, unit_id: b.unit_3c.id });
    expect_error(kit.anon.redeem_invitation(&invitation.code).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(kit.anon.redeem_invitation("inv_made_up").await, StatusCode::NOT_FOUND, "not_found");
    expect_error(kit.anon.redeem_invitation("   ").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");

    let late = b.rosa.invite_resident(b.unit_3c.id, &invite("late@example.org")).await?;
    kit.set_time(late.invitation.expires_at);
    expect_error(kit.anon.redeem_invitation(&late.code).await, StatusCode::NOT_FOUND, "not_found");

    expect_error(
        b.rosa.invite_resident(b.unit_3c.id, &invite("no-at-sign")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    Ok(())
}
