//! Who is asking. Every API token resolves to exactly one principal, and every
//! authorization decision is a function of the principal and the resource.

use serde::{Deserialize, Serialize};

use crate::{CarrierId, DriverId, ManagerId, ResidentId, UnitId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Principal {
    Operator,
    Manager { manager_id: ManagerId },
    Carrier { carrier_id: CarrierId },
    Driver { driver_id: DriverId, carrier_id: CarrierId },
    Resident { resident_id: ResidentId, unit_id: UnitId },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Operator,
    Manager,
    Carrier,
    Driver,
    Resident,
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Operator => Role::Operator,
            Principal::Manager { .. } => Role::Manager,
            Principal::Carrier { .. } => Role::Carrier,
            Principal::Driver { .. } => Role::Driver,
            Principal::Resident { .. } => Role::Resident,
        }
    }
}
