//! Storage of notifications: webhook subscriptions, the webhook outbox and
//! the cursor that fills it from the transparency log, and the directory of
//! pickup points.
//!
//! The outbox is derived from the log: [`NotifyStore::enqueue_webhooks`]
//! moves the fan-out cursor over a range of log indexes and writes the
//! deliveries of that range in one transaction, with a compare-and-set on
//! the cursor (two dispatchers never fan out the same range; a crash between
//! reading and writing loses nothing, the range is read again). An event and
//! a subscription have at most one delivery (a unique key).

use async_trait::async_trait;
use doorman_domain::{
    PickupPoint, PickupPointId, Principal, UnixSeconds, WebhookDelivery, WebhookDeliveryId, WebhookDeliveryState,
    WebhookId, WebhookSubscription,
};

use crate::{StoreError, StoreResult};

/// A delivery that is due, with what sending it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct DueDelivery {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: String,
    /// The JSON body, as first made.
    pub body: String,
}

/// A new outbox row.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    pub delivery: WebhookDelivery,
    pub body: String,
}

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    pub at: UnixSeconds,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The new state: Delivered, Pending (with `next_attempt_at`) or Dead.
    pub state: WebhookDeliveryState,
    pub next_attempt_at: UnixSeconds,
}

#[async_trait]
pub trait NotifyStore: Send + Sync {
    /// Conflict if the id exists.
    async fn insert_webhook(&self, subscription: &WebhookSubscription, secret: &str) -> StoreResult<()>;
    async fn get_webhook(&self, id: WebhookId) -> StoreResult<Option<WebhookSubscription>>;
    /// The owner's subscriptions, oldest first.
    async fn list_webhooks(&self, owner: &Principal) -> StoreResult<Vec<WebhookSubscription>>;
    /// Every active subscription, oldest first (for the fan-out).
    async fn active_webhooks(&self) -> StoreResult<Vec<WebhookSubscription>>;
    /// Replaces url, events and active. NotFound if it does not exist.
    async fn update_webhook(&self, subscription: &WebhookSubscription) -> StoreResult<()>;
    /// Deletes it and its deliveries. NotFound if it does not exist.
    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()>;

