//! Key custody. The issuer's signing keys, the transparency log's key and the
//! door-code master secret live in a key file, never in the database: a dump
//! of the database holds nothing that opens a door.
//!
//! - **Signing behind a trait**: everything the service signs goes through a
//!   [`Signer`] (the issuer's credentials, revocation bundles, key updates,
//!   time statements and remote unlocks; the log's checkpoints). The key
//!   file's keys are [`FileSigner`]s; an HSM or a cloud KMS is another
//!   implementation of the same trait, handed to [`KeyRing`] in their place.
//! - **Sealed at rest**: with a key-encryption key (`DOORMAN_KEY_ENCRYPTION_KEY`,
//!   32 random bytes in base64) the file is written as one XChaCha20-Poly1305
//!   box ([`SEALED_FORMAT`]); a plain file still loads, and `doorman keys
//!   encrypt` seals it in place (a new file renamed over the old one, so
//!   nothing is ever half written).
//! - **Rotation without a restart** (see `rotation.rs`): the file keeps every
//!   issuer key by id, one active for signing, a new one *pending* while the
//!   locks learn it from a signed key update, retired ones remembered so the
//!   latest key update can name them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use doorman_protocol::keys::IssuerSigningKey;
use doorman_protocol::trust::{issue_key_update, KeyUpdateOp};
use doorman_protocol::{Algorithm, IssuerSigner, KeyId, KeyUsage, PublicKey, SignError, TrustedKey};
use serde::{Deserialize, Serialize};

use crate::auth::random_bytes;
use crate::ServiceError;

/// What went wrong with the key file; the message names the file and the
/// problem (it never holds key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(pub String);

impl From<KeyFileError> for ServiceError {
    fn from(e: KeyFileError) -> Self {
        ServiceError::Internal(e.0)
    }
}

type KeyResult<T> = Result<T, KeyFileError>;

fn err(message: impl Into<String>) -> KeyFileError {
    KeyFileError(message.into())
}

// --- signing behind a trait ---------------------------------------------------

/// Holds a private key and signs with it. The key file's keys are
/// [`FileSigner`]s; a hardware module or a key service implements the same
/// two calls, and the rest of the service cannot tell the difference.
pub trait Signer: Send + Sync {
    /// The public half: what locks (issuer keys) or verifiers (the log's
    /// key, which must be Ed25519) are given.
    fn public_key(&self) -> PublicKey;
    /// The 64-byte signature of `message` (Ed25519, or ES256 as `r || s`).
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError>;
}

/// A key held in this process's memory, read from the key file.
pub struct FileSigner(IssuerSigningKey);

impl FileSigner {
    /// The Ed25519 key with this seed.
    pub fn ed25519(seed: &[u8; 32]) -> Self {
        Self(IssuerSigningKey::from_ed25519_secret(seed))
    }
}

impl Signer for FileSigner {
    fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        self.0.try_sign64(message)
    }
}

/// An issuer key: its id and whatever signs for it.
#[derive(Clone)]
pub struct IssuerKey {
    /// The 8-byte key id, as in a credential's protected header.
    pub kid: Vec<u8>,
    pub signer: Arc<dyn Signer>,
}

impl IssuerKey {
    pub fn new(kid: KeyId, signer: Arc<dyn Signer>) -> Self {
        Self { kid: kid.0.to_vec(), signer }
    }

    /// The base64url key id.
    pub fn kid_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.kid)
    }

    /// The trust anchor a lock holds for this key.
    pub fn trusted(&self, usage: KeyUsage) -> TrustedKey {
        TrustedKey { kid: self.key_id(), key: self.signer.public_key(), usage }
    }
}

impl IssuerSigner for IssuerKey {
    fn key_id(&self) -> KeyId {
        let mut id = [0u8; 8];
        for (d, s) in id.iter_mut().zip(&self.kid) {
            *d = *s;
        }
        KeyId(id)
    }

    fn algorithm(&self) -> Algorithm {
        self.signer.public_key().algorithm()
    }

    fn try_sign64(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        self.signer.sign(msg)
    }
}

// --- the file ---------------------------------------------------------------------

