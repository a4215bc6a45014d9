//! What a building manager does: describe the property (units, doors, locks,
//! drop spots), choose which carriers may enter and when, invite residents,
//! and give the tenant notice that makes delivery access live.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_api::{
    CreateAccessPoint, CreateDropSpot, CreateInvitation, CreateProperty, CreateUnit, InvitationCreated,
    LockProvisioned, PutEnablement, RegisterLock, SetTenantNotice,
};
use doorman_domain::hours::validate_time_zone;
use doorman_domain::{
    AccessPoint, AccessPointId, AccessPointKind, AccessRequestRecord, CarrierEnablement, CarrierId, Delivery, DropSpot,
    DropSpotId, GeoPoint, Invitation, InvitationId, Lock, LockId, Principal, Property, PropertyId, Unit, UnitId,
};
use doorman_store::{AccessRequestFilter, DeliveryFilter};

use crate::{auth, decode_b64, issuing, text_field, Service, ServiceError, ServiceResult};

impl Service {
    pub async fn create_property(&self, p: &Principal, req: CreateProperty) -> ServiceResult<Property> {
        let Principal::Manager { manager_id } = p else {
            return Err(ServiceError::Forbidden("only managers create properties"));
        };
        validate_time_zone(&req.time_zone).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let location =
            GeoPoint::parse(req.location.lat, req.location.lon).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let property = Property {
            id: PropertyId::random(),
            manager_id: *manager_id,
            kind: req.kind,
            name: text_field("name", &req.name, 200)?,
            address: text_field("address", &req.address, 500)?,
            location,
            time_zone: req.time_zone,
            tenant_notice: None,
            created_at: self.now(),
        };
        let what = format!(
            "property {} created: {} \"{}\", {}, time zone {}",
            property.id,
            property.kind.as_str(),
            property.name,
            property.address,
            property.time_zone
        );
        let event = self.configuration_event(p, property.id, what)?;
        self.store.insert_property(&property, &[event]).await?;
        self.events_appended();
        Ok(property)
    }

    pub async fn list_properties(&self, p: &Principal) -> ServiceResult<Vec<Property>> {
        let Principal::Manager { manager_id } = p else {
            return Err(ServiceError::Forbidden("only managers list properties"));
        };
        Ok(self.store.list_properties(*manager_id).await?)
    }

    pub async fn get_property(&self, p: &Principal, id: PropertyId) -> ServiceResult<Property> {
        self.managed_property(p, id).await
    }

    pub async fn set_tenant_notice(
        &self,
        p: &Principal,
        id: PropertyId,
        req: SetTenantNotice,
    ) -> ServiceResult<Property> {
        let mut property = self.managed_property(p, id).await?;
        let now = self.now();
        let live_from = req.live_from.unwrap_or(now);
        if live_from < now {
            return Err(ServiceError::invalid("live_from must not be in the past: tenants are notified now"));
        }
        let notice =
            doorman_domain::TenantNotice { text: text_field("text", &req.text, 4000)?, notified_at: now, live_from };
        let what =
            format!("tenant notice given at {now}: delivery access live from {live_from}; notice: {}", notice.text);
        let mut events = vec![self.configuration_event(p, id, what)?];
        // Every unit is told, in the same transaction, before access goes live.
        for unit in self.store.list_units(id).await? {
            let scope = crate::audit::Scope { property: Some(id), unit: Some(unit.id), ..Default::default() };
            let kind = doorman_domain::EventKind::TenantNoticeGiven { live_from, text: notice.text.clone() };
            events.push(self.event(kind, scope, p)?);
        }
        self.store.set_tenant_notice(id, &notice, &events).await?;
        self.events_appended();
        property.tenant_notice = Some(notice);
        Ok(property)
    }

    pub async fn create_unit(&self, p: &Principal, property: PropertyId, req: CreateUnit) -> ServiceResult<Unit> {
        self.managed_property(p, property).await?;
        let unit = Unit { id: UnitId::random(), property_id: property, label: text_field("label", &req.label, 100)? };
        let event = self.configuration_event(p, property, format!("unit {} added: \"{}\"", unit.id, unit.label))?;
        self.store.insert_unit(&unit, &[event]).await?;
        self.events_appended();
        Ok(unit)
    }

