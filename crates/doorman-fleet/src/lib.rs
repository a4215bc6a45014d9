//! The MQTT channel between doorman and its lock fleets.
//!
//! - [`topics`]: one topic tree per lock (`doorman/locks/{lock}/events | health |
//!   requests | commands/{kind}`) and the [`Acl`] each account gets: a lock reads and
//!   writes only its own topics; a service account reads every lock's uplink and
//!   writes every lock's commands.
//! - [`messages`]: what travels: protocol messages verbatim (signed events, revocation
//!   bundles, key updates, time statements), small JSON for the rest.
//! - [`accounts`]: per-lock credentials (username = lock id, password = 256-bit random
//!   secret), stored only as Mosquitto-compatible `$7$` hashes; the [`Accounts`]
//!   lookup the broker uses.
//! - [`broker`]: [`EmbeddedBroker`], rumqttd behind an authorizing layer that enforces
//!   the ACLs (rumqttd authenticates but has no topic ACLs); `doorman serve` starts one
//!   by default on a configurable port.
//! - [`mosquitto`]: password, ACL and configuration files to run the same rules on
//!   Mosquitto.
//! - [`LockLink`]: a lock's session; [`FleetBridge`] + [`FleetHandle`]: the service's,
//!   handing what locks send to a [`FleetService`] (the seam the service implements)
//!   and pushing bundles, key updates, time statements and remote unlocks. Both run
//!   one long-lived event loop with backoff after errors and re-subscribe on every
//!   CONNACK.
//!
//! Reliability is end to end: sessions are clean, the lock keeps every event until the
//! service acknowledges it (an application-level ack on `commands/ack`, retained) and
//! re-sends the unacknowledged ones on every connection; the service stores each event
//! once by (lock, counter) ([`intake_event`]). Bundles, key updates and the ack are
//! retained, so a lock that was offline gets the latest on reconnecting; a remote
//! unlock is never retained.
//!
//! Nothing here reads the wall clock; waits use tokio's timer, random values come from
//! the caller's RNG.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
mod bridge;
pub mod broker;
mod device;
pub mod messages;
pub mod mosquitto;
mod session;
pub mod topics;

pub use accounts::{Accounts, MqttCredentials, PasswordHash, Principal, Secret, StaticAccounts};
pub use bridge::{intake_event, EventReceipt, FleetBridge, FleetHandle, FleetService, Intake};
pub use broker::{BrokerConfig, EmbeddedBroker};
pub use device::{LinkEvent, LockLink, LockPublisher};
pub use messages::{Downlink, LockHealth, LockRequest, Message, Uplink};
pub use mosquitto::{MosquittoFiles, MosquittoPaths};
pub use session::{MqttEndpoint, SessionOptions};
pub use topics::{lock_name, parse_lock_name, Acl, Channel, DownlinkKind, TopicScheme, UplinkKind};

/// What can go wrong on the fleet channel.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A setting is not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// A message could not be read.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A peer broke the MQTT protocol.
    #[error("MQTT protocol: {0}")]
    Protocol(String),
    /// Input/output failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The request queue is full (the connection has been down a while).
    #[error("the MQTT request queue is full")]
    Busy,
    /// The embedded broker failed.
    #[error("broker: {0}")]
    Broker(String),
    /// The MQTT client stopped.
    #[error("the MQTT client stopped")]
    Closed,
}

impl FleetError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> FleetError {
        move |source| FleetError::Io { what, source }
    }
}
