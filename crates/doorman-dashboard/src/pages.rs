//! The pages. Each handler calls the `Service` as the signed-in principal,
//! turns what it gets into plain view structs (strings ready to show) and
//! renders a template. Forms post, then redirect (303) back to their page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use doorman_api::CreateBlock;
use std::collections::BTreeMap;

use doorman_domain::{
    ClipId, Delivery, DeliveryId, DropSpotId, Event, EventKind, Principal, PropertyId, UnitId, UnitPreferences,
};
use doorman_server::naming::{is_raw_lock_event, Names};
use doorman_server::{Service, ServiceError, ServiceResult};
use doorman_web::error::ApiError;
use serde::Deserialize;

use crate::audit_view::{bundle_of, checked_entries, CheckedLog};
use crate::form::Fields;
use crate::session::Signed;
use crate::text::{describe, local_time, parse_local, tone};
use crate::{home_of, see_other, DashState};

// --- rendering and errors ------------------------------------------------------

pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    code: &'a str,
    message: &'a str,
}

pub(crate) fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let chrome = Chrome::anonymous(status.canonical_reason().unwrap_or("Error"));
    render(status, &ErrorPage { chrome, code, message })
}

/// The error page for a service error: the API's status, code and message
/// (doorman-web's one mapping, which also logs an internal cause and never
/// shows it).
pub(crate) fn service_error(e: ServiceError) -> Response {
    let api = ApiError::from(e);
    error_page(api.status, &api.code, &api.message)
}

pub(crate) fn or_error(result: ServiceResult<Response>) -> Response {
    result.unwrap_or_else(service_error)
}

/// What every page's frame needs: its title and the navigation of the role.
pub(crate) struct Chrome {
    pub title: String,
    /// resident, manager, carrier, driver, operator; empty when signed out.
    pub role: &'static str,
}

impl Chrome {
    pub(crate) fn anonymous(title: &str) -> Self {
        Self { title: title.to_string(), role: "" }
    }

    pub(crate) fn of(p: &Principal, title: &str) -> Self {
        let role = match p {
            Principal::Resident { .. } => "resident",
            Principal::Manager { .. } => "manager",
            Principal::Carrier { .. } => "carrier",
            Principal::Driver { .. } => "driver",
            Principal::Operator => "operator",
        };
        Self { title: title.to_string(), role }
    }
}

pub(crate) async fn home(signed: Option<Signed>) -> Response {
    match signed {
        Some(s) => see_other(home_of(&s.principal)),
        None => see_other("/app/sign-in"),
    }
}

// --- timelines -----------------------------------------------------------------

/// A camera clip the viewer may watch, served by `/app/clips/{clip_id}`.
pub(crate) struct ClipLink {
    pub url: String,
    /// `video`, `image` or `file`: how the page shows it.
    pub shown_as: &'static str,
    /// What it is, for the player's label and the link.
    pub label: String,
}

/// One step of a timeline.
pub(crate) struct Step {
    pub index: u64,
    pub when: String,
    pub text: String,
    /// ok, refused, door, info: for the dot's colour and for tests.
    pub tone: &'static str,
    /// The event's type name (`door_opened`, ...).
    pub kind: &'static str,
    pub verified: bool,
    /// On a clip's own step, when the viewer may watch it.
    pub clip: Option<ClipLink>,
}

pub(crate) fn step(index: u64, event: &Event, names: &Names, verified: bool, tz: &str) -> Step {
    let n = names.of(event);
    let clip = match (&event.kind, &n.clip) {
        (EventKind::ClipReady { .. }, Some(c)) if c.viewable => {
            let kind = c.content_type.as_deref().unwrap_or_default();
            Some(ClipLink {
                url: format!("/app/clips/{}", c.clip_id),
                shown_as: if kind.starts_with("video/") {
                    "video"
                } else if kind.starts_with("image/") {
                    "image"
                } else {
                    "file"
                },
                label: n.door.as_ref().map_or_else(
                    || "Camera clip of the entry".to_string(),
                    |d| format!("Camera clip of the entry at the {}", d.door),
                ),
            })
        }
        _ => None,
    };
    Step {
        index,
        when: local_time(event.at, tz),
        text: describe(event, &n, tz),
        tone: tone(&event.kind),
        kind: event.kind.name(),
        verified,
        clip,
    }
}

