//! The conformance suite: what every `Store` must do, written once as async
//! checks over `Arc<dyn Store>` and run against every backend.
//!
//! SQLite runs always (a fresh file under the temp directory per test).
//! PostgreSQL runs when `DOORMAN_TEST_POSTGRES_URL` names a server, each test
//! in a schema of its own (`open_isolated_postgres`); without it those tests
//! print that they were skipped and pass.

// A test binary: its helpers fail loudly on purpose, like the tests they
// serve (clippy's allow-*-in-tests covers only the #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use doorman_domain::{
    AccessPoint, AccessPointKind, AccessRequestId, AccessRequestRecord, Block, Carrier, CarrierEnablement, CarrierId,
    Delivery, DeliveryId, DeliveryKind, DeliveryState, Driver, DriverId, DriverStatus, DropSpot, DropSpotId,
    DropSpotKind, GeoPoint, Grant, GrantId, GrantedDoor, Invitation, InvitationId, Lock, LockId, Manager, ManagerId,
    Principal, Property, PropertyId, PropertyKind, RefusalReason, Resident, ResidentId, TenantNotice, TokenId, Unit,
    UnitId, UnitPreferences, VettingStatus, WeeklyHours,
};
use doorman_domain::{Event, EventKind, PasskeyId};
use doorman_domain::{GuestDoor, GuestPass, GuestPassId, TrunkFacts, Vehicle, VehicleId, VehiclePosition};
use doorman_store::{
    AccessContext, AccessContextQuery, AccessRequestFilter, DeliveryFilter, Store, StoreError, TokenRecord,
    WebSessionRecord,
};
use doorman_store::{
    CeremonyRecord, EntryFilter, Integration, Integrator, LogState, PasskeyRecord, PasskeyUse, StoredEntry,
};

const POSTGRES_URL_VAR: &str = "DOORMAN_TEST_POSTGRES_URL";

/// A moment in 2026; tests move around it.
const T0: i64 = 1_780_000_000;

// --- backends ----------------------------------------------------------------

/// A database file under the temp directory, removed (with its WAL files)
/// when the test ends.
struct TempDatabase(PathBuf);

impl TempDatabase {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("doorman-store-test-{}.db", uuid::Uuid::new_v4().simple())))
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8 here")
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn sqlite_store() -> (Arc<dyn Store>, TempDatabase) {
    let file = TempDatabase::new();
    let store = doorman_store::open(file.path()).await.expect("open SQLite");
    assert_eq!(store.backend(), "sqlite");
    (store, file)
}

async fn postgres_store(test: &str) -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("skipped {test} on PostgreSQL: {POSTGRES_URL_VAR} is not set");
        return None;
    };
    let store = doorman_store::open_isolated_postgres(&url).await.expect("open PostgreSQL");
    assert_eq!(store.backend(), "postgres");
    Some(store)
}

/// Runs each named check against SQLite and against PostgreSQL.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let (store, _file) = super::sqlite_store().await;
                    super::$check(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    if let Some(store) = super::postgres_store(stringify!($check)).await {
                        super::$check(store).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    answers_ping,
    passkeys_sign_in_once_per_counter_and_end_with_their_token,
    the_last_way_in_is_kept_and_passkeys_are_their_holders_alone,
    ceremonies_are_taken_once_and_expire,
    reinvitation_removes_the_passkeys_and_brings_back_the_same_resident,
    tokens_round_trip_every_principal,
    deleted_token_ends_its_sessions_with_its_events_once,
    web_sessions_act_as_their_token_until_expiry_or_deletion,
    bootstrap_operator_happens_once,
    bootstrap_operator_has_one_winner_under_concurrency,
    managers_and_carriers_round_trip_with_their_tokens,
    failed_multi_row_writes_leave_nothing,
    properties_round_trip_and_stay_with_their_manager,
    units_doors_locks_and_spots_round_trip,
    schema_refuses_bad_references,
    one_lock_per_access_point,
    lock_sequence_starts_at_one_and_never_repeats,
    lock_sequence_is_unique_under_50_concurrent_callers,
    enablements_are_upserted_per_property_and_carrier,
    invitation_redeems_once_and_not_after_expiry,
    invitation_redeems_once_under_concurrency,
    preferences_default_and_replace,
    blocks_start_end_and_stay_with_their_unit,
    drivers_round_trip_and_update,
    deliveries_round_trip_and_tracking_numbers_are_unique_per_carrier,
    deliveries_list_newest_first_and_filter,
    update_delivery_compares_and_sets,
    claim_grant_allows_one_live_grant,
    claim_grant_has_one_winner_among_50,
    failed_claim_leaves_nothing,
    revoke_live_grants_touches_only_that_units_live_grants,
    close_live_grant_ends_it_without_revoking,
    complete_delivery_ends_its_grant_in_the_same_transaction,
    access_requests_round_trip_filter_and_order,
    access_context_is_what_the_getters_return,
    access_context_sees_every_change_at_once,
    claim_with_sequences_numbers_the_doors_and_claims_once,
    claim_with_sequences_has_one_winner_and_never_repeats_a_number,
    failed_claim_with_sequences_leaves_nothing,
    claims_of_many_parcels_at_once_number_every_door_once,
    concurrent_writes_fail_alone,
    the_log_is_dense_sequenced_in_batches_and_provable,
    concurrent_appends_never_share_an_index,
    scope_filters_find_each_readers_entries,
    events_are_written_with_their_change_and_only_then,
    fleet_lock_is_stored_with_its_account_in_one_transaction,
    lock_events_are_stored_once_as_the_next_link,
    lock_events_have_one_winner_under_concurrency,
    lock_gaps_problems_and_health_are_kept,
    lock_fleet_counts_what_is_in_service_and_stale,
    door_rows_move_by_compare_and_set_with_their_lock_event,
    clips_are_stored_then_deleted_once_with_their_entries,
    lock_revocations_number_their_bundles,
    revoke_live_grants_for_delivery_touches_only_that_delivery,
    webhooks_round_trip_per_owner,
    webhook_outbox_moves_with_its_cursor_once,
    webhook_attempts_lease_finish_and_resend,
    pickup_points_round_trip,
    a_logged_delivery_is_written_with_its_events_or_not_at_all,
    vehicles_are_stored_whole_or_not_at_all_with_their_last_position,
    guest_passes_number_their_doors_and_revoke_once,
    structure_edits_and_soft_removals,
    removals_refuse_what_is_in_the_way_and_write_nothing,
    door_parents_never_form_a_cycle,
    removed_drop_spots_leave_the_enablements,
    decommissioned_locks_lose_their_account_and_leave_the_access_path,
    a_replaced_lock_hands_its_door_to_the_new_one,
    moving_out_ends_the_residents_tokens_and_sessions_only,
    withdrawing_an_enablement_revokes_that_carriers_live_grants_there,
    a_property_is_handed_over_only_to_an_existing_manager,
    notification_choices_and_the_address_are_set_together,
    mail_outbox_moves_with_its_cursor_once_per_event_person_and_kind,
    mail_attempts_lease_and_finish,
    sign_in_links_are_limited_and_spent_once_into_a_session,
    names_are_found_in_bulk_removed_ones_too,
    one_sequencer_seat_is_held_at_a_time_and_passes_on,
    log_growth_wakes_listeners_on_commit,
    a_remote_unlock_in_flight_is_taken_once,
    service_accounts_are_upserted,
);

// --- fixtures ----------------------------------------------------------------

/// For revocations whose events a test does not look at.
fn no_events(_: &Grant) -> Result<Vec<Event>, String> {
    Ok(Vec::new())
}

fn random_hash() -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash
}

fn token(principal: Principal) -> TokenRecord {
    TokenRecord { id: TokenId::random(), hash: random_hash(), principal, label: "test token".into(), created_at: T0 }
}

fn manager(name: &str, created_at: i64) -> Manager {
    Manager { id: ManagerId::random(), name: name.into(), created_at }
}

fn carrier(name: &str, created_at: i64) -> Carrier {
    Carrier { id: CarrierId::random(), name: name.into(), created_at }
}

fn property(manager: ManagerId, name: &str, created_at: i64) -> Property {
    Property {
        id: PropertyId::random(),
        manager_id: manager,
        kind: PropertyKind::Building,
        name: name.into(),
        address: "12 Orchard St, New York".into(),
        location: GeoPoint { lat: 40.715_123_456_789, lon: -73.990_987_654_321 },
        time_zone: "America/New_York".into(),
        tenant_notice: None,
        created_at,
    }
}

fn unit(property: PropertyId, label: &str) -> Unit {
    Unit { id: UnitId::random(), property_id: property, label: label.into() }
}

fn door(property: PropertyId, kind: AccessPointKind, name: &str, parent: Option<&AccessPoint>) -> AccessPoint {
    AccessPoint {
        id: doorman_domain::AccessPointId::random(),
        property_id: property,
        kind,
        name: name.into(),
        parent_id: parent.map(|p| p.id),
        unit_id: None,
    }
}

fn lock(ap: &AccessPoint, created_at: i64) -> Lock {
    Lock {
        id: LockId::random(),
        property_id: ap.property_id,
        access_point_id: ap.id,
        device_public_key: (0u8..32).collect(),
        model: "DL-1".into(),
        firmware: "1.4.2".into(),
        mobile_credential: true,
        keypad: false,
        created_at,
        decommissioned_at: None,
        replaced_by: None,
    }
}

fn drop_spot(ap: &AccessPoint, kind: DropSpotKind, name: &str, unit: Option<UnitId>) -> DropSpot {
    DropSpot {
        id: DropSpotId::random(),
        property_id: ap.property_id,
        name: name.into(),
        kind,
        access_point_id: ap.id,
        unit_id: unit,
    }
}

fn driver(carrier: CarrierId, name: &str, created_at: i64) -> Driver {
    Driver {
        id: DriverId::random(),
        carrier_id: carrier,
        name: name.into(),
        handheld_public_key: Some(vec![4; 65]),
        vetting: VettingStatus::Passed,
        vetted_at: Some(created_at - 86_400),
        status: DriverStatus::Active,
        created_at,
    }
}

fn delivery(carrier: CarrierId, unit: &Unit, tracking: &str, created_at: i64) -> Delivery {
    Delivery {
        id: DeliveryId::random(),
        carrier_id: carrier,
        property_id: unit.property_id,
        unit_id: unit.id,
        tracking_number: tracking.into(),
        kind: DeliveryKind::Drop,
        window_start: created_at,
        window_end: created_at + 8 * 3600,
        eta: None,
        state: DeliveryState::Registered,
        drop_spot_id: None,
        completed_by: None,
        photo_ref: None,
        hash_salt: *uuid::Uuid::new_v4().as_bytes(),
        created_at,
        updated_at: created_at,
    }
}

/// A New York walk-up: entrance → lobby → package room and a unit door; a
/// lock on the entrance and the lobby; one carrier with a driver and a
/// parcel for unit 1A.
struct World {
    manager: Manager,
    property: Property,
    unit: Unit,
    other_unit: Unit,
    entrance: AccessPoint,
    lobby: AccessPoint,
    package_room: AccessPoint,
    entrance_lock: Lock,
    lobby_lock: Lock,
    spot: DropSpot,
    carrier: Carrier,
    driver: Driver,
    delivery: Delivery,
}

async fn world(store: &dyn Store) -> World {
    let manager = manager("Orchard Management", T0);
    store.insert_manager(&manager, &token(Principal::Manager { manager_id: manager.id }), &[]).await.unwrap();
    let property = property(manager.id, "12 Orchard St", T0);
    store.insert_property(&property, &[]).await.unwrap();
    let unit = unit(property.id, "1A");
    let other_unit = self::unit(property.id, "2B");
    store.insert_unit(&unit, &[]).await.unwrap();
    store.insert_unit(&other_unit, &[]).await.unwrap();
    let entrance = door(property.id, AccessPointKind::Entrance, "Street door", None);
    let lobby = door(property.id, AccessPointKind::Lobby, "Lobby door", Some(&entrance));
    let package_room = door(property.id, AccessPointKind::PackageRoom, "Package room", Some(&lobby));
    for ap in [&entrance, &lobby, &package_room] {
        store.insert_access_point(ap, &[]).await.unwrap();
    }
    let entrance_lock = lock(&entrance, T0);
    let lobby_lock = Lock { keypad: true, mobile_credential: false, ..lock(&lobby, T0 + 1) };
    store.insert_lock(&entrance_lock, &[]).await.unwrap();
    store.insert_lock(&lobby_lock, &[]).await.unwrap();
    let spot = drop_spot(&package_room, DropSpotKind::PackageRoom, "Package room shelf", None);
    store.insert_drop_spot(&spot, &[]).await.unwrap();
    let carrier = carrier("Hudson Parcel", T0);
    store.insert_carrier(&carrier, &token(Principal::Carrier { carrier_id: carrier.id }), &[]).await.unwrap();
    let driver = driver(carrier.id, "Ada", T0);
    store
        .insert_driver(&driver, &token(Principal::Driver { driver_id: driver.id, carrier_id: carrier.id }))
        .await
        .unwrap();
    let delivery = delivery(carrier.id, &unit, "1Z999AA10123456784", T0);
    store.insert_delivery(&delivery).await.unwrap();
    World {
        manager,
        property,
        unit,
        other_unit,
        entrance,
        lobby,
        package_room,
        entrance_lock,
        lobby_lock,
        spot,
        carrier,
        driver,
        delivery,
    }
}

/// `count` parcels for the world's unit, stored, tracked as PREFIX-0 onwards.
async fn parcels(store: &dyn Store, w: &World, prefix: &str, count: usize) -> Vec<Delivery> {
    let mut parcels = Vec::with_capacity(count);
    for i in 0..count {
        let parcel = delivery(w.carrier.id, &w.unit, &format!("{prefix}-{i}"), T0);
        store.insert_delivery(&parcel).await.unwrap();
        parcels.push(parcel);
    }
    parcels
}

impl World {
    fn grant(&self, delivery: &Delivery, issued_at: i64, expires_at: i64) -> Grant {
        Grant {
            id: GrantId::random(),
            delivery_id: delivery.id,
            driver_id: self.driver.id,
            carrier_id: delivery.carrier_id,
            property_id: delivery.property_id,
            unit_id: delivery.unit_id,
            drop_spot_id: self.spot.id,
            doors: vec![
                GrantedDoor {
                    access_point_id: self.entrance.id,
                    lock_id: self.entrance_lock.id,
                    credential_id: Some(vec![0xc7; 16]),
                    sequence: Some(7),
                    door_code: false,
                },
                GrantedDoor {
                    access_point_id: self.lobby.id,
                    lock_id: self.lobby_lock.id,
                    credential_id: None,
                    sequence: None,
                    door_code: true,
                },
            ],
            issued_at,
            expires_at,
            revoked_at: None,
        }
    }

    fn request(&self, delivery: Option<&Delivery>, at: i64) -> AccessRequestRecord {
        AccessRequestRecord {
            id: AccessRequestId::random(),
            driver_id: self.driver.id,
            carrier_id: self.carrier.id,
            property_id: self.property.id,
            delivery_id: delivery.map(|d| d.id),
            unit_id: delivery.map(|d| d.unit_id),
            position: GeoPoint { lat: 40.715_1, lon: -73.990_9 },
            at,
            grant_id: None,
            refusal: None,
        }
    }

    fn granted_request(&self, grant: &Grant, delivery: &Delivery) -> AccessRequestRecord {
        AccessRequestRecord { grant_id: Some(grant.id), ..self.request(Some(delivery), grant.issued_at) }
    }

    async fn residents(&self, store: &dyn Store, unit: &Unit) -> Resident {
        let code = random_hash();
        let invitation = Invitation {
            id: InvitationId::random(),
            unit_id: unit.id,
            name: format!("Resident of {}", unit.label),
            email: "resident@example.org".into(),
            created_at: T0,
            expires_at: T0 + 3600,
            redeemed_at: None,
            resident_id: None,
        };
        store.insert_invitation(&invitation, &code).await.unwrap();
        store.redeem_invitation(&code, ResidentId::random(), TokenId::random(), &random_hash(), T0 + 1).await.unwrap()
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

// --- checks ------------------------------------------------------------------

async fn answers_ping(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

async fn web_sessions_act_as_their_token_until_expiry_or_deletion(store: Arc<dyn Store>) {
    let resident = token(Principal::Resident { resident_id: ResidentId::random(), unit_id: UnitId::random() });
    let manager = token(Principal::Manager { manager_id: ManagerId::random() });
    store.insert_token(&resident).await.unwrap();
    store.insert_token(&manager).await.unwrap();
    let session = |token: &TokenRecord, created_at: i64| WebSessionRecord {
        hash: random_hash(),
        token_hash: token.hash,
        created_at,
        expires_at: created_at + 3600,
    };
    let a = session(&resident, T0);
    let b = session(&manager, T0 + 10);
    store.insert_web_session(&a).await.unwrap();
    store.insert_web_session(&b).await.unwrap();
    assert_eq!(store.principal_for_web_session(&a.hash, T0 + 1).await.unwrap(), Some(resident.principal));
    assert_eq!(store.principal_for_web_session(&b.hash, T0 + 11).await.unwrap(), Some(manager.principal));
    // The token's hash is not a session, nor is an unknown one.
    assert_eq!(store.principal_for_web_session(&resident.hash, T0 + 1).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&random_hash(), T0 + 1).await.unwrap(), None);
    // Expiry is exclusive.
    assert_eq!(store.principal_for_web_session(&a.hash, T0 + 3600).await.unwrap(), None);
    // A session for a token that does not exist is refused, and nothing is stored.
    let orphan = WebSessionRecord { token_hash: random_hash(), ..session(&resident, T0) };
    assert!(matches!(store.insert_web_session(&orphan).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.principal_for_web_session(&orphan.hash, T0 + 1).await.unwrap(), None);
    // Deleting ends it once; the other session is untouched.
    assert!(store.delete_web_session(&b.hash).await.unwrap());
    assert!(!store.delete_web_session(&b.hash).await.unwrap());
    assert_eq!(store.principal_for_web_session(&b.hash, T0 + 11).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&a.hash, T0 + 11).await.unwrap(), Some(resident.principal));
    // A later sign-in forgets sessions expired by then: `a` is gone even for a
    // reader whose clock is behind.
    store.insert_web_session(&session(&manager, T0 + 4000)).await.unwrap();
    assert_eq!(store.principal_for_web_session(&a.hash, T0 + 1).await.unwrap(), None);
}

async fn tokens_round_trip_every_principal(store: Arc<dyn Store>) {
    let principals = [
        Principal::Operator,
        Principal::Manager { manager_id: ManagerId::random() },
        Principal::Carrier { carrier_id: CarrierId::random() },
        Principal::Driver { driver_id: DriverId::random(), carrier_id: CarrierId::random() },
        Principal::Resident { resident_id: ResidentId::random(), unit_id: UnitId::random() },
    ];
    let mut tokens = Vec::new();
    for principal in principals {
        let token = token(principal);
        store.insert_token(&token).await.unwrap();
        tokens.push(token);
    }
    for token in &tokens {
        assert_eq!(store.principal_for_token(&token.hash).await.unwrap(), Some(token.principal));
    }
    assert_eq!(store.principal_for_token(&random_hash()).await.unwrap(), None);

    let first = &tokens[0];
    assert_conflict(store.insert_token(&TokenRecord { id: TokenId::random(), ..first.clone() }).await, "same hash");
    assert_conflict(store.insert_token(&TokenRecord { hash: random_hash(), ..first.clone() }).await, "same id");
}

async fn deleted_token_ends_its_sessions_with_its_events_once(store: Arc<dyn Store>) {
    let kept = token(Principal::Manager { manager_id: ManagerId::random() });
    let gone = token(Principal::Carrier { carrier_id: CarrierId::random() });
    store.insert_token(&kept).await.unwrap();
    // A token stored with its logging, together.
    store.insert_token_logged(&gone, &marker("token minted")).await.unwrap();
    assert_conflict(store.insert_token_logged(&gone, &marker("minted twice")).await, "the same token twice");
    let session = |token: &TokenRecord| WebSessionRecord {
        hash: random_hash(),
        token_hash: token.hash,
        created_at: T0,
        expires_at: T0 + 3600,
    };
    let (a, b, other) = (session(&gone), session(&gone), session(&kept));
    for s in [&a, &b, &other] {
        store.insert_web_session(s).await.unwrap();
    }
    assert!(store.delete_token(&gone.hash, &marker("token revoked")).await.unwrap());
    assert_eq!(store.principal_for_token(&gone.hash).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&a.hash, T0 + 1).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&b.hash, T0 + 1).await.unwrap(), None);
    // Someone else's token and session are untouched.
    assert_eq!(store.principal_for_token(&kept.hash).await.unwrap(), Some(kept.principal));
    assert_eq!(store.principal_for_web_session(&other.hash, T0 + 1).await.unwrap(), Some(kept.principal));
    // Once: again, or an unknown hash, deletes nothing and logs nothing.
    assert!(!store.delete_token(&gone.hash, &marker("revoked again")).await.unwrap());
    assert!(!store.delete_token(&random_hash(), &marker("never was")).await.unwrap());
    let words: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(words, vec!["token minted".to_string(), "token revoked".to_string()]);
}

async fn bootstrap_operator_happens_once(store: Arc<dyn Store>) {
    let first = token(Principal::Operator);
    assert!(store.bootstrap_operator(&first).await.unwrap());
    assert_eq!(store.principal_for_token(&first.hash).await.unwrap(), Some(Principal::Operator));

    let second = token(Principal::Operator);
    assert!(!store.bootstrap_operator(&second).await.unwrap());
    assert_eq!(store.principal_for_token(&second.hash).await.unwrap(), None, "the loser stores nothing");
    // ordinary tokens are not bootstraps and do not reset it
    store.insert_token(&token(Principal::Operator)).await.unwrap();
    assert!(!store.bootstrap_operator(&token(Principal::Operator)).await.unwrap());
    assert_eq!(store.principal_for_token(&first.hash).await.unwrap(), Some(Principal::Operator));
}

async fn bootstrap_operator_has_one_winner_under_concurrency(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            let token = token(Principal::Operator);
            let won = store.bootstrap_operator(&token).await.unwrap();
            (won, token.hash)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<_> = results.iter().filter(|(won, _)| *won).collect();
    assert_eq!(winners.len(), 1, "exactly one bootstrap wins");
    for (won, hash) in &results {
        let stored = store.principal_for_token(hash).await.unwrap();
        assert_eq!(stored.is_some(), *won);
    }
}

async fn managers_and_carriers_round_trip_with_their_tokens(store: Arc<dyn Store>) {
    let later = manager("Second Avenue Holdings", T0 + 10);
    let earlier = manager("Bowery Realty", T0);
    let later_token = token(Principal::Manager { manager_id: later.id });
    store.insert_manager(&later, &later_token, &[]).await.unwrap();
    store.insert_manager(&earlier, &token(Principal::Manager { manager_id: earlier.id }), &[]).await.unwrap();
    assert_eq!(store.get_manager(later.id).await.unwrap(), Some(later.clone()));
    assert_eq!(store.get_manager(ManagerId::random()).await.unwrap(), None);
    assert_eq!(store.list_managers().await.unwrap(), vec![earlier.clone(), later.clone()], "oldest first");
    assert_eq!(
        store.principal_for_token(&later_token.hash).await.unwrap(),
        Some(Principal::Manager { manager_id: later.id })
    );
    assert_conflict(store.insert_manager(&later, &token(Principal::Operator), &[]).await, "same manager twice");

    let c2 = carrier("Quick Ship", T0 + 5);
    let c1 = carrier("Hudson Parcel", T0);
    let c2_token = token(Principal::Carrier { carrier_id: c2.id });
    store.insert_carrier(&c2, &c2_token, &[]).await.unwrap();
    store.insert_carrier(&c1, &token(Principal::Carrier { carrier_id: c1.id }), &[]).await.unwrap();
    assert_eq!(store.get_carrier(c1.id).await.unwrap(), Some(c1.clone()));
    assert_eq!(store.get_carrier(CarrierId::random()).await.unwrap(), None);
    assert_eq!(store.list_carriers().await.unwrap(), vec![c1, c2.clone()]);
    assert_eq!(
        store.principal_for_token(&c2_token.hash).await.unwrap(),
        Some(Principal::Carrier { carrier_id: c2.id })
    );
}

