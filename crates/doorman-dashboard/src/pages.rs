//! The pages. Each handler calls the `Service` as the signed-in principal,
//! turns what it gets into plain view structs (strings ready to show) and
//! renders a template. Forms post, then redirect (303) back to their page.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use doorman_api::{CreateBlock, PutEnablement, SetTenantNotice};
use doorman_domain::{
    CarrierId, Delivery, DeliveryId, DropSpotId, Event, Principal, PropertyId, UnitId, UnitPreferences, WeeklyHours,
};
use doorman_server::{ServiceError, ServiceResult};
use doorman_web::error::ApiError;
use serde::Deserialize;

use crate::audit_view::{checked_entries, CheckedLog};
use crate::session::Signed;
use crate::text::{describe, local_time, tone};
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

fn or_error(result: ServiceResult<Response>) -> Response {
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

/// One step of a timeline.
pub(crate) struct Step {
    pub index: u64,
    pub when: String,
    pub text: String,
    /// ok, refused, door, info: for the dot's colour and for tests.
    pub tone: &'static str,
    pub verified: bool,
}

fn step(index: u64, event: &Event, verified: bool, tz: &str) -> Step {
    Step { index, when: local_time(event.at, tz), text: describe(&event.kind, tz), tone: tone(&event.kind), verified }
}

pub(crate) struct DeliveryView {
    pub id: String,
    pub tracking: String,
    pub state: &'static str,
    pub state_label: String,
    pub window: String,
    pub eta: Option<String>,
    pub steps: Vec<Step>,
}

fn delivery_view(d: &Delivery, log: Option<&CheckedLog>, tz: &str) -> DeliveryView {
    let steps = log
        .map(|log| {
            log.entries
                .iter()
                .filter_map(|e| e.event.as_ref().map(|ev| (e, ev)))
                .filter(|(_, ev)| ev.delivery_id == Some(d.id))
                .map(|(e, ev)| step(e.index, ev, e.verified, tz))
                .collect()
        })
        .unwrap_or_default();
    DeliveryView {
        id: d.id.to_string(),
        tracking: d.tracking_number.clone(),
        state: d.state.as_str(),
        state_label: d.state.as_str().replace('_', " "),
        window: format!("{} – {}", local_time(d.window_start, tz), local_time(d.window_end, tz)),
        eta: d.eta.map(|eta| local_time(eta, tz)),
        steps,
    }
}

// --- resident ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "resident_deliveries.html")]
struct ResidentDeliveries {
    blocked: Option<String>,
    deliveries: Vec<DeliveryView>,
    /// The unit's other events (blocks, shared doors), newest first.
    activity: Vec<Step>,
}

#[derive(Template)]
#[template(path = "resident.html")]
struct ResidentPage {
    chrome: Chrome,
    unit_label: String,
    property_name: String,
    blocked: bool,
    fragment: String,
    live_after: String,
}

fn resident_unit(p: &Principal) -> ServiceResult<UnitId> {
    match p {
        Principal::Resident { unit_id, .. } => Ok(*unit_id),
        _ => Err(ServiceError::Forbidden("this page is for residents")),
    }
}

struct ResidentView {
    unit_label: String,
    property_name: String,
    blocked: bool,
    fragment: ResidentDeliveries,
    log: CheckedLog,
}

async fn resident_view(dash: &DashState, p: &Principal) -> ServiceResult<ResidentView> {
    let unit_id = resident_unit(p)?;
    let overview = dash.service.unit_overview(p, unit_id).await?;
    let tz = overview.time_zone.as_str();
    let deliveries = dash.service.unit_deliveries(p, unit_id).await?;
    let log = checked_entries(&dash.service, p, None).await?;
    let blocked = overview.active_block.as_ref().map(|b| match (b.until, &b.reason) {
        (Some(u), _) => format!("Deliveries are blocked until {}.", local_time(u, tz)),
        (None, Some(r)) => format!("Deliveries are blocked ({r})."),
        (None, None) => "Deliveries are blocked until you allow them again.".to_string(),
    });
    let delivery_ids: Vec<DeliveryId> = deliveries.iter().map(|d| d.id).collect();
    let activity = log
        .entries
        .iter()
        .rev()
        .filter_map(|e| e.event.as_ref().map(|ev| (e, ev)))
        .filter(|(_, ev)| ev.delivery_id.is_none_or(|d| !delivery_ids.contains(&d)))
        .take(30)
        .map(|(e, ev)| step(e.index, ev, e.verified, tz))
        .collect();
    let views = deliveries.iter().map(|d| delivery_view(d, Some(&log), tz)).collect();
    Ok(ResidentView {
        unit_label: overview.unit.label,
        property_name: overview.property_name,
        blocked: blocked.is_some(),
        fragment: ResidentDeliveries { blocked, deliveries: views, activity },
        log,
    })
}

pub(crate) async fn resident_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(
        async {
            let view = resident_view(&dash, &signed.principal).await?;
            let fragment = view.fragment.render().map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(render(
                StatusCode::OK,
                &ResidentPage {
                    chrome: Chrome::of(&signed.principal, "Your deliveries"),
                    unit_label: view.unit_label,
                    property_name: view.property_name,
                    blocked: view.blocked,
                    fragment,
                    live_after: view.log.last_index().map(|i| i.to_string()).unwrap_or_default(),
                },
            ))
        }
        .await,
    )
}

