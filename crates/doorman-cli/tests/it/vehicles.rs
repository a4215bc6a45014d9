//! Garages and car trunks: a garage door is an ordinary door on the way to a
//! drop spot; a resident's car, registered with its trunk device, takes a
//! parcel only when it reported recently that it is parked at the address
//! and the driver stands next to it; its positions are its owner's alone.

use doorman_api::*;
use reqwest::StatusCode;

use crate::fixture::{Building, AT_THE_DOOR, ELSEWHERE, HOME};
use crate::kit::{expect_error, Kit};
use crate::lock::{Outcome, SimLock};
use crate::notify::{all_after, kinds};

/// About 90 m north of the building: within the default 100 m radius.
const UP_THE_STREET: GeoPoint = GeoPoint { lat: 40.73027, lon: -73.98862 };
/// About 140 m south of the building: a driver may ask from here (150 m),
/// but is some 230 m from a car parked up the street.
const DOWN_THE_STREET: GeoPoint = GeoPoint { lat: 40.72820, lon: -73.98862 };

/// Jun registers their car with a trunk device and makes the trunk 2B's drop spot.
pub async fn register_car(
    b: &Building,
    mobile_credential: bool,
    keypad: bool,
) -> anyhow::Result<(VehicleProvisioned, SimLock)> {
    let device = SimLock::device();
    let provisioned = b
        .jun
        .client
        .register_vehicle(
            b.unit_2b.id,
            &RegisterVehicle {
                name: "Blue Civic".into(),
                plate: Some("KXN-4471".into()),
                device_public_key: SimLock::device_key_b64(&device),
                model: "Trunkbox T1".into(),
                firmware: "1.0.3".into(),
                mobile_credential,
                keypad,
            },
        )
        .await?;
    let trunk = SimLock::provisioned(device, &provisioned.trunk_lock)?;
    Ok((provisioned, trunk))
}

pub async fn trunk_delivery_needs_the_car_parked_at_the_address(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    let (car, mut trunk) = register_car(&b, true, false).await?;
    let vehicle = &car.vehicle;
    assert_eq!((vehicle.unit_id, vehicle.owner_id), (b.unit_2b.id, b.jun.id));
    assert_eq!(b.jun.client.list_vehicles(b.unit_2b.id).await?, vec![vehicle.clone()]);
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.preferred_drop_spot = Some(vehicle.drop_spot_id);
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    b.parcel(kit, "1Z-TRUNK-1", b.unit_2b.id).await?;

    // The car has never said where it is.
    b.expect_refused(b.dana.client.request_access(&b.ask("1Z-TRUNK-1")).await, RefusalReason::VehiclePositionUnknown)
        .await?;
    // It is in Brooklyn.
    b.jun.client.report_vehicle_position(vehicle.id, ELSEWHERE).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("1Z-TRUNK-1")).await, RefusalReason::VehicleNotAtAddress)
        .await?;
    // It said it was home, but that was over five minutes ago.
    let reported = b.jun.client.report_vehicle_position(vehicle.id, HOME).await?;
    assert_eq!(reported.reported_at, kit.now(), "the service's clock, not the car's");
    kit.advance(301);
    b.expect_refused(b.dana.client.request_access(&b.ask("1Z-TRUNK-1")).await, RefusalReason::VehiclePositionStale)
        .await?;
    // Parked up the street (inside the radius), the driver asking from down the street.
    b.jun.client.report_vehicle_position(vehicle.id, UP_THE_STREET).await?;
    let far = AccessRequest { position: DOWN_THE_STREET, ..b.ask("1Z-TRUNK-1") };
    b.expect_refused(b.dana.client.request_access(&far).await, RefusalReason::DriverNotAtVehicle).await?;

    // Parked at the address, fresh, inside the window: the trunk opens, only the trunk.
    b.jun.client.report_vehicle_position(vehicle.id, HOME).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("1Z-TRUNK-1")).await).await?;
    assert_eq!(granted.drop_spot_id, vehicle.drop_spot_id);
    assert_eq!(granted.doors.iter().map(|d| d.lock_id).collect::<Vec<_>>(), vec![vehicle.lock_id]);
    let keys = kit.anon.keys().await?;
    let at = kit.now();
    // A copied credential without Dana's handheld key stays shut; hers opens it once.
    assert!(matches!(trunk.present(&keys, &granted.doors[0], &b.eli.handheld, at)?, Outcome::StaysShut(_)));
    assert_eq!(trunk.present(&keys, &granted.doors[0], &b.dana.handheld, at)?, Outcome::Opens);
    assert!(matches!(trunk.present(&keys, &granted.doors[0], &b.dana.handheld, at)?, Outcome::StaysShut(_)));
    // Not at the other doors of the building.
    assert!(matches!(b.entrance_lock.present(&keys, &granted.doors[0], &b.dana.handheld, at)?, Outcome::StaysShut(_)));

    // The owner's feed tells the story; a neighbour's does not.
    let jun = kinds(&all_after(&b.jun.client, None).await?).join(",");
    assert!(jun.contains("vehicle_registered"), "{jun}");
    assert!(jun.ends_with("access_requested,access_granted"), "{jun}");
    let kim = kinds(&all_after(&b.kim.client, None).await?).join(",");
    assert!(!kim.contains("vehicle_registered") && !kim.contains("access_granted"), "{kim}");
    Ok(())
}

