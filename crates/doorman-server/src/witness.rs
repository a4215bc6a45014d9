//! A transparency log witness (`c2sp.org/tlog-witness`) as a small service
//! of its own (`doorman witness`): doorman-tlog's [`Witness`] state machine,
//! its cosigning key in a file, and its state (the last tree head cosigned
//! for each followed log) in another, written atomically before any
//! cosignature leaves. A witness that crashes after writing but before
//! answering has promised nothing it has not recorded; one that crashes
//! before writing has promised nothing at all.
//!
//! No HTTP here: the web crate maps [`WitnessHost::add_checkpoint`] and its
//! errors onto `POST /add-checkpoint`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use doorman_domain::Clock;
use doorman_tlog::{AddCheckpointRequest, Cosigner, Hash, TreeHead, VerifierKey, Witness, WitnessError};
use serde::{Deserialize, Serialize};

use crate::auth::random_bytes;
use crate::{ServiceError, ServiceResult};

/// The witness's persisted state: per log origin, the head last cosigned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WitnessState {
    pub logs: BTreeMap<String, StoredHead>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredHead {
    pub size: u64,
    /// Standard base64, as in checkpoints.
    pub root: String,
}

/// Why a checkpoint was not cosigned, or the witness could not answer.
#[derive(Debug, thiserror::Error)]
pub enum WitnessRefusal {
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The state could not be written: nothing was cosigned.
    #[error("witness state: {0}")]
    State(String),
}

/// A witness with its key, its followed logs and where its state lives.
pub struct WitnessHost {
    witness: Mutex<Witness>,
    state: Mutex<WitnessState>,
    state_path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WitnessHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessHost").field("state_path", &self.state_path).finish_non_exhaustive()
    }
}

