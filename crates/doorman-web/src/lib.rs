//! doorman's HTTP interface: the JSON API under `/v1`, its OpenAPI document
//! at `/openapi.json`, and the operational endpoints (`/healthz`, `/readyz`,
//! `/metrics`).
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
pub mod metrics;
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

/// Adds what every operation shares: the bearer scheme, the error shape for
/// every 4xx and 5xx answer it can give (each with the `error.code`s it
/// carries), and the media types that utoipa's annotations cannot say: a
/// clip's bytes and the event stream's messages (issue 17 finding 8).
struct Conventions;

/// The statuses every operation may answer, with what they mean and the
/// `error.code`s they carry.
const EVERY_OPERATION: &[(&str, &str)] = &[
    (
        "400",
        "malformed request: `malformed_json`, `invalid_id` (a bad path parameter), `invalid_request` (a bad query)",
    ),
    ("401", "missing or unknown token: `unauthenticated`"),
    ("403", "not allowed for this principal (`forbidden`), or access refused (`error.code` is the refusal reason)"),
    ("404", "unknown, or not visible to this principal (the two are not told apart): `not_found`"),
    ("409", "conflicts with the current state: `conflict`, `illegal_transition`"),
    ("422", "well-formed but invalid: `invalid_request`"),
    (
        "429",
        "too many failed authentications from this client or with this credential: `rate_limited`, with `Retry-After`",
    ),
    ("500", "an internal error, logged by the service and never described: `internal`"),
];
/// What an operation that takes a JSON body may answer besides.
const JSON_BODY: &[(&str, &str)] = &[
    ("413", "body too large: `payload_too_large`"),
    ("415", "the body is not sent as `Content-Type: application/json`: `unsupported_media_type`"),
];
/// What the clip operations may answer besides.
const CLIPS: &[(&str, &str)] = &[
    ("410", "the clip was deleted after its retention period: `clip_deleted`"),
    ("413", "the clip is larger than the service takes: `clip_too_large`"),
    ("503", "the service has no clip store: `clip_store_unavailable`"),
];

fn error_response(what: &str) -> RefOr<OaResponse> {
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
}

/// Bytes of any of the media types a clip is kept with.
fn clip_content() -> Vec<(String, utoipa::openapi::Content)> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let bytes =
        || ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
    let types = doorman_server::clips::CLIP_CONTENT_TYPES.iter().map(|(t, _)| *t);
    types
        .chain([doorman_server::clips::DEFAULT_CLIP_CONTENT_TYPE])
        .map(|t| (t.to_string(), utoipa::openapi::ContentBuilder::new().schema(Some(bytes())).build()))
        .collect()
}

/// `text/event-stream`: the body is a stream of messages; each message's
/// fields are given as `x-item-schema` (OpenAPI 3.2's `itemSchema`).
fn event_stream_content() -> utoipa::openapi::Content {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let item = serde_json::json!({
        "type": "object",
        "description": "one server-sent event; a line `: keep-alive` comment may come between events",
        "required": ["id", "event", "data"],
        "properties": {
            "id": { "type": "string", "description": "the event's log index (send it back as Last-Event-ID)" },
            "event": { "type": "string", "description": "the event's type (`access_granted`, `diverted`, ...)" },
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": { "$ref": "#/components/schemas/FeedEvent" },
                "description": "the event as JSON, one FeedEvent"
            }
        }
    });
    utoipa::openapi::ContentBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).description(Some(
            "server-sent events (text/event-stream): `id:`, `event:` and `data:` lines per event, data a FeedEvent as JSON",
        ))))
        .extensions(Some(utoipa::openapi::extensions::ExtensionsBuilder::new().add("x-item-schema", item).build()))
        .build()
}

impl utoipa::Modify for Conventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("dm_…").build()),
        );
        for (path, item) in api.paths.paths.iter_mut() {
            let is_clip = path == "/v1/clips/{clip_id}" || path == "/v1/locks/{lock_id}/clips/{counter}";
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                let extra = if json_body { JSON_BODY } else { &[] };
                let clip = if is_clip { CLIPS } else { &[] };
                for (code, what) in EVERY_OPERATION.iter().chain(extra).chain(clip) {
                    // An operation's own description of a status (a refusal's 403) stays.
                    op.responses.responses.entry(code.to_string()).or_insert_with(|| error_response(what));
                }
                if path == "/v1/clips/{clip_id}" {
                    if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                        ok.content = clip_content().into_iter().collect();
                    }
                }
                if path == "/v1/locks/{lock_id}/clips/{counter}" {
                    if let Some(body) = op.request_body.as_mut() {
                        body.content = clip_content().into_iter().collect();
                    }
                }
                if path == "/v1/events/stream" {
                    if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                        ok.content = [("text/event-stream".to_string(), event_stream_content())].into_iter().collect();
                    }
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
        .route("/metrics", get(metrics::metrics))
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
            {
                // Reads are served either way; a halted log is said here.
                let health = Health { status: "ready".into(), backend: s.backend().into(), log_halted: s.log_halted() };
                (StatusCode::OK, Json(health)).into_response()
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, doorman_server::RETRY_AFTER_UNAVAILABLE_S.to_string())],
                Json(Health { status: "unavailable".into(), backend: s.backend().into(), log_halted: s.log_halted() }),
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
                for code in ["400", "401", "404", "422", "500"] {
                    assert!(op["responses"].get(code).is_some(), "{method} {path} lacks {code}");
                }
                if op.pointer("/requestBody/content/application~1json").is_some() {
                    assert!(op["responses"].get("415").is_some(), "{method} {path} lacks 415");
                }
            }
        }
    }
}
