//! What a carrier does: vouch for its drivers and announce its deliveries.

use doorman_api::{CreateDelivery, CreateDriver, Created, EtaUpdate, UpdateDriver};
use doorman_domain::{
    CarrierId, Delivery, DeliveryId, DeliveryState, Driver, DriverId, DriverStatus, EventKind, Principal,
};
use doorman_store::{AccessRequestFilter, DeliveryFilter};

use crate::audit::Scope;
use crate::{auth, decode_b64, issuing, text_field, Service, ServiceError, ServiceResult};

fn carrier_of(p: &Principal) -> ServiceResult<CarrierId> {
    match p {
        Principal::Carrier { carrier_id } => Ok(*carrier_id),
        _ => Err(ServiceError::Forbidden("only carriers may do this")),
    }
}

/// Whom an event about a delivery concerns: its building, unit and carrier.
pub(crate) fn delivery_scope(d: &Delivery) -> Scope {
    Scope {
        property: Some(d.property_id),
        unit: Some(d.unit_id),
        carrier: Some(d.carrier_id),
        driver: None,
        delivery: Some(d.id),
    }
}

/// The tracking number as the carrier registered it: trimmed, printable,
/// bounded. Drivers' scans go through the same function.
pub(crate) fn tracking_number(raw: &str) -> ServiceResult<String> {
    let t = raw.trim();
    if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ServiceError::invalid("tracking_number must be 1 to 64 printable ASCII characters"));
    }
    Ok(t.to_string())
}

impl Service {
    pub async fn create_driver(&self, p: &Principal, req: CreateDriver) -> ServiceResult<Created<Driver>> {
        let carrier_id = carrier_of(p)?;
        let handheld_public_key = match &req.handheld_public_key {
            Some(k) => Some(issuing::validate_handheld_key(&decode_b64("handheld_public_key", k)?)?),
            None => None,
        };
        let driver = Driver {
            id: DriverId::random(),
            carrier_id,
            name: text_field("name", &req.name, 200)?,
            handheld_public_key,
            vetting: req.vetting,
            vetted_at: req.vetted_at,
            status: DriverStatus::Active,
            created_at: self.now(),
        };
        let (token, record) =
            auth::new_token(Principal::Driver { driver_id: driver.id, carrier_id }, "driver", driver.created_at)?;
        self.store.insert_driver(&driver, &record).await?;
        Ok(Created { item: driver, token })
    }

    pub async fn list_drivers(&self, p: &Principal) -> ServiceResult<Vec<Driver>> {
        Ok(self.store.list_drivers(carrier_of(p)?).await?)
    }

    pub async fn update_driver(&self, p: &Principal, id: DriverId, req: UpdateDriver) -> ServiceResult<Driver> {
        let carrier_id = match p {
            Principal::Carrier { carrier_id } => *carrier_id,
            // A driver knows their own id; nobody else sees drivers.
            _ => {
                let own = matches!(p, Principal::Driver { driver_id, .. } if *driver_id == id);
                return Err(Self::hidden_or_forbidden(own, "driver", "only the driver's carrier may change them"));
            }
        };
        let mut driver = match self.store.get_driver(id).await? {
            Some(d) if d.carrier_id == carrier_id => d,
            _ => return Err(ServiceError::NotFound("driver")),
        };
        if let Some(k) = &req.handheld_public_key {
            driver.handheld_public_key = Some(issuing::validate_handheld_key(&decode_b64("handheld_public_key", k)?)?);
        }
        if let Some(v) = req.vetting {
            driver.vetting = v;
            driver.vetted_at = req.vetted_at.or(Some(self.now()));
        }
        if let Some(s) = req.status {
            driver.status = s;
        }
        self.store.update_driver(&driver).await?;
        Ok(driver)
    }