    pub async fn list_units(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<Unit>> {
        self.managed_property(p, property).await?;
        Ok(self.store.list_units(property).await?)
    }

    /// A unit of this property, or a clear error naming the field.
    pub(crate) async fn unit_of(&self, property: PropertyId, unit: UnitId, field: &str) -> ServiceResult<Unit> {
        match self.store.get_unit(unit).await? {
            Some(u) if u.property_id == property => Ok(u),
            _ => Err(ServiceError::invalid(format!("{field}: no such unit in this property"))),
        }
    }

    async fn access_point_of(
        &self,
        property: PropertyId,
        ap: AccessPointId,
        field: &str,
    ) -> ServiceResult<AccessPoint> {
        match self.store.get_access_point(ap).await? {
            Some(a) if a.property_id == property => Ok(a),
            _ => Err(ServiceError::invalid(format!("{field}: no such access point in this property"))),
        }
    }

    pub async fn create_access_point(
        &self,
        p: &Principal,
        property: PropertyId,
        req: CreateAccessPoint,
    ) -> ServiceResult<AccessPoint> {
        self.managed_property(p, property).await?;
        if let Some(parent) = req.parent_id {
            self.access_point_of(property, parent, "parent_id").await?;
        }
        if let Some(unit) = req.unit_id {
            self.unit_of(property, unit, "unit_id").await?;
        } else if req.kind == AccessPointKind::UnitDoor {
            return Err(ServiceError::invalid("a unit door needs unit_id"));
        }
        let ap = AccessPoint {
            id: AccessPointId::random(),
            property_id: property,
            kind: req.kind,
            name: text_field("name", &req.name, 200)?,
            parent_id: req.parent_id,
            unit_id: req.unit_id,
        };
        let what = format!(
            "access point {} added: {} \"{}\"{}{}",
            ap.id,
            ap.kind.as_str(),
            ap.name,
            ap.parent_id.map(|id| format!(", behind {id}")).unwrap_or_default(),
            ap.unit_id.map(|id| format!(", of unit {id}")).unwrap_or_default()
        );
        let event = self.configuration_event(p, property, what)?;
        self.store.insert_access_point(&ap, &[event]).await?;
        self.events_appended();
        Ok(ap)
    }

    pub async fn list_access_points(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<AccessPoint>> {
        self.managed_property(p, property).await?;
        Ok(self.store.list_access_points(property).await?)
    }

    pub async fn register_lock(
        &self,
        p: &Principal,
        property: PropertyId,
        req: RegisterLock,
    ) -> ServiceResult<LockProvisioned> {
        self.managed_property(p, property).await?;
        self.access_point_of(property, req.access_point_id, "access_point_id").await?;
        let device = LockDevice {
            device_public_key: &req.device_public_key,
            model: &req.model,
            firmware: &req.firmware,
            mobile_credential: req.mobile_credential,
            keypad: req.keypad,
        };
        let lock = device.lock("a lock", property, req.access_point_id, self.now())?;
        let what =
            format!("lock {} registered on access point {}: {}", lock.id, lock.access_point_id, device_text(&lock));
        let event = self.configuration_event(p, property, what)?;
        let (mqtt, hash) = new_lock_account(lock.id);
        self.store.insert_fleet_lock(&lock, &hash, &[event]).await?;
        self.events_appended();
        self.lock_provisioned(lock, mqtt).await
    }

    /// What a lock just stored needs, shown once: the trust anchors, its
    /// door-code secret (keypad locks), its MQTT account. Refreshes the
    /// broker's files so that it can connect.
    pub(crate) async fn lock_provisioned(
        &self,
        lock: Lock,
        mqtt: doorman_fleet::MqttCredentials,
    ) -> ServiceResult<LockProvisioned> {
        if let Err(e) = self.write_mosquitto_files().await {
            tracing::error!(error = %e, "the Mosquitto files could not be refreshed; the new lock cannot connect yet");
        }
        let door_code_secret = match lock.keypad {
            true => Some(URL_SAFE_NO_PAD.encode(issuing::door_code_secret(&self.keys().door_code_master, lock.id)?)),
            false => None,
        };
        let mqtt = doorman_api::MqttAccount {
            url: self.lock_mqtt_url(),
            username: mqtt.username,
            password: mqtt.password.expose().to_owned(),
        };
        Ok(LockProvisioned {
            lock,
            trust_anchors: issuing::trust_anchors(&self.keys()),
            door_code_secret,
            mqtt: Some(mqtt),
        })
    }

    pub async fn list_locks(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<Lock>> {
        self.managed_property(p, property).await?;
        Ok(self.store.list_locks(property).await?)
    }

    pub async fn create_drop_spot(
        &self,
        p: &Principal,
        property: PropertyId,
        req: CreateDropSpot,
    ) -> ServiceResult<DropSpot> {
        self.managed_property(p, property).await?;
        self.access_point_of(property, req.access_point_id, "access_point_id").await?;
        if let Some(unit) = req.unit_id {
            self.unit_of(property, unit, "unit_id").await?;
        }
        let spot = DropSpot {
            id: DropSpotId::random(),
            property_id: property,
            name: text_field("name", &req.name, 200)?,
            kind: req.kind,
            access_point_id: req.access_point_id,
            unit_id: req.unit_id,
        };
        let what = format!(
            "drop spot {} added: {} \"{}\" at access point {}{}",
            spot.id,
            spot.kind.as_str(),
            spot.name,
            spot.access_point_id,
            spot.unit_id.map(|id| format!(", for unit {id}")).unwrap_or_default()
        );
        let event = self.configuration_event(p, property, what)?;
        self.store.insert_drop_spot(&spot, &[event]).await?;
        self.events_appended();
        Ok(spot)
    }

    pub async fn list_drop_spots(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<DropSpot>> {
        self.managed_property(p, property).await?;
        Ok(self.store.list_drop_spots(property).await?)
    }

    pub async fn put_enablement(
        &self,
        p: &Principal,
        property: PropertyId,
        carrier: CarrierId,
        req: PutEnablement,
    ) -> ServiceResult<CarrierEnablement> {
        self.managed_property(p, property).await?;
        if self.store.get_carrier(carrier).await?.is_none() {
            return Err(ServiceError::NotFound("carrier"));
        }
        for slot in &req.hours {
            slot.validate().map_err(|e| ServiceError::invalid(format!("hours: {e}")))?;
        }
        if req.hours.len() > 50 || req.allowed_drop_spots.len() > 200 {
            return Err(ServiceError::invalid("too many hours slots or drop spots"));
        }
        for spot in &req.allowed_drop_spots {
            match self.store.get_drop_spot(*spot).await? {
                Some(s) if s.property_id == property => {}
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "allowed_drop_spots: {spot} is not a drop spot of this property"
                    )))
                }
            }
        }
        let enablement = CarrierEnablement {
            property_id: property,
            carrier_id: carrier,
            enabled: req.enabled,
            hours: req.hours,
            allowed_drop_spots: req.allowed_drop_spots,
            updated_at: self.now(),
        };
        let what = format!(
            "carrier {carrier} {} at the property; hours {}; allowed drop spots {}",
            if enablement.enabled { "enabled" } else { "disabled" },
            serde_json::to_string(&enablement.hours).unwrap_or_default(),
            serde_json::to_string(&enablement.allowed_drop_spots).unwrap_or_default()
        );
        // The carrier sees how it is let in.
        let event = self.carrier_configuration_event(p, property, carrier, what)?;
        if enablement.enabled {
            self.store.put_enablement(&enablement, &[event]).await?;
            self.events_appended();
        } else {
            // Disabled: its outstanding credentials here are revoked with the change.
            self.withdraw_carrier(p, property, carrier, Some(&enablement), event).await?;
        }
        Ok(enablement)
    }

