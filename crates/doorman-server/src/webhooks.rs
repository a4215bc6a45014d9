//! Webhooks: each principal's subscriptions, the outbox filled from the
//! transparency log, and the dispatcher that signs, sends and retries.
//!
//! - **Fan-out** ([`Service::dispatch_webhooks`], first step): reads the log
//!   after the fan-out cursor, and for each entry and each active
//!   subscription whose owner may see it (the same `Viewer::may_see` as the
//!   feed) and whose filter wants it, makes one outbox row; the rows and the
//!   cursor move are one transaction (`NotifyStore::enqueue_webhooks`), so a
//!   crash loses nothing and repeats nothing.
//! - **Sending**: a due row is leased (compare-and-set of its due time), POSTed
//!   with `Doorman-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret,
//!   "<t>.<body>")>`, and marked delivered on a 2xx. Otherwise it is retried
//!   after `webhook_retry_s` (30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h by
//!   default: the last try some 16 hours after the first), then dead. A dead
//!   (or delivered) row can be sent again from the API. Delivery is at least
//!   once: a receiver dedups on the event id (`Doorman-Event-Id`, the body's
//!   `id`).
//! - Time comes from the injected clock; the HTTP is the caller's
//!   ([`WebhookTransport`]).

use std::collections::HashMap;

use async_trait::async_trait;
use doorman_api::{CreateWebhook, FeedEvent, UpdateWebhook, WebhookCreated, WebhookDeliveriesQuery};
use doorman_domain::{
    serde_b64, Event, Principal, Viewer, WebhookDelivery, WebhookDeliveryId, WebhookDeliveryState, WebhookId,
    WebhookSubscription, EVENT_TYPES,
};
use doorman_store::{AttemptResult, EntryFilter, NewDelivery, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{auth, Service, ServiceError, ServiceResult};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Doorman-Signature";
/// Log entries one fan-out step reads.
const FAN_OUT_BATCH: u32 = 500;
/// Deliveries one dispatch attempts.
const SEND_BATCH: u32 = 100;
/// How long a taken delivery is kept from other dispatchers (and, after a
/// crash between the POST and its record, how long until it is sent again).
pub const DEFAULT_LEASE_S: i64 = 120;
/// The default wait before each retry, in seconds.
pub const DEFAULT_RETRY_S: [i64; 8] = [30, 120, 600, 1800, 3600, 7200, 14_400, 28_800];
/// Most webhooks per principal.
const MAX_WEBHOOKS: usize = 20;
/// Most deliveries a list returns.
const MAX_DELIVERY_PAGE: u32 = 500;

/// One POST to a receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Sends webhook requests (HTTP lives outside this crate). Returns the
/// receiver's HTTP status, or why there was none.
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(&self, request: WebhookRequest) -> Result<u16, String>;
}

/// What one dispatch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Outbox rows made by the fan-out.
    pub enqueued: usize,
    pub delivered: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Failed last attempts.
    pub dead: usize,
}

/// `t=<at>,v1=<hex HMAC-SHA256(secret, "<at>.<body>")>`.
pub fn signature(secret: &str, at: i64, body: &[u8]) -> String {
    format!("t={at},v1={}", hex::encode(signature_bytes(secret, at, body)))
}

fn signature_bytes(secret: &str, at: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return Vec::new() };
    mac.update(at.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a `Doorman-Signature` header as a receiver would: the MAC matches
/// (in constant time) and the timestamp is within `tolerance_s` of `now`.
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: i64, tolerance_s: i64) -> bool {
    let mut at = None;
    let mut macs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => at = v.parse::<i64>().ok(),
            Some(("v1", v)) => macs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(at) = at else { return false };
    if (now - at).abs() > tolerance_s {
        return false;
    }
    macs.iter().any(|mac| {
        let Ok(mut check) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        check.update(at.to_string().as_bytes());
        check.update(b".");
        check.update(body);
        check.verify_slice(mac).is_ok()
    })
}

