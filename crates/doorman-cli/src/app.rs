//! Booting the service: open the store, load the keys, bind, then serve.
//! Binding happens before serving, so callers (tests, the demo) get a real
//! address that already accepts connections.
//!
//! Before it serves, the service brings its transparency log up to date
//! (every entry committed before this start is in a signed checkpoint), and
//! while it serves a background task does so again every `log_interval`
//! and sends each new checkpoint to the configured witnesses. Of several
//! processes on one PostgreSQL, only the one holding the sequencer seat
//! does so in the background; the others ask for the seat on the same
//! period and take it over within one period of its holder's death.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_domain::Clock;
use doorman_server::{KeyCustody, KeyFile, Service, ServiceConfig};
use doorman_store::{SequencerSeat, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Config, FleetBroker, FleetSettings};
use doorman_fleet::{
    BrokerConfig, EmbeddedBroker, FleetBridge, MqttCredentials, MqttEndpoint, SessionOptions, StaticAccounts,
    TopicScheme,
};
use doorman_server::fleet::{FleetIntake, MosquittoTarget};
use rand_core::OsRng;

/// A service answering on `addr` until [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    /// Present only on the very first start of this database.
    pub operator_token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<std::io::Result<()>>,
    /// The background sequencer, if any.
    log_task: Option<JoinHandle<()>>,
    /// This process's seat in the choice of the log's sequencer.
    seat: Arc<tokio::sync::Mutex<SequencerSeat>>,
    /// Wakes this process's feed when other processes append.
    relay_task: JoinHandle<()>,
    /// The lock fleet's MQTT channel, once started ([`start_fleet`]).
    pub fleet: Option<FleetRunning>,
    /// The background webhook dispatcher, if any (with the sequencer).
    webhook_task: Option<JoinHandle<()>>,
    /// The background mail dispatcher, once email is on ([`start_mail`]).
    mail_task: Option<JoinHandle<()>>,
}

/// How often `doorman serve` fans out and sends mail.
const MAIL_INTERVAL: Duration = Duration::from_secs(1);

/// Turns email on for a running service: the SMTP transport is attached
/// (links in mail start with `public_url`, else the address it listens on)
/// and the mail dispatcher runs in the background until the service stops.
pub fn start_mail(
    running: &mut Running,
    smtp: &crate::mail_cmd::SmtpSettings,
    public_url: Option<&str>,
) -> anyhow::Result<()> {
    let transport = crate::mail_cmd::SmtpMail::new(smtp)?;
    let link_base = public_url.map(str::to_string).unwrap_or_else(|| running.url());
    running.service.attach_mailer(Arc::new(transport), &link_base);
    running.mail_task = Some(tokio::spawn(crate::mail_cmd::dispatcher(running.service.clone(), MAIL_INTERVAL)));
    Ok(())
}

/// The lock fleet's channel: the embedded broker (if any) and the service's
/// session; dropping it stops both.
#[derive(Debug)]
pub struct FleetRunning {
    /// Where the service connects (for the embedded broker, its address).
    pub broker_url: String,
    /// What registered locks are told.
    pub lock_url: String,
    pub bridge: FleetBridge,
    pub broker: Option<EmbeddedBroker>,
}

/// The shared subscription the service processes on one external broker
/// join.
pub const SHARED_GROUP: &str = "doorman";