    pub async fn list_enablements(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<CarrierEnablement>> {
        self.managed_property(p, property).await?;
        Ok(self.store.list_enablements(property).await?)
    }

    pub async fn invite_resident(
        &self,
        p: &Principal,
        unit: UnitId,
        req: CreateInvitation,
    ) -> ServiceResult<InvitationCreated> {
        self.unit_of_its_manager(p, unit).await?;
        let email = text_field("email", &req.email, 320)?;
        if !email.contains('@') {
            return Err(ServiceError::invalid("email must contain @"));
        }
        let now = self.now();
        let code = format!("inv_{}", URL_SAFE_NO_PAD.encode(auth::random_bytes::<18>()?));
        let invitation = Invitation {
            id: InvitationId::random(),
            unit_id: unit,
            name: text_field("name", &req.name, 200)?,
            email,
            created_at: now,
            expires_at: now + self.config.invitation_lifetime_s,
            redeemed_at: None,
            resident_id: None,
        };
        self.store.insert_invitation(&invitation, &auth::hash_secret(&code)).await?;
        Ok(InvitationCreated { invitation, code })
    }

    pub async fn property_deliveries(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<Delivery>> {
        self.managed_property(p, property).await?;
        let filter = DeliveryFilter { property_id: Some(property), ..Default::default() };
        Ok(self.store.list_deliveries(&filter).await?)
    }

    pub async fn property_access_requests(
        &self,
        p: &Principal,
        property: PropertyId,
    ) -> ServiceResult<Vec<AccessRequestRecord>> {
        self.managed_property(p, property).await?;
        let filter = AccessRequestFilter { property_id: Some(property), ..Default::default() };
        Ok(self.store.list_access_requests(&filter).await?)
    }
}

/// A lock's device as the log records it: "device key K, MODEL FIRMWARE,
/// credentials yes, keypad no".
pub(crate) fn device_text(lock: &Lock) -> String {
    format!(
        "device key {}, {} {}, credentials {}, keypad {}",
        URL_SAFE_NO_PAD.encode(&lock.device_public_key),
        lock.model,
        lock.firmware,
        if lock.mobile_credential { "yes" } else { "no" },
        if lock.keypad { "yes" } else { "no" }
    )
}

/// A new lock's MQTT account: the credentials, shown once, and the hash of
/// its password, the only part stored.
pub(crate) fn new_lock_account(lock: LockId) -> (doorman_fleet::MqttCredentials, String) {
    let mqtt = doorman_fleet::MqttCredentials::for_lock(issuing::lock_wire_id(lock), &mut rand_core::OsRng);
    let hash = mqtt.hash(&mut rand_core::OsRng).to_string();
    (mqtt, hash)
}

/// What a request says of a lock device (a door's lock, a car's trunk).
pub(crate) struct LockDevice<'a> {
    pub device_public_key: &'a str,
    pub model: &'a str,
    pub firmware: &'a str,
    pub mobile_credential: bool,
    pub keypad: bool,
}

impl LockDevice<'_> {
    /// The lock on `access_point`, its device key and fields checked; `what`
    /// names the device in the error when it opens by neither means.
    pub(crate) fn lock(
        &self,
        what: &str,
        property: PropertyId,
        access_point: AccessPointId,
        now: doorman_domain::UnixSeconds,
    ) -> ServiceResult<Lock> {
        let device_public_key = decode_b64("device_public_key", self.device_public_key)?;
        issuing::validate_device_key(&device_public_key)?;
        if !self.mobile_credential && !self.keypad {
            return Err(ServiceError::invalid(format!("{what} needs mobile_credential, keypad, or both")));
        }
        Ok(Lock {
            id: LockId::random(),
            property_id: property,
            access_point_id: access_point,
            device_public_key,
            model: text_field("model", self.model, 100)?,
            firmware: text_field("firmware", self.firmware, 100)?,
            mobile_credential: self.mobile_credential,
            keypad: self.keypad,
            created_at: now,
            decommissioned_at: None,
            replaced_by: None,
        })
    }
}