fn internal(what: &str, path: &Path, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically: a temporary file, fsynced, renamed
/// over the old one, and the directory fsynced so the rename lasts.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads the witness's cosigning key (`PRIVATE+KEY+...`), or creates it
/// (mode 0600) under `name` on first start.
pub fn load_or_create_witness_key(path: &Path, name: &str) -> ServiceResult<Cosigner> {
    match std::fs::read_to_string(path) {
        Ok(text) => Cosigner::parse(text.trim()).map_err(|e| internal("witness key", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cosigner = Cosigner::from_seed(name, random_bytes::<32>()?)
                .map_err(|e| ServiceError::invalid(format!("witness name {name:?}: {e}")))?;
            write_atomically(path, format!("{}\n", cosigner.to_skey()).as_bytes(), 0o600)
                .map_err(|e| internal("witness key", path, e))?;
            Ok(cosigner)
        }
        Err(e) => Err(internal("witness key", path, e)),
    }
}

impl WitnessHost {
    /// A witness following the logs of `log_keys` (each log's origin is its
    /// key's name), resuming from the state file if there is one.
    pub fn open(
        cosigner: Cosigner,
        log_keys: &[VerifierKey],
        state_path: &Path,
        clock: Arc<dyn Clock>,
    ) -> ServiceResult<Self> {
        let state: WitnessState = match std::fs::read(state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| internal("witness state", state_path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => WitnessState::default(),
            Err(e) => return Err(internal("witness state", state_path, e)),
        };
        let mut witness = Witness::new(cosigner);
        let mut origins: BTreeMap<&str, Vec<VerifierKey>> = BTreeMap::new();
        for key in log_keys {
            origins.entry(key.name()).or_default().push(key.clone());
        }
        for (origin, keys) in origins {
            let latest = match state.logs.get(origin) {
                Some(head) => Some(TreeHead {
                    size: head.size,
                    root: Hash::from_base64(&head.root).map_err(|e| internal("witness state", state_path, e))?,
                }),
                None => None,
            };
            witness.follow(origin, keys, latest).map_err(|e| ServiceError::invalid(e.to_string()))?;
        }
        Ok(Self { witness: Mutex::new(witness), state: Mutex::new(state), state_path: state_path.into(), clock })
    }

    /// The witness's public key (type 0x04), for logs and their clients.
    pub fn verifier_key(&self) -> ServiceResult<VerifierKey> {
        self.witness
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .verifier_key()
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// The head last cosigned for a log.
    pub fn latest(&self, origin: &str) -> Option<TreeHead> {
        self.witness.lock().unwrap_or_else(PoisonError::into_inner).latest(origin)
    }

    /// `POST /add-checkpoint`: checks the request, records the new head
    /// durably, and only then returns the cosignature line. Blocking (it
    /// writes and fsyncs a file).
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessRefusal> {
        let request = AddCheckpointRequest::parse(body)?;
        let now = u64::try_from(self.clock.now()).unwrap_or(0);
        // One request at a time: check, persist, commit.
        let mut witness = self.witness.lock().unwrap_or_else(PoisonError::into_inner);
        let cosigned = witness.check(&request, now)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = state.clone();
        next.logs.insert(
            cosigned.origin.clone(),
            StoredHead { size: cosigned.head.size, root: cosigned.head.root.to_base64() },
        );
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| WitnessRefusal::State(e.to_string()))?;
        write_atomically(&self.state_path, &bytes, 0o644).map_err(|e| WitnessRefusal::State(e.to_string()))?;
        *state = next;
        witness.commit(&cosigned)?;
        Ok(cosigned.response_body())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use doorman_domain::ManualClock;
    use doorman_tlog::{Checkpoint, MemoryTree, Note, NoteSigner};

    use super::*;

    const ORIGIN: &str = "doorman.example/log";

    fn request(tree: &MemoryTree, log: &NoteSigner, old: u64) -> Vec<u8> {
        let checkpoint = Checkpoint::new(ORIGIN, tree.size(), tree.root()).unwrap().sign(log).unwrap();
        AddCheckpointRequest {
            old_size: old,
            proof: tree.consistency_proof(old, tree.size()).unwrap().path,
            checkpoint: checkpoint.to_text().into_bytes(),
        }
        .to_bytes()
    }

    #[test]
    fn cosigns_persists_and_resumes_from_its_state() {
        let dir = std::env::temp_dir().join(format!("doorman-witness-{}", uuid::Uuid::new_v4().simple()));
        let key_path = dir.join("witness.key");
        let state_path = dir.join("witness.state.json");
        let log = NoteSigner::from_seed(ORIGIN, [5; 32]).unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let cosigner = load_or_create_witness_key(&key_path, "witness.example/w1").unwrap();
        let same = load_or_create_witness_key(&key_path, "ignored").unwrap();
        assert_eq!(same.verifier_key(), cosigner.verifier_key());

        let host = WitnessHost::open(cosigner.clone(), &[log.verifier_key()], &state_path, clock.clone()).unwrap();
        let mut tree = MemoryTree::new();
        for i in 0u32..5 {
            tree.append(&i.to_be_bytes()).unwrap();
        }
        let line = host.add_checkpoint(&request(&tree, &log, 0)).unwrap();
        let mut note =
            Note::parse(&Checkpoint::new(ORIGIN, 5, tree.root()).unwrap().sign(&log).unwrap().to_text().into_bytes())
                .unwrap();
        note.add_signature(doorman_tlog::NoteSignature::parse_line(line.trim_end()).unwrap()).unwrap();
        assert_eq!(note.verify(&[host.verifier_key().unwrap()]).unwrap()[0].timestamp, Some(1_800_000_000));

        // A new host over the same state refuses to go back or fork.
        drop(host);
        let host = WitnessHost::open(cosigner, &[log.verifier_key()], &state_path, clock).unwrap();
        assert_eq!(host.latest(ORIGIN).map(|h| h.size), Some(5));
        assert!(matches!(
            host.add_checkpoint(&request(&tree, &log, 0)),
            Err(WitnessRefusal::Witness(WitnessError::OldSizeMismatch { latest_size: 5, .. }))
        ));
        let mut forked = MemoryTree::new();
        for i in 10u32..15 {
            forked.append(&i.to_be_bytes()).unwrap();
        }
        assert!(matches!(
            host.add_checkpoint(&request(&forked, &log, 5)),
            Err(WitnessRefusal::Witness(WitnessError::Fork { size: 5, .. }))
        ));
        tree.append(b"more").unwrap();
        host.add_checkpoint(&request(&tree, &log, 5)).unwrap();
        let saved: WitnessState = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
        assert_eq!(saved.logs[ORIGIN].size, 6);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
