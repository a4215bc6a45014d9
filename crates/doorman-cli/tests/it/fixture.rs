//! A realistic building, seeded through the API the way its people would:
//! the operator creates Rosa (manager) and two carriers; Rosa describes a New
//! York walk-up (street door -> lobby -> package room, and 2B's own door),
//! locks every door, names the drop spots, enables Parcelo on weekdays and
//! gives the tenant notice; Jun (2B) and Kim (3C) join by invitation; Parcelo
//! vouches for Dana and Eli, QuickShip for Sam. Otto manages a brownstone in
//! Brooklyn, the "other manager" of the crossing tests.

use doorman_api::*;
use doorman_client::{Client, ClientResult};
use doorman_testkit::places::{self, BROWNSTONE, WALK_UP as BUILDING};
use doorman_testkit::{
    CarrierSpec, DoorSpec, DropSpotSpec, LockSpec, ManagerSpec, SeededDriver, SeededResident, SiteSpec,
};
use reqwest::StatusCode;

use crate::kit::{expect_error, Kit, HOUR};
use crate::lock::{Handheld, SimLock};

pub use doorman_testkit::{all_day, weekdays_8_to_8};

pub use doorman_testkit::places::{ELSEWHERE, HOME};
/// A few steps from the street door (about 20 m).
pub const AT_THE_DOOR: GeoPoint = GeoPoint { lat: 40.72964, lon: -73.98862 };

/// Otto's other building, elsewhere in Brooklyn: a property of his own that
/// tests create to see that nothing of it reaches anyone else.
pub fn pacific_st() -> CreateProperty {
    CreateProperty {
        kind: PropertyKind::Building,
        name: "12 Pacific St".into(),
        address: "12 Pacific St, Brooklyn, NY".into(),
        location: ELSEWHERE,
        time_zone: "America/New_York".into(),
    }
}

#[derive(Debug)]
pub struct DriverHandle {
    pub client: Client,
    /// The token `client` sends, for requests the typed client cannot make.
    pub token: String,
    pub id: DriverId,
    pub handheld: Handheld,
}

#[derive(Debug)]
pub struct ResidentHandle {
    pub client: Client,
    pub id: ResidentId,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Whether Rosa has given the tenant notice (delivery access is live).
    pub tenant_notice: bool,
    /// Whether Parcelo is enabled at the building.
    pub enable_parcelo: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { tenant_notice: true, enable_parcelo: true }
    }
}

#[derive(Debug)]
pub struct Building {
    pub rosa: Client,
    pub rosa_token: String,
    pub otto: Client,
    pub parcelo: Client,
    pub parcelo_id: CarrierId,
    pub quickship: Client,
    pub quickship_id: CarrierId,
    pub dana: DriverHandle,
    pub eli: DriverHandle,
    pub sam: DriverHandle,
    pub jun: ResidentHandle,
    pub kim: ResidentHandle,

    pub property: Property,
    pub unit_2b: Unit,
    pub unit_3c: Unit,
    pub entrance: AccessPoint,
    pub lobby: AccessPoint,
    pub package_room: AccessPoint,
    pub door_2b: AccessPoint,
    /// Street door: reads credentials.
    pub entrance_lock: SimLock,
    /// Lobby door: reads credentials and has a keypad.
    pub lobby_lock: SimLock,
    /// Package room: keypad only.
    pub room_lock: SimLock,
    /// 2B's door: reads credentials.
    pub door_2b_lock: SimLock,
    /// Parcelo may use these two.
    pub room_spot: DropSpot,
    pub in_2b_spot: DropSpot,
    /// Parcelo may not use these.
    pub lobby_spot: DropSpot,
    pub door_2b_spot: DropSpot,

    pub brownstone: Property,
    pub brownstone_unit: Unit,
}

/// The building the tests run in, as data for the seeder.
pub fn site(options: Options) -> SiteSpec {
    let walk_up = places::walk_up()
        .door(
            DoorSpec::new(AccessPointKind::UnitDoor, "2B front door")
                .behind("lobby door")
                .of_unit("2B")
                .locked(LockSpec::MOBILE),
        )
        .drop_spot(DropSpotSpec::new(DropSpotKind::Lobby, "lobby bench", "lobby door"))
        .drop_spot(DropSpotSpec::new(DropSpotKind::UnitDoor, "outside 2B", "2B front door").of_unit("2B"))
        .drop_spot(DropSpotSpec::new(DropSpotKind::InUnit, "inside 2B", "2B front door").of_unit("2B"))
        .tenant_notice(
            options.tenant_notice.then_some("Couriers of enabled carriers may enter the lobby and the package room."),
        )
        .resident("Jun Park", "jun@example.org", "2B")
        .resident("Kim Lee", "kim@example.org", "3C");
    let mut parcelo = CarrierSpec::new("Parcelo").driver("Dana", 30).driver("Eli", 30);
    if options.enable_parcelo {
        parcelo = parcelo.enabled_at(BUILDING, weekdays_8_to_8(), ["package room shelves", "inside 2B"]);
    }
    SiteSpec::new("Latchwell L2", "2.4.1")
        .manager(ManagerSpec::new("Rosa Alvarez").property(walk_up))
        .manager(ManagerSpec::new("Otto Brandt").property(places::brownstone()))
        .carrier(parcelo)
        .carrier(CarrierSpec::new("QuickShip").driver("Sam", 30))
}

impl From<SeededDriver> for DriverHandle {
    fn from(d: SeededDriver) -> Self {
        DriverHandle { client: d.client, token: d.token, id: d.id, handheld: d.handheld }
    }
}

