//! A transparency log witness (`c2sp.org/tlog-witness`), without I/O: it
//! remembers, per log origin, the last tree head it cosigned, and cosigns a
//! new checkpoint only if the log signed it and it provably extends that
//! head. It never cosigns a smaller tree (rollback) or a different tree of a
//! size it has seen (fork).
//!
//! Time is a parameter and storage is the caller's: [`Witness::check`] is a
//! pure decision, the caller persists the new head atomically (compare and
//! swap on [`Cosigned::previous`]), then applies it with
//! [`Witness::commit`] and only then releases the cosignature.
//! [`Witness::add_checkpoint`] does both steps for in-memory use.
//!
//! HTTP mapping per the spec, for the service that wraps this: see each
//! [`WitnessError`] variant.

use std::collections::BTreeMap;

use crate::checkpoint::{Checkpoint, CheckpointError, TreeHead};
use crate::cosignature::{CosignError, Cosigner};
use crate::hash::{empty_tree_hash, Hash};
use crate::note::{KeyError, KeyKind, Note, NoteError, NoteSignature, VerifierKey, MAX_NOTE_SIZE};
use crate::proof::{verify_consistency, ProofError};

/// Most consistency proof lines an add-checkpoint request may carry.
pub const MAX_REQUEST_PROOF_LINES: usize = 63;

/// Why the witness refuses a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The request body is malformed (HTTP 400).
    #[error("malformed add-checkpoint request: {0}")]
    MalformedRequest(&'static str),
    /// The checkpoint or its note is malformed (HTTP 400).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(CheckpointError),
    /// The witness does not follow this log (HTTP 404).
    #[error("unknown log {origin:?}")]
    UnknownLog {
        /// The checkpoint's origin.
        origin: String,
    },
    /// No valid signature from the log's keys, or a failing one (HTTP 403).
    #[error("checkpoint is not validly signed by the log: {0}")]
    NotSignedByLog(NoteError),
    /// The checkpoint is smaller than the old size the request starts from:
    /// the witness never moves backwards (HTTP 400).
    #[error("checkpoint size {checkpoint_size} is below the old size {old_size}")]
    Rollback {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        checkpoint_size: u64,
    },
    /// The request's old size is not the size the witness last cosigned
    /// (HTTP 409, body `<latest_size>\n`, content type `text/x.tlog.size`).
    #[error("old size {old_size} does not match the latest cosigned size {latest_size}")]
    OldSizeMismatch {
        /// The request's old size.
        old_size: u64,
        /// The size the witness last cosigned (0 if none).
        latest_size: u64,
    },
    /// A checkpoint of the size the witness last cosigned with another root:
    /// the log shows two different trees of one size (HTTP 409).
    #[error("fork at size {size}: cosigned root {cosigned_root}, submitted root {submitted_root}")]
    Fork {
        /// The common size.
        size: u64,
        /// The root the witness cosigned.
        cosigned_root: Hash,
        /// The different root now submitted.
        submitted_root: Hash,
    },
    /// The consistency proof does not verify (HTTP 422).
    #[error("consistency proof does not verify: {0}")]
    InvalidConsistencyProof(ProofError),
    /// The witness state changed between check and commit; retry (HTTP 409).
    #[error("witness state for {origin:?} changed concurrently")]
    Conflict {
        /// The log's origin.
        origin: String,
    },
    /// The witness cannot sign (HTTP 500).
    #[error("cosigning failed: {0}")]
    Cosign(CosignError),
    /// A log's configured key is unusable.
    #[error("log key: {0}")]
    Key(KeyError),
}

