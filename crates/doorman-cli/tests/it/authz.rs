//! Authorization crossings: every principal reaching for what is not theirs
//! (another manager's property, another carrier's parcel or driver, another
//! unit), every role on every endpoint family that is not its own, and
//! requests without a usable token. A resource of another tenant answers 404
//! (its existence is not confirmed); a route of another role answers 403
//! when it names no id, and when it names one, 404 as for an unknown id
//! unless the caller can already see that thing (a manager at a tenant's
//! preferences): then 403.
//! After each table, the data the calls aimed at is checked to be unchanged.

use doorman_api::*;
use doorman_client::Client;
use doorman_server::ServiceConfig;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::fixture::{all_day, delivery, weekdays_8_to_8, Building, AT_THE_DOOR};
use crate::kit::{assert_error_shape, expect_all, expect_error, Call, Kit, HOUR};
use crate::lock::{Handheld, SimLock};

/// Valid bodies for every write, so that only the caller decides the answer.
struct Bodies {
    property: CreateProperty,
    notice: SetTenantNotice,
    unit: CreateUnit,
    access_point: CreateAccessPoint,
    lock: RegisterLock,
    drop_spot: CreateDropSpot,
    enablement: PutEnablement,
    invitation: CreateInvitation,
    preferences: UnitPreferences,
    block: CreateBlock,
    driver: CreateDriver,
    update_driver: UpdateDriver,
    delivery: CreateDelivery,
    eta: EtaUpdate,
    access: AccessRequest,
    complete: CompleteDelivery,
    named: CreateNamed,
}

fn bodies(b: &Building, now: i64) -> Bodies {
    Bodies {
        property: CreateProperty {
            kind: PropertyKind::Building,
            name: "Annex".into(),
            address: "216 E 9th St".into(),
            location: AT_THE_DOOR,
            time_zone: "America/New_York".into(),
        },
        notice: SetTenantNotice { text: "Changed notice".into(), live_from: Some(now + 10 * HOUR) },
        unit: CreateUnit { label: "9Z".into() },
        access_point: CreateAccessPoint {
            kind: AccessPointKind::Garage,
            name: "garage".into(),
            parent_id: Some(b.entrance.id),
            unit_id: None,
        },
        lock: RegisterLock {
            access_point_id: b.entrance.id,
            device_public_key: SimLock::device_key_b64(&SimLock::device()),
            model: "x".into(),
            firmware: "1".into(),
            mobile_credential: true,
            keypad: false,
        },
        drop_spot: CreateDropSpot {
            name: "by the mailboxes".into(),
            kind: DropSpotKind::Lobby,
            access_point_id: b.lobby.id,
            unit_id: None,
        },
        enablement: PutEnablement {
            enabled: true,
            hours: all_day(),
            allowed_drop_spots: vec![b.lobby_spot.id, b.room_spot.id],
        },
        invitation: CreateInvitation { name: "Intruder".into(), email: "intruder@example.org".into() },
        preferences: UnitPreferences {
            preferred_drop_spot: Some(b.lobby_spot.id),
            allow_in_unit: true,
            alternate_address: Some("elsewhere".into()),
            pickup_point: None,
            ..Default::default()
        },
        block: CreateBlock { until: None, reason: Some("not mine to block".into()) },
        driver: CreateDriver {
            name: "Mallory".into(),
            handheld_public_key: Some(Handheld::generate().public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: Some(now),
        },
        update_driver: UpdateDriver {
            status: Some(DriverStatus::Suspended),
            handheld_public_key: Some(Handheld::generate().public_key_b64()),
            ..Default::default()
        },
        delivery: delivery("PCL-9999", b.property.id, b.unit_2b.id, now - HOUR, now + HOUR),
        eta: EtaUpdate { eta: now + 60 },
        access: b.ask("PCL-1001"),
        complete: CompleteDelivery { drop_spot_id: b.room_spot.id, photo_ref: None },
        named: CreateNamed { name: "Intruder".into() },
    }
}

/// What the building holds; compared before and after each table of calls.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    managers: usize,
    carriers: usize,
    properties: Vec<Property>,
    units: Vec<Unit>,
    access_points: Vec<AccessPoint>,
    locks: Vec<Lock>,
    drop_spots: Vec<DropSpot>,
    enablements: Vec<CarrierEnablement>,
    deliveries: Vec<Delivery>,
    access_requests: usize,
    drivers: Vec<Driver>,
    quickship_drivers: Vec<Driver>,
    preferences_2b: UnitPreferences,
    preferences_3c: UnitPreferences,
    invitations_2b: usize,
    block_2b: bool,
    block_3c: bool,
    grants: usize,
}

