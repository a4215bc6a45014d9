//! Vehicles: a resident registers their car with its trunk device, and the
//! car reports where it is.
//!
//! The model: the trunk is an access point of kind `trunk` of the owner's
//! home property, belonging to the owner's unit and with no parent (it is
//! reached from the street), locked by the trunk device, with a `trunk` drop
//! spot of the unit. A trunk delivery is then an ordinary delivery to the
//! owner's unit whose drop spot is the trunk (the owner picks it as the
//! unit's preferred drop spot); its events are scoped to the unit, so the
//! owner (and no other resident) sees them, and the delivery address the
//! vehicle's position is checked against is the home property's point.
//!
//! Positions are personal data: only the owner reads them (everyone else is
//! told "not found"), only the last one is kept, and none goes into the log.
//! Positions are posted with the owner's token (the car's companion app acts
//! as the owner); the time is the service's clock at receipt.

use doorman_api::{RegisterVehicle, ReportPosition, VehicleProvisioned};
use doorman_domain::{
    AccessPoint, AccessPointId, AccessPointKind, DropSpot, DropSpotId, DropSpotKind, EventKind, GeoPoint, Principal,
    UnitId, Vehicle, VehicleId, VehiclePosition,
};

use crate::audit::Scope;
use crate::{text_field, Service, ServiceError, ServiceResult};

impl Service {
    /// The owner registers their car: the trunk's access point, lock (with
    /// its fleet account) and drop spot, and the vehicle, in one write.
    pub async fn register_vehicle(
        &self,
        p: &Principal,
        unit: UnitId,
        req: RegisterVehicle,
    ) -> ServiceResult<VehicleProvisioned> {
        let owner = self.unit_resident(p, unit).await?;
        let property = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?.property_id;
        let name = text_field("name", &req.name, 100)?;
        let plate = req.plate.as_deref().map(|plate| text_field("plate", plate, 20)).transpose()?;
        let now = self.now();
        let trunk = AccessPoint {
            id: AccessPointId::random(),
            property_id: property,
            kind: AccessPointKind::Trunk,
            name: format!("{name} trunk"),
            parent_id: None,
            unit_id: Some(unit),
        };
        let device = crate::manager::LockDevice {
            device_public_key: &req.device_public_key,
            model: &req.model,
            firmware: &req.firmware,
            mobile_credential: req.mobile_credential,
            keypad: req.keypad,
        };
        let lock = device.lock("a trunk device", property, trunk.id, now)?;
        let spot = DropSpot {
            id: DropSpotId::random(),
            property_id: property,
            name: format!("{name} trunk"),
            kind: DropSpotKind::Trunk,
            access_point_id: trunk.id,
            unit_id: Some(unit),
        };
        let vehicle = Vehicle {
            id: VehicleId::random(),
            owner_id: owner,
            unit_id: unit,
            property_id: property,
            name,
            plate,
            access_point_id: trunk.id,
            lock_id: lock.id,
            drop_spot_id: spot.id,
            created_at: now,
        };
        let scope = Scope { property: Some(property), unit: Some(unit), ..Scope::default() };
        let event = self.event(
            EventKind::VehicleRegistered { vehicle_id: vehicle.id, lock_id: lock.id, drop_spot_id: spot.id },
            scope,
            p,
        )?;
        // The trunk device's MQTT account, as for any lock: shown once, kept as a hash.
        let (mqtt, hash) = crate::manager::new_lock_account(lock.id);
        self.store.insert_vehicle(&vehicle, &trunk, &lock, &hash, &spot, &[event]).await?;
        self.events_appended();
        Ok(VehicleProvisioned { vehicle, trunk_lock: self.lock_provisioned(lock, mqtt).await? })
    }

    /// The unit's vehicles, for its residents.
    pub async fn list_vehicles(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<Vehicle>> {
        self.unit_resident(p, unit).await?;
        Ok(self.store.list_vehicles(unit).await?)
    }

    /// The vehicle, if `p` is its owner; "not found" for everyone else.
    pub(crate) async fn owned_vehicle(&self, p: &Principal, id: VehicleId) -> ServiceResult<Vehicle> {
        let Principal::Resident { resident_id, .. } = p else {
            return Err(ServiceError::NotFound("vehicle"));
        };
        match self.store.get_vehicle(id).await? {
            Some(v) if v.owner_id == *resident_id => Ok(v),
            _ => Err(ServiceError::NotFound("vehicle")),
        }
    }

    /// The car says where it is; the service keeps it with its own time.
    pub async fn report_vehicle_position(
        &self,
        p: &Principal,
        id: VehicleId,
        req: ReportPosition,
    ) -> ServiceResult<VehiclePosition> {
        self.owned_vehicle(p, id).await?;
        let position =
            GeoPoint::parse(req.position.lat, req.position.lon).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let reported = VehiclePosition { position, reported_at: self.now() };
        self.store.put_vehicle_position(id, &reported).await?;
        Ok(reported)
    }

    /// The vehicle's last position, for its owner only.
    pub async fn vehicle_position(&self, p: &Principal, id: VehicleId) -> ServiceResult<VehiclePosition> {
        self.owned_vehicle(p, id).await?;
        self.store.vehicle_position(id).await?.ok_or(ServiceError::NotFound("position"))
    }
}
