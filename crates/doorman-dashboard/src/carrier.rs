//! The carrier's pages: its parcels (live, each with its building and unit
//! by name, an ETA to update and a cancel button), a form to announce a
//! delivery to a unit picked from the buildings that enabled the carrier,
//! and its drivers (added with their token shown once, suspended, resumed).
//! A driver sees the parcels they asked access for.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Form;
use doorman_api::{CreateDelivery, CreateDriver, EtaUpdate, UpdateDriver};
use doorman_domain::{
    DeliveryId, DeliveryKind, DeliveryState, DriverId, DriverStatus, Principal, PropertyId, UnitId, VettingStatus,
};
use doorman_server::{ServiceError, ServiceResult};

use crate::audit_view::CheckedLog;
use crate::form::{Fields, Typed};
use crate::pages::{delivery_view, named_log, or_error, render, service_error, Chrome, DeliveryView};
use crate::session::Signed;
use crate::text::{local_input, parse_local};
use crate::{see_other, DashState};

/// A parcel on the carrier's page.
pub(crate) struct ParcelView {
    pub view: DeliveryView,
    pub building: String,
    pub unit: String,
    /// The building's time zone, which the parcel's times are in.
    pub time_zone: String,
    /// The carrier may still update its ETA or cancel it.
    pub open: bool,
    /// The ETA form's starting value, `YYYY-MM-DDTHH:MM` local time.
    pub eta_input: String,
}

impl std::ops::Deref for ParcelView {
    type Target = DeliveryView;

    fn deref(&self) -> &DeliveryView {
        &self.view
    }
}

#[derive(Template)]
#[template(path = "carrier_deliveries.html")]
struct CarrierDeliveries {
    parcels: Vec<ParcelView>,
    /// A carrier (not a driver): the parcels have their forms.
    manage: bool,
}

pub(crate) struct DriverRow {
    pub id: String,
    pub name: String,
    pub vetting: String,
    pub status: String,
    pub suspended: bool,
    pub handheld: bool,
}

/// A building that enabled the carrier, with its units to pick from.
pub(crate) struct Place {
    pub name: String,
    pub units: Vec<PlaceUnit>,
}

pub(crate) struct PlaceUnit {
    /// `property_id/unit_id`: one pick names both.
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "carrier.html")]
struct CarrierPage {
    chrome: Chrome,
    carrier_id: String,
    fragment: String,
    drivers: Option<Vec<DriverRow>>,
    places: Vec<Place>,
    vettings: Vec<&'static str>,
    today: String,
    live_after: String,
    typed: Typed,
}

fn is_open(state: DeliveryState) -> bool {
    matches!(state, DeliveryState::Registered | DeliveryState::OutForDelivery)
}

async fn carrier_deliveries(dash: &DashState, p: &Principal) -> ServiceResult<(CarrierDeliveries, CheckedLog)> {
    let deliveries = dash.service.list_local_deliveries(p).await?;
    let named = named_log(&dash.service, p).await?;
    let now = dash.service.now();
    let parcels = deliveries
        .iter()
        .take(100)
        .map(|d| ParcelView {
            view: delivery_view(&d.delivery, Some(&named), &d.time_zone, false),
            building: d.property_name.clone(),
            unit: d.unit_label.clone(),
            time_zone: d.time_zone.clone(),
            open: is_open(d.delivery.state),
            eta_input: local_input(d.delivery.eta.unwrap_or(now + 1800), &d.time_zone),
        })
        .collect();
    Ok((CarrierDeliveries { parcels, manage: matches!(p, Principal::Carrier { .. }) }, named.log))
}

/// The buildings that enabled the carrier, with their units.
async fn places(dash: &DashState, p: &Principal) -> ServiceResult<Vec<Place>> {
    let mut places: Vec<Place> = dash
        .service
        .carrier_properties(p)
        .await?
        .into_iter()
        .map(|e| Place {
            name: e.name,
            units: e
                .units
                .into_iter()
                .map(|u| PlaceUnit { value: format!("{}/{}", e.property_id, u.id), label: u.label })
                .collect(),
        })
        .collect();
    places.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(places)
}

