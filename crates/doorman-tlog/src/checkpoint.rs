//! Checkpoints in the C2SP `tlog-checkpoint` format: the signed tree head of
//! a log, as the text of a signed note.
//!
//! ```text
//! <origin>
//! <tree size in decimal>
//! <base64 root hash>
//! [extension lines]
//! ```

use std::fmt;

use crate::hash::{Hash, HashDecodeError};
use crate::node::MAX_TREE_SIZE;
use crate::note::{KeyKind, Note, NoteError, NoteSigner, VerifiedSignature, VerifierKey};

/// Why a checkpoint could not be built, parsed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or fails to verify.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The note text does not end with a newline.
    #[error("checkpoint text must end with a newline")]
    TextNotTerminated,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint needs an origin, a size and a root hash line")]
    TooFewLines,
    /// The origin line is empty or contains a control character.
    #[error("checkpoint origin must be a non-empty line")]
    InvalidOrigin,
    /// The size line is not a canonical decimal number within range.
    #[error("checkpoint tree size {0:?} is not a decimal number without leading zeros up to 2^63 - 1")]
    InvalidSize(String),
    /// The root hash line is not base64 of 32 bytes.
    #[error("checkpoint root hash: {0}")]
    InvalidRoot(HashDecodeError),
    /// An extension line is empty or contains a control character.
    #[error("checkpoint extension lines must be non-empty single lines")]
    InvalidExtension,
    /// No signature from any of the log's keys verifies (cosignatures alone
    /// do not make a checkpoint).
    #[error("checkpoint is not signed by the log")]
    NotSignedByLog,
}

/// A tree size and its root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// Number of entries.
    pub size: u64,
    /// Merkle tree hash of those entries.
    pub root: Hash,
}

impl fmt::Display for TreeHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "size {} root {}", self.size, self.root)
    }
}

/// The body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn is_single_line(text: &str) -> bool {
    !text.is_empty() && !text.bytes().any(|b| b < 0x20)
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !is_single_line(origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        if size > MAX_TREE_SIZE {
            return Err(CheckpointError::InvalidSize(size.to_string()));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions: Vec::new() })
    }

    /// Adds an extension line (discouraged by the spec: monitors cannot audit
    /// them).
    pub fn with_extension(mut self, line: &str) -> Result<Self, CheckpointError> {
        if !is_single_line(line) {
            return Err(CheckpointError::InvalidExtension);
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Size and root.
    pub fn tree_head(&self) -> TreeHead {
        TreeHead { size: self.size, root: self.root }
    }

    /// Extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, root, extensions, each ending in a
    /// newline.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a note text as a checkpoint; never panics.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::TextNotTerminated)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::TooFewLines);
        };
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(CheckpointError::InvalidRoot)?;
        let mut checkpoint = Checkpoint::new(origin, size, root)?;
        for line in lines {
            checkpoint = checkpoint.with_extension(line)?;
        }
        Ok(checkpoint)
    }

    /// An unsigned note with this checkpoint as its text.
    pub fn to_note(&self) -> Note {
        // Every line was checked on the way in, so the text is a valid note
        // text by construction.
        Note::from_checked_text(self.to_text())
    }

    /// The checkpoint signed by the log.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, CheckpointError> {
        let mut note = self.to_note();
        note.sign(signer)?;
        Ok(note)
    }
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let invalid = || CheckpointError::InvalidSize(line.chars().take(32).collect());
    let canonical = !line.is_empty()
        && line.len() <= 19
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    line.parse::<u64>().ok().filter(|size| *size <= MAX_TREE_SIZE).ok_or_else(invalid)
}

/// A checkpoint whose note carries a valid signature from the log, with every
/// signature that verified (the log's and the witnesses' cosignatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
    verified: Vec<VerifiedSignature>,
}

