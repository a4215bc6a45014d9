//! `doorman audit export` and `doorman audit verify`: a resident's or a
//! landlord's own check of the transparency log.
//!
//! `export` asks the service (as the caller, so only for the entries the
//! caller may see) for its entries with their inclusion proofs, the
//! checkpoint they lead to, the device keys of the locks whose events are
//! among them and, given a checkpoint the caller kept from before, a
//! consistency proof from it, and writes all of it to one JSON bundle.
//!
//! [`verify`] checks a bundle offline, trusting nothing in it but what the
//! log's key (and the witnesses' keys) signed: every signature, every
//! entry's inclusion, consistency with the kept checkpoint (a fork or a
//! rewritten history shows there), each lock's signed, hash-chained event
//! sequence, and that each grant was preceded by the access request it
//! answers. It reports what it checked and names every problem it found.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use doorman_api::{AuditConsistency, AuditEntriesQuery, AuditEntry, LockDeviceKey};
use doorman_client::Client;
use doorman_domain::{serde_b64, Event, EventKind, LockId};
use doorman_tlog::{
    check_fork, leaf_hash, verify_checkpoint_consistency, verify_leaf_inclusion, AuditError, Checkpoint,
    ConsistencyProof, Hash, InclusionProof, KeyKind, Note, SignedCheckpoint, VerifierKey,
};
use serde::{Deserialize, Serialize};

/// The bundle's `format`.
pub const BUNDLE_FORMAT: &str = "doorman-audit-bundle/v1";

/// What `doorman audit export` writes: self-contained, checkable offline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    /// The checkpoint (signed note with cosignatures) every proof leads to.
    pub checkpoint: String,
    /// The caller's visible entries, in index order, with inclusion proofs.
    pub entries: Vec<AuditEntry>,
    /// Device keys of the locks whose events are among the entries.
    #[serde(default)]
    pub locks: Vec<LockDeviceKey>,
    /// The older checkpoint given to `--since-checkpoint`, as it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_checkpoint: Option<String>,
    /// The consistency proof from that checkpoint to `checkpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<AuditConsistency>,
}

/// Size of an older checkpoint, read without checking its signature (the
/// verifier checks it).
fn checkpoint_size(text: &str) -> anyhow::Result<u64> {
    let note = Note::parse(text.as_bytes()).context("the older checkpoint is not a signed note")?;
    Ok(Checkpoint::parse_text(note.text()).context("the older checkpoint is not a checkpoint")?.size())
}

/// Fetches the caller's bundle from the service `client` talks to.
pub async fn export(client: &Client, since_checkpoint: Option<String>) -> anyhow::Result<Bundle> {
    let first = client.audit_entries(&AuditEntriesQuery::default()).await.context("listing the log's entries")?;
    let size = first.size;
    let checkpoint = first.checkpoint.clone();
    let mut entries = first.entries;
    let mut locks: BTreeMap<LockId, LockDeviceKey> = first.locks.into_iter().map(|l| (l.lock_id, l)).collect();
    let mut next = first.next_after;
    while let Some(after) = next {
        let page = client
            .audit_entries(&AuditEntriesQuery { after: Some(after), size: Some(size), limit: None })
            .await
            .context("listing the log's entries")?;
        entries.extend(page.entries);
        locks.extend(page.locks.into_iter().map(|l| (l.lock_id, l)));
        next = page.next_after;
    }
    let consistency = match &since_checkpoint {
        Some(old) => {
            let old_size = checkpoint_size(old)?;
            Some(client.audit_consistency(old_size, Some(size)).await.context("asking for a consistency proof")?)
        }
        None => None,
    };
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        checkpoint,
        entries,
        locks: locks.into_values().collect(),
        since_checkpoint,
        consistency,
    })
}

/// `doorman audit export`.
pub async fn run_export(url: &str, token: &str, out: &Path, since: Option<&Path>) -> anyhow::Result<()> {
    let since = match since {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let bundle = export(&Client::new(url).with_token(token), since).await?;
    let json = serde_json::to_vec_pretty(&bundle)?;
    std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
    let opened = Note::parse(bundle.checkpoint.as_bytes()).ok();
    let size = opened.and_then(|n| Checkpoint::parse_text(n.text()).ok()).map(|c| c.size()).unwrap_or_default();
    println!("wrote {} entries against the checkpoint of size {size} to {}", bundle.entries.len(), out.display());
    println!("keep the checkpoint for next time: it is the \"checkpoint\" field of the bundle");
    Ok(())
}

/// One thing wrong, with a stable code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `checkpoint_signature`, `missing_cosignature`, `malformed_entry`,
    /// `duplicate_entry`, `not_included`, `undecodable_entry`,
    /// `previous_checkpoint`, `rollback`, `fork`, `inconsistent`,
    /// `missing_consistency_proof`, `lock_key_missing`, `lock_chain`,
    /// `grant_without_request`, `format`.
    pub code: &'static str,
    pub message: String,
}

