//! The test kit: boots exactly what `doorman serve` boots (the same store,
//! service and router), on 127.0.0.1:0, over a fresh database, with a clock
//! the test moves by hand; and helpers to check the API's error shape.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use doorman_api::ErrorBody;
use doorman_cli::app::{self, Running};
use doorman_client::{Client, ClientError};
use doorman_domain::{Clock, ManualClock, UnixSeconds};
use doorman_server::{KeyFile, ServiceConfig};
use doorman_store::Store;
use reqwest::{Method, StatusCode};

/// Where PostgreSQL-backed tests find their server.
pub const POSTGRES_ENV: &str = "DOORMAN_TEST_POSTGRES_URL";

/// Wednesday 2026-03-11, 14:00 in New York (18:00 UTC, daylight time): a
/// weekday afternoon, inside the usual carrier hours.
pub const WEDNESDAY_2PM: UnixSeconds = 1_773_252_000;
pub const HOUR: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The configuration every scenario runs with unless it names another.
pub fn default_config() -> ServiceConfig {
    ServiceConfig::default()
}

/// For scenarios that send many unauthenticated requests on purpose (all
/// from 127.0.0.1): a brute-force limit they will not reach.
pub fn relaxed_auth_config() -> ServiceConfig {
    ServiceConfig { auth_max_failures: 100_000, ..ServiceConfig::default() }
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One running service and what a test needs to drive it.
pub struct Kit {
    pub backend: Backend,
    pub clock: Arc<ManualClock>,
    pub running: Running,
    /// No token.
    pub anon: Client,
    /// The operator, with the token bootstrapped on first start.
    pub operator: Client,
    /// The database the service uses (a SQLite file, or a PostgreSQL URL
    /// whose `search_path` is the test's own schema), for tests that reach
    /// around the service.
    #[allow(dead_code)] // for tests that tamper with the stored log
    pub database_url: String,
    /// The service's keys (the log key among them).
    #[allow(dead_code)] // for tests that check signatures with the log key
    pub keys: KeyFile,
    /// The store the service was booted with (the service keeps its own
    /// private), for tests that seed or inspect the database directly.
    store: Arc<dyn Store>,
    /// Dropped (and so removed) after the server: the SQLite file lives here.
    _dir: Option<TempDir>,
}

impl std::fmt::Debug for Kit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kit")
            .field("backend", &self.backend)
            .field("running", &self.running)
            .field("database_url", &self.database_url)
            .finish_non_exhaustive()
    }
}

impl Kit {
    /// A server with the default configuration; `None` (after saying so)
    /// for PostgreSQL when no server is configured.
    pub async fn start(backend: Backend) -> anyhow::Result<Option<Kit>> {
        Self::start_with(backend, default_config()).await
    }

    pub async fn start_with(backend: Backend, config: ServiceConfig) -> anyhow::Result<Option<Kit>> {
        let keys = KeyFile::generate(WEDNESDAY_2PM).map_err(|e| anyhow::anyhow!("{e}"))?;
        Self::start_with_keys(backend, config, keys).await
    }

    /// [`Kit::start_with`] with the given keys (a test that must know the
    /// log's key before the service starts).
    pub async fn start_with_keys(
        backend: Backend,
        config: ServiceConfig,
        keys: KeyFile,
    ) -> anyhow::Result<Option<Kit>> {
        let Some((database_url, dir)) = fresh_database(backend).await? else {
            println!("skipped: set {POSTGRES_ENV} to run the PostgreSQL variant");
            return Ok(None);
        };
        let store: Arc<dyn Store> = doorman_store::open(&database_url).await?;
        let clock = Arc::new(ManualClock::new(WEDNESDAY_2PM));
        let service = app::service_with(store.clone(), clock.clone(), &keys, config)?;
        // No background sequencer: tests sequence when they mean to.
        let running = app::start_with(service, "127.0.0.1:0".parse()?, None).await?;
        let token = running.operator_token.clone().context("a fresh database bootstraps an operator token")?;
        let anon = Client::new(running.url());
        let operator = anon.with_token(token);
        Ok(Some(Kit { backend, clock, running, anon, operator, database_url, keys, store, _dir: dir }))
    }