/// Every method that writes more than one row is all or nothing.
async fn failed_multi_row_writes_leave_nothing(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let taken = token(Principal::Operator);
    store.insert_token(&taken).await.unwrap();
    let reused_hash = |principal| TokenRecord { hash: taken.hash, ..token(principal) };

    let m = manager("Half Written", T0);
    assert_conflict(
        store.insert_manager(&m, &reused_hash(Principal::Manager { manager_id: m.id }), &[]).await,
        "manager",
    );
    assert_eq!(store.get_manager(m.id).await.unwrap(), None);

    let c = carrier("Half Written", T0);
    assert_conflict(
        store.insert_carrier(&c, &reused_hash(Principal::Carrier { carrier_id: c.id }), &[]).await,
        "carrier",
    );
    assert_eq!(store.get_carrier(c.id).await.unwrap(), None);

    let d = driver(w.carrier.id, "Half Written", T0);
    let driver_token = reused_hash(Principal::Driver { driver_id: d.id, carrier_id: w.carrier.id });
    assert_conflict(store.insert_driver(&d, &driver_token).await, "driver");
    assert_eq!(store.get_driver(d.id).await.unwrap(), None);
    assert_eq!(store.list_drivers(w.carrier.id).await.unwrap(), vec![w.driver.clone()]);

    // a redemption whose token cannot be stored keeps the invitation usable
    let code = random_hash();
    let invitation = Invitation {
        id: InvitationId::random(),
        unit_id: w.unit.id,
        name: "Grace".into(),
        email: "grace@example.org".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        redeemed_at: None,
        resident_id: None,
    };
    store.insert_invitation(&invitation, &code).await.unwrap();
    let resident_id = ResidentId::random();
    assert_conflict(
        store.redeem_invitation(&code, resident_id, TokenId::random(), &taken.hash, T0 + 1).await,
        "redemption with a taken token hash",
    );
    assert_eq!(store.get_resident(resident_id).await.unwrap(), None);
    assert_eq!(store.list_invitations(w.unit.id).await.unwrap(), vec![invitation]);
    let resident =
        store.redeem_invitation(&code, resident_id, TokenId::random(), &random_hash(), T0 + 2).await.unwrap();
    assert_eq!(store.list_residents(w.unit.id).await.unwrap(), vec![resident]);
}

async fn properties_round_trip_and_stay_with_their_manager(store: Arc<dyn Store>) {
    let m1 = manager("One", T0);
    let m2 = manager("Two", T0);
    store.insert_manager(&m1, &token(Principal::Manager { manager_id: m1.id }), &[]).await.unwrap();
    store.insert_manager(&m2, &token(Principal::Manager { manager_id: m2.id }), &[]).await.unwrap();

    let second = property(m1.id, "Second", T0 + 20);
    let first = Property {
        kind: PropertyKind::Vehicle,
        tenant_notice: Some(TenantNotice {
            text: "Couriers may enter the lobby.".into(),
            notified_at: T0,
            live_from: T0 + 86_400,
        }),
        ..property(m1.id, "First", T0)
    };
    let others = property(m2.id, "Someone else's", T0);
    for p in [&second, &first, &others] {
        store.insert_property(p, &[]).await.unwrap();
    }
    assert_eq!(store.get_property(first.id).await.unwrap(), Some(first.clone()), "exact round trip, floats too");
    assert_eq!(store.get_property(PropertyId::random()).await.unwrap(), None);
    assert_eq!(store.list_properties(m1.id).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(store.list_properties(m2.id).await.unwrap(), vec![others]);
    assert_eq!(store.list_properties(ManagerId::random()).await.unwrap(), vec![]);

    let notice = TenantNotice {
        text: "From Monday, couriers of enabled carriers may enter.".into(),
        notified_at: T0 + 5,
        live_from: T0 + 7 * 86_400,
    };
    store.set_tenant_notice(second.id, &notice, &[]).await.unwrap();
    assert_eq!(store.get_property(second.id).await.unwrap().unwrap().tenant_notice, Some(notice.clone()));
    assert_not_found(
        store.set_tenant_notice(PropertyId::random(), &notice, &[]).await,
        "notice for an unknown property",
    );
}

async fn units_doors_locks_and_spots_round_trip(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let p = w.property.id;

    assert_eq!(store.get_unit(w.unit.id).await.unwrap(), Some(w.unit.clone()));
    assert_eq!(store.get_unit(UnitId::random()).await.unwrap(), None);
    let unit_3 = unit(p, "3C");
    let unit_0 = unit(p, "0G");
    store.insert_unit(&unit_3, &[]).await.unwrap();
    store.insert_unit(&unit_0, &[]).await.unwrap();
    assert_eq!(
        store.list_units(p).await.unwrap(),
        vec![unit_0, w.unit.clone(), w.other_unit.clone(), unit_3],
        "by label"
    );

    let unit_door =
        AccessPoint { unit_id: Some(w.unit.id), ..door(p, AccessPointKind::UnitDoor, "Apartment 1A", Some(&w.lobby)) };
    store.insert_access_point(&unit_door, &[]).await.unwrap();
    assert_eq!(store.get_access_point(unit_door.id).await.unwrap(), Some(unit_door.clone()));
    assert_eq!(store.get_access_point(w.entrance.id).await.unwrap(), Some(w.entrance.clone()));
    assert_eq!(store.get_access_point(doorman_domain::AccessPointId::random()).await.unwrap(), None);
    assert_eq!(
        store.list_access_points(p).await.unwrap(),
        vec![unit_door.clone(), w.lobby.clone(), w.package_room.clone(), w.entrance.clone()],
        "by name"
    );

    assert_eq!(store.get_lock(w.lobby_lock.id).await.unwrap(), Some(w.lobby_lock.clone()));
    assert_eq!(store.get_lock(LockId::random()).await.unwrap(), None);
    assert_eq!(store.list_locks(p).await.unwrap(), vec![w.entrance_lock.clone(), w.lobby_lock.clone()], "oldest first");

    let at_door = drop_spot(&unit_door, DropSpotKind::UnitDoor, "Outside 1A", Some(w.unit.id));
    store.insert_drop_spot(&at_door, &[]).await.unwrap();
    assert_eq!(store.get_drop_spot(at_door.id).await.unwrap(), Some(at_door.clone()));
    assert_eq!(store.get_drop_spot(DropSpotId::random()).await.unwrap(), None);
    assert_eq!(store.list_drop_spots(p).await.unwrap(), vec![at_door, w.spot.clone()], "by name");

    // another property's things never appear
    let elsewhere = property(w.manager.id, "Elsewhere", T0);
    store.insert_property(&elsewhere, &[]).await.unwrap();
    let gate = door(elsewhere.id, AccessPointKind::Garage, "Garage", None);
    store.insert_access_point(&gate, &[]).await.unwrap();
    store.insert_unit(&unit(elsewhere.id, "1A"), &[]).await.unwrap();
    store.insert_lock(&lock(&gate, T0), &[]).await.unwrap();
    assert_eq!(store.list_units(p).await.unwrap().len(), 4);
    assert_eq!(store.list_access_points(p).await.unwrap().len(), 4);
    assert_eq!(store.list_locks(p).await.unwrap().len(), 2);
    assert_eq!(store.list_access_points(elsewhere.id).await.unwrap(), vec![gate]);
}

async fn schema_refuses_bad_references(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let p = w.property.id;
    assert_conflict(store.insert_property(&property(ManagerId::random(), "Orphan", T0), &[]).await, "unknown manager");
    assert_conflict(store.insert_unit(&unit(PropertyId::random(), "X"), &[]).await, "unknown property");
    let mut orphan_door = door(p, AccessPointKind::Lobby, "Orphan", None);
    orphan_door.parent_id = Some(doorman_domain::AccessPointId::random());
    assert_conflict(store.insert_access_point(&orphan_door, &[]).await, "unknown parent door");

    // a row never points at a unit or door of another property
    let elsewhere = property(w.manager.id, "Elsewhere", T0);
    store.insert_property(&elsewhere, &[]).await.unwrap();
    let foreign_unit_door =
        AccessPoint { unit_id: Some(w.unit.id), ..door(elsewhere.id, AccessPointKind::UnitDoor, "X", None) };
    assert_conflict(store.insert_access_point(&foreign_unit_door, &[]).await, "unit of another property");
    let foreign_lock = Lock { property_id: elsewhere.id, ..lock(&w.package_room, T0) };
    assert_conflict(store.insert_lock(&foreign_lock, &[]).await, "lock on another property's door");
    let foreign_spot =
        DropSpot { property_id: elsewhere.id, ..drop_spot(&w.package_room, DropSpotKind::Lobby, "X", None) };
    assert_conflict(store.insert_drop_spot(&foreign_spot, &[]).await, "spot behind another property's door");
    let other_unit = unit(elsewhere.id, "9Z");
    store.insert_unit(&other_unit, &[]).await.unwrap();
    let mismatched = Delivery { property_id: p, ..delivery(w.carrier.id, &other_unit, "MISMATCH", T0) };
    assert_conflict(store.insert_delivery(&mismatched).await, "delivery to a unit of another property");

    assert_conflict(
        store.insert_delivery(&delivery(CarrierId::random(), &w.unit, "NOCARRIER", T0)).await,
        "unknown carrier",
    );
    assert_conflict(
        store.insert_driver(&driver(CarrierId::random(), "Nobody", T0), &token(Principal::Operator)).await,
        "driver of an unknown carrier",
    );
    let enablement = CarrierEnablement {
        property_id: p,
        carrier_id: CarrierId::random(),
        enabled: true,
        hours: vec![],
        allowed_drop_spots: vec![],
        updated_at: T0,
    };
    assert_conflict(store.put_enablement(&enablement, &[]).await, "enablement of an unknown carrier");
    let preferences = UnitPreferences { preferred_drop_spot: Some(DropSpotId::random()), ..UnitPreferences::default() };
    assert_conflict(store.put_preferences(w.unit.id, &preferences).await, "unknown preferred spot");
    assert_conflict(store.put_preferences(UnitId::random(), &UnitPreferences::default()).await, "unknown unit");
    let block = Block { unit_id: w.unit.id, blocked_by: ResidentId::random(), from: T0, until: None, reason: None };
    assert_conflict(store.insert_block(&block, &[]).await, "block by an unknown resident");
    let mut record = w.request(None, T0);
    record.driver_id = DriverId::random();
    assert_conflict(store.record_access_request(&record, &[]).await, "request of an unknown driver");
    let invitation = Invitation {
        id: InvitationId::random(),
        unit_id: UnitId::random(),
        name: "N".into(),
        email: "n@example.org".into(),
        created_at: T0,
        expires_at: T0 + 1,
        redeemed_at: None,
        resident_id: None,
    };
    assert_conflict(store.insert_invitation(&invitation, &random_hash()).await, "invitation to an unknown unit");
    let ghost = Grant { delivery_id: DeliveryId::random(), ..w.grant(&w.delivery, T0, T0 + 300) };
    assert_conflict(
        store.claim_grant(&ghost, &w.granted_request(&ghost, &w.delivery), T0, &[]).await,
        "grant of an unknown delivery",
    );
}

async fn one_lock_per_access_point(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let second = lock(&w.entrance, T0 + 100);
    assert_conflict(store.insert_lock(&second, &[]).await, "second lock on the entrance");
    assert_eq!(store.get_lock(second.id).await.unwrap(), None);
    assert_conflict(store.insert_lock(&w.entrance_lock, &[]).await, "the same lock again");
}

async fn lock_sequence_starts_at_one_and_never_repeats(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 1);
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 2);
    assert_eq!(store.next_lock_sequence(w.lobby_lock.id).await.unwrap(), 1, "each lock counts on its own");
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 3);
    assert_not_found(store.next_lock_sequence(LockId::random()).await, "unknown lock");
}

async fn lock_sequence_is_unique_under_50_concurrent_callers(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let store = store.clone();
        let lock = w.entrance_lock.id;
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                seen.push(store.next_lock_sequence(lock).await.unwrap());
            }
            seen
        });
    }
    let mut all = Vec::new();
    for seen in tasks.join_all().await {
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "one caller sees its numbers increase: {seen:?}");
        all.extend(seen);
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 150, "no number handed out twice");
    assert_eq!(distinct, (1..=150).collect(), "and none skipped");
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 151);
}

async fn enablements_are_upserted_per_property_and_carrier(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    assert_eq!(store.get_enablement(w.property.id, w.carrier.id).await.unwrap(), None);

    let weekdays = WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        start: "08:00".into(),
        end: "20:00".into(),
    };
    let first = CarrierEnablement {
        property_id: w.property.id,
        carrier_id: w.carrier.id,
        enabled: true,
        hours: vec![
            weekdays.clone(),
            WeeklyHours { days: vec!["sat".into()], start: "10:00".into(), end: "14:00".into() },
        ],
        allowed_drop_spots: vec![w.spot.id],
        updated_at: T0,
    };
    store.put_enablement(&first, &[]).await.unwrap();
    assert_eq!(store.get_enablement(w.property.id, w.carrier.id).await.unwrap(), Some(first.clone()));

    let replaced = CarrierEnablement {
        enabled: false,
        hours: vec![weekdays],
        allowed_drop_spots: vec![],
        updated_at: T0 + 60,
        ..first
    };
    store.put_enablement(&replaced, &[]).await.unwrap();
    assert_eq!(store.get_enablement(w.property.id, w.carrier.id).await.unwrap(), Some(replaced.clone()));

    let others = CarrierEnablement { carrier_id: other.id, updated_at: T0 + 120, ..replaced.clone() };
    store.put_enablement(&others, &[]).await.unwrap();
    assert_eq!(store.list_enablements(w.property.id).await.unwrap(), vec![replaced, others]);
    assert_eq!(store.get_enablement(PropertyId::random(), w.carrier.id).await.unwrap(), None);
    assert_eq!(store.list_enablements(PropertyId::random()).await.unwrap(), vec![]);
}

async fn invitation_redeems_once_and_not_after_expiry(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let code = random_hash();
    let invitation = Invitation {
        id: InvitationId::random(),
        unit_id: w.unit.id,
        name: "Grace Hopper".into(),
        email: "grace@example.org".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        redeemed_at: None,
        resident_id: None,
    };
    store.insert_invitation(&invitation, &code).await.unwrap();
    assert_eq!(store.list_invitations(w.unit.id).await.unwrap(), vec![invitation.clone()]);
    assert_conflict(
        store.insert_invitation(&Invitation { id: InvitationId::random(), ..invitation.clone() }, &code).await,
        "two invitations with one code",
    );

    assert_not_found(
        store.redeem_invitation(&random_hash(), ResidentId::random(), TokenId::random(), &random_hash(), T0 + 10).await,
        "unknown code",
    );

    let (resident_id, token_hash) = (ResidentId::random(), random_hash());
    let resident = store.redeem_invitation(&code, resident_id, TokenId::random(), &token_hash, T0 + 10).await.unwrap();
    let expected = Resident {
        id: resident_id,
        unit_id: w.unit.id,
        name: "Grace Hopper".into(),
        email: "grace@example.org".into(),
        created_at: T0 + 10,
        moved_out_at: None,
    };
    assert_eq!(resident, expected);
    assert_eq!(store.get_resident(resident_id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.get_resident(ResidentId::random()).await.unwrap(), None);
    assert_eq!(
        store.principal_for_token(&token_hash).await.unwrap(),
        Some(Principal::Resident { resident_id, unit_id: w.unit.id })
    );
    assert_eq!(
        store.list_invitations(w.unit.id).await.unwrap(),
        vec![Invitation { redeemed_at: Some(T0 + 10), ..invitation }]
    );
    let again = ResidentId::random();
    assert_not_found(
        store.redeem_invitation(&code, again, TokenId::random(), &random_hash(), T0 + 20).await,
        "second redemption",
    );
    assert_eq!(store.get_resident(again).await.unwrap(), None);

    // an invitation is expired from its expiry instant on
    let late_code = random_hash();
    let late = Invitation {
        id: InvitationId::random(),
        unit_id: w.other_unit.id,
        name: "Late".into(),
        email: "late@example.org".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        redeemed_at: None,
        resident_id: None,
    };
    store.insert_invitation(&late, &late_code).await.unwrap();
    assert_not_found(
        store.redeem_invitation(&late_code, ResidentId::random(), TokenId::random(), &random_hash(), T0 + 3600).await,
        "expired invitation",
    );
    assert_eq!(store.list_residents(w.other_unit.id).await.unwrap(), vec![]);
    assert_eq!(store.list_invitations(w.other_unit.id).await.unwrap(), vec![late]);

    let second = w.residents(store.as_ref(), &w.unit).await;
    assert_eq!(store.list_residents(w.unit.id).await.unwrap(), vec![second, expected], "oldest first");
}

async fn invitation_redeems_once_under_concurrency(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let code = random_hash();
    let invitation = Invitation {
        id: InvitationId::random(),
        unit_id: w.unit.id,
        name: "Grace".into(),
        email: "grace@example.org".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        redeemed_at: None,
        resident_id: None,
    };
    store.insert_invitation(&invitation, &code).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store.redeem_invitation(&code, ResidentId::random(), TokenId::random(), &random_hash(), T0 + 5).await
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::NotFound))), "{results:?}");
    assert_eq!(store.list_residents(w.unit.id).await.unwrap().len(), 1);
}

async fn preferences_default_and_replace(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    assert_eq!(store.get_preferences(w.unit.id).await.unwrap(), UnitPreferences::default());
    let shop = doorman_domain::PickupPoint {
        id: doorman_domain::PickupPointId::random(),
        name: "Corner deli".into(),
        address: "1 Orchard St".into(),
        time_zone: "America/New_York".into(),
        hours: vec![],
        created_at: T0,
    };
    store.insert_pickup_point(&shop).await.unwrap();
    let chosen = UnitPreferences {
        preferred_drop_spot: Some(w.spot.id),
        allow_in_unit: true,
        alternate_address: Some("14 Orchard St, front desk".into()),
        pickup_point: Some("Corner deli".into()),
        pickup_point_id: Some(shop.id),
        allowed_carriers: vec![CarrierId::random(), CarrierId::random()],
        blocked_carriers: vec![CarrierId::random()],
        allowed_drivers: vec![],
        blocked_drivers: vec![DriverId::random()],
    };
    store.put_preferences(w.unit.id, &chosen).await.unwrap();
    assert_eq!(store.get_preferences(w.unit.id).await.unwrap(), chosen);
    assert_eq!(store.get_preferences(w.other_unit.id).await.unwrap(), UnitPreferences::default(), "per unit");
    let plain = UnitPreferences { allow_in_unit: false, ..UnitPreferences::default() };
    store.put_preferences(w.unit.id, &plain).await.unwrap();
    assert_eq!(store.get_preferences(w.unit.id).await.unwrap(), plain);
    // The chosen pickup point must exist in the directory.
    let unknown = UnitPreferences { pickup_point_id: Some(doorman_domain::PickupPointId::random()), ..plain.clone() };
    assert!(store.put_preferences(w.unit.id, &unknown).await.is_err());
    assert_eq!(store.get_preferences(w.unit.id).await.unwrap(), plain);
}

async fn blocks_start_end_and_stay_with_their_unit(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let resident = w.residents(store.as_ref(), &w.unit).await;
    let neighbour = w.residents(store.as_ref(), &w.other_unit).await;
    assert_eq!(store.active_block(w.unit.id, T0).await.unwrap(), None);

    let open_ended =
        Block { unit_id: w.unit.id, blocked_by: resident.id, from: T0, until: None, reason: Some("away".into()) };
    let future = Block { from: T0 + 1000, until: Some(T0 + 2000), reason: None, ..open_ended.clone() };
    let next_door = Block { unit_id: w.other_unit.id, blocked_by: neighbour.id, ..open_ended.clone() };
    for b in [&open_ended, &future, &next_door] {
        store.insert_block(b, &[]).await.unwrap();
    }
    assert_eq!(store.active_block(w.unit.id, T0 - 1).await.unwrap(), None, "not before it starts");
    assert_eq!(store.active_block(w.unit.id, T0).await.unwrap(), Some(open_ended.clone()));
    assert_eq!(store.active_block(w.unit.id, T0 + 1500).await.unwrap(), Some(future.clone()), "the latest active one");

    assert_eq!(store.end_blocks(w.unit.id, T0 + 100, &[]).await.unwrap(), 1, "the future block is not active yet");
    assert_eq!(store.active_block(w.unit.id, T0 + 100).await.unwrap(), None);
    assert_eq!(
        store.active_block(w.unit.id, T0 + 99).await.unwrap(),
        Some(Block { until: Some(T0 + 100), ..open_ended }),
        "ended at `now`, history kept"
    );
    assert_eq!(store.active_block(w.unit.id, T0 + 1000).await.unwrap(), Some(future));
    assert_eq!(store.active_block(w.other_unit.id, T0 + 100).await.unwrap(), Some(next_door), "the neighbour's stays");
    assert_eq!(store.end_blocks(w.unit.id, T0 + 100, &[]).await.unwrap(), 0);
    assert_eq!(store.end_blocks(w.other_unit.id, T0 + 200, &[]).await.unwrap(), 1);
    assert_eq!(store.active_block(w.other_unit.id, T0 + 200).await.unwrap(), None);
}

async fn drivers_round_trip_and_update(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let keyless = Driver {
        handheld_public_key: None,
        vetting: VettingStatus::Pending,
        vetted_at: None,
        ..driver(w.carrier.id, "Babbage", T0 + 1)
    };
    let keyless_token = token(Principal::Driver { driver_id: keyless.id, carrier_id: w.carrier.id });
    store.insert_driver(&keyless, &keyless_token).await.unwrap();
    let rival = driver(other.id, "Rival", T0);
    store.insert_driver(&rival, &token(Principal::Driver { driver_id: rival.id, carrier_id: other.id })).await.unwrap();

    assert_eq!(store.get_driver(keyless.id).await.unwrap(), Some(keyless.clone()));
    assert_eq!(store.get_driver(DriverId::random()).await.unwrap(), None);
    assert_eq!(store.list_drivers(w.carrier.id).await.unwrap(), vec![w.driver.clone(), keyless.clone()]);
    assert_eq!(store.list_drivers(other.id).await.unwrap(), vec![rival.clone()]);
    assert_eq!(
        store.principal_for_token(&keyless_token.hash).await.unwrap(),
        Some(Principal::Driver { driver_id: keyless.id, carrier_id: w.carrier.id })
    );

    let updated = Driver {
        name: "Charles Babbage".into(),
        handheld_public_key: Some(vec![2; 33]),
        vetting: VettingStatus::Failed,
        vetted_at: Some(T0 + 50),
        status: DriverStatus::Suspended,
        ..keyless.clone()
    };
    store.update_driver(&updated).await.unwrap();
    assert_eq!(store.get_driver(keyless.id).await.unwrap(), Some(updated.clone()));
    let cleared = Driver { handheld_public_key: None, vetted_at: None, ..updated };
    store.update_driver(&cleared).await.unwrap();
    assert_eq!(store.get_driver(keyless.id).await.unwrap(), Some(cleared.clone()));
    assert_not_found(store.update_driver(&driver(w.carrier.id, "Ghost", T0)).await, "unknown driver");
    assert_not_found(
        store.update_driver(&Driver { carrier_id: other.id, ..cleared }).await,
        "a driver moved to another carrier",
    );
    assert_eq!(store.get_driver(rival.id).await.unwrap(), Some(rival));
}

