//! The resident's other controls: opening a door remotely, guest passes
//! (created, listed, revoked; the codes shown once to share) and returns.
//! Times typed are the building's local time.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use doorman_api::{CreateGuestPass, GuestPassIssued, RemoteUnlock, ScheduleReturn};
use doorman_domain::{GuestPassId, Principal};
use doorman_server::{ServiceError, ServiceResult};

use crate::form::{Fields, Typed};
use crate::pages::{error_page, or_error, render, resident_unit, Chrome};
use crate::session::Signed;
use crate::text::{local_time, parse_local};
use crate::{see_other, DashState};

// --- remote unlock -------------------------------------------------------------------

pub(crate) async fn unlock(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    or_error(
        async {
            let p = &signed.principal;
            let unit = resident_unit(p)?;
            let lock_id = fields.id("lock_id", "lock_id")?;
            let asked = dash.service.request_remote_unlock(p, unit, RemoteUnlock { lock_id }).await?;
            Ok(see_other(&format!("/app/resident?opening={}", asked.lock_id)))
        }
        .await,
    )
}

// --- guest passes --------------------------------------------------------------------

pub(crate) struct PassRow {
    pub id: String,
    pub name: String,
    pub window: String,
    pub doors: usize,
    /// active, upcoming, ended, revoked
    pub state: &'static str,
}

pub(crate) struct IssuedDoor {
    pub name: String,
    pub code: Option<String>,
    pub code_window: String,
    pub credential: Option<String>,
}

#[derive(Template)]
#[template(path = "guests.html")]
struct GuestsPage {
    chrome: Chrome,
    time_zone: String,
    passes: Vec<PassRow>,
    issued: Option<(String, Vec<IssuedDoor>)>,
    typed: Typed,
    today: String,
}

async fn guests_view(
    dash: &DashState,
    p: &Principal,
    issued: Option<GuestPassIssued>,
    typed: Typed,
) -> ServiceResult<Response> {
    let unit = resident_unit(p)?;
    let tz = dash.service.unit_overview(p, unit).await?.time_zone;
    let now = dash.service.now();
    let passes = dash
        .service
        .list_guest_passes(p, unit)
        .await?
        .into_iter()
        .filter(|g| g.vehicle_id.is_none())
        .map(|g| PassRow {
            id: g.id.to_string(),
            state: match (g.revoked_at, now) {
                (Some(_), _) => "revoked",
                (None, n) if n < g.valid_from => "upcoming",
                (None, n) if n >= g.valid_until => "ended",
                _ => "active",
            },
            window: format!("{} – {}", local_time(g.valid_from, &tz), local_time(g.valid_until, &tz)),
            doors: g.doors.len(),
            name: g.name,
        })
        .collect();
    let issued = issued.map(|i| {
        let doors = i
            .doors
            .iter()
            .map(|d| IssuedDoor {
                name: d.access_point_name.clone(),
                code: d.door_code.clone(),
                code_window: match (d.door_code_valid_from, d.door_code_valid_until) {
                    (Some(a), Some(b)) => format!("{} – {}", local_time(a, &tz), local_time(b, &tz)),
                    _ => String::new(),
                },
                credential: d.credential.clone(),
            })
            .collect();
        (i.pass.name.clone(), doors)
    });
    let today = jiff::Timestamp::from_second(now)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::get(&tz).unwrap_or(jiff::tz::TimeZone::UTC))
                .strftime("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    let status = if typed.form.is_empty() { StatusCode::OK } else { typed.status() };
    Ok(render(
        status,
        &GuestsPage { chrome: Chrome::of(p, "Guest passes"), time_zone: tz, passes, issued, typed, today },
    ))
}

pub(crate) async fn guests_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(guests_view(&dash, &signed.principal, None, Typed::none()).await)
}

fn optional(fields: &Fields, name: &str) -> Option<String> {
    Some(fields.get(name)).filter(|v| !v.is_empty())
}

