//! API tokens, dashboard sessions and brute-force protection.
//!
//! A token is `dm_` followed by 32 random bytes in base64url. The service
//! stores only SHA-256 of the token: the token has 256 bits of entropy, so a
//! plain hash is enough to make a database dump useless for signing in.
//!
//! A dashboard session is another way to present a token: 32 random bytes
//! (base64url) that the browser keeps, stored only as SHA-256 next to the
//! hash of the token it acts as. It ends with the token, at expiry
//! ([`WEB_SESSION_LIFETIME_S`]) or when ended.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_domain::{DriverId, Principal, TokenId, UnixSeconds};
use doorman_store::{StoreError, TokenRecord, WebSessionRecord};
use sha2::{Digest, Sha256};

use crate::{Service, ServiceError, ServiceResult};

pub const TOKEN_PREFIX: &str = "dm_";

/// A dashboard session lasts this long after it is opened (12 hours),
/// whatever happens meanwhile.
pub const WEB_SESSION_LIFETIME_S: i64 = 12 * 3600;

pub fn random_bytes<const N: usize>() -> ServiceResult<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| ServiceError::Internal(format!("no randomness: {e}")))?;
    Ok(out)
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh token and its hash.
pub fn fresh_token() -> ServiceResult<(String, [u8; 32])> {
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?));
    let hash = hash_secret(&token);
    Ok((token, hash))
}

/// A fresh token and the record to store for it.
pub fn new_token(principal: Principal, label: &str, now: UnixSeconds) -> ServiceResult<(String, TokenRecord)> {
    let (token, hash) = fresh_token()?;
    let record = TokenRecord { id: TokenId::random(), hash, principal, label: label.to_string(), created_at: now };
    Ok((token, record))
}

impl Service {
    /// Opens a dashboard session acting as `token` (which the caller has
    /// just authenticated or issued) and returns its secret, to be handed to
    /// the browser once: only its hash is stored. Unauthenticated if the
    /// token is unknown (revoked meanwhile).
    pub async fn open_web_session(&self, token: &str) -> ServiceResult<String> {
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let now = self.now();
        let record = WebSessionRecord {
            hash: hash_secret(&secret),
            token_hash: hash_secret(token),
            created_at: now,
            expires_at: now + WEB_SESSION_LIFETIME_S,
        };
        match self.store.insert_web_session(&record).await {
            Ok(()) => Ok(secret),
            Err(StoreError::Conflict(_)) => Err(ServiceError::Unauthenticated),
            Err(e) => Err(e.into()),
        }
    }

    /// The principal a dashboard session acts as: its token's, while the
    /// session has not expired and the token exists; None otherwise.
    pub async fn web_session_principal(&self, secret: &str) -> ServiceResult<Option<Principal>> {
        Ok(self.store.principal_for_web_session(&hash_secret(secret), self.now()).await?)
    }

    /// Ends a dashboard session (signing out); false if there was none.
    pub async fn end_web_session(&self, secret: &str) -> ServiceResult<bool> {
        Ok(self.store.delete_web_session(&hash_secret(secret)).await?)
    }
}

/// Failures counted per key in fixed windows.
#[derive(Debug)]
struct FailureWindows<K> {
    state: Mutex<HashMap<K, (UnixSeconds, u32)>>,
}

impl<K: std::hash::Hash + Eq> FailureWindows<K> {
    fn new() -> Self {
        Self { state: Mutex::new(HashMap::new()) }
    }

    /// Seconds until `key`'s window ends, if it has failed `max` times in it.
    fn locked_for(&self, key: &K, max: u32, window_s: i64, now: UnixSeconds) -> Option<u64> {
        let state = self.state.lock().ok()?;
        match state.get(key) {
            Some((start, n)) if *n >= max && now < start + window_s => Some((start + window_s - now).max(1) as u64),
            _ => None,
        }
    }

    /// Counts one more for `key`, unless it already has `max` in this
    /// window: then the seconds until the window ends, and nothing counted.
    /// One lock for both, so concurrent requests cannot overshoot.
    fn take(&self, key: K, max: u32, window_s: i64, now: UnixSeconds) -> Option<u64> {
        let Ok(mut state) = self.state.lock() else { return None };
        if state.len() > 100_000 {
            state.retain(|_, (start, _)| now < *start + window_s);
        }
        let entry = state.entry(key).or_insert((now, 0));
        if now >= entry.0 + window_s {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            return Some((entry.0 + window_s - now).max(1) as u64);
        }
        entry.1 += 1;
        None
    }

