//! Life over time: a carrier dropped from a property (its outstanding
//! credentials there revoked and pushed to the locks), a resident moving out
//! (their tokens and sessions end; the unit's history stays with the unit),
//! a property handed to another manager, the properties that enabled a
//! carrier, and a delivery announced by the unit's label.
//!
//! One rule decides how far back a resident reads their unit's history:
//! [`Service::history_since`], their move-in (`created_at`). Every resident
//! read path (deliveries, access requests, clips, and through
//! [`doorman_domain::Viewer::since`] the feed, the SSE stream, the audit
//! entries and webhooks) asks it.

use doorman_api::{CreateDelivery, EnabledProperty, Handover, UnitLabel};
use doorman_domain::{
    CarrierEnablement, CarrierId, Event, EventKind, Invitation, Principal, Property, PropertyId, Resident, ResidentId,
    UnitId, UnixSeconds,
};
use doorman_store::{DeliveryFilter, StoreError};

use crate::{text_field, Service, ServiceError, ServiceResult};

/// What a resident may read of their unit: the items from their move-in on.
pub(crate) fn since_move_in<T>(items: Vec<T>, since: Option<UnixSeconds>, at: impl Fn(&T) -> UnixSeconds) -> Vec<T> {
    match since {
        Some(since) => items.into_iter().filter(|item| at(item) >= since).collect(),
        None => items,
    }
}

/// Whether `name` contains `part`, ignoring case (no filter: every name).
fn name_matches(name: &str, part: Option<&str>) -> bool {
    part.map(str::trim).filter(|p| !p.is_empty()).is_none_or(|p| name.to_lowercase().contains(&p.to_lowercase()))
}

impl Service {
    /// From when `p` reads a unit's history: a resident from their move-in
    /// (a resident who moved out, or is unknown, from never: `i64::MAX`);
    /// anyone else from the start (None).
    pub(crate) async fn history_since(&self, p: &Principal) -> ServiceResult<Option<UnixSeconds>> {
        let Principal::Resident { resident_id, .. } = p else { return Ok(None) };
        Ok(Some(match self.store.get_resident(*resident_id).await? {
            Some(r) if r.moved_out_at.is_none() => r.created_at,
            _ => UnixSeconds::MAX,
        }))
    }

    /// `DELETE /v1/properties/{property_id}/carriers/{carrier_id}`: the
    /// carrier may no longer enter; its outstanding credentials there are
    /// revoked and pushed to the locks.
    pub async fn remove_enablement(
        &self,
        p: &Principal,
        property: PropertyId,
        carrier: CarrierId,
    ) -> ServiceResult<()> {
        self.managed_property(p, property).await?;
        if self.store.get_enablement(property, carrier).await?.is_none() {
            return Err(ServiceError::NotFound("enablement"));
        }
        let what = format!("carrier {carrier} removed from the property");
        let event = self.carrier_configuration_event(p, property, carrier, what)?;
        match self.withdraw_carrier(p, property, carrier, None, event).await {
            Err(ServiceError::NotFound(_)) => Err(ServiceError::NotFound("enablement")),
            other => other,
        }
    }

    /// Withdraws the carrier at the property (removed, or replaced by a
    /// disabled `replacement`) in one transaction with `event`, an event on
    /// each of its open deliveries there and the revocation of its live
    /// grants there; then tells the locks.
    pub(crate) async fn withdraw_carrier(
        &self,
        p: &Principal,
        property: PropertyId,
        carrier: CarrierId,
        replacement: Option<&CarrierEnablement>,
        event: Event,
    ) -> ServiceResult<()> {
        let now = self.now();
        let mut events = vec![event];
        let filter = DeliveryFilter { property_id: Some(property), carrier_id: Some(carrier), ..Default::default() };
        for d in self.store.list_deliveries(&filter).await?.into_iter().filter(|d| d.state.is_open()) {
            let what = format!(
                "carrier {carrier} may no longer enter the property: delivery {} ({}) will not be let in",
                d.id, d.tracking_number
            );
            events.push(self.event(EventKind::ConfigurationChanged { what }, crate::carrier::delivery_scope(&d), p)?);
        }
        let revocation = crate::audit::grant_revocation(now, *p);
        let revoked = self
            .store
            .withdraw_enablement(property, carrier, replacement, now, &events, &revocation)
            .await?
            .ok_or(ServiceError::NotFound("enablement"))?;
        self.events_appended();
        // Online locks refuse the revoked credentials from now on.
        self.revoke_at_locks(&revoked).await;
        Ok(())
    }

