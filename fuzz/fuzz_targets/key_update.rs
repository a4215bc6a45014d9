#![no_main]
//! Fuzz target: see doorman_protocol::fuzzing::key_update.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = doorman_protocol::fuzzing::key_update(data) {
        panic!("invariant broken: {}", broken.0);
    }
});
