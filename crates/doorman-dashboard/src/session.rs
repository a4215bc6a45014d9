//! Sign-in sessions. A user pastes their API token (or redeems a resident
//! invitation, which makes one); the token is checked by
//! `Service::authenticate` (with its brute-force limiter) and exchanged for a
//! session (`Service::open_web_session`): a secret sent once in an HttpOnly
//! cookie, of which the service stores only the hash. The session acts as
//! that token until it expires, the token goes, or the user signs out
//! (`Service::end_web_session`). A passkey sign-in (passkeys.rs) opens the
//! same kind of session. This module only carries the secret in the cookie.

use std::net::IpAddr;

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use doorman_api::RedeemInvitation;
use doorman_domain::Principal;
use doorman_server::auth::WEB_SESSION_LIFETIME_S;
use doorman_web::error::status_of;
use serde::Deserialize;

use crate::pages::{error_page, render, service_error, Chrome};
use crate::{home_of, see_other, Dash, DashState};

/// A session lasts this long after sign-in (12 hours), whatever happens;
/// the service ends it then, and the cookie's `Max-Age` says the same.
pub const SESSION_LIFETIME_S: i64 = WEB_SESSION_LIFETIME_S;

const COOKIE: &str = "doorman_session";
/// With `Secure`, the `__Host-` prefix also pins the cookie to this host and
/// path `/` (browsers refuse it otherwise).
const SECURE_COOKIE: &str = "__Host-doorman_session";

fn cookie_name(dash: &Dash) -> &'static str {
    if dash.config.secure_cookies() {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// The `Set-Cookie` value for a new session, or (None) for ending it.
pub(crate) fn session_cookie_header(dash: &Dash, session: Option<&str>) -> Option<HeaderValue> {
    let secure = if dash.config.secure_cookies() { "; Secure" } else { "" };
    let (value, age) = match session {
        Some(id) => (id, SESSION_LIFETIME_S),
        None => ("", 0),
    };
    // Lax, not Strict: a link to the dashboard from a notification e-mail
    // opens it signed in. GETs change nothing, and every other method must
    // pass the origin check (csrf.rs), so Lax gives a forger nothing.
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(dash)
    ))
    .ok()
}

/// The session id the request carries, if it is well-formed.
fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_value(headers, name)
}

/// The value of cookie `name` if it is a well-formed secret (43 base64url
/// characters: 32 random bytes).
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The signed-in principal, from the session cookie. Pages without a valid
/// session send the browser to the sign-in page; other methods get 401.
#[derive(Clone)]
pub(crate) struct Signed {
    pub principal: Principal,
    /// The cookie's secret, to end the session with.
    session: String,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed").field("principal", &self.principal).finish_non_exhaustive()
    }
}

impl FromRequestParts<DashState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &DashState) -> Result<Self, Self::Rejection> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                see_other("/app/sign-in")
            } else {
                error_page(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first: no valid session")
                    .into_response()
            }
        };
        let Some(session) = session_cookie(&parts.headers, cookie_name(dash)) else {
            return Err(refuse(parts));
        };
        match dash.service.web_session_principal(&session).await {
            Ok(Some(principal)) => Ok(Signed { principal, session }),
            Ok(None) => Err(refuse(parts)),
            Err(e) => Err(service_error(e)),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<DashState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &DashState) -> Result<Option<Self>, Self::Rejection> {
        let Some(session) = session_cookie(&parts.headers, cookie_name(dash)) else {
            return Ok(None);
        };
        match dash.service.web_session_principal(&session).await {
            Ok(found) => Ok(found.map(|principal| Signed { principal, session })),
            Err(e) => Err(service_error(e)),
        }
    }
}

/// The client's address, for the sign-in limiter (from `X-Forwarded-For`
/// only when the peer is a trusted proxy).
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl FromRequestParts<DashState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, dash: &DashState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(doorman_web::extract::client_ip(parts, &dash.service.config().trusted_proxies)))
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
}

pub(crate) async fn sign_in_page() -> Response {
    render(StatusCode::OK, &SignInPage { chrome: Chrome::anonymous("Sign in"), error: None })
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    token: String,
}

/// Opens a session for `token` (already known good) and sends the browser on.
async fn open_session(dash: &Dash, token: &str, principal: &Principal, then: Response) -> Response {
    let id = match dash.service.open_web_session(token).await {
        Ok(id) => id,
        Err(e) => return service_error(e),
    };
    tracing::info!(principal = ?principal, "dashboard sign-in");
    let mut response = then;
    if let Some(cookie) = session_cookie_header(dash, Some(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub(crate) async fn sign_in(
    State(dash): State<DashState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignInForm>,
) -> Response {
    let token = form.token.trim();
    match dash.service.authenticate(Some(token), ip).await {
        Ok(principal) => open_session(&dash, token, &principal, see_other(home_of(&principal))).await,
        Err(doorman_server::ServiceError::Unauthenticated) => render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                chrome: Chrome::anonymous("Sign in"),
                error: Some("That token is not valid. Paste the whole token, starting with dm_.".into()),
            },
        ),
        Err(e) => service_error(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RedeemForm {
    code: String,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage {
    chrome: Chrome,
    name: String,
    token: String,
    /// Offer to create a passkey now.
    passkeys_on: bool,
}

/// A resident joins with their invitation code (or comes back with a
/// re-invitation's): their account and API token are made, the token is
/// shown once, they are signed in and offered to create a passkey.
pub(crate) async fn redeem(State(dash): State<DashState>, Form(form): Form<RedeemForm>) -> Response {
    match dash.service.redeem_invitation(RedeemInvitation { code: form.code }).await {
        Ok(created) => {
            let principal = Principal::Resident { resident_id: created.item.id, unit_id: created.item.unit_id };
            let page = render(
                StatusCode::OK,
                &WelcomePage {
                    chrome: Chrome::of(&principal, "Welcome"),
                    name: created.item.name,
                    token: created.token.clone(),
                    passkeys_on: dash.service.passkey_origin().is_some(),
                },
            );
            open_session(&dash, &created.token, &principal, page).await
        }
        Err(e @ (doorman_server::ServiceError::NotFound(_) | doorman_server::ServiceError::Invalid(_))) => render(
            status_of(&e),
            &SignInPage {
                chrome: Chrome::anonymous("Sign in"),
                error: Some("That invitation code is unknown, expired or already used.".into()),
            },
        ),
        Err(e) => service_error(e),
    }
}

/// Deletes the session (if the cookie names one) and clears the cookie.
pub(crate) async fn sign_out(State(dash): State<DashState>, signed: Option<Signed>) -> Response {
    if let Some(signed) = signed {
        if let Err(e) = dash.service.end_web_session(&signed.session).await {
            return service_error(e);
        }
    }
    let mut response = see_other("/app/sign-in");
    if let Some(cookie) = session_cookie_header(&dash, None) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let good = "a".repeat(43);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; doorman_session={good}; y=2")).unwrap());
        assert_eq!(session_cookie(&h, COOKIE), Some(good));
        h.insert(header::COOKIE, HeaderValue::from_static("doorman_session=short"));
        assert_eq!(session_cookie(&h, COOKIE), None);
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("doorman_session={}", "a;".repeat(22))).unwrap());
        assert_eq!(session_cookie(&h, COOKIE), None);
    }
}