    pub async fn create_delivery(&self, p: &Principal, req: CreateDelivery) -> ServiceResult<Delivery> {
        let carrier_id = carrier_of(p)?;
        let tracking_number = tracking_number(&req.tracking_number)?;
        if req.window_start >= req.window_end {
            return Err(ServiceError::invalid("window_start must be before window_end"));
        }
        // Checked: the widest windows the numbers allow overflow a plain subtraction.
        if req.window_end.checked_sub(req.window_start).is_none_or(|len| len > 31 * 24 * 3600) {
            return Err(ServiceError::invalid("a delivery window may last 31 days at most"));
        }
        let unit_id = self.delivery_unit(carrier_id, &req).await?;
        let now = self.now();
        let delivery = Delivery {
            id: DeliveryId::at(now),
            carrier_id,
            property_id: req.property_id,
            unit_id,
            tracking_number,
            kind: req.kind,
            window_start: req.window_start,
            window_end: req.window_end,
            eta: None,
            state: DeliveryState::Registered,
            drop_spot_id: None,
            completed_by: None,
            photo_ref: None,
            hash_salt: auth::random_bytes::<16>()?,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_delivery(&delivery).await.map_err(|e| match e {
            doorman_store::StoreError::Conflict(_) => {
                ServiceError::Conflict("this carrier already has a delivery with that tracking number".into())
            }
            other => other.into(),
        })?;
        Ok(delivery)
    }

    /// A carrier sees its deliveries; a driver those they asked access for.
    pub async fn list_deliveries(&self, p: &Principal) -> ServiceResult<Vec<Delivery>> {
        match p {
            Principal::Carrier { carrier_id } => {
                let filter = DeliveryFilter { carrier_id: Some(*carrier_id), ..Default::default() };
                Ok(self.store.list_deliveries(&filter).await?)
            }
            Principal::Driver { driver_id, .. } => {
                let filter = AccessRequestFilter { driver_id: Some(*driver_id), ..Default::default() };
                let mut ids: Vec<DeliveryId> = Vec::new();
                for r in self.store.list_access_requests(&filter).await? {
                    if let Some(id) = r.delivery_id.filter(|id| !ids.contains(id)) {
                        ids.push(id);
                    }
                }
                let mut out = Vec::new();
                for id in ids {
                    if let Some(d) = self.store.get_delivery(id).await? {
                        out.push(d);
                    }
                }
                Ok(out)
            }
            _ => Err(ServiceError::Forbidden("only carriers and drivers list deliveries this way")),
        }
    }

    /// The delivery, if the principal may see it: its carrier, a driver of
    /// that carrier who asked access for it, its unit's residents, its
    /// property's manager.
    pub async fn get_delivery(&self, p: &Principal, id: DeliveryId) -> ServiceResult<Delivery> {
        let d = self.store.get_delivery(id).await?.ok_or(ServiceError::NotFound("delivery"))?;
        let visible = match p {
            Principal::Carrier { carrier_id } => d.carrier_id == *carrier_id,
            Principal::Driver { driver_id, carrier_id } => {
                d.carrier_id == *carrier_id && self.driver_asked_for(*driver_id, id).await?
            }
            Principal::Resident { unit_id, .. } => {
                d.unit_id == *unit_id && self.history_since(p).await?.is_none_or(|since| d.created_at >= since)
            }
            Principal::Manager { .. } => self.managed_property(p, d.property_id).await.is_ok(),
            Principal::Operator => false,
        };
        if visible {
            Ok(d)
        } else {
            Err(ServiceError::NotFound("delivery"))
        }
    }

    pub(crate) async fn driver_asked_for(&self, driver: DriverId, delivery: DeliveryId) -> ServiceResult<bool> {
        let filter = AccessRequestFilter { driver_id: Some(driver), delivery_id: Some(delivery), ..Default::default() };
        Ok(!self.store.list_access_requests(&filter).await?.is_empty())
    }

    async fn carriers_delivery(&self, p: &Principal, id: DeliveryId) -> ServiceResult<Delivery> {
        let Principal::Carrier { carrier_id } = *p else {
            let visible = self.get_delivery(p, id).await.is_ok();
            return Err(Self::hidden_or_forbidden(visible, "delivery", "only the delivery's carrier may do this"));
        };
        match self.store.get_delivery(id).await? {
            Some(d) if d.carrier_id == carrier_id => Ok(d),
            _ => Err(ServiceError::NotFound("delivery")),
        }
    }

    /// The van is on its way: records the ETA (the resident's pre-arrival notice).
    pub async fn update_eta(&self, p: &Principal, id: DeliveryId, req: EtaUpdate) -> ServiceResult<Delivery> {
        let mut d = self.carriers_delivery(p, id).await?;
        let expected = d.state;
        d.state = d.state.transition(DeliveryState::OutForDelivery)?;
        d.eta = Some(req.eta);
        d.updated_at = self.now();
        let event = self.event(EventKind::EtaUpdated { eta: req.eta }, delivery_scope(&d), p)?;
        self.store.update_delivery(&d, expected, &[event]).await?;
        self.events_appended();
        Ok(d)
    }

    pub async fn cancel_delivery(&self, p: &Principal, id: DeliveryId) -> ServiceResult<Delivery> {
        let mut d = self.carriers_delivery(p, id).await?;
        let expected = d.state;
        d.state = d.state.transition(DeliveryState::Cancelled)?;
        d.updated_at = self.now();
        let event = self.event(EventKind::DeliveryCancelled, delivery_scope(&d), p)?;
        self.store.update_delivery(&d, expected, &[event]).await?;
        // Its outstanding credentials are revoked, and online locks told.
        let now = d.updated_at;
        let revocation = crate::audit::grant_revocation(now, *p);
        let revoked = self.store.revoke_live_grants_for_delivery(d.id, now, &revocation).await?;
        self.revoke_at_locks(&revoked).await;
        self.events_appended();
        Ok(d)
    }
}
