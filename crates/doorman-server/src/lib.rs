//! The doorman service's logic, without HTTP: who may do what, and the
//! package-scan-gated access grant. The web crate maps HTTP onto these
//! calls; tests can call them directly.
//!
//! Invariants:
//! - every call takes the caller's [`Principal`] and checks it first; a
//!   resource of another tenant is reported as not found, never shown;
//! - time comes from the injected [`Clock`];
//! - signing keys come from the [`KeyRing`], never from the database.

mod access;
pub mod audit;
pub mod auth;
mod carrier;
pub mod clips;
mod divert;
pub use divert::HOLD_AT_CARRIER;
mod doors;
pub mod email_link;
mod error;
pub mod feed;
pub mod fleet;
mod guests;
pub mod issuing;
pub mod keys;
pub mod log_guard;
pub mod mail;
mod manager;
pub mod metrics;
pub mod naming;
mod operator;
pub mod passkeys;
mod resident;
mod returns;
mod rotation;
mod structure;
mod tenancy;
pub mod tokens;
mod vehicles;
pub mod views;
pub mod webhooks;
pub mod witness;

use std::net::IpAddr;
use std::sync::Arc;

use doorman_domain::policy::PolicyRules;
use doorman_domain::{Clock, Principal, Property, PropertyId, ResidentId, UnitId};
use doorman_store::Store;

pub use error::{ServiceError, ServiceResult, RETRY_AFTER_UNAVAILABLE_S};
pub use keys::{KeyCustody, KeyEncryptionKey, KeyFile, KeyFileError, KeyRing, Signer};

#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The credentials' `iss`.
    pub issuer: String,
    /// How long a granted credential or door code stays valid.
    pub credential_lifetime_s: i64,
    pub invitation_lifetime_s: i64,
    pub policy: PolicyRules,
    /// Failed authentications allowed per client address, and per
    /// credential, in each window.
    pub auth_max_failures: u32,
    pub auth_window_s: i64,
    /// Access requests one driver may make per minute (0: no limit).
    pub access_requests_per_driver: u32,
    /// Peers trusted to name the client in `X-Forwarded-For` (reverse
    /// proxies); anyone else's header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The transparency log's origin: the first line of its checkpoints and
    /// its key's name (a schema-less URL, e.g. `doorman.example/log`).
    pub log_origin: String,
    /// Witnesses asked to cosign each new checkpoint.
    pub witnesses: Vec<audit::WitnessConfig>,
    /// The MQTT broker locks are told to use when they are registered.
    pub lock_mqtt_url: String,
    /// A lock whose clock drifts more than this (either way) is flagged.
    pub max_clock_drift_s: i64,
    /// How often a waiting event stream re-reads the log without a wake-up
    /// (entries written by other processes arrive within this).
    pub feed_recheck_ms: u64,
    /// Seconds to wait before each webhook retry; a delivery is dead after
    /// `1 + len` failed tries.
    pub webhook_retry_s: Vec<i64>,
    /// Whether webhook URLs may name loopback, private or link-local
    /// addresses (off by default: no calls into the service's network).
    pub webhook_private_targets: bool,
    /// How long a webhook delivery being sent is kept from other
    /// dispatchers: a process killed mid-send leaves it leased this long,
    /// then it is sent again (at least once: receivers dedupe on the event id).
    pub webhook_lease_s: i64,
    /// A door the service learnt opened this long ago, with no close since,
    /// is logged as left ajar (once per opening, also if the lock says so).
    pub door_ajar_after_s: i64,
    /// Camera clips are deleted this many days after they were stored.
    pub clip_retention_days: i64,
    /// Largest clip upload accepted, in bytes.
    pub clip_max_bytes: usize,
    /// The longest a guest pass may last (a lock refuses credentials living
    /// longer than its own maximum, one hour by default).
    pub guest_max_duration_s: i64,
    /// After `keys rotate` announced a new issuer key, the longest the
    /// service keeps signing with the old one while some lock in service
    /// has not said it holds the new one.
    pub key_activation_max_wait_s: i64,
    /// A lock in service not heard from for this long counts as stale in
    /// `/metrics`.
    pub lock_stale_after_s: i64,
    /// SHA-256 of the token a metrics scraper sends instead of the
    /// operator's (`DOORMAN_METRICS_TOKEN`); None: the operator's only.
    pub metrics_token_hash: Option<[u8; 32]>,
}