    /// The next log index the fan-out reads.
    async fn webhook_cursor(&self) -> StoreResult<u64>;
    /// In one transaction: if the cursor is at `from`, moves it to `to` and
    /// stores `deliveries` (one per subscription and event; a second one is
    /// ignored) and returns true; otherwise stores nothing and returns false.
    async fn enqueue_webhooks(&self, from: u64, to: u64, deliveries: &[NewDelivery]) -> StoreResult<bool>;
    /// Pending deliveries due at `now`, oldest event first.
    async fn due_webhook_deliveries(&self, now: UnixSeconds, limit: u32) -> StoreResult<Vec<DueDelivery>>;
    /// Takes a due delivery for one attempt: if it is still pending with
    /// `expected_next` as its due time, moves its due time to `lease_until`
    /// (so no other dispatcher takes it meanwhile) and returns true.
    async fn claim_webhook_delivery(
        &self,
        id: WebhookDeliveryId,
        expected_next: UnixSeconds,
        lease_until: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Records an attempt (counts it) and the delivery's new state.
    async fn finish_webhook_attempt(&self, id: WebhookDeliveryId, result: &AttemptResult) -> StoreResult<()>;
    /// The subscription's deliveries, newest event first, optionally in one state.
    async fn list_webhook_deliveries(
        &self,
        subscription: WebhookId,
        state: Option<WebhookDeliveryState>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    async fn get_webhook_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>>;
    /// Makes a delivery pending again, due at `now`, with its attempts
    /// counted from zero. NotFound if it does not exist.
    async fn resend_webhook_delivery(&self, id: WebhookDeliveryId, now: UnixSeconds) -> StoreResult<WebhookDelivery>;

    /// Stores a new delivery (as `Store::insert_delivery`) with its events,
    /// in one transaction (a return and its `ReturnScheduled`).
    async fn insert_delivery_logged(
        &self,
        delivery: &doorman_domain::Delivery,
        events: &[doorman_domain::Event],
    ) -> StoreResult<()>;

    async fn insert_pickup_point(&self, point: &PickupPoint) -> StoreResult<()>;
    async fn get_pickup_point(&self, id: PickupPointId) -> StoreResult<Option<PickupPoint>>;
    /// By name.
    async fn list_pickup_points(&self) -> StoreResult<Vec<PickupPoint>>;
}

pub(crate) fn owner_key(owner: &Principal) -> StoreResult<String> {
    serde_json::to_string(owner).map_err(|e| StoreError::Backend(format!("encoding a principal: {e}")))
}

pub(crate) type SubscriptionRow = (String, String, String, String, bool, i64, Option<i64>);

pub(crate) fn subscription(row: SubscriptionRow) -> StoreResult<WebhookSubscription> {
    let (id, owner, url, events, active, created_at, after_index) = row;
    let bad = |what: &str| StoreError::Backend(format!("stored webhook {what} does not decode"));
    Ok(WebhookSubscription {
        id: id.parse().map_err(|_| bad("id"))?,
        owner: serde_json::from_str(&owner).map_err(|_| bad("owner"))?,
        url,
        events: serde_json::from_str(&events).map_err(|_| bad("events"))?,
        active,
        created_at,
        after_index: after_index.map(|i| crate::audit::to_u64(i, "webhook index")).transpose()?,
    })
}

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, owner, url, events, active, created_at, after_index";
pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.event_id, d.event_type, d.state, d.attempts, \
    d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at";

pub(crate) type DeliveryRow =
    (String, String, i64, String, String, i64, i64, Option<i64>, Option<i64>, Option<String>, Option<i64>, i64);

pub(crate) fn delivery(row: DeliveryRow) -> StoreResult<WebhookDelivery> {
    let (id, sub, event_id, event_type, state, attempts, next, last_at, last_status, last_error, delivered_at, created) =
        row;
    let bad = |what: &str| StoreError::Backend(format!("stored webhook delivery {what} does not decode"));
    Ok(WebhookDelivery {
        id: id.parse().map_err(|_| bad("id"))?,
        subscription_id: sub.parse().map_err(|_| bad("subscription"))?,
        event_id: crate::audit::to_u64(event_id, "event id")?,
        event_type,
        state: WebhookDeliveryState::parse(&state).ok_or_else(|| bad("state"))?,
        attempts: u32::try_from(attempts).map_err(|_| bad("attempts"))?,
        next_attempt_at: next,
        last_attempt_at: last_at,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error,
        delivered_at,
        created_at: created,
    })
}

pub(crate) type PickupRow = (String, String, String, String, String, i64);

pub(crate) fn pickup_point(row: PickupRow) -> StoreResult<PickupPoint> {
    let (id, name, address, time_zone, hours, created_at) = row;
    let bad = |what: &str| StoreError::Backend(format!("stored pickup point {what} does not decode"));
    Ok(PickupPoint {
        id: id.parse().map_err(|_| bad("id"))?,
        name,
        address,
        time_zone,
        hours: serde_json::from_str(&hours).map_err(|_| bad("hours"))?,
        created_at,
    })
}

/// `impl NotifyStore` for a store with `begin_write()` and `reads()` (see
/// `impl_store!`); `$lock` locks the cursor row (`" FOR UPDATE"` on PostgreSQL).
macro_rules! impl_notify {
    ($store:ident, $lock:literal) => {
        pub(crate) mod notify_impl {
            use async_trait::async_trait;
            use doorman_domain::{
                PickupPoint, PickupPointId, Principal, UnixSeconds, WebhookDelivery, WebhookDeliveryId,
                WebhookDeliveryState, WebhookId, WebhookSubscription,
            };

            use super::$store;
            use $crate::audit::{to_i64, to_u64};
            use $crate::notify::{
                delivery, owner_key, pickup_point, subscription, AttemptResult, DeliveryRow, DueDelivery,
                NewDelivery, NotifyStore, PickupRow, SubscriptionRow, DELIVERY_COLUMNS, SUBSCRIPTION_COLUMNS,
            };
            use $crate::sql_store::db_error;
            use $crate::{StoreError, StoreResult};

            fn json(value: &impl serde::Serialize) -> StoreResult<String> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            #[async_trait]
            impl NotifyStore for $store {
                async fn insert_webhook(&self, s: &WebhookSubscription, secret: &str) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(&format!(
                        "INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}, secret) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(s.id.to_string())
                    .bind(owner_key(&s.owner)?)
                    .bind(&s.url)
                    .bind(json(&s.events)?)
                    .bind(s.active)
                    .bind(s.created_at)
                    .bind(s.after_index.map(|i| to_i64(i, "log index")).transpose()?)
                    .bind(secret)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await
                }

                async fn get_webhook(&self, id: WebhookId) -> StoreResult<Option<WebhookSubscription>> {
                    let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    row.map(subscription).transpose()
                }

                async fn list_webhooks(&self, owner: &Principal) -> StoreResult<Vec<WebhookSubscription>> {
                    let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE owner = $1 \
                         ORDER BY created_at, id"
                    ))
                    .bind(owner_key(owner)?)
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.into_iter().map(subscription).collect()
                }

                async fn active_webhooks(&self) -> StoreResult<Vec<WebhookSubscription>> {
                    let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE active = $1 \
                         ORDER BY created_at, id"
                    ))
                    .bind(true)
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.into_iter().map(subscription).collect()
                }

                async fn update_webhook(&self, s: &WebhookSubscription) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "UPDATE webhook_subscriptions SET url = $2, events = $3, active = $4 WHERE id = $1",
                    )
                    .bind(s.id.to_string())
                    .bind(&s.url)
                    .bind(json(&s.events)?)
                    .bind(s.active)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    tx.commit().await
                }

