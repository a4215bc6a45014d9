//! Read models: what a page shows, gathered in one call with the same
//! authorization as the API (another tenant's resource is "not found"), so
//! that the dashboard never reads the store itself. Each one joins records
//! the principal may already see one by one (a unit and its building, an
//! enablement and its carrier's name, a delivery and its building's time
//! zone); none reveals anything the JSON API would not.

use std::collections::BTreeMap;

use doorman_domain::{Block, CarrierEnablement, Delivery, DropSpot, Principal, PropertyId, Unit, UnitId};

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
}

/// A carrier's enablement at a property, with the carrier's name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedEnablement {
    pub enablement: CarrierEnablement,
    /// Empty if the carrier is gone.
    pub carrier_name: String,
}

/// A delivery with its building's time zone, so that its window and ETA can
/// be shown as the building's local time.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalDelivery {
    pub delivery: Delivery,
    /// Empty if the property is gone.
    pub time_zone: String,
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
        Ok(UnitOverview { unit, property_name: property.name, time_zone: property.time_zone, active_block })
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
    /// access for), each with its building's time zone.
    pub async fn list_local_deliveries(&self, p: &Principal) -> ServiceResult<Vec<LocalDelivery>> {
        let deliveries = self.list_deliveries(p).await?;
        let mut zones: BTreeMap<PropertyId, String> = BTreeMap::new();
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let time_zone = match zones.get(&delivery.property_id) {
                Some(tz) => tz.clone(),
                None => {
                    let tz =
                        self.store.get_property(delivery.property_id).await?.map(|p| p.time_zone).unwrap_or_default();
                    zones.insert(delivery.property_id, tz.clone());
                    tz
                }
            };
            out.push(LocalDelivery { delivery, time_zone });
        }
        Ok(out)
    }
}
