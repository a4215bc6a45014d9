//! The transparency log defends itself against its own database: rows
//! deleted or rewritten behind the service's back, and the newest entries
//! rolled back so that the log would fork from a checkpoint it already
//! signed.
//!
//! - **Integrity check** ([`AuditLog::check_integrity`]): every stored entry,
//!   from index 0 without a hole, is hashed again and the tree rebuilt from
//!   them; each hash the rebuilt tree stores must equal the stored one, each
//!   stored checkpoint must be signed by the log's key and carry the rebuilt
//!   tree's root at its size, and the newest checkpoint must be the stored
//!   tree's. The check covers the log up to the newest checkpoint read when
//!   it starts (and entries appended after it for holes), so it can run
//!   beside a service that keeps appending. `doorman serve` runs it at start
//!   and `doorman audit check` on demand; the first bad index is named.
//! - **Memory outside the database** ([`LogGuard`]): the last checkpoint this
//!   process signed or verified, in memory and (with `doorman serve`) in the
//!   data folder (`log-checkpoint.txt`, the signed note). Someone who can
//!   change the database but not that folder cannot make the service forget
//!   what it signed.
//! - **The sequencer only extends** ([`AuditLog::sequence_guarded`]): before
//!   it signs, the newest stored checkpoint must be signed by the log and
//!   extend the remembered one (same size and root, or a larger tree with a
//!   consistency proof from the stored hashes), and inside the sequencing
//!   transaction the stored tree must be exactly that checkpoint's (size and
//!   root from the stored right edge). Anything else halts the log: an error
//!   is logged, nothing is signed or stored, and every later run refuses
//!   until an operator acts and restarts the service. Reads go on.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use doorman_store::{AuditStore, EntryFilter, StoredCheckpoint, StoredEntry};
use doorman_tlog::{verify_consistency, Checkpoint, Frontier, Hash, Note, SignedCheckpoint, VerifierKey};

use crate::audit::AuditLog;
use crate::{ServiceError, ServiceResult};

/// The name of the remembered checkpoint's file in the data folder.
pub const LOG_CHECKPOINT_FILE: &str = "log-checkpoint.txt";

/// Entries (and checkpoints) read per query by the integrity check.
const CHECK_PAGE: u32 = 4096;

/// A checkpoint the service signed or verified: its size, root and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    pub size: u64,
    pub root: [u8; 32],
    /// The signed note, as stored.
    pub note: String,
}

impl Remembered {
    /// Reads a signed checkpoint note (the file's content).
    pub fn parse(note: &str) -> Result<Self, String> {
        let parsed = Note::parse(note.as_bytes()).map_err(|e| e.to_string())?;
        let checkpoint = Checkpoint::parse_text(parsed.text()).map_err(|e| e.to_string())?;
        Ok(Remembered { size: checkpoint.size(), root: checkpoint.root().0, note: note.to_string() })
    }

