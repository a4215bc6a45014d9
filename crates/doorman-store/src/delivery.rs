//! Deliveries and what the access path writes for them: grants (claimed at
//! most one live per delivery), the record of every access request, and
//! the read of everything a request is decided on.
//!
//! The claim ([`claim_in`]), the record of a refusal ([`record_in`]) and the
//! access context's read ([`read_context`]) are written once and run both
//! on sqlx and on SQLite's direct path (see `sqlite_direct`).

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, AccessRequestRecord, Block, CarrierEnablement, CarrierId, Delivery, DeliveryId, DeliveryState, Driver,
    DriverId, DropSpot, Event, Grant, GrantId, Lock, Property, PropertyId, UnitId, UnitPreferences, UnixSeconds,
};

use crate::accounts::GET_DRIVER;
use crate::audit::{append_in, append_rows, entry_rows, EntryRow, LogIndex};
use crate::exec::{ready_now, values};
use crate::exec::{Cells, Dialect, Exec, Record, Value};
use crate::property::{
    next_lock_sequence_in, GET_ENABLEMENT, GET_PROPERTY, LIST_ACCESS_POINTS, LIST_DROP_SPOTS, LIST_LOCKS_IN_SERVICE,
};
use crate::records::select;
use crate::records::{columns, delivery_grant_ids, delivery_kind_str, to_json};
use crate::resident::{ACTIVE_BLOCK, GET_PREFERENCES};
use crate::sqlite_direct::{Claim, ConfigCache, PropertyParts};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

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
/// return it at that moment (see [`DeliveryStore::access_context`]).
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

/// What [`DeliveryStore::revoke_live_grants_for_unit`] logs for each grant it
/// revoked (the events are made inside the transaction, once it is known
/// which grants it revokes).
pub type RevocationEvents = dyn Fn(&Grant) -> Result<Vec<Event>, String> + Send + Sync;

