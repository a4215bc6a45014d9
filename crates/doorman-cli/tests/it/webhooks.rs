//! Webhooks through real HTTP: a receiver (axum on 127.0.0.1:0) that checks
//! every signature as its README tells it to, fails when told to, and
//! records what it got.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use doorman_api::*;
use doorman_cli::webhook_cmd::HttpWebhooks;
use doorman_server::webhooks::DispatchReport;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::fixture::{Building, ELSEWHERE};
use crate::kit::{expect_error, Kit, HOUR};

/// One POST as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub event_id: u64,
    pub body: FeedEvent,
    pub signature_ok: bool,
    pub answered: u16,
}

#[derive(Debug, Default)]
struct Inner {
    failing: bool,
    got: Vec<Received>,
}

/// A webhook receiver with its own secret (set once the webhook exists).
#[derive(Clone, Debug)]
pub struct Receiver {
    pub url: String,
    secret: Arc<Mutex<String>>,
    inner: Arc<Mutex<Inner>>,
}

/// The receiver's check: `t=<ts>,v1=<hex>` with v1 = HMAC-SHA256(secret, "<ts>.<body>").
fn signature_valid(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut ts = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => ts = Some(v.to_string()),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(ts), Some(v1)) = (ts, v1) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> AxumStatus {
    let secret = r.secret.lock().unwrap().clone();
    let header = headers.get("doorman-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let signature_ok = signature_valid(&secret, header, &body);
    let event: FeedEvent = serde_json::from_slice(&body).expect("the body is a FeedEvent");
    let event_id: u64 = headers.get("doorman-event-id").unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(event_id, event.id);
    assert_eq!(headers.get("doorman-event-type").unwrap().to_str().unwrap(), event.kind_name());
    let mut inner = r.inner.lock().unwrap();
    let answered = if inner.failing || !signature_ok { 503 } else { 204 };
    inner.got.push(Received { event_id, body: event, signature_ok, answered });
    AxumStatus::from_u16(answered).unwrap()
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let r = Receiver { url, secret: Arc::default(), inner: Arc::default() };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(r)
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.into();
    }

    pub fn set_failing(&self, failing: bool) {
        self.inner.lock().unwrap().failing = failing;
    }

    pub fn got(&self) -> Vec<Received> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Event ids accepted (answered 2xx), in arrival order.
    pub fn accepted(&self) -> Vec<u64> {
        self.got().iter().filter(|r| r.answered < 300).map(|r| r.event_id).collect()
    }
}

/// The receivers run on 127.0.0.1, which a default service refuses to call.
pub fn receivers_allowed() -> doorman_server::ServiceConfig {
    doorman_server::ServiceConfig { webhook_private_targets: true, ..crate::kit::default_config() }
}

async fn dispatch(service: &doorman_server::Service) -> anyhow::Result<DispatchReport> {
    Ok(service.dispatch_webhooks(&HttpWebhooks::new()?).await?)
}

