//! A lock and a handheld as the protocol crate models them, so that a caller
//! checks a granted credential the way a real lock does: offline, against the
//! lock's own challenge, with the issuer keys it was provisioned with. (The
//! full simulated lock, with its door, camera and MQTT agent, is
//! doorman-devices'; this one is only the trust decision, in process.)

use doorman_api::{DoorAccess, KeySet, LockId, LockProvisioned};
use doorman_domain::serde_b64;
use doorman_protocol::keys::{Algorithm, HandheldKey, KeyId, KeyUsage, LockDeviceKey, PublicKey, TrustedKey};
use doorman_protocol::{
    open_challenge, DoorCodePolicy, DoorCodeSecret, DoorCodeVerdict, KeypadPolicy, LockState, Nonce, Refusal, Verdict,
    VerifyConfig,
};
use rand_core::{OsRng, RngCore};

use crate::KitError;

/// A driver's phone: a P-256 key, generated on the phone, whose public half
/// the carrier registers with the driver. It keeps the key's secret bytes
/// too, so that a caller can make the same phone elsewhere (doorman-devices'
/// handheld, which talks to a running lock, is built from them); `Debug`
/// never shows them.
pub struct Handheld {
    /// The key a credential is bound to.
    pub key: HandheldKey,
    secret: [u8; 32],
}

impl std::fmt::Debug for Handheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handheld").field("key", &self.key).finish_non_exhaustive()
    }
}

impl Handheld {
    /// A handheld with a fresh key from the OS.
    pub fn generate() -> Self {
        loop {
            // A random 32-byte string is a P-256 scalar unless it is zero or
            // at least the group order: about one in 2^32 is drawn again.
            let mut secret = [0u8; 32];
            OsRng.fill_bytes(&mut secret);
            if let Ok(key) = HandheldKey::from_secret(&secret) {
                return Self { key, secret };
            }
        }
    }

    /// The key's secret (its 32-byte big-endian scalar), to build the same
    /// phone with another crate's handheld type.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The public key as the API takes it: SEC1, base64url.
    pub fn public_key_b64(&self) -> String {
        serde_b64::encode(self.key.public_key().as_sec1_bytes())
    }
}

/// What a lock's door decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The door opens.
    Opens,
    /// The door stays shut, for this reason.
    StaysShut(Refusal),
}

impl From<Verdict> for Outcome {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Granted(_) => Outcome::Opens,
            Verdict::Refused(r) => Outcome::StaysShut(r),
        }
    }
}

/// A provisioned lock: its device key, door-code secret, and protocol state
/// (created at the first challenge, from the service's published keys).
#[derive(Debug)]
pub struct OfflineLock {
    /// The lock's id at the service.
    pub id: LockId,
    /// The lock's own key: signs challenges and events.
    pub device: LockDeviceKey,
    /// The keypad's door-code secret, for a lock with a keypad.
    pub door_code_secret: Option<[u8; 32]>,
    state: Option<LockState>,
}

/// The protocol's form of a service lock id.
pub fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

/// The trust anchors a lock is provisioned with: the service's published
/// issuer keys, each trusted for everything.
pub fn trust_from(keyset: &KeySet) -> Result<Vec<TrustedKey>, KitError> {
    keyset
        .keys
        .iter()
        .map(|k| {
            let bad = |what: &str| KitError::Lock(format!("issuer key {}: {what}", k.kid));
            let kid: [u8; 8] = serde_b64::decode(&k.kid)
                .map_err(|_| bad("kid is not base64url"))?
                .try_into()
                .map_err(|_| bad("kid is not 8 bytes"))?;
            let alg = if k.alg == "ES256" { Algorithm::ES256 } else { Algorithm::EdDSA };
            let raw = serde_b64::decode(&k.public_key).map_err(|_| bad("public key is not base64url"))?;
            let key = PublicKey::from_bytes(alg, &raw).map_err(|_| bad("not a public key of its algorithm"))?;
            Ok(TrustedKey { kid: KeyId(kid), key, usage: KeyUsage::ALL })
        })
        .collect()
}

