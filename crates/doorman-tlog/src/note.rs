//! C2SP signed notes (`c2sp.org/signed-note`): text signed by one or more
//! named keys, the envelope of checkpoints and cosignatures.
//!
//! ```text
//! <text, ending in a newline>
//!
//! — <key name> base64(4-byte key ID || signature)
//! — <key name> base64(4-byte key ID || signature)
//! ```
//!
//! Keys are identified by name and a 4-byte key ID derived from the name, a
//! signature type byte and the public key. Verifier keys travel as "vkey"
//! strings, `<name>+<8 hex digits of key ID>+base64(type byte || public key)`.
//! This module knows two signature types: plain Ed25519 note signatures
//! (0x01, what a log signs its checkpoints with) and timestamped Ed25519
//! witness cosignatures (0x04, see [`crate::cosignature`]).

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::cosignature::{cosigned_message, MAX_TIMESTAMP};

/// Largest note accepted by [`Note::parse`], in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// Most signature lines accepted by [`Note::parse`] (the spec asks for at
/// least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Longest base64 signature accepted on a signature line (room for
/// post-quantum signatures of a few kilobytes).
const MAX_SIGNATURE_BASE64: usize = 8192;

const EM_DASH_SPACE: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The signature algorithm behind a key, by its signed-note type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// 0x01: Ed25519 over the note text (log checkpoint signatures).
    Ed25519,
    /// 0x04: timestamped Ed25519 witness cosignature (`cosignature/v1`).
    Cosignature,
}

impl KeyKind {
    /// The signed-note signature type byte.
    pub const fn type_byte(self) -> u8 {
        match self {
            KeyKind::Ed25519 => 0x01,
            KeyKind::Cosignature => 0x04,
        }
    }

    fn from_type_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(KeyKind::Ed25519),
            0x04 => Some(KeyKind::Cosignature),
            _ => None,
        }
    }
}

/// Why a key string or key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Key names must be non-empty and contain no whitespace and no `+`.
    #[error("invalid key name: must be non-empty, without spaces or '+'")]
    InvalidName,
    /// The key string does not have the `name+hash+key` shape.
    #[error("malformed key string: {0}")]
    Malformed(&'static str),
    /// The type byte names an algorithm this crate does not support.
    #[error("unsupported key type 0x{0:02x}")]
    UnsupportedType(u8),
    /// The key ID in the string does not match the name and key.
    #[error("key ID {declared:08x} does not match the key (expected {computed:08x})")]
    KeyIdMismatch {
        /// The key ID written in the string.
        declared: u32,
        /// The key ID derived from name, type and public key.
        computed: u32,
    },
    /// The public key is not a valid Ed25519 point, or is a small-order
    /// point that would accept forged signatures.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
}

/// Why a note could not be parsed, built or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Size of the note.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note contains a control character other than newline.
    #[error("note contains a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// The note text is empty or does not end with a newline.
    #[error("note text must be non-empty and end with a newline")]
    TextNotTerminated,
    /// No blank line separates the text from the signatures.
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    /// The signature block is empty or does not end with a newline.
    #[error("note signature block is empty or lacks its final newline")]
    MalformedSignatureBlock,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A signature line is malformed.
    #[error("signature line {line}: {reason}")]
    MalformedSignatureLine {
        /// 1-based position of the line in the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key name is invalid.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A signature from a trusted key does not verify; the whole note is
    /// rejected.
    #[error("signature by {name} ({key_id:08x}) does not verify")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// The note carries no signature from any trusted key.
    #[error("note is not signed by any trusted key")]
    NoTrustedSignature,
}

/// A signature that does not verify under the key it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify")]
pub struct SignatureInvalid;

/// Checks a key name: non-empty, no Unicode whitespace, no `+`.
pub fn check_key_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(KeyError::InvalidName);
    }
    Ok(())
}

/// The key ID of a key: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || type byte || public key)`.
pub fn key_id(name: &str, kind: KeyKind, public_key: &[u8]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', kind.type_byte()]);
    hasher.update(public_key);
    let digest: [u8; 32] = hasher.finalize().into();
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

/// A trusted public key: verifies the note signatures it has made.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    kind: KeyKind,
    public_key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifierKey").field(&self.to_vkey()).finish()
    }
}

