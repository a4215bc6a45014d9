//! C2SP signed-note, checkpoint and cosignature examples
//! (testdata/c2sp): the Go reference key pair and note reproduced byte for
//! byte, mangled keys refused, the spec's cosigned checkpoint parsed.

use doorman_tlog::{Checkpoint, Cosigner, KeyKind, Note, NoteError, NoteSigner, SignedCheckpoint, VerifierKey};

const KEYS: &str = include_str!("../../testdata/c2sp/peter-neumann.keys");
const NOTE: &[u8] = include_bytes!("../../testdata/c2sp/peter-neumann.note");
const COSIGNED: &[u8] = include_bytes!("../../testdata/c2sp/cosigned-checkpoint.note");

fn key(kind: &str) -> &'static str {
    KEYS.lines().find_map(|line| line.strip_prefix(kind)?.strip_prefix(' ')).unwrap()
}

#[test]
fn reference_note_verifies_and_is_reproduced_byte_for_byte() {
    let verifier = VerifierKey::parse(key("vkey")).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f_20a3);
    assert_eq!(verifier.kind(), KeyKind::Ed25519);
    assert_eq!(verifier.to_vkey(), key("vkey"));

    let note = Note::parse(NOTE).unwrap();
    let verified = note.verify(std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].name, "PeterNeumann");

    let signer = NoteSigner::parse(key("skey")).unwrap();
    assert_eq!(signer.verifier_key(), verifier);
    assert_eq!(signer.to_skey(), key("skey"));
    let mut resigned = Note::new(note.text()).unwrap();
    resigned.sign(&signer).unwrap();
    assert_eq!(resigned.to_text().as_bytes(), NOTE);
}

#[test]
fn reference_note_rejects_tampering() {
    let verifier = VerifierKey::parse(key("vkey")).unwrap();
    let text = String::from_utf8(NOTE.to_vec()).unwrap();
    let tampered = text.replace("cryptography", "cryptographY");
    assert!(matches!(
        Note::parse(tampered.as_bytes()).unwrap().verify(std::slice::from_ref(&verifier)),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Same name, other key: the key ID differs, so the signature is unknown.
    let stranger = NoteSigner::from_seed("PeterNeumann", [3; 32]).unwrap();
    assert_eq!(Note::parse(NOTE).unwrap().verify(&[stranger.verifier_key()]), Err(NoteError::NoTrustedSignature));
}

#[test]
fn every_mangled_vkey_is_refused() {
    let vkey = key("vkey").as_bytes().to_vec();
    for start in 0..=vkey.len() {
        for end in start + 1..=vkey.len() {
            if start == 0 && end == vkey.len() {
                continue;
            }
            let part = String::from_utf8_lossy(&vkey[start..end]);
            assert!(VerifierKey::parse(&part).is_err(), "accepted {part:?}");
        }
    }
    for position in 0..vkey.len() {
        let mut mangled = vkey.clone();
        mangled[position] = mangled[position].wrapping_add(1);
        let mangled = String::from_utf8_lossy(&mangled);
        assert!(VerifierKey::parse(&mangled).is_err(), "accepted {mangled:?}");
    }
}

#[test]
fn spec_cosigned_checkpoint_parses() {
    let note = Note::parse(COSIGNED).unwrap();
    let checkpoint = Checkpoint::parse_text(note.text()).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20_852_163);
    let signatures = note.signatures();
    assert_eq!(signatures.len(), 2);
    assert_eq!(signatures[0].name, "example.com/behind-the-sofa");
    assert_eq!(signatures[0].signature.len(), 64);
    assert_eq!(signatures[1].name, "witness.example.com/w1");
    assert_eq!(signatures[1].signature.len(), 72);
    assert_eq!(signatures[1].cosignature_timestamp(), Some(1_679_315_147));
    assert_eq!(note.to_text().as_bytes(), COSIGNED);

    // Without the (unpublished) keys nothing verifies; keys with the same
    // names but other material are unknown, not failures.
    let log = NoteSigner::from_seed("example.com/behind-the-sofa", [5; 32]).unwrap();
    let witness = Cosigner::from_seed("witness.example.com/w1", [6; 32]).unwrap();
    assert!(matches!(
        SignedCheckpoint::open(COSIGNED, &[log.verifier_key()], &[witness.verifier_key().unwrap()]),
        Err(doorman_tlog::CheckpointError::NotSignedByLog)
    ));
}

#[test]
fn our_cosignature_message_has_the_spec_shape() {
    let checkpoint =
        Checkpoint::parse_text("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
            .unwrap();
    let message = doorman_tlog::cosigned_message(&checkpoint.to_text(), 1_679_315_147);
    assert_eq!(
        String::from_utf8(message).unwrap(),
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    let witness = Cosigner::from_seed("witness.example.com/w1", [6; 32]).unwrap();
    let line = witness.cosign(&checkpoint, 1_679_315_147).unwrap();
    assert_eq!(line.signature.len(), 72);
    assert_eq!(line.cosignature_timestamp(), Some(1_679_315_147));
    assert!(line.to_line().starts_with("\u{2014} witness.example.com/w1 "));
}
