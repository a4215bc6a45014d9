//! The checks: the checkpoint's signatures, every entry's inclusion,
//! consistency with an older checkpoint, each lock's signed event chain, and
//! that each grant follows the access request it answers.

use std::collections::BTreeMap;

use doorman_api::AuditEntry;
use doorman_domain::{serde_b64, Event, EventKind, LockId};
use doorman_tlog::{
    check_fork, leaf_hash, verify_checkpoint_consistency, verify_leaf_inclusion, AuditError, Checkpoint,
    ConsistencyProof, Hash, InclusionProof, KeyKind, VerifierKey,
};

use crate::bundle::{open_checkpoint, Bundle, BUNDLE_FORMAT};
use crate::report::{Baseline, ProblemKind, Report, Verified};

fn decode_hashes(encoded: &[String]) -> Option<Vec<Hash>> {
    encoded.iter().map(|h| serde_b64::decode(h).ok().and_then(|b| Hash::from_slice(&b).ok())).collect()
}

/// An entry's bytes and inclusion proof, decoded from the base64url of the
/// API and the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryProof {
    /// The entry's index in the log.
    pub index: u64,
    /// Its canonical bytes: the Merkle leaf.
    pub bytes: Vec<u8>,
    /// The sibling hashes from the leaf up.
    pub path: Vec<Hash>,
}

impl EntryProof {
    /// Decodes `entry`; [`ProblemKind::MalformedEntry`] if its bytes or a
    /// proof hash are not base64url (of 32 bytes, for a hash).
    pub fn decode(entry: &AuditEntry) -> Result<Self, ProblemKind> {
        let malformed = || ProblemKind::MalformedEntry { index: entry.index };
        let bytes = serde_b64::decode(&entry.entry).map_err(|_| malformed())?;
        let path = decode_hashes(&entry.inclusion).ok_or_else(malformed)?;
        Ok(EntryProof { index: entry.index, bytes, path })
    }

    /// Checks that the proof leads from the entry's leaf hash, at its
    /// index, to the root of `checkpoint` (which the caller has opened, see
    /// [`open_checkpoint`]); [`ProblemKind::NotIncluded`] if not.
    pub fn check_inclusion(&self, checkpoint: &Checkpoint) -> Result<(), ProblemKind> {
        let proof = InclusionProof { leaf_index: self.index, tree_size: checkpoint.size(), path: self.path.clone() };
        verify_leaf_inclusion(checkpoint, &leaf_hash(&self.bytes), &proof)
            .map_err(|e| ProblemKind::NotIncluded { index: self.index, reason: e.to_string() })
    }

    /// The event the bytes hold; [`ProblemKind::UndecodableEntry`] if they
    /// hold none.
    pub fn event(&self) -> Result<Event, ProblemKind> {
        Event::from_bytes(&self.bytes)
            .map_err(|e| ProblemKind::UndecodableEntry { index: self.index, reason: e.to_string() })
    }
}

/// An entry that decoded, with its index.
struct Decoded {
    index: u64,
    event: Event,
}

/// Checks `bundle` offline, trusting nothing in it but what the log's keys
/// (`log_keys`, any one of them) and the witnesses' keys (`witnesses`,
/// each of whose cosignature must be on the checkpoint) signed.
///
/// `previous` is a checkpoint the caller kept from an earlier verification
/// (a signed note; trailing whitespace is ignored): the bundle's checkpoint
/// must extend it, through the bundle's consistency proof. Without it, the
/// bundle's own `since_checkpoint`, if any, is checked instead.
///
/// Never fails: every problem found is in the report, which also says what
/// was checked.
pub fn verify(bundle: &Bundle, log_keys: &[VerifierKey], previous: Option<&str>, witnesses: &[VerifierKey]) -> Report {
    let mut report = Report::default();
    if bundle.format != BUNDLE_FORMAT {
        report.problem(ProblemKind::Format { found: bundle.format.clone() });
    }

    // 1. The checkpoint: the log's signature, then each witness's.
    let opened = match open_checkpoint(&bundle.checkpoint, log_keys, witnesses) {
        Ok(opened) => opened,
        Err(e) => {
            report.problem(ProblemKind::CheckpointSignature { reason: e.to_string() });
            return report;
        }
    };
    let checkpoint = opened.checkpoint().clone();
    report.checked.push(Verified::CheckpointSigned {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: checkpoint.root(),
    });
    for witness in witnesses {
        let cosigned = opened
            .cosignatures()
            .find(|s| s.kind == KeyKind::Cosignature && s.name == witness.name() && s.key_id == witness.key_id());
        match cosigned {
            Some(s) => {
                report.checked.push(Verified::Cosigned { witness: witness.name().to_owned(), timestamp: s.timestamp })
            }
            None => report.problem(ProblemKind::MissingCosignature { witness: witness.name().to_owned() }),
        }
    }

    // 2. Every entry is where its proof says, in the tree signed above.
    let decoded = check_entries(bundle, &checkpoint, &mut report);

    // 3. The log grew from the checkpoint kept earlier without rewriting it.
    check_history(bundle, &checkpoint, log_keys, previous, &mut report);

    // 4. Each lock's events form one intact signed chain.
    check_lock_chains(bundle, &decoded, &mut report);

    // 5. Each grant answers an access request logged before it, and each
    // access request has its outcome (a grant or a refusal) after it.
    check_grants(&decoded, &mut report);
    check_outcomes(&decoded, checkpoint.size(), &mut report);
    report.checkpoint = Some(checkpoint);
    report
}

