//! doorman-fleet's integration tests: real brokers on free ports, one test binary.
//!
//! The embedded broker always; a second Mosquitto (started from the project's
//! generated configuration) and the broker `DOORMAN_TEST_MQTT_URL` names when that
//! variable is set; otherwise those tests print "skipped" and pass.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod kit;
mod scenarios;

use kit::Env;
use scenarios::Strictness;

#[tokio::test]
async fn embedded_isolation() {
    scenarios::isolation(&Env::embedded().await, Strictness::FailureCode).await;
}

#[tokio::test]
async fn embedded_round_trip() {
    scenarios::round_trip(&Env::embedded().await).await;
}

#[tokio::test]
async fn embedded_session_takeover() {
    scenarios::session_takeover(&Env::embedded().await).await;
}

#[tokio::test]
async fn mosquitto_session_takeover() {
    if let Some(env) = Env::mosquitto("mosquitto_session_takeover").await {
        scenarios::session_takeover(&env).await;
    }
}

#[tokio::test]
async fn mosquitto_isolation() {
    if let Some(env) = Env::mosquitto("mosquitto_isolation").await {
        scenarios::isolation(&env, Strictness::NoDelivery).await;
    }
}

#[tokio::test]
async fn mosquitto_round_trip() {
    if let Some(env) = Env::mosquitto("mosquitto_round_trip").await {
        scenarios::round_trip(&env).await;
    }
}

#[tokio::test]
async fn external_broker_round_trip() {
    if let Some(env) = Env::external("external_broker_round_trip").await {
        scenarios::round_trip(&env).await;
        scenarios::clear_retained(&env).await;
    }
}
