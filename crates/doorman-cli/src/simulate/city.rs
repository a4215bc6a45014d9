//! The city, made through the API as its people would make it: managers
//! (one per [`BUILDINGS_PER_MANAGER`] buildings), three carriers with their
//! drivers, and buildings of four units, a street door with a lock, a lobby
//! drop spot, the carriers enabled (Nightowl only from 07:00 to 21:00), the
//! tenant notice (missing at one building in [`NO_NOTICE_EVERY`]), and a
//! resident at one building in [`RESIDENT_EVERY`]. Each lock is a
//! doorman-devices simulated lock, its state in memory, provisioned from what
//! the service answered.

use std::sync::Arc;

use anyhow::Context;
use doorman_api::*;
use doorman_client::Client;
use doorman_devices::{Handheld, LockBundle, MqttJson, SimLock};
use doorman_domain::{serde_b64, Clock};
use doorman_fleet::lock_name;
use rand_core::{OsRng, RngCore};
use tokio::task::JoinSet;

use super::locks::CityLock;

pub const BUILDINGS_PER_MANAGER: usize = 50;
pub const BUILDINGS_PER_DRIVER: usize = 40;
pub const NO_NOTICE_EVERY: usize = 500;
pub const RESIDENT_EVERY: usize = 10;
pub const UNITS: [&str; 4] = ["1A", "1B", "2A", "2B"];
/// The carriers; the last one keeps hours and is dropped at some buildings at noon.
pub const CARRIERS: [&str; 3] = ["Metro Parcel", "Swift Courier", "Nightowl Express"];
pub const NIGHTOWL: usize = 2;

/// Where building `b` stands: a grid of streets about 100 m apart.
pub fn location(b: usize) -> GeoPoint {
    GeoPoint { lat: 40.60 + (b / 100) as f64 * 0.001, lon: -74.05 + (b % 100) as f64 * 0.0012 }
}

/// Two kilometres off: a driver whose GPS wandered.
pub fn far_from(b: usize) -> GeoPoint {
    let p = location(b);
    GeoPoint { lat: p.lat + 0.02, lon: p.lon }
}

pub struct Driver {
    pub client: Client,
    pub id: DriverId,
    pub handheld: Handheld,
    pub handheld_b64: String,
}

pub struct Carrier {
    pub client: Client,
    pub id: CarrierId,
    pub drivers: Vec<Driver>,
}

pub struct Building {
    pub property: PropertyId,
    pub units: Vec<UnitId>,
    pub lobby: DropSpotId,
    pub lock: Arc<CityLock>,
    pub resident: Option<Client>,
}

pub struct City {
    pub managers: Vec<Client>,
    pub carriers: Vec<Carrier>,
    pub buildings: Vec<Building>,
}

impl Carrier {
    pub fn driver_for(&self, building: usize) -> Option<&Driver> {
        self.drivers.get(building / BUILDINGS_PER_DRIVER % self.drivers.len().max(1))
    }
}

