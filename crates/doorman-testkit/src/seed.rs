//! The seeder: makes a [`SiteSpec`] real through the service's API, as its
//! people would (the operator creates the accounts, managers describe their
//! properties, residents redeem invitations, carriers vouch for drivers and
//! announce parcels), and hands back every id, token and key.

use doorman_api::*;
use doorman_client::{Client, ClientError};
use doorman_protocol::keys::LockDeviceKey;
use rand_core::{OsRng, RngCore};

use crate::lock::{Handheld, OfflineLock};
use crate::spec::{DriverSpec, PropertySpec, SiteSpec};
use crate::KitError;

const DAY: i64 = 86_400;

/// An account the operator created: a manager or a carrier.
#[derive(Debug, Clone)]
pub struct Account<Id> {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: Id,
    /// Its API token (shown once, at creation).
    pub token: String,
    /// A client that sends the token.
    pub client: Client,
}

/// A driver, with the handheld whose key the carrier registered.
#[derive(Debug)]
pub struct SeededDriver {
    /// The driver's name.
    pub name: String,
    /// The driver's id.
    pub id: DriverId,
    /// The carrier that vouched for them.
    pub carrier_id: CarrierId,
    /// Their API token.
    pub token: String,
    /// A client that sends the token.
    pub client: Client,
    /// Their phone.
    pub handheld: Handheld,
}

/// A resident who redeemed an invitation.
#[derive(Debug, Clone)]
pub struct SeededResident {
    /// Their name.
    pub name: String,
    /// Their id.
    pub id: ResidentId,
    /// Their unit.
    pub unit_id: UnitId,
    /// Their API token.
    pub token: String,
    /// A client that sends the token.
    pub client: Client,
}

/// A registered lock: what the service answered (its door-code secret, MQTT
/// account, trust anchors) and the lock itself, ready to check credentials.
#[derive(Debug)]
pub struct SeededLock {
    /// The door it locks.
    pub access_point_id: AccessPointId,
    /// The service's answer to the registration.
    pub provisioned: LockProvisioned,
    /// The device key's secret, for a caller that runs the lock as a
    /// process (doorman-devices' provisioning bundle carries it).
    pub device_secret: [u8; 32],
    /// The lock, with its device key.
    pub lock: OfflineLock,
}

/// A property as created, with everything in it.
#[derive(Debug)]
pub struct SeededProperty {
    /// The property.
    pub property: Property,
    /// The manager who created it.
    pub manager_id: ManagerId,
    /// Its units, in the spec's order.
    pub units: Vec<Unit>,
    /// Its doors, in the spec's order.
    pub doors: Vec<AccessPoint>,
    /// Its locks, in the order of their doors.
    pub locks: Vec<SeededLock>,
    /// Its drop spots, in the spec's order.
    pub drop_spots: Vec<DropSpot>,
    /// Its residents, in the spec's order.
    pub residents: Vec<SeededResident>,
}

/// Everything [`seed`] created.
#[derive(Debug)]
pub struct Seeded {
    /// The managers, in the spec's order.
    pub managers: Vec<Account<ManagerId>>,
    /// The carriers, in the spec's order.
    pub carriers: Vec<Account<CarrierId>>,
    /// The drivers, carrier by carrier.
    pub drivers: Vec<SeededDriver>,
    /// The properties, manager by manager.
    pub properties: Vec<SeededProperty>,
    /// The parcels, carrier by carrier.
    pub deliveries: Vec<Delivery>,
}

fn position<T>(items: &[T], what: &'static str, name: &str, key: impl Fn(&T) -> &str) -> Result<usize, KitError> {
    items.iter().position(|item| key(item) == name).ok_or_else(|| KitError::Unknown { what, name: name.into() })
}

fn find<'a, T>(items: &'a [T], what: &'static str, name: &str, key: impl Fn(&T) -> &str) -> Result<&'a T, KitError> {
    let i = position(items, what, name, &key)?;
    items.get(i).ok_or_else(|| KitError::Unknown { what, name: name.into() })
}

