//! The black-box findings of issue 17, each attempted again: what an
//! attacker did then is done here, and the service must now hold.

use doorman_api::*;
use doorman_server::ServiceConfig;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use crate::fixture::Building;
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