#[derive(Clone, Serialize, Deserialize)]
pub struct IssuerKeyEntry {
    /// base64url key id.
    pub kid: String,
    /// base64url Ed25519 seed.
    pub seed: String,
    pub created_at: i64,
    #[serde(default)]
    pub retired: bool,
    /// The key update that first told the locks of this key (none: it was
    /// a trust anchor from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced_in: Option<u64>,
}

/// A key announced to the locks that does not sign yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingKey {
    pub kid: String,
    pub announced_at: i64,
    /// When it signs even if some lock has not said it holds it.
    pub activate_by: i64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub active_kid: String,
    pub issuer_keys: Vec<IssuerKeyEntry>,
    /// base64url, 32 bytes: each lock's door-code secret is derived from it.
    pub door_code_master: String,
    /// base64url Ed25519 seed of the transparency log's key, which signs its
    /// checkpoints (under the log's origin as key name). Added to an older
    /// key file on its next start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_seed: Option<String>,
    /// The sequence number of the latest key update (0: none was issued).
    #[serde(default)]
    pub key_update_sequence: u64,
    /// The key that signs the latest key update: the oldest key the locks
    /// held before it, so a lock that missed earlier updates still checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_update_signer: Option<String>,
    /// When the latest key update was made: a lock registered since was
    /// given the keys it states as trust anchors and needs no update.
    #[serde(default)]
    pub key_update_at: i64,
    /// A rotation under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingKey>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile").field("active_kid", &self.active_kid).finish_non_exhaustive()
    }
}

/// Decoded key material, ready for signing.
#[derive(Clone)]
pub struct KeyRing {
    pub active: IssuerKey,
    /// Every key locks should trust now (the active one, a pending one, and
    /// older ones not retired yet).
    pub published: Vec<IssuerKey>,
    pub door_code_master: [u8; 32],
    /// The transparency log's key (Ed25519).
    pub log: Arc<dyn Signer>,
    /// The key update locks should hold, if any was issued.
    pub key_update: Option<KeyUpdatePlan>,
    /// The key announced and not signing yet.
    pub pending: Option<(IssuerKey, PendingKey, u64)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("active_kid", &self.active.kid).finish_non_exhaustive()
    }
}

/// What the latest key update says, and who signs it.
#[derive(Clone)]
pub struct KeyUpdatePlan {
    pub sequence: u64,
    /// When it was made.
    pub made_at: i64,
    pub signer: IssuerKey,
    pub retired: Vec<KeyId>,
}

/// Most retirements a key update restates (a lock remembers 8 key ids).
const MAX_RETIREMENTS_RESTATED: usize = 6;

impl KeyRing {
    /// The latest key update, signed: cumulative (every key to trust, every
    /// retirement remembered), so a lock that missed some catches up with
    /// this one alone.
    pub fn key_update(&self) -> Result<Option<(u64, Vec<u8>)>, ServiceError> {
        let Some(plan) = &self.key_update else { return Ok(None) };
        let mut ops: Vec<KeyUpdateOp> =
            plan.retired.iter().take(MAX_RETIREMENTS_RESTATED).map(|kid| KeyUpdateOp::Retire(*kid)).collect();
        ops.extend(self.published.iter().map(|k| KeyUpdateOp::Add(k.trusted(KeyUsage::ALL))));
        let update = issue_key_update(&plan.signer, plan.sequence, &ops)
            .map_err(|e| ServiceError::Internal(format!("cannot sign key update {}: {e}", plan.sequence)))?;
        Ok(Some((plan.sequence, update.as_bytes().to_vec())))
    }
}

fn decode32(what: &str, text: &str) -> KeyResult<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| err(format!("key file: {what} is not base64url")))?;
    bytes.try_into().map_err(|_| err(format!("key file: {what} is not 32 bytes")))
}

fn random32() -> KeyResult<[u8; 32]> {
    random_bytes::<32>().map_err(|e| err(format!("key file: {e}")))
}

