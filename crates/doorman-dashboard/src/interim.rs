//! INTERIM, until contract A2 lands on main (`Service::carrier_properties`,
//! `Service::list_carriers(p, name)` open to managers): the same shapes, so
//! that the pages compile and render. Deleted at the merge.

use doorman_domain::{Carrier, Principal, PropertyId, UnitId};
use doorman_server::{Service, ServiceError, ServiceResult};

pub(crate) struct UnitLabel {
    pub id: UnitId,
    pub label: String,
}

pub(crate) struct EnabledProperty {
    pub property_id: PropertyId,
    pub name: String,
    pub time_zone: String,
    pub units: Vec<UnitLabel>,
}

pub(crate) async fn carrier_properties(_s: &Service, _p: &Principal) -> ServiceResult<Vec<EnabledProperty>> {
    Ok(Vec::new())
}

pub(crate) async fn list_carriers(s: &Service, p: &Principal) -> ServiceResult<Vec<Carrier>> {
    match s.list_carriers(p).await {
        Err(ServiceError::Forbidden(_)) => Ok(Vec::new()),
        other => other,
    }
}
