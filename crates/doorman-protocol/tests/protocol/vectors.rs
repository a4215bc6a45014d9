//! Test vectors: produced by this code, stored in `vectors/`, checked here, and read
//! by `scripts/check_cose_interop.py` (an independent COSE/CWT implementation).
//!
//! `DOORMAN_REGEN_VECTORS=1 cargo test -p doorman-protocol --test protocol vectors`
//! rewrites the files; otherwise the test fails if they differ from what the code
//! produces, then verifies each file's messages from the file's own bytes.

use std::path::PathBuf;

use doorman_protocol::*;
use serde_json::{json, Value};

const NOW: u64 = 1_760_000_000;
const LOCK: LockId =
    LockId([0x0f, 0x8e, 0x2b, 0x4c, 0x11, 0x7a, 0x4d, 0x3e, 0x9b, 0x52, 0x6c, 0x1d, 0x2e, 0x3f, 0x40, 0x51]);
const OTHER_LOCK: LockId = LockId([0x99; 16]);
const ISSUER_SECRET: [u8; 32] = [0x11; 32];
const P256_ISSUER_SECRET: [u8; 32] = [0x12; 32];
const ROOT_SECRET: [u8; 32] = [0x13; 32];
const DEVICE_SECRET: [u8; 32] = [0x14; 32];
const HANDHELD_SECRET: [u8; 32] = [0x15; 32];
const DOOR_CODE_MASTER: &[u8] = b"doorman test-vector master secret";
const SALT: &[u8] = b"per-delivery salt: 16+ random bytes";
const TRACKING: &[u8] = b"1Z999AA10123456784";

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

struct Keys {
    issuer: IssuerSigningKey,
    p256_issuer: IssuerSigningKey,
    root: IssuerSigningKey,
    device: LockDeviceKey,
    handheld: HandheldKey,
}

fn keys() -> Keys {
    Keys {
        issuer: IssuerSigningKey::from_ed25519_secret(&ISSUER_SECRET),
        p256_issuer: IssuerSigningKey::from_p256_secret(&P256_ISSUER_SECRET).unwrap(),
        root: IssuerSigningKey::from_ed25519_secret(&ROOT_SECRET),
        device: LockDeviceKey::from_secret(&DEVICE_SECRET),
        handheld: HandheldKey::from_secret(&HANDHELD_SECRET).unwrap(),
    }
}

fn lock(k: &Keys) -> LockState {
    LockState::new(
        LOCK,
        &[
            k.issuer.trusted_key(KeyUsage::ISSUER),
            k.p256_issuer.trusted_key(KeyUsage::ISSUER),
            k.root.trusted_key(KeyUsage::KEY_UPDATE),
        ],
        NOW - 86_400,
    )
    .unwrap()
}

fn claims(k: &Keys, seq: u64) -> CredentialClaims<'static> {
    CredentialClaims {
        issuer: "doorman",
        lock_id: LOCK,
        not_before: NOW - 30,
        expires_at: NOW + 570,
        issued_at: NOW - 30,
        credential_id: CredentialId([0xc0 | seq as u8; 16]),
        handheld_key: k.handheld.public_key(),
        delivery_hash: delivery_hash(SALT, TRACKING),
        lock_sequence: seq,
        revocation_epoch: 0,
        max_uses: 1,
        challenge_nonce: None,
    }
}

fn claims_json(c: &CredentialClaims<'_>) -> Value {
    json!({
        "1_iss": c.issuer,
        "3_aud": std::str::from_utf8(&c.lock_id.audience()).unwrap(),
        "4_exp": c.expires_at,
        "5_nbf": c.not_before,
        "6_iat": c.issued_at,
        "7_cti": hex(&c.credential_id.0),
        "8_cnf": {
            "x": hex(&c.handheld_key.x()),
            "y_is_odd": c.handheld_key.y_is_odd(),
            "sec1_compressed": hex(c.handheld_key.as_sec1_bytes()),
        },
        "-65537_doorman": {
            "delivery_hash": hex(&c.delivery_hash.0),
            "lock_sequence": c.lock_sequence,
            "revocation_epoch": c.revocation_epoch,
            "max_uses": c.max_uses,
            "challenge_nonce": c.challenge_nonce.map(|n| hex(&n.0)),
        },
    })
}

