//! The building manager's pages: their properties and a form to add one;
//! a property with its units, doors (as the tree they form), locks, drop
//! spots, carriers, residents, access requests and deliveries, each with
//! the forms that add, change or remove them. Every choice of a thing is a
//! list to pick from; a refused form is shown again with what was typed.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Form;
use base64::Engine as _;
use doorman_api::{
    CreateAccessPoint, CreateDropSpot, CreateInvitation, CreateProperty, CreateUnit, LockProvisioned, PutEnablement,
    RegisterLock, SetTenantNotice,
};
use doorman_domain::{
    serde_b64, AccessPoint, AccessPointKind, CarrierId, DropSpotKind, GeoPoint, Principal, PropertyId, PropertyKind,
    UnitId, WeeklyHours,
};
use doorman_server::{ServiceError, ServiceResult};
use serde::Deserialize;

use crate::form::{Fields, Typed};
use crate::pages::{or_error, render, service_error, Chrome, SpotOption};
use crate::session::Signed;
use crate::text::local_time;
use crate::{see_other, DashState};

fn property_id(id: &str) -> ServiceResult<PropertyId> {
    id.parse::<PropertyId>().map_err(|_| ServiceError::NotFound("property"))
}

/// One option of a select.
pub(crate) struct Choice {
    pub id: String,
    pub name: String,
}

// --- the properties --------------------------------------------------------------

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
    kinds: Vec<&'static str>,
    zones: Vec<String>,
    typed: Typed,
}

async fn manager_view(dash: &DashState, p: &Principal, typed: Typed) -> ServiceResult<Response> {
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
    let zones = jiff::tz::db().available().map(|z| z.as_str().to_string()).collect();
    let page = ManagerPage {
        chrome: Chrome::of(p, "Your properties"),
        properties,
        kinds: PropertyKind::ALL.iter().map(PropertyKind::as_str).collect(),
        zones,
        typed,
    };
    Ok(render(page.typed.status(), &page))
}

pub(crate) async fn manager_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(manager_view(&dash, &signed.principal, Typed::none()).await)
}

fn degrees(fields: &Fields, name: &str) -> ServiceResult<f64> {
    let text = fields.get(name).replace(',', ".").replace('−', "-");
    text.parse::<f64>()
        .map_err(|_| ServiceError::invalid(format!("{name}: a number of degrees, like 40.7128 or -73.98")))
}

/// Adds a building: name, address, kind, latitude, longitude, time zone.
pub(crate) async fn create_property(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let p = &signed.principal;
    let result = async {
        let kind = PropertyKind::parse(&fields.get("kind"))
            .ok_or_else(|| ServiceError::invalid("kind: pick building, house or vehicle"))?;
        let location = GeoPoint { lat: degrees(&fields, "latitude")?, lon: degrees(&fields, "longitude")? };
        let req = CreateProperty {
            kind,
            name: fields.get("name"),
            address: fields.get("address"),
            location,
            time_zone: fields.get("time_zone"),
        };
        let property = dash.service.create_property(p, req).await?;
        Ok(see_other(&format!("/app/manager/properties/{}", property.id)))
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => or_error(manager_view(&dash, p, Typed::failed("property", fields, e)).await),
    }
}

// --- one property ------------------------------------------------------------------

pub(crate) struct UnitRow {
    pub id: String,
    pub label: String,
    /// Its residents now (not moved out).
    pub residents: Vec<ResidentRow>,
}

impl UnitRow {
    /// The name of this row's forms.
    pub(crate) fn key(&self) -> String {
        format!("unit:{}", self.id)
    }
}

