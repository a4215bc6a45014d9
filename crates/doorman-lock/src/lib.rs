//! The state machine of one doorman lock.
//!
//! A [`Lock`] holds the protocol crate's [`doorman_protocol::LockState`] and makes every
//! trust decision through it (challenge, presentation, door code, revocation bundle,
//! key update, time); what it adds is the physical lock around those decisions:
//!
//! - **Bolt and door**: an entry releases the bolt; the door sensor's open and close
//!   are recorded; the bolt is thrown again when the door closes, or after
//!   [`LockConfig::relock_after_secs`] if nobody opened it; a door open longer than
//!   [`LockConfig::ajar_alarm_after_secs`] raises the ajar alarm; a door opened while
//!   the bolt is thrown is recorded as forced.
//! - **Persist before moving**: every change that matters is written through
//!   [`LockStorage`] *before* [`Effects::bolt`] asks the host to release the bolt. A
//!   failed write releases nothing and faults the lock until it is reopened from storage.
//!   [`FileStorage`] replaces its file atomically (temp file, fsync, rename, fsync of the
//!   folder); [`MemoryStorage`] simulates power cuts in tests.
//! - **Event ring**: every event is signed and hash-chained by the protocol crate and
//!   kept in a fixed ring of [`EVENT_RING_CAPACITY`] events until the service
//!   acknowledges it ([`Lock::acknowledge`]); nothing is overwritten. Refusals are low
//!   priority: once the ring is half full they are counted and summarised instead of
//!   recorded one by one, so nobody can fill it from outside. Entries need
//!   [`ENTRY_RESERVE`] free slots, else they are refused (`event_log_full`).
//! - **Keypad**: one-time door codes with the protocol's growing lockout, persisted so
//!   a power cycle does not reset it; input during a lockout is not even looked at.
//! - **Camera**: every non-resident entry triggers the camera ([`Effects::camera`]); the
//!   clip's hash is recorded ([`Lock::camera_clip`]). With
//!   [`CameraPolicy::refuse_entry_when_stale`], credential and door-code entries are
//!   refused while the camera's heartbeat is stale, and the refusal is recorded.
//! - **Time**: the host's clock plus a correction learnt from signed time statements
//!   ([`issue_time_statement`], [`Lock::apply_time_statement`]); a clock rolled back
//!   below the protocol's time floor only admits nonce-bound credentials.
//!
//! Nothing here reads a clock or a random source: `now` and `rng` are parameters.
//! Memory is bounded: a `Lock` is one fixed-size value (see the `sizes` test, which
//! prints the budget), and a snapshot is at most [`MAX_SNAPSHOT_LEN`] bytes.
//!
//! ```
//! use doorman_lock::*;
//! use doorman_protocol::*;
//!
//! let now = 1_760_000_000;
//! let issuer = IssuerSigningKey::from_ed25519_secret(&[7; 32]);
//! let identity = LockIdentity {
//!     lock_id: LockId([0x42; 16]),
//!     device: LockDeviceKey::from_secret(&[9; 32]),
//!     door_code_secret: None,
//! };
//! let storage = MemoryStorage::new();
//! let config = LockConfig { camera: CameraPolicy { refuse_entry_when_stale: false, ..CameraPolicy::default() }, ..LockConfig::default() };
//! let mut lock = Lock::provision(identity, &[issuer.trusted_key(KeyUsage::ALL)], config, storage.clone(), now - 60)?;
//!
//! // The service issues a credential for this lock, bound to the driver's handheld key.
//! let handheld = HandheldKey::from_secret(&[3; 32])?;
//! let credential = issue_credential(&issuer, &CredentialClaims {
//!     issuer: "doorman", lock_id: lock.lock_id(), not_before: now - 30, expires_at: now + 300,
//!     issued_at: now - 30, credential_id: CredentialId([1; 16]), handheld_key: handheld.public_key(),
//!     delivery_hash: DeliveryHash([2; 16]), lock_sequence: 1, revocation_epoch: 0, max_uses: 1,
//!     challenge_nonce: None,
//! })?;
//!
//! // At the door.
//! let signed = lock.challenge(&mut rand_core::OsRng, now)?;
//! let opened = open_challenge(signed.as_bytes(), &lock.device_public_key(), &lock.lock_id())?;
//! let presentation = handheld.present(&opened, credential.as_bytes())?;
//! let outcome = lock.present(presentation.as_bytes(), now)?;
//! assert!(outcome.decision.entry().is_some());
//! assert_eq!(outcome.effects.bolt, Some(BoltCommand::Release));
//! assert!(outcome.effects.camera.is_some());
//!
//! // A reboot: the used credential stays used.
//! drop(lock);
//! let identity = LockIdentity { lock_id: LockId([0x42; 16]), device: LockDeviceKey::from_secret(&[9; 32]), door_code_secret: None };
//! let mut lock = Lock::open(identity, config, storage)?;
//! let signed = lock.challenge(&mut rand_core::OsRng, now + 1)?;
//! let opened = open_challenge(signed.as_bytes(), &lock.device_public_key(), &lock.lock_id())?;
//! let again = handheld.present(&opened, credential.as_bytes())?;
//! assert_eq!(lock.present(again.as_bytes(), now + 1)?.decision.refusal(), Some(LockRefusal::Credential(Refusal::Replayed)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codes;
mod config;
mod lock;
mod ring;
mod snapshot;
mod storage;
mod time_statement;

pub use codes::{door_code_refusal_code, EntrySource, LockEventKind, LockRefusal};
pub use config::{CameraPolicy, LockConfig, LockIdentity};
pub use lock::{
    Alarm, BoltCommand, BoltState, CameraTrigger, Decision, DoorState, Effects, Entry, Health, Lock, LockError,
    Outcome, ENTRY_RESERVE, LOW_PRIORITY_FREE, SNAPSHOT_HEADER_LEN,
};
pub use ring::{EventRing, RingFull, EVENT_RING_CAPACITY};
pub use snapshot::{MAX_SNAPSHOT_LEN, STATE_LEN};
pub use storage::{FileStorage, LockStorage, MemoryStorage, SimulatedFailure};
pub use time_statement::{
    issue_time_statement, time_statement_marker, TimeStatementError, TimeSync, TIME_STATEMENT_ISSUER,
    TIME_STATEMENT_VALIDITY_SECS,
};
