//! Email sign-in links: the fallback for a resident without their token or
//! passkey. Asking for a link names an address; if it belongs to a person
//! living somewhere, they are sent a link with a random single-use secret
//! (32 bytes; only its SHA-256 is stored) valid for
//! [`SIGN_IN_LINK_LIFETIME_S`]. The caller's answer is the same whether or
//! not the address is known (no account enumeration), and a person gets at
//! most [`MAX_LINKS_PER_WINDOW`] links per window, counted in the database
//! (so across processes); asking beyond it sends nothing, silently.
//!
//! Opening the link spends it and opens a dashboard session (in one
//! transaction, `MailStore::redeem_sign_in_link`); the session acts as a
//! token made for it alone (labelled `email sign-in link`, never shown),
//! which ends with the person's other tokens when they move out. A second
//! use is told apart from an unknown or expired link, so the page can say
//! so. The link's secret never enters the outbox: the message is sent
//! directly, once; a lost one is asked for again.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_domain::{Principal, TokenId};
use doorman_store::{LinkRedemption, SignInLink, WebSessionRecord};

use crate::auth::{hash_secret, random_bytes, WEB_SESSION_LIFETIME_S};
use crate::mail::{check_email, OutgoingMail};
use crate::{Service, ServiceError, ServiceResult};

/// A link works this long (15 minutes).
pub const SIGN_IN_LINK_LIFETIME_S: i64 = 15 * 60;
/// Links one person may be sent per window...
pub const MAX_LINKS_PER_WINDOW: u32 = 3;
/// ...of this long.
pub const LINK_WINDOW_S: i64 = 15 * 60;
/// Accounts one address may sign in to (one link each).
const MAX_ACCOUNTS_PER_ADDRESS: usize = 5;

/// What opening a link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkSignIn {
    /// A session was opened: its secret (for the cookie) and principal.
    SignedIn { session: String, principal: Principal },
    /// The link was used before.
    AlreadyUsed,
    /// Unknown, expired, or its person moved out.
    Invalid,
}

/// Whether `secret` has the shape of a link's secret (43 base64url chars).
fn well_formed(secret: &str) -> bool {
    secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Service {
    /// Checks an address typed on the sign-in page (a plausible address,
    /// whether or not anyone has it).
    pub fn check_sign_in_address(&self, email: &str) -> ServiceResult<String> {
        check_email(email)
    }

    /// Sends a sign-in link to each person living somewhere whose address
    /// is `email`, within the per-person limit. Returns how many were sent
    /// (for logs and tests; never shown to the asker). Without a mailer,
    /// nothing is sent.
    pub async fn send_sign_in_links(&self, email: &str) -> ServiceResult<usize> {
        let email = check_email(email)?;
        let Some(mailer) = self.mailer().cloned() else {
            tracing::warn!("a sign-in link was asked for, but no SMTP server is configured");
            return Ok(0);
        };
        let now = self.now();
        let mut sent = 0;
        for person in self.store.residents_with_email(&email).await?.into_iter().take(MAX_ACCOUNTS_PER_ADDRESS) {
            let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
            let link = SignInLink {
                hash: hash_secret(&secret),
                resident_id: person.id,
                created_at: now,
                expires_at: now + SIGN_IN_LINK_LIFETIME_S,
            };
            if !self.store.insert_sign_in_link(&link, now - LINK_WINDOW_S, MAX_LINKS_PER_WINDOW).await? {
                tracing::info!(resident = %person.id, "sign-in links asked for too often; none sent");
                continue;
            }
            let (building, unit) = match self.store.get_unit(person.unit_id).await? {
                Some(u) => {
                    let name = self.store.get_property(u.property_id).await?.map(|p| p.name).unwrap_or_default();
                    (name, u.label)
                }
                None => (String::new(), String::new()),
            };
            let url = format!("{}/app/sign-in/link/{secret}", mailer.link_base);
            let mail = OutgoingMail {
                message_id: format!("{}@{}", uuid::Uuid::new_v4(), mailer.host),
                to: person.email.clone(),
                subject: "Your doorman sign-in link".into(),
                body: format!(
                    "Hello {},\n\nOpen this link to sign in to doorman ({unit} at {building}):\n\n  {url}\n\n\
                     It works once, for {} minutes. If you did not ask for it, ignore this email: nobody can \
                     sign in without it.\n",
                    person.name,
                    SIGN_IN_LINK_LIFETIME_S / 60
                ),
                unsubscribe_url: None,
            };
            match mailer.transport.send(mail).await {
                Ok(()) => sent += 1,
                Err(e) => tracing::warn!(resident = %person.id, error = %e, "the sign-in link could not be sent"),
            }
        }
        Ok(sent)
    }

    /// Opens a dashboard session with a link's secret, spending the link.
    pub async fn sign_in_with_link(&self, secret: &str) -> ServiceResult<LinkSignIn> {
        let secret = secret.trim();
        if !well_formed(secret) {
            return Ok(LinkSignIn::Invalid);
        }
        let now = self.now();
        let (token, token_hash) = crate::auth::fresh_token()?;
        // The token itself is never shown: only the session acts as it.
        drop(token);
        let session = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let record = WebSessionRecord {
            hash: hash_secret(&session),
            token_hash,
            created_at: now,
            expires_at: now + WEB_SESSION_LIFETIME_S,
        };
        match self.store.redeem_sign_in_link(&hash_secret(secret), now, TokenId::random(), &record).await {
            Ok(LinkRedemption::SignedIn(principal)) => {
                tracing::info!(principal = ?principal, "signed in with an email link");
                Ok(LinkSignIn::SignedIn { session, principal })
            }
            Ok(LinkRedemption::AlreadyUsed) => Ok(LinkSignIn::AlreadyUsed),
            Ok(LinkRedemption::Invalid) => Ok(LinkSignIn::Invalid),
            Err(e) => Err(ServiceError::from(e)),
        }
    }
}