/// Access requests one driver may make per minute by default: a driver
/// scanning a whole mailroom's parcels stays far below it.
pub const DEFAULT_ACCESS_REQUESTS_PER_DRIVER: u32 = 120;

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            issuer: "doorman".into(),
            credential_lifetime_s: 300,
            invitation_lifetime_s: 14 * 24 * 3600,
            policy: PolicyRules::default(),
            auth_max_failures: 20,
            auth_window_s: 60,
            access_requests_per_driver: DEFAULT_ACCESS_REQUESTS_PER_DRIVER,
            trusted_proxies: Vec::new(),
            log_origin: audit::DEFAULT_LOG_ORIGIN.into(),
            witnesses: Vec::new(),
            lock_mqtt_url: "mqtt://127.0.0.1:1884".into(),
            max_clock_drift_s: fleet::DEFAULT_MAX_CLOCK_DRIFT_S,
            feed_recheck_ms: 1000,
            webhook_retry_s: webhooks::DEFAULT_RETRY_S.to_vec(),
            webhook_private_targets: false,
            webhook_lease_s: webhooks::DEFAULT_LEASE_S,
            door_ajar_after_s: 120,
            clip_retention_days: 30,
            clip_max_bytes: clips::DEFAULT_CLIP_MAX_BYTES,
            guest_max_duration_s: 3600,
            key_activation_max_wait_s: rotation::DEFAULT_KEY_ACTIVATION_MAX_WAIT_S,
            lock_stale_after_s: 900,
            metrics_token_hash: None,
        }
    }
}

