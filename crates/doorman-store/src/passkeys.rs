//! Passkeys (WebAuthn credentials people sign in to the dashboard with),
//! the ceremonies that register and use them, and re-invitations (a new
//! invitation for a resident who lost every device).
//!
//! A passkey is held through a token of its own, whose secret nobody ever
//! had: the dashboard session a passkey opens acts as that token, so it ends
//! with the passkey, and moving out (which deletes a resident's tokens)
//! ends both. The verifier's record of the credential is opaque JSON here.

use async_trait::async_trait;
use doorman_domain::{Event, Invitation, PasskeyId, Principal, Resident, TokenId, UnixSeconds};

use crate::accounts::{insert_token_in, TokenRecord};
use crate::audit::append_in;
use crate::exec::{malformed, values, Cells, Exec, Record};
use crate::records::{columns, select, to_json};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// A passkey as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub principal: Principal,
    /// What its holder calls it ("my phone").
    pub name: String,
    /// The authenticator's credential id, as it sends it.
    pub credential_id: Vec<u8>,
    /// The verifier's record of the credential (JSON): public key, sign
    /// counter, backup flags.
    pub credential: String,
    /// The sign counter the record holds (0 for authenticators without one).
    pub sign_count: i64,
    /// The token the passkey's sessions act as.
    pub token_id: TokenId,
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
}

/// A WebAuthn ceremony under way, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct CeremonyRecord {
    /// SHA-256 of the random id the browser holds.
    pub hash: [u8; 32],
    /// `register` or `sign_in`.
    pub purpose: String,
    /// Who registers (None for a sign-in: nobody is known yet).
    pub principal: Option<Principal>,
    /// The verifier's state (challenge, policy), JSON.
    pub state: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// A passkey sign-in that verified, to record: the credential as it now is
/// and the session it opens.
#[derive(Clone, Debug, PartialEq)]
pub struct PasskeyUse<'a> {
    pub passkey: PasskeyId,
    /// The sign counter the verification started from.
    pub expected_count: i64,
    /// The updated verifier's record and its counter.
    pub credential: &'a str,
    pub sign_count: i64,
    pub at: UnixSeconds,
    /// SHA-256 of the new session's secret, and its end.
    pub session_hash: [u8; 32],
    pub session_expires_at: UnixSeconds,
}

/// What [`PasskeyStore::reinvite_resident`] logs, given the passkeys it
/// removed (made inside the transaction, once they are known).
pub type PasskeyRemovalEvents = dyn Fn(&[PasskeyRecord]) -> Result<Vec<Event>, String> + Send + Sync;