impl SignedCheckpoint {
    /// Parses and verifies a signed checkpoint.
    ///
    /// `log_keys` are the log's Ed25519 keys; at least one must have signed.
    /// `witness_keys` are the cosigner keys whose cosignatures the caller
    /// wants checked; unknown signatures are ignored, and a signature from any
    /// known key that fails rejects the checkpoint.
    pub fn open(bytes: &[u8], log_keys: &[VerifierKey], witness_keys: &[VerifierKey]) -> Result<Self, CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_text(note.text())?;
        let trusted: Vec<VerifierKey> = log_keys.iter().chain(witness_keys).cloned().collect();
        let verified = match note.verify(&trusted) {
            Ok(verified) => verified,
            Err(NoteError::NoTrustedSignature) => return Err(CheckpointError::NotSignedByLog),
            Err(error) => return Err(error.into()),
        };
        let signed_by_log = verified.iter().any(|signature| {
            signature.kind == KeyKind::Ed25519
                && log_keys.iter().any(|key| {
                    key.kind() == KeyKind::Ed25519 && key.name() == signature.name && key.key_id() == signature.key_id
                })
        });
        if !signed_by_log {
            return Err(CheckpointError::NotSignedByLog);
        }
        Ok(SignedCheckpoint { checkpoint, note, verified })
    }

    /// The checkpoint body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The note as received (all signature lines, verified or not).
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Every signature that verified, log and witnesses.
    pub fn verified_signatures(&self) -> &[VerifiedSignature] {
        &self.verified
    }

    /// The verified witness cosignatures.
    pub fn cosignatures(&self) -> impl Iterator<Item = &VerifiedSignature> {
        self.verified.iter().filter(|signature| signature.kind == KeyKind::Cosignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::Cosigner;

    const SPEC_EXAMPLE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn parses_the_spec_example_body() {
        let checkpoint = Checkpoint::parse_text(SPEC_EXAMPLE).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), 20_852_163);
        assert_eq!(checkpoint.root().to_base64(), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
        assert_eq!(checkpoint.to_text(), SPEC_EXAMPLE);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            ("o\n1\n".to_owned(), CheckpointError::TooFewLines),
            (format!("o\n1\n{root}"), CheckpointError::TextNotTerminated),
            (format!("\n1\n{root}\n"), CheckpointError::InvalidOrigin),
            (format!("o\n01\n{root}\n"), CheckpointError::InvalidSize("01".into())),
            (format!("o\n-1\n{root}\n"), CheckpointError::InvalidSize("-1".into())),
            (format!("o\n+1\n{root}\n"), CheckpointError::InvalidSize("+1".into())),
            (format!("o\n\n{root}\n"), CheckpointError::InvalidSize(String::new())),
            (format!("o\n9223372036854775808\n{root}\n"), CheckpointError::InvalidSize("9223372036854775808".into())),
            ("o\n1\nAAAA\n".to_owned(), CheckpointError::InvalidRoot(HashDecodeError::Length(3))),
            (format!("o\n1\n{root}\n\n"), CheckpointError::InvalidExtension),
        ];
        for (text, expected) in cases {
            assert_eq!(Checkpoint::parse_text(&text), Err(expected), "{text:?}");
        }
        let with_extension = format!("o\n0\n{root}\nextra line\n");
        let parsed = Checkpoint::parse_text(&with_extension).unwrap();
        assert_eq!(parsed.extensions(), ["extra line"]);
        assert_eq!(parsed.to_text(), with_extension);
    }

    #[test]
    fn open_requires_the_log_signature() {
        let log = NoteSigner::from_seed("example.com/log", [1; 32]).unwrap();
        let witness = Cosigner::from_seed("witness.example", [2; 32]).unwrap();
        let checkpoint = Checkpoint::new("example.com/log", 3, Hash([4; 32])).unwrap();
        let mut only_cosigned = checkpoint.to_note();
        only_cosigned.add_signature(witness.cosign(&checkpoint, 9).unwrap()).unwrap();
        let witness_key = witness.verifier_key().unwrap();
        assert_eq!(
            SignedCheckpoint::open(
                only_cosigned.to_text().as_bytes(),
                &[log.verifier_key()],
                std::slice::from_ref(&witness_key)
            ),
            Err(CheckpointError::NotSignedByLog)
        );
        // Passing a witness key as a log key does not help either.
        assert_eq!(
            SignedCheckpoint::open(only_cosigned.to_text().as_bytes(), std::slice::from_ref(&witness_key), &[]),
            Err(CheckpointError::NotSignedByLog)
        );
        let mut signed = checkpoint.sign(&log).unwrap();
        signed.add_signature(witness.cosign(&checkpoint, 9).unwrap()).unwrap();
        let opened =
            SignedCheckpoint::open(signed.to_text().as_bytes(), &[log.verifier_key()], &[witness_key]).unwrap();
        assert_eq!(opened.checkpoint(), &checkpoint);
        assert_eq!(opened.cosignatures().count(), 1);
    }
}
