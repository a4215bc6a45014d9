//! PostgreSQL, for several service processes side by side (and so for any
//! PostgreSQL-compatible distributed database). Every guarantee that must
//! hold across processes is a constraint or a conditional write in the
//! database (see the crate documentation), never a lock in this process.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};

use crate::exec::Exec;
use crate::redact::scrub;
use crate::sqlite_direct::Direct;
use crate::sqlx_exec::{db_error, Backend, WriteTx};
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Isolated test schemas are named `doorman_test_<created, unix s>_<random>`.
const TEST_SCHEMA_PREFIX: &str = "doorman_test_";
/// Test schemas older than this are left over from finished runs.
const TEST_SCHEMA_MAX_AGE_S: i64 = 2 * 3600;
/// How long a caller waits for a pooled connection (or for the server to
/// come up) before the operation fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// While the server is known to be away, how long a caller waits for a
/// connection before being told so: a request answers 503 at once instead
/// of after [`ACQUIRE_TIMEOUT`], and the first call after the server is
/// back connects (a connection is made in milliseconds on a live server).
const ACQUIRE_TIMEOUT_WHILE_AWAY: Duration = Duration::from_millis(500);
/// With room in the pool, a connection that is not made within this long
/// means the server is away (a busy pool, with no room, is waited for up to
/// [`ACQUIRE_TIMEOUT`]): the first requests of an outage answer in 2 s.
const CONNECT_GRACE: Duration = Duration::from_secs(2);

pub struct PostgresStore {
    pool: PgPool,
    /// Set when a connection could not be made or was lost, cleared by the
    /// next connection acquired: while set, callers wait only
    /// [`ACQUIRE_TIMEOUT_WHILE_AWAY`] for one.
    away: std::sync::atomic::AtomicBool,
    /// The pool's size limit.
    max_connections: u32,
    /// `postgres://user@host:port/database`: where, never with the password.
    server: String,
    /// The schema the pool's `search_path` points at, when isolated.
    schema: Option<String>,
    /// The schema its tables are in (what `current_schema()` says).
    current_schema: String,
    /// Other processes' log appends, once listened for.
    growth: std::sync::OnceLock<tokio::sync::watch::Sender<u64>>,
    /// Access claims, group-committed.
    claims: crate::pg_claims::ClaimQueue,
    /// The access path's configuration, kept between requests while the
    /// database's `access_config_version` says it is current.
    config: std::sync::Mutex<crate::sqlite_direct::ConfigCache>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.server)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn parse_url(url: &str) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(scrub(&format!("invalid PostgreSQL URL: {e}"), url)))
}

fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

/// The environment variable that sizes a process's pool of connections.
pub const POOL_ENV: &str = "DOORMAN_POSTGRES_POOL";
/// Connections per process unless [`POOL_ENV`] says otherwise.
pub const DEFAULT_POOL: u32 = 10;

/// The pool's size: [`POOL_ENV`] (1 to 1000), or [`DEFAULT_POOL`].
fn pool_size() -> StoreResult<u32> {
    match std::env::var(POOL_ENV) {
        Err(_) => Ok(DEFAULT_POOL),
        Ok(value) => match value.trim().parse::<u32>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err(StoreError::Backend(format!(
                "{POOL_ENV} must be a number of connections from 1 to 1000, not {value:?}"
            ))),
        },
    }
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` or `postgresql://`
    /// URL and runs the migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::connect(url, parse_url(url)?, None, pool_size()?).await
    }

    /// For tests: creates a schema of its own in the database at `base_url`
    /// and uses only it, so parallel tests and repeated runs on one shared
    /// database never see each other's rows. Drops test schemas left over
    /// from runs more than two hours old.
    pub async fn open_isolated(base_url: &str) -> StoreResult<Self> {
        let (options, schema) = isolated_options(base_url).await?;
        Self::connect(base_url, options, Some(schema), 5).await
    }

    async fn connect(
        url: &str,
        options: PgConnectOptions,
        schema: Option<String>,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let server = describe(&options);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| connect_error(e, url))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(scrub(&format!("migrating PostgreSQL: {e}"), url)))?;
        let mut conn = pool.acquire().await.map_err(db_error)?;
        let current_schema: String = conn
            .fetch_optional("SELECT current_schema()::text", &[])
            .await?
            .ok_or_else(|| StoreError::Backend("PostgreSQL names no current schema".into()))?;
        drop(conn);
        Ok(Self {
            claims: crate::pg_claims::ClaimQueue::new(pool.clone(), options),
            config: std::sync::Mutex::default(),
            pool,
            server,
            schema,
            current_schema,
            growth: std::sync::OnceLock::new(),
            away: std::sync::atomic::AtomicBool::new(false),
            max_connections,
        })
    }
}

