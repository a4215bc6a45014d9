//! Bodies of the tenancy routes: a property handed to another manager, the
//! properties that enabled a carrier (with what a parcel names: its units'
//! labels), and the name filter of the carrier and manager lists.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{DropSpotId, GeoPoint, ManagerId, PropertyId, PropertyKind, UnitId, WeeklyHours};

/// `POST /v1/properties/{property_id}/handover`: the manager who takes the
/// property over (an existing manager).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Handover {
    pub manager_id: ManagerId,
}

/// A unit as a carrier sees it: what is printed on a parcel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitLabel {
    pub id: UnitId,
    pub label: String,
}

/// `GET /v1/carrier/properties`: a property that enabled the calling
/// carrier, with its units and the terms of the enablement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnabledProperty {
    pub property_id: PropertyId,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    /// IANA time zone the hours are in.
    pub time_zone: String,
    pub kind: PropertyKind,
    /// By label.
    pub units: Vec<UnitLabel>,
    /// When the carrier's drivers may enter (empty: any time).
    pub hours: Vec<WeeklyHours>,
    /// Where they may leave parcels (empty: any of the property's).
    pub allowed_drop_spots: Vec<DropSpotId>,
}

/// `?name=`: a case-insensitive part of the name (all when absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    #[serde(default)]
    pub name: Option<String>,
}
