//! Configuration: flags, then `DOORMAN_*` environment variables, then an
//! optional TOML file, then the defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Every setting, as the TOML file spells it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The key that seals the key file at rest (base64, 32 bytes). From the
    /// environment (`DOORMAN_KEY_ENCRYPTION_KEY`) or a flag only, never
    /// from this file.
    #[serde(skip)]
    pub key_encryption_key: Option<String>,
    /// After `keys rotate`, the longest the old issuer key keeps signing
    /// while some lock has not said it holds the new one.
    pub key_activation_max_wait_s: Option<i64>,
    pub issuer: Option<String>,
    pub credential_lifetime_s: Option<i64>,
    pub max_distance_m: Option<f64>,
    pub window_grace_s: Option<i64>,
    /// How long a vehicle's last position is trusted for a trunk delivery.
    pub vehicle_position_max_age_s: Option<i64>,
    /// How far from the delivery address a vehicle may be parked, in metres.
    pub vehicle_radius_m: Option<f64>,
    /// The longest a guest pass may last, in seconds.
    pub guest_max_duration_s: Option<i64>,
    pub auth_max_failures: Option<u32>,
    /// Access requests one driver may make per minute (0: no limit).
    pub access_requests_per_driver: Option<u32>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<String>>,
    pub log: Option<String>,
    /// The transparency log's origin (its checkpoints' first line, its key's name).
    pub log_origin: Option<String>,
    /// How often the sequencer integrates new entries and signs a checkpoint.
    pub log_interval_ms: Option<u64>,
    /// Witnesses asked to cosign each checkpoint.
    pub witnesses: Option<Vec<WitnessEntry>>,
    /// Whether webhooks may target loopback and private addresses (default false).
    pub webhook_private_targets: Option<bool>,
    /// Seconds a webhook delivery being sent is kept from other dispatchers.
    pub webhook_lease_s: Option<i64>,
    /// Run the lock fleet's MQTT channel at all (default true).
    pub mqtt: Option<bool>,
    /// Where the embedded broker listens (when no external broker is set).
    pub mqtt_listen: Option<SocketAddr>,
    /// An external broker, with the service's own account:
    /// `mqtt://user:password@host:port`. No broker is embedded then.
    pub mqtt_url: Option<String>,
    /// The broker URL given to locks when they are registered (default: the
    /// embedded broker's address, or the external URL without its account).
    pub mqtt_public_url: Option<String>,
    /// With an external Mosquitto: the folder where the service keeps its
    /// password and ACL files up to date.
    pub mqtt_mosquitto_dir: Option<PathBuf>,
    /// Where users open the dashboard (scheme and host).
    pub public_url: Option<String>,
    /// Seconds a door may stay open, with no close heard, before the service
    /// logs it as left ajar.
    pub door_ajar_after_s: Option<i64>,
    /// How often a waiting event stream re-reads the log without a wake-up,
    /// in ms (a safety net: appends wake streams at once, also across
    /// processes on PostgreSQL).
    pub feed_recheck_ms: Option<u64>,
    /// Where camera clips are kept: a folder, or `s3://bucket/prefix`.
    pub clip_store: Option<String>,
    /// Days a clip is kept before it is deleted.
    pub clip_retention_days: Option<i64>,
    /// Largest clip upload, in bytes.
    pub clip_max_bytes: Option<usize>,
    /// The SMTP server email goes through (none: no email is sent).
    pub smtp_host: Option<String>,
    /// Its port (default: 25, 587 or 465 by `smtp_tls`).
    pub smtp_port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    pub smtp_tls: Option<String>,
    /// The account to authenticate as, if the server wants one.
    pub smtp_user: Option<String>,
    pub smtp_password: Option<String>,
    /// The From of every message.
    pub mail_from: Option<String>,
    /// A lock in service not heard from for this long counts as stale in `/metrics`.
    pub lock_stale_after_s: Option<i64>,
    /// A token that reads `/metrics` (and nothing else), for a scraper that
    /// should not hold the operator's token.
    pub metrics_token: Option<String>,
}

/// Where the lock fleet's MQTT channel runs.
#[derive(Clone, Debug, PartialEq)]
pub enum FleetBroker {
    /// No fleet channel: locks work offline, nothing is pushed.
    Off,
    /// A broker inside the service, on this address.
    Embedded { listen: SocketAddr },
    /// An external broker (its URL holds the service's account).
    External { url: String },
}