fn take<T>(items: &mut Vec<T>, what: &'static str, name: &str, key: impl Fn(&T) -> &str) -> Result<T, KitError> {
    let i = position(items, what, name, key)?;
    Ok(items.remove(i))
}

impl Seeded {
    /// The manager named `name`.
    pub fn manager(&self, name: &str) -> Result<&Account<ManagerId>, KitError> {
        find(&self.managers, "manager", name, |m| &m.name)
    }

    /// The carrier named `name`.
    pub fn carrier(&self, name: &str) -> Result<&Account<CarrierId>, KitError> {
        find(&self.carriers, "carrier", name, |c| &c.name)
    }

    /// The driver named `name`.
    pub fn driver(&self, name: &str) -> Result<&SeededDriver, KitError> {
        find(&self.drivers, "driver", name, |d| &d.name)
    }

    /// Removes and returns the driver named `name` (for a caller that keeps
    /// the handheld).
    pub fn take_driver(&mut self, name: &str) -> Result<SeededDriver, KitError> {
        take(&mut self.drivers, "driver", name, |d| &d.name)
    }

    /// The property named `name`.
    pub fn property(&self, name: &str) -> Result<&SeededProperty, KitError> {
        find(&self.properties, "property", name, |p| &p.property.name)
    }

    /// The property named `name`, to take its locks.
    pub fn property_mut(&mut self, name: &str) -> Result<&mut SeededProperty, KitError> {
        let i = position(&self.properties, "property", name, |p| &p.property.name)?;
        self.properties.get_mut(i).ok_or_else(|| KitError::Unknown { what: "property", name: name.into() })
    }

    /// The parcel tracked as `tracking`.
    pub fn delivery(&self, tracking: &str) -> Result<&Delivery, KitError> {
        find(&self.deliveries, "parcel", tracking, |d| &d.tracking_number)
    }
}

impl SeededProperty {
    /// The unit labelled `label`.
    pub fn unit(&self, label: &str) -> Result<&Unit, KitError> {
        find(&self.units, "unit", label, |u| &u.label)
    }

    /// The door named `name`.
    pub fn door(&self, name: &str) -> Result<&AccessPoint, KitError> {
        find(&self.doors, "door", name, |d| &d.name)
    }

    /// The drop spot named `name`.
    pub fn drop_spot(&self, name: &str) -> Result<&DropSpot, KitError> {
        find(&self.drop_spots, "drop spot", name, |s| &s.name)
    }

    /// The resident named `name`.
    pub fn resident(&self, name: &str) -> Result<&SeededResident, KitError> {
        find(&self.residents, "resident", name, |r| &r.name)
    }

    /// The lock on the door named `door`.
    pub fn lock(&self, door: &str) -> Result<&SeededLock, KitError> {
        let id = self.door(door)?.id;
        self.locks
            .iter()
            .find(|l| l.access_point_id == id)
            .ok_or_else(|| KitError::Unknown { what: "lock on door", name: door.into() })
    }

    /// Removes and returns the lock on the door named `door` (for a caller
    /// that keeps it, with its protocol state).
    pub fn take_lock(&mut self, door: &str) -> Result<SeededLock, KitError> {
        let id = self.door(door)?.id;
        let i = self
            .locks
            .iter()
            .position(|l| l.access_point_id == id)
            .ok_or_else(|| KitError::Unknown { what: "lock on door", name: door.into() })?;
        Ok(self.locks.remove(i))
    }
}

/// A client call's failure, with the step it was.
fn api(step: impl Into<String>) -> impl FnOnce(ClientError) -> KitError {
    let step = step.into();
    move |source| KitError::Api { step, source }
}