async fn deliveries_round_trip_and_tracking_numbers_are_unique_per_carrier(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    assert_eq!(store.get_delivery(w.delivery.id).await.unwrap(), Some(w.delivery.clone()));
    assert_eq!(store.get_delivery(DeliveryId::random()).await.unwrap(), None);
    assert_eq!(store.find_delivery(w.carrier.id, &w.delivery.tracking_number).await.unwrap(), Some(w.delivery.clone()));

    let full = Delivery {
        kind: DeliveryKind::Pickup,
        eta: Some(T0 + 600),
        state: DeliveryState::Delivered,
        drop_spot_id: Some(w.spot.id),
        completed_by: Some(w.driver.id),
        photo_ref: Some("photos/abc.jpg".into()),
        updated_at: T0 + 700,
        ..delivery(w.carrier.id, &w.other_unit, "RETURN-1", T0 + 1)
    };
    store.insert_delivery(&full).await.unwrap();
    assert_eq!(store.get_delivery(full.id).await.unwrap(), Some(full));

    let duplicate = delivery(w.carrier.id, &w.other_unit, &w.delivery.tracking_number, T0 + 2);
    assert_conflict(store.insert_delivery(&duplicate).await, "same carrier, same tracking number");
    assert_eq!(store.get_delivery(duplicate.id).await.unwrap(), None);

    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    assert_eq!(
        store.find_delivery(other.id, &w.delivery.tracking_number).await.unwrap(),
        None,
        "another carrier's parcel"
    );
    let same_number = delivery(other.id, &w.unit, &w.delivery.tracking_number, T0 + 3);
    store.insert_delivery(&same_number).await.unwrap();
    assert_eq!(store.find_delivery(other.id, &w.delivery.tracking_number).await.unwrap(), Some(same_number));
    assert_eq!(store.find_delivery(w.carrier.id, &w.delivery.tracking_number).await.unwrap(), Some(w.delivery));
    assert_eq!(store.find_delivery(w.carrier.id, "NO-SUCH-PARCEL").await.unwrap(), None);
}

async fn deliveries_list_newest_first_and_filter(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let elsewhere = property(w.manager.id, "Elsewhere", T0);
    store.insert_property(&elsewhere, &[]).await.unwrap();
    let far_unit = unit(elsewhere.id, "PH");
    store.insert_unit(&far_unit, &[]).await.unwrap();

    // inserted out of time order; two share a second (insertion order breaks the tie)
    let d_late = delivery(w.carrier.id, &w.other_unit, "A-LATE", T0 + 300);
    let d_mid = delivery(other.id, &w.unit, "B-MID", T0 + 200);
    let d_tie_first = delivery(w.carrier.id, &far_unit, "C-TIE-1", T0 + 250);
    let d_tie_second = delivery(other.id, &far_unit, "C-TIE-2", T0 + 250);
    for d in [&d_late, &d_mid, &d_tie_first, &d_tie_second] {
        store.insert_delivery(d).await.unwrap();
    }
    let ids = |list: Vec<Delivery>| list.into_iter().map(|d| d.tracking_number).collect::<Vec<_>>();

    let everything = store.list_deliveries(&DeliveryFilter::default()).await.unwrap();
    assert_eq!(ids(everything), ["A-LATE", "C-TIE-2", "C-TIE-1", "B-MID", "1Z999AA10123456784"]);
    let mine =
        store.list_deliveries(&DeliveryFilter { carrier_id: Some(w.carrier.id), ..Default::default() }).await.unwrap();
    assert_eq!(ids(mine), ["A-LATE", "C-TIE-1", "1Z999AA10123456784"]);
    let theirs =
        store.list_deliveries(&DeliveryFilter { carrier_id: Some(other.id), ..Default::default() }).await.unwrap();
    assert_eq!(ids(theirs), ["C-TIE-2", "B-MID"]);
    let here = store
        .list_deliveries(&DeliveryFilter { property_id: Some(w.property.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ids(here), ["A-LATE", "B-MID", "1Z999AA10123456784"]);
    let unit_1a =
        store.list_deliveries(&DeliveryFilter { unit_id: Some(w.unit.id), ..Default::default() }).await.unwrap();
    assert_eq!(ids(unit_1a), ["B-MID", "1Z999AA10123456784"]);
    let all_three =
        DeliveryFilter { carrier_id: Some(w.carrier.id), property_id: Some(w.property.id), unit_id: Some(w.unit.id) };
    let list = store.list_deliveries(&all_three).await.unwrap();
    assert_eq!(list, vec![w.delivery.clone()], "every set field must match");
    let crossed = DeliveryFilter { carrier_id: Some(other.id), unit_id: Some(w.other_unit.id), ..Default::default() };
    assert_eq!(store.list_deliveries(&crossed).await.unwrap(), vec![]);
    let unknown = DeliveryFilter { carrier_id: Some(CarrierId::random()), ..Default::default() };
    assert_eq!(store.list_deliveries(&unknown).await.unwrap(), vec![]);
}

async fn update_delivery_compares_and_sets(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let out = Delivery {
        state: DeliveryState::OutForDelivery,
        eta: Some(T0 + 900),
        updated_at: T0 + 60,
        ..w.delivery.clone()
    };
    store.update_delivery(&out, DeliveryState::Registered, &[]).await.unwrap();
    assert_eq!(store.get_delivery(out.id).await.unwrap(), Some(out.clone()));

    let done = Delivery {
        state: DeliveryState::Delivered,
        drop_spot_id: Some(w.spot.id),
        completed_by: Some(w.driver.id),
        photo_ref: Some("photos/1.jpg".into()),
        updated_at: T0 + 1000,
        ..out.clone()
    };
    match store.update_delivery(&done, DeliveryState::Registered, &[]).await {
        Err(StoreError::Stale(_)) => {}
        other => panic!("wrong expected state: expected Stale, got {other:?}"),
    }
    assert_eq!(store.get_delivery(out.id).await.unwrap(), Some(out), "a stale update changes nothing");
    store.update_delivery(&done, DeliveryState::OutForDelivery, &[]).await.unwrap();
    assert_eq!(store.get_delivery(done.id).await.unwrap(), Some(done.clone()));

    // only the mutable fields change
    let tampered = Delivery {
        tracking_number: "CHANGED".into(),
        window_end: 0,
        state: DeliveryState::Delivered,
        updated_at: T0 + 1001,
        ..done.clone()
    };
    store.update_delivery(&tampered, DeliveryState::Delivered, &[]).await.unwrap();
    assert_eq!(store.get_delivery(done.id).await.unwrap(), Some(Delivery { updated_at: T0 + 1001, ..done }));

    let unknown = delivery(w.carrier.id, &w.unit, "GHOST", T0);
    assert_not_found(store.update_delivery(&unknown, DeliveryState::Registered, &[]).await, "unknown delivery");
}

async fn claim_grant_allows_one_live_grant(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let d = &w.delivery;
    let first = w.grant(d, T0, T0 + 300);
    let first_record = w.granted_request(&first, d);
    assert!(store.claim_grant(&first, &first_record, T0, &[]).await.unwrap());
    assert_eq!(store.get_grant(first.id).await.unwrap(), Some(first.clone()), "doors and all");
    let filter = AccessRequestFilter { delivery_id: Some(d.id), ..Default::default() };
    assert_eq!(store.list_access_requests(&filter).await.unwrap(), vec![first_record]);

    // while it lives, nobody else gets one, and nothing of the attempt is kept
    let second = w.grant(d, T0 + 10, T0 + 310);
    let second_record = w.granted_request(&second, d);
    assert!(!store.claim_grant(&second, &second_record, T0 + 10, &[]).await.unwrap());
    assert_eq!(store.get_grant(second.id).await.unwrap(), None);
    assert_eq!(store.list_access_requests(&filter).await.unwrap().len(), 1);
    assert!(!store.claim_grant(&second, &second_record, T0 + 299, &[]).await.unwrap(), "one second before expiry");

    // another delivery is not affected
    let other_parcel = delivery(w.carrier.id, &w.unit, "OTHER-PARCEL", T0);
    store.insert_delivery(&other_parcel).await.unwrap();
    let parallel = w.grant(&other_parcel, T0 + 10, T0 + 1000);
    assert!(store.claim_grant(&parallel, &w.granted_request(&parallel, &other_parcel), T0 + 10, &[]).await.unwrap());

    // from its expiry instant on, a new claim succeeds
    let after_expiry = w.grant(d, T0 + 300, T0 + 600);
    assert!(store.claim_grant(&after_expiry, &w.granted_request(&after_expiry, d), T0 + 300, &[]).await.unwrap());
    assert!(!store
        .claim_grant(&w.grant(d, T0 + 301, T0 + 900), &w.request(Some(d), T0 + 301), T0 + 301, &[])
        .await
        .unwrap());

    // after a revocation, too
    let revoked = store.revoke_live_grants_for_unit(w.unit.id, T0 + 400, &no_events).await.unwrap();
    let revoked_ids: BTreeSet<GrantId> = revoked.iter().map(|g| g.id).collect();
    assert_eq!(revoked_ids, BTreeSet::from([after_expiry.id, parallel.id]));
    let after_revoke = w.grant(d, T0 + 401, T0 + 700);
    assert!(store.claim_grant(&after_revoke, &w.granted_request(&after_revoke, d), T0 + 401, &[]).await.unwrap());

    let ids: Vec<GrantId> = store.list_grants(d.id).await.unwrap().into_iter().map(|g| g.id).collect();
    assert_eq!(ids, vec![first.id, after_expiry.id, after_revoke.id], "oldest first");
    assert_eq!(store.list_grants(DeliveryId::random()).await.unwrap(), vec![]);
    assert_eq!(store.get_grant(GrantId::random()).await.unwrap(), None);
}

async fn claim_grant_has_one_winner_among_50(store: Arc<dyn Store>) {
    let w = Arc::new(world(store.as_ref()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (store, w) = (store.clone(), w.clone());
        tasks.spawn(async move {
            let grant = w.grant(&w.delivery, T0 + i, T0 + 300);
            let record = w.granted_request(&grant, &w.delivery);
            let won = store.claim_grant(&grant, &record, T0 + 50, &[]).await.unwrap();
            (won, grant.id)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<GrantId> = results.iter().filter(|(won, _)| *won).map(|(_, id)| *id).collect();
    assert_eq!(winners.len(), 1, "exactly one of 50 simultaneous claims wins");
    let stored: Vec<GrantId> = store.list_grants(w.delivery.id).await.unwrap().into_iter().map(|g| g.id).collect();
    assert_eq!(stored, winners);
    let records = store
        .list_access_requests(&AccessRequestFilter { delivery_id: Some(w.delivery.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].grant_id, winners.first().copied());
}

async fn failed_claim_leaves_nothing(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let grant = w.grant(&w.delivery, T0, T0 + 300);
    // the record cannot be stored (unknown driver): the grant must not stay
    let bad_record = AccessRequestRecord { driver_id: DriverId::random(), ..w.granted_request(&grant, &w.delivery) };
    assert_conflict(store.claim_grant(&grant, &bad_record, T0, &[]).await, "claim with a bad record");
    assert_eq!(store.get_grant(grant.id).await.unwrap(), None);
    assert_eq!(store.list_access_requests(&AccessRequestFilter::default()).await.unwrap(), vec![]);
    // nor may it hold the delivery's live slot
    let retry = w.grant(&w.delivery, T0 + 1, T0 + 300);
    assert!(store.claim_grant(&retry, &w.granted_request(&retry, &w.delivery), T0 + 1, &[]).await.unwrap());
    // and a grant id can be claimed only once
    assert_conflict(
        store.claim_grant(&retry, &w.granted_request(&retry, &w.delivery), T0 + 400, &[]).await,
        "the same grant id again",
    );
}

async fn revoke_live_grants_touches_only_that_units_live_grants(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let parcel = |tracking: &str, unit: &Unit| delivery(w.carrier.id, unit, tracking, T0);
    let live_a = parcel("LIVE-A", &w.unit);
    let expired_a = parcel("EXPIRED-A", &w.unit);
    let revoked_a = parcel("REVOKED-A", &w.unit);
    let live_b = parcel("LIVE-B", &w.other_unit);
    for d in [&live_a, &expired_a, &revoked_a, &live_b] {
        store.insert_delivery(d).await.unwrap();
    }
    let claim = |g: Grant, d: Delivery| {
        let (store, record) = (store.clone(), w.granted_request(&g, &d));
        async move {
            assert!(store.claim_grant(&g, &record, g.issued_at, &[]).await.unwrap());
            g
        }
    };

    // unit A: one grant revoked earlier, one expired, then one and the
    // building's first parcel live; unit B: one live
    let g_revoked_a = claim(w.grant(&revoked_a, T0, T0 + 300), revoked_a.clone()).await;
    let first_revocation = store.revoke_live_grants_for_unit(w.unit.id, T0 + 1, &no_events).await.unwrap();
    assert_eq!(first_revocation, vec![Grant { revoked_at: Some(T0 + 1), ..g_revoked_a.clone() }]);
    let g_expired_a = claim(w.grant(&expired_a, T0 - 400, T0 - 100), expired_a.clone()).await;
    let g_live_a = claim(w.grant(&live_a, T0 + 10, T0 + 300), live_a.clone()).await;
    let g_main = claim(w.grant(&w.delivery, T0 + 20, T0 + 300), w.delivery.clone()).await;
    let g_live_b = claim(w.grant(&live_b, T0 + 10, T0 + 300), live_b.clone()).await;

    let now = T0 + 100;
    let revoked = store.revoke_live_grants_for_unit(w.unit.id, now, &no_events).await.unwrap();
    assert_eq!(
        revoked,
        vec![Grant { revoked_at: Some(now), ..g_live_a.clone() }, Grant { revoked_at: Some(now), ..g_main.clone() }],
        "exactly the unit's live grants, as they now are, oldest first"
    );
    assert_eq!(store.get_grant(g_main.id).await.unwrap().unwrap().revoked_at, Some(now));
    assert_eq!(store.get_grant(g_expired_a.id).await.unwrap(), Some(g_expired_a), "expired ones are left alone");
    assert_eq!(
        store.get_grant(g_revoked_a.id).await.unwrap().unwrap().revoked_at,
        Some(T0 + 1),
        "revoked ones keep their time"
    );
    assert_eq!(store.get_grant(g_live_b.id).await.unwrap(), Some(g_live_b.clone()), "another unit's grant stays live");
    let late = w.grant(&live_b, now, now + 300);
    assert!(
        !store.claim_grant(&late, &w.granted_request(&late, &live_b), now, &[]).await.unwrap(),
        "and holds its slot"
    );

    assert_eq!(
        store.revoke_live_grants_for_unit(w.unit.id, now + 1, &no_events).await.unwrap(),
        vec![],
        "nothing live is left"
    );
    assert_eq!(store.revoke_live_grants_for_unit(UnitId::random(), now, &no_events).await.unwrap(), vec![]);
    let b = store.revoke_live_grants_for_unit(w.other_unit.id, now, &no_events).await.unwrap();
    assert_eq!(b, vec![Grant { revoked_at: Some(now), ..g_live_b }]);
}

async fn close_live_grant_ends_it_without_revoking(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let g = w.grant(&w.delivery, T0, T0 + 300);
    assert!(store.claim_grant(&g, &w.granted_request(&g, &w.delivery), T0, &[]).await.unwrap());
    store.close_live_grant(w.delivery.id, T0 + 60).await.unwrap();
    let closed = store.get_grant(g.id).await.unwrap().unwrap();
    assert_eq!(closed.revoked_at, None, "used up, not revoked");
    assert_eq!(closed.expires_at, T0 + 60, "over from the moment it was closed");
    assert_eq!(
        store.revoke_live_grants_for_unit(w.unit.id, T0 + 61, &no_events).await.unwrap(),
        vec![],
        "no longer live"
    );
    // closing again, or a delivery without a grant, changes nothing
    store.close_live_grant(w.delivery.id, T0 + 90).await.unwrap();
    assert_eq!(store.get_grant(g.id).await.unwrap(), Some(closed));
    store.close_live_grant(DeliveryId::random(), T0).await.unwrap();
    // the slot is free again
    let next = w.grant(&w.delivery, T0 + 61, T0 + 300);
    assert!(store.claim_grant(&next, &w.granted_request(&next, &w.delivery), T0 + 61, &[]).await.unwrap());
}

async fn complete_delivery_ends_its_grant_in_the_same_transaction(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let g = w.grant(&w.delivery, T0, T0 + 300);
    assert!(store.claim_grant(&g, &w.granted_request(&g, &w.delivery), T0, &[]).await.unwrap());
    let done = Delivery {
        state: DeliveryState::Delivered,
        drop_spot_id: Some(w.spot.id),
        completed_by: Some(w.driver.id),
        updated_at: T0 + 60,
        ..w.delivery.clone()
    };
    // Stale: nothing written, the grant still live.
    match store.complete_delivery(&done, DeliveryState::OutForDelivery, T0 + 60, &[]).await {
        Err(StoreError::Stale(_)) => {}
        other => panic!("wrong expected state: expected Stale, got {other:?}"),
    }
    assert_eq!(store.get_delivery(done.id).await.unwrap(), Some(w.delivery.clone()));
    assert_eq!(store.get_grant(g.id).await.unwrap().map(|g| g.expires_at), Some(T0 + 300));

    store.complete_delivery(&done, DeliveryState::Registered, T0 + 60, &[]).await.unwrap();
    assert_eq!(store.get_delivery(done.id).await.unwrap(), Some(done.clone()));
    let closed = store.get_grant(g.id).await.unwrap().unwrap();
    assert_eq!((closed.revoked_at, closed.expires_at), (None, T0 + 60), "used up, not revoked");

    let unknown = delivery(w.carrier.id, &w.unit, "GHOST", T0);
    assert_not_found(store.complete_delivery(&unknown, DeliveryState::Registered, T0, &[]).await, "unknown delivery");
}

async fn access_requests_round_trip_filter_and_order(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let rival = driver(other.id, "Rival", T0);
    store.insert_driver(&rival, &token(Principal::Driver { driver_id: rival.id, carrier_id: other.id })).await.unwrap();
    let theirs = delivery(other.id, &w.other_unit, "THEIRS", T0);
    store.insert_delivery(&theirs).await.unwrap();

    // every refusal reason survives the round trip
    let mut mine = Vec::new();
    for (i, reason) in RefusalReason::ALL.iter().enumerate() {
        let at = T0 + i64::try_from(i).unwrap();
        let record = AccessRequestRecord { refusal: Some(*reason), ..w.request(Some(&w.delivery), at) };
        store.record_access_request(&record, &[]).await.unwrap();
        mine.push(record);
    }
    let unmatched = AccessRequestRecord { refusal: Some(RefusalReason::ParcelUnknown), ..w.request(None, T0 + 100) };
    store.record_access_request(&unmatched, &[]).await.unwrap();
    let rivals = AccessRequestRecord {
        driver_id: rival.id,
        carrier_id: other.id,
        refusal: Some(RefusalReason::CarrierNotEnabled),
        ..w.request(Some(&theirs), T0 + 100) // same second as `unmatched`, recorded after it
    };
    store.record_access_request(&rivals, &[]).await.unwrap();
    assert_conflict(store.record_access_request(&rivals, &[]).await, "the same record twice");

    let list = |filter: AccessRequestFilter| {
        let store = store.clone();
        async move { store.list_access_requests(&filter).await.unwrap() }
    };
    let mut newest_first: Vec<AccessRequestRecord> = mine.iter().rev().cloned().collect();
    newest_first.insert(0, unmatched.clone());
    newest_first.insert(0, rivals.clone());
    assert_eq!(list(AccessRequestFilter::default()).await, newest_first);

    let mut mine_newest_first: Vec<_> = mine.iter().rev().cloned().collect();
    mine_newest_first.insert(0, unmatched.clone());
    assert_eq!(
        list(AccessRequestFilter { carrier_id: Some(w.carrier.id), ..Default::default() }).await,
        mine_newest_first
    );
    assert_eq!(
        list(AccessRequestFilter { driver_id: Some(w.driver.id), ..Default::default() }).await,
        mine_newest_first
    );
    assert_eq!(
        list(AccessRequestFilter { carrier_id: Some(other.id), ..Default::default() }).await,
        vec![rivals.clone()]
    );
    assert_eq!(
        list(AccessRequestFilter { driver_id: Some(rival.id), ..Default::default() }).await,
        vec![rivals.clone()]
    );
    let for_parcel: Vec<_> = mine.iter().rev().cloned().collect();
    assert_eq!(list(AccessRequestFilter { delivery_id: Some(w.delivery.id), ..Default::default() }).await, for_parcel);
    assert_eq!(list(AccessRequestFilter { unit_id: Some(w.unit.id), ..Default::default() }).await, for_parcel);
    assert_eq!(
        list(AccessRequestFilter { unit_id: Some(w.other_unit.id), ..Default::default() }).await,
        vec![rivals.clone()]
    );
    assert_eq!(
        list(AccessRequestFilter { property_id: Some(w.property.id), ..Default::default() }).await,
        newest_first
    );
    assert_eq!(
        list(AccessRequestFilter { property_id: Some(PropertyId::random()), ..Default::default() }).await,
        vec![]
    );
    let crossed = AccessRequestFilter { carrier_id: Some(other.id), unit_id: Some(w.unit.id), ..Default::default() };
    assert_eq!(list(crossed).await, vec![], "another carrier's requests never show for this unit");
    let every_field = AccessRequestFilter {
        property_id: Some(w.property.id),
        unit_id: Some(w.other_unit.id),
        carrier_id: Some(other.id),
        driver_id: Some(rival.id),
        delivery_id: Some(theirs.id),
    };
    assert_eq!(list(every_field).await, vec![rivals]);
}

impl World {
    fn context_query<'a>(&self, tracking_number: &'a str, now: i64) -> AccessContextQuery<'a> {
        AccessContextQuery {
            property: self.property.id,
            driver: self.driver.id,
            carrier: self.carrier.id,
            tracking_number,
            now,
        }
    }

    /// The context as the individual getters give it.
    async fn context_from_getters(&self, store: &dyn Store, q: &AccessContextQuery<'_>) -> Option<AccessContext> {
        let property = store.get_property(q.property).await.unwrap()?;
        let delivery = store.find_delivery(q.carrier, q.tracking_number).await.unwrap();
        let (block, preferences) = match &delivery {
            Some(d) => {
                (store.active_block(d.unit_id, q.now).await.unwrap(), store.get_preferences(d.unit_id).await.unwrap())
            }
            None => (None, UnitPreferences::default()),
        };
        Some(AccessContext {
            property,
            driver: store.get_driver(q.driver).await.unwrap(),
            delivery,
            enablement: store.get_enablement(q.property, q.carrier).await.unwrap(),
            block,
            preferences,
            drop_spots: store.list_drop_spots(q.property).await.unwrap(),
            access_points: store.list_access_points(q.property).await.unwrap(),
            locks: store.list_locks(q.property).await.unwrap().into_iter().filter(Lock::is_active).collect(),
        })
    }

    fn enablement(&self) -> CarrierEnablement {
        CarrierEnablement {
            property_id: self.property.id,
            carrier_id: self.carrier.id,
            enabled: true,
            hours: vec![WeeklyHours { days: vec!["mon".into()], start: "08:00".into(), end: "20:00".into() }],
            allowed_drop_spots: vec![self.spot.id],
            updated_at: T0,
        }
    }
}

async fn access_context_is_what_the_getters_return(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);
    // a bare world: no enablement, block or preferences yet
    let bare = store.access_context(&q).await.unwrap().expect("the property exists");
    assert_eq!(Some(bare.clone()), w.context_from_getters(store.as_ref(), &q).await);
    assert_eq!(bare.property, w.property);
    assert_eq!(bare.driver.as_ref(), Some(&w.driver));
    assert_eq!(bare.delivery.as_ref(), Some(&w.delivery));
    assert_eq!((bare.enablement.clone(), bare.block.clone()), (None, None));
    assert_eq!(bare.preferences, UnitPreferences::default());
    assert_eq!(bare.locks, vec![w.entrance_lock.clone(), w.lobby_lock.clone()]);
    assert_eq!(bare.access_points.len(), 3);
    assert_eq!(bare.drop_spots, vec![w.spot.clone()]);

    // everything set
    store.put_enablement(&w.enablement(), &[]).await.unwrap();
    let resident = w.residents(store.as_ref(), &w.unit).await;
    let block = Block { unit_id: w.unit.id, blocked_by: resident.id, from: T0, until: Some(T0 + 100), reason: None };
    store.insert_block(&block, &[]).await.unwrap();
    let preferences = UnitPreferences { preferred_drop_spot: Some(w.spot.id), ..UnitPreferences::default() };
    store.put_preferences(w.unit.id, &preferences).await.unwrap();
    let full = store.access_context(&q).await.unwrap().unwrap();
    assert_eq!(Some(full.clone()), w.context_from_getters(store.as_ref(), &q).await);
    assert_eq!(full.enablement, Some(w.enablement()));
    assert_eq!(full.block, Some(block));
    assert_eq!(full.preferences, preferences);
    // the block is the one active at `now`
    let later = w.context_query(&tracking, T0 + 100);
    assert_eq!(store.access_context(&later).await.unwrap().unwrap().block, None);

    // an unknown parcel: no delivery, so no block and default preferences
    let unknown = w.context_query("NOT-A-PARCEL", T0 + 10);
    let ctx = store.access_context(&unknown).await.unwrap().unwrap();
    assert_eq!(Some(ctx.clone()), w.context_from_getters(store.as_ref(), &unknown).await);
    assert_eq!((ctx.delivery, ctx.block, ctx.preferences), (None, None, UnitPreferences::default()));
    // another carrier's tracking number is not this carrier's parcel
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let theirs = AccessContextQuery { carrier: other.id, ..q };
    let ctx = store.access_context(&theirs).await.unwrap().unwrap();
    assert_eq!((ctx.delivery, ctx.enablement), (None, None));
    // an unknown driver is reported as absent
    let ghost = AccessContextQuery { driver: DriverId::random(), ..q };
    assert_eq!(store.access_context(&ghost).await.unwrap().unwrap().driver, None);
    // an unknown property: nothing
    let nowhere = AccessContextQuery { property: PropertyId::random(), ..q };
    assert_eq!(store.access_context(&nowhere).await.unwrap(), None);
}

/// Nothing is cached: a change is seen by the next read.
async fn access_context_sees_every_change_at_once(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().block, None);
    let resident = w.residents(store.as_ref(), &w.unit).await;
    let block = Block { unit_id: w.unit.id, blocked_by: resident.id, from: T0, until: None, reason: None };
    store.insert_block(&block, &[]).await.unwrap();
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().block, Some(block));
    store.end_blocks(w.unit.id, T0 + 5, &[]).await.unwrap();
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().block, None);

    let suspended = Driver { status: DriverStatus::Suspended, ..w.driver.clone() };
    store.update_driver(&suspended).await.unwrap();
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().driver, Some(suspended));

    store.put_enablement(&w.enablement(), &[]).await.unwrap();
    let disabled = CarrierEnablement { enabled: false, updated_at: T0 + 1, ..w.enablement() };
    store.put_enablement(&disabled, &[]).await.unwrap();
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().enablement, Some(disabled));

    let delivered = Delivery { state: DeliveryState::Delivered, updated_at: T0 + 2, ..w.delivery.clone() };
    store.update_delivery(&delivered, w.delivery.state, &[]).await.unwrap();
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().delivery, Some(delivered));

    // The building's configuration too (the SQLite path keeps it between
    // reads, under a version the database bumps with every change).
    assert_config_changes_seen_at_once(store.as_ref(), store.as_ref(), &w).await;
}