async fn carrier_view(dash: &DashState, p: &Principal, typed: Typed) -> ServiceResult<Response> {
    let carrier_id = match p {
        Principal::Carrier { carrier_id } | Principal::Driver { carrier_id, .. } => carrier_id.to_string(),
        _ => return Err(ServiceError::Forbidden("this page is for carriers and their drivers")),
    };
    let (fragment, log) = carrier_deliveries(dash, p).await?;
    let (drivers, places) = match p {
        Principal::Carrier { .. } => {
            let drivers = dash
                .service
                .list_drivers(p)
                .await?
                .into_iter()
                .map(|d| DriverRow {
                    id: d.id.to_string(),
                    name: d.name,
                    vetting: d.vetting.as_str().into(),
                    status: d.status.as_str().into(),
                    suspended: d.status == DriverStatus::Suspended,
                    handheld: d.handheld_public_key.is_some(),
                })
                .collect();
            (Some(drivers), places(dash, p).await?)
        }
        _ => (None, Vec::new()),
    };
    let fragment = fragment.render().map_err(|e| ServiceError::Internal(e.to_string()))?;
    let page = CarrierPage {
        chrome: Chrome::of(p, "Deliveries"),
        carrier_id,
        fragment,
        drivers,
        places,
        vettings: VettingStatus::ALL.iter().map(VettingStatus::as_str).collect(),
        today: local_input(dash.service.now(), "UTC").chars().take(10).collect(),
        live_after: log.last_index().map(|i| i.to_string()).unwrap_or_default(),
        typed,
    };
    Ok(render(page.typed.status(), &page))
}

pub(crate) async fn carrier_page(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(carrier_view(&dash, &signed.principal, Typed::none()).await)
}

pub(crate) async fn carrier_fragment(State(dash): State<DashState>, signed: Signed) -> Response {
    or_error(carrier_deliveries(&dash, &signed.principal).await.map(|(f, _)| render(StatusCode::OK, &f)))
}

/// Runs a carrier form; on failure the page again, with what was typed.
async fn carrier_form<F, Fut>(
    dash: DashState,
    signed: Signed,
    fields: Vec<(String, String)>,
    form: &str,
    action: F,
) -> Response
where
    F: FnOnce(DashState, Principal, Fields) -> Fut,
    Fut: std::future::Future<Output = ServiceResult<Response>>,
{
    let p = signed.principal;
    let fields = Fields(fields);
    match action(dash.clone(), p, fields.clone()).await {
        Ok(r) => r,
        Err(e @ (ServiceError::NotFound(_) | ServiceError::Forbidden(_) | ServiceError::Unauthenticated)) => {
            service_error(e)
        }
        Err(e) => or_error(carrier_view(&dash, &p, Typed::failed(form, fields, e)).await),
    }
}

/// Announces a delivery: a unit picked from the buildings that enabled
/// the carrier, a tracking number, and a window on one day, in the
/// building's local time (an end before the start is the next morning).
pub(crate) async fn announce(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    carrier_form(dash, signed, fields, "announce", |dash, p, f| async move {
        let place = f.get("place");
        let (property, unit) = place
            .split_once('/')
            .and_then(|(a, b)| Some((a.parse::<PropertyId>().ok()?, b.parse::<UnitId>().ok()?)))
            .ok_or_else(|| ServiceError::invalid("unit: pick the building and unit from the list"))?;
        let time_zone = dash
            .service
            .carrier_properties(&p)
            .await?
            .into_iter()
            .find(|e| e.property_id == property)
            .map(|e| e.time_zone)
            .ok_or_else(|| ServiceError::invalid("unit: pick the building and unit from the list"))?;
        let date = f.get("date");
        let window_start = parse_local(&date, &f.get("from"), &time_zone).map_err(ServiceError::invalid)?;
        let mut window_end = parse_local(&date, &f.get("until"), &time_zone).map_err(ServiceError::invalid)?;
        if window_end <= window_start {
            window_end += 24 * 3600;
        }
        let kind = match f.get("kind").as_str() {
            "pickup" => DeliveryKind::Pickup,
            _ => DeliveryKind::Drop,
        };
        let req = CreateDelivery {
            tracking_number: f.get("tracking_number"),
            property_id: property,
            unit_id: Some(unit),
            unit_label: None,
            kind,
            window_start,
            window_end,
        };
        let d = dash.service.create_delivery(&p, req).await?;
        Ok(see_other(&format!("/app/carrier#delivery-{}", d.id)))
    })
    .await
}

