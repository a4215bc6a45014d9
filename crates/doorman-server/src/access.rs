//! The driver's side: the package-scan-gated access request, and confirming
//! the drop.

use doorman_api::{AccessGranted, AccessRequest, CompleteDelivery, DoorAccess};
use doorman_domain::policy::{decide_access, AccessFacts, OpenMethod};
use doorman_domain::{
    AccessRequestId, AccessRequestRecord, Delivery, DeliveryId, DeliveryState, DropSpotKind, EventKind, GeoPoint,
    Grant, GrantId, GrantedDoor, Principal, RefusalReason,
};
use doorman_store::AccessContextQuery;

use crate::audit::{new_event, Scope};
use crate::carrier::tracking_number;
use crate::{auth, decode_b64, issuing, Service, ServiceError, ServiceResult};

impl Service {
    /// A driver at a property scanned a parcel: grant credentials for exactly
    /// the doors to the allowed drop spot, or refuse with the first rule that
    /// failed. Every outcome is recorded, durably, before it is answered.
    ///
    /// One read gathers the facts (`Store::access_context`), one write claims
    /// the grant and numbers its doors (`Store::claim_grant_with_sequences`),
    /// and only then are the credentials signed, with the numbers the claim
    /// gave: everything that could make signing fail is checked before the
    /// claim, so a committed grant always gets its credentials.
    ///
    /// Counted and timed for `/metrics` (outcome, latency, refusal reason).
    #[tracing::instrument(skip_all, fields(property = %req.property_id))]
    pub async fn request_access(&self, p: &Principal, req: AccessRequest) -> ServiceResult<AccessGranted> {
        let stopwatch = crate::metrics::Stopwatch::start();
        let result = self.decide_and_grant(p, req).await;
        self.metrics.access_answered(&result, stopwatch.seconds());
        result
    }

    async fn decide_and_grant(&self, p: &Principal, req: AccessRequest) -> ServiceResult<AccessGranted> {
        let Principal::Driver { driver_id, carrier_id } = *p else {
            return Err(ServiceError::Forbidden("only drivers request access"));
        };
        self.driver_requests.take(driver_id, self.now())?;
        let position =
            GeoPoint::parse(req.position.lat, req.position.lon).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let handheld = issuing::parse_handheld_key(&decode_b64("handheld_public_key", &req.handheld_public_key)?)?;
        let handheld_key = handheld.as_sec1_bytes().to_vec();
        let tracking = tracking_number(&req.tracking_number)?;
        let now = self.now();
        let store = &self.store;

        let query = AccessContextQuery {
            property: req.property_id,
            driver: driver_id,
            carrier: carrier_id,
            tracking_number: &tracking,
            now,
        };
        let ctx = store.access_context(&query).await?.ok_or(ServiceError::NotFound("property"))?;
        let driver = ctx.driver.as_ref().ok_or(ServiceError::Unauthenticated)?;
        let property = &ctx.property;
        let delivery = ctx.delivery.as_ref();
        // A trunk delivery also needs the vehicle's last position: read only
        // when the parcel's unit has a trunk among the drop spots.
        let trunks = match delivery {
            Some(d) if ctx.drop_spots.iter().any(|s| s.kind == DropSpotKind::Trunk && s.unit_id == Some(d.unit_id)) => {
                store.trunk_facts(d.unit_id).await?
            }
            _ => Vec::new(),
        };

        let facts = AccessFacts {
            now,
            rules: &self.config.policy,
            at_property: property,
            driver,
            handheld_key: &handheld_key,
            position,
            delivery,
            enablement: ctx.enablement.as_ref(),
            block: ctx.block.as_ref(),
            preferences: &ctx.preferences,
            requested_drop_spot: req.drop_spot_id,
            drop_spots: &ctx.drop_spots,
            access_points: &ctx.access_points,
            locks: &ctx.locks,
            trunks: &trunks,
        };
        let mut record = AccessRequestRecord {
            id: AccessRequestId::at(now),
            driver_id,
            carrier_id,
            property_id: property.id,
            delivery_id: delivery.map(|d| d.id),
            unit_id: delivery.map(|d| d.unit_id),
            position,
            at: now,
            grant_id: None,
            refusal: None,
        };
        let plan = match decide_access(&facts) {
            Ok(plan) => plan,
            Err(reason) => return Err(self.refuse(record, reason).await),
        };
        let Some(delivery) = delivery else {
            return Err(ServiceError::Internal("policy granted without a delivery".into()));
        };

        // The doors to open, each with what signing it needs; nothing after
        // the claim may fail, so whatever can is found out here.
        let expires_at = now + self.config.credential_lifetime_s;
        let mut steps = Vec::new();
        for step in &plan.doors {
            let (Some(lock_id), method) = (step.lock_id, step.method) else { continue };
            let cti = match method {
                OpenMethod::Credential => Some(auth::random_bytes::<16>()?),
                OpenMethod::DoorCode => None,
                OpenMethod::Walk => continue,
            };
            let Some(lock) = ctx.locks.iter().find(|l| l.id == lock_id) else {
                return Err(ServiceError::NotFound("lock"));
            };
            // The handheld checks the lock's challenge against this key.
            let lock_key = cti.map(|_| doorman_domain::serde_b64::encode(&lock.device_public_key));
            let name = ctx
                .access_points
                .iter()
                .find(|a| a.id == step.access_point_id)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            steps.push((step.access_point_id, lock_id, cti, name, lock_key));
        }
        if steps.iter().any(|(_, _, cti, _, _)| cti.is_some()) {
            issuing::check_issuable(&self.config.issuer, now, expires_at)?;
        }
        let grant_id = GrantId::at(now);
        let grant = Grant {
            id: grant_id,
            delivery_id: delivery.id,
            driver_id,
            carrier_id,
            property_id: property.id,
            unit_id: delivery.unit_id,
            drop_spot_id: plan.drop_spot_id,
            doors: steps
                .iter()
                .map(|(access_point_id, lock_id, cti, _, _)| GrantedDoor {
                    access_point_id: *access_point_id,
                    lock_id: *lock_id,
                    credential_id: cti.map(|c| c.to_vec()),
                    sequence: None, // numbered by the claim
                    door_code: cti.is_none(),
                })
                .collect(),
            issued_at: now,
            expires_at,
            revoked_at: None,
        };
        record.grant_id = Some(grant_id);
        // The request and its grant enter the log with the claim, or not at all.
        let scope = request_scope(&record);
        let logged = [
            new_event(EventKind::AccessRequested { request_id: record.id }, now, scope, Some(*p))?,
            new_event(
                EventKind::AccessGranted {
                    request_id: record.id,
                    grant_id,
                    drop_spot_id: plan.drop_spot_id,
                    locks: grant.doors.iter().map(|door| door.lock_id).collect(),
                    expires_at,
                },
                now,
                scope,
                Some(*p),
            )?,
        ];
        let Some((granted, log_indexes)) = store.claim_grant_with_sequences(&grant, &record, now, &logged).await?
        else {
            record.grant_id = None;
            record.id = AccessRequestId::at(now);
            return Err(self.refuse(record, RefusalReason::AccessAlreadyGranted).await);
        };
        self.events_appended();

        let delivery_hash = issuing::delivery_hash(&delivery.hash_salt, delivery.id);
        let keys = self.keys();
        let mut doors = Vec::with_capacity(steps.len());
        for ((access_point_id, lock_id, cti, name, lock_public_key), door) in steps.into_iter().zip(&granted.doors) {
            let sequence =
                door.sequence.ok_or_else(|| ServiceError::Internal("the claim left a door unnumbered".into()))?;
            let (credential, door_code) = match cti {
                Some(cti) => {
                    let params = issuing::CredentialParams {
                        lock_id,
                        sequence,
                        cti,
                        delivery_hash,
                        handheld_key: &handheld_key,
                        issued_at: now,
                        expires_at,
                    };
                    let cred = issuing::sign_credential(&keys, &self.config.issuer, &params, handheld)?;
                    (Some(doorman_domain::serde_b64::encode(&cred)), None)
                }
                None => (None, Some(issuing::door_code(&keys.door_code_master, lock_id, now, sequence)?)),
            };
            doors.push(DoorAccess {
                access_point_id,
                access_point_name: name,
                lock_id,
                lock_public_key,
                credential,
                door_code,
            });
        }
        let drop_spot_name =
            ctx.drop_spots.iter().find(|s| s.id == plan.drop_spot_id).map(|s| s.name.clone()).unwrap_or_default();
        let log_index = log_indexes
            .get(1)
            .copied()
            .ok_or_else(|| ServiceError::Internal("the claim logged no grant entry".into()))?;
        tracing::info!(grant = %grant_id, doors = doors.len(), log_index, "access granted");
        Ok(AccessGranted {
            request_id: record.id,
            grant_id,
            delivery_id: delivery.id,
            drop_spot_id: plan.drop_spot_id,
            drop_spot_name,
            doors,
            expires_at,
            log_index,
        })
    }