/// What [`verify`] checked and what it found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// What holds, one line each.
    pub checked: Vec<String>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether a problem with this code was found.
    pub fn has(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    fn problem(&mut self, code: &'static str, message: impl Into<String>) {
        self.problems.push(Problem { code, message: message.into() });
    }

    /// The report as `doorman audit verify` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.checked {
            out.push_str("ok: ");
            out.push_str(line);
            out.push('\n');
        }
        for p in &self.problems {
            out.push_str(&format!("PROBLEM [{}]: {}\n", p.code, p.message));
        }
        if self.problems.is_empty() {
            out.push_str("verified: no problem found\n");
        } else {
            out.push_str(&format!("{} problem(s) found\n", self.problems.len()));
        }
        out
    }
}

fn decode_hashes(encoded: &[String]) -> Option<Vec<Hash>> {
    encoded.iter().map(|h| serde_b64::decode(h).ok().and_then(|b| Hash::from_slice(&b).ok())).collect()
}

/// An entry that decoded, with its index.
struct Decoded {
    index: u64,
    event: Event,
}

/// Checks `bundle` offline against the log's keys, an older checkpoint the
/// caller kept (`previous`, a signed note) and the witnesses' keys whose
/// cosignatures must be on the checkpoint.
pub fn verify(bundle: &Bundle, log_keys: &[VerifierKey], previous: Option<&str>, witnesses: &[VerifierKey]) -> Report {
    let mut report = Report::default();
    if bundle.format != BUNDLE_FORMAT {
        report.problem("format", format!("unknown bundle format {:?} (expected {BUNDLE_FORMAT})", bundle.format));
    }

    // 1. The checkpoint: the log's signature, then each witness's.
    let opened = match SignedCheckpoint::open(bundle.checkpoint.as_bytes(), log_keys, witnesses) {
        Ok(opened) => opened,
        Err(e) => {
            report.problem("checkpoint_signature", format!("the checkpoint is not validly signed by the log: {e}"));
            return report;
        }
    };
    let checkpoint = opened.checkpoint().clone();
    report.checked.push(format!(
        "checkpoint of {} at size {} (root {}) is signed by the log",
        checkpoint.origin(),
        checkpoint.size(),
        checkpoint.root().to_base64()
    ));
    for witness in witnesses {
        let cosigned = opened
            .cosignatures()
            .find(|s| s.kind == KeyKind::Cosignature && s.name == witness.name() && s.key_id == witness.key_id());
        match cosigned {
            Some(s) => report.checked.push(format!(
                "cosigned by witness {} at {}",
                witness.name(),
                s.timestamp.map(|t| t.to_string()).unwrap_or_default()
            )),
            None => report.problem(
                "missing_cosignature",
                format!("the checkpoint carries no valid cosignature of witness {}", witness.name()),
            ),
        }
    }

    // 2. Every entry is where its proof says, in the tree signed above.
    let mut decoded = Vec::new();
    let mut last: Option<u64> = None;
    let mut included = 0usize;
    for entry in &bundle.entries {
        if last.is_some_and(|l| entry.index <= l) {
            report.problem(
                "duplicate_entry",
                format!("entry {} is listed out of order or twice in the bundle", entry.index),
            );
        }
        last = Some(entry.index);
        let (Ok(bytes), Some(path)) = (serde_b64::decode(&entry.entry), decode_hashes(&entry.inclusion)) else {
            report.problem("malformed_entry", format!("entry {}: its bytes or proof are not base64url", entry.index));
            continue;
        };
        let proof = InclusionProof { leaf_index: entry.index, tree_size: checkpoint.size(), path };
        match verify_leaf_inclusion(&checkpoint, &leaf_hash(&bytes), &proof) {
            Ok(()) => included += 1,
            Err(e) => report.problem(
                "not_included",
                format!(
                    "entry {} is not in the log at that position: its bytes were changed, or entries were \
                     removed, inserted or reordered ({e})",
                    entry.index
                ),
            ),
        }
        match Event::from_bytes(&bytes) {
            Ok(event) => decoded.push(Decoded { index: entry.index, event }),
            Err(e) => report.problem("undecodable_entry", format!("entry {} is not an event: {e}", entry.index)),
        }
    }
    if included == bundle.entries.len() {
        report.checked.push(format!("all {included} entries are included in the checkpoint"));
    }

    // 3. The log grew from the checkpoint kept earlier without rewriting it.
    check_history(bundle, &checkpoint, log_keys, previous, &mut report);

    // 4. Each lock's events form one intact signed chain.
    check_lock_chains(bundle, &decoded, &mut report);

    // 5. Each grant answers an access request logged before it.
    check_grants(&decoded, &mut report);
    report
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
        if let Ok(other) = SignedCheckpoint::open(consistency.checkpoint.as_bytes(), log_keys, &[]) {
            if let Err(AuditError::Fork { size, first_root, second_root, .. }) =
                check_fork(checkpoint, other.checkpoint())
            {
                report.problem(
                    "fork",
                    format!(
                        "the log signed two different trees of size {size}: roots {} and {}",
                        first_root.to_base64(),
                        second_root.to_base64()
                    ),
                );
            }
        }
    }
    let (kept, source) = match (previous, &bundle.since_checkpoint) {
        (Some(text), _) => (text, "the checkpoint you kept"),
        (None, Some(text)) => (text.as_str(), "the bundle's older checkpoint"),
        (None, None) => return,
    };
    let kept = match SignedCheckpoint::open(kept.as_bytes(), log_keys, &[]) {
        Ok(kept) => kept.checkpoint().clone(),
        Err(e) => {
            report.problem("previous_checkpoint", format!("{source} is not a checkpoint signed by the log: {e}"));
            return;
        }
    };
    if kept.size() > checkpoint.size() {
        report.problem(
            "rollback",
            format!(
                "the log now has {} entries, fewer than the {} of {source}: entries were removed",
                checkpoint.size(),
                kept.size()
            ),
        );
        return;
    }
    let proof = if kept.size() == checkpoint.size() || kept.size() == 0 {
        ConsistencyProof { old_size: kept.size(), new_size: checkpoint.size(), path: Vec::new() }
    } else {
        let Some(consistency) =
            bundle.consistency.as_ref().filter(|c| c.old_size == kept.size() && c.new_size == checkpoint.size())
        else {
            report.problem(
                "missing_consistency_proof",
                format!(
                    "the bundle has no consistency proof from size {} to size {}: export it again with \
                     --since-checkpoint",
                    kept.size(),
                    checkpoint.size()
                ),
            );
            return;
        };
        let Some(path) = decode_hashes(&consistency.proof) else {
            report.problem("inconsistent", "the consistency proof is not base64url");
            return;
        };
        ConsistencyProof { old_size: kept.size(), new_size: checkpoint.size(), path }
    };
    match verify_checkpoint_consistency(&kept, checkpoint, &proof) {
        Ok(()) => report.checked.push(format!(
            "the log of size {} extends {source} (size {}) without rewriting it",
            checkpoint.size(),
            kept.size()
        )),
        Err(AuditError::Fork { size, first_root, second_root, .. }) => report.problem(
            "fork",
            format!(
                "fork: the log signed two different trees of size {size} ({source} has root {}, the bundle {})",
                first_root.to_base64(),
                second_root.to_base64()
            ),
        ),
        Err(e) => report.problem(
            "inconsistent",
            format!(
                "the log of size {} does not extend {source} (size {}): its history was rewritten ({e})",
                checkpoint.size(),
                kept.size()
            ),
        ),
    }
}

