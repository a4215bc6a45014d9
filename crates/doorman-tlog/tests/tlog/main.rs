//! The integration tests of doorman-tlog, in one binary: reference vectors
//! (RFC 6962, C2SP), never-panic properties of every decoder, and
//! properties of proofs, tiles and the witness.

// Tests fail by panicking; the workspace lints that forbid it are for
// library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod c2sp_vectors;
mod decoders;
mod proof_properties;
mod rfc6962_vectors;
mod witness_properties;
