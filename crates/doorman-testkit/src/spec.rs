//! What to seed, as data: the people, the places and the parcels, each named
//! so that later parts (a drop spot at a door, a carrier enabled for a spot,
//! a parcel for a unit) refer to earlier ones by name. Times are relative to
//! the `now` the seeder is given.

use doorman_api::{AccessPointKind, CreateProperty, DropSpotKind, WeeklyHours};

/// Every day of the week, at any hour.
pub fn all_day() -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
        start: "00:00".into(),
        end: "24:00".into(),
    }]
}

/// Monday to Friday, 08:00 to 20:00 (the property's local time).
pub fn weekdays_8_to_8() -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        start: "08:00".into(),
        end: "20:00".into(),
    }]
}

/// Everything to seed. [`crate::seed`] creates it in a fixed order: the
/// managers' and carriers' accounts; each manager's properties in turn (the
/// property, its units, its doors, their locks, its drop spots, the carriers'
/// enablements there, the tenant notice, the residents by invitation); then
/// each carrier's drivers; then each carrier's parcels.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    /// Building managers, with the properties each describes.
    pub managers: Vec<ManagerSpec>,
    /// Carriers, with their enablements, drivers and parcels.
    pub carriers: Vec<CarrierSpec>,
    /// The model every lock registers as.
    pub lock_model: String,
    /// The firmware every lock registers with.
    pub lock_firmware: String,
}

impl SiteSpec {
    /// Nobody yet; locks register as `model` running `firmware`.
    pub fn new(model: &str, firmware: &str) -> Self {
        Self { managers: Vec::new(), carriers: Vec::new(), lock_model: model.into(), lock_firmware: firmware.into() }
    }

    /// Adds a manager.
    pub fn manager(mut self, manager: ManagerSpec) -> Self {
        self.managers.push(manager);
        self
    }

    /// Adds a carrier.
    pub fn carrier(mut self, carrier: CarrierSpec) -> Self {
        self.carriers.push(carrier);
        self
    }
}

/// A building manager (an account the operator creates) and the properties
/// they describe.
#[derive(Debug, Clone)]
pub struct ManagerSpec {
    /// The manager's name.
    pub name: String,
    /// Their properties, created in this order.
    pub properties: Vec<PropertySpec>,
}

impl ManagerSpec {
    /// A manager with no property yet.
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), properties: Vec::new() }
    }

    /// Adds a property.
    pub fn property(mut self, property: PropertySpec) -> Self {
        self.properties.push(property);
        self
    }
}

/// A property: its units, its doors as a tree, the drop spots behind them,
/// the tenant notice and the residents. Its name (`property.name`) is how
/// carriers' enablements and parcels refer to it.
#[derive(Debug, Clone)]
pub struct PropertySpec {
    /// What the manager registers.
    pub property: CreateProperty,
    /// Unit labels.
    pub units: Vec<String>,
    /// Doors, each after its parent.
    pub doors: Vec<DoorSpec>,
    /// Drop spots.
    pub drop_spots: Vec<DropSpotSpec>,
    /// The tenant notice; without one, delivery access is not live.
    pub tenant_notice: Option<String>,
    /// Residents, each invited to a unit and redeeming the invitation.
    pub residents: Vec<ResidentSpec>,
}

impl PropertySpec {
    /// The property alone.
    pub fn new(property: CreateProperty) -> Self {
        Self {
            property,
            units: Vec::new(),
            doors: Vec::new(),
            drop_spots: Vec::new(),
            tenant_notice: None,
            residents: Vec::new(),
        }
    }

    /// Adds units by label.
    pub fn units<'a>(mut self, labels: impl IntoIterator<Item = &'a str>) -> Self {
        self.units.extend(labels.into_iter().map(String::from));
        self
    }

    /// Adds a door (after its parent).
    pub fn door(mut self, door: DoorSpec) -> Self {
        self.doors.push(door);
        self
    }

    /// Adds a drop spot.
    pub fn drop_spot(mut self, spot: DropSpotSpec) -> Self {
        self.drop_spots.push(spot);
        self
    }

    /// Gives the tenant notice (`None`: none given).
    pub fn tenant_notice(mut self, text: Option<&str>) -> Self {
        self.tenant_notice = text.map(String::from);
        self
    }

    /// Invites a resident to `unit`.
    pub fn resident(mut self, name: &str, email: &str, unit: &str) -> Self {
        self.residents.push(ResidentSpec { name: name.into(), email: email.into(), unit: unit.into() });
        self
    }
}

/// An access point: a door in the property's tree, maybe locked.
#[derive(Debug, Clone)]
pub struct DoorSpec {
    /// Its name (unique in the property).
    pub name: String,
    /// What kind of door.
    pub kind: AccessPointKind,
    /// The door one passes before this one, by name.
    pub parent: Option<String>,
    /// The unit it belongs to, by label.
    pub unit: Option<String>,
    /// The lock on it, if any.
    pub lock: Option<LockSpec>,
}