/// Checks each entry's order and inclusion; returns those that decoded.
fn check_entries(bundle: &Bundle, checkpoint: &Checkpoint, report: &mut Report) -> Vec<Decoded> {
    let mut decoded = Vec::new();
    let mut last: Option<u64> = None;
    let mut included = 0usize;
    for entry in &bundle.entries {
        if last.is_some_and(|l| entry.index <= l) {
            report.problem(ProblemKind::DuplicateEntry { index: entry.index });
        }
        last = Some(entry.index);
        let proof = match EntryProof::decode(entry) {
            Ok(proof) => proof,
            Err(problem) => {
                report.problem(problem);
                continue;
            }
        };
        match proof.check_inclusion(checkpoint) {
            Ok(()) => included += 1,
            Err(problem) => report.problem(problem),
        }
        match proof.event() {
            Ok(event) => decoded.push(Decoded { index: entry.index, event }),
            Err(problem) => report.problem(problem),
        }
    }
    if included == bundle.entries.len() {
        report.checked.push(Verified::EntriesIncluded { count: included });
    }
    decoded
}

fn check_history(
    bundle: &Bundle,
    checkpoint: &Checkpoint,
    log_keys: &[VerifierKey],
    previous: Option<&str>,
    report: &mut Report,
) {
    // The checkpoint the consistency proof leads to must be this one.
    if let Some(consistency) = &bundle.consistency {
        if let Ok(other) = open_checkpoint(&consistency.checkpoint, log_keys, &[]) {
            if let Err(AuditError::Fork { size, first_root, second_root, .. }) =
                check_fork(checkpoint, other.checkpoint())
            {
                report.problem(ProblemKind::Fork {
                    baseline: Baseline::ConsistencyTarget,
                    size,
                    baseline_root: second_root,
                    bundle_root: first_root,
                });
            }
        }
    }
    let (kept, baseline) = match (previous, &bundle.since_checkpoint) {
        (Some(text), _) => (text, Baseline::Kept),
        (None, Some(text)) => (text.as_str(), Baseline::BundleSince),
        (None, None) => return,
    };
    let kept = match open_checkpoint(kept, log_keys, &[]) {
        Ok(kept) => kept.checkpoint().clone(),
        Err(e) => {
            report.problem(ProblemKind::PreviousCheckpoint { baseline, reason: e.to_string() });
            return;
        }
    };
    let (old_size, new_size) = (kept.size(), checkpoint.size());
    if old_size > new_size {
        report.problem(ProblemKind::Rollback { baseline, old_size, new_size });
        return;
    }
    let path = if old_size == new_size || old_size == 0 {
        Vec::new()
    } else {
        let Some(consistency) =
            bundle.consistency.as_ref().filter(|c| c.old_size == old_size && c.new_size == new_size)
        else {
            report.problem(ProblemKind::MissingConsistencyProof { old_size, new_size });
            return;
        };
        let Some(path) = decode_hashes(&consistency.proof) else {
            report.problem(ProblemKind::MalformedConsistencyProof);
            return;
        };
        path
    };
    let proof = ConsistencyProof { old_size, new_size, path };
    match verify_checkpoint_consistency(&kept, checkpoint, &proof) {
        Ok(()) => report.checked.push(Verified::Extends { baseline, old_size, new_size }),
        Err(AuditError::Fork { size, first_root, second_root, .. }) => {
            report.problem(ProblemKind::Fork { baseline, size, baseline_root: first_root, bundle_root: second_root })
        }
        Err(e) => report.problem(ProblemKind::Inconsistent { baseline, old_size, new_size, reason: e.to_string() }),
    }
}

