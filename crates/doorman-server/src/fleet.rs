//! The service's side of the lock fleet: what it does with what locks send
//! over MQTT ([`FleetIntake`], the service's [`FleetService`]), what it pushes
//! to them (revocation bundles when a grant is revoked), the broker accounts
//! it keeps ([`StoreAccounts`] for the embedded broker, Mosquitto files for
//! an external one) and the health view managers read.
//!
//! Invariants:
//! - an event is stored only after its signature (the lock's registered
//!   device key) and its link to the stored chain head were checked with the
//!   protocol crate (`intake_event`); it is stored once by (lock, counter),
//!   verbatim, with its transparency-log entry in the same transaction, and
//!   the head moves by compare-and-set, so two service processes receiving
//!   the same upload cannot both store it;
//! - the acknowledgement sent back never reaches past the stored head, so a
//!   lock never drops an event the service does not hold;
//! - a gap is flagged and the lock asked to resend; a fork or a forged event
//!   is flagged and never stored;
//! - MQTT passwords are stored as `$7$` hashes only; revocation bundles are
//!   signed with the active issuer key and numbered by the store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use doorman_api::{
    CarriedEvents, CarriedEventsReceipt, LockGapView, LockHealthView, RemoteUnlock, RemoteUnlockRequested,
    RevocationBundleView,
};
use doorman_domain::{EventKind, Grant, LockId, Principal, PropertyId, UnixSeconds};
use doorman_fleet::{
    intake_event, parse_lock_name, Accounts, EventReceipt, FleetHandle, FleetService, Intake, LockHealth, PasswordHash,
    StaticAccounts, TopicScheme,
};
use doorman_protocol::{
    decode_event, ChainError, ChainHead, CredentialId, EventChainVerifier, LockDevicePublicKey, Nonce, RevokedEntry,
};
use doorman_store::{LockGap, PendingRemoteUnlock, RevokedCredential, Store, StoreError, StoredLockEvent};
use rand_core::OsRng;

use crate::audit::{new_event, Scope};
use crate::issuing::lock_wire_id;
use crate::{Service, ServiceError, ServiceResult};

/// How long a lock has to answer a remote unlock with its challenge.
pub const REMOTE_UNLOCK_WINDOW_S: i64 = 30;

/// The service's side of remote unlocks: the requests in flight wait in the
/// database (`ClusterStore`), so whichever process receives the lock's
/// challenge answers it, once (taking the request deletes it).
pub(crate) struct RemoteUnlocks {
    /// This process's handheld key: the remote credentials it issues are
    /// bound to it, and it presents them itself, so the key never leaves it.
    key: doorman_protocol::HandheldKey,
}

impl RemoteUnlocks {
    pub(crate) fn new() -> Self {
        Self { key: doorman_protocol::HandheldKey::generate(&mut OsRng) }
    }
}

/// Most events one upload may carry (a lock's ring holds fewer).
pub const MAX_CARRIED_EVENTS: usize = 1024;

/// A drift beyond this (either way) makes a lock's clock stale.
pub const DEFAULT_MAX_CLOCK_DRIFT_S: i64 = 60;

/// Where the service keeps Mosquitto's password and ACL files up to date.
#[derive(Debug, Clone)]
pub struct MosquittoTarget {
    /// The folder for `passwords` and `acl`.
    pub dir: PathBuf,
    /// The service's own account on that broker.
    pub service_username: String,
    /// Its password's hash.
    pub service_password_hash: PasswordHash,
    pub scheme: TopicScheme,
}

pub(crate) fn domain_lock(lock: doorman_protocol::LockId) -> LockId {
    LockId::from(uuid::Uuid::from_bytes(lock.0))
}

fn device_key(bytes: &[u8]) -> Option<LockDevicePublicKey> {
    <[u8; 32]>::try_from(bytes).ok().map(LockDevicePublicKey)
}

impl Service {
    /// Connects the service to its fleet channel: from now on revocations are
    /// pushed to online locks, and locks registered are told `lock_url` as
    /// their broker. Only the first call counts.
    pub fn attach_fleet(&self, handle: FleetHandle, lock_url: String) {
        let _ = self.fleet.set((handle, lock_url));
    }

