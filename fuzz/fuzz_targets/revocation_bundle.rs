#![no_main]
//! Fuzz target: see doorman_protocol::fuzzing::revocation_bundle.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = doorman_protocol::fuzzing::revocation_bundle(data) {
        panic!("invariant broken: {}", broken.0);
    }
});
