//! Sign-in sessions. A user pastes their API token (or redeems a resident
//! invitation, which makes one); the token is checked by
//! `Service::authenticate` (with its brute-force limiter) and exchanged for a
//! session: 32 random bytes, sent once in an HttpOnly cookie, stored only as
//! SHA-256 next to the token's hash. The session acts as that token until it
//! expires, the token goes, or the user signs out (which deletes it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_api::RedeemInvitation;
use doorman_domain::Principal;
use doorman_server::auth;
use doorman_store::WebSessionRecord;
use serde::Deserialize;

use crate::pages::{error_page, render, service_error, Chrome};
use crate::{home_of, see_other, Dash, DashState};

/// A session lasts this long after sign-in (12 hours), whatever happens.
pub const SESSION_LIFETIME_S: i64 = 12 * 3600;

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
fn set_cookie(dash: &Dash, session: Option<&str>) -> Option<HeaderValue> {
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

fn client_ip(parts: &Parts) -> IpAddr {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The signed-in principal, from the session cookie. Pages without a valid
/// session send the browser to the sign-in page; other methods get 401.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Signed {
    pub principal: Principal,
    session_hash: [u8; 32],
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
        let Some(id) = session_cookie(&parts.headers, cookie_name(dash)) else {
            return Err(refuse(parts));
        };
        let session_hash = auth::hash_secret(&id);
        match dash.service.store().principal_for_web_session(&session_hash, dash.service.now()).await {
            Ok(Some(principal)) => Ok(Signed { principal, session_hash }),
            Ok(None) => Err(refuse(parts)),
            Err(e) => Err(service_error(e.into())),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<DashState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &DashState) -> Result<Option<Self>, Self::Rejection> {
        let Some(id) = session_cookie(&parts.headers, cookie_name(dash)) else {
            return Ok(None);
        };
        let session_hash = auth::hash_secret(&id);
        match dash.service.store().principal_for_web_session(&session_hash, dash.service.now()).await {
            Ok(found) => Ok(found.map(|principal| Signed { principal, session_hash })),
            Err(e) => Err(service_error(e.into())),
        }
    }
}

/// The client's address, for the sign-in limiter.
pub(crate) struct ClientIp(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
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
    let id = match auth::random_bytes::<32>() {
        Ok(bytes) => URL_SAFE_NO_PAD.encode(bytes),
        Err(e) => return service_error(e),
    };
    let now = dash.service.now();
    let record = WebSessionRecord {
        hash: auth::hash_secret(&id),
        token_hash: auth::hash_secret(token),
        created_at: now,
        expires_at: now + SESSION_LIFETIME_S,
    };
    if let Err(e) = dash.service.store().insert_web_session(&record).await {
        return service_error(e.into());
    }
    tracing::info!(principal = ?principal, "dashboard sign-in");
    let mut response = then;
    if let Some(cookie) = set_cookie(dash, Some(&id)) {
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
}

/// A resident joins with their invitation code: their account and API token
/// are made, the token is shown once, and they are signed in.
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
                },
            );
            open_session(&dash, &created.token, &principal, page).await
        }
        Err(doorman_server::ServiceError::NotFound(_)) | Err(doorman_server::ServiceError::Invalid(_)) => render(
            StatusCode::NOT_FOUND,
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
        if let Err(e) = dash.service.store().delete_web_session(&signed.session_hash).await {
            return service_error(e.into());
        }
    }
    let mut response = see_other("/app/sign-in");
    if let Some(cookie) = set_cookie(&dash, None) {
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
