//! `/metrics`: the Prometheus text format, read by an independent parser
//! (prometheus-parse), whose counters agree with what the test did, for the
//! operator's token and the metrics token only.

use doorman_client::metrics_text::Samples;
use doorman_domain::RefusalReason as R;
use doorman_server::ServiceConfig;
use reqwest::StatusCode;

use crate::fixture::{Building, ELSEWHERE};
use crate::kit::{expect_error, Kit};

/// The metrics token the scenario's service is configured with.
const SCRAPER_TOKEN: &str = "scraper-token-0123456789";

pub fn with_metrics_token() -> ServiceConfig {
    ServiceConfig {
        metrics_token_hash: Some(doorman_server::auth::hash_secret(SCRAPER_TOKEN)),
        ..crate::kit::default_config()
    }
}

/// Set (as `.ci/run` does) to fail, not skip, the check with the
/// Prometheus project's own parser when Python's `prometheus_client` is missing.
pub const PARSER_ENV: &str = "DOORMAN_TEST_PROMETHEUS_PARSER";

/// A scrape read by the client's reader, and checked against the
/// Prometheus project's own parser (`scripts/parse_metrics.py`, Python's
/// `prometheus_client`) when it is installed: the same samples, or the
/// text is not what it claims to be.
pub struct Scrape(pub Samples);

impl Scrape {
    pub fn parse(text: &str) -> anyhow::Result<Scrape> {
        let ours = Samples::parse(text).map_err(|e| anyhow::anyhow!("{e}\n{text}"))?;
        match reference_samples(text)? {
            Some(theirs) => {
                assert_eq!(theirs.len(), ours.0.len(), "sample count: the reference parser read\n{theirs:#?}");
                for (name, labels, value) in &theirs {
                    let found = ours.0.iter().any(|s| {
                        &s.name == name
                            // serde_json reads floats to within an ulp, not exactly
                            && (s.value == *value || (s.value - value).abs() <= value.abs() * 1e-12)
                            && s.labels.len() == labels.len()
                            && s.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                    });
                    let ours: Vec<_> = ours.0.iter().filter(|s| &s.name == name).collect();
                    assert!(found, "the reference parser read {name} {labels:?} {value}, the client {ours:?}");
                }
            }
            None => eprintln!(
                "prometheus_client (Python) is not installed: the text is checked by the client's reader only"
            ),
        }
        Ok(Scrape(ours))
    }

    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0.value(name, labels)
    }
}

type ReferenceSample = (String, std::collections::BTreeMap<String, String>, f64);

/// The samples as Python's `prometheus_client` parses them; None when it is
/// not installed (and [`PARSER_ENV`] is not set).
fn reference_samples(text: &str) -> anyhow::Result<Option<Vec<ReferenceSample>>> {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/parse_metrics.py");
    let available = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        anyhow::ensure!(std::env::var_os(PARSER_ENV).is_none(), "{PARSER_ENV} is set but prometheus_client is missing");
        return Ok(None);
    }
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?.write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8(out.stdout)?;
    Ok(Some(lines.lines().map(serde_json::from_str).collect::<Result<_, _>>()?))
}

/// The histogram's count of observations.
fn histogram_count(m: &Scrape, name: &str) -> f64 {
    m.value(&format!("{name}_count"), &[])
}

pub async fn metrics_count_what_happened_in_the_text_format(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;
    b.parcel(kit, "PCL-1002", b.unit_2b.id).await?;
    kit.running.service.sequence_now().await?;
    let before = Scrape::parse(&kit.operator.metrics().await?)?;
    assert_eq!(before.value("doorman_access_requests_total", &[]), 0.0);
    assert_eq!(before.value("doorman_locks_in_service", &[]), 4.0, "the building's four locks");

    // One grant, three refusals of two kinds, one request for an unknown property.
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1001")).await).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-0000")).await, R::ParcelUnknown).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-0001")).await, R::ParcelUnknown).await?;
    let mut far = b.ask("PCL-1002");
    far.position = ELSEWHERE;
    b.expect_refused(b.dana.client.request_access(&far).await, R::DriverNotAtProperty).await?;
    let mut nowhere = b.ask("PCL-1002");
    nowhere.property_id = doorman_domain::PropertyId::random();
    expect_error(b.dana.client.request_access(&nowhere).await, StatusCode::NOT_FOUND, "not_found");

    let text = kit.operator.metrics().await?;
    let m = Scrape::parse(&text)?;
    assert_eq!(m.value("doorman_access_requests_total", &[("outcome", "granted")]), 1.0);
    assert_eq!(m.value("doorman_access_requests_total", &[("outcome", "refused")]), 3.0);
    assert_eq!(m.value("doorman_access_requests_total", &[("outcome", "error")]), 1.0);
    assert_eq!(m.value("doorman_access_refusals_total", &[("reason", "parcel_unknown")]), 2.0);
    assert_eq!(m.value("doorman_access_refusals_total", &[("reason", "driver_not_at_property")]), 1.0);
    assert_eq!(m.value("doorman_access_refusals_total", &[]), 3.0);
    assert_eq!(histogram_count(&m, "doorman_access_request_duration_seconds"), 5.0);
    // Requests by the route's template and status, never the raw path.
    let route = "/v1/access-requests";
    assert_eq!(m.value("doorman_http_requests_total", &[("route", route), ("status", "201")]), 1.0);
    assert_eq!(m.value("doorman_http_requests_total", &[("route", route), ("status", "403")]), 3.0);
    assert_eq!(m.value("doorman_http_requests_total", &[("route", route), ("status", "404")]), 1.0);
    assert!(
        m.value("doorman_http_requests_total", &[("route", "/v1/properties/{property_id}/access-requests")]) >= 4.0
    );
    assert!(!text.contains(&b.property.id.to_string()), "no raw path (no id) in a label");
    assert_eq!(m.value("doorman_http_requests_total", &[("route", "/metrics"), ("status", "200")]), 1.0);

    // The log: entries committed, the checkpoint, and the lag between them.
    let committed = m.value("doorman_log_entries", &[]);
    assert!(committed > before.value("doorman_log_entries", &[]));
    assert_eq!(
        m.value("doorman_log_sequencer_lag_entries", &[]),
        committed - m.value("doorman_log_checkpoint_size", &[])
    );
    assert!(m.value("doorman_log_sequencer_lag_entries", &[]) > 0.0, "nothing sequenced since the grant");
    let checkpoint = kit.running.service.sequence_now().await?.map(|c| c.size).unwrap_or_default();
    let m = Scrape::parse(&kit.operator.metrics().await?)?;
    assert_eq!(m.value("doorman_log_checkpoint_size", &[]), checkpoint as f64);
    assert_eq!(m.value("doorman_log_entries", &[]), checkpoint as f64);
    assert_eq!(m.value("doorman_log_sequencer_lag_entries", &[]), 0.0);
    // No lock ever connected: all four are stale; no webhook is pending.
    assert_eq!(m.value("doorman_locks_stale", &[]), 4.0);
    assert_eq!(m.value("doorman_outbox_depth", &[("outbox", "webhook")]), 0.0);

    // Who may read it: the operator and the scraper's token; a manager is
    // forbidden, no token or a wrong one unauthenticated.
    let scraper = kit.anon.with_token(SCRAPER_TOKEN);
    Scrape::parse(&scraper.metrics().await?)?;
    expect_error(b.rosa.metrics().await, StatusCode::FORBIDDEN, "forbidden");
    expect_error(kit.anon.metrics().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(
        kit.anon.with_token("scraper-token-wrong").metrics().await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    Ok(())
}
