//! `doorman`: the service, its demo, and the commands an operator needs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use doorman_cli::config::{Config, FileConfig, DEFAULT_CONFIG};
use doorman_cli::manage::{self, Remote};
use doorman_cli::{app, demo, SystemClock};
use doorman_client::Client;

#[derive(Parser)]
#[command(
    name = "doorman",
    version,
    about = "Carrier-neutral delivery access: one verified courier, one delivery, one door."
)]
struct Cli {
    /// Without a command, `doorman` serves (like `doorman serve` with its defaults).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (SQLite in ./doorman-data by default).
    Serve(Box<ServeArgs>),
    /// Boot a throwaway service and walk through a delivery story over real HTTP.
    Demo,
    /// Print a commented example configuration file.
    DefaultConfig,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Building managers' accounts (operator token required).
    Manager {
        #[command(subcommand)]
        action: AccountAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Carriers: accounts (operator), enabling them at a property (manager), where they may deliver (carrier).
    Carrier {
        #[command(subcommand)]
        action: manage::CarrierCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A manager's properties: create, list, show, edit, hand over.
    Property {
        #[command(subcommand)]
        action: manage::PropertyCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A property's units (by label).
    Unit {
        #[command(subcommand)]
        action: manage::UnitCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A property's doors, as the tree they form.
    Door {
        #[command(subcommand)]
        action: manage::DoorCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A property's drop spots.
    DropSpot {
        #[command(subcommand)]
        action: manage::DropSpotCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// The tenant notice (delivery access goes live once it is set).
    Notice {
        #[command(subcommand)]
        action: manage::NoticeCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Residents: invite, list, move out.
    Resident {
        #[command(subcommand)]
        action: manage::ResidentCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A carrier's deliveries: announce (by unit label), ETA, cancel, list.
    Delivery {
        #[command(subcommand)]
        action: manage::DeliveryCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Bring a property to what one TOML file describes (a manager's token);
    /// applying the same file again changes nothing.
    Apply {
        /// The building file (see examples/building.toml).
        file: PathBuf,
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Benchmarks that print ratios against a baseline measured in the same run;
    /// with no subcommand, every figure in one table (see `bench all`).
    Bench {
        #[command(subcommand)]
        which: Option<BenchCommand>,
        #[command(flatten)]
        table: doorman_cli::bench_table::TableArgs,
    },
    /// A city's day through the whole system: a service on a simulated clock, a
    /// city built through the API, drivers over HTTP, locks over MQTT; prints
    /// throughput, latency, refusals, memory, /metrics beside its own totals, and
    /// the log verified.
    Simulate(SimulateArgs),
    /// The service of `doorman simulate`, started by it as a child process
    /// on a clock it moves over standard input (not for use by hand).
    #[command(hide = true)]
    SimulateService {
        #[arg(long)]
        database: String,
        #[arg(long)]
        data_dir: PathBuf,
        /// The clock's start (Unix seconds).
        #[arg(long)]
        time: i64,
    },
    /// Locks: provision, list, decommission, replace, health; run simulated ones, Mosquitto files.
    Lock(manage::LockArgs),
    /// Drivers: add, list, suspend, resume (a carrier); the handheld: deliver, present, code, relay, collect.
    Driver(manage::DriverArgs),
    /// The issuer's public keys, as locks should trust them; `keys rotate` rotates them.
    Keys {
        #[command(subcommand)]
        action: Option<KeysAction>,
        #[command(flatten)]
        remote: Remote,
    },
    /// The transparency log: export your entries with their proofs, verify them offline.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Run a transparency-log witness (C2SP tlog-witness): cosigns checkpoints that extend the last one.
    Witness(doorman_cli::witness_cmd::WitnessArgs),
    /// The operator's own: `operator token` mints a new operator token offline.
    Operator(doorman_cli::token_cmd::OperatorArgs),
    /// API tokens: `token revoke` (the token from stdin or --token-file).
    Token(doorman_cli::token_cmd::TokenArgs),
}

#[derive(Subcommand)]
enum KeysAction {
    /// Rotate the issuer key of the running service (the operator's token):
    /// a new key is announced to every lock in a signed key update and signs
    /// once every lock in service holds it. With --offline, for a stopped
    /// service: the new key is made active in the key file at once and the
    /// locks learn nothing of it.
    Rotate {
        /// Change the key file directly (the service is stopped).
        #[arg(long, requires_all = ["key_file", "database"])]
        offline: bool,
        /// The service's key file (--offline).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The service's database, SQLite path or URL, or postgres:// URL (--offline).
        #[arg(long)]
        database: Option<String>,
    },
    /// Retire the issuer keys that no longer sign: locks stop trusting them
    /// with the next key update (the running service, the operator's token).
    Retire,
    /// Where the rotation stands: the key signing, a key waiting, the locks behind.
    Status,
    /// Seal the key file at rest with DOORMAN_KEY_ENCRYPTION_KEY, in place
    /// (a new file renamed over the old one). The service then needs the same key.
    Encrypt {
        /// The service's key file.
        #[arg(long, env = "DOORMAN_KEY_FILE")]
        key_file: PathBuf,
        /// 32 bytes in base64 (`doorman keys new-encryption-key`).
        #[arg(long, env = "DOORMAN_KEY_ENCRYPTION_KEY", hide_env_values = true)]
        key_encryption_key: String,
    },
    /// Print a fresh key-encryption key (32 random bytes, base64) for DOORMAN_KEY_ENCRYPTION_KEY.
    NewEncryptionKey,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Write the entries you may see, their inclusion proofs and the checkpoint to one bundle.
    Export {
        /// The service's URL.
        #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Your API token.
        #[arg(long, env = "DOORMAN_TOKEN", hide_env_values = true)]
        token: String,
        /// Where to write the bundle (JSON).
        #[arg(long)]
        out: PathBuf,
        /// A checkpoint you kept from before: the bundle gets a consistency proof from it.
        #[arg(long)]
        since_checkpoint: Option<PathBuf>,
    },
    /// The operator's integrity check of the stored log, on the service's
    /// database and data folder: every entry against the stored tree, no
    /// hole, every checkpoint signed and consistent, the last one the
    /// service signed extended. Fails naming the first bad entry.
    Check {
        /// TOML configuration file (as `doorman serve`).
        #[arg(long, env = "DOORMAN_CONFIG")]
        config: Option<PathBuf>,
        /// SQLite path or sqlite:// URL, or postgres:// URL.
        #[arg(long, env = "DOORMAN_DATABASE")]
        database: Option<String>,
        /// The service's data folder (its key file and last signed checkpoint).
        #[arg(long, env = "DOORMAN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The service's key file [default: DATA_DIR/keys.json].
        #[arg(long, env = "DOORMAN_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The log's origin, if not the default.
        #[arg(long, env = "DOORMAN_LOG_ORIGIN")]
        log_origin: Option<String>,
    },
    /// Check a bundle offline: signatures, inclusion, consistency, lock event chains, grants.
    Verify {
        /// The bundle written by `doorman audit export`.
        bundle: PathBuf,
        /// The log's verifier key (`origin+id+key`); repeat if it has several.
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<String>,
        /// A checkpoint you kept from before (a signed note): the log must extend it.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// A witness whose cosignature must be on the checkpoint; repeat for several.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// TOML configuration file (see `doorman default-config`).
    #[arg(long, env = "DOORMAN_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DOORMAN_LISTEN")]
    listen: Option<SocketAddr>,
    /// SQLite path or sqlite:// URL, or postgres:// URL.
    #[arg(long, env = "DOORMAN_DATABASE")]
    database: Option<String>,
    /// Folder for the SQLite file and the key file [default: doorman-data].
    #[arg(long, env = "DOORMAN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The issuer keys and door-code master secret [default: DATA_DIR/keys.json].
    #[arg(long, env = "DOORMAN_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Seals the key file at rest: 32 bytes in base64 [default: the file is plain].
    #[arg(long, env = "DOORMAN_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    key_encryption_key: Option<String>,
    /// After `keys rotate`, the longest the old issuer key keeps signing while a lock lacks the new one, in s [default: 604800].
    #[arg(long, env = "DOORMAN_KEY_ACTIVATION_MAX_WAIT_S")]
    key_activation_max_wait_s: Option<i64>,
    #[arg(long, env = "DOORMAN_ISSUER")]
    issuer: Option<String>,
    /// Credential lifetime in seconds [default: 300].
    #[arg(long, env = "DOORMAN_CREDENTIAL_LIFETIME_S")]
    credential_lifetime_s: Option<i64>,
    #[arg(long, env = "DOORMAN_MAX_DISTANCE_M")]
    max_distance_m: Option<f64>,
    #[arg(long, env = "DOORMAN_WINDOW_GRACE_S")]
    window_grace_s: Option<i64>,
    /// How long a vehicle's last position counts for a trunk delivery, in s [default: 300].
    #[arg(long, env = "DOORMAN_VEHICLE_POSITION_MAX_AGE_S")]
    vehicle_position_max_age_s: Option<i64>,
    /// How far from the delivery address a vehicle may be parked, in m [default: 100].
    #[arg(long, env = "DOORMAN_VEHICLE_RADIUS_M")]
    vehicle_radius_m: Option<f64>,
    /// The longest a guest pass may last, in s [default: 3600].
    #[arg(long, env = "DOORMAN_GUEST_MAX_DURATION_S")]
    guest_max_duration_s: Option<i64>,
    /// Failed authentications per client address, and per token, per minute [default: 20].
    #[arg(long, env = "DOORMAN_AUTH_MAX_FAILURES")]
    auth_max_failures: Option<u32>,
    /// Access requests one driver may make per minute, 0 for no limit [default: 120].
    #[arg(long, env = "DOORMAN_ACCESS_REQUESTS_PER_DRIVER")]
    access_requests_per_driver: Option<u32>,
    /// Reverse proxies whose X-Forwarded-For names the client: addresses or
    /// networks, comma-separated (e.g. "127.0.0.1,10.0.0.0/8") [default: none].
    #[arg(long, env = "DOORMAN_TRUSTED_PROXIES")]
    trusted_proxies: Option<String>,
    /// Log filter [default: info].
    #[arg(long, env = "DOORMAN_LOG")]
    log: Option<String>,
    /// The transparency log's origin [default: doorman.example/log].
    #[arg(long, env = "DOORMAN_LOG_ORIGIN")]
    log_origin: Option<String>,
    /// How often the log signs a checkpoint, in ms [default: 250].
    #[arg(long, env = "DOORMAN_LOG_INTERVAL_MS")]
    log_interval_ms: Option<u64>,
    /// Witnesses that cosign checkpoints: "URL KEY,URL KEY".
    #[arg(long, env = "DOORMAN_WITNESSES")]
    witnesses: Option<String>,
    /// The URL users open the dashboard at (scheme and host), e.g.
    /// https://doors.example: the only origin allowed to change anything
    /// through the dashboard; https makes its session cookie Secure.
    #[arg(long, env = "DOORMAN_PUBLIC_URL")]
    public_url: Option<String>,
    /// Let webhooks target loopback and private addresses [default: false].
    #[arg(long, env = "DOORMAN_WEBHOOK_PRIVATE_TARGETS")]
    webhook_private_targets: Option<bool>,
    /// Seconds a webhook delivery being sent is kept from other dispatchers [default: 120].
    #[arg(long, env = "DOORMAN_WEBHOOK_LEASE_S")]
    webhook_lease_s: Option<i64>,
    /// Run the lock fleet's MQTT channel [default: true].
    #[arg(long, env = "DOORMAN_MQTT")]
    mqtt: Option<bool>,
    /// Where the embedded MQTT broker listens [default: 127.0.0.1:1884].
    #[arg(long, env = "DOORMAN_MQTT_LISTEN")]
    mqtt_listen: Option<SocketAddr>,
    /// Use this external broker instead, with the service's account: mqtt://user:password@host:port.
    #[arg(long, env = "DOORMAN_MQTT_URL", hide_env_values = true)]
    mqtt_url: Option<String>,
    /// The broker URL locks are given when registered.
    #[arg(long, env = "DOORMAN_MQTT_PUBLIC_URL")]
    mqtt_public_url: Option<String>,
    /// Keep Mosquitto's password and ACL files in this folder (with --mqtt-url).
    #[arg(long, env = "DOORMAN_MQTT_MOSQUITTO_DIR")]
    mqtt_mosquitto_dir: Option<PathBuf>,
    /// Log a door left ajar after this many seconds open with no close [default: 120].
    #[arg(long, env = "DOORMAN_DOOR_AJAR_AFTER_S")]
    door_ajar_after_s: Option<i64>,
    /// How often a waiting event stream re-reads the log without a wake-up, in ms [default: 1000].
    #[arg(long, env = "DOORMAN_FEED_RECHECK_MS")]
    feed_recheck_ms: Option<u64>,
    /// Where camera clips are kept: a folder or s3://bucket/prefix [default: DATA_DIR/clips].
    #[arg(long, env = "DOORMAN_CLIP_STORE")]
    clip_store: Option<String>,
    /// Days a camera clip is kept [default: 30].
    #[arg(long, env = "DOORMAN_CLIP_RETENTION_DAYS")]
    clip_retention_days: Option<i64>,
    /// Largest camera clip upload in bytes [default: 64 MiB].
    #[arg(long, env = "DOORMAN_CLIP_MAX_BYTES")]
    clip_max_bytes: Option<usize>,
    /// The SMTP server email goes through [default: none, no email].
    #[arg(long, env = "DOORMAN_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Its port [default: 25, 587 or 465 by --smtp-tls].
    #[arg(long, env = "DOORMAN_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// none, starttls or tls [default: starttls].
    #[arg(long, env = "DOORMAN_SMTP_TLS")]
    smtp_tls: Option<String>,
    /// The SMTP account, if the server wants a login.
    #[arg(long, env = "DOORMAN_SMTP_USER")]
    smtp_user: Option<String>,
    #[arg(long, env = "DOORMAN_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// The From of every email, e.g. "doorman <doors@example.org>".
    #[arg(long, env = "DOORMAN_MAIL_FROM")]
    mail_from: Option<String>,
    /// A lock not heard from for this long counts as stale in /metrics, in s [default: 900].
    #[arg(long, env = "DOORMAN_LOCK_STALE_AFTER_S")]
    lock_stale_after_s: Option<i64>,
    /// A token that reads /metrics and nothing else (besides the operator's).
    #[arg(long, env = "DOORMAN_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
}

impl ServeArgs {
    /// `doorman` alone: the serve flags' environment variables still apply.
    fn from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::try_parse_from(["doorman"]).map(|o| o.serve).unwrap_or_default()
    }
}

#[derive(Args)]
struct SimulateArgs {
    /// Buildings in the city (each with four units and a locked street door).
    #[arg(long, default_value_t = 10_000)]
    buildings: usize,
    /// Parcels delivered during the day.
    #[arg(long, default_value_t = 1_000_000)]
    parcels: usize,
    /// The service's database: a postgres:// URL (its schema must be empty),
    /// or a SQLite path or URL [default: a fresh SQLite file in a temporary folder].
    #[arg(long)]
    database: Option<String>,
    /// Service processes sharing the database (only 1 until several processes
    /// can share one log sequencer).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Driver visits in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Keep the SQLite file and keys here instead of a temporary folder.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Every figure in one table, each beside its baseline measured in the
    /// same run (the lock and token-format rows are doorman-bench's: `cargo
    /// run --release -p doorman-bench` prints the same table with them).
    All(doorman_cli::bench_table::TableArgs),
    /// A bench server: `doorman serve` with the baseline's bare signing
    /// endpoint beside the API (started by `bench access` and `bench`).
    #[command(hide = true)]
    ServeChild {
        #[arg(long)]
        database: String,
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// The transparency log: durable appends per second as a ratio to bare
    /// batched inserts of the same bytes (same database, same run), and
    /// proof times at 10^8 entries.
    Audit {
        /// Entries written per side.
        #[arg(long, default_value_t = 20_000)]
        entries: usize,
        /// Entries per transaction, both sides.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Tree size for the proof figures.
        #[arg(long, default_value_t = 100_000_000)]
        proof_size: u64,
        /// Proofs measured per figure.
        #[arg(long, default_value_t = 20_000)]
        iterations: u64,
        /// Measure on this PostgreSQL server (a fresh schema) instead of a SQLite file.
        #[arg(long)]
        database: Option<String>,
    },
    /// Access requests per second over HTTP with durable SQLite, as a ratio
    /// to a bare endpoint of the same server that only signs a credential.
    Access {
        /// Requests per side.
        #[arg(long, default_value_t = 4000)]
        requests: usize,
        /// Requests in flight, both sides (enough to saturate each; with few
        /// in flight a durable commit's latency, not work, bounds the full path).
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Measure on this PostgreSQL server (a fresh schema) instead of a SQLite file.
        #[arg(long)]
        database: Option<String>,
        /// Server processes sharing the database (PostgreSQL only).
        #[arg(long, default_value_t = 1)]
        processes: usize,
    },
}

#[derive(Subcommand)]
enum AccountAction {
    /// Create one; prints its API token once.
    Create {
        #[arg(long)]
        name: String,
    },
    List,
}

/// The service's threads (the async workers, SQLite's writer and flusher)
/// allocate and free constantly, often freeing on one thread what another
/// allocated; glibc's allocator serialized them on its arena locks (the
/// workers slept in `free`). mimalloc frees into per-thread pages without
/// a shared lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logs(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or_else(|| Command::Serve(Box::new(ServeArgs::from_env())));
    match command {
        Command::Serve(a) => {
            let flags = FileConfig {
                listen: a.listen,
                database: a.database,
                data_dir: a.data_dir,
                key_file: a.key_file,
                key_encryption_key: a.key_encryption_key,
                key_activation_max_wait_s: a.key_activation_max_wait_s,
                issuer: a.issuer,
                credential_lifetime_s: a.credential_lifetime_s,
                max_distance_m: a.max_distance_m,
                window_grace_s: a.window_grace_s,
                vehicle_position_max_age_s: a.vehicle_position_max_age_s,
                vehicle_radius_m: a.vehicle_radius_m,
                guest_max_duration_s: a.guest_max_duration_s,
                auth_max_failures: a.auth_max_failures,
                access_requests_per_driver: a.access_requests_per_driver,
                trusted_proxies: a.trusted_proxies.as_deref().map(doorman_cli::config::parse_list),
                log: a.log,
                log_origin: a.log_origin,
                log_interval_ms: a.log_interval_ms,
                witnesses: a.witnesses.as_deref().map(doorman_cli::config::parse_witnesses).transpose()?,
                public_url: a.public_url,
                mqtt: a.mqtt,
                mqtt_listen: a.mqtt_listen,
                mqtt_url: a.mqtt_url,
                mqtt_public_url: a.mqtt_public_url,
                mqtt_mosquitto_dir: a.mqtt_mosquitto_dir,
                webhook_private_targets: a.webhook_private_targets,
                webhook_lease_s: a.webhook_lease_s,
                door_ajar_after_s: a.door_ajar_after_s,
                feed_recheck_ms: a.feed_recheck_ms,
                clip_store: a.clip_store,
                clip_retention_days: a.clip_retention_days,
                clip_max_bytes: a.clip_max_bytes,
                smtp_host: a.smtp_host,
                smtp_port: a.smtp_port,
                smtp_tls: a.smtp_tls,
                smtp_user: a.smtp_user,
                smtp_password: a.smtp_password,
                mail_from: a.mail_from,
                lock_stale_after_s: a.lock_stale_after_s,
                metrics_token: a.metrics_token,
            };
            let config = Config::resolve(flags, a.config.as_ref())?;
            init_logs(&config.log);
            let service = app::open_service(&config, Arc::new(SystemClock)).await?;
            let mut running =
                app::start_serving(service, config.listen, Some(config.log_interval), config.dashboard.clone()).await?;
            running.fleet = app::start_fleet(&running.service, &config.fleet).await?;
            match &config.smtp {
                Some(smtp) => {
                    app::start_mail(&mut running, smtp, config.dashboard.public_url.as_deref())?;
                    println!("email: through {}:{} ({:?}), from {}", smtp.host, smtp.port, smtp.tls, smtp.from);
                }
                None => println!("email: off (no DOORMAN_SMTP_HOST)"),
            }
            match &running.fleet {
                Some(fleet) => {
                    println!("lock fleet: MQTT at {} (locks are given {})", fleet.broker_url, fleet.lock_url)
                }
                None => println!("lock fleet: no MQTT channel (DOORMAN_MQTT=false)"),
            }
            match running.service.log_key() {
                Ok(key) => println!("transparency log key (for `doorman audit verify --log-key`): {key}"),
                Err(e) => tracing::error!(error = %e, "the transparency log has no usable key"),
            }
            if let Some(token) = &running.operator_token {
                println!("First start: the operator's API token (shown once, keep it safe):\n\n  {token}\n");
            }
            tracing::info!(addr = %running.addr, backend = running.service.backend(), "doorman serving");
            println!(
                "doorman listening on {} (OpenAPI at {}/openapi.json, dashboard at {}/app/)",
                running.url(),
                running.url(),
                running.url()
            );
            running.wait().await
        }
        Command::Demo => {
            init_logs("warn");
            demo::run(&mut std::io::stdout()).await
        }
        Command::Bench { which: Some(BenchCommand::Access { requests, concurrency, database, processes }), .. } => {
            init_logs("warn");
            let database = match database {
                Some(url) => doorman_cli::bench::BenchDatabase::Postgres(url),
                None => doorman_cli::bench::BenchDatabase::Sqlite,
            };
            let server = doorman_cli::bench::server_command()?;
            let options = doorman_cli::bench::BenchOptions { requests, concurrency, database, processes, server };
            doorman_cli::bench::access(options, &mut std::io::stdout()).await
        }
        Command::Bench { which: Some(BenchCommand::ServeChild { database, key_file, data_dir }), .. } => {
            init_logs("warn");
            doorman_cli::bench::serve_child(&database, &key_file, &data_dir).await
        }
        Command::Bench { which: None, table } | Command::Bench { which: Some(BenchCommand::All(table)), .. } => {
            init_logs("warn");
            let options = table.options(doorman_cli::bench::server_command()?);
            doorman_cli::bench_table::run(&options, None, &mut std::io::stdout(), &mut std::io::stderr())
                .await
                .map(drop)
        }
        Command::Bench {
            which: Some(BenchCommand::Audit { entries, batch, proof_size, iterations, database }),
            ..
        } => {
            init_logs("warn");
            let options =
                doorman_cli::bench_audit::AuditBenchOptions { entries, batch, proof_size, iterations, database };
            doorman_cli::bench_audit::audit(options, &mut std::io::stdout()).await
        }
        Command::Simulate(a) => {
            init_logs("error");
            use std::io::IsTerminal;
            let options = doorman_cli::simulate::SimulateOptions {
                buildings: a.buildings,
                parcels: a.parcels,
                database: a.database,
                processes: a.processes,
                concurrency: a.concurrency,
                data_dir: a.data_dir,
                progress: std::io::stderr().is_terminal(),
            };
            doorman_cli::simulate::run(options, &mut std::io::stdout()).await.map(drop)
        }
        Command::SimulateService { database, data_dir, time } => {
            init_logs("error");
            doorman_cli::simulate::service::serve(&database, &data_dir, time).await
        }
        Command::Lock(a) => {
            init_logs("info,rumqttd=warn");
            manage::lock(a).await
        }
        Command::Driver(a) => {
            init_logs("warn");
            manage::driver(a).await
        }
        Command::Property { action, remote } => manage::property(action, &remote).await,
        Command::Unit { action, remote } => manage::unit(action, &remote).await,
        Command::Door { action, remote } => manage::door(action, &remote).await,
        Command::DropSpot { action, remote } => manage::drop_spot(action, &remote).await,
        Command::Notice { action, remote } => manage::notice(action, &remote).await,
        Command::Resident { action, remote } => manage::resident(action, &remote).await,
        Command::Delivery { action, remote } => manage::delivery(action, &remote).await,
        Command::Carrier { action, remote } => manage::carrier(action, &remote).await,
        Command::Apply { file, dry_run, remote } => {
            doorman_cli::apply::run(&remote.client()?, &file, dry_run, remote.json).await
        }
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&doorman_web::openapi())?);
            Ok(())
        }
        Command::Manager { action, remote } => {
            let c = remote.client()?;
            match action {
                AccountAction::Create { name } => {
                    let m = c.create_manager(&name).await?;
                    println!("manager {} ({})\ntoken (shown once): {}", m.item.name, m.item.id, m.token);
                }
                AccountAction::List => {
                    for m in c.list_managers(None).await? {
                        println!("{}  {}", m.id, m.name);
                    }
                }
            }
            Ok(())
        }
        Command::Audit { action: AuditAction::Export { url, token, out, since_checkpoint } } => {
            doorman_cli::audit_cmd::run_export(&url, &token, &out, since_checkpoint.as_deref()).await
        }
        Command::Audit { action: AuditAction::Check { config, database, data_dir, key_file, log_origin } } => {
            init_logs("warn");
            let flags = doorman_cli::config::FileConfig {
                database,
                data_dir,
                key_file,
                log_origin,
                key_encryption_key: std::env::var("DOORMAN_KEY_ENCRYPTION_KEY").ok(),
                ..Default::default()
            };
            let config = Config::resolve(flags, config.as_ref())?;
            doorman_cli::audit_cmd::run_check(&config, &mut std::io::stdout()).await
        }
        Command::Audit { action: AuditAction::Verify { bundle, log_keys, previous, witness_keys } } => {
            doorman_cli::audit_cmd::run_verify(&bundle, &log_keys, previous.as_deref(), &witness_keys)
        }
        Command::Operator(a) => doorman_cli::token_cmd::run_operator(a, &mut std::io::stdout()).await,
        Command::Token(a) => doorman_cli::token_cmd::run_token(a, &mut std::io::stdin(), &mut std::io::stdout()).await,
        Command::Witness(args) => {
            init_logs("info");
            doorman_cli::witness_cmd::run(args).await
        }
        Command::Keys { action: Some(KeysAction::Rotate { offline: false, .. }), remote } => {
            let view = remote.client()?.rotate_keys().await?;
            println!(
                "issuer key {} announced to the locks (key update {}); {} signs until every lock in service \
                 holds it, at the latest at {}",
                view.pending_kid.as_deref().unwrap_or("?"),
                view.key_update_sequence,
                view.active_kid,
                view.activate_by.map(|t| t.to_string()).unwrap_or_default()
            );
            println!("locks that have not said they hold it yet: {}", view.locks_behind.len());
            Ok(())
        }
        Command::Keys { action: Some(KeysAction::Retire), remote } => {
            let view = remote.client()?.retire_keys().await?;
            println!(
                "keys retired in key update {}; locks trust only {}",
                view.key_update_sequence,
                view.published.join(", ")
            );
            Ok(())
        }
        Command::Keys { action: Some(KeysAction::Status), remote } => {
            let view = remote.client()?.key_rotation().await?;
            if remote.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(());
            }
            println!("signing: {}", view.active_kid);
            println!("published: {}", view.published.join(", "));
            println!("key update: {}", view.key_update_sequence);
            if let Some(kid) = &view.pending_kid {
                println!(
                    "waiting to sign: {kid} (at the latest at {}); locks behind: {}",
                    view.activate_by.unwrap_or_default(),
                    view.locks_behind.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
                );
            }
            Ok(())
        }
        Command::Keys { action: Some(KeysAction::Encrypt { key_file, key_encryption_key }), .. } => {
            let kek =
                doorman_server::KeyEncryptionKey::parse(&key_encryption_key).map_err(|e| anyhow::anyhow!("{e}"))?;
            let custody = doorman_server::KeyCustody::new(key_file.clone(), Some(kek));
            match custody.encrypt_in_place().map_err(|e| anyhow::anyhow!("{e}"))? {
                true => println!("key file {} is sealed now; start the service with the same key", key_file.display()),
                false => println!("key file {} was already sealed with this key", key_file.display()),
            }
            Ok(())
        }
        Command::Keys { action: Some(KeysAction::NewEncryptionKey), .. } => {
            println!("{}", doorman_server::KeyEncryptionKey::generate_text().map_err(|e| anyhow::anyhow!("{e}"))?);
            Ok(())
        }
        Command::Keys { action: Some(KeysAction::Rotate { offline: true, key_file, database }), .. } => {
            let (Some(key_file), Some(database)) = (key_file, database) else {
                anyhow::bail!("keys rotate --offline needs --key-file and --database");
            };
            let store = doorman_store::open(&database).await.context("opening the database")?;
            let now = doorman_domain::Clock::now(&SystemClock);
            let (kid, index) = doorman_server::audit::rotate_issuer_key(store.as_ref(), &key_file, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("active issuer key is now {kid} (audit log entry {index}); restart the service to sign with it");
            Ok(())
        }
        Command::Keys { action: None, remote } => {
            let keys = Client::new(&remote.url).keys().await?;
            println!("issuer: {}", keys.issuer);
            for k in keys.keys {
                println!("{}  {}  {}", k.kid, k.alg, k.public_key);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn parses(args: &[&str]) -> Command {
        match Cli::try_parse_from(args) {
            Ok(Cli { command: Some(c) }) => c,
            Ok(_) => panic!("{args:?}: no command"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn every_role_command_parses_beside_the_old_ones() {
        Cli::command().debug_assert();
        let c = parses(&[
            "doorman",
            "property",
            "create",
            "--name",
            "P",
            "--address",
            "A",
            "--lat",
            "-33.9",
            "--lon",
            "-151.2",
            "--time-zone",
            "Australia/Sydney",
            "--json",
        ]);
        assert!(
            matches!(c, Command::Property { action: manage::PropertyCmd::Create { lon, .. }, remote } if lon == -151.2 && remote.json)
        );
        let c = parses(&[
            "doorman",
            "door",
            "add",
            "-p",
            "Maple Court",
            "Lobby",
            "--kind",
            "lobby",
            "--parent",
            "Street door",
        ]);
        assert!(matches!(
            c,
            Command::Door { action: manage::DoorCmd::Add { kind: doorman_api::AccessPointKind::Lobby, .. }, .. }
        ));
        let c = parses(&["doorman", "drop-spot", "add", "-p", "P", "Shelf", "--kind", "package-room", "--door", "D"]);
        assert!(matches!(c, Command::DropSpot { .. }));
        let c = parses(&["doorman", "carrier", "enable", "Parcelo", "-p", "P", "--hours", "daily all day"]);
        assert!(matches!(c, Command::Carrier { action: manage::CarrierCmd::Enable { .. }, .. }));
        assert!(matches!(parses(&["doorman", "carrier", "create", "--name", "X"]), Command::Carrier { .. }));
        assert!(matches!(parses(&["doorman", "manager", "list"]), Command::Manager { .. }));
        let c =
            parses(&["doorman", "delivery", "announce", "-p", "P", "--unit", "2B", "--tracking", "T", "--from", "-1h"]);
        assert!(
            matches!(c, Command::Delivery { action: manage::DeliveryCmd::Announce { from, .. }, .. } if from == "-1h")
        );
        assert!(matches!(parses(&["doorman", "apply", "b.toml", "--dry-run"]), Command::Apply { dry_run: true, .. }));
        // The new lock and driver verbs sit beside the devices' ones.
        let c = parses(&["doorman", "lock", "decommission", "-p", "P", "Lobby"]);
        assert!(matches!(c, Command::Lock(manage::LockArgs { command: manage::LockCmd::Decommission { .. } })));
        let c = parses(&["doorman", "lock", "run", "--bundle", "a.json"]);
        assert!(matches!(c, Command::Lock(manage::LockArgs { command: manage::LockCmd::Device(_) })));
        let c = parses(&[
            "doorman",
            "lock",
            "provision",
            "--token",
            "t",
            "--property",
            "P",
            "--door",
            "Lobby",
            "--out",
            "b.json",
        ]);
        assert!(matches!(c, Command::Lock(manage::LockArgs { command: manage::LockCmd::Device(_) })));
        let c = parses(&["doorman", "driver", "suspend", "Dee"]);
        assert!(matches!(c, Command::Driver(manage::DriverArgs { command: manage::DriverCmd::Suspend { .. } })));
        let c = parses(&["doorman", "driver", "keygen", "--out", "k"]);
        assert!(matches!(c, Command::Driver(manage::DriverArgs { command: manage::DriverCmd::Handheld(_) })));
        assert!(Cli::try_parse_from(["doorman", "door", "add", "-p", "P", "X", "--kind", "window"]).is_err());
    }
}
