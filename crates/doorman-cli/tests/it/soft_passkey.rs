//! A software passkey for the server-side passkey tests: it answers the
//! service's WebAuthn options as a browser and a CTAP2 authenticator would
//! (client data JSON, authenticator data, a P-256 key in COSE, "none"
//! attestation, ES256 assertions), with knobs an attacker would turn: the
//! origin it claims, its sign counter, the credential id and user handle
//! it names. The signatures come from the p256 crate; only the byte
//! layouts of WebAuthn §6.1 and §6.5 are assembled here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// User present, user verified.
const UP_UV: u8 = 0x01 | 0x04;
/// ... with attested credential data.
const AT: u8 = 0x40;

#[derive(Clone)]
pub struct SoftPasskey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle the service gave at registration.
    pub user_handle: Vec<u8>,
    /// The origin the "browser" says it is at.
    pub origin: String,
    pub counter: u32,
}

impl std::fmt::Debug for SoftPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftPasskey").field("origin", &self.origin).field("counter", &self.counter).finish()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).expect("base64url from the service")
}

/// The RP id: the origin's host.
fn rp_id(origin: &str) -> String {
    let rest = origin.split("://").nth(1).unwrap_or(origin);
    rest.split([':', '/']).next().unwrap_or(rest).to_string()
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false}))
        .expect("JSON")
}

/// CBOR: a major type with its argument (RFC 8949 §3).
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        head(out, 0, v as u64)
    } else {
        head(out, 1, (-1 - v) as u64)
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn text(out: &mut Vec<u8>, t: &str) {
    head(out, 3, t.len() as u64);
    out.extend_from_slice(t.as_bytes());
}

impl SoftPasskey {
    pub fn new(origin: &str) -> Self {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let credential_id = uuid::Uuid::new_v4().as_bytes().to_vec();
        Self { key, credential_id, user_handle: Vec::new(), origin: origin.to_string(), counter: 0 }
    }

    fn auth_data(&self, flags: u8, attested: bool) -> Vec<u8> {
        let mut out = Sha256::digest(rp_id(&self.origin).as_bytes()).to_vec();
        out.push(flags | if attested { AT } else { 0 });
        out.extend(self.counter.to_be_bytes());
        if attested {
            out.extend([0u8; 16]); // AAGUID
            out.extend((self.credential_id.len() as u16).to_be_bytes());
            out.extend(&self.credential_id);
            // The public key as COSE_Key: EC2, ES256, P-256, x, y.
            let point = self.key.verifying_key().to_encoded_point(false);
            let mut cose = Vec::new();
            head(&mut cose, 5, 5);
            for (k, v) in [(1, 2), (3, -7), (-1, 1)] {
                int(&mut cose, k);
                int(&mut cose, v);
            }
            int(&mut cose, -2);
            bytes(&mut cose, &point.x().expect("x")[..]);
            int(&mut cose, -3);
            bytes(&mut cose, &point.y().expect("y")[..]);
            out.extend(cose);
        }
        out
    }

    /// The answer to registration options (`{"publicKey": ...}` as the
    /// service sent them): the JSON the dashboard's script would post.
    pub fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        self.user_handle = unb64(pk["user"]["id"].as_str().expect("user id"));
        let challenge = pk["challenge"].as_str().expect("challenge");
        let client_data = client_data("webauthn.create", challenge, &self.origin);
        let mut attestation = Vec::new();
        head(&mut attestation, 5, 3);
        text(&mut attestation, "fmt");
        text(&mut attestation, "none");
        text(&mut attestation, "attStmt");
        head(&mut attestation, 5, 0);
        text(&mut attestation, "authData");
        bytes(&mut attestation, &self.auth_data(UP_UV, true));
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {"attestationObject": b64(&attestation), "clientDataJSON": b64(&client_data)},
            "extensions": {}
        })
    }

    /// The answer to sign-in options: an assertion over their challenge,
    /// the counter moved on by one first.
    pub fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        self.assert_as(options, &self.credential_id.clone(), &self.user_handle.clone())
    }

    /// An assertion that names `credential_id` and `user_handle`, whatever
    /// they are (an attacker's), signed with this passkey's key, at the
    /// current counter.
    pub fn assert_as(&self, options: &Value, credential_id: &[u8], user_handle: &[u8]) -> Value {
        let challenge = options["publicKey"]["challenge"].as_str().expect("challenge");
        let client_data = client_data("webauthn.get", challenge, &self.origin);
        let auth_data = self.auth_data(UP_UV, false);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = self.key.sign(&signed);
        json!({
            "id": b64(credential_id),
            "rawId": b64(credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_bytes()),
                "userHandle": b64(user_handle)
            },
            "extensions": {}
        })
    }
}
