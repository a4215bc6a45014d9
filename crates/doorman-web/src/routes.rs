//! The API's handlers, one per operation, each registered together with its
//! OpenAPI description. Handlers only translate: HTTP in, a service call,
//! HTTP out.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorman_api::*;
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Caller};

type S = State<Arc<Service>>;
type Out<T> = ApiResult<Json<T>>;
type CreatedOut<T> = ApiResult<(StatusCode, Json<T>)>;

fn created<T>(v: T) -> CreatedOut<T> {
    Ok((StatusCode::CREATED, Json(v)))
}

pub fn api_routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(keys))
        .routes(routes!(key_update))
        .routes(routes!(key_rotation))
        .routes(routes!(rotate_keys))
        .routes(routes!(retire_keys))
        .routes(routes!(create_manager, list_managers))
        .routes(routes!(create_carrier, list_carriers))
        .routes(routes!(create_property, list_properties))
        .routes(routes!(get_property))
        .routes(routes!(set_tenant_notice))
        .routes(routes!(create_unit, list_units))
        .routes(routes!(create_access_point, list_access_points))
        .routes(routes!(register_lock, list_locks))
        .routes(routes!(lock_health))
        .routes(routes!(lock_revocation_bundle))
        .routes(routes!(upload_lock_events))
        .routes(routes!(remote_unlock))
        .routes(routes!(create_drop_spot, list_drop_spots))
        .routes(routes!(put_enablement))
        .routes(routes!(list_enablements))
        .routes(routes!(property_deliveries))
        .routes(routes!(property_access_requests))
        .routes(routes!(invite_resident))
        .routes(routes!(redeem_invitation))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(block, unblock))
        .routes(routes!(unit_deliveries))
        .routes(routes!(unit_access_requests))
        .routes(routes!(create_driver, list_drivers))
        .routes(routes!(update_driver))
        .routes(routes!(create_delivery, list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(update_eta))
        .routes(routes!(cancel_delivery))
        .routes(routes!(request_access))
        .routes(routes!(complete_delivery))
        .routes(routes!(log_checkpoint))
        .routes(routes!(log_key))
        .routes(routes!(audit_entries))
        .routes(routes!(audit_consistency))
        .merge(tile_routes())
        .merge(crate::events::routes())
        .merge(crate::webhooks::routes())
        .merge(crate::clips::routes())
        .merge(crate::guests::routes())
        .merge(crate::tokens::routes())
        .merge(crate::structure::routes())
        .merge(crate::tenancy::routes())
        .merge(crate::notifications::routes())
}

/// `GET /log/tile/{path}`: the path holds slashes, so axum routes it as a
/// wildcard while the document names it as one parameter.
fn tile_routes() -> OpenApiRouter<Arc<Service>> {
    let (_, paths, route) = routes!(log_tile);
    OpenApiRouter::with_openapi(utoipa::openapi::OpenApiBuilder::new().paths(paths).build())
        .route("/log/tile/{*path}", route)
}

// --- any principal ------------------------------------------------------------

/// Who the token belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "account", responses((status = 200, body = WhoAmI)))]
async fn whoami(Caller(p): Caller) -> Out<WhoAmI> {
    Ok(Json(WhoAmI { principal: p }))
}

/// The issuer's public keys: the trust anchors locks hold. Public.
#[utoipa::path(get, path = "/v1/keys", tag = "account", security(()), responses((status = 200, body = KeySet)))]
async fn keys(State(s): S) -> Out<KeySet> {
    Ok(Json(KeySet { issuer: s.config().issuer.clone(), keys: doorman_server::issuing::trust_anchors(&s.keys()) }))
}

/// The latest signed key update (the keys locks should trust, and those
/// they must stop trusting), for a handheld to carry to a lock without
/// network. Public; 404 while the keys never rotated.
#[utoipa::path(get, path = "/v1/keys/update", tag = "account", security(()),
    responses((status = 200, body = KeyUpdateView)))]
async fn key_update(State(s): S) -> Out<KeyUpdateView> {
    Ok(Json(s.latest_key_update()?))
}

// --- operator -------------------------------------------------------------------

