//! The HTTP API's request and response bodies. The server (doorman-web) and
//! the typed client (doorman-client) both use these, so the two cannot drift;
//! the OpenAPI document is generated from them.
//!
//! Domain types that travel as they are (a `Property`, a `Delivery`) are
//! re-exported from doorman-domain rather than copied.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod bounded;
mod clips;
mod guests;
mod notify;
mod passkeys;
mod structure;
mod tenancy;
pub use clips::*;
pub use guests::*;
pub use notify::*;
pub use passkeys::*;
pub use structure::*;
pub use tenancy::*;

pub use doorman_domain::{
    AccessPoint, AccessPointId, AccessPointKind, AccessRequestId, AccessRequestRecord, Actor, Block, Carrier,
    CarrierEnablement, CarrierId, ClipId, Delivery, DeliveryId, DeliveryKind, DeliveryState, Driver, DriverId,
    DriverStatus, DropSpot, DropSpotId, DropSpotKind, Event, EventKind, GeoPoint, Grant, GrantId, GrantedDoor,
    HiddenRole, Invitation, InvitationId, Lock, LockId, Manager, ManagerId, NotificationKind, NotificationSettings,
    PasskeyId, Principal, Property, PropertyId, PropertyKind, RefusalReason, Resident, ResidentId, Role, RoleOnly,
    TenantNotice, Unit, UnitId, UnitPreferences, VettingStatus, WeeklyHours,
};

/// Every error the API returns has this shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, stable: `unauthenticated`, `forbidden`, `not_found`,
    /// `malformed_json`, `invalid_request`, `payload_too_large`, `conflict`,
    /// `illegal_transition`, `rate_limited`, `internal`, or, for a refused
    /// access request, the refusal reason (`resident_blocked`, ...).
    pub code: String,
    /// For people; never contains internals.
    pub message: String,
    /// For a refused access request: the id under which it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<AccessRequestId>,
}

// --- operator ----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateNamed {
    pub name: String,
}

/// A newly created account and its API token. The token is shown this once;
/// the service keeps only its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Created<T> {
    #[serde(flatten)]
    pub item: T,
    pub token: String,
}

pub type ManagerCreated = Created<Manager>;
pub type CarrierCreated = Created<Carrier>;
pub type DriverCreated = Created<Driver>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub principal: Principal,
}

/// An API token to revoke. Holding it is the right to revoke it: whoever
/// sends it ends it (and every dashboard session opened with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevokeToken {
    pub token: String,
}

// --- manager -----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateProperty {
    pub kind: PropertyKind,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    /// IANA name, e.g. America/New_York.
    pub time_zone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetTenantNotice {
    pub text: String,
    /// When delivery access goes live; defaults to now. Residents are
    /// notified now either way.
    #[serde(default)]
    pub live_from: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateUnit {
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateAccessPoint {
    pub kind: AccessPointKind,
    pub name: String,
    /// The door passed just before this one; none for a street door.
    #[serde(default)]
    pub parent_id: Option<AccessPointId>,
    #[serde(default)]
    pub unit_id: Option<UnitId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisterLock {
    pub access_point_id: AccessPointId,
    /// Ed25519 device public key, 32 bytes, base64url.
    pub device_public_key: String,
    pub model: String,
    pub firmware: String,
    pub mobile_credential: bool,
    pub keypad: bool,
}

/// What a lock needs to start: its identity, the keys it trusts, and its
/// door-code secret (shown this once; the service can re-derive it but never
/// stores it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LockProvisioned {
    pub lock: Lock,
    pub trust_anchors: Vec<TrustAnchor>,
    /// base64url; present when the lock has a keypad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code_secret: Option<String>,
    /// The lock's account on the fleet's MQTT broker (shown this once: the
    /// service keeps only a hash of the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttAccount>,
}

/// A lock's MQTT account: it may read and write its own topics only.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MqttAccount {
    /// The broker, `mqtt://host:port`.
    pub url: String,
    /// The lock's id.
    pub username: String,
    /// A 256-bit random secret, base64url.
    pub password: String,
}

impl std::fmt::Debug for MqttAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttAccount").field("url", &self.url).field("username", &self.username).finish_non_exhaustive()
    }
}

