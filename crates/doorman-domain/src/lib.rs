//! doorman's domain: properties, doors, carriers, drivers, deliveries, and the
//! access policy that decides whether a driver who scanned a parcel may enter.
//!
//! This crate is pure: it knows nothing of HTTP, SQL, MQTT or the wall clock.
//! Time arrives as unix seconds from a [`Clock`] the caller owns, so tests
//! control it. The storage layer persists these types; the service layer feeds
//! them to [`policy::decide_access`] and acts on the verdict.

pub mod clock;
pub mod delivery;
pub mod event;
pub mod geo;
pub mod hours;
pub mod ids;
pub mod mail;
pub mod model;
pub mod notify;
pub mod policy;
pub mod principal;
pub mod serde_b64;

pub use clock::{Clock, ManualClock, UnixSeconds};
pub use delivery::{DeliveryKind, DeliveryState, IllegalTransition};
pub use event::{Event, EventKind, Viewer, EVENT_FORMAT_VERSION, EVENT_TYPES};
pub use geo::GeoPoint;
pub use hours::{HoursError, WeeklyHours};
pub use ids::*;
pub use mail::{NotificationKind, NotificationSettings};
pub use model::*;
pub use notify::*;
pub use policy::{decide_access, AccessFacts, AccessPlan, DoorStep, RefusalReason, TrunkFacts};
pub use principal::{Actor, HiddenRole, Principal, Role, RoleOnly};
