//! The OpenAPI document at `/openapi.json` against the router that serves
//! it: the same operations, each either behind the bearer token or
//! explicitly public, each answering errors in the documented shape.

use std::collections::BTreeSet;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::kit::{raw_json_error, Kit};

/// Every operation of the API, as the router registers it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/me"),
    ("GET", "/v1/me/notifications"),
    ("PUT", "/v1/me/notifications"),
    ("GET", "/v1/keys"),
    ("GET", "/v1/keys/update"),
    ("GET", "/v1/keys/rotation"),
    ("POST", "/v1/keys/rotate"),
    ("POST", "/v1/keys/retire"),
    ("POST", "/v1/managers"),
    ("GET", "/v1/managers"),
    ("POST", "/v1/carriers"),
    ("GET", "/v1/carriers"),
    ("POST", "/v1/properties"),
    ("GET", "/v1/properties"),
    ("GET", "/v1/properties/{property_id}"),
    ("PUT", "/v1/properties/{property_id}/tenant-notice"),
    ("POST", "/v1/properties/{property_id}/units"),
    ("GET", "/v1/properties/{property_id}/units"),
    ("POST", "/v1/properties/{property_id}/access-points"),
    ("GET", "/v1/properties/{property_id}/access-points"),
    ("POST", "/v1/properties/{property_id}/locks"),
    ("GET", "/v1/properties/{property_id}/locks"),
    ("GET", "/v1/properties/{property_id}/lock-health"),
    ("POST", "/v1/locks/{lock_id}/events"),
    ("POST", "/v1/units/{unit_id}/remote-unlock"),
    ("PUT", "/v1/locks/{lock_id}/clips/{counter}"),
    ("GET", "/v1/clips/{clip_id}"),
    ("GET", "/v1/clips/{clip_id}/info"),
    ("GET", "/v1/units/{unit_id}/clips"),
    ("GET", "/v1/properties/{property_id}/clips"),
    ("GET", "/v1/properties/{property_id}/locks/{lock_id}/revocation-bundle"),
    ("POST", "/v1/properties/{property_id}/drop-spots"),
    ("GET", "/v1/properties/{property_id}/drop-spots"),
    ("PUT", "/v1/properties/{property_id}/carriers/{carrier_id}"),
    ("GET", "/v1/properties/{property_id}/carriers"),
    ("GET", "/v1/properties/{property_id}/deliveries"),
    ("GET", "/v1/properties/{property_id}/access-requests"),
    ("POST", "/v1/units/{unit_id}/invitations"),
    ("POST", "/v1/invitations/redeem"),
    ("GET", "/v1/units/{unit_id}/preferences"),
    ("PUT", "/v1/units/{unit_id}/preferences"),
    ("POST", "/v1/units/{unit_id}/block"),
    ("DELETE", "/v1/units/{unit_id}/block"),
    ("GET", "/v1/units/{unit_id}/deliveries"),
    ("GET", "/v1/units/{unit_id}/access-requests"),
    ("POST", "/v1/drivers"),
    ("GET", "/v1/drivers"),
    ("PATCH", "/v1/drivers/{driver_id}"),
    ("POST", "/v1/deliveries"),
    ("GET", "/v1/deliveries"),
    ("GET", "/v1/deliveries/{delivery_id}"),
    ("POST", "/v1/deliveries/{delivery_id}/eta"),
    ("POST", "/v1/deliveries/{delivery_id}/cancel"),
    ("POST", "/v1/access-requests"),
    ("POST", "/v1/deliveries/{delivery_id}/complete"),
    ("GET", "/log/checkpoint"),
    ("GET", "/log/key"),
    ("GET", "/log/tile/{path}"),
    ("GET", "/v1/audit/entries"),
    ("GET", "/v1/audit/consistency"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/stream"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{webhook_id}"),
    ("PATCH", "/v1/webhooks/{webhook_id}"),
    ("DELETE", "/v1/webhooks/{webhook_id}"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"),
    ("POST", "/v1/pickup-points"),
    ("GET", "/v1/pickup-points"),
    ("POST", "/v1/units/{unit_id}/returns"),
    ("POST", "/v1/units/{unit_id}/vehicles"),
    ("GET", "/v1/units/{unit_id}/vehicles"),
    ("POST", "/v1/vehicles/{vehicle_id}/positions"),
    ("GET", "/v1/vehicles/{vehicle_id}/position"),
    ("POST", "/v1/vehicles/{vehicle_id}/trunk-passes"),
    ("POST", "/v1/units/{unit_id}/guests"),
    ("GET", "/v1/units/{unit_id}/guests"),
    ("DELETE", "/v1/units/{unit_id}/guests/{guest_pass_id}"),
    ("POST", "/v1/tokens/revoke"),
    ("PATCH", "/v1/properties/{property_id}"),
    ("PATCH", "/v1/properties/{property_id}/units/{unit_id}"),
    ("DELETE", "/v1/properties/{property_id}/units/{unit_id}"),
    ("PATCH", "/v1/properties/{property_id}/access-points/{access_point_id}"),
    ("DELETE", "/v1/properties/{property_id}/access-points/{access_point_id}"),
    ("PATCH", "/v1/properties/{property_id}/drop-spots/{drop_spot_id}"),
    ("DELETE", "/v1/properties/{property_id}/drop-spots/{drop_spot_id}"),
    ("POST", "/v1/properties/{property_id}/locks/{lock_id}/decommission"),
    ("POST", "/v1/properties/{property_id}/locks/{lock_id}/replace"),
    ("DELETE", "/v1/properties/{property_id}/carriers/{carrier_id}"),
    ("POST", "/v1/properties/{property_id}/handover"),
    ("GET", "/v1/units/{unit_id}/residents"),
    ("GET", "/v1/units/{unit_id}/invitations"),
    ("POST", "/v1/units/{unit_id}/residents/{resident_id}/move-out"),
    ("POST", "/v1/units/{unit_id}/residents/{resident_id}/reinvite"),
    ("GET", "/v1/carrier/properties"),
];