    /// Restarts the service as a new process would: stops the running
    /// server (requests in flight finish, the last checkpoint is signed),
    /// then boots a new store, service and server over the same database,
    /// with the same keys, configuration and clock, listening where the old
    /// one did, so the clients a test holds reach the new server.
    pub async fn restart(self) -> anyhow::Result<Kit> {
        let Kit { backend, clock, running, anon, operator, database_url, keys, store, _dir } = self;
        let (addr, config) = (running.addr, running.service.config().clone());
        running.stop().await?;
        // The old process's store goes with it.
        drop(store);
        let store: Arc<dyn Store> = doorman_store::open(&database_url).await?;
        let service = app::service_with(store.clone(), clock.clone(), &keys, config)?;
        let running = app::start_with(service, addr, None).await.context("listening where the old server did")?;
        anyhow::ensure!(running.operator_token.is_none(), "a restart must not bootstrap a second operator");
        Ok(Kit { backend, clock, running, anon, operator, database_url, keys, store, _dir })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let Kit { running, store, _dir, .. } = self;
        running.stop().await?;
        drop(store);
        drop(_dir);
        Ok(())
    }

    pub fn now(&self) -> UnixSeconds {
        self.clock.now()
    }

    pub fn set_time(&self, t: UnixSeconds) {
        self.clock.set(t);
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    /// The store behind the service (the one it was booted with), to check
    /// what was (not) written or to reach around the service on purpose.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn client(&self, token: &str) -> Client {
        self.anon.with_token(token)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database no other test uses: a SQLite file in a temporary directory,
/// or a schema of its own on the PostgreSQL server (named as the store's
/// own test schemas are, so that its sweeper drops it when it is old).
/// None for PostgreSQL when no server is configured.
pub async fn fresh_database(backend: Backend) -> anyhow::Result<Option<(String, Option<TempDir>)>> {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new("doorman-it")?;
            let url = format!("sqlite://{}", dir.path().join("doorman.db").display());
            Ok(Some((url, Some(dir))))
        }
        Backend::Postgres => match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                let mut admin = sqlx::PgConnection::connect(&url).await.context("connecting to PostgreSQL")?;
                let now: i64 = sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)")
                    .fetch_one(&mut admin)
                    .await?;
                let schema = format!("doorman_test_{now}_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await?;
                admin.close().await?;
                let separator = if url.contains('?') { '&' } else { '?' };
                Ok(Some((format!("{url}{separator}options[search_path]={schema}"), None)))
            }
            _ => Ok(None),
        },
    }
}

