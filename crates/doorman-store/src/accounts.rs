//! Who acts: API tokens (stored as hashes), dashboard sessions, and the
//! parties that hold tokens (managers, carriers, drivers).

use async_trait::async_trait;
use doorman_domain::{
    Carrier, CarrierId, Driver, DriverId, Event, Manager, ManagerId, Principal, TokenId, UnixSeconds,
};

use crate::audit::append_in;
use crate::exec::values;
use crate::exec::{ready_now, Exec, Value};
use crate::records::select;
use crate::records::{columns, to_json};
use crate::sqlx_exec::Backend;
use crate::StoreResult;

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

/// Tokens, sessions and the parties that hold tokens; every
/// [`Store`](crate::Store) is one.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores the first operator token. Returns false, and stores nothing, if
    /// an operator token was ever bootstrapped before (exactly one wins, even
    /// across processes starting together).
    async fn bootstrap_operator(&self, token: &TokenRecord) -> StoreResult<bool>;
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    /// Stores a token and `events` (its logging) in one transaction.
    async fn insert_token_logged(&self, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    async fn principal_for_token(&self, hash: &[u8; 32]) -> StoreResult<Option<Principal>>;
    /// Deletes the token with this hash and every dashboard session opened
    /// with it, and appends `events`, in one transaction; false (and nothing
    /// written, events included) when there was no such token.
    async fn delete_token(&self, hash: &[u8; 32], events: &[Event]) -> StoreResult<bool>;

    /// Stores a session and, in the same transaction, forgets every session
    /// expired at its `created_at`. Conflict if its token is unknown.
    async fn insert_web_session(&self, session: &WebSessionRecord) -> StoreResult<()>;
    /// The principal of the session's token, if the session exists and has
    /// not expired at `now`.
    async fn principal_for_web_session(&self, hash: &[u8; 32], now: UnixSeconds) -> StoreResult<Option<Principal>>;
    /// Ends the session; false if there was none.
    async fn delete_web_session(&self, hash: &[u8; 32]) -> StoreResult<bool>;

    /// The manager and their first token, together.
    async fn insert_manager(&self, manager: &Manager, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    async fn get_manager(&self, id: ManagerId) -> StoreResult<Option<Manager>>;
    async fn list_managers(&self) -> StoreResult<Vec<Manager>>;
    /// The carrier and its first token, together.
    async fn insert_carrier(&self, carrier: &Carrier, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    async fn get_carrier(&self, id: CarrierId) -> StoreResult<Option<Carrier>>;
    async fn list_carriers(&self) -> StoreResult<Vec<Carrier>>;

    /// The driver and their first token, together.
    async fn insert_driver(&self, driver: &Driver, token: &TokenRecord) -> StoreResult<()>;
    async fn get_driver(&self, id: DriverId) -> StoreResult<Option<Driver>>;
    async fn list_drivers(&self, carrier: CarrierId) -> StoreResult<Vec<Driver>>;
    /// Replaces the driver's mutable fields (name, key, vetting, status).
    async fn update_driver(&self, driver: &Driver) -> StoreResult<()>;
}

/// $1 hash
pub(crate) const PRINCIPAL_FOR_TOKEN: &str = select!(principal, " FROM tokens WHERE hash = $1");
/// $1 id
pub(crate) const GET_DRIVER: &str = select!(driver, " FROM drivers WHERE id = $1");

/// Stores a token inside the caller's write.
pub(crate) async fn insert_token_in(ex: &mut impl Exec, token: &TokenRecord) -> StoreResult<()> {
    let principal = to_json(&token.principal, "token principal")?;
    let sql = "INSERT INTO tokens (id, hash, principal, label, created_at) VALUES ($1, $2, $3, $4, $5)";
    ex.execute(
        sql,
        &[token.id.into(), (&token.hash).into(), principal.into(), (&token.label).into(), token.created_at.into()],
    )
    .await?;
    Ok(())
}

/// A manager or a carrier (the same columns) with its first token and events.
async fn insert_party<B: Backend>(
    store: &B,
    insert: &'static str,
    party: [Value<'_>; 3],
    token: &TokenRecord,
    events: &[Event],
) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    tx.execute(insert, &party).await?;
    insert_token_in(&mut *tx, token).await?;
    append_in(&mut *tx, events).await?;
    tx.commit().await
}

#[async_trait]
impl<B: Backend> AccountStore for B {
    async fn bootstrap_operator(&self, token: &TokenRecord) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The singleton row is the decision: its primary key lets exactly
        // one insert through, across processes too.
        let won = tx
            .execute(
                "INSERT INTO operator_bootstrap (singleton, token_id, bootstrapped_at) VALUES (1, $1, $2) \
                 ON CONFLICT (singleton) DO NOTHING",
                &[token.id.into(), token.created_at.into()],
            )
            .await?
            == 1;
        if !won {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_token_in(&mut *tx, token).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_token_in(&mut *tx, token).await?;
        tx.commit().await
    }

    async fn insert_token_logged(&self, token: &TokenRecord, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_token_in(&mut *tx, token).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn delete_token(&self, hash: &[u8; 32], events: &[Event]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The sessions first: they cascade with the token too, but the
        // statement says so without relying on foreign-key enforcement.
        tx.execute("DELETE FROM web_sessions WHERE token_hash = $1", &[hash.into()]).await?;
        if tx.execute("DELETE FROM tokens WHERE hash = $1", &[hash.into()]).await? == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn principal_for_token(&self, hash: &[u8; 32]) -> StoreResult<Option<Principal>> {
        if let Some(direct) = self.direct() {
            return direct.read(|ex| ready_now(ex.fetch_optional(PRINCIPAL_FOR_TOKEN, &[hash.into()])));
        }
        self.one(PRINCIPAL_FOR_TOKEN, &[hash.into()]).await
    }

    async fn insert_web_session(&self, s: &WebSessionRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM web_sessions WHERE expires_at <= $1", &[s.created_at.into()]).await?;
        let sql = "INSERT INTO web_sessions (hash, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        tx.execute(sql, &[(&s.hash).into(), (&s.token_hash).into(), s.created_at.into(), s.expires_at.into()]).await?;
        tx.commit().await
    }

    async fn principal_for_web_session(&self, hash: &[u8; 32], now: UnixSeconds) -> StoreResult<Option<Principal>> {
        let sql = "SELECT t.principal FROM web_sessions s JOIN tokens t ON t.hash = s.token_hash \
                   WHERE s.hash = $1 AND s.expires_at > $2";
        self.one(sql, &[hash.into(), now.into()]).await
    }

    async fn delete_web_session(&self, hash: &[u8; 32]) -> StoreResult<bool> {
        Ok(self.write_one("DELETE FROM web_sessions WHERE hash = $1", &[hash.into()], &[]).await? == 1)
    }

    async fn insert_manager(&self, m: &Manager, token: &TokenRecord, events: &[Event]) -> StoreResult<()> {
        let sql = "INSERT INTO managers (id, name, created_at) VALUES ($1, $2, $3)";
        insert_party(self, sql, [m.id.into(), (&m.name).into(), m.created_at.into()], token, events).await
    }

    async fn get_manager(&self, id: ManagerId) -> StoreResult<Option<Manager>> {
        self.one(select!(party, " FROM managers WHERE id = $1"), &[id.into()]).await
    }

    async fn list_managers(&self) -> StoreResult<Vec<Manager>> {
        self.all(select!(party, " FROM managers ORDER BY created_at, id"), &[]).await
    }

    async fn insert_carrier(&self, c: &Carrier, token: &TokenRecord, events: &[Event]) -> StoreResult<()> {
        let sql = "INSERT INTO carriers (id, name, created_at) VALUES ($1, $2, $3)";
        insert_party(self, sql, [c.id.into(), (&c.name).into(), c.created_at.into()], token, events).await
    }

    async fn get_carrier(&self, id: CarrierId) -> StoreResult<Option<Carrier>> {
        self.one(select!(party, " FROM carriers WHERE id = $1"), &[id.into()]).await
    }

    async fn list_carriers(&self) -> StoreResult<Vec<Carrier>> {
        self.all(select!(party, " FROM carriers ORDER BY created_at, id"), &[]).await
    }

    async fn insert_driver(&self, d: &Driver, token: &TokenRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = concat!("INSERT INTO drivers (", columns!(driver), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        let key = d.handheld_public_key.as_deref();
        let values = values! {
            d.id, d.carrier_id, &d.name, key, d.vetting.as_str(), d.vetted_at, d.status.as_str(), d.created_at
        };
        tx.execute(sql, &values).await?;
        insert_token_in(&mut *tx, token).await?;
        tx.commit().await
    }

    async fn get_driver(&self, id: DriverId) -> StoreResult<Option<Driver>> {
        self.one(GET_DRIVER, &[id.into()]).await
    }

    async fn list_drivers(&self, carrier: CarrierId) -> StoreResult<Vec<Driver>> {
        let sql = select!(driver, " FROM drivers WHERE carrier_id = $1 ORDER BY created_at, id");
        self.all(sql, &[carrier.into()]).await
    }

    async fn update_driver(&self, d: &Driver) -> StoreResult<()> {
        // A driver never changes carrier: another carrier's id finds nothing.
        let sql = "UPDATE drivers SET name = $3, handheld_public_key = $4, vetting = $5, vetted_at = $6, \
                   status = $7 WHERE id = $1 AND carrier_id = $2";
        let key = d.handheld_public_key.as_deref();
        let values = values! { d.id, d.carrier_id, &d.name, key, d.vetting.as_str(), d.vetted_at, d.status.as_str() };
        self.write_existing(sql, &values, &[]).await
    }
}
