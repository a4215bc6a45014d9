//! Every decoder of outside bytes, fed random and mutated input: it never
//! panics, and whatever it accepts re-encodes to exactly the same bytes (so
//! there is one encoding per value, and nothing is silently dropped).

use std::sync::LazyLock;

use doorman_tlog::{
    decode_entry_bundle, decode_tile, encode_entry_bundle, encode_tile, parse_tile_path, AddCheckpointRequest,
    Checkpoint, ConsistencyProof, Cosigner, EntryBundleId, Hash, InclusionProof, NodeId, Note, NoteSigner,
    SignedCheckpoint, TileId, TilePath, VerifierKey,
};
use proptest::prelude::*;

struct Signed {
    log: NoteSigner,
    witness: Cosigner,
    text: String,
    note: Vec<u8>,
}

static SIGNED: LazyLock<Signed> = LazyLock::new(|| {
    let log = NoteSigner::from_seed("doorman.example/audit", [1; 32]).unwrap();
    let witness = Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap();
    let checkpoint = Checkpoint::new("doorman.example/audit", 1234, Hash([9; 32])).unwrap();
    let mut note = checkpoint.sign(&log).unwrap();
    note.add_signature(witness.cosign(&checkpoint, 1_700_000_000).unwrap()).unwrap();
    Signed { log, witness, text: checkpoint.to_text(), note: note.to_text().into_bytes() }
});

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { position: usize, bit: u8 },
    Insert { position: usize, byte: u8 },
    Delete { position: usize },
    Truncate { length: usize },
    Duplicate { start: usize, length: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(position, bit)| Mutation::FlipBit { position, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(position, byte)| Mutation::Insert { position, byte }),
        any::<usize>().prop_map(|position| Mutation::Delete { position }),
        any::<usize>().prop_map(|length| Mutation::Truncate { length }),
        (any::<usize>(), 1usize..40).prop_map(|(start, length)| Mutation::Duplicate { start, length }),
    ]
}

