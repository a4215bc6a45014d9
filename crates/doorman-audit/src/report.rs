//! What [`verify`](crate::verify) found: each thing it established as a
//! [`Verified`], each thing wrong as a [`ProblemKind`], both with a sentence
//! for people (their `Display`) that callers print or render as they like.

use std::fmt;

use doorman_domain::{AccessRequestId, GrantId, LockId};
use doorman_tlog::{Checkpoint, Hash};

/// Which older checkpoint the bundle's checkpoint was compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// The one the caller kept and passed as `previous`.
    Kept,
    /// The one the export was given (`since_checkpoint` in the bundle),
    /// when the caller passed none.
    BundleSince,
    /// The one the bundle's consistency proof leads to.
    ConsistencyTarget,
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Baseline::Kept => "the checkpoint you kept",
            Baseline::BundleSince => "the bundle's older checkpoint",
            Baseline::ConsistencyTarget => "the checkpoint the consistency proof leads to",
        })
    }
}

/// One thing the verifier established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The bundle's checkpoint carries a valid signature of the log's key.
    CheckpointSigned {
        /// The log's origin line.
        origin: String,
        /// Its tree size.
        size: u64,
        /// Its root hash.
        root: Hash,
    },
    /// The checkpoint carries a valid cosignature of a required witness.
    Cosigned {
        /// The witness's key name.
        witness: String,
        /// When it cosigned (Unix seconds), if its signature says.
        timestamp: Option<u64>,
    },
    /// Every entry's inclusion proof leads to the checkpoint's root.
    EntriesIncluded {
        /// How many entries.
        count: usize,
    },
    /// The checkpoint's tree extends an older checkpoint's.
    Extends {
        /// Which older checkpoint.
        baseline: Baseline,
        /// The older checkpoint's size.
        old_size: u64,
        /// The bundle checkpoint's size.
        new_size: u64,
    },
    /// A lock's events in the bundle form one intact signed chain.
    LockChainIntact {
        /// The lock.
        lock: LockId,
        /// How many of its events.
        events: usize,
    },
    /// Every grant follows the access request it answers.
    GrantsAnswered {
        /// How many grants.
        count: usize,
    },
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verified::CheckpointSigned { origin, size, root } => {
                write!(f, "checkpoint of {origin} at size {size} (root {}) is signed by the log", root.to_base64())
            }
            Verified::Cosigned { witness, timestamp } => {
                write!(f, "cosigned by witness {witness} at {}", timestamp.map(|t| t.to_string()).unwrap_or_default())
            }
            Verified::EntriesIncluded { count } => write!(f, "all {count} entries are included in the checkpoint"),
            Verified::Extends { baseline, old_size, new_size } => {
                write!(f, "the log of size {new_size} extends {baseline} (size {old_size}) without rewriting it")
            }
            Verified::LockChainIntact { lock, events } => {
                write!(f, "lock {lock}: {events} signed events, chain intact from the first")
            }
            Verified::GrantsAnswered { count } => write!(f, "all {count} grants follow the access request they answer"),
        }
    }
}