/// Each change `writer` makes to the building's configuration is in the very
/// next `reader.access_context`: the tenant notice, a new door, lock and drop
/// spot, another carrier's enablement.
async fn assert_config_changes_seen_at_once(writer: &dyn Store, reader: &dyn Store, w: &World) {
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);
    let before = reader.access_context(&q).await.unwrap().unwrap();
    let notice = TenantNotice { text: "Couriers may enter".into(), notified_at: T0 + 3, live_from: T0 + 4 };
    writer.set_tenant_notice(w.property.id, &notice, &[]).await.unwrap();
    let ctx = reader.access_context(&q).await.unwrap().unwrap();
    assert_ne!(ctx.property, before.property, "the notice is read at once");
    assert_eq!(Some(ctx.property.clone()), writer.get_property(w.property.id).await.unwrap());

    let garage = door(w.property.id, AccessPointKind::Garage, "Garage door", Some(&w.entrance));
    writer.insert_access_point(&garage, &[]).await.unwrap();
    assert!(reader.access_context(&q).await.unwrap().unwrap().access_points.contains(&garage));
    let garage_lock = lock(&garage, T0 + 5);
    writer.insert_lock(&garage_lock, &[]).await.unwrap();
    assert!(reader.access_context(&q).await.unwrap().unwrap().locks.contains(&garage_lock));
    let bay = drop_spot(&garage, DropSpotKind::Garage, "Garage bay", None);
    writer.insert_drop_spot(&bay, &[]).await.unwrap();
    let ctx = reader.access_context(&q).await.unwrap().unwrap();
    assert!(ctx.drop_spots.contains(&bay));
    assert_eq!(Some(ctx), w.context_from_getters(writer, &q).await);

    // a lock's sequence moving is not a configuration change, and is not
    // in the context either
    writer.next_lock_sequence(garage_lock.id).await.unwrap();
    assert_eq!(Some(reader.access_context(&q).await.unwrap().unwrap()), w.context_from_getters(writer, &q).await);

    // another carrier asks: its enablement, not the first one's
    let other = carrier("Late Parcel", T0);
    writer.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let theirs = AccessContextQuery { carrier: other.id, ..q };
    assert_eq!(reader.access_context(&theirs).await.unwrap().unwrap().enablement, None);
    let enabled = CarrierEnablement { carrier_id: other.id, updated_at: T0 + 6, ..w.enablement() };
    writer.put_enablement(&enabled, &[]).await.unwrap();
    assert_eq!(reader.access_context(&theirs).await.unwrap().unwrap().enablement, Some(enabled));
}

async fn claim_with_sequences_numbers_the_doors_and_claims_once(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let d = &w.delivery;
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 1);
    let grant = w.grant(d, T0, T0 + 300);
    let record = w.granted_request(&grant, d);
    let (stored, indexes) =
        store.claim_grant_with_sequences(&grant, &record, T0, &[]).await.unwrap().expect("the first claim wins");
    assert!(indexes.is_empty(), "no events, no entries");
    let sequences: Vec<Option<i64>> = stored.doors.iter().map(|door| door.sequence).collect();
    assert_eq!(sequences, vec![Some(2), Some(1)], "each door its lock's next number, whatever it had");
    let mut expected = grant.clone();
    for (door, n) in expected.doors.iter_mut().zip([2, 1]) {
        door.sequence = Some(n);
    }
    assert_eq!(stored, expected, "all else as given");
    assert_eq!(store.get_grant(grant.id).await.unwrap(), Some(stored));
    let filter = AccessRequestFilter { delivery_id: Some(d.id), ..Default::default() };
    assert_eq!(store.list_access_requests(&filter).await.unwrap(), vec![record]);

    // a second claim while it lives: nothing stored, no number used up
    let second = w.grant(d, T0 + 10, T0 + 310);
    assert_eq!(
        store.claim_grant_with_sequences(&second, &w.granted_request(&second, d), T0 + 10, &[]).await.unwrap(),
        None
    );
    assert_eq!(store.get_grant(second.id).await.unwrap(), None);
    assert_eq!(store.list_access_requests(&filter).await.unwrap().len(), 1);
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 3);
    assert_eq!(store.next_lock_sequence(w.lobby_lock.id).await.unwrap(), 2);
    // claim_grant and claim_grant_with_sequences share the live slot
    assert!(!store.claim_grant(&second, &w.granted_request(&second, d), T0 + 10, &[]).await.unwrap());

    // after expiry a new claim wins, with the next numbers
    let later = w.grant(d, T0 + 300, T0 + 600);
    let later = store.claim_grant_with_sequences(&later, &w.granted_request(&later, d), T0 + 300, &[]).await.unwrap();
    let sequences: Vec<Option<i64>> = later.unwrap().0.doors.iter().map(|door| door.sequence).collect();
    assert_eq!(sequences, vec![Some(4), Some(3)]);

    // a grant without doors claims without numbering anything
    let other_parcel = delivery(w.carrier.id, &w.unit, "OTHER-PARCEL", T0);
    store.insert_delivery(&other_parcel).await.unwrap();
    let walk_in = Grant { doors: vec![], ..w.grant(&other_parcel, T0, T0 + 300) };
    let claimed =
        store.claim_grant_with_sequences(&walk_in, &w.granted_request(&walk_in, &other_parcel), T0, &[]).await;
    assert_eq!(claimed.unwrap(), Some((walk_in, vec![])));
}

async fn claim_with_sequences_has_one_winner_and_never_repeats_a_number(store: Arc<dyn Store>) {
    let w = Arc::new(world(store.as_ref()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (store, w) = (store.clone(), w.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                // racing the claims for the lock's counter
                let n = store.next_lock_sequence(w.entrance_lock.id).await.unwrap();
                return (None, vec![n]);
            }
            let grant = w.grant(&w.delivery, T0 + i, T0 + 300);
            let record = w.granted_request(&grant, &w.delivery);
            let won = store.claim_grant_with_sequences(&grant, &record, T0 + 50, &[]).await.unwrap().map(|(g, _)| g);
            let numbers = won.iter().flat_map(|g| g.doors.first()).filter_map(|door| door.sequence).collect();
            (won, numbers)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<&Grant> = results.iter().filter_map(|(won, _)| won.as_ref()).collect();
    assert_eq!(winners.len(), 1, "exactly one of 25 simultaneous claims wins");
    let stored = store.list_grants(w.delivery.id).await.unwrap();
    assert_eq!(stored.iter().collect::<Vec<_>>(), winners);
    let numbers: Vec<i64> = results.iter().flat_map(|(_, n)| n.iter().copied()).collect();
    let distinct: BTreeSet<i64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), numbers.len(), "no number handed out twice: {numbers:?}");
    assert_eq!(distinct, (1..=26).collect(), "25 callers and one winner, no number lost");
}

async fn failed_claim_with_sequences_leaves_nothing(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let grant = w.grant(&w.delivery, T0, T0 + 300);
    // the record cannot be stored (unknown driver)
    let bad_record = AccessRequestRecord { driver_id: DriverId::random(), ..w.granted_request(&grant, &w.delivery) };
    assert_conflict(store.claim_grant_with_sequences(&grant, &bad_record, T0, &[]).await, "claim with a bad record");
    // a door names an unknown lock (after one that exists)
    let mut unknown_lock = w.grant(&w.delivery, T0, T0 + 300);
    unknown_lock.doors[1].lock_id = LockId::random();
    let record = w.granted_request(&unknown_lock, &w.delivery);
    assert_not_found(store.claim_grant_with_sequences(&unknown_lock, &record, T0, &[]).await, "unknown lock");
    for id in [grant.id, unknown_lock.id] {
        assert_eq!(store.get_grant(id).await.unwrap(), None);
    }
    assert_eq!(store.list_access_requests(&AccessRequestFilter::default()).await.unwrap(), vec![]);
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 1, "no number used up");
    assert_eq!(store.next_lock_sequence(w.lobby_lock.id).await.unwrap(), 1);
    // nor is the delivery's live slot taken
    let retry = w.grant(&w.delivery, T0 + 1, T0 + 300);
    let won = store.claim_grant_with_sequences(&retry, &w.granted_request(&retry, &w.delivery), T0 + 1, &[]).await;
    assert!(won.unwrap().is_some());
}

/// Many parcels claimed at once (PostgreSQL claims them in groups, set-wise):
/// one winner per parcel even when a parcel is claimed twice in the same
/// moment, every door of every winner numbered, each lock's numbers handed
/// out once each with none lost, and what is stored is what was answered.
async fn claims_of_many_parcels_at_once_number_every_door_once(store: Arc<dyn Store>) {
    let w = Arc::new(world(store.as_ref()).await);
    let parcels = parcels(store.as_ref(), &w, "GROUP", 40).await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, parcel) in parcels.iter().enumerate() {
        // every fourth parcel is claimed twice
        for _ in 0..(1 + usize::from(i % 4 == 0)) {
            let (store, w, parcel) = (store.clone(), w.clone(), parcel.clone());
            tasks.spawn(async move {
                let grant = w.grant(&parcel, T0, T0 + 300);
                let record = w.granted_request(&grant, &parcel);
                let won = store.claim_grant_with_sequences(&grant, &record, T0, &[]).await.unwrap();
                (parcel.id, won.map(|(g, _)| g))
            });
        }
    }
    let results = tasks.join_all().await;
    let mut entrance = BTreeSet::new();
    let mut lobby = BTreeSet::new();
    for parcel in &parcels {
        let won: Vec<&Grant> =
            results.iter().filter(|(id, _)| *id == parcel.id).filter_map(|(_, g)| g.as_ref()).collect();
        assert_eq!(won.len(), 1, "one winner for parcel {}", parcel.tracking_number);
        let grant = won[0];
        assert_eq!(store.list_grants(parcel.id).await.unwrap(), vec![grant.clone()], "stored as answered");
        let numbers: Vec<i64> = grant.doors.iter().map(|d| d.sequence.expect("every door numbered")).collect();
        assert!(entrance.insert(numbers[0]), "entrance number {} twice", numbers[0]);
        assert!(lobby.insert(numbers[1]), "lobby number {} twice", numbers[1]);
    }
    assert_eq!(entrance, (1..=40).collect(), "no entrance number lost");
    assert_eq!(lobby, (1..=40).collect(), "no lobby number lost");
    let losers = results.iter().filter(|(_, g)| g.is_none()).count();
    assert_eq!(losers, 10, "the second claim of each parcel claimed twice lost");
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 41);
}

/// Writes that run together (SQLite commits them in groups) succeed or fail
/// each on its own.
async fn concurrent_writes_fail_alone(store: Arc<dyn Store>) {
    let w = Arc::new(world(store.as_ref()).await);
    let parcels = parcels(store.as_ref(), &w, "PARCEL", 20).await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, parcel) in parcels.into_iter().enumerate() {
        let (store, w) = (store.clone(), w.clone());
        tasks.spawn(async move {
            let grant = w.grant(&parcel, T0, T0 + 300);
            let mut record = w.granted_request(&grant, &parcel);
            let refusal =
                AccessRequestRecord { refusal: Some(RefusalReason::ResidentBlocked), ..w.request(Some(&parcel), T0) };
            let bad = i % 3 == 0;
            if bad {
                record.driver_id = DriverId::random();
            }
            let claimed = store.claim_grant_with_sequences(&grant, &record, T0, &[]).await;
            let recorded = if bad {
                store
                    .record_access_request(&AccessRequestRecord { unit_id: Some(UnitId::random()), ..refusal }, &[])
                    .await
            } else {
                store.record_access_request(&refusal, &[]).await
            };
            (bad, claimed.map(|g| g.is_some()), recorded.is_ok())
        });
    }
    for (bad, claimed, recorded) in tasks.join_all().await {
        if bad {
            assert!(matches!(claimed, Err(StoreError::Conflict(_))), "{claimed:?}");
            assert!(!recorded);
        } else {
            assert!(matches!(claimed, Ok(true)), "{claimed:?}");
            assert!(recorded);
        }
    }
    let records = store.list_access_requests(&AccessRequestFilter::default()).await.unwrap();
    assert_eq!(records.len(), 2 * 13, "13 good parcels, a grant and a refusal each");
    let numbers: BTreeSet<i64> = (0..13).map(|n| n + 1).collect();
    let mut granted = BTreeSet::new();
    for r in records.iter().filter_map(|r| r.grant_id) {
        let g = store.get_grant(r).await.unwrap().unwrap();
        granted.insert(g.doors[0].sequence.unwrap());
    }
    assert_eq!(granted, numbers, "the failed claims used up no number");
}

// --- opening -----------------------------------------------------------------

#[tokio::test]
async fn sqlite_opens_a_plain_path_or_a_url_and_creates_the_file() {
    let file = TempDatabase::new();
    assert!(!file.0.exists());
    let store = doorman_store::open(file.path()).await.unwrap();
    assert!(file.0.exists(), "created on open");
    let m = manager("Kept", T0);
    store.insert_manager(&m, &token(Principal::Operator), &[]).await.unwrap();
    drop(store);

    // the same file again, through a URL: migrations are not re-run, data stays
    let again = doorman_store::open(&format!("sqlite://{}", file.path())).await.unwrap();
    assert_eq!(again.backend(), "sqlite");
    assert_eq!(again.list_managers().await.unwrap(), vec![m]);

    let fresh = TempDatabase::new();
    let via_url = doorman_store::open(&format!("sqlite:{}", fresh.path())).await.unwrap();
    via_url.ping().await.unwrap();
    assert!(fresh.0.exists());

    let memory = doorman_store::open("sqlite::memory:").await.unwrap();
    let m = manager("In memory", T0);
    memory.insert_manager(&m, &token(Principal::Operator), &[]).await.unwrap();
    assert_eq!(memory.list_managers().await.unwrap(), vec![m]);
}

#[tokio::test]
async fn sqlite_file_uses_wal_and_its_debug_names_the_file() {
    let file = TempDatabase::new();
    let store = doorman_store::SqliteStore::open(file.path()).await.unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains(file.path()), "{debug}");
    drop(store);
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.path())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
}

/// Two stores on one file stand for two processes: the database, not this
/// process, must pick the single winner (`BEGIN IMMEDIATE` waits for the
/// other's write lock instead of failing with SQLITE_BUSY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_openers_of_one_file_still_grant_once() {
    let file = TempDatabase::new();
    let first = doorman_store::open(file.path()).await.unwrap();
    let second = doorman_store::open(file.path()).await.unwrap();
    let w = Arc::new(world(first.as_ref()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let w = w.clone();
        tasks.spawn(async move {
            let grant = w.grant(&w.delivery, T0, T0 + 300);
            let won = store.claim_grant(&grant, &w.granted_request(&grant, &w.delivery), T0, &[]).await.unwrap();
            let sequence = store.next_lock_sequence(w.entrance_lock.id).await.unwrap();
            (won, sequence)
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|(won, _)| *won).count(), 1);
    let sequences: BTreeSet<i64> = results.iter().map(|(_, s)| *s).collect();
    assert_eq!(sequences, (1..=40).collect());
}

/// Two handles on one database (two processes, as far as it knows): the
/// second's reads see the first's writes at once, its own rows and the
/// building's configuration it keeps alike. Returns the world made.
async fn assert_two_stores_see_each_other(first: &dyn Store, second: &dyn Store) -> World {
    let w = world(first).await;
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);
    assert_eq!(second.access_context(&q).await.unwrap().unwrap().block, None);
    let resident = w.residents(first, &w.unit).await;
    let block = Block { unit_id: w.unit.id, blocked_by: resident.id, from: T0, until: None, reason: None };
    first.insert_block(&block, &[]).await.unwrap();
    assert_eq!(second.access_context(&q).await.unwrap().unwrap().block, Some(block));
    first.end_blocks(w.unit.id, T0 + 5, &[]).await.unwrap();
    assert_eq!(second.access_context(&q).await.unwrap().unwrap().block, None);
    // what the second keeps of the building is dropped when the first changes it
    assert_config_changes_seen_at_once(first, second, &w).await;
    w
}

/// The direct SQLite path across "processes": one store's reads see the
/// other's writes at once, and numbered claims still have one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_openers_see_each_other_and_claim_with_sequences_once() {
    let file = TempDatabase::new();
    let first = doorman_store::open(file.path()).await.unwrap();
    let second = doorman_store::open(file.path()).await.unwrap();
    let w = Arc::new(assert_two_stores_see_each_other(first.as_ref(), second.as_ref()).await);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let w = w.clone();
        tasks.spawn(async move {
            let grant = w.grant(&w.delivery, T0, T0 + 300);
            let won = store.claim_grant_with_sequences(&grant, &w.granted_request(&grant, &w.delivery), T0, &[]).await;
            let sequence = store.next_lock_sequence(w.entrance_lock.id).await.unwrap();
            (won.unwrap().map(|(g, _)| g), sequence)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<&Grant> = results.iter().filter_map(|(won, _)| won.as_ref()).collect();
    assert_eq!(winners.len(), 1);
    let mut numbers: Vec<i64> = results.iter().map(|(_, s)| *s).collect();
    numbers.extend(winners.iter().filter_map(|g| g.doors.first()).filter_map(|door| door.sequence));
    let distinct: BTreeSet<i64> = numbers.iter().copied().collect();
    assert_eq!(distinct, (1..=41).collect(), "40 callers and one winner, each number once");
}

/// Two processes on one PostgreSQL schema: each keeps the building's
/// configuration between requests (under the version the database's
/// triggers bump), and drops it the moment the other changes the building;
/// their grouped, numbered claims still have one winner per parcel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_see_each_other_and_claim_with_sequences_once() {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("{POSTGRES_URL_VAR} is not set: skipped");
        return;
    };
    let url = doorman_store::isolated_postgres_url(&base).await.unwrap();
    let first = doorman_store::open(&url).await.unwrap();
    let second = doorman_store::open(&url).await.unwrap();
    let w = Arc::new(assert_two_stores_see_each_other(first.as_ref(), second.as_ref()).await);

    let parcels = parcels(first.as_ref(), &w, "TWO", 20).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let (w, parcel) = (w.clone(), parcels[i % parcels.len()].clone());
        tasks.spawn(async move {
            let grant = w.grant(&parcel, T0, T0 + 300);
            let won = store.claim_grant_with_sequences(&grant, &w.granted_request(&grant, &parcel), T0, &[]).await;
            won.unwrap().map(|(g, _)| g)
        });
    }
    let winners: Vec<Grant> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 20, "one winner per parcel");
    let numbers: BTreeSet<i64> = winners.iter().filter_map(|g| g.doors[0].sequence).collect();
    assert_eq!(numbers, (1..=20).collect(), "each entrance number once, none lost");
}

async fn open_error(url: &str) -> StoreError {
    match doorman_store::open(url).await {
        Ok(store) => panic!("{url} opened a {} store", store.backend()),
        Err(err) => err,
    }
}

#[tokio::test]
async fn unknown_schemes_are_refused_without_echoing_the_url() {
    let err = open_error("mysql://admin:hunter2@db/doorman").await;
    let text = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Backend(_)));
    assert!(text.contains("mysql"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(doorman_store::open_isolated_postgres("sqlite://x.db").await.is_err());
}

#[tokio::test]
async fn postgres_errors_never_show_the_password() {
    // a malformed URL fails before any connection is tried
    let err = open_error("postgres://doorman:hunter2@db.invalid:notaport/doorman").await;
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn postgres_debug_never_shows_the_password() {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("skipped postgres_debug_never_shows_the_password: {POSTGRES_URL_VAR} is not set");
        return;
    };
    // trust authentication ignores the password, so this connects
    let Some((scheme, rest)) = url.split_once("://") else { panic!("{POSTGRES_URL_VAR} is not a URL") };
    let Some((userinfo, host)) = rest.split_once('@') else {
        eprintln!("skipped postgres_debug_never_shows_the_password: the URL names no user");
        return;
    };
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    let with_password = format!("{scheme}://{user}:hunter2@{host}");
    let store = doorman_store::PostgresStore::open_isolated(&with_password).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("doorman_test_"), "names its schema: {debug}");
    store.ping().await.unwrap();
}

// --- the transparency log ------------------------------------------------------

/// A sequencer like the service's: RFC 6962 hashing with doorman-tlog,
/// checkpoints signed by a fixed key.
struct TreeIntegrator {
    signer: doorman_tlog::NoteSigner,
    fail: std::sync::atomic::AtomicBool,
}

