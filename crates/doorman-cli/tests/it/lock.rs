//! Locks and handhelds as the protocol crate models them (the test kit's),
//! so tests check a granted credential the way a real lock does: offline,
//! against its own challenge, with the issuer keys it was provisioned with.

pub use doorman_testkit::{trust_from, wire, Handheld, OfflineLock as SimLock, Outcome};
