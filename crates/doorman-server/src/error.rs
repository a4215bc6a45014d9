//! What can go wrong in a service call, in terms the HTTP layer maps to a
//! status and a stable code. Internal causes are logged, never returned.

use doorman_domain::{AccessRequestId, IllegalTransition, RefusalReason};
use doorman_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No token, or a token the service does not know.
    #[error("missing or invalid API token")]
    Unauthenticated,
    /// A passkey sign-in or registration that does not verify (unknown or
    /// used ceremony, removed credential, bad signature, wrong origin, a
    /// counter that went back).
    #[error("passkey refused: {0}")]
    PasskeyRefused(String),
    /// Too many failed authentications from this client.
    #[error("too many failed authentications; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// The principal's role may not do this at all.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Unknown, or not visible to this principal (the two are not told apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well-formed JSON but says something invalid.
    #[error("{0}")]
    Invalid(String),
    /// It clashes with what exists (a duplicate tracking number, ...).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// An access request refused by policy; recorded under `request_id`.
    #[error("access refused: {}", reason.explain())]
    Refused { reason: RefusalReason, request_id: AccessRequestId },
    /// A clip upload or read refused (its own code and status).
    #[error(transparent)]
    Clip(#[from] crate::clips::ClipRefusal),
    /// The database cannot be reached now; nothing was done and the same
    /// call may succeed in a few seconds. The cause is logged, not sent.
    #[error("the service's database is unavailable; retry in {RETRY_AFTER_UNAVAILABLE_S} s")]
    Unavailable(String),
    /// Anything else; the cause is logged, the client sees only `internal`.
    #[error("internal error")]
    Internal(String),
}

/// What a client is told to wait (`Retry-After`) when the database is away.
pub const RETRY_AFTER_UNAVAILABLE_S: u64 = 2;

impl ServiceError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated => "unauthenticated",
            ServiceError::PasskeyRefused(_) => "passkey_refused",
            ServiceError::RateLimited { .. } => "rate_limited",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Invalid(_) => "invalid_request",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::IllegalTransition(_) => "illegal_transition",
            ServiceError::Clip(r) => r.code(),
            ServiceError::Refused { reason, .. } => reason.as_str(),
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::Internal(_) => "internal",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ServiceError::Invalid(message.into())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound("record"),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::Stale(m) => ServiceError::Conflict(format!("changed meanwhile: {m}")),
            StoreError::Backend(m) => ServiceError::Internal(m),
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
