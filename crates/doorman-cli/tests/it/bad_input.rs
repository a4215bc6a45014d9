//! Input the service cannot use: malformed JSON (400), wrong types and
//! missing fields (422), invalid values (422), unknown ids (404), bad ids in
//! paths (400), bodies over 64 KiB (413), other content types (415), unknown
//! routes (404) and methods (405), conflicts (409). Every answer is the one
//! error shape, none is a 5xx, and after each refused write the building is
//! exactly as before (the snapshot compares every list the API offers).

use doorman_api::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::authz::snapshot;
use crate::fixture::{delivery, Building, AT_THE_DOOR};
use crate::kit::{expect_all, expect_error, raw_error, raw_json_error, Call, Kit, HOUR};
use crate::lock::{Handheld, SimLock};
use crate::openapi::{fill, operations};

/// A raw JSON text (which may be anything but JSON) as a call's body.
fn raw(method: Method, path: impl Into<String>, body: &str) -> Call {
    Call { method, path: path.into(), body: Some(body.to_string()) }
}

pub async fn malformed_json(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let p = b.property.id;
    let u = b.unit_2b.id;
    // Each is broken before any field is judged, whatever the body's type.
    let broken = ["{\"label\": \"2C\", ", "{name: 'single quotes'}", "", "\u{feff}{}", "{\"a\": 1,}", "{\"a\": tru}"];
    for text in broken {
        let calls = [
            raw(Method::POST, "/v1/properties", text),
            raw(Method::POST, format!("/v1/properties/{p}/units"), text),
            raw(Method::PUT, format!("/v1/properties/{p}/tenant-notice"), text),
            raw(Method::PUT, format!("/v1/properties/{p}/carriers/{}", b.parcelo_id), text),
        ];
        expect_all(&b.rosa, &calls, StatusCode::BAD_REQUEST, "malformed_json").await?;
        let calls =
            [raw(Method::POST, "/v1/deliveries", text), raw(Method::PATCH, format!("/v1/drivers/{}", b.dana.id), text)];
        expect_all(&b.parcelo, &calls, StatusCode::BAD_REQUEST, "malformed_json").await?;
        expect_all(
            &b.dana.client,
            &[raw(Method::POST, "/v1/access-requests", text)],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        )
        .await?;
        let calls = [
            raw(Method::PUT, format!("/v1/units/{u}/preferences"), text),
            raw(Method::POST, format!("/v1/units/{u}/block"), text),
        ];
        expect_all(&b.jun.client, &calls, StatusCode::BAD_REQUEST, "malformed_json").await?;
        expect_all(
            &kit.anon,
            &[raw(Method::POST, "/v1/invitations/redeem", text)],
            StatusCode::BAD_REQUEST,
            "malformed_json",
        )
        .await?;
    }
    // Trailing garbage after a complete, valid body.
    let units = format!("/v1/properties/{p}/units");
    expect_all(
        &b.rosa,
        &[raw(Method::POST, &units, "{\"label\": \"2C\"} trailing")],
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await?;
    // Nesting deeper than the parser's limit is malformed, not a crash.
    let deep = format!("{{\"label\": \"2C\", \"x\": {}}}", "[".repeat(10_000));
    expect_all(&b.rosa, &[raw(Method::POST, &units, &deep)], StatusCode::BAD_REQUEST, "malformed_json").await?;
    // Not UTF-8 at all.
    let (status, body) = raw_error(
        &b.rosa,
        Method::POST,
        "/v1/properties",
        Some(vec![0xff, 0xfe, b'{', 0x80]),
        Some("application/json"),
    )
    .await?;
    assert_eq!((status, body.error.code.as_str()), (StatusCode::BAD_REQUEST, "malformed_json"));

    assert_eq!(snapshot(kit, &b).await?, before);
    Ok(())
}

pub async fn wrong_types_and_missing_fields(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let p = b.property.id;
    let property = json!({
        "kind": "building", "name": "Annex", "address": "216 E 9th St",
        "location": {"lat": 40.7, "lon": -73.9}, "time_zone": "America/New_York"
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut v = property.clone();
        v[key] = value;
        v.to_string()
    };
    let without = |key: &str| {
        let mut v = property.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove(key);
        }
        v.to_string()
    };
    let manager_calls = [
        raw(Method::POST, "/v1/properties", &with("location", json!("here"))),
        raw(Method::POST, "/v1/properties", &with("location", json!({"lat": "north"}))),
        raw(Method::POST, "/v1/properties", &with("kind", json!("castle"))),
        raw(Method::POST, "/v1/properties", &with("name", json!(42))),
        raw(Method::POST, "/v1/properties", &with("name", json!(null))),
        raw(Method::POST, "/v1/properties", &without("name")),
        raw(Method::POST, "/v1/properties", &without("location")),
        raw(Method::POST, "/v1/properties", "[]"),
        raw(Method::POST, "/v1/properties", "null"),
        raw(Method::POST, "/v1/properties", "\"a string\""),
        raw(Method::POST, format!("/v1/properties/{p}/units"), "{}"),
        raw(Method::POST, format!("/v1/properties/{p}/units"), r#"{"label": ["2", "C"]}"#),
        raw(Method::PUT, format!("/v1/properties/{p}/tenant-notice"), r#"{"text": "x", "live_from": "tomorrow"}"#),
        raw(Method::POST, format!("/v1/properties/{p}/access-points"), r#"{"kind": "window", "name": "w"}"#),
        raw(
            Method::POST,
            format!("/v1/properties/{p}/access-points"),
            &json!({"kind": "lobby", "name": "l", "parent_id": "not-a-uuid"}).to_string(),
        ),
        raw(
            Method::POST,
            format!("/v1/properties/{p}/locks"),
            &json!({"access_point_id": b.entrance.id, "device_public_key": "x", "model": "m", "firmware": "f", "mobile_credential": "yes", "keypad": false}).to_string(),
        ),
        raw(
            Method::PUT,
            format!("/v1/properties/{p}/carriers/{}", b.parcelo_id),
            r#"{"enabled": true, "hours": "always", "allowed_drop_spots": []}"#,
        ),
        raw(Method::PUT, format!("/v1/properties/{p}/carriers/{}", b.parcelo_id), r#"{"enabled": true}"#),
        raw(Method::POST, format!("/v1/units/{}/invitations", b.unit_3c.id), r#"{"name": "x"}"#),
    ];
    expect_all(&b.rosa, &manager_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    let delivery_json = serde_json::to_value(delivery("PCL-7", p, b.unit_2b.id, kit.now(), kit.now() + HOUR))?;
    let delivery_with = |key: &str, value: serde_json::Value| {
        let mut v = delivery_json.clone();
        v[key] = value;
        v.to_string()
    };
    let carrier_calls = [
        raw(Method::POST, "/v1/deliveries", &delivery_with("window_start", json!("soon"))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("window_end", json!(1.5))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("window_end", json!(1e300))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("window_end", json!(u64::MAX))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("property_id", json!("not-a-uuid"))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("kind", json!("teleport"))),
        raw(Method::POST, "/v1/deliveries", &delivery_with("tracking_number", json!(12345))),
        raw(Method::POST, "/v1/drivers", r#"{"name": "x", "vetting": "maybe"}"#),
        raw(Method::POST, "/v1/drivers", r#"{"vetting": "passed"}"#),
        raw(Method::PATCH, format!("/v1/drivers/{}", b.dana.id), r#"{"status": "retired"}"#),
        raw(Method::POST, format!("/v1/deliveries/{}/eta", uuid::Uuid::new_v4()), r#"{"eta": "soon"}"#),
    ];
    expect_all(&b.parcelo, &carrier_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    let ask = serde_json::to_value(b.ask("PCL-1001"))?;
    let ask_without = |key: &str| {
        let mut v = ask.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove(key);
        }
        v.to_string()
    };
    let mut ask_bad_position = ask.clone();
    ask_bad_position["position"] = json!("at the door");
    let driver_calls = [
        raw(Method::POST, "/v1/access-requests", &ask_without("position")),
        raw(Method::POST, "/v1/access-requests", &ask_without("tracking_number")),
        raw(Method::POST, "/v1/access-requests", &ask_without("property_id")),
        raw(Method::POST, "/v1/access-requests", &ask_bad_position.to_string()),
        raw(Method::POST, format!("/v1/deliveries/{}/complete", uuid::Uuid::new_v4()), r#"{"drop_spot_id": 7}"#),
    ];
    expect_all(&b.dana.client, &driver_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    let u = b.unit_2b.id;
    let resident_calls = [
        raw(Method::PUT, format!("/v1/units/{u}/preferences"), r#"{"preferred_drop_spot": null}"#),
        raw(Method::PUT, format!("/v1/units/{u}/preferences"), r#"{"allow_in_unit": "sure"}"#),
        raw(Method::POST, format!("/v1/units/{u}/block"), r#"{"until": "forever"}"#),
    ];
    expect_all(&b.jun.client, &resident_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    expect_all(
        &kit.operator,
        &[raw(Method::POST, "/v1/managers", r#"{"name": {"first": "A"}}"#)],
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await?;
    expect_all(
        &kit.anon,
        &[raw(Method::POST, "/v1/invitations/redeem", r#"{"code": 1}"#)],
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await?;

    assert_eq!(snapshot(kit, &b).await?, before);
    Ok(())
}

pub async fn invalid_values_write_nothing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let before = snapshot(kit, &b).await?;
    let now = kit.now();
    let p = b.property.id;
    let property = |name: &str, location: GeoPoint, tz: &str| CreateProperty {
        kind: PropertyKind::Building,
        name: name.into(),
        address: "somewhere".into(),
        location,
        time_zone: tz.into(),
    };
    let hours = |days: &[&str], start: &str, end: &str| WeeklyHours {
        days: days.iter().map(|d| d.to_string()).collect(),
        start: start.into(),
        end: end.into(),
    };
    let enable = |hours: Vec<WeeklyHours>, spots: Vec<DropSpotId>| PutEnablement {
        enabled: true,
        hours,
        allowed_drop_spots: spots,
    };
    let lock = |key: String, mobile_credential: bool, keypad: bool| RegisterLock {
        access_point_id: b.entrance.id,
        device_public_key: key,
        model: "m".into(),
        firmware: "f".into(),
        mobile_credential,
        keypad,
    };
    let good_key = SimLock::device_key_b64(&SimLock::device());
    let enablement_path = format!("/v1/properties/{p}/carriers/{}", b.parcelo_id);
    let manager_calls = vec![
        Call::post("/v1/properties", &property("Annex", AT_THE_DOOR, "Mars/Olympus")),
        Call::post("/v1/properties", &property("Annex", GeoPoint { lat: 91.0, lon: 0.0 }, "America/New_York")),
        Call::post("/v1/properties", &property("Annex", GeoPoint { lat: 0.0, lon: -180.5 }, "America/New_York")),
        Call::post("/v1/properties", &property("   ", AT_THE_DOOR, "America/New_York")),
        Call::post("/v1/properties", &property("Annex\u{0}", AT_THE_DOOR, "America/New_York")),
        Call::post("/v1/properties", &property("Annex\nEvil: header", AT_THE_DOOR, "America/New_York")),
        Call::post("/v1/properties", &property(&"x".repeat(201), AT_THE_DOOR, "America/New_York")),
        Call::put(format!("/v1/properties/{p}/tenant-notice"), &SetTenantNotice { text: "".into(), live_from: None }),
        Call::put(
            format!("/v1/properties/{p}/tenant-notice"),
            &SetTenantNotice { text: "x".into(), live_from: Some(i64::MIN) },
        ),
        Call::post(format!("/v1/properties/{p}/units"), &CreateUnit { label: "\u{7}".into() }),
        Call::post(
            format!("/v1/properties/{p}/access-points"),
            &CreateAccessPoint {
                kind: AccessPointKind::UnitDoor,
                name: "door".into(),
                parent_id: Some(b.lobby.id),
                unit_id: None,
            },
        ),
        Call::post(
            format!("/v1/properties/{p}/access-points"),
            &CreateAccessPoint {
                kind: AccessPointKind::Lobby,
                name: "x".into(),
                parent_id: Some(AccessPointId::random()),
                unit_id: None,
            },
        ),
        Call::post(format!("/v1/properties/{p}/locks"), &lock("not base64!".into(), true, false)),
        Call::post(
            format!("/v1/properties/{p}/locks"),
            &lock(doorman_domain::serde_b64::encode(&[1; 31]), true, false),
        ),
        Call::post(format!("/v1/properties/{p}/locks"), &lock(good_key.clone(), false, false)),
        Call::post(
            format!("/v1/properties/{p}/locks"),
            &RegisterLock { access_point_id: AccessPointId::random(), ..lock(good_key.clone(), true, false) },
        ),
        Call::post(
            format!("/v1/properties/{p}/drop-spots"),
            &CreateDropSpot {
                name: "x".into(),
                kind: DropSpotKind::Lobby,
                access_point_id: AccessPointId::random(),
                unit_id: None,
            },
        ),
        Call::post(
            format!("/v1/properties/{p}/drop-spots"),
            &CreateDropSpot {
                name: "x".into(),
                kind: DropSpotKind::InUnit,
                access_point_id: b.door_2b.id,
                unit_id: Some(b.brownstone_unit.id),
            },
        ),
        Call::put(enablement_path.clone(), &enable(vec![hours(&["mon"], "8:00", "20:00")], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![hours(&["monday"], "08:00", "20:00")], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![hours(&["mon"], "08:00", "08:00")], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![hours(&[], "08:00", "20:00")], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![hours(&["mon"], "08:00", "24:01")], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![hours(&["mon"], "08:00", "20:00"); 51], vec![])),
        Call::put(enablement_path.clone(), &enable(vec![], vec![DropSpotId::random()])),
        Call::post(
            format!("/v1/units/{}/invitations", b.unit_3c.id),
            &CreateInvitation { name: "A".into(), email: "no-at".into() },
        ),
        Call::post(
            format!("/v1/units/{}/invitations", b.unit_3c.id),
            &CreateInvitation { name: "".into(), email: "a@b".into() },
        ),
    ];
    expect_all(&b.rosa, &manager_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;

    let window = |start: i64, end: i64| delivery("PCL-2", p, b.unit_2b.id, start, end);
    let carrier_calls = vec![
        Call::post("/v1/deliveries", &window(now, now)),
        Call::post("/v1/deliveries", &window(now + HOUR, now)),
        Call::post("/v1/deliveries", &window(now, now + 32 * 24 * HOUR)),
        // The widest window the numbers allow: must be refused, not overflow.
        Call::post("/v1/deliveries", &window(i64::MIN, i64::MAX)),
        Call::post("/v1/deliveries", &window(i64::MIN, 0)),
        Call::post("/v1/deliveries", &CreateDelivery { tracking_number: "PCL 2".into(), ..window(now, now + HOUR) }),
        Call::post("/v1/deliveries", &CreateDelivery { tracking_number: "".into(), ..window(now, now + HOUR) }),
        Call::post("/v1/deliveries", &CreateDelivery { tracking_number: "P".repeat(65), ..window(now, now + HOUR) }),
        Call::post("/v1/deliveries", &CreateDelivery { tracking_number: "PCL-é".into(), ..window(now, now + HOUR) }),
        Call::post(
            "/v1/deliveries",
            &CreateDelivery { unit_id: Some(b.brownstone_unit.id), ..window(now, now + HOUR) },
        ),
        Call::post("/v1/deliveries", &CreateDelivery { unit_id: Some(UnitId::random()), ..window(now, now + HOUR) }),
        Call::post("/v1/deliveries", &CreateDelivery { unit_id: None, ..window(now, now + HOUR) }),
        Call::post("/v1/deliveries", &CreateDelivery { unit_label: Some("2B".into()), ..window(now, now + HOUR) }),
        Call::post(
            "/v1/deliveries",
            &CreateDelivery { unit_id: None, unit_label: Some(" ".into()), ..window(now, now + HOUR) },
        ),
        Call::post(
            "/v1/drivers",
            &CreateDriver {
                name: "x".into(),
                handheld_public_key: Some("%%%".into()),
                vetting: VettingStatus::Passed,
                vetted_at: None,
            },
        ),
        Call::post(
            "/v1/drivers",
            &CreateDriver {
                name: "x".into(),
                handheld_public_key: Some(doorman_domain::serde_b64::encode(&[4; 65])),
                vetting: VettingStatus::Passed,
                vetted_at: None,
            },
        ),
        Call::patch(
            format!("/v1/drivers/{}", b.dana.id),
            &UpdateDriver {
                handheld_public_key: Some(SimLock::device_key_b64(&SimLock::device())),
                ..Default::default()
            },
        ),
    ];
    expect_all(&b.parcelo, &carrier_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;

    let ask = b.ask("PCL-1001");
    let driver_calls = vec![
        Call::post(
            "/v1/access-requests",
            &AccessRequest { position: GeoPoint { lat: 200.0, lon: 0.0 }, ..ask.clone() },
        ),
        Call::post("/v1/access-requests", &AccessRequest { handheld_public_key: "zz".into(), ..ask.clone() }),
        Call::post(
            "/v1/access-requests",
            &AccessRequest { handheld_public_key: Handheld::generate().public_key_b64()[..20].into(), ..ask.clone() },
        ),
        Call::post("/v1/access-requests", &AccessRequest { tracking_number: "  ".into(), ..ask.clone() }),
        Call::post("/v1/access-requests", &AccessRequest { tracking_number: "PCL\u{0}1001".into(), ..ask.clone() }),
    ];
    expect_all(&b.dana.client, &driver_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;

    let u = b.unit_2b.id;
    let prefs = |spot: Option<DropSpotId>, text: Option<String>| UnitPreferences {
        preferred_drop_spot: spot,
        allow_in_unit: false,
        alternate_address: text,
        pickup_point: None,
        ..Default::default()
    };
    let resident_calls = vec![
        Call::put(format!("/v1/units/{u}/preferences"), &prefs(Some(DropSpotId::random()), None)),
        Call::put(format!("/v1/units/{u}/preferences"), &prefs(None, Some("\u{0}".into()))),
        Call::put(format!("/v1/units/{u}/preferences"), &prefs(None, Some("a".repeat(501)))),
        Call::post(format!("/v1/units/{u}/block"), &CreateBlock { until: Some(now), reason: None }),
        Call::post(format!("/v1/units/{u}/block"), &CreateBlock { until: Some(i64::MIN), reason: None }),
        Call::post(format!("/v1/units/{u}/block"), &CreateBlock { until: None, reason: Some("x".repeat(501)) }),
    ];
    expect_all(&b.jun.client, &resident_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;
    let operator_calls = vec![
        Call::post("/v1/managers", &CreateNamed { name: "".into() }),
        Call::post("/v1/carriers", &CreateNamed { name: "\t".into() }),
    ];
    expect_all(&kit.operator, &operator_calls, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await?;

    assert_eq!(snapshot(kit, &b).await?, before);
    assert!(b.rosa.property_access_requests(p).await?.is_empty(), "invalid requests are not recorded as decisions");
    assert_eq!(b.parcelo.get_delivery(parcel.id).await?, parcel);
    Ok(())
}

pub async fn unknown_ids(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let id = || uuid::Uuid::new_v4();
    let p = b.property.id;
    let manager_calls = vec![
        Call::get(format!("/v1/properties/{}", id())),
        Call::get(format!("/v1/properties/{}/units", id())),
        Call::post(format!("/v1/properties/{}/units", id()), &CreateUnit { label: "x".into() }),
        Call::put(
            format!("/v1/properties/{}/tenant-notice", id()),
            &SetTenantNotice { text: "x".into(), live_from: None },
        ),
        Call::get(format!("/v1/properties/{}/access-requests", id())),
        Call::put(
            format!("/v1/properties/{p}/carriers/{}", id()),
            &PutEnablement { enabled: true, hours: vec![], allowed_drop_spots: vec![] },
        ),
        Call::post(
            format!("/v1/units/{}/invitations", id()),
            &CreateInvitation { name: "x".into(), email: "x@y".into() },
        ),
        Call::get(format!("/v1/units/{}/deliveries", id())),
        Call::get(format!("/v1/deliveries/{}", id())),
    ];
    expect_all(&b.rosa, &manager_calls, StatusCode::NOT_FOUND, "not_found").await?;
    let carrier_calls = vec![
        Call::get(format!("/v1/deliveries/{}", id())),
        Call::post(format!("/v1/deliveries/{}/eta", id()), &EtaUpdate { eta: 1 }),
        Call::post(format!("/v1/deliveries/{}/cancel", id()), &json!({})),
        Call::patch(format!("/v1/drivers/{}", id()), &UpdateDriver::default()),
    ];
    expect_all(&b.parcelo, &carrier_calls, StatusCode::NOT_FOUND, "not_found").await?;
    let driver_calls = vec![
        Call::post(
            format!("/v1/deliveries/{}/complete", id()),
            &CompleteDelivery { drop_spot_id: b.room_spot.id, photo_ref: None },
        ),
        Call::post("/v1/access-requests", &AccessRequest { property_id: PropertyId::random(), ..b.ask("PCL-1001") }),
    ];
    expect_all(&b.dana.client, &driver_calls, StatusCode::NOT_FOUND, "not_found").await?;
    let u = id();
    let resident_calls = vec![
        Call::get(format!("/v1/units/{u}/preferences")),
        Call::put(
            format!("/v1/units/{u}/preferences"),
            &UnitPreferences {
                preferred_drop_spot: None,
                allow_in_unit: false,
                alternate_address: None,
                pickup_point: None,
                ..Default::default()
            },
        ),
        Call::post(format!("/v1/units/{u}/block"), &CreateBlock::default()),
        Call::delete(format!("/v1/units/{u}/block")),
    ];
    expect_all(&b.jun.client, &resident_calls, StatusCode::NOT_FOUND, "not_found").await?;
    assert_eq!(snapshot(kit, &b).await?, before);
    Ok(())
}

pub async fn bad_ids_in_paths(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let p = b.property.id;
    let long = "a".repeat(5000);
    for bad in ["not-a-uuid", "123", "%20", "00000000-0000-0000-0000-00000000000g", long.as_str(), "%F0%9F%9A%AA"] {
        let manager_calls = vec![
            Call::get(format!("/v1/properties/{bad}")),
            Call::get(format!("/v1/properties/{bad}/units")),
            Call::put(
                format!("/v1/properties/{p}/carriers/{bad}"),
                &PutEnablement { enabled: true, hours: vec![], allowed_drop_spots: vec![] },
            ),
            Call::post(
                format!("/v1/units/{bad}/invitations"),
                &CreateInvitation { name: "x".into(), email: "x@y".into() },
            ),
        ];
        expect_all(&b.rosa, &manager_calls, StatusCode::BAD_REQUEST, "invalid_id").await?;
        let carrier_calls = vec![
            Call::get(format!("/v1/deliveries/{bad}")),
            Call::patch(format!("/v1/drivers/{bad}"), &UpdateDriver::default()),
            Call::post(format!("/v1/deliveries/{bad}/eta"), &EtaUpdate { eta: 1 }),
        ];
        expect_all(&b.parcelo, &carrier_calls, StatusCode::BAD_REQUEST, "invalid_id").await?;
        expect_all(
            &b.jun.client,
            &[Call::delete(format!("/v1/units/{bad}/block"))],
            StatusCode::BAD_REQUEST,
            "invalid_id",
        )
        .await?;
    }
    // Without a token, authentication answers first.
    let (status, body) = raw_error(&kit.anon, Method::GET, "/v1/properties/not-a-uuid", None, None).await?;
    assert_eq!((status, body.error.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    assert_eq!(snapshot(kit, &b).await?, before);
    Ok(())
}

pub async fn oversized_bodies(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let big = "x".repeat(70 * 1024);
    let property = CreateProperty {
        kind: PropertyKind::Building,
        name: big.clone(),
        address: "a".into(),
        location: AT_THE_DOOR,
        time_zone: "America/New_York".into(),
    };
    let calls = [
        Call::post("/v1/properties", &property),
        Call::post(format!("/v1/properties/{}/units", b.property.id), &CreateUnit { label: big.clone() }),
        Call::put(
            format!("/v1/properties/{}/tenant-notice", b.property.id),
            &SetTenantNotice { text: big.clone(), live_from: None },
        ),
    ];
    expect_all(&b.rosa, &calls, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await?;
    let too_big_ask = AccessRequest { tracking_number: big.clone(), ..b.ask("PCL-1001") };
    expect_all(
        &b.dana.client,
        &[Call::post("/v1/access-requests", &too_big_ask)],
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await?;
    // Even a body that is not JSON is refused for its size first.
    let (status, body) =
        raw_error(&b.rosa, Method::POST, "/v1/properties", Some(vec![b'{'; 65 * 1024 + 1]), Some("application/json"))
            .await?;
    assert_eq!((status, body.error.code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    expect_all(
        &kit.anon,
        &[raw(Method::POST, "/v1/invitations/redeem", &format!("{{\"code\":\"{big}\"}}"))],
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await?;
    // Just under the limit, the body is read and judged on its content.
    let under = CreateProperty { name: "x".repeat(60 * 1024), ..property };
    expect_all(&b.rosa, &[Call::post("/v1/properties", &under)], StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
        .await?;
    assert_eq!(snapshot(kit, &b).await?, before);
    // The connection pool is still healthy afterwards.
    assert_eq!(b.rosa.list_properties().await?.len(), 1);
    Ok(())
}

pub async fn wrong_content_type(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let path = format!("/v1/properties/{}/units", b.property.id);
    let body = br#"{"label": "4D"}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
    ] {
        let (status, err) = raw_error(&b.rosa, Method::POST, &path, Some(body.clone()), content_type).await?;
        assert_eq!(
            (status, err.error.code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            "{content_type:?}"
        );
    }
    let (status, err) = raw_error(&b.parcelo, Method::POST, "/v1/deliveries", None, None).await?;
    assert_eq!((status, err.error.code.as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    assert_eq!(snapshot(kit, &b).await?, before);
    // JSON with a charset parameter is JSON.
    let (status, text) = b
        .rosa
        .send_raw(Method::POST, &path, Some(reqwest::Body::from(body)), Some("application/json; charset=utf-8"))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    Ok(())
}

pub async fn unknown_routes_and_wrong_methods(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let before = snapshot(kit, &b).await?;
    let p = b.property.id;
    for client in [&kit.anon, &b.rosa] {
        for path in [
            "/",
            "/v1",
            "/v1/nope",
            "/v2/properties",
            &format!("/v1/properties/{p}/nope"),
            "/v1/properties/x/y/z/w",
            "/admin",
            "/v1/me/",
        ] {
            let (status, err) = raw_error(client, Method::GET, path, None, None).await?;
            assert_eq!((status, err.error.code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
            assert_eq!(err.error.message, "no such route");
        }
        for (method, path) in [
            (Method::DELETE, "/v1/properties".to_string()),
            (Method::PUT, "/v1/access-requests".into()),
            (Method::GET, "/v1/invitations/redeem".into()),
            (Method::POST, "/v1/me".into()),
            (Method::PATCH, format!("/v1/deliveries/{}", uuid::Uuid::new_v4())),
            (Method::DELETE, format!("/v1/properties/{p}")),
            (Method::POST, "/openapi.json".into()),
            (Method::DELETE, "/healthz".into()),
        ] {
            let (status, err) = raw_json_error(client, method.clone(), &path, "{}").await?;
            assert_eq!(
                (status, err.error.code.as_str()),
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                "{method} {path}"
            );
        }
    }
    assert_eq!(snapshot(kit, &b).await?, before);
    Ok(())
}

pub async fn conflicts_write_nothing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let before = snapshot(kit, &b).await?;
    // The same tracking number twice for one carrier.
    let again = delivery("PCL-1001", b.property.id, b.unit_3c.id, kit.now(), kit.now() + HOUR);
    expect_error(b.parcelo.create_delivery(&again).await, StatusCode::CONFLICT, "conflict");
    // A second lock on a door that has one.
    let second = RegisterLock {
        access_point_id: b.entrance.id,
        device_public_key: SimLock::device_key_b64(&SimLock::device()),
        model: "m".into(),
        firmware: "f".into(),
        mobile_credential: true,
        keypad: true,
    };
    expect_error(b.rosa.register_lock(b.property.id, &second).await, StatusCode::CONFLICT, "conflict");
    assert_eq!(snapshot(kit, &b).await?, before);
    assert_eq!(b.parcelo.get_delivery(parcel.id).await?.unit_id, b.unit_2b.id);
    Ok(())
}

/// Every documented operation, as every principal (and none), with bodies
/// of every wrong kind: whatever the answer, it is never a 5xx, and every
/// error is the documented shape.
pub async fn garbage_on_every_operation_never_500(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    let doc = kit.anon.openapi().await?;
    let ops = operations(&doc)?;
    let deep = "[".repeat(5000);
    let payloads: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"\"x\"".to_vec(),
        b"-1".to_vec(),
        b"1e999".to_vec(),
        br#"{"name": "\u0000", "label": "\u0000", "text": "\u0000", "code": "\u0000", "tracking_number": "\u0000"}"#
            .to_vec(),
        br#"{"name": "\ud800"}"#.to_vec(),
        deep.into_bytes(),
        vec![0xff, 0x00, 0xfe],
    ];
    let callers = [&kit.anon, &kit.operator, &b.rosa, &b.otto, &b.parcelo, &b.dana.client, &b.jun.client];
    let mut sent = 0;
    for o in &ops {
        let path = fill(&o.path, |name| match name {
            "property_id" => b.property.id.to_string(),
            "unit_id" => b.unit_2b.id.to_string(),
            "carrier_id" => b.parcelo_id.to_string(),
            "driver_id" => b.dana.id.to_string(),
            "delivery_id" => parcel.id.to_string(),
            other => other.to_string(),
        });
        for caller in callers {
            // The live stream answers a signed-in caller with a stream that
            // does not end (its bad input is tested in notify.rs).
            if o.path == "/v1/events/stream" && caller.token().is_some() {
                continue;
            }
            let bodies: Vec<Option<Vec<u8>>> =
                if o.has_body { payloads.iter().cloned().map(Some).collect() } else { vec![None] };
            for body in bodies {
                let content_type = body.as_ref().map(|_| "application/json");
                let (status, text) =
                    caller.send_raw(o.method.clone(), &path, body.map(reqwest::Body::from), content_type).await?;
                sent += 1;
                assert!(!status.is_server_error(), "{} {path}: {status} {text}", o.method);
                if !status.is_success() {
                    let parsed: ErrorBody = serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("{} {path}: {status} is not the error shape ({e}): {text}", o.method)
                    })?;
                    crate::kit::assert_error_shape(status, &parsed);
                }
            }
        }
    }
    assert!(sent > 1000, "{sent} requests");
    // The service still answers, and its database is intact.
    assert_eq!(kit.anon.health().await?.status, "ready");
    assert!(b.rosa.list_units(b.property.id).await?.len() >= 2);
    Ok(())
}
