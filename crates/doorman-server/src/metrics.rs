//! What an operator watches, in the Prometheus text format (`GET /metrics`).
//!
//! Counters and the latency histogram live in this service's own recorder
//! (`metrics-exporter-prometheus`, never the process-wide one: two services
//! in one process, as in the tests, count apart); the gauges are read from
//! the store when someone scrapes, so they hold across processes:
//!
//! - `doorman_http_requests_total{method,route,status}`: every answer, by the
//!   route's template (`/v1/deliveries/{delivery_id}`), never the raw path;
//! - `doorman_access_requests_total{outcome}` (`granted`, `refused`, `error`)
//!   and `doorman_access_request_duration_seconds` (the service's work for
//!   one access request, recorded before it is answered);
//! - `doorman_access_refusals_total{reason}`: each recorded refusal;
//! - `doorman_log_entries` (committed), `doorman_log_checkpoint_size` (in the
//!   latest signed checkpoint) and `doorman_log_sequencer_lag_entries`;
//! - `doorman_outbox_depth{outbox}`: deliveries pending in an outbox
//!   (`webhook`; another outbox adds its own label in [`Service::gauges`]);
//! - `doorman_locks_in_service`, `doorman_locks_stale` (no contact for
//!   `lock_stale_after_s`), and `doorman_locks_connected` when the service
//!   runs the embedded broker (it alone sees the connections).

use std::sync::Arc;

use doorman_domain::{Principal, RefusalReason};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::{auth, Service, ServiceError, ServiceResult};

const HTTP_REQUESTS: &str = "doorman_http_requests_total";
const ACCESS_REQUESTS: &str = "doorman_access_requests_total";
const ACCESS_DURATION: &str = "doorman_access_request_duration_seconds";
const REFUSALS: &str = "doorman_access_refusals_total";