/// Seeds `spec` through the API. `operator` is a client with the operator's
/// token: it creates the accounts, and the accounts' clients are made from
/// it (sharing its connection pool); `now` is the service's time, the origin
/// of the spec's relative times.
pub async fn seed(operator: &Client, spec: &SiteSpec, now: i64) -> Result<Seeded, KitError> {
    let mut managers = Vec::with_capacity(spec.managers.len());
    for m in &spec.managers {
        let created = operator.create_manager(&m.name).await.map_err(api(format!("creating manager {}", m.name)))?;
        let client = operator.with_token(&created.token);
        managers.push(Account { name: m.name.clone(), id: created.item.id, token: created.token, client });
    }
    let mut carriers = Vec::with_capacity(spec.carriers.len());
    for c in &spec.carriers {
        let created = operator.create_carrier(&c.name).await.map_err(api(format!("creating carrier {}", c.name)))?;
        let client = operator.with_token(&created.token);
        carriers.push(Account { name: c.name.clone(), id: created.item.id, token: created.token, client });
    }

    let mut properties = Vec::new();
    for (m, manager) in spec.managers.iter().zip(&managers) {
        for p in &m.properties {
            properties.push(seed_property(spec, manager, &carriers, p).await?);
        }
    }

    let mut drivers = Vec::new();
    for (c, carrier) in spec.carriers.iter().zip(&carriers) {
        for d in &c.drivers {
            drivers.push(seed_driver(carrier, d, now).await?);
        }
    }

    let mut deliveries = Vec::new();
    for (c, carrier) in spec.carriers.iter().zip(&carriers) {
        for parcel in &c.parcels {
            let property = find(&properties, "property", &parcel.property, |p| &p.property.name)?;
            let unit = property.unit(&parcel.unit)?;
            let delivery = carrier
                .client
                .create_delivery(&CreateDelivery {
                    tracking_number: parcel.tracking.clone(),
                    property_id: property.property.id,
                    unit_id: Some(unit.id),
                    unit_label: None,
                    kind: DeliveryKind::Drop,
                    window_start: now + parcel.window_start,
                    window_end: now + parcel.window_end,
                })
                .await
                .map_err(api(format!("creating parcel {}", parcel.tracking)))?;
            deliveries.push(delivery);
        }
    }
    Ok(Seeded { managers, carriers, drivers, properties, deliveries })
}

