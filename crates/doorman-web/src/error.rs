//! One error type for every handler: maps service errors and request
//! rejections to a status and the documented `{"error": {code, message}}`
//! body. Internal causes are logged here and never sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorman_api::{ErrorBody, ErrorDetail};
use doorman_server::clips::ClipRefusal;
use doorman_server::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub request_id: Option<doorman_api::AccessRequestId>,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), request_id: None, retry_after_s: None }
    }
}

/// The HTTP status of a service error: the one mapping, used by the API
/// ([`ApiError`]) and by the dashboard's error pages, so a person and a
/// program are told the same thing.
pub fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Unauthenticated | ServiceError::PasskeyRefused(_) => StatusCode::UNAUTHORIZED,
        ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Forbidden(_) | ServiceError::Refused { .. } => StatusCode::FORBIDDEN,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Conflict(_) | ServiceError::IllegalTransition(_) => StatusCode::CONFLICT,
        ServiceError::Clip(r) => match r {
            ClipRefusal::UnknownClip => StatusCode::NOT_FOUND,
            ClipRefusal::HashMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ClipRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ClipRefusal::Deleted => StatusCode::GONE,
            ClipRefusal::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        },
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Status, stable code and message; an internal cause is logged here and
/// replaced by "internal error".
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = status_of(&e);
        let mut out = ApiError::new(status, e.code(), e.to_string());
        match e {
            ServiceError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                out.retry_after_s = Some(doorman_server::RETRY_AFTER_UNAVAILABLE_S);
            }
            ServiceError::Refused { request_id, .. } => out.request_id = Some(request_id),
            ServiceError::RateLimited { retry_after_s } => out.retry_after_s = Some(retry_after_s),
            _ => {}
        }
        out
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is too large")
            }
            other => ApiError::new(other.status(), "invalid_request", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("bad path parameter: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code, message: self.message, request_id: self.request_id } };
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
