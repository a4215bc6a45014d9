//! Storage of email: each person's choice of notification kinds, the mail
//! outbox and its cursor over the transparency log, and email sign-in links.
//!
//! The mail outbox works as the webhook outbox does (`notify.rs`):
//! [`MailStore::enqueue_mail`] moves the mail cursor over a range of log
//! indexes and writes that range's messages in one transaction, with a
//! compare-and-set on the cursor; a message is unique per (log entry,
//! person, kind), so one event is never queued twice for one person; a due
//! message is leased by a compare-and-set of its due time before it is
//! sent, and marked sent right after the SMTP server accepted it.

use async_trait::async_trait;
use doorman_domain::{NotificationKind, Principal, Resident, ResidentId, TokenId, UnixSeconds};

use crate::accounts::{insert_token_in, TokenRecord, WebSessionRecord};
use crate::exec::{locking, to_i64, to_u64, values, Cells, Exec, Record};
use crate::records::select;
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The SMTP server accepted it.
    Sent,
    /// Every attempt failed.
    Dead,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Sent => "sent",
            MailState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(MailState::Pending),
            "sent" => Some(MailState::Sent),
            "dead" => Some(MailState::Dead),
            _ => None,
        }
    }
}

/// One message of the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct MailMessage {
    /// Also the message's `Message-ID` (a resend of the same row is
    /// recognisable as the same message).
    pub id: uuid::Uuid,
    /// The log entry it tells of.
    pub event_id: u64,
    pub resident_id: ResidentId,
    pub kind: NotificationKind,
    pub to_address: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// The one-click unsubscribe link for this person and kind.
    pub unsubscribe_url: String,
    pub state: MailState,
    pub attempts: u32,
    pub next_attempt_at: UnixSeconds,
    pub last_error: Option<String>,
    pub sent_at: Option<UnixSeconds>,
    pub created_at: UnixSeconds,
}

/// The outcome of one attempt to send.
#[derive(Clone, Debug, PartialEq)]
pub struct MailAttempt {
    pub at: UnixSeconds,
    pub error: Option<String>,
    /// Sent, Pending (again at `next_attempt_at`) or Dead.
    pub state: MailState,
    pub next_attempt_at: UnixSeconds,
}

/// A new sign-in link (its secret is only in the email).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInLink {
    pub hash: [u8; 32],
    pub resident_id: ResidentId,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// What opening a sign-in link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkRedemption {
    /// The link was good: it is spent, and the session stored acts as a
    /// new token of this principal.
    SignedIn(Principal),
    /// The link was used before.
    AlreadyUsed,
    /// The link expired, its person moved out, or it never existed.
    Invalid,
}

/// The label of the tokens email sign-ins make (one per sign-in, never
/// shown to anyone: only its session uses it).
pub const EMAIL_SIGN_IN_TOKEN_LABEL: &str = "email sign-in link";

