//! Read models: what a page shows, gathered in one call with the same
//! authorization as the API (another tenant's resource is "not found"), so
//! that the dashboard never reads the store itself. Each one joins records
//! the principal may already see one by one (a unit and its building, an
//! enablement and its carrier's name, a delivery and its building's time
//! zone); none reveals anything the JSON API would not.

use std::collections::BTreeMap;

use doorman_domain::{
    AccessRequestRecord, Block, CarrierEnablement, CarrierId, Delivery, DriverId, DropSpot, LockId, Principal,
    PropertyId, TenantNotice, Unit, UnitId,
};

use crate::{Service, ServiceResult};

/// A unit as its residents (or its building's manager) see it.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitOverview {
    pub unit: Unit,
    /// The building's name.
    pub property_name: String,
    /// The building's IANA time zone: the unit's times are shown in it.
    pub time_zone: String,
    /// The block in force now, if the residents stopped delivery access.
    pub active_block: Option<Block>,
    /// What the manager told the building's residents before delivery
    /// access went live.
    pub tenant_notice: Option<TenantNotice>,
}

/// What a resident picks from, by name, in the dashboard's forms: the
/// carriers enabled at their building, the drivers who came for their
/// unit's parcels, and the doors they may open remotely. Ids already in the
/// unit's allow or block lists are listed too, so that they can be removed.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ResidentChoices {
    /// Sorted by name.
    pub carriers: Vec<(CarrierId, String)>,
    /// (driver, driver's name, carrier's name), sorted by name.
    pub drivers: Vec<(DriverId, String, String)>,
    /// The doors with a lock that can be asked to open over the fleet
    /// channel: the unit's own door and the building's shared doors.
    pub remote_doors: Vec<RemoteDoor>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RemoteDoor {
    pub lock_id: LockId,
    pub door_name: String,
    /// The unit's own door (else a shared door).
    pub own: bool,
}

/// A carrier's enablement at a property, with the carrier's name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedEnablement {
    pub enablement: CarrierEnablement,
    /// Empty if the carrier is gone.
    pub carrier_name: String,
}

/// A delivery with its building's time zone, so that its window and ETA can
/// be shown as the building's local time, and its building's name and its
/// unit's label, as printed on the parcel.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalDelivery {
    pub delivery: Delivery,
    /// Empty if the property is gone.
    pub time_zone: String,
    /// Empty if the property is gone.
    pub property_name: String,
    /// Empty if the unit is gone.
    pub unit_label: String,
}

/// An access request at a property, with the names a manager reads: the
/// driver's, the carrier's and the unit's label.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedAccessRequest {
    pub request: AccessRequestRecord,
    /// Empty if the driver is gone.
    pub driver_name: String,
    /// Empty if the carrier is gone.
    pub carrier_name: String,
    /// Empty if the scan matched no parcel (no unit) or the unit is gone.
    pub unit_label: String,
}

/// A delivery at a property, with its unit's label, its carrier's name and
/// the name of the driver who completed it (empty until then).
#[derive(Clone, Debug, PartialEq)]
pub struct NamedDelivery {
    pub delivery: Delivery,
    pub unit_label: String,
    pub carrier_name: String,
    pub driver_name: String,
}

/// Names looked up once each while a page is gathered.
#[derive(Default)]
struct Names {
    units: BTreeMap<UnitId, String>,
    carriers: BTreeMap<CarrierId, String>,
    drivers: BTreeMap<DriverId, String>,
}

impl Names {
    async fn unit(&mut self, s: &Service, id: UnitId) -> ServiceResult<String> {
        if let Some(n) = self.units.get(&id) {
            return Ok(n.clone());
        }
        let n = s.store.get_unit(id).await?.map(|u| u.label).unwrap_or_default();
        self.units.insert(id, n.clone());
        Ok(n)
    }

    async fn carrier(&mut self, s: &Service, id: CarrierId) -> ServiceResult<String> {
        if let Some(n) = self.carriers.get(&id) {
            return Ok(n.clone());
        }
        let n = s.store.get_carrier(id).await?.map(|c| c.name).unwrap_or_default();
        self.carriers.insert(id, n.clone());
        Ok(n)
    }

