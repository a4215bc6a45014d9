//! The [`Store`](crate::Store) logic, written once for both backends.
//!
//! The SQL is the same text on SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT` upserts, `RETURNING`, portable column types), but sqlx's
//! query types are tied to one database, so `impl_store!` stamps the same
//! method bodies out for each backend type. A backend only supplies:
//! - `fn reads(&self) -> &sqlx::Pool<DB>`: where reads run;
//! - `async fn begin_write(&self) -> StoreResult<WriteTx<DB>>`: how a write
//!   transaction begins (SQLite: `BEGIN IMMEDIATE` on its writer connection,
//!   in this process's turn to write; PostgreSQL: a plain `BEGIN`);
//! - `fn direct(&self) -> Option<&Direct>`: SQLite's direct path for the
//!   access request's reads and writes (see `sqlite_direct`), which then
//!   serves those methods instead of sqlx; None on PostgreSQL.
//!
//! and, as the macro's last argument, the clause that locks a row read in a
//! write transaction (`" FOR UPDATE"` on PostgreSQL; nothing on SQLite,
//! whose `BEGIN IMMEDIATE` already keeps every other writer out).
//!
//! Each backend also invokes `audit::impl_audit!` beside `impl_store!`: the
//! write methods that take events write them, last, with that macro's
//! `append_in`, in their own transaction.
//!
//! Every write runs in a transaction, so a method that writes several rows
//! leaves nothing behind when any of them fails (the transaction is rolled
//! back when it is dropped uncommitted).

use std::ops::{Deref, DerefMut};

use sqlx::error::ErrorKind;

use crate::StoreError;

/// A write transaction, holding the backend's turn to write (SQLite with
/// its direct path: see `sqlite_direct::Turn`) until it commits or rolls
/// back; so it must not wait for a direct write. Dereferences to the
/// connection, as sqlx's transaction does.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub(crate) fn new(tx: sqlx::Transaction<'static, DB>, turn: Option<tokio::sync::OwnedMutexGuard<()>>) -> Self {
        Self { tx, _turn: turn }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(db_error)
    }
}

impl<DB: sqlx::Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// Statements that both the sqlx code below and SQLite's direct path
/// (`sqlite_direct`) run, so that they are written once. Placeholders are
/// `$1`, `$2`, ... (the direct path binds them by name).
pub(crate) mod sql {
    use crate::rows::{
        access_point_columns, access_request_columns, block_columns, delivery_columns, delivery_grant_ids,
        driver_columns, drop_spot_columns, enablement_columns, grant_columns, lock_columns, preferences_columns,
        principal_columns, property_columns,
    };

    /// The version of the access path's configuration (SQLite only:
    /// migration 0012).
    pub(crate) const ACCESS_CONFIG_VERSION: &str = "SELECT version FROM access_config_version";
    /// $1 hash
    pub(crate) const PRINCIPAL_FOR_TOKEN: &str =
        concat!("SELECT ", principal_columns!(), " FROM tokens WHERE hash = $1");
    /// $1 id
    pub(crate) const GET_PROPERTY: &str = concat!("SELECT ", property_columns!(), " FROM properties WHERE id = $1");
    /// $1 id
    pub(crate) const GET_DRIVER: &str = concat!("SELECT ", driver_columns!(), " FROM drivers WHERE id = $1");
    /// $1 carrier, $2 tracking number
    pub(crate) const FIND_DELIVERY: &str =
        concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE carrier_id = $1 AND tracking_number = $2");
    /// $1 property, $2 carrier
    pub(crate) const GET_ENABLEMENT: &str =
        concat!("SELECT ", enablement_columns!(), " FROM enablements WHERE property_id = $1 AND carrier_id = $2");
    /// $1 unit, $2 now
    pub(crate) const ACTIVE_BLOCK: &str = concat!(
        "SELECT ",
        block_columns!(),
        " FROM blocks WHERE unit_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2) \
         ORDER BY starts_at DESC, id DESC LIMIT 1"
    );
    /// $1 unit
    pub(crate) const GET_PREFERENCES: &str =
        concat!("SELECT ", preferences_columns!(), " FROM unit_preferences WHERE unit_id = $1");
    /// $1 property
    pub(crate) const LIST_DROP_SPOTS: &str =
        concat!("SELECT ", drop_spot_columns!(), " FROM drop_spots WHERE property_id = $1 ORDER BY name, id");
    /// $1 property
    pub(crate) const LIST_ACCESS_POINTS: &str =
        concat!("SELECT ", access_point_columns!(), " FROM access_points WHERE property_id = $1 ORDER BY name, id");
    /// $1 property
    pub(crate) const LIST_LOCKS: &str =
        concat!("SELECT ", lock_columns!(), " FROM locks WHERE property_id = $1 ORDER BY created_at, id");
    /// $1 lock; the row lock the UPDATE takes serializes concurrent callers.
    pub(crate) const NEXT_LOCK_SEQUENCE: &str =
        "UPDATE locks SET sequence = sequence + 1 WHERE id = $1 RETURNING sequence";
    /// The grant's columns in `grant_columns!` order.
    pub(crate) const INSERT_GRANT: &str =
        concat!("INSERT INTO grants (", grant_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    /// $1 delivery, $2 now: a row if one of the delivery's grants is live
    /// (unrevoked, unexpired), so that a claim must lose. Read inside the
    /// claim's write transaction, after `LOCK_DELIVERY`.
    pub(crate) const LIVE_GRANT_HELD: &str = concat!(
        "SELECT 1 FROM grants WHERE id IN (",
        delivery_grant_ids!(),
        ") AND revoked_at IS NULL AND expires_at > $2 LIMIT 1"
    );
    /// The record's columns in `access_request_columns!` order.
    pub(crate) const INSERT_ACCESS_REQUEST: &str = concat!(
        "INSERT INTO access_requests (",
        access_request_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
}

/// Maps a database error to the store's error, keeping schema refusals
/// apart. The text never includes connection strings: sqlx does not put
/// them in errors once a pool is open, and opening scrubs its own errors.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation | ErrorKind::CheckViolation => {
                StoreError::Conflict(db.message().to_string())
            }
            _ => StoreError::Backend(error.to_string()),
        },
        sqlx::Error::RowNotFound => StoreError::NotFound,
        _ => StoreError::Backend(error.to_string()),
    }
}

