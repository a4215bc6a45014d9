//! A typed client for doorman's HTTP API. The CLI, the demo, the benchmarks
//! and the integration tests all talk to the service through it, so they
//! exercise exactly what a carrier's or a building's integration would.

use doorman_api::*;

mod clips;
mod events;
pub mod metrics_text;
mod structure;
mod tenancy;
pub use clips::ClipBytes;
pub use events::{EventStream, SseMessage, StreamStart};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error body.
    #[error("{status}: {} ({})", body.error.message, body.error.code)]
    Api { status: StatusCode, body: ErrorBody },
    /// The service answered something that is not the documented shape.
    #[error("{status}: unexpected answer: {text}")]
    Unexpected { status: StatusCode, text: String },
    #[error("cannot reach the service: {0}")]
    Transport(#[from] reqwest::Error),
}

impl ClientError {
    /// The machine-readable code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Transport(e) => e.status(),
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// `base` is the service's root URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: reqwest::Client::new(), base: base.into().trim_end_matches('/').to_string(), token: None }
    }

    /// The same client acting with another token (shares the connection pool).
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self { http: self.http.clone(), base: self.base.clone(), token: Some(token.into()) }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request with an optional JSON body; exposed so tests can send
    /// what the typed methods would not.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<reqwest::Body>,
        content_type: Option<&str>,
    ) -> ClientResult<(StatusCode, String)> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await?;
        let status = res.status();
        Ok((status, res.text().await?))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> ClientResult<T> {
        let (body, ct) =
            match body {
                Some(b) => (
                    Some(reqwest::Body::from(serde_json::to_vec(b).map_err(|e| ClientError::Unexpected {
                        status: StatusCode::BAD_REQUEST,
                        text: e.to_string(),
                    })?)),
                    Some("application/json"),
                ),
                None => (None, None),
            };
        let (status, text) = self.send_raw(method, path, body, ct).await?;
        if status.is_success() {
            serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, text })
        } else {
            match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => Err(ClientError::Api { status, body }),
                Err(_) => Err(ClientError::Unexpected { status, text }),
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.call::<(), T>(Method::GET, path, None).await
    }
    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> ClientResult<T> {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> ClientResult<T> {
        self.call(Method::PUT, path, Some(body)).await
    }

    // --- any principal
    pub async fn whoami(&self) -> ClientResult<WhoAmI> {
        self.get("/v1/me").await
    }
    /// Revokes `token` (holding it is the right; this client's own token
    /// authenticates the call and may be the same one).
    pub async fn revoke_token(&self, token: &str) -> ClientResult<()> {
        let body = serde_json::to_vec(&RevokeToken { token: token.to_string() })
            .map_err(|e| ClientError::Unexpected { status: StatusCode::BAD_REQUEST, text: e.to_string() })?;
        let (status, text) =
            self.send_raw(Method::POST, "/v1/tokens/revoke", Some(body.into()), Some("application/json")).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api { status, body },
            Err(_) => ClientError::Unexpected { status, text },
        })
    }
    pub async fn keys(&self) -> ClientResult<KeySet> {
        self.get("/v1/keys").await
    }
    /// The latest signed key update (public).
    pub async fn key_update(&self) -> ClientResult<KeyUpdateView> {
        self.get("/v1/keys/update").await
    }
    /// The operator's: where the issuer key's rotation stands.
    pub async fn key_rotation(&self) -> ClientResult<KeyRotationView> {
        self.get("/v1/keys/rotation").await
    }
    /// The operator's: announces a new issuer key to the locks.
    pub async fn rotate_keys(&self) -> ClientResult<KeyRotationView> {
        self.call::<(), _>(Method::POST, "/v1/keys/rotate", None).await
    }
    /// The operator's: retires the issuer keys that no longer sign.
    pub async fn retire_keys(&self) -> ClientResult<KeyRotationView> {
        self.call::<(), _>(Method::POST, "/v1/keys/retire", None).await
    }
    pub async fn health(&self) -> ClientResult<Health> {
        self.get("/readyz").await
    }
    /// `/metrics` in the Prometheus text format (the operator's token or
    /// the metrics token).
    pub async fn metrics(&self) -> ClientResult<String> {
        let (status, text) = self.send_raw(Method::GET, "/metrics", None, None).await?;
        if status.is_success() {
            return Ok(text);
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }
    pub async fn openapi(&self) -> ClientResult<serde_json::Value> {
        self.get("/openapi.json").await
    }

    // --- operator
    pub async fn create_manager(&self, name: &str) -> ClientResult<ManagerCreated> {
        self.post("/v1/managers", &CreateNamed { name: name.into() }).await
    }
    pub async fn create_carrier(&self, name: &str) -> ClientResult<CarrierCreated> {
        self.post("/v1/carriers", &CreateNamed { name: name.into() }).await
    }

    // --- manager
    pub async fn create_property(&self, req: &CreateProperty) -> ClientResult<Property> {
        self.post("/v1/properties", req).await
    }
    pub async fn list_properties(&self) -> ClientResult<Vec<Property>> {
        self.get("/v1/properties").await
    }
    pub async fn get_property(&self, id: PropertyId) -> ClientResult<Property> {
        self.get(&format!("/v1/properties/{id}")).await
    }
    pub async fn set_tenant_notice(&self, id: PropertyId, req: &SetTenantNotice) -> ClientResult<Property> {
        self.put(&format!("/v1/properties/{id}/tenant-notice"), req).await
    }
    pub async fn create_unit(&self, property: PropertyId, label: &str) -> ClientResult<Unit> {
        self.post(&format!("/v1/properties/{property}/units"), &CreateUnit { label: label.into() }).await
    }
    pub async fn list_units(&self, property: PropertyId) -> ClientResult<Vec<Unit>> {
        self.get(&format!("/v1/properties/{property}/units")).await
    }
    pub async fn create_access_point(
        &self,
        property: PropertyId,
        req: &CreateAccessPoint,
    ) -> ClientResult<AccessPoint> {
        self.post(&format!("/v1/properties/{property}/access-points"), req).await
    }
    pub async fn list_access_points(&self, property: PropertyId) -> ClientResult<Vec<AccessPoint>> {
        self.get(&format!("/v1/properties/{property}/access-points")).await
    }
    pub async fn register_lock(&self, property: PropertyId, req: &RegisterLock) -> ClientResult<LockProvisioned> {
        self.post(&format!("/v1/properties/{property}/locks"), req).await
    }
    pub async fn list_locks(&self, property: PropertyId) -> ClientResult<Vec<Lock>> {
        self.get(&format!("/v1/properties/{property}/locks")).await
    }
    pub async fn lock_health(&self, property: PropertyId) -> ClientResult<Vec<LockHealthView>> {
        self.get(&format!("/v1/properties/{property}/lock-health")).await
    }
    pub async fn lock_revocation_bundle(
        &self,
        property: PropertyId,
        lock: LockId,
    ) -> ClientResult<RevocationBundleView> {
        self.get(&format!("/v1/properties/{property}/locks/{lock}/revocation-bundle")).await
    }
    pub async fn remote_unlock(&self, unit: UnitId, req: &RemoteUnlock) -> ClientResult<RemoteUnlockRequested> {
        self.post(&format!("/v1/units/{unit}/remote-unlock"), req).await
    }
    pub async fn upload_lock_events(&self, lock: LockId, req: &CarriedEvents) -> ClientResult<CarriedEventsReceipt> {
        self.post(&format!("/v1/locks/{lock}/events"), req).await
    }
    pub async fn create_drop_spot(&self, property: PropertyId, req: &CreateDropSpot) -> ClientResult<DropSpot> {
        self.post(&format!("/v1/properties/{property}/drop-spots"), req).await
    }
    pub async fn list_drop_spots(&self, property: PropertyId) -> ClientResult<Vec<DropSpot>> {
        self.get(&format!("/v1/properties/{property}/drop-spots")).await
    }
    pub async fn put_enablement(
        &self,
        property: PropertyId,
        carrier: CarrierId,
        req: &PutEnablement,
    ) -> ClientResult<CarrierEnablement> {
        self.put(&format!("/v1/properties/{property}/carriers/{carrier}"), req).await
    }
    pub async fn list_enablements(&self, property: PropertyId) -> ClientResult<Vec<CarrierEnablement>> {
        self.get(&format!("/v1/properties/{property}/carriers")).await
    }
    pub async fn property_deliveries(&self, property: PropertyId) -> ClientResult<Vec<Delivery>> {
        self.get(&format!("/v1/properties/{property}/deliveries")).await
    }
    pub async fn property_access_requests(&self, property: PropertyId) -> ClientResult<Vec<AccessRequestRecord>> {
        self.get(&format!("/v1/properties/{property}/access-requests")).await
    }
    pub async fn invite_resident(&self, unit: UnitId, req: &CreateInvitation) -> ClientResult<InvitationCreated> {
        self.post(&format!("/v1/units/{unit}/invitations"), req).await
    }

    // --- resident
    pub async fn redeem_invitation(&self, code: &str) -> ClientResult<ResidentCreated> {
        self.post("/v1/invitations/redeem", &RedeemInvitation { code: code.into() }).await
    }
    pub async fn get_preferences(&self, unit: UnitId) -> ClientResult<UnitPreferences> {
        self.get(&format!("/v1/units/{unit}/preferences")).await
    }
    pub async fn put_preferences(&self, unit: UnitId, prefs: &UnitPreferences) -> ClientResult<UnitPreferences> {
        self.put(&format!("/v1/units/{unit}/preferences"), prefs).await
    }
    /// The caller's (a resident's) email address and the kinds emailed to them.
    pub async fn notification_settings(&self) -> ClientResult<NotificationSettings> {
        self.get("/v1/me/notifications").await
    }
    pub async fn set_notification_settings(
        &self,
        settings: &NotificationSettings,
    ) -> ClientResult<NotificationSettings> {
        self.put("/v1/me/notifications", settings).await
    }
    pub async fn block(&self, unit: UnitId, req: &CreateBlock) -> ClientResult<BlockResult> {
        self.post(&format!("/v1/units/{unit}/block"), req).await
    }
    pub async fn unblock(&self, unit: UnitId) -> ClientResult<UnblockResult> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/units/{unit}/block"), None).await
    }
    // --- vehicles and guest passes
    pub async fn register_vehicle(&self, unit: UnitId, req: &RegisterVehicle) -> ClientResult<VehicleProvisioned> {
        self.post(&format!("/v1/units/{unit}/vehicles"), req).await
    }
    pub async fn list_vehicles(&self, unit: UnitId) -> ClientResult<Vec<Vehicle>> {
        self.get(&format!("/v1/units/{unit}/vehicles")).await
    }
    pub async fn report_vehicle_position(
        &self,
        vehicle: VehicleId,
        position: GeoPoint,
    ) -> ClientResult<VehiclePosition> {
        self.post(&format!("/v1/vehicles/{vehicle}/positions"), &ReportPosition { position }).await
    }
    pub async fn vehicle_position(&self, vehicle: VehicleId) -> ClientResult<VehiclePosition> {
        self.get(&format!("/v1/vehicles/{vehicle}/position")).await
    }
    pub async fn create_trunk_pass(&self, vehicle: VehicleId, req: &CreateGuestPass) -> ClientResult<GuestPassIssued> {
        self.post(&format!("/v1/vehicles/{vehicle}/trunk-passes"), req).await
    }
    pub async fn create_guest_pass(&self, unit: UnitId, req: &CreateGuestPass) -> ClientResult<GuestPassIssued> {
        self.post(&format!("/v1/units/{unit}/guests"), req).await
    }
    pub async fn list_guest_passes(&self, unit: UnitId) -> ClientResult<Vec<GuestPass>> {
        self.get(&format!("/v1/units/{unit}/guests")).await
    }
    pub async fn revoke_guest_pass(&self, unit: UnitId, pass: GuestPassId) -> ClientResult<GuestPass> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/units/{unit}/guests/{pass}"), None).await
    }
    pub async fn unit_deliveries(&self, unit: UnitId) -> ClientResult<Vec<Delivery>> {
        self.get(&format!("/v1/units/{unit}/deliveries")).await
    }
    pub async fn unit_access_requests(&self, unit: UnitId) -> ClientResult<Vec<AccessRequestRecord>> {
        self.get(&format!("/v1/units/{unit}/access-requests")).await
    }

    // --- carrier
    pub async fn create_driver(&self, req: &CreateDriver) -> ClientResult<DriverCreated> {
        self.post("/v1/drivers", req).await
    }
    pub async fn list_drivers(&self) -> ClientResult<Vec<Driver>> {
        self.get("/v1/drivers").await
    }
    pub async fn update_driver(&self, id: DriverId, req: &UpdateDriver) -> ClientResult<Driver> {
        self.call(Method::PATCH, &format!("/v1/drivers/{id}"), Some(req)).await
    }
    pub async fn create_delivery(&self, req: &CreateDelivery) -> ClientResult<Delivery> {
        self.post("/v1/deliveries", req).await
    }
    pub async fn list_deliveries(&self) -> ClientResult<Vec<Delivery>> {
        self.get("/v1/deliveries").await
    }
    pub async fn get_delivery(&self, id: DeliveryId) -> ClientResult<Delivery> {
        self.get(&format!("/v1/deliveries/{id}")).await
    }
    pub async fn update_eta(&self, id: DeliveryId, eta: i64) -> ClientResult<Delivery> {
        self.post(&format!("/v1/deliveries/{id}/eta"), &EtaUpdate { eta }).await
    }
    pub async fn cancel_delivery(&self, id: DeliveryId) -> ClientResult<Delivery> {
        self.post(&format!("/v1/deliveries/{id}/cancel"), &serde_json::json!({})).await
    }

    // --- driver
    pub async fn request_access(&self, req: &AccessRequest) -> ClientResult<AccessGranted> {
        self.post("/v1/access-requests", req).await
    }
    pub async fn complete_delivery(&self, id: DeliveryId, req: &CompleteDelivery) -> ClientResult<Delivery> {
        self.post(&format!("/v1/deliveries/{id}/complete"), req).await
    }

    // --- audit: the transparency log
    /// `GET /log/checkpoint`: the latest checkpoint as a signed note, with
    /// its cosignatures. Public.
    pub async fn log_checkpoint(&self) -> ClientResult<String> {
        self.get_text("/log/checkpoint").await
    }
    /// `GET /log/key`: the log's verifier key (vkey). Public; trust it only
    /// as far as the channel it came through.
    pub async fn log_key(&self) -> ClientResult<String> {
        self.get_text("/log/key").await
    }
    /// `GET /log/<tile path>` (C2SP tlog-tiles: `tile/<L>/<N>[.p/<W>]`): a
    /// tile's hashes. Public.
    pub async fn log_tile(&self, tile_path: &str) -> ClientResult<Vec<u8>> {
        let mut req = self.http.get(format!("{}/log/{}", self.base, tile_path.trim_start_matches('/')));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status();
        if status.is_success() {
            return Ok(res.bytes().await?.to_vec());
        }
        let text = res.text().await?;
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }
    /// The entries the caller may see, with inclusion proofs.
    pub async fn audit_entries(&self, query: &AuditEntriesQuery) -> ClientResult<AuditEntries> {
        let mut params = Vec::new();
        if let Some(after) = query.after {
            params.push(format!("after={after}"));
        }
        if let Some(size) = query.size {
            params.push(format!("size={size}"));
        }
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
        self.get(&format!("/v1/audit/entries{query}")).await
    }
    /// A consistency proof from the tree of `old` entries to the checkpoint
    /// of `size` entries (default: the latest).
    pub async fn audit_consistency(&self, old: u64, size: Option<u64>) -> ClientResult<AuditConsistency> {
        let size = size.map(|s| format!("&size={s}")).unwrap_or_default();
        self.get(&format!("/v1/audit/consistency?old={old}{size}")).await
    }

    /// A GET whose success answer is text.
    async fn get_text(&self, path: &str) -> ClientResult<String> {
        let (status, text) = self.send_raw(Method::GET, path, None, None).await?;
        if status.is_success() {
            return Ok(text);
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }
}