/// Email: notification choices, the mail outbox, sign-in links; every
/// [`Store`](crate::Store) is one.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// The person's stored choices (kinds with no row take the default).
    async fn notification_choices(&self, resident: ResidentId) -> StoreResult<Vec<(NotificationKind, bool)>>;
    /// In one transaction: the person's address (when given) and choices.
    /// NotFound if there is no such person.
    async fn set_notification_settings(
        &self,
        resident: ResidentId,
        email: Option<&str>,
        choices: &[(NotificationKind, bool)],
        now: UnixSeconds,
    ) -> StoreResult<()>;

    /// The next log index the mail fan-out reads; None before mail started.
    async fn mail_cursor(&self) -> StoreResult<Option<u64>>;
    /// Starts the cursor at `at` unless it exists.
    async fn start_mail_cursor(&self, at: u64) -> StoreResult<()>;
    /// In one transaction: if the cursor is at `from`, moves it to `to` and
    /// stores `messages` (a second one for the same entry, person and kind is
    /// ignored) and returns true; otherwise stores nothing, returns false.
    async fn enqueue_mail(&self, from: u64, to: u64, messages: &[MailMessage]) -> StoreResult<bool>;
    /// Pending messages due at `now`, oldest log entry first.
    async fn due_mail(&self, now: UnixSeconds, limit: u32) -> StoreResult<Vec<MailMessage>>;
    /// Takes a due message for one attempt: if it is still pending and due
    /// at `expected_next`, moves its due time to `lease_until` and returns
    /// true (no other sender takes it meanwhile).
    async fn claim_mail(
        &self,
        id: uuid::Uuid,
        expected_next: UnixSeconds,
        lease_until: UnixSeconds,
    ) -> StoreResult<bool>;
    /// Records an attempt and the message's new state.
    async fn finish_mail_attempt(&self, id: uuid::Uuid, attempt: &MailAttempt) -> StoreResult<()>;
    /// The person's messages, newest log entry first.
    async fn list_mail(&self, resident: ResidentId, limit: u32) -> StoreResult<Vec<MailMessage>>;

    /// The people living somewhere now whose address is `email` (compared
    /// without regard to case).
    async fn residents_with_email(&self, email: &str) -> StoreResult<Vec<Resident>>;
    /// Stores the link unless its person already has `max` links made at or
    /// after `since` (false then: nothing stored).
    async fn insert_sign_in_link(&self, link: &SignInLink, since: UnixSeconds, max: u32) -> StoreResult<bool>;
    /// In one transaction: spends the link whose secret hashes to `hash` if
    /// it is unused, unexpired at `now` and its person still lives there;
    /// then stores a token of that person (`token_id`, `token_hash`) and the
    /// session `session` acting as it, and removes that person's earlier
    /// email sign-in tokens whose sessions all ended.
    async fn redeem_sign_in_link(
        &self,
        hash: &[u8; 32],
        now: UnixSeconds,
        token_id: TokenId,
        session: &WebSessionRecord,
    ) -> StoreResult<LinkRedemption>;
}

macro_rules! mail_columns {
    () => {
        "id, event_id, resident_id, kind, to_address, subject, body, unsubscribe_url, state, attempts, \
         next_attempt_at, last_error, sent_at, created_at"
    };
}

impl Record for MailMessage {
    fn read(c: &mut impl Cells) -> StoreResult<MailMessage> {
        Ok(MailMessage {
            id: c.id("mail id")?,
            event_id: c.u64("event id")?,
            resident_id: c.id("resident id")?,
            kind: c.parse(NotificationKind::parse, "notification kind")?,
            to_address: c.string("to address")?,
            subject: c.string("subject")?,
            body: c.string("body")?,
            unsubscribe_url: c.string("unsubscribe url")?,
            state: c.parse(MailState::parse, "mail state")?,
            attempts: u32::try_from(c.i64("attempts")?).unwrap_or(u32::MAX),
            next_attempt_at: c.i64("next attempt")?,
            last_error: c.opt_string()?,
            sent_at: c.opt_i64()?,
            created_at: c.i64("created at")?,
        })
    }
}

/// A stored choice.
struct Choice(NotificationKind, bool);

impl Record for Choice {
    fn read(c: &mut impl Cells) -> StoreResult<Choice> {
        Ok(Choice(c.parse(NotificationKind::parse, "notification kind")?, c.bool()?))
    }
}

/// A link's row as redemption reads it.
struct LinkRow {
    resident_id: ResidentId,
    expires_at: UnixSeconds,
    used_at: Option<UnixSeconds>,
}

impl Record for LinkRow {
    fn read(c: &mut impl Cells) -> StoreResult<LinkRow> {
        Ok(LinkRow { resident_id: c.id("resident id")?, expires_at: c.i64("expires at")?, used_at: c.opt_i64()? })
    }
}

#[async_trait]
impl<B: Backend> MailStore for B {
    async fn notification_choices(&self, resident: ResidentId) -> StoreResult<Vec<(NotificationKind, bool)>> {
        let sql = "SELECT kind, email FROM notification_choices WHERE resident_id = $1 ORDER BY kind";
        let rows: Vec<Choice> = self.all(sql, &[resident.into()]).await?;
        Ok(rows.into_iter().map(|Choice(k, on)| (k, on)).collect())
    }

