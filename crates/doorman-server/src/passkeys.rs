//! Passkeys: signing in to the dashboard with a WebAuthn credential
//! (webauthn-rs verifies; this module keeps the state and the rules).
//!
//! - The relying party is the public URL (`DOORMAN_PUBLIC_URL`): its host
//!   is the RP id and its origin the only origin accepted. Without one, the
//!   service is its own `http://localhost:PORT` (browsers allow WebAuthn on
//!   localhost over plain http). A public URL naming an IP address leaves
//!   passkeys off: WebAuthn needs a host name.
//! - A ceremony's state (the challenge) stays in the store, under the
//!   SHA-256 of a random id that the browser holds in an HttpOnly cookie;
//!   it lasts [`CEREMONY_LIFETIME_S`] and is taken by the first request that
//!   finishes it, so an assertion or a challenge cannot be replayed. A
//!   registration is bound to the principal who started it.
//! - Sign-in is discoverable (no user name typed): the authenticator names
//!   the credential and the user handle; both must match a stored passkey
//!   (the handle is the principal's own id), and the signature, the
//!   origin, user verification and the sign counter are checked by
//!   webauthn-rs. A counter that does not move forward (a cloned
//!   authenticator) is refused; the new counter is stored by compare and
//!   set, so two sign-ins with one counter value cannot both pass.
//! - A successful sign-in opens the same dashboard session a token sign-in
//!   does, acting as the passkey's own token (see doorman-store's
//!   `PasskeyStore`): removing the passkey, a re-invitation or moving out
//!   ends it.
//! - A person may remove a passkey as long as another way in remains
//!   (another passkey or an API token of theirs). Adding and removing are
//!   logged in the transparency log in the same transaction.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_api::{InvitationCreated, PasskeyInfo};
use doorman_domain::{EventKind, Invitation, InvitationId, PasskeyId, Principal, ResidentId, TokenId, UnitId};
use doorman_store::{CeremonyRecord, PasskeyRecord, PasskeyUse, StoreError, TokenRecord};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::audit::Scope;
use crate::auth::{hash_secret, random_bytes, WEB_SESSION_LIFETIME_S};
use crate::{text_field, Service, ServiceError, ServiceResult};

/// A ceremony (registering a passkey, signing in with one) must finish
/// within five minutes.
pub const CEREMONY_LIFETIME_S: i64 = 300;
/// Ceremonies under way at most, all principals and anonymous sign-ins
/// together (each is a few hundred bytes; expired ones are forgotten).
const MAX_OPEN_CEREMONIES: i64 = 20_000;
const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";

/// The relying party: who the passkeys are for.
pub struct RelyingParty {
    webauthn: Webauthn,
    origin: String,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// The relying party for `origin` (scheme, host, optional port); Err
    /// with the reason when WebAuthn cannot work there (an IP address, no
    /// host).
    pub fn new(origin: &str) -> Result<Self, String> {
        let url = Url::parse(origin).map_err(|e| format!("{origin:?} is not a URL: {e}"))?;
        let Some(rp_id) = url.domain().map(str::to_string) else {
            return Err(format!("{origin:?} names no host name (WebAuthn refuses IP addresses)"));
        };
        let webauthn = WebauthnBuilder::new(&rp_id, &url)
            .and_then(|b| b.rp_name("doorman").build())
            .map_err(|e| format!("{origin:?}: {e}"))?;
        Ok(Self { webauthn, origin: url.origin().ascii_serialization() })
    }