impl From<&SeededResident> for ResidentHandle {
    fn from(r: &SeededResident) -> Self {
        ResidentHandle { client: r.client.clone(), id: r.id }
    }
}

impl Building {
    pub async fn seed(kit: &Kit) -> anyhow::Result<Building> {
        Self::seed_with(kit, Options::default()).await
    }

    pub async fn seed_with(kit: &Kit, options: Options) -> anyhow::Result<Building> {
        let mut s = doorman_testkit::seed(&kit.operator, &site(options), kit.now()).await?;
        let (rosa, otto) = (s.manager("Rosa Alvarez")?.clone(), s.manager("Otto Brandt")?.clone());
        let (parcelo, quickship) = (s.carrier("Parcelo")?.clone(), s.carrier("QuickShip")?.clone());
        let (dana, eli, sam) = (s.take_driver("Dana")?, s.take_driver("Eli")?, s.take_driver("Sam")?);
        let brownstone = s.property(BROWNSTONE)?;
        let (brownstone_property, brownstone_unit) = (brownstone.property.clone(), brownstone.unit("house")?.clone());
        let b = s.property_mut(BUILDING)?;
        let mut lock = |door: &str| b.take_lock(door).map(|l| l.lock);
        let (entrance_lock, lobby_lock) = (lock("street door")?, lock("lobby door")?);
        let (room_lock, door_2b_lock) = (lock("package room")?, lock("2B front door")?);
        Ok(Building {
            rosa: rosa.client,
            rosa_token: rosa.token,
            otto: otto.client,
            parcelo: parcelo.client,
            parcelo_id: parcelo.id,
            quickship: quickship.client,
            quickship_id: quickship.id,
            dana: dana.into(),
            eli: eli.into(),
            sam: sam.into(),
            jun: b.resident("Jun Park")?.into(),
            kim: b.resident("Kim Lee")?.into(),
            property: b.property.clone(),
            unit_2b: b.unit("2B")?.clone(),
            unit_3c: b.unit("3C")?.clone(),
            entrance: b.door("street door")?.clone(),
            lobby: b.door("lobby door")?.clone(),
            package_room: b.door("package room")?.clone(),
            door_2b: b.door("2B front door")?.clone(),
            entrance_lock,
            lobby_lock,
            room_lock,
            door_2b_lock,
            room_spot: b.drop_spot("package room shelves")?.clone(),
            in_2b_spot: b.drop_spot("inside 2B")?.clone(),
            lobby_spot: b.drop_spot("lobby bench")?.clone(),
            door_2b_spot: b.drop_spot("outside 2B")?.clone(),
            brownstone: brownstone_property,
            brownstone_unit,
        })
    }

    /// A Parcelo parcel for `unit` of the building, due from an hour ago to
    /// three hours from now.
    pub async fn parcel(&self, kit: &Kit, tracking: &str, unit: UnitId) -> anyhow::Result<Delivery> {
        let now = kit.now();
        Ok(self
            .parcelo
            .create_delivery(&delivery(tracking, self.property.id, unit, now - HOUR, now + 3 * HOUR))
            .await?)
    }

    /// Dana at the street door, scanning `tracking`.
    pub fn ask(&self, tracking: &str) -> AccessRequest {
        self.ask_as(&self.dana, tracking)
    }

    pub fn ask_as(&self, driver: &DriverHandle, tracking: &str) -> AccessRequest {
        AccessRequest {
            tracking_number: tracking.into(),
            property_id: self.property.id,
            handheld_public_key: driver.handheld.public_key_b64(),
            position: AT_THE_DOOR,
            drop_spot_id: None,
        }
    }

    /// Asserts a refusal: 403, `error.code` is the reason, and Rosa's record
    /// of the building's access requests holds it under the returned id.
    pub async fn expect_refused(
        &self,
        result: ClientResult<AccessGranted>,
        reason: RefusalReason,
    ) -> anyhow::Result<AccessRequestRecord> {
        let body = expect_error(result, StatusCode::FORBIDDEN, reason.as_str());
        assert_eq!(body.error.message, format!("access refused: {}", reason.explain()));
        let id = body.error.request_id.ok_or_else(|| anyhow::anyhow!("a refusal names its record"))?;
        let log = self.rosa.property_access_requests(self.property.id).await?;
        let record = log.into_iter().find(|r| r.id == id);
        let record = record.ok_or_else(|| anyhow::anyhow!("refusal {reason} is not in the manager's record"))?;
        assert_eq!(record.refusal, Some(reason));
        assert_eq!(record.grant_id, None);
        assert_eq!(record.property_id, self.property.id);
        Ok(record)
    }

    /// Asserts a grant and that it is recorded as one.
    pub async fn expect_granted(&self, result: ClientResult<AccessGranted>) -> anyhow::Result<AccessGranted> {
        let grant = match result {
            Ok(g) => g,
            Err(e) => anyhow::bail!("expected a grant, got {e}"),
        };
        let log = self.rosa.property_access_requests(self.property.id).await?;
        let record = log.iter().find(|r| r.id == grant.request_id);
        let record = record.ok_or_else(|| anyhow::anyhow!("the grant is not in the manager's record"))?;
        assert_eq!((record.grant_id, record.refusal), (Some(grant.grant_id), None));
        assert_eq!(record.delivery_id, Some(grant.delivery_id));
        Ok(grant)
    }
}

pub fn delivery(tracking: &str, property: PropertyId, unit: UnitId, start: i64, end: i64) -> CreateDelivery {
    CreateDelivery {
        tracking_number: tracking.into(),
        property_id: property,
        unit_id: Some(unit),
        unit_label: None,
        kind: DeliveryKind::Drop,
        window_start: start,
        window_end: end,
    }
}
