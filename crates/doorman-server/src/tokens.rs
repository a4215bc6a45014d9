//! API tokens after they are issued: any token can be revoked by whoever
//! holds it, and the operator can mint a new operator token offline (with
//! the database, no running service and no token needed).
//!
//! Revoking deletes the token's row (only its hash was ever stored) and, in
//! the same transaction, every dashboard session opened with it, and logs
//! the revocation. The answer does not say whether the token existed: an
//! unknown token is revoked as well as it will ever be.

use doorman_api::RevokeToken;
use doorman_domain::{EventKind, Principal, UnixSeconds};
use doorman_store::Store;

use crate::audit::{new_event, Scope};
use crate::{auth, Service, ServiceError, ServiceResult};

/// The label the offline-minted operator tokens carry.
pub const OFFLINE_OPERATOR_LABEL: &str = "operator (minted offline)";

/// Who a token belonged to, in words for the log (never the token itself).
fn holder(p: &Principal) -> String {
    match p {
        Principal::Operator => "the operator".into(),
        Principal::Manager { manager_id } => format!("manager {manager_id}"),
        Principal::Carrier { carrier_id } => format!("carrier {carrier_id}"),
        Principal::Driver { driver_id, carrier_id } => format!("driver {driver_id} of carrier {carrier_id}"),
        Principal::Resident { resident_id, unit_id } => format!("resident {resident_id} of unit {unit_id}"),
    }
}

/// The log entry's scope: the token's holder sees its revocation.
fn scope_of(p: &Principal) -> Scope {
    match *p {
        Principal::Operator | Principal::Manager { .. } => Scope::default(),
        Principal::Carrier { carrier_id } => Scope { carrier: Some(carrier_id), ..Scope::default() },
        Principal::Driver { driver_id, carrier_id } => {
            Scope { carrier: Some(carrier_id), driver: Some(driver_id), ..Scope::default() }
        }
        Principal::Resident { unit_id, .. } => Scope { unit: Some(unit_id), ..Scope::default() },
    }
}

/// The text is shaped like a token doorman issues (the format is public:
/// saying so tells nothing about which tokens exist).
fn token_shaped(token: &str) -> ServiceResult<&str> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ServiceError::Invalid("token: missing".into()));
    }
    if !token.starts_with(auth::TOKEN_PREFIX) || token.len() > 200 {
        return Err(ServiceError::Invalid(format!(
            "token: not a doorman API token (they start with {})",
            auth::TOKEN_PREFIX
        )));
    }
    Ok(token)
}

impl Service {
    /// Revokes `req.token`: afterwards it is refused (401) and the dashboard
    /// sessions opened with it end. Holding the token is the right to revoke
    /// it, whoever the caller is; an unknown token is Ok too, so the answer
    /// tells nothing about which tokens exist.
    pub async fn revoke_token(&self, p: &Principal, req: RevokeToken) -> ServiceResult<()> {
        let hash = auth::hash_secret(token_shaped(&req.token)?);
        let Some(owner) = self.store.principal_for_token(&hash).await? else {
            return Ok(());
        };
        let what = format!("an API token of {} revoked", holder(&owner));
        let event = self.event(EventKind::ConfigurationChanged { what }, scope_of(&owner), p)?;
        // Revoked meanwhile by someone else: nothing is written, the same answer.
        if self.store.delete_token(&hash, &[event]).await? {
            tracing::info!(holder = %holder(&owner), "API token revoked");
            self.events_appended();
        }
        Ok(())
    }
}

/// Mints a new operator token straight into the database and logs it in
/// the same transaction (`doorman operator token`): the way back in when
/// the operator's token is lost or revoked. Returns the token, to be shown
/// once.
pub async fn mint_operator_token(store: &dyn Store, now: UnixSeconds) -> ServiceResult<String> {
    let (token, record) = auth::new_token(Principal::Operator, OFFLINE_OPERATOR_LABEL, now)?;
    let what = format!("operator token {} minted offline", record.id);
    let event = new_event(EventKind::ConfigurationChanged { what }, now, Scope::default(), Some(Principal::Operator))?;
    store.insert_token_logged(&record, &[event]).await?;
    Ok(token)
}