/// The log entries a principal may see, checked, with the names behind
/// them (looked up once for the whole page).
pub(crate) struct NamedLog {
    pub log: CheckedLog,
    pub names: Names,
}

pub(crate) async fn named_log(service: &Service, p: &Principal) -> ServiceResult<NamedLog> {
    let log = checked_entries(service, p, None).await?;
    let names = service.names_for(p, log.entries.iter().filter_map(|e| e.event.as_ref())).await?;
    Ok(NamedLog { log, names })
}

impl NamedLog {
    /// The steps of the events `keep` selects, oldest first, and how many
    /// raw lock events were folded away (none when `raw`).
    pub(crate) fn steps(&self, keep: impl Fn(&Event) -> bool, raw: bool, tz: &str) -> (Vec<Step>, usize) {
        let mut folded = 0;
        let mut steps = Vec::new();
        for (entry, event) in self.log.entries.iter().filter_map(|e| e.event.as_ref().map(|ev| (e, ev))) {
            if !keep(event) {
                continue;
            }
            if !raw && is_raw_lock_event(event) {
                folded += 1;
                continue;
            }
            steps.push(step(entry.index, event, &self.names, entry.verified, tz));
        }
        (steps, folded)
    }
}

/// `?raw=1` asks for the locks' raw events; every timeline folds them
/// away otherwise (their door events say the same in words).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawQuery {
    #[serde(default)]
    raw: Option<String>,
}

impl RawQuery {
    pub(crate) fn raw(&self) -> bool {
        self.raw.as_deref().is_some_and(|v| v == "1")
    }
}

pub(crate) struct DeliveryView {
    pub id: String,
    pub tracking: String,
    pub state: &'static str,
    pub state_label: String,
    pub window: String,
    pub eta: Option<String>,
    pub steps: Vec<Step>,
    /// Raw lock events of this delivery folded away.
    pub folded: usize,
}

pub(crate) fn delivery_view(d: &Delivery, log: Option<&NamedLog>, tz: &str, raw: bool) -> DeliveryView {
    let (steps, folded) = log.map(|log| log.steps(|ev| ev.delivery_id == Some(d.id), raw, tz)).unwrap_or_default();
    DeliveryView {
        id: d.id.to_string(),
        tracking: d.tracking_number.clone(),
        state: d.state.as_str(),
        state_label: d.state.as_str().replace('_', " "),
        window: format!("{} – {}", local_time(d.window_start, tz), local_time(d.window_end, tz)),
        eta: d.eta.map(|eta| local_time(eta, tz)),
        steps,
        folded,
    }
}

/// `GET /app/clips/{clip_id}`: a camera clip's bytes, for those entitled
/// (`Service::clip` decides and checks the bytes against the logged hash).
/// Shown inline only as a video or an image; anything else downloads.
pub(crate) async fn clip_file(
    State(dash): State<DashState>,
    signed: Signed,
    axum::extract::Path(clip_id): axum::extract::Path<String>,
) -> Response {
    or_error(
        async {
            let id: ClipId = clip_id.parse().map_err(|_| ServiceError::NotFound("clip"))?;
            let (view, bytes) = dash.service.clip(&signed.principal, id).await?;
            let playable = view.content_type.starts_with("video/") || view.content_type.starts_with("image/");
            let (content_type, disposition) = if playable {
                (view.content_type.clone(), "inline".to_string())
            } else {
                ("application/octet-stream".to_string(), format!("attachment; filename=\"clip-{id}\""))
            };
            Ok((
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CACHE_CONTROL, "private, no-store".to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                ],
                bytes,
            )
                .into_response())
        }
        .await,
    )
}