    /// The origin a passkey is used from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The origin passkeys answer to: the public URL when one is set, else
/// `http://localhost:PORT` of the port the service listens on.
pub fn relying_party_origin(public_url: Option<&str>, port: u16) -> String {
    match public_url.map(|u| u.trim().trim_end_matches('/')).filter(|u| !u.is_empty()) {
        Some(url) => url.to_string(),
        None => format!("http://localhost:{port}"),
    }
}

/// A ceremony started: the secret for the browser's cookie (only its hash
/// is stored) and the options for `navigator.credentials`.
#[derive(Debug)]
pub struct PasskeyChallenge {
    pub ceremony: String,
    pub options: serde_json::Value,
}

/// A passkey sign-in that passed: the session's secret, for the cookie.
#[derive(Debug)]
pub struct PasskeySignedIn {
    pub session: String,
    pub principal: Principal,
}

/// The WebAuthn user handle of a principal: its own id. The operator has
/// none (it signs in with its token).
fn user_handle(p: &Principal) -> Option<Uuid> {
    match p {
        Principal::Resident { resident_id, .. } => Some(resident_id.as_uuid()),
        Principal::Manager { manager_id } => Some(manager_id.as_uuid()),
        Principal::Carrier { carrier_id } => Some(carrier_id.as_uuid()),
        Principal::Driver { driver_id, .. } => Some(driver_id.as_uuid()),
        Principal::Operator => None,
    }
}

/// Where a principal's passkey events are logged: residents see theirs on
/// their unit's log; carriers and drivers theirs.
fn scope_of(p: &Principal) -> Scope {
    match *p {
        Principal::Resident { unit_id, .. } => Scope { unit: Some(unit_id), ..Scope::default() },
        Principal::Carrier { carrier_id } => Scope { carrier: Some(carrier_id), ..Scope::default() },
        Principal::Driver { driver_id, carrier_id } => {
            Scope { carrier: Some(carrier_id), driver: Some(driver_id), ..Scope::default() }
        }
        Principal::Manager { .. } | Principal::Operator => Scope::default(),
    }
}

fn info(p: &PasskeyRecord) -> PasskeyInfo {
    PasskeyInfo { id: p.id, name: p.name.clone(), created_at: p.created_at, last_used_at: p.last_used_at }
}

fn refused(why: &str) -> ServiceError {
    ServiceError::PasskeyRefused(why.to_string())
}

fn internal(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("{what}: {e}"))
}

/// The ceremony secret as the browser's cookie carries it.
fn ceremony_hash(secret: &str) -> ServiceResult<[u8; 32]> {
    if secret.len() != 43 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(refused("no passkey ceremony under way here: start again"));
    }
    Ok(hash_secret(secret))
}

impl Service {
    /// Sets who the passkeys are for (at start, once the listening port is
    /// known). Err, and passkeys stay off, when WebAuthn cannot work at
    /// that origin.
    pub fn attach_passkeys(&self, origin: &str) -> Result<(), String> {
        let rp = RelyingParty::new(origin)?;
        self.passkeys.set(rp).map_err(|_| "passkeys are configured already".to_string())
    }

    /// The origin passkeys work from, if they are on.
    pub fn passkey_origin(&self) -> Option<&str> {
        self.passkeys.get().map(RelyingParty::origin)
    }

    fn relying_party(&self) -> ServiceResult<&RelyingParty> {
        self.passkeys.get().ok_or_else(|| {
            ServiceError::Conflict("passkeys are off: the public URL must name a host (DOORMAN_PUBLIC_URL)".into())
        })
    }

