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
    pub issuer: Option<String>,
    pub credential_lifetime_s: Option<i64>,
    pub max_distance_m: Option<f64>,
    pub window_grace_s: Option<i64>,
    pub auth_max_failures: Option<u32>,
    pub log: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// A SQLite path or `sqlite://` URL, or a `postgres://` URL.
    pub database: String,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub service: doorman_server::ServiceConfig,
    pub log: String,
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
        let pick = |a: Option<String>, b: Option<String>| a.or(b);
        let data_dir = flags.data_dir.or(from_file.data_dir).unwrap_or_else(|| PathBuf::from("doorman-data"));
        let database = pick(flags.database, from_file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("doorman.db").display()));
        let key_file = flags.key_file.or(from_file.key_file).unwrap_or_else(|| data_dir.join("keys.json"));
        let mut service = doorman_server::ServiceConfig::default();
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
        if let Some(v) = flags.auth_max_failures.or(from_file.auth_max_failures) {
            service.auth_max_failures = v;
        }
        let listen = match flags.listen.or(from_file.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        Ok(Config {
            listen,
            database,
            data_dir,
            key_file,
            service,
            log: pick(flags.log, from_file.log).unwrap_or_else(|| "info".into()),
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

# Failed authentications per client address per minute before it is refused.
#                                               env: DOORMAN_AUTH_MAX_FAILURES
auth_max_failures = 20

# Log filter (tracing's EnvFilter syntax).      env: DOORMAN_LOG
log = "info"
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
        std::fs::remove_dir_all(dir).unwrap();
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
}