impl KeyFile {
    pub fn generate(now: i64) -> KeyResult<Self> {
        let entry = IssuerKeyEntry::generate(now)?;
        Ok(Self {
            active_kid: entry.kid.clone(),
            issuer_keys: vec![entry],
            door_code_master: URL_SAFE_NO_PAD.encode(random32()?),
            log_seed: Some(URL_SAFE_NO_PAD.encode(random32()?)),
            key_update_sequence: 0,
            key_update_signer: None,
            key_update_at: 0,
            pending: None,
        })
    }

    /// Adds a new active key at once; the old one stays published until
    /// retired. The offline rotation (`doorman keys rotate --offline`): the
    /// locks learn nothing of it, so prefer [`KeyFile::announce`].
    pub fn rotate(&mut self, now: i64) -> KeyResult<String> {
        let entry = IssuerKeyEntry::generate(now)?;
        let kid = entry.kid.clone();
        self.issuer_keys.push(entry);
        self.active_kid = kid.clone();
        Ok(kid)
    }

    /// The oldest key that is not retired: every lock that took the latest
    /// key update (or was provisioned since) holds it.
    fn oldest_published(&self) -> Option<String> {
        self.issuer_keys.iter().filter(|e| !e.retired).min_by_key(|e| e.created_at).map(|e| e.kid.clone())
    }

    /// Starts an online rotation: a new key, published at once (in the next
    /// key update and to locks provisioned from now on) but not signing
    /// until [`KeyFile::activate_pending`]. Returns its kid and the key
    /// update that announces it.
    pub fn announce(&mut self, now: i64, activate_by: i64) -> KeyResult<(String, u64)> {
        if let Some(p) = &self.pending {
            return Err(err(format!("key {} is already waiting to sign", p.kid)));
        }
        let signer = self.oldest_published();
        let mut entry = IssuerKeyEntry::generate(now)?;
        self.key_update_sequence += 1;
        entry.announced_in = Some(self.key_update_sequence);
        let kid = entry.kid.clone();
        self.issuer_keys.push(entry);
        self.key_update_signer = signer;
        self.key_update_at = now;
        self.pending = Some(PendingKey { kid: kid.clone(), announced_at: now, activate_by });
        Ok((kid, self.key_update_sequence))
    }

    /// The pending key signs from now on; returns its kid.
    pub fn activate_pending(&mut self) -> Option<String> {
        let pending = self.pending.take()?;
        self.active_kid = pending.kid.clone();
        Some(pending.kid)
    }

    /// Retires every key but the active one (locks stop trusting them with
    /// the key update this makes); returns their kids and the update.
    pub fn retire_inactive(&mut self, now: i64) -> KeyResult<(Vec<String>, u64)> {
        if let Some(p) = &self.pending {
            return Err(err(format!("key {} is still waiting to sign", p.kid)));
        }
        let signer = self.oldest_published();
        let mut retired = Vec::new();
        for e in &mut self.issuer_keys {
            if !e.retired && e.kid != self.active_kid {
                e.retired = true;
                retired.push(e.kid.clone());
            }
        }
        if retired.is_empty() {
            return Ok((retired, self.key_update_sequence));
        }
        self.key_update_sequence += 1;
        self.key_update_signer = signer;
        self.key_update_at = now;
        Ok((retired, self.key_update_sequence))
    }