/// The lock fleet's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSettings {
    pub broker: FleetBroker,
    pub public_url: Option<String>,
    pub mosquitto_dir: Option<PathBuf>,
}

/// Where the embedded broker listens unless told otherwise (1883 is often a
/// system Mosquitto).
pub const DEFAULT_MQTT_LISTEN: &str = "127.0.0.1:1884";

impl FleetSettings {
    fn resolve(flags: &FileConfig, file: &FileConfig) -> anyhow::Result<Self> {
        let enabled = flags.mqtt.or(file.mqtt).unwrap_or(true);
        let url = flags.mqtt_url.clone().or(file.mqtt_url.clone()).filter(|u| !u.trim().is_empty());
        let listen = flags.mqtt_listen.or(file.mqtt_listen);
        let public_url = flags.mqtt_public_url.clone().or(file.mqtt_public_url.clone());
        let mosquitto_dir = flags.mqtt_mosquitto_dir.clone().or(file.mqtt_mosquitto_dir.clone());
        if let Some(u) = &public_url {
            doorman_fleet::MqttEndpoint::parse(u).map_err(|e| anyhow::anyhow!("mqtt_public_url: {e}"))?;
        }
        let broker = match (enabled, url) {
            (false, _) => FleetBroker::Off,
            (true, Some(url)) => {
                let (_, account) =
                    doorman_fleet::MqttEndpoint::parse(&url).map_err(|e| anyhow::anyhow!("mqtt_url: {e}"))?;
                anyhow::ensure!(
                    account.is_some(),
                    "mqtt_url must carry the service's account: mqtt://user:password@host:port"
                );
                anyhow::ensure!(
                    listen.is_none(),
                    "mqtt_listen is for the embedded broker; mqtt_url names an external one"
                );
                FleetBroker::External { url }
            }
            (true, None) => FleetBroker::Embedded {
                listen: match listen {
                    Some(l) => l,
                    None => DEFAULT_MQTT_LISTEN.parse().context("default MQTT listen address")?,
                },
            },
        };
        anyhow::ensure!(
            mosquitto_dir.is_none() || matches!(broker, FleetBroker::External { .. }),
            "mqtt_mosquitto_dir needs an external broker (mqtt_url)"
        );
        Ok(Self { broker, public_url, mosquitto_dir })
    }
}

/// A witness: its URL (`<url>/add-checkpoint` is posted to) and its
/// cosignature verifier key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessEntry {
    pub url: String,
    pub key: String,
}

/// Splits a comma-separated list (`DOORMAN_TRUSTED_PROXIES`).
pub fn parse_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(String::from).collect()
}

/// Parses `DOORMAN_WITNESSES`: `URL KEY` pairs separated by commas.
pub fn parse_witnesses(text: &str) -> anyhow::Result<Vec<WitnessEntry>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (url, key) = item
                .split_once(char::is_whitespace)
                .with_context(|| format!("witness {item:?}: expected \"URL KEY\""))?;
            Ok(WitnessEntry { url: url.trim().into(), key: key.trim().into() })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// A SQLite path or `sqlite://` URL, or a `postgres://` URL.
    pub database: String,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    /// Seals the key file at rest, when set.
    pub key_encryption: Option<doorman_server::KeyEncryptionKey>,
    pub service: doorman_server::ServiceConfig,
    pub log: String,
    /// The sequencer's period.
    pub log_interval: std::time::Duration,
    /// The dashboard's public origin.
    pub dashboard: doorman_dashboard::DashboardConfig,
    /// The lock fleet's MQTT channel.
    pub fleet: FleetSettings,
    /// Where camera clips are kept (see `doorman_server::clips::open_clip_store`).
    pub clip_store: String,
    /// The SMTP server for email; None: no email.
    pub smtp: Option<crate::mail_cmd::SmtpSettings>,
}