                async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    tx.commit().await
                }

                async fn webhook_cursor(&self) -> StoreResult<u64> {
                    let next: i64 = sqlx::query_scalar("SELECT next_index FROM webhook_cursor WHERE singleton = 1")
                        .fetch_one(self.reads())
                        .await
                        .map_err(db_error)?;
                    to_u64(next, "webhook cursor")
                }

                async fn enqueue_webhooks(&self, from: u64, to: u64, deliveries: &[NewDelivery]) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let next: i64 = sqlx::query_scalar(concat!(
                        "SELECT next_index FROM webhook_cursor WHERE singleton = 1",
                        $lock
                    ))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if to_u64(next, "webhook cursor")? != from {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    sqlx::query("UPDATE webhook_cursor SET next_index = $1 WHERE singleton = 1")
                        .bind(to_i64(to, "webhook cursor")?)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    for new in deliveries {
                        let d = &new.delivery;
                        sqlx::query(
                            "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, body, state, \
                             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                             ON CONFLICT (subscription_id, event_id) DO NOTHING",
                        )
                        .bind(d.id.to_string())
                        .bind(d.subscription_id.to_string())
                        .bind(to_i64(d.event_id, "event id")?)
                        .bind(&d.event_type)
                        .bind(&new.body)
                        .bind(d.state.as_str())
                        .bind(i64::from(d.attempts))
                        .bind(d.next_attempt_at)
                        .bind(d.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn due_webhook_deliveries(&self, now: UnixSeconds, limit: u32) -> StoreResult<Vec<DueDelivery>> {
                    let rows: Vec<(String, String, String, String, i64, String, String, i64, i64)> =
                        sqlx::query_as(
                            "SELECT d.id, s.url, s.secret, d.body, d.event_id, d.event_type, d.subscription_id, \
                             d.attempts, d.next_attempt_at FROM webhook_deliveries d \
                             JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                             ORDER BY d.event_id, d.id LIMIT $2",
                        )
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(self.reads())
                        .await
                        .map_err(db_error)?;
                    let mut out = Vec::with_capacity(rows.len());
                    for (id, url, secret, body, ..) in rows {
                        let id: WebhookDeliveryId =
                            id.parse().map_err(|_| StoreError::Backend("bad delivery id".into()))?;
                        if let Some(delivery) = self.get_webhook_delivery(id).await? {
                            out.push(DueDelivery { delivery, url, secret, body });
                        }
                    }
                    Ok(out)
                }

                async fn claim_webhook_delivery(
                    &self,
                    id: WebhookDeliveryId,
                    expected_next: UnixSeconds,
                    lease_until: UnixSeconds,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "UPDATE webhook_deliveries SET next_attempt_at = $3 \
                         WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2",
                    )
                    .bind(id.to_string())
                    .bind(expected_next)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn finish_webhook_attempt(&self, id: WebhookDeliveryId, r: &AttemptResult) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let delivered_at = (r.state == WebhookDeliveryState::Delivered).then_some(r.at);
                    let done = sqlx::query(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2, \
                         last_status = $3, last_error = $4, state = $5, next_attempt_at = $6, \
                         delivered_at = $7 WHERE id = $1",
                    )
                    .bind(id.to_string())
                    .bind(r.at)
                    .bind(r.status.map(i64::from))
                    .bind(r.error.as_deref())
                    .bind(r.state.as_str())
                    .bind(r.next_attempt_at)
                    .bind(delivered_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    tx.commit().await
                }

                async fn list_webhook_deliveries(
                    &self,
                    subscription: WebhookId,
                    state: Option<WebhookDeliveryState>,
                    limit: u32,
                ) -> StoreResult<Vec<WebhookDelivery>> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = $1 \
                         AND ($2 = '' OR d.state = $2) ORDER BY d.event_id DESC LIMIT $3"
                    ))
                    .bind(subscription.to_string())
                    .bind(state.map_or("", |s| s.as_str()))
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.into_iter().map(delivery).collect()
                }

                async fn get_webhook_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
                    let row: Option<DeliveryRow> =
                        sqlx::query_as(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1"))
                            .bind(id.to_string())
                            .fetch_optional(self.reads())
                            .await
                            .map_err(db_error)?;
                    row.map(delivery).transpose()
                }

                async fn resend_webhook_delivery(
                    &self,
                    id: WebhookDeliveryId,
                    now: UnixSeconds,
                ) -> StoreResult<WebhookDelivery> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, \
                         delivered_at = NULL WHERE id = $1",
                    )
                    .bind(id.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err(StoreError::NotFound);
                    }
                    tx.commit().await?;
                    self.get_webhook_delivery(id).await?.ok_or(StoreError::NotFound)
                }

                async fn insert_delivery_logged(
                    &self,
                    d: &doorman_domain::Delivery,
                    events: &[doorman_domain::Event],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(concat!(
                        "INSERT INTO deliveries (",
                        $crate::rows::delivery_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                    ))
                    .bind(d.id.to_string())
                    .bind(d.carrier_id.to_string())
                    .bind(d.property_id.to_string())
                    .bind(d.unit_id.to_string())
                    .bind(d.tracking_number.as_str())
                    .bind($crate::rows::delivery_kind_str(d.kind))
                    .bind(d.window_start)
                    .bind(d.window_end)
                    .bind(d.eta)
                    .bind(d.state.as_str())
                    .bind(d.drop_spot_id.map(|id| id.to_string()))
                    .bind(d.completed_by.map(|id| id.to_string()))
                    .bind(d.photo_ref.as_deref())
                    .bind(&d.hash_salt[..])
                    .bind(d.created_at)
                    .bind(d.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    super::audit_impl::append_in(&mut *tx, events).await?;
                    tx.commit().await
                }

                async fn insert_pickup_point(&self, p: &PickupPoint) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO pickup_points (id, name, address, time_zone, hours, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(p.id.to_string())
                    .bind(&p.name)
                    .bind(&p.address)
                    .bind(&p.time_zone)
                    .bind(json(&p.hours)?)
                    .bind(p.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await
                }

                async fn get_pickup_point(&self, id: PickupPointId) -> StoreResult<Option<PickupPoint>> {
                    let row: Option<PickupRow> = sqlx::query_as(
                        "SELECT id, name, address, time_zone, hours, created_at FROM pickup_points WHERE id = $1",
                    )
                    .bind(id.to_string())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(db_error)?;
                    row.map(pickup_point).transpose()
                }

                async fn list_pickup_points(&self) -> StoreResult<Vec<PickupPoint>> {
                    let rows: Vec<PickupRow> = sqlx::query_as(
                        "SELECT id, name, address, time_zone, hours, created_at FROM pickup_points ORDER BY name, id",
                    )
                    .fetch_all(self.reads())
                    .await
                    .map_err(db_error)?;
                    rows.into_iter().map(pickup_point).collect()
                }
            }
        }
    };
}
pub(crate) use impl_notify;