impl TreeIntegrator {
    fn new() -> Self {
        Self {
            signer: doorman_tlog::NoteSigner::from_seed("conformance.example/log", [9; 32]).unwrap(),
            fail: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Integrator for TreeIntegrator {
    fn frontier(&self, size: u64) -> Vec<u64> {
        doorman_tlog::frontier_nodes(size).iter().map(|n| n.stored_index()).collect()
    }

    fn integrate(&self, size: u64, frontier: &[[u8; 32]], entries: &[StoredEntry]) -> Result<Integration, String> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("the integrator failed".into());
        }
        let hashes: Vec<doorman_tlog::Hash> = frontier.iter().map(|h| doorman_tlog::Hash(*h)).collect();
        let mut tree = doorman_tlog::Frontier::from_hashes(size, &hashes).map_err(|e| e.to_string())?;
        let mut written = Vec::new();
        for e in entries {
            tree.append(&e.bytes, &mut written).map_err(|e| e.to_string())?;
        }
        let note = doorman_tlog::Checkpoint::new("conformance.example/log", tree.size(), tree.root())
            .unwrap()
            .sign(&self.signer)
            .unwrap();
        Ok(Integration {
            hashes: written.iter().map(|s| (s.stored_index(), s.hash.0)).collect(),
            root: tree.root().0,
            note: note.to_text(),
            signed_at: T0,
        })
    }
}

fn log_event(kind: EventKind, property: Option<PropertyId>, unit: Option<UnitId>) -> Event {
    Event {
        v: doorman_domain::EVENT_FORMAT_VERSION,
        at: T0,
        kind,
        property_id: property,
        unit_id: unit,
        carrier_id: None,
        driver_id: None,
        delivery_id: None,
        actor: None,
        salt: uuid::Uuid::new_v4().simple().to_string(),
    }
}

async fn sequence_all(store: &Arc<dyn Store>, integrator: &TreeIntegrator) -> u64 {
    while store.sequence(7, integrator).await.unwrap().is_some() {}
    store.log_state().await.unwrap().integrated
}

async fn the_log_is_dense_sequenced_in_batches_and_provable(store: Arc<dyn Store>) {
    let integrator = TreeIntegrator::new();
    let property = PropertyId::random();
    let events: Vec<Event> = (0..30)
        .map(|i| log_event(EventKind::ConfigurationChanged { what: format!("{i}") }, Some(property), None))
        .collect();
    assert_eq!(store.append_events(&events[..1]).await.unwrap(), vec![0]);
    assert_eq!(store.append_events(&events[1..30]).await.unwrap(), (1..30).collect::<Vec<_>>());
    assert_eq!(store.append_events(&[]).await.unwrap(), Vec::<u64>::new());
    assert_eq!(store.log_state().await.unwrap(), LogState { appended: 30, integrated: 0 });

    // A failing integrator stores nothing; the next run resumes.
    integrator.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(store.sequence(7, &integrator).await.is_err());
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    integrator.fail.store(false, std::sync::atomic::Ordering::SeqCst);

    // Batches of 7: checkpoints at 7, 14, ..., 28, 30.
    assert_eq!(sequence_all(&store, &integrator).await, 30);
    for size in [7, 14, 21, 28, 30] {
        assert!(store.checkpoint(size).await.unwrap().is_some(), "checkpoint {size}");
    }
    let mut reference = doorman_tlog::MemoryTree::new();
    for e in &events {
        reference.append(&e.to_canonical_bytes()).unwrap();
    }
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!((latest.size, latest.root), (30, reference.root().0));
    let opened =
        doorman_tlog::SignedCheckpoint::open(latest.note.as_bytes(), &[integrator.signer.verifier_key()], &[]).unwrap();
    assert_eq!(opened.checkpoint().size(), 30);

    // Every stored hash is the reference tree's, under its key.
    let keys: Vec<u64> = (0..doorman_tlog::stored_hash_count(30)).collect();
    let stored = store.log_hashes(&keys).await.unwrap();
    let expected: Vec<[u8; 32]> = reference.stored_hashes().iter().map(|h| h.0).collect();
    assert_eq!(stored, expected);
    assert!(matches!(store.log_hashes(&[keys.len() as u64]).await, Err(StoreError::NotFound)));

    // The entries as appended, by scope and range.
    let all = EntryFilter { properties: vec![property], ..Default::default() };
    let read = store.log_entries(&all, 5..12, 100).await.unwrap();
    assert_eq!(read.iter().map(|e| e.index).collect::<Vec<_>>(), (5..12).collect::<Vec<_>>());
    assert_eq!(read[0].bytes, events[5].to_canonical_bytes());
    let elsewhere = EntryFilter { properties: vec![PropertyId::random()], ..Default::default() };
    assert!(store.log_entries(&elsewhere, 0..30, 100).await.unwrap().is_empty());

    // Cosignatures attach to a stored checkpoint only.
    store.add_cosignature(30, "w.example/w", "— w.example/w AAAA\n", T0).await.unwrap();
    assert!(matches!(store.add_cosignature(31, "w", "x", T0).await, Err(StoreError::NotFound)));
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().cosignatures.len(), 1);
}

async fn concurrent_appends_never_share_an_index(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for task in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..10 {
                let e = log_event(EventKind::ConfigurationChanged { what: format!("{task}/{i}") }, None, None);
                got.extend(store.append_events(&[e.clone(), e]).await.unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
    let integrator = TreeIntegrator::new();
    assert_eq!(sequence_all(&store, &integrator).await, 200);
}

async fn scope_filters_find_each_readers_entries(store: Arc<dyn Store>) {
    let (home, other) = (PropertyId::random(), PropertyId::random());
    let (mine, theirs) = (UnitId::random(), UnitId::random());
    let lock = LockId::random();
    let door = EventKind::DoorOpened { lock_id: lock, access_point_id: doorman_domain::AccessPointId::random() };
    let mut carrier_event = log_event(EventKind::Unblocked, Some(home), Some(theirs));
    let carrier = CarrierId::random();
    carrier_event.carrier_id = Some(carrier);
    let events = vec![
        log_event(EventKind::Unblocked, Some(home), Some(mine)),
        log_event(EventKind::Unblocked, Some(home), Some(theirs)),
        log_event(door.clone(), Some(home), None),
        log_event(door, Some(other), None),
        log_event(EventKind::ConfigurationChanged { what: "x".into() }, Some(home), None),
        carrier_event,
    ];
    store.append_events(&events).await.unwrap();
    let indexes = |filter: EntryFilter| {
        let store = store.clone();
        async move { store.log_entries(&filter, 0..100, 100).await.unwrap().iter().map(|e| e.index).collect::<Vec<_>>() }
    };
    let resident = EntryFilter { unit: Some(mine), shared: Some((home, vec!["door_opened"])), ..Default::default() };
    assert_eq!(indexes(resident).await, vec![0, 2]);
    assert_eq!(indexes(EntryFilter { properties: vec![home], ..Default::default() }).await, vec![0, 1, 2, 4, 5]);
    assert_eq!(indexes(EntryFilter { carrier: Some(carrier), ..Default::default() }).await, vec![5]);
    assert_eq!(indexes(EntryFilter { kinds: vec!["configuration_changed"], ..Default::default() }).await, vec![4]);
    assert_eq!(indexes(EntryFilter::default()).await, Vec::<u64>::new());
    assert_eq!(
        store.log_entries(&EntryFilter { everything: true, ..Default::default() }, 1..3, 1).await.unwrap().len(),
        1
    );
}

/// The log's entries, all of them.
async fn logged(store: &Arc<dyn Store>) -> Vec<Event> {
    let all = EntryFilter { everything: true, ..Default::default() };
    let entries = store.log_entries(&all, 0..u64::MAX >> 2, 10_000).await.unwrap();
    entries.iter().enumerate().for_each(|(i, e)| assert_eq!(e.index, i as u64, "the log is dense"));
    entries.iter().map(|e| Event::from_bytes(&e.bytes).unwrap()).collect()
}

fn marker(what: &str) -> Vec<Event> {
    vec![log_event(EventKind::ConfigurationChanged { what: what.into() }, None, None)]
}

fn what(event: &Event) -> &str {
    match &event.kind {
        EventKind::ConfigurationChanged { what } => what,
        EventKind::AccessRequested { .. } => "requested",
        EventKind::GrantRevoked { .. } => "revoked",
        _ => "other",
    }
}

async fn events_are_written_with_their_change_and_only_then(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    assert!(logged(&store).await.is_empty(), "the world was written without events");

    // A write that happens writes its events; one refused by the schema
    // writes none.
    let unit = unit(w.property.id, "9Z");
    store.insert_unit(&unit, &marker("unit added")).await.unwrap();
    assert_conflict(store.insert_unit(&unit, &marker("unit added twice")).await, "the same unit twice");
    store
        .set_tenant_notice(
            w.property.id,
            &TenantNotice { text: "t".into(), notified_at: T0, live_from: T0 },
            &marker("notice"),
        )
        .await
        .unwrap();
    assert_not_found(
        store
            .set_tenant_notice(
                PropertyId::random(),
                &TenantNotice { text: "t".into(), notified_at: T0, live_from: T0 },
                &marker("no such property"),
            )
            .await,
        "unknown property",
    );
    assert_eq!(store.end_blocks(w.unit.id, T0, &marker("nothing to unblock")).await.unwrap(), 0);

    // A delivery update that is stale writes nothing.
    store.insert_delivery(&w.delivery).await.ok();
    let mut moved = w.delivery.clone();
    moved.state = DeliveryState::OutForDelivery;
    moved.eta = Some(T0 + 60);
    store.update_delivery(&moved, DeliveryState::Registered, &marker("eta")).await.unwrap();
    assert!(store.update_delivery(&moved, DeliveryState::Registered, &marker("stale eta")).await.is_err());

    // A claim logs its events if it wins, and only then; their indexes come back.
    let grant = w.grant(&w.delivery, T0, T0 + 300);
    let (_, indexes) = store
        .claim_grant_with_sequences(&grant, &w.granted_request(&grant, &w.delivery), T0, &marker("claim won"))
        .await
        .unwrap()
        .unwrap();
    let lost = w.grant(&w.delivery, T0 + 1, T0 + 300);
    let result = store
        .claim_grant_with_sequences(&lost, &w.granted_request(&lost, &w.delivery), T0 + 1, &marker("claim lost"))
        .await
        .unwrap();
    assert_eq!(result, None);
    assert!(!store
        .claim_grant(&lost, &w.granted_request(&lost, &w.delivery), T0 + 1, &marker("lost too"))
        .await
        .unwrap());
    let refused = store.record_access_request(&w.request(None, T0 + 2), &marker("refused")).await.unwrap();
    assert_eq!(refused, vec![indexes[0] + 1]);

    // Revocations log what the caller makes of each revoked grant.
    let revoked = store
        .revoke_live_grants_for_unit(w.unit.id, T0 + 3, &|g: &Grant| {
            Ok(vec![log_event(EventKind::GrantRevoked { grant_id: g.id }, None, None)])
        })
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(store.revoke_live_grants_for_unit(w.unit.id, T0 + 4, &no_events).await.unwrap(), vec![]);

    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["unit added", "notice", "eta", "claim won", "refused", "revoked"]);
}

// --- the lock fleet ------------------------------------------------------------

fn fleet_event(lock: LockId, counter: u64, fill: u8) -> doorman_store::StoredLockEvent {
    doorman_store::StoredLockEvent {
        lock_id: lock,
        counter,
        hash: [fill; 32],
        time: 1_000 + counter,
        signed: vec![fill, 1, 2, 3],
        received_at: T0 + i64::try_from(counter).unwrap(),
    }
}

async fn fleet_lock(store: &dyn Store, w: &World, hash: &str) -> Lock {
    let ap = door(w.property.id, w.entrance.kind, "fleet door", None);
    store.insert_access_point(&ap, &[]).await.unwrap();
    let lock = lock(&ap, T0 + 5);
    store.insert_fleet_lock(&lock, hash, &marker("fleet lock")).await.unwrap();
    lock
}

async fn fleet_lock_is_stored_with_its_account_in_one_transaction(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$1000$salt$key").await;
    assert_eq!(store.get_lock(lock.id).await.unwrap().unwrap(), lock);
    assert_eq!(store.lock_mqtt_password_hash(lock.id).await.unwrap().as_deref(), Some("$7$1000$salt$key"));
    assert_eq!(store.lock_mqtt_password_hash(w.entrance_lock.id).await.unwrap(), None, "a lock without an account");
    assert_eq!(store.lock_mqtt_accounts().await.unwrap(), vec![(lock.id, "$7$1000$salt$key".to_string())]);
    let record = store.lock_fleet(lock.id).await.unwrap().unwrap();
    assert_eq!(record.property_id, w.property.id);
    assert_eq!(record.head, doorman_store::LockChainHead::GENESIS);
    assert_eq!(
        (record.gap, record.problem.clone(), record.revocation_sequence, record.last_contact),
        (None, None, 0, None)
    );
    assert_eq!(store.list_lock_fleet(w.property.id).await.unwrap(), vec![record]);
    assert_eq!(store.lock_fleet(LockId::random()).await.unwrap(), None);
    // A second lock on the same door: neither the lock nor its account nor the event stays.
    let again = Lock { id: LockId::random(), ..lock.clone() };
    assert_conflict(store.insert_fleet_lock(&again, "$7$x", &marker("twice")).await, "two locks on one door");
    assert_eq!(store.lock_mqtt_password_hash(again.id).await.unwrap(), None);
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["fleet lock"]);
}

async fn lock_events_are_stored_once_as_the_next_link(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    let e1 = fleet_event(lock.id, 1, 1);
    store.append_lock_event(&e1, 0, &marker("event 1")).await.unwrap();
    // The same event again, or another with the same counter: the head moved on.
    assert!(matches!(store.append_lock_event(&e1, 0, &marker("again")).await, Err(StoreError::Stale(_))));
    assert!(matches!(
        store.append_lock_event(&fleet_event(lock.id, 1, 9), 0, &marker("fork")).await,
        Err(StoreError::Stale(_))
    ));
    // A stale head that still names counter 1 cannot store it twice either.
    let e2 = fleet_event(lock.id, 2, 2);
    store.append_lock_event(&e2, 1, &marker("event 2")).await.unwrap();
    assert!(store.append_lock_event(&fleet_event(lock.id, 3, 3), 1, &marker("stale")).await.is_err());
    assert_not_found(store.append_lock_event(&fleet_event(LockId::random(), 1, 1), 0, &[]).await, "unknown lock");
    assert_not_found(
        store.append_lock_event(&fleet_event(w.entrance_lock.id, 1, 1), 0, &[]).await,
        "a lock without an account",
    );

    let record = store.lock_fleet(lock.id).await.unwrap().unwrap();
    assert_eq!(record.head, doorman_store::LockChainHead { counter: 2, hash: [2; 32], time: 1_002 });
    assert_eq!(record.last_contact, Some(T0 + 2));
    assert_eq!(store.lock_event(lock.id, 1).await.unwrap(), Some(e1.clone()));
    assert_eq!(store.lock_event(lock.id, 3).await.unwrap(), None);
    assert_eq!(store.list_lock_events(lock.id, 0, 10).await.unwrap(), vec![e1, e2.clone()]);
    assert_eq!(store.list_lock_events(lock.id, 1, 10).await.unwrap(), vec![e2]);
    assert_eq!(store.list_lock_events(lock.id, 0, 1).await.unwrap().len(), 1);
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["fleet lock", "event 1", "event 2"], "events are logged with the event they describe, once");
}

async fn lock_events_have_one_winner_under_concurrency(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20u8 {
        let store = store.clone();
        tasks.spawn(
            async move { store.append_lock_event(&fleet_event(lock.id, 1, i), 0, &marker("won")).await.is_ok() },
        );
    }
    let won = tasks.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(won, 1, "one of the concurrent uploads stores the event");
    assert_eq!(store.list_lock_events(lock.id, 0, 10).await.unwrap().len(), 1);
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["fleet lock", "won"]);
}

async fn lock_gaps_problems_and_health_are_kept(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    store.append_lock_event(&fleet_event(lock.id, 1, 1), 0, &[]).await.unwrap();
    let gap = doorman_store::LockGap { expected: 2, found: 4 };
    store.flag_lock_gap(lock.id, gap, T0 + 10).await.unwrap();
    store.flag_lock_problem(lock.id, "fork at 1", T0 + 11).await.unwrap();
    store.record_lock_health(lock.id, "{\"battery\":80}", T0 + 12).await.unwrap();
    let record = store.lock_fleet(lock.id).await.unwrap().unwrap();
    assert_eq!(record.gap, Some(gap));
    assert_eq!(record.problem, Some(("fork at 1".to_string(), T0 + 11)));
    assert_eq!(record.health, Some(("{\"battery\":80}".to_string(), T0 + 12)));
    assert_eq!(record.last_contact, Some(T0 + 12));
    // Filling the gap part way keeps the flag; reaching the event after it clears it.
    store.append_lock_event(&fleet_event(lock.id, 2, 2), 1, &[]).await.unwrap();
    assert_eq!(store.lock_fleet(lock.id).await.unwrap().unwrap().gap, Some(gap));
    store.append_lock_event(&fleet_event(lock.id, 3, 3), 2, &[]).await.unwrap();
    store.append_lock_event(&fleet_event(lock.id, 4, 4), 3, &[]).await.unwrap();
    assert_eq!(store.lock_fleet(lock.id).await.unwrap().unwrap().gap, None);
    for result in [
        store.flag_lock_gap(LockId::random(), gap, T0).await,
        store.flag_lock_problem(LockId::random(), "x", T0).await,
        store.record_lock_health(w.entrance_lock.id, "{}", T0).await,
    ] {
        assert_not_found(result, "a lock without an account");
    }
}

async fn lock_fleet_counts_what_is_in_service_and_stale(store: Arc<dyn Store>) {
    use doorman_store::LockFleetCounts;
    let w = world(store.as_ref()).await;
    // The world's two locks have no fleet account: in service, never heard from.
    assert_eq!(store.lock_fleet_counts(T0).await.unwrap(), LockFleetCounts { in_service: 2, stale: 2 });
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    assert_eq!(store.lock_fleet_counts(T0).await.unwrap(), LockFleetCounts { in_service: 3, stale: 3 });
    store.record_lock_health(lock.id, "{}", T0 + 10).await.unwrap();
    assert_eq!(store.lock_fleet_counts(T0 + 10).await.unwrap(), LockFleetCounts { in_service: 3, stale: 2 });
    assert_eq!(store.lock_fleet_counts(T0 + 11).await.unwrap(), LockFleetCounts { in_service: 3, stale: 3 });
    store.decommission_lock(w.entrance_lock.id, T0 + 20, &[]).await.unwrap();
    assert_eq!(store.lock_fleet_counts(T0 + 10).await.unwrap(), LockFleetCounts { in_service: 2, stale: 1 });
}

async fn lock_revocations_number_their_bundles(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    let other = lock_of(store.as_ref(), &w).await;
    assert_eq!(store.lock_revocations(lock.id, T0).await.unwrap(), Some((0, vec![])));
    let a = doorman_store::RevokedCredential { credential_id: vec![1; 16], expires_at: T0 + 100 };
    let b = doorman_store::RevokedCredential { credential_id: vec![2; 16], expires_at: T0 + 300 };
    assert_eq!(
        store.revoke_lock_credentials(lock.id, std::slice::from_ref(&a), T0).await.unwrap(),
        (1, vec![a.clone()])
    );
    // Revoking again adds nothing twice; the list is newest expiry first.
    let (seq, live) = store.revoke_lock_credentials(lock.id, &[a.clone(), b.clone()], T0 + 1).await.unwrap();
    assert_eq!((seq, live), (2, vec![b.clone(), a.clone()]));
    // Expired entries drop out of the list.
    assert_eq!(store.lock_revocations(lock.id, T0 + 100).await.unwrap(), Some((2, vec![b.clone()])));
    assert_eq!(store.lock_revocations(other, T0).await.unwrap(), Some((0, vec![])), "each lock on its own");
    assert_eq!(store.lock_revocations(w.entrance_lock.id, T0).await.unwrap(), None);
    assert_not_found(store.revoke_lock_credentials(LockId::random(), &[a], T0).await, "unknown lock");
    assert_eq!(store.lock_fleet(lock.id).await.unwrap().unwrap().revocation_sequence, 2);
}

async fn lock_of(store: &dyn Store, w: &World) -> LockId {
    let ap = door(w.property.id, w.entrance.kind, "second fleet door", None);
    store.insert_access_point(&ap, &[]).await.unwrap();
    let lock = lock(&ap, T0 + 6);
    store.insert_fleet_lock(&lock, "$7$other", &[]).await.unwrap();
    lock.id
}

async fn revoke_live_grants_for_delivery_touches_only_that_delivery(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = delivery(w.carrier.id, &w.unit, "OTHER-1", T0);
    store.insert_delivery(&other).await.unwrap();
    let main = w.grant(&w.delivery, T0, T0 + 300);
    assert!(store.claim_grant(&main, &w.granted_request(&main, &w.delivery), T0, &[]).await.unwrap());
    let kept = w.grant(&other, T0, T0 + 300);
    assert!(store.claim_grant(&kept, &w.granted_request(&kept, &other), T0, &[]).await.unwrap());
    let revoked = store
        .revoke_live_grants_for_delivery(w.delivery.id, T0 + 5, &|g: &Grant| {
            Ok(vec![log_event(EventKind::GrantRevoked { grant_id: g.id }, None, None)])
        })
        .await
        .unwrap();
    assert_eq!(revoked, vec![Grant { revoked_at: Some(T0 + 5), ..main.clone() }]);
    assert_eq!(store.get_grant(kept.id).await.unwrap().unwrap().revoked_at, None, "another delivery's grant stays");
    assert_eq!(store.revoke_live_grants_for_delivery(w.delivery.id, T0 + 6, &no_events).await.unwrap(), vec![]);
    // The delivery may be granted again (its live row is free).
    let next = w.grant(&w.delivery, T0 + 7, T0 + 300);
    assert!(store.claim_grant(&next, &w.granted_request(&next, &w.delivery), T0 + 7, &[]).await.unwrap());
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["revoked"]);
}

// --- notifications ------------------------------------------------------------

fn webhook(owner: Principal, created_at: i64) -> doorman_domain::WebhookSubscription {
    doorman_domain::WebhookSubscription {
        id: doorman_domain::WebhookId::random(),
        owner,
        url: "https://receiver.example/hook".into(),
        events: vec!["blocked".into()],
        active: true,
        created_at,
        after_index: Some(3),
    }
}

fn outbox_row(sub: doorman_domain::WebhookId, event_id: u64, due: i64) -> doorman_store::NewDelivery {
    doorman_store::NewDelivery {
        delivery: doorman_domain::WebhookDelivery {
            id: doorman_domain::WebhookDeliveryId::random(),
            subscription_id: sub,
            event_id,
            event_type: "blocked".into(),
            state: doorman_domain::WebhookDeliveryState::Pending,
            attempts: 0,
            next_attempt_at: due,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
            created_at: due,
        },
        body: format!("{{\"id\":{event_id}}}"),
    }
}

