//! The driver's side: the package-scan-gated access request, and confirming
//! the drop.

use doorman_api::{AccessGranted, AccessRequest, CompleteDelivery, DoorAccess};
use doorman_domain::policy::{decide_access, AccessFacts, OpenMethod};
use doorman_domain::{
    AccessRequestId, AccessRequestRecord, Delivery, DeliveryId, DeliveryState, GeoPoint, Grant, GrantId, GrantedDoor,
    Principal, RefusalReason, UnitPreferences,
};

use crate::carrier::tracking_number;
use crate::{auth, decode_b64, issuing, Service, ServiceError, ServiceResult};

impl Service {
    /// A driver at a property scanned a parcel: grant credentials for exactly
    /// the doors to the allowed drop spot, or refuse with the first rule that
    /// failed. Every outcome is recorded.
    #[tracing::instrument(skip_all, fields(property = %req.property_id))]
    pub async fn request_access(&self, p: &Principal, req: AccessRequest) -> ServiceResult<AccessGranted> {
        let Principal::Driver { driver_id, carrier_id } = *p else {
            return Err(ServiceError::Forbidden("only drivers request access"));
        };
        let position =
            GeoPoint::parse(req.position.lat, req.position.lon).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let handheld_key =
            issuing::validate_handheld_key(&decode_b64("handheld_public_key", &req.handheld_public_key)?)?;
        let tracking = tracking_number(&req.tracking_number)?;
        let now = self.now();
        let store = &self.store;

        let property = store.get_property(req.property_id).await?.ok_or(ServiceError::NotFound("property"))?;
        let driver = store.get_driver(driver_id).await?.ok_or(ServiceError::Unauthenticated)?;
        let delivery = store.find_delivery(carrier_id, &tracking).await?;
        let enablement = store.get_enablement(property.id, carrier_id).await?;
        let (block, preferences) = match &delivery {
            Some(d) => (store.active_block(d.unit_id, now).await?, store.get_preferences(d.unit_id).await?),
            None => (None, UnitPreferences::default()),
        };
        let drop_spots = store.list_drop_spots(property.id).await?;
        let access_points = store.list_access_points(property.id).await?;
        let locks = store.list_locks(property.id).await?;

        let facts = AccessFacts {
            now,
            rules: &self.config.policy,
            at_property: &property,
            driver: &driver,
            handheld_key: &handheld_key,
            position,
            delivery: delivery.as_ref(),
            enablement: enablement.as_ref(),
            block: block.as_ref(),
            preferences: &preferences,
            requested_drop_spot: req.drop_spot_id,
            drop_spots: &drop_spots,
            access_points: &access_points,
            locks: &locks,
        };
        let mut record = AccessRequestRecord {
            id: AccessRequestId::random(),
            driver_id,
            carrier_id,
            property_id: property.id,
            delivery_id: delivery.as_ref().map(|d| d.id),
            unit_id: delivery.as_ref().map(|d| d.unit_id),
            position,
            at: now,
            grant_id: None,
            refusal: None,
        };
        let plan = match decide_access(&facts) {
            Ok(plan) => plan,
            Err(reason) => return Err(self.refuse(record, reason).await),
        };
        let Some(delivery) = delivery.as_ref() else {
            return Err(ServiceError::Internal("policy granted without a delivery".into()));
        };

        let expires_at = now + self.config.credential_lifetime_s;
        let delivery_hash = issuing::delivery_hash(&delivery.hash_salt, delivery.id);
        let grant_id = GrantId::random();
        let mut granted_doors = Vec::new();
        let mut doors = Vec::new();
        for step in &plan.doors {
            let (Some(lock_id), method) = (step.lock_id, step.method) else { continue };
            let lock = locks.iter().find(|l| l.id == lock_id).ok_or(ServiceError::NotFound("lock"))?;
            let sequence = store.next_lock_sequence(lock_id).await?;
            let ap_name =
                access_points.iter().find(|a| a.id == step.access_point_id).map(|a| a.name.clone()).unwrap_or_default();
            let (credential_id, credential, door_code) = match method {
                OpenMethod::Credential => {
                    let cti = auth::random_bytes::<16>()?;
                    let cred = issuing::credential(
                        &self.keys,
                        &self.config.issuer,
                        &issuing::CredentialParams {
                            lock_id,
                            sequence,
                            cti,
                            delivery_hash,
                            handheld_key: &handheld_key,
                            issued_at: now,
                            expires_at,
                        },
                    )?;
                    (Some(cti.to_vec()), Some(doorman_domain::serde_b64::encode(&cred)), None)
                }
                OpenMethod::DoorCode => {
                    (None, None, Some(issuing::door_code(&self.keys.door_code_master, lock.id, now, sequence)?))
                }
                OpenMethod::Walk => continue,
            };
            granted_doors.push(GrantedDoor {
                access_point_id: step.access_point_id,
                lock_id,
                credential_id,
                sequence: Some(sequence),
                door_code: door_code.is_some(),
            });
            doors.push(DoorAccess {
                access_point_id: step.access_point_id,
                access_point_name: ap_name,
                lock_id,
                credential,
                door_code,
            });
        }
        let grant = Grant {
            id: grant_id,
            delivery_id: delivery.id,
            driver_id,
            carrier_id,
            property_id: property.id,
            unit_id: delivery.unit_id,
            drop_spot_id: plan.drop_spot_id,
            doors: granted_doors,
            issued_at: now,
            expires_at,
            revoked_at: None,
        };
        record.grant_id = Some(grant_id);
        if !store.claim_grant(&grant, &record, now).await? {
            record.grant_id = None;
            record.id = AccessRequestId::random();
            return Err(self.refuse(record, RefusalReason::AccessAlreadyGranted).await);
        }
        let drop_spot_name =
            drop_spots.iter().find(|s| s.id == plan.drop_spot_id).map(|s| s.name.clone()).unwrap_or_default();
        tracing::info!(grant = %grant_id, doors = doors.len(), "access granted");
        Ok(AccessGranted {
            request_id: record.id,
            grant_id,
            delivery_id: delivery.id,
            drop_spot_id: plan.drop_spot_id,
            drop_spot_name,
            doors,
            expires_at,
        })
    }

