//! The black-box findings of issue 17, each attempted again: what an
//! attacker did then is done here, and the service must now hold.

use doorman_api::*;
use doorman_server::ServiceConfig;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use crate::fixture::{Building, AT_THE_DOOR};
use crate::kit::Kit;

/// Three failures per minute, behind a reverse proxy on 127.0.0.1 (the
/// test's own address), which names clients in `X-Forwarded-For`.
pub fn low_limit_behind_a_proxy() -> ServiceConfig {
    ServiceConfig {
        auth_max_failures: 3,
        auth_window_s: 60,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()],
        ..ServiceConfig::default()
    }
}

/// A request as the proxy forwards it for `client`.
async fn via_proxy(
    kit: &Kit,
    client: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> anyhow::Result<(StatusCode, Option<String>, String)> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let mut req = http.request(method, format!("{}{path}", kit.running.url())).header("x-forwarded-for", client);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header(CONTENT_TYPE, "application/json").body(b);
    }
    let res = req.send().await?;
    let retry_after = res.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(String::from);
    Ok((res.status(), retry_after, res.text().await?))
}

fn code_of(text: &str) -> String {
    serde_json::from_str::<ErrorBody>(text).map(|b| b.error.code).unwrap_or_else(|_| format!("not an error: {text}"))
}

/// Five access requests per driver and minute, behind the test's proxy.
pub fn few_access_requests_per_driver() -> ServiceConfig {
    ServiceConfig { access_requests_per_driver: 5, ..low_limit_behind_a_proxy() }
}