async fn webhooks_round_trip_per_owner(store: Arc<dyn Store>) {
    let manager = Principal::Manager { manager_id: ManagerId::random() };
    let carrier = Principal::Carrier { carrier_id: CarrierId::random() };
    let mut first = webhook(manager, T0);
    let second = webhook(manager, T0 + 1);
    let theirs = webhook(carrier, T0);
    store.insert_webhook(&first, "whsec_1").await.unwrap();
    store.insert_webhook(&second, "whsec_2").await.unwrap();
    store.insert_webhook(&theirs, "whsec_3").await.unwrap();
    assert!(matches!(store.insert_webhook(&first, "again").await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_webhook(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.list_webhooks(&manager).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(store.list_webhooks(&carrier).await.unwrap(), vec![theirs.clone()]);

    first.active = false;
    first.events = vec![];
    first.url = "http://other.example/".into();
    store.update_webhook(&first).await.unwrap();
    assert_eq!(store.get_webhook(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.active_webhooks().await.unwrap(), vec![theirs.clone(), second.clone()]);
    assert!(matches!(store.update_webhook(&webhook(manager, T0)).await, Err(StoreError::NotFound)));

    store.enqueue_webhooks(0, 1, &[outbox_row(second.id, 0, T0)]).await.unwrap();
    store.delete_webhook(second.id).await.unwrap();
    assert_eq!(store.get_webhook(second.id).await.unwrap(), None);
    assert!(store.due_webhook_deliveries(T0, 10).await.unwrap().is_empty(), "its deliveries went with it");
    assert!(matches!(store.delete_webhook(second.id).await, Err(StoreError::NotFound)));
}

async fn webhook_outbox_moves_with_its_cursor_once(store: Arc<dyn Store>) {
    let sub = webhook(Principal::Operator, T0);
    store.insert_webhook(&sub, "whsec").await.unwrap();
    assert_eq!(store.webhook_cursor().await.unwrap(), 0);
    assert!(store.enqueue_webhooks(0, 5, &[outbox_row(sub.id, 1, T0), outbox_row(sub.id, 4, T0)]).await.unwrap());
    assert_eq!(store.webhook_cursor().await.unwrap(), 5);
    // A second dispatcher that read from 0 too writes nothing.
    assert!(!store.enqueue_webhooks(0, 5, &[outbox_row(sub.id, 2, T0)]).await.unwrap());
    // The same event for the same subscription is kept once.
    assert!(store.enqueue_webhooks(5, 6, &[outbox_row(sub.id, 4, T0), outbox_row(sub.id, 5, T0)]).await.unwrap());
    let all = store.list_webhook_deliveries(sub.id, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|d| d.event_id).collect::<Vec<_>>(), vec![5, 4, 1], "newest first");
    // A failed write moves nothing.
    let bad = outbox_row(doorman_domain::WebhookId::random(), 9, T0);
    assert!(store.enqueue_webhooks(6, 10, &[outbox_row(sub.id, 7, T0), bad]).await.is_err());
    assert_eq!(store.webhook_cursor().await.unwrap(), 6);
    assert_eq!(store.list_webhook_deliveries(sub.id, None, 100).await.unwrap().len(), 3);
}

async fn webhook_attempts_lease_finish_and_resend(store: Arc<dyn Store>) {
    use doorman_domain::WebhookDeliveryState as State;
    let sub = webhook(Principal::Operator, T0);
    store.insert_webhook(&sub, "whsec_s").await.unwrap();
    let early = outbox_row(sub.id, 1, T0);
    let late = outbox_row(sub.id, 2, T0 + 100);
    assert_eq!(store.webhook_outbox_depth().await.unwrap(), 0);
    store.enqueue_webhooks(0, 3, &[early.clone(), late.clone()]).await.unwrap();
    assert_eq!(store.webhook_outbox_depth().await.unwrap(), 2, "due now or later, both pending");
    let due = store.due_webhook_deliveries(T0, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].url.as_str(), due[0].secret.as_str()), ("https://receiver.example/hook", "whsec_s"));
    assert_eq!(due[0].body, early.body);
    assert_eq!(due[0].delivery, early.delivery);
    let id = early.delivery.id;

    assert!(store.claim_webhook_delivery(id, T0, T0 + 120).await.unwrap());
    assert!(!store.claim_webhook_delivery(id, T0, T0 + 120).await.unwrap(), "taken once");
    assert!(store.due_webhook_deliveries(T0 + 1, 10).await.unwrap().is_empty());
    let failed = doorman_store::AttemptResult {
        at: T0 + 1,
        status: Some(500),
        error: Some("the receiver answered 500".into()),
        state: State::Pending,
        next_attempt_at: T0 + 31,
    };
    store.finish_webhook_attempt(id, &failed).await.unwrap();
    let d = store.get_webhook_delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state, d.attempts, d.next_attempt_at, d.last_status), (State::Pending, 1, T0 + 31, Some(500)));
    let dead = doorman_store::AttemptResult { state: State::Dead, at: T0 + 40, ..failed.clone() };
    store.finish_webhook_attempt(id, &dead).await.unwrap();
    assert_eq!(store.webhook_outbox_depth().await.unwrap(), 1, "a dead delivery leaves the outbox");
    assert_eq!(store.list_webhook_deliveries(sub.id, Some(State::Dead), 10).await.unwrap().len(), 1);
    assert!(store.due_webhook_deliveries(T0 + 10_000, 10).await.unwrap().iter().all(|d| d.delivery.id != id));

    let again = store.resend_webhook_delivery(id, T0 + 50).await.unwrap();
    assert_eq!((again.state, again.attempts, again.next_attempt_at), (State::Pending, 0, T0 + 50));
    let ok = doorman_store::AttemptResult {
        at: T0 + 51,
        status: Some(204),
        error: None,
        state: State::Delivered,
        next_attempt_at: T0 + 51,
    };
    store.finish_webhook_attempt(id, &ok).await.unwrap();
    let d = store.get_webhook_delivery(id).await.unwrap().unwrap();
    assert_eq!((d.state, d.delivered_at, d.attempts), (State::Delivered, Some(T0 + 51), 1));
    assert!(matches!(
        store.resend_webhook_delivery(doorman_domain::WebhookDeliveryId::random(), T0).await,
        Err(StoreError::NotFound)
    ));
}

async fn pickup_points_round_trip(store: Arc<dyn Store>) {
    let point = |name: &str| doorman_domain::PickupPoint {
        id: doorman_domain::PickupPointId::random(),
        name: name.into(),
        address: "1 Main St".into(),
        time_zone: "America/New_York".into(),
        hours: vec![doorman_domain::WeeklyHours {
            days: vec!["mon".into()],
            start: "09:00".into(),
            end: "17:00".into(),
        }],
        created_at: T0,
    };
    let (b, a) = (point("Bodega B"), point("Arcade A"));
    store.insert_pickup_point(&b).await.unwrap();
    store.insert_pickup_point(&a).await.unwrap();
    assert_eq!(store.get_pickup_point(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.list_pickup_points().await.unwrap(), vec![a.clone(), b]);
    assert!(matches!(store.insert_pickup_point(&a).await, Err(StoreError::Conflict(_))));
}

async fn a_logged_delivery_is_written_with_its_events_or_not_at_all(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let before = logged(&store).await.len();
    let ret = Delivery {
        kind: doorman_domain::DeliveryKind::Pickup,
        drop_spot_id: Some(w.spot.id),
        ..delivery(w.carrier.id, &w.unit, "RET-1", T0)
    };
    store.insert_delivery_logged(&ret, &marker("return scheduled")).await.unwrap();
    assert_eq!(store.get_delivery(ret.id).await.unwrap(), Some(ret.clone()));
    let log = logged(&store).await;
    assert_eq!(log.len(), before + 1);
    assert_eq!(what(&log[before]), "return scheduled");
    // A duplicate tracking number: neither the delivery nor its event.
    let twin = Delivery { id: DeliveryId::random(), ..ret.clone() };
    assert!(matches!(store.insert_delivery_logged(&twin, &marker("twin")).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_delivery(twin.id).await.unwrap(), None);
    assert_eq!(logged(&store).await.len(), before + 1);
}

async fn door_rows_move_by_compare_and_set_with_their_lock_event(store: Arc<dyn Store>) {
    use doorman_store::{DoorEntry, DoorWrite, LockDoor, LockEventWrites};
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    assert_eq!(store.lock_door(lock.id).await.unwrap(), None);
    let entry = DoorEntry { unit_id: Some(w.unit.id), ..DoorEntry::default() };
    let opened = LockDoor { entry, opened_at: Some(T0 + 1), ..LockDoor::new(lock.id) };
    let writes = LockEventWrites { door: Some(DoorWrite { read: None, door: opened }), clip: None };
    store.append_lock_event_with(&fleet_event(lock.id, 1, 1), 0, &writes, &marker("opened")).await.unwrap();
    let row = store.lock_door(lock.id).await.unwrap().unwrap();
    assert_eq!((row.entry, row.opened_at, row.ajar_logged), (entry, Some(T0 + 1), false));
    // A second writer that read "no row": Stale, and its lock event is not stored either.
    let stale = store.append_lock_event_with(&fleet_event(lock.id, 2, 2), 1, &writes, &marker("stale")).await;
    assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
    assert_eq!(store.lock_fleet(lock.id).await.unwrap().unwrap().head.counter, 1);
    // The ajar timer: due once the opening is old enough, marked once.
    assert!(store.doors_open_since(T0, 10).await.unwrap().is_empty());
    assert_eq!(store.doors_open_since(T0 + 1, 10).await.unwrap(), vec![row]);
    assert!(store.mark_door_ajar(lock.id, row.version, &marker("ajar")).await.unwrap());
    assert!(!store.mark_door_ajar(lock.id, row.version, &marker("ajar twice")).await.unwrap());
    assert!(store.doors_open_since(T0 + 100, 10).await.unwrap().is_empty());
    // A lock event that read the row before the timer wrote: Stale.
    let closed = LockDoor { opened_at: None, ..row };
    let late = LockEventWrites { door: Some(DoorWrite { read: Some(row.version), door: closed }), clip: None };
    let stale = store.append_lock_event_with(&fleet_event(lock.id, 2, 2), 1, &late, &marker("late")).await;
    assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
    let now = store.lock_door(lock.id).await.unwrap().unwrap();
    assert!(now.ajar_logged);
    let fresh = LockEventWrites { door: Some(DoorWrite { read: Some(now.version), door: closed }), clip: None };
    store.append_lock_event_with(&fleet_event(lock.id, 2, 2), 1, &fresh, &marker("closed")).await.unwrap();
    assert_eq!(store.lock_door(lock.id).await.unwrap().unwrap().opened_at, None);
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["fleet lock", "opened", "ajar", "closed"]);
}

async fn clips_are_stored_then_deleted_once_with_their_entries(store: Arc<dyn Store>) {
    use doorman_domain::ClipId;
    use doorman_store::{ClipFilter, DoorEntry, LockEventWrites, NewClip, StoredClip};
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    let clip = NewClip {
        id: ClipId::random(),
        lock_id: lock.id,
        counter: 1,
        sha256: [7; 32],
        recorded_at: T0,
        property_id: w.property.id,
        access_point_id: lock.access_point_id,
        entry: DoorEntry { unit_id: Some(w.unit.id), ..DoorEntry::default() },
    };
    let writes = LockEventWrites { door: None, clip: Some(clip.clone()) };
    store.append_lock_event_with(&fleet_event(lock.id, 1, 1), 0, &writes, &marker("camera clip")).await.unwrap();
    let announced = store.clip_at(lock.id, 1).await.unwrap().unwrap();
    assert_eq!((announced.clip.clone(), announced.stored_at), (clip.clone(), None));
    assert_eq!(store.get_clip(clip.id).await.unwrap(), Some(announced));
    assert_eq!(store.clip_at(lock.id, 2).await.unwrap(), None);
    let all = ClipFilter { property: w.property.id, unit: None };
    assert!(store.list_clips(all, 10).await.unwrap().is_empty(), "not uploaded: not listed");
    assert!(!store.mark_clip_deleted(clip.id, T0, &marker("early delete")).await.unwrap(), "not stored yet");
    let stored = StoredClip { size: 3, content_type: "video/mp4".into(), object_key: "k/1".into(), stored_at: T0 + 5 };
    assert!(store.mark_clip_stored(clip.id, &stored, &marker("ready")).await.unwrap());
    assert!(!store.mark_clip_stored(clip.id, &stored, &marker("ready twice")).await.unwrap());
    let listed = store.list_clips(ClipFilter { property: w.property.id, unit: Some(w.unit.id) }, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].size, listed[0].object_key.as_deref()), (Some(3), Some("k/1")));
    assert!(store
        .list_clips(ClipFilter { property: w.property.id, unit: Some(UnitId::random()) }, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.clips_stored_before(T0 + 5, 10).await.unwrap().is_empty());
    assert_eq!(store.clips_stored_before(T0 + 6, 10).await.unwrap().len(), 1);
    assert!(store.mark_clip_deleted(clip.id, T0 + 9, &marker("deleted")).await.unwrap());
    assert!(!store.mark_clip_deleted(clip.id, T0 + 9, &marker("deleted twice")).await.unwrap());
    assert!(store.clips_stored_before(T0 + 100, 10).await.unwrap().is_empty());
    assert!(!store.mark_clip_stored(clip.id, &stored, &marker("ready after delete")).await.unwrap());
    assert_eq!(store.get_clip(clip.id).await.unwrap().unwrap().deleted_at, Some(T0 + 9));
    let log: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(log, ["fleet lock", "camera clip", "ready", "deleted"]);
}

// --- vehicles and guest passes ---------------------------------------------------

/// The trunk's access point, lock and drop spot of a car of `unit`'s resident.
fn car(w: &World, owner: &Resident, unit: &Unit) -> (Vehicle, AccessPoint, Lock, DropSpot) {
    let trunk =
        AccessPoint { unit_id: Some(unit.id), ..door(w.property.id, AccessPointKind::Trunk, "Civic trunk", None) };
    let lock = lock(&trunk, T0 + 10);
    let spot = drop_spot(&trunk, DropSpotKind::Trunk, "Civic trunk", Some(unit.id));
    let vehicle = Vehicle {
        id: VehicleId::random(),
        owner_id: owner.id,
        unit_id: unit.id,
        property_id: w.property.id,
        name: "Civic".into(),
        plate: Some("KXN-4471".into()),
        access_point_id: trunk.id,
        lock_id: lock.id,
        drop_spot_id: spot.id,
        created_at: T0 + 10,
    };
    (vehicle, trunk, lock, spot)
}

async fn vehicles_are_stored_whole_or_not_at_all_with_their_last_position(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let owner = w.residents(&*store, &w.unit).await;
    // A car naming a unit of another property: nothing of it remains.
    let elsewhere = property(w.manager.id, "9 Elsewhere Rd", T0);
    store.insert_property(&elsewhere, &[]).await.unwrap();
    let far_unit = unit(elsewhere.id, "1");
    store.insert_unit(&far_unit, &[]).await.unwrap();
    let (bad, trunk, lock, spot) = car(&w, &owner, &far_unit);
    let doors_before = store.list_access_points(w.property.id).await.unwrap();
    assert_conflict(store.insert_vehicle(&bad, &trunk, &lock, "$7$hash", &spot, &[]).await, "unit of another property");
    assert_eq!(store.list_access_points(w.property.id).await.unwrap(), doors_before, "no trunk left behind");
    assert!(store.get_lock(lock.id).await.unwrap().is_none());

    let (vehicle, trunk, lock, spot) = car(&w, &owner, &w.unit);
    store.insert_vehicle(&vehicle, &trunk, &lock, "$7$hash", &spot, &[]).await.unwrap();
    assert_eq!(store.get_vehicle(vehicle.id).await.unwrap(), Some(vehicle.clone()));
    assert_eq!(store.list_vehicles(w.unit.id).await.unwrap(), vec![vehicle.clone()]);
    assert!(store.list_vehicles(w.other_unit.id).await.unwrap().is_empty());
    assert_eq!(store.get_lock(lock.id).await.unwrap(), Some(lock.clone()));
    assert!(store.lock_fleet(lock.id).await.unwrap().is_some(), "the trunk device has its fleet account");
    assert_eq!(store.get_drop_spot(spot.id).await.unwrap(), Some(spot.clone()));
    let facts = store.trunk_facts(w.unit.id).await.unwrap();
    assert_eq!(facts, vec![TrunkFacts { access_point_id: trunk.id, last_position: None }]);

    let first = VehiclePosition { position: GeoPoint { lat: 40.7, lon: -73.9 }, reported_at: T0 + 20 };
    let last = VehiclePosition { position: GeoPoint { lat: 40.715_1, lon: -73.990_9 }, reported_at: T0 + 30 };
    store.put_vehicle_position(vehicle.id, &first).await.unwrap();
    store.put_vehicle_position(vehicle.id, &last).await.unwrap();
    assert_eq!(store.vehicle_position(vehicle.id).await.unwrap(), Some(last));
    assert_eq!(store.trunk_facts(w.unit.id).await.unwrap()[0].last_position, Some(last));
    assert_not_found(store.put_vehicle_position(VehicleId::random(), &last).await, "unknown vehicle");
    assert_eq!(store.vehicle_position(VehicleId::random()).await.unwrap(), None);
}

