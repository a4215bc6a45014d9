//! MQTT accounts: one per lock (username = the lock's id, password = a random secret)
//! and one per service process; passwords are kept only as Mosquitto-compatible
//! PBKDF2-SHA512 hashes, so the same record serves the embedded broker and a
//! Mosquitto password file.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use doorman_protocol::LockId;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::topics::{lock_name, parse_lock_name, Acl, TopicScheme};
use crate::FleetError;

/// Who is behind an MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A lock: its own topics only.
    Lock(LockId),
    /// A service process: every lock's uplink, every lock's commands.
    Service {
        /// Its username.
        username: String,
    },
}

impl Principal {
    /// The MQTT username (and client id) of this principal.
    pub fn username(&self) -> String {
        match self {
            Principal::Lock(id) => lock_name(*id),
            Principal::Service { username } => username.clone(),
        }
    }

    /// What it may read and write.
    pub fn acl(&self, scheme: &TopicScheme) -> Acl {
        match self {
            Principal::Lock(id) => scheme.lock_acl(*id),
            Principal::Service { .. } => scheme.service_acl(),
        }
    }
}

/// A password; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The password itself, to hand to an MQTT client or show once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A username and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttCredentials {
    /// The username (a lock's id, or a service account).
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl MqttCredentials {
    /// Fresh credentials for `username`: 32 random bytes, base64url.
    pub fn generate(username: impl Into<String>, rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self { username: username.into(), password: Secret(URL_SAFE_NO_PAD.encode(secret)) }
    }

    /// Fresh credentials for a lock.
    pub fn for_lock(lock: LockId, rng: &mut impl CryptoRngCore) -> Self {
        Self::generate(lock_name(lock), rng)
    }

    /// The hash to store (never the password).
    pub fn hash(&self, rng: &mut impl CryptoRngCore) -> PasswordHash {
        PasswordHash::new(self.password.expose(), rng)
    }
}

/// A password hash in Mosquitto's `$7$` format: PBKDF2-HMAC-SHA512, 12-byte salt,
/// 64-byte key, `$7$<iterations>$<salt base64>$<key base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: u32,
    salt: Vec<u8>,
    key: [u8; 64],
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordHash($7$, {} iterations)", self.iterations)
    }
}

impl PasswordHash {
    /// Iterations used for new hashes. The passwords are 256-bit random secrets, so the
    /// work factor only has to make a leaked file useless, not slow a guesser down.
    pub const ITERATIONS: u32 = 1000;
    const SALT_LEN: usize = 12;

    fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; 64] {
        let mut key = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, iterations, &mut key);
        key
    }

    /// Hashes `password` with a fresh salt.
    pub fn new(password: &str, rng: &mut impl CryptoRngCore) -> Self {
        let mut salt = vec![0u8; Self::SALT_LEN];
        rng.fill_bytes(&mut salt);
        let key = Self::derive(password, &salt, Self::ITERATIONS);
        Self { iterations: Self::ITERATIONS, salt, key }
    }

    /// Checks a password (constant time in the comparison).
    pub fn verify(&self, password: &str) -> bool {
        let key = Self::derive(password, &self.salt, self.iterations);
        bool::from(key.ct_eq(&self.key))
    }

    /// Reads the `$7$...` text form.
    pub fn parse(text: &str) -> Result<Self, FleetError> {
        let bad = || FleetError::Config("not a $7$ password hash".into());
        let mut parts = text.split('$');
        let (Some(""), Some("7"), Some(iter), Some(salt), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let iterations: u32 = iter.parse().map_err(|_| bad())?;
        let salt = STANDARD.decode(salt).map_err(|_| bad())?;
        let key: [u8; 64] = STANDARD.decode(key).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
        if iterations == 0 || salt.is_empty() {
            return Err(bad());
        }
        Ok(Self { iterations, salt, key })
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$7${}${}${}", self.iterations, STANDARD.encode(&self.salt), STANDARD.encode(self.key))
    }
}

/// Where the embedded broker looks accounts up. The service implements it over its
/// store (lock accounts are created when a lock is registered); [`StaticAccounts`] is an
/// in-memory table.
#[async_trait::async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// The principal behind `username` if `password` is right.
    async fn authenticate(&self, username: &str, password: &str) -> Option<Principal>;
}

/// An in-memory account table (the embedded default, tests, the Mosquitto generator).
#[derive(Debug, Default)]
pub struct StaticAccounts {
    table: RwLock<HashMap<String, (PasswordHash, Principal)>>,
}