    async fn set_notification_settings(
        &self,
        resident: ResidentId,
        email: Option<&str>,
        choices: &[(NotificationKind, bool)],
        now: UnixSeconds,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<()> = tx.fetch_optional("SELECT 1 FROM residents WHERE id = $1", &[resident.into()]).await?;
        if exists.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        if let Some(email) = email {
            tx.execute("UPDATE residents SET email = $2 WHERE id = $1", &[resident.into(), email.into()]).await?;
        }
        for (kind, on) in choices {
            let sql =
                "INSERT INTO notification_choices (resident_id, kind, email, updated_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (resident_id, kind) DO UPDATE SET email = excluded.email, \
                       updated_at = excluded.updated_at";
            tx.execute(sql, &values! { resident, kind.as_str(), *on, now }).await?;
        }
        tx.commit().await
    }

    async fn mail_cursor(&self) -> StoreResult<Option<u64>> {
        let next: Option<i64> = self.one("SELECT next_index FROM mail_cursor WHERE singleton = 1", &[]).await?;
        next.map(|n| to_u64(n, "mail cursor")).transpose()
    }

    async fn start_mail_cursor(&self, at: u64) -> StoreResult<()> {
        let sql = "INSERT INTO mail_cursor (singleton, next_index) VALUES (1, $1) ON CONFLICT (singleton) DO NOTHING";
        self.write_one(sql, &[to_i64(at, "mail cursor")?.into()], &[]).await.map(drop)
    }

