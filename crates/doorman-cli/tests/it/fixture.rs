//! A realistic building, seeded through the API the way its people would:
//! the operator creates Rosa (manager) and two carriers; Rosa describes a New
//! York walk-up (street door -> lobby -> package room, and 2B's own door),
//! locks every door, names the drop spots, enables Parcelo on weekdays and
//! gives the tenant notice; Jun (2B) and Kim (3C) join by invitation; Parcelo
//! vouches for Dana and Eli, QuickShip for Sam. Otto manages a brownstone in
//! Brooklyn, the "other manager" of the crossing tests.

use doorman_api::*;
use doorman_client::{Client, ClientResult};
use reqwest::StatusCode;

use crate::kit::{expect_error, Kit, HOUR};
use crate::lock::{Handheld, SimLock};

/// 214 East 9th Street, Manhattan.
pub const HOME: GeoPoint = GeoPoint { lat: 40.72946, lon: -73.98862 };
/// A few steps from the street door (about 20 m).
pub const AT_THE_DOOR: GeoPoint = GeoPoint { lat: 40.72964, lon: -73.98862 };
/// 70 Lafayette Ave, Brooklyn: some 5 km away.
pub const ELSEWHERE: GeoPoint = GeoPoint { lat: 40.68434, lon: -73.97658 };

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

pub fn weekdays_8_to_8() -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        start: "08:00".into(),
        end: "20:00".into(),
    }]
}

pub fn all_day() -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
        start: "00:00".into(),
        end: "24:00".into(),
    }]
}

#[derive(Debug)]
pub struct DriverHandle {
    pub client: Client,
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

impl Building {
    pub async fn seed(kit: &Kit) -> anyhow::Result<Building> {
        Self::seed_with(kit, Options::default()).await
    }