/// Outside the delivery window the car being home does not help.
pub async fn trunk_delivery_only_inside_the_window(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let (car, _) = register_car(&b, true, false).await?;
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.preferred_drop_spot = Some(car.vehicle.drop_spot_id);
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    let now = kit.now();
    b.parcelo
        .create_delivery(&crate::fixture::delivery("1Z-TRUNK-2", b.property.id, b.unit_2b.id, now + 7200, now + 9000))
        .await?;
    b.jun.client.report_vehicle_position(car.vehicle.id, HOME).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("1Z-TRUNK-2")).await, RefusalReason::OutsideDeliveryWindow)
        .await?;
    kit.advance(7200);
    b.jun.client.report_vehicle_position(car.vehicle.id, AT_THE_DOOR).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("1Z-TRUNK-2")).await).await?;
    Ok(())
}

/// Positions are personal: everyone but the owner is told "not found",
/// reading or writing; bad positions are refused.
pub async fn vehicle_positions_are_the_owners_alone(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let (car, _) = register_car(&b, true, false).await?;
    let id = car.vehicle.id;
    expect_error(b.jun.client.vehicle_position(id).await, StatusCode::NOT_FOUND, "not_found");
    b.jun.client.report_vehicle_position(id, HOME).await?;
    assert_eq!(b.jun.client.vehicle_position(id).await?.position, HOME);
    let others = [&b.kim.client, &b.rosa, &b.otto, &b.parcelo, &b.dana.client, &kit.operator];
    for other in others {
        expect_error(other.vehicle_position(id).await, StatusCode::NOT_FOUND, "not_found");
        expect_error(other.report_vehicle_position(id, ELSEWHERE).await, StatusCode::NOT_FOUND, "not_found");
        expect_error(
            other.create_trunk_pass(id, &crate::guests::pass("Sam", kit.now(), 600)).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(b.jun.client.vehicle_position(id).await?.position, HOME, "nobody else moved it");
    expect_error(
        b.jun.client.report_vehicle_position(id, GeoPoint { lat: 91.0, lon: 0.0 }).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    expect_error(b.jun.client.vehicle_position(VehicleId::random()).await, StatusCode::NOT_FOUND, "not_found");
    // Registering a car for another unit, or without a usable device key.
    let device = SimLock::device();
    let req = RegisterVehicle {
        name: "Red Golf".into(),
        plate: None,
        device_public_key: SimLock::device_key_b64(&device),
        model: "Trunkbox T1".into(),
        firmware: "1.0.3".into(),
        mobile_credential: true,
        keypad: false,
    };
    expect_error(b.kim.client.register_vehicle(b.unit_2b.id, &req).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.register_vehicle(b.unit_2b.id, &req).await, StatusCode::FORBIDDEN, "forbidden");
    let bad = RegisterVehicle { device_public_key: "AAAA".into(), ..req.clone() };
    expect_error(
        b.jun.client.register_vehicle(b.unit_2b.id, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    expect_error(b.kim.client.list_vehicles(b.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    Ok(())
}

/// A garage door is a door like any other: on the way to a garage drop
/// spot, used when the resident prefers it, refused when the manager does
/// not allow it.
pub async fn garage_door_is_a_door_like_any_other(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let garage = b
        .rosa
        .create_access_point(
            b.property.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Garage,
                name: "garage door".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let device = SimLock::device();
    let provisioned = b
        .rosa
        .register_lock(
            b.property.id,
            &RegisterLock {
                access_point_id: garage.id,
                device_public_key: SimLock::device_key_b64(&device),
                model: "Liftmaster G".into(),
                firmware: "3.1".into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?;
    let mut garage_lock = SimLock::provisioned(device, &provisioned)?;
    let spot = b
        .rosa
        .create_drop_spot(
            b.property.id,
            &CreateDropSpot {
                name: "garage shelf".into(),
                kind: DropSpotKind::Garage,
                access_point_id: garage.id,
                unit_id: None,
            },
        )
        .await?;
    // Jun prefers the garage; Rosa has not allowed it to Parcelo yet.
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.preferred_drop_spot = Some(spot.id);
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    b.parcel(kit, "1Z-GARAGE-1", b.unit_2b.id).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("1Z-GARAGE-1")).await, RefusalReason::DropSpotNotAllowed)
        .await?;
    b.rosa
        .put_enablement(
            b.property.id,
            b.parcelo_id,
            &PutEnablement {
                enabled: true,
                hours: crate::fixture::weekdays_8_to_8(),
                allowed_drop_spots: vec![b.room_spot.id, b.in_2b_spot.id, spot.id],
            },
        )
        .await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("1Z-GARAGE-1")).await).await?;
    assert_eq!(granted.drop_spot_id, spot.id);
    assert_eq!(granted.doors.iter().map(|d| d.lock_id).collect::<Vec<_>>(), vec![provisioned.lock.id]);
    let keys = kit.anon.keys().await?;
    assert_eq!(garage_lock.present(&keys, &granted.doors[0], &b.dana.handheld, kit.now())?, Outcome::Opens);
    // Kim has no preference: her parcel goes to the package room, not the garage.
    b.parcel(kit, "1Z-GARAGE-2", b.unit_3c.id).await?;
    let kims = b.expect_granted(b.dana.client.request_access(&b.ask("1Z-GARAGE-2")).await).await?;
    assert_eq!(kims.drop_spot_id, b.room_spot.id);
    Ok(())
}