pub async fn build(
    operator: &Client,
    buildings: usize,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<City> {
    let now = clock.now();
    let mut carriers = Vec::new();
    for name in CARRIERS {
        let created = operator.create_carrier(name).await.with_context(|| format!("creating carrier {name}"))?;
        let client = operator.with_token(&created.token);
        let mut drivers = Vec::new();
        for d in 0..buildings.div_ceil(BUILDINGS_PER_DRIVER).max(1) {
            let handheld = Handheld::generate(&mut OsRng);
            let handheld_b64 = handheld.public_key_b64();
            let req = CreateDriver {
                name: format!("{name} driver {d}"),
                handheld_public_key: Some(handheld_b64.clone()),
                vetting: VettingStatus::Passed,
                vetted_at: Some(now - 86_400),
            };
            let created = client.create_driver(&req).await.context("creating a driver")?;
            drivers.push(Driver {
                client: client.with_token(&created.token),
                id: created.item.id,
                handheld,
                handheld_b64,
            });
        }
        carriers.push(Carrier { client, id: created.item.id, drivers });
    }
    let mut managers = Vec::new();
    for m in 0..buildings.div_ceil(BUILDINGS_PER_MANAGER) {
        let created = operator.create_manager(&format!("Manager {m}")).await.context("creating a manager")?;
        managers.push(operator.with_token(&created.token));
    }
    let carrier_ids: Arc<Vec<CarrierId>> = Arc::new(carriers.iter().map(|c| c.id).collect());
    let managers_shared = Arc::new(managers.clone());
    let mut slots: Vec<Option<Building>> = (0..buildings).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    loop {
        while next < buildings && tasks.len() < concurrency.max(1) {
            let manager =
                managers_shared.get(next / BUILDINGS_PER_MANAGER).context("a manager per 50 buildings")?.clone();
            let (carriers, clock, b) = (carrier_ids.clone(), clock.clone(), next);
            tasks.spawn(async move { (b, building(&manager, &carriers, b, clock).await) });
            next += 1;
        }
        let Some(done) = tasks.join_next().await else { break };
        let (b, result) = done?;
        let made = result.with_context(|| format!("building {b}"))?;
        if let Some(slot) = slots.get_mut(b) {
            *slot = Some(made);
        }
        progress.inc(1);
    }
    let buildings = slots.into_iter().collect::<Option<Vec<_>>>().context("a building was not made")?;
    Ok(City { managers, carriers, buildings })
}

async fn building(
    manager: &Client,
    carriers: &[CarrierId],
    b: usize,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Building> {
    let property = manager
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: format!("Building {b}"),
            address: format!("{} Sim Street", b + 1),
            location: location(b),
            time_zone: "UTC".into(),
        })
        .await?;
    let mut units = Vec::new();
    for label in UNITS {
        units.push(manager.create_unit(property.id, label).await?.id);
    }
    let door = manager
        .create_access_point(
            property.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "Street door".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let mut device_secret = [0u8; 32];
    OsRng.fill_bytes(&mut device_secret);
    let device = doorman_protocol::LockDeviceKey::from_secret(&device_secret);
    let provisioned = manager
        .register_lock(
            property.id,
            &RegisterLock {
                access_point_id: door.id,
                device_public_key: serde_b64::encode(&device.public_key().0),
                model: "doorman-sim".into(),
                firmware: env!("CARGO_PKG_VERSION").into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?;
    let lobby = manager
        .create_drop_spot(
            property.id,
            &CreateDropSpot {
                name: "Lobby".into(),
                kind: DropSpotKind::Lobby,
                access_point_id: door.id,
                unit_id: None,
            },
        )
        .await?;
    for (i, carrier) in carriers.iter().enumerate() {
        let hours = if i == NIGHTOWL {
            vec![WeeklyHours {
                days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
                start: "07:00".into(),
                end: "21:00".into(),
            }]
        } else {
            doorman_testkit::all_day()
        };
        manager
            .put_enablement(
                property.id,
                *carrier,
                &PutEnablement { enabled: true, hours, allowed_drop_spots: vec![lobby.id] },
            )
            .await?;
    }
    if b % NO_NOTICE_EVERY != NO_NOTICE_EVERY - 1 {
        let notice =
            SetTenantNotice { text: "Couriers may open the street door for one delivery.".into(), live_from: None };
        manager.set_tenant_notice(property.id, &notice).await?;
    }
    let resident = match (b.is_multiple_of(RESIDENT_EVERY), units.first()) {
        (true, Some(unit)) => {
            // The resident's own door (unlocked), behind the street door: what a guest pass opens the way to.
            let own = CreateAccessPoint {
                kind: AccessPointKind::UnitDoor,
                name: "Door of 1A".into(),
                parent_id: Some(door.id),
                unit_id: Some(*unit),
            };
            manager.create_access_point(property.id, &own).await?;
            let invite = CreateInvitation { name: format!("Resident of {b}"), email: format!("r{b}@example.org") };
            let code = manager.invite_resident(*unit, &invite).await?.code;
            let anon = Client::new(manager.base_url());
            let created = anon.redeem_invitation(&code).await?;
            Some(anon.with_token(&created.token))
        }
        _ => None,
    };
    let bundle = bundle_of(&device_secret, provisioned)?;
    let sim = SimLock::in_memory(&bundle, doorman_lock::LockConfig::default(), clock)?;
    let lock = Arc::new(CityLock::new(sim, &bundle)?);
    Ok(Building { property: property.id, units, lobby: lobby.id, lock, resident })
}

/// What `doorman lock provision` would hand the lock.
fn bundle_of(secret: &[u8; 32], provisioned: LockProvisioned) -> anyhow::Result<LockBundle> {
    let mqtt = provisioned.mqtt.context("the service issues locks an MQTT account")?;
    Ok(LockBundle {
        lock_id: lock_name(doorman_protocol::LockId(*provisioned.lock.id.as_uuid().as_bytes())),
        device_secret: serde_b64::encode(secret),
        trust_anchors: crate::lock_cmd::anchors_of(&provisioned.trust_anchors),
        door_code_secret: provisioned.door_code_secret,
        mqtt: Some(MqttJson { url: mqtt.url, username: mqtt.username, password: mqtt.password }),
    })
}