    pub async fn seed_with(kit: &Kit, options: Options) -> anyhow::Result<Building> {
        let now = kit.now();
        let op = &kit.operator;
        let rosa_created = op.create_manager("Rosa Alvarez").await?;
        let otto_created = op.create_manager("Otto Brandt").await?;
        let parcelo_created = op.create_carrier("Parcelo").await?;
        let quickship_created = op.create_carrier("QuickShip").await?;
        let rosa = kit.client(&rosa_created.token);
        let otto = kit.client(&otto_created.token);
        let parcelo = kit.client(&parcelo_created.token);
        let quickship = kit.client(&quickship_created.token);

        let property = rosa
            .create_property(&CreateProperty {
                kind: PropertyKind::Building,
                name: "214 East 9th Street".into(),
                address: "214 E 9th St, New York, NY 10003".into(),
                location: HOME,
                time_zone: "America/New_York".into(),
            })
            .await?;
        let unit_2b = rosa.create_unit(property.id, "2B").await?;
        let unit_3c = rosa.create_unit(property.id, "3C").await?;
        let ap = |kind, name: &str, parent: Option<AccessPointId>, unit: Option<UnitId>| CreateAccessPoint {
            kind,
            name: name.into(),
            parent_id: parent,
            unit_id: unit,
        };
        let entrance =
            rosa.create_access_point(property.id, &ap(AccessPointKind::Entrance, "street door", None, None)).await?;
        let lobby = rosa
            .create_access_point(property.id, &ap(AccessPointKind::Lobby, "lobby door", Some(entrance.id), None))
            .await?;
        let package_room = rosa
            .create_access_point(property.id, &ap(AccessPointKind::PackageRoom, "package room", Some(lobby.id), None))
            .await?;
        let door_2b = rosa
            .create_access_point(
                property.id,
                &ap(AccessPointKind::UnitDoor, "2B front door", Some(lobby.id), Some(unit_2b.id)),
            )
            .await?;
        let entrance_lock = register_lock(&rosa, property.id, entrance.id, true, false).await?;
        let lobby_lock = register_lock(&rosa, property.id, lobby.id, true, true).await?;
        let room_lock = register_lock(&rosa, property.id, package_room.id, false, true).await?;
        let door_2b_lock = register_lock(&rosa, property.id, door_2b.id, true, false).await?;

        let spot = |name: &str, kind, at: AccessPointId, unit: Option<UnitId>| CreateDropSpot {
            name: name.into(),
            kind,
            access_point_id: at,
            unit_id: unit,
        };
        let room_spot = rosa
            .create_drop_spot(
                property.id,
                &spot("package room shelves", DropSpotKind::PackageRoom, package_room.id, None),
            )
            .await?;
        let lobby_spot =
            rosa.create_drop_spot(property.id, &spot("lobby bench", DropSpotKind::Lobby, lobby.id, None)).await?;
        let door_2b_spot = rosa
            .create_drop_spot(property.id, &spot("outside 2B", DropSpotKind::UnitDoor, door_2b.id, Some(unit_2b.id)))
            .await?;
        let in_2b_spot = rosa
            .create_drop_spot(property.id, &spot("inside 2B", DropSpotKind::InUnit, door_2b.id, Some(unit_2b.id)))
            .await?;
        if options.enable_parcelo {
            rosa.put_enablement(
                property.id,
                parcelo_created.item.id,
                &PutEnablement {
                    enabled: true,
                    hours: weekdays_8_to_8(),
                    allowed_drop_spots: vec![room_spot.id, in_2b_spot.id],
                },
            )
            .await?;
        }
        if options.tenant_notice {
            rosa.set_tenant_notice(
                property.id,
                &SetTenantNotice {
                    text: "Couriers of enabled carriers may enter the lobby and the package room.".into(),
                    live_from: None,
                },
            )
            .await?;
        }

        let jun = resident(kit, &rosa, unit_2b.id, "Jun Park", "jun@example.org").await?;
        let kim = resident(kit, &rosa, unit_3c.id, "Kim Lee", "kim@example.org").await?;

        let dana = driver(kit, &parcelo, "Dana", now).await?;
        let eli = driver(kit, &parcelo, "Eli", now).await?;
        let sam = driver(kit, &quickship, "Sam", now).await?;

        let brownstone = otto
            .create_property(&CreateProperty {
                kind: PropertyKind::House,
                name: "Brooklyn brownstone".into(),
                address: "70 Lafayette Ave, Brooklyn, NY".into(),
                location: ELSEWHERE,
                time_zone: "America/New_York".into(),
            })
            .await?;
        let brownstone_unit = otto.create_unit(brownstone.id, "house").await?;

        Ok(Building {
            rosa,
            rosa_token: rosa_created.token,
            otto,
            parcelo,
            parcelo_id: parcelo_created.item.id,
            quickship,
            quickship_id: quickship_created.item.id,
            dana,
            eli,
            sam,
            jun,
            kim,
            property,
            unit_2b,
            unit_3c,
            entrance,
            lobby,
            package_room,
            door_2b,
            entrance_lock,
            lobby_lock,
            room_lock,
            door_2b_lock,
            room_spot,
            in_2b_spot,
            lobby_spot,
            door_2b_spot,
            brownstone,
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
        unit_id: unit,
        kind: DeliveryKind::Drop,
        window_start: start,
        window_end: end,
    }
}

async fn register_lock(
    manager: &Client,
    property: PropertyId,
    access_point: AccessPointId,
    mobile_credential: bool,
    keypad: bool,
) -> anyhow::Result<SimLock> {
    let device = SimLock::device();
    let provisioned = manager
        .register_lock(
            property,
            &RegisterLock {
                access_point_id: access_point,
                device_public_key: SimLock::device_key_b64(&device),
                model: "Latchwell L2".into(),
                firmware: "2.4.1".into(),
                mobile_credential,
                keypad,
            },
        )
        .await?;
    assert_eq!(provisioned.door_code_secret.is_some(), keypad, "a keypad lock gets its door-code secret once");
    SimLock::provisioned(device, &provisioned)
}

pub async fn resident(
    kit: &Kit,
    manager: &Client,
    unit: UnitId,
    name: &str,
    email: &str,
) -> anyhow::Result<ResidentHandle> {
    let invitation =
        manager.invite_resident(unit, &CreateInvitation { name: name.into(), email: email.into() }).await?;
    let created = kit.anon.redeem_invitation(&invitation.code).await?;
    assert_eq!(created.item.unit_id, unit);
    Ok(ResidentHandle { client: kit.client(&created.token), id: created.item.id })
}

/// A vetted, active driver with a handheld key.
pub async fn driver(kit: &Kit, carrier: &Client, name: &str, now: i64) -> anyhow::Result<DriverHandle> {
    let handheld = Handheld::generate();
    let created = carrier
        .create_driver(&CreateDriver {
            name: name.into(),
            handheld_public_key: Some(handheld.public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: Some(now - 30 * 24 * HOUR),
        })
        .await?;
    Ok(DriverHandle { client: kit.client(&created.token), id: created.item.id, handheld })
}
