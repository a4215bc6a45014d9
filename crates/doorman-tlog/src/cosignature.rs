//! Witness cosignatures in the C2SP `cosignature/v1` format
//! (`c2sp.org/tlog-cosignature`, Ed25519 variant).
//!
//! A cosignature is a note signature line whose key type byte is 0x04 and
//! whose signature is an 8-byte big-endian POSIX timestamp followed by an
//! Ed25519 signature over
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <the checkpoint's note text>
//! ```
//!
//! It states that, at that time, this was the largest consistent tree head
//! the witness had seen for the log. Verification goes through
//! [`crate::note::Note::verify`] with a [`VerifierKey`] of kind
//! [`KeyKind::Cosignature`].

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};

use crate::checkpoint::Checkpoint;
use crate::note::{
    check_key_name, key_id, parse_private_key, private_key_string, KeyError, KeyKind, NoteError, NoteSignature,
    VerifierKey,
};

/// Latest timestamp a cosignature may carry (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// The timestamp exceeds [`MAX_TIMESTAMP`].
    #[error("timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
    /// The note text is not a valid note text.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// The message a `cosignature/v1` signature covers.
pub fn cosigned_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    let header = format!("cosignature/v1\ntime {timestamp}\n");
    let mut message = Vec::with_capacity(header.len() + note_text.len());
    message.extend_from_slice(header.as_bytes());
    message.extend_from_slice(note_text.as_bytes());
    message
}

/// A witness's private cosigning key (kind [`KeyKind::Cosignature`]). Its
/// `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// A cosigner from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        Ok(Cosigner {
            name: name.to_owned(),
            key_id: key_id(name, KeyKind::Cosignature, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>`.
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        let (name, declared, seed) = parse_private_key(skey, KeyKind::Cosignature)?;
        let cosigner = Self::from_seed(name, seed)?;
        if cosigner.key_id != declared {
            return Err(KeyError::KeyIdMismatch { declared, computed: cosigner.key_id });
        }
        Ok(cosigner)
    }

    /// The private key string; handle it as the secret it is.
    pub fn to_skey(&self) -> String {
        private_key_string(&self.name, self.key_id, KeyKind::Cosignature, &self.key)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key (type 0x04), for clients' trust policies.
    pub fn verifier_key(&self) -> Result<VerifierKey, KeyError> {
        VerifierKey::new(&self.name, KeyKind::Cosignature, self.key.verifying_key().to_bytes())
    }

    /// Cosigns the note text of a checkpoint at `timestamp` (POSIX seconds).
    pub fn cosign_text(&self, note_text: &str, timestamp: u64) -> Result<NoteSignature, CosignError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignError::TimestampOutOfRange(timestamp));
        }
        // Validates the text as a note text (final newline, no controls).
        crate::note::Note::new(note_text)?;
        let signature = self.key.sign(&cosigned_message(note_text, timestamp));
        let mut bytes = Vec::with_capacity(72);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(NoteSignature { name: self.name.clone(), key_id: self.key_id, signature: bytes })
    }

    /// Cosigns a checkpoint at `timestamp` (POSIX seconds).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<NoteSignature, CosignError> {
        self.cosign_text(&checkpoint.to_text(), timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;
    use crate::note::{Note, NoteSigner};

    #[test]
    fn cosignatures_verify_and_carry_their_timestamp() {
        let log = NoteSigner::from_seed("example.com/log", [1; 32]).unwrap();
        let witness = Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap();
        let checkpoint = Checkpoint::new("example.com/log", 5, Hash([3; 32])).unwrap();
        let mut note = checkpoint.to_note();
        note.sign(&log).unwrap();
        note.add_signature(witness.cosign(&checkpoint, 1_679_315_147).unwrap()).unwrap();
        let parsed = Note::parse(note.to_text().as_bytes()).unwrap();
        let witness_key = witness.verifier_key().unwrap();
        let verified = parsed.verify(std::slice::from_ref(&witness_key)).unwrap();
        assert_eq!(verified[0].timestamp, Some(1_679_315_147));
        assert_eq!(verified[0].kind, KeyKind::Cosignature);
        // The same Ed25519 key under type 0x01 has another key ID: a
        // cosignature never passes for a log signature or the reverse.
        assert_ne!(witness_key.key_id(), log.key_id());
        let as_log_key = VerifierKey::new(witness.name(), KeyKind::Ed25519, witness_key.public_key()).unwrap();
        assert_eq!(parsed.verify(&[as_log_key]), Err(NoteError::NoTrustedSignature));
    }

    #[test]
    fn tampered_timestamp_fails() {
        let witness = Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap();
        let checkpoint = Checkpoint::new("example.com/log", 5, Hash([3; 32])).unwrap();
        let mut signature = witness.cosign(&checkpoint, 100).unwrap();
        signature.signature[7] ^= 1;
        let mut note = checkpoint.to_note();
        note.add_signature(signature).unwrap();
        assert!(matches!(note.verify(&[witness.verifier_key().unwrap()]), Err(NoteError::InvalidSignature { .. })));
        assert_eq!(witness.cosign(&checkpoint, u64::MAX), Err(CosignError::TimestampOutOfRange(u64::MAX)));
    }

    #[test]
    fn skey_round_trip() {
        let witness = Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap();
        let parsed = Cosigner::parse(&witness.to_skey()).unwrap();
        assert_eq!(parsed.verifier_key(), witness.verifier_key());
        assert!(NoteSigner::parse(&witness.to_skey()).is_err());
    }
}
