//! Block and divert: the directory of pickup points, and the diversion a
//! block tells the carriers about (one `Diverted` event per open delivery
//! of the unit, written with the block).

use doorman_api::CreatePickupPoint;
use doorman_domain::hours::validate_time_zone;
use doorman_domain::{Delivery, Event, EventKind, PickupPoint, PickupPointId, Principal, UnitId, UnitPreferences};
use doorman_store::DeliveryFilter;

use crate::audit::Scope;
use crate::{text_field, Service, ServiceError, ServiceResult};

/// Where a blocked unit's parcels go when its residents named neither a
/// pickup point nor an alternate address: the carrier keeps them.
pub const HOLD_AT_CARRIER: &str = "hold at the carrier: the residents named no pickup point or alternate address";

/// Most entries in each of a unit's allow and block lists.
pub const MAX_LIST: usize = 100;

impl Service {
    /// Adds a pickup point to the directory (the operator or a manager).
    pub async fn create_pickup_point(&self, p: &Principal, req: CreatePickupPoint) -> ServiceResult<PickupPoint> {
        if !matches!(p, Principal::Operator | Principal::Manager { .. }) {
            return Err(ServiceError::Forbidden("only the operator and managers add pickup points"));
        }
        validate_time_zone(&req.time_zone).map_err(|e| ServiceError::invalid(e.to_string()))?;
        if req.hours.is_empty() || req.hours.len() > 50 {
            return Err(ServiceError::invalid("hours: give between 1 and 50 opening slots"));
        }
        for slot in &req.hours {
            slot.validate().map_err(|e| ServiceError::invalid(format!("hours: {e}")))?;
        }
        let point = PickupPoint {
            id: PickupPointId::random(),
            name: text_field("name", &req.name, 200)?,
            address: text_field("address", &req.address, 500)?,
            time_zone: req.time_zone,
            hours: req.hours,
            created_at: self.now(),
        };
        self.store.insert_pickup_point(&point).await?;
        Ok(point)
    }

    /// The directory, for anyone signed in (residents choose from it).
    pub async fn list_pickup_points(&self, _p: &Principal) -> ServiceResult<Vec<PickupPoint>> {
        Ok(self.store.list_pickup_points().await?)
    }

    /// Checks the resident's choices of pickup point and lists.
    pub(crate) async fn check_choices(&self, prefs: &UnitPreferences) -> ServiceResult<()> {
        if let Some(id) = prefs.pickup_point_id {
            if self.store.get_pickup_point(id).await?.is_none() {
                return Err(ServiceError::invalid("pickup_point_id: no such pickup point in the directory"));
            }
        }
        let lengths = [
            ("allowed_carriers", prefs.allowed_carriers.len()),
            ("blocked_carriers", prefs.blocked_carriers.len()),
            ("allowed_drivers", prefs.allowed_drivers.len()),
            ("blocked_drivers", prefs.blocked_drivers.len()),
        ];
        for (name, len) in lengths {
            if len > MAX_LIST {
                return Err(ServiceError::invalid(format!("{name}: at most {MAX_LIST} entries")));
            }
        }
        Ok(())
    }

    /// Where the unit's deliveries go while it is blocked, in words, with
    /// the pickup point's id when it is one. Residents who chose neither a
    /// pickup point nor an alternate address still block: the carrier is
    /// told to hold the parcel ([`HOLD_AT_CARRIER`]).
    async fn divert_target(&self, unit: UnitId) -> ServiceResult<(String, Option<PickupPointId>)> {
        let prefs = self.store.get_preferences(unit).await?;
        if let Some(id) = prefs.pickup_point_id {
            if let Some(point) = self.store.get_pickup_point(id).await? {
                return Ok((format!("{}, {}", point.name, point.address), Some(id)));
            }
        }
        Ok(prefs.alternate_address.map_or_else(|| (HOLD_AT_CARRIER.to_string(), None), |a| (a, None)))
    }

    /// The `Diverted` events of a block of `unit`: one per open delivery,
    /// addressed to its carrier. Returns the deliveries too.
    pub(crate) async fn diversions(&self, p: &Principal, unit: UnitId) -> ServiceResult<(Vec<Delivery>, Vec<Event>)> {
        let (to, pickup_point_id) = self.divert_target(unit).await?;
        let filter = DeliveryFilter { unit_id: Some(unit), ..Default::default() };
        let open: Vec<Delivery> =
            self.store.list_deliveries(&filter).await?.into_iter().filter(|d| d.state.is_open()).collect();
        let mut events = Vec::with_capacity(open.len());
        for d in &open {
            let scope = Scope {
                property: Some(d.property_id),
                unit: Some(d.unit_id),
                carrier: Some(d.carrier_id),
                driver: None,
                delivery: Some(d.id),
            };
            events.push(self.event(EventKind::Diverted { to: to.clone(), pickup_point_id }, scope, p)?);
        }
        Ok((open, events))
    }
}
