//! Changing and removing what a manager made over HTTP: the property's
//! description, units, doors and drop spots (edited, or removed: 204, and
//! 404 afterwards), locks decommissioned or replaced.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use doorman_api::{
    AccessPoint, AccessPointId, DropSpot, DropSpotId, Lock, LockId, LockProvisioned, Property, PropertyId, ReplaceLock,
    Unit, UnitId, UpdateAccessPoint, UpdateDropSpot, UpdateProperty, UpdateUnit,
};
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(update_property))
        .routes(routes!(update_unit, remove_unit))
        .routes(routes!(update_access_point, remove_access_point))
        .routes(routes!(update_drop_spot, remove_drop_spot))
        .routes(routes!(decommission_lock))
        .routes(routes!(replace_lock))
}

/// Change the property's name, address, location, time zone or kind (the
/// fields given; the others stay).
#[utoipa::path(patch, path = "/v1/properties/{property_id}", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = UpdateProperty,
    responses((status = 200, body = Property)))]
async fn update_property(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<UpdateProperty>,
) -> ApiResult<Json<Property>> {
    Ok(Json(s.update_property(&p, id, req).await?))
}

/// Relabel a unit.
#[utoipa::path(patch, path = "/v1/properties/{property_id}/units/{unit_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("unit_id" = UnitId, Path)), request_body = UpdateUnit,
    responses((status = 200, body = Unit)))]
async fn update_unit(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, unit)): ApiPath<(PropertyId, UnitId)>,
    ApiJson(req): ApiJson<UpdateUnit>,
) -> ApiResult<Json<Unit>> {
    Ok(Json(s.update_unit(&p, id, unit, req).await?))
}

/// Remove a unit: 409 `conflict` while it has a resident, a unit door, a
/// drop spot or an open delivery. Its history stays.
#[utoipa::path(delete, path = "/v1/properties/{property_id}/units/{unit_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("unit_id" = UnitId, Path)),
    responses((status = 204, description = "removed"),
        (status = 409, description = "something is in the way", body = doorman_api::ErrorBody)))]
async fn remove_unit(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, unit)): ApiPath<(PropertyId, UnitId)>,
) -> ApiResult<StatusCode> {
    s.remove_unit(&p, id, unit).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a door: its name, kind, parent (`null`: a street door; a cycle is
/// refused with 422) or unit (`null` clears). Fields left out stay.
#[utoipa::path(patch, path = "/v1/properties/{property_id}/access-points/{access_point_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("access_point_id" = AccessPointId, Path)),
    request_body = UpdateAccessPoint, responses((status = 200, body = AccessPoint)))]
async fn update_access_point(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, ap)): ApiPath<(PropertyId, AccessPointId)>,
    ApiJson(req): ApiJson<UpdateAccessPoint>,
) -> ApiResult<Json<AccessPoint>> {
    Ok(Json(s.update_access_point(&p, id, ap, req).await?))
}

/// Remove a door: 409 `conflict` while it has a lock in service, a door
/// behind it or a drop spot.
#[utoipa::path(delete, path = "/v1/properties/{property_id}/access-points/{access_point_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("access_point_id" = AccessPointId, Path)),
    responses((status = 204, description = "removed"),
        (status = 409, description = "something is in the way", body = doorman_api::ErrorBody)))]
async fn remove_access_point(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, ap)): ApiPath<(PropertyId, AccessPointId)>,
) -> ApiResult<StatusCode> {
    s.remove_access_point(&p, id, ap).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a drop spot: its name, kind or unit (`null` clears).
#[utoipa::path(patch, path = "/v1/properties/{property_id}/drop-spots/{drop_spot_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("drop_spot_id" = DropSpotId, Path)),
    request_body = UpdateDropSpot, responses((status = 200, body = DropSpot)))]
async fn update_drop_spot(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, spot)): ApiPath<(PropertyId, DropSpotId)>,
    ApiJson(req): ApiJson<UpdateDropSpot>,
) -> ApiResult<Json<DropSpot>> {
    Ok(Json(s.update_drop_spot(&p, id, spot, req).await?))
}

/// Remove a drop spot; carriers allowed to it lose it from their allowed
/// drop spots in the same step.
#[utoipa::path(delete, path = "/v1/properties/{property_id}/drop-spots/{drop_spot_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("drop_spot_id" = DropSpotId, Path)),
    responses((status = 204, description = "removed")))]
async fn remove_drop_spot(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, spot)): ApiPath<(PropertyId, DropSpotId)>,
) -> ApiResult<StatusCode> {
    s.remove_drop_spot(&p, id, spot).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a lock out of service: its MQTT account is deleted, and no
/// credential, revocation bundle or event is accepted for it afterwards.
/// 409 if it already is.
#[utoipa::path(post, path = "/v1/properties/{property_id}/locks/{lock_id}/decommission", tag = "manager",
    params(("property_id" = PropertyId, Path), ("lock_id" = LockId, Path)),
    responses((status = 200, body = Lock)))]
async fn decommission_lock(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, lock)): ApiPath<(PropertyId, LockId)>,
) -> ApiResult<Json<Lock>> {
    Ok(Json(s.decommission_lock(&p, id, lock).await?))
}

/// Replace a lock by a new device on the same door, in one step: the old
/// lock is decommissioned, the new one registered; returns what the new
/// lock needs to start (shown this once).
#[utoipa::path(post, path = "/v1/properties/{property_id}/locks/{lock_id}/replace", tag = "manager",
    params(("property_id" = PropertyId, Path), ("lock_id" = LockId, Path)), request_body = ReplaceLock,
    responses((status = 201, body = LockProvisioned)))]
async fn replace_lock(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, lock)): ApiPath<(PropertyId, LockId)>,
    ApiJson(req): ApiJson<ReplaceLock>,
) -> ApiResult<(StatusCode, Json<LockProvisioned>)> {
    Ok((StatusCode::CREATED, Json(s.replace_lock(&p, id, lock, req).await?)))
}