pub struct Service {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Swapped whole when a rotation moves on (`rotation.rs`).
    keys: std::sync::RwLock<Arc<KeyRing>>,
    /// Where the key file is, once attached: rotations write it.
    custody: std::sync::OnceLock<keys::KeyCustody>,
    /// One rotation step at a time in this process.
    rotating: tokio::sync::Mutex<()>,
    config: ServiceConfig,
    limiter: auth::AuthFailureLimiter,
    /// Access requests per driver and minute.
    driver_requests: auth::DriverRequestLimiter,
    /// The transparency log's key and what the witnesses last cosigned.
    log_signer: audit::LogSigner,
    witness_progress: audit::WitnessProgress,
    /// The last checkpoint signed, outside the database, and whether the
    /// log is halted (`log_guard`).
    log_guard: log_guard::LogGuard,
    /// The fleet channel, once attached: revocations are pushed through it.
    fleet: std::sync::OnceLock<(doorman_fleet::FleetHandle, String)>,
    /// Mosquitto's files, kept up to date when an external Mosquitto is used.
    mosquitto: std::sync::OnceLock<fleet::MosquittoTarget>,
    /// Remote unlocks asked for and not yet answered by their lock.
    remote: fleet::RemoteUnlocks,
    /// Wakes event streams when this process appends to the log.
    feed: feed::FeedSignal,
    /// The log size the last `sequence_now` of this process reached.
    sequenced: std::sync::atomic::AtomicU64,
    /// Where camera clips are kept, once attached.
    clips: std::sync::OnceLock<Arc<dyn object_store::ObjectStore>>,
    /// The SMTP channel, once attached: no mail without it.
    mailer: std::sync::OnceLock<mail::Mailer>,
    /// Who passkeys are for, once the listening address is known.
    passkeys: std::sync::OnceLock<passkeys::RelyingParty>,
    /// What `/metrics` counts.
    metrics: metrics::Metrics,
    /// The embedded broker's connection count, once attached.
    connections: std::sync::OnceLock<metrics::ConnectionCount>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("backend", &self.store.backend()).finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, keys: KeyRing, config: ServiceConfig) -> Self {
        let limiter = auth::AuthFailureLimiter::new(config.auth_max_failures, config.auth_window_s);
        let driver_requests = auth::DriverRequestLimiter::new(config.access_requests_per_driver, 60);
        let log_signer = audit::LogSigner::with_signer(&config.log_origin, keys.log.clone());
        Self {
            store,
            clock,
            keys: std::sync::RwLock::new(Arc::new(keys)),
            custody: std::sync::OnceLock::new(),
            rotating: tokio::sync::Mutex::new(()),
            config,
            limiter,
            driver_requests,
            log_signer,
            witness_progress: audit::WitnessProgress::default(),
            log_guard: log_guard::LogGuard::in_memory(),
            fleet: std::sync::OnceLock::new(),
            mosquitto: std::sync::OnceLock::new(),
            remote: fleet::RemoteUnlocks::new(),
            feed: feed::FeedSignal::default(),
            sequenced: std::sync::atomic::AtomicU64::new(0),
            clips: std::sync::OnceLock::new(),
            mailer: std::sync::OnceLock::new(),
            passkeys: std::sync::OnceLock::new(),
            metrics: metrics::Metrics::new(),
            connections: std::sync::OnceLock::new(),
        }
    }

    /// The storage backend's name (`sqlite`, `postgres`), for logs and
    /// `/readyz`. The store itself stays private: everything outside this
    /// crate goes through the methods that check the caller's principal.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The keys signing now (a rotation swaps them whole).
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// On the very first start, creates the operator token and returns it
    /// (to be shown once). Afterwards returns None.
    pub async fn bootstrap(&self) -> ServiceResult<Option<String>> {
        let (token, record) = auth::new_token(Principal::Operator, "bootstrap operator", self.now())?;
        Ok(self.store.bootstrap_operator(&record).await?.then_some(token))
    }

    /// Resolves a bearer token to its principal. A valid token always
    /// passes; a bad one counts as a failure of its client address and of
    /// that credential, and is answered 429 once either failed too often
    /// (see [`auth::AuthFailureLimiter`]). No token at all is no failure.
    pub async fn authenticate(&self, token: Option<&str>, client: IpAddr) -> ServiceResult<Principal> {
        let now = self.now();
        let Some(token) = token else { return Err(ServiceError::Unauthenticated) };
        let hash = auth::hash_secret(token);
        if token.starts_with(auth::TOKEN_PREFIX)
            && token.len() < 200
            && self.limiter.check_credential(&hash, now).is_ok()
        {
            if let Some(principal) = self.store.principal_for_token(&hash).await? {
                return Ok(principal);
            }
        }
        self.limiter.fail(client, hash, now)?;
        Err(ServiceError::Unauthenticated)
    }

    pub async fn ready(&self) -> ServiceResult<()> {
        Ok(self.store.ping().await?)
    }

    /// A property the principal manages; anyone else gets NotFound, whatever
    /// their role, so that no answer confirms that an id exists (issue 17
    /// finding 5: see [`Service::hidden_or_forbidden`]).
    async fn managed_property(&self, p: &Principal, id: PropertyId) -> ServiceResult<Property> {
        let Principal::Manager { manager_id } = p else {
            return Err(ServiceError::NotFound("property"));
        };
        match self.store.get_property(id).await? {
            Some(prop) if prop.manager_id == *manager_id => Ok(prop),
            _ => Err(ServiceError::NotFound("property")),
        }
    }

    /// Whether the manager `p` manages the unit's property (false for
    /// anyone else and for a unit that does not exist).
    async fn manages_unit(&self, p: &Principal, id: UnitId) -> ServiceResult<bool> {
        if !matches!(p, Principal::Manager { .. }) {
            return Ok(false);
        }
        let Some(unit) = self.store.get_unit(id).await? else { return Ok(false) };
        Ok(self.managed_property(p, unit.property_id).await.is_ok())
    }

    /// The one rule for a call on an id the caller may not act on: 403 only
    /// if the caller can already see the thing (a manager at their tenant's
    /// preferences, a driver at their own record), otherwise 404, exactly as
    /// for an id that does not exist. A role is never told apart from an
    /// existence: checking "may this role do this at all?" after looking the
    /// id up made 403 mean "it exists" (issue 17 finding 5).
    fn hidden_or_forbidden(visible: bool, what: &'static str, why: &'static str) -> ServiceError {
        if visible {
            ServiceError::Forbidden(why)
        } else {
            ServiceError::NotFound(what)
        }
    }

    /// The unit, if the principal is one of its residents or manages its
    /// property; NotFound otherwise, whatever the role.
    async fn visible_unit(&self, p: &Principal, id: UnitId) -> ServiceResult<doorman_domain::Unit> {
        let visible = match p {
            Principal::Resident { unit_id, .. } => *unit_id == id,
            Principal::Manager { .. } => true,
            _ => false,
        };
        if !visible {
            return Err(ServiceError::NotFound("unit"));
        }
        let unit = self.store.get_unit(id).await?.ok_or(ServiceError::NotFound("unit"))?;
        if matches!(p, Principal::Manager { .. }) {
            self.managed_property(p, unit.property_id).await.map_err(|_| ServiceError::NotFound("unit"))?;
        }
        Ok(unit)
    }

    /// The unit, for what only its property's manager does; its own
    /// residents are forbidden, anyone else is told it is not found.
    pub(crate) async fn unit_of_its_manager(&self, p: &Principal, id: UnitId) -> ServiceResult<doorman_domain::Unit> {
        match p {
            Principal::Manager { .. } => {}
            Principal::Resident { unit_id, .. } if *unit_id == id => {
                return Err(ServiceError::Forbidden("only the unit's manager may do this"))
            }
            _ => return Err(ServiceError::NotFound("unit")),
        }
        let unit = self.store.get_unit(id).await?.ok_or(ServiceError::NotFound("unit"))?;
        self.managed_property(p, unit.property_id).await.map_err(|_| ServiceError::NotFound("unit"))?;
        Ok(unit)
    }

    /// The resident `p` of `unit`, for what only its residents do; its
    /// manager is forbidden, anyone else is told the unit is not found.
    pub(crate) async fn unit_resident(&self, p: &Principal, unit: UnitId) -> ServiceResult<ResidentId> {
        match p {
            Principal::Resident { resident_id, unit_id } if *unit_id == unit => Ok(*resident_id),
            _ => Err(Self::hidden_or_forbidden(
                self.manages_unit(p, unit).await?,
                "unit",
                "only the unit's residents may do this",
            )),
        }
    }
}

/// Checks a free-text field: trimmed, non-empty, bounded.
pub(crate) fn text_field(what: &str, value: &str, max: usize) -> ServiceResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ServiceError::invalid(format!("{what} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(ServiceError::invalid(format!("{what} is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ServiceError::invalid(format!("{what} contains control characters")));
    }
    Ok(v.to_string())
}

pub(crate) fn decode_b64(what: &str, value: &str) -> ServiceResult<Vec<u8>> {
    doorman_domain::serde_b64::decode(value).map_err(|_| ServiceError::invalid(format!("{what} is not base64url")))
}
