//! The one rule the API cannot reach (see `refusals::refusal_no_way_through`):
//! `no_way_through`, at the domain level, where any door tree can be built.
//! These do not depend on a backend, so they run once.

use doorman_domain::policy::{decide_access, path_to, AccessFacts, OpenMethod, PolicyRules};
use doorman_domain::*;

use crate::fixture::{all_day, AT_THE_DOOR, HOME};
use crate::kit::{HOUR, WEDNESDAY_2PM};

struct World {
    property: Property,
    driver: Driver,
    delivery: Delivery,
    enablement: CarrierEnablement,
    spot: DropSpot,
    doors: Vec<AccessPoint>,
    locks: Vec<Lock>,
}

fn door(property: PropertyId, kind: AccessPointKind, name: &str, parent: Option<AccessPointId>) -> AccessPoint {
    AccessPoint {
        id: AccessPointId::random(),
        property_id: property,
        kind,
        name: name.into(),
        parent_id: parent,
        unit_id: None,
    }
}

fn lock(property: PropertyId, at: AccessPointId, mobile_credential: bool, keypad: bool) -> Lock {
    Lock {
        id: LockId::random(),
        property_id: property,
        access_point_id: at,
        device_public_key: vec![7; 32],
        model: "m".into(),
        firmware: "f".into(),
        mobile_credential,
        keypad,
        created_at: 0,
        decommissioned_at: None,
        replaced_by: None,
    }
}

/// A building where every rule holds: street door (credential) -> lobby
/// (no lock) -> package room (keypad).
fn world() -> World {
    let now = WEDNESDAY_2PM;
    let property_id = PropertyId::random();
    let carrier_id = CarrierId::random();
    let unit_id = UnitId::random();
    let street = door(property_id, AccessPointKind::Entrance, "street", None);
    let lobby = door(property_id, AccessPointKind::Lobby, "lobby", Some(street.id));
    let room = door(property_id, AccessPointKind::PackageRoom, "room", Some(lobby.id));
    let spot = DropSpot {
        id: DropSpotId::random(),
        property_id,
        name: "shelves".into(),
        kind: DropSpotKind::PackageRoom,
        access_point_id: room.id,
        unit_id: None,
    };
    World {
        property: Property {
            id: property_id,
            manager_id: ManagerId::random(),
            kind: PropertyKind::Building,
            name: "b".into(),
            address: "a".into(),
            location: HOME,
            time_zone: "America/New_York".into(),
            tenant_notice: Some(TenantNotice { text: "t".into(), notified_at: now - HOUR, live_from: now - HOUR }),
            created_at: 0,
        },
        driver: Driver {
            id: DriverId::random(),
            carrier_id,
            name: "d".into(),
            handheld_public_key: Some(vec![2; 33]),
            vetting: VettingStatus::Passed,
            vetted_at: Some(0),
            status: DriverStatus::Active,
            created_at: 0,
        },
        delivery: Delivery {
            id: DeliveryId::random(),
            carrier_id,
            property_id,
            unit_id,
            tracking_number: "T".into(),
            kind: DeliveryKind::Drop,
            window_start: now - HOUR,
            window_end: now + HOUR,
            eta: None,
            state: DeliveryState::Registered,
            drop_spot_id: None,
            completed_by: None,
            photo_ref: None,
            hash_salt: [0; 16],
            created_at: 0,
            updated_at: 0,
        },
        enablement: CarrierEnablement {
            property_id,
            carrier_id,
            enabled: true,
            hours: all_day(),
            allowed_drop_spots: vec![spot.id],
            updated_at: 0,
        },
        locks: vec![lock(property_id, street.id, true, false), lock(property_id, room.id, false, true)],
        doors: vec![street, lobby, room],
        spot,
    }
}

fn decide(w: &World) -> Result<policy::AccessPlan, RefusalReason> {
    let rules = PolicyRules::default();
    let preferences = UnitPreferences::default();
    decide_access(&AccessFacts {
        now: WEDNESDAY_2PM,
        rules: &rules,
        at_property: &w.property,
        driver: &w.driver,
        handheld_key: &[2; 33],
        position: AT_THE_DOOR,
        delivery: Some(&w.delivery),
        enablement: Some(&w.enablement),
        block: None,
        preferences: &preferences,
        requested_drop_spot: None,
        drop_spots: std::slice::from_ref(&w.spot),
        access_points: &w.doors,
        locks: &w.locks,
        trunks: &[],
    })
}

#[test]
fn the_reference_world_is_granted_through_every_door() {
    let w = world();
    let plan = decide(&w).expect("granted");
    let methods: Vec<_> = plan.doors.iter().map(|d| d.method).collect();
    assert_eq!(methods, vec![OpenMethod::Credential, OpenMethod::Walk, OpenMethod::DoorCode]);
    assert_eq!(plan.drop_spot_id, w.spot.id);
}

#[test]
fn no_way_through_when_a_lock_on_the_path_opens_for_no_driver() {
    let mut w = world();
    let lobby = w.doors[1].id;
    w.locks.push(lock(w.property.id, lobby, false, false));
    assert_eq!(decide(&w), Err(RefusalReason::NoWayThrough));
    assert_eq!(path_to(w.spot.access_point_id, &w.doors, &w.locks), None);
}

#[test]
fn no_way_through_when_the_door_chain_is_broken() {
    let mut w = world();
    w.doors.remove(1); // the lobby the package room hangs from
    assert_eq!(decide(&w), Err(RefusalReason::NoWayThrough));
}

#[test]
fn no_way_through_when_the_door_chain_loops() {
    let mut w = world();
    let room = w.doors[2].id;
    w.doors[0].parent_id = Some(room); // the street door "behind" the package room
    assert_eq!(decide(&w), Err(RefusalReason::NoWayThrough));
}

#[test]
fn no_way_through_when_the_spot_is_behind_an_unknown_door() {
    let mut w = world();
    w.spot.access_point_id = AccessPointId::random();
    assert_eq!(decide(&w), Err(RefusalReason::NoWayThrough));
}

#[test]
fn no_way_through_comes_after_every_other_rule() {
    // With the broken lock and a window that has ended, the window is what is reported.
    let mut w = world();
    let lobby = w.doors[1].id;
    w.locks.push(lock(w.property.id, lobby, false, false));
    w.delivery.window_end = WEDNESDAY_2PM - 1;
    assert_eq!(decide(&w), Err(RefusalReason::OutsideDeliveryWindow));
}