pub async fn snapshot(kit: &Kit, b: &Building) -> anyhow::Result<Snapshot> {
    let p = b.property.id;
    let store = kit.store();
    let deliveries = b.rosa.property_deliveries(p).await?;
    let mut grants = 0;
    for d in &deliveries {
        grants += store.list_grants(d.id).await?.len();
    }
    Ok(Snapshot {
        managers: kit.operator.list_managers(None).await?.len(),
        carriers: kit.operator.list_carriers(None).await?.len(),
        properties: b.rosa.list_properties().await?,
        units: b.rosa.list_units(p).await?,
        access_points: b.rosa.list_access_points(p).await?,
        locks: b.rosa.list_locks(p).await?,
        drop_spots: b.rosa.list_drop_spots(p).await?,
        enablements: b.rosa.list_enablements(p).await?,
        deliveries,
        access_requests: b.rosa.property_access_requests(p).await?.len(),
        drivers: b.parcelo.list_drivers().await?,
        quickship_drivers: b.quickship.list_drivers().await?,
        preferences_2b: b.jun.client.get_preferences(b.unit_2b.id).await?,
        preferences_3c: b.kim.client.get_preferences(b.unit_3c.id).await?,
        invitations_2b: store.list_invitations(b.unit_2b.id).await?.len(),
        block_2b: store.active_block(b.unit_2b.id, kit.now()).await?.is_some(),
        block_3c: store.active_block(b.unit_3c.id, kit.now()).await?.is_some(),
        grants,
    })
}

/// Every route of a manager, aimed at `b`'s building.
fn manager_calls(b: &Building, x: &Bodies) -> Vec<Call> {
    let p = format!("/v1/properties/{}", b.property.id);
    vec![
        Call::get(p.clone()),
        Call::put(format!("{p}/tenant-notice"), &x.notice),
        Call::post(format!("{p}/units"), &x.unit),
        Call::get(format!("{p}/units")),
        Call::post(format!("{p}/access-points"), &x.access_point),
        Call::get(format!("{p}/access-points")),
        Call::post(format!("{p}/locks"), &x.lock),
        Call::get(format!("{p}/locks")),
        Call::get(format!("{p}/lock-health")),
        Call::get(format!("{p}/locks/{}/revocation-bundle", b.entrance_lock.id)),
        Call::post(format!("{p}/drop-spots"), &x.drop_spot),
        Call::get(format!("{p}/drop-spots")),
        Call::put(format!("{p}/carriers/{}", b.parcelo_id), &x.enablement),
        Call::put(format!("{p}/carriers/{}", b.quickship_id), &x.enablement),
        Call::get(format!("{p}/carriers")),
        Call::get(format!("{p}/deliveries")),
        Call::get(format!("{p}/access-requests")),
        Call::post(format!("/v1/units/{}/invitations", b.unit_2b.id), &x.invitation),
    ]
}

