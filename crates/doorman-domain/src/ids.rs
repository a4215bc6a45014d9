//! Typed identifiers. Every id is a random UUID (v4) so ids reveal neither
//! counts nor order, and a typed wrapper keeps a unit id from being passed
//! where a property id belongs.

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
);
