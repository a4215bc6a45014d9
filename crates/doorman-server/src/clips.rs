//! Camera clips: the lock (or its camera, or a relay) uploads the clip of an
//! entry; the service keeps it in an object store (`object_store`: a local
//! folder by default, an S3-compatible bucket by configuration), logs its
//! hash, serves it to the unit's residents and the property's managers only,
//! and deletes it after the retention period, logging the deletion.
//!
//! Invariants:
//! - an upload is authenticated by its content: accepted only for a clip a
//!   lock announced in a verified, stored `camera_clip` event (the clip row
//!   written with that event) and only if SHA-256(body) is the hash the lock
//!   signed; a repeated upload of a stored clip changes nothing;
//! - the object is written first, then the row is marked stored with its
//!   `clip_ready` entry in one transaction; if that write fails and the row
//!   is not stored, the object is deleted again, so no clip is served
//!   without its log entry;
//! - a read checks the bytes against the stored hash before serving them;
//! - the retention sweep deletes the object first, then marks the row
//!   deleted with its `clip_deleted` entry in one transaction (a failure in
//!   between is finished by the next sweep; a missing object reads as deleted).

use std::sync::Arc;

use bytes::Bytes;
use doorman_api::ClipView;
use doorman_domain::{ClipId, EventKind, LockId, Principal, PropertyId, UnitId};
use doorman_store::{ClipFilter, ClipRecord, StoredClip};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::audit::{new_event, Scope};
use crate::{Service, ServiceError, ServiceResult};

/// The default upload limit: 64 MiB.
pub const DEFAULT_CLIP_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most clips one list holds.
pub const MAX_CLIPS_PAGE: u32 = 500;
/// Most clips one retention sweep deletes.
const SWEEP_BATCH: u32 = 256;
/// The content type of an upload that names none, or names one that is not
/// in [`CLIP_CONTENT_TYPES`].
pub const DEFAULT_CLIP_CONTENT_TYPE: &str = "application/octet-stream";

/// The content types a clip is kept and served with, with the file
/// extension of its download name: the video and still-image formats that
/// cameras record and that a browser shows without running anything. Any
/// other type an uploader names (`text/html`, `image/svg+xml`, ...) is kept
/// as [`DEFAULT_CLIP_CONTENT_TYPE`]: the service decides what it serves,
/// not whoever uploaded (issue 17 finding 6).
pub const CLIP_CONTENT_TYPES: &[(&str, &str)] = &[
    ("video/mp4", "mp4"),
    ("video/webm", "webm"),
    ("video/quicktime", "mov"),
    ("video/mp2t", "ts"),
    ("video/x-matroska", "mkv"),
    ("video/h264", "h264"),
    ("video/h265", "h265"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("image/gif", "gif"),
    ("image/avif", "avif"),
];

/// The type a clip is served with, and the extension of its download name:
/// `stored` if it is in [`CLIP_CONTENT_TYPES`], else the default (which
/// also covers types stored before the list existed).
pub fn served_content_type(stored: &str) -> (&'static str, &'static str) {
    CLIP_CONTENT_TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(stored))
        .copied()
        .unwrap_or((DEFAULT_CLIP_CONTENT_TYPE, "bin"))
}

/// Why a clip upload or read is refused (each has its own error code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClipRefusal {
    /// No verified `camera_clip` event of that lock at that counter.
    #[error("the lock announced no clip with this counter")]
    UnknownClip,
    /// SHA-256 of the body is not the hash the lock signed.
    #[error("the body's SHA-256 is not the hash the lock signed for this clip")]
    HashMismatch,
    #[error("the clip is larger than {max} bytes")]
    TooLarge { max: usize },
    /// The retention period ended and the bytes were deleted.
    #[error("the clip was deleted at the end of its retention period")]
    Deleted,
    /// The service has no clip store.
    #[error("the service has no clip store configured")]
    StoreUnavailable,
}

impl ClipRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            ClipRefusal::UnknownClip => "unknown_clip",
            ClipRefusal::HashMismatch => "clip_hash_mismatch",
            ClipRefusal::TooLarge { .. } => "clip_too_large",
            ClipRefusal::Deleted => "clip_deleted",
            ClipRefusal::StoreUnavailable => "clip_store_unavailable",
        }
    }
}