/// The SMTP settings, if a server is named; an error naming what is wrong
/// or missing otherwise.
fn smtp_settings(flags: &FileConfig, file: &FileConfig) -> anyhow::Result<Option<crate::mail_cmd::SmtpSettings>> {
    use crate::mail_cmd::{SmtpSettings, SmtpTls};
    let pick = |a: &Option<String>, b: &Option<String>| a.clone().or(b.clone()).filter(|v| !v.trim().is_empty());
    let tls = pick(&flags.smtp_tls, &file.smtp_tls);
    let port = flags.smtp_port.or(file.smtp_port);
    let user = pick(&flags.smtp_user, &file.smtp_user);
    let password = pick(&flags.smtp_password, &file.smtp_password);
    let from = pick(&flags.mail_from, &file.mail_from);
    let Some(host) = pick(&flags.smtp_host, &file.smtp_host) else {
        anyhow::ensure!(
            tls.is_none() && port.is_none() && user.is_none() && password.is_none() && from.is_none(),
            "smtp_host is missing: the other smtp_* and mail_from settings need it"
        );
        return Ok(None);
    };
    let tls = tls.as_deref().map(SmtpTls::parse).transpose()?.unwrap_or(SmtpTls::StartTls);
    anyhow::ensure!(port != Some(0), "smtp_port must be between 1 and 65535");
    anyhow::ensure!(password.is_none() || user.is_some(), "smtp_password needs smtp_user");
    let from = from.context("mail_from is missing: the address email is sent from, e.g. doors@example.org")?;
    let settings = SmtpSettings {
        host: host.trim().to_string(),
        port: port.unwrap_or(tls.default_port()),
        tls,
        user,
        password,
        from,
    };
    // The sender's address and the TLS setup are checked now, not at the first email.
    crate::mail_cmd::SmtpMail::new(&settings)?;
    Ok(Some(settings))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    /// Merges `flags` (already holding flag-or-env values) over the file.
    pub fn resolve(flags: FileConfig, file: Option<&PathBuf>) -> anyhow::Result<Self> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("in config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let fleet = FleetSettings::resolve(&flags, &from_file)?;
        let smtp = smtp_settings(&flags, &from_file)?;
        let pick = |a: Option<String>, b: Option<String>| a.or(b);
        let data_dir = flags.data_dir.or(from_file.data_dir).unwrap_or_else(|| PathBuf::from("doorman-data"));
        let database = pick(flags.database, from_file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("doorman.db").display()));
        let key_file = flags.key_file.or(from_file.key_file).unwrap_or_else(|| data_dir.join("keys.json"));
        let key_encryption = flags
            .key_encryption_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(doorman_server::KeyEncryptionKey::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut service = doorman_server::ServiceConfig::default();
        if let Some(v) = flags.key_activation_max_wait_s.or(from_file.key_activation_max_wait_s) {
            anyhow::ensure!(
                (0..=365 * 86_400).contains(&v),
                "key_activation_max_wait_s must be between 0 and 31536000 seconds"
            );
            service.key_activation_max_wait_s = v;
        }
        if let Some(v) = pick(flags.issuer, from_file.issuer) {
            service.issuer = v;
        }
        if let Some(v) = flags.credential_lifetime_s.or(from_file.credential_lifetime_s) {
            anyhow::ensure!((30..=3600).contains(&v), "credential_lifetime_s must be between 30 and 3600 seconds");
            service.credential_lifetime_s = v;
        }
        if let Some(v) = flags.max_distance_m.or(from_file.max_distance_m) {
            anyhow::ensure!(v.is_finite() && v > 0.0, "max_distance_m must be a positive number of metres");
            service.policy.max_distance_m = v;
        }
        if let Some(v) = flags.window_grace_s.or(from_file.window_grace_s) {
            anyhow::ensure!((0..=86_400).contains(&v), "window_grace_s must be between 0 and 86400");
            service.policy.window_grace_s = v;
        }
        if let Some(v) = flags.vehicle_position_max_age_s.or(from_file.vehicle_position_max_age_s) {
            anyhow::ensure!((1..=86_400).contains(&v), "vehicle_position_max_age_s must be between 1 and 86400");
            service.policy.vehicle_position_max_age_s = v;
        }
        if let Some(v) = flags.vehicle_radius_m.or(from_file.vehicle_radius_m) {
            anyhow::ensure!(v.is_finite() && v > 0.0, "vehicle_radius_m must be a positive number of metres");
            service.policy.vehicle_radius_m = v;
        }
        if let Some(v) = flags.guest_max_duration_s.or(from_file.guest_max_duration_s) {
            // A lock refuses credentials living longer than its maximum (one hour by default).
            anyhow::ensure!((60..=86_400).contains(&v), "guest_max_duration_s must be between 60 and 86400");
            service.guest_max_duration_s = v;
        }
        if let Some(v) = flags.auth_max_failures.or(from_file.auth_max_failures) {
            anyhow::ensure!(v >= 1, "auth_max_failures must be at least 1");
            service.auth_max_failures = v;
        }
        if let Some(v) = flags.access_requests_per_driver.or(from_file.access_requests_per_driver) {
            service.access_requests_per_driver = v;
        }
        for proxy in flags.trusted_proxies.or(from_file.trusted_proxies).unwrap_or_default() {
            let net = match proxy.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => proxy.parse::<ipnet::IpNet>().map_err(|_| {
                    anyhow::anyhow!("trusted_proxies: {proxy:?} is not an address or network (10.0.0.0/8)")
                })?,
            };
            service.trusted_proxies.push(net);
        }
        if let Some(v) = flags.webhook_private_targets.or(from_file.webhook_private_targets) {
            service.webhook_private_targets = v;
        }
        if let Some(v) = flags.webhook_lease_s.or(from_file.webhook_lease_s) {
            anyhow::ensure!((1..=3600).contains(&v), "webhook_lease_s must be between 1 and 3600 seconds");
            service.webhook_lease_s = v;
        }
        if let Some(origin) = pick(flags.log_origin, from_file.log_origin) {
            doorman_tlog::check_key_name(&origin)
                .map_err(|_| anyhow::anyhow!("log_origin {origin:?} must be non-empty, without spaces or '+'"))?;
            service.log_origin = origin;
        }
        for witness in flags.witnesses.or(from_file.witnesses).unwrap_or_default() {
            anyhow::ensure!(
                witness.url.starts_with("http://") || witness.url.starts_with("https://"),
                "witness URL {:?} must start with http:// or https://",
                witness.url
            );
            let key = doorman_tlog::VerifierKey::parse(&witness.key)
                .with_context(|| format!("witness key {:?}", witness.key))?;
            anyhow::ensure!(
                key.kind() == doorman_tlog::KeyKind::Cosignature,
                "witness key {:?} is not a cosignature key (type 0x04)",
                witness.key
            );
            service.witnesses.push(doorman_server::audit::WitnessConfig { url: witness.url, key });
        }
        if let Some(v) = flags.door_ajar_after_s.or(from_file.door_ajar_after_s) {
            anyhow::ensure!((1..=86_400).contains(&v), "door_ajar_after_s must be between 1 and 86400");
            service.door_ajar_after_s = v;
        }
        if let Some(v) = flags.feed_recheck_ms.or(from_file.feed_recheck_ms) {
            anyhow::ensure!((10..=3_600_000).contains(&v), "feed_recheck_ms must be between 10 and 3600000");
            service.feed_recheck_ms = v;
        }
        if let Some(v) = flags.clip_retention_days.or(from_file.clip_retention_days) {
            anyhow::ensure!((1..=3650).contains(&v), "clip_retention_days must be between 1 and 3650");
            service.clip_retention_days = v;
        }
        if let Some(v) = flags.clip_max_bytes.or(from_file.clip_max_bytes) {
            anyhow::ensure!((1..=4 << 30).contains(&v), "clip_max_bytes must be between 1 and 4 GiB");
            service.clip_max_bytes = v;
        }
        if let Some(v) = flags.lock_stale_after_s.or(from_file.lock_stale_after_s) {
            anyhow::ensure!((1..=7 * 86_400).contains(&v), "lock_stale_after_s must be between 1 and 604800");
            service.lock_stale_after_s = v;
        }
        if let Some(token) = pick(flags.metrics_token, from_file.metrics_token).filter(|t| !t.trim().is_empty()) {
            anyhow::ensure!(token.trim().len() >= 16, "metrics_token must be at least 16 characters");
            service.metrics_token_hash = Some(doorman_server::auth::hash_secret(token.trim()));
        }
        let clip_store = pick(flags.clip_store, from_file.clip_store)
            .unwrap_or_else(|| data_dir.join("clips").display().to_string());
        let log_interval_ms = flags.log_interval_ms.or(from_file.log_interval_ms).unwrap_or(250);
        anyhow::ensure!((10..=60_000).contains(&log_interval_ms), "log_interval_ms must be between 10 and 60000");
        let listen = match flags.listen.or(from_file.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let dashboard = doorman_dashboard::DashboardConfig::with_public_url(
            pick(flags.public_url, from_file.public_url).as_deref(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        Ok(Config {
            dashboard,
            listen,
            database,
            data_dir,
            key_file,
            key_encryption,
            service,
            log: pick(flags.log, from_file.log).unwrap_or_else(|| "info,rumqttd=warn".into()),
            log_interval: std::time::Duration::from_millis(log_interval_ms),
            fleet,
            clip_store,
            smtp,
        })
    }
}

/// What `doorman default-config` prints: every setting, commented.
pub const DEFAULT_CONFIG: &str = r#"# doorman configuration (TOML). Every setting is optional; flags and
# DOORMAN_* environment variables override what is written here.
# Use it with `doorman serve --config doorman.toml` (or DOORMAN_CONFIG).

# Address to serve the HTTP API on.            env: DOORMAN_LISTEN
listen = "127.0.0.1:8080"

# Where state lives: a SQLite file (the default, created if missing) or a
# PostgreSQL URL for several service processes side by side.
#                                               env: DOORMAN_DATABASE
# database = "sqlite://doorman-data/doorman.db"
# database = "postgres://doorman@db.example/doorman"

# Folder for the SQLite file and the key file.  env: DOORMAN_DATA_DIR
data_dir = "doorman-data"

# The issuer's signing keys and the door-code master secret. Kept out of the
# database on purpose: a database dump opens no door. Several processes
# sharing one PostgreSQL must share this file.  env: DOORMAN_KEY_FILE
# key_file = "doorman-data/keys.json"
#
# The key file can be sealed at rest (XChaCha20-Poly1305) with a key from
# the environment only: DOORMAN_KEY_ENCRYPTION_KEY = 32 random bytes in
# base64 (`doorman keys new-encryption-key` prints one). A plain key file
# still loads; `doorman keys encrypt` seals it in place.
#
# After `doorman keys rotate` announced a new issuer key to the locks, the
# old key keeps signing until every lock in service holds the new one, or
# for at most this long (a week).       env: DOORMAN_KEY_ACTIVATION_MAX_WAIT_S
key_activation_max_wait_s = 604800

# The credentials' issuer name (`iss`).        env: DOORMAN_ISSUER
issuer = "doorman"

# How long a granted credential or door code is valid, in seconds (30-3600).
#                                               env: DOORMAN_CREDENTIAL_LIFETIME_S
credential_lifetime_s = 300

# How far from the property a driver may stand when asking, in metres.
#                                               env: DOORMAN_MAX_DISTANCE_M
max_distance_m = 150.0

# Tolerance around each delivery window, in seconds.
#                                               env: DOORMAN_WINDOW_GRACE_S
window_grace_s = 0

# A trunk delivery is granted only while the vehicle's last reported position
# is at most this old, in seconds.              env: DOORMAN_VEHICLE_POSITION_MAX_AGE_S
vehicle_position_max_age_s = 300

# ...and at most this far from the delivery address, in metres.
#                                               env: DOORMAN_VEHICLE_RADIUS_M
vehicle_radius_m = 100.0

# The longest a resident's guest pass may last, in seconds. Locks refuse
# credentials that live longer than their own maximum (one hour by default).
#                                               env: DOORMAN_GUEST_MAX_DURATION_S
guest_max_duration_s = 3600

# Failed authentications per client address, and per token, per minute;
# past them a bad token is answered 429 with Retry-After. A valid token is
# never refused, whatever its address did.    env: DOORMAN_AUTH_MAX_FAILURES
auth_max_failures = 20

# Access requests one driver may make per minute, valid or not; past them
# 429 with Retry-After (other drivers, even at the same address, go on).
# 0: no limit.                         env: DOORMAN_ACCESS_REQUESTS_PER_DRIVER
access_requests_per_driver = 120

# Reverse proxies (addresses or networks) whose X-Forwarded-For header names
# the client. Empty: the header is ignored and the peer's address counts.
#                        env: DOORMAN_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8"
trusted_proxies = []

# Whether webhook URLs may name loopback or private addresses (localhost,
# 10.x, 192.168.x, ...). Off: a user cannot make the service call inside
# your network.                                 env: DOORMAN_WEBHOOK_PRIVATE_TARGETS
webhook_private_targets = false

# A webhook delivery being sent is kept from other dispatchers this many
# seconds; if the process dies between the POST and its record, it is sent
# again after this (delivery is at least once: dedupe on the event id).
# Keep it above the receiver timeout.           env: DOORMAN_WEBHOOK_LEASE_S
webhook_lease_s = 120

# A door the service learnt opened this many seconds ago, with no close
# heard since, is logged as left ajar (once; also if the lock raises its
# own alarm).                                   env: DOORMAN_DOOR_AJAR_AFTER_S
door_ajar_after_s = 120

# How often a waiting event stream (SSE, the dashboard's live updates)
# re-reads the log without a wake-up, in ms: a safety net, since every
# append wakes the streams at once (on PostgreSQL, in every process,
# through LISTEN/NOTIFY).                        env: DOORMAN_FEED_RECHECK_MS
feed_recheck_ms = 1000

# Where camera clips are kept: a folder (default: DATA_DIR/clips), or an
# S3-compatible bucket "s3://bucket/prefix" (a build with `--features s3`;
# credentials, region and AWS_ENDPOINT from the usual AWS_* variables).
#                                               env: DOORMAN_CLIP_STORE
# clip_store = "doorman-data/clips"
# Days a clip is kept, then deleted (the deletion is logged).
#                                               env: DOORMAN_CLIP_RETENTION_DAYS
clip_retention_days = 30
# Largest clip upload, in bytes.                env: DOORMAN_CLIP_MAX_BYTES
clip_max_bytes = 67108864

# /metrics (Prometheus text format) answers the operator's token, or this
# token, which reads /metrics and nothing else (give it to the scraper).
#                                               env: DOORMAN_METRICS_TOKEN
# metrics_token = "a long random string"
# A lock in service not heard from for this many seconds counts in
# doorman_locks_stale.                          env: DOORMAN_LOCK_STALE_AFTER_S
lock_stale_after_s = 900

# Log filter (tracing's EnvFilter syntax; the embedded
# MQTT broker's own chatter only from warnings up). env: DOORMAN_LOG
log = "info,rumqttd=warn"

# The transparency log (audit trail). Its origin names the log: the first
# line of every checkpoint and the name of its key (kept in the key file).
#                                               env: DOORMAN_LOG_ORIGIN
log_origin = "doorman.example/log"

# How often new entries are integrated and a checkpoint signed, in ms.
#                                               env: DOORMAN_LOG_INTERVAL_MS
log_interval_ms = 250

# The lock fleet's MQTT channel. By default the service embeds a broker on
# mqtt_listen; with mqtt_url it uses an external one (e.g. Mosquitto) with
# the service's account instead.              env: DOORMAN_MQTT (true/false)
# mqtt = true
#                                               env: DOORMAN_MQTT_LISTEN
# mqtt_listen = "127.0.0.1:1884"
#                                               env: DOORMAN_MQTT_URL
# mqtt_url = "mqtt://doorman-service:PASSWORD@127.0.0.1:1883"
# The broker URL locks are given when registered.
#                                               env: DOORMAN_MQTT_PUBLIC_URL
# mqtt_public_url = "mqtt://locks.example:1884"
# With Mosquitto: where the service keeps its password and ACL files (send
# Mosquitto SIGHUP to reload them).          env: DOORMAN_MQTT_MOSQUITTO_DIR
# mqtt_mosquitto_dir = "/etc/mosquitto/doorman"

# Witnesses that cosign each checkpoint (`doorman witness`), by URL and
# cosignature key.          env: DOORMAN_WITNESSES="URL KEY,URL KEY"
# [[witnesses]]
# url = "http://127.0.0.1:7380"
# key = "doorman.example/witness+1234abcd+BA..."

# Email (notifications each resident chooses, and sign-in links) goes
# through this SMTP server. Unset: no email is sent; everything else works.
#                                               env: DOORMAN_SMTP_HOST
# smtp_host = "smtp.example.org"
# none (a relay on this machine), starttls (upgrade required) or tls (from
# the first byte).                              env: DOORMAN_SMTP_TLS
# smtp_tls = "starttls"
# Default: 25 (none), 587 (starttls), 465 (tls). env: DOORMAN_SMTP_PORT
# smtp_port = 587
# If the server wants a login.                 env: DOORMAN_SMTP_USER
# smtp_user = "doorman"
#                                               env: DOORMAN_SMTP_PASSWORD
# smtp_password = "..."
# The From of every message (required with smtp_host).
#                                               env: DOORMAN_MAIL_FROM
# mail_from = "doorman <doors@example.org>"
# Links in email start with public_url (below); set it when smtp_host is set.

# The address users open the web dashboard (/app/) at, scheme and host only.
# Only this origin may change anything through the dashboard; https makes
# its session cookie Secure. Unset: the host each request was sent to.
# Passkeys (WebAuthn) are for this origin, its host being the relying party
# id; unset, they work only at http://localhost:PORT (the listening port),
# and a public URL naming an IP address turns them off (WebAuthn needs a
# host name).                                   env: DOORMAN_PUBLIC_URL
# public_url = "https://doors.example"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_config_parses_and_matches_the_defaults() {
        let parsed: FileConfig = toml::from_str(DEFAULT_CONFIG).unwrap();
        let dir = std::env::temp_dir().join(format!("doorman-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("doorman.toml");
        std::fs::write(&path, DEFAULT_CONFIG).unwrap();
        let from_file = Config::resolve(FileConfig::default(), Some(&path)).unwrap();
        let defaults = Config::resolve(FileConfig::default(), None).unwrap();
        assert_eq!(parsed.listen, Some(defaults.listen));
        assert_eq!(from_file.database, defaults.database);
        assert_eq!(from_file.service.credential_lifetime_s, defaults.service.credential_lifetime_s);
        assert_eq!(from_file.service.policy, defaults.service.policy);
        assert_eq!(from_file.service.trusted_proxies, defaults.service.trusted_proxies);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let flags = FileConfig { trusted_proxies: Some(parse_list("127.0.0.1, 10.0.0.0/8,")), ..Default::default() };
        let proxies = Config::resolve(flags, None).unwrap().service.trusted_proxies;
        assert_eq!(proxies, vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]);
        let bad = FileConfig { trusted_proxies: Some(vec!["proxy.example".into()]), ..Default::default() };
        assert!(Config::resolve(bad, None).unwrap_err().to_string().contains("trusted_proxies"));
    }

    #[test]
    fn the_smtp_settings_are_checked() {
        use crate::mail_cmd::SmtpTls;
        assert!(Config::resolve(FileConfig::default(), None).unwrap().smtp.is_none(), "no SMTP by default");
        let ok = FileConfig {
            smtp_host: Some("smtp.example.org".into()),
            smtp_user: Some("doorman".into()),
            smtp_password: Some("hunter2".into()),
            mail_from: Some("doorman <doors@example.org>".into()),
            ..Default::default()
        };
        let smtp = Config::resolve(ok.clone(), None).unwrap().smtp.unwrap();
        assert_eq!((smtp.tls, smtp.port), (SmtpTls::StartTls, 587));
        let plain = FileConfig { smtp_tls: Some("none".into()), ..ok.clone() };
        assert_eq!(Config::resolve(plain, None).unwrap().smtp.unwrap().port, 25);
        for (bad, named) in [
            (FileConfig { mail_from: None, ..ok.clone() }, "mail_from"),
            (FileConfig { mail_from: Some("not an address".into()), ..ok.clone() }, "mail_from"),
            (FileConfig { smtp_tls: Some("ssl".into()), ..ok.clone() }, "smtp_tls"),
            (FileConfig { smtp_user: None, ..ok.clone() }, "smtp_password"),
            (FileConfig { smtp_host: None, ..ok.clone() }, "smtp_host"),
        ] {
            let err = format!("{:#}", Config::resolve(bad, None).unwrap_err());
            assert!(err.contains(named), "{err}");
            assert!(!err.contains("hunter2"), "the password leaked: {err}");
        }
    }

    #[test]
    fn the_public_url_is_checked() {
        let ok = FileConfig { public_url: Some("https://doors.example".into()), ..Default::default() };
        let config = Config::resolve(ok, None).unwrap();
        assert_eq!(config.dashboard.public_url.as_deref(), Some("https://doors.example"));
        let bad = FileConfig { public_url: Some("doors.example/app".into()), ..Default::default() };
        let err = Config::resolve(bad, None).unwrap_err().to_string();
        assert!(err.contains("public URL"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file_and_bad_values_are_named() {
        let flags = FileConfig { credential_lifetime_s: Some(120), ..Default::default() };
        assert_eq!(Config::resolve(flags, None).unwrap().service.credential_lifetime_s, 120);
        let bad = FileConfig { credential_lifetime_s: Some(5), ..Default::default() };
        let err = Config::resolve(bad, None).unwrap_err().to_string();
        assert!(err.contains("credential_lifetime_s"), "{err}");
        let unknown = toml::from_str::<FileConfig>("listn = \"x\"").unwrap_err().to_string();
        assert!(unknown.contains("listn"), "{unknown}");
    }

    #[test]
    fn the_log_origin_and_witnesses_are_checked() {
        let witness = doorman_tlog::Cosigner::from_seed("witness.example/w1", [7; 32]).unwrap();
        let vkey = witness.verifier_key().unwrap().to_vkey();
        let parsed = parse_witnesses(&format!(" http://127.0.0.1:7380 {vkey} , https://w2.example {vkey}")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], WitnessEntry { url: "http://127.0.0.1:7380".into(), key: vkey.clone() });
        assert!(parse_witnesses("http://no-key").is_err());

        let flags = FileConfig {
            log_origin: Some("logs.example/doorman".into()),
            witnesses: Some(parsed),
            ..Default::default()
        };
        let config = Config::resolve(flags, None).unwrap();
        assert_eq!(config.service.log_origin, "logs.example/doorman");
        assert_eq!(config.service.witnesses.len(), 2);
        assert_eq!(config.log_interval, std::time::Duration::from_millis(250));

        let bad_origin = FileConfig { log_origin: Some("two words".into()), ..Default::default() };
        assert!(Config::resolve(bad_origin, None).unwrap_err().to_string().contains("log_origin"));
        // A log key is not a witness key.
        let log_key = doorman_tlog::NoteSigner::from_seed("log.example", [1; 32]).unwrap().verifier_key().to_vkey();
        let wrong = FileConfig {
            witnesses: Some(vec![WitnessEntry { url: "http://w".into(), key: log_key }]),
            ..Default::default()
        };
        assert!(Config::resolve(wrong, None).unwrap_err().to_string().contains("cosignature"));
        let slow = FileConfig { log_interval_ms: Some(5), ..Default::default() };
        assert!(Config::resolve(slow, None).is_err());
    }

    #[test]
    fn the_fleet_settings_are_checked() {
        let defaults = Config::resolve(FileConfig::default(), None).unwrap();
        assert_eq!(defaults.fleet.broker, FleetBroker::Embedded { listen: DEFAULT_MQTT_LISTEN.parse().unwrap() });
        let off = FileConfig { mqtt: Some(false), ..Default::default() };
        assert_eq!(Config::resolve(off, None).unwrap().fleet.broker, FleetBroker::Off);
        let external = FileConfig { mqtt_url: Some("mqtt://svc:pw@127.0.0.1:1883".into()), ..Default::default() };
        assert!(matches!(Config::resolve(external, None).unwrap().fleet.broker, FleetBroker::External { .. }));
        for (bad, named) in [
            (FileConfig { mqtt_url: Some("mqtt://127.0.0.1:1883".into()), ..Default::default() }, "account"),
            (FileConfig { mqtt_url: Some("http://svc:hunter2@x".into()), ..Default::default() }, "mqtt_url"),
            (FileConfig { mqtt_mosquitto_dir: Some("/tmp/m".into()), ..Default::default() }, "mqtt_mosquitto_dir"),
            (FileConfig { mqtt_public_url: Some("nope".into()), ..Default::default() }, "mqtt_public_url"),
        ] {
            let err = format!("{:#}", Config::resolve(bad, None).unwrap_err());
            assert!(err.contains(named), "{err}");
            assert!(!err.contains("hunter2"), "the password leaked: {err}");
        }
    }
}
