//! A manager changes or removes what they made: units renamed or removed
//! (residents moved out), doors and drop spots edited or removed, locks
//! decommissioned or replaced by a new device, carriers dropped, the
//! property handed over. Each form is a row's own (its name carries the
//! row's id), so a refused one comes back open, in its row, with what was
//! typed and why.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use doorman_api::{Handover, ReplaceLock, UpdateAccessPoint, UpdateDropSpot, UpdateUnit};
use doorman_domain::{AccessPointId, AccessPointKind, CarrierId, DropSpotId, DropSpotKind, LockId, ResidentId, UnitId};
use doorman_server::ServiceError;

use crate::manager::{back_to, lock_bundle_page, new_device_key, property_form};
use crate::session::Signed;
use crate::{see_other, DashState};

fn parse<T: std::str::FromStr>(id: &str, what: &'static str) -> Result<T, ServiceError> {
    id.parse().map_err(|_| ServiceError::NotFound(what))
}

type Fields = Form<Vec<(String, String)>>;

pub(crate) async fn edit_unit(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, unit)): Path<(String, String)>,
    Form(fields): Fields,
) -> Response {
    let form = format!("unit:{unit}");
    property_form(dash, signed, id, fields, &form, |dash, p, id, f| async move {
        let unit: UnitId = parse(&unit, "unit")?;
        dash.service.update_unit(&p, id, unit, UpdateUnit { label: f.get("label") }).await?;
        Ok(back_to(id, "units"))
    })
    .await
}

pub(crate) async fn remove_unit(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, unit)): Path<(String, String)>,
) -> Response {
    let form = format!("unit:{unit}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        dash.service.remove_unit(&p, id, parse(&unit, "unit")?).await?;
        Ok(back_to(id, "units"))
    })
    .await
}

pub(crate) async fn edit_door(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, door)): Path<(String, String)>,
    Form(fields): Fields,
) -> Response {
    let form = format!("door:{door}");
    property_form(dash, signed, id, fields, &form, |dash, p, id, f| async move {
        let door: AccessPointId = parse(&door, "access point")?;
        let kind = AccessPointKind::parse(&f.get("kind")).ok_or_else(|| ServiceError::invalid("kind: pick one"))?;
        let req = UpdateAccessPoint {
            name: Some(f.get("name")),
            kind: Some(kind),
            parent_id: Some(f.optional_id("parent_id", "inside")?),
            unit_id: Some(f.optional_id("unit_id", "unit")?),
        };
        dash.service.update_access_point(&p, id, door, req).await?;
        Ok(back_to(id, "doors"))
    })
    .await
}

pub(crate) async fn remove_door(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, door)): Path<(String, String)>,
) -> Response {
    let form = format!("door:{door}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        dash.service.remove_access_point(&p, id, parse(&door, "access point")?).await?;
        Ok(back_to(id, "doors"))
    })
    .await
}

pub(crate) async fn edit_spot(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, spot)): Path<(String, String)>,
    Form(fields): Fields,
) -> Response {
    let form = format!("spot:{spot}");
    property_form(dash, signed, id, fields, &form, |dash, p, id, f| async move {
        let spot: DropSpotId = parse(&spot, "drop spot")?;
        let kind = DropSpotKind::parse(&f.get("kind")).ok_or_else(|| ServiceError::invalid("kind: pick one"))?;
        let req = UpdateDropSpot {
            name: Some(f.get("name")),
            kind: Some(kind),
            unit_id: Some(f.optional_id("unit_id", "unit")?),
        };
        dash.service.update_drop_spot(&p, id, spot, req).await?;
        Ok(back_to(id, "spots"))
    })
    .await
}

pub(crate) async fn remove_spot(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, spot)): Path<(String, String)>,
) -> Response {
    let form = format!("spot:{spot}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        dash.service.remove_drop_spot(&p, id, parse(&spot, "drop spot")?).await?;
        Ok(back_to(id, "spots"))
    })
    .await
}