/// What the service knows of one lock's health, from its reports and the
/// events it uploaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LockHealthView {
    pub lock_id: LockId,
    pub access_point_id: AccessPointId,
    /// Service time of the last message from the lock (none: never heard from).
    pub last_contact: Option<i64>,
    /// Service time of the last health report.
    pub reported_at: Option<i64>,
    pub battery_percent: Option<u8>,
    /// Service time minus lock time at the lock's last signed time statement.
    pub clock_drift_secs: Option<i64>,
    /// The lock says it has no trustworthy clock.
    pub clock_lost: bool,
    /// The revocation bundle the lock holds (from its last report).
    pub revocation_sequence: Option<u64>,
    /// The latest revocation bundle the service issued for it.
    pub revocation_sequence_issued: u64,
    /// Seconds since the camera's last heartbeat, as the lock last reported.
    pub camera_heartbeat_age_secs: Option<u64>,
    /// The camera rule would refuse delivery entries now.
    pub camera_stale: bool,
    /// The last event stored (its chain is unbroken up to here).
    pub events_stored: u64,
    /// The last event the lock recorded, as it last reported.
    pub event_counter: Option<u64>,
    /// Events are missing: the counter needed next, and the one that came.
    pub gap: Option<LockGapView>,
    /// The last forged, forked or broken event the lock sent.
    pub problem: Option<String>,
    /// The lock holds an older revocation bundle than the latest issued.
    pub revocation_stale: bool,
    /// The lock's clock is lost, or drifts more than allowed, or it never reported one.
    pub clock_stale: bool,
    /// When the lock was taken out of service (none: in service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decommissioned_at: Option<i64>,
    /// The lock that took its place on the door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<LockId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LockGapView {
    pub expected: u64,
    pub found: u64,
}

/// A resident opens a door of their building from afar (a guest at the
/// street door): their unit's door or a shared door without a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RemoteUnlock {
    pub lock_id: LockId,
}

/// The request went to the lock; it opens once it has answered with its
/// challenge and checked the service's one-use credential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RemoteUnlockRequested {
    pub lock_id: LockId,
    pub request_id: u64,
    /// The lock must answer before this (unix seconds), or nothing happens.
    pub expires_at: i64,
}

/// Signed events a handheld collected from a lock that has no network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CarriedEvents {
    /// Each signed event (COSE_Sign1) verbatim, base64url, in the lock's order.
    pub events: Vec<String>,
}

/// What the service holds of the lock's events after an upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CarriedEventsReceipt {
    pub lock_id: LockId,
    /// Every event of the lock up to this counter is stored.
    pub stored_through: u64,
    /// Events are missing after this counter: bring them too.
    pub missing_after: Option<u64>,
}