    /// The broker URL new locks are given.
    pub(crate) fn lock_mqtt_url(&self) -> String {
        self.fleet.get().map(|(_, url)| url.clone()).unwrap_or_else(|| self.config.lock_mqtt_url.clone())
    }

    /// Keeps Mosquitto's files in `target` up to date (written now, and again
    /// on every lock registration). Only the first call counts. The
    /// process's own service account is stored first, so that the files any
    /// process writes name every process's account (each has its own: a
    /// Mosquitto session is tied to its username).
    pub async fn attach_mosquitto(&self, target: MosquittoTarget) -> ServiceResult<()> {
        self.store
            .upsert_service_account(&target.service_username, &target.service_password_hash.to_string(), self.now())
            .await?;
        let _ = self.mosquitto.set(target);
        self.write_mosquitto_files().await
    }

    /// Writes Mosquitto's password and ACL files (each atomically), if a
    /// target is attached. Mosquitto reads them again on SIGHUP.
    pub(crate) async fn write_mosquitto_files(&self) -> ServiceResult<()> {
        let Some(target) = self.mosquitto.get() else { return Ok(()) };
        let accounts = StaticAccounts::new();
        accounts
            .add_service(&target.service_username, target.service_password_hash.clone())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        // The other processes' accounts.
        for (username, hash) in self.store.service_accounts().await? {
            if username == target.service_username {
                continue;
            }
            match PasswordHash::parse(&hash) {
                Ok(hash) => accounts.add_service(&username, hash).map_err(|e| ServiceError::Internal(e.to_string()))?,
                Err(_) => tracing::error!(%username, "stored service account hash is unreadable; account left out"),
            }
        }
        for (lock, hash) in self.store.lock_mqtt_accounts().await? {
            match PasswordHash::parse(&hash) {
                Ok(hash) => accounts.add_lock(lock_wire_id(lock), hash),
                Err(_) => tracing::error!(%lock, "stored MQTT password hash is unreadable; account left out"),
            }
        }
        doorman_fleet::MosquittoFiles::generate(&target.scheme, &accounts)
            .write_to(&target.dir)
            .map_err(|e| ServiceError::Internal(format!("writing the Mosquitto files: {e}")))?;
        Ok(())
    }

    /// Tells the locks of the revoked grants' doors: for each lock, its next
    /// revocation bundle (every credential revoked there and not yet
    /// expired), stored, signed and pushed to it. Failures are logged: the
    /// grants stay revoked in the service, and the lock gets the bundle with
    /// the next revocation, from a handheld, or refuses at expiry.
    pub(crate) async fn revoke_at_locks(&self, grants: &[Grant]) {
        let mut by_lock: BTreeMap<LockId, Vec<RevokedCredential>> = BTreeMap::new();
        for grant in grants {
            for door in &grant.doors {
                if let Some(cti) = &door.credential_id {
                    by_lock
                        .entry(door.lock_id)
                        .or_default()
                        .push(RevokedCredential { credential_id: cti.clone(), expires_at: grant.expires_at });
                }
            }
        }
        for (lock, revoked) in by_lock {
            if let Err(e) = self.push_revocations(lock, &revoked).await {
                tracing::error!(%lock, error = %e, "the revocation could not be sent to the lock");
            }
        }
    }