fn check_url(url: &str, private_allowed: bool) -> ServiceResult<String> {
    let url = url.trim();
    let bad = || ServiceError::invalid("url must be an http:// or https:// URL of at most 2000 characters");
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    // Parsed by the parser the HTTP client uses, so the host checked is the
    // host called: percent-encoding, case, backslashes and the numeric
    // spellings of IPv4 (2130706433, 0x7f.1, 0177.0.0.1) are resolved here
    // exactly as they will be when the webhook is delivered.
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad());
    }
    let private = match parsed.host() {
        None => return Err(bad()),
        Some(url::Host::Ipv4(ip)) => is_private_ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_private_ip(ip.into()),
        Some(url::Host::Domain(name)) => is_private_name(name),
    };
    if !private_allowed && private {
        return Err(ServiceError::invalid(
            "url names a loopback or private address; the operator may allow it (DOORMAN_WEBHOOK_PRIVATE_TARGETS)",
        ));
    }
    Ok(url.to_string())
}

/// Names for this machine or a private network, as written in a URL (names
/// that merely resolve to private addresses are not caught here). A trailing
/// dot (the fully qualified spelling) names the same host.
fn is_private_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    lower.is_empty()
        || lower == "localhost"
        || lower.ends_with(".localhost")
        || lower.ends_with(".local")
        || lower.ends_with(".internal")
        || lower.ends_with(".home.arpa")
        || lower.parse::<std::net::IpAddr>().is_ok_and(is_private_ip)
}

/// Loopback, private, link-local and other non-public addresses.
fn is_private_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(ip) => {
            let first = ip.segments().first().copied().unwrap_or_default();
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| is_private_ip(v4.into()))
                || ip.to_ipv4().is_some_and(|v4| ip.segments()[..6] == [0; 6] && is_private_ip(v4.into()))
        }
    }
}

fn check_events(events: Vec<String>) -> ServiceResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(ServiceError::invalid(format!("events: unknown event type {e:?}")));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

impl Service {
    /// A webhook for the caller's own events; its secret is shown this once.
    pub async fn create_webhook(&self, p: &Principal, req: CreateWebhook) -> ServiceResult<WebhookCreated> {
        let url = check_url(&req.url, self.config.webhook_private_targets)?;
        let events = check_events(req.events)?;
        if self.store.list_webhooks(p).await?.len() >= MAX_WEBHOOKS {
            return Err(ServiceError::Conflict(format!("at most {MAX_WEBHOOKS} webhooks per account")));
        }
        let secret = format!("whsec_{}", serde_b64::encode(&auth::random_bytes::<32>()?));
        let webhook = WebhookSubscription {
            id: WebhookId::random(),
            owner: *p,
            url,
            events,
            active: true,
            created_at: self.now(),
            after_index: self.feed_head().await?,
        };
        self.store.insert_webhook(&webhook, &secret).await?;
        Ok(WebhookCreated { webhook, secret })
    }

    pub async fn list_webhooks(&self, p: &Principal) -> ServiceResult<Vec<WebhookSubscription>> {
        Ok(self.store.list_webhooks(p).await?)
    }

    /// The caller's webhook; anyone else's is not found.
    pub async fn get_webhook(&self, p: &Principal, id: WebhookId) -> ServiceResult<WebhookSubscription> {
        match self.store.get_webhook(id).await? {
            Some(w) if w.owner == *p => Ok(w),
            _ => Err(ServiceError::NotFound("webhook")),
        }
    }

