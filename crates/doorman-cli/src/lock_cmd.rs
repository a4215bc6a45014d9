//! `doorman lock ...` (simulated locks, their provisioning, Mosquitto files) and
//! `doorman driver ...` (the driver's handheld): thin glue over `doorman-devices`,
//! `doorman-fleet` and the typed client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use doorman_api::{AccessRequest, CompleteDelivery, GeoPoint, PropertyId, RegisterLock};
use doorman_client::Client;
use doorman_devices::{AnchorJson, Handheld, LockBundle, LockEndpoint, MqttJson, RunOptions, RunningLocks};
use doorman_domain::serde_b64;
use doorman_fleet::{lock_name, parse_lock_name, MqttCredentials, PasswordHash, StaticAccounts, TopicScheme};
use doorman_lock::{CameraPolicy, LockConfig};
use doorman_protocol::{LockDeviceKey, LockDevicePublicKey, LockId};
use rand_core::{OsRng, RngCore};

use crate::SystemClock;

/// `doorman lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Run simulated locks from provisioning bundles: a loopback endpoint for
    /// handhelds, door sensor, camera, and the fleet channel when the bundles (or
    /// --mqtt-url) name a broker. State survives restarts in --state-dir.
    Run(RunArgs),
    /// Register a lock with the service (a manager's token) and write its
    /// provisioning bundle; the device key is made here and never leaves the bundle.
    Provision(ProvisionArgs),
    /// Write a Mosquitto password file, ACL file and configuration for the locks in
    /// the given bundles and one service account.
    Mosquitto(MosquittoArgs),
    /// Show the health of a property's locks as the service knows it (a manager's token).
    Health(HealthArgs),
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The service's URL.
    #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A building manager's API token.
    #[arg(long, env = "DOORMAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The property: its id or name.
    #[arg(long, short = 'p')]
    pub property: String,
    /// Print the API's JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A provisioning bundle (repeat for several locks in one process).
    #[arg(long = "bundle", required = true)]
    pub bundles: Vec<PathBuf>,
    /// The handhelds' endpoint (JSON lines over TCP; keep it on loopback).
    #[arg(long, env = "DOORMAN_LOCK_LISTEN", default_value = "127.0.0.1:7400")]
    pub listen: SocketAddr,
    /// Where each lock keeps its state file.
    #[arg(long, env = "DOORMAN_LOCK_STATE_DIR", default_value = "doorman-locks")]
    pub state_dir: PathBuf,
    /// The broker to use instead of the bundles' (e.g. mqtt://127.0.0.1:1884).
    #[arg(long, env = "DOORMAN_LOCK_MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// Stay off the network (the locks work offline and keep their events).
    #[arg(long)]
    pub offline: bool,
    /// Refuse deliveries while the camera's heartbeat is stale.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub camera_required: bool,
    /// A camera heartbeat older than this is stale.
    #[arg(long, default_value_t = 90)]
    pub camera_max_age_s: u64,
    /// Relock after an unlock if nobody opened the door.
    #[arg(long, default_value_t = 10)]
    pub relock_after_s: u64,
    /// Door-ajar alarm after the door stayed open this long.
    #[arg(long, default_value_t = 60)]
    pub ajar_after_s: u64,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The service's URL.
    #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A building manager's API token.
    #[arg(long, env = "DOORMAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The property: its id or name.
    #[arg(long)]
    pub property: String,
    /// The door: its id or name.
    #[arg(long, visible_alias = "door")]
    pub access_point: String,
    /// The lock reads credentials from handhelds.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub mobile_credential: bool,
    /// The lock has a keypad (the bundle gets its door-code secret).
    #[arg(long)]
    pub keypad: bool,
    #[arg(long, default_value = "doorman-sim")]
    pub model: String,
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub firmware: String,
    /// The broker the lock should use, if not the one the service names.
    #[arg(long)]
    pub mqtt_url: Option<String>,
    /// The lock's MQTT password, when the service does not issue one (with --mqtt-url).
    #[arg(long, env = "DOORMAN_LOCK_MQTT_PASSWORD", hide_env_values = true)]
    pub mqtt_password: Option<String>,
    /// Where to write the bundle (it holds secrets: owner-readable only).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MosquittoArgs {
    /// A provisioning bundle with an MQTT account (repeat).
    #[arg(long = "bundle")]
    pub bundles: Vec<PathBuf>,
    /// The service account's username.
    #[arg(long, default_value = "doorman-service")]
    pub service_user: String,
    /// The service account's password (generated and printed once when absent).
    #[arg(long, env = "DOORMAN_MQTT_SERVICE_PASSWORD", hide_env_values = true)]
    pub service_password: Option<String>,
    /// Mosquitto's listener.
    #[arg(long, default_value = "127.0.0.1:1884")]
    pub listen: SocketAddr,
    /// Folder for `passwords`, `acl` and `mosquitto.conf`.
    #[arg(long)]
    pub out: PathBuf,
}