/// An add-checkpoint request: old size, consistency proof, signed checkpoint.
///
/// ```text
/// old <size>
/// <base64 proof hash>...
///
/// <signed checkpoint note>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size of the last checkpoint the submitter believes the witness
    /// cosigned (0 at first contact).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpointRequest {
    /// Parses a request body; never panics.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let malformed = WitnessError::MalformedRequest;
        if body.len() > MAX_NOTE_SIZE + 4096 {
            return Err(malformed("request too large"));
        }
        let (first, mut rest) = split_line(body).ok_or(malformed("missing old size line"))?;
        let old_size = std::str::from_utf8(first)
            .ok()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(parse_canonical_decimal)
            .ok_or(malformed("old size line must be \"old <decimal>\""))?;
        let mut proof = Vec::new();
        loop {
            let (line, tail) = split_line(rest).ok_or(malformed("missing blank line"))?;
            rest = tail;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_REQUEST_PROOF_LINES {
                return Err(malformed("too many proof lines"));
            }
            let hash = std::str::from_utf8(line)
                .ok()
                .and_then(|line| Hash::from_base64(line).ok())
                .ok_or(malformed("proof line is not a base64 hash"))?;
            proof.push(hash);
        }
        Ok(AddCheckpointRequest { old_size, proof, checkpoint: rest.to_vec() })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size).into_bytes();
        for hash in &self.proof {
            body.extend_from_slice(hash.to_base64().as_bytes());
            body.push(b'\n');
        }
        body.push(b'\n');
        body.extend_from_slice(&self.checkpoint);
        body
    }
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == b'\n')?;
    let (line, rest) = bytes.split_at(end);
    Some((line, rest.get(1..)?))
}

fn parse_canonical_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// A checkpoint the witness is ready to cosign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The log's origin.
    pub origin: String,
    /// The head the witness held before (persist the new head only if the
    /// stored one still equals this).
    pub previous: Option<TreeHead>,
    /// The new head to persist.
    pub head: TreeHead,
    /// The cosignature line to return once the head is durable.
    pub cosignature: NoteSignature,
}

impl Cosigned {
    /// The HTTP response body: the cosignature line.
    pub fn response_body(&self) -> String {
        self.cosignature.to_line()
    }
}

#[derive(Debug, Clone)]
struct FollowedLog {
    keys: Vec<VerifierKey>,
    latest: Option<TreeHead>,
}

/// The witness: its cosigning key and, per followed log, the log's keys and
/// the last tree head cosigned.
#[derive(Debug, Clone)]
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, FollowedLog>,
}

impl Witness {
    /// A witness that follows no log yet.
    pub fn new(cosigner: Cosigner) -> Self {
        Witness { cosigner, logs: BTreeMap::new() }
    }

    /// The witness's public key, for the trust policies of log clients.
    pub fn verifier_key(&self) -> Result<VerifierKey, KeyError> {
        self.cosigner.verifier_key()
    }

    /// Follows a log: its origin, its Ed25519 keys, and the head last
    /// cosigned (as restored from storage; `None` for a new log).
    pub fn follow(
        &mut self,
        origin: &str,
        keys: Vec<VerifierKey>,
        latest: Option<TreeHead>,
    ) -> Result<(), WitnessError> {
        if keys.is_empty() || keys.iter().any(|key| key.kind() != KeyKind::Ed25519) {
            return Err(WitnessError::Key(KeyError::Malformed("a log needs at least one Ed25519 (type 0x01) key")));
        }
        self.logs.insert(origin.to_owned(), FollowedLog { keys, latest });
        Ok(())
    }

    /// The head last cosigned for a log.
    pub fn latest(&self, origin: &str) -> Option<TreeHead> {
        self.logs.get(origin).and_then(|log| log.latest)
    }