pub(crate) async fn create_guest_pass(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let p = &signed.principal;
    let result = async {
        let unit = resident_unit(p)?;
        let tz = dash.service.unit_overview(p, unit).await?.time_zone;
        let date = fields.get("date");
        let valid_from = parse_local(&date, &fields.get("from"), &tz).map_err(ServiceError::invalid)?;
        let valid_until = parse_local(&date, &fields.get("until"), &tz).map_err(ServiceError::invalid)?;
        let max_uses = match optional(&fields, "max_uses") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| ServiceError::invalid("uses: a number from 1 to 10"))?),
        };
        let req = CreateGuestPass {
            name: fields.get("name"),
            valid_from,
            valid_until,
            handheld_public_key: optional(&fields, "handheld_public_key"),
            max_uses,
        };
        dash.service.create_guest_pass(p, unit, req).await
    }
    .await;
    match result {
        Ok(issued) => or_error(guests_view(&dash, p, Some(issued), Typed::none()).await),
        Err(e) => or_error(guests_view(&dash, p, None, Typed::failed("guest", fields, e)).await),
    }
}

pub(crate) async fn revoke_guest_pass(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    or_error(
        async {
            let p = &signed.principal;
            let unit = resident_unit(p)?;
            let id: GuestPassId = id.parse().map_err(|_| ServiceError::NotFound("guest pass"))?;
            dash.service.revoke_guest_pass(p, unit, id).await?;
            Ok(see_other("/app/resident/guests"))
        }
        .await,
    )
}

// --- returns -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "returns.html")]
struct ReturnsPage {
    chrome: Chrome,
    time_zone: String,
    carriers: Vec<(String, String)>,
    spots: Vec<(String, String)>,
    typed: Typed,
}

async fn returns_view(dash: &DashState, p: &Principal, typed: Typed) -> ServiceResult<Response> {
    let unit = resident_unit(p)?;
    let tz = dash.service.unit_overview(p, unit).await?.time_zone;
    let choices = dash.service.resident_choices(p, unit).await?;
    let spots = dash
        .service
        .drop_spot_choices(p, unit)
        .await?
        .into_iter()
        .map(|s| (s.id.to_string(), format!("{} ({})", s.name, s.kind.as_str().replace('_', " "))))
        .collect();
    let carriers = choices.carriers.into_iter().map(|(id, name)| (id.to_string(), name)).collect();
    let status = if typed.form.is_empty() { StatusCode::OK } else { typed.status() };
    Ok(render(
        status,
        &ReturnsPage { chrome: Chrome::of(p, "Schedule a return"), time_zone: tz, carriers, spots, typed },
    ))
}

pub(crate) async fn returns_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(returns_view(&dash, &signed.principal, Typed::none()).await)
}

pub(crate) async fn schedule_return(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let p = &signed.principal;
    let result = async {
        let unit = resident_unit(p)?;
        let tz = dash.service.unit_overview(p, unit).await?.time_zone;
        let date = fields.get("date");
        let req = ScheduleReturn {
            carrier_id: fields.id("carrier_id", "carrier")?,
            drop_spot_id: fields.id("drop_spot_id", "where it waits")?,
            window_start: parse_local(&date, &fields.get("from"), &tz).map_err(ServiceError::invalid)?,
            window_end: parse_local(&date, &fields.get("until"), &tz).map_err(ServiceError::invalid)?,
            tracking_number: optional(&fields, "tracking_number"),
        };
        dash.service.schedule_return(p, unit, req).await
    }
    .await;
    match result {
        Ok(_) => see_other("/app/resident"),
        Err(e) => or_error(returns_view(&dash, p, Typed::failed("return", fields, e)).await),
    }
}

// --- pages that do not exist ---------------------------------------------------------

/// Any other path under `/app/`: an HTML page, not the API's JSON.
pub(crate) async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "not_found", "There is no such page.")
}
