//! A provisioned lock, an issuer and a driver's handheld, at a fixed time.

use doorman_lock::*;
use doorman_protocol::*;
use rand_core::OsRng;

pub const NOW: u64 = 1_760_000_000;
pub const LOCK: LockId = LockId([0x42; 16]);
pub const DEVICE_SECRET: [u8; 32] = [9; 32];
pub const DOOR_SECRET: [u8; 32] = [5; 32];

pub fn identity() -> LockIdentity {
    LockIdentity {
        lock_id: LOCK,
        device: LockDeviceKey::from_secret(&DEVICE_SECRET),
        door_code_secret: Some(DoorCodeSecret::from_bytes(DOOR_SECRET)),
    }
}

pub fn device_public() -> LockDevicePublicKey {
    LockDeviceKey::from_secret(&DEVICE_SECRET).public_key()
}

/// The camera rule off, so tests that are not about it need no heartbeats.
pub fn config() -> LockConfig {
    LockConfig {
        camera: CameraPolicy { refuse_entry_when_stale: false, ..CameraPolicy::default() },
        ..LockConfig::default()
    }
}

pub struct World<S: LockStorage + Clone> {
    pub issuer: IssuerSigningKey,
    pub handheld: HandheldKey,
    pub storage: S,
    pub lock: Lock<S>,
    pub config: LockConfig,
    next_sequence: u64,
}

impl World<MemoryStorage> {
    pub fn new() -> Self {
        Self::with(MemoryStorage::new(), config())
    }
}

impl<S: LockStorage + Clone> World<S> {
    pub fn with(storage: S, config: LockConfig) -> Self {
        let issuer = IssuerSigningKey::from_ed25519_secret(&[7; 32]);
        let lock =
            Lock::provision(identity(), &[issuer.trusted_key(KeyUsage::ALL)], config, storage.clone(), NOW - 3600)
                .unwrap();
        Self { issuer, handheld: HandheldKey::from_secret(&[3; 32]).unwrap(), storage, lock, config, next_sequence: 1 }
    }

    /// Power cut: the lock in memory is gone; it comes back from storage.
    pub fn reboot(&mut self) {
        let fresh = Lock::open(identity(), self.config, self.storage.clone()).unwrap();
        self.lock = fresh;
    }

    pub fn claims(&mut self, cti: u8) -> CredentialClaims<'static> {
        let seq = self.next_sequence;
        self.next_sequence += 1;
        CredentialClaims {
            issuer: "doorman",
            lock_id: LOCK,
            not_before: NOW - 30,
            expires_at: NOW + 300,
            issued_at: NOW - 30,
            credential_id: CredentialId([cti; 16]),
            handheld_key: self.handheld.public_key(),
            delivery_hash: DeliveryHash([cti; 16]),
            lock_sequence: seq,
            revocation_epoch: 0,
            max_uses: 1,
            challenge_nonce: None,
        }
    }

    pub fn credential(&mut self, cti: u8) -> Credential {
        let claims = self.claims(cti);
        issue_credential(&self.issuer, &claims).unwrap()
    }

    pub fn issue(&self, claims: &CredentialClaims<'_>) -> Credential {
        issue_credential(&self.issuer, claims).unwrap()
    }

    /// Challenge, check the lock's signature, answer with `credential`, decide.
    pub fn enter(&mut self, credential: &Credential, now: u64) -> Outcome {
        let signed = self.lock.challenge(&mut OsRng, now).unwrap();
        let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
        let presentation = self
            .handheld
            .sign_presentation(opened.payload(), opened.challenge().counter, credential.as_bytes())
            .unwrap();
        self.lock.present(presentation.as_bytes(), now).unwrap()
    }

    pub fn refusal(&mut self, credential: &Credential, now: u64) -> Option<LockRefusal> {
        self.enter(credential, now).decision.refusal()
    }

    /// Every event the lock holds, checked as a chain continuing at `start`.
    pub fn upload(&self, start: ChainHead) -> (ChainHead, Vec<LockEvent>) {
        let mut verifier = EventChainVerifier::resume(device_public(), LOCK, start);
        let mut events = Vec::new();
        for (counter, bytes) in self.lock.events_after(start.counter) {
            let e = verifier.push(bytes).unwrap();
            assert_eq!(e.counter, counter);
            events.push(e);
        }
        (verifier.head(), events)
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.lock.events_after(0).map(|(_, b)| decode_event(b, &device_public()).unwrap().record.kind).collect()
    }

    pub fn last_event(&self) -> LockEvent {
        let (_, bytes) = self.lock.events_after(0).last().unwrap();
        decode_event(bytes, &device_public()).unwrap()
    }
}

pub fn door_code_at(now: u64, index: u8) -> Vec<u8> {
    let policy = DoorCodePolicy::default();
    let secret = DoorCodeSecret::from_bytes(DOOR_SECRET);
    let code = door_code(&secret, policy.time_slot(now), index, &policy).unwrap();
    code.to_string().into_bytes()
}
