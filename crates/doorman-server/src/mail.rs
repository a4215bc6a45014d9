//! Email to people: each resident's choice of notification kinds, the mail
//! outbox filled from the transparency log, its sender, and the one-click
//! unsubscribe links.
//!
//! - **Fan-out** ([`Service::dispatch_mail`], first step): reads the log
//!   after the mail cursor; for each entry, each current resident it
//!   concerns (from their move-in on) and the [`NotificationKind`] it is for
//!   them, if they chose that kind, renders one message (names and local
//!   time as they are now) and queues it; the messages and the cursor move
//!   are one transaction (`MailStore::enqueue_mail`), and a message is unique
//!   per (log entry, person, kind): a crash loses nothing, a second
//!   fan-out of the same range (another process) adds nothing.
//! - **Sending**: a due message is leased (compare-and-set of its due time),
//!   handed to the SMTP server, and marked sent as soon as the server
//!   accepted it. A process that dies between the two (after the server's
//!   250, before the mark commits) sends it again after the lease: at least
//!   once in that window only; both copies carry the same `Message-ID`
//!   (the outbox row's id), so a mail client or a reader recognises the
//!   duplicate. A message whose kind the person turned off before it was
//!   sent is dropped, not sent.
//! - **Unsubscribe**: every message carries a link (and the RFC 8058
//!   `List-Unsubscribe` headers) with a token naming the person and kind,
//!   authenticated by an HMAC with a key derived from the key file's master
//!   secret: unguessable, stateless, and only ever able to turn that one kind
//!   off.
//! - Mail about the past is not sent: the cursor starts at the log's head
//!   the first time mail is on, and entries older than [`MAIL_MAX_AGE_S`]
//!   when the fan-out reads them are skipped.
//!
//! Names (carrier, driver, door, drop spot, clip) come from the naming read
//! model (`naming.rs`), asked as the person the message is for, so a
//! message names only what the API would show them.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorman_domain::{
    Event, EventKind, NotificationKind, NotificationSettings, Principal, PropertyId, Resident, ResidentId, UnitId,
    UnixSeconds,
};
use doorman_store::{EntryFilter, MailAttempt, MailMessage, MailState, StoreError};

use crate::naming::EventNames;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Service, ServiceError, ServiceResult};

/// Log entries one fan-out step reads.
const FAN_OUT_BATCH: u32 = 500;
/// Messages one dispatch sends at most.
const SEND_BATCH: u32 = 100;
/// How long a taken message is kept from other senders (longer than an
/// SMTP exchange may take: the transport gives up after 30 s).
const LEASE_S: i64 = 90;
/// Waits before each retry; dead after the last.
const RETRY_S: [i64; 6] = [60, 300, 1800, 3600, 7200, 21_600];
/// Entries older than this when the fan-out reads them are not mailed.
pub const MAIL_MAX_AGE_S: i64 = 24 * 3600;

/// One message, as the SMTP transport needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Without the angle brackets: `<id>@<host>`.
    pub message_id: String,
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// For `List-Unsubscribe` and `List-Unsubscribe-Post:
    /// List-Unsubscribe=One-Click` (RFC 8058); None for mail that is not a
    /// notification (a sign-in link).
    pub unsubscribe_url: Option<String>,
}

/// Sends mail (SMTP lives outside this crate). Ok once the server accepted
/// the message for delivery.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, mail: OutgoingMail) -> Result<(), String>;
}

/// The mail channel, once attached ([`Service::attach_mailer`]).
#[derive(Clone)]
pub(crate) struct Mailer {
    pub transport: Arc<dyn MailTransport>,
    /// Where links in mail point: the dashboard's public URL, no slash at
    /// the end.
    pub link_base: String,
    /// The host part of Message-IDs.
    pub host: String,
}

/// What one dispatch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailReport {
    pub queued: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
    /// Dropped because the person turned the kind off meanwhile.
    pub dropped: usize,
}

/// The choices of a person: stored ones, defaults for the rest.
fn kinds_of(stored: &[(NotificationKind, bool)]) -> Vec<NotificationKind> {
    NotificationKind::ALL
        .into_iter()
        .filter(|k| match stored.iter().find(|(s, _)| s == k) {
            Some((_, on)) => *on,
            None => NotificationKind::DEFAULT.contains(k),
        })
        .collect()
}