/// One thing wrong with a bundle, with the facts a program may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The bundle is of another format than [`BUNDLE_FORMAT`](crate::BUNDLE_FORMAT).
    Format {
        /// The format it declares.
        found: String,
    },
    /// The checkpoint is malformed or not signed by any of the log's keys;
    /// nothing else can be checked.
    CheckpointSignature {
        /// Why.
        reason: String,
    },
    /// A required witness's cosignature is not on the checkpoint.
    MissingCosignature {
        /// The witness's key name.
        witness: String,
    },
    /// An entry's index is not larger than the one before it.
    DuplicateEntry {
        /// The entry's index.
        index: u64,
    },
    /// An entry's bytes or proof hashes are not base64url.
    MalformedEntry {
        /// The entry's index.
        index: u64,
    },
    /// An entry's proof does not lead from its bytes to the checkpoint's root.
    NotIncluded {
        /// The entry's index.
        index: u64,
        /// What the proof check said.
        reason: String,
    },
    /// An entry's bytes are not an event.
    UndecodableEntry {
        /// The entry's index.
        index: u64,
        /// What the decoder said.
        reason: String,
    },
    /// The older checkpoint is malformed or not signed by the log.
    PreviousCheckpoint {
        /// Which older checkpoint.
        baseline: Baseline,
        /// Why.
        reason: String,
    },
    /// The log is smaller than the older checkpoint: entries were removed.
    Rollback {
        /// Which older checkpoint.
        baseline: Baseline,
        /// The older checkpoint's size.
        old_size: u64,
        /// The bundle checkpoint's size.
        new_size: u64,
    },
    /// The log signed two different trees of the same size.
    Fork {
        /// Which other checkpoint.
        baseline: Baseline,
        /// The size both claim.
        size: u64,
        /// The other checkpoint's root.
        baseline_root: Hash,
        /// The bundle checkpoint's root.
        bundle_root: Hash,
    },
    /// The log does not extend the older checkpoint: its history was rewritten.
    Inconsistent {
        /// Which older checkpoint.
        baseline: Baseline,
        /// The older checkpoint's size.
        old_size: u64,
        /// The bundle checkpoint's size.
        new_size: u64,
        /// What the proof check said.
        reason: String,
    },
    /// The consistency proof's hashes are not base64url.
    MalformedConsistencyProof,
    /// The log grew since the older checkpoint and the bundle has no proof
    /// between the two sizes.
    MissingConsistencyProof {
        /// The older checkpoint's size.
        old_size: u64,
        /// The bundle checkpoint's size.
        new_size: u64,
    },
    /// A lock's events are in the bundle but its device key is not.
    LockKeyMissing {
        /// The lock.
        lock: LockId,
    },
    /// A lock event entry's signed event is not base64url.
    LockEventMalformed {
        /// The entry's index.
        index: u64,
        /// The lock.
        lock: LockId,
    },
    /// A lock's signed event says another counter than its log entry.
    LockCounterMismatch {
        /// The entry's index.
        index: u64,
        /// The lock.
        lock: LockId,
        /// The counter the lock signed.
        signed: u64,
        /// The counter the log entry says.
        logged: u64,
    },
    /// A lock's signed events stop forming a chain (a gap, a bad signature,
    /// an event of another lock).
    LockChainBroken {
        /// The entry's index.
        index: u64,
        /// The lock.
        lock: LockId,
        /// The counter the log entry says.
        counter: u64,
        /// Why the event does not continue the chain.
        error: doorman_protocol::ChainError,
    },
    /// A grant answers an access request that is not logged before it for
    /// the same delivery, driver and property.
    GrantWithoutRequest {
        /// The grant's entry index.
        index: u64,
        /// The grant.
        grant: GrantId,
        /// The request it says it answers.
        request: AccessRequestId,
    },
    /// An access request with no grant or refusal logged after it (the
    /// service logs the two together: the outcome's entry was removed).
    RequestWithoutOutcome {
        /// The request's entry index.
        index: u64,
        /// The request.
        request: AccessRequestId,
    },
}