// --- resident ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "resident_deliveries.html")]
struct ResidentDeliveries {
    blocked: Option<String>,
    deliveries: Vec<DeliveryView>,
    /// The unit's other events (blocks, shared doors), newest first.
    activity: Vec<Step>,
    /// Raw lock events shown (`?raw=1`), else how many were folded away.
    raw: bool,
    folded: usize,
}

#[derive(Template)]
#[template(path = "resident.html")]
struct ResidentPage {
    chrome: Chrome,
    unit_label: String,
    property_name: String,
    blocked: bool,
    fragment: String,
    /// Where the live part is fetched again (with `?raw=1` when asked for).
    fragment_url: &'static str,
    live_after: String,
    /// The manager's notice to the building's residents, and from when
    /// delivery access is live.
    notice: Option<(String, String)>,
    /// (lock id, door name) of the doors that open remotely.
    doors: Vec<(String, String)>,
    /// The door just asked to open, if any.
    opening: Option<String>,
    /// The building's time zone: every time on the page is in it, and it
    /// is named once.
    time_zone: String,
}

pub(crate) fn resident_unit(p: &Principal) -> ServiceResult<UnitId> {
    match p {
        Principal::Resident { unit_id, .. } => Ok(*unit_id),
        _ => Err(ServiceError::Forbidden("this page is for residents")),
    }
}

struct ResidentView {
    unit_label: String,
    property_name: String,
    time_zone: String,
    notice: Option<(String, String)>,
    blocked: bool,
    fragment: ResidentDeliveries,
    log: CheckedLog,
}

