//! Simulated doorman devices: locks you can run as a process, the driver's handheld,
//! and an in-memory fleet service to run them against.
//!
//! - [`SimLock`]: one lock ([`doorman_lock::Lock`] on a state file written atomically)
//!   with a door sensor, a camera that heartbeats and records a clip for every
//!   non-resident entry (or is jammed), and a battery.
//! - [`LockServer`]: the locks' local endpoint, JSON lines over loopback TCP (see
//!   [`endpoint`] for the requests): where a handheld gets a challenge, presents a
//!   credential or types a code, opens and closes the door, relays a revocation bundle
//!   or collects the signed events.
//! - [`spawn_agent`]: a lock's MQTT agent (its side of `doorman-fleet`); without one
//!   the lock works offline and keeps its events.
//! - [`RunningLocks`]: all of it for a set of [`LockBundle`]s, as `doorman lock run`
//!   starts it.
//! - [`Handheld`] and [`LockEndpoint`]: the driver's side: enter (challenge, check the
//!   lock's signature, present), walk through, carry a bundle in and events out.
//! - [`InMemoryFleet`]: a [`doorman_fleet::FleetService`] without a database (issues
//!   credentials, bundles, time statements, answers remote unlocks, stores events once).
//!
//! Time comes from an injected [`doorman_domain::Clock`]; the simulated hardware's
//! randomness (challenge nonces, keys) from the OS.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
pub mod endpoint;
mod fleet_memory;
mod handheld;
mod provisioning;
mod runner;
mod sim_lock;

pub use agent::{spawn_agent, AgentOptions};
pub use endpoint::{DecisionJson, EndpointReply, EndpointRequest, HostedLock, LockServer};
pub use fleet_memory::{InMemoryFleet, IssuedCredential};
pub use handheld::{Handheld, LockEndpoint};
pub use provisioning::{AnchorJson, LockBundle, MqttJson};
pub use runner::{RunOptions, RunningLocks};
pub use sim_lock::{RecordedClip, SimLock};

/// What goes wrong with a simulated device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The lock core failed.
    #[error(transparent)]
    Lock(#[from] doorman_lock::LockError),
    /// The fleet channel failed.
    #[error(transparent)]
    Fleet(#[from] doorman_fleet::FleetError),
    /// A provisioning bundle is not usable.
    #[error("provisioning bundle: {0}")]
    Bundle(String),
    /// A request is not understood.
    #[error("bad request: {0}")]
    Request(String),
    /// The other side said no.
    #[error("refused: {0}")]
    Refused(String),
    /// Input/output failed.
    #[error("{0}")]
    Io(String),
    /// Waited too long.
    #[error("timed out")]
    Timeout,
    /// A lock's mutex was poisoned by a panic.
    #[error("internal state poisoned")]
    Poisoned,
}
