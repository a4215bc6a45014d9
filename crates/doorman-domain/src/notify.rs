//! Webhook subscriptions and their deliveries (the outbox), and the
//! directory of pickup points.

use serde::{Deserialize, Serialize};

use crate::{EventKind, PickupPointId, Principal, UnixSeconds, WebhookDeliveryId, WebhookId, WeeklyHours};

/// Where a principal wants their events POSTed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSubscription {
    pub id: WebhookId,
    /// Whose events: exactly what this principal may see, nothing more.
    pub owner: Principal,
    /// `https://...` (or `http://`) receiver.
    pub url: String,
    /// The event types sent (`access_granted`, ...); empty: every type.
    pub events: Vec<String>,
    /// A paused subscription queues nothing new.
    pub active: bool,
    pub created_at: UnixSeconds,
    /// Only events with a larger log index are sent (the log's head when
    /// the subscription was made).
    pub after_index: Option<u64>,
}

impl WebhookSubscription {
    pub fn wants(&self, kind: &EventKind) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == kind.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; only a re-send tries again.
    Dead,
}

impl WebhookDeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One event to send to one subscription: a row of the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub subscription_id: WebhookId,
    /// The event's id (log index): the receiver's idempotency key.
    pub event_id: u64,
    pub event_type: String,
    pub state: WebhookDeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: UnixSeconds,
    pub last_attempt_at: Option<UnixSeconds>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<UnixSeconds>,
    pub created_at: UnixSeconds,
}

/// A shop or locker that holds parcels for residents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickupPoint {
    pub id: PickupPointId,
    pub name: String,
    pub address: String,
    /// IANA time zone of `hours`.
    pub time_zone: String,
    /// When parcels can be collected.
    pub hours: Vec<WeeklyHours>,
    pub created_at: UnixSeconds,
}