impl StaticAccounts {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a lock's account.
    pub fn add_lock(&self, lock: LockId, hash: PasswordHash) {
        self.insert(lock_name(lock), hash, Principal::Lock(lock));
    }

    /// Adds (or replaces) a service account; its username must not look like a lock's.
    pub fn add_service(&self, username: &str, hash: PasswordHash) -> Result<(), FleetError> {
        let ok = !username.is_empty()
            && parse_lock_name(username).is_none()
            && username.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(FleetError::Config(format!("invalid service username {username:?}")));
        }
        self.insert(username.to_owned(), hash, Principal::Service { username: username.to_owned() });
        Ok(())
    }

    fn insert(&self, username: String, hash: PasswordHash, principal: Principal) {
        if let Ok(mut t) = self.table.write() {
            t.insert(username, (hash, principal));
        }
    }

    /// Removes an account (a lock decommissioned: its connections are refused from now).
    pub fn remove(&self, username: &str) {
        if let Ok(mut t) = self.table.write() {
            t.remove(username);
        }
    }

    /// Every account, sorted by username: (username, hash, principal).
    pub fn entries(&self) -> Vec<(String, PasswordHash, Principal)> {
        let mut out: Vec<_> = self
            .table
            .read()
            .map(|t| t.iter().map(|(u, (h, p))| (u.clone(), h.clone(), p.clone())).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn lookup(&self, username: &str) -> Option<(PasswordHash, Principal)> {
        self.table.read().ok()?.get(username).cloned()
    }
}

#[async_trait::async_trait]
impl Accounts for StaticAccounts {
    async fn authenticate(&self, username: &str, password: &str) -> Option<Principal> {
        let (hash, principal) = self.lookup(username)?;
        hash.verify(password).then_some(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_round_trip_through_text() {
        let creds = MqttCredentials::for_lock(LockId([1; 16]), &mut rand_core::OsRng);
        assert_eq!(creds.username, "01010101-0101-0101-0101-010101010101");
        assert!(!format!("{creds:?}").contains(creds.password.expose()));
        let hash = creds.hash(&mut rand_core::OsRng);
        assert!(hash.verify(creds.password.expose()));
        assert!(!hash.verify("wrong"));
        let text = hash.to_string();
        assert!(text.starts_with("$7$1000$"));
        assert_eq!(PasswordHash::parse(&text).unwrap(), hash);
        for bad in ["", "$6$1$a$b", "$7$x$AAAA$AAAA", "$7$10$AAAA$AAAA", "$7$10$AAAA$AAAA$"] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hash_written_by_mosquitto_passwd_verifies() {
        // `mosquitto_passwd -c -b pw.txt lockuser s3cret-Pa55` (Mosquitto 2.0.11).
        let text = "$7$101$FG9Mj5jZIli1VzAD$EaMw3elSKDvtkQhwPiaHjUxE/P6j7uO7dx2ZDUDlr4CNraQug0KpVOP/0BsQ3LjixpMoREfsNpVkR3f7St2cKg==";
        let hash = PasswordHash::parse(text).unwrap();
        assert!(hash.verify("s3cret-Pa55"));
        assert!(!hash.verify("s3cret-Pa56"));
        assert_eq!(hash.to_string(), text);
    }

    #[tokio::test]
    async fn static_accounts_authenticate() {
        let accounts = StaticAccounts::new();
        let lock = LockId([2; 16]);
        let lc = MqttCredentials::for_lock(lock, &mut rand_core::OsRng);
        accounts.add_lock(lock, lc.hash(&mut rand_core::OsRng));
        let sc = MqttCredentials::generate("doorman-service", &mut rand_core::OsRng);
        accounts.add_service("doorman-service", sc.hash(&mut rand_core::OsRng)).unwrap();
        assert!(accounts.add_service(&lock_name(lock), sc.hash(&mut rand_core::OsRng)).is_err());
        assert_eq!(accounts.authenticate(&lc.username, lc.password.expose()).await, Some(Principal::Lock(lock)));
        assert_eq!(accounts.authenticate(&lc.username, sc.password.expose()).await, None);
        assert!(matches!(
            accounts.authenticate("doorman-service", sc.password.expose()).await,
            Some(Principal::Service { .. })
        ));
        accounts.remove(&lc.username);
        assert_eq!(accounts.authenticate(&lc.username, lc.password.expose()).await, None);
    }
}
