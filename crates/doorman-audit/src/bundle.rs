//! The bundle: what `doorman audit export` writes and [`verify`](crate::verify)
//! reads, and the one way a kept checkpoint's text is read.

use doorman_api::{AuditConsistency, AuditEntry, LockDeviceKey};
use doorman_tlog::{Checkpoint, CheckpointError, Note, SignedCheckpoint, VerifierKey};
use serde::{Deserialize, Serialize};

/// The bundle's `format`: a verifier refuses any other.
pub const BUNDLE_FORMAT: &str = "doorman-audit-bundle/v1";

/// A reader's log entries with everything needed to check them offline:
/// the checkpoint every inclusion proof leads to, the device keys of the
/// locks whose signed events are among the entries and, when the reader
/// kept an older checkpoint, the consistency proof from it.
///
/// Its JSON is the bundle file; the entries, lock keys and consistency
/// proof have the shapes of the HTTP API's answers they came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The checkpoint (C2SP signed note with cosignatures) every proof leads to.
    pub checkpoint: String,
    /// The reader's visible entries, in index order, with inclusion proofs.
    pub entries: Vec<AuditEntry>,
    /// Device keys of the locks whose events are among the entries.
    #[serde(default)]
    pub locks: Vec<LockDeviceKey>,
    /// The older checkpoint the reader kept, as it was given to the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_checkpoint: Option<String>,
    /// The consistency proof from that checkpoint to `checkpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<AuditConsistency>,
}

impl Bundle {
    /// A bundle of the current format.
    pub fn new(
        checkpoint: String,
        entries: Vec<AuditEntry>,
        locks: Vec<LockDeviceKey>,
        since_checkpoint: Option<String>,
        consistency: Option<AuditConsistency>,
    ) -> Self {
        Self { format: BUNDLE_FORMAT.into(), checkpoint, entries, locks, since_checkpoint, consistency }
    }

    /// Reads a bundle file's JSON. The format is checked by the verifier,
    /// which reports it with everything else.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The bundle file's JSON, indented for people.
    pub fn to_json_pretty(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }
}

/// A checkpoint's text as a signed note: one final newline, whatever
/// trailing whitespace the way it was kept added. `jq -r .checkpoint`
/// prints the field and a newline of its own, editors add or strip one: a
/// signed note ends with exactly one newline, and none of its signature
/// lines ends in whitespace, so nothing signed is changed.
pub fn normalize_note(text: &str) -> String {
    let mut note = text.trim_end().to_owned();
    note.push('\n');
    note
}

/// Parses a checkpoint and checks the log's signature on it (one of
/// `log_keys`) and the cosignature of each of `witnesses`, after
/// [`normalize_note`].
pub fn open_checkpoint(
    text: &str,
    log_keys: &[VerifierKey],
    witnesses: &[VerifierKey],
) -> Result<SignedCheckpoint, CheckpointError> {
    SignedCheckpoint::open(normalize_note(text).as_bytes(), log_keys, witnesses)
}

/// Why a checkpoint's size could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnreadableCheckpoint {
    /// The text is not a signed note.
    NotANote(String),
    /// The note's text is not a checkpoint.
    NotACheckpoint(String),
}

impl std::fmt::Display for UnreadableCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotANote(e) => write!(f, "the checkpoint is not a signed note: {e}"),
            Self::NotACheckpoint(e) => write!(f, "the signed note is not a checkpoint: {e}"),
        }
    }
}

impl std::error::Error for UnreadableCheckpoint {}

/// The tree size a checkpoint claims, read without checking any signature:
/// what an export asks the consistency proof from. Only
/// [`verify`](crate::verify) decides whether the log signed it.
pub fn checkpoint_size(text: &str) -> Result<u64, UnreadableCheckpoint> {
    let note =
        Note::parse(normalize_note(text).as_bytes()).map_err(|e| UnreadableCheckpoint::NotANote(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse_text(note.text()).map_err(|e| UnreadableCheckpoint::NotACheckpoint(e.to_string()))?;
    Ok(checkpoint.size())
}
