//! doorman-devices' integration tests: simulated locks, drivers and the in-memory
//! service over the embedded broker, one test binary.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod fleet;
mod kit;