/// Where the issuer key's rotation stands: the key signing, a key waiting
/// for the locks, and which locks have not said they hold it.
#[utoipa::path(get, path = "/v1/keys/rotation", tag = "operator",
    responses((status = 200, body = KeyRotationView)))]
async fn key_rotation(State(s): S, Caller(p): Caller) -> Out<KeyRotationView> {
    Ok(Json(s.key_rotation(&p).await?))
}

/// Rotate the issuer key without a restart: a new key is announced to every
/// lock in a signed key update and signs once every lock in service holds
/// it (or at `key_activation_max_wait_s`). 409 while a rotation is under way.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "operator",
    responses((status = 200, body = KeyRotationView)))]
async fn rotate_keys(State(s): S, Caller(p): Caller) -> Out<KeyRotationView> {
    Ok(Json(s.rotate_issuer_key(&p).await?))
}

/// Retire every issuer key that no longer signs: locks stop trusting them
/// with the next key update. 409 while a new key does not sign yet.
#[utoipa::path(post, path = "/v1/keys/retire", tag = "operator",
    responses((status = 200, body = KeyRotationView)))]
async fn retire_keys(State(s): S, Caller(p): Caller) -> Out<KeyRotationView> {
    Ok(Json(s.retire_issuer_keys(&p).await?))
}

/// Create a building manager and their first API token (shown once).
#[utoipa::path(post, path = "/v1/managers", tag = "operator", request_body = CreateNamed,
    responses((status = 201, body = Created<Manager>)))]
async fn create_manager(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateNamed>,
) -> CreatedOut<ManagerCreated> {
    created(s.create_manager(&p, req).await?)
}

/// The managers (for the operator and managers: whom to hand a property
/// to); `name` keeps those whose name contains it, ignoring case.
#[utoipa::path(get, path = "/v1/managers", tag = "operator", params(NameQuery),
    responses((status = 200, body = Vec<Manager>)))]
async fn list_managers(
    State(s): S,
    Caller(p): Caller,
    query: Result<Query<NameQuery>, QueryRejection>,
) -> Out<Vec<Manager>> {
    let Query(query) = query?;
    Ok(Json(s.list_managers(&p, query.name.as_deref()).await?))
}

/// Create a carrier and its first API token (shown once).
#[utoipa::path(post, path = "/v1/carriers", tag = "operator", request_body = CreateNamed,
    responses((status = 201, body = Created<Carrier>)))]
async fn create_carrier(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateNamed>,
) -> CreatedOut<CarrierCreated> {
    created(s.create_carrier(&p, req).await?)
}

/// The carriers (for the operator and managers: which to enable); `name`
/// keeps those whose name contains it, ignoring case.
#[utoipa::path(get, path = "/v1/carriers", tag = "operator", params(NameQuery),
    responses((status = 200, body = Vec<Carrier>)))]
async fn list_carriers(
    State(s): S,
    Caller(p): Caller,
    query: Result<Query<NameQuery>, QueryRejection>,
) -> Out<Vec<Carrier>> {
    let Query(query) = query?;
    Ok(Json(s.list_carriers(&p, query.name.as_deref()).await?))
}

// --- manager --------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/properties", tag = "manager", request_body = CreateProperty,
    responses((status = 201, body = Property)))]
async fn create_property(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateProperty>,
) -> CreatedOut<Property> {
    created(s.create_property(&p, req).await?)
}

#[utoipa::path(get, path = "/v1/properties", tag = "manager", responses((status = 200, body = Vec<Property>)))]
async fn list_properties(State(s): S, Caller(p): Caller) -> Out<Vec<Property>> {
    Ok(Json(s.list_properties(&p).await?))
}