    fn record(&self, key: K, window_s: i64, now: UnixSeconds) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.len() > 100_000 {
            // Bounded memory under a spray of keys: forget windows that ended.
            state.retain(|_, (start, _)| now < *start + window_s);
        }
        let entry = state.entry(key).or_insert((now, 0));
        if now >= entry.0 + window_s {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Access requests per driver, in fixed windows: every request counts, valid
/// or not, so a driver's stolen token (or a buggy handheld) cannot flood the
/// access path, while other drivers behind the same address are untouched.
/// Kept in each process's memory: with several processes a driver may reach
/// the limit once per process. `max` 0: no limit.
#[derive(Debug)]
pub struct DriverRequestLimiter {
    max: u32,
    window_s: i64,
    by_driver: FailureWindows<DriverId>,
}

impl DriverRequestLimiter {
    pub fn new(max: u32, window_s: i64) -> Self {
        Self { max, window_s: window_s.max(1), by_driver: FailureWindows::new() }
    }

    /// Counts one request of `driver`; 429 (`RateLimited`, with the seconds
    /// until the window ends) once it made `max` in this window.
    pub fn take(&self, driver: DriverId, now: UnixSeconds) -> ServiceResult<()> {
        if self.max == 0 {
            return Ok(());
        }
        match self.by_driver.take(driver, self.max, self.window_s, now) {
            Some(retry_after_s) => Err(ServiceError::RateLimited { retry_after_s }),
            None => Ok(()),
        }
    }
}

/// Counts failed authentications per client address and per presented
/// credential (its hash), in fixed windows. It only ever answers a request
/// whose token is not valid: a valid token is looked up first and passes,
/// whatever its address did, so an attacker sharing a driver's address (a
/// carrier's NAT, a reverse proxy) cannot lock the driver out. Tokens carry
/// 256 random bits, so guessing one is hopeless anyway; the limiter turns a
/// flood of bad tokens into cheap 429s (a credential that failed too often
/// is refused without a database read) and makes it visible. Time comes
/// from the caller.
#[derive(Debug)]
pub struct AuthFailureLimiter {
    max_failures: u32,
    window_s: i64,
    by_address: FailureWindows<IpAddr>,
    by_credential: FailureWindows<[u8; 32]>,
}

impl AuthFailureLimiter {
    pub fn new(max_failures: u32, window_s: i64) -> Self {
        Self {
            max_failures,
            window_s: window_s.max(1),
            by_address: FailureWindows::new(),
            by_credential: FailureWindows::new(),
        }
    }

    /// Err while this credential has failed too often (from any address).
    pub fn check_credential(&self, credential: &[u8; 32], now: UnixSeconds) -> ServiceResult<()> {
        match self.by_credential.locked_for(credential, self.max_failures, self.window_s, now) {
            Some(retry_after_s) => Err(ServiceError::RateLimited { retry_after_s }),
            None => Ok(()),
        }
    }

    /// Err while the client address has failed too often (with any credential).
    pub fn check(&self, client: IpAddr, now: UnixSeconds) -> ServiceResult<()> {
        match self.by_address.locked_for(&client, self.max_failures, self.window_s, now) {
            Some(retry_after_s) => Err(ServiceError::RateLimited { retry_after_s }),
            None => Ok(()),
        }
    }

    /// A failed authentication: refused with 429 (Err) when its address or
    /// its credential is over the limit, counted otherwise.
    pub fn fail(&self, client: IpAddr, credential: [u8; 32], now: UnixSeconds) -> ServiceResult<()> {
        self.check(client, now)?;
        self.check_credential(&credential, now)?;
        self.by_address.record(client, self.window_s, now);
        self.by_credential.record(credential, self.window_s, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, ra) = new_token(Principal::Operator, "x", 0).unwrap();
        let (b, _) = new_token(Principal::Operator, "x", 0).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(ra.hash, hash_secret(&a));
    }

    #[test]
    fn limiter_counts_addresses_and_credentials_until_the_window_ends() {
        let l = AuthFailureLimiter::new(3, 60);
        let ip: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        for i in 0..3u8 {
            assert!(l.fail(ip, [i; 32], 100).is_ok());
        }
        assert!(matches!(l.fail(ip, [9; 32], 120), Err(ServiceError::RateLimited { retry_after_s: 40 })));
        assert!(l.check(other, 120).is_ok());
        assert!(l.check(ip, 160).is_ok());
        // One credential tried from many addresses.
        for i in 0..3u8 {
            assert!(l.fail([10, 0, 0, i].into(), [7; 32], 200).is_ok());
        }
        assert!(matches!(l.check_credential(&[7; 32], 230), Err(ServiceError::RateLimited { retry_after_s: 30 })));
        assert!(l.fail([10, 0, 1, 1].into(), [7; 32], 230).is_err());
        assert!(l.check_credential(&[8; 32], 230).is_ok());
    }
}