    async fn enqueue_mail(&self, from: u64, to: u64, messages: &[MailMessage]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let cursor = tx.dialect().locking(locking!("SELECT next_index FROM mail_cursor WHERE singleton = 1"));
        let next: Option<i64> = tx.fetch_optional(cursor, &[]).await?;
        if next.map(|n| to_u64(n, "mail cursor")).transpose()? != Some(from) {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute("UPDATE mail_cursor SET next_index = $1 WHERE singleton = 1", &[to_i64(to, "mail cursor")?.into()])
            .await?;
        for m in messages {
            let sql = concat!(
                "INSERT INTO mail_outbox (",
                mail_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (event_id, resident_id, kind) DO NOTHING"
            );
            let values = values! {
                m.id, to_i64(m.event_id, "event id")?, m.resident_id, m.kind.as_str(), &m.to_address, &m.subject,
                &m.body, &m.unsubscribe_url, m.state.as_str(), i64::from(m.attempts), m.next_attempt_at,
                m.last_error.as_deref(), m.sent_at, m.created_at
            };
            tx.execute(sql, &values).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn due_mail(&self, now: UnixSeconds, limit: u32) -> StoreResult<Vec<MailMessage>> {
        let sql = concat!(
            "SELECT ",
            mail_columns!(),
            " FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY event_id, created_at, id \
             LIMIT $2"
        );
        self.all(sql, &[now.into(), i64::from(limit).into()]).await
    }

    async fn claim_mail(
        &self,
        id: uuid::Uuid,
        expected_next: UnixSeconds,
        lease_until: UnixSeconds,
    ) -> StoreResult<bool> {
        let sql = "UPDATE mail_outbox SET next_attempt_at = $3 \
                   WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2";
        Ok(self.write_one(sql, &[id.into(), expected_next.into(), lease_until.into()], &[]).await? == 1)
    }

    async fn finish_mail_attempt(&self, id: uuid::Uuid, a: &MailAttempt) -> StoreResult<()> {
        let sent_at = (a.state == MailState::Sent).then_some(a.at);
        let sql = "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, state = $3, \
                   next_attempt_at = $4, sent_at = $5 WHERE id = $1";
        let values = values! { id, a.error.as_deref(), a.state.as_str(), a.next_attempt_at, sent_at };
        self.write_existing(sql, &values, &[]).await
    }

    async fn list_mail(&self, resident: ResidentId, limit: u32) -> StoreResult<Vec<MailMessage>> {
        let sql = concat!(
            "SELECT ",
            mail_columns!(),
            " FROM mail_outbox WHERE resident_id = $1 ORDER BY event_id DESC, created_at DESC LIMIT $2"
        );
        self.all(sql, &[resident.into(), i64::from(limit).into()]).await
    }

    async fn residents_with_email(&self, email: &str) -> StoreResult<Vec<Resident>> {
        let sql = select!(
            resident,
            " FROM residents WHERE LOWER(email) = LOWER($1) AND moved_out_at IS NULL ORDER BY created_at, id"
        );
        self.all(sql, &[email.into()]).await
    }

    async fn insert_sign_in_link(&self, link: &SignInLink, since: UnixSeconds, max: u32) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The person's row is the lock that makes the count and the insert
        // one step, also between processes.
        let person = tx.dialect().locking(locking!("SELECT id FROM residents WHERE id = $1"));
        let found: Option<String> = tx.fetch_optional(person, &[link.resident_id.into()]).await?;
        if found.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        let sql = "SELECT COUNT(*) FROM email_sign_in_links WHERE resident_id = $1 AND created_at >= $2";
        let recent: Option<i64> = tx.fetch_optional(sql, &[link.resident_id.into(), since.into()]).await?;
        if recent.unwrap_or(0) >= i64::from(max) {
            tx.rollback().await?;
            return Ok(false);
        }
        // Spent and expired links are of no use to anyone: they go here.
        tx.execute(
            "DELETE FROM email_sign_in_links WHERE resident_id = $1 AND expires_at <= $2 AND created_at < $3",
            &[link.resident_id.into(), link.created_at.into(), since.into()],
        )
        .await?;
        let sql = "INSERT INTO email_sign_in_links (hash, resident_id, created_at, expires_at, used_at) \
                   VALUES ($1, $2, $3, $4, NULL)";
        tx.execute(sql, &values! { &link.hash, link.resident_id, link.created_at, link.expires_at }).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn redeem_sign_in_link(
        &self,
        hash: &[u8; 32],
        now: UnixSeconds,
        token_id: TokenId,
        session: &WebSessionRecord,
    ) -> StoreResult<LinkRedemption> {
        let mut tx = self.begin_write().await?;
        let read = tx
            .dialect()
            .locking(locking!("SELECT resident_id, expires_at, used_at FROM email_sign_in_links WHERE hash = $1"));
        let Some(link) = tx.fetch_optional::<LinkRow>(read, &[hash.into()]).await? else {
            tx.rollback().await?;
            return Ok(LinkRedemption::Invalid);
        };
        if link.used_at.is_some() {
            tx.rollback().await?;
            return Ok(LinkRedemption::AlreadyUsed);
        }
        let resident: Option<Resident> =
            tx.fetch_optional(select!(resident, " FROM residents WHERE id = $1"), &[link.resident_id.into()]).await?;
        let Some(resident) = resident.filter(|r| r.moved_out_at.is_none() && link.expires_at > now) else {
            tx.rollback().await?;
            return Ok(LinkRedemption::Invalid);
        };
        let spent = tx
            .execute(
                "UPDATE email_sign_in_links SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
                &[hash.into(), now.into()],
            )
            .await?;
        if spent != 1 {
            tx.rollback().await?;
            return Ok(LinkRedemption::AlreadyUsed);
        }
        let principal = Principal::Resident { resident_id: resident.id, unit_id: resident.unit_id };
        // The earlier sign-ins' tokens whose sessions all ended are of no
        // use: only a session ever acted as them.
        let principal_json = crate::records::to_json(&principal, "token principal")?;
        tx.execute(
            "DELETE FROM web_sessions WHERE expires_at <= $1 AND token_hash IN \
             (SELECT hash FROM tokens WHERE principal = $2 AND label = $3)",
            &[now.into(), principal_json.as_str().into(), EMAIL_SIGN_IN_TOKEN_LABEL.into()],
        )
        .await?;
        tx.execute(
            "DELETE FROM tokens WHERE principal = $1 AND label = $2 AND NOT EXISTS \
             (SELECT 1 FROM web_sessions s WHERE s.token_hash = tokens.hash)",
            &[principal_json.as_str().into(), EMAIL_SIGN_IN_TOKEN_LABEL.into()],
        )
        .await?;
        let token = TokenRecord {
            id: token_id,
            hash: session.token_hash,
            principal,
            label: EMAIL_SIGN_IN_TOKEN_LABEL.into(),
            created_at: now,
        };
        insert_token_in(&mut *tx, &token).await?;
        let sql = "INSERT INTO web_sessions (hash, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        tx.execute(sql, &values! { &session.hash, &session.token_hash, session.created_at, session.expires_at })
            .await?;
        tx.commit().await?;
        Ok(LinkRedemption::SignedIn(principal))
    }
}
