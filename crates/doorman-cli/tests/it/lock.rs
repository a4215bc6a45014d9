//! Locks and handhelds as the protocol crate models them, so tests check a
//! granted credential the way a real lock does: offline, against its own
//! challenge, with the issuer keys it was provisioned with.

use anyhow::Context;
use doorman_api::{DoorAccess, KeySet, LockId, LockProvisioned};
use doorman_protocol::keys::{Algorithm, HandheldKey, KeyId, KeyUsage, LockDeviceKey, PublicKey, TrustedKey};
use doorman_protocol::{
    open_challenge, DoorCodePolicy, DoorCodeSecret, DoorCodeVerdict, KeypadPolicy, LockState, Nonce, Refusal, Verdict,
    VerifyConfig,
};
use rand_core::{OsRng, RngCore};

/// A driver's phone: a P-256 key.
#[derive(Debug)]
pub struct Handheld {
    pub key: HandheldKey,
}

impl Handheld {
    pub fn generate() -> Self {
        Self { key: HandheldKey::generate(&mut OsRng) }
    }

    /// As the API takes it: SEC1, base64url.
    pub fn public_key_b64(&self) -> String {
        doorman_domain::serde_b64::encode(self.key.public_key().as_sec1_bytes())
    }
}

/// What a lock's door decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Opens,
    StaysShut(Refusal),
}

/// A provisioned lock: its device key, door-code secret and protocol state.
#[derive(Debug)]
pub struct SimLock {
    pub id: LockId,
    pub device: LockDeviceKey,
    pub door_code_secret: Option<[u8; 32]>,
    state: Option<LockState>,
}

pub fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

pub fn trust_from(keyset: &KeySet) -> anyhow::Result<Vec<TrustedKey>> {
    keyset
        .keys
        .iter()
        .map(|k| {
            let kid: [u8; 8] = doorman_domain::serde_b64::decode(&k.kid)?
                .try_into()
                .map_err(|_| anyhow::anyhow!("kid is not 8 bytes"))?;
            let alg = if k.alg == "ES256" { Algorithm::ES256 } else { Algorithm::EdDSA };
            let key = PublicKey::from_bytes(alg, &doorman_domain::serde_b64::decode(&k.public_key)?)
                .map_err(|_| anyhow::anyhow!("bad trust anchor"))?;
            Ok(TrustedKey { kid: KeyId(kid), key, usage: KeyUsage::ALL })
        })
        .collect()
}

impl SimLock {
    /// A device key for a lock about to be registered.
    pub fn device() -> LockDeviceKey {
        LockDeviceKey::generate(&mut OsRng)
    }

    pub fn device_key_b64(device: &LockDeviceKey) -> String {
        doorman_domain::serde_b64::encode(&device.public_key().0)
    }

    /// The lock after the service provisioned it.
    pub fn provisioned(device: LockDeviceKey, p: &LockProvisioned) -> anyhow::Result<Self> {
        let door_code_secret = match &p.door_code_secret {
            Some(s) => Some(
                doorman_domain::serde_b64::decode(s)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("door-code secret is not 32 bytes"))?,
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
    ) -> anyhow::Result<&'a mut LockState> {
        if slot.is_none() {
            let trust = trust_from(keyset)?;
            let state = LockState::new(wire(id), &trust, u64::try_from(now)?.saturating_sub(60))
                .map_err(|e| anyhow::anyhow!("lock provisioning: {e:?}"))?;
            *slot = Some(state);
        }
        slot.as_mut().context("provisioned")
    }

    /// The lock challenges, `handheld` answers with `door`'s credential, the
    /// lock decides. The handheld signs whatever it is given, as an
    /// attacker's phone would: the lock alone must refuse what is not right.
    pub fn present(
        &mut self,
        keyset: &KeySet,
        door: &DoorAccess,
        handheld: &Handheld,
        now: i64,
    ) -> anyhow::Result<Outcome> {
        let credential = doorman_domain::serde_b64::decode(door.credential.as_deref().context("no credential")?)?;
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let t = u64::try_from(now)?;
        let state = Self::state(self.id, &mut self.state, keyset, now)?;
        let (pending, signed) =
            state.issue_challenge(&self.device, Nonce(nonce), t).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let opened = open_challenge(signed.as_bytes(), &self.device.public_key(), &wire(self.id))
            .map_err(|e| anyhow::anyhow!("the handheld refuses the challenge: {e:?}"))?;
        let presentation = handheld
            .key
            .sign_presentation(opened.payload(), opened.challenge().counter, &credential)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(match state.verify_presentation(pending, presentation.as_bytes(), t, &VerifyConfig::default()) {
            Verdict::Granted(_) => Outcome::Opens,
            Verdict::Refused(r) => Outcome::StaysShut(r),
        })
    }

    /// A code typed on the keypad.
    pub fn type_code(&mut self, keyset: &KeySet, code: &str, now: i64) -> anyhow::Result<DoorCodeVerdict> {
        let secret = DoorCodeSecret::from_bytes(self.door_code_secret.context("this lock has no keypad")?);
        let state = Self::state(self.id, &mut self.state, keyset, now)?;
        Ok(state.check_door_code(
            &secret,
            code.as_bytes(),
            u64::try_from(now)?,
            &DoorCodePolicy::default(),
            &KeypadPolicy::default(),
        ))
    }
}
