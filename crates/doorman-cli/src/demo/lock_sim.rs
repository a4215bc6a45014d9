//! Just enough of a lock and a handheld for the demo to show a credential
//! being checked offline. The real simulated lock is its own crate; this
//! uses the same protocol crate calls a lock makes.

use anyhow::Context;
use doorman_api::{AccessPointId, DoorAccess, KeySet, LockId, PropertyId, RegisterLock};
use doorman_client::Client;
use doorman_protocol::keys::{Algorithm, HandheldKey, KeyId, KeyUsage, LockDeviceKey, PublicKey, TrustedKey};
use doorman_protocol::{open_challenge, LockState, Nonce, Verdict, VerifyConfig};
use rand_core::{OsRng, RngCore};

pub struct Handheld {
    key: HandheldKey,
}

impl Handheld {
    pub fn generate() -> Self {
        Self { key: HandheldKey::generate(&mut OsRng) }
    }

    pub fn public_key_b64(&self) -> String {
        doorman_domain::serde_b64::encode(self.key.public_key().as_sec1_bytes())
    }
}

struct SimLock {
    id: LockId,
    device: LockDeviceKey,
    state: Option<LockState>,
    last_presentation: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct LockBench {
    locks: Vec<SimLock>,
}

fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

fn trust_from(keyset: &KeySet) -> anyhow::Result<Vec<TrustedKey>> {
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

fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Granted(g) => {
            format!("OPENS (lock sequence {}, use {} of {})", g.lock_sequence, g.use_number, g.max_uses)
        }
        Verdict::Refused(r) => format!("STAYS SHUT ({})", r.as_str()),
    }
}

impl LockBench {
    pub async fn register(
        &mut self,
        manager: &Client,
        property: PropertyId,
        access_point: AccessPointId,
        mobile_credential: bool,
        keypad: bool,
    ) -> anyhow::Result<LockId> {
        let device = LockDeviceKey::generate(&mut OsRng);
        let provisioned = manager
            .register_lock(
                property,
                &RegisterLock {
                    access_point_id: access_point,
                    device_public_key: doorman_domain::serde_b64::encode(&device.public_key().0),
                    model: "demo-lock".into(),
                    firmware: "1.0.0".into(),
                    mobile_credential,
                    keypad,
                },
            )
            .await?;
        let id = provisioned.lock.id;
        self.locks.push(SimLock { id, device, state: None, last_presentation: None });
        Ok(id)
    }

    fn lock(&mut self, id: LockId, keyset: &KeySet, now: i64) -> anyhow::Result<&mut SimLock> {
        let lock = self.locks.iter_mut().find(|l| l.id == id).context("no such simulated lock")?;
        if lock.state.is_none() {
            let trust = trust_from(keyset)?;
            let state = LockState::new(wire(id), &trust, u64::try_from(now)?.saturating_sub(60))
                .map_err(|e| anyhow::anyhow!("lock provisioning: {e:?}"))?;
            lock.state = Some(state);
        }
        Ok(lock)
    }

    /// The lock `lock_id` challenges, the handheld answers with the door's
    /// credential, the lock decides.
    pub fn present(
        &mut self,
        lock_id: LockId,
        keyset: &KeySet,
        door: &DoorAccess,
        handheld: &Handheld,
        now: i64,
    ) -> anyhow::Result<String> {
        let credential = doorman_domain::serde_b64::decode(door.credential.as_deref().context("no credential")?)?;
        let lock = self.lock(lock_id, keyset, now)?;
        let state = lock.state.as_mut().context("provisioned")?;
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let t = u64::try_from(now)?;
        let (pending, signed) =
            state.issue_challenge(&lock.device, Nonce(nonce), t).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let opened = open_challenge(signed.as_bytes(), &lock.device.public_key(), &wire(lock_id))
            .map_err(|e| anyhow::anyhow!("the handheld refuses the challenge: {e:?}"))?;
        // A careful handheld would not send a credential that is not its own or
        // not for this lock; an attacker would, so sign without those checks.
        let presentation = handheld
            .key
            .sign_presentation(opened.payload(), opened.challenge().counter, &credential)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let verdict = state.verify_presentation(pending, presentation.as_bytes(), t, &VerifyConfig::default());
        lock.last_presentation = Some(presentation.as_bytes().to_vec());
        Ok(describe(&verdict))
    }

    /// Presents the same credential again, to a fresh challenge.
    pub fn replay_last(
        &mut self,
        lock_id: LockId,
        keyset: &KeySet,
        door: &DoorAccess,
        handheld: &Handheld,
        now: i64,
    ) -> anyhow::Result<String> {
        self.present(lock_id, keyset, door, handheld, now)
    }
}