fn delivery_id(id: &str) -> ServiceResult<DeliveryId> {
    id.parse().map_err(|_| ServiceError::NotFound("delivery"))
}

/// A new ETA, in the building's local time.
pub(crate) async fn update_eta(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    carrier_form(dash, signed, fields, "eta", |dash, p, f| async move {
        let id = delivery_id(&id)?;
        let time_zone = dash
            .service
            .list_local_deliveries(&p)
            .await?
            .into_iter()
            .find(|d| d.delivery.id == id)
            .map(|d| d.time_zone)
            .ok_or(ServiceError::NotFound("delivery"))?;
        let text = f.get("eta");
        let (date, time) = text.split_once('T').unwrap_or((text.as_str(), ""));
        let eta = parse_local(date, time, &time_zone).map_err(ServiceError::invalid)?;
        dash.service.update_eta(&p, id, EtaUpdate { eta }).await?;
        Ok(see_other(&format!("/app/carrier#delivery-{id}")))
    })
    .await
}

pub(crate) async fn cancel(State(dash): State<DashState>, signed: Signed, Path(id): Path<String>) -> Response {
    carrier_form(dash, signed, Vec::new(), "cancel", |dash, p, _| async move {
        let id = delivery_id(&id)?;
        dash.service.cancel_delivery(&p, id).await?;
        Ok(see_other(&format!("/app/carrier#delivery-{id}")))
    })
    .await
}

#[derive(Template)]
#[template(path = "driver_added.html")]
struct DriverAdded {
    chrome: Chrome,
    name: String,
    token: String,
}

/// Adds a driver: name, background check, optionally the handheld's key.
/// The driver's token is shown once.
pub(crate) async fn add_driver(
    State(dash): State<DashState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    carrier_form(dash, signed, fields, "driver", |dash, p, f| async move {
        let vetting = VettingStatus::parse(&f.get("vetting"))
            .ok_or_else(|| ServiceError::invalid("background check: pick one from the list"))?;
        let vetted_at = (vetting != VettingStatus::Pending).then(|| dash.service.now());
        let key = f.get("handheld_public_key");
        let req = CreateDriver {
            name: f.get("name"),
            handheld_public_key: Some(key).filter(|k| !k.is_empty()),
            vetting,
            vetted_at,
        };
        let created = dash.service.create_driver(&p, req).await?;
        let page =
            DriverAdded { chrome: Chrome::of(&p, "Driver added"), name: created.item.name, token: created.token };
        let mut response = render(StatusCode::CREATED, &page);
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        Ok(response)
    })
    .await
}

/// Suspends or resumes a driver (`status` = suspended | active).
pub(crate) async fn driver_status(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    carrier_form(dash, signed, fields, "driver-status", |dash, p, f| async move {
        let id: DriverId = id.parse().map_err(|_| ServiceError::NotFound("driver"))?;
        let status = DriverStatus::parse(&f.get("status"))
            .ok_or_else(|| ServiceError::invalid("status: active or suspended"))?;
        dash.service.update_driver(&p, id, UpdateDriver { status: Some(status), ..Default::default() }).await?;
        Ok(see_other("/app/carrier#drivers-h"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::local_time;

    #[test]
    fn open_deliveries_are_the_ones_still_coming() {
        assert!(is_open(DeliveryState::Registered));
        assert!(is_open(DeliveryState::OutForDelivery));
        assert!(!is_open(DeliveryState::Delivered));
        assert!(!is_open(DeliveryState::Cancelled));
    }

    #[test]
    fn local_times_round_trip() {
        let at = parse_local("2026-03-11", "14:00", "America/New_York").unwrap();
        assert_eq!(at, 1_773_252_000);
        assert_eq!(local_time(at, "America/New_York"), "Wed 11 Mar 14:00");
        assert_eq!(local_input(at, "America/New_York"), "2026-03-11T14:00");
        assert!(parse_local("2026-03-11", "25:00", "UTC").is_err());
        assert!(parse_local("yesterday", "10:00", "UTC").is_err());
    }
}
