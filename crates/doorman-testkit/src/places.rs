//! The places the demo and the tests share, so that "214 East 9th Street" is
//! described once: a New York walk-up (street door -> lobby door -> package
//! room, each locked) and a Brooklyn brownstone. Callers add what their
//! story needs (more doors, spots, the tenant notice, residents).

use doorman_api::{AccessPointKind, CreateProperty, DropSpotKind, GeoPoint, PropertyKind};

use crate::spec::{DoorSpec, DropSpotSpec, LockSpec, PropertySpec};

/// 214 East 9th Street, Manhattan.
pub const HOME: GeoPoint = GeoPoint { lat: 40.72946, lon: -73.98862 };
/// 70 Lafayette Ave, Brooklyn: some 5 km from [`HOME`].
pub const ELSEWHERE: GeoPoint = GeoPoint { lat: 40.68434, lon: -73.97658 };

/// The walk-up's name.
pub const WALK_UP: &str = "214 East 9th Street";
/// The brownstone's name.
pub const BROWNSTONE: &str = "Brooklyn brownstone";

/// The New York walk-up: units 2B and 3C; the street door (reads mobile
/// credentials), the lobby door behind it (mobile and keypad), the package
/// room behind that (keypad only); the package room shelves. No notice yet.
pub fn walk_up() -> PropertySpec {
    PropertySpec::new(walk_up_property())
        .units(["2B", "3C"])
        .door(DoorSpec::new(AccessPointKind::Entrance, "street door").locked(LockSpec::MOBILE))
        .door(
            DoorSpec::new(AccessPointKind::Lobby, "lobby door")
                .behind("street door")
                .locked(LockSpec::MOBILE_AND_KEYPAD),
        )
        .door(DoorSpec::new(AccessPointKind::PackageRoom, "package room").behind("lobby door").locked(LockSpec::KEYPAD))
        .drop_spot(DropSpotSpec::new(DropSpotKind::PackageRoom, "package room shelves", "package room"))
}

/// The walk-up as its manager registers it, with no unit or door yet: for
/// a story that lays out the building's doors its own way.
pub fn walk_up_property() -> CreateProperty {
    CreateProperty {
        kind: PropertyKind::Building,
        name: WALK_UP.into(),
        address: "214 E 9th St, New York, NY 10003".into(),
        location: HOME,
        time_zone: "America/New_York".into(),
    }
}

/// A brownstone in Brooklyn: a house with one unit, `house`, and no door
/// registered.
pub fn brownstone() -> PropertySpec {
    PropertySpec::new(CreateProperty {
        kind: PropertyKind::House,
        name: BROWNSTONE.into(),
        address: "70 Lafayette Ave, Brooklyn, NY".into(),
        location: ELSEWHERE,
        time_zone: "America/New_York".into(),
    })
    .units(["house"])
}
