//! All integration tests of doorman-protocol, in one test binary.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
mod doorcodes;
mod events;
mod props;
mod refusals;
mod state;
mod vectors;
