//! An in-memory fleet service: what the real service does for locks, without a
//! database. It issues credentials (one sequence number per lock, never reused),
//! revocation bundles and time statements, answers remote unlocks, and stores every
//! event once by (lock, counter) after checking its signature and chain, whether it
//! came over MQTT or in a handheld's pocket. Simulations and tests use it in place of
//! the service; it is also the reference for the service's own [`FleetService`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use doorman_domain::Clock;
use doorman_fleet::{intake_event, EventReceipt, FleetService, Intake, LockHealth};
use doorman_lock::issue_time_statement;
use doorman_protocol::{
    decode_event, delivery_hash, issue_credential, issue_revocation_bundle, open_challenge, ChainHead, Credential,
    CredentialClaims, CredentialId, HandheldKey, HandheldPublicKey, IssuerSigningKey, KeyUsage, LockDevicePublicKey,
    LockEvent, LockId, Nonce, RevokedEntry, TrustedKey,
};
use rand_core::{OsRng, RngCore};
use tokio::sync::Notify;

use crate::DeviceError;

#[derive(Debug)]
struct LockRecord {
    device: LockDevicePublicKey,
    head: ChainHead,
    events: BTreeMap<u64, Vec<u8>>,
    duplicates: u64,
    problems: Vec<String>,
    health: Option<LockHealth>,
    next_sequence: u64,
    revocation_sequence: u64,
    epoch: u64,
    revoked: Vec<RevokedEntry>,
    remote_requests: HashSet<u64>,
}

/// The in-memory fleet service.
pub struct InMemoryFleet {
    issuer: IssuerSigningKey,
    remote: HandheldKey,
    clock: Arc<dyn Clock>,
    credential_lifetime_secs: u64,
    locks: Mutex<HashMap<LockId, LockRecord>>,
    changed: Notify,
}

impl std::fmt::Debug for InMemoryFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryFleet").field("issuer", &self.issuer.key_id()).finish_non_exhaustive()
    }
}

/// A credential as issued, with what a test needs to know about it.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// The credential.
    pub credential: Credential,
    /// Its id.
    pub credential_id: CredentialId,
    /// Its expiry.
    pub expires_at: u64,
}