    async fn driver(&mut self, s: &Service, id: DriverId) -> ServiceResult<String> {
        if let Some(n) = self.drivers.get(&id) {
            return Ok(n.clone());
        }
        let n = s.store.get_driver(id).await?.map(|d| d.name).unwrap_or_default();
        self.drivers.insert(id, n.clone());
        Ok(n)
    }
}

/// Whether a resident of `unit` may choose `spot`: one of its building's
/// shared spots or the unit's own.
pub(crate) fn spot_serves_unit(spot: &DropSpot, unit: &Unit) -> bool {
    spot.property_id == unit.property_id && spot.unit_id.is_none_or(|u| u == unit.id)
}

impl Service {
    /// The unit with its building's name and time zone and the block in
    /// force; for its residents and its building's manager.
    pub async fn unit_overview(&self, p: &Principal, unit: UnitId) -> ServiceResult<UnitOverview> {
        let unit = self.visible_unit(p, unit).await?;
        let property =
            self.store.get_property(unit.property_id).await?.ok_or(crate::ServiceError::NotFound("property"))?;
        let active_block = self.store.active_block(unit.id, self.now()).await?;
        Ok(UnitOverview {
            unit,
            property_name: property.name,
            time_zone: property.time_zone,
            active_block,
            tenant_notice: property.tenant_notice,
        })
    }