    /// Records the refusal and returns the error to answer with.
    async fn refuse(&self, mut record: AccessRequestRecord, reason: RefusalReason) -> ServiceError {
        record.refusal = Some(reason);
        tracing::info!(reason = reason.as_str(), "access refused");
        match self.store.record_access_request(&record).await {
            Ok(()) => ServiceError::Refused { reason, request_id: record.id },
            Err(e) => e.into(),
        }
    }

    /// The driver confirms the drop at the granted spot; the delivery is done
    /// and its credentials are spent.
    pub async fn complete_delivery(
        &self,
        p: &Principal,
        id: DeliveryId,
        req: CompleteDelivery,
    ) -> ServiceResult<Delivery> {
        let Principal::Driver { driver_id, carrier_id } = *p else {
            return Err(ServiceError::Forbidden("only drivers confirm a drop"));
        };
        let mut d = match self.store.get_delivery(id).await? {
            Some(d) if d.carrier_id == carrier_id => d,
            _ => return Err(ServiceError::NotFound("delivery")),
        };
        let grants = self.store.list_grants(id).await?;
        let Some(grant) = grants.iter().find(|g| g.driver_id == driver_id && g.revoked_at.is_none()) else {
            return Err(ServiceError::NotFound("delivery"));
        };
        if grant.drop_spot_id != req.drop_spot_id {
            return Err(ServiceError::invalid("drop_spot_id is not the drop spot access was granted to"));
        }
        if let Some(photo) = &req.photo_ref {
            crate::text_field("photo_ref", photo, 500)?;
        }
        let now = self.now();
        let expected = d.state;
        d.state = d.state.transition(DeliveryState::Delivered)?;
        d.drop_spot_id = Some(req.drop_spot_id);
        d.completed_by = Some(driver_id);
        d.photo_ref = req.photo_ref;
        d.updated_at = now;
        self.store.update_delivery(&d, expected).await?;
        self.store.close_live_grant(id, now).await?;
        Ok(d)
    }
}
