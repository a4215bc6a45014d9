//! Tenancy: carriers removed from a property, handovers, a unit's residents
//! and invitations, moving out, the properties that enabled a carrier, and
//! the carrier and manager lists filtered by name.

use doorman_api::{
    Carrier, CarrierId, EnabledProperty, ErrorBody, Handover, Invitation, InvitationCreated, Manager, ManagerId,
    Property, PropertyId, Resident, ResidentId, UnitId,
};
use reqwest::{Method, StatusCode};

use crate::{Client, ClientError, ClientResult};

/// `path`, with `?name=` (percent-encoded) when a name is given.
fn with_name(path: &str, name: Option<&str>) -> String {
    let Some(name) = name else { return path.to_string() };
    let mut query = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            query.push(char::from(b));
        } else {
            query.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{path}?name={query}")
}

impl Client {
    /// The managers (operator and managers), those whose name contains
    /// `name` (ignoring case) when given.
    pub async fn list_managers(&self, name: Option<&str>) -> ClientResult<Vec<Manager>> {
        self.get(&with_name("/v1/managers", name)).await
    }

    /// The carriers (operator and managers), those whose name contains
    /// `name` (ignoring case) when given.
    pub async fn list_carriers(&self, name: Option<&str>) -> ClientResult<Vec<Carrier>> {
        self.get(&with_name("/v1/carriers", name)).await
    }

    /// Removes the carrier from the property (its outstanding credentials
    /// there are revoked).
    pub async fn remove_enablement(&self, property: PropertyId, carrier: CarrierId) -> ClientResult<()> {
        let path = format!("/v1/properties/{property}/carriers/{carrier}");
        let (status, text) = self.send_raw(Method::DELETE, &path, None, None).await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(());
        }
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) if !status.is_success() => ClientError::Api { status, body },
            _ => ClientError::Unexpected { status, text },
        })
    }

    pub async fn hand_over_property(&self, property: PropertyId, manager: ManagerId) -> ClientResult<Property> {
        self.post(&format!("/v1/properties/{property}/handover"), &Handover { manager_id: manager }).await
    }

    /// The unit's current residents.
    pub async fn list_unit_residents(&self, unit: UnitId) -> ClientResult<Vec<Resident>> {
        self.get(&format!("/v1/units/{unit}/residents")).await
    }

    pub async fn list_unit_invitations(&self, unit: UnitId) -> ClientResult<Vec<Invitation>> {
        self.get(&format!("/v1/units/{unit}/invitations")).await
    }

    pub async fn move_out_resident(&self, unit: UnitId, resident: ResidentId) -> ClientResult<Resident> {
        self.post(&format!("/v1/units/{unit}/residents/{resident}/move-out"), &serde_json::json!({})).await
    }

    /// Re-invites a resident who lost every device: a new code for the same
    /// resident; their passkeys stop working now.
    pub async fn reinvite_resident(&self, unit: UnitId, resident: ResidentId) -> ClientResult<InvitationCreated> {
        self.post(&format!("/v1/units/{unit}/residents/{resident}/reinvite"), &serde_json::json!({})).await
    }

    /// The properties that enabled the calling carrier, with their units' labels.
    pub async fn carrier_properties(&self) -> ClientResult<Vec<EnabledProperty>> {
        self.get("/v1/carrier/properties").await
    }
}