fn seconds(now: i64) -> Result<u64, KitError> {
    u64::try_from(now).map_err(|_| KitError::Lock(format!("time {now} is before 1970")))
}

impl OfflineLock {
    /// A device key for a lock about to be registered.
    pub fn device() -> LockDeviceKey {
        LockDeviceKey::generate(&mut OsRng)
    }

    /// A device key's public half as the API takes it (base64url).
    pub fn device_key_b64(device: &LockDeviceKey) -> String {
        serde_b64::encode(&device.public_key().0)
    }

    /// The lock after the service provisioned it.
    pub fn provisioned(device: LockDeviceKey, p: &LockProvisioned) -> Result<Self, KitError> {
        let door_code_secret = match &p.door_code_secret {
            Some(s) => Some(
                serde_b64::decode(s)
                    .map_err(|_| KitError::Lock("door-code secret is not base64url".into()))?
                    .try_into()
                    .map_err(|_| KitError::Lock("door-code secret is not 32 bytes".into()))?,
            ),
            None => None,
        };
        Ok(Self { id: p.lock.id, device, door_code_secret, state: None })
    }

    fn state<'a>(
        id: LockId,
        slot: &'a mut Option<LockState>,
        keyset: &KeySet,
        now: i64,
    ) -> Result<&'a mut LockState, KitError> {
        if slot.is_none() {
            let trust = trust_from(keyset)?;
            let state = LockState::new(wire(id), &trust, seconds(now)?.saturating_sub(60))
                .map_err(|e| KitError::Lock(format!("provisioning: {e:?}")))?;
            *slot = Some(state);
        }
        slot.as_mut().ok_or_else(|| KitError::Lock("not provisioned".into()))
    }

    /// The lock challenges, `handheld` answers with `door`'s credential, the
    /// lock decides. The handheld signs whatever it is given, as an
    /// attacker's phone would: the lock alone must refuse what is not right.
    pub fn present_verdict(
        &mut self,
        keyset: &KeySet,
        door: &DoorAccess,
        handheld: &Handheld,
        now: i64,
    ) -> Result<Verdict, KitError> {
        let encoded = door.credential.as_deref().ok_or_else(|| KitError::Lock("the door has no credential".into()))?;
        let credential =
            serde_b64::decode(encoded).map_err(|_| KitError::Lock("the credential is not base64url".into()))?;
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let t = seconds(now)?;
        let state = Self::state(self.id, &mut self.state, keyset, now)?;
        let (pending, signed) = state
            .issue_challenge(&self.device, Nonce(nonce), t)
            .map_err(|e| KitError::Lock(format!("challenge: {e:?}")))?;
        let opened = open_challenge(signed.as_bytes(), &self.device.public_key(), &wire(self.id))
            .map_err(|e| KitError::Lock(format!("the handheld refuses the challenge: {e:?}")))?;
        let presentation = handheld
            .key
            .sign_presentation(opened.payload(), opened.challenge().counter, &credential)
            .map_err(|e| KitError::Lock(format!("presentation: {e:?}")))?;
        Ok(state.verify_presentation(pending, presentation.as_bytes(), t, &VerifyConfig::default()))
    }

    /// [`Self::present_verdict`], as opens or stays shut.
    pub fn present(
        &mut self,
        keyset: &KeySet,
        door: &DoorAccess,
        handheld: &Handheld,
        now: i64,
    ) -> Result<Outcome, KitError> {
        self.present_verdict(keyset, door, handheld, now).map(Outcome::from)
    }

    /// A code typed on the keypad.
    pub fn type_code(&mut self, keyset: &KeySet, code: &str, now: i64) -> Result<DoorCodeVerdict, KitError> {
        let secret = DoorCodeSecret::from_bytes(
            self.door_code_secret.ok_or_else(|| KitError::Lock("this lock has no keypad".into()))?,
        );
        let state = Self::state(self.id, &mut self.state, keyset, now)?;
        Ok(state.check_door_code(
            &secret,
            code.as_bytes(),
            seconds(now)?,
            &DoorCodePolicy::default(),
            &KeypadPolicy::default(),
        ))
    }
}