/// A `SELECT` narrowed by the conditions that are set: `column = $n` for
/// each, in order, so that an index on the column can serve it.
pub(crate) struct FilteredSelect {
    pub sql: String,
    pub values: Vec<String>,
}

pub(crate) fn filtered_select(
    select_from: &str,
    conditions: &[(&str, Option<String>)],
    order_by: &str,
) -> FilteredSelect {
    let mut sql = select_from.to_string();
    let mut values = Vec::new();
    for (column, value) in conditions {
        if let Some(value) = value {
            values.push(value.clone());
            let keyword = if values.len() == 1 { "WHERE" } else { "AND" };
            sql.push_str(&format!(" {keyword} {column} = ${}", values.len()));
        }
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order_by);
    FilteredSelect { sql, values }
}

/// Implements [`Store`](crate::Store) for `$store`, whose database is `$db`.
macro_rules! impl_store {
    ($store:ident, $db:ty, $backend:literal, $lock:literal) => {
        mod store_impl {
            use async_trait::async_trait;
            use doorman_domain::{
                AccessPoint, AccessPointId, AccessRequestRecord, Block, Carrier, CarrierEnablement, CarrierId,
                Delivery, DeliveryId, DeliveryState, Driver, DriverId, DropSpot, DropSpotId, Event, Grant, GrantId,
                Invitation, Lock, LockId, Manager, ManagerId, Principal, Property, PropertyId, Resident, ResidentId,
                TenantNotice, TokenId, Unit, UnitId, UnitPreferences, UnixSeconds,
            };

            use super::audit_impl::append_in;
            use super::$store;
            use $crate::rows::*;
            use $crate::sql_store::{db_error, filtered_select, sql};
            use $crate::{
                AccessContext, AccessContextQuery, AccessRequestFilter, DeliveryFilter, LogIndex, RevocationEvents,
                Store, StoreError, StoreResult, TokenRecord, WebSessionRecord,
            };

            type Tx = $crate::sql_store::WriteTx<$db>;

            /// A statement of its own arguments, to run alone or in a write.
            pub(crate) type Statement<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            /// `INSERT` of an access point.
            pub(crate) fn insert_access_point_statement(ap: &AccessPoint) -> Statement<'_> {
                sqlx::query(concat!(
                    "INSERT INTO access_points (",
                    access_point_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(ap.id.to_string())
                .bind(ap.property_id.to_string())
                .bind(ap.kind.as_str())
                .bind(ap.name.as_str())
                .bind(ap.parent_id.map(|id| id.to_string()))
                .bind(ap.unit_id.map(|id| id.to_string()))
            }

            /// `INSERT` of a lock.
            pub(crate) fn insert_lock_statement(lock: &Lock) -> Statement<'_> {
                sqlx::query(concat!(
                    "INSERT INTO locks (",
                    lock_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(lock.id.to_string())
                .bind(lock.property_id.to_string())
                .bind(lock.access_point_id.to_string())
                .bind(lock.device_public_key.as_slice())
                .bind(lock.model.as_str())
                .bind(lock.firmware.as_str())
                .bind(lock.mobile_credential)
                .bind(lock.keypad)
                .bind(lock.created_at)
            }

            /// `INSERT` of a drop spot.
            pub(crate) fn insert_drop_spot_statement(spot: &DropSpot) -> Statement<'_> {
                sqlx::query(concat!(
                    "INSERT INTO drop_spots (",
                    drop_spot_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(spot.id.to_string())
                .bind(spot.property_id.to_string())
                .bind(spot.name.as_str())
                .bind(spot.kind.as_str())
                .bind(spot.access_point_id.to_string())
                .bind(spot.unit_id.map(|id| id.to_string()))
            }

            async fn commit(tx: Tx) -> StoreResult<()> {
                tx.commit().await
            }

            async fn rollback(tx: Tx) -> StoreResult<()> {
                tx.rollback().await
            }

            async fn insert_token_in(tx: &mut Tx, token: &TokenRecord) -> StoreResult<()> {
                sqlx::query("INSERT INTO tokens (id, hash, principal, label, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(token.id.to_string())
                    .bind(&token.hash[..])
                    .bind(to_json(&token.principal, "token principal")?)
                    .bind(token.label.as_str())
                    .bind(token.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            /// Managers and carriers have the same columns.
            async fn insert_party_in(
                tx: &mut Tx,
                insert: &'static str,
                id: uuid::Uuid,
                name: &str,
                created_at: UnixSeconds,
            ) -> StoreResult<()> {
                sqlx::query(insert)
                    .bind(id.to_string())
                    .bind(name)
                    .bind(created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            impl $store {
                /// One statement in its own write transaction, with the events
                /// that describe it if it touched a row; how many rows it touched.
                async fn write_one<'q>(
                    &self,
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                    events: &[Event],
                ) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let affected = query.execute(&mut *tx).await.map_err(db_error)?.rows_affected();
                    if affected > 0 {
                        append_in(&mut *tx, events).await?;
                    }
                    commit(tx).await?;
                    Ok(affected)
                }

                /// Like `write_one`, but NotFound when no row was touched.
                async fn write_existing<'q>(
                    &self,
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                    events: &[Event],
                ) -> StoreResult<()> {
                    match self.write_one(query, events).await? {
                        0 => Err(StoreError::NotFound),
                        _ => Ok(()),
                    }
                }
            }

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $backend
                }

                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(self.reads()).await.map_err(db_error)?;
                    Ok(())
                }

                // --- tokens ---------------------------------------------------

                async fn bootstrap_operator(&self, token: &TokenRecord) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // The singleton row is the decision: its primary key lets
                    // exactly one insert through, across processes too.
                    let won = sqlx::query(
                        "INSERT INTO operator_bootstrap (singleton, token_id, bootstrapped_at) VALUES (1, $1, $2) \
                         ON CONFLICT (singleton) DO NOTHING",
                    )
                    .bind(token.id.to_string())
                    .bind(token.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected()
                        == 1;
                    if !won {
                        rollback(tx).await?;
                        return Ok(false);
                    }
                    insert_token_in(&mut tx, token).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    insert_token_in(&mut tx, token).await?;
                    commit(tx).await
                }

                async fn principal_for_token(&self, hash: &[u8; 32]) -> StoreResult<Option<Principal>> {
                    if let Some(direct) = self.direct() {
                        return direct.principal_for_token(hash);
                    }
                    let row = sqlx::query_as::<_, PrincipalRow>(sql::PRINCIPAL_FOR_TOKEN)
                        .bind(&hash[..])
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                // --- dashboard sessions ---------------------------------------

                async fn insert_web_session(&self, session: &WebSessionRecord) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                        .bind(session.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    sqlx::query(
                        "INSERT INTO web_sessions (hash, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&session.hash[..])
                    .bind(&session.token_hash[..])
                    .bind(session.created_at)
                    .bind(session.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    commit(tx).await
                }

                async fn principal_for_web_session(
                    &self,
                    hash: &[u8; 32],
                    now: UnixSeconds,
                ) -> StoreResult<Option<Principal>> {
                    let row = sqlx::query_as::<_, PrincipalRow>(
                        "SELECT t.principal FROM web_sessions s JOIN tokens t ON t.hash = s.token_hash \
                         WHERE s.hash = $1 AND s.expires_at > $2",
                    )
                    .bind(&hash[..])
                    .bind(now)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn delete_web_session(&self, hash: &[u8; 32]) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let n = sqlx::query("DELETE FROM web_sessions WHERE hash = $1")
                        .bind(&hash[..])
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                    commit(tx).await?;
                    Ok(n == 1)
                }

                // --- operator -------------------------------------------------

                async fn insert_manager(
                    &self,
                    manager: &Manager,
                    token: &TokenRecord,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    insert_party_in(
                        &mut tx,
                        "INSERT INTO managers (id, name, created_at) VALUES ($1, $2, $3)",
                        manager.id.as_uuid(),
                        &manager.name,
                        manager.created_at,
                    )
                    .await?;
                    insert_token_in(&mut tx, token).await?;
                    append_in(&mut *tx, events).await?;
                    commit(tx).await
                }

                async fn get_manager(&self, id: ManagerId) -> StoreResult<Option<Manager>> {
                    let row = sqlx::query_as::<_, PartyRow>(concat!(
                        "SELECT ",
                        party_columns!(),
                        " FROM managers WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row.map(ManagerRow))
                }

                async fn list_managers(&self) -> StoreResult<Vec<Manager>> {
                    let rows = sqlx::query_as::<_, PartyRow>(concat!(
                        "SELECT ",
                        party_columns!(),
                        " FROM managers ORDER BY created_at, id"
                    ))
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows.into_iter().map(ManagerRow).collect())
                }

                async fn insert_carrier(
                    &self,
                    carrier: &Carrier,
                    token: &TokenRecord,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    insert_party_in(
                        &mut tx,
                        "INSERT INTO carriers (id, name, created_at) VALUES ($1, $2, $3)",
                        carrier.id.as_uuid(),
                        &carrier.name,
                        carrier.created_at,
                    )
                    .await?;
                    insert_token_in(&mut tx, token).await?;
                    append_in(&mut *tx, events).await?;
                    commit(tx).await
                }

                async fn get_carrier(&self, id: CarrierId) -> StoreResult<Option<Carrier>> {
                    let row = sqlx::query_as::<_, PartyRow>(concat!(
                        "SELECT ",
                        party_columns!(),
                        " FROM carriers WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row.map(CarrierRow))
                }

                async fn list_carriers(&self) -> StoreResult<Vec<Carrier>> {
                    let rows = sqlx::query_as::<_, PartyRow>(concat!(
                        "SELECT ",
                        party_columns!(),
                        " FROM carriers ORDER BY created_at, id"
                    ))
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows.into_iter().map(CarrierRow).collect())
                }

                // --- properties -----------------------------------------------

                async fn insert_property(&self, p: &Property, events: &[Event]) -> StoreResult<()> {
                    let notice = p.tenant_notice.as_ref();
                    self.write_one(
                        sqlx::query(concat!(
                            "INSERT INTO properties (",
                            property_columns!(),
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                        ))
                        .bind(p.id.to_string())
                        .bind(p.manager_id.to_string())
                        .bind(p.kind.as_str())
                        .bind(p.name.as_str())
                        .bind(p.address.as_str())
                        .bind(p.location.lat)
                        .bind(p.location.lon)
                        .bind(p.time_zone.as_str())
                        .bind(notice.map(|n| n.text.as_str()))
                        .bind(notice.map(|n| n.notified_at))
                        .bind(notice.map(|n| n.live_from))
                        .bind(p.created_at),
                        events,
                    )
                    .await?;
                    Ok(())
                }

                async fn get_property(&self, id: PropertyId) -> StoreResult<Option<Property>> {
                    let row = sqlx::query_as::<_, PropertyRow>(sql::GET_PROPERTY)
                        .bind(id.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_properties(&self, manager: ManagerId) -> StoreResult<Vec<Property>> {
                    let rows = sqlx::query_as::<_, PropertyRow>(concat!(
                        "SELECT ",
                        property_columns!(),
                        " FROM properties WHERE manager_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(manager.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn set_tenant_notice(
                    &self,
                    property: PropertyId,
                    notice: &TenantNotice,
                    events: &[Event],
                ) -> StoreResult<()> {
                    self.write_existing(
                        sqlx::query(
                            "UPDATE properties SET notice_text = $2, notice_notified_at = $3, notice_live_from = $4 \
                             WHERE id = $1",
                        )
                        .bind(property.to_string())
                        .bind(notice.text.as_str())
                        .bind(notice.notified_at)
                        .bind(notice.live_from),
                        events,
                    )
                    .await
                }

                async fn insert_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()> {
                    self.write_one(
                        sqlx::query(concat!("INSERT INTO units (", unit_columns!(), ") VALUES ($1, $2, $3)"))
                            .bind(unit.id.to_string())
                            .bind(unit.property_id.to_string())
                            .bind(unit.label.as_str()),
                        events,
                    )
                    .await?;
                    Ok(())
                }

                async fn get_unit(&self, id: UnitId) -> StoreResult<Option<Unit>> {
                    let row =
                        sqlx::query_as::<_, UnitRow>(concat!("SELECT ", unit_columns!(), " FROM units WHERE id = $1"))
                            .bind(id.to_string())
                            .fetch_optional(self.reads())
                            .await
                            .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_units(&self, property: PropertyId) -> StoreResult<Vec<Unit>> {
                    let rows = sqlx::query_as::<_, UnitRow>(concat!(
                        "SELECT ",
                        unit_columns!(),
                        " FROM units WHERE property_id = $1 ORDER BY label, id"
                    ))
                    .bind(property.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn insert_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()> {
                    self.write_one(insert_access_point_statement(ap), events).await?;
                    Ok(())
                }

                async fn get_access_point(&self, id: AccessPointId) -> StoreResult<Option<AccessPoint>> {
                    let row = sqlx::query_as::<_, AccessPointRow>(concat!(
                        "SELECT ",
                        access_point_columns!(),
                        " FROM access_points WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_access_points(&self, property: PropertyId) -> StoreResult<Vec<AccessPoint>> {
                    let rows = sqlx::query_as::<_, AccessPointRow>(sql::LIST_ACCESS_POINTS)
                        .bind(property.to_string())
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn insert_lock(&self, lock: &Lock, events: &[Event]) -> StoreResult<()> {
                    self.write_one(insert_lock_statement(lock), events).await?;
                    Ok(())
                }

                async fn get_lock(&self, id: LockId) -> StoreResult<Option<Lock>> {
                    let row =
                        sqlx::query_as::<_, LockRow>(concat!("SELECT ", lock_columns!(), " FROM locks WHERE id = $1"))
                            .bind(id.to_string())
                            .fetch_optional(self.reads())
                            .await
                            .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_locks(&self, property: PropertyId) -> StoreResult<Vec<Lock>> {
                    let rows = sqlx::query_as::<_, LockRow>(sql::LIST_LOCKS)
                        .bind(property.to_string())
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn next_lock_sequence(&self, lock: LockId) -> StoreResult<i64> {
                    if let Some(direct) = self.direct() {
                        return direct.next_lock_sequence(lock).await;
                    }
                    let mut tx = self.begin_write().await?;
                    let Some(next) = next_lock_sequence_in(&mut tx, lock).await? else {
                        rollback(tx).await?;
                        return Err(StoreError::NotFound);
                    };
                    commit(tx).await?;
                    Ok(next)
                }

                async fn insert_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()> {
                    self.write_one(insert_drop_spot_statement(spot), events).await?;
                    Ok(())
                }

                async fn get_drop_spot(&self, id: DropSpotId) -> StoreResult<Option<DropSpot>> {
                    let row = sqlx::query_as::<_, DropSpotRow>(concat!(
                        "SELECT ",
                        drop_spot_columns!(),
                        " FROM drop_spots WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_drop_spots(&self, property: PropertyId) -> StoreResult<Vec<DropSpot>> {
                    let rows = sqlx::query_as::<_, DropSpotRow>(sql::LIST_DROP_SPOTS)
                        .bind(property.to_string())
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn put_enablement(&self, e: &CarrierEnablement, events: &[Event]) -> StoreResult<()> {
                    self.write_one(
                        sqlx::query(concat!(
                            "INSERT INTO enablements (",
                            enablement_columns!(),
                            ") VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (property_id, carrier_id) DO UPDATE SET \
                             enabled = excluded.enabled, hours = excluded.hours, \
                             allowed_drop_spots = excluded.allowed_drop_spots, updated_at = excluded.updated_at"
                        ))
                        .bind(e.property_id.to_string())
                        .bind(e.carrier_id.to_string())
                        .bind(e.enabled)
                        .bind(to_json(&e.hours, "carrier hours")?)
                        .bind(to_json(&e.allowed_drop_spots, "allowed drop spots")?)
                        .bind(e.updated_at),
                        events,
                    )
                    .await?;
                    Ok(())
                }

                async fn get_enablement(
                    &self,
                    property: PropertyId,
                    carrier: CarrierId,
                ) -> StoreResult<Option<CarrierEnablement>> {
                    let row = sqlx::query_as::<_, EnablementRow>(sql::GET_ENABLEMENT)
                        .bind(property.to_string())
                        .bind(carrier.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_enablements(&self, property: PropertyId) -> StoreResult<Vec<CarrierEnablement>> {
                    let rows = sqlx::query_as::<_, EnablementRow>(concat!(
                        "SELECT ",
                        enablement_columns!(),
                        " FROM enablements WHERE property_id = $1 ORDER BY updated_at, carrier_id"
                    ))
                    .bind(property.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                // --- residents ------------------------------------------------

                async fn insert_invitation(&self, inv: &Invitation, code_hash: &[u8; 32]) -> StoreResult<()> {
                    self.write_one(
                        sqlx::query(concat!(
                            "INSERT INTO invitations (",
                            invitation_columns!(),
                            ", code_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                        ))
                        .bind(inv.id.to_string())
                        .bind(inv.unit_id.to_string())
                        .bind(inv.name.as_str())
                        .bind(inv.email.as_str())
                        .bind(inv.created_at)
                        .bind(inv.expires_at)
                        .bind(inv.redeemed_at)
                        .bind(&code_hash[..]),
                        &[],
                    )
                    .await?;
                    Ok(())
                }

                async fn list_invitations(&self, unit: UnitId) -> StoreResult<Vec<Invitation>> {
                    let rows = sqlx::query_as::<_, InvitationRow>(concat!(
                        "SELECT ",
                        invitation_columns!(),
                        " FROM invitations WHERE unit_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(unit.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn redeem_invitation(
                    &self,
                    code_hash: &[u8; 32],
                    resident_id: ResidentId,
                    token_id: TokenId,
                    token_hash: &[u8; 32],
                    now: UnixSeconds,
                ) -> StoreResult<Resident> {
                    let mut tx = self.begin_write().await?;
                    // The conditional UPDATE is the check: a second redemption
                    // (or one racing this) finds no unredeemed row.
                    let invitation = sqlx::query_as::<_, InvitationRow>(concat!(
                        "UPDATE invitations SET redeemed_at = $2 \
                         WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2 RETURNING ",
                        invitation_columns!()
                    ))
                    .bind(&code_hash[..])
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let Some(invitation) = opt_into_domain(invitation)? else {
                        rollback(tx).await?;
                        return Err(StoreError::NotFound);
                    };
                    let resident = Resident {
                        id: resident_id,
                        unit_id: invitation.unit_id,
                        name: invitation.name,
                        email: invitation.email,
                        created_at: now,
                    };
                    sqlx::query(concat!(
                        "INSERT INTO residents (",
                        resident_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5)"
                    ))
                    .bind(resident.id.to_string())
                    .bind(resident.unit_id.to_string())
                    .bind(resident.name.as_str())
                    .bind(resident.email.as_str())
                    .bind(resident.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let token = TokenRecord {
                        id: token_id,
                        hash: *token_hash,
                        principal: Principal::Resident { resident_id, unit_id: resident.unit_id },
                        label: format!("invitation {}", invitation.id),
                        created_at: now,
                    };
                    insert_token_in(&mut tx, &token).await?;
                    commit(tx).await?;
                    Ok(resident)
                }

                async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>> {
                    let row = sqlx::query_as::<_, ResidentRow>(concat!(
                        "SELECT ",
                        resident_columns!(),
                        " FROM residents WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_residents(&self, unit: UnitId) -> StoreResult<Vec<Resident>> {
                    let rows = sqlx::query_as::<_, ResidentRow>(concat!(
                        "SELECT ",
                        resident_columns!(),
                        " FROM residents WHERE unit_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(unit.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn get_preferences(&self, unit: UnitId) -> StoreResult<UnitPreferences> {
                    let row = sqlx::query_as::<_, PreferencesRow>(sql::GET_PREFERENCES)
                        .bind(unit.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    Ok(opt_into_domain(row)?.unwrap_or_default())
                }

                async fn put_preferences(&self, unit: UnitId, p: &UnitPreferences) -> StoreResult<()> {
                    self.write_one(
                        sqlx::query(concat!(
                            "INSERT INTO unit_preferences (unit_id, ",
                            preferences_columns!(),
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                             ON CONFLICT (unit_id) DO UPDATE SET \
                             preferred_drop_spot = excluded.preferred_drop_spot, \
                             allow_in_unit = excluded.allow_in_unit, \
                             alternate_address = excluded.alternate_address, \
                             pickup_point = excluded.pickup_point, \
                             pickup_point_id = excluded.pickup_point_id, \
                             access_lists = excluded.access_lists"
                        ))
                        .bind(unit.to_string())
                        .bind(p.preferred_drop_spot.map(|id| id.to_string()))
                        .bind(p.allow_in_unit)
                        .bind(p.alternate_address.as_deref())
                        .bind(p.pickup_point.as_deref())
                        .bind(p.pickup_point_id.map(|id| id.to_string()))
                        .bind(crate::rows::AccessLists::column(p)?),
                        &[],
                    )
                    .await?;
                    Ok(())
                }

                async fn insert_block(&self, block: &Block, events: &[Event]) -> StoreResult<()> {
                    self.write_one(
                        sqlx::query(concat!("INSERT INTO blocks (", block_columns!(), ") VALUES ($1, $2, $3, $4, $5)"))
                            .bind(block.unit_id.to_string())
                            .bind(block.blocked_by.to_string())
                            .bind(block.from)
                            .bind(block.until)
                            .bind(block.reason.as_deref()),
                        events,
                    )
                    .await?;
                    Ok(())
                }

                async fn end_blocks(&self, unit: UnitId, now: UnixSeconds, events: &[Event]) -> StoreResult<u64> {
                    self.write_one(
                        sqlx::query(
                            "UPDATE blocks SET ends_at = $2 \
                             WHERE unit_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)",
                        )
                        .bind(unit.to_string())
                        .bind(now),
                        events,
                    )
                    .await
                }

                async fn active_block(&self, unit: UnitId, now: UnixSeconds) -> StoreResult<Option<Block>> {
                    let row = sqlx::query_as::<_, BlockRow>(sql::ACTIVE_BLOCK)
                        .bind(unit.to_string())
                        .bind(now)
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                // --- carriers, drivers, deliveries ----------------------------

                async fn insert_driver(&self, d: &Driver, token: &TokenRecord) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(concat!(
                        "INSERT INTO drivers (",
                        driver_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(d.id.to_string())
                    .bind(d.carrier_id.to_string())
                    .bind(d.name.as_str())
                    .bind(d.handheld_public_key.as_deref())
                    .bind(d.vetting.as_str())
                    .bind(d.vetted_at)
                    .bind(d.status.as_str())
                    .bind(d.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_token_in(&mut tx, token).await?;
                    commit(tx).await
                }

                async fn get_driver(&self, id: DriverId) -> StoreResult<Option<Driver>> {
                    let row = sqlx::query_as::<_, DriverRow>(sql::GET_DRIVER)
                        .bind(id.to_string())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_drivers(&self, carrier: CarrierId) -> StoreResult<Vec<Driver>> {
                    let rows = sqlx::query_as::<_, DriverRow>(concat!(
                        "SELECT ",
                        driver_columns!(),
                        " FROM drivers WHERE carrier_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(carrier.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn update_driver(&self, d: &Driver) -> StoreResult<()> {
                    // A driver never changes carrier: another carrier's id finds nothing.
                    self.write_existing(
                        sqlx::query(
                            "UPDATE drivers SET name = $3, handheld_public_key = $4, vetting = $5, vetted_at = $6, \
                             status = $7 WHERE id = $1 AND carrier_id = $2",
                        )
                        .bind(d.id.to_string())
                        .bind(d.carrier_id.to_string())
                        .bind(d.name.as_str())
                        .bind(d.handheld_public_key.as_deref())
                        .bind(d.vetting.as_str())
                        .bind(d.vetted_at)
                        .bind(d.status.as_str()),
                        &[],
                    )
                    .await
                }

                async fn insert_delivery(&self, d: &Delivery) -> StoreResult<()> {
                    // One INSERT for deliveries, written once (with no events).
                    $crate::NotifyStore::insert_delivery_logged(self, d, &[]).await
                }

                async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>> {
                    let row = sqlx::query_as::<_, DeliveryRow>(concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn find_delivery(
                    &self,
                    carrier: CarrierId,
                    tracking_number: &str,
                ) -> StoreResult<Option<Delivery>> {
                    let row = sqlx::query_as::<_, DeliveryRow>(sql::FIND_DELIVERY)
                        .bind(carrier.to_string())
                        .bind(tracking_number)
                        .fetch_optional(self.reads())
                        .await
                        .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
                    let select = filtered_select(
                        concat!("SELECT ", delivery_columns!(), " FROM deliveries"),
                        &[
                            ("carrier_id", filter.carrier_id.map(|id| id.to_string())),
                            ("property_id", filter.property_id.map(|id| id.to_string())),
                            ("unit_id", filter.unit_id.map(|id| id.to_string())),
                        ],
                        "created_at DESC, seq DESC",
                    );
                    let mut query = sqlx::query_as::<_, DeliveryRow>(&select.sql);
                    for value in select.values {
                        query = query.bind(value);
                    }
                    all_into_domain(query.fetch_all(self.reads()).await.map_err(db_error)?)
                }

                async fn update_delivery(
                    &self,
                    d: &Delivery,
                    expected: DeliveryState,
                    events: &[Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query(
                        "UPDATE deliveries SET state = $3, eta = $4, drop_spot_id = $5, completed_by = $6, \
                         photo_ref = $7, updated_at = $8 WHERE id = $1 AND state = $2",
                    )
                    .bind(d.id.to_string())
                    .bind(expected.as_str())
                    .bind(d.state.as_str())
                    .bind(d.eta)
                    .bind(d.drop_spot_id.map(|id| id.to_string()))
                    .bind(d.completed_by.map(|id| id.to_string()))
                    .bind(d.photo_ref.as_deref())
                    .bind(d.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    if updated == 1 {
                        append_in(&mut *tx, events).await?;
                        return commit(tx).await;
                    }
                    let stored = sqlx::query_scalar::<_, String>("SELECT state FROM deliveries WHERE id = $1")
                        .bind(d.id.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    rollback(tx).await?;
                    match stored {
                        None => Err(StoreError::NotFound),
                        Some(stored) => {
                            Err(StoreError::Stale(format!("delivery {} is {stored}, not {expected}", d.id)))
                        }
                    }
                }

                // --- grants and the record of every request -------------------

                async fn claim_grant(
                    &self,
                    grant: &Grant,
                    record: &AccessRequestRecord,
                    now: UnixSeconds,
                    events: &[Event],
                ) -> StoreResult<bool> {
                    if let Some(direct) = self.direct() {
                        return direct.claim_grant(grant, record, now, events).await;
                    }
                    let mut tx = self.begin_write().await?;
                    if claim_in(&mut tx, grant, record, now, events, false).await?.is_none() {
                        rollback(tx).await?;
                        return Ok(false);
                    }
                    commit(tx).await?;
                    Ok(true)
                }

                async fn claim_grant_with_sequences(
                    &self,
                    grant: &Grant,
                    record: &AccessRequestRecord,
                    now: UnixSeconds,
                    events: &[Event],
                ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
                    if let Some(direct) = self.direct() {
                        return direct.claim_grant_with_sequences(grant, record, now, events).await;
                    }
                    let mut tx = self.begin_write().await?;
                    let Some(claimed) = claim_in(&mut tx, grant, record, now, events, true).await? else {
                        rollback(tx).await?;
                        return Ok(None);
                    };
                    commit(tx).await?;
                    Ok(Some(claimed))
                }

                async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
                    let row = sqlx::query_as::<_, GrantRow>(concat!(
                        "SELECT ",
                        grant_columns!(),
                        " FROM grants WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    opt_into_domain(row)
                }

                async fn list_grants(&self, delivery: DeliveryId) -> StoreResult<Vec<Grant>> {
                    let rows = sqlx::query_as::<_, GrantRow>(concat!(
                        "SELECT ",
                        grant_columns!(),
                        " FROM grants WHERE id IN (",
                        delivery_grant_ids!(),
                        ") ORDER BY issued_at, id"
                    ))
                    .bind(delivery.to_string())
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    all_into_domain(rows)
                }

                async fn revoke_live_grants_for_unit(
                    &self,
                    unit: UnitId,
                    now: UnixSeconds,
                    revoked: &RevocationEvents,
                ) -> StoreResult<Vec<Grant>> {
                    let mut tx = self.begin_write().await?;
                    let rows = sqlx::query_as::<_, GrantRow>(concat!(
                        "UPDATE grants SET revoked_at = $2 \
                         WHERE revoked_at IS NULL AND expires_at > $2 AND id IN \
                         (SELECT r.grant_id FROM deliveries d JOIN access_requests r ON r.delivery_id = d.id \
                          WHERE d.unit_id = $1 AND r.grant_id IS NOT NULL) RETURNING ",
                        grant_columns!()
                    ))
                    .bind(unit.to_string())
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let (grants, events) = revoked_with_events(rows, revoked)?;
                    append_in(&mut *tx, &events).await?;
                    commit(tx).await?;
                    Ok(grants)
                }

                async fn close_live_grant(&self, delivery: DeliveryId, now: UnixSeconds) -> StoreResult<()> {
                    // Ending a grant is moving its expiry to `now`: it stays
                    // unrevoked, and says it is over.
                    let mut tx = self.begin_write().await?;
                    sqlx::query(concat!(
                        "UPDATE grants SET expires_at = $2 WHERE revoked_at IS NULL AND expires_at > $2 AND id IN (",
                        delivery_grant_ids!(),
                        ")"
                    ))
                    .bind(delivery.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    commit(tx).await
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
                    insert_access_request_in(&mut tx, record).await?;
                    let indexes = append_in(&mut *tx, events).await?;
                    commit(tx).await?;
                    Ok(indexes)
                }

                async fn list_access_requests(
                    &self,
                    filter: &AccessRequestFilter,
                ) -> StoreResult<Vec<AccessRequestRecord>> {
                    let select = filtered_select(
                        concat!("SELECT ", access_request_columns!(), " FROM access_requests"),
                        &[
                            ("property_id", filter.property_id.map(|id| id.to_string())),
                            ("unit_id", filter.unit_id.map(|id| id.to_string())),
                            ("carrier_id", filter.carrier_id.map(|id| id.to_string())),
                            ("driver_id", filter.driver_id.map(|id| id.to_string())),
                            ("delivery_id", filter.delivery_id.map(|id| id.to_string())),
                        ],
                        "requested_at DESC, seq DESC",
                    );
                    let mut query = sqlx::query_as::<_, AccessRequestRow>(&select.sql);
                    for value in select.values {
                        query = query.bind(value);
                    }
                    all_into_domain(query.fetch_all(self.reads()).await.map_err(db_error)?)
                }

                async fn access_context(&self, q: &AccessContextQuery<'_>) -> StoreResult<Option<AccessContext>> {
                    if let Some(direct) = self.direct() {
                        return direct.access_context(q);
                    }
                    // One getter after another, as the caller used to do.
                    let Some(property) = self.get_property(q.property).await? else { return Ok(None) };
                    let driver = self.get_driver(q.driver).await?;
                    let delivery = self.find_delivery(q.carrier, q.tracking_number).await?;
                    let enablement = self.get_enablement(q.property, q.carrier).await?;
                    let (block, preferences) = match &delivery {
                        Some(d) => (self.active_block(d.unit_id, q.now).await?, self.get_preferences(d.unit_id).await?),
                        None => (None, UnitPreferences::default()),
                    };
                    Ok(Some(AccessContext {
                        property,
                        driver,
                        delivery,
                        enablement,
                        block,
                        preferences,
                        drop_spots: self.list_drop_spots(q.property).await?,
                        access_points: self.list_access_points(q.property).await?,
                        locks: self.list_locks(q.property).await?,
                    }))
                }
            }

            /// The lock's next sequence number, or None for an unknown lock.
            async fn next_lock_sequence_in(tx: &mut Tx, lock: LockId) -> StoreResult<Option<i64>> {
                sqlx::query_scalar::<_, i64>(sql::NEXT_LOCK_SEQUENCE)
                    .bind(lock.to_string())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)
            }

            /// The claim, inside the caller's write transaction: locks the
            /// delivery (PostgreSQL: its row, FOR UPDATE, so that concurrent
            /// claims for it take turns; SQLite lets one writer in at a time)
            /// and returns None, having written nothing, if one of its grants
            /// is live. Otherwise numbers the doors if asked (NotFound for an
            /// unknown lock), stores the grant, the record that names it and
            /// then the events, and returns the grant as stored with the
            /// events' log indexes.
            async fn claim_in(
                tx: &mut Tx,
                grant: &Grant,
                record: &AccessRequestRecord,
                now: UnixSeconds,
                events: &[Event],
                number_doors: bool,
            ) -> StoreResult<Option<(Grant, Vec<LogIndex>)>> {
                let delivery = grant.delivery_id.to_string();
                sqlx::query(concat!("SELECT id FROM deliveries WHERE id = $1", $lock))
                    .bind(&delivery)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                let held = sqlx::query(sql::LIVE_GRANT_HELD)
                    .bind(&delivery)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                if held.is_some() {
                    return Ok(None);
                }
                let mut grant = grant.clone();
                if number_doors {
                    for door in &mut grant.doors {
                        let next = next_lock_sequence_in(tx, door.lock_id).await?.ok_or(StoreError::NotFound)?;
                        door.sequence = Some(next);
                    }
                }
                sqlx::query(sql::INSERT_GRANT)
                    .bind(grant.id.to_string())
                    .bind(&delivery)
                    .bind(grant.driver_id.to_string())
                    .bind(grant.carrier_id.to_string())
                    .bind(grant.property_id.to_string())
                    .bind(grant.unit_id.to_string())
                    .bind(grant.drop_spot_id.to_string())
                    .bind(to_json(&grant.doors, "granted doors")?)
                    .bind(grant.issued_at)
                    .bind(grant.expires_at)
                    .bind(grant.revoked_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                insert_access_request_in(tx, record).await?;
                let indexes = append_in(&mut **tx, events).await?;
                Ok(Some((grant, indexes)))
            }

            async fn insert_access_request_in(tx: &mut Tx, r: &AccessRequestRecord) -> StoreResult<()> {
                sqlx::query(sql::INSERT_ACCESS_REQUEST)
                    .bind(r.id.to_string())
                    .bind(r.driver_id.to_string())
                    .bind(r.carrier_id.to_string())
                    .bind(r.property_id.to_string())
                    .bind(r.delivery_id.map(|id| id.to_string()))
                    .bind(r.unit_id.map(|id| id.to_string()))
                    .bind(r.position.lat)
                    .bind(r.position.lon)
                    .bind(r.at)
                    .bind(r.grant_id.map(|id| id.to_string()))
                    .bind(r.refusal.map(|reason| reason.as_str()))
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_store;