/// Opens the clip store `location` names: `s3://bucket/prefix` (with the
/// `s3` feature; credentials and region from the usual `AWS_*` variables,
/// `AWS_ENDPOINT` for other S3-compatible stores), `memory:` (kept in this
/// process, for tests), or a folder (`file:///path` or a plain path, created
/// if missing).
pub fn open_clip_store(location: &str) -> ServiceResult<Arc<dyn ObjectStore>> {
    if let Some(rest) = location.strip_prefix("s3://") {
        return open_s3(rest);
    }
    if location == "memory:" {
        return Ok(Arc::new(object_store::memory::InMemory::new()));
    }
    let folder = location.strip_prefix("file://").unwrap_or(location);
    if folder.is_empty() || location.contains("://") && !location.starts_with("file://") {
        return Err(ServiceError::invalid(format!("unsupported clip store {location:?}: use a folder or s3://")));
    }
    std::fs::create_dir_all(folder)
        .map_err(|e| ServiceError::Internal(format!("creating the clip folder {folder}: {e}")))?;
    let store = object_store::local::LocalFileSystem::new_with_prefix(folder)
        .map_err(|e| ServiceError::Internal(format!("opening the clip folder {folder}: {e}")))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "s3")]
fn open_s3(rest: &str) -> ServiceResult<Arc<dyn ObjectStore>> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ServiceError::invalid("the clip store s3:// URL names no bucket"));
    }
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| ServiceError::Internal(format!("opening the S3 clip store: {e}")))?;
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        Ok(Arc::new(s3))
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(s3, prefix)))
    }
}

#[cfg(not(feature = "s3"))]
fn open_s3(_rest: &str) -> ServiceResult<Arc<dyn ObjectStore>> {
    Err(ServiceError::invalid("this build has no S3 support: build doorman with `--features s3`"))
}

fn refused(r: ClipRefusal) -> ServiceError {
    ServiceError::Clip(r)
}

/// The type a clip is kept with: the upload's `type/subtype` (nothing else
/// is taken) if it is one of [`CLIP_CONTENT_TYPES`], else the default.
fn content_type(value: Option<&str>) -> ServiceResult<String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_CLIP_CONTENT_TYPE.to_string());
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    match v.split_once('/') {
        Some((t, sub)) if v.len() <= 100 && token(t) && token(sub) => Ok(served_content_type(v).0.to_string()),
        _ => Err(ServiceError::invalid("Content-Type must be a plain type/subtype, such as video/mp4")),
    }
}

fn view(r: &ClipRecord) -> ClipView {
    ClipView {
        clip_id: r.clip.id,
        lock_id: r.clip.lock_id,
        counter: r.clip.counter,
        property_id: r.clip.property_id,
        access_point_id: r.clip.access_point_id,
        unit_id: r.clip.entry.unit_id,
        delivery_id: r.clip.entry.delivery_id,
        sha256: hex::encode(r.clip.sha256),
        size: r.size.unwrap_or(0),
        content_type: served_content_type(r.content_type.as_deref().unwrap_or_default()).0.to_string(),
        recorded_at: r.clip.recorded_at,
        stored_at: r.stored_at.unwrap_or(0),
        deleted_at: r.deleted_at,
    }
}

fn scope(r: &ClipRecord) -> Scope {
    let e = &r.clip.entry;
    Scope {
        property: Some(r.clip.property_id),
        unit: e.unit_id,
        carrier: e.carrier_id,
        driver: e.driver_id,
        delivery: e.delivery_id,
    }
}

fn object_key(lock: LockId, counter: u64) -> ObjectPath {
    ObjectPath::from(format!("{lock}/{counter}"))
}

impl Service {
    /// Gives the service its clip store. Only the first call counts.
    pub fn attach_clip_store(&self, store: Arc<dyn ObjectStore>) {
        let _ = self.clips.set(store);
    }

    fn clip_store(&self) -> ServiceResult<&Arc<dyn ObjectStore>> {
        self.clips.get().ok_or(refused(ClipRefusal::StoreUnavailable))
    }

    /// An upload of the clip `lock` announced with its event `counter`
    /// (see the module invariants). Anyone may send it: the hash is the
    /// authentication.
    pub async fn upload_clip(
        &self,
        lock: LockId,
        counter: u64,
        content: Option<&str>,
        body: Bytes,
    ) -> ServiceResult<ClipView> {
        if body.len() > self.config.clip_max_bytes {
            return Err(refused(ClipRefusal::TooLarge { max: self.config.clip_max_bytes }));
        }
        let content_type = content_type(content)?;
        let record = self.store.clip_at(lock, counter).await?.ok_or(refused(ClipRefusal::UnknownClip))?;
        let digest: [u8; 32] = Sha256::digest(&body).into();
        if digest != record.clip.sha256 {
            return Err(refused(ClipRefusal::HashMismatch));
        }
        if record.deleted_at.is_some() {
            return Err(refused(ClipRefusal::Deleted));
        }
        if record.stored_at.is_some() {
            return Ok(view(&record));
        }
        let objects = self.clip_store()?;
        let key = object_key(lock, counter);
        let size = body.len() as u64;
        objects
            .put(&key, PutPayload::from(body))
            .await
            .map_err(|e| ServiceError::Internal(format!("writing clip {key}: {e}")))?;
        let now = self.now();
        let stored = StoredClip { size, content_type, object_key: key.to_string(), stored_at: now };
        let event = new_event(
            EventKind::ClipReady { clip_id: record.clip.id, lock_id: lock, sha256: hex::encode(digest) },
            now,
            scope(&record),
            None,
        )?;
        match self.store.mark_clip_stored(record.clip.id, &stored, &[event]).await {
            Ok(true) => self.events_appended(),
            // Another upload of the same bytes won.
            Ok(false) => {}
            Err(e) => {
                let now_stored = self.store.get_clip(record.clip.id).await.ok().flatten().and_then(|r| r.stored_at);
                if now_stored.is_none() {
                    if let Err(d) = objects.delete(&key).await {
                        tracing::error!(%key, error = %d, "an unlogged clip could not be deleted again");
                    }
                }
                return Err(e.into());
            }
        }
        let record = self.store.get_clip(record.clip.id).await?.ok_or(refused(ClipRefusal::UnknownClip))?;
        Ok(view(&record))
    }

