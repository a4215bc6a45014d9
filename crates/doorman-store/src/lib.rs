//! Storage for doorman: one [`Store`] trait and its two real implementations,
//! SQLite (the embedded default, a file) and PostgreSQL (for several service
//! processes side by side). This is the only crate that contains SQL.
//!
//! Guarantees every implementation gives (the conformance suite checks them
//! on both backends):
//! - every method that writes more than one row does so in one transaction:
//!   after an error nothing of it remains;
//! - [`Store::claim_grant`] lets at most one live grant exist per delivery, and
//!   the database enforces it (the delivery's row lock on PostgreSQL, the
//!   write lock on SQLite, taken before the check), so it holds across
//!   processes sharing one database;
//! - [`Store::next_lock_sequence`] and [`Store::claim_grant_with_sequences`]
//!   never hand out the same number twice for one lock (they share one
//!   counter per lock, kept in the database);
//! - a write is durable when its method returns `Ok`: SQLite runs with
//!   `synchronous = FULL`, so the commit has reached the disk (fsync of the
//!   WAL); PostgreSQL commits with its default `synchronous_commit = on`;
//! - every read sees what the database holds at that moment, also what
//!   another process wrote: nothing is cached in process memory, except the
//!   SQLite access path's copy of a property's configuration, which it uses
//!   only while a version, bumped by triggers in the same transaction as any
//!   change to that configuration, says it is current;
//! - errors never carry connection strings or passwords.
//!
//! Lists come in a stable order: deliveries and access requests newest first
//! (ties in insertion order, newest first); units by label, access points and
//! drop spots by name; enablements by last update; grants by issue time;
//! everything else oldest first.

use async_trait::async_trait;
use doorman_domain::{AccessPoint, AccessPointId, Event};
use doorman_domain::{
    AccessRequestRecord, Block, Carrier, CarrierEnablement, CarrierId, Delivery, DeliveryId, DeliveryState, Driver,
    DriverId, DropSpot, DropSpotId, Grant, GrantId, Invitation, Lock, LockId, Manager, ManagerId, Principal, Property,
    PropertyId, Resident, ResidentId, TenantNotice, TokenId, Unit, UnitId, UnitPreferences, UnixSeconds,
};

pub mod audit;
pub mod doors;
pub mod fleet;
pub mod notify;
pub mod postgres;
mod redact;
mod rows;
mod sql_store;
pub mod sqlite;
pub mod vehicles;

pub use audit::{
    AuditStore, EntryFilter, Integration, Integrator, LogIndex, LogState, Sequenced, StoredCheckpoint,
    StoredCosignature, StoredEntry,
};
pub use doors::{
    ClipFilter, ClipRecord, DoorEntry, DoorStore, DoorWrite, LockDoor, LockEventWrites, NewClip, StoredClip,
};
pub use fleet::{FleetStore, LockChainHead, LockFleetRecord, LockGap, RevokedCredential, StoredLockEvent};
pub use notify::{AttemptResult, DueDelivery, NewDelivery, NotifyStore};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use vehicles::VehicleStore;

mod sqlite_direct;

/// Opens the store a URL names, running its migrations: `postgres://` or
/// `postgresql://` is PostgreSQL; `sqlite:` or a plain file path is SQLite
/// (the file is created if missing).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    match Engine::of(url)? {
        Engine::Postgres => Ok(std::sync::Arc::new(PostgresStore::open(url).await?)),
        Engine::Sqlite => Ok(std::sync::Arc::new(SqliteStore::open(url).await?)),
    }
}

/// For tests on a shared PostgreSQL database: a store in a schema of its own
/// (see [`PostgresStore::open_isolated`]).
pub async fn open_isolated_postgres(base_url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    match Engine::of(base_url)? {
        Engine::Postgres => Ok(std::sync::Arc::new(PostgresStore::open_isolated(base_url).await?)),
        Engine::Sqlite => Err(StoreError::Backend("not a PostgreSQL URL: use postgres://".into())),
    }
}

