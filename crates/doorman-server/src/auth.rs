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
use doorman_domain::{Principal, TokenId, UnixSeconds};
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

/// Counts authentication failures per client address in fixed windows and
/// refuses a client that failed too often, before its token is even looked
/// at. Time comes from the caller.
#[derive(Debug)]
pub struct AuthFailureLimiter {
    max_failures: u32,
    window_s: i64,
    state: Mutex<HashMap<IpAddr, (UnixSeconds, u32)>>,
}

impl AuthFailureLimiter {
    pub fn new(max_failures: u32, window_s: i64) -> Self {
        Self { max_failures, window_s: window_s.max(1), state: Mutex::new(HashMap::new()) }
    }

    /// Err while the client is locked out.
    pub fn check(&self, client: IpAddr, now: UnixSeconds) -> ServiceResult<()> {
        let Ok(state) = self.state.lock() else { return Ok(()) };
        match state.get(&client) {
            Some((start, n)) if *n >= self.max_failures && now < start + self.window_s => {
                Err(ServiceError::RateLimited { retry_after_s: (start + self.window_s - now).max(1) as u64 })
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, client: IpAddr, now: UnixSeconds) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.len() > 100_000 {
            // Bounded memory under a spray of addresses: forget windows that ended.
            let window = self.window_s;
            state.retain(|_, (start, _)| now < *start + window);
        }
        let entry = state.entry(client).or_insert((now, 0));
        if now >= entry.0 + self.window_s {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
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
    fn limiter_locks_out_after_max_failures_until_the_window_ends() {
        let l = AuthFailureLimiter::new(3, 60);
        let ip: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        for _ in 0..3 {
            assert!(l.check(ip, 100).is_ok());
            l.record_failure(ip, 100);
        }
        assert!(matches!(l.check(ip, 120), Err(ServiceError::RateLimited { retry_after_s: 40 })));
        assert!(l.check(other, 120).is_ok());
        assert!(l.check(ip, 160).is_ok());
    }
}
