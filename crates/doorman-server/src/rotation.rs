//! Rotating the issuer key while the service runs, without a lock ever
//! refusing a valid delivery.
//!
//! 1. **Announce** (`POST /v1/keys/rotate`, `doorman keys rotate`): a new
//!    key is added to the key file as *pending*, with a new key update (the
//!    signed, cumulative list of keys locks trust). The update is pushed over
//!    MQTT to every lock in service; a lock offline gets it when it comes
//!    back (its health report says which update it holds, and the service
//!    pushes the latest one if it is behind), or from a handheld that carries
//!    `GET /v1/keys/update` to it. The old key keeps signing meanwhile, so
//!    every credential opens every lock.
//! 2. **Activate** ([`Service::advance_key_rotation`], every second in
//!    `doorman serve`): once every lock in service says it holds the update
//!    (or `key_activation_max_wait_s` after the announcement, whichever comes
//!    first), the new key signs. Logged as `key_rotated`.
//! 3. **Retire** (`POST /v1/keys/retire`, `doorman keys retire`): the keys
//!    that no longer sign are retired in one more key update; a lock that
//!    took it refuses anything they signed.
//!
//! Each step writes the key file first (a new file renamed over the old),
//! then logs the step: a step that is logged has happened. Every process
//! re-reads the key file each second, so all processes sharing it move on
//! together.

use std::sync::Arc;

use doorman_api::{KeyRotationView, KeyUpdateView};
use doorman_domain::{EventKind, LockId, Principal};
use doorman_fleet::LockHealth;

use crate::audit::Scope;
use crate::issuing::lock_wire_id;
use crate::keys::{KeyCustody, KeyFile, KeyRing};
use crate::{Service, ServiceError, ServiceResult};

/// How long a pending key waits for the locks by default: a week.
pub const DEFAULT_KEY_ACTIVATION_MAX_WAIT_S: i64 = 7 * 24 * 3600;

fn require_operator(p: &Principal) -> ServiceResult<()> {
    match p {
        Principal::Operator => Ok(()),
        _ => Err(ServiceError::Forbidden("only the operator may do this")),
    }
}

impl Service {
    /// Where the key file is and how it is sealed: rotations write it, and
    /// [`Service::advance_key_rotation`] re-reads it. Only the first call counts.
    pub fn attach_key_custody(&self, custody: KeyCustody) {
        let _ = self.custody.set(custody);
    }

    fn key_custody(&self) -> ServiceResult<&KeyCustody> {
        self.custody.get().ok_or_else(|| ServiceError::Conflict("this service runs without a key file".into()))
    }

    fn swap_keys(&self, file: &KeyFile) -> ServiceResult<Arc<KeyRing>> {
        let ring = Arc::new(file.ring()?);
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = ring.clone();
        Ok(ring)
    }

    async fn log_key_step(&self, kind: EventKind, actor: Option<Principal>) -> ServiceResult<()> {
        self.log_alone(kind, self.now(), Scope::default(), actor).await
    }

    /// Step 1: announces a new issuer key to the locks.
    pub async fn rotate_issuer_key(&self, p: &Principal) -> ServiceResult<KeyRotationView> {
        require_operator(p)?;
        let custody = self.key_custody()?;
        let _turn = self.rotating.lock().await;
        let (mut file, _) = custody.load()?;
        if let Some(pending) = &file.pending {
            return Err(ServiceError::Conflict(format!(
                "key {} is already waiting to sign (at the latest at {})",
                pending.kid, pending.activate_by
            )));
        }
        let now = self.now();
        let activate_by = now.saturating_add(self.config.key_activation_max_wait_s);
        let (kid, sequence) = file.announce(now, activate_by)?;
        custody.save(&file)?;
        let ring = self.swap_keys(&file)?;
        let what = format!(
            "issuer key {kid} announced to the locks in key update {sequence}; it signs once every lock in \
             service holds it, or at {activate_by}"
        );
        self.log_key_step(EventKind::ConfigurationChanged { what }, Some(*p)).await?;
        self.push_key_update_to_all(&ring).await;
        self.rotation_view(&ring).await
    }

    /// Step 3: retires every key that no longer signs.
    pub async fn retire_issuer_keys(&self, p: &Principal) -> ServiceResult<KeyRotationView> {
        require_operator(p)?;
        let custody = self.key_custody()?;
        let _turn = self.rotating.lock().await;
        let (mut file, _) = custody.load()?;
        if let Some(pending) = &file.pending {
            return Err(ServiceError::Conflict(format!(
                "key {} does not sign yet: the key it replaces cannot be retired before",
                pending.kid
            )));
        }
        let (retired, sequence) = file.retire_inactive(self.now())?;
        if retired.is_empty() {
            return Err(ServiceError::Conflict("no key to retire: only the active key is published".into()));
        }
        custody.save(&file)?;
        let ring = self.swap_keys(&file)?;
        let what = format!("issuer keys {} retired in key update {sequence}", retired.join(", "));
        self.log_key_step(EventKind::ConfigurationChanged { what }, Some(*p)).await?;
        self.push_key_update_to_all(&ring).await;
        self.rotation_view(&ring).await
    }

    /// Where the rotation stands.
    pub async fn key_rotation(&self, p: &Principal) -> ServiceResult<KeyRotationView> {
        require_operator(p)?;
        self.rotation_view(&self.keys()).await
    }

    /// The latest key update, signed, for a handheld to carry to a lock
    /// without network. Public, like the keys it states.
    pub fn latest_key_update(&self) -> ServiceResult<KeyUpdateView> {
        match self.keys().key_update()? {
            Some((sequence, update)) => {
                Ok(KeyUpdateView { sequence, update: doorman_domain::serde_b64::encode(&update) })
            }
            None => Err(ServiceError::NotFound("key update (the keys never rotated)")),
        }
    }

