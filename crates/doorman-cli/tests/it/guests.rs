//! Guest passes: a resident gives a named person the doors from the street
//! to their unit for a window; the locks (simulated with the protocol's own
//! verifier) decide, offline: only those doors, only inside the window;
//! revocation reaches an online lock; a vehicle owner's one-time trunk code.

use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_protocol::{DoorCodeRefusal, DoorCodeVerdict, Refusal};
use rand_core::OsRng;
use reqwest::StatusCode;

use crate::fixture::Building;
use crate::fleet::{self, Broker, FleetEnv, ENTRANCE};
use crate::kit::{expect_error, Kit, HOUR};
use crate::lock::{Handheld, Outcome, SimLock};
use crate::notify::{all_after, kinds};

/// A pass for `name` from `from`, lasting `seconds`, without a handheld key.
pub fn pass(name: &str, from: i64, seconds: i64) -> CreateGuestPass {
    CreateGuestPass {
        name: name.into(),
        valid_from: from,
        valid_until: from + seconds,
        handheld_public_key: None,
        max_uses: None,
    }
}

/// A guest's door as the test lock takes it.
fn as_door(d: &GuestDoorAccess) -> DoorAccess {
    DoorAccess {
        access_point_id: d.access_point_id,
        access_point_name: d.access_point_name.clone(),
        lock_id: d.lock_id,
        lock_public_key: None,
        credential: d.credential.clone(),
        door_code: d.door_code.clone(),
    }
}

