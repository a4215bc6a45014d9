//! What email brings people to: the sign-in link (asked for on the sign-in
//! page, opened from the email), the one-click unsubscribe link, the
//! notification settings form of the preferences page.
//!
//! - Asking for a link answers the same page whatever the address (the
//!   lookup and the sending happen after the answer, in a task of their
//!   own, so neither the page nor its timing tells whether the address is
//!   known).
//! - Opening a link: GET shows a button (mail scanners fetch links; a GET
//!   changes nothing), POST spends the link and opens a session; a second
//!   use gets a page saying so. The link page sends no `Referer`.
//! - (The clip a "delivered" email links to is served by the pages'
//!   `/app/clips/{id}`, under the API's rule.)
//! - Unsubscribe: GET shows a button, POST turns that one kind off. The POST
//!   is the only dashboard route that skips the same-origin check
//!   (csrf.rs): mail clients send it (RFC 8058) from no origin, and all a
//!   forger could do with it is turn a notification off for the person the
//!   unguessable token names.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use doorman_domain::{NotificationKind, NotificationSettings, Principal};
use doorman_server::email_link::{LinkSignIn, SIGN_IN_LINK_LIFETIME_S};
use doorman_server::ServiceError;
use serde::Deserialize;

use crate::form::Fields;
use crate::pages::{render, service_error, Chrome};
use crate::session::{session_cookie_header, Signed};
use crate::{home_of, see_other, DashState};

/// Where the unsubscribe links point; csrf.rs lets POSTs under it through.
pub(crate) const UNSUBSCRIBE_PREFIX: &str = "/app/unsubscribe/";

#[derive(Template)]
#[template(path = "email_link.html")]
struct LinkPage {
    chrome: Chrome,
    /// "sent", "open", "used", "invalid", "bad_address"
    state: &'static str,
    /// The address typed (sent) or the link's path (open).
    value: String,
    minutes: i64,
}

fn link_page(status: StatusCode, state: &'static str, value: String) -> Response {
    let page =
        LinkPage { chrome: Chrome::anonymous("Sign in by email"), state, value, minutes: SIGN_IN_LINK_LIFETIME_S / 60 };
    let mut response = render(status, &page);
    // The link's secret is in the URL: no page it leads to learns it.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Debug, Deserialize)]
pub(crate) struct AskForm {
    email: String,
}

/// "Email me a sign-in link": the same answer for every plausible address.
pub(crate) async fn ask(State(dash): State<DashState>, Form(form): Form<AskForm>) -> Response {
    let email = match dash.service.check_sign_in_address(&form.email) {
        Ok(email) => email,
        Err(_) => return link_page(StatusCode::UNPROCESSABLE_ENTITY, "bad_address", form.email.trim().to_string()),
    };
    let service = dash.service.clone();
    let address = email.clone();
    tokio::spawn(async move {
        if let Err(e) = service.send_sign_in_links(&address).await {
            tracing::warn!(error = %e, "sending a sign-in link failed");
        }
    });
    link_page(StatusCode::OK, "sent", email)
}

/// The link, opened: a button that signs in (a GET changes nothing).
pub(crate) async fn open(Path(secret): Path<String>) -> Response {
    link_page(StatusCode::OK, "open", format!("/app/sign-in/link/{secret}"))
}

/// The button: spends the link and opens a session.
pub(crate) async fn redeem(State(dash): State<DashState>, Path(secret): Path<String>) -> Response {
    match dash.service.sign_in_with_link(&secret).await {
        Ok(LinkSignIn::SignedIn { session, principal }) => {
            let mut response = see_other(home_of(&principal));
            if let Some(cookie) = session_cookie_header(&dash, Some(&session)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(LinkSignIn::AlreadyUsed) => link_page(StatusCode::GONE, "used", String::new()),
        Ok(LinkSignIn::Invalid) => link_page(StatusCode::NOT_FOUND, "invalid", String::new()),
        Err(e) => service_error(e),
    }
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    chrome: Chrome,
    name: String,
    kind: &'static str,
    done: bool,
    action: String,
}

/// The unsubscribe link, opened: who and what, and a button.
pub(crate) async fn unsubscribe_page(State(dash): State<DashState>, Path(token): Path<String>) -> Response {
    match dash.service.unsubscribe_target(&token).await {
        Ok((name, kind)) => render(
            StatusCode::OK,
            &UnsubscribePage {
                chrome: Chrome::anonymous("Unsubscribe"),
                name,
                kind: kind.label(),
                done: false,
                action: format!("{UNSUBSCRIBE_PREFIX}{token}"),
            },
        ),
        Err(e) => service_error(e),
    }
}

/// One-click unsubscribe (the button, or a mail client's RFC 8058 POST).
pub(crate) async fn unsubscribe(State(dash): State<DashState>, Path(token): Path<String>) -> Response {
    let kind = match dash.service.unsubscribe(&token).await {
        Ok(kind) => kind,
        Err(e) => return service_error(e),
    };
    let name = dash.service.unsubscribe_target(&token).await.map(|(name, _)| name).unwrap_or_default();
    render(
        StatusCode::OK,
        &UnsubscribePage {
            chrome: Chrome::anonymous("Unsubscribed"),
            name,
            kind: kind.label(),
            done: true,
            action: String::new(),
        },
    )
}

/// One kind of notification as the preferences page shows it.
pub(crate) struct KindChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// The notification section of the preferences page.
pub(crate) struct NotificationForm {
    pub email: String,
    pub kinds: Vec<KindChoice>,
}

impl NotificationForm {
    pub(crate) fn of(settings: &NotificationSettings) -> Self {
        Self {
            email: settings.email.clone(),
            kinds: NotificationKind::ALL
                .into_iter()
                .map(|k| KindChoice { value: k.as_str(), label: k.label(), checked: settings.kinds.contains(&k) })
                .collect(),
        }
    }
}

/// The resident's notification form, for the preferences page.
pub(crate) async fn notification_form(dash: &DashState, p: &Principal) -> Result<NotificationForm, ServiceError> {
    Ok(NotificationForm::of(&dash.service.notification_settings(p).await?))
}

/// Saves the notification form and shows the preferences page again.
pub(crate) async fn save_notifications(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let mut kinds = Vec::new();
    for value in fields.all("kind") {
        match NotificationKind::parse(&value) {
            Some(k) => kinds.push(k),
            None => return service_error(ServiceError::invalid(format!("kind: {value:?} is not one from the list"))),
        }
    }
    let settings = NotificationSettings { email: fields.get("email"), kinds };
    match dash.service.set_notification_settings(&signed.principal, settings).await {
        Ok(_) => see_other("/app/resident/preferences#notifications"),
        Err(e) => service_error(e),
    }
}