fn key_json(k: &TrustedKey) -> Value {
    json!({
        "kid": hex(&k.kid.0),
        "alg": k.key.algorithm().cose_id(),
        "public_key": hex(k.key.as_bytes()),
        "usage": k.usage.bits(),
    })
}

fn credential_vector(k: &Keys, key: &IssuerSigningKey, c: &CredentialClaims<'_>, what: &str) -> Value {
    let cred = issue_credential(key, c).unwrap();
    json!({
        "description": what,
        "issuer": key_json(&key.trusted_key(KeyUsage::CREDENTIALS)),
        "external_aad": "",
        "credential": hex(cred.as_bytes()),
        "size": cred.len(),
        "claims": claims_json(c),
        "handheld_public_key_uncompressed": hex(&handheld_uncompressed(k)),
    })
}

fn handheld_uncompressed(k: &Keys) -> Vec<u8> {
    // Re-derive through the public API: PublicKey normalises P-256 points to 65 bytes.
    PublicKey::from_bytes(Algorithm::ES256, k.handheld.public_key().as_sec1_bytes()).unwrap().as_bytes().to_vec()
}

fn verdict_str(v: &Verdict) -> String {
    match v {
        Verdict::Granted(_) => "granted".into(),
        Verdict::Refused(r) => r.as_str().into(),
    }
}