/// Deliveries, grants and access requests; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Conflict if the carrier already has a delivery with this tracking number.
    async fn insert_delivery(&self, delivery: &Delivery) -> StoreResult<()>;
    /// Stores a new delivery (as [`DeliveryStore::insert_delivery`]) with its
    /// events, in one transaction (a return and its `ReturnScheduled`).
    async fn insert_delivery_logged(&self, delivery: &Delivery, events: &[Event]) -> StoreResult<()>;
    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>>;
    async fn find_delivery(&self, carrier: CarrierId, tracking_number: &str) -> StoreResult<Option<Delivery>>;
    /// Newest first.
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    /// Replaces the delivery's mutable fields (state, eta, drop spot,
    /// completed_by, photo_ref, updated_at) only if its stored state is
    /// still `expected`; Stale otherwise.
    async fn update_delivery(&self, delivery: &Delivery, expected: DeliveryState, events: &[Event]) -> StoreResult<()>;

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
    /// [`DeliveryStore::claim_grant`] that also numbers the doors, in the
    /// same transaction: every door of `grant` gets its lock's next sequence
    /// number (the counter of
    /// [`PropertyStore::next_lock_sequence`](crate::PropertyStore::next_lock_sequence);
    /// whatever `sequence` the door had is replaced), in the order of
    /// `grant.doors`. Returns the grant as stored, numbers included. If the
    /// delivery already has a live grant, stores nothing, uses up no number
    /// and returns None. NotFound, and nothing stored, if a door names an
    /// unknown lock. With the grant come the log indexes of `events`,
    /// written if it won.
    async fn claim_grant_with_sequences(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>>;
    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>>;
    async fn list_grants(&self, delivery: DeliveryId) -> StoreResult<Vec<Grant>>;
    /// The property's grants issued in `from..=to`, oldest first.
    async fn grants_issued_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<Grant>>;
    /// Marks revoked every grant of the unit's deliveries that is unrevoked
    /// and unexpired at `now`; returns them as they now are. The events
    /// `revoked` makes of each revoked grant are written with the change.
    async fn revoke_live_grants_for_unit(
        &self,
        unit: UnitId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>>;
    /// Marks revoked the delivery's grants that are unrevoked and unexpired
    /// at `now` (a cancelled delivery), as
    /// [`DeliveryStore::revoke_live_grants_for_unit`] does for a unit, with
    /// the events `revoked` makes of each, in one transaction.
    async fn revoke_live_grants_for_delivery(
        &self,
        delivery: DeliveryId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>>;
    /// Ends the delivery's live grant (used up by completion) without
    /// calling it revoked.
    async fn close_live_grant(&self, delivery: DeliveryId, now: UnixSeconds) -> StoreResult<()>;
    /// The drop confirmed, in one transaction: the delivery updated as
    /// [`DeliveryStore::update_delivery`] does (Stale unless its stored state
    /// is still `expected`), its live grant ended as
    /// [`DeliveryStore::close_live_grant`] ends it, and `events`.
    async fn complete_delivery(
        &self,
        delivery: &Delivery,
        expected: DeliveryState,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<()>;

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

/// $1 unit, $2 now: revokes the unit's live grants, returning them.
const REVOKE_UNIT_GRANTS: &str = concat!(
    "UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL AND expires_at > $2 AND id IN \
     (SELECT r.grant_id FROM deliveries d JOIN access_requests r ON r.delivery_id = d.id \
     WHERE d.unit_id = $1 AND r.grant_id IS NOT NULL) RETURNING ",
    columns!(grant)
);

/// $1 delivery, $2 now: revokes the delivery's live grants, returning them.
const REVOKE_DELIVERY_GRANTS: &str = concat!(
    "UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL AND expires_at > $2 AND id IN (",
    delivery_grant_ids!(),
    ") RETURNING ",
    columns!(grant)
);

/// $1 carrier, $2 tracking number
const FIND_DELIVERY: &str = select!(delivery, " FROM deliveries WHERE carrier_id = $1 AND tracking_number = $2");

/// The claim, inside the caller's write transaction: locks the delivery
/// (PostgreSQL: its row, FOR UPDATE, so that concurrent claims for it take
/// turns; SQLite lets one writer in at a time) and returns None, having
/// written nothing, if one of its grants is live. Otherwise numbers the
/// doors if asked (NotFound for an unknown lock), stores the grant, the
/// record that names it and then the log entries, and returns the grant as
/// stored with the entries' log indexes.
pub(crate) async fn claim_in(
    ex: &mut impl Exec,
    grant: &Grant,
    record: &AccessRequestRecord,
    now: UnixSeconds,
    number_doors: bool,
    entries: &[EntryRow],
) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
    let Some(grant) = claim_rows_in(ex, grant, record, now, number_doors).await? else {
        return Ok(None);
    };
    // Last in the write (see the audit module).
    let indexes = append_rows(ex, entries).await?;
    Ok(Some((grant, indexes)))
}

/// [`claim_in`] but for the log entries (PostgreSQL's group commit claims a
/// group set-wise instead: `crate::pg_claims`).
async fn claim_rows_in(
    ex: &mut impl Exec,
    grant: &Grant,
    record: &AccessRequestRecord,
    now: UnixSeconds,
    number_doors: bool,
) -> StoreResult<Option<Grant>> {
    if ex.dialect() == Dialect::Postgres {
        let lock = "SELECT id FROM deliveries WHERE id = $1 FOR UPDATE";
        ex.fetch_optional::<()>(lock, &[grant.delivery_id.into()]).await?;
    }
    // A row if one of the delivery's grants is live (unrevoked, unexpired).
    let live = concat!(
        "SELECT 1 FROM grants WHERE id IN (",
        delivery_grant_ids!(),
        ") AND revoked_at IS NULL AND expires_at > $2 LIMIT 1"
    );
    if ex.fetch_optional::<()>(live, &[grant.delivery_id.into(), now.into()]).await?.is_some() {
        return Ok(None);
    }
    let mut grant = grant.clone();
    if number_doors {
        for door in &mut grant.doors {
            door.sequence = Some(next_lock_sequence_in(ex, door.lock_id).await?.ok_or(StoreError::NotFound)?);
        }
    }
    let sql =
        concat!("INSERT INTO grants (", columns!(grant), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    ex.execute(sql, &grant_values(&grant)?).await?;
    insert_record_in(ex, record).await?;
    Ok(Some(grant))
}

/// A grant's values, in the order of `columns!(grant)`.
pub(crate) fn grant_values(grant: &Grant) -> StoreResult<[Value<'static>; GRANT_VALUES]> {
    let doors = to_json(&grant.doors, "granted doors")?;
    Ok(values! {
        grant.id, grant.delivery_id, grant.driver_id, grant.carrier_id, grant.property_id, grant.unit_id,
        grant.drop_spot_id, doors, grant.issued_at, grant.expires_at, grant.revoked_at
    })
}
pub(crate) const GRANT_VALUES: usize = 11;

/// An access request record's values, in the order of `columns!(access_request)`.
pub(crate) fn record_values(r: &AccessRequestRecord) -> [Value<'static>; RECORD_VALUES] {
    values! {
        r.id, r.driver_id, r.carrier_id, r.property_id, r.delivery_id, r.unit_id, r.position.lat, r.position.lon,
        r.at, r.grant_id, r.refusal.map(|reason| reason.as_str())
    }
}
pub(crate) const RECORD_VALUES: usize = 11;

/// Stores the record of an access request and then its log entries, inside
/// the caller's write; returns the entries' indexes.
pub(crate) async fn record_in(
    ex: &mut impl Exec,
    r: &AccessRequestRecord,
    entries: &[EntryRow],
) -> StoreResult<Vec<LogIndex>> {
    insert_record_in(ex, r).await?;
    // Last in the write (see the audit module).
    append_rows(ex, entries).await
}

/// Stores the record of an access request, inside the caller's write.
async fn insert_record_in(ex: &mut impl Exec, r: &AccessRequestRecord) -> StoreResult<()> {
    let sql = concat!(
        "INSERT INTO access_requests (",
        columns!(access_request),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    ex.execute(sql, &record_values(r)).await?;
    Ok(())
}

/// $1 driver, $2 carrier, $3 tracking number, $4 now: on PostgreSQL, the
/// configuration's version and the rows of the request's own (the
/// driver, the parcel, its unit's active block and preferences: the
/// queries `GET_DRIVER`, `FIND_DELIVERY`, `ACTIVE_BLOCK` and
/// `GET_PREFERENCES`) in one round trip. Each is a lateral subquery that
/// yields a `present` column before its own, NULL when it found nothing.
const PG_VERSION_AND_OWN_ROWS: &str = concat!(
    "SELECT v.version, dr.*, dl.*, b.*, p.* FROM access_config_version v ",
    "LEFT JOIN LATERAL (SELECT 1::BIGINT AS present, ",
    columns!(driver),
    " FROM drivers WHERE id = $1) dr ON TRUE ",
    "LEFT JOIN LATERAL (SELECT 1::BIGINT AS present, ",
    columns!(delivery),
    " FROM deliveries WHERE carrier_id = $2 AND tracking_number = $3 LIMIT 1) dl ON TRUE ",
    "LEFT JOIN LATERAL (SELECT 1::BIGINT AS present, ",
    columns!(block),
    " FROM blocks WHERE unit_id = dl.unit_id AND starts_at <= $4 AND (ends_at IS NULL OR ends_at > $4) \
     ORDER BY starts_at DESC, id DESC LIMIT 1) b ON TRUE ",
    "LEFT JOIN LATERAL (SELECT 1::BIGINT AS present, ",
    columns!(preferences),
    " FROM unit_preferences WHERE unit_id = dl.unit_id) p ON TRUE"
);

/// A row of [`PG_VERSION_AND_OWN_ROWS`].
struct OwnRows {
    version: i64,
    driver: Option<Driver>,
    delivery: Option<Delivery>,
    block: Option<Block>,
    preferences: Option<UnitPreferences>,
}

impl Record for OwnRows {
    fn read(cells: &mut impl Cells) -> StoreResult<Self> {
        Ok(OwnRows {
            version: cells.i64("configuration version")?,
            driver: present(cells, columns!(driver))?,
            delivery: present(cells, columns!(delivery))?,
            block: present(cells, columns!(block))?,
            preferences: present(cells, columns!(preferences))?,
        })
    }
}

/// A record that a `present` column precedes: None, its `columns` passed
/// over, when that column is NULL.
fn present<R: Record>(cells: &mut impl Cells, columns: &str) -> StoreResult<Option<R>> {
    if cells.opt_i64()?.is_none() {
        for _ in columns.split(',') {
            cells.opt_blob()?;
        }
        return Ok(None);
    }
    R::read(cells).map(Some)
}

/// The access context, read through `ex`. With a cache, the property's
/// configuration comes from it while the configuration version, read
/// first, says it is current: SQLite's direct path reads inside one read
/// transaction (so what it uses is its snapshot's), PostgreSQL statement by
/// statement (so what it keeps under a version was read after it, never
/// older; see `access_context`).
pub(crate) async fn read_context(
    ex: &mut impl Exec,
    q: &AccessContextQuery<'_>,
    cache: Option<&Mutex<ConfigCache>>,
) -> StoreResult<Option<AccessContext>> {
    let no_version = || StoreError::Backend("access_config_version has no row".into());
    // PostgreSQL reads the version and the request's own rows in one
    // statement (each a round trip of its own otherwise).
    let mut own: Option<OwnRows> = None;
    let version = match cache {
        Some(_) if ex.dialect() == Dialect::Postgres => {
            let values = values! { q.driver, q.carrier, q.tracking_number, q.now };
            let rows: OwnRows = ex.fetch_optional(PG_VERSION_AND_OWN_ROWS, &values).await?.ok_or_else(no_version)?;
            let version = rows.version;
            own = Some(rows);
            Some(version)
        }
        Some(_) => Some(
            ex.fetch_optional::<i64>("SELECT version FROM access_config_version", &[]).await?.ok_or_else(no_version)?,
        ),
        None => None,
    };
    let cached = match (cache, version) {
        (Some(cache), Some(version)) => {
            cache.lock().unwrap_or_else(PoisonError::into_inner).get(version, q.property, q.carrier)
        }
        _ => None,
    };
    let (parts, known) = match cached {
        Some(found) => found,
        None => {
            let Some(property) = ex.fetch_optional::<Property>(GET_PROPERTY, &[q.property.into()]).await? else {
                return Ok(None);
            };
            let drop_spots = ex.fetch_all(LIST_DROP_SPOTS, &[q.property.into()]).await?;
            let access_points = ex.fetch_all(LIST_ACCESS_POINTS, &[q.property.into()]).await?;
            let locks = ex.fetch_all(LIST_LOCKS_IN_SERVICE, &[q.property.into()]).await?;
            (Arc::new(PropertyParts { property, drop_spots, access_points, locks }), None)
        }
    };
    let enablement = match known {
        Some(enablement) => enablement,
        None => {
            let enablement: Option<CarrierEnablement> =
                ex.fetch_optional(GET_ENABLEMENT, &[q.property.into(), q.carrier.into()]).await?;
            if let (Some(cache), Some(version)) = (cache, version) {
                cache.lock().unwrap_or_else(PoisonError::into_inner).put(version, &parts, q.carrier, &enablement);
            }
            enablement
        }
    };
    let (driver, delivery, block, preferences) = match own {
        Some(own) => (own.driver, own.delivery, own.block, own.preferences.unwrap_or_default()),
        None => {
            let driver = ex.fetch_optional::<Driver>(GET_DRIVER, &[q.driver.into()]).await?;
            let delivery =
                ex.fetch_optional::<Delivery>(FIND_DELIVERY, &[q.carrier.into(), q.tracking_number.into()]).await?;
            let (block, preferences) = match &delivery {
                Some(d) => (
                    ex.fetch_optional(ACTIVE_BLOCK, &[d.unit_id.into(), q.now.into()]).await?,
                    ex.fetch_optional(GET_PREFERENCES, &[d.unit_id.into()]).await?.unwrap_or_default(),
                ),
                None => (None, UnitPreferences::default()),
            };
            (driver, delivery, block, preferences)
        }
    };
    Ok(Some(AccessContext {
        property: parts.property.clone(),
        driver,
        delivery,
        enablement,
        block,
        preferences,
        drop_spots: parts.drop_spots.clone(),
        access_points: parts.access_points.clone(),
        locks: parts.locks.clone(),
    }))
}

/// A `SELECT` narrowed by the conditions that are set (an id, not `Value::Id(None)`): `column = $n` for
/// each, in order, so that an index on the column can serve it.
fn filtered_select<'a>(
    select_from: &str,
    conditions: &[(&str, Value<'a>)],
    order_by: &str,
) -> (String, Vec<Value<'a>>) {
    let mut sql = select_from.to_string();
    let mut values = Vec::new();
    for (column, value) in conditions {
        if matches!(value, Value::Id(None)) {
            continue;
        }
        values.push(value.clone());
        let keyword = if values.len() == 1 { "WHERE" } else { "AND" };
        sql.push_str(&format!(" {keyword} {column} = ${}", values.len()));
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order_by);
    (sql, values)
}

/// The grants a revoking `UPDATE ... RETURNING` changed, oldest first, with
/// the events `revoked` makes of them, written in the same transaction.
async fn revoke<B: Backend>(
    store: &B,
    sql: &'static str,
    values: &[Value<'_>],
    revoked: &RevocationEvents,
) -> StoreResult<Vec<Grant>> {
    let mut tx = store.begin_write().await?;
    let mut grants: Vec<Grant> = tx.fetch_all(sql, values).await?;
    grants.sort_by_key(|g| (g.issued_at, g.id));
    let mut events = Vec::new();
    for grant in &grants {
        events.extend(revoked(grant).map_err(StoreError::Backend)?);
    }
    append_in(&mut *tx, &events).await?;
    tx.commit().await?;
    Ok(grants)
}

#[async_trait]
impl<B: Backend> DeliveryStore for B {
    async fn insert_delivery(&self, d: &Delivery) -> StoreResult<()> {
        self.insert_delivery_logged(d, &[]).await
    }

    async fn insert_delivery_logged(&self, d: &Delivery, events: &[Event]) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO deliveries (",
            columns!(delivery),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        let values = values! {
            d.id, d.carrier_id, d.property_id, d.unit_id, &d.tracking_number, delivery_kind_str(d.kind),
            d.window_start, d.window_end, d.eta, d.state.as_str(), d.drop_spot_id, d.completed_by,
            d.photo_ref.as_deref(), d.hash_salt.as_slice(), d.created_at, d.updated_at
        };
        self.write_one(sql, &values, events).await.map(drop)
    }

    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>> {
        self.one(select!(delivery, " FROM deliveries WHERE id = $1"), &[id.into()]).await
    }

    async fn find_delivery(&self, carrier: CarrierId, tracking_number: &str) -> StoreResult<Option<Delivery>> {
        self.one(FIND_DELIVERY, &[carrier.into(), tracking_number.into()]).await
    }

    async fn list_deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let by =
            [("carrier_id", f.carrier_id.into()), ("property_id", f.property_id.into()), ("unit_id", f.unit_id.into())];
        let (sql, values) = filtered_select(select!(delivery, " FROM deliveries"), &by, "created_at DESC, seq DESC");
        self.all(&sql, &values).await
    }

    async fn update_delivery(&self, d: &Delivery, expected: DeliveryState, events: &[Event]) -> StoreResult<()> {
        update(self, d, expected, None, events).await
    }

    async fn claim_grant(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<bool> {
        Ok(claim(self, grant, record, now, events, false).await?.is_some())
    }

    async fn claim_grant_with_sequences(
        &self,
        grant: &Grant,
        record: &AccessRequestRecord,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
        claim(self, grant, record, now, events, true).await
    }

    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
        self.one(select!(grant, " FROM grants WHERE id = $1"), &[id.into()]).await
    }

    async fn list_grants(&self, delivery: DeliveryId) -> StoreResult<Vec<Grant>> {
        let sql = concat!(
            "SELECT ",
            columns!(grant),
            " FROM grants WHERE id IN (",
            delivery_grant_ids!(),
            ") ORDER BY issued_at, id"
        );
        self.all(sql, &[delivery.into()]).await
    }

    async fn grants_issued_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<Grant>> {
        let sql = select!(
            grant,
            " FROM grants WHERE property_id = $1 AND issued_at >= $2 AND issued_at <= $3 ORDER BY issued_at, id"
        );
        self.all(sql, &[property.into(), from.into(), to.into()]).await
    }

    async fn revoke_live_grants_for_unit(
        &self,
        unit: UnitId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>> {
        revoke(self, REVOKE_UNIT_GRANTS, &[unit.into(), now.into()], revoked).await
    }

    async fn revoke_live_grants_for_delivery(
        &self,
        delivery: DeliveryId,
        now: UnixSeconds,
        revoked: &RevocationEvents,
    ) -> StoreResult<Vec<Grant>> {
        revoke(self, REVOKE_DELIVERY_GRANTS, &[delivery.into(), now.into()], revoked).await
    }

    async fn close_live_grant(&self, delivery: DeliveryId, now: UnixSeconds) -> StoreResult<()> {
        self.write_one(CLOSE_LIVE_GRANT, &[delivery.into(), now.into()], &[]).await.map(drop)
    }

    async fn complete_delivery(
        &self,
        d: &Delivery,
        expected: DeliveryState,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<()> {
        update(self, d, expected, Some(now), events).await
    }

    async fn record_access_request(
        &self,
        record: &AccessRequestRecord,
        events: &[Event],
    ) -> StoreResult<Vec<LogIndex>> {
        if let Some(direct) = self.direct() {
            return direct.record_access_request(record, events).await;
        }
        let mut tx = self.begin_write().await?;
        let indexes = record_in(&mut *tx, record, &entry_rows(events)?).await?;
        tx.commit().await?;
        Ok(indexes)
    }

    async fn access_context(&self, q: &AccessContextQuery<'_>) -> StoreResult<Option<AccessContext>> {
        if let Some(direct) = self.direct() {
            return direct.access_context(q);
        }
        // PostgreSQL keeps the configuration between requests, as SQLite's
        // direct path does. Each read here is a statement of its own (no
        // snapshot): the version is read first, so what is kept under it was
        // read after it, never older than it; a change committed before the
        // version was read is always seen (the version moved on).
        let cache = self.postgres().and_then(|pg| pg.config);
        read_context(&mut *self.read().await?, q, cache).await
    }

    async fn list_access_requests(&self, f: &AccessRequestFilter) -> StoreResult<Vec<AccessRequestRecord>> {
        let by =
            [("property_id", f.property_id.into()), ("unit_id", f.unit_id.into()), ("carrier_id", f.carrier_id.into())];
        let by = [by.as_slice(), &[("driver_id", f.driver_id.into()), ("delivery_id", f.delivery_id.into())]].concat();
        let (sql, values) =
            filtered_select(select!(access_request, " FROM access_requests"), &by, "requested_at DESC, seq DESC");
        self.all(&sql, &values).await
    }
}

/// Ending a grant is moving its expiry to `now`: it stays unrevoked, and
/// says it is over.
const CLOSE_LIVE_GRANT: &str = concat!(
    "UPDATE grants SET expires_at = $2 WHERE revoked_at IS NULL AND expires_at > $2 AND id IN (",
    delivery_grant_ids!(),
    ")"
);

const UPDATE_DELIVERY: &str = "UPDATE deliveries SET state = $3, eta = $4, drop_spot_id = $5, completed_by = $6, \
                               photo_ref = $7, updated_at = $8 WHERE id = $1 AND state = $2";

/// A delivery's update (only from the `expected` state; `values` are
/// [`UPDATE_DELIVERY`]'s), its live grant ended at `close_at` if given, then
/// its log entries; Stale (or NotFound) and nothing written otherwise.
async fn update_in(
    ex: &mut impl Exec,
    id: DeliveryId,
    expected: DeliveryState,
    values: &[Value<'_>],
    close_at: Option<UnixSeconds>,
    entries: &[EntryRow],
) -> StoreResult<()> {
    if ex.execute(UPDATE_DELIVERY, values).await? != 1 {
        let stored: Option<String> =
            ex.fetch_optional("SELECT state FROM deliveries WHERE id = $1", &[id.into()]).await?;
        return Err(match stored {
            None => StoreError::NotFound,
            Some(stored) => StoreError::Stale(format!("delivery {id} is {stored}, not {expected}")),
        });
    }
    if let Some(now) = close_at {
        ex.execute(CLOSE_LIVE_GRANT, &[id.into(), now.into()]).await?;
    }
    append_rows(ex, entries).await?;
    Ok(())
}

/// [`update_in`]: on SQLite's direct path, queued to its writer (one write
/// of a group); otherwise in a write transaction of its own.
async fn update<B: Backend>(
    store: &B,
    d: &Delivery,
    expected: DeliveryState,
    close_at: Option<UnixSeconds>,
    events: &[Event],
) -> StoreResult<()> {
    let values = values! {
        d.id, expected.as_str(), d.state.as_str(), d.eta, d.drop_spot_id, d.completed_by,
        d.photo_ref.as_deref(), d.updated_at
    };
    let (id, entries) = (d.id, entry_rows(events)?);
    if let Some(direct) = store.direct() {
        let values: Vec<Value<'static>> = values.into_iter().map(Value::into_owned).collect();
        direct
            .write_with(move |ex| ready_now(update_in(ex, id, expected, &values, close_at, &entries)).map(|()| 1))
            .await?;
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    match update_in(&mut *tx, id, expected, &values, close_at, &entries).await {
        Ok(()) => tx.commit().await,
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// A claim: on SQLite's direct path, queued to its writer; otherwise in a
/// write transaction of its own.
async fn claim<B: Backend>(
    store: &B,
    grant: &Grant,
    record: &AccessRequestRecord,
    now: UnixSeconds,
    events: &[Event],
    number_doors: bool,
) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
    let entries = entry_rows(events)?;
    if let Some(claims) = store.postgres().and_then(|pg| pg.claims) {
        return claims.claim(grant.clone(), record.clone(), now, number_doors, entries).await;
    }
    if let Some(direct) = store.direct() {
        let (grant, record) = (grant.clone(), record.clone());
        return direct.claim(Claim { grant, record, now, number_doors, entries }).await;
    }
    let mut tx = store.begin_write().await?;
    let Some(claimed) = claim_in(&mut *tx, grant, record, now, number_doors, &entries).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    tx.commit().await?;
    Ok(Some(claimed))
}