    /// The origins of the followed logs.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// Decides whether to cosign, and prepares the cosignature at time `now`
    /// (POSIX seconds), without changing any state.
    pub fn check(&self, request: &AddCheckpointRequest, now: u64) -> Result<Cosigned, WitnessError> {
        let note = Note::parse(&request.checkpoint).map_err(|error| WitnessError::MalformedCheckpoint(error.into()))?;
        let checkpoint = Checkpoint::parse_text(note.text()).map_err(WitnessError::MalformedCheckpoint)?;
        let origin = checkpoint.origin();
        let log = self.logs.get(origin).ok_or_else(|| WitnessError::UnknownLog { origin: origin.to_owned() })?;
        note.verify(&log.keys).map_err(WitnessError::NotSignedByLog)?;

        let head = checkpoint.tree_head();
        if request.old_size > head.size {
            return Err(WitnessError::Rollback { old_size: request.old_size, checkpoint_size: head.size });
        }
        let latest_size = log.latest.map_or(0, |latest| latest.size);
        if request.old_size != latest_size {
            return Err(WitnessError::OldSizeMismatch { old_size: request.old_size, latest_size });
        }
        match log.latest {
            Some(latest) if latest.size == head.size && latest.root != head.root => {
                return Err(WitnessError::Fork {
                    size: head.size,
                    cosigned_root: latest.root,
                    submitted_root: head.root,
                });
            }
            Some(latest) if latest.size > 0 => {
                verify_consistency(latest.size, head.size, &latest.root, &head.root, &request.proof)
                    .map_err(WitnessError::InvalidConsistencyProof)?
            }
            _ => {
                verify_consistency(0, head.size, &empty_tree_hash(), &head.root, &request.proof)
                    .map_err(WitnessError::InvalidConsistencyProof)?;
                if head.size == 0 && head.root != empty_tree_hash() {
                    return Err(WitnessError::InvalidConsistencyProof(ProofError::RootMismatch {
                        expected: empty_tree_hash(),
                        computed: head.root,
                    }));
                }
            }
        }
        let cosignature = self.cosigner.cosign_text(note.text(), now).map_err(WitnessError::Cosign)?;
        Ok(Cosigned { origin: origin.to_owned(), previous: log.latest, head, cosignature })
    }

    /// Records a decision of [`Witness::check`], if the state is still the
    /// one it was made against.
    pub fn commit(&mut self, cosigned: &Cosigned) -> Result<(), WitnessError> {
        let conflict = || WitnessError::Conflict { origin: cosigned.origin.clone() };
        let log = self.logs.get_mut(&cosigned.origin).ok_or_else(conflict)?;
        if log.latest != cosigned.previous {
            return Err(conflict());
        }
        log.latest = Some(cosigned.head);
        Ok(())
    }