/// Builds every vector file: name -> content.
fn build() -> Vec<(&'static str, Value)> {
    let k = keys();
    let cfg = VerifyConfig::default();
    let mut files = Vec::new();

    files.push((
        "keys.json",
        json!({
            "description": "Secrets and public keys of the vectors. Never use these anywhere else.",
            "now": NOW,
            "lock_id": hex(&LOCK.0),
            "lock_audience": std::str::from_utf8(&LOCK.audience()).unwrap(),
            "issuer_ed25519": { "secret": hex(&ISSUER_SECRET), "trusted": key_json(&k.issuer.trusted_key(KeyUsage::ISSUER)) },
            "issuer_p256": { "secret": hex(&P256_ISSUER_SECRET), "trusted": key_json(&k.p256_issuer.trusted_key(KeyUsage::ISSUER)) },
            "root_ed25519": { "secret": hex(&ROOT_SECRET), "trusted": key_json(&k.root.trusted_key(KeyUsage::KEY_UPDATE)) },
            "lock_device_ed25519": { "secret": hex(&DEVICE_SECRET), "public_key": hex(&k.device.public_key().0) },
            "handheld_p256": {
                "secret": hex(&HANDHELD_SECRET),
                "sec1_compressed": hex(k.handheld.public_key().as_sec1_bytes()),
                "sec1_uncompressed": hex(&handheld_uncompressed(&k)),
            },
            "delivery": { "salt": hex(SALT), "reference": String::from_utf8_lossy(TRACKING), "delivery_hash": hex(&delivery_hash(SALT, TRACKING).0) },
        }),
    ));

    let c1 = claims(&k, 1);
    files.push((
        "credential-ed25519.json",
        credential_vector(&k, &k.issuer, &c1, "EdDSA issuer, P-256 handheld key (the default)"),
    ));
    let c2 = CredentialClaims {
        lock_sequence: 4_000_000_000,
        revocation_epoch: 70_000,
        credential_id: CredentialId([0xc2; 16]),
        ..claims(&k, 2)
    };
    files.push((
        "credential-es256.json",
        credential_vector(&k, &k.p256_issuer, &c2, "ES256 issuer, large sequence and epoch"),
    ));
    let c3 = CredentialClaims { challenge_nonce: Some(Nonce([0xa5; 16])), ..claims(&k, 3) };
    files.push((
        "credential-nonce-bound.json",
        credential_vector(&k, &k.issuer, &c3, "bound to challenge nonce a5..a5 (lost-clock mode)"),
    ));

    // Challenge and presentation: a lock, then one grant.
    let mut state = lock(&k);
    let before = state.to_bytes();
    let (pending, signed) = state.issue_challenge(&k.device, Nonce([0x5e; 16]), NOW).unwrap();
    let ch = *pending.challenge();
    let opened = open_challenge(signed.as_bytes(), &k.device.public_key(), &LOCK).unwrap();
    let cred = issue_credential(&k.issuer, &c1).unwrap();
    let presentation = k.handheld.present(&opened, cred.as_bytes()).unwrap();
    let verdict = state.verify_presentation(pending, presentation.as_bytes(), NOW, &cfg);
    assert!(verdict.granted().is_some());
    files.push((
        "challenge.json",
        json!({
            "description": "A lock's signed challenge (COSE_Sign1, EdDSA, no kid).",
            "lock_device_public_key": hex(&k.device.public_key().0),
            "external_aad": hex(b"doorman/challenge/v1"),
            "signed_challenge": hex(signed.as_bytes()),
            "payload": hex(opened.payload()),
            "fields": {
                "lock_id": hex(&ch.lock_id.0), "nonce": hex(&ch.nonce.0), "counter": ch.counter,
                "lock_time": ch.lock_time, "revocation_sequence": ch.revocation_sequence,
                "key_update_sequence": ch.key_update_sequence, "event_counter": ch.event_counter,
                "clock_lost": ch.clock_lost,
            },
        }),
    ));
    files.push((
        "presentation.json",
        json!({
            "description": "The handheld's answer to challenge.json with credential-ed25519.json, and the lock's verdict.",
            "challenge_payload": hex(opened.payload()),
            "credential": hex(cred.as_bytes()),
            "presentation": hex(presentation.as_bytes()),
            "handheld_public_key": hex(k.handheld.public_key().as_sec1_bytes()),
            "possession_input": "CBOR [\"doorman/presentation/v1\", challenge_payload bstr, SHA-256(credential) bstr]",
            "lock_state_before": hex(&before),
            "now": NOW,
            "verdict": verdict_str(&verdict),
            "lock_state_after": hex(&state.to_bytes()),
        }),
    ));

    // Verdicts a verifier must reach, each from a fresh lock and a fresh challenge.
    let mut cases = Vec::new();
    let variants: Vec<(&str, CredentialClaims<'static>, &IssuerSigningKey, u64, bool)> = vec![
        ("granted", claims(&k, 1), &k.issuer, NOW, true),
        ("granted_es256_issuer", claims(&k, 1), &k.p256_issuer, NOW, true),
        ("wrong_audience", CredentialClaims { lock_id: OTHER_LOCK, ..claims(&k, 1) }, &k.issuer, NOW, true),
        ("expired", claims(&k, 1), &k.issuer, NOW + 570 + 60, true),
        (
            "not_yet_valid",
            CredentialClaims { not_before: NOW + 600, expires_at: NOW + 900, ..claims(&k, 1) },
            &k.issuer,
            NOW,
            true,
        ),
        ("clock_below_floor", claims(&k, 1), &k.issuer, NOW - 86_401, true),
        ("lifetime_too_long", CredentialClaims { expires_at: NOW + 7200, ..claims(&k, 1) }, &k.issuer, NOW, true),
        ("root_key_may_not_issue", claims(&k, 1), &k.root, NOW, true),
        ("handheld_key_missing", claims(&k, 1), &k.issuer, NOW, false),
    ];
    for (name, c, key, now, right_handheld) in variants {
        let mut st = lock(&k);
        let state_before = st.to_bytes();
        let nonce = Nonce([0x7c; 16]);
        let pending = st.new_challenge(nonce, now).unwrap();
        let payload = pending.sign(&k.device).unwrap();
        let opened = open_challenge(payload.as_bytes(), &k.device.public_key(), &LOCK).unwrap();
        let cred = issue_credential(key, &c).unwrap();
        let signer = if right_handheld {
            HandheldKey::from_secret(&HANDHELD_SECRET).unwrap()
        } else {
            HandheldKey::from_secret(&[0x16; 32]).unwrap()
        };
        let p = signer.sign_presentation(opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
        let v = st.verify_presentation(pending, p.as_bytes(), now, &cfg);
        cases.push(json!({
            "name": name,
            "lock_state": hex(&state_before),
            "challenge_nonce": hex(&nonce.0),
            "challenge_payload": hex(opened.payload()),
            "now": now,
            "presentation": hex(p.as_bytes()),
            "verdict": verdict_str(&v),
        }));
    }
    files.push((
        "verdicts.json",
        json!({
            "description": "Each case: a lock in lock_state (trusting keys.json's issuers and root, floor now-86400), which issues its next challenge (counter 1) with challenge_nonce at time now, then receives presentation at now.",
            "config": { "clock_skew_secs": cfg.clock_skew_secs, "challenge_ttl_secs": cfg.challenge_ttl_secs, "max_credential_lifetime_secs": cfg.max_credential_lifetime_secs },
            "cases": cases,
        }),
    ));

    // Revocation bundle and key update.
    let entries = [
        RevokedEntry { credential_id: CredentialId([0xc1; 16]), expires_at: NOW + 570 },
        RevokedEntry { credential_id: CredentialId([0xb0; 16]), expires_at: NOW + 100 },
    ];
    let bundle = issue_revocation_bundle(&k.issuer, &LOCK, 7, 2, &entries).unwrap();
    let mut st = lock(&k);
    let applied = st.apply_revocation_bundle(bundle.as_bytes(), NOW, &cfg).unwrap();
    files.push((
        "revocation-bundle.json",
        json!({
            "description": "Revocation bundle for the lock: sequence 7, epoch 2, two revoked ids.",
            "issuer": key_json(&k.issuer.trusted_key(KeyUsage::ISSUER)),
            "external_aad": hex(b"doorman/revocation/v1"),
            "bundle": hex(bundle.as_bytes()),
            "lock_id": hex(&LOCK.0), "sequence": 7, "epoch": 2,
            "revoked": entries.iter().map(|e| json!({ "cti": hex(&e.credential_id.0), "exp": e.expires_at })).collect::<Vec<_>>(),
            "applied_entries": applied.entries,
        }),
    ));
    let new_issuer = IssuerSigningKey::from_ed25519_secret(&[0x17; 32]);
    let ops = [KeyUpdateOp::Add(new_issuer.trusted_key(KeyUsage::ISSUER)), KeyUpdateOp::Retire(k.p256_issuer.key_id())];
    let update = issue_key_update(&k.root, 1, &ops).unwrap();
    st.apply_key_update(update.as_bytes()).unwrap();
    files.push((
        "key-update.json",
        json!({
            "description": "Key update 1, signed by the root key: add a new Ed25519 issuer key, retire the P-256 issuer key.",
            "signer": key_json(&k.root.trusted_key(KeyUsage::KEY_UPDATE)),
            "external_aad": hex(b"doorman/key-update/v1"),
            "key_update": hex(update.as_bytes()),
            "sequence": 1,
            "add": key_json(&new_issuer.trusted_key(KeyUsage::ISSUER)),
            "retire": hex(&k.p256_issuer.key_id().0),
        }),
    ));

    // An event chain.
    let mut st = lock(&k);
    let recs = [
        EventRecord {
            credential_id: Some(CredentialId([0xc1; 16])),
            delivery_hash: Some(delivery_hash(SALT, TRACKING)),
            value: 1,
            ..EventRecord::new(EventKind::AccessGranted)
        },
        EventRecord::new(EventKind::Unlocked),
        EventRecord { data: Some([0xcc; 32]), ..EventRecord::new(EventKind::CameraClip) },
    ];
    let mut events = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let e = st.record_event(&k.device, r, NOW + i as u64).unwrap();
        let d = decode_event(e.as_bytes(), &k.device.public_key()).unwrap();
        events.push(json!({
            "event": hex(e.as_bytes()), "counter": d.counter, "time": d.time, "kind": d.record.kind.code(),
            "prev_hash": hex(&d.prev_hash), "hash": hex(&d.hash),
        }));
    }
    files.push((
        "events.json",
        json!({
            "description": "Three events of one lock: each COSE_Sign1 by the device key; hash = SHA-256 of the whole event; prev_hash links them.",
            "lock_device_public_key": hex(&k.device.public_key().0),
            "external_aad": hex(b"doorman/event/v1"),
            "lock_id": hex(&LOCK.0),
            "events": events,
        }),
    ));

    // Door codes.
    let secret = derive_door_code_secret(DOOR_CODE_MASTER, &LOCK).unwrap();
    let policy = DoorCodePolicy::default();
    let slot = policy.time_slot(NOW);
    let codes: Vec<_> = [(slot, 0u8), (slot, 3), (slot + 1, 0), (0, 0)]
        .iter()
        .map(|(s, i)| json!({ "slot": s, "index": i, "hotp_counter": s * u64::from(policy.codes_per_slot()) + u64::from(*i), "code": door_code(&secret, *s, *i, &policy).unwrap().to_string() }))
        .collect();
    files.push((
        "door-codes.json",
        json!({
            "description": "Per-lock secret = HKDF-SHA256(salt \"doorman/door-code/v1\", ikm master, info lock_id, 32 bytes); code = HOTP-SHA256(secret, slot * codes_per_slot + index), 8 digits.",
            "master_secret": hex(DOOR_CODE_MASTER),
            "lock_id": hex(&LOCK.0),
            "lock_secret": hex(&secret.to_bytes()),
            "slot_secs": policy.slot_secs(), "codes_per_slot": policy.codes_per_slot(), "digits": policy.digits(),
            "now": NOW,
            "codes": codes,
        }),
    ));
    files
}