impl InMemoryFleet {
    /// A service signing with `issuer`, reading time from `clock`; credentials live 5 minutes.
    pub fn new(issuer: IssuerSigningKey, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            issuer,
            remote: HandheldKey::generate(&mut OsRng),
            clock,
            credential_lifetime_secs: 300,
            locks: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.clock.now()).unwrap_or(0)
    }

    fn locks(&self) -> Result<MutexGuard<'_, HashMap<LockId, LockRecord>>, DeviceError> {
        self.locks.lock().map_err(|_| DeviceError::Poisoned)
    }

    fn with_lock<T>(
        &self,
        lock: LockId,
        f: impl FnOnce(&mut LockRecord) -> Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        let mut locks = self.locks()?;
        let record = locks.get_mut(&lock).ok_or_else(|| DeviceError::Request("unknown lock".into()))?;
        let out = f(record);
        drop(locks);
        self.changed.notify_waiters();
        out
    }

    /// The anchor locks are provisioned with.
    pub fn trust_anchors(&self) -> Vec<TrustedKey> {
        vec![self.issuer.trusted_key(KeyUsage::ALL)]
    }

    /// Registers a lock's device key.
    pub fn register(&self, lock: LockId, device: LockDevicePublicKey) -> Result<(), DeviceError> {
        self.locks()?.insert(
            lock,
            LockRecord {
                device,
                head: ChainHead::GENESIS,
                events: BTreeMap::new(),
                duplicates: 0,
                problems: Vec::new(),
                health: None,
                next_sequence: 1,
                revocation_sequence: 0,
                epoch: 0,
                revoked: Vec::new(),
                remote_requests: HashSet::new(),
            },
        );
        Ok(())
    }

    fn claims<'a>(
        &self,
        record: &mut LockRecord,
        lock: LockId,
        handheld: HandheldPublicKey,
        delivery: &[u8],
        nonce: Option<Nonce>,
    ) -> CredentialClaims<'a> {
        let now = self.now();
        let mut cti = [0u8; 16];
        OsRng.fill_bytes(&mut cti);
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let sequence = record.next_sequence;
        record.next_sequence += 1;
        CredentialClaims {
            issuer: "doorman",
            lock_id: lock,
            not_before: now.saturating_sub(30),
            expires_at: now + self.credential_lifetime_secs,
            issued_at: now,
            credential_id: CredentialId(cti),
            handheld_key: handheld,
            delivery_hash: delivery_hash(&salt, delivery),
            lock_sequence: sequence,
            revocation_epoch: record.epoch,
            max_uses: 1,
            challenge_nonce: nonce,
        }
    }

    /// A credential for `lock`, bound to `handheld`, for the delivery `delivery`.
    pub fn issue_credential(
        &self,
        lock: LockId,
        handheld: HandheldPublicKey,
        delivery: &[u8],
    ) -> Result<IssuedCredential, DeviceError> {
        self.with_lock(lock, |r| {
            let claims = self.claims(r, lock, handheld, delivery, None);
            let credential =
                issue_credential(&self.issuer, &claims).map_err(|e| DeviceError::Request(e.to_string()))?;
            Ok(IssuedCredential { credential, credential_id: claims.credential_id, expires_at: claims.expires_at })
        })
    }

    /// Revokes a credential: the new (full) bundle for the lock, to push or to carry.
    pub fn revoke(&self, lock: LockId, credential: &IssuedCredential) -> Result<Vec<u8>, DeviceError> {
        self.with_lock(lock, |r| {
            r.revoked.push(RevokedEntry { credential_id: credential.credential_id, expires_at: credential.expires_at });
            r.revocation_sequence += 1;
            issue_revocation_bundle(&self.issuer, &lock, r.revocation_sequence, r.epoch, &r.revoked)
                .map(|b| b.to_vec())
                .map_err(|e| DeviceError::Request(e.to_string()))
        })
    }

    /// Allows the remote unlock `request_id` (a resident asked for it).
    pub fn allow_remote_unlock(&self, lock: LockId, request_id: u64) -> Result<(), DeviceError> {
        self.with_lock(lock, |r| {
            r.remote_requests.insert(request_id);
            Ok(())
        })
    }

    /// Stores an uploaded event (over MQTT or carried by a handheld).
    pub fn receive_event(&self, lock: LockId, bytes: &[u8]) -> EventReceipt {
        let receipt = self.with_lock(lock, |r| {
            let device = r.device;
            let stored = &r.events;
            let intake = intake_event(
                device,
                lock,
                r.head,
                |c| stored.get(&c).and_then(|b| decode_event(b, &device).ok()).map(|e| e.hash),
                bytes,
            );
            match &intake {
                Intake::New(e) => {
                    r.events.insert(e.counter, bytes.to_vec());
                    r.head = ChainHead { counter: e.counter, hash: e.hash, time: e.time };
                }
                Intake::Repeat { .. } => r.duplicates += 1,
                Intake::Gap { .. } => {}
                Intake::Fork { counter } => r.problems.push(format!("fork at {counter}")),
                Intake::Invalid(e) => r.problems.push(format!("invalid event: {e:?}")),
            }
            Ok(intake.receipt(r.head.counter))
        });
        receipt.unwrap_or(EventReceipt { ack: 0, resend_after: None })
    }

    /// Stores events a handheld carried back; returns the receipt of the last.
    pub fn receive_carried(&self, lock: LockId, events: &[Vec<u8>]) -> EventReceipt {
        let mut receipt = EventReceipt { ack: self.head(lock).map(|h| h.counter).unwrap_or(0), resend_after: None };
        for e in events {
            receipt = self.receive_event(lock, e);
        }
        receipt
    }

    /// The stored chain head.
    pub fn head(&self, lock: LockId) -> Option<ChainHead> {
        self.locks().ok()?.get(&lock).map(|r| r.head)
    }

    /// Every stored event of `lock`, in order.
    pub fn events(&self, lock: LockId) -> Vec<LockEvent> {
        let Ok(locks) = self.locks() else { return Vec::new() };
        let Some(r) = locks.get(&lock) else { return Vec::new() };
        r.events.values().filter_map(|b| decode_event(b, &r.device).ok()).collect()
    }

    /// Uploads recognised as repeats.
    pub fn duplicates(&self, lock: LockId) -> u64 {
        self.locks().ok().and_then(|l| l.get(&lock).map(|r| r.duplicates)).unwrap_or(0)
    }

    /// Forks and invalid events seen.
    pub fn problems(&self, lock: LockId) -> Vec<String> {
        self.locks().ok().and_then(|l| l.get(&lock).map(|r| r.problems.clone())).unwrap_or_default()
    }

    /// The last health report.
    pub fn health(&self, lock: LockId) -> Option<LockHealth> {
        self.locks().ok()?.get(&lock).and_then(|r| r.health.clone())
    }

    /// Waits until `condition` holds, at most `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> Result<(), DeviceError> {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.changed.notified();
                if condition(self) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .map_err(|_| DeviceError::Timeout)
    }
}

#[async_trait::async_trait]
impl FleetService for InMemoryFleet {
    async fn event_received(&self, lock: LockId, signed_event: &[u8]) -> EventReceipt {
        self.receive_event(lock, signed_event)
    }

    async fn health_received(&self, lock: LockId, health: LockHealth) {
        let _ = self.with_lock(lock, |r| {
            r.health = Some(health);
            Ok(())
        });
    }

    async fn time_requested(&self, lock: LockId, nonce: Nonce) -> Option<Vec<u8>> {
        issue_time_statement(&self.issuer, lock, nonce, self.now(), &mut OsRng).ok().map(|s| s.to_vec())
    }

    async fn remote_challenge(&self, lock: LockId, request_id: u64, signed_challenge: &[u8]) -> Option<Vec<u8>> {
        self.with_lock(lock, |r| {
            if !r.remote_requests.remove(&request_id) {
                return Err(DeviceError::Refused("no such remote unlock request".into()));
            }
            let opened = open_challenge(signed_challenge, &r.device, &lock)
                .map_err(|e| DeviceError::Refused(format!("challenge: {e:?}")))?;
            let claims =
                self.claims(r, lock, self.remote.public_key(), b"remote unlock", Some(opened.challenge().nonce));
            let credential =
                issue_credential(&self.issuer, &claims).map_err(|e| DeviceError::Request(e.to_string()))?;
            let presentation = self
                .remote
                .present(&opened, credential.as_bytes())
                .map_err(|e| DeviceError::Request(format!("{e:?}")))?;
            Ok(presentation.to_vec())
        })
        .ok()
    }
}
