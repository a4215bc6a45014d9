//! The verifier's own tests: honest bundles pass, and each kind of
//! tampering is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use doorman_api::{AuditConsistency, AuditEntry};
use doorman_domain::{
    serde_b64, AccessRequestId, DeliveryId, DriverId, DropSpotId, Event, EventKind, GrantId, PropertyId, RefusalReason,
    EVENT_FORMAT_VERSION,
};
use doorman_tlog::{Checkpoint, Cosigner, MemoryTree, NoteSigner};

use crate::*;

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
    (tree, Bundle::new(note.to_text(), entries, vec![], None, None))
}

/// The consistency proof from size `old` to `bundle`'s checkpoint, as the
/// export adds it.
fn consistency(tree: &MemoryTree, old: u64, bundle: &Bundle) -> AuditConsistency {
    let new = tree.size();
    let path = tree.consistency_proof(old, new).unwrap().path;
    AuditConsistency {
        old_size: old,
        new_size: new,
        checkpoint: bundle.checkpoint.clone(),
        proof: path.iter().map(|h| serde_b64::encode(h.as_bytes())).collect(),
    }
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
fn an_access_request_without_its_outcome_is_named() {
    let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let events = request_and_grant();
    // The grant removed from the log: the request has no outcome.
    let (_, bundle) = bundle_of(&[events[0].clone(), events[2].clone()], &signer);
    let report = verify(&bundle, &[signer.verifier_key()], None, &[]);
    assert!(report.has("request_without_outcome"), "{}", report.render());
    assert!(report.problems[0].message.starts_with("entry 0: access request"), "{}", report.render());
    // A request that is the checkpoint's last entry may have its outcome
    // just beyond it.
    let (_, bundle) = bundle_of(&events[..1], &signer);
    let report = verify(&bundle, &[signer.verifier_key()], None, &[]);
    assert!(report.is_ok(), "{}", report.render());
    // A refusal answers a request as a grant does.
    let request_id = AccessRequestId::random();
    let (property, delivery, driver) = (PropertyId::random(), DeliveryId::random(), DriverId::random());
    let refused = [
        event(EventKind::AccessRequested { request_id }, property, delivery, driver),
        event(
            EventKind::AccessRefused { request_id, reason: RefusalReason::ParcelUnknown },
            property,
            delivery,
            driver,
        ),
        event(EventKind::Unblocked, property, delivery, driver),
    ];
    let (_, bundle) = bundle_of(&refused, &signer);
    assert!(verify(&bundle, &[signer.verifier_key()], None, &[]).is_ok());
}

#[test]
fn forks_rollbacks_and_rewrites_against_a_kept_checkpoint() {
    let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let events = request_and_grant();
    let (tree, old) = bundle_of(&events[..2], &signer);
    let kept = old.checkpoint.clone();

    // Honest growth, with its proof.
    let (grown, mut bundle) = bundle_of(&events, &signer);
    bundle.consistency = Some(consistency(&grown, 2, &bundle));
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
    rewritten.consistency = Some(consistency(&rewritten_tree, 2, &rewritten));
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

/// `jq -r .checkpoint bundle.json > kept.note` adds a newline, editors add
/// or drop one: the kept checkpoint verifies the same, in `verify` and in
/// an export's `--since-checkpoint`.
#[test]
fn a_kept_checkpoint_verifies_whatever_its_trailing_newlines() {
    let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let events = request_and_grant();
    let (_, old) = bundle_of(&events[..2], &signer);
    let (grown, mut bundle) = bundle_of(&events, &signer);
    bundle.consistency = Some(consistency(&grown, 2, &bundle));
    let exact = old.checkpoint.clone();
    assert!(exact.ends_with('\n') && !exact.ends_with("\n\n"));
    for kept in
        [exact.clone(), format!("{exact}\n"), format!("{exact}\r\n"), format!("{exact} \n\n"), exact.trim_end().into()]
    {
        let report = verify(&bundle, &[signer.verifier_key()], Some(&kept), &[]);
        assert!(report.is_ok(), "{kept:?}:\n{}", report.render());
        assert!(report.render().contains("extends the checkpoint you kept (size 2)"), "{}", report.render());
        assert_eq!(checkpoint_size(&kept), Ok(2));
        // The same text, given to the export and carried in the bundle.
        let carried = Bundle { since_checkpoint: Some(kept.clone()), ..bundle.clone() };
        let report = verify(&carried, &[signer.verifier_key()], None, &[]);
        assert!(report.render().contains("extends the bundle's older checkpoint (size 2)"), "{}", report.render());
    }
    // Whitespace is all that is forgiven: a changed signed line is not.
    let altered = exact.replacen("\n2\n", "\n3\n", 1);
    let report = verify(&bundle, &[signer.verifier_key()], Some(&altered), &[]);
    assert!(report.has("previous_checkpoint"), "{}", report.render());
    assert!(checkpoint_size("not a note").is_err());
}

/// What the dashboard uses for each entry's mark: the checkpoint opened with
/// the log's key, then each entry's proof against it.
#[test]
fn entries_are_checked_one_by_one() {
    let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let events = request_and_grant();
    let (_, bundle) = bundle_of(&events, &signer);
    let opened = open_checkpoint(&bundle.checkpoint, &[signer.verifier_key()], &[]).unwrap();
    for (entry, event) in bundle.entries.iter().zip(&events) {
        let proof = EntryProof::decode(entry).unwrap();
        assert_eq!(proof.check_inclusion(opened.checkpoint()), Ok(()));
        assert_eq!(&proof.event().unwrap(), event);
    }
    let other = NoteSigner::from_seed(ORIGIN, [2; 32]).unwrap();
    assert!(open_checkpoint(&bundle.checkpoint, &[other.verifier_key()], &[]).is_err());

    let mut moved = bundle.entries[1].clone();
    moved.index = 0;
    let proof = EntryProof::decode(&moved).unwrap();
    assert_eq!(proof.check_inclusion(opened.checkpoint()).map_err(|p| p.code()), Err("not_included"));
    let garbled = AuditEntry { entry: "not base64url!".into(), ..bundle.entries[0].clone() };
    assert_eq!(EntryProof::decode(&garbled), Err(ProblemKind::MalformedEntry { index: 0 }));
    let not_an_event = EntryProof { index: 0, bytes: b"{}".to_vec(), path: vec![] };
    assert_eq!(not_an_event.event().map_err(|p| p.code()).err(), Some("undecodable_entry"));
}

/// Each problem is a variant with its facts; the report keeps the sentence.
#[test]
fn problems_are_typed_and_worded() {
    let signer = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let events = request_and_grant();
    let (_, mut bundle) = bundle_of(&events[1..], &signer);
    bundle.format = "doorman-audit-bundle/v0".into();
    let report = verify(&bundle, &[signer.verifier_key()], None, &[]);
    assert!(matches!(&report.problems[0].kind, ProblemKind::Format { found } if found == "doorman-audit-bundle/v0"));
    let ProblemKind::GrantWithoutRequest { index, .. } = report.problems[1].kind else { panic!("{}", report.render()) };
    assert_eq!(index, 0);
    assert_eq!(report.problems[1].message, report.problems[1].kind.to_string());
    assert_eq!(report.checkpoint.as_ref().map(Checkpoint::size), Some(2));
    assert!(report.checked.contains(&Verified::EntriesIncluded { count: 2 }));
    assert!(report.render().ends_with("2 problem(s) found\n"));
}