/// An API error's status and body; fails the test on success or on an answer
/// that is not the documented error shape.
#[track_caller]
pub fn api_error<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (StatusCode, ErrorBody) {
    match result {
        Err(ClientError::Api { status, body }) => {
            assert_error_shape(status, &body);
            (status, body)
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts the call failed with `status` and `code`.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(result: Result<T, ClientError>, status: StatusCode, code: &str) -> ErrorBody {
    let (got, body) = api_error(result);
    assert_eq!((got, body.error.code.as_str()), (status, code), "{}", body.error.message);
    body
}

/// What every error answer must look like: a 4xx (never a 5xx), a stable
/// code, a message for people that leaks nothing internal.
#[track_caller]
pub fn assert_error_shape(status: StatusCode, body: &ErrorBody) {
    assert!(status.is_client_error(), "status {status} for {body:?}");
    let code = &body.error.code;
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "code {code:?} is not a stable snake_case code"
    );
    assert!(!body.error.message.trim().is_empty(), "empty message for {code}");
    let lower = body.error.message.to_ascii_lowercase();
    for leak in ["sqlx", "select ", "insert ", "postgres://", "sqlite://", "panicked", "database error"] {
        assert!(!lower.contains(leak), "message leaks internals ({leak}): {}", body.error.message);
    }
}

/// Sends a raw request and parses the answer as the error shape; fails the
/// test if the answer is a success, a 5xx, or anything else than ErrorBody.
pub async fn raw_error(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
) -> anyhow::Result<(StatusCode, ErrorBody)> {
    let (status, text) = client.send_raw(method.clone(), path, body.map(reqwest::Body::from), content_type).await?;
    let parsed: ErrorBody = serde_json::from_str(&text)
        .with_context(|| format!("{method} {path}: {status} is not the error shape: {text}"))?;
    assert_error_shape(status, &parsed);
    Ok((status, parsed))
}

/// `raw_error` with a JSON body.
pub async fn raw_json_error(
    client: &Client,
    method: Method,
    path: &str,
    body: &str,
) -> anyhow::Result<(StatusCode, ErrorBody)> {
    raw_error(client, method, path, Some(body.as_bytes().to_vec()), Some("application/json")).await
}

/// One request, as data: tables of these drive the crossing and bad-input tests.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Self { method: Method::GET, path: path.into(), body: None }
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Self { method: Method::DELETE, path: path.into(), body: None }
    }
    pub fn post(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Self::with_body(Method::POST, path, body)
    }
    pub fn put(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Self::with_body(Method::PUT, path, body)
    }
    pub fn patch(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Self::with_body(Method::PATCH, path, body)
    }
    fn with_body(method: Method, path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        let body = serde_json::to_string(body).unwrap_or_default();
        Self { method, path: path.into(), body: Some(body) }
    }

    /// Sends it as `client`; the answer must be the error shape.
    pub async fn error(&self, client: &Client) -> anyhow::Result<(StatusCode, ErrorBody)> {
        let body = self.body.as_ref().map(|b| b.as_bytes().to_vec());
        let content_type = self.body.as_ref().map(|_| "application/json");
        raw_error(client, self.method.clone(), &self.path, body, content_type).await
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every call, made as `client`, fails with `status` and `code`.
pub async fn expect_all(client: &Client, calls: &[Call], status: StatusCode, code: &str) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for call in calls {
        let (got, body) = call.error(client).await?;
        if (got, body.error.code.as_str()) != (status, code) {
            wrong.push(format!("{call}: {got} {} ({})", body.error.code, body.error.message));
        }
    }
    assert!(wrong.is_empty(), "expected {status} {code}, but:\n{}", wrong.join("\n"));
    Ok(())
}

/// A `doorman serve` child process (the real binary), once it accepts
/// connections.
pub struct ServeChild {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, as the process printed it.
    pub url: String,
    /// The operator token, printed on the database's first start only.
    pub operator_token: Option<String>,
}

/// Starts `doorman serve` on `database` and `data_dir`, listening on
/// `listen`, with warnings-only logs, no configuration file and `env`
/// added; returns once it printed its address, and keeps draining its
/// stdout so that it never blocks on it.
pub fn serve_child(
    database: &str,
    data_dir: &Path,
    listen: &str,
    env: &[(&str, String)],
) -> anyhow::Result<ServeChild> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"));
    command
        .args(["serve", "--listen", listen, "--database", database])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DOORMAN_LOG", "warn")
        .env_remove("DOORMAN_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().context("starting doorman serve")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut operator_token = None;
    // The process prints the token (first start only), then the address
    // once it accepts connections.
    loop {
        let line = lines.next().context("doorman serve exited before listening")??;
        let line = line.trim();
        if line.starts_with("dm_") {
            operator_token = Some(line.to_string());
        }
        if let Some(rest) = line.strip_prefix("doorman listening on ") {
            let url = rest.split_whitespace().next().context("an address")?.to_string();
            std::thread::spawn(move || for _ in lines {});
            return Ok(ServeChild { child, url, operator_token });
        }
    }
}
