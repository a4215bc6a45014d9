//! doorman's test kit: one building seeder for the demo, the benchmarks and
//! the integration tests, so that a building is described once, as data, and
//! made the same way everywhere: through the service's real HTTP API with
//! the typed client, as its people would make it.
//!
//! - [`SiteSpec`] (with [`ManagerSpec`], [`PropertySpec`], [`DoorSpec`],
//!   [`DropSpotSpec`], [`CarrierSpec`], [`ParcelSpec`]): managers and their
//!   properties (units, doors as a tree, locks, drop spots, the tenant
//!   notice, residents by invitation), carriers (enabled with hours and
//!   spots, their drivers with handheld keys, their parcels). Parts refer to
//!   each other by name.
//! - [`seed`] creates it in a fixed order and returns [`Seeded`]: every id,
//!   token, client, handheld key and lock, found by name.
//! - [`places`]: the New York walk-up and the Brooklyn brownstone that the
//!   demo and the tests share.
//! - [`OfflineLock`] and [`Handheld`]: a registered lock and a driver's phone
//!   as the protocol crate models them, to check a granted credential offline
//!   the way a real lock does.
//!
//! It never panics: every failure is a [`KitError`] saying which step failed,
//! so the `doorman` binary (`doorman demo`, `doorman bench`) uses it too.

pub mod lock;
pub mod places;
mod seed;
mod spec;

pub use lock::{trust_from, wire, Handheld, OfflineLock, Outcome};
pub use seed::{invite_resident, seed, Account, Seeded, SeededDriver, SeededLock, SeededProperty, SeededResident};
pub use spec::{
    all_day, weekdays_8_to_8, CarrierSpec, DoorSpec, DriverSpec, DropSpotSpec, EnablementSpec, LockSpec, ManagerSpec,
    ParcelSpec, PropertySpec, ResidentSpec, SiteSpec,
};

/// What goes wrong while seeding or at a simulated lock.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The service refused or failed a call.
    #[error("{step}: {source}")]
    Api {
        /// What the seeder was doing.
        step: String,
        /// The client's error.
        source: doorman_client::ClientError,
    },
    /// The spec (or a caller's lookup) names something that was not seeded.
    #[error("no {what} named {name:?} was seeded")]
    Unknown {
        /// What kind of thing.
        what: &'static str,
        /// The name looked up.
        name: String,
    },
    /// The service answered something other than what the API promises.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A simulated lock could not do its part.
    #[error("simulated lock: {0}")]
    Lock(String),
}
