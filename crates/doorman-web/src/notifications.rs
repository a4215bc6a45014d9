//! A resident's email notifications over HTTP: their address and the kinds
//! of events emailed to them. (The one-click unsubscribe link in each email
//! is a dashboard page: mail clients POST to it without a token.)

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use doorman_api::NotificationSettings;
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new().routes(routes!(get_notifications, put_notifications))
}

/// Your email address and the kinds of events emailed to you (residents).
/// Until you choose, `delivered` and `door_ajar` are.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "resident",
    responses((status = 200, body = NotificationSettings)))]
async fn get_notifications(State(s): S, Caller(p): Caller) -> ApiResult<Json<NotificationSettings>> {
    Ok(Json(s.notification_settings(&p).await?))
}

/// Replace your address and the kinds emailed to you: every kind not
/// listed is off (`kinds: []` turns every email off).
#[utoipa::path(put, path = "/v1/me/notifications", tag = "resident", request_body = NotificationSettings,
    responses((status = 200, body = NotificationSettings)))]
async fn put_notifications(
    State(s): S,
    Caller(p): Caller,
    ApiJson(req): ApiJson<NotificationSettings>,
) -> ApiResult<Json<NotificationSettings>> {
    Ok(Json(s.set_notification_settings(&p, req).await?))
}