/// `doorman driver`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    #[command(subcommand)]
    pub command: DriverCommand,
}

#[derive(Debug, Subcommand)]
pub enum DriverCommand {
    /// Make a handheld key file (its public key is what the service binds credentials to).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Scan a parcel: ask the service for access, present the credential to every
    /// door on the path (walking through), then confirm the drop.
    Deliver(DeliverArgs),
    /// Present one credential to a lock at its endpoint.
    Present(PresentArgs),
    /// Type a door code on a lock's keypad.
    Code {
        #[arg(long, default_value = "127.0.0.1:7400")]
        endpoint: SocketAddr,
        #[arg(long)]
        lock: String,
        #[arg(long)]
        code: String,
    },
    /// Carry a revocation bundle (base64url or raw, from a file) to an offline lock.
    Relay {
        #[arg(long, default_value = "127.0.0.1:7400")]
        endpoint: SocketAddr,
        #[arg(long)]
        lock: String,
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Collect a lock's unacknowledged signed events, to carry them to the service.
    Collect {
        #[arg(long, default_value = "127.0.0.1:7400")]
        endpoint: SocketAddr,
        #[arg(long)]
        lock: String,
        /// Only events after this counter.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// JSON file to write (a list of base64url events); stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The service's URL.
    #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The driver's (carrier's) API token.
    #[arg(long, env = "DOORMAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The handheld key file (`doorman driver keygen`).
    #[arg(long)]
    pub handheld: PathBuf,
    #[arg(long)]
    pub tracking: String,
    /// The building the driver is at: its name or id, among those that enabled
    /// the driver's carrier.
    #[arg(long)]
    pub property: String,
    /// Where the driver stands (degrees; south and west are negative: `--lon -73.98`).
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// The locks' endpoint (`doorman lock run`).
    #[arg(long, default_value = "127.0.0.1:7400")]
    pub endpoint: SocketAddr,
    /// Also confirm the drop with the service.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub complete: bool,
}

#[derive(Debug, Args)]
pub struct PresentArgs {
    #[arg(long, default_value = "127.0.0.1:7400")]
    pub endpoint: SocketAddr,
    /// The lock's id.
    #[arg(long)]
    pub lock: String,
    /// The lock's device public key (base64url), as the service gives it; without it
    /// the key the endpoint reports is used (a simulation convenience: a real handheld
    /// must not trust a lock's word about its own key).
    #[arg(long)]
    pub lock_key: Option<String>,
    /// The credential (base64url).
    #[arg(long)]
    pub credential: String,
    /// The handheld key file.
    #[arg(long)]
    pub handheld: PathBuf,
    /// Open and close the door after an unlock.
    #[arg(long)]
    pub walk_through: bool,
}

/// `doorman lock ...`.
pub async fn run_lock(args: LockArgs) -> anyhow::Result<()> {
    match args.command {
        LockCommand::Run(a) => run_locks(a).await,
        LockCommand::Provision(a) => provision(a).await,
        LockCommand::Mosquitto(a) => mosquitto(a),
        LockCommand::Health(a) => health(a).await,
    }
}

/// `doorman driver ...`.
pub async fn run_driver(args: DriverArgs) -> anyhow::Result<()> {
    match args.command {
        DriverCommand::Keygen { out } => {
            let mut secret = [0u8; 32];
            OsRng.fill_bytes(&mut secret);
            let handheld = Handheld::from_secret(&secret)?;
            write_private(&out, serde_b64::encode(&secret).as_bytes())?;
            println!("handheld public key: {}", handheld.public_key_b64());
            Ok(())
        }
        DriverCommand::Deliver(a) => deliver(a).await,
        DriverCommand::Present(a) => {
            let handheld = read_handheld(&a.handheld)?;
            let endpoint = LockEndpoint::new(a.endpoint);
            let lock = parse_lock(&a.lock)?;
            let key = lock_key(&endpoint, lock, a.lock_key.as_deref(), KeySource::Flag).await?;
            let credential = serde_b64::decode(&a.credential).context("the credential is not base64url")?;
            let decision = if a.walk_through {
                handheld.walk_through(&endpoint, lock, &key, &credential).await?
            } else {
                handheld.enter(&endpoint, lock, &key, &credential).await?
            };
            print_decision(&a.lock, &decision);
            if decision.unlocked {
                Ok(())
            } else {
                bail!("the lock stayed shut")
            }
        }
        DriverCommand::Code { endpoint, lock, code } => {
            let decision = LockEndpoint::new(endpoint).door_code(parse_lock(&lock)?, &code).await?;
            print_decision(&lock, &decision);
            Ok(())
        }
        DriverCommand::Relay { endpoint, lock, bundle } => {
            let raw = std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?;
            let bytes = std::str::from_utf8(&raw).ok().and_then(|t| serde_b64::decode(t.trim()).ok()).unwrap_or(raw);
            match LockEndpoint::new(endpoint).relay_revocation(parse_lock(&lock)?, &bytes).await? {
                Some(sequence) => println!("{lock}: revocation bundle {sequence} applied"),
                None => println!("{lock}: bundle not applied (the lock holds it or a newer one)"),
            }
            Ok(())
        }
        DriverCommand::Collect { endpoint, lock, after, out } => {
            let events = LockEndpoint::new(endpoint).collect_events(parse_lock(&lock)?, after).await?;
            let list: Vec<String> = events.iter().map(|e| serde_b64::encode(e)).collect();
            let json = serde_json::to_string_pretty(&list)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json)?;
                    println!("{} events from {lock} written to {}", list.len(), path.display());
                }
                None => println!("{json}"),
            }
            Ok(())
        }
    }
}

