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

use crate::exec::values;
use crate::exec::{locking, to_i64, to_u64, Cells, Exec, Record};
use crate::records::select;
use crate::records::{columns, to_json};
use crate::sqlx_exec::Backend;
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

/// Webhooks, their outbox and the directory of pickup points; every
/// [`Store`](crate::Store) is one.
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
    /// The outbox's depth: deliveries still pending (due now or retrying
    /// later), neither delivered nor dead.
    async fn webhook_outbox_depth(&self) -> StoreResult<u64>;
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

    async fn insert_pickup_point(&self, point: &PickupPoint) -> StoreResult<()>;
    async fn get_pickup_point(&self, id: PickupPointId) -> StoreResult<Option<PickupPoint>>;
    /// By name.
    async fn list_pickup_points(&self) -> StoreResult<Vec<PickupPoint>>;
}

fn owner_key(owner: &Principal) -> StoreResult<String> {
    to_json(owner, "a principal")
}

impl Record for DueDelivery {
    fn read(c: &mut impl Cells) -> StoreResult<DueDelivery> {
        let delivery = WebhookDelivery::read(c)?;
        Ok(DueDelivery { delivery, url: c.string("url")?, secret: c.string("secret")?, body: c.string("body")? })
    }
}

/// One write that must change a row: NotFound (nothing written) otherwise.
async fn change_existing<B: Backend>(
    store: &B,
    sql: &'static str,
    values: &[crate::exec::Value<'_>],
) -> StoreResult<()> {
    store.write_existing(sql, values, &[]).await
}

#[async_trait]
impl<B: Backend> NotifyStore for B {
    async fn insert_webhook(&self, s: &WebhookSubscription, secret: &str) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO webhook_subscriptions (",
            columns!(subscription),
            ", secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let after = s.after_index.map(|i| to_i64(i, "log index")).transpose()?;
        let values = values! {
            s.id, owner_key(&s.owner)?, &s.url, to_json(&s.events, "webhook events")?, s.active, s.created_at,
            after, secret
        };
        self.write_one(sql, &values, &[]).await.map(drop)
    }

    async fn get_webhook(&self, id: WebhookId) -> StoreResult<Option<WebhookSubscription>> {
        self.one(select!(subscription, " FROM webhook_subscriptions WHERE id = $1"), &[id.into()]).await
    }

    async fn list_webhooks(&self, owner: &Principal) -> StoreResult<Vec<WebhookSubscription>> {
        let sql = select!(subscription, " FROM webhook_subscriptions WHERE owner = $1 ORDER BY created_at, id");
        self.all(sql, &[owner_key(owner)?.into()]).await
    }

    async fn active_webhooks(&self) -> StoreResult<Vec<WebhookSubscription>> {
        let sql = select!(subscription, " FROM webhook_subscriptions WHERE active = $1 ORDER BY created_at, id");
        self.all(sql, &[true.into()]).await
    }

    async fn update_webhook(&self, s: &WebhookSubscription) -> StoreResult<()> {
        let sql = "UPDATE webhook_subscriptions SET url = $2, events = $3, active = $4 WHERE id = $1";
        let values = [s.id.into(), (&s.url).into(), to_json(&s.events, "webhook events")?.into(), s.active.into()];
        change_existing(self, sql, &values).await
    }

    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM webhook_deliveries WHERE subscription_id = $1", &[id.into()]).await?;
        if tx.execute("DELETE FROM webhook_subscriptions WHERE id = $1", &[id.into()]).await? == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    async fn webhook_cursor(&self) -> StoreResult<u64> {
        let sql = "SELECT next_index FROM webhook_cursor WHERE singleton = 1";
        to_u64(self.one(sql, &[]).await?.ok_or(StoreError::NotFound)?, "webhook cursor")
    }

    async fn webhook_outbox_depth(&self) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'";
        to_u64(self.one(sql, &[]).await?.ok_or(StoreError::NotFound)?, "outbox depth")
    }

    async fn enqueue_webhooks(&self, from: u64, to: u64, deliveries: &[NewDelivery]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let cursor = tx.dialect().locking(locking!("SELECT next_index FROM webhook_cursor WHERE singleton = 1"));
        let next: i64 = tx.fetch_optional(cursor, &[]).await?.ok_or(StoreError::NotFound)?;
        if to_u64(next, "webhook cursor")? != from {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute(
            "UPDATE webhook_cursor SET next_index = $1 WHERE singleton = 1",
            &[to_i64(to, "webhook cursor")?.into()],
        )
        .await?;
        for new in deliveries {
            let d = &new.delivery;
            let sql = "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, body, state, \
                       attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                       ON CONFLICT (subscription_id, event_id) DO NOTHING";
            let values = values! {
                d.id, d.subscription_id, to_i64(d.event_id, "event id")?, &d.event_type, &new.body,
                d.state.as_str(), i64::from(d.attempts), d.next_attempt_at, d.created_at
            };
            tx.execute(sql, &values).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn due_webhook_deliveries(&self, now: UnixSeconds, limit: u32) -> StoreResult<Vec<DueDelivery>> {
        let sql = concat!(
            "SELECT ",
            columns!(webhook_delivery),
            ", s.url, s.secret, d.body FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.event_id, d.id LIMIT $2"
        );
        self.all(sql, &[now.into(), i64::from(limit).into()]).await
    }

    async fn claim_webhook_delivery(
        &self,
        id: WebhookDeliveryId,
        expected_next: UnixSeconds,
        lease_until: UnixSeconds,
    ) -> StoreResult<bool> {
        let sql = "UPDATE webhook_deliveries SET next_attempt_at = $3 \
                   WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2";
        Ok(self.write_one(sql, &[id.into(), expected_next.into(), lease_until.into()], &[]).await? == 1)
    }

    async fn finish_webhook_attempt(&self, id: WebhookDeliveryId, r: &AttemptResult) -> StoreResult<()> {
        let delivered_at = (r.state == WebhookDeliveryState::Delivered).then_some(r.at);
        let sql = "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2, last_status = $3, \
                   last_error = $4, state = $5, next_attempt_at = $6, delivered_at = $7 WHERE id = $1";
        let values = values! {
            id, r.at, r.status.map(i64::from), r.error.as_deref(), r.state.as_str(), r.next_attempt_at,
            delivered_at
        };
        change_existing(self, sql, &values).await
    }

    async fn list_webhook_deliveries(
        &self,
        subscription: WebhookId,
        state: Option<WebhookDeliveryState>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = concat!(
            "SELECT ",
            columns!(webhook_delivery),
            " FROM webhook_deliveries d WHERE d.subscription_id = $1 AND ($2 = '' OR d.state = $2) \
             ORDER BY d.event_id DESC LIMIT $3"
        );
        let values = [subscription.into(), state.map_or("", |s| s.as_str()).into(), i64::from(limit).into()];
        self.all(sql, &values).await
    }

    async fn get_webhook_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        self.one(select!(webhook_delivery, " FROM webhook_deliveries d WHERE d.id = $1"), &[id.into()]).await
    }

    async fn resend_webhook_delivery(&self, id: WebhookDeliveryId, now: UnixSeconds) -> StoreResult<WebhookDelivery> {
        let sql = "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, \
                   delivered_at = NULL WHERE id = $1";
        change_existing(self, sql, &[id.into(), now.into()]).await?;
        self.get_webhook_delivery(id).await?.ok_or(StoreError::NotFound)
    }

    async fn insert_pickup_point(&self, p: &PickupPoint) -> StoreResult<()> {
        let sql = concat!("INSERT INTO pickup_points (", columns!(pickup_point), ") VALUES ($1, $2, $3, $4, $5, $6)");
        let hours = to_json(&p.hours, "pickup hours")?;
        let values = values! { p.id, &p.name, &p.address, &p.time_zone, hours, p.created_at };
        self.write_one(sql, &values, &[]).await.map(drop)
    }

    async fn get_pickup_point(&self, id: PickupPointId) -> StoreResult<Option<PickupPoint>> {
        self.read()
            .await?
            .fetch_optional(select!(pickup_point, " FROM pickup_points WHERE id = $1"), &[id.into()])
            .await
    }

    async fn list_pickup_points(&self) -> StoreResult<Vec<PickupPoint>> {
        self.read().await?.fetch_all(select!(pickup_point, " FROM pickup_points ORDER BY name, id"), &[]).await
    }
}