    /// `POST /v1/properties/{property_id}/handover`: another manager takes
    /// the property over; its old manager loses access.
    pub async fn hand_over_property(
        &self,
        p: &Principal,
        property: PropertyId,
        req: Handover,
    ) -> ServiceResult<Property> {
        let current = self.managed_property(p, property).await?;
        if req.manager_id == current.manager_id {
            return Err(ServiceError::invalid("manager_id: already manages this property"));
        }
        let what = format!(
            "property {property} handed over from manager {} to manager {}",
            current.manager_id, req.manager_id
        );
        let event = self.configuration_event(p, property, what)?;
        let handed = self
            .store
            .hand_over_property(property, current.manager_id, req.manager_id, &[event])
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ServiceError::invalid("manager_id: no such manager"),
                other => other.into(),
            })?
            .ok_or(ServiceError::NotFound("property"))?;
        self.events_appended();
        Ok(handed)
    }

    /// `GET /v1/units/{unit_id}/residents`: the unit's current residents.
    pub async fn list_unit_residents(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<Resident>> {
        self.unit_of_its_manager(p, unit).await?;
        let residents = self.store.list_residents(unit).await?;
        Ok(residents.into_iter().filter(|r| r.moved_out_at.is_none()).collect())
    }

    /// `GET /v1/units/{unit_id}/invitations`: every invitation to the unit.
    pub async fn list_unit_invitations(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<Invitation>> {
        self.unit_of_its_manager(p, unit).await?;
        Ok(self.store.list_invitations(unit).await?)
    }

    /// `POST /v1/units/{unit_id}/residents/{resident_id}/move-out`: the
    /// resident's tokens and sessions end now; the unit keeps its history.
    pub async fn move_out_resident(
        &self,
        p: &Principal,
        unit: UnitId,
        resident: ResidentId,
    ) -> ServiceResult<Resident> {
        let u = self.unit_of_its_manager(p, unit).await?;
        let r = match self.store.get_resident(resident).await? {
            Some(r) if r.unit_id == unit => r,
            _ => return Err(ServiceError::NotFound("resident")),
        };
        if r.moved_out_at.is_some() {
            return Err(ServiceError::Conflict("the resident has already moved out".into()));
        }
        let what = format!("resident {} ({}) moved out of unit {} \"{}\"", r.id, r.name, unit, u.label);
        let mut event = self.configuration_event(p, u.property_id, what)?;
        event.unit_id = Some(unit);
        let moved = self
            .store
            .move_out_resident(resident, self.now(), &[event])
            .await?
            .ok_or_else(|| ServiceError::Conflict("the resident has already moved out".into()))?;
        self.events_appended();
        Ok(moved)
    }

    /// `GET /v1/carrier/properties`: the properties that enabled the
    /// calling carrier, with their units' labels.
    pub async fn carrier_properties(&self, p: &Principal) -> ServiceResult<Vec<EnabledProperty>> {
        // A driver reads its carrier's directory: it names the building it is at.
        let (Principal::Carrier { carrier_id } | Principal::Driver { carrier_id, .. }) = p else {
            return Err(ServiceError::Forbidden(
                "only carriers and their drivers list the properties that enabled them",
            ));
        };
        let mut out = Vec::new();
        for e in self.store.carrier_enablements(*carrier_id).await? {
            let Some(prop) = self.store.get_property(e.property_id).await? else { continue };
            let units = self.store.list_units(prop.id).await?;
            out.push(EnabledProperty {
                property_id: prop.id,
                name: prop.name,
                address: prop.address,
                location: prop.location,
                time_zone: prop.time_zone,
                kind: prop.kind,
                units: units.into_iter().map(|u| UnitLabel { id: u.id, label: u.label }).collect(),
                hours: e.hours,
                allowed_drop_spots: e.allowed_drop_spots,
            });
        }
        Ok(out)
    }

    /// Who may list carriers and managers: the operator and managers (a
    /// manager picks the carrier to enable, the manager to hand over to).
    pub(crate) fn may_list_parties(p: &Principal) -> ServiceResult<()> {
        match p {
            Principal::Operator | Principal::Manager { .. } => Ok(()),
            _ => Err(ServiceError::Forbidden("only the operator and managers list carriers and managers")),
        }
    }

    /// A `?name=` filter, checked (bounded text); None when absent or blank.
    pub(crate) fn name_filter(part: Option<&str>) -> ServiceResult<Option<String>> {
        match part.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Ok(Some(text_field("name", p, 200)?)),
            None => Ok(None),
        }
    }

    /// The items whose name contains `part`, ignoring case.
    pub(crate) fn named<T>(items: Vec<T>, part: Option<&str>, name: impl Fn(&T) -> &str) -> Vec<T> {
        items.into_iter().filter(|item| name_matches(name(item), part)).collect()
    }

    /// The unit a new delivery names: by id at the property, or by label at
    /// a property that enabled the carrier. Anything else is the same 422
    /// (no word on whether the property or the label exists).
    pub(crate) async fn delivery_unit(&self, carrier: CarrierId, req: &CreateDelivery) -> ServiceResult<UnitId> {
        let unknown = || ServiceError::invalid("unit_id: no such unit at property_id");
        match (req.unit_id, &req.unit_label) {
            (Some(_), Some(_)) => Err(ServiceError::invalid("give unit_id or unit_label, not both")),
            (None, None) => Err(ServiceError::invalid("unit_id or unit_label is required")),
            (Some(id), None) => match self.store.get_unit(id).await? {
                Some(u) if u.property_id == req.property_id => Ok(u.id),
                _ => Err(unknown()),
            },
            (None, Some(label)) => {
                let label = text_field("unit_label", label, 100)?;
                let unknown_label = || ServiceError::invalid("unit_label: no such unit at property_id");
                match self.store.get_enablement(req.property_id, carrier).await? {
                    Some(e) if e.enabled => {}
                    _ => return Err(unknown_label()),
                }
                let units = self.store.list_units(req.property_id).await?;
                if let Some(u) = units.iter().find(|u| u.label.trim() == label) {
                    return Ok(u.id);
                }
                let folded = label.to_lowercase();
                let mut alike = units.iter().filter(|u| u.label.trim().to_lowercase() == folded);
                match (alike.next(), alike.next()) {
                    (Some(u), None) => Ok(u.id),
                    (Some(_), Some(_)) => Err(ServiceError::invalid(
                        "unit_label: several units match ignoring case; give the label exactly",
                    )),
                    _ => Err(unknown_label()),
                }
            }
        }
    }
}