#[utoipa::path(get, path = "/v1/properties/{property_id}", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Property)))]
async fn get_property(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Property> {
    Ok(Json(s.get_property(&p, id).await?))
}

/// Notify the tenants and set when delivery access goes live. No carrier
/// enters before.
#[utoipa::path(put, path = "/v1/properties/{property_id}/tenant-notice", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = SetTenantNotice, responses((status = 200, body = Property)))]
async fn set_tenant_notice(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<SetTenantNotice>,
) -> Out<Property> {
    Ok(Json(s.set_tenant_notice(&p, id, req).await?))
}

#[utoipa::path(post, path = "/v1/properties/{property_id}/units", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = CreateUnit, responses((status = 201, body = Unit)))]
async fn create_unit(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<CreateUnit>,
) -> CreatedOut<Unit> {
    created(s.create_unit(&p, id, req).await?)
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/units", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<Unit>)))]
async fn list_units(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<Unit>> {
    Ok(Json(s.list_units(&p, id).await?))
}

#[utoipa::path(post, path = "/v1/properties/{property_id}/access-points", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = CreateAccessPoint, responses((status = 201, body = AccessPoint)))]
async fn create_access_point(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<CreateAccessPoint>,
) -> CreatedOut<AccessPoint> {
    created(s.create_access_point(&p, id, req).await?)
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/access-points", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<AccessPoint>)))]
async fn list_access_points(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<AccessPoint>> {
    Ok(Json(s.list_access_points(&p, id).await?))
}

/// Register a lock on an access point; returns what the lock needs to start
/// (its door-code secret is shown this once).
#[utoipa::path(post, path = "/v1/properties/{property_id}/locks", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = RegisterLock, responses((status = 201, body = LockProvisioned)))]
async fn register_lock(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<RegisterLock>,
) -> CreatedOut<LockProvisioned> {
    created(s.register_lock(&p, id, req).await?)
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/locks", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<Lock>)))]
async fn list_locks(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<Lock>> {
    Ok(Json(s.list_locks(&p, id).await?))
}

/// The health of the property's locks: last contact, battery, clock drift,
/// revocation state, camera, stored events, and the flags that need a look.
#[utoipa::path(get, path = "/v1/properties/{property_id}/lock-health", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<LockHealthView>)))]
async fn lock_health(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<LockHealthView>> {
    Ok(Json(s.lock_health(&p, id).await?))
}

/// The lock's latest revocation bundle, signed, for a handheld to carry to a
/// lock that is offline.
#[utoipa::path(get, path = "/v1/properties/{property_id}/locks/{lock_id}/revocation-bundle", tag = "manager",
    params(("property_id" = PropertyId, Path), ("lock_id" = LockId, Path)),
    responses((status = 200, body = RevocationBundleView)))]
async fn lock_revocation_bundle(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, lock)): ApiPath<(PropertyId, LockId)>,
) -> Out<RevocationBundleView> {
    Ok(Json(s.lock_revocation_bundle(&p, id, lock).await?))
}

/// A resident opens their unit's door, or a shared door, from afar: the lock
/// is asked over the fleet channel (202: asked; it opens once it has checked
/// the service's one-use credential bound to its own challenge).
#[utoipa::path(post, path = "/v1/units/{unit_id}/remote-unlock", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = RemoteUnlock,
    responses((status = 202, body = RemoteUnlockRequested)))]
async fn remote_unlock(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
    ApiJson(req): ApiJson<RemoteUnlock>,
) -> ApiResult<(StatusCode, Json<RemoteUnlockRequested>)> {
    Ok((StatusCode::ACCEPTED, Json(s.request_remote_unlock(&p, unit, req).await?)))
}

/// Signed events a handheld collected from a lock without network: each is
/// checked against the lock's key and chain and stored once.
#[utoipa::path(post, path = "/v1/locks/{lock_id}/events", tag = "driver",
    params(("lock_id" = LockId, Path)), request_body = CarriedEvents,
    responses((status = 200, body = CarriedEventsReceipt)))]
async fn upload_lock_events(
    State(s): S,
    Caller(p): Caller,
    ApiPath(lock): ApiPath<LockId>,
    ApiJson(req): ApiJson<CarriedEvents>,
) -> Out<CarriedEventsReceipt> {
    Ok(Json(s.upload_carried_events(&p, lock, req).await?))
}

#[utoipa::path(post, path = "/v1/properties/{property_id}/drop-spots", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = CreateDropSpot, responses((status = 201, body = DropSpot)))]
async fn create_drop_spot(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<CreateDropSpot>,
) -> CreatedOut<DropSpot> {
    created(s.create_drop_spot(&p, id, req).await?)
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/drop-spots", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<DropSpot>)))]
async fn list_drop_spots(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<DropSpot>> {
    Ok(Json(s.list_drop_spots(&p, id).await?))
}

/// Enable (or disable) a carrier at the property: its hours and the drop
/// spots it may use (and so the doors it may pass). Disabling revokes its
/// outstanding credentials here and tells the locks.
#[utoipa::path(put, path = "/v1/properties/{property_id}/carriers/{carrier_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("carrier_id" = CarrierId, Path)),
    request_body = PutEnablement, responses((status = 200, body = CarrierEnablement)))]