    async fn open_ceremony(&self, purpose: &str, principal: Option<Principal>, state: String) -> ServiceResult<String> {
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let now = self.now();
        let record = CeremonyRecord {
            hash: hash_secret(&secret),
            purpose: purpose.into(),
            principal,
            state,
            created_at: now,
            expires_at: now + CEREMONY_LIFETIME_S,
        };
        match self.store.insert_ceremony(&record, MAX_OPEN_CEREMONIES).await {
            Ok(()) => Ok(secret),
            Err(StoreError::Conflict(_)) => Err(ServiceError::RateLimited { retry_after_s: 60 }),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the ceremony the secret names, if it is one of `purpose` (it
    /// is gone either way: single use).
    async fn take_ceremony(&self, secret: &str, purpose: &str) -> ServiceResult<CeremonyRecord> {
        let hash = ceremony_hash(secret)?;
        match self.store.take_ceremony(&hash, self.now()).await? {
            Some(c) if c.purpose == purpose => Ok(c),
            _ => Err(refused("this passkey ceremony is unknown, expired or used: start again")),
        }
    }

    /// The name and display name the authenticator shows for a principal.
    async fn account_names(&self, p: &Principal) -> ServiceResult<(String, String)> {
        let (name, display) = match *p {
            Principal::Resident { resident_id, .. } => {
                let r = self.store.get_resident(resident_id).await?.ok_or(ServiceError::NotFound("resident"))?;
                (r.email, r.name)
            }
            Principal::Manager { manager_id } => {
                let m = self.store.get_manager(manager_id).await?.ok_or(ServiceError::NotFound("manager"))?;
                (m.name.clone(), m.name)
            }
            Principal::Carrier { carrier_id } => {
                let c = self.store.get_carrier(carrier_id).await?.ok_or(ServiceError::NotFound("carrier"))?;
                (c.name.clone(), c.name)
            }
            Principal::Driver { driver_id, .. } => {
                let d = self.store.get_driver(driver_id).await?.ok_or(ServiceError::NotFound("driver"))?;
                (d.name.clone(), d.name)
            }
            Principal::Operator => return Err(ServiceError::Forbidden("the operator signs in with its token")),
        };
        Ok((name, display))
    }

    /// Starts registering a passkey for `p`: options for
    /// `navigator.credentials.create` (a discoverable credential with user
    /// verification; their other passkeys excluded) and the ceremony's
    /// secret.
    pub async fn start_passkey_registration(&self, p: &Principal) -> ServiceResult<PasskeyChallenge> {
        let rp = self.relying_party()?;
        let handle = user_handle(p).ok_or(ServiceError::Forbidden("the operator signs in with its token"))?;
        let (name, display) = self.account_names(p).await?;
        let existing = self.store.list_passkeys(p).await?;
        let exclude = existing.iter().map(|k| k.credential_id.clone().into()).collect::<Vec<_>>();
        let (options, state) = rp
            .webauthn
            .start_passkey_registration(handle, &name, &display, Some(exclude))
            .map_err(|e| internal("starting a passkey registration", e))?;
        let mut options = serde_json::to_value(&options).map_err(|e| internal("registration options", e))?;
        // Discoverable: signing in names no user, so the authenticator must
        // keep the credential (webauthn-rs asks only opportunistically).
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        let state = serde_json::to_string(&state).map_err(|e| internal("registration state", e))?;
        let ceremony = self.open_ceremony(REGISTER, Some(*p), state).await?;
        Ok(PasskeyChallenge { ceremony, options })
    }

    /// Finishes the registration `ceremony` started for `p` with the
    /// browser's `credential` (the JSON of its PublicKeyCredential) and
    /// stores the passkey under `name`, logged.
    pub async fn finish_passkey_registration(
        &self,
        p: &Principal,
        ceremony: &str,
        name: &str,
        credential: &str,
    ) -> ServiceResult<PasskeyInfo> {
        let rp = self.relying_party()?;
        let name = text_field("name", name, 100)?;
        let ceremony = self.take_ceremony(ceremony, REGISTER).await?;
        // Started by someone else: as if there were none.
        if ceremony.principal != Some(*p) {
            return Err(refused("this passkey ceremony is unknown, expired or used: start again"));
        }
        let response: RegisterPublicKeyCredential = serde_json::from_str(credential)
            .map_err(|e| ServiceError::invalid(format!("credential: not a WebAuthn registration: {e}")))?;
        let state: PasskeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(|e| internal("stored registration state", e))?;
        let passkey = rp.webauthn.finish_passkey_registration(&response, &state).map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            refused("the authenticator's answer does not verify")
        })?;
        let now = self.now();
        let id = PasskeyId::random();
        let token = TokenRecord {
            id: TokenId::random(),
            // A token nobody holds: the hash of a secret that is dropped here.
            hash: hash_secret(&URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)),
            principal: *p,
            label: format!("passkey {id}"),
            created_at: now,
        };
        let record = PasskeyRecord {
            id,
            principal: *p,
            name: name.clone(),
            credential_id: passkey.cred_id().to_vec(),
            credential: serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?,
            sign_count: 0,
            token_id: token.id,
            created_at: now,
            last_used_at: None,
        };
        let event = self.event(EventKind::PasskeyAdded { passkey_id: id, name }, scope_of(p), p)?;
        self.store.insert_passkey(&record, &token, &[event]).await.map_err(|e| match e {
            StoreError::Conflict(_) => ServiceError::Conflict("this passkey is registered already".into()),
            other => other.into(),
        })?;
        self.events_appended();
        Ok(info(&record))
    }

