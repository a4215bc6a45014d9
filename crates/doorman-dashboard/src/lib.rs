//! doorman's web dashboard: server-rendered pages (askama templates, a few
//! lines of dependency-free JavaScript for live updates) for residents,
//! building managers and carriers, under `/app/`, served by `doorman serve`
//! on the API's listener.
//!
//! Invariants:
//! - every page and action calls `doorman_server::Service` methods (the JSON
//!   API's, or read models that apply the same checks) with the signed-in
//!   [`Principal`]: the dashboard adds no authorization of its own and sees
//!   nothing the API would not show; it cannot reach the store (doorman-store
//!   is not among its dependencies, and `Service` does not hand its store
//!   out);
//! - an error page has the status and code the API gives for the same
//!   error (`doorman_web::error::status_of`, via `ApiError`);
//! - sign-in exchanges an API token (or a resident invitation, or a passkey
//!   assertion) for a session whose random id lives only in an HttpOnly
//!   cookie; the database keeps its SHA-256 and the session dies with its
//!   token (a passkey's own token: removing the passkey ends it), at expiry
//!   or sign-out; a WebAuthn ceremony's id lives in another HttpOnly cookie
//!   for five minutes and is good for one request (passkeys.rs); its
//!   JavaScript is a separate asset (assets/passkeys.js), never inline;
//! - every state-changing request (anything but GET/HEAD) must come from
//!   this site's own origin (`Origin`, else `Referer`), or it is refused
//!   with 403 before any handler runs; the cookie is `SameSite=Lax` and GETs
//!   change nothing;
//! - the audit view shows an entry as verified only after checking the
//!   checkpoint's signature with the log's key and the entry's inclusion
//!   proof (doorman-tlog), on the server, for every entry shown; apart from
//!   that, its script (assets/audit.js) checks the principal's bundle
//!   (`/app/audit/bundle`, what `doorman audit export` writes) in the
//!   browser with WebCrypto and reports its own finding.

mod audit_view;
mod carrier;
mod changes;
mod csrf;
mod email_link;
mod form;
mod live;
mod manager;
mod pages;
mod passkeys;
mod resident;
mod session;
mod text;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use doorman_domain::Principal;
use doorman_server::Service;

pub use session::SESSION_LIFETIME_S;

/// How the dashboard is reached from the outside.
#[derive(Clone, Debug, Default)]
pub struct DashboardConfig {
    /// The public URL (`DOORMAN_PUBLIC_URL`), e.g. `https://doors.example`.
    /// When set, state-changing requests must come from exactly its origin,
    /// and cookies are `Secure` when it is https. When unset, the origin must
    /// name the host the request was sent to.
    pub public_url: Option<String>,
}

impl DashboardConfig {
    /// Checks and normalizes the public URL: scheme and host, no path.
    pub fn with_public_url(url: Option<&str>) -> Result<Self, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::default());
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("public URL {url:?} must start with http:// or https://"))?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains(['/', '?', '#', ' ', '@']) {
            return Err(format!("public URL {url:?} must be scheme and host only, like https://doors.example"));
        }
        let scheme = if url.starts_with("https://") { "https" } else { "http" };
        Ok(Self { public_url: Some(format!("{scheme}://{host}")) })
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

pub(crate) struct Dash {
    pub service: Arc<Service>,
    pub config: DashboardConfig,
}

pub(crate) type DashState = Arc<Dash>;

