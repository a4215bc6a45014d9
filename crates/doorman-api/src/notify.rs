//! Wire types of the event feed (`GET /v1/events`, the live stream
//! `GET /v1/events/stream`) and of webhooks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use doorman_domain::{Actor, CarrierId, DeliveryId, DriverId, Event, EventKind, PropertyId, UnitId, UnixSeconds};

/// One event as the feed, the live stream and webhooks deliver it: the
/// log entry without its format version and salt, with its log index as
/// `id`. `type` names the kind (the SSE `event:` line), and the kind's own
/// fields sit next to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedEvent {
    /// The log index: unique, increasing, the SSE id, the webhook's
    /// idempotency key.
    pub id: u64,
    pub at: UnixSeconds,
    #[serde(flatten)]
    pub kind: EventKind,
    pub property_id: Option<PropertyId>,
    pub unit_id: Option<UnitId>,
    pub carrier_id: Option<CarrierId>,
    pub driver_id: Option<DriverId>,
    pub delivery_id: Option<DeliveryId>,
    /// Who caused it, when a principal did: by role alone (`{"role":
    /// "resident"}`) in an event carriers or drivers read that a resident or
    /// a manager caused.
    pub actor: Option<Actor>,
}

impl FeedEvent {
    pub fn of(id: u64, e: Event) -> Self {
        Self {
            id,
            at: e.at,
            kind: e.kind,
            property_id: e.property_id,
            unit_id: e.unit_id,
            carrier_id: e.carrier_id,
            driver_id: e.driver_id,
            delivery_id: e.delivery_id,
            actor: e.actor,
        }
    }

    /// The kind's name (`access_granted`, ...).
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
}

/// A page of the caller's events, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<FeedEvent>,
    /// Pass as `after` to read on: the id of the last event of this page,
    /// or the `after` asked with when the page is empty (None if neither).
    pub next_after: Option<u64>,
}

/// Which events to read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger id (log index).
    #[serde(default, deserialize_with = "crate::bounded::opt_index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub after: Option<u64>,
    /// At most this many (default and maximum 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Where the live stream starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventStreamQuery {
    /// Only events with a larger id. The `Last-Event-ID` header, when sent
    /// (a reconnecting EventSource sends it), takes precedence.
    #[serde(default, deserialize_with = "crate::bounded::opt_index")]
    #[param(maximum = 9223372036854775807_f64)]
    pub after: Option<u64>,
    /// Skip the history: start after the newest event that exists now.
    #[serde(default)]
    pub from_now: Option<bool>,
}

// --- webhooks -------------------------------------------------------------------

pub use doorman_domain::{
    PickupPoint, PickupPointId, WebhookDelivery, WebhookDeliveryId, WebhookDeliveryState, WebhookId,
    WebhookSubscription,
};

/// A new webhook: where to POST the caller's events, and which types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://...` (or `http://...`).
    pub url: String,
    /// Event types to send (`access_granted`, ...); omitted or empty: all.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Changes to a webhook; omitted fields stay.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// The webhook and its signing secret (shown this once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: WebhookSubscription,
    /// The HMAC-SHA256 key of the `Doorman-Signature` header (the whole
    /// string, `whsec_` included).
    pub secret: String,
}

/// Which deliveries to list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookDeliveriesQuery {
    /// Only deliveries in this state (`pending`, `delivered`, `dead`).
    #[serde(default)]
    pub state: Option<WebhookDeliveryState>,
    /// At most this many, newest event first (default and maximum 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A pickup point for the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePickupPoint {
    pub name: String,
    pub address: String,
    /// IANA time zone of `hours`.
    pub time_zone: String,
    pub hours: Vec<doorman_domain::WeeklyHours>,
}

/// A return to be collected from the unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleReturn {
    /// The carrier that collects it (enabled at the property).
    pub carrier_id: CarrierId,
    /// Where the return waits (a spot this carrier may use for the unit).
    pub drop_spot_id: doorman_domain::DropSpotId,
    pub window_start: UnixSeconds,
    pub window_end: UnixSeconds,
    /// The carrier's return label, if it has one; otherwise one is made (`RET-…`).
    #[serde(default)]
    pub tracking_number: Option<String>,
}