fn parse_lock(text: &str) -> anyhow::Result<LockId> {
    parse_lock_name(text).context("a lock id is a lowercase hyphenated UUID")
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// The public key of a handheld key file, as the service registers it.
pub fn handheld_public_key(path: &std::path::Path) -> anyhow::Result<String> {
    Ok(read_handheld(path)?.public_key_b64())
}

fn read_handheld(path: &std::path::Path) -> anyhow::Result<Handheld> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret: [u8; 32] = serde_b64::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("a handheld key file holds 32 bytes of base64url")?;
    Ok(Handheld::from_secret(&secret)?)
}

async fn lock_key(
    endpoint: &LockEndpoint,
    lock: LockId,
    given: Option<&str>,
    via: KeySource,
) -> anyhow::Result<LockDevicePublicKey> {
    let from_text = |t: &str| -> anyhow::Result<LockDevicePublicKey> {
        let bytes: [u8; 32] =
            serde_b64::decode(t).ok().and_then(|b| b.try_into().ok()).context("a lock key is 32 bytes of base64url")?;
        Ok(LockDevicePublicKey(bytes))
    };
    if let Some(t) = given {
        return from_text(t);
    }
    let name = lock_name(lock);
    let hosted = endpoint.hello().await?;
    let reported = hosted.iter().find(|h| h.lock == name).context("that lock is not served at this endpoint")?;
    eprintln!("warning: {name}: {}", untrusted_key_warning(via));
    from_text(&reported.device_public_key)
}

/// Where a lock key the handheld was not given would have come from, to
/// name the real way in the warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeySource {
    /// `driver present`: its `--lock-key` flag.
    Flag,
    /// `driver deliver`: the service's grant (a service that predates it names none).
    Grant,
}

