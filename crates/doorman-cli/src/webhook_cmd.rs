//! Webhook HTTP for the service: the transport the dispatcher sends with,
//! and the background dispatcher `doorman serve` runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_server::webhooks::{WebhookRequest, WebhookTransport};
use doorman_server::Service;

/// How long a receiver has to answer.
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs webhook requests with reqwest (no redirects followed: a receiver
/// answers for its own URL).
#[derive(Debug, Clone)]
pub struct HttpWebhooks {
    http: reqwest::Client,
}

impl HttpWebhooks {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(RECEIVER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the webhook HTTP client")?;
        Ok(Self { http })
    }
}

#[async_trait::async_trait]
impl WebhookTransport for HttpWebhooks {
    async fn post(&self, request: WebhookRequest) -> Result<u16, String> {
        let mut req = self.http.post(&request.url).body(request.body);
        for (name, value) in request.headers {
            req = req.header(name, value);
        }
        let res = req.send().await.map_err(|e| format!("cannot reach the receiver: {e}"))?;
        Ok(res.status().as_u16())
    }
}

/// The least time between two dispatches woken by the log's growth.
pub const DISPATCH_SPACING: Duration = Duration::from_millis(250);

/// Fans out and sends webhooks every `interval`, and as soon as the log
/// grows (this process's appends or, on PostgreSQL, another's; at most
/// once per [`DISPATCH_SPACING`]), until aborted.
pub async fn dispatcher(service: Arc<Service>, interval: Duration) {
    let transport = match HttpWebhooks::new() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "no webhook client: webhooks are not sent");
            return;
        }
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // At most one dispatch per DISPATCH_SPACING however fast the log grows:
    // each dispatch moves the fan-out cursor in a write transaction, and a
    // busy service appends entries thousands of times a second.
    let mut pace = tokio::time::interval(DISPATCH_SPACING);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut grown = service.feed_signal();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = grown.changed() => {
                if changed.is_err() {
                    ticker.tick().await;
                }
            }
        }
        pace.tick().await;
        grown.borrow_and_update();
        match service.dispatch_webhooks(&transport).await {
            Ok(report) if report != Default::default() => tracing::debug!(?report, "webhooks dispatched"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "dispatching webhooks failed; retrying"),
        }
    }
}
