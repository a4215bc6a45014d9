//! What a manager changes or takes away of what they made: the property's
//! description, its units, doors and drop spots (removed softly: history
//! keeps naming them, new work no longer finds them), and its locks
//! (decommissioned, or replaced by a new lock on the same door).
//!
//! Invariants:
//! - only the property's manager may; a unit, door, drop spot or lock of
//!   another property named under this property's path is not found;
//! - every change is logged (a configuration entry, in the change's
//!   transaction); a removal something is in the way of is refused (409,
//!   naming it) and writes nothing; a parent change that would make the
//!   doors loop is invalid (422);
//! - a decommissioned lock's MQTT account is deleted with the change and the
//!   broker's accounts follow at once (the embedded broker reads them per
//!   connection; Mosquitto's files are written again); its chain ends, and
//!   the log says at which event counter.

use std::collections::HashMap;

use doorman_api::{LockProvisioned, ReplaceLock, UpdateAccessPoint, UpdateDropSpot, UpdateProperty, UpdateUnit};
use doorman_domain::hours::validate_time_zone;
use doorman_domain::{
    AccessPoint, AccessPointId, AccessPointKind, DropSpot, DropSpotId, GeoPoint, Lock, LockId, Principal, Property,
    PropertyId, Unit, UnitId,
};
use doorman_store::StoreError;

use crate::manager::{new_lock_account, LockDevice};
use crate::{text_field, Service, ServiceError, ServiceResult};

/// A store refusal of a structural change: NotFound names the thing.
fn refused(what: &'static str) -> impl Fn(StoreError) -> ServiceError {
    move |e| match e {
        StoreError::NotFound => ServiceError::NotFound(what),
        other => other.into(),
    }
}

impl Service {
    pub async fn update_property(&self, p: &Principal, id: PropertyId, req: UpdateProperty) -> ServiceResult<Property> {
        let before = self.managed_property(p, id).await?;
        let mut after = before.clone();
        if let Some(name) = &req.name {
            after.name = text_field("name", name, 200)?;
        }
        if let Some(address) = &req.address {
            after.address = text_field("address", address, 500)?;
        }
        if let Some(location) = req.location {
            after.location =
                GeoPoint::parse(location.lat, location.lon).map_err(|e| ServiceError::invalid(e.to_string()))?;
        }
        if let Some(tz) = req.time_zone {
            validate_time_zone(&tz).map_err(|e| ServiceError::invalid(e.to_string()))?;
            after.time_zone = tz;
        }
        if let Some(kind) = req.kind {
            after.kind = kind;
        }
        let mut changes = Vec::new();
        if after.kind != before.kind {
            changes.push(format!("kind {} (was {})", after.kind.as_str(), before.kind.as_str()));
        }
        if after.name != before.name {
            changes.push(format!("name \"{}\" (was \"{}\")", after.name, before.name));
        }
        if after.address != before.address {
            changes.push(format!("address {} (was {})", after.address, before.address));
        }
        if after.location != before.location {
            changes.push(format!(
                "location {},{} (was {},{})",
                after.location.lat, after.location.lon, before.location.lat, before.location.lon
            ));
        }
        if after.time_zone != before.time_zone {
            changes.push(format!("time zone {} (was {})", after.time_zone, before.time_zone));
        }
        if changes.is_empty() {
            return Ok(before);
        }
        let event = self.configuration_event(p, id, format!("property {id} edited: {}", changes.join(", ")))?;
        self.store.update_property(&after, &[event]).await.map_err(refused("property"))?;
        self.events_appended();
        Ok(after)
    }

    /// The unit, in service, of a property the principal manages.
    async fn managed_unit(&self, p: &Principal, property: PropertyId, unit: UnitId) -> ServiceResult<Unit> {
        self.managed_property(p, property).await?;
        match self.store.get_unit(unit).await? {
            Some(u) if u.property_id == property => Ok(u),
            _ => Err(ServiceError::NotFound("unit")),
        }
    }

    async fn managed_access_point(
        &self,
        p: &Principal,
        property: PropertyId,
        ap: AccessPointId,
    ) -> ServiceResult<AccessPoint> {
        self.managed_property(p, property).await?;
        match self.store.get_access_point(ap).await? {
            Some(a) if a.property_id == property => Ok(a),
            _ => Err(ServiceError::NotFound("access point")),
        }
    }

    async fn managed_drop_spot(
        &self,
        p: &Principal,
        property: PropertyId,
        spot: DropSpotId,
    ) -> ServiceResult<DropSpot> {
        self.managed_property(p, property).await?;
        match self.store.get_drop_spot(spot).await? {
            Some(s) if s.property_id == property => Ok(s),
            _ => Err(ServiceError::NotFound("drop spot")),
        }
    }

    async fn managed_lock(&self, p: &Principal, property: PropertyId, lock: LockId) -> ServiceResult<Lock> {
        self.managed_property(p, property).await?;
        match self.store.get_lock(lock).await? {
            Some(l) if l.property_id == property => Ok(l),
            _ => Err(ServiceError::NotFound("lock")),
        }
    }