fn untrusted_key_warning(via: KeySource) -> &'static str {
    match via {
        KeySource::Flag => {
            "trusting the key the lock reports for itself (simulation only): pass the key the service \
             lists for the lock (`lock_public_key` of the grant, `device_public_key` of GET \
             /v1/properties/{id}/locks) with --lock-key"
        }
        KeySource::Grant => {
            "the service's grant named no key for this lock (an older service); trusting the key the \
             lock reports for itself (simulation only)"
        }
    }
}

fn print_decision(lock: &str, d: &doorman_devices::DecisionJson) {
    if d.unlocked {
        println!("{lock}: OPENS ({})", d.source.as_deref().unwrap_or("?"));
    } else {
        println!("{lock}: STAYS SHUT ({})", d.reason.as_deref().unwrap_or("?"));
    }
}

fn lock_config(a: &RunArgs) -> LockConfig {
    LockConfig {
        relock_after_secs: a.relock_after_s,
        ajar_alarm_after_secs: a.ajar_after_s,
        camera: CameraPolicy { refuse_entry_when_stale: a.camera_required, max_heartbeat_age_secs: a.camera_max_age_s },
        ..LockConfig::default()
    }
}

async fn run_locks(a: RunArgs) -> anyhow::Result<()> {
    let bundles = a.bundles.iter().map(|p| LockBundle::read(p)).collect::<Result<Vec<_>, _>>()?;
    let mut options = RunOptions::new(a.state_dir.clone());
    options.listen = a.listen;
    options.config = lock_config(&a);
    options.online = !a.offline;
    options.mqtt_url = a.mqtt_url.clone();
    let running = RunningLocks::start(&bundles, options, Arc::new(SystemClock)).await?;
    println!("doorman locks listening on {} (state in {})", running.local_addr(), a.state_dir.display());
    for lock in running.locks() {
        let online = !a.offline && (a.mqtt_url.is_some() || bundles.iter().any(|b| b.mqtt.is_some()));
        println!(
            "  {}  key {}  {}{}",
            lock_name(lock.lock_id()),
            serde_b64::encode(&lock.device_public_key().0),
            if lock.keypad() { "keypad, " } else { "" },
            if online { "online" } else { "offline" }
        );
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}

async fn provision(a: ProvisionArgs) -> anyhow::Result<()> {
    let client = Client::new(&a.url).with_token(a.token.clone());
    let property = crate::manage::resolve::property(&client, &a.property).await?;
    let door = crate::manage::resolve::door(&client, property.id, &a.access_point).await?;
    let options = ProvisionOptions {
        mobile_credential: a.mobile_credential,
        keypad: a.keypad,
        model: a.model.clone(),
        firmware: a.firmware.clone(),
        mqtt_url: a.mqtt_url.clone(),
        mqtt_password: a.mqtt_password.clone(),
    };
    let bundle = provision_bundle(&client, property.id, door.id, &options, &a.out).await?;
    println!("lock {} registered; bundle written to {} (keep it secret)", bundle.lock_id, a.out.display());
    Ok(())
}

/// How a lock is provisioned (`doorman lock provision`, `doorman apply`).
#[derive(Clone, Debug)]
pub struct ProvisionOptions {
    pub mobile_credential: bool,
    pub keypad: bool,
    pub model: String,
    pub firmware: String,
    pub mqtt_url: Option<String>,
    pub mqtt_password: Option<String>,
}

impl Default for ProvisionOptions {
    fn default() -> Self {
        Self {
            mobile_credential: true,
            keypad: false,
            model: "doorman-sim".into(),
            firmware: env!("CARGO_PKG_VERSION").into(),
            mqtt_url: None,
            mqtt_password: None,
        }
    }
}

/// Makes a device key, registers the lock on `access_point` and writes its
/// provisioning bundle to `out` (owner-readable only).
pub async fn provision_bundle(
    client: &Client,
    property: PropertyId,
    access_point: doorman_api::AccessPointId,
    a: &ProvisionOptions,
    out: &std::path::Path,
) -> anyhow::Result<LockBundle> {
    if a.mqtt_url.is_none() && a.mqtt_password.is_some() {
        bail!("--mqtt-password needs --mqtt-url");
    }
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let device = LockDeviceKey::from_secret(&secret);
    let provisioned = client
        .register_lock(
            property,
            &RegisterLock {
                access_point_id: access_point,
                device_public_key: serde_b64::encode(&device.public_key().0),
                model: a.model.clone(),
                firmware: a.firmware.clone(),
                mobile_credential: a.mobile_credential,
                keypad: a.keypad,
            },
        )
        .await?;
    write_bundle(&secret, &provisioned, a, out)
}

/// Replaces `old` by a new device: a new key made here, registered as the
/// old lock's replacement; the new bundle is written to `out`.
pub async fn replace_bundle(
    client: &Client,
    property: PropertyId,
    old: doorman_api::LockId,
    a: &ProvisionOptions,
    out: &std::path::Path,
) -> anyhow::Result<LockBundle> {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let device = LockDeviceKey::from_secret(&secret);
    let req = doorman_api::ReplaceLock {
        device_public_key: serde_b64::encode(&device.public_key().0),
        model: a.model.clone(),
        firmware: a.firmware.clone(),
        mobile_credential: a.mobile_credential,
        keypad: a.keypad,
    };
    let provisioned = client.replace_lock(property, old, &req).await?;
    write_bundle(&secret, &provisioned, a, out)
}

/// The service's trust anchors as a lock bundle lists them (every usage
/// allowed: the service's key set says which key signs what).
pub fn anchors_of(anchors: &[doorman_api::TrustAnchor]) -> Vec<AnchorJson> {
    anchors
        .iter()
        .map(|t| AnchorJson { kid: t.kid.clone(), alg: t.alg.clone(), public_key: t.public_key.clone(), usage: None })
        .collect()
}

fn write_bundle(
    secret: &[u8; 32],
    provisioned: &doorman_api::LockProvisioned,
    a: &ProvisionOptions,
    out: &std::path::Path,
) -> anyhow::Result<LockBundle> {
    let lock = LockId(*provisioned.lock.id.as_uuid().as_bytes());
    // The account the service issued (shown this once); --mqtt-url points the
    // lock at another address of the same broker, --mqtt-password overrides a
    // service that issued none.
    let mqtt = match (&provisioned.mqtt, &a.mqtt_url, &a.mqtt_password) {
        (_, Some(url), Some(password)) => {
            Some(MqttJson { url: url.clone(), username: lock_name(lock), password: password.clone() })
        }
        (Some(issued), url, None) => Some(MqttJson {
            url: url.clone().unwrap_or_else(|| issued.url.clone()),
            username: issued.username.clone(),
            password: issued.password.clone(),
        }),
        (None, Some(_), None) => bail!("the service issued no MQTT account: --mqtt-url needs --mqtt-password"),
        (_, None, Some(_)) => bail!("--mqtt-password needs --mqtt-url"),
        (None, None, None) => None,
    };
    let bundle = LockBundle {
        lock_id: lock_name(lock),
        device_secret: serde_b64::encode(secret),
        trust_anchors: anchors_of(&provisioned.trust_anchors),
        door_code_secret: provisioned.door_code_secret.clone(),
        mqtt,
    };
    // Check it before writing: a bundle that does not load is worse than none.
    bundle.identity()?;
    bundle.trusted()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    bundle.write(out)?;
    Ok(bundle)
}

async fn health(a: HealthArgs) -> anyhow::Result<()> {
    let client = Client::new(&a.url).with_token(a.token.clone());
    let property = crate::manage::resolve::property(&client, &a.property).await?;
    let rows = client.lock_health(property.id).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let doors = client.list_access_points(property.id).await?;
    print!("{}", crate::lock_health::render(&property, &doors, &rows));
    Ok(())
}

fn mosquitto(a: MosquittoArgs) -> anyhow::Result<()> {
    let accounts = StaticAccounts::new();
    for path in &a.bundles {
        let bundle = LockBundle::read(path)?;
        let Some((_, creds)) = bundle.mqtt_credentials() else {
            bail!("{} has no MQTT account", path.display());
        };
        accounts.add_lock(bundle.lock()?, creds.hash(&mut OsRng));
    }
    let service = match &a.service_password {
        Some(p) => doorman_fleet::Secret::new(p.clone()),
        None => {
            let generated = MqttCredentials::generate(a.service_user.clone(), &mut OsRng);
            println!("service account {} password (shown once): {}", a.service_user, generated.password.expose());
            generated.password
        }
    };
    accounts.add_service(&a.service_user, PasswordHash::new(service.expose(), &mut OsRng))?;
    std::fs::create_dir_all(&a.out)?;
    let files = doorman_fleet::MosquittoFiles::generate(&TopicScheme::default(), &accounts);
    let paths = files.write_to(&a.out)?;
    let conf = a.out.join("mosquitto.conf");
    std::fs::write(&conf, doorman_fleet::mosquitto::config_file(a.listen, &paths, &a.out, None))?;
    println!("wrote {}, {} and {}", paths.passwords.display(), paths.acl.display(), conf.display());
    Ok(())
}

async fn deliver(a: DeliverArgs) -> anyhow::Result<()> {
    let handheld = read_handheld(&a.handheld)?;
    let client = Client::new(&a.url).with_token(a.token.clone());
    let property = match a.property.trim().parse::<PropertyId>() {
        Ok(id) => id,
        Err(_) => crate::manage::carrier_property(&client, &a.property).await?.property_id,
    };
    let granted = client
        .request_access(&AccessRequest {
            tracking_number: a.tracking.clone(),
            property_id: property,
            handheld_public_key: handheld.public_key_b64(),
            position: GeoPoint { lat: a.lat, lon: a.lon },
            drop_spot_id: None,
        })
        .await?;
    println!("access granted to {} (delivery {})", granted.drop_spot_name, granted.delivery_id);
    let endpoint = LockEndpoint::new(a.endpoint);
    for door in &granted.doors {
        let lock = LockId(*door.lock_id.as_uuid().as_bytes());
        let name = lock_name(lock);
        let decision = match (&door.credential, &door.door_code) {
            (Some(credential), _) => {
                let key = lock_key(&endpoint, lock, door.lock_public_key.as_deref(), KeySource::Grant).await?;
                let bytes = serde_b64::decode(credential).context("credential is not base64url")?;
                handheld.walk_through(&endpoint, lock, &key, &bytes).await?
            }
            (None, Some(code)) => {
                let d = endpoint.door_code(lock, code).await?;
                if d.unlocked {
                    endpoint.door(lock, true).await?;
                    endpoint.door(lock, false).await?;
                }
                d
            }
            (None, None) => bail!("no credential or code for {}", door.access_point_name),
        };
        print_decision(&format!("{} ({name})", door.access_point_name), &decision);
        if !decision.unlocked {
            bail!("stopped at {}", door.access_point_name);
        }
    }
    if a.complete {
        let done = CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None };
        client.complete_delivery(granted.delivery_id, &done).await?;
        println!("drop confirmed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    enum Cli {
        Lock(LockArgs),
        Driver(DriverArgs),
    }

    #[test]
    fn the_commands_parse() {
        Cli::command().debug_assert();
        let run = Cli::try_parse_from([
            "doorman",
            "lock",
            "run",
            "--bundle",
            "a.json",
            "--bundle",
            "b.json",
            "--listen",
            "127.0.0.1:0",
            "--camera-required",
            "false",
            "--offline",
        ])
        .unwrap();
        let Cli::Lock(LockArgs { command: LockCommand::Run(r) }) = run else { panic!("{run:?}") };
        assert_eq!(r.bundles.len(), 2);
        assert!(!r.camera_required && r.offline);
        assert!(!lock_config(&r).camera.refuse_entry_when_stale);
        let present = Cli::try_parse_from([
            "doorman",
            "driver",
            "present",
            "--lock",
            "42424242-4242-4242-4242-424242424242",
            "--credential",
            "AAAA",
            "--handheld",
            "h.key",
            "--walk-through",
        ])
        .unwrap();
        assert!(matches!(
            present,
            Cli::Driver(DriverArgs { command: DriverCommand::Present(PresentArgs { walk_through: true, .. }) })
        ));
        assert!(Cli::try_parse_from(["doorman", "lock", "run"]).is_err(), "a bundle is required");
        // West and south are negative; a negative number is a value, not a flag.
        let deliver = Cli::try_parse_from([
            "doorman",
            "driver",
            "deliver",
            "--token",
            "dm_x",
            "--handheld",
            "h.key",
            "--tracking",
            "PCL-1",
            "--property",
            "42424242-4242-4242-4242-424242424242",
            "--lat",
            "-33.87",
            "--lon",
            "-73.98",
        ])
        .unwrap();
        let Cli::Driver(DriverArgs { command: DriverCommand::Deliver(d) }) = deliver else { panic!("{deliver:?}") };
        assert_eq!((d.lat, d.lon), (-33.87, -73.98));
        let mixed = Cli::try_parse_from([
            "doorman",
            "driver",
            "deliver",
            "--token",
            "dm_x",
            "--handheld",
            "h.key",
            "--tracking",
            "PCL-1",
            "--property",
            "42424242-4242-4242-4242-424242424242",
            "--lon",
            "-0.5",
            "--lat",
            "51.5",
        ])
        .unwrap();
        let Cli::Driver(DriverArgs { command: DriverCommand::Deliver(d) }) = mixed else { panic!("{mixed:?}") };
        assert_eq!((d.lat, d.lon), (51.5, -0.5));
        // Still a number: a stray flag is not taken for a longitude.
        assert!(Cli::try_parse_from([
            "doorman",
            "driver",
            "deliver",
            "--token",
            "dm_x",
            "--handheld",
            "h.key",
            "--tracking",
            "PCL-1",
            "--property",
            "42424242-4242-4242-4242-424242424242",
            "--lat",
            "1",
            "--lon",
            "--complete",
        ])
        .is_err());
        assert!(parse_lock("42424242-4242-4242-4242-424242424242").is_ok());
        assert!(parse_lock("not-a-lock").is_err());
    }

    #[test]
    fn each_warning_names_a_way_the_command_has() {
        // `driver deliver` has no --lock-key: its keys come with the grant.
        assert!(!untrusted_key_warning(KeySource::Grant).contains("--lock-key"));
        assert!(untrusted_key_warning(KeySource::Flag).contains("--lock-key"));
        let deliver = DeliverArgs::augment_args(clap::Command::new("deliver"));
        assert!(deliver.get_arguments().all(|a| a.get_long() != Some("lock-key")));
        let present = PresentArgs::augment_args(clap::Command::new("present"));
        assert!(present.get_arguments().any(|a| a.get_long() == Some("lock-key")));
    }

    #[tokio::test]
    async fn keygen_bundles_and_mosquitto_files_work_together() {
        let mut tag = [0u8; 8];
        OsRng.fill_bytes(&mut tag);
        let dir = std::env::temp_dir().join(format!("doorman-lock-cmd-{}", serde_b64::encode(&tag)));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("handheld.key");
        run_driver(DriverArgs { command: DriverCommand::Keygen { out: key.clone() } }).await.unwrap();
        assert!(read_handheld(&key).is_ok());
        let lock = LockId([7; 16]);
        let creds = MqttCredentials::for_lock(lock, &mut OsRng);
        let anchors = [doorman_protocol::IssuerSigningKey::from_ed25519_secret(&[1; 32])
            .trusted_key(doorman_protocol::KeyUsage::ALL)];
        let bundle_path = dir.join("lock.json");
        LockBundle::generate(lock, &anchors, None, &mut OsRng)
            .with_mqtt("mqtt://127.0.0.1:1884", &creds)
            .write(&bundle_path)
            .unwrap();
        mosquitto(MosquittoArgs {
            bundles: vec![bundle_path],
            service_user: "doorman-service".into(),
            service_password: Some("service-secret".into()),
            listen: "127.0.0.1:1884".parse().unwrap(),
            out: dir.clone(),
        })
        .unwrap();
        let passwords = std::fs::read_to_string(dir.join("passwords")).unwrap();
        let line = passwords.lines().find_map(|l| l.strip_prefix(&format!("{}:", creds.username))).unwrap();
        assert!(PasswordHash::parse(line).unwrap().verify(creds.password.expose()));
        assert!(std::fs::read_to_string(dir.join("mosquitto.conf")).unwrap().contains("acl_file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