impl VerifierKey {
    /// A verifier key for an Ed25519 public key of the given kind.
    pub fn new(name: &str, kind: KeyKind, public_key: [u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let public_key = VerifyingKey::from_bytes(&public_key).map_err(|_| KeyError::InvalidPublicKey)?;
        if public_key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(VerifierKey { name: name.to_owned(), key_id: key_id(name, kind, public_key.as_bytes()), kind, public_key })
    }

    /// Parses a vkey string `<name>+<hex key ID>+<base64(type || key)>`,
    /// checking that the key ID matches.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        let (name, rest) = vkey.split_once('+').ok_or(KeyError::Malformed("expected name+hash+key"))?;
        let (id_hex, key_base64) = rest.split_once('+').ok_or(KeyError::Malformed("expected name+hash+key"))?;
        check_key_name(name)?;
        let declared = parse_key_id(id_hex)?;
        let decoded = decode_key_material(key_base64)?;
        let (type_byte, public_key) = decoded.split_first().ok_or(KeyError::Malformed("empty key material"))?;
        let kind = KeyKind::from_type_byte(*type_byte).ok_or(KeyError::UnsupportedType(*type_byte))?;
        let public_key: [u8; 32] =
            public_key.try_into().map_err(|_| KeyError::Malformed("Ed25519 public key must be 32 bytes"))?;
        let key = Self::new(name, kind, public_key)?;
        if key.key_id != declared {
            return Err(KeyError::KeyIdMismatch { declared, computed: key.key_id });
        }
        Ok(key)
    }

    /// The vkey string of this key.
    pub fn to_vkey(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(self.kind.type_byte());
        material.extend_from_slice(self.public_key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(material))
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature algorithm.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key.to_bytes()
    }

    /// Whether a signature line claims to come from this key.
    pub fn matches(&self, signature: &NoteSignature) -> bool {
        self.name == signature.name && self.key_id == signature.key_id
    }

    /// Checks `signature` (bytes after the key ID) over note `text`. Returns
    /// the cosignature timestamp for cosignature keys.
    pub fn verify(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, SignatureInvalid> {
        match self.kind {
            KeyKind::Ed25519 => {
                let signature = Signature::from_slice(signature).map_err(|_| SignatureInvalid)?;
                self.public_key.verify_strict(text.as_bytes(), &signature).map_err(|_| SignatureInvalid)?;
                Ok(None)
            }
            KeyKind::Cosignature => {
                let (timestamp, signature) = signature.split_first_chunk::<8>().ok_or(SignatureInvalid)?;
                let timestamp = u64::from_be_bytes(*timestamp);
                if timestamp > MAX_TIMESTAMP {
                    return Err(SignatureInvalid);
                }
                let signature = Signature::from_slice(signature).map_err(|_| SignatureInvalid)?;
                let message = cosigned_message(text, timestamp);
                self.public_key.verify_strict(&message, &signature).map_err(|_| SignatureInvalid)?;
                Ok(Some(timestamp))
            }
        }
    }
}

fn parse_key_id(hex: &str) -> Result<u32, KeyError> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Malformed("key ID must be 8 hex digits"));
    }
    u32::from_str_radix(hex, 16).map_err(|_| KeyError::Malformed("key ID must be 8 hex digits"))
}

fn decode_key_material(text: &str) -> Result<Vec<u8>, KeyError> {
    if text.len() > 64 {
        return Err(KeyError::Malformed("key material too long"));
    }
    BASE64.decode(text.as_bytes()).map_err(|_| KeyError::Malformed("key material is not base64"))
}

/// A private key that signs notes (a log signing its checkpoints), of kind
/// [`KeyKind::Ed25519`]. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (the RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id: key_id(name, KeyKind::Ed25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a signer key string `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01
    /// || seed)>`, checking that the key ID matches.
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        let (name, key_id, seed) = parse_private_key(skey, KeyKind::Ed25519)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.key_id != key_id {
            return Err(KeyError::KeyIdMismatch { declared: key_id, computed: signer.key_id });
        }
        Ok(signer)
    }

    /// The signer key string; handle it as the secret it is.
    pub fn to_skey(&self) -> String {
        private_key_string(&self.name, self.key_id, KeyKind::Ed25519, &self.key)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            kind: KeyKind::Ed25519,
            public_key: self.key.verifying_key(),
        }
    }

    /// Signs note text (which must end in a newline).
    pub fn sign(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }
}

pub(crate) fn parse_private_key(skey: &str, kind: KeyKind) -> Result<(&str, u32, [u8; 32]), KeyError> {
    let rest =
        skey.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(KeyError::Malformed("expected PRIVATE+KEY+name+hash+key"))?;
    let (name, rest) = rest.split_once('+').ok_or(KeyError::Malformed("expected PRIVATE+KEY+name+hash+key"))?;
    let (id_hex, key_base64) = rest.split_once('+').ok_or(KeyError::Malformed("expected PRIVATE+KEY+name+hash+key"))?;
    check_key_name(name)?;
    let declared = parse_key_id(id_hex)?;
    let decoded = decode_key_material(key_base64)?;
    let (type_byte, seed) = decoded.split_first().ok_or(KeyError::Malformed("empty key material"))?;
    if *type_byte != kind.type_byte() {
        return Err(KeyError::UnsupportedType(*type_byte));
    }
    let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::Malformed("Ed25519 private key must be 32 bytes"))?;
    Ok((name, declared, seed))
}