async fn resident_view(dash: &DashState, p: &Principal, raw: bool) -> ServiceResult<ResidentView> {
    let unit_id = resident_unit(p)?;
    let overview = dash.service.unit_overview(p, unit_id).await?;
    let tz = overview.time_zone.as_str();
    let deliveries = dash.service.unit_deliveries(p, unit_id).await?;
    let named = named_log(&dash.service, p).await?;
    let blocked = overview.active_block.as_ref().map(|b| match (b.until, &b.reason) {
        (Some(u), _) => format!("Deliveries are blocked until {}.", local_time(u, tz)),
        (None, Some(r)) => format!("Deliveries are blocked ({r})."),
        (None, None) => "Deliveries are blocked until you allow them again.".to_string(),
    });
    let delivery_ids: Vec<DeliveryId> = deliveries.iter().map(|d| d.id).collect();
    let (mut activity, folded_elsewhere) =
        named.steps(|ev| ev.delivery_id.is_none_or(|d| !delivery_ids.contains(&d)), raw, tz);
    activity.reverse();
    activity.truncate(30);
    let views: Vec<DeliveryView> = deliveries.iter().map(|d| delivery_view(d, Some(&named), tz, raw)).collect();
    let folded = folded_elsewhere + views.iter().map(|v| v.folded).sum::<usize>();
    let notice = overview.tenant_notice.as_ref().map(|n| (n.text.clone(), local_time(n.live_from, tz)));
    Ok(ResidentView {
        notice,
        time_zone: overview.time_zone.clone(),
        unit_label: overview.unit.label,
        property_name: overview.property_name,
        blocked: blocked.is_some(),
        fragment: ResidentDeliveries { blocked, deliveries: views, activity, raw, folded },
        log: named.log,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResidentQuery {
    /// The lock just asked to open.
    #[serde(default)]
    opening: Option<String>,
    #[serde(default)]
    raw: Option<String>,
}

pub(crate) async fn resident_page(
    State(dash): State<DashState>,
    signed: Signed,
    Query(query): Query<ResidentQuery>,
) -> Response {
    or_error(
        async {
            let raw = RawQuery { raw: query.raw }.raw();
            let view = resident_view(&dash, &signed.principal, raw).await?;
            let unit = resident_unit(&signed.principal)?;
            let choices = dash.service.resident_choices(&signed.principal, unit).await?;
            let doors: Vec<(String, String)> =
                choices.remote_doors.iter().map(|d| (d.lock_id.to_string(), d.door_name.clone())).collect();
            let opening =
                query.opening.and_then(|lock| doors.iter().find(|(id, _)| *id == lock).map(|(_, name)| name.clone()));
            let fragment = view.fragment.render().map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(render(
                StatusCode::OK,
                &ResidentPage {
                    chrome: Chrome::of(&signed.principal, "Your deliveries"),
                    unit_label: view.unit_label,
                    property_name: view.property_name,
                    blocked: view.blocked,
                    fragment,
                    fragment_url: if raw { "/app/resident/deliveries?raw=1" } else { "/app/resident/deliveries" },
                    live_after: view.log.last_index().map(|i| i.to_string()).unwrap_or_default(),
                    notice: view.notice,
                    doors,
                    opening,
                    time_zone: view.time_zone,
                },
            ))
        }
        .await,
    )
}

/// The live part of the resident page, fetched again on every new event.
pub(crate) async fn resident_fragment(
    State(dash): State<DashState>,
    signed: Signed,
    Query(query): Query<RawQuery>,
) -> Response {
    or_error(
        resident_view(&dash, &signed.principal, query.raw()).await.map(|view| render(StatusCode::OK, &view.fragment)),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlockForm {
    #[serde(default)]
    reason: String,
    /// `YYYY-MM-DD`: deliveries are allowed again from 00:00 that day, in
    /// the building's time zone; empty: until unblocked.
    #[serde(default)]
    until: String,
}

pub(crate) async fn resident_block(
    State(dash): State<DashState>,
    signed: Signed,
    Form(form): Form<BlockForm>,
) -> Response {
    or_error(
        async {
            let unit = resident_unit(&signed.principal)?;
            let reason = Some(form.reason.trim().to_string()).filter(|r| !r.is_empty());
            let until = match form.until.trim() {
                "" => None,
                date => {
                    let tz = dash.service.unit_overview(&signed.principal, unit).await?.time_zone;
                    Some(parse_local(date, "00:00", &tz).map_err(|e| ServiceError::invalid(format!("until {e}")))?)
                }
            };
            dash.service.block(&signed.principal, unit, CreateBlock { until, reason }).await?;
            Ok(see_other("/app/resident"))
        }
        .await,
    )
}

pub(crate) async fn resident_unblock(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(
        async {
            let unit = resident_unit(&signed.principal)?;
            dash.service.unblock(&signed.principal, unit).await?;
            Ok(see_other("/app/resident"))
        }
        .await,
    )
}

pub(crate) struct SpotOption {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

/// A carrier or driver the resident may allow or block, by name.
pub(crate) struct Party {
    pub id: String,
    pub name: String,
    /// "any", "allow" or "block".
    pub choice: &'static str,
}

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    chrome: Chrome,
    spots: Vec<SpotOption>,
    allow_in_unit: bool,
    alternate_address: String,
    /// (id, "name, address", selected) from the directory.
    pickup_points: Vec<(String, String, bool)>,
    carriers: Vec<Party>,
    drivers: Vec<Party>,
    saved: bool,
    /// The resident's email notifications (their own form).
    notifications: crate::email_link::NotificationForm,
}

fn choice_of<T: PartialEq>(id: &T, allowed: &[T], blocked: &[T]) -> &'static str {
    if blocked.contains(id) {
        "block"
    } else if allowed.contains(id) {
        "allow"
    } else {
        "any"
    }
}

async fn preferences_view(dash: &DashState, p: &Principal, saved: bool) -> ServiceResult<Response> {
    let unit_id = resident_unit(p)?;
    let prefs = dash.service.get_preferences(p, unit_id).await?;
    // The drop spots this unit may choose: its building's shared ones and its own.
    let spots = dash
        .service
        .drop_spot_choices(p, unit_id)
        .await?
        .into_iter()
        .map(|s| SpotOption {
            id: s.id.to_string(),
            selected: prefs.preferred_drop_spot == Some(s.id),
            name: format!("{} ({})", s.name, s.kind.as_str().replace('_', " ")),
        })
        .collect();
    let pickup_points = dash
        .service
        .list_pickup_points(p)
        .await?
        .into_iter()
        .map(|pp| (pp.id.to_string(), format!("{}, {}", pp.name, pp.address), prefs.pickup_point_id == Some(pp.id)))
        .collect();
    let choices = dash.service.resident_choices(p, unit_id).await?;
    let carriers = choices
        .carriers
        .iter()
        .map(|(id, name)| Party {
            id: id.to_string(),
            name: name.clone(),
            choice: choice_of(id, &prefs.allowed_carriers, &prefs.blocked_carriers),
        })
        .collect();
    let drivers = choices
        .drivers
        .iter()
        .map(|(id, name, carrier)| Party {
            id: id.to_string(),
            name: format!("{name} ({carrier})"),
            choice: choice_of(id, &prefs.allowed_drivers, &prefs.blocked_drivers),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &PreferencesPage {
            chrome: Chrome::of(p, "Delivery preferences"),
            spots,
            allow_in_unit: prefs.allow_in_unit,
            alternate_address: prefs.alternate_address.unwrap_or_default(),
            pickup_points,
            carriers,
            drivers,
            saved,
            notifications: crate::email_link::notification_form(dash, p).await?,
        },
    ))
}

pub(crate) async fn preferences_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(preferences_view(&dash, &signed.principal, false).await)
}

pub(crate) fn optional_text(v: &str) -> Option<String> {
    Some(v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The ids whose `{prefix}{id}` field says `choice`.
fn chosen<T: std::str::FromStr>(fields: &Fields, prefix: &str, choice: &str) -> ServiceResult<Vec<T>> {
    let mut out = Vec::new();
    for (name, value) in &fields.0 {
        if let Some(id) = name.strip_prefix(prefix) {
            if value.trim() == choice {
                out.push(id.parse().map_err(|_| ServiceError::invalid(format!("{name}: not one from the list")))?);
            }
        }
    }
    Ok(out)
}

pub(crate) async fn preferences_save(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    or_error(
        async {
            let unit = resident_unit(&signed.principal)?;
            let preferred_drop_spot: Option<DropSpotId> = fields
                .optional_id("preferred_drop_spot", "where parcels go")
                .map_err(|_| ServiceError::invalid("unknown drop spot"))?;
            // The free-text pickup point (set through the API) is kept as it is.
            let current = dash.service.get_preferences(&signed.principal, unit).await?;
            let prefs = UnitPreferences {
                preferred_drop_spot,
                allow_in_unit: fields.checked("allow_in_unit"),
                alternate_address: optional_text(&fields.get("alternate_address")),
                pickup_point_id: fields.optional_id("pickup_point_id", "pickup point")?,
                allowed_carriers: chosen(&fields, "carrier-", "allow")?,
                blocked_carriers: chosen(&fields, "carrier-", "block")?,
                allowed_drivers: chosen(&fields, "driver-", "allow")?,
                blocked_drivers: chosen(&fields, "driver-", "block")?,
                ..current
            };
            dash.service.put_preferences(&signed.principal, unit, prefs).await?;
            preferences_view(&dash, &signed.principal, true).await
        }
        .await,
    )
}

// --- audit ---------------------------------------------------------------------

pub(crate) struct AuditRow {
    pub index: u64,
    pub when: String,
    pub what: String,
    pub kind: String,
    pub verified: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    size: u64,
    signed: bool,
    verified: usize,
    rows: Vec<AuditRow>,
    /// The zone the times are in (the building's, else UTC).
    time_zone: String,
    /// Raw lock events shown (`?raw=1`), else how many were folded away.
    raw: bool,
    folded: usize,
}

/// The time zone of each building the principal's entries belong to: the
/// resident's building, a manager's buildings; none for the others. The
/// first is what the page names (one zone, or "each building's local
/// time" for a manager of buildings in several).
pub(crate) async fn time_zones(
    service: &Service,
    p: &Principal,
) -> ServiceResult<(String, BTreeMap<PropertyId, String>)> {
    match p {
        Principal::Resident { unit_id, .. } => {
            let overview = service.unit_overview(p, *unit_id).await?;
            let zones = BTreeMap::from([(overview.unit.property_id, overview.time_zone.clone())]);
            Ok((overview.time_zone, zones))
        }
        Principal::Manager { .. } => {
            let zones: BTreeMap<PropertyId, String> =
                service.list_properties(p).await?.into_iter().map(|b| (b.id, b.time_zone)).collect();
            let mut distinct: Vec<&String> = zones.values().collect();
            distinct.sort();
            distinct.dedup();
            let shown = match distinct.as_slice() {
                [] => "UTC".to_string(),
                [one] => (*one).clone(),
                _ => "each building's local time".to_string(),
            };
            Ok((shown, zones))
        }
        _ => Ok(("UTC".into(), BTreeMap::new())),
    }
}

pub(crate) async fn audit_page(
    State(dash): State<DashState>,
    signed: Signed,
    Query(query): Query<RawQuery>,
) -> Response {
    or_error(
        async {
            let p = &signed.principal;
            let raw = query.raw();
            let NamedLog { log, names } = named_log(&dash.service, p).await?;
            let (time_zone, zones) = time_zones(&dash.service, p).await?;
            // A manager of several buildings reads which one each entry is at.
            let several = zones.len() > 1;
            let is_raw = |e: &crate::audit_view::CheckedEntry| e.event.as_ref().is_some_and(is_raw_lock_event);
            let folded = if raw { 0 } else { log.entries.iter().filter(|e| is_raw(e)).count() };
            let rows: Vec<AuditRow> = log
                .entries
                .iter()
                .rev()
                .filter(|e| raw || !is_raw(e))
                .take(500)
                .map(|e| match &e.event {
                    Some(ev) => {
                        let tz = ev.property_id.and_then(|id| zones.get(&id)).map_or("UTC", String::as_str);
                        let n = names.of(ev);
                        let mut what = describe(ev, &n, tz);
                        if let Some(building) = n.building.as_ref().filter(|_| several) {
                            what = format!("{what} · {building}");
                        }
                        AuditRow {
                            index: e.index,
                            when: local_time(ev.at, tz),
                            what,
                            kind: ev.kind.name().into(),
                            verified: e.verified,
                        }
                    }
                    None => AuditRow {
                        index: e.index,
                        when: String::new(),
                        what: "An entry that is not a readable event".into(),
                        kind: "unreadable".into(),
                        verified: e.verified,
                    },
                })
                .collect();
            let verified = log.entries.iter().filter(|e| e.verified).count();
            Ok(render(
                StatusCode::OK,
                &AuditPage {
                    chrome: Chrome::of(p, "Audit log"),
                    size: log.size,
                    signed: log.checkpoint_signed,
                    verified,
                    rows,
                    time_zone,
                    raw,
                    folded,
                },
            ))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use doorman_domain::{AccessRequestId, DeliveryState, IllegalTransition, RefusalReason};
    use doorman_server::clips::ClipRefusal;

    use super::*;

    /// One error of each kind, clip refusals included. `kind` has no
    /// wildcard arm, so a new variant does not compile until it is listed
    /// here, and the test below checks each kind is in the list once.
    fn one_of_each() -> Vec<ServiceError> {
        vec![
            ServiceError::Unauthenticated,
            ServiceError::RateLimited { retry_after_s: 7 },
            ServiceError::Forbidden("only managers"),
            ServiceError::NotFound("unit"),
            ServiceError::invalid("hours: 25:00 is not a time"),
            ServiceError::Conflict("already there".into()),
            ServiceError::IllegalTransition(IllegalTransition {
                from: DeliveryState::Delivered,
                to: DeliveryState::Registered,
            }),
            ServiceError::Refused { reason: RefusalReason::ParcelUnknown, request_id: AccessRequestId::random() },
            ServiceError::Clip(ClipRefusal::UnknownClip),
            ServiceError::Clip(ClipRefusal::HashMismatch),
            ServiceError::Clip(ClipRefusal::TooLarge { max: 10 }),
            ServiceError::Clip(ClipRefusal::Deleted),
            ServiceError::Clip(ClipRefusal::StoreUnavailable),
            ServiceError::Unavailable("the database is away".into()),
            ServiceError::PasskeyRefused("wrong origin".into()),
            ServiceError::Internal("the disk is on fire".into()),
        ]
    }

    fn kind(e: &ServiceError) -> usize {
        match e {
            ServiceError::Unauthenticated => 0,
            ServiceError::RateLimited { .. } => 1,
            ServiceError::Forbidden(_) => 2,
            ServiceError::NotFound(_) => 3,
            ServiceError::Invalid(_) => 4,
            ServiceError::Conflict(_) => 5,
            ServiceError::IllegalTransition(_) => 6,
            ServiceError::Refused { .. } => 7,
            ServiceError::Clip(ClipRefusal::UnknownClip) => 8,
            ServiceError::Clip(ClipRefusal::HashMismatch) => 9,
            ServiceError::Clip(ClipRefusal::TooLarge { .. }) => 10,
            ServiceError::Clip(ClipRefusal::Deleted) => 11,
            ServiceError::Clip(ClipRefusal::StoreUnavailable) => 12,
            ServiceError::Unavailable(_) => 13,
            ServiceError::PasskeyRefused(_) => 14,
            ServiceError::Internal(_) => 15,
        }
    }

    async fn page_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn every_service_error_has_the_apis_status_and_code_on_its_page() {
        let kinds: Vec<usize> = one_of_each().iter().map(kind).collect();
        assert_eq!(kinds, (0..16).collect::<Vec<_>>(), "every kind of error, once each");
        for (for_page, for_api) in one_of_each().into_iter().zip(one_of_each()) {
            let what = format!("{for_page:?}");
            let page = service_error(for_page);
            let api = ApiError::from(for_api);
            assert_eq!(page.status(), api.status, "{what}");
            let html = page_text(page).await;
            assert!(html.contains(&format!("data-error-code=\"{}\"", api.code)), "{what}: {html}");
            assert!(!html.contains("on fire"), "an internal cause is never shown: {html}");
        }
    }

    #[test]
    fn a_clip_hash_mismatch_is_unprocessable_in_both() {
        let page = service_error(ServiceError::Clip(ClipRefusal::HashMismatch));
        let api = ApiError::from(ServiceError::Clip(ClipRefusal::HashMismatch));
        assert_eq!((page.status(), api.status), (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::UNPROCESSABLE_ENTITY));
    }
}

#[derive(Deserialize)]
pub(crate) struct BundleQuery {
    /// A checkpoint the browser kept from its last check: the bundle gets
    /// the consistency proof from it.
    #[serde(default)]
    since: Option<String>,
}

/// `GET /app/audit/bundle`: the signed-in principal's audit bundle, the
/// one `doorman audit export` writes, as a download. Errors are the API's
/// JSON (the page's script reads them).
pub(crate) async fn audit_bundle(
    State(dash): State<DashState>,
    signed: Signed,
    Query(query): Query<BundleQuery>,
) -> Response {
    let since = query.since.filter(|s| !s.trim().is_empty());
    let bundle = match bundle_of(&dash.service, &signed.principal, since).await {
        Ok(bundle) => bundle,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match bundle.to_json_pretty() {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"doorman-audit-bundle.json\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
            json,
        )
            .into_response(),
        Err(e) => ApiError::from(ServiceError::Internal(e.to_string())).into_response(),
    }
}