fn apply(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len();
    match *mutation {
        Mutation::FlipBit { position, bit } => out[position % len] ^= 1 << bit,
        Mutation::Insert { position, byte } => out.insert(position % (len + 1), byte),
        Mutation::Delete { position } => {
            out.remove(position % len);
        }
        Mutation::Truncate { length } => out.truncate(length % len),
        Mutation::Duplicate { start, length } => {
            let start = start % len;
            let end = (start + length).min(len);
            let copy = out[start..end].to_vec();
            out.splice(start..start, copy);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn notes_from_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(note) = Note::parse(&bytes) {
            prop_assert_eq!(note.to_text().into_bytes(), bytes.clone());
        }
    }

    #[test]
    fn notes_from_note_shaped_text(
        text in "[a-z\n]{0,20}\n\n",
        lines in proptest::collection::vec("\u{2014} [a-z/+ ]{0,12} [A-Za-z0-9+/=]{0,100}", 0..4),
    ) {
        let note = format!("{text}{}\n", lines.join("\n"));
        if let Ok(parsed) = Note::parse(note.as_bytes()) {
            prop_assert_eq!(parsed.to_text(), note);
        }
    }

    #[test]
    fn mutated_notes_never_verify_other_text(mutation in mutation()) {
        let signed = &*SIGNED;
        let mutated = apply(&signed.note, &mutation);
        prop_assume!(mutated != signed.note);
        let keys = [signed.log.verifier_key(), signed.witness.verifier_key().unwrap()];
        if let Ok(note) = Note::parse(&mutated) {
            if note.verify(&keys).is_ok() {
                // Possible only when a signature line became unknown (its
                // name changed): what verifies is still the signed text.
                prop_assert_eq!(note.text(), signed.text.as_str());
            }
        }
        if let Ok(opened) = SignedCheckpoint::open(&mutated, &keys[..1], &keys[1..]) {
            prop_assert_eq!(opened.checkpoint().to_text(), signed.text.clone());
        }
    }

    #[test]
    fn checkpoints_from_random_text(text in "\\PC{0,80}|[a-z./]{1,10}\n[0-9]{1,21}\n[A-Za-z0-9+/=]{40,48}\n([a-z ]{0,5}\n){0,2}") {
        if let Ok(checkpoint) = Checkpoint::parse_text(&text) {
            prop_assert_eq!(checkpoint.to_text(), text);
        }
    }

    #[test]
    fn keys_from_random_text(text in "\\PC{0,100}|[A-Za-z]{1,8}\\+[0-9a-fA-F]{6,9}\\+[A-Za-z0-9+/=]{40,48}") {
        if let Ok(key) = VerifierKey::parse(&text) {
            // Key IDs parse in either case and print in lowercase.
            prop_assert_eq!(key.to_vkey().to_lowercase(), text.to_lowercase());
        }
        let _ = NoteSigner::parse(&text);
        let _ = Cosigner::parse(&text);
        let _ = NoteSigner::parse(&format!("PRIVATE+KEY+{text}"));
    }

    #[test]
    fn proofs_from_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(proof) = InclusionProof::from_bytes(&bytes) {
            prop_assert_eq!(proof.to_bytes(), bytes.clone());
            let _ = proof.verify(&Hash::default(), &Hash::default());
        }
        if let Ok(proof) = ConsistencyProof::from_bytes(&bytes) {
            prop_assert_eq!(proof.to_bytes(), bytes.clone());
            let _ = proof.verify(&Hash::default(), &Hash::default());
        }
    }

    #[test]
    fn proof_verification_never_panics(
        index in any::<u64>(),
        size in any::<u64>(),
        path in proptest::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..70),
    ) {
        let proof = InclusionProof { leaf_index: index, tree_size: size, path: path.clone() };
        let _ = proof.verify(&Hash::default(), &Hash::default());
        let proof = ConsistencyProof { old_size: index, new_size: size, path };
        let _ = proof.verify(&Hash::default(), &Hash::default());
    }

    #[test]
    fn tile_paths_from_random_text(text in "\\PC{0,40}|tile/(entries|[0-9]{1,3})/(x[0-9]{3}/){0,8}[0-9]{1,4}(\\.p/[0-9]{1,4})?") {
        if let Ok(parsed) = parse_tile_path(&text) {
            let printed = match parsed {
                TilePath::Hashes(tile) => tile.path(),
                TilePath::Entries(bundle) => bundle.path(),
            };
            prop_assert_eq!(printed, text);
        }
    }

    #[test]
    fn tiles_and_bundles_from_random_bytes(
        // Levels 0 to 4 hold over 100,000 tiles each below 2^63 entries.
        level in 0u8..5,
        index in 0u64..100_000,
        width in 1u16..=256,
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let tile = TileId::new(level, index, width).unwrap();
        if let Ok(hashes) = decode_tile(tile, &bytes) {
            prop_assert_eq!(encode_tile(&hashes), bytes.clone());
        }
        let bundle = EntryBundleId::new(index, width).unwrap();
        if let Ok(entries) = decode_entry_bundle(bundle, &bytes) {
            prop_assert_eq!(encode_entry_bundle(&entries).unwrap(), bytes.clone());
        }
    }

    #[test]
    fn witness_requests_from_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        mutation in mutation(),
    ) {
        if let Ok(request) = AddCheckpointRequest::parse(&bytes) {
            prop_assert_eq!(request.to_bytes(), bytes.clone());
        }
        let valid = AddCheckpointRequest {
            old_size: 17,
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint: SIGNED.note.clone(),
        }
        .to_bytes();
        let mutated = apply(&valid, &mutation);
        if let Ok(request) = AddCheckpointRequest::parse(&mutated) {
            prop_assert_eq!(request.to_bytes(), mutated);
        }
    }

    #[test]
    fn stored_indexes_invert(key in any::<u64>()) {
        if let Some(node) = NodeId::from_stored_index(key) {
            prop_assert_eq!(node.stored_index(), key);
        }
    }

    #[test]
    fn hashes_from_random_text(text in "\\PC{0,70}") {
        if let Ok(hash) = Hash::from_base64(&text) {
            prop_assert_eq!(hash.to_base64(), text.clone());
        }
        if let Ok(hash) = Hash::from_hex(&text) {
            prop_assert_eq!(hash.to_hex(), text.to_lowercase());
        }
    }
}