    /// Checks and decodes every key into the signers the service uses.
    pub fn ring(&self) -> KeyResult<KeyRing> {
        let mut published = Vec::new();
        let mut retired = Vec::new();
        let mut active = None;
        let mut update_signer = None;
        let mut pending = None;
        for e in &self.issuer_keys {
            let seed = decode32("seed", &e.seed)?;
            let signer = FileSigner::ed25519(&seed);
            let kid = signer.0.key_id();
            if URL_SAFE_NO_PAD.encode(kid.0) != e.kid {
                return Err(err(format!("key file: kid {} does not match its key", e.kid)));
            }
            let key = IssuerKey::new(kid, Arc::new(signer));
            if e.kid == self.active_kid {
                active = Some(key.clone());
            }
            if self.key_update_signer.as_deref() == Some(e.kid.as_str()) {
                update_signer = Some(key.clone());
            }
            if let Some(p) = self.pending.as_ref().filter(|p| p.kid == e.kid) {
                pending = Some((key.clone(), p.clone(), e.announced_in.unwrap_or(self.key_update_sequence)));
            }
            if e.retired {
                retired.push((e.created_at, kid));
            } else {
                published.push(key);
            }
        }
        let active = active.ok_or_else(|| err("key file: the active kid has no key"))?;
        if self.pending.is_some() && pending.is_none() {
            return Err(err("key file: the pending kid has no key"));
        }
        // Newest retirements first: those are the ones a lock may not know yet.
        retired.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
        let key_update = match self.key_update_sequence {
            0 => None,
            sequence => Some(KeyUpdatePlan {
                sequence,
                made_at: self.key_update_at,
                signer: update_signer.ok_or_else(|| err("key file: the key update's signer has no key"))?,
                retired: retired.into_iter().map(|(_, kid)| kid).collect(),
            }),
        };
        let log_seed = self.log_seed.as_deref().ok_or_else(|| err("key file: no transparency log key (log_seed)"))?;
        Ok(KeyRing {
            active,
            published,
            door_code_master: decode32("door_code_master", &self.door_code_master)?,
            log: Arc::new(FileSigner::ed25519(&decode32("log_seed", log_seed)?)),
            key_update,
            pending,
        })
    }

    /// Reads the key file (plain), or creates it (mode 0600) on first start.
    pub fn load_or_create(path: &Path, now: i64) -> KeyResult<Self> {
        KeyCustody::new(path.to_path_buf(), None).load_or_create(now)
    }

    /// Writes atomically (a new file renamed over the old), readable by the owner only, plain.
    pub fn save(&self, path: &Path) -> KeyResult<()> {
        KeyCustody::new(path.to_path_buf(), None).save(self)
    }
}

impl IssuerKeyEntry {
    fn generate(now: i64) -> KeyResult<Self> {
        let seed = random32()?;
        let kid = crate::issuing::issuer_kid(&seed);
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(kid),
            seed: URL_SAFE_NO_PAD.encode(seed),
            created_at: now,
            retired: false,
            announced_in: None,
        })
    }
}

// --- sealed at rest --------------------------------------------------------------

/// The `format` of a sealed key file.
pub const SEALED_FORMAT: &str = "doorman-key-file-sealed/v1";

/// The key that seals the key file: 32 bytes, given in base64 (standard or
/// URL-safe) through `DOORMAN_KEY_ENCRYPTION_KEY`. Wiped when dropped.
#[derive(Clone)]
pub struct KeyEncryptionKey([u8; 32]);

impl Drop for KeyEncryptionKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// Parses the base64 text of 32 bytes.
    pub fn parse(text: &str) -> KeyResult<Self> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| err("DOORMAN_KEY_ENCRYPTION_KEY is not base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| err(format!("DOORMAN_KEY_ENCRYPTION_KEY must be 32 bytes, not {}", b.len())))?;
        Ok(Self(key))
    }

    /// A fresh random key, as base64 text.
    pub fn generate_text() -> KeyResult<String> {
        Ok(STANDARD.encode(random32()?))
    }

    fn cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit as _;
        chacha20poly1305::XChaCha20Poly1305::new(&chacha20poly1305::Key::from(self.0))
    }
}

#[derive(Serialize, Deserialize)]
struct SealedKeyFile {
    format: String,
    /// base64url, 24 bytes.
    nonce: String,
    /// base64url: the plain key file's JSON, sealed (tag appended).
    ciphertext: String,
}

/// Where the key file lives and how it is sealed.
#[derive(Clone, Debug)]
pub struct KeyCustody {
    pub path: PathBuf,
    pub encryption: Option<KeyEncryptionKey>,
}

impl KeyCustody {
    pub fn new(path: PathBuf, encryption: Option<KeyEncryptionKey>) -> Self {
        Self { path, encryption }
    }

    fn named(&self, what: impl std::fmt::Display) -> KeyFileError {
        err(format!("key file {}: {what}", self.path.display()))
    }

    /// Reads the key file, sealed or plain; says whether it was sealed.
    pub fn load(&self) -> KeyResult<(KeyFile, bool)> {
        let bytes = std::fs::read(&self.path).map_err(|e| self.named(e))?;
        self.open(&bytes)
    }