/// Starts the fleet channel the settings name and attaches it to the
/// service: the embedded broker (lock accounts from the store) or a session
/// with an external broker (and, for Mosquitto, its files kept up to date).
pub async fn start_fleet(service: &Arc<Service>, settings: &FleetSettings) -> anyhow::Result<Option<FleetRunning>> {
    let scheme = TopicScheme::default();
    let (broker, broker_url, credentials) = match &settings.broker {
        FleetBroker::Off => return Ok(None),
        FleetBroker::Embedded { listen } => {
            let services = StaticAccounts::new();
            let account = MqttCredentials::generate("doorman-service", &mut OsRng);
            services.add_service(&account.username, account.hash(&mut OsRng))?;
            let accounts = service.broker_accounts(services);
            let config = BrokerConfig { listen: *listen, scheme: scheme.clone(), ..BrokerConfig::default() };
            let broker = EmbeddedBroker::start(config, Arc::new(accounts), &mut OsRng)
                .await
                .with_context(|| format!("starting the embedded MQTT broker on {listen}"))?;
            let url = broker.url();
            service.attach_connection_count(Arc::new(broker.connected_locks()));
            (Some(broker), url, account)
        }
        FleetBroker::External { url } => {
            let (endpoint, account) = MqttEndpoint::parse(url)?;
            let account = account.context("DOORMAN_MQTT_URL must carry the service's account")?;
            if let Some(dir) = &settings.mosquitto_dir {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let target = MosquittoTarget {
                    dir: dir.clone(),
                    service_username: account.username.clone(),
                    service_password_hash: account.hash(&mut OsRng),
                    scheme: scheme.clone(),
                };
                service.attach_mosquitto(target).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            (None, endpoint.to_string(), account)
        }
    };
    let lock_url = settings.public_url.clone().unwrap_or_else(|| broker_url.clone());
    let (endpoint, _) = MqttEndpoint::parse(&broker_url)?;
    let mut session = SessionOptions::new(endpoint, credentials);
    session.backoff_min = Duration::from_millis(50);
    session.backoff_max = Duration::from_secs(5);
    // On an external broker, as one member of the shared subscription
    // every process joins: each lock message is handled by one process.
    let group = matches!(settings.broker, FleetBroker::External { .. }).then_some(SHARED_GROUP);
    let bridge = FleetBridge::start_in(session, scheme, group, Arc::new(FleetIntake(service.clone())));
    service.attach_fleet(bridge.handle(), lock_url.clone());
    Ok(Some(FleetRunning { broker_url, lock_url, bridge, broker }))
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, signs a last
    /// checkpoint over everything written, and returns.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        drop(self.fleet.take());
        let served = self.join.await.context("server task")?.context("server");
        if let Some(task) = self.webhook_task.take() {
            task.abort();
        }
        if let Some(task) = self.mail_task.take() {
            task.abort();
        }
        self.relay_task.abort();
        if let Some(task) = self.log_task.take() {
            task.abort();
            // The sequencer signs a last checkpoint; the others leave it to
            // the process that takes the seat over.
            if self.seat.lock().await.is_held() {
                if let Err(e) = self.service.sequence_now().await {
                    tracing::warn!(error = %e, "the last checkpoint could not be signed");
                }
            }
        }
        served
    }

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn wait(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

pub async fn open_service(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Service>> {
    if config.database.starts_with("sqlite:") || !config.database.contains("://") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    }
    let store = doorman_store::open(&config.database).await.context("opening the database")?;
    let custody = KeyCustody::new(config.key_file.clone(), config.key_encryption.clone());
    let keys = custody.load_or_create(clock.now()).and_then(|f| f.ring()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = Arc::new(Service::new(store, clock, keys, config.service.clone()));
    service.attach_key_custody(custody);
    service
        .attach_log_memory(config.data_dir.join(doorman_server::log_guard::LOG_CHECKPOINT_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("reading the last signed checkpoint")?;
    let clips = doorman_server::clips::open_clip_store(&config.clip_store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("opening the clip store")?;
    service.attach_clip_store(clips);
    Ok(service)
}

/// A service over `store` with the given keys; for tests and the demo.
pub fn service_with(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: &KeyFile,
    config: ServiceConfig,
) -> anyhow::Result<Arc<Service>> {
    let ring = keys.ring().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(Service::new(store, clock, ring, config)))
}

/// Binds `listen`, bootstraps the operator token on first start, and serves
/// in the background.
pub async fn start(service: Arc<Service>, listen: SocketAddr) -> anyhow::Result<Running> {
    start_with(service, listen, Some(DEFAULT_LOG_INTERVAL)).await
}

/// How often `doorman serve` sequences its log unless configured.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_millis(250);

/// How often `doorman serve` fans out and sends webhooks.
const WEBHOOK_INTERVAL: Duration = Duration::from_secs(1);

/// How often a witness that did not cosign is asked again for the same
/// checkpoint.
const WITNESS_RETRY: Duration = Duration::from_secs(10);

/// [`start`], with the background sequencer's period (None: no background
/// tasks; the caller runs `Service::sequence_now`,
/// `Service::publish_checkpoint` and `Service::dispatch_webhooks` itself, as
/// the tests do).
pub async fn start_with(
    service: Arc<Service>,
    listen: SocketAddr,
    log_interval: Option<Duration>,
) -> anyhow::Result<Running> {
    start_serving(service, listen, log_interval, doorman_dashboard::DashboardConfig::default()).await
}

/// [`start_with`], with the dashboard's configuration.
pub async fn start_serving(
    service: Arc<Service>,
    listen: SocketAddr,
    log_interval: Option<Duration>,
    dashboard: doorman_dashboard::DashboardConfig,
) -> anyhow::Result<Running> {
    start_serving_beside(service, listen, log_interval, dashboard, axum::Router::new()).await
}

/// [`start_serving`], with `beside` merged into the router (`doorman bench`
/// serves its bare baseline endpoint from the same listener this way).
pub async fn start_serving_beside(
    service: Arc<Service>,
    listen: SocketAddr,
    log_interval: Option<Duration>,
    dashboard: doorman_dashboard::DashboardConfig,
    beside: axum::Router,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    // Passkeys answer to the public URL, or to http://localhost:PORT.
    let origin = doorman_server::passkeys::relying_party_origin(dashboard.public_url.as_deref(), addr.port());
    match service.attach_passkeys(&origin) {
        Ok(()) => tracing::info!(%origin, "passkeys on"),
        Err(why) => tracing::warn!(%why, "passkeys off"),
    }
    let operator_token = service.bootstrap().await.map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
    // Resume the log before answering anyone: entries committed before a
    // crash get their checkpoint now. This one run does not wait for the
    // sequencer seat (whose last holder's session may still be closing): a
    // run beside the sequencer's only takes its turn at the tree's row lock.
    // First the log's integrity check (doorman_server::log_guard): a
    // problem halts the log (logged, and said on /readyz); the service
    // still starts and serves reads, but signs nothing.
    match service.check_log().await {
        Ok(summary) => tracing::info!(
            size = summary.size,
            appended = summary.appended,
            checkpoints = summary.checkpoints,
            "audit log checked"
        ),
        Err(doorman_server::log_guard::CheckFailure::Problem(_)) => {}
        Err(doorman_server::log_guard::CheckFailure::Service(e)) => {
            anyhow::bail!("checking the audit log: {e}")
        }
    }
    match service.sequence_now().await {
        Ok(Some(latest)) => tracing::info!(size = latest.size, "audit log checkpoint"),
        Ok(None) => {}
        Err(_) if service.log_halted().is_some() => {}
        Err(e) => anyhow::bail!("sequencing the audit log: {e}"),
    }
    let seat = Arc::new(tokio::sync::Mutex::new(service.sequencer_seat()));
    let log_task = log_interval.map(|interval| tokio::spawn(sequencer(service.clone(), seat.clone(), interval)));
    let relay_task = {
        let service = service.clone();
        tokio::spawn(async move { service.relay_log_growth().await })
    };
    let webhook_task = log_interval.map(|_| {
        let service = service.clone();
        tokio::spawn(async move {
            tokio::join!(
                crate::webhook_cmd::dispatcher(service.clone(), WEBHOOK_INTERVAL),
                doors_and_clips(service, WEBHOOK_INTERVAL)
            );
        })
    });
    let (tx, rx) = oneshot::channel::<()>();
    // One listener: the API and, under /app/, the dashboard.
    let router =
        doorman_web::router(service.clone()).merge(doorman_dashboard::router(service.clone(), dashboard)).merge(beside);
    let router = doorman_web::metrics::counted(router, service.clone());
    let join = tokio::spawn(doorman_web::serve_router(listener, router, async move {
        let _ = rx.await;
    }));
    Ok(Running {
        addr,
        service,
        operator_token,
        stop: Some(tx),
        join,
        log_task,
        fleet: None,
        webhook_task,
        mail_task: None,
        seat,
        relay_task,
    })
}

/// Every `interval`, beside the webhooks: logs the doors left open past
/// `door_ajar_after_s`, deletes the clips past their retention, and folds
/// the latencies recorded for `/metrics` into their histogram.
async fn doors_and_clips(service: Arc<Service>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        service.metrics().upkeep();
        if let Err(e) = service.door_ajar_tick().await {
            tracing::warn!(error = %e, "checking for doors left ajar failed; retrying");
        }
        match service.sweep_clips().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "camera clips past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting expired clips failed; retrying"),
        }
        // A rotation moves on (and other processes' steps are read in).
        if let Err(e) = service.advance_key_rotation().await {
            tracing::warn!(error = %e, "moving the key rotation on failed; retrying");
        }
    }
}

/// The background sequencer: every `interval`, if this process holds the
/// sequencer seat (or takes it now), integrates new entries and signs their
/// checkpoint, and asks the witnesses to cosign each new checkpoint (again
/// every [`WITNESS_RETRY`] while one has not).
async fn sequencer(service: Arc<Service>, seat: Arc<tokio::sync::Mutex<SequencerSeat>>, interval: Duration) {
    let witnesses = match crate::witness_cmd::HttpWitnesses::new() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "no witness client: checkpoints go uncosigned");
            None
        }
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retry_every = (WITNESS_RETRY.as_millis() / interval.as_millis().max(1)).max(1);
    let (mut published, mut ticks) = (None, 0u128);
    loop {
        ticker.tick().await;
        ticks += 1;
        {
            let mut seat = seat.lock().await;
            let was_held = seat.is_held();
            let held = seat.hold().await;
            if held != was_held {
                let pid = std::process::id();
                if held {
                    tracing::info!(pid, "this process sequences the audit log now");
                } else {
                    tracing::warn!(pid, "this process no longer sequences the audit log");
                }
            }
            if !held {
                continue;
            }
        }
        let latest = match service.sequence_now().await {
            Ok(latest) => latest,
            // Halted: said once, when it happened, and on /readyz.
            Err(_) if service.log_halted().is_some() => continue,
            Err(e) => {
                tracing::warn!(error = ?e, "sequencing the audit log failed; retrying");
                continue;
            }
        };
        let (Some(latest), Some(witnesses)) = (latest, &witnesses) else { continue };
        if service.config().witnesses.is_empty() || (published == Some(latest.size) && ticks % retry_every != 0) {
            continue;
        }
        // Witnesses that refused or failed (each logged) are asked again
        // with the next checkpoint, or after WITNESS_RETRY.
        match service.publish_checkpoint(witnesses).await {
            Ok(_) => published = Some(latest.size),
            Err(e) => tracing::warn!(error = ?e, "asking the witnesses failed"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
