//! Power cuts, crashes, failed writes, corrupted storage.

use doorman_lock::*;
use doorman_protocol::*;
use rand_core::OsRng;

use crate::fixture::*;

#[test]
fn killed_mid_delivery_and_restarted_the_lock_has_lost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path().join("lock.state"));
    let mut w = World::with(storage, config());
    let cred = w.credential(1);
    assert!(w.enter(&cred, NOW).decision.entry().is_some());
    w.lock.door_opened(NOW + 1).unwrap();
    let head_before = w.lock.event_head();
    let (_, before) = w.upload(ChainHead::GENESIS);

    // SIGKILL: the process is gone between two operations; only the file remains.
    w.reboot();
    assert_eq!(w.lock.event_head(), head_before);
    assert_eq!(w.lock.bolt(), BoltState::Locked, "a restarted lock starts thrown");
    assert_eq!(w.refusal(&cred, NOW + 2), Some(LockRefusal::Credential(Refusal::Replayed)));
    // The counter continues and the chain is unbroken across the restart.
    let (head, after) = w.upload(ChainHead::GENESIS);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().unwrap().counter, head_before.counter + 1);
    assert_eq!(head.counter, head_before.counter + 1);
    // The next delivery still works.
    let next = w.credential(2);
    assert!(w.enter(&next, NOW + 3).decision.entry().is_some());
}

#[test]
fn the_bolt_never_moves_when_the_write_fails() {
    let mut w = World::new();
    let cred = w.credential(1);
    w.storage.fail_writes(true);
    let signed = w.lock.challenge(&mut OsRng, NOW).unwrap();
    let opened = open_challenge(signed.as_bytes(), &device_public(), &LOCK).unwrap();
    let p = w.handheld.present(&opened, cred.as_bytes()).unwrap();
    assert!(matches!(w.lock.present(p.as_bytes(), NOW), Err(LockError::Storage(_))));
    assert_eq!(w.lock.bolt(), BoltState::Locked);
    // Faulted until reopened: nothing else happens on a state that was not persisted.
    assert!(matches!(w.lock.challenge(&mut OsRng, NOW), Err(LockError::Faulted)));
    assert!(matches!(w.lock.door_opened(NOW), Err(LockError::Faulted)));
    // Reopened from the last good snapshot: the grant never happened, so the driver
    // can try again.
    w.storage.fail_writes(false);
    w.reboot();
    assert!(w.enter(&cred, NOW + 1).decision.entry().is_some());
}

#[test]
fn a_corrupted_or_foreign_snapshot_is_refused() {
    let w = World::new();
    let mut bytes = w.storage.snapshot().unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let corrupted = MemoryStorage::new();
    use doorman_lock::LockStorage as _;
    corrupted.clone().store(&[&bytes]).unwrap();
    assert!(matches!(Lock::open(identity(), config(), corrupted), Err(LockError::Corrupt(_))));
    // Another device key cannot take over this lock's state.
    let other = LockIdentity { device: LockDeviceKey::from_secret(&[1; 32]), ..identity() };
    assert!(Lock::open(other, config(), w.storage.clone()).is_err());
    // Nothing stored.
    assert!(matches!(Lock::open(identity(), config(), MemoryStorage::new()), Err(LockError::NotProvisioned)));
}

#[test]
fn a_snapshot_with_a_dropped_event_is_refused() {
    // Rebuild the snapshot with the last event missing: the chain no longer ends at the
    // state's head.
    let mut w = World::new();
    let cred = w.credential(1);
    w.enter(&cred, NOW);
    let bytes = w.storage.snapshot().unwrap();
    let count_at = 4 + 1 + 8 + 8 + 4 + 4;
    let count = u16::from_be_bytes([bytes[count_at], bytes[count_at + 1]]) as usize;
    let mut pos = count_at + 2 + LockState::ENCODED_LEN;
    for _ in 0..count - 1 {
        let len = u16::from_be_bytes([bytes[pos], bytes[pos + 1]]) as usize;
        pos += 2 + len;
    }
    let mut truncated = bytes[..pos].to_vec();
    truncated[count_at..count_at + 2].copy_from_slice(&((count - 1) as u16).to_be_bytes());
    // An attacker with access to the flash can recompute the checksum.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&truncated);
    truncated.extend_from_slice(&digest[..8]);
    let s = MemoryStorage::new();
    use doorman_lock::LockStorage as _;
    s.clone().store(&[&truncated]).unwrap();
    assert!(matches!(Lock::open(identity(), config(), s), Err(LockError::Corrupt(_))));
}