pub(crate) async fn decommission_lock(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, lock)): Path<(String, String)>,
) -> Response {
    let form = format!("lock:{lock}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        dash.service.decommission_lock(&p, id, parse::<LockId>(&lock, "lock")?).await?;
        Ok(back_to(id, "doors"))
    })
    .await
}

/// A new device in the old one's place: like registering (the page may
/// make its device key), the new bundle downloadable once.
pub(crate) async fn replace_lock(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, lock)): Path<(String, String)>,
    Form(fields): Fields,
) -> Response {
    let form = format!("lock:{lock}");
    property_form(dash, signed, id, fields, &form, |dash, p, id, f| async move {
        let lock: LockId = parse(&lock, "lock")?;
        let old = dash
            .service
            .list_locks(&p, id)
            .await?
            .into_iter()
            .find(|l| l.id == lock)
            .ok_or(ServiceError::NotFound("lock"))?;
        let (device_public_key, secret) = new_device_key(&f)?;
        let req = ReplaceLock {
            device_public_key,
            model: Some(f.get("model")).filter(|m| !m.is_empty()).unwrap_or(old.model),
            firmware: Some(f.get("firmware")).filter(|m| !m.is_empty()).unwrap_or(old.firmware),
            mobile_credential: f.checked("mobile_credential"),
            keypad: f.checked("keypad"),
        };
        let provisioned = dash.service.replace_lock(&p, id, lock, req).await?;
        lock_bundle_page(&dash, &p, id, provisioned, secret).await
    })
    .await
}

/// A resident moved out: their sign-ins end; the unit keeps its history.
pub(crate) async fn move_out(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, unit, resident)): Path<(String, String, String)>,
) -> Response {
    let form = format!("unit:{unit}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        let unit: UnitId = parse(&unit, "unit")?;
        // The unit must be this property's: the page names the property.
        if !dash.service.list_units(&p, id).await?.iter().any(|u| u.id == unit) {
            return Err(ServiceError::NotFound("unit"));
        }
        let resident: ResidentId = parse(&resident, "resident")?;
        dash.service.move_out_resident(&p, unit, resident).await?;
        Ok(back_to(id, "units"))
    })
    .await
}

/// A resident who lost every device is re-invited: a new code for the same
/// resident; their passkeys stop working now (the service logs it).
pub(crate) async fn reinvite(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, unit, resident)): Path<(String, String, String)>,
) -> Response {
    let form = format!("unit:{unit}");
    property_form(dash, signed, id, Vec::new(), &form, |dash, p, id, _| async move {
        let unit: UnitId = parse(&unit, "unit")?;
        let Some(label) = dash.service.list_units(&p, id).await?.into_iter().find(|u| u.id == unit).map(|u| u.label)
        else {
            return Err(ServiceError::NotFound("unit"));
        };
        let resident: ResidentId = parse(&resident, "resident")?;
        let created = dash.service.reinvite_resident(&p, unit, resident).await?;
        Ok(crate::manager::invited_page(
            &p,
            id,
            "Resident re-invited",
            vec![crate::manager::InvitedRow {
                name: created.invitation.name,
                email: created.invitation.email,
                unit: label,
                code: created.code,
            }],
        ))
    })
    .await
}

/// A carrier dropped: its drivers' outstanding credentials here are revoked.
pub(crate) async fn remove_enablement(
    State(dash): State<DashState>,
    signed: Signed,
    Path((id, carrier)): Path<(String, String)>,
) -> Response {
    property_form(dash, signed, id, Vec::new(), "carrier", |dash, p, id, _| async move {
        let carrier: CarrierId = parse(&carrier, "carrier")?;
        dash.service.remove_enablement(&p, id, carrier).await?;
        Ok(back_to(id, "carriers"))
    })
    .await
}

/// The property handed to another manager, picked from the list: it
/// leaves this manager's dashboard.
pub(crate) async fn hand_over(
    State(dash): State<DashState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    property_form(dash, signed, id, fields, "handover", |dash, p, id, f| async move {
        let manager_id = f.id("manager_id", "manager")?;
        dash.service.hand_over_property(&p, id, Handover { manager_id }).await?;
        Ok(see_other("/app/manager"))
    })
    .await
}