    /// Records the refusal, with its log entries, and returns the error to
    /// answer with.
    async fn refuse(&self, mut record: AccessRequestRecord, reason: RefusalReason) -> ServiceError {
        record.refusal = Some(reason);
        tracing::info!(reason = reason.as_str(), "access refused");
        let actor = Principal::Driver { driver_id: record.driver_id, carrier_id: record.carrier_id };
        let scope = request_scope(&record);
        let events = [
            new_event(EventKind::AccessRequested { request_id: record.id }, record.at, scope, Some(actor)),
            new_event(EventKind::AccessRefused { request_id: record.id, reason }, record.at, scope, Some(actor)),
        ];
        let events = match events.into_iter().collect::<ServiceResult<Vec<_>>>() {
            Ok(events) => events,
            Err(e) => return e,
        };
        match self.store.record_access_request(&record, &events).await {
            Ok(_) => {
                self.events_appended();
                ServiceError::Refused { reason, request_id: record.id }
            }
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
            let visible = self.get_delivery(p, id).await.is_ok();
            return Err(Self::hidden_or_forbidden(visible, "delivery", "only drivers confirm a drop"));
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
        let scope = Scope { driver: Some(driver_id), ..crate::carrier::delivery_scope(&d) };
        let delivered = match d.kind {
            // A return: the resident is told it was collected.
            doorman_domain::DeliveryKind::Pickup => {
                EventKind::ReturnCollected { drop_spot_id: req.drop_spot_id, photo_ref: d.photo_ref.clone() }
            }
            doorman_domain::DeliveryKind::Drop => {
                EventKind::Delivered { drop_spot_id: req.drop_spot_id, photo_ref: d.photo_ref.clone() }
            }
        };
        let event = new_event(delivered, now, scope, Some(*p))?;
        // The state, the grant used up and the event, in one transaction.
        self.store.complete_delivery(&d, expected, now, &[event]).await?;
        self.events_appended();
        Ok(d)
    }
}

/// Whom an access request's events concern: the building, the parcel's unit
/// and delivery (when the parcel is known), the carrier and the driver.
fn request_scope(record: &AccessRequestRecord) -> Scope {
    Scope {
        property: Some(record.property_id),
        unit: record.unit_id,
        carrier: Some(record.carrier_id),
        driver: Some(record.driver_id),
        delivery: record.delivery_id,
    }
}
