//! A small world for the tests: a service's keys, one lock, one driver.

use doorman_protocol::*;

pub const NOW: u64 = 1_760_000_000;
pub const LOCK: LockId = LockId([0x4c; 16]);
pub const OTHER_LOCK: LockId = LockId([0x4d; 16]);

pub struct World {
    /// Online issuer key: credentials and revocation bundles.
    pub issuer: IssuerSigningKey,
    /// Offline root key: key updates only.
    pub root: IssuerSigningKey,
    pub device: LockDeviceKey,
    pub handheld: HandheldKey,
    pub lock: LockState,
    pub cfg: VerifyConfig,
    next_nonce: u8,
}

impl World {
    pub fn new() -> Self {
        let issuer = IssuerSigningKey::from_ed25519_secret(&[0x01; 32]);
        let root = IssuerSigningKey::from_ed25519_secret(&[0x02; 32]);
        let lock = LockState::new(
            LOCK,
            &[issuer.trusted_key(KeyUsage::ISSUER), root.trusted_key(KeyUsage::KEY_UPDATE)],
            NOW - 3600,
        )
        .unwrap();
        World {
            issuer,
            root,
            device: LockDeviceKey::from_secret(&[0x03; 32]),
            handheld: HandheldKey::from_secret(&[0x04; 32]).unwrap(),
            lock,
            cfg: VerifyConfig::default(),
            next_nonce: 0,
        }
    }

    pub fn claims(&self, lock_sequence: u64) -> CredentialClaims<'static> {
        CredentialClaims {
            issuer: "doorman",
            lock_id: LOCK,
            not_before: NOW - 60,
            expires_at: NOW + 540,
            issued_at: NOW - 60,
            credential_id: CredentialId([lock_sequence as u8; 16]),
            handheld_key: self.handheld.public_key(),
            delivery_hash: delivery_hash(b"salt for tests 16", b"1Z999AA10123456784"),
            lock_sequence,
            revocation_epoch: 0,
            max_uses: 1,
            challenge_nonce: None,
        }
    }

    pub fn credential(&self, claims: &CredentialClaims<'_>) -> Credential {
        issue_credential(&self.issuer, claims).unwrap()
    }

    pub fn nonce(&mut self) -> Nonce {
        self.next_nonce = self.next_nonce.wrapping_add(1);
        Nonce([self.next_nonce; 16])
    }

    /// The lock challenges at `now`; the handheld checks the challenge.
    pub fn challenge(&mut self, now: u64) -> (PendingChallenge, OpenedChallenge) {
        let nonce = self.nonce();
        let (pending, signed) = self.lock.issue_challenge(&self.device, nonce, now).unwrap();
        let opened = open_challenge(signed.as_bytes(), &self.device.public_key(), &LOCK).unwrap();
        (pending, opened)
    }

    /// Challenge, present with the world's handheld (no handheld-side checks), verify.
    pub fn attempt(&mut self, credential: &[u8], now: u64) -> Verdict {
        let (pending, opened) = self.challenge(now);
        let p = self.handheld.sign_presentation(opened.payload(), opened.challenge().counter, credential).unwrap();
        self.lock.verify_presentation(pending, p.as_bytes(), now, &self.cfg)
    }

    pub fn revocation_bundle(&self, sequence: u64, epoch: u64, revoked: &[RevokedEntry]) -> RevocationBundle {
        issue_revocation_bundle(&self.issuer, &LOCK, sequence, epoch, revoked).unwrap()
    }
}

pub fn refused(v: Verdict) -> Refusal {
    match v {
        Verdict::Refused(r) => r,
        Verdict::Granted(g) => panic!("expected a refusal, got {g:?}"),
    }
}

pub fn granted(v: Verdict) -> Grant {
    match v {
        Verdict::Granted(g) => g,
        Verdict::Refused(r) => panic!("expected a grant, got {r:?}"),
    }
}