    fn open(&self, bytes: &[u8]) -> KeyResult<(KeyFile, bool)> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| self.named(e))?;
        if value.get("format").is_none() {
            let file: KeyFile = serde_json::from_value(value).map_err(|e| self.named(e))?;
            return Ok((file, false));
        }
        let sealed: SealedKeyFile = serde_json::from_value(value).map_err(|e| self.named(e))?;
        if sealed.format != SEALED_FORMAT {
            return Err(self.named(format!("unknown format {:?}", sealed.format)));
        }
        let Some(kek) = &self.encryption else {
            return Err(self.named("it is encrypted: set DOORMAN_KEY_ENCRYPTION_KEY to the key that sealed it"));
        };
        let nonce: [u8; 24] = URL_SAFE_NO_PAD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| self.named("its nonce is not 24 bytes of base64url"))?;
        let ciphertext =
            URL_SAFE_NO_PAD.decode(&sealed.ciphertext).map_err(|_| self.named("its ciphertext is not base64url"))?;
        use chacha20poly1305::aead::{Aead as _, Payload};
        let plain = kek
            .cipher()
            .decrypt(
                &chacha20poly1305::XNonce::from(nonce),
                Payload { msg: &ciphertext, aad: SEALED_FORMAT.as_bytes() },
            )
            .map_err(|_| {
                self.named("DOORMAN_KEY_ENCRYPTION_KEY does not open it (a wrong key, or the file was altered)")
            })?;
        let file = serde_json::from_slice(&plain).map_err(|e| self.named(e))?;
        Ok((file, true))
    }

    /// Reads the key file, or creates it on first start (sealed when a
    /// key-encryption key is set). A key file without a transparency log
    /// key gets one (and is saved).
    pub fn load_or_create(&self, now: i64) -> KeyResult<KeyFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let (mut file, sealed) = self.open(&bytes)?;
                if !sealed && self.encryption.is_some() {
                    tracing::warn!(path = %self.path.display(), "the key file is not encrypted: run `doorman keys encrypt`");
                }
                if file.log_seed.is_none() {
                    file.log_seed = Some(URL_SAFE_NO_PAD.encode(random32()?));
                    self.write(&file, sealed || self.encryption.is_some())?;
                }
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = KeyFile::generate(now)?;
                self.save(&file)?;
                Ok(file)
            }
            Err(e) => Err(self.named(e)),
        }
    }

    /// Writes `file`, sealed when a key-encryption key is set.
    pub fn save(&self, file: &KeyFile) -> KeyResult<()> {
        self.write(file, self.encryption.is_some())
    }

    /// Seals a plain key file in place; false if it already was sealed.
    pub fn encrypt_in_place(&self) -> KeyResult<bool> {
        if self.encryption.is_none() {
            return Err(err("set DOORMAN_KEY_ENCRYPTION_KEY to the key that is to seal the key file"));
        }
        let (file, sealed) = self.load()?;
        if sealed {
            return Ok(false);
        }
        self.write(&file, true)?;
        Ok(true)
    }

    fn write(&self, file: &KeyFile, sealed: bool) -> KeyResult<()> {
        let io = |e: std::io::Error| self.named(e);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let plain = serde_json::to_vec_pretty(file).map_err(|e| self.named(e))?;
        let text = match (sealed, &self.encryption) {
            (true, Some(kek)) => {
                use chacha20poly1305::aead::{Aead as _, Payload};
                let nonce = random_bytes::<24>().map_err(|e| self.named(e))?;
                let ciphertext = kek
                    .cipher()
                    .encrypt(
                        &chacha20poly1305::XNonce::from(nonce),
                        Payload { msg: &plain, aad: SEALED_FORMAT.as_bytes() },
                    )
                    .map_err(|_| self.named("cannot seal it"))?;
                let sealed = SealedKeyFile {
                    format: SEALED_FORMAT.into(),
                    nonce: URL_SAFE_NO_PAD.encode(nonce),
                    ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
                };
                serde_json::to_vec_pretty(&sealed).map_err(|e| self.named(e))?
            }
            (true, None) => return Err(self.named("it is encrypted and no key-encryption key is set")),
            (false, _) => plain,
        };
        let tmp = self.path.with_extension("tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(io)?;
            f.write_all(&text).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        // The rename is durable once the folder is synced.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("doorman-keys-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_sealed_key_file_opens_only_with_its_key_and_holds_no_seed_in_clear() {
        let d = dir();
        let path = d.join("keys.json");
        let plain = KeyCustody::new(path.clone(), None);
        let file = plain.load_or_create(1_000).unwrap();
        let seed = file.issuer_keys[0].seed.clone();
        assert!(std::fs::read_to_string(&path).unwrap().contains(&seed));

        let kek = KeyEncryptionKey::parse(&KeyEncryptionKey::generate_text().unwrap()).unwrap();
        let sealed = KeyCustody::new(path.clone(), Some(kek));
        // A plain file still loads with a key set (the migration path)...
        assert_eq!(sealed.load().unwrap().0.active_kid, file.active_kid);
        // ...and is sealed in place, once.
        assert!(sealed.encrypt_in_place().unwrap());
        assert!(!sealed.encrypt_in_place().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(SEALED_FORMAT) && !text.contains(&seed), "{text}");
        let (opened, was_sealed) = sealed.load().unwrap();
        assert!(was_sealed);
        assert_eq!(opened.issuer_keys[0].seed, seed);

        let none = plain.load().unwrap_err().to_string();
        assert!(none.contains("set DOORMAN_KEY_ENCRYPTION_KEY"), "{none}");
        let other = KeyEncryptionKey::parse(&KeyEncryptionKey::generate_text().unwrap()).unwrap();
        let wrong = KeyCustody::new(path.clone(), Some(other)).load().unwrap_err().to_string();
        assert!(wrong.contains("does not open it"), "{wrong}");
        assert!(KeyEncryptionKey::parse("c2hvcnQ=").unwrap_err().to_string().contains("32 bytes"));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_rotation_announces_then_activates_then_retires() {
        let mut file = KeyFile::generate(1_000).unwrap();
        let old = file.active_kid.clone();
        assert!(file.ring().unwrap().key_update().unwrap().is_none());
        let (new, seq) = file.announce(2_000, 3_000).unwrap();
        assert_eq!(seq, 1);
        assert!(file.announce(2_001, 3_000).is_err(), "one rotation at a time");
        let ring = file.ring().unwrap();
        assert_eq!(ring.active.kid_text(), old, "the old key signs until the new one is active");
        assert_eq!(ring.published.len(), 2);
        assert_eq!(ring.key_update.as_ref().unwrap().signer.kid_text(), old);

        // A lock provisioned with the old key takes the update and then trusts both.
        let old_key = ring.active.trusted(KeyUsage::ALL);
        let mut trust = doorman_protocol::trust::TrustStore::new(&[old_key]).unwrap();
        let (_, update) = ring.key_update().unwrap().unwrap();
        assert_eq!(trust.apply_update(&update).unwrap().active_keys, 2);

        assert!(file.retire_inactive(2_500).is_err(), "not while a key waits");
        assert_eq!(file.activate_pending(), Some(new.clone()));
        let (retired, seq) = file.retire_inactive(2_600).unwrap();
        assert_eq!((retired, seq), (vec![old.clone()], 2));
        let ring = file.ring().unwrap();
        assert_eq!(ring.active.kid_text(), new);
        assert_eq!(ring.published.len(), 1);
        // Signed by the retiring key, which every lock still holds.
        assert_eq!(ring.key_update.as_ref().unwrap().signer.kid_text(), old);
        let (_, update) = ring.key_update().unwrap().unwrap();
        assert_eq!(trust.apply_update(&update).unwrap().active_keys, 1);
        // A lock that missed the first update catches up with the latest alone.
        let mut behind = doorman_protocol::trust::TrustStore::new(&[old_key]).unwrap();
        assert_eq!(behind.apply_update(&update).unwrap().sequence, 2);
        assert!(matches!(behind.status(&KeyId([0; 8])), doorman_protocol::KeyStatus::Unknown));
    }
}
