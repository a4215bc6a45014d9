//! Tenancy over HTTP: a carrier removed from a property, a property handed
//! over, a unit's residents and invitations, a resident moving out, and the
//! properties that enabled a carrier.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use doorman_api::{
    CarrierId, EnabledProperty, Handover, Invitation, InvitationCreated, Property, PropertyId, Resident, ResidentId,
    UnitId,
};
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(remove_enablement))
        .routes(routes!(hand_over_property))
        .routes(routes!(list_unit_residents))
        .routes(routes!(list_unit_invitations))
        .routes(routes!(move_out_resident))
        .routes(routes!(reinvite_resident))
        .routes(routes!(carrier_properties))
}

/// Remove the carrier from the property: its drivers may no longer enter,
/// its outstanding credentials here are revoked and pushed to the locks.
#[utoipa::path(delete, path = "/v1/properties/{property_id}/carriers/{carrier_id}", tag = "manager",
    params(("property_id" = PropertyId, Path), ("carrier_id" = CarrierId, Path)),
    responses((status = 204, description = "removed")))]
async fn remove_enablement(
    State(s): S,
    Caller(p): Caller,
    ApiPath((property, carrier)): ApiPath<(PropertyId, CarrierId)>,
) -> ApiResult<StatusCode> {
    s.remove_enablement(&p, property, carrier).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hand the property to another manager; its current manager loses access.
#[utoipa::path(post, path = "/v1/properties/{property_id}/handover", tag = "manager",
    params(("property_id" = PropertyId, Path)), request_body = Handover,
    responses((status = 200, body = Property)))]
async fn hand_over_property(
    State(s): S,
    Caller(p): Caller,
    ApiPath(property): ApiPath<PropertyId>,
    ApiJson(req): ApiJson<Handover>,
) -> ApiResult<Json<Property>> {
    Ok(Json(s.hand_over_property(&p, property, req).await?))
}

/// The unit's current residents (not those who moved out).
#[utoipa::path(get, path = "/v1/units/{unit_id}/residents", tag = "manager",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<Resident>)))]
async fn list_unit_residents(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
) -> ApiResult<Json<Vec<Resident>>> {
    Ok(Json(s.list_unit_residents(&p, unit).await?))
}

/// The invitations to the unit, redeemed or not.
#[utoipa::path(get, path = "/v1/units/{unit_id}/invitations", tag = "manager",
    params(("unit_id" = UnitId, Path)), responses((status = 200, body = Vec<Invitation>)))]
async fn list_unit_invitations(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(s.list_unit_invitations(&p, unit).await?))
}

/// The resident moves out: their tokens and dashboard sessions end now;
/// the unit's history stays with the unit.
#[utoipa::path(post, path = "/v1/units/{unit_id}/residents/{resident_id}/move-out", tag = "manager",
    params(("unit_id" = UnitId, Path), ("resident_id" = ResidentId, Path)),
    responses((status = 200, body = Resident)))]
async fn move_out_resident(
    State(s): S,
    Caller(p): Caller,
    ApiPath((unit, resident)): ApiPath<(UnitId, ResidentId)>,
) -> ApiResult<Json<Resident>> {
    Ok(Json(s.move_out_resident(&p, unit, resident).await?))
}

/// Re-invite a resident who lost every device: a new invitation code (shown
/// once) whose redemption brings back the same resident, history and
/// preferences kept, with a new API token. Their passkeys are removed and
/// their dashboard sessions end now; their API tokens stay. Logged.
#[utoipa::path(post, path = "/v1/units/{unit_id}/residents/{resident_id}/reinvite", tag = "manager",
    params(("unit_id" = UnitId, Path), ("resident_id" = ResidentId, Path)),
    responses((status = 201, body = InvitationCreated)))]
async fn reinvite_resident(
    State(s): S,
    Caller(p): Caller,
    ApiPath((unit, resident)): ApiPath<(UnitId, ResidentId)>,
) -> ApiResult<(StatusCode, Json<InvitationCreated>)> {
    Ok((StatusCode::CREATED, Json(s.reinvite_resident(&p, unit, resident).await?)))
}

/// The properties that enabled the calling carrier (or the calling driver's
/// carrier), with their units' labels, hours and allowed drop spots.
#[utoipa::path(get, path = "/v1/carrier/properties", tag = "carrier",
    responses((status = 200, body = Vec<EnabledProperty>)))]
async fn carrier_properties(State(s): S, Caller(p): Caller) -> ApiResult<Json<Vec<EnabledProperty>>> {
    Ok(Json(s.carrier_properties(&p).await?))
}
