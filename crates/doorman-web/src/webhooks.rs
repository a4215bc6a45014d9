//! Webhook subscriptions and their deliveries, and the directory of pickup
//! points, over HTTP.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use doorman_api::{
    CreatePickupPoint, CreateWebhook, Delivery, PickupPoint, ScheduleReturn, UnitId, UpdateWebhook, WebhookCreated,
    WebhookDeliveriesQuery, WebhookDelivery, WebhookDeliveryId, WebhookId, WebhookSubscription,
};
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(resend_webhook_delivery))
        .routes(routes!(create_pickup_point, list_pickup_points))
        .routes(routes!(schedule_return))
}

/// Schedule a return from the unit (its residents): the carrier's driver who
/// scans its tracking number gets a pickup grant to the drop spot where it
/// waits; the unit is told when it is collected (`return_collected`).
#[utoipa::path(post, path = "/v1/units/{unit_id}/returns", tag = "resident",
    params(("unit_id" = UnitId, Path)), request_body = ScheduleReturn, responses((status = 201, body = Delivery)))]
async fn schedule_return(
    State(s): S,
    Caller(p): Caller,
    ApiPath(unit): ApiPath<UnitId>,
    ApiJson(req): ApiJson<ScheduleReturn>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    Ok((StatusCode::CREATED, Json(s.schedule_return(&p, unit, req).await?)))
}

/// Add a shop or locker that holds parcels to the directory (operator or
/// manager). Residents choose one as where blocked deliveries go.
#[utoipa::path(post, path = "/v1/pickup-points", tag = "pickup points", request_body = CreatePickupPoint,
    responses((status = 201, body = PickupPoint)))]
async fn create_pickup_point(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreatePickupPoint>,
) -> ApiResult<(StatusCode, Json<PickupPoint>)> {
    Ok((StatusCode::CREATED, Json(s.create_pickup_point(&p, req).await?)))
}

/// The directory of pickup points, by name.
#[utoipa::path(get, path = "/v1/pickup-points", tag = "pickup points", responses((status = 200, body = Vec<PickupPoint>)))]
async fn list_pickup_points(State(s): S, Caller(p): Caller) -> ApiResult<Json<Vec<PickupPoint>>> {
    Ok(Json(s.list_pickup_points(&p).await?))
}

/// Subscribe a URL to the caller's events (all, or the types named). Each
/// POST carries `Doorman-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>" keyed with the secret>` and `Doorman-Event-Id`; the secret
/// is shown this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookCreated)))]
async fn create_webhook(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    Ok((StatusCode::CREATED, Json(s.create_webhook(&p, req).await?)))
}

/// The caller's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = Vec<WebhookSubscription>)))]
async fn list_webhooks(State(s): S, Caller(p): Caller) -> ApiResult<Json<Vec<WebhookSubscription>>> {
    Ok(Json(s.list_webhooks(&p).await?))
}

#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = WebhookId, Path)), responses((status = 200, body = WebhookSubscription)))]
async fn get_webhook(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<WebhookSubscription>> {
    Ok(Json(s.get_webhook(&p, id).await?))
}

/// Change the URL, the event types, or pause (`active: false`) and resume.
#[utoipa::path(patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = WebhookId, Path)), request_body = UpdateWebhook,
    responses((status = 200, body = WebhookSubscription)))]
async fn update_webhook(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(req): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<WebhookSubscription>> {
    Ok(Json(s.update_webhook(&p, id, req).await?))
}

/// Delete the webhook and its queued deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = WebhookId, Path)), responses((status = 204, description = "deleted")))]
async fn delete_webhook(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<WebhookId>) -> ApiResult<StatusCode> {
    s.delete_webhook(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook's deliveries, newest event first: pending (with the next
/// try's time), delivered, or dead (every try failed).
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = WebhookId, Path), WebhookDeliveriesQuery),
    responses((status = 200, body = Vec<WebhookDelivery>)))]
async fn webhook_deliveries(
    State(s): S,
    Caller(p): Caller,
    ApiPath(id): ApiPath<WebhookId>,
    query: Result<Query<WebhookDeliveriesQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    let Query(query) = query?;
    Ok(Json(s.webhook_deliveries(&p, id, query).await?))
}

/// Send a delivery again (a dead one, typically): due now, tries counted afresh.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", tag = "webhooks",
    params(("webhook_id" = WebhookId, Path), ("delivery_id" = WebhookDeliveryId, Path)),
    responses((status = 200, body = WebhookDelivery)))]
async fn resend_webhook_delivery(
    State(s): S,
    Caller(p): Caller,
    ApiPath((id, delivery)): ApiPath<(WebhookId, WebhookDeliveryId)>,
) -> ApiResult<Json<WebhookDelivery>> {
    Ok(Json(s.resend_webhook_delivery(&p, id, delivery).await?))
}
