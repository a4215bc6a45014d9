//! The test kit's seeder (doorman-testkit) against a real service (the
//! integration kit's, over SQLite): what it creates is what the API then
//! shows, a seeded driver is granted access through the seeded doors, the
//! seeded locks open for the credentials and codes they are given, and a
//! spec that names something it does not have fails with the name.

use doorman_api::*;
use doorman_client::Client;
use doorman_protocol::DoorCodeVerdict;
use doorman_testkit::places::{self, HOME};
use doorman_testkit::{
    all_day, seed, weekdays_8_to_8, CarrierSpec, DoorSpec, DropSpotSpec, KitError, LockSpec, ManagerSpec, Outcome,
    ParcelSpec, PropertySpec, SiteSpec,
};

use crate::kit::{Backend, Kit, HOUR};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A service over a fresh SQLite file (the kit's clock: a weekday
/// afternoon, inside weekday carrier hours); the operator's client.
struct Server {
    operator: Client,
    now: i64,
    kit: Kit,
}

impl Server {
    async fn start() -> Result<Server, Box<dyn std::error::Error>> {
        let kit = Kit::start(Backend::Sqlite).await?.ok_or("SQLite is always there")?;
        Ok(Server { operator: kit.operator.clone(), now: kit.now(), kit })
    }

    async fn stop(self) -> TestResult {
        Ok(self.kit.stop().await?)
    }
}

fn walk_up() -> SiteSpec {
    let building = PropertySpec::new(places::walk_up_property())
        .units(["2B", "3C"])
        .door(DoorSpec::new(AccessPointKind::Entrance, "street door").locked(LockSpec::MOBILE))
        .door(
            DoorSpec::new(AccessPointKind::PackageRoom, "package room").behind("street door").locked(LockSpec::KEYPAD),
        )
        .door(DoorSpec::new(AccessPointKind::UnitDoor, "2B front door").behind("street door").of_unit("2B"))
        .drop_spot(DropSpotSpec::new(DropSpotKind::PackageRoom, "package room shelves", "package room"))
        .drop_spot(DropSpotSpec::new(DropSpotKind::UnitDoor, "outside 2B", "2B front door").of_unit("2B"))
        .tenant_notice(Some("Couriers may enter the package room."))
        .resident("Jun Park", "jun@example.org", "2B");
    SiteSpec::new("kit-lock", "1.0")
        .manager(ManagerSpec::new("Rosa").property(building))
        .carrier(
            CarrierSpec::new("Parcelo")
                .enabled_at("214 East 9th Street", weekdays_8_to_8(), ["package room shelves"])
                .driver("Dana", 30)
                .parcel(ParcelSpec::new("PCL-1", "214 East 9th Street", "2B", -HOUR, 3 * HOUR)),
        )
        .carrier(CarrierSpec::new("QuickShip").driver("Sam", 90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_building_is_what_the_api_shows() -> TestResult {
    let server = Server::start().await?;
    let seeded = seed(&server.operator, &walk_up(), server.now).await?;
    let rosa = &seeded.manager("Rosa")?.client;
    let building = seeded.property("214 East 9th Street")?;
    let id = building.property.id;
    assert_eq!(building.manager_id, seeded.manager("Rosa")?.id);

    let labels: Vec<String> = rosa.list_units(id).await?.into_iter().map(|u| u.label).collect();
    assert_eq!(labels, ["2B", "3C"]);
    let doors = rosa.list_access_points(id).await?;
    let parent = |name: &str| doors.iter().find(|d| d.name == name).and_then(|d| d.parent_id);
    assert_eq!(parent("street door"), None);
    assert_eq!(parent("package room"), Some(building.door("street door")?.id));
    assert_eq!(parent("2B front door"), Some(building.door("street door")?.id));
    assert_eq!(doors.iter().find(|d| d.name == "2B front door").and_then(|d| d.unit_id), Some(building.unit("2B")?.id));

    // Two doors locked, one not; the keypad lock got its door-code secret.
    assert_eq!(building.locks.len(), 2);
    assert!(building.lock("2B front door").is_err());
    assert!(building.lock("package room")?.lock.door_code_secret.is_some());
    assert!(building.lock("street door")?.lock.door_code_secret.is_none());
    let registered = rosa.list_locks(id).await?;
    assert!(registered.iter().all(|l| l.model == "kit-lock" && l.firmware == "1.0"));

    let parcelo = seeded.carrier("Parcelo")?;
    let enablement = rosa.list_enablements(id).await?;
    let parcelo_here = enablement.iter().find(|e| e.carrier_id == parcelo.id).ok_or("Parcelo is enabled")?;
    assert_eq!(parcelo_here.allowed_drop_spots, vec![building.drop_spot("package room shelves")?.id]);
    let quickship = seeded.carrier("QuickShip")?.id;
    assert!(!enablement.iter().any(|e| e.carrier_id == quickship && e.enabled));

    let jun = building.resident("Jun Park")?;
    assert_eq!(jun.unit_id, building.unit("2B")?.id);
    let dana = seeded.driver("Dana")?;
    assert_eq!(dana.carrier_id, parcelo.id);
    let parcel = seeded.delivery("PCL-1")?;
    assert_eq!((parcel.window_start, parcel.window_end), (server.now - HOUR, server.now + 3 * HOUR));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_driver_opens_the_seeded_locks() -> TestResult {
    let server = Server::start().await?;
    let mut seeded = seed(&server.operator, &walk_up(), server.now).await?;
    let dana = seeded.take_driver("Dana")?;
    let building = seeded.property_mut("214 East 9th Street")?;
    let grant = dana
        .client
        .request_access(&AccessRequest {
            tracking_number: "PCL-1".into(),
            property_id: building.property.id,
            handheld_public_key: dana.handheld.public_key_b64(),
            position: HOME,
            drop_spot_id: None,
        })
        .await?;
    let keyset = server.operator.keys().await?;
    let mut street = building.take_lock("street door")?.lock;
    let mut room = building.take_lock("package room")?.lock;
    let street_door = grant.doors.iter().find(|d| d.lock_id == street.id).ok_or("the street door is on the path")?;
    let stranger = doorman_testkit::Handheld::generate();
    assert!(matches!(street.present(&keyset, street_door, &stranger, server.now)?, Outcome::StaysShut(_)));
    assert_eq!(street.present(&keyset, street_door, &dana.handheld, server.now)?, Outcome::Opens);
    let room_door = grant.doors.iter().find(|d| d.lock_id == room.id).ok_or("the package room is on the path")?;
    let code = room_door.door_code.as_deref().ok_or("a keypad-only door gets a code")?;
    assert!(matches!(room.type_code(&keyset, code, server.now)?, DoorCodeVerdict::Accepted { .. }));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_naming_what_it_lacks_fails_with_the_name() -> TestResult {
    let server = Server::start().await?;
    let spec = SiteSpec::new("kit-lock", "1.0")
        .manager(
            ManagerSpec::new("Rosa").property(
                PropertySpec::new(CreateProperty {
                    kind: PropertyKind::House,
                    name: "house".into(),
                    address: "1 Main St".into(),
                    location: HOME,
                    time_zone: "UTC".into(),
                })
                .units(["main"])
                .door(DoorSpec::new(AccessPointKind::Entrance, "front door")),
            ),
        )
        .carrier(CarrierSpec::new("Parcelo").enabled_at("house", all_day(), ["porch"]));
    match seed(&server.operator, &spec, server.now).await {
        Err(KitError::Unknown { what, name }) => assert_eq!((what, name.as_str()), ("drop spot", "porch")),
        other => return Err(format!("expected an unknown drop spot, got {other:?}").into()),
    }
    let seeded = seed(&server.operator, &SiteSpec::new("kit-lock", "1.0"), server.now).await?;
    assert!(matches!(seeded.driver("Nobody"), Err(KitError::Unknown { what: "driver", .. })));
    server.stop().await
}