pub(crate) fn private_key_string(name: &str, key_id: u32, kind: KeyKind, key: &SigningKey) -> String {
    let mut material = Vec::with_capacity(33);
    material.push(kind.type_byte());
    material.extend_from_slice(key.as_bytes());
    format!("{PRIVATE_KEY_PREFIX}{name}+{key_id:08x}+{}", BASE64.encode(material))
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// The signature bytes after the key ID (for cosignatures: the 8-byte
    /// timestamp then the Ed25519 signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, `— <name> base64(key ID || signature)` and a
    /// newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!("{EM_DASH_SPACE}{} {}\n", self.name, BASE64.encode(blob))
    }

    /// Parses one signature line, without its newline; never panics.
    pub fn parse_line(line: &str) -> Result<Self, &'static str> {
        let rest = line.strip_prefix(EM_DASH_SPACE).ok_or("does not start with an em dash and a space")?;
        let (name, encoded) = rest.split_once(' ').ok_or("expected a key name, a space and a signature")?;
        check_key_name(name).map_err(|_| "invalid key name")?;
        if encoded.len() > MAX_SIGNATURE_BASE64 {
            return Err("signature too long");
        }
        let blob = BASE64.decode(encoded.as_bytes()).map_err(|_| "signature is not base64")?;
        let (key_id, signature) = blob.split_first_chunk::<4>().ok_or("signature shorter than its key ID")?;
        if signature.is_empty() {
            return Err("signature shorter than its key ID");
        }
        Ok(NoteSignature { name: name.to_owned(), key_id: u32::from_be_bytes(*key_id), signature: signature.to_vec() })
    }

    /// The timestamp of a cosignature line (the 8 bytes after the key ID),
    /// without verifying anything.
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        let (timestamp, _) = self.signature.split_first_chunk::<8>()?;
        Some(u64::from_be_bytes(*timestamp))
    }
}

/// A signature that verified under a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// Signature algorithm.
    pub kind: KeyKind,
    /// For cosignatures: when the witness signed (POSIX seconds).
    pub timestamp: Option<u64>,
}

/// A signed note: text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    if let Some(offset) = control_character(text) {
        return Err(NoteError::ControlCharacter { offset });
    }
    Ok(())
}

fn control_character(text: &str) -> Option<usize> {
    text.bytes().position(|b| b < 0x20 && b != b'\n')
}