/// A lock's latest signed revocation bundle, for a handheld to carry to a
/// lock that is offline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevocationBundleView {
    pub lock_id: LockId,
    pub sequence: u64,
    /// The signed bundle (COSE_Sign1), base64url.
    pub bundle: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustAnchor {
    /// base64url key id, as in the credential's protected header.
    pub kid: String,
    /// COSE algorithm name: EdDSA or ES256.
    pub alg: String,
    /// base64url public key.
    pub public_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDropSpot {
    pub name: String,
    pub kind: DropSpotKind,
    pub access_point_id: AccessPointId,
    #[serde(default)]
    pub unit_id: Option<UnitId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PutEnablement {
    pub enabled: bool,
    pub hours: Vec<WeeklyHours>,
    pub allowed_drop_spots: Vec<DropSpotId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateInvitation {
    pub name: String,
    pub email: String,
}

/// The invitation and its one-time code, to hand to the resident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationCreated {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub code: String,
}

// --- resident ----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RedeemInvitation {
    pub code: String,
}

pub type ResidentCreated = Created<Resident>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateBlock {
    /// Unix seconds; open-ended when absent.
    #[serde(default)]
    pub until: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlockResult {
    pub block: Block,
    /// Credentials of the unit's deliveries that this block revoked.
    pub revoked_grants: Vec<GrantId>,
    /// Open deliveries whose carriers were told to divert (to the unit's
    /// chosen pickup point or alternate address; none if it has neither).
    #[serde(default)]
    pub diverted_deliveries: Vec<DeliveryId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnblockResult {
    pub ended_blocks: u64,
}

// --- carrier -----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDriver {
    pub name: String,
    /// The handheld's P-256 public key (SEC1, base64url).
    #[serde(default)]
    pub handheld_public_key: Option<String>,
    pub vetting: VettingStatus,
    #[serde(default)]
    pub vetted_at: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateDriver {
    #[serde(default)]
    pub handheld_public_key: Option<String>,
    #[serde(default)]
    pub vetting: Option<VettingStatus>,
    #[serde(default)]
    pub vetted_at: Option<i64>,
    #[serde(default)]
    pub status: Option<DriverStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDelivery {
    pub tracking_number: String,
    pub property_id: PropertyId,
    /// The unit by id; or give `unit_label` instead (exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<UnitId>,
    /// The unit by its label as printed on the parcel (looked up exactly,
    /// then ignoring case if that finds one unit), at a property that
    /// enabled the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_label: Option<String>,
    pub kind: DeliveryKind,
    pub window_start: i64,
    pub window_end: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EtaUpdate {
    pub eta: i64,
}

// --- driver ------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessRequest {
    /// As scanned from the parcel label.
    pub tracking_number: String,
    /// The property the driver is at.
    pub property_id: PropertyId,
    /// The handheld's P-256 public key (SEC1, base64url); credentials are
    /// bound to it.
    pub handheld_public_key: String,
    pub position: GeoPoint,
    /// A drop spot the driver proposes; the resident's preference wins.
    #[serde(default)]
    pub drop_spot_id: Option<DropSpotId>,
}

/// One door on the path and what opens it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DoorAccess {
    pub access_point_id: AccessPointId,
    pub access_point_name: String,
    pub lock_id: LockId,
    /// The lock's device public key (Ed25519, base64url), for locks that read
    /// credentials: the handheld checks the lock's signed challenge with it
    /// (never with a key the lock reports about itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_public_key: Option<String>,
    /// COSE_Sign1 credential, base64url, for locks that read credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// One-time numeric code, for keypad-only locks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code: Option<String>,
}

/// A granted access request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessGranted {
    pub request_id: AccessRequestId,
    pub grant_id: GrantId,
    pub delivery_id: DeliveryId,
    pub drop_spot_id: DropSpotId,
    pub drop_spot_name: String,
    /// From the street inwards; doors without a lock are not listed.
    pub doors: Vec<DoorAccess>,
    pub expires_at: i64,
    /// The index of the grant's entry in the transparency log (the access
    /// request's entry is the one before it): check it with `doorman audit`.
    pub log_index: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompleteDelivery {
    pub drop_spot_id: DropSpotId,
    #[serde(default)]
    pub photo_ref: Option<String>,
}

// --- audit (the transparency log) ---------------------------------------------

/// An entry of the transparency log with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The entry's index in the log (from 0).
    pub index: u64,
    /// The entry's canonical bytes (compact JSON of the event), base64url:
    /// the Merkle leaf. Hash these bytes; never re-encode the event.
    pub entry: String,
    /// The inclusion proof of the entry in the tree of `AuditEntries::size`
    /// entries: sibling hashes from the leaf up, each base64url.
    pub inclusion: Vec<String>,
}

/// A lock's device public key, to check its signed events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LockDeviceKey {
    pub lock_id: LockId,
    /// Ed25519, 32 bytes, base64url.
    pub device_public_key: String,
}

/// The entries of the log the caller may see, each with its proof against
/// one checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntries {
    /// The checkpoint (C2SP signed note, with the witnesses' cosignatures)
    /// every proof leads to.
    pub checkpoint: String,
    /// Its tree size.
    pub size: u64,
    /// In index order.
    pub entries: Vec<AuditEntry>,
    /// The device keys of the locks whose events are among the entries.
    pub locks: Vec<LockDeviceKey>,
    /// Set when there are more entries: ask again with `after` = this and
    /// `size` = the size above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// Which entries to list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditEntriesQuery {
    /// Only entries with a larger index.
    #[serde(default, deserialize_with = "crate::bounded::opt_index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub after: Option<u64>,
    /// Prove against the checkpoint of this size (default: the latest).
    #[serde(default, deserialize_with = "crate::bounded::opt_index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub size: Option<u64>,
    /// At most this many entries (default and maximum 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A consistency proof from an older tree size to a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditConsistency {
    pub old_size: u64,
    /// The size of `checkpoint`.
    pub new_size: u64,
    /// The checkpoint the proof leads to (signed note, with cosignatures).
    pub checkpoint: String,
    /// Proof hashes, base64url.
    pub proof: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditConsistencyQuery {
    /// The size of the checkpoint the caller kept.
    #[serde(deserialize_with = "crate::bounded::index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub old: u64,
    /// Prove to the checkpoint of this size (default: the latest).
    #[serde(default, deserialize_with = "crate::bounded::opt_index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub size: Option<u64>,
}

// --- operational -------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub backend: String,
    /// Set when the transparency log is halted: the integrity check found a
    /// problem, or the sequencer refused to sign a tree that does not extend
    /// its last checkpoint. Reads are still served; no checkpoint is signed
    /// until an operator acts (see `doorman audit check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_halted: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeySet {
    pub issuer: String,
    pub keys: Vec<TrustAnchor>,
}

/// Where a rotation of the issuer key stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyRotationView {
    /// The key that signs credentials now (base64url kid).
    pub active_kid: String,
    /// A key announced to the locks that does not sign yet.
    pub pending_kid: Option<String>,
    /// When the pending key signs at the latest, even if some lock has not
    /// said it holds it.
    pub activate_by: Option<i64>,
    /// The latest key update (0: the keys never rotated).
    pub key_update_sequence: u64,
    /// Every key locks should trust now.
    pub published: Vec<String>,
    /// While a key is pending: the locks in service that have not said they hold it.
    pub locks_behind: Vec<LockId>,
}

/// The latest signed key update, for a handheld to carry to a lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyUpdateView {
    pub sequence: u64,
    /// base64url COSE_Sign1 (`doorman/key-update/v1`).
    pub update: String,
}
