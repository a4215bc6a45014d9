//! The lock core's memory and flash budget, as a lock maker would plan it.
//! Run with `--nocapture` to see the table.

use doorman_lock::*;
use doorman_protocol::*;

use crate::fixture::*;

const PERSISTENT_BUDGET: usize = 4 * 1024;
const MEMORY_BUDGET: usize = 16 * 1024;

#[test]
fn the_lock_fits_its_budget() {
    let mut w = World::new();
    // Fill the ring: entries first, then inside releases up to the last free slot.
    let mut now = NOW;
    for i in 1..=4u8 {
        now += 1;
        let c = w.credential(i);
        assert!(w.enter(&c, now).decision.entry().is_some());
    }
    while w.lock.health(now).unacked_events < EVENT_RING_CAPACITY - 1 {
        now += 1;
        w.lock.door_opened(now).unwrap();
        w.lock.door_closed(now).unwrap();
    }
    let longest = w.lock.events_after(0).map(|(_, b)| b.len()).max().unwrap();
    let snapshot = w.storage.snapshot().unwrap().len();

    let memory_file = std::mem::size_of::<Lock<FileStorage>>();
    let memory_mem = std::mem::size_of::<Lock<MemoryStorage>>();
    let ring = std::mem::size_of::<EventRing>();
    let protocol_state = std::mem::size_of::<LockState>();

    println!("doorman lock core budget");
    println!("  persistent state (protocol LockState)      {:>6} B", LockState::ENCODED_LEN);
    println!("  persistent state (with the lock's header)  {:>6} B  (target <= {PERSISTENT_BUDGET})", STATE_LEN);
    println!(
        "  event log at most ({EVENT_RING_CAPACITY} events x {} B)     {:>6} B",
        2 + events::MAX_EVENT_LEN,
        MAX_SNAPSHOT_LEN - STATE_LEN
    );
    println!("  snapshot with a full ring, measured        {:>6} B  (longest event {longest} B)", snapshot);
    println!("  in memory: Lock<FileStorage>, full ring    {:>6} B  (target <= {MEMORY_BUDGET})", memory_file);
    println!("  in memory: of which the event ring         {:>6} B", ring);
    println!("  in memory: of which the protocol state     {:>6} B", protocol_state);
    println!("  in memory: Lock<MemoryStorage>             {:>6} B", memory_mem);

    const { assert!(STATE_LEN <= PERSISTENT_BUDGET) };
    assert!(memory_file <= MEMORY_BUDGET);
    assert!(snapshot <= MAX_SNAPSHOT_LEN);
    // The ring is part of the value: a full ring takes no more memory than an empty one.
    assert_eq!(w.lock.health(now).unacked_events, EVENT_RING_CAPACITY - 1);
}