    /// [`ResidentChoices`] for a resident of `unit` (no one else: the
    /// drivers' names are shown only to the residents they came to).
    pub async fn resident_choices(&self, p: &Principal, unit: UnitId) -> ServiceResult<ResidentChoices> {
        self.unit_resident(p, unit).await?;
        let unit = self.visible_unit(p, unit).await?;
        let prefs = self.store.get_preferences(unit.id).await?;
        let mut names = Names::default();

        let mut carrier_ids: Vec<CarrierId> = self
            .store
            .list_enablements(unit.property_id)
            .await?
            .into_iter()
            .filter(|e| e.enabled)
            .map(|e| e.carrier_id)
            .collect();
        carrier_ids.extend(prefs.allowed_carriers.iter().chain(&prefs.blocked_carriers).copied());
        carrier_ids.sort();
        carrier_ids.dedup();
        let mut carriers = Vec::with_capacity(carrier_ids.len());
        for id in carrier_ids {
            let name = names.carrier(self, id).await?;
            if !name.is_empty() {
                carriers.push((id, name));
            }
        }
        carriers.sort_by(|a, b| a.1.cmp(&b.1));

        // The drivers who asked to enter for the unit's parcels or delivered them.
        let filter = doorman_store::AccessRequestFilter { unit_id: Some(unit.id), ..Default::default() };
        let since = self.history_since(p).await?;
        let requests = crate::tenancy::since_move_in(self.store.list_access_requests(&filter).await?, since, |r| r.at);
        let mut driver_ids: BTreeMap<DriverId, CarrierId> =
            requests.into_iter().map(|r| (r.driver_id, r.carrier_id)).collect();
        for id in prefs.allowed_drivers.iter().chain(&prefs.blocked_drivers) {
            if !driver_ids.contains_key(id) {
                if let Some(d) = self.store.get_driver(*id).await? {
                    driver_ids.insert(d.id, d.carrier_id);
                }
            }
        }
        let mut drivers = Vec::with_capacity(driver_ids.len());
        for (id, carrier) in driver_ids {
            let name = names.driver(self, id).await?;
            if !name.is_empty() {
                drivers.push((id, name, names.carrier(self, carrier).await?));
            }
        }
        drivers.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));

        let access_points = self.store.list_access_points(unit.property_id).await?;
        let mut remote_doors = Vec::new();
        for lock in self.store.list_locks(unit.property_id).await? {
            let Some(ap) = access_points.iter().find(|a| a.id == lock.access_point_id) else { continue };
            if !lock.is_active() || ap.unit_id.is_some_and(|u| u != unit.id) {
                continue;
            }
            if self.store.lock_fleet(lock.id).await?.is_some() {
                remote_doors.push(RemoteDoor {
                    lock_id: lock.id,
                    door_name: ap.name.clone(),
                    own: ap.unit_id.is_some(),
                });
            }
        }
        remote_doors.sort_by(|a, b| (b.own, &a.door_name).cmp(&(a.own, &b.door_name)));
        Ok(ResidentChoices { carriers, drivers, remote_doors })
    }

    /// The drop spots the unit's residents may name as preferred (the ones
    /// `put_preferences` accepts), in the store's order.
    pub async fn drop_spot_choices(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<DropSpot>> {
        let unit = self.visible_unit(p, unit).await?;
        let spots = self.store.list_drop_spots(unit.property_id).await?;
        Ok(spots.into_iter().filter(|s| spot_serves_unit(s, &unit)).collect())
    }

    /// [`Service::list_enablements`] with each carrier's name; for the
    /// property's manager.
    pub async fn named_enablements(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<NamedEnablement>> {
        let enablements = self.list_enablements(p, property).await?;
        let mut out = Vec::with_capacity(enablements.len());
        for enablement in enablements {
            let carrier_name = self.store.get_carrier(enablement.carrier_id).await?.map(|c| c.name).unwrap_or_default();
            out.push(NamedEnablement { enablement, carrier_name });
        }
        Ok(out)
    }

    /// [`Service::list_deliveries`] (a carrier's, or those a driver asked
    /// access for), each with its building's time zone and name and its
    /// unit's label (what the parcel's label says: the carrier gave both).
    pub async fn list_local_deliveries(&self, p: &Principal) -> ServiceResult<Vec<LocalDelivery>> {
        let deliveries = self.list_deliveries(p).await?;
        let mut places: BTreeMap<PropertyId, (String, String)> = BTreeMap::new();
        let mut names = Names::default();
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let (time_zone, property_name) = match places.get(&delivery.property_id) {
                Some(place) => place.clone(),
                None => {
                    let place = self
                        .store
                        .get_property(delivery.property_id)
                        .await?
                        .map(|p| (p.time_zone, p.name))
                        .unwrap_or_default();
                    places.insert(delivery.property_id, place.clone());
                    place
                }
            };
            let unit_label = names.unit(self, delivery.unit_id).await?;
            out.push(LocalDelivery { delivery, time_zone, property_name, unit_label });
        }
        Ok(out)
    }

    /// [`Service::property_access_requests`], newest first, with the
    /// driver's and carrier's names and the unit's label; for the
    /// property's manager.
    pub async fn named_access_requests(
        &self,
        p: &Principal,
        property: PropertyId,
    ) -> ServiceResult<Vec<NamedAccessRequest>> {
        let mut requests = self.property_access_requests(p, property).await?;
        requests.sort_by_key(|r| std::cmp::Reverse(r.at));
        let mut names = Names::default();
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            let unit_label = match request.unit_id {
                Some(u) => names.unit(self, u).await?,
                None => String::new(),
            };
            out.push(NamedAccessRequest {
                driver_name: names.driver(self, request.driver_id).await?,
                carrier_name: names.carrier(self, request.carrier_id).await?,
                unit_label,
                request,
            });
        }
        Ok(out)
    }

    /// [`Service::property_deliveries`] with the unit's label, the
    /// carrier's name and the completing driver's name; for the property's
    /// manager.
    pub async fn named_deliveries(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<NamedDelivery>> {
        let deliveries = self.property_deliveries(p, property).await?;
        let mut names = Names::default();
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let driver_name = match delivery.completed_by {
                Some(d) => names.driver(self, d).await?,
                None => String::new(),
            };
            out.push(NamedDelivery {
                unit_label: names.unit(self, delivery.unit_id).await?,
                carrier_name: names.carrier(self, delivery.carrier_id).await?,
                driver_name,
                delivery,
            });
        }
        Ok(out)
    }
}