    pub async fn update_webhook(
        &self,
        p: &Principal,
        id: WebhookId,
        req: UpdateWebhook,
    ) -> ServiceResult<WebhookSubscription> {
        let mut w = self.get_webhook(p, id).await?;
        if let Some(url) = req.url {
            w.url = check_url(&url, self.config.webhook_private_targets)?;
        }
        if let Some(events) = req.events {
            w.events = check_events(events)?;
        }
        if let Some(active) = req.active {
            w.active = active;
        }
        self.store.update_webhook(&w).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("webhook"),
            other => other.into(),
        })?;
        Ok(w)
    }

    pub async fn delete_webhook(&self, p: &Principal, id: WebhookId) -> ServiceResult<()> {
        self.get_webhook(p, id).await?;
        self.store.delete_webhook(id).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("webhook"),
            other => other.into(),
        })
    }

    pub async fn webhook_deliveries(
        &self,
        p: &Principal,
        id: WebhookId,
        query: WebhookDeliveriesQuery,
    ) -> ServiceResult<Vec<WebhookDelivery>> {
        self.get_webhook(p, id).await?;
        let limit = query.limit.unwrap_or(MAX_DELIVERY_PAGE).clamp(1, MAX_DELIVERY_PAGE);
        Ok(self.store.list_webhook_deliveries(id, query.state, limit).await?)
    }

    /// Sends a delivery again (dead or not): pending, due now, its attempts
    /// counted afresh.
    pub async fn resend_webhook_delivery(
        &self,
        p: &Principal,
        id: WebhookId,
        delivery: WebhookDeliveryId,
    ) -> ServiceResult<WebhookDelivery> {
        self.get_webhook(p, id).await?;
        match self.store.get_webhook_delivery(delivery).await? {
            Some(d) if d.subscription_id == id => {}
            _ => return Err(ServiceError::NotFound("webhook delivery")),
        }
        Ok(self.store.resend_webhook_delivery(delivery, self.now()).await?)
    }

    /// The wait before retry number `attempts` (after that many failures),
    /// or None when that was the last try.
    fn retry_delay(&self, attempts: u32) -> Option<i64> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.config.webhook_retry_s.get(index).copied()
    }

    /// Fans new log entries out to the outbox, then sends what is due now.
    pub async fn dispatch_webhooks(&self, transport: &dyn WebhookTransport) -> ServiceResult<DispatchReport> {
        let mut report = DispatchReport::default();
        // Step by step up to the head each step reads; a step that reached
        // it ends the loop (entries appended meanwhile wait for the next
        // dispatch, a second later): under a steady stream of entries the
        // loop would otherwise never end, one write transaction per lap.
        while let Some(step) = self.fan_out().await? {
            report.enqueued += step.made;
            if !step.more {
                break;
            }
        }
        let now = self.now();
        for due in self.store.due_webhook_deliveries(now, SEND_BATCH).await? {
            let d = &due.delivery;
            if !self.store.claim_webhook_delivery(d.id, d.next_attempt_at, now + self.config.webhook_lease_s).await? {
                continue; // another dispatcher took it
            }
            let at = self.now();
            let body = due.body.into_bytes();
            let request = WebhookRequest {
                url: due.url,
                headers: vec![
                    ("Content-Type", "application/json".into()),
                    (SIGNATURE_HEADER, signature(&due.secret, at, &body)),
                    ("Doorman-Event-Id", d.event_id.to_string()),
                    ("Doorman-Event-Type", d.event_type.clone()),
                    ("Doorman-Delivery-Id", d.id.to_string()),
                ],
                body,
            };
            let (status, error) = match transport.post(request).await {
                Ok(status) if (200..300).contains(&status) => (Some(status), None),
                Ok(status) => (Some(status), Some(format!("the receiver answered {status}"))),
                Err(e) => (None, Some(e.chars().take(500).collect())),
            };
            let attempts = d.attempts.saturating_add(1);
            let (state, next) = match (&error, self.retry_delay(attempts)) {
                (None, _) => (WebhookDeliveryState::Delivered, at),
                (Some(_), Some(delay)) => (WebhookDeliveryState::Pending, at + delay),
                (Some(_), None) => (WebhookDeliveryState::Dead, at),
            };
            match state {
                WebhookDeliveryState::Delivered => report.delivered += 1,
                WebhookDeliveryState::Pending => report.retrying += 1,
                WebhookDeliveryState::Dead => {
                    tracing::warn!(delivery = %d.id, event = d.event_id, "webhook delivery dead after {attempts} tries");
                    report.dead += 1;
                }
            }
            let result = AttemptResult { at, status, error, state, next_attempt_at: next };
            self.store.finish_webhook_attempt(d.id, &result).await?;
        }
        Ok(report)
    }

    /// One fan-out step: the outbox rows of the next batch of log entries.
    /// None when the cursor is at the log's head (or another dispatcher
    /// moved it meanwhile: it did the work).
    async fn fan_out(&self) -> ServiceResult<Option<FanOutStep>> {
        let from = self.store.webhook_cursor().await?;
        let head = self.store.log_state().await?.appended;
        if head <= from {
            return Ok(None);
        }
        let subscriptions = self.store.active_webhooks().await?;
        if subscriptions.is_empty() {
            // Nobody to send to: skip ahead. A webhook made meanwhile starts
            // after the head it saw, which is at least `head - 1`.
            let skipped = self.store.enqueue_webhooks(from, head, &[]).await?;
            return Ok(skipped.then_some(FanOutStep { made: 0, more: false }));
        }
        let everything = EntryFilter { everything: true, ..Default::default() };
        let rows = self.store.log_entries(&everything, from..head, FAN_OUT_BATCH).await?;
        let Some(to) = rows.last().map(|row| row.index + 1) else { return Ok(None) };
        let more = rows.len() >= FAN_OUT_BATCH as usize;
        let mut viewers: HashMap<WebhookId, Viewer> = HashMap::new();
        for s in &subscriptions {
            viewers.insert(s.id, self.viewer(&s.owner).await?);
        }
        let now = self.now();
        let mut deliveries = Vec::new();
        for row in rows {
            let event = match Event::from_bytes(&row.bytes) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(index = row.index, error = %e, "a log entry does not decode; no webhook");
                    continue;
                }
            };
            for s in &subscriptions {
                let fresh = s.after_index.is_none_or(|after| row.index > after);
                let visible = viewers.get(&s.id).is_some_and(|v| v.may_see(&event));
                if !(fresh && visible && s.wants(&event.kind)) {
                    continue;
                }
                let feed = FeedEvent::of(row.index, event.clone());
                let body = serde_json::to_string(&feed).map_err(|e| ServiceError::Internal(e.to_string()))?;
                deliveries.push(NewDelivery {
                    delivery: WebhookDelivery {
                        id: WebhookDeliveryId::random(),
                        subscription_id: s.id,
                        event_id: row.index,
                        event_type: event.kind.name().into(),
                        state: WebhookDeliveryState::Pending,
                        attempts: 0,
                        next_attempt_at: now,
                        last_attempt_at: None,
                        last_status: None,
                        last_error: None,
                        delivered_at: None,
                        created_at: now,
                    },
                    body,
                });
            }
        }
        if self.store.enqueue_webhooks(from, to, &deliveries).await? {
            Ok(Some(FanOutStep { made: deliveries.len(), more }))
        } else {
            Ok(None)
        }
    }
}