async fn guest_passes_number_their_doors_and_revoke_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let resident = w.residents(&*store, &w.unit).await;
    let door_of = |lock: &Lock, cti: Option<Vec<u8>>| GuestDoor {
        access_point_id: lock.access_point_id,
        lock_id: lock.id,
        door_code: cti.is_none(),
        credential_id: cti,
        sequence: 0,
    };
    let pass = GuestPass {
        id: GuestPassId::random(),
        unit_id: w.unit.id,
        property_id: w.property.id,
        vehicle_id: None,
        created_by: resident.id,
        name: "Ana".into(),
        valid_from: T0 + 600,
        valid_until: T0 + 4200,
        doors: vec![door_of(&w.entrance_lock, Some(vec![7; 16])), door_of(&w.lobby_lock, None)],
        created_at: T0,
        revoked_at: None,
    };
    // A door of an unknown lock: nothing stored, no number used.
    let unknown = Lock { id: LockId::random(), ..w.entrance_lock.clone() };
    let bad = GuestPass {
        id: GuestPassId::random(),
        doors: vec![door_of(&w.entrance_lock, None), door_of(&unknown, None)],
        ..pass.clone()
    };
    assert_not_found(store.insert_guest_pass(&bad, &[]).await, "unknown lock");
    assert!(store.get_guest_pass(bad.id).await.unwrap().is_none());

    let stored = store.insert_guest_pass(&pass, &[]).await.unwrap();
    assert_eq!(stored.doors.iter().map(|d| d.sequence).collect::<Vec<_>>(), vec![1, 1]);
    assert_eq!(store.next_lock_sequence(w.entrance_lock.id).await.unwrap(), 2, "the counter grants use");
    assert_eq!(store.get_guest_pass(pass.id).await.unwrap(), Some(stored.clone()));
    let newer = GuestPass { id: GuestPassId::random(), created_at: T0 + 5, ..pass.clone() };
    let newer = store.insert_guest_pass(&newer, &[]).await.unwrap();
    let listed: Vec<GuestPassId> = store.list_guest_passes(w.unit.id).await.unwrap().iter().map(|p| p.id).collect();
    assert_eq!(listed, vec![newer.id, stored.id], "newest first");
    assert!(store.list_guest_passes(w.other_unit.id).await.unwrap().is_empty());

    // Around an event's time: the passes whose window meets the span, oldest first.
    let property = w.property.id;
    let around = |from, to| {
        let store = store.clone();
        async move {
            let found = store.guest_passes_valid_between(property, from, to).await.unwrap();
            found.iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(around(T0 + 4200, T0 + 9000).await, vec![stored.id, newer.id], "the window's last second");
    assert_eq!(around(T0, T0 + 600).await, vec![stored.id, newer.id], "its first");
    assert!(around(T0 + 4201, T0 + 9000).await.is_empty(), "after it");
    assert!(around(T0, T0 + 599).await.is_empty(), "before it");
    let elsewhere = store.guest_passes_valid_between(PropertyId::random(), T0, T0 + 9000).await.unwrap();
    assert!(elsewhere.is_empty(), "another property's");

    let revoked = store.revoke_guest_pass(pass.id, T0 + 700, &[]).await.unwrap().expect("revoked");
    assert_eq!(revoked.revoked_at, Some(T0 + 700));
    assert_eq!(store.revoke_guest_pass(pass.id, T0 + 800, &[]).await.unwrap(), None, "once");
    assert_eq!(store.get_guest_pass(pass.id).await.unwrap().unwrap().revoked_at, Some(T0 + 700));
    assert_eq!(store.revoke_guest_pass(GuestPassId::random(), T0, &[]).await.unwrap(), None);
}

// --- changing and removing what a manager made (migration 0013) ------------

async fn structure_edits_and_soft_removals(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);

    let renamed = Property {
        name: "14 Orchard St".into(),
        address: "14 Orchard St, New York".into(),
        kind: PropertyKind::House,
        location: GeoPoint { lat: 40.7, lon: -73.9 },
        time_zone: "Europe/Berlin".into(),
        ..w.property.clone()
    };
    store.update_property(&renamed, &marker("property edited")).await.unwrap();
    assert_eq!(store.get_property(w.property.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.access_context(&q).await.unwrap().unwrap().property, renamed, "the access path sees it at once");
    let ghost = Property { id: PropertyId::random(), ..renamed.clone() };
    assert_not_found(store.update_property(&ghost, &marker("ghost edited")).await, "an unknown property");

    let relabelled = Unit { label: "1A (rear)".into(), ..w.other_unit.clone() };
    store.update_unit(&relabelled, &marker("unit edited")).await.unwrap();
    assert_eq!(store.get_unit(w.other_unit.id).await.unwrap(), Some(relabelled.clone()));

    // A unit with nothing in the way goes: lookups skip it, edits and a
    // second removal do not find it.
    store.remove_unit(w.other_unit.id, T0 + 20, &marker("unit removed")).await.unwrap();
    assert_eq!(store.get_unit(w.other_unit.id).await.unwrap(), None);
    assert!(!store.list_units(w.property.id).await.unwrap().iter().any(|u| u.id == w.other_unit.id));
    assert_not_found(store.update_unit(&relabelled, &marker("x")).await, "edit of a removed unit");
    assert_not_found(store.remove_unit(w.other_unit.id, T0 + 21, &marker("x")).await, "removed twice");

    // Once its drop spot is gone, the package room goes; the access path
    // sees both at once.
    store.remove_drop_spot(w.spot.id, T0 + 22, &marker("spot removed")).await.unwrap();
    assert_eq!(store.get_drop_spot(w.spot.id).await.unwrap(), None);
    assert!(store.access_context(&q).await.unwrap().unwrap().drop_spots.is_empty());
    store.remove_access_point(w.package_room.id, T0 + 23, &marker("door removed")).await.unwrap();
    assert_eq!(store.get_access_point(w.package_room.id).await.unwrap(), None);
    let ctx = store.access_context(&q).await.unwrap().unwrap();
    assert!(!ctx.access_points.iter().any(|ap| ap.id == w.package_room.id));
    assert_eq!(Some(ctx), w.context_from_getters(store.as_ref(), &q).await);

    // History keeps naming what was removed.
    assert_eq!(store.get_delivery(w.delivery.id).await.unwrap().unwrap().unit_id, w.unit.id);

    let whats: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(whats, ["property edited", "unit edited", "unit removed", "spot removed", "door removed"]);
}

async fn removals_refuse_what_is_in_the_way_and_write_nothing(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let refused = |r: Result<(), StoreError>, needle: &str| match r {
        Err(StoreError::Conflict(m)) => assert!(m.contains(needle), "{m:?} should name {needle:?}"),
        other => panic!("expected a conflict naming {needle}, got {other:?}"),
    };
    // the unit has an open delivery
    refused(store.remove_unit(w.unit.id, T0 + 1, &marker("x")).await, "open delivery");
    // a unit door and a drop spot of the other unit
    let unit_door = AccessPoint {
        unit_id: Some(w.other_unit.id),
        ..door(w.property.id, AccessPointKind::UnitDoor, "2B door", Some(&w.lobby))
    };
    store.insert_access_point(&unit_door, &[]).await.unwrap();
    refused(store.remove_unit(w.other_unit.id, T0 + 1, &marker("x")).await, "unit door (2B door)");
    let mat = drop_spot(&unit_door, DropSpotKind::UnitDoor, "2B mat", Some(w.other_unit.id));
    store.insert_drop_spot(&mat, &[]).await.unwrap();
    refused(store.remove_access_point(unit_door.id, T0 + 1, &marker("x")).await, "drop spot (2B mat)");
    store.remove_drop_spot(mat.id, T0 + 2, &[]).await.unwrap();
    refused(store.remove_unit(w.other_unit.id, T0 + 1, &marker("x")).await, "unit door");
    store.remove_access_point(unit_door.id, T0 + 3, &[]).await.unwrap();
    // a resident
    w.residents(store.as_ref(), &w.other_unit).await;
    refused(store.remove_unit(w.other_unit.id, T0 + 4, &marker("x")).await, "resident");
    assert!(store.get_unit(w.other_unit.id).await.unwrap().is_some());

    // doors: a lock in service, a door behind it
    refused(store.remove_access_point(w.entrance.id, T0 + 5, &marker("x")).await, "lock in service");
    refused(store.remove_access_point(w.lobby.id, T0 + 5, &marker("x")).await, "lock in service");
    store.decommission_lock(w.lobby_lock.id, T0 + 6, &[]).await.unwrap();
    refused(store.remove_access_point(w.lobby.id, T0 + 7, &marker("x")).await, "door behind it (Package room)");
    assert!(store.get_access_point(w.lobby.id).await.unwrap().is_some());
    assert!(logged(&store).await.is_empty(), "refusals log nothing");
}

async fn door_parents_never_form_a_cycle(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    // entrance <- lobby <- package room: the entrance may not move behind
    // the package room (nor behind itself)
    for parent in [w.package_room.id, w.entrance.id] {
        let looped = AccessPoint { parent_id: Some(parent), ..w.entrance.clone() };
        assert_conflict(store.update_access_point(&looped, &marker("x")).await, "a cycle");
    }
    assert_eq!(store.get_access_point(w.entrance.id).await.unwrap(), Some(w.entrance.clone()));
    // the package room may hang off the entrance directly, with a new name
    let moved = AccessPoint {
        parent_id: Some(w.entrance.id),
        name: "Parcel room".into(),
        kind: AccessPointKind::Lobby,
        ..w.package_room.clone()
    };
    store.update_access_point(&moved, &marker("door moved")).await.unwrap();
    assert_eq!(store.get_access_point(moved.id).await.unwrap(), Some(moved.clone()));
    // and back to the street
    let street = AccessPoint { parent_id: None, ..moved.clone() };
    store.update_access_point(&street, &marker("door moved out")).await.unwrap();
    // a parent of another property, or a removed one, is refused
    let other = property(w.manager.id, "Elsewhere", T0);
    store.insert_property(&other, &[]).await.unwrap();
    let foreign = door(other.id, AccessPointKind::Entrance, "Foreign door", None);
    store.insert_access_point(&foreign, &[]).await.unwrap();
    let crossed = AccessPoint { parent_id: Some(foreign.id), ..street.clone() };
    assert_conflict(store.update_access_point(&crossed, &marker("x")).await, "a parent of another property");
    let unit_elsewhere = unit(other.id, "X1");
    store.insert_unit(&unit_elsewhere, &[]).await.unwrap();
    let crossed = AccessPoint { unit_id: Some(unit_elsewhere.id), ..street.clone() };
    assert_conflict(store.update_access_point(&crossed, &marker("x")).await, "a unit of another property");
    let whats: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(whats, ["door moved", "door moved out"]);
}

async fn removed_drop_spots_leave_the_enablements(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let shelf = drop_spot(&w.lobby, DropSpotKind::Lobby, "Lobby shelf", None);
    store.insert_drop_spot(&shelf, &[]).await.unwrap();
    let enablement = CarrierEnablement { allowed_drop_spots: vec![w.spot.id, shelf.id], ..w.enablement() };
    store.put_enablement(&enablement, &[]).await.unwrap();
    let edited =
        DropSpot { name: "Parcel shelf".into(), kind: DropSpotKind::Lobby, unit_id: Some(w.unit.id), ..w.spot.clone() };
    store.update_drop_spot(&edited, &marker("spot edited")).await.unwrap();
    assert_eq!(store.get_drop_spot(w.spot.id).await.unwrap(), Some(edited));
    store.remove_drop_spot(w.spot.id, T0 + 5, &marker("spot removed")).await.unwrap();
    let now = store.get_enablement(w.property.id, w.carrier.id).await.unwrap().unwrap();
    assert_eq!(now.allowed_drop_spots, vec![shelf.id]);
    assert_eq!(store.list_drop_spots(w.property.id).await.unwrap(), vec![shelf.clone()]);
    let tracking = w.delivery.tracking_number.clone();
    let ctx = store.access_context(&w.context_query(&tracking, T0 + 10)).await.unwrap().unwrap();
    assert_eq!(ctx.enablement.unwrap().allowed_drop_spots, vec![shelf.id], "the access path sees it at once");
    assert_not_found(store.update_drop_spot(&w.spot, &marker("x")).await, "edit of a removed spot");
    assert_not_found(store.remove_drop_spot(w.spot.id, T0 + 6, &marker("x")).await, "removed twice");
}

async fn decommissioned_locks_lose_their_account_and_leave_the_access_path(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let lock = fleet_lock(store.as_ref(), &w, "$7$1000$salt$key").await;
    let tracking = w.delivery.tracking_number.clone();
    let q = w.context_query(&tracking, T0 + 10);
    assert!(store.access_context(&q).await.unwrap().unwrap().locks.contains(&lock));

    store.decommission_lock(lock.id, T0 + 50, &marker("lock decommissioned")).await.unwrap();
    let stored = store.get_lock(lock.id).await.unwrap().unwrap();
    assert_eq!(stored, Lock { decommissioned_at: Some(T0 + 50), ..lock.clone() });
    assert!(store.list_locks(w.property.id).await.unwrap().contains(&stored), "the list still shows it");
    assert_eq!(store.lock_mqtt_password_hash(lock.id).await.unwrap(), None, "its account is gone");
    assert!(store.lock_mqtt_accounts().await.unwrap().is_empty());
    let ctx = store.access_context(&q).await.unwrap().unwrap();
    assert!(!ctx.locks.iter().any(|l| l.id == lock.id), "the access path sees it at once");
    assert_eq!(Some(ctx), w.context_from_getters(store.as_ref(), &q).await);
    assert!(store.lock_fleet(lock.id).await.unwrap().is_some(), "its chain stays for the record");

    assert_conflict(store.decommission_lock(lock.id, T0 + 51, &marker("x")).await, "decommissioned twice");
    assert_not_found(store.decommission_lock(LockId::random(), T0 + 51, &marker("x")).await, "an unknown lock");
    let whats: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(whats, ["fleet lock", "lock decommissioned"]);
}

async fn a_replaced_lock_hands_its_door_to_the_new_one(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let old = fleet_lock(store.as_ref(), &w, "$7$1000$old$key").await;
    let new = Lock { id: LockId::random(), device_public_key: vec![9; 32], created_at: T0 + 60, ..old.clone() };
    // a second lock in service on the door is refused
    assert_conflict(store.insert_fleet_lock(&new, "$7$1000$new$key", &marker("x")).await, "two locks in service");
    assert_conflict(
        store
            .replace_lock(
                old.id,
                &Lock { access_point_id: w.entrance.id, ..new.clone() },
                "$7$1000$new$key",
                &marker("x"),
            )
            .await,
        "a replacement onto a door that has a lock",
    );
    assert_eq!(store.get_lock(old.id).await.unwrap(), Some(old.clone()), "nothing of it stayed");

    store.replace_lock(old.id, &new, "$7$1000$new$key", &marker("lock replaced")).await.unwrap();
    let retired = store.get_lock(old.id).await.unwrap().unwrap();
    assert_eq!(retired.decommissioned_at, Some(T0 + 60));
    assert_eq!(retired.replaced_by, Some(new.id));
    assert_eq!(store.get_lock(new.id).await.unwrap(), Some(new.clone()));
    assert_eq!(store.lock_mqtt_password_hash(old.id).await.unwrap(), None);
    assert_eq!(store.lock_mqtt_password_hash(new.id).await.unwrap().as_deref(), Some("$7$1000$new$key"));
    assert_eq!(store.lock_mqtt_accounts().await.unwrap(), vec![(new.id, "$7$1000$new$key".to_string())]);
    let doors: Vec<LockId> = store.list_locks(w.property.id).await.unwrap().iter().map(|l| l.id).collect();
    assert!(doors.contains(&old.id) && doors.contains(&new.id));
    let tracking = w.delivery.tracking_number.clone();
    let ctx = store.access_context(&w.context_query(&tracking, T0 + 70)).await.unwrap().unwrap();
    assert!(ctx.locks.contains(&new) && !ctx.locks.iter().any(|l| l.id == old.id));
    assert_conflict(
        store.replace_lock(old.id, &Lock { id: LockId::random(), ..new.clone() }, "h", &marker("x")).await,
        "a decommissioned lock replaced again",
    );
    let whats: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(whats, ["fleet lock", "lock replaced"]);
}

// --- tenancy -----------------------------------------------------------------

async fn moving_out_ends_the_residents_tokens_and_sessions_only(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let code = random_hash();
    let invitation = Invitation {
        id: InvitationId::random(),
        unit_id: w.unit.id,
        name: "Grace Hopper".into(),
        email: "grace@example.org".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        redeemed_at: None,
        resident_id: None,
    };
    store.insert_invitation(&invitation, &code).await.unwrap();
    let (resident_id, first_hash) = (ResidentId::random(), random_hash());
    let resident = store.redeem_invitation(&code, resident_id, TokenId::random(), &first_hash, T0 + 10).await.unwrap();
    // A second token of hers, a session on it, and a neighbour's token.
    let second = token(Principal::Resident { resident_id, unit_id: w.unit.id });
    store.insert_token(&second).await.unwrap();
    let session =
        WebSessionRecord { hash: random_hash(), token_hash: second.hash, created_at: T0, expires_at: T0 + 9999 };
    store.insert_web_session(&session).await.unwrap();
    let neighbour = token(Principal::Resident { resident_id: ResidentId::random(), unit_id: w.unit.id });
    store.insert_token(&neighbour).await.unwrap();
    let neighbour_session =
        WebSessionRecord { hash: random_hash(), token_hash: neighbour.hash, created_at: T0, expires_at: T0 + 9999 };
    store.insert_web_session(&neighbour_session).await.unwrap();
    let before = logged(&store).await.len();

    let moved = store.move_out_resident(resident_id, T0 + 500, &marker("moved out")).await.unwrap();
    let expected = Resident { moved_out_at: Some(T0 + 500), ..resident };
    assert_eq!(moved, Some(expected.clone()));
    assert_eq!(store.get_resident(resident_id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.list_residents(w.unit.id).await.unwrap(), vec![expected], "the unit's history keeps her");
    assert_eq!(store.principal_for_token(&first_hash).await.unwrap(), None);
    assert_eq!(store.principal_for_token(&second.hash).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&session.hash, T0 + 1).await.unwrap(), None);
    assert_eq!(store.principal_for_token(&neighbour.hash).await.unwrap(), Some(neighbour.principal));
    assert_eq!(
        store.principal_for_web_session(&neighbour_session.hash, T0 + 1).await.unwrap(),
        Some(neighbour.principal)
    );
    let events = logged(&store).await;
    assert_eq!(events[before..].iter().map(what).collect::<Vec<_>>(), vec!["moved out"]);

    // Once: a second move-out, or an unknown resident, writes nothing.
    assert_eq!(store.move_out_resident(resident_id, T0 + 600, &marker("again")).await.unwrap(), None);
    assert_eq!(store.move_out_resident(ResidentId::random(), T0 + 600, &marker("nobody")).await.unwrap(), None);
    assert_eq!(logged(&store).await.len(), before + 1);
    assert_eq!(store.get_resident(resident_id).await.unwrap().unwrap().moved_out_at, Some(T0 + 500));
}

async fn withdrawing_an_enablement_revokes_that_carriers_live_grants_there(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let other = carrier("Quick Ship", T0);
    store.insert_carrier(&other, &token(Principal::Carrier { carrier_id: other.id }), &[]).await.unwrap();
    let enablement = |carrier: CarrierId| CarrierEnablement {
        property_id: w.property.id,
        carrier_id: carrier,
        enabled: true,
        hours: vec![],
        allowed_drop_spots: vec![w.spot.id],
        updated_at: T0,
    };
    store.put_enablement(&enablement(w.carrier.id), &[]).await.unwrap();
    store.put_enablement(&enablement(other.id), &[]).await.unwrap();
    let others_parcel = delivery(other.id, &w.unit, "OTHER-1", T0);
    let expired_parcel = delivery(w.carrier.id, &w.unit, "EXPIRED-1", T0);
    store.insert_delivery(&others_parcel).await.unwrap();
    store.insert_delivery(&expired_parcel).await.unwrap();
    let claim = |g: Grant, d: &Delivery| {
        let (store, record) = (store.clone(), w.granted_request(&g, d));
        async move {
            assert!(store.claim_grant(&g, &record, g.issued_at, &[]).await.unwrap());
            g
        }
    };
    let live = claim(w.grant(&w.delivery, T0 + 10, T0 + 300), &w.delivery).await;
    let expired = claim(w.grant(&expired_parcel, T0 - 400, T0 - 100), &expired_parcel).await;
    let others = claim(w.grant(&others_parcel, T0 + 10, T0 + 300), &others_parcel).await;
    assert_eq!(store.carrier_enablements(w.carrier.id).await.unwrap(), vec![enablement(w.carrier.id)]);
    let before = logged(&store).await.len();

    // Disabled (the row stays, replaced): the carrier's live grant is revoked, with its event.
    let disabled = CarrierEnablement { enabled: false, updated_at: T0 + 50, ..enablement(w.carrier.id) };
    let now = T0 + 100;
    let revoked = store
        .withdraw_enablement(w.property.id, w.carrier.id, Some(&disabled), now, &marker("disabled"), &revoke_marker)
        .await
        .unwrap();
    assert_eq!(revoked, Some(vec![Grant { revoked_at: Some(now), ..live.clone() }]));
    assert_eq!(store.get_enablement(w.property.id, w.carrier.id).await.unwrap(), Some(disabled));
    assert_eq!(store.carrier_enablements(w.carrier.id).await.unwrap(), vec![], "only enabled ones are listed");
    assert_eq!(store.get_grant(expired.id).await.unwrap(), Some(expired), "expired grants are left alone");
    assert_eq!(store.get_grant(others.id).await.unwrap(), Some(others.clone()), "another carrier's grant stays live");
    let events = logged(&store).await;
    assert_eq!(events[before..].iter().map(what).collect::<Vec<_>>(), vec!["disabled", "revoked"]);

    // Removed: the row goes; a second removal finds nothing and writes nothing.
    let removed = store
        .withdraw_enablement(w.property.id, other.id, None, now, &marker("removed"), &revoke_marker)
        .await
        .unwrap();
    assert_eq!(removed, Some(vec![Grant { revoked_at: Some(now), ..others }]));
    assert_eq!(store.get_enablement(w.property.id, other.id).await.unwrap(), None);
    let after = logged(&store).await.len();
    assert_eq!(after, before + 4);
    assert_eq!(
        store.withdraw_enablement(w.property.id, other.id, None, now, &marker("again"), &revoke_marker).await.unwrap(),
        None
    );
    assert_eq!(logged(&store).await.len(), after);
}

fn revoke_marker(grant: &Grant) -> Result<Vec<Event>, String> {
    Ok(vec![log_event(EventKind::GrantRevoked { grant_id: grant.id }, None, None)])
}

async fn a_property_is_handed_over_only_to_an_existing_manager(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let next = manager("Birch Management", T0);
    store.insert_manager(&next, &token(Principal::Manager { manager_id: next.id }), &[]).await.unwrap();
    let before = logged(&store).await.len();

    assert_conflict(
        store.hand_over_property(w.property.id, w.manager.id, ManagerId::random(), &marker("nobody")).await,
        "an unknown manager",
    );
    assert_eq!(
        store.hand_over_property(w.property.id, next.id, w.manager.id, &marker("not theirs")).await.unwrap(),
        None,
        "only its manager hands it over"
    );
    assert_eq!(logged(&store).await.len(), before);

    let handed = store.hand_over_property(w.property.id, w.manager.id, next.id, &marker("handed")).await.unwrap();
    let expected = Property { manager_id: next.id, ..w.property.clone() };
    assert_eq!(handed, Some(expected.clone()));
    assert_eq!(store.get_property(w.property.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.list_properties(next.id).await.unwrap(), vec![expected]);
    assert_eq!(store.list_properties(w.manager.id).await.unwrap(), vec![]);
    assert_eq!(logged(&store).await.len(), before + 1);
}

// --- email (migration 0016) ---------------------------------------------------

fn mail_row(
    resident: ResidentId,
    event_id: u64,
    kind: doorman_domain::NotificationKind,
    at: i64,
) -> doorman_store::MailMessage {
    doorman_store::MailMessage {
        id: uuid::Uuid::new_v4(),
        event_id,
        resident_id: resident,
        kind,
        to_address: "resident@example.org".into(),
        subject: format!("event {event_id}"),
        body: "Hello".into(),
        unsubscribe_url: "https://doors.example/app/unsubscribe/x".into(),
        state: doorman_store::MailState::Pending,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
        sent_at: None,
        created_at: at,
    }
}

async fn notification_choices_and_the_address_are_set_together(store: Arc<dyn Store>) {
    use doorman_domain::NotificationKind as K;
    let w = world(&*store).await;
    let resident = w.residents(&*store, &w.unit).await;
    assert!(store.notification_choices(resident.id).await.unwrap().is_empty(), "no choice yet");
    let choices = [(K::Eta, true), (K::Delivered, false)];
    store.set_notification_settings(resident.id, Some("new@example.org"), &choices, T0).await.unwrap();
    let mut stored = store.notification_choices(resident.id).await.unwrap();
    stored.sort();
    assert_eq!(stored, vec![(K::Eta, true), (K::Delivered, false)]);
    assert_eq!(store.get_resident(resident.id).await.unwrap().unwrap().email, "new@example.org");
    // Without an address only the choices change; a choice is replaced.
    store.set_notification_settings(resident.id, None, &[(K::Eta, false)], T0 + 1).await.unwrap();
    assert!(store.notification_choices(resident.id).await.unwrap().contains(&(K::Eta, false)));
    assert_eq!(store.get_resident(resident.id).await.unwrap().unwrap().email, "new@example.org");
    // Nobody: nothing written.
    assert_not_found(
        store.set_notification_settings(ResidentId::random(), Some("x@example.org"), &choices, T0).await,
        "no such person",
    );
    // The address finds the person, whatever its case; not once they moved out.
    let found = store.residents_with_email("NEW@example.ORG").await.unwrap();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![resident.id]);
    store.move_out_resident(resident.id, T0 + 2, &[]).await.unwrap();
    assert!(store.residents_with_email("new@example.org").await.unwrap().is_empty());
}

async fn mail_outbox_moves_with_its_cursor_once_per_event_person_and_kind(store: Arc<dyn Store>) {
    use doorman_domain::NotificationKind as K;
    let w = world(&*store).await;
    let r = w.residents(&*store, &w.unit).await;
    assert_eq!(store.mail_cursor().await.unwrap(), None, "no mail before it starts");
    store.start_mail_cursor(3).await.unwrap();
    store.start_mail_cursor(9).await.unwrap();
    assert_eq!(store.mail_cursor().await.unwrap(), Some(3), "started once");
    assert!(!store.enqueue_mail(0, 5, &[mail_row(r.id, 1, K::Eta, T0)]).await.unwrap(), "another cursor");
    assert!(store
        .enqueue_mail(3, 5, &[mail_row(r.id, 3, K::Eta, T0), mail_row(r.id, 4, K::Access, T0)])
        .await
        .unwrap());
    assert_eq!(store.mail_cursor().await.unwrap(), Some(5));
    // A second sender that read from 3 too writes nothing.
    assert!(!store.enqueue_mail(3, 5, &[mail_row(r.id, 3, K::Delivered, T0)]).await.unwrap());
    // One event, one person, one kind: kept once; another kind of the same event is another message.
    assert!(store
        .enqueue_mail(5, 6, &[mail_row(r.id, 4, K::Access, T0), mail_row(r.id, 4, K::DoorAjar, T0)])
        .await
        .unwrap());
    let all = store.list_mail(r.id, 100).await.unwrap();
    let mut keys: Vec<(u64, K)> = all.iter().map(|m| (m.event_id, m.kind)).collect();
    keys.sort();
    assert_eq!(keys, vec![(3, K::Eta), (4, K::Access), (4, K::DoorAjar)]);
    // A failed write moves nothing.
    let nobody = mail_row(ResidentId::random(), 6, K::Eta, T0);
    assert!(store.enqueue_mail(6, 7, &[mail_row(r.id, 6, K::Eta, T0), nobody]).await.is_err());
    assert_eq!(store.mail_cursor().await.unwrap(), Some(6));
    assert_eq!(store.list_mail(r.id, 100).await.unwrap().len(), 3);
}

async fn mail_attempts_lease_and_finish(store: Arc<dyn Store>) {
    use doorman_domain::NotificationKind as K;
    use doorman_store::{MailAttempt, MailState};
    let w = world(&*store).await;
    let r = w.residents(&*store, &w.unit).await;
    store.start_mail_cursor(0).await.unwrap();
    let (first, later) = (mail_row(r.id, 1, K::Eta, T0), mail_row(r.id, 2, K::Delivered, T0 + 100));
    store.enqueue_mail(0, 3, &[later.clone(), first.clone()]).await.unwrap();
    let due = store.due_mail(T0 + 100, 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.event_id).collect::<Vec<_>>(), vec![1, 2], "oldest event first");
    assert_eq!(due[0], first);
    assert!(store.claim_mail(first.id, T0, T0 + 90).await.unwrap());
    assert!(!store.claim_mail(first.id, T0, T0 + 90).await.unwrap(), "taken once");
    assert!(store.due_mail(T0 + 1, 10).await.unwrap().is_empty(), "leased");
    let failed = MailAttempt {
        at: T0 + 1,
        error: Some("421 try later".into()),
        state: MailState::Pending,
        next_attempt_at: T0 + 61,
    };
    store.finish_mail_attempt(first.id, &failed).await.unwrap();
    let sent = MailAttempt { at: T0 + 62, error: None, state: MailState::Sent, next_attempt_at: T0 + 62 };
    assert!(store.claim_mail(first.id, T0 + 61, T0 + 151).await.unwrap());
    store.finish_mail_attempt(first.id, &sent).await.unwrap();
    let stored = store.list_mail(r.id, 10).await.unwrap().into_iter().find(|m| m.id == first.id).unwrap();
    assert_eq!((stored.state, stored.attempts, stored.sent_at), (MailState::Sent, 2, Some(T0 + 62)));
    assert!(store.due_mail(T0 + 10_000, 10).await.unwrap().iter().all(|m| m.id != first.id), "sent is never due");
    assert!(!store.claim_mail(first.id, T0 + 62, T0 + 200).await.unwrap(), "a sent message is not taken");
    assert_not_found(store.finish_mail_attempt(uuid::Uuid::new_v4(), &sent).await, "no such message");
}