pub(crate) struct ResidentRow {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// The deepest indentation step the stylesheet has (`.indent-6`).
const MAX_INDENT: usize = 6;

pub(crate) struct DoorRow {
    pub id: String,
    pub name: String,
    /// How deep in the tree: 0 for a street door.
    pub depth: usize,
    pub kind: String,
    pub kind_code: &'static str,
    pub inside: String,
    pub parent_id: String,
    pub unit: String,
    pub unit_id: String,
    pub lock: String,
    /// Empty when the door has no lock in service.
    pub lock_id: String,
    /// Its earlier locks, out of service (decommissioned or replaced).
    pub earlier_locks: Vec<String>,
    pub opens_with: String,
    /// Last contact, battery, clock, stale revocations: empty until the
    /// fleet reports them to the store.
    pub health: String,
}

impl DoorRow {
    /// The name of this row's forms.
    pub(crate) fn key(&self) -> String {
        format!("door:{}", self.id)
    }

    /// The name of its lock's forms.
    pub(crate) fn lock_key(&self) -> String {
        format!("lock:{}", self.lock_id)
    }

    /// The indentation step of the door tree (a CSS class: the pages' CSP
    /// allows no inline style); deeper doors stay at the deepest step.
    pub fn indent(&self) -> usize {
        self.depth.min(MAX_INDENT)
    }

    /// The name indented by its depth, for the parent lists.
    pub(crate) fn tree_name(&self) -> String {
        format!("{}{}", "— ".repeat(self.depth), self.name)
    }
}

pub(crate) struct SpotRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub kind_code: &'static str,
    pub door: String,
    pub unit: String,
    pub unit_id: String,
}