/// Creates a schema of its own in the database at `base_url` (after
/// dropping test schemas left over from runs more than two hours old) and
/// returns the options of connections that use only it, with its name.
pub(crate) async fn isolated_options(base_url: &str) -> StoreResult<(PgConnectOptions, String)> {
    let options = parse_url(base_url)?;
    let mut admin = PgConnection::connect_with(&options).await.map_err(|e| connect_error(e, base_url))?;
    let now: i64 = admin
        .fetch_optional("SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)", &[])
        .await?
        .ok_or_else(|| StoreError::Backend("PostgreSQL did not tell the time".into()))?;
    sweep_old_test_schemas(&mut admin, now).await?;
    let schema = format!("{TEST_SCHEMA_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    // The name is ours (digits, hex, underscores): safe to splice.
    admin.execute(&format!("CREATE SCHEMA \"{schema}\""), &[]).await?;
    admin.close().await.map_err(db_error)?;
    Ok((options.options([("search_path", schema.as_str())]), schema))
}

pub(crate) fn connect_error(error: sqlx::Error, url: &str) -> StoreError {
    StoreError::Backend(scrub(&format!("connecting to PostgreSQL: {error}"), url))
}

/// Best effort: a schema another sweeper dropped first is no failure.
async fn sweep_old_test_schemas(admin: &mut PgConnection, now: i64) -> StoreResult<()> {
    let names: Vec<String> = admin
        .fetch_all(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)",
            &[TEST_SCHEMA_PREFIX.into()],
        )
        .await?;
    for name in names {
        let created = name
            .strip_prefix(TEST_SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|stamp| stamp.parse::<i64>().ok());
        let is_ours = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if let (Some(created), true) = (created, is_ours) {
            if now - created > TEST_SCHEMA_MAX_AGE_S {
                let dropped = admin.execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"), &[]).await;
                if let Err(error) = dropped {
                    tracing::debug!(%error, schema = %name, "could not drop an old test schema");
                }
            }
        }
    }
    Ok(())
}

impl PostgresStore {
    /// Runs `connect` (taking a pooled connection), bounded by how long a
    /// caller should wait given what is known of the server, and keeps
    /// that knowledge up to date.
    async fn reachable<T>(&self, connect: impl Future<Output = Result<T, sqlx::Error>>) -> StoreResult<T> {
        use std::sync::atomic::Ordering;
        let away = self.away.load(Ordering::Relaxed);
        let unavailable =
            |limit: Duration| StoreError::Unavailable(format!("no connection to {} within {limit:?}", self.server));
        let mut connect = std::pin::pin!(connect);
        let first = if away { ACQUIRE_TIMEOUT_WHILE_AWAY } else { CONNECT_GRACE };
        let result = match tokio::time::timeout(first, &mut connect).await {
            Ok(result) => result.map_err(db_error),
            Err(_) if away || self.pool.size() < self.max_connections => Err(unavailable(first)),
            // Every connection is in use: wait for one to come back.
            Err(_) => match tokio::time::timeout(ACQUIRE_TIMEOUT.saturating_sub(first), connect).await {
                Ok(result) => result.map_err(db_error),
                Err(_) => Err(unavailable(ACQUIRE_TIMEOUT)),
            },
        };
        match &result {
            Ok(_) if away => {
                tracing::info!(server = %self.server, "PostgreSQL is reachable again");
                self.away.store(false, Ordering::Relaxed);
            }
            Err(StoreError::Unavailable(why)) if !away => {
                tracing::warn!(server = %self.server, %why, "PostgreSQL is unreachable");
                self.away.store(true, Ordering::Relaxed);
            }
            _ => {}
        }
        result
    }
}

impl Backend for PostgresStore {
    type Db = Postgres;
    const NAME: &'static str = "postgres";

    fn reads(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<WriteTx<Postgres>> {
        let tx: Transaction<'static, Postgres> = self.reachable(self.pool.begin()).await?;
        Ok(WriteTx::new(tx, None))
    }

    async fn read(&self) -> StoreResult<sqlx::pool::PoolConnection<Postgres>> {
        self.reachable(self.pool.acquire()).await
    }

    /// No direct path: sqlx's PostgreSQL driver runs on the calling task.
    fn direct(&self) -> Option<&Direct> {
        None
    }

    fn postgres(&self) -> Option<crate::cluster::PgCluster<'_>> {
        Some(crate::cluster::PgCluster {
            pool: &self.pool,
            schema: &self.current_schema,
            growth: &self.growth,
            claims: Some(&self.claims),
            config: Some(&self.config),
        })
    }
}
