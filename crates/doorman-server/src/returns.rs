//! Returns: a resident schedules one (which carrier collects it, at which
//! drop spot it waits, when); it is a delivery of kind `pickup` whose drop
//! spot is set from the start, so the carrier's driver who scans its
//! tracking number gets a pickup grant to exactly that spot; collecting it
//! (`complete_delivery`) logs `ReturnCollected` for the resident.

use doorman_api::ScheduleReturn;
use doorman_domain::{Delivery, DeliveryId, DeliveryKind, DeliveryState, EventKind, Principal, UnitId};
use doorman_store::StoreError;

use crate::audit::Scope;
use crate::{auth, carrier, Service, ServiceError, ServiceResult};

/// The longest window a return may be collected in.
const MAX_RETURN_WINDOW_S: i64 = 14 * 24 * 3600;

impl Service {
    /// Schedules a return from the unit (its residents only).
    pub async fn schedule_return(&self, p: &Principal, unit: UnitId, req: ScheduleReturn) -> ServiceResult<Delivery> {
        self.unit_resident(p, unit).await?;
        let u = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?;
        let now = self.now();
        if req.window_start >= req.window_end || req.window_end <= now {
            return Err(ServiceError::invalid("window_end must be after window_start and in the future"));
        }
        if req.window_end.checked_sub(req.window_start).is_none_or(|len| len > MAX_RETURN_WINDOW_S) {
            return Err(ServiceError::invalid("a return window may last 14 days at most"));
        }
        let enablement = match self.store.get_enablement(u.property_id, req.carrier_id).await? {
            Some(e) if e.enabled => e,
            _ => return Err(ServiceError::invalid("carrier_id: not a carrier enabled at this property")),
        };
        match self.store.get_drop_spot(req.drop_spot_id).await? {
            Some(s)
                if s.property_id == u.property_id
                    && s.unit_id.is_none_or(|x| x == unit)
                    && enablement.allowed_drop_spots.contains(&s.id) => {}
            _ => return Err(ServiceError::invalid("drop_spot_id: not a spot this carrier may use for this unit")),
        }
        let tracking_number = match &req.tracking_number {
            Some(t) => carrier::tracking_number(t)?,
            None => format!("RET-{}", hex::encode_upper(auth::random_bytes::<6>()?)),
        };
        let delivery = Delivery {
            id: DeliveryId::at(now),
            carrier_id: req.carrier_id,
            property_id: u.property_id,
            unit_id: unit,
            tracking_number: tracking_number.clone(),
            kind: DeliveryKind::Pickup,
            window_start: req.window_start,
            window_end: req.window_end,
            eta: None,
            state: DeliveryState::Registered,
            drop_spot_id: Some(req.drop_spot_id),
            completed_by: None,
            photo_ref: None,
            hash_salt: auth::random_bytes::<16>()?,
            created_at: now,
            updated_at: now,
        };
        let scope: Scope = carrier::delivery_scope(&delivery);
        let event =
            self.event(EventKind::ReturnScheduled { drop_spot_id: req.drop_spot_id, tracking_number }, scope, p)?;
        self.store.insert_delivery_logged(&delivery, &[event]).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                ServiceError::Conflict("this carrier already has a delivery with that tracking number".into())
            }
            other => other.into(),
        })?;
        self.events_appended();
        Ok(delivery)
    }
}