async fn seed_property(
    spec: &SiteSpec,
    manager: &Account<ManagerId>,
    carriers: &[Account<CarrierId>],
    p: &PropertySpec,
) -> Result<SeededProperty, KitError> {
    let name = &p.property.name;
    let manager_client = &manager.client;
    let property =
        manager_client.create_property(&p.property).await.map_err(api(format!("creating property {name}")))?;
    let mut seeded = SeededProperty {
        property,
        manager_id: manager.id,
        units: Vec::new(),
        doors: Vec::new(),
        locks: Vec::new(),
        drop_spots: Vec::new(),
        residents: Vec::new(),
    };
    let id = seeded.property.id;
    for label in &p.units {
        seeded.units.push(manager_client.create_unit(id, label).await.map_err(api(format!("creating unit {label}")))?);
    }
    for door in &p.doors {
        let parent_id = match &door.parent {
            Some(parent) => Some(seeded.door(parent)?.id),
            None => None,
        };
        let unit_id = match &door.unit {
            Some(unit) => Some(seeded.unit(unit)?.id),
            None => None,
        };
        let created = manager_client
            .create_access_point(
                id,
                &CreateAccessPoint { kind: door.kind, name: door.name.clone(), parent_id, unit_id },
            )
            .await
            .map_err(api(format!("creating door {}", door.name)))?;
        seeded.doors.push(created);
    }
    for door in &p.doors {
        let Some(lock) = door.lock else { continue };
        let access_point_id = seeded.door(&door.name)?.id;
        let mut device_secret = [0u8; 32];
        OsRng.fill_bytes(&mut device_secret);
        let device = LockDeviceKey::from_secret(&device_secret);
        let provisioned = manager_client
            .register_lock(
                id,
                &RegisterLock {
                    access_point_id,
                    device_public_key: OfflineLock::device_key_b64(&device),
                    model: spec.lock_model.clone(),
                    firmware: spec.lock_firmware.clone(),
                    mobile_credential: lock.mobile_credential,
                    keypad: lock.keypad,
                },
            )
            .await
            .map_err(api(format!("registering the lock on {}", door.name)))?;
        if provisioned.door_code_secret.is_some() != lock.keypad {
            return Err(KitError::Unexpected(format!(
                "the lock on {}: a door-code secret comes with a keypad, and only then",
                door.name
            )));
        }
        let lock = OfflineLock::provisioned(device, &provisioned)?;
        seeded.locks.push(SeededLock { access_point_id, provisioned, device_secret, lock });
    }
    for spot in &p.drop_spots {
        let access_point_id = seeded.door(&spot.door)?.id;
        let unit_id = match &spot.unit {
            Some(unit) => Some(seeded.unit(unit)?.id),
            None => None,
        };
        let created = manager_client
            .create_drop_spot(
                id,
                &CreateDropSpot { name: spot.name.clone(), kind: spot.kind, access_point_id, unit_id },
            )
            .await
            .map_err(api(format!("creating drop spot {}", spot.name)))?;
        seeded.drop_spots.push(created);
    }
    for (c, carrier) in spec.carriers.iter().zip(carriers) {
        for enablement in c.enablements.iter().filter(|e| &e.property == name) {
            let allowed_drop_spots =
                enablement.drop_spots.iter().map(|s| seeded.drop_spot(s).map(|s| s.id)).collect::<Result<_, _>>()?;
            manager_client
                .put_enablement(
                    id,
                    carrier.id,
                    &PutEnablement { enabled: true, hours: enablement.hours.clone(), allowed_drop_spots },
                )
                .await
                .map_err(api(format!("enabling {} at {name}", carrier.name)))?;
        }
    }
    if let Some(text) = &p.tenant_notice {
        manager_client
            .set_tenant_notice(id, &SetTenantNotice { text: text.clone(), live_from: None })
            .await
            .map_err(api(format!("giving the tenant notice at {name}")))?;
    }
    for r in &p.residents {
        let unit_id = seeded.unit(&r.unit)?.id;
        seeded.residents.push(invite_resident(manager_client, unit_id, &r.name, &r.email).await?);
    }
    Ok(seeded)
}

/// The manager (`manager`, a client with their token) invites `name` to
/// `unit`, and they redeem the invitation (with no token yet).
pub async fn invite_resident(
    manager: &Client,
    unit_id: UnitId,
    name: &str,
    email: &str,
) -> Result<SeededResident, KitError> {
    let invitation = manager
        .invite_resident(unit_id, &CreateInvitation { name: name.into(), email: email.into() })
        .await
        .map_err(api(format!("inviting {name}")))?;
    let anon = Client::new(manager.base_url());
    let created =
        anon.redeem_invitation(&invitation.code).await.map_err(api(format!("{name} redeeming the invitation")))?;
    if created.item.unit_id != unit_id {
        return Err(KitError::Unexpected(format!("{name} joined another unit than the one invited to")));
    }
    Ok(SeededResident {
        name: name.into(),
        id: created.item.id,
        unit_id,
        client: manager.with_token(&created.token),
        token: created.token,
    })
}

async fn seed_driver(carrier: &Account<CarrierId>, d: &DriverSpec, now: i64) -> Result<SeededDriver, KitError> {
    let handheld = Handheld::generate();
    let created = carrier
        .client
        .create_driver(&CreateDriver {
            name: d.name.clone(),
            handheld_public_key: Some(handheld.public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: Some(now - d.vetted_days_ago * DAY),
        })
        .await
        .map_err(api(format!("{} vouching for {}", carrier.name, d.name)))?;
    Ok(SeededDriver {
        name: d.name.clone(),
        id: created.item.id,
        carrier_id: carrier.id,
        client: carrier.client.with_token(&created.token),
        token: created.token,
        handheld,
    })
}