pub async fn another_managers_property(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let x = bodies(&b, kit.now());
    let before = snapshot(kit, &b).await?;

    // Otto, a manager too, reaches for Rosa's building: it does not exist for him.
    let mut calls = manager_calls(&b, &x);
    let u = b.unit_2b.id;
    calls.extend([
        Call::get(format!("/v1/units/{u}/preferences")),
        Call::get(format!("/v1/units/{u}/deliveries")),
        Call::get(format!("/v1/units/{u}/access-requests")),
        Call::get(format!("/v1/deliveries/{}", parcel.id)),
    ]);
    expect_all(&b.otto, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(b.otto.list_properties().await?.iter().map(|p| p.id).collect::<Vec<_>>(), vec![b.brownstone.id]);

    // Rosa, likewise, at Otto's brownstone.
    let bp = format!("/v1/properties/{}", b.brownstone.id);
    let rosa_calls = [
        Call::get(bp.clone()),
        Call::get(format!("{bp}/units")),
        Call::post(format!("{bp}/units"), &x.unit),
        Call::put(format!("{bp}/tenant-notice"), &x.notice),
        Call::get(format!("{bp}/access-requests")),
        Call::post(format!("/v1/units/{}/invitations", b.brownstone_unit.id), &x.invitation),
    ];
    expect_all(&b.rosa, &rosa_calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(b.otto.list_units(b.brownstone.id).await?.len(), 1);
    assert_eq!(b.otto.get_property(b.brownstone.id).await?.tenant_notice, None);

    // Otto's own building cannot point into Rosa's either.
    let stoop = b
        .otto
        .create_access_point(
            b.brownstone.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "stoop".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?;
    let ob = b.brownstone.id;
    let reaching = [
        Call::post(
            format!("/v1/properties/{ob}/access-points"),
            &CreateAccessPoint { parent_id: Some(b.lobby.id), ..x.access_point.clone() },
        ),
        Call::post(
            format!("/v1/properties/{ob}/access-points"),
            &CreateAccessPoint {
                kind: AccessPointKind::UnitDoor,
                name: "2B?".into(),
                parent_id: Some(stoop.id),
                unit_id: Some(b.unit_2b.id),
            },
        ),
        Call::post(format!("/v1/properties/{ob}/locks"), &x.lock),
        Call::post(format!("/v1/properties/{ob}/drop-spots"), &x.drop_spot),
        Call::put(format!("/v1/properties/{ob}/carriers/{}", b.parcelo_id), &x.enablement),
    ];
    expect_all(&b.otto, &reaching, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    assert_eq!(b.otto.list_access_points(ob).await?.len(), 1);
    assert!(b.otto.list_locks(ob).await?.is_empty());
    assert!(b.otto.list_drop_spots(ob).await?.is_empty());
    assert!(b.otto.list_enablements(ob).await?.is_empty());

    assert_eq!(snapshot(kit, &b).await?, before, "the crossings changed nothing");
    Ok(())
}

pub async fn another_carriers_parcel(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // QuickShip is enabled here too, so nothing but ownership stops Sam.
    b.rosa
        .put_enablement(
            b.property.id,
            b.quickship_id,
            &PutEnablement { enabled: true, hours: weekdays_8_to_8(), allowed_drop_spots: vec![b.room_spot.id] },
        )
        .await?;
    let x = bodies(&b, kit.now());
    let before = snapshot(kit, &b).await?;
    let d = parcel.id;
    let calls = [
        Call::get(format!("/v1/deliveries/{d}")),
        Call::post(format!("/v1/deliveries/{d}/eta"), &x.eta),
        Call::post(format!("/v1/deliveries/{d}/cancel"), &serde_json::json!({})),
    ];
    expect_all(&b.quickship, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert!(b.quickship.list_deliveries().await?.is_empty());
    let sam_calls =
        [Call::get(format!("/v1/deliveries/{d}")), Call::post(format!("/v1/deliveries/{d}/complete"), &x.complete)];
    expect_all(&b.sam.client, &sam_calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert!(b.sam.client.list_deliveries().await?.is_empty());
    // Sam scanning Parcelo's tracking number: unknown to QuickShip.
    let r = b
        .expect_refused(b.sam.client.request_access(&b.ask_as(&b.sam, "PCL-1001")).await, RefusalReason::ParcelUnknown)
        .await?;
    assert_eq!(r.delivery_id, None, "the record does not link Sam to Parcelo's parcel");

    let mut after = snapshot(kit, &b).await?;
    assert_eq!(after.access_requests, before.access_requests + 1);
    after.access_requests = before.access_requests;
    assert_eq!(after, before);
    let untouched = b.parcelo.get_delivery(d).await?;
    assert_eq!((untouched.state, untouched.eta), (DeliveryState::Registered, None));

    // Tracking numbers are per carrier: QuickShip may use the same one.
    let own = b
        .quickship
        .create_delivery(&delivery("PCL-1001", b.property.id, b.unit_3c.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    let grant = b.expect_granted(b.sam.client.request_access(&b.ask_as(&b.sam, "PCL-1001")).await).await?;
    assert_eq!(grant.delivery_id, own.id);
    Ok(())
}

pub async fn another_carriers_driver(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let x = bodies(&b, kit.now());
    let before = snapshot(kit, &b).await?;
    let calls = [
        Call::patch(format!("/v1/drivers/{}", b.dana.id), &x.update_driver),
        Call::patch(
            format!("/v1/drivers/{}", b.dana.id),
            &UpdateDriver { vetting: Some(VettingStatus::Failed), ..Default::default() },
        ),
    ];
    expect_all(&b.quickship, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(b.quickship.list_drivers().await?.iter().map(|d| d.id).collect::<Vec<_>>(), vec![b.sam.id]);
    // A driver cannot manage their colleagues either (who do not exist
    // for them), nor themselves (whom they know).
    let colleague = [Call::patch(format!("/v1/drivers/{}", b.eli.id), &x.update_driver)];
    expect_all(&b.dana.client, &colleague, StatusCode::NOT_FOUND, "not_found").await?;
    let own = [Call::patch(format!("/v1/drivers/{}", b.dana.id), &x.update_driver)];
    expect_all(&b.dana.client, &own, StatusCode::FORBIDDEN, "forbidden").await?;
    assert_eq!(snapshot(kit, &b).await?, before);
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn another_driver_of_the_same_carrier(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    // Before asking, not even Dana sees it; the carrier does.
    expect_error(b.dana.client.get_delivery(parcel.id).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(b.parcelo.get_delivery(parcel.id).await?.id, parcel.id);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    assert_eq!(b.dana.client.get_delivery(parcel.id).await?.id, parcel.id);
    // Eli, same carrier, did not ask for it.
    expect_error(b.eli.client.get_delivery(parcel.id).await, StatusCode::NOT_FOUND, "not_found");
    assert!(b.eli.client.list_deliveries().await?.is_empty());
    expect_error(
        b.eli
            .client
            .complete_delivery(parcel.id, &CompleteDelivery { drop_spot_id: b.room_spot.id, photo_ref: None })
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(b.parcelo.get_delivery(parcel.id).await?.state, DeliveryState::Registered);
    Ok(())
}

pub async fn another_unit(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let x = bodies(&b, kit.now());
    b.jun
        .client
        .put_preferences(
            b.unit_2b.id,
            &UnitPreferences {
                preferred_drop_spot: Some(b.room_spot.id),
                allow_in_unit: false,
                alternate_address: None,
                pickup_point: None,
                ..Default::default()
            },
        )
        .await?;
    let before = snapshot(kit, &b).await?;
    let u = b.unit_2b.id;
    let calls = [
        Call::get(format!("/v1/units/{u}/preferences")),
        Call::put(format!("/v1/units/{u}/preferences"), &x.preferences),
        Call::post(format!("/v1/units/{u}/block"), &x.block),
        Call::delete(format!("/v1/units/{u}/block")),
        Call::get(format!("/v1/units/{u}/deliveries")),
        Call::get(format!("/v1/units/{u}/access-requests")),
        Call::get(format!("/v1/deliveries/{}", parcel.id)),
    ];
    // Kim lives in 3C.
    expect_all(&b.kim.client, &calls, StatusCode::NOT_FOUND, "not_found").await?;
    // Kim cannot send her parcels to 2B's door either.
    let mine = UnitPreferences { preferred_drop_spot: Some(b.door_2b_spot.id), ..x.preferences.clone() };
    expect_error(
        b.kim.client.put_preferences(b.unit_3c.id, &mine).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(snapshot(kit, &b).await?, before);
    // Jun's own unit is fine, and nothing Kim did blocks Dana.
    assert_eq!(b.jun.client.get_delivery(parcel.id).await?.id, parcel.id);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

pub async fn wrong_role_on_every_endpoint_family(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let x = bodies(&b, kit.now());
    let before = snapshot(kit, &b).await?;
    let (d, u) = (parcel.id, b.unit_2b.id);

    let operator_routes = vec![
        Call::post("/v1/managers", &x.named),
        Call::post("/v1/carriers", &x.named),
        Call::get("/v1/keys/rotation"),
        Call::post("/v1/keys/rotate", &serde_json::json!({})),
        Call::post("/v1/keys/retire", &serde_json::json!({})),
    ];
    // The directories: a manager picks a carrier to enable, a manager to hand over to.
    let operator_or_manager_routes = vec![Call::get("/v1/managers"), Call::get("/v1/carriers?name=parc")];
    let mut manager_routes = manager_calls(&b, &x);
    manager_routes.extend([Call::post("/v1/properties", &x.property), Call::get("/v1/properties")]);
    let (p, parcelo) = (b.property.id, b.parcelo_id);
    manager_routes.extend([
        Call::delete(format!("/v1/properties/{p}/carriers/{parcelo}")),
        Call::post(format!("/v1/properties/{p}/handover"), &serde_json::json!({ "manager_id": ManagerId::random() })),
        Call::get(format!("/v1/units/{u}/residents")),
        Call::get(format!("/v1/units/{u}/invitations")),
        Call::post(format!("/v1/units/{u}/residents/{}/move-out", b.jun.id), &serde_json::json!({})),
        Call::post(format!("/v1/units/{u}/residents/{}/reinvite", b.jun.id), &serde_json::json!({})),
    ]);
    let carrier_routes = vec![
        Call::post("/v1/drivers", &x.driver),
        Call::get("/v1/drivers"),
        Call::patch(format!("/v1/drivers/{}", b.dana.id), &x.update_driver),
        Call::post("/v1/deliveries", &x.delivery),
        Call::post(format!("/v1/deliveries/{d}/eta"), &x.eta),
        Call::post(format!("/v1/deliveries/{d}/cancel"), &serde_json::json!({})),
    ];
    let carrier_or_driver_routes = vec![Call::get("/v1/deliveries"), Call::get("/v1/carrier/properties")];
    let driver_routes = vec![
        Call::post("/v1/access-requests", &x.access),
        Call::post(format!("/v1/deliveries/{d}/complete"), &x.complete),
    ];
    let resident_routes = vec![
        Call::put(format!("/v1/units/{u}/preferences"), &x.preferences),
        Call::post(format!("/v1/units/{u}/block"), &x.block),
        Call::delete(format!("/v1/units/{u}/block")),
        // Email notifications are a person's own: residents only.
        Call::get("/v1/me/notifications"),
        Call::put("/v1/me/notifications", &serde_json::json!({ "email": "x@example.org", "kinds": [] })),
    ];
    let resident_or_manager_routes = vec![
        Call::get(format!("/v1/units/{u}/preferences")),
        Call::get(format!("/v1/units/{u}/deliveries")),
        Call::get(format!("/v1/units/{u}/access-requests")),
    ];

    // The routes with an id that the caller of another role can see (Rosa
    // manages 2B and its parcel, Jun lives there, Parcelo carries it, Dana
    // is herself): 403. Any other route with an id: 404, as for an unknown
    // id, so that the answer never confirms an id.
    let seen: Vec<(&str, Call)> = vec![
        ("resident", Call::post(format!("/v1/units/{u}/invitations"), &x.invitation)),
        ("resident", Call::get(format!("/v1/units/{u}/residents"))),
        ("resident", Call::get(format!("/v1/units/{u}/invitations"))),
        ("resident", Call::post(format!("/v1/units/{u}/residents/{}/move-out", b.jun.id), &serde_json::json!({}))),
        ("resident", Call::post(format!("/v1/units/{u}/residents/{}/reinvite", b.jun.id), &serde_json::json!({}))),
        ("driver", Call::patch(format!("/v1/drivers/{}", b.dana.id), &x.update_driver)),
        ("manager", Call::post(format!("/v1/deliveries/{d}/eta"), &x.eta)),
        ("manager", Call::post(format!("/v1/deliveries/{d}/cancel"), &serde_json::json!({}))),
        ("manager", Call::post(format!("/v1/deliveries/{d}/complete"), &x.complete)),
        ("resident", Call::post(format!("/v1/deliveries/{d}/eta"), &x.eta)),
        ("resident", Call::post(format!("/v1/deliveries/{d}/cancel"), &serde_json::json!({}))),
        ("resident", Call::post(format!("/v1/deliveries/{d}/complete"), &x.complete)),
        ("carrier", Call::post(format!("/v1/deliveries/{d}/complete"), &x.complete)),
        ("manager", Call::put(format!("/v1/units/{u}/preferences"), &x.preferences)),
        ("manager", Call::post(format!("/v1/units/{u}/block"), &x.block)),
        ("manager", Call::delete(format!("/v1/units/{u}/block"))),
    ];
    let names_an_id = |call: &Call| call.path.split(['/', '?']).any(|s| uuid::Uuid::parse_str(s).is_ok());
    let expected = |role: &str, call: &Call| {
        let sees = seen.iter().any(|(r, c)| *r == role && c.method == call.method && c.path == call.path);
        if !names_an_id(call) || sees {
            (StatusCode::FORBIDDEN, "forbidden")
        } else {
            (StatusCode::NOT_FOUND, "not_found")
        }
    };

    let operator = &kit.operator;
    let (manager, carrier, driver, resident) = (&b.rosa, &b.parcelo, &b.dana.client, &b.jun.client);
    // (family, its routes, the roles that are refused them)
    type Row<'a> = (&'a str, &'a Vec<Call>, Vec<(&'a str, &'a Client)>);
    let table: Vec<Row> = vec![
        (
            "operator",
            &operator_routes,
            vec![("manager", manager), ("carrier", carrier), ("driver", driver), ("resident", resident)],
        ),
        (
            "operator/manager",
            &operator_or_manager_routes,
            vec![("carrier", carrier), ("driver", driver), ("resident", resident)],
        ),
        (
            "manager",
            &manager_routes,
            vec![("operator", operator), ("carrier", carrier), ("driver", driver), ("resident", resident)],
        ),
        (
            "carrier",
            &carrier_routes,
            vec![("operator", operator), ("manager", manager), ("driver", driver), ("resident", resident)],
        ),
        (
            "carrier/driver",
            &carrier_or_driver_routes,
            vec![("operator", operator), ("manager", manager), ("resident", resident)],
        ),
        (
            "driver",
            &driver_routes,
            vec![("operator", operator), ("manager", manager), ("carrier", carrier), ("resident", resident)],
        ),
        (
            "resident",
            &resident_routes,
            vec![("operator", operator), ("manager", manager), ("carrier", carrier), ("driver", driver)],
        ),
        (
            "resident/manager",
            &resident_or_manager_routes,
            vec![("operator", operator), ("carrier", carrier), ("driver", driver)],
        ),
    ];
    let (mut tried, mut forbidden, mut wrong, mut seen_tried) = (0, 0, Vec::new(), 0);
    for (family, routes, callers) in &table {
        for (role, client) in callers {
            for call in routes.iter() {
                let (status, code) = expected(role, call);
                let (got, body) = call.error(client).await?;
                if (got, body.error.code.as_str()) != (status, code) {
                    wrong.push(format!("{role} on {family}: {call}: {got} {} (expected {status})", body.error.code));
                }
                tried += 1;
                forbidden += usize::from(status == StatusCode::FORBIDDEN);
                seen_tried +=
                    usize::from(seen.iter().any(|(r, c)| r == role && c.path == call.path && c.method == call.method));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(tried > 100 && forbidden > 40 && tried - forbidden > 40, "{tried} calls, {forbidden} forbidden");
    assert_eq!(seen_tried, seen.len(), "every exception is in the table");
    // A delivery is visible only to those concerned: the operator is not.
    expect_error(operator.get_delivery(d).await, StatusCode::NOT_FOUND, "not_found");

    assert_eq!(snapshot(kit, &b).await?, before, "no forbidden call wrote anything");
    // And every role still works where it belongs.
    assert_eq!(operator.whoami().await?.principal, Principal::Operator);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    Ok(())
}

/// Raw requests with whatever `Authorization` header (or none).
async fn with_authorization(
    kit: &Kit,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let http = reqwest::Client::new();
    let mut req = http.request(method, format!("{}{path}", kit.running.url()));
    if let Some(value) = authorization {
        req = req.header(AUTHORIZATION, value);
    }
    if let Some(body) = body {
        req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
    }
    Ok(req.send().await?)
}

async fn error_of(res: reqwest::Response) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, ErrorBody)> {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await?;
    let body: ErrorBody = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{status} {text}: {e}"))?;
    assert_error_shape(status, &body);
    Ok((status, headers, body))
}

pub async fn missing_bad_and_malformed_tokens(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let operator_token = kit.running.operator_token.clone().unwrap_or_default();
    let mut tampered = operator_token.clone();
    tampered.pop();
    tampered.push(if operator_token.ends_with('A') { 'B' } else { 'A' });
    let made_up = format!("dm_{}", "x".repeat(43));
    let long = format!("dm_{}", "y".repeat(300));
    let headers: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("unknown token", Some(format!("Bearer {made_up}"))),
        ("tampered token", Some(format!("Bearer {tampered}"))),
        ("not a doorman token", Some("Bearer not-a-token".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("overlong token", Some(format!("Bearer {long}"))),
        ("basic auth", Some("Basic cm9zYTpwYXNzd29yZA==".into())),
        ("valid token, wrong scheme", Some(format!("Token {operator_token}"))),
        ("valid token, no scheme", Some(operator_token.clone())),
    ];
    let access = serde_json::to_string(&b.ask("PCL-1001"))?;
    // Revoking needs a bearer too: a bad one revokes nothing (the operator's token works on below).
    let revoke = serde_json::to_string(&RevokeToken { token: operator_token.clone() })?;
    let calls: Vec<(Method, String, Option<&str>)> = vec![
        (Method::POST, "/v1/tokens/revoke".into(), Some(revoke.as_str())),
        (Method::GET, "/v1/me".into(), None),
        (Method::GET, "/v1/managers".into(), None),
        (Method::GET, format!("/v1/properties/{}", b.property.id), None),
        (Method::POST, "/v1/access-requests".into(), Some(access.as_str())),
        // Authentication comes before the body is read: even nonsense gets 401.
        (Method::POST, "/v1/deliveries".into(), Some("{nonsense")),
        (Method::DELETE, format!("/v1/units/{}/block", b.unit_2b.id), None),
    ];
    for (what, header) in &headers {
        for (method, path, body) in &calls {
            let res = with_authorization(kit, method.clone(), path, header.as_deref(), *body).await?;
            let (status, headers, body) = error_of(res).await?;
            assert_eq!(
                (status, body.error.code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{what}: {method} {path}"
            );
            assert_eq!(headers.get(WWW_AUTHENTICATE).map(|v| v.as_bytes()), Some(&b"Bearer"[..]), "{what}");
        }
    }
    assert!(
        b.rosa.property_access_requests(b.property.id).await?.is_empty(),
        "no unauthenticated request was recorded"
    );
    // The two public operations need no token.
    assert_eq!(kit.anon.keys().await?.issuer, "doorman");
    expect_error(kit.anon.redeem_invitation("inv_unknown").await, StatusCode::NOT_FOUND, "not_found");
    // And the real token, properly sent, works.
    let res = with_authorization(kit, Method::GET, "/v1/me", Some(&format!("Bearer {operator_token}")), None).await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

/// Three failures per minute and address, for the brute-force test.
pub fn low_auth_limit() -> ServiceConfig {
    ServiceConfig { auth_max_failures: 3, auth_window_s: 60, ..ServiceConfig::default() }
}

pub async fn repeated_bad_tokens_are_rate_limited(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let guess = |i: usize| format!("Bearer dm_{i:0>43}");
    // Each guess claims another address; no proxy is trusted, so the header
    // is ignored and the guesses all count against 127.0.0.1.
    let spoofed = |i: usize| async move {
        let http = reqwest::Client::new();
        let res = http
            .get(format!("{}/v1/me", kit.running.url()))
            .header(AUTHORIZATION, guess(i))
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .send()
            .await?;
        error_of(res).await
    };
    for i in 0..3 {
        let (status, _, body) = spoofed(i).await?;
        assert_eq!((status, body.error.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    }
    // The fourth guess is refused as too many...
    let (status, headers, body) = spoofed(3).await?;
    assert_eq!((status, body.error.code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("60"));
    // ...and no token at all is still just unauthenticated, not a failure.
    let (status, _, body) = error_of(with_authorization(kit, Method::GET, "/v1/me", None, None).await?).await?;
    assert_eq!((status, body.error.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    // A real token from the same address is never refused.
    let res = with_authorization(kit, Method::GET, "/v1/me", Some(&format!("Bearer {}", b.rosa_token)), None).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(b.rosa.list_properties().await?.len(), 1);
    // Public operations stay available.
    assert!(!kit.anon.keys().await?.keys.is_empty());

    kit.advance(59);
    let (_, headers, _) =
        error_of(with_authorization(kit, Method::GET, "/v1/me", Some(&guess(4)), None).await?).await?;
    assert_eq!(headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));
    kit.advance(1);
    let (status, _, _) = error_of(with_authorization(kit, Method::GET, "/v1/me", Some(&guess(5)), None).await?).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a new window starts counting afresh");
    Ok(())
}