    /// Starts a sign-in with a passkey: options for
    /// `navigator.credentials.get` naming no user, and the ceremony's secret.
    pub async fn start_passkey_sign_in(&self, client: IpAddr) -> ServiceResult<PasskeyChallenge> {
        let rp = self.relying_party()?;
        self.limiter.check(client, self.now())?;
        let (mut options, state) =
            rp.webauthn.start_discoverable_authentication().map_err(|e| internal("starting a passkey sign-in", e))?;
        // A button starts it, not an autofill field: no conditional mediation.
        options.mediation = None;
        let options = serde_json::to_value(&options).map_err(|e| internal("sign-in options", e))?;
        let state = serde_json::to_string(&state).map_err(|e| internal("sign-in state", e))?;
        let ceremony = self.open_ceremony(SIGN_IN, None, state).await?;
        Ok(PasskeyChallenge { ceremony, options })
    }

    /// Finishes the sign-in `ceremony` with the browser's `credential` (the
    /// JSON of its PublicKeyCredential): on success a dashboard session for
    /// the passkey's holder. Every refusal counts as a failed
    /// authentication of the client's address.
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        credential: &str,
        client: IpAddr,
    ) -> ServiceResult<PasskeySignedIn> {
        let rp = self.relying_party()?;
        let now = self.now();
        self.limiter.check(client, now)?;
        match self.passkey_sign_in(rp, ceremony, credential).await {
            Ok(signed) => Ok(signed),
            Err(e @ (ServiceError::PasskeyRefused(_) | ServiceError::Invalid(_))) => {
                self.limiter.fail(client, hash_secret(credential), now)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn passkey_sign_in(
        &self,
        rp: &RelyingParty,
        ceremony: &str,
        credential: &str,
    ) -> ServiceResult<PasskeySignedIn> {
        let ceremony = self.take_ceremony(ceremony, SIGN_IN).await?;
        let response: PublicKeyCredential = serde_json::from_str(credential)
            .map_err(|e| ServiceError::invalid(format!("credential: not a WebAuthn assertion: {e}")))?;
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(|e| internal("stored sign-in state", e))?;
        let (handle, credential_id) = rp
            .webauthn
            .identify_discoverable_authentication(&response)
            .map_err(|_| refused("the authenticator named no account"))?;
        let Some(stored) = self.store.passkey_by_credential_id(credential_id).await? else {
            return Err(refused("this passkey is not registered here (or was removed)"));
        };
        if user_handle(&stored.principal) != Some(handle) {
            return Err(refused("this passkey belongs to another account"));
        }
        let mut passkey: Passkey =
            serde_json::from_str(&stored.credential).map_err(|e| internal("stored passkey", e))?;
        let result = rp
            .webauthn
            .finish_discoverable_authentication(&response, state, &[DiscoverableKey::from(&passkey)])
            .map_err(|e| {
                tracing::info!(error = %e, passkey = %stored.id, "passkey sign-in refused");
                refused("the passkey's answer does not verify (wrong site, challenge or signature, or a copied key)")
            })?;
        passkey.update_credential(&result);
        let updated = serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?;
        let count = i64::from(result.counter());
        let session = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let now = self.now();
        let expires_at = now + WEB_SESSION_LIFETIME_S;
        let used = PasskeyUse {
            passkey: stored.id,
            expected_count: stored.sign_count,
            credential: &updated,
            sign_count: count,
            at: now,
            session_hash: hash_secret(&session),
            session_expires_at: expires_at,
        };
        let opened = self.store.passkey_signed_in(&used).await?;
        if !opened {
            return Err(refused("this passkey was used or removed at the same moment: try again"));
        }
        Ok(PasskeySignedIn { session, principal: stored.principal })
    }

    /// The principal's passkeys, oldest first.
    pub async fn list_passkeys(&self, p: &Principal) -> ServiceResult<Vec<PasskeyInfo>> {
        if matches!(p, Principal::Operator) {
            return Ok(Vec::new());
        }
        Ok(self.store.list_passkeys(p).await?.iter().map(info).collect())
    }

    /// Removes one of the principal's passkeys (its sessions end), logged;
    /// refused (409) when it is their last way in: no other passkey and no
    /// API token of theirs.
    pub async fn remove_passkey(&self, p: &Principal, id: PasskeyId) -> ServiceResult<()> {
        let passkeys = self.store.list_passkeys(p).await?;
        let passkey = passkeys.iter().find(|k| k.id == id).ok_or(ServiceError::NotFound("passkey"))?;
        let kind = EventKind::PasskeyRemoved { passkey_id: id, name: passkey.name.clone(), by_reinvitation: None };
        let event = self.event(kind, scope_of(p), p)?;
        self.store.delete_passkey(p, id, true, &[event]).await?.ok_or(ServiceError::NotFound("passkey"))?;
        self.events_appended();
        Ok(())
    }

    /// A manager re-invites a resident of their property who lost every
    /// device: a new invitation code whose redemption brings back the same
    /// resident (history and preferences kept, a new API token). The
    /// resident's passkeys are removed and every dashboard session of theirs
    /// ends now, in the same transaction, logged (`ResidentReinvited` and a
    /// `PasskeyRemoved` each): a lost phone signs nobody in. Their API
    /// tokens stay (scripts keep working; each token's holder can revoke it).
    pub async fn reinvite_resident(
        &self,
        p: &Principal,
        unit: UnitId,
        resident: ResidentId,
    ) -> ServiceResult<InvitationCreated> {
        let u = self.unit_of_its_manager(p, unit).await?;
        let r = match self.store.get_resident(resident).await? {
            Some(r) if r.unit_id == unit && r.moved_out_at.is_none() => r,
            _ => return Err(ServiceError::NotFound("resident")),
        };
        let now = self.now();
        let code = format!("inv_{}", URL_SAFE_NO_PAD.encode(random_bytes::<18>()?));
        let invitation = Invitation {
            id: InvitationId::random(),
            unit_id: unit,
            name: r.name.clone(),
            email: r.email.clone(),
            created_at: now,
            expires_at: now + self.config.invitation_lifetime_s,
            redeemed_at: None,
            resident_id: Some(r.id),
        };
        let scope = Scope { property: Some(u.property_id), unit: Some(unit), ..Scope::default() };
        let actor = *p;
        let invitation_id = invitation.id;
        let removed = move |passkeys: &[PasskeyRecord]| -> Result<Vec<doorman_domain::Event>, String> {
            let reinvited = EventKind::ResidentReinvited { resident_id: resident, invitation_id };
            let mut events =
                vec![crate::audit::new_event(reinvited, now, scope, Some(actor)).map_err(|e| e.to_string())?];
            for k in passkeys {
                let kind = EventKind::PasskeyRemoved {
                    passkey_id: k.id,
                    name: k.name.clone(),
                    by_reinvitation: Some(invitation_id),
                };
                events.push(crate::audit::new_event(kind, now, scope, Some(actor)).map_err(|e| e.to_string())?);
            }
            Ok(events)
        };
        self.store.reinvite_resident(&invitation, &hash_secret(&code), &removed).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("resident"),
            other => other.into(),
        })?;
        self.events_appended();
        tracing::info!(resident = %resident, "resident re-invited");
        Ok(InvitationCreated { invitation, code })
    }
}