    pub async fn update_unit(
        &self,
        p: &Principal,
        property: PropertyId,
        unit: UnitId,
        req: UpdateUnit,
    ) -> ServiceResult<Unit> {
        let before = self.managed_unit(p, property, unit).await?;
        let after = Unit { label: text_field("label", &req.label, 100)?, ..before.clone() };
        if after == before {
            return Ok(before);
        }
        let what = format!("unit {unit} relabelled: \"{}\" (was \"{}\")", after.label, before.label);
        let event = self.configuration_event(p, property, what)?;
        self.store.update_unit(&after, &[event]).await.map_err(refused("unit"))?;
        self.events_appended();
        Ok(after)
    }

    /// Removes a unit with nothing in the way (no resident, unit door, drop
    /// spot or open delivery): 409 naming what is.
    pub async fn remove_unit(&self, p: &Principal, property: PropertyId, unit: UnitId) -> ServiceResult<()> {
        let u = self.managed_unit(p, property, unit).await?;
        let event = self.configuration_event(p, property, format!("unit {unit} removed: \"{}\"", u.label))?;
        self.store.remove_unit(unit, self.now(), &[event]).await.map_err(refused("unit"))?;
        self.events_appended();
        Ok(())
    }

    pub async fn update_access_point(
        &self,
        p: &Principal,
        property: PropertyId,
        ap: AccessPointId,
        req: UpdateAccessPoint,
    ) -> ServiceResult<AccessPoint> {
        let before = self.managed_access_point(p, property, ap).await?;
        let mut after = before.clone();
        if let Some(name) = &req.name {
            after.name = text_field("name", name, 200)?;
        }
        if let Some(kind) = req.kind {
            after.kind = kind;
        }
        if let Some(unit) = req.unit_id {
            if let Some(unit) = unit {
                self.unit_of(property, unit, "unit_id").await?;
            }
            after.unit_id = unit;
        }
        if after.kind == AccessPointKind::UnitDoor && after.unit_id.is_none() {
            return Err(ServiceError::invalid("a unit door needs unit_id"));
        }
        if let Some(parent) = req.parent_id {
            if let Some(parent) = parent {
                let doors: HashMap<AccessPointId, Option<AccessPointId>> =
                    self.store.list_access_points(property).await?.into_iter().map(|a| (a.id, a.parent_id)).collect();
                if !doors.contains_key(&parent) {
                    return Err(ServiceError::invalid("parent_id: no such access point in this property"));
                }
                // Walk up from the new parent: reaching this door is a cycle.
                let mut next = Some(parent);
                let mut steps = 0;
                while let Some(door) = next {
                    if door == ap || steps > doors.len() {
                        return Err(ServiceError::invalid(format!(
                            "parent_id: {parent} is this door or behind it; the doors would form a cycle"
                        )));
                    }
                    steps += 1;
                    next = doors.get(&door).copied().flatten();
                }
            }
            after.parent_id = parent;
        }
        if after == before {
            return Ok(before);
        }
        // "KIND \"NAME\", behind PARENT|on the street, of unit U|of no unit"
        let door_text = |a: &AccessPoint| {
            format!(
                "{} \"{}\", {}, {}",
                a.kind.as_str(),
                a.name,
                a.parent_id.map(|id| format!("behind {id}")).unwrap_or_else(|| "on the street".into()),
                a.unit_id.map(|id| format!("of unit {id}")).unwrap_or_else(|| "of no unit".into()),
            )
        };
        let what = format!("access point {ap} edited: {} (was {})", door_text(&after), door_text(&before));
        let event = self.configuration_event(p, property, what)?;
        self.store.update_access_point(&after, &[event]).await.map_err(refused("access point"))?;
        self.events_appended();
        Ok(after)
    }

    /// Removes a door with nothing in the way (no lock in service, no door
    /// behind it, no drop spot at it): 409 naming what is.
    pub async fn remove_access_point(
        &self,
        p: &Principal,
        property: PropertyId,
        ap: AccessPointId,
    ) -> ServiceResult<()> {
        let a = self.managed_access_point(p, property, ap).await?;
        let what = format!("access point {ap} removed: {} \"{}\"", a.kind.as_str(), a.name);
        let event = self.configuration_event(p, property, what)?;
        self.store.remove_access_point(ap, self.now(), &[event]).await.map_err(refused("access point"))?;
        self.events_appended();
        Ok(())
    }