pub async fn guest_pass_opens_only_the_units_doors_inside_its_window(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    // 3C gets a locked door of its own: the guest of 2B must not open it.
    let door_3c = b
        .rosa
        .create_access_point(
            b.property.id,
            &CreateAccessPoint {
                kind: AccessPointKind::UnitDoor,
                name: "3C front door".into(),
                parent_id: Some(b.lobby.id),
                unit_id: Some(b.unit_3c.id),
            },
        )
        .await?;
    let device = SimLock::device();
    let provisioned = b
        .rosa
        .register_lock(
            b.property.id,
            &RegisterLock {
                access_point_id: door_3c.id,
                device_public_key: SimLock::device_key_b64(&device),
                model: "Latchwell L2".into(),
                firmware: "2.4.1".into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?;
    let mut door_3c_lock = SimLock::provisioned(device, &provisioned)?;

    let cleaner = Handheld::generate();
    let from = kit.now() + 600;
    let req = CreateGuestPass {
        handheld_public_key: Some(cleaner.public_key_b64()),
        max_uses: Some(2),
        ..pass("Ana (cleaner)", from, HOUR)
    };
    let issued = b.jun.client.create_guest_pass(b.unit_2b.id, &req).await?;
    let locks: Vec<LockId> = issued.doors.iter().map(|d| d.lock_id).collect();
    assert_eq!(locks, vec![b.entrance_lock.id, b.lobby_lock.id, b.door_2b_lock.id], "street, lobby, 2B: no more");
    assert!(issued.doors.iter().all(|d| d.credential.is_some() && d.door_code.is_none()));
    assert_eq!(issued.pass.doors.iter().map(|d| d.lock_id).collect::<Vec<_>>(), locks);
    let keys = kit.anon.keys().await?;
    let doors: Vec<DoorAccess> = issued.doors.iter().map(as_door).collect();
    let [street, lobby, door_2b] = [&doors[0], &doors[1], &doors[2]];

    // Ten minutes early: every lock says not yet.
    let early = kit.now();
    assert_eq!(b.entrance_lock.present(&keys, street, &cleaner, early)?, Outcome::StaysShut(Refusal::NotYetValid));
    assert_eq!(b.door_2b_lock.present(&keys, door_2b, &cleaner, early)?, Outcome::StaysShut(Refusal::NotYetValid));
    // Inside the window: the path opens.
    let inside = from + 60;
    assert_eq!(b.entrance_lock.present(&keys, street, &cleaner, inside)?, Outcome::Opens);
    assert_eq!(b.lobby_lock.present(&keys, lobby, &cleaner, inside)?, Outcome::Opens);
    assert_eq!(b.door_2b_lock.present(&keys, door_2b, &cleaner, inside)?, Outcome::Opens);
    // Not 3C's door, whichever of the pass's credentials is shown there.
    for door in [street, door_2b] {
        assert_eq!(door_3c_lock.present(&keys, door, &cleaner, inside)?, Outcome::StaysShut(Refusal::WrongAudience));
    }
    // Not on someone else's phone.
    let other = Handheld::generate();
    assert_eq!(
        b.door_2b_lock.present(&keys, door_2b, &other, inside)?,
        Outcome::StaysShut(Refusal::BadPossessionProof)
    );
    // After the window (and the locks' clock skew): expired.
    let late = from + HOUR + 61;
    assert_eq!(b.door_2b_lock.present(&keys, door_2b, &cleaner, late)?, Outcome::StaysShut(Refusal::Expired));

    // Jun's and Rosa's feeds carry the pass; Kim's does not.
    let jun = kinds(&all_after(&b.jun.client, None).await?);
    assert!(jun.contains(&"guest_pass_created"), "{jun:?}");
    let rosa = kinds(&all_after(&b.rosa, None).await?);
    assert!(rosa.contains(&"guest_pass_created"), "{rosa:?}");
    let kim = kinds(&all_after(&b.kim.client, None).await?);
    assert!(!kim.contains(&"guest_pass_created"), "{kim:?}");

    // Listed for the unit's residents and manager; revoked once.
    assert_eq!(b.jun.client.list_guest_passes(b.unit_2b.id).await?[0].id, issued.pass.id);
    assert_eq!(b.rosa.list_guest_passes(b.unit_2b.id).await?.len(), 1);
    let revoked = b.jun.client.revoke_guest_pass(b.unit_2b.id, issued.pass.id).await?;
    assert_eq!(revoked.revoked_at, Some(kit.now()));
    expect_error(b.jun.client.revoke_guest_pass(b.unit_2b.id, issued.pass.id).await, StatusCode::CONFLICT, "conflict");
    let jun = kinds(&all_after(&b.jun.client, None).await?);
    assert!(jun.contains(&"guest_pass_revoked"), "{jun:?}");
    Ok(())
}

/// Who may create, list and revoke passes, and the limits on them.
pub async fn guest_pass_limits_and_crossings(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let now = kit.now();
    let key = Handheld::generate().public_key_b64();
    let ok = CreateGuestPass { handheld_public_key: Some(key.clone()), ..pass("Dog sitter", now, HOUR) };
    // Another resident, the manager, a carrier: not their unit.
    expect_error(b.kim.client.create_guest_pass(b.unit_2b.id, &ok).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.create_guest_pass(b.unit_2b.id, &ok).await, StatusCode::FORBIDDEN, "forbidden");
    expect_error(b.parcelo.create_guest_pass(b.unit_2b.id, &ok).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.otto.list_guest_passes(b.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.kim.client.list_guest_passes(b.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    // 3C has no door of its own in this building: nothing to give.
    let kims = CreateGuestPass { handheld_public_key: Some(key.clone()), ..pass("Friend", now, HOUR) };
    expect_error(b.kim.client.create_guest_pass(b.unit_3c.id, &kims).await, StatusCode::CONFLICT, "conflict");

    let invalid = |r| expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let too_long = CreateGuestPass { valid_until: now + HOUR + 1, ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &too_long).await);
    let backwards = CreateGuestPass { valid_until: now, ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &backwards).await);
    let past = CreateGuestPass { valid_from: now - 2 * HOUR, valid_until: now - HOUR, ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &past).await);
    let keyless = CreateGuestPass { handheld_public_key: None, ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &keyless).await);
    let bad_key = CreateGuestPass { handheld_public_key: Some("AAAA".into()), ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &bad_key).await);
    let greedy = CreateGuestPass { max_uses: Some(200), ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &greedy).await);
    let nameless = CreateGuestPass { name: "  ".into(), ..ok.clone() };
    invalid(b.jun.client.create_guest_pass(b.unit_2b.id, &nameless).await);
    assert!(b.jun.client.list_guest_passes(b.unit_2b.id).await?.is_empty(), "nothing written");

    let issued = b.jun.client.create_guest_pass(b.unit_2b.id, &ok).await?;
    expect_error(
        b.kim.client.revoke_guest_pass(b.unit_2b.id, issued.pass.id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        b.kim.client.revoke_guest_pass(b.unit_3c.id, issued.pass.id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        b.jun.client.revoke_guest_pass(b.unit_2b.id, GuestPassId::random()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    Ok(())
}

/// A keypad-only trunk: the owner shares a one-time code; the keypad
/// accepts it only inside the window, and only once.
pub async fn trunk_code_works_once_inside_its_window(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let (car, mut trunk) = crate::vehicles::register_car(&b, false, true).await?;
    let from = kit.now() + 900;
    let issued = b.jun.client.create_trunk_pass(car.vehicle.id, &pass("QuickShip courier", from, HOUR)).await?;
    assert_eq!(issued.pass.vehicle_id, Some(car.vehicle.id));
    let [door] = issued.doors.as_slice() else { anyhow::bail!("one door: the trunk") };
    assert_eq!(door.lock_id, car.vehicle.lock_id);
    let code = door.door_code.clone().context("a keypad trunk gets a code")?;
    let (opens, closes) = (door.door_code_valid_from.context("from")?, door.door_code_valid_until.context("until")?);
    assert!(from <= opens && closes <= from + HOUR, "the code's span {opens}..{closes} is inside the window");
    let keys = kit.anon.keys().await?;
    let wrong = |v: DoorCodeVerdict| matches!(v, DoorCodeVerdict::Refused { reason: DoorCodeRefusal::WrongCode, .. });
    assert!(wrong(trunk.type_code(&keys, &code, from - 1)?), "before the window");
    assert!(matches!(trunk.type_code(&keys, &code, opens + 30)?, DoorCodeVerdict::Accepted { .. }));
    assert!(matches!(
        trunk.type_code(&keys, &code, opens + 60)?,
        DoorCodeVerdict::Refused { reason: DoorCodeRefusal::Reused, .. }
    ));
    // A second pass's code, tried after its span: refused.
    let later = b.jun.client.create_trunk_pass(car.vehicle.id, &pass("Parcelo courier", from, HOUR)).await?;
    let later_code = later.doors[0].door_code.clone().context("code")?;
    let after = later.doors[0].door_code_valid_until.context("until")?;
    assert!(wrong(trunk.type_code(&keys, &later_code, after + 1)?), "after the window");
    // A window too short for a code's span.
    let short = b.jun.client.create_trunk_pass(car.vehicle.id, &pass("Quick", from, 600)).await;
    expect_error(short, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let jun = kinds(&all_after(&b.jun.client, None).await?);
    assert_eq!(jun.iter().filter(|k| **k == "guest_pass_created").count(), 2, "{jun:?}");
    Ok(())
}

/// Revoking a pass reaches an online lock at once: it refuses the guest.
pub async fn revoked_guest_pass_is_refused_by_an_online_lock(kit: &Kit) -> anyhow::Result<()> {
    let spec = fleet::site(fleet::with_unit_2b_door(fleet::building()));
    let Some(env) = FleetEnv::start_with(kit, Broker::Embedded, &spec).await? else { return Ok(()) };
    let guest = doorman_devices::Handheld::generate(&mut OsRng);
    let req = CreateGuestPass {
        handheld_public_key: Some(guest.public_key_b64()),
        max_uses: Some(3),
        ..pass("Dog sitter", kit.now(), HOUR)
    };
    let issued = env.jun.create_guest_pass(env.unit_2b.id, &req).await?;
    let [door] = issued.doors.as_slice() else { anyhow::bail!("only the street door is locked") };
    assert_eq!(door.lock_id, env.lock_id(ENTRANCE));
    let credential = doorman_domain::serde_b64::decode(door.credential.as_deref().context("credential")?)?;
    let wire = doorman_protocol::LockId(*door.lock_id.as_uuid().as_bytes());
    let opened = guest.walk_through(&env.endpoint(), wire, &env.device(ENTRANCE), &credential).await?;
    assert!(opened.unlocked, "{opened:?}");

    let started = tokio::time::Instant::now();
    env.jun.revoke_guest_pass(env.unit_2b.id, issued.pass.id).await?;
    env.sim(ENTRANCE)
        .wait_until(Duration::from_secs(2), |h| h.revocation_sequence == 1)
        .await
        .context("the street door did not get the revocation within 2 s")?;
    assert!(started.elapsed() < Duration::from_secs(2));
    let refused = guest.walk_through(&env.endpoint(), wire, &env.device(ENTRANCE), &credential).await?;
    assert!(!refused.unlocked);
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    Ok(())
}