/// The dashboard's routes, all under `/app`, to merge into the API's router.
pub fn router(service: Arc<Service>, config: DashboardConfig) -> Router {
    let state: DashState = Arc::new(Dash { service, config });
    Router::new()
        .route("/app", get(pages::home))
        .route("/app/", get(pages::home))
        .route("/app/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/app/redeem", post(session::redeem))
        .route("/app/sign-out", post(session::sign_out))
        .route("/app/sign-in/email", post(email_link::ask))
        .route("/app/sign-in/link/{secret}", get(email_link::open).post(email_link::redeem))
        .route("/app/unsubscribe/{token}", get(email_link::unsubscribe_page).post(email_link::unsubscribe))
        .route("/app/resident/notifications", post(email_link::save_notifications))
        .route("/app/passkeys/sign-in/options", post(passkeys::sign_in_options))
        .route("/app/passkeys/sign-in", post(passkeys::sign_in))
        .route("/app/passkeys/register/options", post(passkeys::register_options))
        .route("/app/passkeys/register", post(passkeys::register))
        .route("/app/account", get(passkeys::account_page))
        .route("/app/account/passkeys/{passkey_id}/remove", post(passkeys::remove))
        .route("/app/resident", get(pages::resident_page))
        .route("/app/resident/deliveries", get(pages::resident_fragment))
        .route("/app/resident/block", post(pages::resident_block))
        .route("/app/resident/unblock", post(pages::resident_unblock))
        .route("/app/resident/preferences", get(pages::preferences_page).post(pages::preferences_save))
        .route("/app/resident/unlock", post(resident::unlock))
        .route("/app/resident/guests", get(resident::guests_page).post(resident::create_guest_pass))
        .route("/app/resident/guests/{pass_id}/revoke", post(resident::revoke_guest_pass))
        .route("/app/resident/returns", get(resident::returns_page).post(resident::schedule_return))
        .route("/app/manager", get(manager::manager_page))
        .route("/app/manager/properties", post(manager::create_property))
        .route("/app/manager/properties/{property_id}", get(manager::property_page))
        .route("/app/manager/properties/{property_id}/units", post(manager::add_units))
        .route("/app/manager/properties/{property_id}/doors", post(manager::add_door))
        .route("/app/manager/properties/{property_id}/drop-spots", post(manager::add_drop_spot))
        .route("/app/manager/properties/{property_id}/locks", post(manager::register_lock))
        .route("/app/manager/properties/{property_id}/carriers", post(manager::enable_carrier))
        .route("/app/manager/properties/{property_id}/tenant-notice", post(manager::tenant_notice))
        .route("/app/manager/properties/{property_id}/invitations", post(manager::invite_residents))
        .route("/app/manager/properties/{property_id}/units/{unit_id}", post(changes::edit_unit))
        .route("/app/manager/properties/{property_id}/units/{unit_id}/remove", post(changes::remove_unit))
        .route("/app/manager/properties/{property_id}/doors/{access_point_id}", post(changes::edit_door))
        .route("/app/manager/properties/{property_id}/doors/{access_point_id}/remove", post(changes::remove_door))
        .route("/app/manager/properties/{property_id}/drop-spots/{drop_spot_id}", post(changes::edit_spot))
        .route("/app/manager/properties/{property_id}/drop-spots/{drop_spot_id}/remove", post(changes::remove_spot))
        .route("/app/manager/properties/{property_id}/locks/{lock_id}/decommission", post(changes::decommission_lock))
        .route("/app/manager/properties/{property_id}/locks/{lock_id}/replace", post(changes::replace_lock))
        .route(
            "/app/manager/properties/{property_id}/units/{unit_id}/residents/{resident_id}/move-out",
            post(changes::move_out),
        )
        .route(
            "/app/manager/properties/{property_id}/units/{unit_id}/residents/{resident_id}/reinvite",
            post(changes::reinvite),
        )
        .route("/app/manager/properties/{property_id}/carriers/{carrier_id}/remove", post(changes::remove_enablement))
        .route("/app/manager/properties/{property_id}/handover", post(changes::hand_over))
        .route("/app/carrier", get(carrier::carrier_page))
        .route("/app/carrier/deliveries", get(carrier::carrier_fragment).post(carrier::announce))
        .route("/app/carrier/deliveries/{delivery_id}/eta", post(carrier::update_eta))
        .route("/app/carrier/deliveries/{delivery_id}/cancel", post(carrier::cancel))
        .route("/app/carrier/drivers", post(carrier::add_driver))
        .route("/app/carrier/drivers/{driver_id}/status", post(carrier::driver_status))
        .route("/app/clips/{clip_id}", get(pages::clip_file))
        .route("/app/audit", get(pages::audit_page))
        .route("/app/audit/bundle", get(pages::audit_bundle))
        .route("/app/live", get(live::stream))
        .route(
            "/app/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/app.css")) }),
        )
        .route(
            "/app/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/app.js")) }),
        )
        .route(
            "/app/assets/passkeys.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/passkeys.js")) }),
        )
        .route(
            "/app/assets/audit.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/audit.js")) }),
        )
        // Every other path under /app/ is an HTML page too, not the API's JSON.
        .route("/app/{*rest}", any(resident::not_found))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::same_origin_only))
        .layer(axum::middleware::map_response(page_headers))
        .with_state(state)
}