    pub async fn update_drop_spot(
        &self,
        p: &Principal,
        property: PropertyId,
        spot: DropSpotId,
        req: UpdateDropSpot,
    ) -> ServiceResult<DropSpot> {
        let before = self.managed_drop_spot(p, property, spot).await?;
        let mut after = before.clone();
        if let Some(name) = &req.name {
            after.name = text_field("name", name, 200)?;
        }
        if let Some(kind) = req.kind {
            after.kind = kind;
        }
        if let Some(unit) = req.unit_id {
            if let Some(unit) = unit {
                self.unit_of(property, unit, "unit_id").await?;
            }
            after.unit_id = unit;
        }
        if after == before {
            return Ok(before);
        }
        let what = format!(
            "drop spot {spot} edited: {} \"{}\"{} (was {} \"{}\"{})",
            after.kind.as_str(),
            after.name,
            after.unit_id.map(|id| format!(", for unit {id}")).unwrap_or_default(),
            before.kind.as_str(),
            before.name,
            before.unit_id.map(|id| format!(", for unit {id}")).unwrap_or_default(),
        );
        let event = self.configuration_event(p, property, what)?;
        self.store.update_drop_spot(&after, &[event]).await.map_err(refused("drop spot"))?;
        self.events_appended();
        Ok(after)
    }

    /// Removes a drop spot; the carriers allowed to it lose it from their
    /// allowed drop spots in the same step (each logged, seen by the carrier).
    pub async fn remove_drop_spot(&self, p: &Principal, property: PropertyId, spot: DropSpotId) -> ServiceResult<()> {
        let s = self.managed_drop_spot(p, property, spot).await?;
        let what = format!("drop spot {spot} removed: {} \"{}\"", s.kind.as_str(), s.name);
        let mut events = vec![self.configuration_event(p, property, what)?];
        for e in self.store.list_enablements(property).await? {
            if e.allowed_drop_spots.contains(&spot) {
                let what = format!("drop spot {spot} removed from carrier {}'s allowed drop spots", e.carrier_id);
                events.push(self.carrier_configuration_event(p, property, e.carrier_id, what)?);
            }
        }
        self.store.remove_drop_spot(spot, self.now(), &events).await.map_err(refused("drop spot"))?;
        self.events_appended();
        Ok(())
    }

    /// Where the lock's chain of events stands (the last event stored).
    async fn chain_end(&self, lock: LockId) -> ServiceResult<u64> {
        Ok(self.store.lock_fleet(lock).await?.map(|r| r.head.counter).unwrap_or(0))
    }

    /// Takes the lock out of service: its MQTT account is deleted (the
    /// broker refuses it from now on), and no credential, bundle or event
    /// is accepted for it any more.
    pub async fn decommission_lock(&self, p: &Principal, property: PropertyId, lock: LockId) -> ServiceResult<Lock> {
        let l = self.managed_lock(p, property, lock).await?;
        if !l.is_active() {
            return Err(ServiceError::Conflict(format!("lock {lock} is already decommissioned")));
        }
        let end = self.chain_end(lock).await?;
        let what = format!(
            "lock {lock} decommissioned on access point {}: its MQTT account is deleted; its event chain ends at \
             event {end}",
            l.access_point_id
        );
        let event = self.configuration_event(p, property, what)?;
        let now = self.now();
        self.store.decommission_lock(lock, now, &[event]).await.map_err(refused("lock"))?;
        self.events_appended();
        self.broker_accounts_changed().await;
        Ok(Lock { decommissioned_at: Some(now), ..l })
    }

    /// Replaces the lock by a new one on the same door, in one step: the old
    /// lock is decommissioned (as [`Service::decommission_lock`]) and the
    /// new one registered; returns what the new lock needs to start.
    pub async fn replace_lock(
        &self,
        p: &Principal,
        property: PropertyId,
        lock: LockId,
        req: ReplaceLock,
    ) -> ServiceResult<LockProvisioned> {
        let old = self.managed_lock(p, property, lock).await?;
        if !old.is_active() {
            return Err(ServiceError::Conflict(format!("lock {lock} is already decommissioned")));
        }
        let device = LockDevice {
            device_public_key: &req.device_public_key,
            model: &req.model,
            firmware: &req.firmware,
            mobile_credential: req.mobile_credential,
            keypad: req.keypad,
        };
        let new = device.lock("a lock", property, old.access_point_id, self.now())?;
        let end = self.chain_end(lock).await?;
        let what = format!(
            "lock {lock} replaced by lock {} on access point {}: the old lock's MQTT account is deleted and its \
             event chain ends at event {end}; the new one has {}",
            new.id,
            new.access_point_id,
            crate::manager::device_text(&new)
        );
        let event = self.configuration_event(p, property, what)?;
        let (mqtt, hash) = new_lock_account(new.id);
        self.store.replace_lock(lock, &new, &hash, &[event]).await.map_err(refused("lock"))?;
        self.events_appended();
        // Writes Mosquitto's files again: the old account out, the new one in.
        self.lock_provisioned(new, mqtt).await
    }

    /// The broker's accounts changed: Mosquitto's files are written again
    /// (the embedded broker reads the store at every connection).
    async fn broker_accounts_changed(&self) {
        if let Err(e) = self.write_mosquitto_files().await {
            tracing::error!(error = %e, "the Mosquitto files could not be refreshed after a lock left the fleet");
        }
    }
}
