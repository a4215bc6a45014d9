//! doorman's HTTP interface: the JSON API under `/v1`, its OpenAPI document
//! at `/openapi.json`, and the operational endpoints (`/healthz`, `/readyz`).
//!
//! Invariants: handlers only translate requests into
//! `doorman_server::Service` calls and errors into the one documented shape
//! `{"error": {"code", "message"}}`; [`error::status_of`] is the one mapping
//! from a service error to an HTTP status (the dashboard's error pages use
//! it too). HTTP is known here and in the dashboard, never below them.

mod clips;
pub mod error;
mod events;
pub mod extract;
mod guests;
mod notifications;
mod routes;
mod structure;
mod tenancy;
mod tokens;
mod webhooks;
pub mod witness;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use doorman_api::{ErrorBody, Health};
use doorman_server::Service;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response as OaResponse, ResponseBuilder};
use utoipa::OpenApi;

use crate::error::ApiError;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "doorman", description = "Carrier-neutral, package-scan-gated delivery access with offline-verifiable credentials."),
    components(schemas(ErrorBody)),
    security(("bearer" = []))
)]
struct ApiDoc;

/// Adds what every operation shares: the bearer scheme and the error shape
/// for 4xx and 5xx answers.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("dm_…").build()),
        );
        let error = |what: &str| -> RefOr<OaResponse> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                for (code, what) in [
                    ("400", "malformed request (bad JSON, bad id)"),
                    ("401", "missing or unknown token"),
                    ("403", "not allowed for this principal, or access refused"),
                    ("404", "unknown, or not visible to this principal"),
                    ("409", "conflicts with the current state"),
                    ("413", "body too large"),
                    ("422", "well-formed but invalid"),
                    ("429", "too many failed authentications"),
                ] {
                    op.responses.responses.entry(code.to_string()).or_insert_with(|| error(what));
                }
            }
        }
    }
}

/// The routes and their document; the conventions apply once every route is in.
fn api_router() -> (Router<Arc<Service>>, utoipa::openapi::OpenApi) {
    let (api, mut openapi) = utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::api_routes())
        .split_for_parts();
    utoipa::Modify::modify(&Conventions, &mut openapi);
    (api, openapi)
}

/// The whole API with its OpenAPI document.
pub fn router_and_openapi(service: Arc<Service>) -> (Router, utoipa::openapi::OpenApi) {
    let (api, openapi) = api_router();
    let doc = Arc::new(openapi.clone());
    let router = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_sniffing))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(service);
    (router, openapi)
}

pub fn router(service: Arc<Service>) -> Router {
    router_and_openapi(service).0
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().1
}

async fn readyz(State(s): State<Arc<Service>>) -> impl IntoResponse {
    match s.ready().await {
        Ok(()) => {
            (StatusCode::OK, Json(Health { status: "ready".into(), backend: s.backend().into() })).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, doorman_server::RETRY_AFTER_UNAVAILABLE_S.to_string())],
                Json(Health { status: "unavailable".into(), backend: s.backend().into() }),
            )
                .into_response()
        }
    }
}

/// Every answer of the API is read as the type it names, never sniffed
/// (a JSON error echoing input is never taken for HTML).
async fn no_sniffing(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut()
        .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    res
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// Serves on an already-bound listener until `shutdown` resolves, then
/// finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(service), shutdown).await
}

/// [`serve`] for a router built by the caller (the API merged with the
/// dashboard): client addresses are made available to the handlers.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    /// docs/openapi.json is the generated document, committed so reviewers
    /// and client generators can read it without running anything. Set
    /// DOORMAN_UPDATE_OPENAPI=1 to rewrite it after changing the API.
    #[test]
    fn committed_openapi_document_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let generated = serde_json::to_string_pretty(&super::openapi()).unwrap() + "\n";
        if std::env::var_os("DOORMAN_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is out of date: run DOORMAN_UPDATE_OPENAPI=1 cargo test -p doorman-web"
        );
    }

    #[test]
    fn every_operation_documents_the_error_shape() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 25, "{} paths", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                for code in ["400", "401", "404", "422"] {
                    assert!(op["responses"].get(code).is_some(), "{method} {path} lacks {code}");
                }
            }
        }
    }
}
