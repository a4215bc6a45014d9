//! Key custody. The issuer's signing keys and the door-code master secret
//! live in a key file (or the environment), never in the database: a dump of
//! the database holds nothing that opens a door.
//!
//! The file keeps every key by id; one is active for signing, the others stay
//! published as trust anchors until retired, so keys rotate without downtime.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::auth::random_bytes;
use crate::{ServiceError, ServiceResult};

#[derive(Clone, Serialize, Deserialize)]
pub struct IssuerKeyEntry {
    /// base64url key id.
    pub kid: String,
    /// base64url Ed25519 seed.
    pub seed: String,
    pub created_at: i64,
    #[serde(default)]
    pub retired: bool,
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
    pub published: Vec<IssuerKey>,
    pub door_code_master: [u8; 32],
    /// The transparency log's signing key seed.
    pub log_seed: [u8; 32],
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("active_kid", &self.active.kid).finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct IssuerKey {
    pub kid: Vec<u8>,
    /// Built once: deriving the public half costs a scalar multiplication.
    pub signer: std::sync::Arc<doorman_protocol::keys::IssuerSigningKey>,
}

fn decode32(what: &str, text: &str) -> ServiceResult<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| ServiceError::Internal(format!("key file: {what} is not base64url")))?;
    bytes.try_into().map_err(|_| ServiceError::Internal(format!("key file: {what} is not 32 bytes")))
}

impl KeyFile {
    pub fn generate(now: i64) -> ServiceResult<Self> {
        let entry = IssuerKeyEntry::generate(now)?;
        Ok(Self {
            active_kid: entry.kid.clone(),
            issuer_keys: vec![entry],
            door_code_master: URL_SAFE_NO_PAD.encode(random_bytes::<32>()?),
            log_seed: Some(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)),
        })
    }

    /// Adds a new active key; the old one stays published until retired.
    pub fn rotate(&mut self, now: i64) -> ServiceResult<String> {
        let entry = IssuerKeyEntry::generate(now)?;
        let kid = entry.kid.clone();
        self.issuer_keys.push(entry);
        self.active_kid = kid.clone();
        Ok(kid)
    }

    pub fn ring(&self) -> ServiceResult<KeyRing> {
        let mut published = Vec::new();
        let mut active = None;
        for e in &self.issuer_keys {
            let seed = decode32("seed", &e.seed)?;
            let signer = doorman_protocol::keys::IssuerSigningKey::from_ed25519_secret(&seed);
            let kid = signer.key_id().0.to_vec();
            if URL_SAFE_NO_PAD.encode(&kid) != e.kid {
                return Err(ServiceError::Internal(format!("key file: kid {} does not match its key", e.kid)));
            }
            let key = IssuerKey { kid, signer: std::sync::Arc::new(signer) };
            if e.kid == self.active_kid {
                active = Some(key.clone());
            }
            if !e.retired {
                published.push(key);
            }
        }
        let active = active.ok_or_else(|| ServiceError::Internal("key file: the active kid has no key".into()))?;
        let log_seed = self
            .log_seed
            .as_deref()
            .ok_or_else(|| ServiceError::Internal("key file: no transparency log key (log_seed)".into()))?;
        Ok(KeyRing {
            active,
            published,
            door_code_master: decode32("door_code_master", &self.door_code_master)?,
            log_seed: decode32("log_seed", log_seed)?,
        })
    }

    /// Reads the key file, or creates it (mode 0600) on first start. A key
    /// file without a transparency log key gets one (and is saved).
    pub fn load_or_create(path: &Path, now: i64) -> ServiceResult<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mut file: Self = serde_json::from_slice(&bytes)
                    .map_err(|e| ServiceError::Internal(format!("key file {}: {e}", path.display())))?;
                if file.log_seed.is_none() {
                    file.log_seed = Some(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?));
                    file.save(path)?;
                }
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = Self::generate(now)?;
                file.save(path)?;
                Ok(file)
            }
            Err(e) => Err(ServiceError::Internal(format!("key file {}: {e}", path.display()))),
        }
    }

    /// Writes atomically (temp file, then rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> ServiceResult<()> {
        let io = |e: std::io::Error| ServiceError::Internal(format!("key file {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec_pretty(self).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let tmp = path.with_extension("tmp");
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
        std::fs::rename(&tmp, path).map_err(io)
    }
}

impl IssuerKeyEntry {
    fn generate(now: i64) -> ServiceResult<Self> {
        let seed = random_bytes::<32>()?;
        let kid = crate::issuing::issuer_kid(&seed);
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(kid),
            seed: URL_SAFE_NO_PAD.encode(seed),
            created_at: now,
            retired: false,
        })
    }
}