/// A plausible address: one `@`, something before it, a dotted domain after,
/// no spaces, at most 254 characters.
pub fn check_email(email: &str) -> ServiceResult<String> {
    let email = email.trim();
    let bad = || ServiceError::invalid("email must be an address like name@example.org");
    if email.is_empty() || email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || email.contains(['<', '>', ',', ';', '"', '(', ')', '[', ']', '\\'])
    {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// `Wed 11 Mar 2026, 14:05 EDT` in `time_zone` (UTC if unknown).
pub(crate) fn local_time(at: UnixSeconds, time_zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else { return at.to_string() };
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%a %-d %b %Y, %H:%M %Z").to_string()
}

// --- unsubscribe tokens ---------------------------------------------------------

const UNSUBSCRIBE_LABEL: &[u8] = b"doorman unsubscribe key v1";
const TOKEN_MAC_LEN: usize = 16;

fn unsubscribe_key(master: &[u8; 32]) -> Vec<u8> {
    // HMAC as a PRF with a label of its own: a key for this purpose only,
    // telling nothing of the master secret.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(master) else { return Vec::new() };
    mac.update(UNSUBSCRIBE_LABEL);
    mac.finalize().into_bytes().to_vec()
}

fn token_mac(key: &[u8], resident: ResidentId, kind: NotificationKind) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return Vec::new() };
    mac.update(resident.as_uuid().as_bytes());
    mac.update(kind.as_str().as_bytes());
    mac.finalize().into_bytes().iter().take(TOKEN_MAC_LEN).copied().collect()
}