    /// Step 2, and keeping up with other processes: re-reads the key file,
    /// and lets a pending key sign once every lock in service holds it or
    /// its time has come. Returns the kid that started signing, if one did.
    pub async fn advance_key_rotation(&self) -> ServiceResult<Option<String>> {
        let Some(custody) = self.custody.get() else { return Ok(None) };
        let _turn = self.rotating.lock().await;
        let (mut file, _) = custody.load()?;
        let ring = self.swap_keys(&file)?;
        let Some((_, pending, announced_in)) = &ring.pending else { return Ok(None) };
        let behind = self.locks_behind(*announced_in, pending.announced_at).await?;
        let now = self.now();
        if !behind.is_empty() && now < pending.activate_by {
            return Ok(None);
        }
        if !behind.is_empty() {
            tracing::warn!(
                locks = behind.len(),
                "a pending issuer key signs from now on (its deadline passed) although some locks have not said \
                 they hold it: they get the key update when they are heard from, or from a handheld"
            );
        }
        let Some(kid) = file.activate_pending() else { return Ok(None) };
        custody.save(&file)?;
        self.swap_keys(&file)?;
        self.log_key_step(EventKind::KeyRotated { kid: kid.clone() }, None).await?;
        tracing::info!(%kid, "the new issuer key signs from now on");
        Ok(Some(kid))
    }

    /// The locks in service that have not said they hold key update
    /// `announced_in` (a lock registered after `announced_at` was given the
    /// new key as a trust anchor).
    async fn locks_behind(&self, announced_in: u64, announced_at: i64) -> ServiceResult<Vec<LockId>> {
        let mut behind = Vec::new();
        for (lock, _) in self.store.lock_mqtt_accounts().await? {
            let held = self
                .store
                .lock_fleet(lock)
                .await?
                .and_then(|r| r.health)
                .and_then(|(json, _)| serde_json::from_str::<LockHealth>(&json).ok())
                .map(|h| h.key_update_sequence)
                .unwrap_or(0);
            if held >= announced_in {
                continue;
            }
            if self.store.get_lock(lock).await?.is_some_and(|l| l.created_at >= announced_at) {
                continue;
            }
            behind.push(lock);
        }
        Ok(behind)
    }

    async fn rotation_view(&self, ring: &KeyRing) -> ServiceResult<KeyRotationView> {
        let locks_behind = match &ring.pending {
            Some((_, pending, announced_in)) => self.locks_behind(*announced_in, pending.announced_at).await?,
            None => Vec::new(),
        };
        Ok(KeyRotationView {
            active_kid: ring.active.kid_text(),
            pending_kid: ring.pending.as_ref().map(|(key, _, _)| key.kid_text()),
            activate_by: ring.pending.as_ref().map(|(_, p, _)| p.activate_by),
            key_update_sequence: ring.key_update.as_ref().map(|u| u.sequence).unwrap_or(0),
            published: ring.published.iter().map(|k| k.kid_text()).collect(),
            locks_behind,
        })
    }

    /// Pushes the latest key update to every lock in service that is online.
    async fn push_key_update_to_all(&self, ring: &KeyRing) {
        let Some((fleet, _)) = self.fleet.get() else { return };
        let update = match ring.key_update() {
            Ok(Some((_, update))) => update,
            Ok(None) => return,
            Err(e) => return tracing::error!(error = %e, "cannot sign the key update"),
        };
        let locks = match self.store.lock_mqtt_accounts().await {
            Ok(locks) => locks,
            Err(e) => return tracing::error!(error = %e, "cannot list the locks to push the key update to"),
        };
        for (lock, _) in locks {
            if let Err(e) = fleet.push_key_update(lock_wire_id(lock), &update).await {
                tracing::warn!(%lock, error = %e, "key update not pushed; the lock gets it when it is heard from");
            }
        }
    }

    /// What a lock that was out of reach missed, sent again when it is heard
    /// from (its health report, on every connection, says what it holds):
    /// its latest revocation bundle and the latest key update.
    pub(crate) async fn catch_up_lock(&self, lock: LockId, health: &LockHealth) {
        let Some((fleet, _)) = self.fleet.get() else { return };
        let wire = lock_wire_id(lock);
        match self.store.lock_revocations(lock, self.now()).await {
            Ok(Some((sequence, live))) if sequence > health.revocation_sequence => {
                let pushed = match self.sign_revocation_bundle(lock, sequence, &live) {
                    Ok(bundle) => fleet.push_revocation_bundle(wire, &bundle).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match pushed {
                    Ok(()) => tracing::info!(%lock, sequence, "revocation bundle sent again to a lock behind"),
                    Err(e) => tracing::warn!(%lock, error = %e, "revocation bundle not sent again"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%lock, error = %e, "cannot read the lock's revocations"),
        }
        let keys = self.keys();
        let Some(plan) = &keys.key_update else { return };
        if plan.sequence <= health.key_update_sequence {
            return;
        }
        // Registered since: it was given these keys as trust anchors.
        if matches!(self.store.get_lock(lock).await, Ok(Some(l)) if l.created_at >= plan.made_at) {
            return;
        }
        match keys.key_update() {
            Ok(Some((sequence, update))) => match fleet.push_key_update(wire, &update).await {
                Ok(()) => tracing::info!(%lock, sequence, "key update sent to a lock behind"),
                Err(e) => tracing::warn!(%lock, error = %e, "key update not sent"),
            },
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot sign the key update"),
        }
    }
}
