//! TEMPORARY: the issue-15 routes other helpers are landing (contract.md A1/A2),
//! called through `send_raw` until their typed client methods reach main.
//! Same names and shapes as the contract; delete once merged.

use doorman_api::*;
use doorman_client::{Client, ClientError, ClientResult};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize)]
pub struct Handover {
    pub manager_id: ManagerId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnitLabel {
    pub id: UnitId,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnabledProperty {
    pub property_id: PropertyId,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    pub time_zone: String,
    pub kind: PropertyKind,
    pub units: Vec<UnitLabel>,
    pub hours: Vec<WeeklyHours>,
    pub allowed_drop_spots: Vec<DropSpotId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CreateDeliveryByLabel {
    pub tracking_number: String,
    pub property_id: PropertyId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<UnitId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_label: Option<String>,
    pub kind: DeliveryKind,
    pub window_start: i64,
    pub window_end: i64,
}

async fn call<T: DeserializeOwned>(c: &Client, method: Method, path: &str, body: Option<String>) -> ClientResult<T> {
    let ct = body.as_ref().map(|_| "application/json");
    let (status, text) = c.send_raw(method, path, body.map(reqwest::Body::from), ct).await?;
    let text = if text.is_empty() { "null".to_string() } else { text };
    if status.is_success() {
        serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, text })
    } else {
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }
}

fn json<B: Serialize>(b: &B) -> Option<String> {
    serde_json::to_string(b).ok()
}

#[allow(async_fn_in_trait)]
pub trait Pending {
    async fn remove_enablement(&self, p: PropertyId, c: CarrierId) -> ClientResult<()>;
    async fn hand_over_property(&self, p: PropertyId, req: &Handover) -> ClientResult<Property>;
    async fn list_unit_residents(&self, u: UnitId) -> ClientResult<Vec<Resident>>;
    async fn list_unit_invitations(&self, u: UnitId) -> ClientResult<Vec<Invitation>>;
    async fn move_out_resident(&self, u: UnitId, r: ResidentId) -> ClientResult<Resident>;
    async fn carrier_properties(&self) -> ClientResult<Vec<EnabledProperty>>;
    async fn find_carriers(&self, name: Option<&str>) -> ClientResult<Vec<Carrier>>;
    async fn find_managers(&self, name: Option<&str>) -> ClientResult<Vec<Manager>>;
    async fn create_delivery_by_label(&self, req: &CreateDeliveryByLabel) -> ClientResult<Delivery>;
}

impl Pending for Client {
    async fn remove_enablement(&self, p: PropertyId, c: CarrierId) -> ClientResult<()> {
        call(self, Method::DELETE, &format!("/v1/properties/{p}/carriers/{c}"), None).await
    }
    async fn hand_over_property(&self, p: PropertyId, req: &Handover) -> ClientResult<Property> {
        call(self, Method::POST, &format!("/v1/properties/{p}/handover"), json(req)).await
    }
    async fn list_unit_residents(&self, u: UnitId) -> ClientResult<Vec<Resident>> {
        call(self, Method::GET, &format!("/v1/units/{u}/residents"), None).await
    }
    async fn list_unit_invitations(&self, u: UnitId) -> ClientResult<Vec<Invitation>> {
        call(self, Method::GET, &format!("/v1/units/{u}/invitations"), None).await
    }
    async fn move_out_resident(&self, u: UnitId, r: ResidentId) -> ClientResult<Resident> {
        call(self, Method::POST, &format!("/v1/units/{u}/residents/{r}/move-out"), None).await
    }
    async fn carrier_properties(&self) -> ClientResult<Vec<EnabledProperty>> {
        call(self, Method::GET, "/v1/carrier/properties", None).await
    }
    async fn find_carriers(&self, name: Option<&str>) -> ClientResult<Vec<Carrier>> {
        let q = name.map(|n| format!("?name={}", urlencode(n))).unwrap_or_default();
        call(self, Method::GET, &format!("/v1/carriers{q}"), None).await
    }
    async fn find_managers(&self, name: Option<&str>) -> ClientResult<Vec<Manager>> {
        let q = name.map(|n| format!("?name={}", urlencode(n))).unwrap_or_default();
        call(self, Method::GET, &format!("/v1/managers{q}"), None).await
    }
    async fn create_delivery_by_label(&self, req: &CreateDeliveryByLabel) -> ClientResult<Delivery> {
        call(self, Method::POST, "/v1/deliveries", json(req)).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