async fn put_enablement(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, carrier)): ApiPath<(PropertyId, CarrierId)>,
    ApiJson(req): ApiJson<PutEnablement>,
) -> Out<CarrierEnablement> {
    Ok(Json(s.put_enablement(&p, id, carrier, req).await?))
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/carriers", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<CarrierEnablement>)))]
async fn list_enablements(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
) -> Out<Vec<CarrierEnablement>> {
    Ok(Json(s.list_enablements(&p, id).await?))
}

#[utoipa::path(get, path = "/v1/properties/{property_id}/deliveries", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<Delivery>)))]
async fn property_deliveries(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<PropertyId>) -> Out<Vec<Delivery>> {
    Ok(Json(s.property_deliveries(&p, id).await?))
}

/// Every access request at the property, granted or refused, newest first.
#[utoipa::path(get, path = "/v1/properties/{property_id}/access-requests", tag = "manager",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<AccessRequestRecord>)))]
async fn property_access_requests(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
) -> Out<Vec<AccessRequestRecord>> {
    Ok(Json(s.property_access_requests(&p, id).await?))
}

/// Invite a resident to a unit; returns a one-time code to give them.
#[utoipa::path(post, path = "/v1/units/{unit_id}/invitations", tag = "manager",
    params(("unit_id" = UnitId, Path)), request_body = CreateInvitation, responses((status = 201, body = InvitationCreated)))]
async fn invite_resident(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<UnitId>,
    ApiJson(req): ApiJson<CreateInvitation>,
) -> CreatedOut<InvitationCreated> {
    created(s.invite_resident(&p, id, req).await?)
}

// --- resident -------------------------------------------------------------------

/// Exchange an invitation code for a resident account and API token. No
/// token needed.
#[utoipa::path(post, path = "/v1/invitations/redeem", tag = "resident", security(()),
    request_body = RedeemInvitation, responses((status = 201, body = Created<Resident>)))]
async fn redeem_invitation(State(s): S, ApiJson(req): ApiJson<RedeemInvitation>) -> CreatedOut<ResidentCreated> {
    created(s.redeem_invitation(req).await?)
}

#[utoipa::path(get, path = "/v1/units/{unit_id}/preferences", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = UnitPreferences)))]
async fn get_preferences(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<UnitId>) -> Out<UnitPreferences> {
    Ok(Json(s.get_preferences(&p, id).await?))
}

#[utoipa::path(put, path = "/v1/units/{unit_id}/preferences", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = UnitPreferences, responses((status = 200, body = UnitPreferences)))]
async fn put_preferences(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<UnitId>,
    ApiJson(req): ApiJson<UnitPreferences>,
) -> Out<UnitPreferences> {
    Ok(Json(s.put_preferences(&p, id, req).await?))
}

/// Block delivery access to the unit now; revokes outstanding credentials.
#[utoipa::path(post, path = "/v1/units/{unit_id}/block", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = CreateBlock, responses((status = 201, body = BlockResult)))]
async fn block(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<UnitId>,
    ApiJson(req): ApiJson<CreateBlock>,
) -> CreatedOut<BlockResult> {
    created(s.block(&p, id, req).await?)
}

#[utoipa::path(delete, path = "/v1/units/{unit_id}/block", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = UnblockResult)))]
async fn unblock(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<UnitId>) -> Out<UnblockResult> {
    Ok(Json(s.unblock(&p, id).await?))
}

#[utoipa::path(get, path = "/v1/units/{unit_id}/deliveries", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<Delivery>)))]
async fn unit_deliveries(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<UnitId>) -> Out<Vec<Delivery>> {
    Ok(Json(s.unit_deliveries(&p, id).await?))
}

#[utoipa::path(get, path = "/v1/units/{unit_id}/access-requests", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<AccessRequestRecord>)))]
async fn unit_access_requests(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<UnitId>,
) -> Out<Vec<AccessRequestRecord>> {
    Ok(Json(s.unit_access_requests(&p, id).await?))
}