/// What one fan-out step did: the outbox rows it made, and whether entries
/// below the head it read are still waiting (it stopped at its batch's end).
pub(crate) struct FanOutStep {
    pub(crate) made: usize,
    pub(crate) more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let body = br#"{"id":7}"#;
        let header = signature("whsec_abc", 1_800_000_000, body);
        assert!(header.starts_with("t=1800000000,v1="));
        assert!(verify_signature("whsec_abc", &header, body, 1_800_000_100, 300));
        assert!(!verify_signature("whsec_abd", &header, body, 1_800_000_100, 300));
        assert!(!verify_signature("whsec_abc", &header, br#"{"id":8}"#, 1_800_000_100, 300));
        assert!(!verify_signature("whsec_abc", &header, body, 1_800_001_000, 300), "too old: a replay");
        let moved = header.replace("t=1800000000", "t=1800000900");
        assert!(!verify_signature("whsec_abc", &moved, body, 1_800_000_900, 300), "the time is signed");
        assert!(!verify_signature("whsec_abc", "v1=00", body, 1_800_000_000, 300));
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for url in [
            "http://localhost/x",
            "http://127.0.0.1:8080/x",
            "https://10.1.2.3/",
            "http://192.168.0.9",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9000/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://user@127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://100.64.0.1/",
            // Other spellings of the same hosts (issue 17).
            "http://localhost./x",
            "http://LOCALHOST/",
            "http://LocalHost.:8080/",
            "http://api.localhost./",
            "http://%6c%6fcalhost/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
            "http://127.0.0.1./",
            "http://127.0.0.1\\@hooks.example.com/",
            "http://[::127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        for url in [
            "https://hooks.example.com/doorman",
            "https://hooks.example.com./doorman",
            "http://93.184.216.34:8080/x",
            "https://[2001:db8::1]/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        for url in ["ftp://hooks.example.com/", "http://", "hooks.example.com", "file:///etc/passwd"] {
            assert!(check_url(url, true).is_err(), "{url}");
        }
    }

    #[test]
    fn every_event_type_is_named() {
        use doorman_domain::{EventKind, UnitId};
        let _ = UnitId::random();
        assert!(EVENT_TYPES.contains(&EventKind::Unblocked.name()));
        assert!(EVENT_TYPES.contains(&EventKind::DeliveryCancelled.name()));
        let mut sorted = EVENT_TYPES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), EVENT_TYPES.len());
    }
}