async fn sign_in_links_are_limited_and_spent_once_into_a_session(store: Arc<dyn Store>) {
    use doorman_store::{LinkRedemption, SignInLink};
    let w = world(&*store).await;
    let r = w.residents(&*store, &w.unit).await;
    let link = |at: i64| SignInLink { hash: random_hash(), resident_id: r.id, created_at: at, expires_at: at + 900 };
    let links: Vec<SignInLink> = (0..3).map(|i| link(T0 + i)).collect();
    for l in &links {
        assert!(store.insert_sign_in_link(l, T0 - 900, 3).await.unwrap());
    }
    assert!(!store.insert_sign_in_link(&link(T0 + 5), T0 - 900, 3).await.unwrap(), "three per window");
    assert_not_found(
        store.insert_sign_in_link(&SignInLink { resident_id: ResidentId::random(), ..link(T0) }, T0, 3).await,
        "nobody",
    );

    let session = |token_hash: [u8; 32], at: i64| WebSessionRecord {
        hash: random_hash(),
        token_hash,
        created_at: at,
        expires_at: at + 3600,
    };
    let first = session(random_hash(), T0 + 10);
    let got = store.redeem_sign_in_link(&links[0].hash, T0 + 10, TokenId::random(), &first).await.unwrap();
    let principal = Principal::Resident { resident_id: r.id, unit_id: r.unit_id };
    assert_eq!(got, LinkRedemption::SignedIn(principal));
    assert_eq!(store.principal_for_web_session(&first.hash, T0 + 11).await.unwrap(), Some(principal));
    // Twice: refused, and nothing more is stored.
    let second = session(random_hash(), T0 + 12);
    let again = store.redeem_sign_in_link(&links[0].hash, T0 + 12, TokenId::random(), &second).await.unwrap();
    assert_eq!(again, LinkRedemption::AlreadyUsed);
    assert_eq!(store.principal_for_web_session(&second.hash, T0 + 13).await.unwrap(), None);
    // Expired, or unknown: invalid.
    let late = store.redeem_sign_in_link(&links[1].hash, T0 + 901, TokenId::random(), &second).await.unwrap();
    assert_eq!(late, LinkRedemption::Invalid);
    let unknown = store.redeem_sign_in_link(&random_hash(), T0, TokenId::random(), &second).await.unwrap();
    assert_eq!(unknown, LinkRedemption::Invalid);
    // Moving out ends the session (its token goes with the person's others)
    // and makes the person's remaining links worthless.
    store.move_out_resident(r.id, T0 + 20, &[]).await.unwrap();
    assert_eq!(store.principal_for_web_session(&first.hash, T0 + 21).await.unwrap(), None);
    let gone = store.redeem_sign_in_link(&links[2].hash, T0 + 22, TokenId::random(), &second).await.unwrap();
    assert_eq!(gone, LinkRedemption::Invalid);
    // A later window allows links again (and the spent and expired ones go).
    assert!(store.insert_sign_in_link(&link(T0 + 2000), T0 + 1100, 3).await.unwrap(), "a new window");
}

// --- naming ----------------------------------------------------------------------

async fn names_are_found_in_bulk_removed_ones_too(store: Arc<dyn Store>) {
    use doorman_domain::ClipId;
    use doorman_store::{DoorEntry, LockEventWrites, NameQuery, NewClip};
    let w = world(store.as_ref()).await;
    // A clip of the world's delivery, announced by a fleet lock.
    let lock = fleet_lock(store.as_ref(), &w, "$7$h").await;
    let clip = NewClip {
        id: ClipId::random(),
        lock_id: lock.id,
        counter: 1,
        sha256: [9; 32],
        recorded_at: T0,
        property_id: w.property.id,
        access_point_id: lock.access_point_id,
        entry: DoorEntry {
            delivery_id: Some(w.delivery.id),
            carrier_id: Some(w.carrier.id),
            driver_id: Some(w.driver.id),
            unit_id: Some(w.unit.id),
            grant_id: None,
        },
    };
    let writes = LockEventWrites { door: None, clip: Some(clip.clone()) };
    store.append_lock_event_with(&fleet_event(lock.id, 1, 1), 0, &writes, &[]).await.unwrap();
    // A removed door and unit keep their names for the history that names them.
    store.remove_unit(w.other_unit.id, T0 + 1, &[]).await.unwrap();
    let spare = door(w.property.id, AccessPointKind::Lobby, "Side door", None);
    store.insert_access_point(&spare, &[]).await.unwrap();
    store.remove_access_point(spare.id, T0 + 2, &[]).await.unwrap();

    let nothing = store.names(&NameQuery::default()).await.unwrap();
    assert_eq!(nothing, doorman_store::NameRows::default());

    let mut q = NameQuery::default();
    q.carriers.extend([w.carrier.id, CarrierId::random()]);
    q.drivers.insert(w.driver.id);
    q.units.extend([w.unit.id, w.other_unit.id]);
    q.access_points.insert(spare.id);
    q.locks.extend([w.lobby_lock.id, LockId::random()]);
    q.drop_spots.insert(w.spot.id);
    q.delivery_clips.insert(w.delivery.id);
    q.clips.insert(clip.id);
    let rows = store.names(&q).await.unwrap();
    assert_eq!(rows.carriers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Hudson Parcel"]);
    assert_eq!(
        rows.drivers.iter().map(|d| (d.name.as_str(), d.carrier_id)).collect::<Vec<_>>(),
        [("Ada", w.carrier.id)]
    );
    let mut labels: Vec<&str> = rows.units.iter().map(|u| u.label.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["1A", "2B"], "a removed unit is still named");
    assert_eq!(rows.locks.iter().map(|l| l.id).collect::<Vec<_>>(), [w.lobby_lock.id], "an unknown lock is missing");
    let mut doors: Vec<&str> = rows.access_points.iter().map(|a| a.name.as_str()).collect();
    doors.sort();
    assert_eq!(doors, ["Lobby door", "Side door"], "a lock's door and a removed door");
    assert_eq!(rows.drop_spots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Package room shelf"]);
    assert_eq!(rows.properties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["12 Orchard St"]);
    assert_eq!(rows.clips.len(), 1, "found by id and by delivery, listed once");
    assert_eq!((rows.clips[0].clip.clone(), rows.clips[0].stored_at), (clip, None));

    // More ids than one statement binds.
    let mut many = NameQuery::default();
    many.carriers.extend((0..1200).map(|_| CarrierId::random()));
    many.carriers.insert(w.carrier.id);
    assert_eq!(store.names(&many).await.unwrap().carriers.len(), 1);
}

// --- several processes on one database (cluster) ----------------------------

async fn one_sequencer_seat_is_held_at_a_time_and_passes_on(store: Arc<dyn Store>) {
    // Two seats of one store stand for two processes: each has its own session.
    let mut first = store.sequencer_seat("doorman test seat 1");
    let mut second = store.sequencer_seat("doorman test seat 2");
    assert!(first.hold().await, "a free seat is taken");
    assert!(first.hold().await, "and kept");
    if store.backend() == "sqlite" {
        // One process (or the file's writer lock) is the sequencer.
        assert!(second.hold().await);
        return;
    }
    assert!(!second.hold().await, "one holder at a time");
    assert!(first.is_held() && !second.is_held());
    // The holder's session ends (its process died): the other takes over.
    drop(first);
    let mut taken = false;
    for _ in 0..250 {
        if second.hold().await {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(taken, "the seat passes on within 5 s of its holder's end");
    let mut third = store.sequencer_seat("doorman test seat 3");
    assert!(!third.hold().await);
}

async fn log_growth_wakes_listeners_on_commit(store: Arc<dyn Store>) {
    let Some(mut growth) = store.log_growth() else {
        assert_eq!(store.backend(), "sqlite", "only SQLite has no cross-process wake-up");
        return;
    };
    let wait = std::time::Duration::from_secs(5);
    // The listening session announces itself once it listens.
    tokio::time::timeout(wait, growth.changed()).await.expect("the listener starts").unwrap();
    growth.borrow_and_update();
    // Another handle (another process's, as far as the database knows).
    let mut other = store.log_growth().unwrap();
    other.borrow_and_update();
    store.append_events(&marker("wake up")).await.unwrap();
    tokio::time::timeout(wait, growth.changed()).await.expect("an append wakes the listener").unwrap();
    tokio::time::timeout(wait, other.changed()).await.expect("every listener").unwrap();
    // A write that fails appends nothing and wakes nobody (once the
    // world's own notifications have all arrived).
    let w = world(store.as_ref()).await;
    store.append_events(&marker("settled")).await.unwrap();
    tokio::time::timeout(wait, growth.changed()).await.unwrap().unwrap();
    growth.borrow_and_update();
    let settle = std::time::Duration::from_millis(300);
    while tokio::time::timeout(settle, growth.changed()).await.is_ok() {
        growth.borrow_and_update();
    }
    let again = Lock { id: LockId::random(), ..w.entrance_lock.clone() };
    assert_conflict(store.insert_fleet_lock(&again, "$7$x", &marker("never")).await, "two locks on one door");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), growth.changed()).await;
    assert!(quiet.is_err(), "a failed write notifies nobody");
}

async fn a_remote_unlock_in_flight_is_taken_once(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let pending = doorman_store::PendingRemoteUnlock {
        lock_id: w.entrance_lock.id,
        request_id: (1 << 62) + 7,
        resident: Principal::Resident { resident_id: ResidentId::random(), unit_id: w.unit.id },
        unit_id: w.unit.id,
        property_id: w.property.id,
        access_point_id: w.entrance.id,
        expires_at: T0 + 30,
    };
    let stale = doorman_store::PendingRemoteUnlock { request_id: 1, expires_at: T0 - 1, ..pending.clone() };
    store.insert_remote_unlock(&stale, T0 - 10).await.unwrap();
    store.insert_remote_unlock(&pending, T0).await.unwrap();
    assert_eq!(store.take_remote_unlock(stale.lock_id, 1).await.unwrap(), None, "expired ones are swept");
    assert_conflict(store.insert_remote_unlock(&pending, T0).await, "one request id per lock");
    // Many takers (processes the challenge reached): one gets it.
    let takers = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.take_remote_unlock(pending.lock_id, pending.request_id).await.unwrap() })
    });
    let mut won = Vec::new();
    for taker in takers {
        won.extend(taker.await.unwrap());
    }
    assert_eq!(won, vec![pending.clone()]);
    assert_eq!(store.take_remote_unlock(pending.lock_id, pending.request_id).await.unwrap(), None);
}

async fn service_accounts_are_upserted(store: Arc<dyn Store>) {
    assert!(store.service_accounts().await.unwrap().is_empty());
    store.upsert_service_account("doorman-b", "$7$b", T0).await.unwrap();
    store.upsert_service_account("doorman-a", "$7$a", T0).await.unwrap();
    store.upsert_service_account("doorman-b", "$7$b2", T0 + 1).await.unwrap();
    assert_eq!(
        store.service_accounts().await.unwrap(),
        vec![("doorman-a".to_string(), "$7$a".to_string()), ("doorman-b".to_string(), "$7$b2".to_string())]
    );
}

// --- passkeys ----------------------------------------------------------------

/// A passkey of `principal` and the token it is held through.
fn passkey(principal: Principal, name: &str, created_at: i64) -> (PasskeyRecord, TokenRecord) {
    let token = TokenRecord { label: format!("passkey {name}"), created_at, ..token(principal) };
    let passkey = PasskeyRecord {
        id: PasskeyId::random(),
        principal,
        name: name.into(),
        credential_id: random_hash().to_vec(),
        credential: r#"{"counter":0}"#.into(),
        sign_count: 0,
        token_id: token.id,
        created_at,
        last_used_at: None,
    };
    (passkey, token)
}

fn used(
    passkey: PasskeyId,
    expected_count: i64,
    credential: &str,
    sign_count: i64,
    at: i64,
    session_hash: [u8; 32],
    session_expires_at: i64,
) -> PasskeyUse<'_> {
    PasskeyUse { passkey, expected_count, credential, sign_count, at, session_hash, session_expires_at }
}

fn removed_names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PasskeyRemoved { name, .. } => Some(name.clone()),
            EventKind::ResidentReinvited { .. } => Some("reinvited".into()),
            _ => None,
        })
        .collect()
}

async fn passkeys_sign_in_once_per_counter_and_end_with_their_token(store: Arc<dyn Store>) {
    let holder = Principal::Manager { manager_id: ManagerId::random() };
    let (phone, phone_token) = passkey(holder, "phone", T0);
    store.insert_passkey(&phone, &phone_token, &marker("phone added")).await.unwrap();
    assert_eq!(store.list_passkeys(&holder).await.unwrap(), vec![phone.clone()]);
    assert_eq!(store.passkey_by_credential_id(&phone.credential_id).await.unwrap(), Some(phone.clone()));
    assert_eq!(store.passkey_by_credential_id(&random_hash()).await.unwrap(), None);
    // The same credential twice is refused, and its token is not left behind.
    let (copy, copy_token) = passkey(holder, "copy", T0 + 1);
    let copy = PasskeyRecord { credential_id: phone.credential_id.clone(), ..copy };
    assert_conflict(store.insert_passkey(&copy, &copy_token, &marker("copy added")).await, "same credential");
    assert_eq!(store.principal_for_token(&copy_token.hash).await.unwrap(), None);
    // A token that is not the passkey's own is refused.
    let (odd, _) = passkey(holder, "odd", T0 + 1);
    assert_conflict(store.insert_passkey(&odd, &phone_token, &[]).await, "another passkey's token");

    // A sign-in: compare and set on the counter, then a session as its token.
    let session = random_hash();
    let signed = store.passkey_signed_in(&used(phone.id, 0, r#"{"counter":5}"#, 5, T0 + 10, session, T0 + 3600)).await;
    assert!(signed.unwrap());
    assert_eq!(store.principal_for_web_session(&session, T0 + 11).await.unwrap(), Some(holder));
    let now = store.passkey_by_credential_id(&phone.credential_id).await.unwrap().unwrap();
    assert_eq!((now.sign_count, now.credential.as_str(), now.last_used_at), (5, r#"{"counter":5}"#, Some(T0 + 10)));
    // A second sign-in that read the old counter loses, and opens nothing.
    let late = random_hash();
    assert!(!store
        .passkey_signed_in(&used(phone.id, 0, r#"{"counter":5}"#, 5, T0 + 12, late, T0 + 3600))
        .await
        .unwrap());
    assert_eq!(store.principal_for_web_session(&late, T0 + 13).await.unwrap(), None);

    // Removed: its token and its sessions go with it, logged once.
    let (laptop, laptop_token) = passkey(holder, "laptop", T0 + 20);
    store.insert_passkey(&laptop, &laptop_token, &[]).await.unwrap();
    let gone = store.delete_passkey(&holder, phone.id, true, &marker("phone removed")).await.unwrap();
    assert_eq!(gone.map(|p| p.id), Some(phone.id));
    assert_eq!(store.principal_for_web_session(&session, T0 + 21).await.unwrap(), None);
    assert_eq!(store.principal_for_token(&phone_token.hash).await.unwrap(), None);
    assert_eq!(store.passkey_by_credential_id(&phone.credential_id).await.unwrap(), None);
    assert_eq!(store.list_passkeys(&holder).await.unwrap(), vec![laptop.clone()]);
    assert!(store.delete_passkey(&holder, phone.id, true, &marker("removed again")).await.unwrap().is_none());
    // A removed passkey signs nobody in.
    let after = random_hash();
    assert!(!store.passkey_signed_in(&used(phone.id, 5, "{}", 6, T0 + 30, after, T0 + 3600)).await.unwrap());
    assert_eq!(store.principal_for_web_session(&after, T0 + 31).await.unwrap(), None);
    let words: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(words, vec!["phone added".to_string(), "phone removed".to_string()]);
}

async fn the_last_way_in_is_kept_and_passkeys_are_their_holders_alone(store: Arc<dyn Store>) {
    let holder = Principal::Carrier { carrier_id: CarrierId::random() };
    let stranger = Principal::Carrier { carrier_id: CarrierId::random() };
    let (only, only_token) = passkey(holder, "only", T0);
    store.insert_passkey(&only, &only_token, &[]).await.unwrap();
    // Someone else cannot remove it (nor tell that it exists).
    assert!(store.delete_passkey(&stranger, only.id, false, &marker("stranger")).await.unwrap().is_none());
    // Nothing else lets its holder in: refused, nothing written.
    assert_conflict(store.delete_passkey(&holder, only.id, true, &marker("last")).await, "the last way in");
    assert_eq!(store.list_passkeys(&holder).await.unwrap(), vec![only.clone()]);
    // An API token of theirs is another way in.
    let api = token(holder);
    store.insert_token(&api).await.unwrap();
    assert!(store.delete_passkey(&holder, only.id, true, &marker("with a token")).await.unwrap().is_some());
    // Without the rule (a re-invitation's business), the last one goes too.
    let (again, again_token) = passkey(stranger, "again", T0);
    store.insert_passkey(&again, &again_token, &[]).await.unwrap();
    assert!(store.delete_passkey(&stranger, again.id, false, &[]).await.unwrap().is_some());
    let words: Vec<String> = logged(&store).await.iter().map(|e| what(e).to_string()).collect();
    assert_eq!(words, vec!["with a token".to_string()]);
}

async fn ceremonies_are_taken_once_and_expire(store: Arc<dyn Store>) {
    let ceremony = |created_at: i64| CeremonyRecord {
        hash: random_hash(),
        purpose: "sign_in".into(),
        principal: None,
        state: r#"{"challenge":"x"}"#.into(),
        created_at,
        expires_at: created_at + 300,
    };
    let registering = CeremonyRecord {
        purpose: "register".into(),
        principal: Some(Principal::Resident { resident_id: ResidentId::random(), unit_id: UnitId::random() }),
        ..ceremony(T0)
    };
    let signing_in = ceremony(T0);
    store.insert_ceremony(&registering, 10).await.unwrap();
    store.insert_ceremony(&signing_in, 10).await.unwrap();
    assert_eq!(store.take_ceremony(&registering.hash, T0 + 10).await.unwrap(), Some(registering.clone()));
    assert_eq!(store.take_ceremony(&registering.hash, T0 + 11).await.unwrap(), None, "taken once");
    assert_eq!(store.take_ceremony(&random_hash(), T0 + 11).await.unwrap(), None);
    // Expired: not handed out, and gone.
    assert_eq!(store.take_ceremony(&signing_in.hash, T0 + 300).await.unwrap(), None);
    // Bounded: no more than `max_open` under way; expired ones make room.
    let (a, b) = (ceremony(T0 + 400), ceremony(T0 + 401));
    store.insert_ceremony(&a, 2).await.unwrap();
    store.insert_ceremony(&b, 2).await.unwrap();
    let refused = ceremony(T0 + 402);
    assert_conflict(store.insert_ceremony(&refused, 2).await, "too many under way");
    assert_eq!(store.take_ceremony(&refused.hash, T0 + 403).await.unwrap(), None);
    store.insert_ceremony(&ceremony(T0 + 800), 2).await.unwrap();
    assert_eq!(store.take_ceremony(&a.hash, T0 + 401).await.unwrap(), None, "forgotten once expired");
}

async fn reinvitation_removes_the_passkeys_and_brings_back_the_same_resident(store: Arc<dyn Store>) {
    let w = world(store.as_ref()).await;
    let resident = w.residents(store.as_ref(), &w.unit).await;
    let holder = Principal::Resident { resident_id: resident.id, unit_id: w.unit.id };
    let (phone, phone_token) = passkey(holder, "phone", T0 + 5);
    store.insert_passkey(&phone, &phone_token, &[]).await.unwrap();
    let passkey_session = random_hash();
    assert!(store.passkey_signed_in(&used(phone.id, 0, "{}", 1, T0 + 6, passkey_session, T0 + 3600)).await.unwrap());
    let api = token(holder);
    store.insert_token(&api).await.unwrap();
    let api_session =
        WebSessionRecord { hash: random_hash(), token_hash: api.hash, created_at: T0, expires_at: T0 + 3600 };
    store.insert_web_session(&api_session).await.unwrap();
    // A neighbour's passkey is not theirs.
    let neighbour = w.residents(store.as_ref(), &w.other_unit).await;
    let neighbour_principal = Principal::Resident { resident_id: neighbour.id, unit_id: w.other_unit.id };
    let (theirs, theirs_token) = passkey(neighbour_principal, "neighbour's", T0 + 5);
    store.insert_passkey(&theirs, &theirs_token, &[]).await.unwrap();

    let code = random_hash();
    let reinvitation = Invitation {
        id: InvitationId::random(),
        unit_id: w.unit.id,
        name: resident.name.clone(),
        email: resident.email.clone(),
        created_at: T0 + 10,
        expires_at: T0 + 7200,
        redeemed_at: None,
        resident_id: Some(resident.id),
    };
    let (resident_id, invitation_id) = (resident.id, reinvitation.id);
    let events = move |removed: &[PasskeyRecord]| -> Result<Vec<Event>, String> {
        let mut out = vec![log_event(EventKind::ResidentReinvited { resident_id, invitation_id }, None, None)];
        for p in removed {
            let kind = EventKind::PasskeyRemoved {
                passkey_id: p.id,
                name: p.name.clone(),
                by_reinvitation: Some(invitation_id),
            };
            out.push(log_event(kind, None, None));
        }
        Ok(out)
    };
    let removed = store.reinvite_resident(&reinvitation, &code, &events).await.unwrap();
    assert_eq!(removed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![phone.id]);
    assert!(store.list_passkeys(&holder).await.unwrap().is_empty());
    assert_eq!(store.principal_for_token(&phone_token.hash).await.unwrap(), None);
    // Every session of theirs ends; their API token stays; the neighbour keeps theirs.
    assert_eq!(store.principal_for_web_session(&passkey_session, T0 + 11).await.unwrap(), None);
    assert_eq!(store.principal_for_web_session(&api_session.hash, T0 + 11).await.unwrap(), None);
    assert_eq!(store.principal_for_token(&api.hash).await.unwrap(), Some(holder));
    assert_eq!(store.list_passkeys(&neighbour_principal).await.unwrap(), vec![theirs.clone()]);
    assert_eq!(removed_names(&logged(&store).await), vec!["reinvited".to_string(), "phone".to_string()]);
    assert_eq!(store.invitation_by_code(&code).await.unwrap(), Some(reinvitation.clone()));

    // Not a first invitation: it makes no new resident.
    assert_not_found(
        store.redeem_invitation(&code, ResidentId::random(), TokenId::random(), &random_hash(), T0 + 20).await,
        "a re-invitation redeemed as a first one",
    );
    // A first invitation is not a re-invitation either.
    let first_code = random_hash();
    let first = Invitation { id: InvitationId::random(), resident_id: None, ..reinvitation.clone() };
    store.insert_invitation(&first, &first_code).await.unwrap();
    assert_not_found(
        store.redeem_reinvitation(&first_code, TokenId::random(), &random_hash(), T0 + 20, &[]).await,
        "a first invitation redeemed as a re-invitation",
    );
    let token_hash = random_hash();
    let back = store.redeem_reinvitation(&code, TokenId::random(), &token_hash, T0 + 20, &marker("back")).await;
    assert_eq!(back.unwrap(), resident, "the same resident, unchanged");
    assert_eq!(store.principal_for_token(&token_hash).await.unwrap(), Some(holder));
    assert_not_found(
        store.redeem_reinvitation(&code, TokenId::random(), &random_hash(), T0 + 21, &marker("twice")).await,
        "redeemed twice",
    );
    assert_eq!(store.list_residents(w.unit.id).await.unwrap(), vec![resident.clone()]);

    // Moving out takes the passkeys with the tokens; a re-invitation for
    // someone who moved out is refused and writes nothing.
    let (laptop, laptop_token) = passkey(holder, "laptop", T0 + 30);
    store.insert_passkey(&laptop, &laptop_token, &[]).await.unwrap();
    let pending_code = random_hash();
    let pending = Invitation { id: InvitationId::random(), ..reinvitation.clone() };
    store.reinvite_resident(&pending, &pending_code, &events).await.unwrap();
    store.insert_passkey(&laptop, &laptop_token, &[]).await.unwrap();
    store.move_out_resident(resident.id, T0 + 40, &[]).await.unwrap().unwrap();
    assert!(store.list_passkeys(&holder).await.unwrap().is_empty());
    assert_eq!(store.invitation_by_code(&pending_code).await.unwrap(), None, "an open re-invitation goes");
    let late_code = random_hash();
    let late = Invitation { id: InvitationId::random(), ..reinvitation.clone() };
    let before = logged(&store).await.len();
    assert_not_found(store.reinvite_resident(&late, &late_code, &events).await, "moved out");
    assert_eq!(store.invitation_by_code(&late_code).await.unwrap(), None);
    assert_eq!(logged(&store).await.len(), before);
}