    /// The clip's record, if `p` may see it: the residents of its unit and
    /// the managers of its property; NotFound for anyone else.
    async fn visible_clip(&self, p: &Principal, id: ClipId) -> ServiceResult<ClipRecord> {
        let record = self.store.get_clip(id).await?.ok_or(ServiceError::NotFound("clip"))?;
        let allowed = match p {
            Principal::Resident { unit_id, .. } => {
                record.clip.entry.unit_id == Some(*unit_id)
                    && self.history_since(p).await?.is_none_or(|since| record.clip.recorded_at >= since)
            }
            Principal::Manager { .. } => self.managed_property(p, record.clip.property_id).await.is_ok(),
            _ => false,
        };
        if !allowed || record.stored_at.is_none() {
            return Err(ServiceError::NotFound("clip"));
        }
        Ok(record)
    }

    /// The clip's bytes and what is known of it; its hash is checked first.
    pub async fn clip(&self, p: &Principal, id: ClipId) -> ServiceResult<(ClipView, Bytes)> {
        let record = self.visible_clip(p, id).await?;
        if record.deleted_at.is_some() {
            return Err(refused(ClipRefusal::Deleted));
        }
        let key = ObjectPath::from(record.object_key.clone().unwrap_or_default());
        let bytes = match self.clip_store()?.get(&key).await {
            Ok(got) => got.bytes().await.map_err(|e| ServiceError::Internal(format!("reading clip {key}: {e}")))?,
            // The sweep deleted it and has not marked the row yet.
            Err(object_store::Error::NotFound { .. }) => return Err(refused(ClipRefusal::Deleted)),
            Err(e) => return Err(ServiceError::Internal(format!("reading clip {key}: {e}"))),
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest != record.clip.sha256 {
            return Err(ServiceError::Internal(format!("clip {key} does not match its logged hash")));
        }
        Ok((view(&record), bytes))
    }

    /// What is known of a clip (no bytes), for its readers.
    pub async fn clip_info(&self, p: &Principal, id: ClipId) -> ServiceResult<ClipView> {
        Ok(view(&self.visible_clip(p, id).await?))
    }

    /// The unit's clips, newest first: for its residents and its property's managers.
    pub async fn unit_clips(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<ClipView>> {
        let unit = self.visible_unit(p, unit).await?;
        let filter = ClipFilter { property: unit.property_id, unit: Some(unit.id) };
        let clips = self.store.list_clips(filter, MAX_CLIPS_PAGE).await?;
        let since = self.history_since(p).await?;
        Ok(crate::tenancy::since_move_in(clips, since, |c| c.clip.recorded_at).iter().map(view).collect())
    }

    /// The property's clips, newest first: for its managers.
    pub async fn property_clips(&self, p: &Principal, property: PropertyId) -> ServiceResult<Vec<ClipView>> {
        self.managed_property(p, property).await?;
        let filter = ClipFilter { property, unit: None };
        Ok(self.store.list_clips(filter, MAX_CLIPS_PAGE).await?.iter().map(view).collect())
    }

    /// Deletes the clips stored more than `clip_retention_days` ago, each
    /// with its `clip_deleted` entry. Returns how many it deleted.
    pub async fn sweep_clips(&self) -> ServiceResult<usize> {
        let Some(objects) = self.clips.get() else { return Ok(0) };
        let now = self.now();
        let before = now - self.config.clip_retention_days.saturating_mul(24 * 3600);
        let mut deleted = 0;
        for record in self.store.clips_stored_before(before, SWEEP_BATCH).await? {
            if let Some(key) = &record.object_key {
                match objects.delete(&ObjectPath::from(key.as_str())).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::error!(%key, error = %e, "an expired clip could not be deleted; trying again later");
                        continue;
                    }
                }
            }
            let event = new_event(EventKind::ClipDeleted { clip_id: record.clip.id }, now, scope(&record), None)?;
            if self.store.mark_clip_deleted(record.clip.id, now, &[event]).await? {
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.events_appended();
        }
        Ok(deleted)
    }
}