/// base64url(resident id ‖ kind index ‖ first 16 bytes of the HMAC).
pub(crate) fn unsubscribe_token(master: &[u8; 32], resident: ResidentId, kind: NotificationKind) -> String {
    let index = NotificationKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    let mut bytes = resident.as_uuid().as_bytes().to_vec();
    bytes.push(u8::try_from(index).unwrap_or(0));
    bytes.extend(token_mac(&unsubscribe_key(master), resident, kind));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The person and kind a token names, if its MAC is right.
pub(crate) fn read_unsubscribe_token(master: &[u8; 32], token: &str) -> Option<(ResidentId, NotificationKind)> {
    if token.len() > 64 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 16 + 1 + TOKEN_MAC_LEN {
        return None;
    }
    let (id, rest) = bytes.split_at(16);
    let (index, mac) = rest.split_first()?;
    let resident = ResidentId::from(uuid::Uuid::from_slice(id).ok()?);
    let kind = *NotificationKind::ALL.get(usize::from(*index))?;
    let mut check = Hmac::<Sha256>::new_from_slice(&unsubscribe_key(master)).ok()?;
    check.update(resident.as_uuid().as_bytes());
    check.update(kind.as_str().as_bytes());
    check.verify_truncated_left(mac).ok()?;
    Some((resident, kind))
}

// --- names ---------------------------------------------------------------------

/// What the naming read model does not say, read through the store and kept
/// for one fan-out batch: a building's time zone and a parcel's tracking
/// number.
#[derive(Default)]
pub(crate) struct Lookups {
    properties: HashMap<PropertyId, (String, String)>,
    parcels: HashMap<uuid::Uuid, String>,
}

impl Lookups {
    /// (name, time zone) of a property.
    async fn property(&mut self, s: &Service, id: Option<PropertyId>) -> ServiceResult<(String, String)> {
        let Some(id) = id else { return Ok(("your building".into(), "UTC".into())) };
        if let Some(found) = self.properties.get(&id) {
            return Ok(found.clone());
        }
        let found = match s.store.get_property(id).await? {
            Some(p) => (p.name, p.time_zone),
            None => ("your building".into(), "UTC".into()),
        };
        self.properties.insert(id, found.clone());
        Ok(found)
    }

    async fn parcel(&mut self, s: &Service, e: &Event) -> ServiceResult<String> {
        let Some(id) = e.delivery_id else { return Ok("your parcel".into()) };
        if let Some(found) = self.parcels.get(&id.as_uuid()) {
            return Ok(found.clone());
        }
        let found = match s.store.get_delivery(id).await? {
            Some(d) => format!("parcel {}", d.tracking_number),
            None => "your parcel".into(),
        };
        self.parcels.insert(id.as_uuid(), found.clone());
        Ok(found)
    }
}

/// Subject and body of a notification.
pub(crate) struct Rendered {
    pub subject: String,
    pub body: String,
}

impl Service {
    /// Turns email on: messages are sent with `transport`, and links in them
    /// start with `link_base` (the dashboard's public URL). Without it, no
    /// mail is made or sent and everything else works.
    pub fn attach_mailer(&self, transport: Arc<dyn MailTransport>, link_base: &str) {
        let link_base = link_base.trim_end_matches('/').to_string();
        let host = url::Url::parse(&link_base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "doorman.invalid".into());
        let _ = self.mailer.set(Mailer { transport, link_base, host });
    }

    pub fn mail_enabled(&self) -> bool {
        self.mailer.get().is_some()
    }

    pub(crate) fn mailer(&self) -> Option<&Mailer> {
        self.mailer.get()
    }

    /// The resident's own address and chosen kinds.
    pub async fn notification_settings(&self, p: &Principal) -> ServiceResult<NotificationSettings> {
        let resident = self.calling_resident(p).await?;
        let stored = self.store.notification_choices(resident.id).await?;
        Ok(NotificationSettings { email: resident.email, kinds: kinds_of(&stored) })
    }

    /// Replaces the resident's address and chosen kinds (every kind not
    /// listed is off).
    pub async fn set_notification_settings(
        &self,
        p: &Principal,
        req: NotificationSettings,
    ) -> ServiceResult<NotificationSettings> {
        let resident = self.calling_resident(p).await?;
        let email = check_email(&req.email)?;
        let choices: Vec<(NotificationKind, bool)> =
            NotificationKind::ALL.into_iter().map(|k| (k, req.kinds.contains(&k))).collect();
        self.store.set_notification_settings(resident.id, Some(&email), &choices, self.now()).await.map_err(
            |e| match e {
                StoreError::NotFound => ServiceError::NotFound("resident"),
                other => other.into(),
            },
        )?;
        Ok(NotificationSettings { email, kinds: kinds_of(&choices) })
    }

    /// The person (their first name) and kind an unsubscribe token names;
    /// NotFound for a token that is not one.
    pub async fn unsubscribe_target(&self, token: &str) -> ServiceResult<(String, NotificationKind)> {
        let (resident, kind) = read_unsubscribe_token(&self.keys().door_code_master, token.trim())
            .ok_or(ServiceError::NotFound("unsubscribe link"))?;
        let person = self.store.get_resident(resident).await?.ok_or(ServiceError::NotFound("unsubscribe link"))?;
        Ok((person.name, kind))
    }

    /// One-click unsubscribe: turns the token's kind off for its person
    /// (and nothing else, whoever sends it). Returns the kind.
    pub async fn unsubscribe(&self, token: &str) -> ServiceResult<NotificationKind> {
        let (resident, kind) = read_unsubscribe_token(&self.keys().door_code_master, token.trim())
            .ok_or(ServiceError::NotFound("unsubscribe link"))?;
        self.store.set_notification_settings(resident, None, &[(kind, false)], self.now()).await.map_err(
            |e| match e {
                StoreError::NotFound => ServiceError::NotFound("unsubscribe link"),
                other => other.into(),
            },
        )?;
        tracing::info!(%resident, kind = kind.as_str(), "unsubscribed");
        Ok(kind)
    }

    /// The calling resident's record (residents only).
    async fn calling_resident(&self, p: &Principal) -> ServiceResult<Resident> {
        let Principal::Resident { resident_id, .. } = p else {
            return Err(ServiceError::Forbidden("only residents have notification settings"));
        };
        match self.store.get_resident(*resident_id).await? {
            Some(r) if r.moved_out_at.is_none() => Ok(r),
            _ => Err(ServiceError::NotFound("resident")),
        }
    }

    /// Fans new log entries out to the mail outbox, then sends what is due.
    /// Does nothing while no mailer is attached.
    pub async fn dispatch_mail(&self) -> ServiceResult<MailReport> {
        let Some(mailer) = self.mailer.get().cloned() else { return Ok(MailReport::default()) };
        let mut report = MailReport::default();
        // Up to the head each step reads, as the webhooks' fan-out does.
        while let Some(step) = self.mail_fan_out(&mailer).await? {
            report.queued += step.made;
            if !step.more {
                break;
            }
        }
        let now = self.now();
        let mut choices: HashMap<ResidentId, Vec<NotificationKind>> = HashMap::new();
        for m in self.store.due_mail(now, SEND_BATCH).await? {
            if !self.store.claim_mail(m.id, m.next_attempt_at, now + LEASE_S).await? {
                continue; // another sender took it
            }
            let wanted = match choices.get(&m.resident_id) {
                Some(kinds) => kinds.contains(&m.kind),
                None => {
                    let kinds = kinds_of(&self.store.notification_choices(m.resident_id).await?);
                    let wanted = kinds.contains(&m.kind);
                    choices.insert(m.resident_id, kinds);
                    wanted
                }
            };
            let at = self.now();
            if !wanted {
                let attempt = MailAttempt {
                    at,
                    error: Some("the person turned this kind off before it was sent".into()),
                    state: MailState::Dead,
                    next_attempt_at: at,
                };
                self.store.finish_mail_attempt(m.id, &attempt).await?;
                report.dropped += 1;
                continue;
            }
            let mail = OutgoingMail {
                message_id: format!("{}@{}", m.id, mailer.host),
                to: m.to_address.clone(),
                subject: m.subject.clone(),
                body: m.body.clone(),
                unsubscribe_url: Some(m.unsubscribe_url.clone()),
            };
            let result = mailer.transport.send(mail).await;
            let at = self.now();
            let attempts = usize::try_from(m.attempts).unwrap_or(usize::MAX).saturating_add(1);
            let attempt = match result {
                Ok(()) => {
                    report.sent += 1;
                    MailAttempt { at, error: None, state: MailState::Sent, next_attempt_at: at }
                }
                Err(e) => {
                    let error = Some(e.chars().take(500).collect::<String>());
                    match RETRY_S.get(attempts - 1) {
                        Some(wait) => {
                            report.retrying += 1;
                            tracing::info!(mail = %m.id, error = %e, "sending mail failed; retrying");
                            MailAttempt { at, error, state: MailState::Pending, next_attempt_at: at + wait }
                        }
                        None => {
                            report.dead += 1;
                            tracing::warn!(mail = %m.id, error = %e, "mail dead after {attempts} tries");
                            MailAttempt { at, error, state: MailState::Dead, next_attempt_at: at }
                        }
                    }
                }
            };
            self.store.finish_mail_attempt(m.id, &attempt).await?;
        }
        Ok(report)
    }

    /// One fan-out step; None when the cursor is at the log's head, was
    /// just started, or another process moved it meanwhile.
    async fn mail_fan_out(&self, mailer: &Mailer) -> ServiceResult<Option<crate::webhooks::FanOutStep>> {
        let head = self.store.log_state().await?.appended;
        let Some(from) = self.store.mail_cursor().await? else {
            // The first time mail is on: from now on, not the past.
            self.store.start_mail_cursor(head).await?;
            return Ok(None);
        };
        if head <= from {
            return Ok(None);
        }
        let everything = EntryFilter { everything: true, ..Default::default() };
        let rows = self.store.log_entries(&everything, from..head, FAN_OUT_BATCH).await?;
        let Some(to) = rows.last().map(|row| row.index + 1) else { return Ok(None) };
        let more = rows.len() >= FAN_OUT_BATCH as usize;
        let now = self.now();
        let mut lookups = Lookups::default();
        let mut people: HashMap<UnitId, Vec<Resident>> = HashMap::new();
        let mut chosen: HashMap<ResidentId, Vec<NotificationKind>> = HashMap::new();
        let mut messages = Vec::new();
        for row in rows {
            let event = match Event::from_bytes(&row.bytes) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(index = row.index, error = %e, "a log entry does not decode; no mail");
                    continue;
                }
            };
            if now - event.at > MAIL_MAX_AGE_S {
                continue;
            }
            for unit in self.units_concerned(&event).await? {
                let Some(kind) = NotificationKind::of_event(&event, unit) else { continue };
                if kind == NotificationKind::GuestEntered && !self.a_guest_of(unit, &event).await? {
                    continue;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = people.entry(unit) {
                    let living: Vec<Resident> = self
                        .store
                        .list_residents(unit)
                        .await?
                        .into_iter()
                        .filter(|r| r.moved_out_at.is_none())
                        .collect();
                    slot.insert(living);
                }
                let residents = people.get(&unit).cloned().unwrap_or_default();
                for resident in residents {
                    // Nobody hears of what happened before they moved in.
                    if event.at < resident.created_at {
                        continue;
                    }
                    if let std::collections::hash_map::Entry::Vacant(slot) = chosen.entry(resident.id) {
                        slot.insert(kinds_of(&self.store.notification_choices(resident.id).await?));
                    }
                    if !chosen.get(&resident.id).is_some_and(|kinds| kinds.contains(&kind)) {
                        continue;
                    }
                    let reader = Principal::Resident { resident_id: resident.id, unit_id: resident.unit_id };
                    let named = self.names_for(&reader, [&event]).await?.of(&event);
                    let rendered = self.render(&mut lookups, &named, &event, kind, mailer).await?;
                    let token = unsubscribe_token(&self.keys().door_code_master, resident.id, kind);
                    let unsubscribe_url = format!("{}/app/unsubscribe/{token}", mailer.link_base);
                    let (building, _) = lookups.property(self, event.property_id).await?;
                    let label = named.unit.clone().unwrap_or_else(|| "your unit".into());
                    let body = format!(
                        "Hello {},\n\n{}\n\n-- \nYou get this email because you chose \"{}\" notifications for {} at \
                         {}.\nStop these emails (one click): {}\nChoose what reaches you: {}/app/resident/preferences\n",
                        resident.name,
                        rendered.body,
                        kind.label(),
                        label,
                        building,
                        unsubscribe_url,
                        mailer.link_base
                    );
                    messages.push(MailMessage {
                        id: uuid::Uuid::new_v4(),
                        event_id: row.index,
                        resident_id: resident.id,
                        kind,
                        to_address: resident.email.clone(),
                        subject: rendered.subject,
                        body,
                        unsubscribe_url,
                        state: MailState::Pending,
                        attempts: 0,
                        next_attempt_at: now,
                        last_error: None,
                        sent_at: None,
                        created_at: now,
                    });
                }
            }
        }
        if self.store.enqueue_mail(from, to, &messages).await? {
            Ok(Some(crate::webhooks::FanOutStep { made: messages.len(), more }))
        } else {
            Ok(None)
        }
    }

    /// The units whose residents an event may concern: its unit; for a
    /// shared door left ajar, every unit of the building.
    async fn units_concerned(&self, event: &Event) -> ServiceResult<Vec<UnitId>> {
        match (event.unit_id, &event.kind, event.property_id) {
            (Some(unit), _, _) => Ok(vec![unit]),
            (None, EventKind::DoorAjar { .. }, Some(property)) => {
                Ok(self.store.list_units(property).await?.into_iter().map(|u| u.id).collect())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Whether a door event of `unit` with no delivery is a guest's: a pass
    /// of the unit, unrevoked then, valid then, opening that lock.
    async fn a_guest_of(&self, unit: UnitId, event: &Event) -> ServiceResult<bool> {
        let (EventKind::DoorOpened { lock_id, .. }, Some(property)) = (&event.kind, event.property_id) else {
            return Ok(false);
        };
        let passes = self.store.guest_passes_valid_between(property, event.at, event.at).await?;
        Ok(passes.iter().any(|p| {
            p.unit_id == unit
                && p.revoked_at.is_none_or(|r| r > event.at)
                && p.doors.iter().any(|d| d.lock_id == *lock_id)
        }))
    }

    /// What a notification says: who, which door, where, when (in the
    /// building's time zone), from the names the reader may know.
    async fn render(
        &self,
        lookups: &mut Lookups,
        n: &EventNames,
        e: &Event,
        kind: NotificationKind,
        mailer: &Mailer,
    ) -> ServiceResult<Rendered> {
        let (building, tz) = lookups.property(self, e.property_id).await?;
        let building = n.building.clone().unwrap_or(building);
        let when = local_time(e.at, &tz);
        let carrier = n.carrier.clone().unwrap_or_else(|| "the carrier".into());
        let driver = n.driver.clone().unwrap_or_else(|| "the driver".into());
        let parcel = lookups.parcel(self, e).await?;
        let door = n.door.as_ref().map_or_else(|| "door".to_string(), |d| d.door.clone());
        let spot = n.drop_spot.clone().unwrap_or_else(|| "the drop spot".into());
        let rendered = match (&e.kind, kind) {
            (EventKind::EtaUpdated { eta }, _) => Rendered {
                subject: format!("{carrier}: your {parcel} arrives around {}", local_time(*eta, &tz)),
                body: format!(
                    "{carrier} expects to deliver your {parcel} to {building} around {}.\n(Updated {when}.)",
                    local_time(*eta, &tz)
                ),
            },
            (EventKind::AccessRequested { .. }, _) => Rendered {
                subject: format!("{driver} of {carrier} is at {building}"),
                body: format!(
                    "{driver}, a driver of {carrier}, is at {building} with your {parcel} and asked to enter ({when})."
                ),
            },
            (EventKind::AccessGranted { .. }, _) => {
                let doors: Vec<&str> = n.doors.iter().map(|d| d.door.as_str()).collect();
                Rendered {
                    subject: format!("{driver} of {carrier} was let in at {building}"),
                    body: format!(
                        "{driver} of {carrier} was let in at {building} ({when}) to leave your {parcel} at {spot}, \
                         through: {}.",
                        doors.join(", ")
                    ),
                }
            }
            (EventKind::AccessRefused { reason, .. }, _) => Rendered {
                subject: format!("{driver} of {carrier} was refused at {building}"),
                body: format!(
                    "{driver} of {carrier} asked to enter {building} with your {parcel} ({when}) and was refused: {}.",
                    reason.explain()
                ),
            },
            (EventKind::DoorOpened { .. }, NotificationKind::GuestEntered) => Rendered {
                subject: format!("Your guest came in: {door} at {building}"),
                body: format!("The {door} at {building} opened for a guest of yours ({when})."),
            },
            (EventKind::DoorOpened { .. }, _) => Rendered {
                subject: format!("{door} opened for {driver} of {carrier}"),
                body: format!(
                    "The {door} at {building} opened for {driver} of {carrier}, delivering your {parcel} ({when})."
                ),
            },
            (EventKind::Delivered { .. }, _) => {
                let clip = n.clip.as_ref().filter(|c| c.viewable).map(|c| {
                    format!("\nThe door camera's clip of the entry: {}/app/clips/{}", mailer.link_base, c.clip_id)
                });
                Rendered {
                    subject: format!("Delivered: your {parcel} is at {spot}"),
                    body: format!(
                        "{driver} of {carrier} left your {parcel} at {spot}, {building} ({when}).{}",
                        clip.unwrap_or_default()
                    ),
                }
            }
            (EventKind::DoorAjar { .. }, _) => Rendered {
                subject: format!("{door} at {building} was left ajar"),
                body: format!("The {door} at {building} has been open since before {when} and was not closed."),
            },
            (other, _) => Rendered {
                subject: format!("doorman: {} at {building}", other.name().replace('_', " ")),
                body: format!("{} at {building} ({when}).", other.name().replace('_', " ")),
            },
        };
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_name_one_person_and_kind_and_cannot_be_forged() {
        let master = [7u8; 32];
        let resident = ResidentId::random();
        for kind in NotificationKind::ALL {
            let token = unsubscribe_token(&master, resident, kind);
            assert_eq!(read_unsubscribe_token(&master, &token), Some((resident, kind)));
            assert_eq!(read_unsubscribe_token(&[8u8; 32], &token), None, "another key");
        }
        let token = unsubscribe_token(&master, resident, NotificationKind::Eta);
        // Another kind or person with the same MAC is refused.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[16] = 1;
        assert_eq!(read_unsubscribe_token(&master, &URL_SAFE_NO_PAD.encode(&bytes)), None);
        bytes[16] = 0;
        bytes[0] ^= 1;
        assert_eq!(read_unsubscribe_token(&master, &URL_SAFE_NO_PAD.encode(&bytes)), None);
        for junk in ["", "AAAA", "!!!!", &"A".repeat(200)] {
            assert_eq!(read_unsubscribe_token(&master, junk), None, "{junk}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        for ok in ["jun@example.org", " Jun.Park+mail@sub.example.co.uk "] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "jun",
            "jun@",
            "@example.org",
            "jun@example",
            "a b@example.org",
            "a@b@example.org",
            "jun@example..org",
            "<jun@example.org>",
            "jun@example.org,eve@example.org",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn choices_fall_back_to_the_defaults() {
        assert_eq!(kinds_of(&[]), NotificationKind::DEFAULT.to_vec());
        let stored = [(NotificationKind::Delivered, false), (NotificationKind::Eta, true)];
        assert_eq!(kinds_of(&stored), vec![NotificationKind::Eta, NotificationKind::DoorAjar]);
    }

    #[test]
    fn times_are_in_the_building_s_zone() {
        assert_eq!(local_time(1_773_252_000, "America/New_York"), "Wed 11 Mar 2026, 14:00 EDT");
        assert_eq!(local_time(1_773_252_000, "Nowhere/Else"), "Wed 11 Mar 2026, 18:00 UTC");
    }
}
