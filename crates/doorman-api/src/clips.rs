//! Camera clips: what the API says about one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use doorman_domain::{AccessPointId, ClipId, DeliveryId, LockId, PropertyId, UnitId, UnixSeconds};

/// A camera clip of an entry: the lock announced it in its signed event
/// `counter` with `sha256`, and the bytes were uploaded with that hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClipView {
    pub clip_id: ClipId,
    pub lock_id: LockId,
    /// The lock event that announced the clip.
    pub counter: u64,
    pub property_id: PropertyId,
    pub access_point_id: AccessPointId,
    /// The unit whose entry it shows, when known.
    pub unit_id: Option<UnitId>,
    /// The delivery whose entry it shows, when known.
    pub delivery_id: Option<DeliveryId>,
    /// SHA-256 of the bytes, lowercase hex: the hash the lock signed and the
    /// `clip_ready` log entry holds.
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    /// The lock's time of the entry.
    pub recorded_at: UnixSeconds,
    pub stored_at: UnixSeconds,
    /// Set once retention removed the bytes.
    pub deleted_at: Option<UnixSeconds>,
}