fn check_lock_chains(bundle: &Bundle, decoded: &[Decoded], report: &mut Report) {
    let mut chains: BTreeMap<LockId, Vec<(u64, u64, Vec<u8>)>> = BTreeMap::new();
    for d in decoded {
        if let EventKind::LockEvent { lock_id, counter, signed } = &d.event.kind {
            match serde_b64::decode(signed) {
                Ok(bytes) => chains.entry(*lock_id).or_default().push((d.index, *counter, bytes)),
                Err(_) => report.problem(ProblemKind::LockEventMalformed { index: d.index, lock: *lock_id }),
            }
        }
    }
    for (lock, events) in chains {
        let key = bundle
            .locks
            .iter()
            .find(|l| l.lock_id == lock)
            .and_then(|l| serde_b64::decode(&l.device_public_key).ok())
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok());
        let Some(key) = key else {
            report.problem(ProblemKind::LockKeyMissing { lock });
            continue;
        };
        let device = doorman_protocol::LockDevicePublicKey(key);
        let protocol_lock = doorman_protocol::LockId(*lock.as_uuid().as_bytes());
        let mut chain = doorman_protocol::EventChainVerifier::new(device, protocol_lock);
        let mut intact = true;
        for (index, counter, bytes) in &events {
            match chain.push(bytes) {
                Ok(e) if e.counter == *counter => {}
                Ok(e) => {
                    intact = false;
                    report.problem(ProblemKind::LockCounterMismatch {
                        index: *index,
                        lock,
                        signed: e.counter,
                        logged: *counter,
                    });
                }
                Err(error) => {
                    intact = false;
                    report.problem(ProblemKind::LockChainBroken { index: *index, lock, counter: *counter, error });
                    break;
                }
            }
        }
        if intact {
            report.checked.push(Verified::LockChainIntact { lock, events: events.len() });
        }
    }
}

/// Each access request in the bundle is followed by its outcome: the
/// service logs a request and its grant or refusal in one transaction, as
/// consecutive entries in the same scope, so whoever sees one sees both. A
/// request that is the checkpoint's last entry may have its outcome just
/// beyond it (a sequencing batch can end between the two): not a problem.
fn check_outcomes(decoded: &[Decoded], size: u64, report: &mut Report) {
    let mut answered = std::collections::BTreeSet::new();
    for d in decoded.iter().rev() {
        match &d.event.kind {
            EventKind::AccessGranted { request_id, .. } | EventKind::AccessRefused { request_id, .. } => {
                answered.insert(*request_id);
            }
            EventKind::AccessRequested { request_id } if !answered.contains(request_id) && d.index + 1 < size => {
                report.problem(ProblemKind::RequestWithoutOutcome { index: d.index, request: *request_id });
            }
            _ => {}
        }
    }
}

fn check_grants(decoded: &[Decoded], report: &mut Report) {
    let mut requests: BTreeMap<_, &Decoded> = BTreeMap::new();
    let mut grants = 0usize;
    let mut answered = 0usize;
    for d in decoded {
        match &d.event.kind {
            EventKind::AccessRequested { request_id } => {
                requests.insert(*request_id, d);
            }
            EventKind::AccessGranted { request_id, grant_id, .. } => {
                grants += 1;
                let matching = requests.get(request_id).filter(|r| {
                    r.index < d.index
                        && r.event.delivery_id == d.event.delivery_id
                        && r.event.driver_id == d.event.driver_id
                        && r.event.property_id == d.event.property_id
                });
                if matching.is_some() {
                    answered += 1;
                } else {
                    report.problem(ProblemKind::GrantWithoutRequest {
                        index: d.index,
                        grant: *grant_id,
                        request: *request_id,
                    });
                }
            }
            _ => {}
        }
    }
    if grants > 0 && answered == grants {
        report.checked.push(Verified::GrantsAnswered { count: grants });
    }
}