// --- carrier --------------------------------------------------------------------

/// Register a driver the carrier vouches for; returns the driver's token
/// (shown once), for their handheld.
#[utoipa::path(post, path = "/v1/drivers", tag = "carrier", request_body = CreateDriver,
    responses((status = 201, body = Created<Driver>)))]
async fn create_driver(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateDriver>,
) -> CreatedOut<DriverCreated> {
    created(s.create_driver(&p, req).await?)
}

#[utoipa::path(get, path = "/v1/drivers", tag = "carrier", responses((status = 200, body = Vec<Driver>)))]
async fn list_drivers(State(s): S, Caller(p): Caller) -> Out<Vec<Driver>> {
    Ok(Json(s.list_drivers(&p).await?))
}

/// Change a driver's handheld key, vetting or status (suspend, reinstate).
#[utoipa::path(patch, path = "/v1/drivers/{driver_id}", tag = "carrier",
    params(("driver_id" = DriverId, Path)), request_body = UpdateDriver, responses((status = 200, body = Driver)))]
async fn update_driver(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<DriverId>,
    ApiJson(req): ApiJson<UpdateDriver>,
) -> Out<Driver> {
    Ok(Json(s.update_driver(&p, id, req).await?))
}

/// Announce a delivery: its unit by id, or by the label printed on the
/// parcel (at a property that enabled the carrier).
#[utoipa::path(post, path = "/v1/deliveries", tag = "carrier", request_body = CreateDelivery,
    responses((status = 201, body = Delivery)))]
async fn create_delivery(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateDelivery>,
) -> CreatedOut<Delivery> {
    created(s.create_delivery(&p, req).await?)
}

/// A carrier's deliveries, or, for a driver, those they asked access for.
#[utoipa::path(get, path = "/v1/deliveries", tag = "carrier", responses((status = 200, body = Vec<Delivery>)))]
async fn list_deliveries(State(s): S, Caller(p): Caller) -> Out<Vec<Delivery>> {
    Ok(Json(s.list_deliveries(&p).await?))
}

#[utoipa::path(get, path = "/v1/deliveries/{delivery_id}", tag = "carrier",
    params(("delivery_id" = DeliveryId, Path)), responses((status = 200, body = Delivery)))]
async fn get_delivery(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<DeliveryId>) -> Out<Delivery> {
    Ok(Json(s.get_delivery(&p, id).await?))
}

/// The parcel is out for delivery with this ETA.
#[utoipa::path(post, path = "/v1/deliveries/{delivery_id}/eta", tag = "carrier",
    params(("delivery_id" = DeliveryId, Path)), request_body = EtaUpdate, responses((status = 200, body = Delivery)))]
async fn update_eta(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<DeliveryId>,
    ApiJson(req): ApiJson<EtaUpdate>,
) -> Out<Delivery> {
    Ok(Json(s.update_eta(&p, id, req).await?))
}

#[utoipa::path(post, path = "/v1/deliveries/{delivery_id}/cancel", tag = "carrier",
    params(("delivery_id" = DeliveryId, Path)), responses((status = 200, body = Delivery)))]
async fn cancel_delivery(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<DeliveryId>) -> Out<Delivery> {
    Ok(Json(s.cancel_delivery(&p, id).await?))
}

// --- driver ---------------------------------------------------------------------

/// The driver scanned a parcel at a property: 201 with one credential per
/// locked door on the path to the drop spot (a door code for keypad-only
/// doors), or 403 whose `error.code` is the refusal reason.
#[utoipa::path(post, path = "/v1/access-requests", tag = "driver", request_body = AccessRequest,
    responses((status = 201, body = AccessGranted), (status = 403, body = ErrorBody, description = "refused; error.code is the reason")))]
async fn request_access(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<AccessRequest>,
) -> CreatedOut<AccessGranted> {
    created(s.request_access(&p, req).await?)
}

/// The driver left the parcel at the granted drop spot.
#[utoipa::path(post, path = "/v1/deliveries/{delivery_id}/complete", tag = "driver",
    params(("delivery_id" = DeliveryId, Path)), request_body = CompleteDelivery, responses((status = 200, body = Delivery)))]