impl Note {
    /// An unsigned note. The text must end in a newline and contain no
    /// control characters other than newlines.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Note { text, signatures: Vec::new() })
    }

    pub(crate) fn from_checked_text(text: String) -> Self {
        Note { text, signatures: Vec::new() }
    }

    /// Parses a signed note; never panics, whatever the input.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge { size: bytes.len(), max: MAX_NOTE_SIZE });
        }
        let note = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if let Some(offset) = control_character(note) {
            return Err(NoteError::ControlCharacter { offset });
        }
        let separator = note.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, block) = note.split_at(separator + 1);
        let block = block.strip_prefix('\n').ok_or(NoteError::MissingSignatureBlock)?;
        let block =
            block.strip_suffix('\n').filter(|lines| !lines.is_empty()).ok_or(NoteError::MalformedSignatureBlock)?;
        let mut signatures = Vec::new();
        for (number, line) in block.split('\n').enumerate() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES });
            }
            let signature = NoteSignature::parse_line(line)
                .map_err(|reason| NoteError::MalformedSignatureLine { line: number + 1, reason })?;
            signatures.push(signature);
        }
        Ok(Note { text: text.to_owned(), signatures })
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, trusted or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (from a signer, or a cosignature returned by a
    /// witness). Refuses to go beyond [`MAX_SIGNATURES`].
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        check_key_name(&signature.name)?;
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES });
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the note with `signer` and adds the signature line.
    pub fn sign(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let signature = signer.sign(&self.text)?;
        self.add_signature(signature)
    }

    /// The note in its wire form: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 120 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.to_line());
        }
        out
    }

    /// Verifies the note against a set of trusted keys.
    ///
    /// Signatures from unknown keys (no key with the same name *and* key ID)
    /// are ignored. A signature from a known key that fails rejects the whole
    /// note. At least one signature must come from a known key. Returns the
    /// verified signatures, each key once.
    pub fn verify(&self, trusted: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for signature in &self.signatures {
            let mut candidates = trusted.iter().filter(|key| key.matches(signature)).peekable();
            if candidates.peek().is_none() {
                continue;
            }
            let outcome = candidates
                .find_map(|key| key.verify(&self.text, &signature.signature).ok().map(|timestamp| (key, timestamp)));
            let Some((key, timestamp)) = outcome else {
                return Err(NoteError::InvalidSignature { name: signature.name.clone(), key_id: signature.key_id });
            };
            let already =
                verified.iter().any(|seen| seen.name == key.name && seen.key_id == key.key_id && seen.kind == key.kind);
            if !already {
                verified.push(VerifiedSignature {
                    name: key.name.clone(),
                    key_id: key.key_id,
                    kind: key.kind,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed("example.com/log", [7; 32]).unwrap()
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let signer = signer();
        let mut note = Note::new("hello\nworld\n").unwrap();
        note.sign(&signer).unwrap();
        let parsed = Note::parse(note.to_text().as_bytes()).unwrap();
        assert_eq!(parsed, note);
        let verified = parsed.verify(&[signer.verifier_key()]).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].name, "example.com/log");
    }

    #[test]
    fn vkey_and_skey_round_trip() {
        let signer = signer();
        let vkey = signer.verifier_key().to_vkey();
        assert_eq!(VerifierKey::parse(&vkey), Ok(signer.verifier_key()));
        let reparsed = NoteSigner::parse(&signer.to_skey()).unwrap();
        assert_eq!(reparsed.verifier_key(), signer.verifier_key());
        assert!(!format!("{signer:?}").contains(&signer.to_skey()));
    }

    #[test]
    fn unknown_keys_are_ignored_but_bad_known_signatures_reject() {
        let signer = signer();
        let other = NoteSigner::from_seed("example.com/other", [8; 32]).unwrap();
        let mut note = Note::new("text\n").unwrap();
        note.sign(&other).unwrap();
        assert_eq!(note.verify(&[signer.verifier_key()]), Err(NoteError::NoTrustedSignature));
        note.sign(&signer).unwrap();
        assert!(note.verify(&[signer.verifier_key()]).is_ok());
        // A forged line with the trusted name and key ID fails the note.
        let mut forged = note.clone();
        forged
            .add_signature(NoteSignature {
                name: signer.name().to_owned(),
                key_id: signer.key_id(),
                signature: vec![0; 64],
            })
            .unwrap();
        assert!(matches!(forged.verify(&[signer.verifier_key()]), Err(NoteError::InvalidSignature { .. })));
    }

    #[test]
    fn malformed_notes_are_rejected_with_reasons() {
        let cases: &[(&[u8], NoteError)] = &[
            (b"no signatures\n", NoteError::MissingSignatureBlock),
            (b"text\n\n", NoteError::MalformedSignatureBlock),
            (b"text\n\n\xe2\x80\x94 name AAAAAAA=", NoteError::MalformedSignatureBlock),
            (b"\xff\n\n", NoteError::NotUtf8),
            (b"a\tb\n\n", NoteError::ControlCharacter { offset: 1 }),
            (
                b"text\n\n- name AAAAAAA=\n",
                NoteError::MalformedSignatureLine { line: 1, reason: "does not start with an em dash and a space" },
            ),
            (
                "text\n\n\u{2014} name AAAA\n".as_bytes(),
                NoteError::MalformedSignatureLine { line: 1, reason: "signature shorter than its key ID" },
            ),
            (
                "text\n\n\u{2014} na+me AAAAAAA=\n".as_bytes(),
                NoteError::MalformedSignatureLine { line: 1, reason: "invalid key name" },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Note::parse(input).as_ref(), Err(expected), "{input:?}");
        }
        assert_eq!(Note::new("no newline"), Err(NoteError::TextNotTerminated));
        assert!(matches!(Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]), Err(NoteError::TooLarge { .. })));
    }

    #[test]
    fn bad_key_strings_are_rejected() {
        let vkey = signer().verifier_key().to_vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        let (_, material) = rest.split_once('+').unwrap();
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+00000000+{material}")),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert!(VerifierKey::parse("name+1234+AQ==").is_err());
        assert!(VerifierKey::parse("").is_err());
        assert!(VerifierKey::parse("a b+00000000+AQ==").is_err());
        // Small-order points accept forged signatures; refuse them.
        assert_eq!(VerifierKey::new("weak", KeyKind::Ed25519, [0; 32]).map(|_| ()), Err(KeyError::InvalidPublicKey));
    }
}