impl SpotRow {
    /// The name of this row's forms.
    pub(crate) fn key(&self) -> String {
        format!("spot:{}", self.id)
    }
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

pub(crate) struct RequestRow {
    pub when: String,
    pub driver: String,
    pub carrier: String,
    pub unit: String,
    pub granted: bool,
    pub reason: String,
    pub reason_code: String,
}

pub(crate) struct PropertyDeliveryRow {
    pub tracking: String,
    pub unit: String,
    pub carrier: String,
    pub driver: String,
    pub state: &'static str,
    pub state_label: String,
    pub window: String,
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
    typed: Typed,
    units: Vec<UnitRow>,
    doors: Vec<DoorRow>,
    door_kinds: Vec<&'static str>,
    spot_kinds: Vec<&'static str>,
    spot_rows: Vec<SpotRow>,
    spots: Vec<SpotOption>,
    carriers: Vec<EnablementRow>,
    carrier_choices: Vec<Choice>,
    /// The other managers, to hand the property to.
    managers: Vec<Choice>,
    granted: usize,
    refusals: Vec<CountRow>,
    requests: Vec<RequestRow>,
    deliveries: Vec<PropertyDeliveryRow>,
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

/// One slot in words: "mon tue 08:00–20:00", "sat all day",
/// "fri 22:00–06:00 (next day)".
fn slot_text(h: &WeeklyHours) -> String {
    let days = h.days.join(" ");
    if h.start == "00:00" && h.end == "24:00" {
        format!("{days} all day")
    } else if h.end < h.start {
        format!("{days} {}–{} (next day)", h.start, h.end)
    } else {
        format!("{days} {}–{}", h.start, h.end)
    }
}

fn hours_text(hours: &[WeeklyHours]) -> String {
    if hours.is_empty() {
        return "no hours".into();
    }
    hours.iter().map(slot_text).collect::<Vec<_>>().join("; ")
}

/// The doors in tree order (each after its parent, street doors first),
/// with their depth. A door whose parent is not listed is shown at the top.
fn door_tree(points: &[AccessPoint]) -> Vec<(usize, &AccessPoint)> {
    let ids: BTreeSet<_> = points.iter().map(|a| a.id).collect();
    let mut out = Vec::with_capacity(points.len());
    let mut seen = BTreeSet::new();
    let mut stack: Vec<(usize, &AccessPoint)> =
        points.iter().filter(|a| a.parent_id.is_none_or(|p| !ids.contains(&p))).rev().map(|a| (0, a)).collect();
    while let Some((depth, ap)) = stack.pop() {
        if !seen.insert(ap.id) {
            continue;
        }
        out.push((depth, ap));
        stack.extend(points.iter().filter(|c| c.parent_id == Some(ap.id)).rev().map(|c| (depth + 1, c)));
    }
    // Anything left is on a cycle: shown all the same.
    out.extend(points.iter().filter(|a| !seen.contains(&a.id)).map(|a| (0, a)));
    out
}

/// The carriers a manager may pick from, by name.
async fn carrier_choices(dash: &DashState, p: &Principal) -> ServiceResult<Vec<Choice>> {
    let mut carriers: Vec<Choice> = dash
        .service
        .list_carriers(p, None)
        .await?
        .into_iter()
        .map(|c| Choice { id: c.id.to_string(), name: c.name })
        .collect();
    carriers.sort_by_key(|c| c.name.to_lowercase());
    Ok(carriers)
}

async fn property_view(dash: &DashState, p: &Principal, id: PropertyId, typed: Typed) -> ServiceResult<PropertyPage> {
    let s = &dash.service;
    let property = s.get_property(p, id).await?;
    let tz = property.time_zone.clone();
    let units = s.list_units(p, id).await?;
    let points = s.list_access_points(p, id).await?;
    let locks = s.list_locks(p, id).await?;
    let drop_spots = s.list_drop_spots(p, id).await?;
    let health = s.lock_health(p, id).await?;
    let unit_label = |u: Option<UnitId>| {
        u.and_then(|u| units.iter().find(|x| x.id == u)).map(|x| x.label.clone()).unwrap_or_default()
    };
    let door_name = |a| points.iter().find(|x| x.id == a).map(|x| x.name.clone()).unwrap_or_default();
    let doors = door_tree(&points)
        .into_iter()
        .map(|(depth, ap)| {
            let lock = locks.iter().find(|l| l.access_point_id == ap.id && l.is_active());
            let opens_with = lock
                .map(|l| match (l.mobile_credential, l.keypad) {
                    (true, true) => "phone credential or keypad code",
                    (true, false) => "phone credential",
                    (false, true) => "keypad code",
                    (false, false) => "nothing (not openable by doorman)",
                })
                .unwrap_or("no lock");
            DoorRow {
                id: ap.id.to_string(),
                name: ap.name.clone(),
                depth,
                kind: ap.kind.as_str().replace('_', " "),
                kind_code: ap.kind.as_str(),
                inside: ap.parent_id.map(door_name).unwrap_or_else(|| "street".into()),
                parent_id: ap.parent_id.map(|x| x.to_string()).unwrap_or_default(),
                unit: unit_label(ap.unit_id),
                unit_id: ap.unit_id.map(|x| x.to_string()).unwrap_or_default(),
                lock: lock.map(|l| format!("{} (firmware {})", l.model, l.firmware)).unwrap_or_else(|| "—".into()),
                lock_id: lock.map(|l| l.id.to_string()).unwrap_or_default(),
                earlier_locks: locks
                    .iter()
                    .filter(|l| l.access_point_id == ap.id)
                    .filter_map(|l| {
                        let since = local_time(l.decommissioned_at?, &tz);
                        let how = if l.replaced_by.is_some() { "replaced" } else { "decommissioned" };
                        Some(format!("{} (firmware {}) {how} {since}", l.model, l.firmware))
                    })
                    .collect(),
                opens_with: opens_with.into(),
                health: lock
                    .and_then(|l| health.iter().find(|h| h.lock_id == l.id))
                    .map(|h| health_text(h, &tz))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let spot_rows = drop_spots
        .iter()
        .map(|d| SpotRow {
            id: d.id.to_string(),
            name: d.name.clone(),
            kind: d.kind.as_str().replace('_', " "),
            kind_code: d.kind.as_str(),
            door: door_name(d.access_point_id),
            unit: unit_label(d.unit_id),
            unit_id: d.unit_id.map(|x| x.to_string()).unwrap_or_default(),
        })
        .collect();
    let spot_name = |sid: &doorman_domain::DropSpotId| {
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
    let mut unit_rows = Vec::with_capacity(units.len());
    for u in &units {
        let residents = s
            .list_unit_residents(p, u.id)
            .await?
            .into_iter()
            .map(|r| ResidentRow { id: r.id.to_string(), name: r.name, email: r.email })
            .collect();
        unit_rows.push(UnitRow { id: u.id.to_string(), label: u.label.clone(), residents });
    }
    let requests = s.named_access_requests(p, id).await?;
    let mut by_reason: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
    let mut granted = 0;
    for r in &requests {
        match &r.request.refusal {
            Some(reason) => by_reason.entry(reason.as_str()).or_insert((reason.explain().to_string(), 0)).1 += 1,
            None => granted += 1,
        }
    }
    let mut refusals: Vec<CountRow> =
        by_reason.into_iter().map(|(code, (explain, count))| CountRow { code: code.into(), explain, count }).collect();
    refusals.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    let requests = requests
        .into_iter()
        .take(100)
        .map(|r| RequestRow {
            when: local_time(r.request.at, &tz),
            driver: r.driver_name,
            carrier: r.carrier_name,
            unit: if r.unit_label.is_empty() { "—".into() } else { r.unit_label },
            granted: r.request.refusal.is_none(),
            reason: r.request.refusal.map(|x| x.explain().to_string()).unwrap_or_default(),
            reason_code: r.request.refusal.map(|x| x.as_str().to_string()).unwrap_or_default(),
        })
        .collect();
    let deliveries = s
        .named_deliveries(p, id)
        .await?
        .into_iter()
        .take(100)
        .map(|d| PropertyDeliveryRow {
            tracking: d.delivery.tracking_number.clone(),
            unit: d.unit_label,
            carrier: d.carrier_name,
            driver: if d.driver_name.is_empty() { "—".into() } else { d.driver_name },
            state: d.delivery.state.as_str(),
            state_label: d.delivery.state.as_str().replace('_', " "),
            window: format!(
                "{} – {}",
                local_time(d.delivery.window_start, &tz),
                local_time(d.delivery.window_end, &tz)
            ),
        })
        .collect();
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
        typed,
        units: unit_rows,
        doors,
        door_kinds: AccessPointKind::ALL.iter().map(AccessPointKind::as_str).collect(),
        spot_kinds: DropSpotKind::ALL.iter().map(DropSpotKind::as_str).collect(),
        spot_rows,
        spots: drop_spots
            .iter()
            .map(|d| SpotOption {
                id: d.id.to_string(),
                name: format!("{} ({})", d.name, d.kind.as_str().replace('_', " ")),
                selected: false,
            })
            .collect(),
        carriers,
        carrier_choices: carrier_choices(dash, p).await?,
        managers: {
            let mut managers: Vec<Choice> = s
                .list_managers(p, None)
                .await?
                .into_iter()
                .filter(|m| m.id != property.manager_id)
                .map(|m| Choice { id: m.id.to_string(), name: m.name })
                .collect();
            managers.sort_by_key(|m| m.name.to_lowercase());
            managers
        },
        granted,
        refusals,
        requests,
        deliveries,
    })
}

/// The property page; a form that failed is shown again with what was
/// typed, the status of its error, and the message beside it.
async fn property_again(dash: &DashState, p: &Principal, id: PropertyId, typed: Typed) -> Response {
    match property_view(dash, p, id, typed).await {
        Ok(page) => render(page.typed.status(), &page),
        Err(e) => service_error(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PropertyQuery {
    /// Fill the carrier form with this carrier's enablement, to change it.
    #[serde(default)]
    carrier: Option<String>,
}

pub(crate) async fn property_page(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<PropertyQuery>,
) -> Response {
    let p = &signed.principal;
    let id = match property_id(&id) {
        Ok(id) => id,
        Err(e) => return service_error(e),
    };
    let mut typed = Typed::none();
    if let Some(carrier) = q.carrier.as_deref().and_then(|c| c.parse::<CarrierId>().ok()) {
        // Editing an enablement: the form starts from what is stored.
        if let Ok(list) = dash.service.list_enablements(p, id).await {
            if let Some(e) = list.iter().find(|e| e.carrier_id == carrier) {
                let mut f = vec![("carrier_id".to_string(), carrier.to_string())];
                if let Some(slot) = e.hours.first() {
                    f.extend(slot.days.iter().map(|d| ("day".to_string(), d.clone())));
                    if slot.start == "00:00" && slot.end == "24:00" {
                        f.push(("all_day".into(), "yes".into()));
                    } else {
                        f.push(("start".into(), slot.start.clone()));
                        f.push(("end".into(), slot.end.clone()));
                    }
                }
                f.extend(e.allowed_drop_spots.iter().map(|s| ("spot".to_string(), s.to_string())));
                if e.enabled {
                    f.push(("enabled".into(), "yes".into()));
                }
                typed = Typed::prefilled("carrier", Fields(f));
            }
        }
    }
    match property_view(&dash, p, id, typed).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => service_error(e),
    }
}

/// Runs a property form: `action` gets the property and the fields; on
/// success the browser goes to `#anchor` of the page, on failure the page
/// is shown again with what was typed into form `form`.
pub(crate) async fn property_form<F, Fut>(
    dash: DashState,
    signed: Signed,
    id: String,
    fields: Vec<(String, String)>,
    form: &str,
    action: F,
) -> Response
where
    F: FnOnce(DashState, Principal, PropertyId, Fields) -> Fut,
    Fut: std::future::Future<Output = ServiceResult<Response>>,
{
    let p = signed.principal;
    let id = match property_id(&id) {
        Ok(id) => id,
        Err(e) => return service_error(e),
    };
    let fields = Fields(fields);
    match action(dash.clone(), p, id, fields.clone()).await {
        Ok(r) => r,
        // Another tenant's property, a role without access: the plain error page.
        Err(e @ (ServiceError::NotFound("property") | ServiceError::Forbidden(_) | ServiceError::Unauthenticated)) => {
            service_error(e)
        }
        Err(e) => property_again(&dash, &p, id, Typed::failed(form, fields, e)).await,
    }
}

pub(crate) fn back_to(id: PropertyId, anchor: &str) -> Response {
    see_other(&format!("/app/manager/properties/{id}#{anchor}"))
}

/// Units: one label per line (or separated by commas), all checked before
/// any is added.
pub(crate) async fn add_units(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "units", |dash, p, id, f| async move {
        let labels: Vec<String> =
            f.get("labels").split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        if labels.is_empty() {
            return Err(ServiceError::invalid("labels: write at least one unit label, like 2B"));
        }
        let existing = dash.service.list_units(&p, id).await?;
        let mut seen = BTreeSet::new();
        for l in &labels {
            if l.chars().count() > 100 {
                return Err(ServiceError::invalid(format!("labels: {l:?} is longer than 100 characters")));
            }
            if !seen.insert(l.to_lowercase()) || existing.iter().any(|u| u.label.eq_ignore_ascii_case(l)) {
                return Err(ServiceError::invalid(format!("labels: there is already a unit {l:?}")));
            }
        }
        for label in labels {
            dash.service.create_unit(&p, id, CreateUnit { label }).await?;
        }
        Ok(back_to(id, "units"))
    })
    .await
}

pub(crate) async fn add_door(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "door", |dash, p, id, f| async move {
        let kind = AccessPointKind::parse(&f.get("kind")).ok_or_else(|| ServiceError::invalid("kind: pick one"))?;
        let req = CreateAccessPoint {
            kind,
            name: f.get("name"),
            parent_id: f.optional_id("parent_id", "inside")?,
            unit_id: f.optional_id("unit_id", "unit")?,
        };
        dash.service.create_access_point(&p, id, req).await?;
        Ok(back_to(id, "doors"))
    })
    .await
}

pub(crate) async fn add_drop_spot(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "spot", |dash, p, id, f| async move {
        let kind = DropSpotKind::parse(&f.get("kind")).ok_or_else(|| ServiceError::invalid("kind: pick one"))?;
        let req = CreateDropSpot {
            name: f.get("name"),
            kind,
            access_point_id: f.id("access_point_id", "door")?,
            unit_id: f.optional_id("unit_id", "unit")?,
        };
        dash.service.create_drop_spot(&p, id, req).await?;
        Ok(back_to(id, "spots"))
    })
    .await
}

/// The enablement form: `carrier_id` (picked from the list), `enabled`,
/// `start`, `end` or `all_day`, one `day` per checked weekday and one
/// `spot` per checked drop spot. An end before the start runs past
/// midnight.
pub(crate) async fn enable_carrier(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "carrier", |dash, p, id, f| async move {
        let carrier: CarrierId = f.id("carrier_id", "carrier")?;
        let days: Vec<String> = f.all("day").into_iter().filter(|d| DAYS.contains(&d.as_str())).collect();
        let enabled = f.checked("enabled");
        let (start, end) =
            if f.checked("all_day") { ("00:00".into(), "24:00".into()) } else { (f.get("start"), f.get("end")) };
        let hours = if days.is_empty() { Vec::new() } else { vec![WeeklyHours { days, start, end }] };
        if enabled && hours.is_empty() {
            return Err(ServiceError::invalid("hours: tick at least one day the carrier may come"));
        }
        let allowed_drop_spots = f
            .all("spot")
            .into_iter()
            .map(|s| s.parse().map_err(|_| ServiceError::invalid("drop spots: pick them from the list")))
            .collect::<Result<Vec<_>, _>>()?;
        let req = PutEnablement { enabled, hours, allowed_drop_spots };
        dash.service.put_enablement(&p, id, carrier, req).await?;
        Ok(back_to(id, "carriers"))
    })
    .await
}

pub(crate) async fn tenant_notice(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "notice", |dash, p, id, f| async move {
        let req = SetTenantNotice { text: f.get("text"), live_from: None };
        dash.service.set_tenant_notice(&p, id, req).await?;
        Ok(back_to(id, "notice-h"))
    })
    .await
}

// --- locks: registered, the bundle downloadable once --------------------------------

#[derive(Template)]
#[template(path = "lock_registered.html")]
struct LockRegistered {
    chrome: Chrome,
    property_id: String,
    door: String,
    lock_id: String,
    /// `lock-<id>.json`.
    file_name: String,
    /// The bundle as a `data:` URL: it lives only in this page.
    href: String,
    /// The page made the device key: the bundle is one `doorman lock run` loads.
    generated: bool,
}

/// The lock's provisioning bundle with a device key made here, in the
/// format `doorman lock provision` writes and `doorman lock run` loads.
fn generated_bundle(provisioned: &LockProvisioned, secret: &[u8; 32]) -> doorman_devices::LockBundle {
    doorman_devices::LockBundle {
        lock_id: provisioned.lock.id.to_string(),
        device_secret: serde_b64::encode(secret),
        trust_anchors: provisioned
            .trust_anchors
            .iter()
            .map(|t| doorman_devices::AnchorJson {
                kid: t.kid.clone(),
                alg: t.alg.clone(),
                public_key: t.public_key.clone(),
                usage: None,
            })
            .collect(),
        door_code_secret: provisioned.door_code_secret.clone(),
        mqtt: provisioned.mqtt.as_ref().map(|m| doorman_devices::MqttJson {
            url: m.url.clone(),
            username: m.username.clone(),
            password: m.password.clone(),
        }),
    }
}

/// The device key of a lock being registered: the one the lock shows
/// (`device_key_source=paste`), or one made here, whose secret then goes
/// into the bundle and nowhere else.
pub(crate) fn new_device_key(f: &Fields) -> ServiceResult<(String, Option<[u8; 32]>)> {
    if f.get("device_key_source") == "paste" {
        let key = f.get("device_public_key");
        if key.is_empty() {
            return Err(ServiceError::invalid("device key: paste the key the lock shows, or let the page make one"));
        }
        return Ok((key, None));
    }
    use rand_core::RngCore;
    let mut secret = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut secret);
    let public = serde_b64::encode(&doorman_protocol::LockDeviceKey::from_secret(&secret).public_key().0);
    Ok((public, Some(secret)))
}

