//! The lock's side of doorman-protocol behind a C ABI, built with no `std` and no
//! allocator. Every buffer is fixed-size and lives on the stack or in the caller.
#![no_std]

use core::panic::PanicInfo;

use doorman_protocol::{
    DoorCodePolicy, DoorCodeSecret, DoorCodeVerdict, EventKind, EventRecord, KeypadPolicy, LockDeviceKey, LockState,
    Nonce, Verdict, VerifyConfig,
};

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    // A lock would reset here; the protocol crate is written so that it never gets here.
    loop {}
}

/// Copies `len` bytes at `ptr` into a slice (empty on a null pointer).
///
/// # Safety
/// `ptr` must be valid for `len` bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() {
        &[]
    } else {
        core::slice::from_raw_parts(ptr, len)
    }
}

/// Loads the persisted state, makes a challenge, verifies `presentation` against it,
/// records the outcome as a signed event and writes the state back.
///
/// Returns 0 when granted, the refusal code (1..) when refused, -1 on bad state.
///
/// # Safety
/// Pointers must be valid for their lengths; `state` for `LockState::ENCODED_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn doorman_lock_verify(
    state: *mut u8,
    device_secret: *const u8,
    nonce: *const u8,
    presentation: *const u8,
    presentation_len: usize,
    now: u64,
) -> i32 {
    let state_bytes = core::slice::from_raw_parts_mut(state, LockState::ENCODED_LEN);
    let Ok(mut lock) = LockState::from_bytes(state_bytes) else {
        return -1;
    };
    let Ok(secret) = <[u8; 32]>::try_from(bytes(device_secret, 32)) else {
        return -1;
    };
    let Ok(nonce) = <[u8; 16]>::try_from(bytes(nonce, 16)) else {
        return -1;
    };
    let device = LockDeviceKey::from_secret(&secret);
    let Ok((pending, _signed)) = lock.issue_challenge(&device, Nonce(nonce), now) else {
        return -1;
    };
    let verdict =
        lock.verify_presentation(pending, bytes(presentation, presentation_len), now, &VerifyConfig::default());
    let (code, record) = match verdict {
        Verdict::Granted(g) => (
            0,
            EventRecord {
                credential_id: Some(g.credential_id),
                delivery_hash: Some(g.delivery_hash),
                value: u64::from(g.use_number),
                ..EventRecord::new(EventKind::AccessGranted)
            },
        ),
        Verdict::Refused(r) => (
            i32::from(r.code()),
            EventRecord { value: u64::from(r.code()), ..EventRecord::new(EventKind::AccessRefused) },
        ),
    };
    if lock.record_event(&device, &record, now).is_err() {
        return -1;
    }
    state_bytes.copy_from_slice(&lock.to_bytes());
    code
}

/// Applies a revocation bundle; 0 on success, 1 when refused, -1 on bad state.
///
/// # Safety
/// Pointers must be valid for their lengths; `state` for `LockState::ENCODED_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn doorman_lock_apply_revocation(
    state: *mut u8,
    bundle: *const u8,
    bundle_len: usize,
    now: u64,
) -> i32 {
    let state_bytes = core::slice::from_raw_parts_mut(state, LockState::ENCODED_LEN);
    let Ok(mut lock) = LockState::from_bytes(state_bytes) else {
        return -1;
    };
    let cfg = VerifyConfig::default();
    let applied = lock.apply_revocation_bundle(bytes(bundle, bundle_len), now, &cfg);
    let key_update = lock.apply_key_update(bytes(bundle, bundle_len));
    state_bytes.copy_from_slice(&lock.to_bytes());
    i32::from(applied.is_err() && key_update.is_err())
}

/// Checks a keypad entry; 0 when accepted, 1 when refused, -1 on bad state.
///
/// # Safety
/// Pointers must be valid for their lengths; `state` for `LockState::ENCODED_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn doorman_lock_door_code(
    state: *mut u8,
    secret: *const u8,
    entered: *const u8,
    entered_len: usize,
    now: u64,
) -> i32 {
    let state_bytes = core::slice::from_raw_parts_mut(state, LockState::ENCODED_LEN);
    let Ok(mut lock) = LockState::from_bytes(state_bytes) else {
        return -1;
    };
    let Ok(secret) = <[u8; 32]>::try_from(bytes(secret, 32)) else {
        return -1;
    };
    let verdict = lock.check_door_code(
        &DoorCodeSecret::from_bytes(secret),
        bytes(entered, entered_len),
        now,
        &DoorCodePolicy::default(),
        &KeypadPolicy::default(),
    );
    state_bytes.copy_from_slice(&lock.to_bytes());
    i32::from(!matches!(verdict, DoorCodeVerdict::Accepted { .. }))
}