/// The only operations that take no token.
pub const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/v1/keys"),
    ("GET", "/v1/keys/update"),
    ("POST", "/v1/invitations/redeem"),
    // a lock's camera clip: authenticated by the hash the lock signed
    ("PUT", "/v1/locks/{lock_id}/clips/{counter}"),
    // the transparency log's public face: its checkpoint, key and hash tiles
    ("GET", "/log/checkpoint"),
    ("GET", "/log/key"),
    ("GET", "/log/tile/{path}"),
];

/// Served by the router for operations and monitoring, outside the API
/// document on purpose (they are not part of the versioned API).
pub const OPERATIONAL: &[&str] = &["/openapi.json", "/healthz", "/readyz", "/metrics"];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    pub path: String,
    pub has_body: bool,
    pub op: Value,
}

pub fn operations(doc: &Value) -> anyhow::Result<Vec<Operation>> {
    let paths = doc.get("paths").and_then(Value::as_object).context("paths")?;
    let mut out = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push(Operation {
                    method: Method::from_bytes(m.to_ascii_uppercase().as_bytes())?,
                    path: path.clone(),
                    has_body: op.get("requestBody").is_some(),
                    op: op.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The path with each `{name}` replaced by `value(name)`.
pub fn fill(path: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&value(&rest[start + 1..start + len]));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn placeholders(path: &str) -> BTreeSet<String> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(String::from)).collect()
}

pub async fn document_lists_every_route(kit: &Kit) -> anyhow::Result<()> {
    // The document itself is public.
    let doc = kit.anon.openapi().await?;
    let ops = operations(&doc)?;
    let documented: BTreeSet<(String, String)> = ops.iter().map(|o| (o.method.to_string(), o.path.clone())).collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented.len(), ops.len(), "one entry per operation");
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "not documented: {missing:?}; documented but unknown here: {unknown:?}"
    );

    let scheme = doc.pointer("/components/securitySchemes/bearer").context("the bearer scheme")?;
    assert_eq!((scheme.get("type"), scheme.get("scheme")), (Some(&Value::from("http")), Some(&Value::from("bearer"))));
    assert!(doc.pointer("/components/schemas/ErrorBody").is_some(), "the error shape is a named schema");
    let default_security = doc.get("security").cloned().unwrap_or(Value::Null);
    let bearer = serde_json::json!([{ "bearer": [] }]);
    let public = serde_json::json!([{}]);

    let error_ref = "#/components/schemas/ErrorBody";
    for o in &ops {
        let name = format!("{} {}", o.method, o.path);
        let is_public = PUBLIC.iter().any(|(m, p)| o.method.as_str() == *m && o.path == *p);
        let security = o.op.get("security").cloned().unwrap_or_else(|| default_security.clone());
        assert_eq!(security, if is_public { public.clone() } else { bearer.clone() }, "{name}: security");

        let declared: BTreeSet<String> =
            o.op.get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p.get("in") == Some(&Value::from("path")))
                        .filter_map(|p| p.get("name")?.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
        assert_eq!(declared, placeholders(&o.path), "{name}: path parameters");

        let writes = matches!(o.method, Method::POST | Method::PUT | Method::PATCH);
        let takes_no_body = o.path.ends_with("/cancel")
            || o.path.ends_with("/resend")
            || o.path.ends_with("/decommission")
            || o.path.ends_with("/move-out")
            || o.path.ends_with("/keys/rotate")
            || o.path.ends_with("/keys/retire")
            || o.path.ends_with("/reinvite");
        assert_eq!(o.has_body, writes && !takes_no_body, "{name}: request body");

        let responses = o.op.get("responses").and_then(Value::as_object).context("responses")?;
        assert!(responses.keys().any(|k| k.starts_with('2')), "{name}: a success response");
        let mut errors = vec!["400", "403", "404", "409", "422", "500"];
        if !is_public {
            errors.extend(["401", "429"]);
        }
        if o.has_body {
            errors.push("413");
        }
        // A JSON body sent as anything else is answered 415 (issue 17 finding 8).
        if o.op.pointer("/requestBody/content/application~1json").is_some() {
            errors.push("415");
        }
        if o.path == "/v1/clips/{clip_id}" || o.path.ends_with("/clips/{counter}") {
            errors.extend(["410", "503"]);
        }
        for code in errors {
            let schema = responses
                .get(code)
                .and_then(|r| r.pointer("/content/application~1json/schema/$ref"))
                .and_then(Value::as_str);
            assert_eq!(schema, Some(error_ref), "{name}: {code} answers the error shape");
        }
    }

    // A clip is bytes of the types the service keeps, not JSON; the event
    // stream is server-sent events whose messages carry a FeedEvent.
    let clip_types = |pointer: &str| -> BTreeSet<String> {
        doc.pointer(pointer).and_then(Value::as_object).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    };
    let mut kept: BTreeSet<String> =
        doorman_server::clips::CLIP_CONTENT_TYPES.iter().map(|(t, _)| t.to_string()).collect();
    kept.insert("application/octet-stream".into());
    assert_eq!(clip_types("/paths/~1v1~1clips~1{clip_id}/get/responses/200/content"), kept);
    assert_eq!(clip_types("/paths/~1v1~1locks~1{lock_id}~1clips~1{counter}/put/requestBody/content"), kept);
    let binary = doc.pointer("/paths/~1v1~1clips~1{clip_id}/get/responses/200/content/video~1mp4/schema/format");
    assert_eq!(binary, Some(&Value::from("binary")));
    let stream = doc
        .pointer("/paths/~1v1~1events~1stream/get/responses/200/content/text~1event-stream")
        .context("the stream is text/event-stream")?;
    assert_eq!(
        stream.pointer("/x-item-schema/properties/data/contentSchema/$ref"),
        Some(&Value::from("#/components/schemas/FeedEvent")),
        "{stream}"
    );

    // The router serves every documented operation: without a token each
    // answers 401 (or, if public, its own answer), never the router's
    // "no such route" or "method not allowed".
    let probe_id = uuid::Uuid::new_v4().to_string();
    for o in &ops {
        let path = fill(&o.path, |_| probe_id.clone());
        let body = if o.path == "/v1/invitations/redeem" { r#"{"code":"inv_unknown"}"# } else { "{}" };
        let (status, text) = kit
            .anon
            .send_raw(
                o.method.clone(),
                &path,
                o.has_body.then(|| reqwest::Body::from(body)),
                o.has_body.then_some("application/json"),
            )
            .await?;
        let name = format!("{} {}", o.method, o.path);
        let is_public = PUBLIC.iter().any(|(m, p)| o.method.as_str() == *m && o.path == *p);
        if is_public {
            assert!(
                !text.contains("no such route") && status != StatusCode::METHOD_NOT_ALLOWED,
                "{name}: {status} {text}"
            );
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{name} is public");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {text}");
        }
        // Methods the document does not list for this path are not served.
        for m in METHODS {
            let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes())?;
            if !ops.iter().any(|x| x.path == o.path && x.method == method) {
                let (status, err) = raw_json_error(&kit.anon, method.clone(), &path, "{}").await?;
                assert_eq!(
                    (status, err.error.code.as_str()),
                    (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                    "{method} {}",
                    o.path
                );
            }
        }
    }

    // The operational endpoints, outside the document.
    for path in OPERATIONAL {
        assert!(
            doc.pointer(&format!("/paths/{}", path.replace('/', "~1"))).is_none(),
            "{path} is not an API operation"
        );
        // /metrics answers the operator (or the metrics token) only.
        let client = if *path == "/metrics" { &kit.operator } else { &kit.anon };
        let (status, text) = client.send_raw(Method::GET, path, None, None).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
    }
    let health = kit.anon.health().await?;
    assert_eq!((health.status.as_str(), health.backend.as_str()), ("ready", kit.backend_name()));
    Ok(())
}