/// The page with a new lock's provisioning bundle as its only copy: the
/// `LockProvisioned` answer, or, when the page made the device key, a
/// bundle `doorman lock run` loads. Never cached.
pub(crate) async fn lock_bundle_page(
    dash: &DashState,
    p: &Principal,
    id: PropertyId,
    provisioned: LockProvisioned,
    secret: Option<[u8; 32]>,
) -> ServiceResult<Response> {
    let json = match secret {
        Some(mut secret) => {
            let json = serde_json::to_vec_pretty(&generated_bundle(&provisioned, &secret));
            secret.fill(0);
            json
        }
        None => serde_json::to_vec_pretty(&provisioned),
    }
    .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let door = dash
        .service
        .list_access_points(p, id)
        .await?
        .into_iter()
        .find(|a| a.id == provisioned.lock.access_point_id)
        .map(|a| a.name)
        .unwrap_or_default();
    let lock_id = provisioned.lock.id.to_string();
    let page = LockRegistered {
        chrome: Chrome::of(p, "Lock registered"),
        property_id: id.to_string(),
        door,
        file_name: format!("lock-{lock_id}.json"),
        href: format!("data:application/json;base64,{}", base64::engine::general_purpose::STANDARD.encode(&json)),
        lock_id,
        generated: secret.is_some(),
    };
    let mut response = render(StatusCode::CREATED, &page);
    // The bundle holds secrets: no cache keeps this page.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Registers a lock on a door picked from the list (see [`new_device_key`]).
/// The bundle (secrets: MQTT password, door-code secret) is in the answer
/// only, never stored: it can be downloaded from that page once.
pub(crate) async fn register_lock(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "lock", |dash, p, id, f| async move {
        let (device_public_key, secret) = new_device_key(&f)?;
        let model = Some(f.get("model")).filter(|m| !m.is_empty()).unwrap_or_else(|| "doorman-sim".into());
        let firmware = Some(f.get("firmware")).filter(|m| !m.is_empty()).unwrap_or_else(|| "1".into());
        let req = RegisterLock {
            access_point_id: f.id("access_point_id", "door")?,
            device_public_key,
            model,
            firmware,
            mobile_credential: f.checked("mobile_credential"),
            keypad: f.checked("keypad"),
        };
        let provisioned = dash.service.register_lock(&p, id, req).await?;
        lock_bundle_page(&dash, &p, id, provisioned, secret).await
    })
    .await
}

