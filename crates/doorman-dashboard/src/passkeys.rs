//! Passkeys in the dashboard: the JSON endpoints `assets/passkeys.js`
//! calls around `navigator.credentials.create`/`get`, and the account page
//! (the signed-in person's passkeys: listed, added, removed).
//!
//! A ceremony's random id travels only in an HttpOnly, SameSite=Strict
//! cookie that lives as long as the ceremony (five minutes); the service
//! keeps the challenge under its hash and lets one request finish it
//! (doorman-server's `passkeys` module). A passkey sign-in sets the same
//! session cookie a token sign-in does.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorman_domain::{PasskeyId, Principal};
use doorman_server::passkeys::{PasskeyChallenge, CEREMONY_LIFETIME_S};
use doorman_server::ServiceError;
use doorman_web::error::ApiError;
use serde::Deserialize;
use serde_json::json;

use crate::pages::{or_error, render, Chrome};
use crate::session::{cookie_value, session_cookie_header, ClientIp, Signed};
use crate::text::local_time;
use crate::{home_of, see_other, Dash, DashState};

const COOKIE: &str = "doorman_passkey";
const SECURE_COOKIE: &str = "__Host-doorman_passkey";

fn cookie_name(dash: &Dash) -> &'static str {
    if dash.config.secure_cookies() {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// The ceremony cookie: set for a new ceremony, cleared (None) once used.
fn ceremony_cookie(dash: &Dash, ceremony: Option<&str>) -> Option<HeaderValue> {
    let secure = if dash.config.secure_cookies() { "; Secure" } else { "" };
    let (value, age) = match ceremony {
        Some(id) => (id, CEREMONY_LIFETIME_S),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}",
        cookie_name(dash)
    ))
    .ok()
}

/// A JSON error in the API's shape.
fn json_error(e: ServiceError) -> Response {
    ApiError::from(e).into_response()
}

/// The options for the browser, with the ceremony's cookie.
fn challenge_response(dash: &Dash, started: Result<PasskeyChallenge, ServiceError>) -> Response {
    match started {
        Ok(challenge) => {
            let mut response = Json(challenge.options).into_response();
            if let Some(cookie) = ceremony_cookie(dash, Some(&challenge.ceremony)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => json_error(e),
    }
}

/// The answer to a finished ceremony: `then` (JSON), the ceremony cookie
/// cleared; an error in the API's shape otherwise.
fn finished(dash: &Dash, result: Result<Response, ServiceError>) -> Response {
    let mut response = result.unwrap_or_else(json_error);
    if let Some(cookie) = ceremony_cookie(dash, None) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// What the browser's credential was, as JSON text (the verifier parses it).
fn credential_text(credential: &serde_json::Value) -> Result<String, ServiceError> {
    if !credential.is_object() {
        return Err(ServiceError::invalid("credential: the browser's PublicKeyCredential, as JSON"));
    }
    serde_json::to_string(credential).map_err(|e| ServiceError::invalid(format!("credential: {e}")))
}

/// `POST /app/passkeys/register/options`: the signed-in person starts
/// adding a passkey.
pub(crate) async fn register_options(State(dash): State<DashState>, signed: Signed) -> Response {
    let started = dash.service.start_passkey_registration(&signed.principal).await;
    challenge_response(&dash, started)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisterBody {
    name: String,
    credential: serde_json::Value,
}

/// `POST /app/passkeys/register`: the authenticator's answer; the passkey
/// is stored under the name given.
pub(crate) async fn register(
    State(dash): State<DashState>,
    signed: Signed,
    headers: HeaderMap,
    Json(body): Json<RegisterBody>,
) -> Response {
    let ceremony = cookie_value(&headers, cookie_name(&dash)).unwrap_or_default();
    let result = async {
        let credential = credential_text(&body.credential)?;
        let added =
            dash.service.finish_passkey_registration(&signed.principal, &ceremony, &body.name, &credential).await?;
        Ok((StatusCode::CREATED, Json(json!({ "passkey": added }))).into_response())
    }
    .await;
    finished(&dash, result)
}

/// `POST /app/passkeys/sign-in/options`: anyone starts a passkey sign-in.
pub(crate) async fn sign_in_options(State(dash): State<DashState>, ClientIp(ip): ClientIp) -> Response {
    let started = dash.service.start_passkey_sign_in(ip).await;
    challenge_response(&dash, started)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInBody {
    credential: serde_json::Value,
}

/// `POST /app/passkeys/sign-in`: the assertion; on success the session
/// cookie and where to go.
pub(crate) async fn sign_in(
    State(dash): State<DashState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<SignInBody>,
) -> Response {
    let ceremony = cookie_value(&headers, cookie_name(&dash)).unwrap_or_default();
    let result = async {
        let credential = credential_text(&body.credential)?;
        let signed = dash.service.finish_passkey_sign_in(&ceremony, &credential, ip).await?;
        tracing::info!(principal = ?signed.principal, "dashboard sign-in with a passkey");
        let mut response = Json(json!({ "redirect": home_of(&signed.principal) })).into_response();
        if let Some(cookie) = session_cookie_header(&dash, Some(&signed.session)) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        Ok(response)
    }
    .await;
    finished(&dash, result)
}

// --- the account page ----------------------------------------------------------------

pub(crate) struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    passkeys: Vec<PasskeyRow>,
    passkeys_on: bool,
}

/// The time zone a person's dates are shown in: a resident's building's,
/// UTC for everyone else.
async fn time_zone(dash: &Dash, p: &Principal) -> String {
    match p {
        Principal::Resident { unit_id, .. } => {
            dash.service.unit_overview(p, *unit_id).await.map(|u| u.time_zone).unwrap_or_else(|_| "UTC".into())
        }
        _ => "UTC".into(),
    }
}

/// `GET /app/account`: the signed-in person's passkeys.
pub(crate) async fn account_page(State(dash): State<DashState>, signed: Signed) -> Response {
    let p = signed.principal;
    or_error(
        async {
            let tz = time_zone(&dash, &p).await;
            let passkeys = dash
                .service
                .list_passkeys(&p)
                .await?
                .into_iter()
                .map(|k| PasskeyRow {
                    id: k.id.to_string(),
                    name: k.name,
                    added: local_time(k.created_at, &tz),
                    last_used: k.last_used_at.map(|t| local_time(t, &tz)).unwrap_or_else(|| "never".into()),
                })
                .collect();
            let passkeys_on = dash.service.passkey_origin().is_some() && !matches!(p, Principal::Operator);
            Ok(render(StatusCode::OK, &AccountPage { chrome: Chrome::of(&p, "Account"), passkeys, passkeys_on }))
        }
        .await,
    )
}

/// `POST /app/account/passkeys/{id}/remove`: one passkey removed (refused
/// when it is the last way in).
pub(crate) async fn remove(State(dash): State<DashState>, signed: Signed, Path(id): Path<String>) -> Response {
    or_error(
        async {
            let id: PasskeyId = id.parse().map_err(|_| ServiceError::NotFound("passkey"))?;
            dash.service.remove_passkey(&signed.principal, id).await?;
            Ok(see_other("/app/account#passkeys"))
        }
        .await,
    )
}
