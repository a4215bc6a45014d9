//! `GET /metrics` (the Prometheus text format, for the operator's token or
//! the metrics token) and the layer that counts every answer by its route's
//! template and status.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use doorman_server::Service;

use crate::error::ApiError;
use crate::extract::{bearer, client_ip};

/// The text format's media type.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(service): State<Arc<Service>>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let client = client_ip(&parts, &service.config().trusted_proxies);
    let text = service.metrics_text(bearer(&parts), client).await?;
    Ok(([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], text).into_response())
}

/// Counts every answer of `router`'s routes (the API's and the dashboard's)
/// in the service's `doorman_http_requests_total`; a request no route
/// matched is counted under the route `unmatched`.
pub fn counted(router: Router, service: Arc<Service>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(service, count))
}

async fn count(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    service.metrics().http_request(method.as_str(), route, response.status().as_u16());
    response
}