async fn complete_delivery(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<DeliveryId>,
    ApiJson(req): ApiJson<CompleteDelivery>,
) -> Out<Delivery> {
    Ok(Json(s.complete_delivery(&p, id, req).await?))
}

// --- the transparency log ---------------------------------------------------------

fn text_response(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

/// The log's latest checkpoint: a C2SP tlog-checkpoint as a signed note,
/// with the witnesses' cosignatures. Public.
#[utoipa::path(get, path = "/log/checkpoint", tag = "audit", security(()),
    responses((status = 200, description = "the signed checkpoint", body = String, content_type = "text/plain; charset=utf-8")))]
async fn log_checkpoint(State(s): S) -> ApiResult<Response> {
    let mut response = text_response("text/plain; charset=utf-8", s.log_checkpoint().await?);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static(CHECKPOINT_CACHE));
    Ok(response)
}

/// `Cache-Control` of the checkpoint: it changes with every new signed
/// tree, so a cache must ask again every time (C2SP tlog-tiles).
pub const CHECKPOINT_CACHE: &str = "no-cache";
/// `Cache-Control` of a full tile: its hashes never change (C2SP
/// tlog-tiles: full tiles are immutable).
pub const FULL_TILE_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of a partial tile (`.p/<W>`): it is replaced by a wider
/// one, then by the full tile, as the tree grows; kept briefly only.
pub const PARTIAL_TILE_CACHE: &str = "public, max-age=10";

/// The log's verifier key (`origin+id+key`). Public; a verifier should get
/// it from a channel it trusts, this only serves as a first contact.
#[utoipa::path(get, path = "/log/key", tag = "audit", security(()),
    responses((status = 200, description = "the log's vkey", body = String, content_type = "text/plain; charset=utf-8")))]
async fn log_key(State(s): S) -> ApiResult<Response> {
    Ok(text_response("text/plain; charset=utf-8", format!("{}\n", s.log_key()?)))
}

/// A hash tile of the log's tree (C2SP tlog-tiles): `path` is
/// `<L>/<N>[.p/<W>]` with `<N>` in 3-digit groups (`x001/x234/067`). Public:
/// hashes only. Entry bundles (`entries/...`) are not served: entries are
/// readable only by those entitled (`/v1/audit/entries`).
#[utoipa::path(get, path = "/log/tile/{path}", tag = "audit", security(()),
    params(("path" = String, Path, description = "the tile's coordinates, slashes included")),
    responses((status = 200, description = "the tile's hashes, 32 bytes each", body = Vec<u8>, content_type = "application/octet-stream")))]
async fn log_tile(State(s): S, ApiPath(path): ApiPath<String>) -> ApiResult<Response> {
    let tile = s.log_tile(&format!("tile/{path}")).await?;
    let cache = if path.contains(".p/") { PARTIAL_TILE_CACHE } else { FULL_TILE_CACHE };
    let mut response = text_response("application/octet-stream", tile);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static(cache));
    Ok(response)
}

/// The log entries the caller may see (a resident: their unit and their
/// building's shared doors; a manager: their properties; a carrier: its
/// deliveries; a driver: their requests), each with its inclusion proof
/// against the checkpoint returned with them.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", params(AuditEntriesQuery),
    responses((status = 200, body = AuditEntries)))]
async fn audit_entries(
    State(s): S,
    Caller(p): Caller,
    query: Result<Query<AuditEntriesQuery>, QueryRejection>,
) -> Out<AuditEntries> {
    let Query(query) = query?;
    Ok(Json(s.audit_entries(&p, query).await?))
}

/// A consistency proof from the tree of `old` entries (a checkpoint the
/// caller kept) to the latest checkpoint (or the one of `size`).
#[utoipa::path(get, path = "/v1/audit/consistency", tag = "audit", params(AuditConsistencyQuery),
    responses((status = 200, body = AuditConsistency)))]
async fn audit_consistency(
    State(s): S,
    Caller(p): Caller,
    query: Result<Query<AuditConsistencyQuery>, QueryRejection>,
) -> Out<AuditConsistency> {
    let Query(query) = query?;
    Ok(Json(s.audit_consistency(&p, query).await?))
}