#[derive(Debug, PartialEq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// Whether `url` starts with `prefix`, ignoring ASCII case.
pub(crate) fn has_prefix(url: &str, prefix: &str) -> bool {
    url.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

impl Engine {
    fn of(url: &str) -> StoreResult<Engine> {
        if has_prefix(url, "postgres://") || has_prefix(url, "postgresql://") {
            Ok(Engine::Postgres)
        } else if has_prefix(url, "sqlite:") {
            Ok(Engine::Sqlite)
        } else if let Some((scheme, _)) = url.split_once("://") {
            // Name the scheme only, and only if it looks like one: the rest
            // of the URL may hold a password.
            let plain = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
            let shown = if plain { format!(" {scheme:?}") } else { String::new() };
            Err(StoreError::Backend(format!(
                "unsupported database URL scheme{shown}: use sqlite:, postgres:// or a file path"
            )))
        } else {
            Ok(Engine::Sqlite)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        for url in ["postgres://root@127.0.0.1/test", "postgresql://h/d", "POSTGRES://h/d"] {
            assert_eq!(Engine::of(url).unwrap(), Engine::Postgres, "{url}");
        }
        for url in ["sqlite://data/doorman.db", "sqlite:doorman.db", "sqlite::memory:", "doorman.db", "/var/lib/d.db"] {
            assert_eq!(Engine::of(url).unwrap(), Engine::Sqlite, "{url}");
        }
        let err = Engine::of("mysql://root:hunter2@db/x").unwrap_err().to_string();
        assert!(err.contains("\"mysql\"") && !err.contains("hunter2"), "{err}");
        let err = Engine::of("x:hunter2@db://y").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row that the operation needs does not exist (or is not usable, such
    /// as an expired or redeemed invitation).
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference rule of the schema refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A compare-and-set saw another state than expected.
    #[error("stale: {0}")]
    Stale(String),
    /// The database failed; the text never includes credentials.
    #[error("database error: {0}")]
    Backend(String),
}

/// An API token as stored: only its SHA-256 hash, never the token.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub hash: [u8; 32],
    pub principal: Principal,
    pub label: String,
    pub created_at: UnixSeconds,
}

/// A dashboard sign-in session as stored: only the SHA-256 of its random
/// id. It acts as the API token whose hash it names, and ends with it.
#[derive(Clone, Debug, PartialEq)]
pub struct WebSessionRecord {
    pub hash: [u8; 32],
    pub token_hash: [u8; 32],
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// Which deliveries to list; every set field must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryFilter {
    pub carrier_id: Option<CarrierId>,
    pub property_id: Option<PropertyId>,
    pub unit_id: Option<UnitId>,
}

/// Which access requests to list; every set field must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessRequestFilter {
    pub property_id: Option<PropertyId>,
    pub unit_id: Option<UnitId>,
    pub carrier_id: Option<CarrierId>,
    pub driver_id: Option<DriverId>,
    pub delivery_id: Option<DeliveryId>,
}

/// What an access request is decided on: the ids it names and the time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccessContextQuery<'a> {
    /// The property the driver says they are at.
    pub property: PropertyId,
    pub driver: DriverId,
    /// The driver's carrier: the tracking number is looked up among its deliveries.
    pub carrier: CarrierId,
    pub tracking_number: &'a str,
    /// For the block that is active.
    pub now: UnixSeconds,
}

/// Everything [`AccessContextQuery`] names, as the individual getters would
/// return it at that moment (see [`Store::access_context`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AccessContext {
    pub property: Property,
    /// `get_driver(query.driver)`.
    pub driver: Option<Driver>,
    /// `find_delivery(query.carrier, query.tracking_number)`.
    pub delivery: Option<Delivery>,
    /// `get_enablement(query.property, query.carrier)`.
    pub enablement: Option<CarrierEnablement>,
    /// `active_block(unit, query.now)` of the delivery's unit; None without a delivery.
    pub block: Option<Block>,
    /// `get_preferences(unit)` of the delivery's unit; the defaults without a delivery.
    pub preferences: UnitPreferences,
    /// `list_drop_spots(query.property)`.
    pub drop_spots: Vec<DropSpot>,
    /// `list_access_points(query.property)`.
    pub access_points: Vec<AccessPoint>,
    /// `list_locks(query.property)`.
    pub locks: Vec<Lock>,
}

/// What [`Store::revoke_live_grants_for_unit`] logs for each grant it
/// revoked (the events are made inside the transaction, once it is known
/// which grants it revokes).
pub type RevocationEvents = dyn Fn(&Grant) -> Result<Vec<Event>, String> + Send + Sync;