/// What every page may load and run: its own stylesheet and scripts, no
/// inline script, style attribute or event handler, no framing, forms
/// posted only to this site (issue 17 finding 6). `blob:` is the audit
/// page's download of the bundle it checked (made by the page itself, so
/// reading it back is allowed too); `data:` for images.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' blob:; object-src 'none'; \
    frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The browser's defences on every dashboard answer (pages, errors,
/// fragments, assets, the live stream); a handler's own value is kept.
async fn page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, header::HeaderValue::from_static(value));
        }
    }
    res
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// Where a principal's dashboard starts.
pub(crate) fn home_of(p: &Principal) -> &'static str {
    match p {
        Principal::Resident { .. } => "/app/resident",
        Principal::Manager { .. } => "/app/manager",
        Principal::Carrier { .. } | Principal::Driver { .. } => "/app/carrier",
        Principal::Operator => "/app/audit",
    }
}

/// A 303 to `to`: after a form, the browser GETs the page.
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the CSP refuses to run, looked for in every template (pages
    /// added later included): a script without `src`, a `<style>` block,
    /// a `style` attribute, an `on…=` handler, a `javascript:` URL.
    fn inline_code(html: &str) -> Vec<String> {
        let lower = html.to_ascii_lowercase();
        let mut found = Vec::new();
        for (at, _) in lower.match_indices("<script") {
            let tag = &lower[at..lower[at..].find('>').map_or(lower.len(), |end| at + end)];
            if !tag.contains(" src=") {
                found.push(format!("inline script at byte {at}"));
            }
        }
        for needle in ["<style", " style=", "javascript:"] {
            if lower.contains(needle) {
                found.push(needle.trim().to_string());
            }
        }
        let bytes = lower.as_bytes();
        for (at, _) in lower.match_indices(" on") {
            let name: String = lower[at + 3..].chars().take_while(|c| c.is_ascii_lowercase()).collect();
            if !name.is_empty() && bytes.get(at + 3 + name.len()) == Some(&b'=') {
                found.push(format!("handler on{name}="));
            }
        }
        found
    }

    #[test]
    fn no_template_holds_code_the_policy_refuses() {
        assert_eq!(inline_code(r#"<p style="x" onclick="y()"><script>z()</script>"#).len(), 3);
        assert!(inline_code(r#"<script src="/app/assets/app.js" defer></script><p class="on">on=</p>"#).is_empty());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let html = std::fs::read_to_string(&path).unwrap();
            assert!(inline_code(&html).is_empty(), "{}: {:?}", path.display(), inline_code(&html));
            seen += 1;
        }
        assert!(seen > 10, "{seen} templates");
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-"));
    }

    #[test]
    fn public_url_is_scheme_and_host() {
        let c = DashboardConfig::with_public_url(Some("https://doors.example/")).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://doors.example"));
        assert!(c.secure_cookies());
        let c = DashboardConfig::with_public_url(Some("http://127.0.0.1:8080")).unwrap();
        assert!(!c.secure_cookies());
        assert!(DashboardConfig::with_public_url(Some("doors.example")).is_err());
        assert!(DashboardConfig::with_public_url(Some("https://doors.example/app")).is_err());
        assert!(DashboardConfig::with_public_url(None).unwrap().public_url.is_none());
    }
}