// --- residents ------------------------------------------------------------------------

pub(crate) struct InvitedRow {
    pub name: String,
    pub email: String,
    pub unit: String,
    pub code: String,
}

#[derive(Template)]
#[template(path = "invited.html")]
struct InvitedPage {
    chrome: Chrome,
    property_id: String,
    invited: Vec<InvitedRow>,
}

/// The codes just made, shown once (never cached).
pub(crate) fn invited_page(p: &Principal, property: PropertyId, title: &str, invited: Vec<InvitedRow>) -> Response {
    let page = InvitedPage { chrome: Chrome::of(p, title), property_id: property.to_string(), invited };
    let mut response = render(StatusCode::CREATED, &page);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// `Name <address>` or a bare address (its name then the part before @).
fn invitee(entry: &str) -> ServiceResult<(String, String)> {
    let (name, email) = match entry.split_once('<') {
        Some((name, rest)) => (name.trim().trim_matches('"').trim().to_string(), rest.trim_end_matches('>').trim()),
        None => (String::new(), entry.trim()),
    };
    let Some((local, domain)) = email.split_once('@') else {
        return Err(ServiceError::invalid(format!("emails: {entry:?} is not an e-mail address")));
    };
    if local.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace) {
        return Err(ServiceError::invalid(format!("emails: {entry:?} is not an e-mail address")));
    }
    let name = if name.is_empty() { local.to_string() } else { name };
    Ok((name, email.to_string()))
}

