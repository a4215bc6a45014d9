//! Where a lock keeps its state across power cuts.
//!
//! One snapshot, replaced as a whole: the lock hands [`LockStorage::store`] the pieces of
//! its snapshot and the storage must make the replacement atomic, so that after any
//! crash [`LockStorage::load`] returns either the old snapshot or the new one, never a
//! mix. On a host that is [`FileStorage`] (temp file, fsync, rename, fsync of the
//! folder); on a device it would be two flash pages written alternately.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Persistent storage for one lock's snapshot.
pub trait LockStorage {
    /// What goes wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The last snapshot stored, or `None` if there is none yet.
    fn load(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Replaces the snapshot with the concatenation of `parts`, atomically and durably:
    /// when this returns `Ok`, a crash cannot lose the new snapshot, and a crash before
    /// it returns leaves the old one intact.
    fn store(&mut self, parts: &[&[u8]]) -> Result<(), Self::Error>;
}

/// A snapshot in a file, replaced atomically: the new bytes go to `<file>.tmp`, which is
/// fsynced, renamed over the file, and the folder is fsynced so the rename survives a
/// power cut.
#[derive(Debug, Clone)]
pub struct FileStorage {
    path: PathBuf,
}

impl FileStorage {
    /// Storage at `path` (its folder must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}

impl LockStorage for FileStorage {
    type Error = io::Error;

    fn load(&mut self) -> Result<Option<Vec<u8>>, io::Error> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn store(&mut self, parts: &[&[u8]]) -> Result<(), io::Error> {
        let temp = self.temp_path();
        {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_all()?;
        }
        fs::rename(&temp, &self.path)?;
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(folder)?.sync_all()
    }
}

/// A snapshot in memory, shared between clones: dropping a [`crate::Lock`] and opening a
/// new one on a clone is what a power cut and a reboot look like. It can be told to fail
/// the next writes, to test that the lock never moves the bolt on a failed write.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    snapshot: Option<Vec<u8>>,
    fail_writes: bool,
    writes: u64,
}

/// A write [`MemoryStorage`] was told to fail.
#[derive(Debug, thiserror::Error)]
#[error("simulated storage failure")]
pub struct SimulatedFailure;

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every write fails (`true`) or succeeds (`false`).
    pub fn fail_writes(&self, fail: bool) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.fail_writes = fail;
        }
    }

    /// Successful writes so far.
    pub fn writes(&self) -> u64 {
        self.inner.lock().map(|i| i.writes).unwrap_or(0)
    }

    /// The stored snapshot.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        self.inner.lock().ok().and_then(|i| i.snapshot.clone())
    }
}

impl LockStorage for MemoryStorage {
    type Error = SimulatedFailure;

    fn load(&mut self) -> Result<Option<Vec<u8>>, SimulatedFailure> {
        Ok(self.snapshot())
    }

    fn store(&mut self, parts: &[&[u8]]) -> Result<(), SimulatedFailure> {
        let mut inner = self.inner.lock().map_err(|_| SimulatedFailure)?;
        if inner.fail_writes {
            return Err(SimulatedFailure);
        }
        inner.snapshot = Some(parts.concat());
        inner.writes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_storage_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::new(dir.path().join("lock.state"));
        assert_eq!(s.load().unwrap(), None);
        s.store(&[b"abc", b"def"]).unwrap();
        assert_eq!(s.load().unwrap().as_deref(), Some(&b"abcdef"[..]));
        s.store(&[b"x"]).unwrap();
        assert_eq!(s.load().unwrap().as_deref(), Some(&b"x"[..]));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("lock.state")]);
    }

    #[test]
    fn a_torn_temp_file_does_not_replace_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::new(dir.path().join("lock.state"));
        s.store(&[b"good"]).unwrap();
        // A crash in the middle of the next write leaves only the temp file behind.
        fs::write(dir.path().join("lock.state.tmp"), b"go").unwrap();
        assert_eq!(s.load().unwrap().as_deref(), Some(&b"good"[..]));
        s.store(&[b"better"]).unwrap();
        assert_eq!(s.load().unwrap().as_deref(), Some(&b"better"[..]));
    }
}