fn check_lock_chains(bundle: &Bundle, decoded: &[Decoded], report: &mut Report) {
    let mut chains: BTreeMap<LockId, Vec<(u64, u64, Vec<u8>)>> = BTreeMap::new();
    for d in decoded {
        if let EventKind::LockEvent { lock_id, counter, signed } = &d.event.kind {
            match serde_b64::decode(signed) {
                Ok(bytes) => chains.entry(*lock_id).or_default().push((d.index, *counter, bytes)),
                Err(_) => report.problem(
                    "lock_chain",
                    format!("entry {}: lock {lock_id}'s signed event is not base64url", d.index),
                ),
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
            report.problem("lock_key_missing", format!("no device key for lock {lock}: its events cannot be checked"));
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
                    report.problem(
                        "lock_chain",
                        format!(
                            "entry {index}: lock {lock}'s event says counter {} but the log entry says {counter}",
                            e.counter
                        ),
                    );
                }
                Err(e) => {
                    intact = false;
                    report.problem(
                        "lock_chain",
                        format!("entry {index}: lock {lock}'s event chain breaks at counter {counter}: {e:?}"),
                    );
                    break;
                }
            }
        }
        if intact {
            report.checked.push(format!("lock {lock}: {} signed events, chain intact from the first", events.len()));
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
                    report.problem(
                        "grant_without_request",
                        format!(
                            "entry {}: grant {grant_id} answers access request {request_id}, which is not logged \
                             before it (for the same delivery and driver)",
                            d.index
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    if grants > 0 && answered == grants {
        report.checked.push(format!("all {grants} grants follow the access request they answer"));
    }
}

/// `doorman audit verify`: prints the report; Err (non-zero exit) if any
/// problem was found.
pub fn run_verify(
    bundle_path: &Path,
    log_keys: &[String],
    previous: Option<&Path>,
    witness_keys: &[String],
) -> anyhow::Result<()> {
    let text = std::fs::read(bundle_path).with_context(|| format!("reading {}", bundle_path.display()))?;
    let bundle: Bundle =
        serde_json::from_slice(&text).with_context(|| format!("{} is not an audit bundle", bundle_path.display()))?;
    let parse = |keys: &[String], what: &str| -> anyhow::Result<Vec<VerifierKey>> {
        keys.iter().map(|k| VerifierKey::parse(k.trim()).with_context(|| format!("{what} {k:?}"))).collect()
    };
    let log_keys = parse(log_keys, "log key")?;
    let witness_keys = parse(witness_keys, "witness key")?;
    let previous = match previous {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let report = verify(&bundle, &log_keys, previous.as_deref(), &witness_keys);
    print!("{}", report.render());
    anyhow::ensure!(report.is_ok(), "the audit found {} problem(s)", report.problems.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use doorman_domain::{
        AccessRequestId, DeliveryId, DriverId, DropSpotId, GrantId, PropertyId, EVENT_FORMAT_VERSION,
    };
    use doorman_tlog::{Cosigner, MemoryTree, NoteSigner};

    use super::*;

    const ORIGIN: &str = "doorman.example/log";

    fn event(kind: EventKind, property: PropertyId, delivery: DeliveryId, driver: DriverId) -> Event {
        Event {
            v: EVENT_FORMAT_VERSION,
            at: 1_800_000_000,
            kind,
            property_id: Some(property),
            unit_id: None,
            carrier_id: None,
            driver_id: Some(driver),
            delivery_id: Some(delivery),
            actor: None,
            salt: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    /// A log of `events`, its signer, and a bundle of all its entries.
    fn bundle_of(events: &[Event], signer: &NoteSigner) -> (MemoryTree, Bundle) {
        let mut tree = MemoryTree::new();
        let bytes: Vec<Vec<u8>> = events.iter().map(Event::to_canonical_bytes).collect();
        for b in &bytes {
            tree.append(b).unwrap();
        }
        let size = tree.size();
        let note = Checkpoint::new(ORIGIN, size, tree.root()).unwrap().sign(signer).unwrap();
        let entries = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| AuditEntry {
                index: i as u64,
                entry: serde_b64::encode(b),
                inclusion: tree
                    .inclusion_proof(i as u64, size)
                    .unwrap()
                    .path
                    .iter()
                    .map(|h| serde_b64::encode(h.as_bytes()))
                    .collect(),
            })
            .collect();
        let bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            checkpoint: note.to_text(),
            entries,
            locks: vec![],
            since_checkpoint: None,
            consistency: None,
        };
        (tree, bundle)
    }

    fn request_and_grant() -> Vec<Event> {
        let (property, delivery, driver) = (PropertyId::random(), DeliveryId::random(), DriverId::random());
        let request_id = AccessRequestId::random();
        vec![
            event(EventKind::AccessRequested { request_id }, property, delivery, driver),
            event(
                EventKind::AccessGranted {
                    request_id,
                    grant_id: GrantId::random(),
                    drop_spot_id: DropSpotId::random(),
                    locks: vec![],
                    expires_at: 1_800_000_300,
                },
                property,
                delivery,
                driver,
            ),
            event(EventKind::Unblocked, property, delivery, driver),
        ]
    }

    #[test]
    fn an_honest_bundle_verifies() {
        let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let (_, bundle) = bundle_of(&request_and_grant(), &signer);
        let report = verify(&bundle, &[signer.verifier_key()], None, &[]);
        assert!(report.is_ok(), "{}", report.render());
        assert!(report.render().contains("all 3 entries are included"));
        assert!(report.render().contains("all 1 grants follow the access request"));
        // Through JSON and back, as the CLI reads it.
        let again: Bundle = serde_json::from_str(&serde_json::to_string(&bundle).unwrap()).unwrap();
        assert_eq!(again, bundle);
    }

    #[test]
    fn wrong_keys_edits_and_missing_requests_are_named() {
        let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let other = NoteSigner::from_seed(ORIGIN, [2; 32]).unwrap();
        let events = request_and_grant();
        let (_, bundle) = bundle_of(&events, &signer);
        assert!(verify(&bundle, &[other.verifier_key()], None, &[]).has("checkpoint_signature"));

        let witness = Cosigner::from_seed("witness.example/w", [3; 32]).unwrap();
        let report = verify(&bundle, &[signer.verifier_key()], None, &[witness.verifier_key().unwrap()]);
        assert!(report.has("missing_cosignature"), "{}", report.render());

        let mut edited = bundle.clone();
        let mut changed = events[2].clone();
        changed.at += 1;
        edited.entries[2].entry = serde_b64::encode(&changed.to_canonical_bytes());
        let report = verify(&edited, &[signer.verifier_key()], None, &[]);
        assert!(report.has("not_included"), "{}", report.render());
        assert!(report.problems[0].message.starts_with("entry 2 is not in the log"));

        // The request removed from the log: the grant stands alone.
        let (_, without) = bundle_of(&events[1..], &signer);
        let report = verify(&without, &[signer.verifier_key()], None, &[]);
        assert!(report.has("grant_without_request"), "{}", report.render());
    }

    #[test]
    fn forks_rollbacks_and_rewrites_against_a_kept_checkpoint() {
        let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let events = request_and_grant();
        let (tree, old) = bundle_of(&events[..2], &signer);
        let kept = old.checkpoint.clone();

        // Honest growth, with its proof.
        let (grown, mut bundle) = bundle_of(&events, &signer);
        bundle.consistency = Some(AuditConsistency {
            old_size: 2,
            new_size: 3,
            checkpoint: bundle.checkpoint.clone(),
            proof: grown
                .consistency_proof(2, 3)
                .unwrap()
                .path
                .iter()
                .map(|h| serde_b64::encode(h.as_bytes()))
                .collect(),
        });
        let report = verify(&bundle, &[signer.verifier_key()], Some(&kept), &[]);
        assert!(report.is_ok(), "{}", report.render());

        // The same size, another tree: a fork.
        let mut other = events.clone();
        other[1].at += 5;
        let (_, forked) = bundle_of(&other[..2], &signer);
        let report = verify(&forked, &[signer.verifier_key()], Some(&kept), &[]);
        assert!(report.has("fork"), "{}", report.render());

        // A rewritten history that grew: inconsistent.
        let (rewritten_tree, mut rewritten) = bundle_of(&other, &signer);
        rewritten.consistency = Some(AuditConsistency {
            old_size: 2,
            new_size: 3,
            checkpoint: rewritten.checkpoint.clone(),
            proof: rewritten_tree
                .consistency_proof(2, 3)
                .unwrap()
                .path
                .iter()
                .map(|h| serde_b64::encode(h.as_bytes()))
                .collect(),
        });
        let report = verify(&rewritten, &[signer.verifier_key()], Some(&kept), &[]);
        assert!(report.has("inconsistent"), "{}", report.render());

        // A smaller log than the one kept: entries were cut.
        let (_, smaller) = bundle_of(&events[..1], &signer);
        assert!(verify(&smaller, &[signer.verifier_key()], Some(&kept), &[]).has("rollback"));
        // Growth without a proof cannot be checked.
        let (_, unproven) = bundle_of(&events, &signer);
        assert!(verify(&unproven, &[signer.verifier_key()], Some(&kept), &[]).has("missing_consistency_proof"));
        assert_eq!(tree.size(), 2);
    }
}