/// Access requests are limited per driver, not per address: past the limit
/// a driver's requests (valid or not) are 429 with Retry-After and nothing
/// is recorded, while another driver at the same address goes on; the next
/// minute the driver is let in again.
pub async fn access_requests_are_limited_per_driver_not_per_address(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-LIMIT-1", b.unit_2b.id).await?;
    const SHARED: &str = "203.0.113.50";
    // Five requests for a parcel nobody sent: each refused and recorded.
    let unknown = serde_json::to_string(&b.ask("PCL-NOBODY-SENT"))?;
    for i in 0..5 {
        let (status, _, text) =
            via_proxy(kit, SHARED, Method::POST, "/v1/access-requests", Some(&b.dana.token), Some(unknown.clone()))
                .await?;
        assert!(status.is_client_error() && code_of(&text) != "rate_limited", "request {i}: {status} {text}");
    }
    let recorded = b.rosa.property_access_requests(b.property.id).await?.len();
    // The sixth, even for her real parcel, is 429 with Retry-After, and not recorded.
    let ask = serde_json::to_string(&b.ask(&parcel.tracking_number))?;
    let (status, retry_after, text) =
        via_proxy(kit, SHARED, Method::POST, "/v1/access-requests", Some(&b.dana.token), Some(ask.clone())).await?;
    assert_eq!((status, code_of(&text).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let wait: i64 = retry_after.as_deref().unwrap_or("none").parse()?;
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(b.rosa.property_access_requests(b.property.id).await?.len(), recorded);
    // Her other calls are not limited, and Eli, at the same address, gets in.
    let (status, _, _) = via_proxy(kit, SHARED, Method::GET, "/v1/me", Some(&b.dana.token), None).await?;
    assert_eq!(status, StatusCode::OK);
    let eli_asks = serde_json::to_string(&b.ask_as(&b.eli, &parcel.tracking_number))?;
    let (status, _, text) =
        via_proxy(kit, SHARED, Method::POST, "/v1/access-requests", Some(&b.eli.token), Some(eli_asks)).await?;
    assert!(status.is_success(), "another driver at the same address was refused: {status} {text}");
    // A minute later Dana's requests count again (the parcel is Eli's now).
    kit.set_time(kit.now() + 60);
    let (status, _, text) =
        via_proxy(kit, SHARED, Method::POST, "/v1/access-requests", Some(&b.dana.token), Some(ask)).await?;
    assert_eq!((status, code_of(&text).as_str()), (StatusCode::FORBIDDEN, "access_already_granted"), "{text}");
    Ok(())
}

/// Finding: 20 failed authentications from one address locked every user at
/// that address out (behind a proxy: everyone), and a request without a
/// token counted as a failure.
pub async fn a_bad_token_flood_never_locks_out_a_valid_token(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-FLOOD-1", b.unit_2b.id).await?;
    const ATTACKER: &str = "203.0.113.9";
    // Requests with no token are no failures, however many.
    for _ in 0..10 {
        let (status, _, text) = via_proxy(kit, ATTACKER, Method::GET, "/v1/me", None, None).await?;
        assert_eq!((status, code_of(&text).as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    }
    // Bad tokens: three are answered 401, the rest 429 with Retry-After.
    for i in 0..20 {
        let guess = format!("dm_{i:0>43}");
        let (status, retry_after, text) = via_proxy(kit, ATTACKER, Method::GET, "/v1/me", Some(&guess), None).await?;
        if i < 3 {
            assert_eq!((status, code_of(&text).as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "guess {i}");
        } else {
            assert_eq!((status, code_of(&text).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "guess {i}");
            assert_eq!(retry_after.as_deref(), Some("60"));
        }
    }
    // The driver at the door, behind the same address, is let in.
    let ask = serde_json::to_string(&b.ask(&parcel.tracking_number))?;
    let (status, _, text) =
        via_proxy(kit, ATTACKER, Method::POST, "/v1/access-requests", Some(&b.dana.token), Some(ask)).await?;
    assert!(status.is_success(), "the driver was refused: {status} {text}");
    let granted: AccessGranted = serde_json::from_str(&text)?;
    assert_eq!(granted.delivery_id, parcel.id);
    // So is the manager, on the API and signing in to the dashboard.
    let (status, _, _) = via_proxy(kit, ATTACKER, Method::GET, "/v1/me", Some(&b.rosa_token), None).await?;
    assert_eq!(status, StatusCode::OK);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let base = kit.running.url();
    let res = http
        .post(format!("{base}/app/sign-in"))
        .header(ORIGIN, &base)
        .header("x-forwarded-for", ATTACKER)
        .form(&[("token", b.rosa_token.as_str())])
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the dashboard sign-in was refused");
    // ...while the attacker's bad sign-in is refused as too many.
    let res = http
        .post(format!("{base}/app/sign-in"))
        .header(ORIGIN, &base)
        .header("x-forwarded-for", ATTACKER)
        .form(&[("token", "dm_nope")])
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the proxy is not affected by the attacker.
    let (status, _, _) = via_proxy(kit, "198.51.100.20", Method::GET, "/v1/me", Some("dm_typo"), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // One credential guessed from many addresses is slowed down too.
    for i in 0..3 {
        let (status, _, _) =
            via_proxy(kit, &format!("198.51.100.{}", 30 + i), Method::GET, "/v1/me", Some("dm_same"), None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, _) =
        via_proxy(kit, "198.51.100.99", Method::GET, "/v1/me", Some("dm_same"), None).await?;
    assert_eq!((status, retry_after.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("60")));
    // The window ends.
    kit.advance(60);
    let (status, _, _) = via_proxy(kit, ATTACKER, Method::GET, "/v1/me", Some("dm_again"), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// A request to try: method, path, token, one extra header.
type Probe<'a> = (Method, String, Option<&'a str>, Option<(&'a str, &'a str)>);

/// Finding: integers above i64::MAX in paths and queries answered 500, one
/// of them with no token. Every integer the API reads from a path, a query
/// or a header is tried at i64::MAX + 1 and at u64::MAX, as every role.
pub async fn integers_beyond_the_database_range_are_refused_not_500(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let lock = b.entrance_lock.id;
    let http = reqwest::Client::new();
    let base = kit.running.url();
    let operator = kit.running.operator_token.clone().unwrap_or_default();
    for big in ["9223372036854775808", "18446744073709551615", "18446744073709551616", "-1"] {
        let mut requests: Vec<Probe<'_>> = vec![
            (Method::PUT, format!("/v1/locks/{lock}/clips/{big}"), None, None),
            (Method::PUT, format!("/v1/locks/{lock}/clips/{big}"), Some(operator.as_str()), None),
        ];
        for token in [b.rosa_token.as_str(), b.dana.token.as_str(), operator.as_str()] {
            for path in [
                format!("/v1/audit/entries?size={big}"),
                format!("/v1/audit/entries?after={big}"),
                format!("/v1/audit/entries?limit={big}"),
                format!("/v1/audit/consistency?old={big}"),
                format!("/v1/audit/consistency?old=1&size={big}"),
                format!("/v1/events?after={big}"),
                format!("/v1/events?limit={big}"),
                format!("/v1/events/stream?after={big}"),
            ] {
                requests.push((Method::GET, path, Some(token), None));
            }
            requests.push((Method::GET, "/v1/events/stream".into(), Some(token), Some(("last-event-id", big))));
        }
        for (method, path, token, header) in requests {
            let mut req = http.request(method.clone(), format!("{base}{path}"));
            if let Some(t) = token {
                req = req.header(AUTHORIZATION, format!("Bearer {t}"));
            }
            if let Some((name, value)) = header {
                req = req.header(name, value);
            }
            let res = req.body("x").send().await?;
            let status = res.status();
            let text = if status == StatusCode::OK { String::new() } else { res.text().await? };
            assert!(
                status.is_client_error() || status == StatusCode::OK,
                "{method} {path} {header:?}: {status} {text}"
            );
            if status.is_client_error() {
                assert!(!code_of(&text).starts_with("not an error"), "{method} {path}: {text}");
            }
        }
    }
    Ok(())
}

/// Finding: the webhook filter refused `localhost` but accepted
/// `localhost.`. Each spelling of a loopback or private host is tried on
/// create and on update, and nothing is written.
pub async fn webhooks_to_other_spellings_of_private_hosts_are_refused(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let hook = b
        .rosa
        .create_webhook(&CreateWebhook { url: "https://hooks.example.com./doorman".into(), events: vec![] })
        .await?;
    for url in [
        "http://localhost./hook",
        "http://LOCALHOST:8080/hook",
        "http://%6c%6fcalhost/hook",
        "http://admin.localhost./",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
        "http://127.0.0.1\\@hooks.example.com/",
        "http://169.254.169.254./latest/meta-data",
        "http://[::ffff:7f00:1]/",
    ] {
        let create = CreateWebhook { url: url.into(), events: vec![] };
        crate::kit::expect_error(
            b.rosa.create_webhook(&create).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
        let update = UpdateWebhook { url: Some(url.into()), ..Default::default() };
        crate::kit::expect_error(
            b.rosa.update_webhook(hook.webhook.id, &update).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
    }
    let hooks = b.rosa.list_webhooks().await?;
    assert_eq!(hooks.len(), 1, "nothing was written");
    assert_eq!(hooks[0].url, "https://hooks.example.com./doorman");
    Ok(())
}

/// Finding: a JSON array was accepted where an object is expected (`[]`
/// created a block). Arrays are sent to every operation that takes a JSON
/// body, as every role; none may succeed.
pub async fn json_arrays_are_refused_where_an_object_is_expected(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-ARRAY-1", b.unit_2b.id).await?;
    let (status, text) = b
        .jun
        .client
        .send_raw(
            Method::POST,
            &format!("/v1/units/{}/block", b.unit_2b.id),
            Some("[]".into()),
            Some("application/json"),
        )
        .await?;
    assert_eq!((status, code_of(&text).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"), "{text}");
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 0, "no block was created");

    let doc = kit.anon.openapi().await?;
    let callers = [&kit.operator, &b.rosa, &b.parcelo, &b.dana.client, &b.jun.client];
    let mut sent = 0;
    for o in crate::openapi::operations(&doc)? {
        let json_body = o.op.pointer("/requestBody/content/application~1json").is_some();
        if !json_body {
            continue;
        }
        let path = crate::openapi::fill(&o.path, |name| match name {
            "property_id" => b.property.id.to_string(),
            "unit_id" => b.unit_2b.id.to_string(),
            "carrier_id" => b.parcelo_id.to_string(),
            "driver_id" => b.dana.id.to_string(),
            "delivery_id" => parcel.id.to_string(),
            other => other.to_string(),
        });
        for caller in callers {
            for body in ["[]", " [null, null]", "[\"x\", 1, true]"] {
                let (status, text) =
                    caller.send_raw(o.method.clone(), &path, Some(body.into()), Some("application/json")).await?;
                sent += 1;
                assert!(status.is_client_error(), "{} {path} took {body}: {status} {text}", o.method);
            }
        }
    }
    assert!(sent > 100, "only {sent} requests");
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 0, "no block was created");
    Ok(())
}

/// A webhook receiver that is never reached: enough for the service to
/// record a delivery attempt (and so a delivery id) for the oracle test.
struct Unreachable;

#[async_trait::async_trait]
impl doorman_server::webhooks::WebhookTransport for Unreachable {
    async fn post(&self, _request: doorman_server::webhooks::WebhookRequest) -> Result<u16, String> {
        Err("no network in this test".into())
    }
}

/// Real ids of one tenant's things, by the name of the path parameter
/// that carries them.
struct Ids(Vec<(&'static str, String)>);

impl Ids {
    fn get(&self, name: &str) -> String {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| format!("<{name}?>"))
    }

    /// The same names, each with an id nobody has.
    fn random(&self) -> Ids {
        Ids(self
            .0
            .iter()
            .map(|(n, _)| (*n, if *n == "counter" { "1".into() } else { uuid::Uuid::new_v4().to_string() }))
            .collect())
    }

    /// These ids, with some replaced (the caller's own).
    fn with(&self, own: &[(&'static str, String)]) -> Ids {
        Ids(self
            .0
            .iter()
            .map(|(n, v)| (*n, own.iter().find(|(o, _)| o == n).map_or(v.clone(), |(_, v)| v.clone())))
            .collect())
    }
}

/// Who calls, as which client, with which ids of theirs instead of the foreign ones.
type Caller<'a> = (&'a str, &'a doorman_client::Client, &'a [(&'static str, String)]);

/// A valid body for each operation that takes one, so that nothing but the
/// ids in the path can decide the answer.
fn valid_body(b: &Building, now: i64, otto: ManagerId, method: &Method, path: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    let key = || crate::lock::Handheld::generate().public_key_b64();
    let device = || crate::fleet::new_device().1;
    let pass =
        json!({ "name": "Ana", "valid_from": now + 600, "valid_until": now + 3600, "handheld_public_key": key() });
    let v = match (method.as_str(), path) {
        ("PATCH", "/v1/properties/{property_id}") => json!({ "name": "Renamed" }),
        ("PUT", "/v1/properties/{property_id}/tenant-notice") => json!({ "text": "Changed", "live_from": now }),
        ("POST", "/v1/properties/{property_id}/units") => json!({ "label": "9Z" }),
        ("POST", "/v1/properties/{property_id}/access-points") => {
            json!({ "kind": "garage", "name": "garage", "parent_id": null, "unit_id": null })
        }
        ("POST", "/v1/properties/{property_id}/locks") => json!({
            "access_point_id": b.entrance.id, "device_public_key": device(), "model": "x", "firmware": "1",
            "mobile_credential": true, "keypad": false
        }),
        ("POST", "/v1/properties/{property_id}/locks/{lock_id}/replace") => json!({
            "device_public_key": device(), "model": "x", "firmware": "1", "mobile_credential": true, "keypad": false
        }),
        ("POST", "/v1/properties/{property_id}/drop-spots") => {
            json!({ "name": "bench", "kind": "lobby", "access_point_id": b.lobby.id, "unit_id": null })
        }
        ("PUT", "/v1/properties/{property_id}/carriers/{carrier_id}") => serde_json::to_value(PutEnablement {
            enabled: true,
            hours: crate::fixture::all_day(),
            allowed_drop_spots: vec![],
        })
        .ok()?,
        ("PATCH", "/v1/properties/{property_id}/access-points/{access_point_id}") => json!({ "name": "renamed door" }),
        ("PATCH", "/v1/properties/{property_id}/drop-spots/{drop_spot_id}") => json!({ "name": "renamed spot" }),
        ("PATCH", "/v1/properties/{property_id}/units/{unit_id}") => json!({ "label": "9Y" }),
        ("POST", "/v1/properties/{property_id}/handover") => json!({ "manager_id": otto }),
        ("POST", "/v1/units/{unit_id}/block") => json!({ "until": null, "reason": "mine?" }),
        ("POST", "/v1/units/{unit_id}/guests") => pass,
        ("POST", "/v1/vehicles/{vehicle_id}/trunk-passes") => pass,
        ("POST", "/v1/units/{unit_id}/invitations") => json!({ "name": "Intruder", "email": "i@example.org" }),
        ("PUT", "/v1/units/{unit_id}/preferences") => json!({ "preferred_drop_spot": null, "allow_in_unit": true }),
        ("POST", "/v1/units/{unit_id}/remote-unlock") => json!({ "lock_id": b.entrance_lock.id }),
        ("POST", "/v1/units/{unit_id}/returns") => json!({
            "carrier_id": b.parcelo_id, "drop_spot_id": b.room_spot.id, "window_start": now + 3600, "window_end": now + 7200
        }),
        ("POST", "/v1/units/{unit_id}/vehicles") => json!({
            "name": "Van", "device_public_key": device(), "model": "x", "firmware": "1", "mobile_credential": true, "keypad": false
        }),
        ("POST", "/v1/vehicles/{vehicle_id}/positions") => json!({ "position": AT_THE_DOOR }),
        ("PATCH", "/v1/webhooks/{webhook_id}") => json!({ "active": false }),
        ("POST", "/v1/deliveries/{delivery_id}/eta") => json!({ "eta": now + 600 }),
        ("POST", "/v1/deliveries/{delivery_id}/complete") => json!({ "drop_spot_id": b.room_spot.id }),
        ("PATCH", "/v1/drivers/{driver_id}") => json!({ "status": "suspended" }),
        // Not a lock's event: refused once the lock is found (422), so the
        // lock must not be found by whoever may not bring its events.
        ("POST", "/v1/locks/{lock_id}/events") => json!({ "events": ["AAAA"] }),
        _ => return None,
    };
    Some(v)
}

/// Finding: for carriers and drivers, unit routes answered 403 for a unit
/// that exists and 404 for one that does not, an oracle for ids. Every
/// operation with an id in its path is sent, as every role, once with the
/// real ids of another tenant's things and once with random ids: the two
/// answers must be the same, and nothing may change.
pub async fn ids_of_others_and_random_ids_are_answered_alike(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let now = kit.now();
    let parcel = b.parcel(kit, "PCL-ORACLE-1", b.unit_2b.id).await?;
    // Jun's things: a guest pass, a car, a webhook with a delivery.
    let guest = CreateGuestPass {
        handheld_public_key: Some(crate::lock::Handheld::generate().public_key_b64()),
        ..crate::guests::pass("Ana", now + 600, 3600)
    };
    let guest = b.jun.client.create_guest_pass(b.unit_2b.id, &guest).await?;
    let car = b
        .jun
        .client
        .register_vehicle(
            b.unit_2b.id,
            &RegisterVehicle {
                name: "Civic".into(),
                plate: None,
                device_public_key: crate::fleet::new_device().1,
                model: "TrunkLatch T1".into(),
                firmware: "1.0.0".into(),
                mobile_credential: true,
                keypad: false,
            },
        )
        .await?;
    let hook = b
        .jun
        .client
        .create_webhook(&CreateWebhook { url: "https://hooks.example.com/jun".into(), events: vec![] })
        .await?;
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    b.jun.client.unblock(b.unit_2b.id).await?;
    kit.running.service.dispatch_webhooks(&Unreachable).await?;
    let hook_delivery = b.jun.client.webhook_deliveries(hook.webhook.id, None).await?;
    let hook_delivery =
        hook_delivery.first().map(|d| d.id.to_string()).ok_or_else(|| anyhow::anyhow!("no webhook delivery"))?;
    let otto = match b.otto.whoami().await?.principal {
        Principal::Manager { manager_id } => manager_id,
        other => anyhow::bail!("Otto is {other:?}"),
    };

    // In webhook routes `delivery_id` is a webhook delivery's id.
    let rosas = |webhook_route: bool| {
        Ids(vec![
            ("property_id", b.property.id.to_string()),
            ("unit_id", b.unit_2b.id.to_string()),
            ("access_point_id", b.lobby.id.to_string()),
            ("drop_spot_id", b.lobby_spot.id.to_string()),
            ("lock_id", b.entrance_lock.id.to_string()),
            ("carrier_id", b.parcelo_id.to_string()),
            ("driver_id", b.dana.id.to_string()),
            ("delivery_id", if webhook_route { hook_delivery.clone() } else { parcel.id.to_string() }),
            ("guest_pass_id", guest.pass.id.to_string()),
            ("vehicle_id", car.vehicle.id.to_string()),
            ("webhook_id", hook.webhook.id.to_string()),
            ("resident_id", b.jun.id.to_string()),
            ("counter", "1".into()),
        ])
    };
    let before = crate::authz::snapshot(kit, &b).await?;
    let doc = kit.anon.openapi().await?;
    // (who, their client, ids of theirs that replace the foreign ones)
    let kim_unit = [("unit_id", b.unit_3c.id.to_string())];
    // Carriers are a directory every manager reads: not another tenant's.
    let ottos_property = [("property_id", b.brownstone.id.to_string()), ("carrier_id", b.parcelo_id.to_string())];
    let callers: Vec<Caller<'_>> = vec![
        ("operator", &kit.operator, &[]),
        ("otto", &b.otto, &[]),
        ("otto at his own property", &b.otto, &ottos_property),
        ("quickship", &b.quickship, &[]),
        ("sam", &b.sam.client, &[]),
        ("kim", &b.kim.client, &[]),
        ("kim at her own unit", &b.kim.client, &kim_unit),
        ("anonymous", &kit.anon, &[]),
    ];
    let mut differ = Vec::new();
    let mut sent = 0;
    for o in crate::openapi::operations(&doc)? {
        if !o.path.contains('{') || o.path.starts_with("/log/") || o.path.contains("{clip_id}") {
            continue;
        }
        let foreign = rosas(o.path.starts_with("/v1/webhooks/"));
        let body = valid_body(&b, now, otto, &o.method, &o.path);
        assert_eq!(body.is_some(), o.has_body && !o.path.contains("/clips/"), "{} {}: a body for it", o.method, o.path);
        for (who, client, own) in &callers {
            let params: Vec<&str> = o.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            if params.iter().all(|p| own.iter().any(|(o, _)| o == p)) {
                continue; // nothing foreign in this path
            }
            let real = foreign.with(own);
            let random = real.random().with(own);
            let mut answers = Vec::new();
            for ids in [&real, &random] {
                let path = crate::openapi::fill(&o.path, |name| ids.get(name));
                let (body, content_type) = match &body {
                    Some(v) => (Some(reqwest::Body::from(v.to_string())), Some("application/json")),
                    None if o.path.contains("/clips/") => (Some(reqwest::Body::from("x")), Some("video/mp4")),
                    None => (None, None),
                };
                let (status, text) = client.send_raw(o.method.clone(), &path, body, content_type).await?;
                sent += 1;
                assert!(status.is_client_error(), "{who}: {} {path} answered {status} {text}", o.method);
                answers.push((status, code_of(&text)));
            }
            if answers[0] != answers[1] {
                differ.push(format!("{who}: {} {}: real {:?}, random {:?}", o.method, o.path, answers[0], answers[1]));
            }
        }
    }
    assert!(differ.is_empty(), "real and random ids told apart:\n{}", differ.join("\n"));
    assert!(sent > 500, "only {sent} requests");
    assert_eq!(crate::authz::snapshot(kit, &b).await?, before, "nothing changed");
    Ok(())
}

/// The headers of a clip served by `GET /v1/clips/{id}` as `reader`.
async fn clip_headers(kit: &Kit, token: &str, clip: ClipId) -> anyhow::Result<reqwest::header::HeaderMap> {
    let res = reqwest::Client::new()
        .get(format!("{}/v1/clips/{clip}", kit.running.url()))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await?;
    anyhow::ensure!(res.status() == StatusCode::OK, "{}", res.status());
    Ok(res.headers().clone())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Finding: a clip was served with whatever content type its uploader
/// sent, without `nosniff`. A clip uploaded as `text/html` (a page that
/// would run in the service's origin) is served as a download of bytes; one
/// uploaded as `video/mp4` plays inline; both are never sniffed and could
/// run nothing if opened. Every API answer says `nosniff` too.
pub async fn clips_are_served_with_the_type_the_service_allows(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, _)) = crate::doors::start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let _folder = crate::doors::clips_in_a_folder(kit)?;
    for _ in 0..2 {
        let granted = env.parcel(kit, 0).await?;
        env.deliver(0, &granted).await?;
    }
    env.synced(kit, crate::fleet::ENTRANCE).await?;
    let clips = env.sim(crate::fleet::ENTRANCE).take_clips()?;
    assert_eq!(clips.len(), 2, "two entries, two clips");
    let entrance = env.lock_id(crate::fleet::ENTRANCE);
    let page = kit.anon.upload_clip(entrance, clips[0].counter, "text/html", clips[0].bytes.clone()).await?;
    let video = kit.anon.upload_clip(entrance, clips[1].counter, "video/mp4", clips[1].bytes.clone()).await?;
    assert_eq!(page.content_type, "application/octet-stream", "text/html is not kept");
    assert_eq!(video.content_type, "video/mp4");
    for (what, id, content_type, disposition) in [
        (
            "the page",
            page.clip_id,
            "application/octet-stream",
            format!("attachment; filename=\"clip-{}.bin\"", page.clip_id),
        ),
        ("the video", video.clip_id, "video/mp4", format!("inline; filename=\"clip-{}.mp4\"", video.clip_id)),
    ] {
        let h = clip_headers(kit, &env.rosa_token, id).await?;
        assert_eq!(header(&h, "content-type"), content_type, "{what}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header(&h, "content-disposition"), disposition, "{what}");
        assert!(header(&h, "content-security-policy").contains("sandbox"), "{what}: {h:?}");
        assert_eq!(env.rosa.clip_info(id).await?.content_type, content_type, "{what}");
    }
    // Other types a browser would run or render as a document are not kept either.
    for sent in ["image/svg+xml", "application/xhtml+xml", "text/javascript", "application/pdf"] {
        let granted = env.parcel(kit, 0).await?;
        env.deliver(0, &granted).await?;
        env.synced(kit, crate::fleet::ENTRANCE).await?;
        let clip = env.sim(crate::fleet::ENTRANCE).take_clips()?.pop().ok_or_else(|| anyhow::anyhow!("no clip"))?;
        let view = kit.anon.upload_clip(entrance, clip.counter, sent, clip.bytes).await?;
        assert_eq!(view.content_type, "application/octet-stream", "{sent}");
    }

    // JSON answers, successes and errors alike, are not sniffed either.
    for (token, path) in [(Some(env.rosa_token.as_str()), "/v1/me"), (None, "/v1/me"), (None, "/v1/keys")] {
        let mut req = reqwest::Client::new().get(format!("{}{path}", kit.running.url()));
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let res = req.send().await?;
        assert_eq!(header(res.headers(), "x-content-type-options"), "nosniff", "{path}");
    }
    Ok(())
}

/// Finding: dashboard pages sent no CSP or frame options. Every kind of
/// dashboard answer (the sign-in page, a signed-in page, a fragment, an
/// error page, an asset) carries the policy, which allows no inline script
/// or style and no framing; the browser tests run under it.
pub async fn dashboard_pages_forbid_inline_code_and_framing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let base = kit.running.url();
    let cookie = crate::dashboard::sign_in(kit, &b.rosa_token).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let property = format!("/app/manager/properties/{}", b.property.id);
    for (path, signed_in) in [
        ("/app/sign-in", false),
        ("/app/manager", true),
        (property.as_str(), true),
        ("/app/audit", true),
        ("/app/no-such-page", true),
        ("/app/manager", false),
        ("/app/assets/app.js", false),
    ] {
        let mut req = http.get(format!("{base}{path}"));
        if signed_in {
            req = req.header(reqwest::header::COOKIE, &cookie);
        }
        let res = req.send().await?;
        let h = res.headers();
        assert_eq!(header(h, "content-security-policy"), doorman_dashboard::CONTENT_SECURITY_POLICY, "{path}");
        assert_eq!(header(h, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(h, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(h, "x-content-type-options"), "nosniff", "{path}");
        if header(h, "content-type").starts_with("text/html") {
            let html = res.text().await?;
            for inline in [" style=\"", "<script>", " onclick=", " onload=", "javascript:"] {
                assert!(!html.contains(inline), "{path} holds {inline:?}");
            }
        }
    }
    let csp = doorman_dashboard::CONTENT_SECURITY_POLICY;
    for directive in ["script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(directive), "{csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    Ok(())
}

/// Keeps what the service would post to each webhook receiver.
#[derive(Default)]
struct Captured(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl doorman_server::webhooks::WebhookTransport for Captured {
    async fn post(&self, request: doorman_server::webhooks::WebhookRequest) -> Result<u16, String> {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        self.0.lock().map_err(|e| e.to_string())?.push((request.url, body));
        Ok(200)
    }
}

/// Finding: carriers and drivers read residents' and units' ids in the
/// `actor` of `diverted`, `grant_revoked` and `return_scheduled` events.
/// Jun blocks during a live grant, schedules a return, and Rosa drops
/// Parcelo during another grant; Parcelo and Dana then read everything they
/// may, through the feed, the live stream, their webhooks and their audit
/// entries: the events are there, their actors name a role only, and no
/// resident's or manager's id appears anywhere. Jun and Rosa still read the
/// block and the removal under their own names.
pub async fn carriers_and_drivers_never_read_residents_or_managers_ids(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let hook = |name: &str| CreateWebhook { url: format!("https://hooks.example.com/{name}"), events: vec![] };
    b.parcelo.create_webhook(&hook("parcelo")).await?;
    b.dana.client.create_webhook(&hook("dana")).await?;

    let first = b.parcel(kit, "PCL-PRIVATE-1", b.unit_2b.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask(&first.tracking_number)).await).await?;
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: Some("away".into()) }).await?;
    b.jun.client.unblock(b.unit_2b.id).await?;
    let now = kit.now();
    let ret = ScheduleReturn {
        carrier_id: b.parcelo_id,
        drop_spot_id: b.room_spot.id,
        window_start: now,
        window_end: now + 3 * 3600,
        tracking_number: Some("RMA-PRIVATE".into()),
    };
    b.jun.client.schedule_return(b.unit_2b.id, &ret).await?;
    let second = b.parcel(kit, "PCL-PRIVATE-2", b.unit_2b.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask(&second.tracking_number)).await).await?;
    b.rosa.remove_enablement(b.property.id, b.parcelo_id).await?;

    let rosa_id = match b.rosa.whoami().await?.principal {
        Principal::Manager { manager_id } => manager_id.to_string(),
        other => anyhow::bail!("Rosa is {other:?}"),
    };
    let secrets = [("Jun's resident id", b.jun.id.to_string()), ("Rosa's manager id", rosa_id)];
    let leaks = |channel: &str, text: &str| -> Vec<String> {
        secrets
            .iter()
            .filter(|(_, id)| text.contains(id.as_str()))
            .map(|(what, _)| format!("{channel}: {what}"))
            .collect()
    };
    kit.running.service.sequence_now().await?;
    let mut found = Vec::new();
    for (who, client) in [("parcelo", &b.parcelo), ("dana", &b.dana.client)] {
        // The feed.
        let events = crate::notify::all_after(client, None).await?;
        let kinds: Vec<&str> = events.iter().map(|e| e.kind_name()).collect();
        for kind in ["grant_revoked", "diverted", "return_scheduled"] {
            if who == "parcelo" || kind == "grant_revoked" {
                assert!(kinds.contains(&kind), "{who} reads no {kind}: {kinds:?}");
            }
        }
        for e in &events {
            if let Some(Actor::Principal(Principal::Resident { .. } | Principal::Manager { .. })) = e.actor {
                found.push(format!("{who}'s feed: {} names its actor", e.kind_name()));
            }
        }
        found.extend(leaks(&format!("{who}'s feed"), &serde_json::to_string(&events)?));
        // The live stream, as sent.
        let mut stream = client.event_stream(doorman_client::StreamStart::Beginning).await?;
        for _ in 0..events.len() {
            let message = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next_message())
                .await??
                .ok_or_else(|| anyhow::anyhow!("the stream closed"))?;
            found.extend(leaks(&format!("{who}'s stream"), &message.data));
        }
        // The audit entries: the log's own bytes.
        let page = client.audit_entries(&AuditEntriesQuery { after: None, size: None, limit: None }).await?;
        assert!(!page.entries.is_empty());
        for entry in &page.entries {
            let bytes = doorman_domain::serde_b64::decode(&entry.entry)?;
            found.extend(leaks(&format!("{who}'s audit entry {}", entry.index), &String::from_utf8_lossy(&bytes)));
        }
    }
    // The webhooks.
    let captured = Captured::default();
    kit.running.service.dispatch_webhooks(&captured).await?;
    let posted = captured.0.lock().map_err(|e| anyhow::anyhow!("{e}"))?.clone();
    for receiver in ["parcelo", "dana"] {
        let bodies: Vec<&String> = posted.iter().filter(|(url, _)| url.ends_with(receiver)).map(|(_, b)| b).collect();
        assert!(bodies.iter().any(|b| b.contains("grant_revoked")), "{receiver}'s webhook got no grant_revoked");
        for body in bodies {
            found.extend(leaks(&format!("{receiver}'s webhook"), body));
        }
    }
    assert!(found.is_empty(), "ids leaked:\n{}", found.join("\n"));

    // The block and the removal are still Jun's and Rosa's, where only
    // they and their building read them.
    let jun_events = crate::notify::all_after(&b.jun.client, None).await?;
    let blocked = jun_events.iter().find(|e| matches!(e.kind, EventKind::Blocked { .. })).map(|e| e.actor);
    assert_eq!(
        blocked,
        Some(Some(Actor::Principal(Principal::Resident { resident_id: b.jun.id, unit_id: b.unit_2b.id })))
    );
    let rosa_events = crate::notify::all_after(&b.rosa, None).await?;
    let diverted = rosa_events.iter().find(|e| e.kind_name() == "diverted").map(|e| e.actor);
    assert_eq!(diverted, Some(Some(Actor::hidden(HiddenRole::Resident))), "the diverted event names a role");
    Ok(())
}

/// Finding: the OpenAPI document did not list the 415 answers, some error
/// statuses, the clip's real content type or the event stream's format.
/// Each operation that takes JSON is sent plain text and must answer a
/// status its document lists, with the error shape; the stream answers the
/// media type the document names (the document's side is checked in
/// `openapi::document_lists_every_route`).
pub async fn every_answer_is_in_the_document(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let doc = kit.anon.openapi().await?;
    let mut tried = 0;
    for o in crate::openapi::operations(&doc)? {
        if o.op.pointer("/requestBody/content/application~1json").is_none() {
            continue;
        }
        let path = crate::openapi::fill(&o.path, |_| uuid::Uuid::new_v4().to_string());
        for caller in [&b.rosa, &kit.anon] {
            let (status, text) =
                caller.send_raw(o.method.clone(), &path, Some("{}".into()), Some("text/plain")).await?;
            let documented = o.op.pointer(&format!("/responses/{}", status.as_u16())).is_some();
            assert!(documented, "{} {}: {status} is not in the document ({text})", o.method, o.path);
            assert!(!code_of(&text).starts_with("not an error"), "{} {}: {text}", o.method, o.path);
            tried += 1;
        }
        // The JSON body check comes after authentication: with a token, 415.
        let (status, text) = b.rosa.send_raw(o.method.clone(), &path, Some("{}".into()), Some("text/plain")).await?;
        if o.path != "/v1/invitations/redeem" {
            assert_eq!(
                (status, code_of(&text).as_str()),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
                "{} {}",
                o.method,
                o.path
            );
        }
    }
    assert!(tried > 40, "{tried}");
    let res = reqwest::Client::new()
        .get(format!("{}/v1/events/stream", kit.running.url()))
        .header(AUTHORIZATION, format!("Bearer {}", b.rosa_token))
        .send()
        .await?;
    let media = header(res.headers(), "content-type").split(';').next().unwrap_or_default().to_string();
    let documented = format!("/paths/~1v1~1events~1stream/get/responses/200/content/{}", media.replace('/', "~1"));
    assert!(doc.pointer(&documented).is_some(), "the stream's {media} is not documented");
    Ok(())
}