/// Passkeys, their ceremonies and re-invitations; every
/// [`Store`](crate::Store) is one.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores a ceremony; in the same transaction forgets every ceremony
    /// expired at its `created_at`. Conflict (nothing stored) when
    /// `max_open` unexpired ceremonies exist already.
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord, max_open: i64) -> StoreResult<()>;
    /// Takes the ceremony: deletes it and returns it if it was unexpired at
    /// `now`. Whoever takes it first has it; after that it is gone.
    async fn take_ceremony(&self, hash: &[u8; 32], now: UnixSeconds) -> StoreResult<Option<CeremonyRecord>>;

    /// In one transaction: the passkey, the token it is held through
    /// (`token`, whose principal is the passkey's) and `events`. Conflict
    /// (nothing written) if the credential id is registered already.
    async fn insert_passkey(&self, passkey: &PasskeyRecord, token: &TokenRecord, events: &[Event]) -> StoreResult<()>;
    /// The principal's passkeys, oldest first.
    async fn list_passkeys(&self, principal: &Principal) -> StoreResult<Vec<PasskeyRecord>>;
    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>>;
    /// In one transaction, if the passkey's stored counter is still
    /// `expected_count` (compare and set: of two sign-ins racing with one
    /// counter value, one wins): stores its updated `credential` and
    /// `sign_count`, marks it used `at`, and opens a dashboard session
    /// (`session_hash`, until `session_expires_at`) acting as its token.
    /// False, and nothing written, otherwise (the passkey changed or is gone).
    async fn passkey_signed_in(&self, used: &PasskeyUse<'_>) -> StoreResult<bool>;
    /// In one transaction: deletes the principal's passkey `id`, its token
    /// and the sessions acting as it, and writes `events`. Refused
    /// (Conflict, nothing written) when `keep_a_way_in` and the principal
    /// would be left with no other passkey and no API token. None (nothing
    /// written) when the principal has no such passkey.
    async fn delete_passkey(
        &self,
        principal: &Principal,
        id: PasskeyId,
        keep_a_way_in: bool,
        events: &[Event],
    ) -> StoreResult<Option<PasskeyRecord>>;

    /// The invitation whose code has this hash, redeemed or not.
    async fn invitation_by_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<Invitation>>;
    /// In one transaction: stores the re-invitation (its `resident_id`
    /// set), deletes the resident's passkeys, their tokens and every
    /// dashboard session of the resident, and writes the events `removed`
    /// makes of the passkeys it deleted. Returns them. NotFound (nothing
    /// written) if the resident does not live in the invitation's unit any
    /// more (moved out, or never there).
    async fn reinvite_resident(
        &self,
        invitation: &Invitation,
        code_hash: &[u8; 32],
        removed: &PasskeyRemovalEvents,
    ) -> StoreResult<Vec<PasskeyRecord>>;
    /// In one transaction: finds the unredeemed, unexpired re-invitation
    /// with this code hash, marks it redeemed at `now`, stores a token for
    /// its resident (still living there) and writes `events`. NotFound
    /// (nothing written) otherwise.
    async fn redeem_reinvitation(
        &self,
        code_hash: &[u8; 32],
        token_id: TokenId,
        token_hash: &[u8; 32],
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Resident>;
}

impl Record for PasskeyRecord {
    fn read(c: &mut impl Cells) -> StoreResult<PasskeyRecord> {
        let (id, principal) = (c.id("passkey id")?, c.json("passkey principal")?);
        let (name, credential_id) = (c.string("name")?, c.blob("credential id")?);
        let (credential, sign_count) = (c.string("credential")?, c.i64("sign count")?);
        let (token_id, created_at, last_used_at) = (c.id("token id")?, c.i64("created_at")?, c.opt_i64()?);
        Ok(PasskeyRecord {
            id,
            principal,
            name,
            credential_id,
            credential,
            sign_count,
            token_id,
            created_at,
            last_used_at,
        })
    }
}

impl Record for CeremonyRecord {
    fn read(c: &mut impl Cells) -> StoreResult<CeremonyRecord> {
        let (hash, purpose) = (c.bytes("ceremony hash")?, c.string("purpose")?);
        let principal = match c.opt_str()? {
            Some(json) => Some(serde_json::from_str(json).map_err(|_| malformed("ceremony principal"))?),
            None => None,
        };
        let (state, created_at, expires_at) = (c.string("state")?, c.i64("created_at")?, c.i64("expires_at")?);
        Ok(CeremonyRecord { hash, purpose, principal, state, created_at, expires_at })
    }
}

/// $1 principal (JSON)
const LIST_PASSKEYS: &str = select!(passkey, " FROM passkeys WHERE principal = $1 ORDER BY created_at, id");

/// Deletes the passkeys whose token is `token_id`, the sessions acting as
/// that token and the token, inside the caller's write.
async fn delete_token_and_passkey_in(ex: &mut impl Exec, token_id: TokenId) -> StoreResult<()> {
    ex.execute(
        "DELETE FROM web_sessions WHERE token_hash IN (SELECT hash FROM tokens WHERE id = $1)",
        &[token_id.into()],
    )
    .await?;
    ex.execute("DELETE FROM passkeys WHERE token_id = $1", &[token_id.into()]).await?;
    ex.execute("DELETE FROM tokens WHERE id = $1", &[token_id.into()]).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> PasskeyStore for B {
    async fn insert_ceremony(&self, c: &CeremonyRecord, max_open: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1", &[c.created_at.into()]).await?;
        let open: Option<i64> = tx.fetch_optional("SELECT COUNT(*) FROM webauthn_ceremonies", &[]).await?;
        if open.unwrap_or(0) >= max_open {
            tx.rollback().await?;
            return Err(StoreError::Conflict("too many passkey ceremonies under way".into()));
        }
        let principal = match &c.principal {
            Some(p) => Some(to_json(p, "ceremony principal")?),
            None => None,
        };
        let sql = concat!("INSERT INTO webauthn_ceremonies (", columns!(ceremony), ") VALUES ($1, $2, $3, $4, $5, $6)");
        tx.execute(sql, &values! { &c.hash, &c.purpose, principal, &c.state, c.created_at, c.expires_at }).await?;
        tx.commit().await
    }

    async fn take_ceremony(&self, hash: &[u8; 32], now: UnixSeconds) -> StoreResult<Option<CeremonyRecord>> {
        let mut tx = self.begin_write().await?;
        let sql = concat!("DELETE FROM webauthn_ceremonies WHERE hash = $1 RETURNING ", columns!(ceremony));
        let taken: Option<CeremonyRecord> = tx.fetch_optional(sql, &[hash.into()]).await?;
        tx.commit().await?;
        Ok(taken.filter(|c| c.expires_at > now))
    }

    async fn insert_passkey(&self, p: &PasskeyRecord, token: &TokenRecord, events: &[Event]) -> StoreResult<()> {
        if token.principal != p.principal || token.id != p.token_id {
            return Err(StoreError::Conflict("a passkey's token must be its own".into()));
        }
        let mut tx = self.begin_write().await?;
        insert_token_in(&mut *tx, token).await?;
        let principal = to_json(&p.principal, "passkey principal")?;
        let sql = concat!("INSERT INTO passkeys (", columns!(passkey), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        let values = values! {
            p.id, principal, &p.name, p.credential_id.as_slice(), &p.credential, p.sign_count, p.token_id,
            p.created_at, p.last_used_at
        };
        tx.execute(sql, &values).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn list_passkeys(&self, principal: &Principal) -> StoreResult<Vec<PasskeyRecord>> {
        let principal = to_json(principal, "passkey principal")?;
        self.all(LIST_PASSKEYS, &[principal.into()]).await
    }

    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>> {
        self.one(select!(passkey, " FROM passkeys WHERE credential_id = $1"), &[credential_id.into()]).await
    }

    async fn passkey_signed_in(&self, used: &PasskeyUse<'_>) -> StoreResult<bool> {
        let PasskeyUse { passkey, expected_count, credential, sign_count, at: now, .. } = *used;
        let (session_hash, expires_at) = (&used.session_hash, used.session_expires_at);
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE passkeys SET credential = $3, sign_count = $4, last_used_at = $5 \
                   WHERE id = $1 AND sign_count = $2";
        let values = values! { passkey, expected_count, credential, sign_count, now };
        if tx.execute(sql, &values).await? != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute("DELETE FROM web_sessions WHERE expires_at <= $1", &[now.into()]).await?;
        let sql = "INSERT INTO web_sessions (hash, token_hash, created_at, expires_at) \
                   SELECT $1, t.hash, $2, $3 FROM passkeys p JOIN tokens t ON t.id = p.token_id WHERE p.id = $4";
        tx.execute(sql, &values! { session_hash, now, expires_at, passkey }).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_passkey(
        &self,
        principal: &Principal,
        id: PasskeyId,
        keep_a_way_in: bool,
        events: &[Event],
    ) -> StoreResult<Option<PasskeyRecord>> {
        let json = to_json(principal, "passkey principal")?;
        let mut tx = self.begin_write().await?;
        let sql = select!(passkey, " FROM passkeys WHERE id = $1 AND principal = $2");
        let Some(passkey) = tx.fetch_optional::<PasskeyRecord>(sql, &[id.into(), json.as_str().into()]).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if keep_a_way_in {
            // Every other token of the principal is another way in: its other
            // passkeys' tokens and its API tokens alike.
            let sql = "SELECT COUNT(*) FROM tokens WHERE principal = $1 AND id <> $2";
            let others: Option<i64> = tx.fetch_optional(sql, &[json.as_str().into(), passkey.token_id.into()]).await?;
            if others.unwrap_or(0) == 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(
                    "this is your last way in: add another passkey first (or keep an API token)".into(),
                ));
            }
        }
        delete_token_and_passkey_in(&mut *tx, passkey.token_id).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(Some(passkey))
    }

    async fn invitation_by_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<Invitation>> {
        self.one(select!(invitation, " FROM invitations WHERE code_hash = $1"), &[code_hash.into()]).await
    }

    async fn reinvite_resident(
        &self,
        inv: &Invitation,
        code_hash: &[u8; 32],
        removed: &PasskeyRemovalEvents,
    ) -> StoreResult<Vec<PasskeyRecord>> {
        let Some(resident_id) = inv.resident_id else {
            return Err(StoreError::Conflict("a re-invitation names its resident".into()));
        };
        let mut tx = self.begin_write().await?;
        let sql = "SELECT id FROM residents WHERE id = $1 AND unit_id = $2 AND moved_out_at IS NULL";
        if tx.fetch_optional::<()>(sql, &[resident_id.into(), inv.unit_id.into()]).await?.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        let sql = concat!(
            "INSERT INTO invitations (",
            columns!(invitation),
            ", code_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let values = values! {
            inv.id, inv.unit_id, &inv.name, &inv.email, inv.created_at, inv.expires_at, inv.redeemed_at,
            inv.resident_id, code_hash
        };
        tx.execute(sql, &values).await?;
        let principal = Principal::Resident { resident_id, unit_id: inv.unit_id };
        let json = to_json(&principal, "passkey principal")?;
        let passkeys: Vec<PasskeyRecord> = tx.fetch_all(LIST_PASSKEYS, &[json.as_str().into()]).await?;
        for passkey in &passkeys {
            delete_token_and_passkey_in(&mut *tx, passkey.token_id).await?;
        }
        // The lost devices are signed out, whatever they signed in with.
        let sql = "DELETE FROM web_sessions WHERE token_hash IN (SELECT hash FROM tokens WHERE principal = $1)";
        tx.execute(sql, &[json.as_str().into()]).await?;
        append_in(&mut *tx, &removed(&passkeys).map_err(StoreError::Backend)?).await?;
        tx.commit().await?;
        Ok(passkeys)
    }

    async fn redeem_reinvitation(
        &self,
        code_hash: &[u8; 32],
        token_id: TokenId,
        token_hash: &[u8; 32],
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Resident> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "UPDATE invitations SET redeemed_at = $2 \
             WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2 AND resident_id IS NOT NULL RETURNING ",
            columns!(invitation)
        );
        let Some(invitation) = tx.fetch_optional::<Invitation>(sql, &[code_hash.into(), now.into()]).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        };
        let sql = select!(resident, " FROM residents WHERE id = $1 AND unit_id = $2 AND moved_out_at IS NULL");
        let values = values! { invitation.resident_id, invitation.unit_id };
        let Some(resident) = tx.fetch_optional::<Resident>(sql, &values).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        };
        let token = TokenRecord {
            id: token_id,
            hash: *token_hash,
            principal: Principal::Resident { resident_id: resident.id, unit_id: resident.unit_id },
            label: format!("re-invitation {}", invitation.id),
            created_at: now,
        };
        insert_token_in(&mut *tx, &token).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(resident)
    }
}
