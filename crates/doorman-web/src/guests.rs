//! Vehicles (registration, positions) and guest passes over HTTP.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use doorman_api::{
    CreateGuestPass, GuestPass, GuestPassId, GuestPassIssued, RegisterVehicle, ReportPosition, UnitId, Vehicle,
    VehicleId, VehiclePosition, VehicleProvisioned,
};
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(register_vehicle, list_vehicles))
        .routes(routes!(report_vehicle_position))
        .routes(routes!(vehicle_position))
        .routes(routes!(create_trunk_pass))
        .routes(routes!(create_guest_pass, list_guest_passes))
        .routes(routes!(revoke_guest_pass))
}

/// Register the resident's car with its trunk device (a lock): its trunk
/// becomes a drop spot of the unit. The device's provisioning is shown once.
#[utoipa::path(post, path = "/v1/units/{unit_id}/vehicles", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = RegisterVehicle,
    responses((status = 201, body = VehicleProvisioned)))]
async fn register_vehicle(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
    ApiJson(req): ApiJson<RegisterVehicle>,
) -> ApiResult<(StatusCode, Json<VehicleProvisioned>)> {
    Ok((StatusCode::CREATED, Json(s.register_vehicle(&p, unit, req).await?)))
}

/// The unit's vehicles (its residents).
#[utoipa::path(get, path = "/v1/units/{unit_id}/vehicles", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<Vehicle>)))]
async fn list_vehicles(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
) -> ApiResult<Json<Vec<Vehicle>>> {
    Ok(Json(s.list_vehicles(&p, unit).await?))
}

/// The car reports where it is (with its owner's token); the service keeps
/// the last position with its own time. Anyone but the owner: 404.
#[utoipa::path(post, path = "/v1/vehicles/{vehicle_id}/positions", tag = "resident",
    params(("vehicle_id" = VehicleId, Path)), request_body = ReportPosition,
    responses((status = 200, body = VehiclePosition)))]
async fn report_vehicle_position(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<VehicleId>,
    ApiJson(req): ApiJson<ReportPosition>,
) -> ApiResult<Json<VehiclePosition>> {
    Ok(Json(s.report_vehicle_position(&p, id, req).await?))
}

/// The vehicle's last position: its owner only (anyone else: 404).
#[utoipa::path(get, path = "/v1/vehicles/{vehicle_id}/position", tag = "resident",
    params(("vehicle_id" = VehicleId, Path)), responses((status = 200, body = VehiclePosition)))]
async fn vehicle_position(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<VehicleId>,
) -> ApiResult<Json<VehiclePosition>> {
    Ok(Json(s.vehicle_position(&p, id).await?))
}

/// The owner shares the trunk with a driver for a window: a one-time code
/// (keypad trunk) or a credential bound to the driver's handheld.
#[utoipa::path(post, path = "/v1/vehicles/{vehicle_id}/trunk-passes", tag = "resident",
    params(("vehicle_id" = VehicleId, Path)), request_body = CreateGuestPass,
    responses((status = 201, body = GuestPassIssued)))]
async fn create_trunk_pass(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<VehicleId>,
    ApiJson(req): ApiJson<CreateGuestPass>,
) -> ApiResult<(StatusCode, Json<GuestPassIssued>)> {
    Ok((StatusCode::CREATED, Json(s.create_trunk_pass(&p, id, req).await?)))
}

/// Give a named guest access to the doors from the street to the unit's
/// door for a window: credentials bound to their handheld, door codes for
/// keypad-only doors (shown once).
#[utoipa::path(post, path = "/v1/units/{unit_id}/guests", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = CreateGuestPass,
    responses((status = 201, body = GuestPassIssued)))]
async fn create_guest_pass(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
    ApiJson(req): ApiJson<CreateGuestPass>,
) -> ApiResult<(StatusCode, Json<GuestPassIssued>)> {
    Ok((StatusCode::CREATED, Json(s.create_guest_pass(&p, unit, req).await?)))
}

/// The unit's guest passes, newest first (its residents and manager).
#[utoipa::path(get, path = "/v1/units/{unit_id}/guests", tag = "resident",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<GuestPass>)))]
async fn list_guest_passes(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
) -> ApiResult<Json<Vec<GuestPass>>> {
    Ok(Json(s.list_guest_passes(&p, unit).await?))
}

/// Revoke a guest pass now: online locks are sent the revocation at once.
#[utoipa::path(delete, path = "/v1/units/{unit_id}/guests/{guest_pass_id}", tag = "resident",
    params(("unit_id" = UnitId, Path), ("guest_pass_id" = GuestPassId, Path)),
    responses((status = 200, body = GuestPass)))]
async fn revoke_guest_pass(
    State(s): S,
    Caller(p): Caller,
    ApiPath((unit, id)): ApiPath<(UnitId, GuestPassId)>,
) -> ApiResult<Json<GuestPass>> {
    Ok(Json(s.revoke_guest_pass(&p, unit, id).await?))
}