#[test]
fn vectors_are_current_and_verify() {
    let files = build();
    let regen = std::env::var("DOORMAN_REGEN_VECTORS").is_ok_and(|v| v == "1");
    for (name, value) in &files {
        let path = dir().join(name);
        let text = serde_json::to_string_pretty(value).unwrap() + "\n";
        if regen {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else {
            let stored = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}; regenerate with DOORMAN_REGEN_VECTORS=1", path.display()));
            assert_eq!(stored, text, "{name} is stale; regenerate with DOORMAN_REGEN_VECTORS=1");
        }
    }
    // In the same test, after any rewrite: the files verify from their own bytes.
    stored_vectors_verify_from_their_bytes();
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// From the files' bytes alone: the messages verify and the verdicts come out as stored.
fn stored_vectors_verify_from_their_bytes() {
    let k = keys();
    for name in ["credential-ed25519.json", "credential-es256.json", "credential-nonce-bound.json"] {
        let v = load(name);
        let cred = unhex(&v["credential"]);
        assert!(cred.len() <= 260, "{name}: {}", cred.len());
        let st = lock(&k);
        let auth = st.authenticate_credential(&cred).unwrap();
        assert_eq!(hex(&auth.key_id.0), v["issuer"]["kid"].as_str().unwrap());
        assert_eq!(claims_json(&auth.claims), v["claims"]);
    }
    let cfg = VerifyConfig::default();
    for case in load("verdicts.json")["cases"].as_array().unwrap() {
        let mut st = LockState::from_bytes(&unhex(&case["lock_state"])).unwrap();
        let nonce = Nonce(unhex(&case["challenge_nonce"]).try_into().unwrap());
        let now = case["now"].as_u64().unwrap();
        let pending = st.new_challenge(nonce, now).unwrap();
        let v = st.verify_presentation(pending, &unhex(&case["presentation"]), now, &cfg);
        assert_eq!(verdict_str(&v), case["verdict"].as_str().unwrap(), "{}", case["name"]);
    }
    let p = load("presentation.json");
    let mut st = LockState::from_bytes(&unhex(&p["lock_state_before"])).unwrap();
    let pending = st.new_challenge(Nonce([0x5e; 16]), NOW).unwrap();
    assert!(st.verify_presentation(pending, &unhex(&p["presentation"]), NOW, &cfg).granted().is_some());
    assert_eq!(hex(&st.to_bytes()), p["lock_state_after"].as_str().unwrap());

    let e = load("events.json");
    let events: Vec<Vec<u8>> = e["events"].as_array().unwrap().iter().map(|x| unhex(&x["event"])).collect();
    let head =
        verify_event_chain(k.device.public_key(), LOCK, ChainHead::GENESIS, events.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(head.counter, 3);

    let mut st = lock(&k);
    st.apply_revocation_bundle(&unhex(&load("revocation-bundle.json")["bundle"]), NOW, &cfg).unwrap();
    st.apply_key_update(&unhex(&load("key-update.json")["key_update"])).unwrap();
    assert_eq!(st.trust().status(&k.p256_issuer.key_id()), KeyStatus::Retired);
}