    /// [`Witness::check`] then [`Witness::commit`]: for a witness whose state
    /// lives in memory only.
    pub fn add_checkpoint(&mut self, request: &AddCheckpointRequest, now: u64) -> Result<Cosigned, WitnessError> {
        let cosigned = self.check(request, now)?;
        self.commit(&cosigned)?;
        Ok(cosigned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;
    use crate::tree::MemoryTree;

    const ORIGIN: &str = "example.com/log";

    struct Fixture {
        log: NoteSigner,
        tree: MemoryTree,
        witness: Witness,
    }

    fn fixture() -> Fixture {
        let log = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let mut witness = Witness::new(Cosigner::from_seed("witness.example", [2; 32]).unwrap());
        witness.follow(ORIGIN, vec![log.verifier_key()], None).unwrap();
        Fixture { log, tree: MemoryTree::new(), witness }
    }

    impl Fixture {
        fn grow(&mut self, entries: u32) {
            for _ in 0..entries {
                let n = self.tree.size();
                self.tree.append(&n.to_be_bytes()).unwrap();
            }
        }

        fn request(&self, old_size: u64) -> AddCheckpointRequest {
            let size = self.tree.size();
            let checkpoint = Checkpoint::new(ORIGIN, size, self.tree.root()).unwrap();
            AddCheckpointRequest {
                old_size,
                proof: self.tree.consistency_proof(old_size, size).unwrap().path,
                checkpoint: checkpoint.sign(&self.log).unwrap().to_text().into_bytes(),
            }
        }
    }

    #[test]
    fn cosigns_a_growing_log() {
        let mut f = fixture();
        f.grow(5);
        let first = f.witness.add_checkpoint(&f.request(0), 10).unwrap();
        assert_eq!(first.previous, None);
        assert_eq!(f.witness.latest(ORIGIN), Some(first.head));
        f.grow(7);
        let second = f.witness.add_checkpoint(&f.request(5), 11).unwrap();
        assert_eq!(second.head.size, 12);
        // The returned line verifies as a cosignature of the checkpoint.
        let mut note = Note::parse(&f.request(5).checkpoint).unwrap();
        note.add_signature(second.cosignature.clone()).unwrap();
        let key = f.witness.verifier_key().unwrap();
        assert_eq!(note.verify(&[key]).unwrap()[0].timestamp, Some(11));
        // Resubmitting the same head is fine and gets a fresh timestamp.
        assert!(f.witness.add_checkpoint(&f.request(12), 12).is_ok());
    }

    #[test]
    fn refuses_rollback_forks_and_bad_proofs() {
        let mut f = fixture();
        f.grow(8);
        f.witness.add_checkpoint(&f.request(0), 1).unwrap();

        // Stale old size: 409 with the witness's size.
        f.grow(2);
        assert_eq!(
            f.witness.check(&f.request(0), 2),
            Err(WitnessError::OldSizeMismatch { old_size: 0, latest_size: 8 })
        );

        // A smaller checkpoint than the old size.
        let mut small = fixture();
        small.grow(4);
        let mut request = small.request(0);
        request.old_size = 8;
        assert!(matches!(f.witness.check(&request, 3), Err(WitnessError::Rollback { .. })));

        // Another tree of the same size: a fork.
        let mut forked = fixture();
        for i in 0u32..8 {
            forked.tree.append(&(i + 100).to_be_bytes()).unwrap();
        }
        assert!(matches!(f.witness.check(&forked.request(8), 4), Err(WitnessError::Fork { size: 8, .. })));

        // Another tree of a larger size: the proof cannot verify.
        forked.grow(2);
        let mut request = forked.request(8);
        request.proof = f.request(8).proof;
        assert!(matches!(f.witness.check(&request, 5), Err(WitnessError::InvalidConsistencyProof(_))));

        // A mangled proof.
        let mut request = f.request(8);
        request.proof[0].0[0] ^= 1;
        assert!(matches!(f.witness.check(&request, 6), Err(WitnessError::InvalidConsistencyProof(_))));
        assert_eq!(f.witness.latest(ORIGIN).map(|h| h.size), Some(8));
    }

    #[test]
    fn refuses_unknown_logs_and_unsigned_checkpoints() {
        let mut f = fixture();
        f.grow(3);
        let stranger = NoteSigner::from_seed("other.example/log", [9; 32]).unwrap();
        let checkpoint = Checkpoint::new("other.example/log", 3, f.tree.root()).unwrap();
        let request = AddCheckpointRequest {
            old_size: 0,
            proof: vec![],
            checkpoint: checkpoint.sign(&stranger).unwrap().to_text().into_bytes(),
        };
        assert!(matches!(f.witness.check(&request, 1), Err(WitnessError::UnknownLog { .. })));
        // Our origin, signed by the wrong key.
        let impostor = NoteSigner::from_seed(ORIGIN, [9; 32]).unwrap();
        let checkpoint = Checkpoint::new(ORIGIN, 3, f.tree.root()).unwrap();
        let request = AddCheckpointRequest {
            old_size: 0,
            proof: vec![],
            checkpoint: checkpoint.sign(&impostor).unwrap().to_text().into_bytes(),
        };
        assert!(matches!(
            f.witness.check(&request, 1),
            Err(WitnessError::NotSignedByLog(NoteError::NoTrustedSignature))
        ));
    }

    #[test]
    fn commit_detects_concurrent_updates() {
        let mut f = fixture();
        f.grow(3);
        let early = f.witness.check(&f.request(0), 1).unwrap();
        f.grow(3);
        let late = f.witness.check(&f.request(0), 2).unwrap();
        f.witness.commit(&late).unwrap();
        assert!(matches!(f.witness.commit(&early), Err(WitnessError::Conflict { .. })));
        assert_eq!(f.witness.latest(ORIGIN), Some(late.head));
    }

    #[test]
    fn request_bodies_round_trip_and_match_the_spec_shape() {
        let mut f = fixture();
        f.grow(9);
        f.witness.add_checkpoint(&f.request(0), 1).unwrap();
        f.grow(4);
        let request = f.request(9);
        let body = request.to_bytes();
        assert!(body.starts_with(b"old 9\n"));
        assert_eq!(AddCheckpointRequest::parse(&body), Ok(request));
        for bad in [&b"old 09\n\nx"[..], b"old -1\n\n", b"new 1\n\n", b"old 1\nnot base64\n\n", b"old 1\n", b""] {
            assert!(AddCheckpointRequest::parse(bad).is_err(), "{bad:?}");
        }
    }
}
