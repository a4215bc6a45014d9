//! The lock's challenge and the handheld's presentation.
//!
//! ```text
//! challenge payload = [ lock_id bstr(16), nonce bstr(16), counter uint, lock_time uint,
//!                       revocation_sequence uint, key_update_sequence uint,
//!                       event_counter uint, clock_lost bool ]
//! signed challenge  = COSE_Sign1 by the lock device key (EdDSA, no kid),
//!                     external_aad = "doorman/challenge/v1"
//! possession input  = [ "doorman/presentation/v1", challenge payload bstr, SHA-256(credential) bstr(32) ]
//! presentation      = [ counter uint, credential bstr, ES256 signature over the possession input bstr(64) ]
//! ```
//!
//! The handheld checks the lock's signature before answering, so a fake lock learns
//! nothing it could replay elsewhere: the answer is bound to that lock id and nonce.

use sha2::{Digest, Sha256};

use crate::cbor::{FixedBytes, Malformed, Reader, Writer};
use crate::cose::{decode_sign1, encode_sign1, verify_sign1, SIG_STRUCTURE_OVERHEAD};
use crate::credential::{inspect_credential, MAX_CREDENTIAL_LEN};
use crate::ids::{LockId, Nonce};
use crate::keys::{CoseSigner, HandheldKey, LockDeviceKey, LockDevicePublicKey};
use crate::EncodeError;

/// `external_aad` of a signed challenge.
pub const CHALLENGE_AAD: &[u8] = b"doorman/challenge/v1";
/// First element of the possession input the handheld signs.
pub const PRESENTATION_TAG: &str = "doorman/presentation/v1";

/// Longest challenge payload (8 fields at their widest).
pub const MAX_CHALLENGE_PAYLOAD_LEN: usize = 96;
/// Longest signed challenge.
pub const MAX_SIGNED_CHALLENGE_LEN: usize = 192;
/// Longest presentation.
pub const MAX_PRESENTATION_LEN: usize = MAX_CREDENTIAL_LEN + 96;

/// A signed challenge, as the lock sends it.
pub type SignedChallenge = FixedBytes<MAX_SIGNED_CHALLENGE_LEN>;
/// A presentation, as the handheld sends it.
pub type Presentation = FixedBytes<MAX_PRESENTATION_LEN>;

pub(crate) type ChallengePayload = FixedBytes<MAX_CHALLENGE_PAYLOAD_LEN>;

/// What a challenge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The lock that made it.
    pub lock_id: LockId,
    /// Fresh random bytes from the lock.
    pub nonce: Nonce,
    /// The lock's challenge counter; only the latest challenge can be answered.
    pub counter: u64,
    /// The lock's time when it made the challenge (unix seconds).
    pub lock_time: u64,
    /// Sequence of the revocation bundle the lock holds (the service pushes newer ones).
    pub revocation_sequence: u64,
    /// Sequence of the key update the lock holds.
    pub key_update_sequence: u64,
    /// Counter of the lock's last event, so the service notices events it has not seen.
    pub event_counter: u64,
    /// The lock lost its clock: only a credential bound to this challenge's nonce will do.
    pub clock_lost: bool,
}

impl Challenge {
    pub(crate) fn encode(&self) -> Result<ChallengePayload, EncodeError> {
        ChallengePayload::fill_with(|buf| {
            let mut w = Writer::new(buf);
            w.array(8)?
                .bytes(&self.lock_id.0)?
                .bytes(&self.nonce.0)?
                .u64(self.counter)?
                .u64(self.lock_time)?
                .u64(self.revocation_sequence)?
                .u64(self.key_update_sequence)?
                .u64(self.event_counter)?
                .bool(self.clock_lost)?;
            Ok(w.len())
        })
    }

    pub(crate) fn decode(payload: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader::new(payload);
        r.array_of(8)?;
        let c = Challenge {
            lock_id: LockId(r.bytes_fixed()?),
            nonce: Nonce(r.bytes_fixed()?),
            counter: r.u64()?,
            lock_time: r.u64()?,
            revocation_sequence: r.u64()?,
            key_update_sequence: r.u64()?,
            event_counter: r.u64()?,
            clock_lost: r.bool()?,
        };
        r.finish()?;
        Ok(c)
    }
}

/// A challenge the lock has issued and not yet seen answered.
///
/// Deliberately neither `Clone` nor `Copy`: [`crate::LockState::verify_presentation`]
/// consumes it, so each challenge is answered at most once.
#[derive(Debug)]
pub struct PendingChallenge {
    pub(crate) challenge: Challenge,
    pub(crate) payload: ChallengePayload,
}

impl PendingChallenge {
    /// What the challenge says.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// Signs it with the lock's device key, for sending to the handheld.
    pub fn sign(&self, device: &LockDeviceKey) -> Result<SignedChallenge, EncodeError> {
        SignedChallenge::fill_with(|buf| {
            encode_sign1(buf, device.signer(), None, CHALLENGE_AAD, self.payload.as_bytes())
        })
    }
}

/// Why a handheld refuses a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// Not a challenge.
    Malformed,
    /// Not signed by the lock's device key: a fake lock.
    BadSignature,
    /// Signed by the lock, but names another lock id.
    WrongLock,
}

/// A challenge the handheld has checked.
#[derive(Debug, Clone)]
pub struct OpenedChallenge {
    challenge: Challenge,
    payload: ChallengePayload,
}