    /// Reads the file at `path`; None if there is none.
    pub fn load(path: &std::path::Path) -> Result<Option<Self>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map(Some).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

#[derive(Debug, Default)]
struct GuardState {
    file: Option<PathBuf>,
    last: Option<Remembered>,
    halted: Option<String>,
}

/// What the service remembers of its log outside the database, and
/// whether the log is halted (see the module documentation).
#[derive(Debug, Default)]
pub struct LogGuard {
    state: Mutex<GuardState>,
}

impl LogGuard {
    /// Remembers in memory only (until [`LogGuard::attach_file`]).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Remembers in `file` too from now on, and reads what it holds (if it
    /// holds a newer checkpoint than memory, that one is remembered).
    pub fn attach_file(&self, file: PathBuf) -> Result<(), String> {
        let found = Remembered::load(&file)?;
        let mut state = self.state();
        if let Some(found) = found {
            if state.last.as_ref().is_none_or(|last| last.size < found.size) {
                state.last = Some(found);
            }
        }
        state.file = Some(file);
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last checkpoint remembered.
    pub fn last(&self) -> Option<Remembered> {
        self.state().last.clone()
    }

    /// Why the log is halted, if it is.
    pub fn halted(&self) -> Option<String> {
        self.state().halted.clone()
    }

    /// Halts the log (the first reason is kept).
    pub fn halt(&self, why: &str) {
        let mut state = self.state();
        if state.halted.is_none() {
            tracing::error!(
                problem = %why,
                "the transparency log is halted: no checkpoint will be signed until an operator acts \
                 (see `doorman audit check`); reads go on"
            );
            state.halted = Some(why.to_string());
        }
    }

    /// Remembers `checkpoint` if it is newer than the last one (the caller
    /// verified that it extends it). The file is replaced whole.
    pub fn remember(&self, checkpoint: Remembered) {
        let mut state = self.state();
        if state.last.as_ref().is_some_and(|last| last.size >= checkpoint.size) {
            return;
        }
        if let Some(file) = &state.file {
            if let Err(e) = write_atomically(file, checkpoint.note.as_bytes()) {
                tracing::warn!(error = %e, file = %file.display(), "the last signed checkpoint could not be saved");
            }
        }
        state.last = Some(checkpoint);
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// A problem the integrity check found: the first bad entry index (None if
/// it is not about one entry) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrityProblem {
    pub index: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the integrity check went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegritySummary {
    /// The newest signed checkpoint's size: entries rebuilt into the tree.
    pub size: u64,
    /// Entries appended (including those not yet in a checkpoint).
    pub appended: u64,
    /// Stored checkpoints checked.
    pub checkpoints: u64,
    /// The remembered checkpoint's size, if one was given.
    pub remembered: Option<u64>,
}

/// Why the integrity check stopped: a problem in the log, or the database.
#[derive(Debug)]
pub enum CheckFailure {
    Problem(IntegrityProblem),
    Service(ServiceError),
}

impl From<ServiceError> for CheckFailure {
    fn from(e: ServiceError) -> Self {
        CheckFailure::Service(e)
    }
}

impl From<doorman_store::StoreError> for CheckFailure {
    fn from(e: doorman_store::StoreError) -> Self {
        CheckFailure::Service(e.into())
    }
}

fn problem(index: Option<u64>, message: String) -> CheckFailure {
    CheckFailure::Problem(IntegrityProblem { index, message })
}

/// Checks that `checkpoint` is signed by `key` and says what its row says.
fn open_stored(checkpoint: &StoredCheckpoint, key: &VerifierKey) -> Result<(), String> {
    let opened = SignedCheckpoint::open(checkpoint.note.as_bytes(), std::slice::from_ref(key), &[])
        .map_err(|e| format!("the stored checkpoint of size {} is not signed by the log: {e}", checkpoint.size))?;
    let body = opened.checkpoint();
    if body.size() != checkpoint.size || body.root().0 != checkpoint.root {
        return Err(format!(
            "the stored checkpoint of size {} says size {} and another root in its signed note",
            checkpoint.size,
            body.size()
        ));
    }
    Ok(())
}

/// A check due when the rebuilt tree reaches a size.
enum Due {
    Stored(StoredCheckpoint),
    Remembered(Remembered),
}

impl<S: AuditStore + ?Sized> AuditLog<'_, S> {
    /// The full integrity check of the stored log (see the module
    /// documentation), against `remembered` too if given.
    pub async fn check_integrity(&self, remembered: Option<&Remembered>) -> Result<IntegritySummary, CheckFailure> {
        let key = self.signer.verifier_key()?;
        let latest = self.store.latest_checkpoint().await?;
        let size = latest.as_ref().map_or(0, |c| c.size);
        let state = self.store.log_state().await?;
        if let Some(latest) = &latest {
            open_stored(latest, &key).map_err(|m| problem(latest.size.checked_sub(1), m))?;
        }
        if state.integrated < size {
            return Err(problem(
                Some(state.integrated),
                format!(
                    "the stored tree has {} entries, fewer than the newest signed checkpoint's {size}: the tree \
                     was rolled back",
                    state.integrated
                ),
            ));
        }
        if let Some(r) = remembered {
            if r.size > size {
                return Err(problem(
                    Some(size),
                    format!(
                        "the log was rolled back: this service signed a checkpoint of size {}, but the newest one \
                         in the database has size {size}",
                        r.size
                    ),
                ));
            }
        }
        let everything = EntryFilter { everything: true, ..Default::default() };
        let mut tree = Frontier::new();
        let mut checkpoints_checked = 0u64;
        // The checks due at each size, in size order.
        let mut due: std::collections::VecDeque<Due> = std::collections::VecDeque::new();
        let mut next_checkpoint = 0u64;
        let mut checkpoints_done = false;
        let mut remembered_due = remembered.cloned();
        let end = state.appended.max(size);
        let mut index = 0u64;
        loop {
            // Refill the checkpoints up to this page's end.
            while !checkpoints_done && due.len() < 2 {
                let page = self.store.checkpoints_from(next_checkpoint, CHECK_PAGE).await?;
                checkpoints_done = page.len() < CHECK_PAGE as usize;
                for checkpoint in page {
                    next_checkpoint = checkpoint.size + 1;
                    if checkpoint.size <= size {
                        due.push_back(Due::Stored(checkpoint));
                    } else {
                        checkpoints_done = true;
                    }
                }
            }
            // The remembered checkpoint, at its place in size order.
            if let Some(r) = remembered_due.take() {
                let at = due.iter().position(|d| matches!(d, Due::Stored(c) if c.size > r.size));
                match at {
                    Some(at) => due.insert(at, Due::Remembered(r)),
                    None if checkpoints_done => due.push_back(Due::Remembered(r)),
                    None => remembered_due = Some(r),
                }
            }
            // Checks due at the current size (before the next entry).
            check_due(&mut due, &tree, &key, &mut checkpoints_checked)?;
            if index >= end {
                break;
            }
            let page = self.store.log_entries(&everything, index..end, CHECK_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let mut rebuilt: Vec<(u64, Vec<doorman_tlog::StoredHash>)> = Vec::with_capacity(page.len());
            for StoredEntry { index: found, bytes } in page {
                if found != index {
                    self.compare(&rebuilt).await?;
                    return Err(missing(index, found));
                }
                if index < size {
                    let mut written = Vec::with_capacity(2);
                    tree.append(&bytes, &mut written).map_err(|e| problem(Some(index), e.to_string()))?;
                    rebuilt.push((index, written));
                }
                index += 1;
                if let Err(failure) = check_due(&mut due, &tree, &key, &mut checkpoints_checked) {
                    // The entries' own hashes first: they name the first
                    // bad index more precisely than a checkpoint's root.
                    self.compare(&rebuilt).await?;
                    return Err(failure);
                }
                if due.is_empty() && !checkpoints_done {
                    break;
                }
            }
            self.compare(&rebuilt).await?;
        }
        if index < end {
            return Err(problem(
                Some(index),
                format!("entry {index} is missing: {end} entries were appended, the stored ones end at {index}"),
            ));
        }
        if let Some(left) = due.front() {
            let at = match left {
                Due::Stored(c) => c.size,
                Due::Remembered(r) => r.size,
            };
            return Err(problem(Some(tree.size()), format!("no entries reach the checkpoint of size {at}")));
        }
        Ok(IntegritySummary {
            size,
            appended: state.appended,
            checkpoints: checkpoints_checked,
            remembered: remembered.map(|r| r.size),
        })
    }

    /// Compares the hashes the rebuilt tree stores with the stored ones, in
    /// entry order: the first entry whose hashes differ is named.
    async fn compare(&self, rebuilt: &[(u64, Vec<doorman_tlog::StoredHash>)]) -> Result<(), CheckFailure> {
        let keys: Vec<u64> = rebuilt.iter().flat_map(|(_, w)| w.iter().map(|h| h.stored_index())).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let stored = match self.store.log_hashes(&keys).await {
            Ok(stored) => stored,
            Err(doorman_store::StoreError::NotFound) => {
                // Which one: entry by entry.
                for (index, written) in rebuilt {
                    let keys: Vec<u64> = written.iter().map(|h| h.stored_index()).collect();
                    if let Err(doorman_store::StoreError::NotFound) = self.store.log_hashes(&keys).await {
                        return Err(problem(
                            Some(*index),
                            format!("entry {index}: the stored tree is missing its hashes"),
                        ));
                    }
                }
                return Err(problem(None, "the stored tree is missing a hash".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut stored = stored.iter();
        for (index, written) in rebuilt {
            for hash in written {
                if stored.next() != Some(&hash.hash.0) {
                    let what = if hash.node.level() == 0 { "its bytes" } else { "a subtree it completes" };
                    return Err(problem(
                        Some(*index),
                        format!(
                            "entry {index} does not match the stored tree ({what} hash differently): it was \
                             changed, or entries were deleted, inserted or moved"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The newest stored checkpoint, checked against the remembered one:
    /// signed by the log, and extending it. Err(Ok(why)) if it does not.
    async fn trusted_tip(&self, last: Option<&Remembered>) -> Result<Option<Remembered>, Result<String, ServiceError>> {
        let key = self.signer.verifier_key().map_err(Err)?;
        let latest = self.store.latest_checkpoint().await.map_err(|e| Err(e.into()))?;
        let Some(latest) = latest else {
            return match last {
                Some(last) => Err(Ok(format!(
                    "the database holds no signed checkpoint, but this service signed the tree of size {}: the \
                     log was rolled back or emptied",
                    last.size
                ))),
                None => Ok(None),
            };
        };
        open_stored(&latest, &key).map_err(Ok)?;
        if let Some(last) = last {
            if latest.size < last.size {
                return Err(Ok(format!(
                    "the log was rolled back: the newest stored checkpoint has size {}, but this service signed \
                     size {}",
                    latest.size, last.size
                )));
            }
            if latest.size == last.size && latest.root != last.root {
                return Err(Ok(format!(
                    "fork: the stored checkpoint of size {} has another root than the one this service signed",
                    latest.size
                )));
            }
            if latest.size > last.size {
                let proof = match self.consistency_proof(last.size, latest.size).await {
                    Ok(proof) => proof,
                    Err(ServiceError::Internal(why)) => {
                        return Err(Ok(format!(
                            "no consistency proof from size {} to the stored checkpoint of size {}: {why}",
                            last.size, latest.size
                        )))
                    }
                    Err(e) => return Err(Err(e)),
                };
                let (old, new) = (Hash::from_bytes(last.root), Hash::from_bytes(latest.root));
                if let Err(e) = verify_consistency(last.size, latest.size, &old, &new, &proof) {
                    return Err(Ok(format!(
                        "the stored checkpoint of size {} does not extend the one of size {} this service \
                         signed: {e}",
                        latest.size, last.size
                    )));
                }
            }
        }
        Ok(Some(Remembered { size: latest.size, root: latest.root, note: latest.note }))
    }

    /// [`AuditLog::sequence_now`] that signs only a tree extending the last
    /// checkpoint `guard` remembers and the newest stored one, and halts
    /// the log (in `guard`) otherwise. Returns the latest checkpoint.
    pub async fn sequence_guarded(&self, guard: &LogGuard) -> ServiceResult<Option<StoredCheckpoint>> {
        // A conflict with what the log signed before (its text is shown).
        let halted = |why: &str| ServiceError::Conflict(format!("the transparency log is halted: {why}"));
        if let Some(why) = guard.halted() {
            return Err(halted(&why));
        }
        let mut tip: Option<Option<Remembered>> = None;
        for _ in 0..crate::audit::MAX_BATCHES_PER_RUN {
            let extends = match tip.take() {
                Some(known) => known,
                None => match self.trusted_tip(guard.last().as_ref()).await {
                    Ok(found) => {
                        if let Some(found) = &found {
                            guard.remember(found.clone());
                        }
                        found
                    }
                    Err(Ok(why)) => {
                        guard.halt(&why);
                        return Err(halted(&why));
                    }
                    Err(Err(e)) => return Err(e),
                },
            };
            match self.sequence_batch(extends.as_ref().map(|r| (r.size, r.root))).await {
                Ok(Some(done)) => {
                    tracing::debug!(size = done.size, from = done.previous, "checkpoint signed");
                    let signed = Remembered { size: done.size, root: done.root, note: done.note };
                    guard.remember(signed.clone());
                    tip = Some(Some(signed));
                }
                Ok(None) => break,
                Err(crate::audit::BatchError::Moved) => tip = None,
                Err(crate::audit::BatchError::Refused(why)) => {
                    guard.halt(&why);
                    return Err(halted(&why));
                }
                Err(crate::audit::BatchError::Service(e)) => return Err(e),
            }
        }
        Ok(self.store.latest_checkpoint().await?)
    }
}

/// Runs the checks due at the rebuilt tree's current size.
fn check_due(
    due: &mut std::collections::VecDeque<Due>,
    tree: &Frontier,
    key: &VerifierKey,
    checked: &mut u64,
) -> Result<(), CheckFailure> {
    while let Some(front) = due.front() {
        let at = match front {
            Due::Stored(c) => c.size,
            Due::Remembered(r) => r.size,
        };
        if at != tree.size() {
            break;
        }
        let root = tree.root().0;
        let index = at.checked_sub(1);
        match due.pop_front() {
            Some(Due::Stored(c)) => {
                open_stored(&c, key).map_err(|m| problem(index, m))?;
                if c.root != root {
                    return Err(problem(
                        index,
                        format!(
                            "the signed checkpoint of size {at} has another root than the tree of the stored \
                             entries: entries before {at} were changed"
                        ),
                    ));
                }
                *checked += 1;
            }
            Some(Due::Remembered(r)) if r.root != root => {
                return Err(problem(
                    index,
                    format!(
                        "fork: the checkpoint of size {at} this service signed has another root than the tree of \
                         the stored entries"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn missing(index: u64, found: u64) -> CheckFailure {
    problem(
        Some(index),
        format!("entry {index} is missing: the stored entries go on at {found} (deleted from the database?)"),
    )
}
