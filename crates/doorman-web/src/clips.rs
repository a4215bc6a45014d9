//! Camera clips over HTTP: the lock's (or camera's) upload, authenticated by
//! the clip's hash alone, and the reads of the unit's residents and the
//! property's managers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorman_api::{ClipId, ClipView, LockId, PropertyId, UnitId};
use doorman_server::clips::ClipRefusal;
use doorman_server::{Service, ServiceError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};

type S = State<Arc<Service>>;

/// The header that carries a served clip's SHA-256 (lowercase hex).
pub const CLIP_SHA256_HEADER: &str = "x-clip-sha256";

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    // The upload's limit is the service's `clip_max_bytes`, checked by the
    // handler, instead of the API's small JSON limit.
    let upload = OpenApiRouter::new().routes(routes!(upload_clip)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(get_clip))
        .routes(routes!(clip_info))
        .routes(routes!(unit_clips))
        .routes(routes!(property_clips))
        .merge(upload)
}

/// Upload the clip a lock announced with its signed `camera_clip` event
/// `counter` (the lock, its camera or a relay; no token: the body must hash
/// to what the lock signed). The raw bytes are the body; `Content-Type`
/// (type/subtype) is kept and served back if it is a video or image type
/// the service allows (`video/mp4`, `video/webm`, `image/jpeg`, ...); any
/// other is kept as `application/octet-stream`. Uploading a stored clip again
/// changes nothing. Refusals: `unknown_clip` (404), `clip_hash_mismatch`
/// (422), `clip_too_large` (413), `clip_deleted` (410).
#[utoipa::path(put, path = "/v1/locks/{lock_id}/clips/{counter}", tag = "clips", security(()),
    params(("lock_id" = LockId, Path), ("counter" = u64, Path, maximum = 9223372036854775807_f64, description = "the lock event that announced the clip")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ClipView), (status = 410, description = "deleted after retention", body = doorman_api::ErrorBody)))]
async fn upload_clip(
    State(s): S,
    ApiPath((lock, counter)): ApiPath<(LockId, u64)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ClipView>> {
    let counter = doorman_api::bounded::check(counter)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("bad path parameter: {e}")))?;
    let max = s.config().clip_max_bytes;
    let too_large = || ServiceError::Clip(ClipRefusal::TooLarge { max });
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large().into());
    }
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| too_large())?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    Ok(Json(s.upload_clip(lock, counter, content_type, bytes).await?))
}

/// A clip's bytes (its residents and managers only; anyone else gets 404),
/// with its content type (one of the video and image types the service
/// allows, as uploaded, else `application/octet-stream`), `ETag` and
/// `x-clip-sha256` (the hash in the `clip_ready` log entry),
/// `X-Content-Type-Options: nosniff` and a `Content-Disposition` naming the
/// file (`inline` for a video or image, `attachment` otherwise). Deleted
/// after retention: 410 `clip_deleted`.
#[utoipa::path(get, path = "/v1/clips/{clip_id}", tag = "clips", params(("clip_id" = ClipId, Path)),
    responses((status = 200, description = "the clip's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 410, description = "deleted after retention", body = doorman_api::ErrorBody)))]
async fn get_clip(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<ClipId>) -> ApiResult<Response> {
    let (clip, bytes) = s.clip(&p, id).await?;
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    // The type is the service's choice from its allow-list, never sniffed;
    // a video or image shows inline under its own name, anything else is a
    // download; and were it opened as a page, it could run nothing.
    let (content_type, extension) = doorman_server::clips::served_content_type(&clip.content_type);
    let disposition =
        if content_type == doorman_server::clips::DEFAULT_CLIP_CONTENT_TYPE { "attachment" } else { "inline" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"clip-{}.{extension}\"", clip.clip_id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", clip.sha256)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&clip.sha256) {
        h.insert(CLIP_SHA256_HEADER, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(res)
}

/// What is known of a clip, without its bytes (its residents and managers).
#[utoipa::path(get, path = "/v1/clips/{clip_id}/info", tag = "clips", params(("clip_id" = ClipId, Path)),
    responses((status = 200, body = ClipView)))]
async fn clip_info(State(s): S, Caller(p): Caller, ApiPath(id): ApiPath<ClipId>) -> ApiResult<Json<ClipView>> {
    Ok(Json(s.clip_info(&p, id).await?))
}

/// The unit's clips, newest first (its residents and its property's managers).
#[utoipa::path(get, path = "/v1/units/{unit_id}/clips", tag = "clips", params(("unit_id" = UnitId, Path)),
    responses((status = 200, body = Vec<ClipView>)))]
async fn unit_clips(State(s): S, Caller(p): Caller, ApiPath(unit): ApiPath<UnitId>) -> ApiResult<Json<Vec<ClipView>>> {
    Ok(Json(s.unit_clips(&p, unit).await?))
}

/// The property's clips, newest first (its managers).
#[utoipa::path(get, path = "/v1/properties/{property_id}/clips", tag = "clips",
    params(("property_id" = PropertyId, Path)), responses((status = 200, body = Vec<ClipView>)))]
async fn property_clips(
    State(s): S,
    Caller(p): Caller,
    ApiPath(property): ApiPath<PropertyId>,
) -> ApiResult<Json<Vec<ClipView>>> {
    Ok(Json(s.property_clips(&p, property).await?))
}
