//! The audit bundle and its offline verifier: how a resident, a landlord or
//! anyone's program checks doorman's transparency log without trusting the
//! service that keeps it.
//!
//! `doorman audit export` writes a [`Bundle`]; `doorman audit verify`, the
//! dashboard's "verified" marks and any other program check it with this
//! crate. It does no I/O, reads no clock and starts no runtime: give it the
//! bundle's bytes and the keys you trust, get a [`Report`] back.
//!
//! # The bundle format (`doorman-audit-bundle/v1`)
//!
//! One JSON object:
//!
//! - `format`: `"doorman-audit-bundle/v1"` ([`BUNDLE_FORMAT`]).
//! - `checkpoint`: a C2SP `tlog-checkpoint` in a C2SP signed note (origin
//!   line, tree size, base64 root hash, then the log's Ed25519 signature
//!   line and any witness cosignature lines, `cosignature/v1`).
//! - `entries`: the entries the exporting principal may see, in index
//!   order, each `{ "index", "entry", "inclusion" }`: `entry` is the
//!   event's canonical bytes (compact JSON, base64url), the RFC 6962 leaf
//!   whose hash is proven; `inclusion` the proof's sibling hashes from the
//!   leaf up (base64url), against the tree of the checkpoint's size.
//! - `locks`: `{ "lock_id", "device_public_key" }` for each lock whose
//!   signed events (`lock_event` entries) are among the entries.
//! - `since_checkpoint` (optional): an older checkpoint the reader kept, as
//!   they gave it to the export.
//! - `consistency` (optional): `{ "old_size", "new_size", "checkpoint",
//!   "proof" }`, the RFC 6962 consistency proof from that older size to the
//!   checkpoint's.
//!
//! # What [`verify`] checks
//!
//! 1. The checkpoint carries a valid signature of one of the log's keys and
//!    a valid cosignature of every witness the caller requires.
//! 2. Every entry's proof leads from its leaf hash to the checkpoint's root:
//!    an entry changed, removed, inserted or moved breaks this.
//! 3. Given a checkpoint kept from before, the log extends it: a smaller log
//!    (a rollback), another tree of the same size (a fork) or one that does
//!    not contain the old one (rewritten history) is named.
//! 4. Each lock's events form one intact chain signed by its device key.
//! 5. Each grant follows the access request it answers, and each access
//!    request has its outcome (grant or refusal) after it: the service logs
//!    the two together, so a lone request means an entry was removed.
//!
//! What was established is in [`Report::checked`] ([`Verified`]), each
//! problem in [`Report::problems`] ([`ProblemKind`], with a stable
//! [`code`](ProblemKind::code) for scripts and a sentence for people).
//! A kept checkpoint is read whatever trailing whitespace it was saved with
//! (`jq -r .checkpoint bundle.json > kept.note` adds a newline).
//!
//! # From another program
//!
//! ```
//! use doorman_audit::{verify, Bundle, VerifierKey};
//!
//! /// Checks a bundle file against the log key the operator published and,
//! /// if there is one, the checkpoint kept from the last check; returns the
//! /// checkpoint to keep for the next one.
//! fn check(bundle_file: &str, log_key: &str, kept: Option<&str>) -> Result<String, Box<dyn std::error::Error>> {
//!     let bundle = Bundle::from_json(&std::fs::read(bundle_file)?)?;
//!     let log_key = VerifierKey::parse(log_key.trim())?;
//!     let report = verify(&bundle, &[log_key], kept, &[]);
//!     for problem in &report.problems {
//!         eprintln!("{}: {problem}", problem.code());
//!     }
//!     if !report.is_ok() {
//!         return Err(format!("{} problem(s) in the log", report.problems.len()).into());
//!     }
//!     Ok(bundle.checkpoint)
//! }
//! # let _ = check;
//! ```
//!
//! The dashboard checks entries one by one against a checkpoint it opened
//! with the same pieces [`verify`] uses: [`open_checkpoint`] and
//! [`EntryProof`].

mod bundle;
mod report;
mod verify;

pub use bundle::{checkpoint_size, normalize_note, open_checkpoint, Bundle, UnreadableCheckpoint, BUNDLE_FORMAT};
pub use report::{Baseline, Problem, ProblemKind, Report, Verified};
pub use verify::{verify, EntryProof};

/// The tlog types in this crate's API, so a program needs no other import:
/// the keys it trusts, the checkpoint a report holds, its root hash.
pub use doorman_tlog::{Checkpoint, Hash, VerifierKey};

#[cfg(test)]
mod tests;
