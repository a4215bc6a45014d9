#![no_main]
//! Fuzz target: see doorman_protocol::fuzzing::lock_state.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = doorman_protocol::fuzzing::lock_state(data) {
        panic!("invariant broken: {}", broken.0);
    }
});