/// Invites one or many residents of a unit picked from the list: one
/// address per line (or separated by commas or semicolons), `Name
/// <address>` to give a name. All are checked before any is invited; the
/// codes are shown once.
pub(crate) async fn invite_residents(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    property_form(dash, signed, id, fields, "invite", |dash, p, id, f| async move {
        let unit: UnitId = f.id("unit_id", "unit")?;
        let units = dash.service.list_units(&p, id).await?;
        let unit_label = units
            .iter()
            .find(|u| u.id == unit)
            .map(|u| u.label.clone())
            .ok_or_else(|| ServiceError::invalid("unit: pick one from the list"))?;
        let entries: Vec<(String, String)> = f
            .get("emails")
            .split(['\n', ',', ';'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(invitee)
            .collect::<Result<_, _>>()?;
        if entries.is_empty() {
            return Err(ServiceError::invalid("emails: write at least one e-mail address"));
        }
        if entries.len() > 100 {
            return Err(ServiceError::invalid("emails: at most 100 at once"));
        }
        let mut invited = Vec::with_capacity(entries.len());
        for (name, email) in entries {
            let created = dash.service.invite_resident(&p, unit, CreateInvitation { name, email }).await?;
            invited.push(InvitedRow {
                name: created.invitation.name,
                email: created.invitation.email,
                unit: unit_label.clone(),
                code: created.code,
            });
        }
        Ok(invited_page(&p, id, "Residents invited", invited))
    })
    .await
}

#[cfg(test)]
mod tests {
    use doorman_api::LockHealthView;
    use doorman_domain::{AccessPointId, LockId};

    use super::*;

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

    #[test]
    fn hours_say_all_day_and_past_midnight() {
        let slot = |days: &[&str], start: &str, end: &str| WeeklyHours {
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            end: end.into(),
        };
        assert_eq!(hours_text(&[slot(&["sat", "sun"], "09:00", "17:00")]), "sat sun 09:00–17:00");
        assert_eq!(hours_text(&[slot(&["mon"], "00:00", "24:00")]), "mon all day");
        assert_eq!(hours_text(&[slot(&["fri"], "22:00", "06:00")]), "fri 22:00–06:00 (next day)");
        assert_eq!(hours_text(&[]), "no hours");
    }

    #[test]
    fn doors_come_in_tree_order() {
        let property = PropertyId::random();
        let door = |name: &str, parent: Option<AccessPointId>| AccessPoint {
            id: AccessPointId::random(),
            property_id: property,
            kind: AccessPointKind::Lobby,
            name: name.into(),
            parent_id: parent,
            unit_id: None,
        };
        let street = door("street", None);
        let lobby = door("lobby", Some(street.id));
        let room = door("room", Some(lobby.id));
        let garage = door("garage", None);
        let points = vec![room.clone(), garage.clone(), lobby.clone(), street.clone()];
        let tree: Vec<(usize, &str)> = door_tree(&points).into_iter().map(|(d, a)| (d, a.name.as_str())).collect();
        assert_eq!(tree, vec![(0, "garage"), (0, "street"), (1, "lobby"), (2, "room")]);
    }

    #[test]
    fn invitees_with_and_without_names() {
        assert_eq!(invitee("lee@example.com").unwrap(), ("lee".into(), "lee@example.com".into()));
        assert_eq!(invitee("Lee Park <lee@example.com>").unwrap(), ("Lee Park".into(), "lee@example.com".into()));
        assert!(invitee("lee").is_err());
        assert!(invitee("lee@localhost").is_err());
    }
}
