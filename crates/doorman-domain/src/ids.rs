//! Typed identifiers. An id is a random UUID (v4), revealing neither counts
//! nor order, and a typed wrapper keeps a unit id from being passed where a
//! property id belongs.
//!
//! The records the access path writes by the thousand (deliveries, access
//! requests, grants) take time-ordered ids instead ([`AccessRequestId::at`]:
//! UUIDv7 from the injected clock's second, then a counter, then random
//! bits). Their rows then go to the right-hand end of every index keyed by
//! them, so a group commit rewrites a few index pages rather than one page
//! per row. Such an id tells its record's creation second, which the record
//! itself shows to everyone who may see the id; it still cannot be guessed.

/// Keeps time-ordered ids increasing within a second and across threads.
static V7_CONTEXT: std::sync::Mutex<uuid::ContextV7> = std::sync::Mutex::new(uuid::ContextV7::new());

/// A UUIDv7 for `at` (seconds since the Unix epoch, from the caller's clock).
fn time_ordered(at: i64) -> uuid::Uuid {
    let seconds = u64::try_from(at).unwrap_or(0);
    let context = V7_CONTEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&*context, seconds, 0))
}

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }
            /// A time-ordered id for a record created at `now` (see the module docs).
            pub fn at(now: crate::UnixSeconds) -> Self {
                Self(time_ordered(now))
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

typed_id!(
    ManagerId,
    CarrierId,
    PropertyId,
    UnitId,
    AccessPointId,
    LockId,
    DropSpotId,
    ResidentId,
    InvitationId,
    DriverId,
    DeliveryId,
    GrantId,
    AccessRequestId,
    TokenId,
    WebhookId,
    WebhookDeliveryId,
    PickupPointId,
    ClipId,
    VehicleId,
    GuestPassId,
    PasskeyId,
);