impl ProblemKind {
    /// A stable code for scripts: `format`, `checkpoint_signature`,
    /// `missing_cosignature`, `duplicate_entry`, `malformed_entry`,
    /// `not_included`, `undecodable_entry`, `previous_checkpoint`,
    /// `rollback`, `fork`, `inconsistent`, `missing_consistency_proof`,
    /// `lock_key_missing`, `lock_chain`, `grant_without_request`,
    /// `request_without_outcome`.
    pub fn code(&self) -> &'static str {
        match self {
            ProblemKind::Format { .. } => "format",
            ProblemKind::CheckpointSignature { .. } => "checkpoint_signature",
            ProblemKind::MissingCosignature { .. } => "missing_cosignature",
            ProblemKind::DuplicateEntry { .. } => "duplicate_entry",
            ProblemKind::MalformedEntry { .. } => "malformed_entry",
            ProblemKind::NotIncluded { .. } => "not_included",
            ProblemKind::UndecodableEntry { .. } => "undecodable_entry",
            ProblemKind::PreviousCheckpoint { .. } => "previous_checkpoint",
            ProblemKind::Rollback { .. } => "rollback",
            ProblemKind::Fork { .. } => "fork",
            ProblemKind::Inconsistent { .. } | ProblemKind::MalformedConsistencyProof => "inconsistent",
            ProblemKind::MissingConsistencyProof { .. } => "missing_consistency_proof",
            ProblemKind::LockKeyMissing { .. } => "lock_key_missing",
            ProblemKind::LockEventMalformed { .. }
            | ProblemKind::LockCounterMismatch { .. }
            | ProblemKind::LockChainBroken { .. } => "lock_chain",
            ProblemKind::GrantWithoutRequest { .. } => "grant_without_request",
            ProblemKind::RequestWithoutOutcome { .. } => "request_without_outcome",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Format { found } => {
                write!(f, "unknown bundle format {found:?} (expected {})", crate::BUNDLE_FORMAT)
            }
            ProblemKind::CheckpointSignature { reason } => {
                write!(f, "the checkpoint is not validly signed by the log: {reason}")
            }
            ProblemKind::MissingCosignature { witness } => {
                write!(f, "the checkpoint carries no valid cosignature of witness {witness}")
            }
            ProblemKind::DuplicateEntry { index } => {
                write!(f, "entry {index} is listed out of order or twice in the bundle")
            }
            ProblemKind::MalformedEntry { index } => write!(f, "entry {index}: its bytes or proof are not base64url"),
            ProblemKind::NotIncluded { index, reason } => write!(
                f,
                "entry {index} is not in the log at that position: its bytes were changed, or entries were \
                 removed, inserted or reordered ({reason})"
            ),
            ProblemKind::UndecodableEntry { index, reason } => write!(f, "entry {index} is not an event: {reason}"),
            ProblemKind::PreviousCheckpoint { baseline, reason } => {
                write!(f, "{baseline} is not a checkpoint signed by the log: {reason}")
            }
            ProblemKind::Rollback { baseline, old_size, new_size } => write!(
                f,
                "the log now has {new_size} entries, fewer than the {old_size} of {baseline}: entries were removed"
            ),
            ProblemKind::Fork { baseline, size, baseline_root, bundle_root } => write!(
                f,
                "fork: the log signed two different trees of size {size} ({baseline} has root {}, the bundle {})",
                baseline_root.to_base64(),
                bundle_root.to_base64()
            ),
            ProblemKind::Inconsistent { baseline, old_size, new_size, reason } => write!(
                f,
                "the log of size {new_size} does not extend {baseline} (size {old_size}): its history was \
                 rewritten ({reason})"
            ),
            ProblemKind::MalformedConsistencyProof => f.write_str("the consistency proof is not base64url"),
            ProblemKind::MissingConsistencyProof { old_size, new_size } => write!(
                f,
                "the bundle has no consistency proof from size {old_size} to size {new_size}: export it again \
                 with --since-checkpoint"
            ),
            ProblemKind::LockKeyMissing { lock } => {
                write!(f, "no device key for lock {lock}: its events cannot be checked")
            }
            ProblemKind::LockEventMalformed { index, lock } => {
                write!(f, "entry {index}: lock {lock}'s signed event is not base64url")
            }
            ProblemKind::LockCounterMismatch { index, lock, signed, logged } => {
                write!(f, "entry {index}: lock {lock}'s event says counter {signed} but the log entry says {logged}")
            }
            ProblemKind::LockChainBroken { index, lock, counter, error } => {
                write!(f, "entry {index}: lock {lock}'s event chain breaks at counter {counter}: {error:?}")
            }
            ProblemKind::GrantWithoutRequest { index, grant, request } => write!(
                f,
                "entry {index}: grant {grant} answers access request {request}, which is not logged before it \
                 (for the same delivery and driver)"
            ),
            ProblemKind::RequestWithoutOutcome { index, request } => write!(
                f,
                "entry {index}: access request {request} has no grant or refusal after it (the service logs \
                 both together: its outcome's entry is missing)"
            ),
        }
    }
}

/// One thing wrong: its kind, and that kind's sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// `kind`'s `Display`, kept so callers need not format it.
    pub message: String,
}

impl Problem {
    /// The kind's stable code (see [`ProblemKind::code`]).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl From<ProblemKind> for Problem {
    fn from(kind: ProblemKind) -> Self {
        let message = kind.to_string();
        Problem { kind, message }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What [`verify`](crate::verify) checked and what it found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The checkpoint the entries were checked against, once its log
    /// signature verified (`None`: nothing could be checked).
    pub checkpoint: Option<Checkpoint>,
    /// What holds, in the order it was checked.
    pub checked: Vec<Verified>,
    /// Everything found wrong, in the order it was found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether nothing was found wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether a problem with this code (see [`ProblemKind::code`]) was found.
    pub fn has(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code() == code)
    }

    pub(crate) fn problem(&mut self, kind: ProblemKind) {
        self.problems.push(kind.into());
    }

    /// The report as text, as `doorman audit verify` prints it: `ok: ` and
    /// each thing verified, `PROBLEM [code]: ` and each problem, then the
    /// verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for verified in &self.checked {
            out.push_str(&format!("ok: {verified}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("PROBLEM [{}]: {}\n", p.code(), p.message));
        }
        if self.problems.is_empty() {
            out.push_str("verified: no problem found\n");
        } else {
            out.push_str(&format!("{} problem(s) found\n", self.problems.len()));
        }
        out
    }
}
