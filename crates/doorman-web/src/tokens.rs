//! Revoking API tokens over HTTP.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use doorman_api::RevokeToken;
use doorman_server::Service;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{ApiJson, Caller};

type S = State<Arc<Service>>;

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new().routes(routes!(revoke_token))
}

/// Revoke an API token: holding it is the right to revoke it (any role, your
/// own or one you found). Afterwards it gets 401 and the dashboard sessions
/// opened with it end. 204 whether or not the token existed.
#[utoipa::path(post, path = "/v1/tokens/revoke", tag = "account", request_body = RevokeToken,
    responses((status = 204, description = "the token no longer works (if it ever did)")))]
async fn revoke_token(State(s): S, Caller(p): Caller, ApiJson(req): ApiJson<RevokeToken>) -> ApiResult<StatusCode> {
    s.revoke_token(&p, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