impl OpenedChallenge {
    /// What the challenge says.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }
}

/// Handheld side: checks a signed challenge against the lock's device key (the
/// service hands the handheld each lock's public key with the credentials).
pub fn open_challenge(
    signed: &[u8],
    lock_key: &LockDevicePublicKey,
    expected_lock: &LockId,
) -> Result<OpenedChallenge, ChallengeError> {
    if signed.len() > MAX_SIGNED_CHALLENGE_LEN {
        return Err(ChallengeError::Malformed);
    }
    let msg = decode_sign1(signed).map_err(|_| ChallengeError::Malformed)?;
    if msg.kid.is_some() || msg.payload.len() > MAX_CHALLENGE_PAYLOAD_LEN {
        return Err(ChallengeError::Malformed);
    }
    let mut scratch = [0u8; MAX_CHALLENGE_PAYLOAD_LEN + SIG_STRUCTURE_OVERHEAD + 32];
    if !verify_sign1(&msg, CHALLENGE_AAD, &lock_key.as_public_key(), &mut scratch) {
        return Err(ChallengeError::BadSignature);
    }
    let challenge = Challenge::decode(msg.payload).map_err(|_| ChallengeError::Malformed)?;
    if challenge.lock_id != *expected_lock {
        return Err(ChallengeError::WrongLock);
    }
    let payload = ChallengePayload::from_slice(msg.payload).map_err(|_| ChallengeError::Malformed)?;
    Ok(OpenedChallenge { challenge, payload })
}

/// Writes the possession input (what the handheld signs) into `buf`.
pub(crate) fn possession_input<'b>(
    buf: &'b mut [u8],
    challenge_payload: &[u8],
    credential: &[u8],
) -> Result<&'b [u8], EncodeError> {
    let digest: [u8; 32] = Sha256::digest(credential).into();
    let mut w = Writer::new(buf);
    w.array(3)?.str(PRESENTATION_TAG)?.bytes(challenge_payload)?.bytes(&digest)?;
    let n = w.len();
    buf.get(..n).ok_or(EncodeError::BufferTooSmall)
}

/// Room for a possession input.
pub(crate) const POSSESSION_INPUT_LEN: usize = MAX_CHALLENGE_PAYLOAD_LEN + 80;

/// Why a handheld could not present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentError {
    /// The credential could not be decoded.
    MalformedCredential,
    /// The credential is for another lock than the one that sent the challenge.
    WrongLock,
    /// The credential is bound to a different challenge nonce.
    NonceMismatch,
    /// The credential's `cnf` key is not this handheld's key.
    NotMyCredential,
    /// Encoding failed.
    Encode(EncodeError),
}

impl HandheldKey {
    /// Answers a checked challenge with `credential`: the handheld signs (domain tag,
    /// challenge payload, SHA-256 of the credential) with its P-256 key.
    pub fn present(&self, challenge: &OpenedChallenge, credential: &[u8]) -> Result<Presentation, PresentError> {
        let cred = inspect_credential(credential).map_err(|_| PresentError::MalformedCredential)?;
        if cred.claims.lock_id != challenge.challenge.lock_id {
            return Err(PresentError::WrongLock);
        }
        if cred.claims.challenge_nonce.is_some_and(|n| n != challenge.challenge.nonce) {
            return Err(PresentError::NonceMismatch);
        }
        if cred.claims.handheld_key != self.public_key() {
            return Err(PresentError::NotMyCredential);
        }
        self.sign_presentation(challenge.payload.as_bytes(), challenge.challenge.counter, credential)
            .map_err(PresentError::Encode)
    }

    /// The signing step alone, without the handheld's sanity checks (tests use it to
    /// build presentations a careful handheld would refuse to send).
    pub fn sign_presentation(
        &self,
        challenge_payload: &[u8],
        counter: u64,
        credential: &[u8],
    ) -> Result<Presentation, EncodeError> {
        let mut buf = [0u8; POSSESSION_INPUT_LEN];
        let input = possession_input(&mut buf, challenge_payload, credential)?;
        let signature = self.signer().sign64(input);
        Presentation::fill_with(|out| {
            let mut w = Writer::new(out);
            w.array(3)?.u64(counter)?.bytes(credential)?.bytes(&signature)?;
            Ok(w.len())
        })
    }
}

impl OpenedChallenge {
    /// The exact payload bytes the lock signed (input to [`HandheldKey::sign_presentation`]).
    pub fn payload(&self) -> &[u8] {
        self.payload.as_bytes()
    }
}

/// A presentation split into its parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PresentationParts<'a> {
    pub(crate) counter: u64,
    pub(crate) credential: &'a [u8],
    pub(crate) signature: &'a [u8],
}

pub(crate) fn decode_presentation(bytes: &[u8]) -> Result<PresentationParts<'_>, Malformed> {
    if bytes.len() > MAX_PRESENTATION_LEN {
        return Err(Malformed);
    }
    let mut r = Reader::new(bytes);
    r.array_of(3)?;
    let counter = r.u64()?;
    let credential = r.bytes()?;
    let signature = r.bytes()?;
    r.finish()?;
    if credential.len() > MAX_CREDENTIAL_LEN || signature.len() != 64 {
        return Err(Malformed);
    }
    Ok(PresentationParts { counter, credential, signature })
}