/// The live part of the resident page, fetched again on every new event.
pub(crate) async fn resident_fragment(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(resident_view(&dash, &signed.principal).await.map(|view| render(StatusCode::OK, &view.fragment)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlockForm {
    #[serde(default)]
    reason: String,
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
            dash.service.block(&signed.principal, unit, CreateBlock { until: None, reason }).await?;
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

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    chrome: Chrome,
    spots: Vec<SpotOption>,
    allow_in_unit: bool,
    alternate_address: String,
    pickup_point: String,
    saved: bool,
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
    Ok(render(
        StatusCode::OK,
        &PreferencesPage {
            chrome: Chrome::of(p, "Delivery preferences"),
            spots,
            allow_in_unit: prefs.allow_in_unit,
            alternate_address: prefs.alternate_address.unwrap_or_default(),
            pickup_point: prefs.pickup_point.unwrap_or_default(),
            saved,
        },
    ))
}

pub(crate) async fn preferences_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(preferences_view(&dash, &signed.principal, false).await)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PreferencesForm {
    #[serde(default)]
    preferred_drop_spot: String,
    #[serde(default)]
    allow_in_unit: Option<String>,
    #[serde(default)]
    alternate_address: String,
    #[serde(default)]
    pickup_point: String,
}

fn optional_text(v: &str) -> Option<String> {
    Some(v.trim().to_string()).filter(|v| !v.is_empty())
}

pub(crate) async fn preferences_save(
    State(dash): State<DashState>,
    signed: Signed,
    Form(form): Form<PreferencesForm>,
) -> Response {
    or_error(
        async {
            let unit = resident_unit(&signed.principal)?;
            let preferred_drop_spot = match form.preferred_drop_spot.trim() {
                "" => None,
                id => Some(id.parse::<DropSpotId>().map_err(|_| ServiceError::invalid("unknown drop spot"))?),
            };
            // The form edits these; the rest (pickup point from the
            // directory, allow and block lists) is kept as it is.
            let current = dash.service.get_preferences(&signed.principal, unit).await?;
            let prefs = UnitPreferences {
                preferred_drop_spot,
                allow_in_unit: form.allow_in_unit.is_some(),
                alternate_address: optional_text(&form.alternate_address),
                pickup_point: optional_text(&form.pickup_point),
                ..current
            };
            dash.service.put_preferences(&signed.principal, unit, prefs).await?;
            preferences_view(&dash, &signed.principal, true).await
        }
        .await,
    )
}

// --- manager -------------------------------------------------------------------

pub(crate) struct PropertyRow {
    pub id: String,
    pub name: String,
    pub address: String,
    pub notice: String,
}

#[derive(Template)]
#[template(path = "manager.html")]
struct ManagerPage {
    chrome: Chrome,
    properties: Vec<PropertyRow>,
}

pub(crate) async fn manager_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(
        async {
            let p = &signed.principal;
            let properties = dash
                .service
                .list_properties(p)
                .await?
                .into_iter()
                .map(|prop| PropertyRow {
                    id: prop.id.to_string(),
                    notice: match &prop.tenant_notice {
                        Some(n) => format!("live from {}", local_time(n.live_from, &prop.time_zone)),
                        None => "not given: no carrier may enter yet".into(),
                    },
                    name: prop.name,
                    address: prop.address,
                })
                .collect();
            Ok(render(StatusCode::OK, &ManagerPage { chrome: Chrome::of(p, "Your properties"), properties }))
        }
        .await,
    )
}

pub(crate) struct DoorRow {
    pub name: String,
    pub kind: String,
    pub inside: String,
    pub lock: String,
    pub opens_with: String,
    /// Last contact, battery, clock, stale revocations: empty until the
    /// fleet reports them to the store.
    pub health: String,
}

pub(crate) struct EnablementRow {
    pub carrier: String,
    pub carrier_id: String,
    pub enabled: bool,
    pub hours: String,
    pub spots: String,
}

pub(crate) struct CountRow {
    pub code: String,
    pub explain: String,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "property.html")]
struct PropertyPage {
    chrome: Chrome,
    id: String,
    name: String,
    address: String,
    time_zone: String,
    notice: Option<String>,
    doors: Vec<DoorRow>,
    spots: Vec<SpotOption>,
    carriers: Vec<EnablementRow>,
    granted: usize,
    refusals: Vec<CountRow>,
    deliveries: Vec<DeliveryView>,
}

/// Last contact, battery, clock and revocations, in words; empty when the
/// lock was never heard from.
fn health_text(h: &doorman_api::LockHealthView, tz: &str) -> String {
    let Some(last) = h.last_contact else { return String::new() };
    let mut parts = vec![format!("last contact {}", local_time(last, tz))];
    if let Some(b) = h.battery_percent {
        parts.push(format!("battery {b}%"));
    }
    parts.push(if h.clock_stale { "clock wrong or unknown".into() } else { "clock ok".into() });
    parts.push(if h.revocation_stale {
        format!("revocations stale ({} of {})", h.revocation_sequence.unwrap_or(0), h.revocation_sequence_issued)
    } else {
        "revocations current".into()
    });
    if h.camera_stale {
        parts.push("camera stale".into());
    }
    if h.gap.is_some() {
        parts.push("events missing".into());
    }
    if let Some(problem) = &h.problem {
        parts.push(format!("problem: {problem}"));
    }
    parts.join(" · ")
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hours_text(hours: &[WeeklyHours]) -> String {
    if hours.is_empty() {
        return "no hours".into();
    }
    hours.iter().map(|h| format!("{} {}–{}", h.days.join(" "), h.start, h.end)).collect::<Vec<_>>().join("; ")
}

async fn property_view(dash: &DashState, p: &Principal, id: PropertyId) -> ServiceResult<PropertyPage> {
    let s = &dash.service;
    let property = s.get_property(p, id).await?;
    let tz = property.time_zone.clone();
    let points = s.list_access_points(p, id).await?;
    let locks = s.list_locks(p, id).await?;
    let drop_spots = s.list_drop_spots(p, id).await?;
    let health = s.lock_health(p, id).await?;
    let doors = points
        .iter()
        .map(|ap| {
            let lock = locks.iter().find(|l| l.access_point_id == ap.id);
            let opens_with = lock
                .map(|l| match (l.mobile_credential, l.keypad) {
                    (true, true) => "phone credential or keypad code",
                    (true, false) => "phone credential",
                    (false, true) => "keypad code",
                    (false, false) => "nothing (not openable by doorman)",
                })
                .unwrap_or("no lock");
            DoorRow {
                name: ap.name.clone(),
                kind: ap.kind.as_str().replace('_', " "),
                inside: ap
                    .parent_id
                    .and_then(|parent| points.iter().find(|x| x.id == parent))
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| "street".into()),
                lock: lock.map(|l| format!("{} (firmware {})", l.model, l.firmware)).unwrap_or_else(|| "—".into()),
                opens_with: opens_with.into(),
                health: lock
                    .and_then(|l| health.iter().find(|h| h.lock_id == l.id))
                    .map(|h| health_text(h, &tz))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let spot_name = |sid: &DropSpotId| {
        drop_spots.iter().find(|d| d.id == *sid).map(|d| d.name.clone()).unwrap_or_else(|| sid.to_string())
    };
    let carriers = s
        .named_enablements(p, id)
        .await?
        .into_iter()
        .map(|named| EnablementRow {
            carrier: named.carrier_name,
            carrier_id: named.enablement.carrier_id.to_string(),
            enabled: named.enablement.enabled,
            hours: hours_text(&named.enablement.hours),
            spots: named.enablement.allowed_drop_spots.iter().map(spot_name).collect::<Vec<_>>().join(", "),
        })
        .collect();
    let requests = s.property_access_requests(p, id).await?;
    let mut by_reason: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
    let mut granted = 0;
    for r in &requests {
        match &r.refusal {
            Some(reason) => by_reason.entry(reason.as_str()).or_insert((reason.explain().to_string(), 0)).1 += 1,
            None => granted += 1,
        }
    }
    let mut refusals: Vec<CountRow> =
        by_reason.into_iter().map(|(code, (explain, count))| CountRow { code: code.into(), explain, count }).collect();
    refusals.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    let deliveries = s.property_deliveries(p, id).await?.iter().take(50).map(|d| delivery_view(d, None, &tz)).collect();
    Ok(PropertyPage {
        chrome: Chrome::of(p, &property.name),
        id: property.id.to_string(),
        name: property.name.clone(),
        address: property.address.clone(),
        notice: property.tenant_notice.as_ref().map(|n| {
            format!(
                "“{}” — notified {}, live from {}",
                n.text,
                local_time(n.notified_at, &tz),
                local_time(n.live_from, &tz)
            )
        }),
        time_zone: tz.clone(),
        doors,
        spots: drop_spots
            .iter()
            .map(|d| SpotOption {
                id: d.id.to_string(),
                name: format!("{} ({})", d.name, d.kind.as_str().replace('_', " ")),
                selected: false,
            })
            .collect(),
        carriers,
        granted,
        refusals,
        deliveries,
    })
}

pub(crate) async fn property_page(State(dash): State<DashState>, signed: Signed, Path(id): Path<String>) -> Response {
    or_error(
        async {
            let id = id.parse::<PropertyId>().map_err(|_| ServiceError::NotFound("property"))?;
            Ok(render(StatusCode::OK, &property_view(&dash, &signed.principal, id).await?))
        }
        .await,
    )
}

/// The enablement form: `carrier_id`, `enabled`, `start`, `end`, one
/// `day` per checked weekday and one `spot` per checked drop spot.
pub(crate) async fn enable_carrier(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    or_error(
        async {
            let id = id.parse::<PropertyId>().map_err(|_| ServiceError::NotFound("property"))?;
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
            let all = |name: &'static str| -> Vec<String> {
                fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect()
            };
            let carrier = field("carrier_id")
                .unwrap_or_default()
                .parse::<CarrierId>()
                .map_err(|_| ServiceError::invalid("carrier: paste the carrier's ID (shown on its dashboard)"))?;
            let days: Vec<String> = all("day").into_iter().filter(|d| DAYS.contains(&d.as_str())).collect();
            let enabled = field("enabled").is_some();
            let hours = if days.is_empty() {
                Vec::new()
            } else {
                vec![WeeklyHours {
                    days,
                    start: field("start").unwrap_or_default(),
                    end: field("end").unwrap_or_default(),
                }]
            };
            if enabled && hours.is_empty() {
                return Err(ServiceError::invalid("hours: tick at least one day the carrier may come"));
            }
            let allowed_drop_spots = all("spot")
                .into_iter()
                .map(|s| s.parse::<DropSpotId>().map_err(|_| ServiceError::invalid("unknown drop spot")))
                .collect::<Result<Vec<_>, _>>()?;
            let req = PutEnablement { enabled, hours, allowed_drop_spots };
            dash.service.put_enablement(&signed.principal, id, carrier, req).await?;
            Ok(see_other(&format!("/app/manager/properties/{id}#carriers")))
        }
        .await,
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoticeForm {
    text: String,
}

pub(crate) async fn tenant_notice(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<NoticeForm>,
) -> Response {
    or_error(
        async {
            let id = id.parse::<PropertyId>().map_err(|_| ServiceError::NotFound("property"))?;
            let req = SetTenantNotice { text: form.text, live_from: None };
            dash.service.set_tenant_notice(&signed.principal, id, req).await?;
            Ok(see_other(&format!("/app/manager/properties/{id}")))
        }
        .await,
    )
}

// --- carrier -------------------------------------------------------------------

pub(crate) struct DriverRow {
    pub name: String,
    pub vetting: String,
    pub status: String,
    pub handheld: bool,
}

#[derive(Template)]
#[template(path = "carrier_deliveries.html")]
struct CarrierDeliveries {
    deliveries: Vec<DeliveryView>,
}

#[derive(Template)]
#[template(path = "carrier.html")]
struct CarrierPage {
    chrome: Chrome,
    carrier_id: String,
    fragment: String,
    drivers: Option<Vec<DriverRow>>,
    live_after: String,
}

async fn carrier_deliveries(dash: &DashState, p: &Principal) -> ServiceResult<(CarrierDeliveries, CheckedLog)> {
    let deliveries = dash.service.list_local_deliveries(p).await?;
    let log = checked_entries(&dash.service, p, None).await?;
    let views = deliveries.iter().take(100).map(|d| delivery_view(&d.delivery, Some(&log), &d.time_zone)).collect();
    Ok((CarrierDeliveries { deliveries: views }, log))
}

pub(crate) async fn carrier_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(
        async {
            let p = &signed.principal;
            let carrier_id = match p {
                Principal::Carrier { carrier_id } | Principal::Driver { carrier_id, .. } => carrier_id.to_string(),
                _ => return Err(ServiceError::Forbidden("this page is for carriers and their drivers")),
            };
            let (fragment, log) = carrier_deliveries(&dash, p).await?;
            let drivers = match p {
                Principal::Carrier { .. } => Some(
                    dash.service
                        .list_drivers(p)
                        .await?
                        .into_iter()
                        .map(|d| DriverRow {
                            name: d.name,
                            vetting: d.vetting.as_str().into(),
                            status: d.status.as_str().into(),
                            handheld: d.handheld_public_key.is_some(),
                        })
                        .collect(),
                ),
                _ => None,
            };
            let fragment = fragment.render().map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(render(
                StatusCode::OK,
                &CarrierPage {
                    chrome: Chrome::of(p, "Deliveries"),
                    carrier_id,
                    fragment,
                    drivers,
                    live_after: log.last_index().map(|i| i.to_string()).unwrap_or_default(),
                },
            ))
        }
        .await,
    )
}

pub(crate) async fn carrier_fragment(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(carrier_deliveries(&dash, &signed.principal).await.map(|(f, _)| render(StatusCode::OK, &f)))
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
}

pub(crate) async fn audit_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(
        async {
            let p = &signed.principal;
            let log = checked_entries(&dash.service, p, None).await?;
            let rows: Vec<AuditRow> = log
                .entries
                .iter()
                .rev()
                .take(500)
                .map(|e| match &e.event {
                    Some(ev) => AuditRow {
                        index: e.index,
                        when: local_time(ev.at, "UTC"),
                        what: describe(&ev.kind, "UTC"),
                        kind: ev.kind.name().into(),
                        verified: e.verified,
                    },
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
                },
            ))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use doorman_api::LockHealthView;
    use doorman_domain::{AccessPointId, AccessRequestId, DeliveryState, IllegalTransition, LockId, RefusalReason};
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
            ServiceError::Internal(_) => 13,
        }
    }

    async fn page_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn every_service_error_has_the_apis_status_and_code_on_its_page() {
        let kinds: Vec<usize> = one_of_each().iter().map(kind).collect();
        assert_eq!(kinds, (0..14).collect::<Vec<_>>(), "every kind of error, once each");
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

    fn view() -> LockHealthView {
        LockHealthView {
            lock_id: LockId::random(),
            access_point_id: AccessPointId::random(),
            last_contact: None,
            reported_at: None,
            battery_percent: None,
            clock_drift_secs: None,
            clock_lost: false,
            revocation_sequence: None,
            revocation_sequence_issued: 0,
            camera_heartbeat_age_secs: None,
            camera_stale: false,
            events_stored: 0,
            event_counter: None,
            gap: None,
            problem: None,
            revocation_stale: false,
            clock_stale: true,
            decommissioned_at: None,
            replaced_by: None,
        }
    }

    #[test]
    fn lock_health_in_words() {
        assert_eq!(health_text(&view(), "UTC"), "", "never heard from: nothing to say");
        let h = LockHealthView {
            last_contact: Some(1_773_252_000),
            battery_percent: Some(81),
            clock_stale: false,
            revocation_sequence: Some(2),
            revocation_sequence_issued: 3,
            revocation_stale: true,
            ..view()
        };
        assert_eq!(
            health_text(&h, "America/New_York"),
            "last contact Wed 11 Mar 14:00 · battery 81% · clock ok · revocations stale (2 of 3)"
        );
    }
}
