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

/// Who caused an event, as the log records it: the principal, or only
/// their role. An event that carriers or drivers read names a resident or a
/// manager by role alone: they must not learn residents', units' or
/// managers' ids from it (issue 17 finding 7). On the wire the two look
/// alike, `{"role": "resident", "resident_id": …}` and `{"role": "resident"}`;
/// a principal serializes exactly as before, so older entries keep their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Actor {
    Principal(Principal),
    Role(RoleOnly),
}

/// A resident or a manager named by role alone: `{"role": "resident"}`,
/// nothing else (so that no value is both this and a [`Principal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleOnly {
    pub role: HiddenRole,
}

/// The roles whose ids carriers and drivers are not told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HiddenRole {
    Resident,
    Manager,
}

impl Actor {
    /// `who`, or only their role if readers in a carrier's or a driver's
    /// place will see the event and `who` is a resident or a manager.
    pub fn for_readers(who: Principal, carrier_or_driver_reads: bool) -> Self {
        let hidden = match who {
            Principal::Resident { .. } => HiddenRole::Resident,
            Principal::Manager { .. } => HiddenRole::Manager,
            _ => return Actor::Principal(who),
        };
        if carrier_or_driver_reads {
            Actor::Role(RoleOnly { role: hidden })
        } else {
            Actor::Principal(who)
        }
    }

    /// A resident or a manager named by role alone.
    pub fn hidden(role: HiddenRole) -> Self {
        Actor::Role(RoleOnly { role })
    }

    pub fn role(&self) -> Role {
        match self {
            Actor::Principal(p) => p.role(),
            Actor::Role(RoleOnly { role: HiddenRole::Resident }) => Role::Resident,
            Actor::Role(RoleOnly { role: HiddenRole::Manager }) => Role::Manager,
        }
    }
}

impl From<Principal> for Actor {
    fn from(p: Principal) -> Self {
        Actor::Principal(p)
    }
}