/// Takes the kit by value: it restarts the service half-way
/// ([`Kit::restart`]) and gives back the kit of the new one.
pub async fn webhooks_are_signed_retried_across_a_restart_and_tenant_bound(kit: Kit) -> anyhow::Result<Kit> {
    let b = Building::seed(&kit).await?;
    let (rosa_rx, otto_rx, parcelo_rx) = (Receiver::start().await?, Receiver::start().await?, Receiver::start().await?);
    let rosa_hook = b.rosa.create_webhook(&CreateWebhook { url: rosa_rx.url.clone(), events: vec![] }).await?;
    rosa_rx.set_secret(&rosa_hook.secret);
    assert!(rosa_hook.secret.starts_with("whsec_"));
    let otto_hook = b.otto.create_webhook(&CreateWebhook { url: otto_rx.url.clone(), events: vec![] }).await?;
    otto_rx.set_secret(&otto_hook.secret);
    let events = vec!["access_granted".to_string(), "delivered".to_string()];
    let parcelo_hook = b.parcelo.create_webhook(&CreateWebhook { url: parcelo_rx.url.clone(), events }).await?;
    parcelo_rx.set_secret(&parcelo_hook.secret);
    let seeded = dispatch(&kit.running.service).await?;
    assert_eq!(seeded.enqueued, 0, "nothing from before the webhooks existed");

    // Rosa's receiver is down for a while.
    rosa_rx.set_failing(true);
    let parcel = b.parcel(&kit, "PCL-8001", b.unit_2b.id).await?;
    b.parcelo.update_eta(parcel.id, kit.now() + HOUR).await?;
    let grant = b.dana.client.request_access(&b.ask("PCL-8001")).await?;
    let done = CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: None };
    b.dana.client.complete_delivery(parcel.id, &done).await?;
    let rosa_events = b.rosa.events(Some(rosa_hook.webhook.after_index.unwrap()), None).await?.events;
    assert_eq!(rosa_events.len(), 4);

    let first = dispatch(&kit.running.service).await?;
    assert_eq!((first.enqueued, first.delivered, first.retrying), (4 + 2, 2, 4));
    assert_eq!(parcelo_rx.accepted(), vec![rosa_events[2].id, rosa_events[3].id], "only the types it asked for");
    assert_eq!(rosa_rx.got().len(), 4);
    let pending = b.rosa.webhook_deliveries(rosa_hook.webhook.id, Some(WebhookDeliveryState::Pending)).await?;
    assert_eq!(pending.len(), 4);
    assert!(pending
        .iter()
        .all(|d| d.attempts == 1 && d.next_attempt_at == kit.now() + 30 && d.last_status == Some(503)));

    // Not due yet: nothing is sent.
    kit.advance(29);
    assert_eq!(dispatch(&kit.running.service).await?, DispatchReport::default());
    assert_eq!(rosa_rx.got().len(), 4);
    kit.advance(1);
    assert_eq!(dispatch(&kit.running.service).await?.retrying, 4);
    assert_eq!(rosa_rx.got().len(), 8);

    // The service restarts: the first server stops (the failed tries are
    // in the outbox), a new store, service and server start over the same
    // database with the same keys and clock; from here on the test talks
    // only to the new one (the clients reach it where the old one was).
    let first_service = Arc::downgrade(&kit.running.service);
    let addr = kit.running.addr;
    let kit = kit.restart().await?;
    assert!(first_service.upgrade().is_none(), "the first service is gone, not running beside the new one");
    assert_eq!(kit.running.addr, addr);
    let pending = b.rosa.webhook_deliveries(rosa_hook.webhook.id, Some(WebhookDeliveryState::Pending)).await?;
    assert_eq!(pending.len(), 4, "the outbox survived the restart");
    assert!(pending
        .iter()
        .all(|d| d.attempts == 2 && d.next_attempt_at == kit.now() + 120 && d.last_status == Some(503)));

    // The receiver recovers; the next try, two minutes on, delivers each once.
    rosa_rx.set_failing(false);
    kit.advance(119);
    assert_eq!(dispatch(&kit.running.service).await?.delivered, 0);
    kit.advance(1);
    assert_eq!(dispatch(&kit.running.service).await?.delivered, 4);
    assert_eq!(dispatch(&kit.running.service).await?, DispatchReport::default(), "nothing more to send");
    let ids: Vec<u64> = rosa_events.iter().map(|e| e.id).collect();
    assert_eq!(rosa_rx.accepted(), ids, "every event once, in order");
    for r in rosa_rx.got().iter().chain(&parcelo_rx.got()) {
        assert!(r.signature_ok, "event {} had a bad signature", r.event_id);
    }
    let delivered: Vec<FeedEvent> = rosa_rx.got().into_iter().filter(|r| r.answered < 300).map(|r| r.body).collect();
    assert_eq!(delivered, rosa_events, "the body is the feed's event");
    let after = b.rosa.events(Some(rosa_hook.webhook.after_index.unwrap()), None).await?.events;
    assert_eq!(after, rosa_events, "the new server's feed is the one the webhooks sent");
    let states = b.rosa.webhook_deliveries(rosa_hook.webhook.id, None).await?;
    assert_eq!(states.len(), 4);
    assert!(states.iter().all(|d| d.state == WebhookDeliveryState::Delivered && d.attempts == 3));
    let parcelo_states = b.parcelo.webhook_deliveries(parcelo_hook.webhook.id, None).await?;
    assert_eq!(parcelo_states.len(), 2);
    assert!(parcelo_states.iter().all(|d| d.state == WebhookDeliveryState::Delivered && d.attempts == 1));
    assert_eq!(parcelo_rx.got().len(), 2, "delivered events are not sent again after the restart");

    // Otto, another manager, got nothing of Rosa's building; his own change reaches him.
    assert!(otto_rx.got().is_empty());
    let brooklyn = b
        .otto
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "9 Clinton St".into(),
            address: "9 Clinton St, Brooklyn, NY".into(),
            location: ELSEWHERE,
            time_zone: "America/New_York".into(),
        })
        .await?;
    dispatch(&kit.running.service).await?;
    let got = otto_rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.property_id, Some(brooklyn.id));
    assert_eq!(rosa_rx.got().len(), 12, "Rosa does not get Otto's change");

    // Someone else's webhook is not found, whatever is tried.
    let other = otto_hook.webhook.id;
    expect_error(b.rosa.get_webhook(other).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.update_webhook(other, &UpdateWebhook::default()).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.delete_webhook(other).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.webhook_deliveries(other, None).await, StatusCode::NOT_FOUND, "not_found");
    let ottos = b.otto.webhook_deliveries(other, None).await?;
    expect_error(b.rosa.resend_webhook_delivery(other, ottos[0].id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(
        b.rosa.resend_webhook_delivery(rosa_hook.webhook.id, ottos[0].id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(b.rosa.list_webhooks().await?.iter().map(|w| w.id).collect::<Vec<_>>(), vec![rosa_hook.webhook.id]);

    // Bad input.
    for url in ["ftp://example.com/x", "not a url", "http://", ""] {
        let req = CreateWebhook { url: url.into(), events: vec![] };
        expect_error(b.rosa.create_webhook(&req).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    let req = CreateWebhook { url: rosa_rx.url.clone(), events: vec!["everything".into()] };
    expect_error(b.rosa.create_webhook(&req).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert_eq!(b.rosa.list_webhooks().await?.len(), 1, "nothing was written");

    // Pausing stops new deliveries; deleting removes the webhook.
    let paused = b
        .rosa
        .update_webhook(rosa_hook.webhook.id, &UpdateWebhook { active: Some(false), ..Default::default() })
        .await?;
    assert!(!paused.active);
    b.rosa.create_unit(b.property.id, "5E").await?;
    assert_eq!(dispatch(&kit.running.service).await?.enqueued, 0);
    b.rosa.delete_webhook(rosa_hook.webhook.id).await?;
    expect_error(b.rosa.get_webhook(rosa_hook.webhook.id).await, StatusCode::NOT_FOUND, "not_found");
    Ok(kit)
}

pub async fn dead_letter_after_hours_of_retries_then_resend(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let rx = Receiver::start().await?;
    let hook =
        b.jun.client.create_webhook(&CreateWebhook { url: rx.url.clone(), events: vec!["blocked".into()] }).await?;
    rx.set_secret(&hook.secret);
    rx.set_failing(true);
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    let started = kit.now();
    let retries = kit.running.service.config().webhook_retry_s.clone();
    let mut tries = BTreeMap::new();
    for (n, delay) in retries.iter().enumerate() {
        let report = dispatch(&kit.running.service).await?;
        assert_eq!(report.retrying, 1, "try {}", n + 1);
        tries.insert(n + 1, kit.now());
        kit.advance(*delay);
    }
    let last = dispatch(&kit.running.service).await?;
    assert_eq!(last.dead, 1);
    assert!(kit.now() - started >= 15 * HOUR, "the tries are spread over hours");
    assert_eq!(rx.got().len(), retries.len() + 1);
    kit.advance(24 * HOUR);
    assert_eq!(dispatch(&kit.running.service).await?, DispatchReport::default(), "a dead delivery is not retried");

    let dead = b.jun.client.webhook_deliveries(hook.webhook.id, Some(WebhookDeliveryState::Dead)).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts as usize, retries.len() + 1);
    assert_eq!(dead[0].event_type, "blocked");
    rx.set_failing(false);
    let again = b.jun.client.resend_webhook_delivery(hook.webhook.id, dead[0].id).await?;
    assert_eq!((again.state, again.attempts), (WebhookDeliveryState::Pending, 0));
    assert_eq!(dispatch(&kit.running.service).await?.delivered, 1);
    assert_eq!(rx.accepted(), vec![dead[0].event_id]);
    assert!(rx.got().iter().all(|r| r.signature_ok));
    let done = b.jun.client.webhook_deliveries(hook.webhook.id, None).await?;
    assert_eq!(done[0].state, WebhookDeliveryState::Delivered);
    assert_eq!(done[0].delivered_at, Some(kit.now()));
    Ok(())
}