/// The access-request latency histogram's upper bounds, in seconds.
pub const ACCESS_DURATION_BUCKETS: &[f64] =
    &[0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Counts of connections, asked for at each scrape (the embedded broker's).
pub type ConnectionCount = Arc<dyn Fn() -> u64 + Send + Sync>;

/// This service's counters and histogram.
pub struct Metrics {
    recorder: PrometheusRecorder,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The gauges, as read at a scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    pub log_entries: u64,
    pub log_checkpoint_size: u64,
    pub webhook_outbox_depth: u64,
    pub locks_in_service: u64,
    pub locks_stale: u64,
    pub locks_connected: Option<u64>,
}

/// Measures a duration for the histogram: it decides nothing, so it may
/// read the monotonic clock that the rest of the service never reads.
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub(crate) fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        let recorder =
            match builder.set_buckets_for_metric(Matcher::Full(ACCESS_DURATION.into()), ACCESS_DURATION_BUCKETS) {
                Ok(b) => b.build_recorder(),
                // Only an empty bucket list is refused; ours is not.
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
        let metrics = Metrics { recorder };
        metrics.with(|| {
            metrics::describe_counter!(HTTP_REQUESTS, "HTTP answers by method, route template and status");
            metrics::describe_counter!(ACCESS_REQUESTS, "access requests by outcome (granted, refused, error)");
            metrics::describe_histogram!(
                ACCESS_DURATION,
                metrics::Unit::Seconds,
                "the service's time per access request"
            );
            metrics::describe_counter!(REFUSALS, "recorded access refusals by reason");
            metrics::describe_gauge!("doorman_log_entries", "entries committed to the transparency log");
            metrics::describe_gauge!("doorman_log_checkpoint_size", "entries covered by the latest signed checkpoint");
            metrics::describe_gauge!(
                "doorman_log_sequencer_lag_entries",
                "committed entries not yet in a signed checkpoint"
            );
            metrics::describe_gauge!("doorman_outbox_depth", "deliveries pending in an outbox");
            metrics::describe_gauge!("doorman_locks_in_service", "locks registered and not decommissioned");
            metrics::describe_gauge!("doorman_locks_stale", "locks in service not heard from for lock_stale_after_s");
            metrics::describe_gauge!("doorman_locks_connected", "locks connected to the embedded MQTT broker");
        });
        metrics
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// One HTTP answer; `route` is the matched route's template.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
        self.with(|| metrics::counter!(HTTP_REQUESTS, &labels).increment(1));
    }

    /// An access request answered: counted by outcome, timed, and a refusal
    /// by its reason.
    pub(crate) fn access_answered<T>(&self, result: &ServiceResult<T>, seconds: f64) {
        let outcome = match result {
            Ok(_) => "granted",
            Err(ServiceError::Refused { .. }) => "refused",
            Err(_) => "error",
        };
        self.with(|| {
            metrics::counter!(ACCESS_REQUESTS, "outcome" => outcome).increment(1);
            metrics::histogram!(ACCESS_DURATION).record(seconds);
            if let Err(ServiceError::Refused { reason, .. }) = result {
                self.refusal(*reason);
            }
        });
    }

    fn refusal(&self, reason: RefusalReason) {
        metrics::counter!(REFUSALS, "reason" => reason.as_str()).increment(1);
    }

    /// Folds the recorded latencies into the histogram's buckets, so memory
    /// stays flat between scrapes (the recorder keeps raw samples until it
    /// renders); `doorman serve` calls it every second.
    pub fn upkeep(&self) {
        drop(self.recorder.handle().render());
    }

    /// The text format, with `gauges` as read now.
    pub fn render(&self, gauges: &Gauges) -> String {
        let as_f64 = |v: u64| v as f64;
        self.with(|| {
            metrics::gauge!("doorman_log_entries").set(as_f64(gauges.log_entries));
            metrics::gauge!("doorman_log_checkpoint_size").set(as_f64(gauges.log_checkpoint_size));
            metrics::gauge!("doorman_log_sequencer_lag_entries")
                .set(as_f64(gauges.log_entries.saturating_sub(gauges.log_checkpoint_size)));
            metrics::gauge!("doorman_outbox_depth", "outbox" => "webhook").set(as_f64(gauges.webhook_outbox_depth));
            metrics::gauge!("doorman_locks_in_service").set(as_f64(gauges.locks_in_service));
            metrics::gauge!("doorman_locks_stale").set(as_f64(gauges.locks_stale));
            if let Some(connected) = gauges.locks_connected {
                metrics::gauge!("doorman_locks_connected").set(as_f64(connected));
            }
        });
        self.recorder.handle().render()
    }
}

impl Service {
    /// This service's counters (the HTTP layer counts its answers here).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Lets `/metrics` report the embedded broker's connected locks.
    pub fn attach_connection_count(&self, count: ConnectionCount) {
        let _ = self.connections.set(count);
    }

    /// The gauges as the store has them now.
    pub async fn gauges(&self) -> ServiceResult<Gauges> {
        let log = self.store.log_state().await?;
        // An email outbox adds its depth here, beside the webhooks'.
        let webhook_outbox_depth = self.store.webhook_outbox_depth().await?;
        let fleet = self.store.lock_fleet_counts(self.now().saturating_sub(self.config.lock_stale_after_s)).await?;
        Ok(Gauges {
            log_entries: log.appended,
            log_checkpoint_size: log.integrated,
            webhook_outbox_depth,
            locks_in_service: fleet.in_service,
            locks_stale: fleet.stale,
            locks_connected: self.connections.get().map(|count| count()),
        })
    }

    /// `/metrics` for the operator's token, or the metrics token
    /// (`metrics_token`) a scraper is given instead; anyone else is refused
    /// as any API call would be (401, counted by the limiter; 403 for other
    /// principals).
    pub async fn metrics_text(&self, token: Option<&str>, client: std::net::IpAddr) -> ServiceResult<String> {
        let scraper = match (token, &self.config.metrics_token_hash) {
            (Some(t), Some(hash)) => auth::hash_secret(t) == *hash,
            _ => false,
        };
        if !scraper {
            match self.authenticate(token, client).await? {
                Principal::Operator => {}
                _ => return Err(ServiceError::Forbidden("only the operator (or the metrics token) reads /metrics")),
            }
        }
        Ok(self.metrics.render(&self.gauges().await?))
    }
}