impl DoorSpec {
    /// A door from the street (no parent), of no unit, with no lock.
    pub fn new(kind: AccessPointKind, name: &str) -> Self {
        Self { name: name.into(), kind, parent: None, unit: None, lock: None }
    }

    /// Behind `parent`.
    pub fn behind(mut self, parent: &str) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Belonging to `unit`.
    pub fn of_unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// With a lock.
    pub fn locked(mut self, lock: LockSpec) -> Self {
        self.lock = Some(lock);
        self
    }
}

/// What a lock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSpec {
    /// It reads mobile credentials.
    pub mobile_credential: bool,
    /// It has a keypad for door codes.
    pub keypad: bool,
}

impl LockSpec {
    /// Mobile credentials only.
    pub const MOBILE: LockSpec = LockSpec { mobile_credential: true, keypad: false };
    /// Mobile credentials and a keypad.
    pub const MOBILE_AND_KEYPAD: LockSpec = LockSpec { mobile_credential: true, keypad: true };
    /// A keypad only.
    pub const KEYPAD: LockSpec = LockSpec { mobile_credential: false, keypad: true };
}

/// A place to leave parcels, behind a door.
#[derive(Debug, Clone)]
pub struct DropSpotSpec {
    /// Its name (unique in the property).
    pub name: String,
    /// What kind of place.
    pub kind: DropSpotKind,
    /// The door it is behind, by name.
    pub door: String,
    /// The unit it belongs to, by label.
    pub unit: Option<String>,
}

impl DropSpotSpec {
    /// A shared spot behind `door`.
    pub fn new(kind: DropSpotKind, name: &str, door: &str) -> Self {
        Self { name: name.into(), kind, door: door.into(), unit: None }
    }

    /// Belonging to `unit`.
    pub fn of_unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.into());
        self
    }
}

/// A resident, invited by the manager to a unit.
#[derive(Debug, Clone)]
pub struct ResidentSpec {
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// Their unit, by label.
    pub unit: String,
}

/// A carrier (an account the operator creates), where it is enabled, its
/// drivers and its parcels.
#[derive(Debug, Clone)]
pub struct CarrierSpec {
    /// The carrier's name.
    pub name: String,
    /// Where its drivers may enter.
    pub enablements: Vec<EnablementSpec>,
    /// Its drivers, each vetted and with a handheld.
    pub drivers: Vec<DriverSpec>,
    /// Its parcels.
    pub parcels: Vec<ParcelSpec>,
}

impl CarrierSpec {
    /// A carrier enabled nowhere, with no driver and no parcel.
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), enablements: Vec::new(), drivers: Vec::new(), parcels: Vec::new() }
    }

    /// Enabled at `property` during `hours`, for the drop spots named.
    pub fn enabled_at<'a>(
        mut self,
        property: &str,
        hours: Vec<WeeklyHours>,
        drop_spots: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        self.enablements.push(EnablementSpec {
            property: property.into(),
            hours,
            drop_spots: drop_spots.into_iter().map(String::from).collect(),
        });
        self
    }

    /// A driver whose vetting passed `vetted_days_ago` days before now.
    pub fn driver(mut self, name: &str, vetted_days_ago: i64) -> Self {
        self.drivers.push(DriverSpec { name: name.into(), vetted_days_ago });
        self
    }

    /// A parcel for `unit` of `property`.
    pub fn parcel(mut self, parcel: ParcelSpec) -> Self {
        self.parcels.push(parcel);
        self
    }
}

/// A carrier's enablement at a property.
#[derive(Debug, Clone)]
pub struct EnablementSpec {
    /// The property, by name.
    pub property: String,
    /// When its drivers may enter (the property's local time).
    pub hours: Vec<WeeklyHours>,
    /// The drop spots it may use, by name.
    pub drop_spots: Vec<String>,
}

/// A driver, vetted, active, with a fresh handheld key.
#[derive(Debug, Clone)]
pub struct DriverSpec {
    /// The driver's name.
    pub name: String,
    /// How many days before now the vetting passed.
    pub vetted_days_ago: i64,
}

/// A parcel to drop (a delivery of kind `drop`).
#[derive(Debug, Clone)]
pub struct ParcelSpec {
    /// Its tracking number.
    pub tracking: String,
    /// The property, by name.
    pub property: String,
    /// The unit, by label.
    pub unit: String,
    /// The delivery window's start, in seconds from now.
    pub window_start: i64,
    /// The delivery window's end, in seconds from now.
    pub window_end: i64,
}

impl ParcelSpec {
    /// `tracking` for `unit` of `property`, due between `start` and `end`
    /// seconds from now.
    pub fn new(tracking: &str, property: &str, unit: &str, start: i64, end: i64) -> Self {
        Self {
            tracking: tracking.into(),
            property: property.into(),
            unit: unit.into(),
            window_start: start,
            window_end: end,
        }
    }
}