    pub(crate) async fn push_revocations(&self, lock: LockId, revoked: &[RevokedCredential]) -> ServiceResult<()> {
        // A decommissioned lock gets no bundle: it opens nothing any more.
        if self.store.get_lock(lock).await?.is_none_or(|l| !l.is_active()) {
            return Ok(());
        }
        let now = self.now();
        let (sequence, live) = match self.store.revoke_lock_credentials(lock, revoked, now).await {
            Ok(r) => r,
            // A lock registered before the fleet existed has no account.
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let bundle = self.sign_revocation_bundle(lock, sequence, &live)?;
        if let Some((fleet, _)) = self.fleet.get() {
            fleet
                .push_revocation_bundle(lock_wire_id(lock), &bundle)
                .await
                .map_err(|e| ServiceError::Internal(format!("fleet channel: {e}")))?;
            tracing::info!(%lock, sequence, "revocation bundle pushed");
        }
        Ok(())
    }

    pub(crate) fn sign_revocation_bundle(
        &self,
        lock: LockId,
        sequence: u64,
        live: &[RevokedCredential],
    ) -> ServiceResult<Vec<u8>> {
        // Newest expiry first: if there are more than a bundle holds, the ones
        // that stay valid longest are kept (the others expire first anyway).
        let entries: Vec<RevokedEntry> = live
            .iter()
            .filter_map(|r| {
                Some(RevokedEntry {
                    credential_id: CredentialId(<[u8; 16]>::try_from(r.credential_id.as_slice()).ok()?),
                    expires_at: u64::try_from(r.expires_at).ok()?,
                })
            })
            .take(doorman_protocol::revocation::MAX_REVOKED)
            .collect();
        if entries.len() < live.len() {
            tracing::warn!(%lock, live = live.len(), "more revoked credentials than a bundle holds");
        }
        doorman_protocol::issue_revocation_bundle(&self.keys().active, &lock_wire_id(lock), sequence, 0, &entries)
            .map(|b| b.to_vec())
            .map_err(|e| ServiceError::Internal(format!("cannot sign a revocation bundle: {e:?}")))
    }

    /// The lock's latest revocation bundle, signed now, for a handheld to
    /// carry to it (the manager's call). NotFound until something was revoked there.
    pub async fn lock_revocation_bundle(
        &self,
        p: &Principal,
        property: PropertyId,
        lock: LockId,
    ) -> ServiceResult<RevocationBundleView> {
        self.managed_property(p, property).await?;
        match self.store.get_lock(lock).await? {
            Some(l) if l.property_id == property && !l.is_active() => {
                return Err(ServiceError::Conflict(format!("lock {lock} is decommissioned: it takes no bundles")))
            }
            Some(l) if l.property_id == property => {}
            _ => return Err(ServiceError::NotFound("lock")),
        }
        let Some((sequence, live)) = self.store.lock_revocations(lock, self.now()).await? else {
            return Err(ServiceError::NotFound("revocation bundle"));
        };
        if sequence == 0 {
            return Err(ServiceError::NotFound("revocation bundle (nothing was revoked at this lock)"));
        }
        let bundle = self.sign_revocation_bundle(lock, sequence, &live)?;
        Ok(RevocationBundleView { lock_id: lock, sequence, bundle: doorman_domain::serde_b64::encode(&bundle) })
    }

    /// Events a handheld carried from a lock without network: each must be
    /// signed by the lock (else the upload is refused, nothing flagged); then
    /// each is taken in as if it came over MQTT. A driver or the property's
    /// manager may bring them.
    pub async fn upload_carried_events(
        &self,
        p: &Principal,
        lock: LockId,
        req: CarriedEvents,
    ) -> ServiceResult<CarriedEventsReceipt> {
        // Whoever may not bring this lock's events is told it is not found,
        // exactly as for a lock that does not exist.
        if !matches!(p, Principal::Driver { .. } | Principal::Manager { .. }) {
            return Err(ServiceError::NotFound("lock"));
        }
        let registered = self.store.get_lock(lock).await?.ok_or(ServiceError::NotFound("lock"))?;
        match p {
            // A driver brings the events of locks where their carrier goes.
            Principal::Driver { carrier_id, .. } => {
                if self.store.get_enablement(registered.property_id, *carrier_id).await?.is_none() {
                    return Err(ServiceError::NotFound("lock"));
                }
            }
            _ => {
                self.managed_property(p, registered.property_id).await.map_err(|_| ServiceError::NotFound("lock"))?;
            }
        }
        if !registered.is_active() {
            return Err(ServiceError::Conflict(format!(
                "lock {lock} is decommissioned: its events are no longer taken"
            )));
        }
        if req.events.is_empty() || req.events.len() > MAX_CARRIED_EVENTS {
            return Err(ServiceError::invalid(format!("events must hold 1 to {MAX_CARRIED_EVENTS} events")));
        }
        let device = device_key(&registered.device_public_key)
            .ok_or_else(|| ServiceError::Internal("stored device key is not 32 bytes".into()))?;
        let wire = lock_wire_id(lock);
        let mut decoded = Vec::with_capacity(req.events.len());
        for (i, text) in req.events.iter().enumerate() {
            let bytes = crate::decode_b64(&format!("events[{i}]"), text)?;
            match decode_event(&bytes, &device) {
                Ok(e) if e.lock_id == wire => decoded.push(bytes),
                _ => return Err(ServiceError::invalid(format!("events[{i}] is not an event signed by this lock"))),
            }
        }
        let mut receipt = EventReceipt { ack: 0, resend_after: None };
        for bytes in &decoded {
            receipt = self.lock_event_received(wire, bytes).await;
        }
        Ok(CarriedEventsReceipt { lock_id: lock, stored_through: receipt.ack, missing_after: receipt.resend_after })
    }

    /// A resident asks a door of their building to open (their unit's door,
    /// or a shared door): the lock is asked over the fleet channel, answers
    /// with a signed challenge, and the service presents a one-use credential
    /// bound to it ([`FleetService::remote_challenge`]).
    pub async fn request_remote_unlock(
        &self,
        p: &Principal,
        unit: doorman_domain::UnitId,
        req: RemoteUnlock,
    ) -> ServiceResult<RemoteUnlockRequested> {
        self.unit_resident(p, unit).await?;
        let property = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?.property_id;
        let lock = match self.store.get_lock(req.lock_id).await? {
            Some(l) if l.property_id == property => l,
            _ => return Err(ServiceError::NotFound("lock")),
        };
        if !lock.is_active() {
            return Err(ServiceError::Conflict(format!("lock {} is decommissioned", lock.id)));
        }
        let ap = self.store.get_access_point(lock.access_point_id).await?.ok_or(ServiceError::NotFound("lock"))?;
        if ap.unit_id.is_some_and(|u| u != unit) {
            return Err(ServiceError::NotFound("lock"));
        }
        if self.store.lock_fleet(lock.id).await?.is_none() {
            return Err(ServiceError::Conflict("this lock has no fleet account: it cannot be opened remotely".into()));
        }
        let Some((fleet, _)) = self.fleet.get() else {
            return Err(ServiceError::Conflict("the service runs without a fleet channel".into()));
        };
        let now = self.now();
        // 63 bits: the database keeps it as a signed 64-bit integer.
        let request_id = u64::from_le_bytes(crate::auth::random_bytes::<8>()?) >> 1;
        let expires_at = now + REMOTE_UNLOCK_WINDOW_S;
        let pending = PendingRemoteUnlock {
            lock_id: lock.id,
            request_id,
            resident: *p,
            unit_id: unit,
            property_id: property,
            access_point_id: ap.id,
            expires_at,
        };
        self.store.insert_remote_unlock(&pending, now).await?;
        fleet
            .request_remote_unlock(lock_wire_id(lock.id), request_id)
            .await
            .map_err(|e| ServiceError::Internal(format!("fleet channel: {e}")))?;
        Ok(RemoteUnlockRequested { lock_id: lock.id, request_id, expires_at })
    }

    /// The lock's answer to a remote unlock: the presentation that opens it,
    /// if the request is still wanted and the challenge is the lock's.
    pub async fn answer_remote_challenge(
        &self,
        wire: doorman_protocol::LockId,
        request_id: u64,
        signed_challenge: &[u8],
    ) -> ServiceResult<Option<Vec<u8>>> {
        let lock = domain_lock(wire);
        let now = self.now();
        // Whichever process the challenge reached: one of them takes it.
        let pending = self.store.take_remote_unlock(lock, request_id).await?;
        let Some(pending) = pending.filter(|r| r.expires_at > now) else {
            tracing::info!(%lock, request_id, "remote unlock answer ignored: not asked for, or too late");
            return Ok(None);
        };
        let registered = self.store.get_lock(lock).await?.ok_or(ServiceError::NotFound("lock"))?;
        if !registered.is_active() {
            tracing::warn!(%lock, request_id, "remote unlock answer from a decommissioned lock ignored");
            return Ok(None);
        }
        let device = device_key(&registered.device_public_key)
            .ok_or_else(|| ServiceError::Internal("stored device key is not 32 bytes".into()))?;
        let Ok(opened) = doorman_protocol::open_challenge(signed_challenge, &device, &wire) else {
            tracing::warn!(%lock, request_id, "remote unlock: the challenge is not the lock's");
            return Ok(None);
        };
        let sequence = self.store.next_lock_sequence(lock).await?;
        let as_u64 = |v: i64| u64::try_from(v).map_err(|_| ServiceError::Internal("time out of range".into()));
        let claims = doorman_protocol::CredentialClaims {
            issuer: &self.config.issuer,
            lock_id: wire,
            not_before: as_u64(now)?,
            expires_at: as_u64(now + REMOTE_UNLOCK_WINDOW_S)?,
            issued_at: as_u64(now)?,
            credential_id: CredentialId(crate::auth::random_bytes::<16>()?),
            handheld_key: self.remote.key.public_key(),
            delivery_hash: doorman_protocol::delivery_hash(&crate::auth::random_bytes::<16>()?, b"remote unlock"),
            lock_sequence: as_u64(sequence)?,
            revocation_epoch: 0,
            max_uses: 1,
            challenge_nonce: Some(opened.challenge().nonce),
        };
        let credential = doorman_protocol::issue_credential(&self.keys().active, &claims)
            .map_err(|e| ServiceError::Internal(format!("cannot sign a remote credential: {e:?}")))?;
        let presentation = self
            .remote
            .key
            .present(&opened, credential.as_bytes())
            .map_err(|e| ServiceError::Internal(format!("cannot present a remote credential: {e:?}")))?;
        let scope = Scope { property: Some(pending.property_id), unit: Some(pending.unit_id), ..Scope::default() };
        let unlocked = EventKind::DoorUnlocked { lock_id: lock, access_point_id: pending.access_point_id };
        self.log_alone(unlocked, now, scope, Some(pending.resident)).await?;
        Ok(Some(presentation.to_vec()))
    }

    /// The health of every lock of the property, as far as the service knows it.
    pub async fn lock_health(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<LockHealthView>> {
        self.managed_property(p, property).await?;
        let locks = self.store.list_locks(property).await?;
        let fleet = self.store.list_lock_fleet(property).await?;
        let mut out = Vec::new();
        for lock in locks {
            let record = fleet.iter().find(|r| r.lock_id == lock.id);
            let report: Option<(LockHealth, UnixSeconds)> = record
                .and_then(|r| r.health.as_ref())
                .and_then(|(json, at)| Some((serde_json::from_str(json).ok()?, *at)));
            let health = report.as_ref().map(|(h, _)| h);
            let issued = record.map(|r| r.revocation_sequence).unwrap_or(0);
            let held = health.map(|h| h.revocation_sequence);
            let drift = health.and_then(|h| h.clock_drift_secs);
            let clock_lost = health.is_some_and(|h| h.clock_lost);
            out.push(LockHealthView {
                lock_id: lock.id,
                access_point_id: lock.access_point_id,
                last_contact: record.and_then(|r| r.last_contact),
                reported_at: report.as_ref().map(|(_, at)| *at),
                battery_percent: health.and_then(|h| h.battery_percent),
                clock_drift_secs: drift,
                clock_lost,
                revocation_sequence: held,
                revocation_sequence_issued: issued,
                camera_heartbeat_age_secs: health.and_then(|h| h.camera_heartbeat_age_secs),
                camera_stale: health.is_some_and(|h| h.camera_stale),
                events_stored: record.map(|r| r.head.counter).unwrap_or(0),
                event_counter: health.map(|h| h.event_counter),
                gap: record.and_then(|r| r.gap).map(|g| LockGapView { expected: g.expected, found: g.found }),
                problem: record.and_then(|r| r.problem.as_ref()).map(|(p, _)| p.clone()),
                revocation_stale: held.unwrap_or(0) < issued,
                clock_stale: clock_lost
                    || drift.is_none_or(|d| d.unsigned_abs() > self.config.max_clock_drift_s.unsigned_abs()),
                decommissioned_at: lock.decommissioned_at,
                replaced_by: lock.replaced_by,
            });
        }
        Ok(out)
    }

    /// Checks and stores one signed event from `lock` (over MQTT, or carried
    /// by a handheld); returns what to acknowledge.
    pub async fn lock_event_received(&self, wire: doorman_protocol::LockId, bytes: &[u8]) -> EventReceipt {
        let lock = domain_lock(wire);
        match self.intake(lock, wire, bytes).await {
            Ok(receipt) => receipt,
            Err(e) => {
                tracing::error!(%lock, error = %e, "a lock event could not be handled; the lock will send it again");
                // Acknowledge only what is stored.
                let ack = match self.store.lock_fleet(lock).await {
                    Ok(Some(r)) => r.head.counter,
                    _ => 0,
                };
                EventReceipt { ack, resend_after: None }
            }
        }
    }

    async fn intake(&self, lock: LockId, wire: doorman_protocol::LockId, bytes: &[u8]) -> ServiceResult<EventReceipt> {
        let Some(registered) = self.store.get_lock(lock).await? else {
            tracing::warn!(%lock, "event from an unknown lock ignored");
            return Ok(EventReceipt { ack: 0, resend_after: None });
        };
        if !registered.is_active() {
            // Its chain ended when it was decommissioned.
            tracing::warn!(%lock, "event from a decommissioned lock refused");
            return Ok(EventReceipt { ack: 0, resend_after: None });
        }
        let device = device_key(&registered.device_public_key)
            .ok_or_else(|| ServiceError::Internal("stored device key is not 32 bytes".into()))?;
        // A few rounds: another process may store the same upload meanwhile.
        for _ in 0..4 {
            let Some(record) = self.store.lock_fleet(lock).await? else {
                tracing::warn!(%lock, "event from a lock without a fleet account ignored");
                return Ok(EventReceipt { ack: 0, resend_after: None });
            };
            let head = ChainHead { counter: record.head.counter, hash: record.head.hash, time: record.head.time };
            // The signature is checked once: the stored hash of an earlier
            // event is read only when this one claims its counter.
            let intake = match EventChainVerifier::resume(device, wire, head).push(bytes) {
                Ok(e) => Intake::New(e),
                Err(ChainError::AlreadySeen { counter, .. }) => {
                    let earlier = self.store.lock_event(lock, counter).await?.map(|s| s.hash);
                    intake_event(device, wire, head, |_| earlier, bytes)
                }
                Err(_) => intake_event(device, wire, head, |_| None, bytes),
            };
            let now = self.now();
            match &intake {
                Intake::New(e) => {
                    let kind = EventKind::LockEvent {
                        lock_id: lock,
                        counter: e.counter,
                        signed: doorman_domain::serde_b64::encode(bytes),
                    };
                    let logged =
                        new_event(kind, now, Scope { property: Some(record.property_id), ..Scope::default() }, None)?;
                    let stored = StoredLockEvent {
                        lock_id: lock,
                        counter: e.counter,
                        hash: e.hash,
                        time: e.time,
                        signed: bytes.to_vec(),
                        received_at: now,
                    };
                    let door = self.door_effects(&registered, e, now).await?;
                    let mut events = vec![logged];
                    events.extend(door.events);
                    match self.store.append_lock_event_with(&stored, head.counter, &door.writes, &events).await {
                        Ok(()) => {
                            self.events_appended();
                            return Ok(intake.receipt(e.counter));
                        }
                        Err(StoreError::Stale(_)) | Err(StoreError::Conflict(_)) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Intake::Repeat { .. } => {}
                Intake::Gap { expected, found } => {
                    tracing::info!(%lock, expected, found, "gap in a lock's events; asking it to resend");
                    self.store.flag_lock_gap(lock, LockGap { expected: *expected, found: *found }, now).await?;
                }
                Intake::Fork { counter } => {
                    tracing::error!(%lock, counter, "a lock sent a different event for a stored counter");
                    self.store.flag_lock_problem(lock, &format!("fork at event {counter}"), now).await?;
                }
                Intake::Invalid(e) => {
                    tracing::warn!(%lock, error = ?e, "invalid event from a lock");
                    self.store.flag_lock_problem(lock, &format!("invalid event: {e:?}"), now).await?;
                }
            }
            return Ok(intake.receipt(head.counter));
        }
        Err(ServiceError::Internal("the lock's chain head kept moving".into()))
    }

    /// Keeps a lock's health report.
    pub async fn lock_health_received(&self, wire: doorman_protocol::LockId, health: &LockHealth) {
        let lock = domain_lock(wire);
        if !matches!(self.store.get_lock(lock).await, Ok(Some(l)) if l.is_active()) {
            tracing::warn!(%lock, "health report of an unknown or decommissioned lock ignored");
            return;
        }
        let result = match serde_json::to_string(health) {
            Ok(json) => self.store.record_lock_health(lock, &json, self.now()).await.map_err(ServiceError::from),
            Err(e) => Err(ServiceError::Internal(e.to_string())),
        };
        if let Err(e) = result {
            tracing::warn!(%lock, error = %e, "health report not kept");
        }
        self.catch_up_lock(lock, health).await;
    }

    /// A signed time statement for a lock of the fleet.
    pub async fn lock_time_statement(&self, wire: doorman_protocol::LockId, nonce: Nonce) -> Option<Vec<u8>> {
        let lock = domain_lock(wire);
        match (self.store.lock_fleet(lock).await, self.store.get_lock(lock).await) {
            (Ok(Some(_)), Ok(Some(l))) if l.is_active() => {}
            _ => return None,
        }
        let now = u64::try_from(self.now()).ok()?;
        doorman_lock::issue_time_statement(&self.keys().active, wire, nonce, now, &mut OsRng)
            .map(|s| s.to_vec())
            .map_err(|e| tracing::error!(%lock, error = ?e, "cannot sign a time statement"))
            .ok()
    }
}

/// The service as the fleet channel sees it.
pub struct FleetIntake(pub Arc<Service>);

impl std::fmt::Debug for FleetIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetIntake")
    }
}

#[async_trait::async_trait]
impl FleetService for FleetIntake {
    async fn event_received(&self, lock: doorman_protocol::LockId, signed_event: &[u8]) -> EventReceipt {
        self.0.lock_event_received(lock, signed_event).await
    }

    async fn health_received(&self, lock: doorman_protocol::LockId, health: LockHealth) {
        self.0.lock_health_received(lock, &health).await;
    }

    async fn time_requested(&self, lock: doorman_protocol::LockId, nonce: Nonce) -> Option<Vec<u8>> {
        self.0.lock_time_statement(lock, nonce).await
    }

    async fn remote_challenge(
        &self,
        lock: doorman_protocol::LockId,
        request_id: u64,
        signed_challenge: &[u8],
    ) -> Option<Vec<u8>> {
        match self.0.answer_remote_challenge(lock, request_id, signed_challenge).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(lock = %domain_lock(lock), request_id, error = %e, "remote unlock failed");
                None
            }
        }
    }
}

/// The embedded broker's accounts: locks from the store (their password
/// hashes), service accounts from memory.
pub struct StoreAccounts {
    store: Arc<dyn Store>,
    services: StaticAccounts,
}

impl Service {
    /// The embedded broker's account lookup: locks by their stored password
    /// hash, the service's own accounts from `services`.
    pub fn broker_accounts(&self, services: StaticAccounts) -> StoreAccounts {
        StoreAccounts { store: self.store.clone(), services }
    }
}

#[async_trait::async_trait]
impl Accounts for StoreAccounts {
    async fn authenticate(&self, username: &str, password: &str) -> Option<doorman_fleet::Principal> {
        let Some(wire) = parse_lock_name(username) else {
            return self.services.authenticate(username, password).await;
        };
        let hash = self.store.lock_mqtt_password_hash(domain_lock(wire)).await.ok()??;
        let hash = PasswordHash::parse(&hash).ok()?;
        hash.verify(password).then_some(doorman_fleet::Principal::Lock(wire))
    }
}