/// Every store is also the transparency log's storage ([`AuditStore`]) and
/// the lock fleet's ([`FleetStore`]) and that of notifications ([`NotifyStore`])
/// and of vehicles and guest passes ([`VehicleStore`]).
#[async_trait]
pub trait Store: AuditStore + FleetStore + NotifyStore + DoorStore + VehicleStore + Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Readiness: the database answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- tokens -------------------------------------------------------------
    /// Stores the first operator token. Returns false, and stores nothing, if
    /// an operator token was ever bootstrapped before (exactly one wins, even
    /// across processes starting together).
    async fn bootstrap_operator(&self, token: &TokenRecord) -> StoreResult<bool>;
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    async fn principal_for_token(&self, hash: &[u8; 32]) -> StoreResult<Option<Principal>>;

    // --- dashboard sessions -------------------------------------------------
    /// Stores a session and, in the same transaction, forgets every session
    /// expired at its `created_at`. Conflict if its token is unknown.
    async fn insert_web_session(&self, session: &WebSessionRecord) -> StoreResult<()>;
    /// The principal of the session's token, if the session exists and has
    /// not expired at `now`.
    async fn principal_for_web_session(&self, hash: &[u8; 32], now: UnixSeconds) -> StoreResult<Option<Principal>>;
    /// Ends the session; false if there was none.
    async fn delete_web_session(&self, hash: &[u8; 32]) -> StoreResult<bool>;

    // --- operator -----------------------------------------------------------
    /// The manager and their first token, together.
    async fn insert_manager(&self, manager: &Manager, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    async fn get_manager(&self, id: ManagerId) -> StoreResult<Option<Manager>>;
    async fn list_managers(&self) -> StoreResult<Vec<Manager>>;
    /// The carrier and its first token, together.
    async fn insert_carrier(&self, carrier: &Carrier, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    async fn get_carrier(&self, id: CarrierId) -> StoreResult<Option<Carrier>>;
    async fn list_carriers(&self) -> StoreResult<Vec<Carrier>>;

    // --- properties ---------------------------------------------------------
    //
    // The methods that change what the service decides on take the events
    // that describe the change (`events`, for the transparency log) and
    // write them in the same transaction, after the change, only if it
    // happened (see the `audit` module).
    async fn insert_property(&self, property: &Property, events: &[Event]) -> StoreResult<()>;
    async fn get_property(&self, id: PropertyId) -> StoreResult<Option<Property>>;
    async fn list_properties(&self, manager: ManagerId) -> StoreResult<Vec<Property>>;
    async fn set_tenant_notice(&self, property: PropertyId, notice: &TenantNotice, events: &[Event])
        -> StoreResult<()>;

    async fn insert_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()>;
    async fn get_unit(&self, id: UnitId) -> StoreResult<Option<Unit>>;
    async fn list_units(&self, property: PropertyId) -> StoreResult<Vec<Unit>>;

    async fn insert_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()>;
    async fn get_access_point(&self, id: AccessPointId) -> StoreResult<Option<AccessPoint>>;
    async fn list_access_points(&self, property: PropertyId) -> StoreResult<Vec<AccessPoint>>;

    /// Conflict if the access point already has a lock.
    async fn insert_lock(&self, lock: &Lock, events: &[Event]) -> StoreResult<()>;
    async fn get_lock(&self, id: LockId) -> StoreResult<Option<Lock>>;
    async fn list_locks(&self, property: PropertyId) -> StoreResult<Vec<Lock>>;
    /// Atomically increments and returns the lock's credential sequence
    /// number (the first call returns 1). NotFound for an unknown lock.
    async fn next_lock_sequence(&self, lock: LockId) -> StoreResult<i64>;

    async fn insert_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()>;
    async fn get_drop_spot(&self, id: DropSpotId) -> StoreResult<Option<DropSpot>>;
    async fn list_drop_spots(&self, property: PropertyId) -> StoreResult<Vec<DropSpot>>;

    /// Insert or replace the enablement of (property, carrier).
    async fn put_enablement(&self, enablement: &CarrierEnablement, events: &[Event]) -> StoreResult<()>;
    async fn get_enablement(&self, property: PropertyId, carrier: CarrierId) -> StoreResult<Option<CarrierEnablement>>;
    async fn list_enablements(&self, property: PropertyId) -> StoreResult<Vec<CarrierEnablement>>;

    // --- residents ----------------------------------------------------------
    /// `code_hash` is the SHA-256 of the invitation code given to the resident.
    async fn insert_invitation(&self, invitation: &Invitation, code_hash: &[u8; 32]) -> StoreResult<()>;
    async fn list_invitations(&self, unit: UnitId) -> StoreResult<Vec<Invitation>>;
    /// In one transaction: finds the unredeemed, unexpired invitation with
    /// this code hash, marks it redeemed at `now`, creates the resident (id
    /// `resident_id`, unit, name and email from the invitation) and stores
    /// the resident's token (`token_id`, `token_hash`, principal Resident).
    /// NotFound if no such invitation; a second redemption is NotFound.
    async fn redeem_invitation(
        &self,
        code_hash: &[u8; 32],
        resident_id: ResidentId,
        token_id: TokenId,
        token_hash: &[u8; 32],
        now: UnixSeconds,
    ) -> StoreResult<Resident>;
    async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>>;
    async fn list_residents(&self, unit: UnitId) -> StoreResult<Vec<Resident>>;

    /// The unit's preferences, or the defaults if never set.
    async fn get_preferences(&self, unit: UnitId) -> StoreResult<UnitPreferences>;
    async fn put_preferences(&self, unit: UnitId, preferences: &UnitPreferences) -> StoreResult<()>;

    async fn insert_block(&self, block: &Block, events: &[Event]) -> StoreResult<()>;
    /// Ends every block of the unit active at `now` (sets `until = now`);
    /// returns how many were ended (the events are written only if some were).
    async fn end_blocks(&self, unit: UnitId, now: UnixSeconds, events: &[Event]) -> StoreResult<u64>;
    /// A block of the unit active at `now`, if any.
    async fn active_block(&self, unit: UnitId, now: UnixSeconds) -> StoreResult<Option<Block>>;

    // --- carriers, drivers, deliveries --------------------------------------
    /// The driver and their first token, together.
    async fn insert_driver(&self, driver: &Driver, token: &TokenRecord) -> StoreResult<()>;
    async fn get_driver(&self, id: DriverId) -> StoreResult<Option<Driver>>;
    async fn list_drivers(&self, carrier: CarrierId) -> StoreResult<Vec<Driver>>;
    /// Replaces the driver's mutable fields (name, key, vetting, status).
    async fn update_driver(&self, driver: &Driver) -> StoreResult<()>;

    /// Conflict if the carrier already has a delivery with this tracking number.
    async fn insert_delivery(&self, delivery: &Delivery) -> StoreResult<()>;
    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>>;
    async fn find_delivery(&self, carrier: CarrierId, tracking_number: &str) -> StoreResult<Option<Delivery>>;
    /// Newest first.
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    /// Replaces the delivery's mutable fields (state, eta, drop spot,
    /// completed_by, photo_ref, updated_at) only if its stored state is
    /// still `expected`; Stale otherwise.
    async fn update_delivery(&self, delivery: &Delivery, expected: DeliveryState, events: &[Event]) -> StoreResult<()>;

    // --- grants and the record of every request -----------------------------
    /// In one transaction: if the delivery has no grant that is unrevoked and
    /// unexpired at `now`, stores `grant` as its live grant and `record`
    /// (which names the grant) and returns true; otherwise stores nothing and
    /// returns false. The database enforces this, not process memory.
    /// `events` (the request and the grant) are written only if it won.
    async fn claim_grant(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<bool>;
    /// [`Store::claim_grant`] that also numbers the doors, in the same
    /// transaction: every door of `grant` gets its lock's next sequence
    /// number (the counter of [`Store::next_lock_sequence`]; whatever
    /// `sequence` the door had is replaced), in the order of `grant.doors`.
    /// Returns the grant as stored, numbers included. If the delivery already
    /// has a live grant, stores nothing, uses up no number and returns None.
    /// NotFound, and nothing stored, if a door names an unknown lock. With
    /// the grant come the log indexes of `events`, written if it won.
    async fn claim_grant_with_sequences(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>>;
    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>>;
    async fn list_grants(&self, delivery: DeliveryId) -> StoreResult<Vec<Grant>>;
    /// Marks revoked every grant of the unit's deliveries that is unrevoked
    /// and unexpired at `now`; returns them as they now are. The events
    /// `revoked` makes of each revoked grant are written with the change.
    async fn revoke_live_grants_for_unit(
        &self,
        unit: UnitId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>>;
    /// Ends the delivery's live grant (used up by completion) without
    /// calling it revoked.
    async fn close_live_grant(&self, delivery: DeliveryId, now: UnixSeconds) -> StoreResult<()>;

    /// Records a refused request (granted ones are recorded by
    /// `claim_grant`) with its events; returns their log indexes.
    async fn record_access_request(&self, record: &AccessRequestRecord, events: &[Event])
        -> StoreResult<Vec<LogIndex>>;
    /// Everything an access request is decided on, read together: the
    /// property (None if it does not exist: then nothing else matters), the
    /// driver, the delivery with the tracking number among the carrier's,
    /// the carrier's enablement at the property, the active block and the
    /// preferences of the delivery's unit, and the property's drop spots,
    /// access points and locks, each exactly as its own getter would return
    /// it (see [`AccessContext`]). Nothing comes from a cache: a change
    /// committed before the call, by any process, is seen. SQLite reads all
    /// of it in one read transaction (one snapshot).
    async fn access_context(&self, query: &AccessContextQuery<'_>) -> StoreResult<Option<AccessContext>>;
    /// Newest first.
    async fn list_access_requests(&self, filter: &AccessRequestFilter) -> StoreResult<Vec<AccessRequestRecord>>;
}
