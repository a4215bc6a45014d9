#![no_main]
//! Fuzz target: see doorman_protocol::fuzzing::lock_event.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = doorman_protocol::fuzzing::lock_event(data) {
        panic!("invariant broken: {}", broken.0);
    }
});
