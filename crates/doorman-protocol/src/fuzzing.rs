//! Fuzz bodies, one per decoder: the cargo-fuzz targets in `fuzz/` call them, and so
//! do the proptests, so `cargo test` exercises the same code paths.
//!
//! Each body feeds its input to a decoder twice: as the whole message, and (for signed
//! messages) as the payload of a message correctly signed by the fixture's key, so the
//! fuzzer also reaches the decoding that only happens after a signature checks out.
//! A body returns `Err` when an invariant breaks; the fuzz target turns that into a
//! crash.

extern crate std;

use crate::challenge::{open_challenge, CHALLENGE_AAD};
use crate::cose::encode_sign1;
use crate::credential::MAX_CREDENTIAL_LEN;
use crate::events::{decode_event, EventChainVerifier, EVENT_AAD};
use crate::revocation::{MAX_REVOCATION_BUNDLE_LEN, REVOCATION_AAD};
use crate::trust::{KEY_UPDATE_AAD, MAX_KEY_UPDATE_LEN};
use crate::{
    inspect_credential, DoorCodePolicy, DoorCodeSecret, DoorCodeVerdict, HandheldKey, IssuerSigningKey, KeyUsage,
    LockDeviceKey, LockId, LockState, Nonce, Verdict, VerifyConfig,
};

/// The time every fixture uses.
pub const NOW: u64 = 1_760_000_000;

/// Keys and a lock, the same on every call.
pub struct Fixture {
    /// Trusted for everything.
    pub issuer: IssuerSigningKey,
    /// The lock's device key.
    pub device: LockDeviceKey,
    /// A driver's handheld.
    pub handheld: HandheldKey,
    /// The lock.
    pub state: LockState,
}

/// The fixture lock id.
pub const LOCK: LockId = LockId([0x11; 16]);

/// The fixture, built once per process (key derivation dominates a fuzz run otherwise).
pub fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: std::sync::OnceLock<Option<Fixture>> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_fixture).as_ref()
}

fn build_fixture() -> Option<Fixture> {
    let issuer = IssuerSigningKey::from_ed25519_secret(&[1; 32]);
    let device = LockDeviceKey::from_secret(&[2; 32]);
    let handheld = HandheldKey::from_secret(&[3; 32]).ok()?;
    let state = LockState::new(LOCK, &[issuer.trusted_key(KeyUsage::ALL)], NOW - 3600).ok()?;
    Some(Fixture { issuer, device, handheld, state })
}

/// An invariant broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken(pub &'static str);

type Outcome = Result<(), Broken>;

fn sign_payload<const N: usize>(
    signer: &impl crate::keys::CoseSigner,
    kid: Option<crate::KeyId>,
    aad: &[u8],
    payload: &[u8],
) -> Option<crate::FixedBytes<N>> {
    crate::FixedBytes::<N>::fill_with(|out| encode_sign1(out, signer, kid, aad, payload)).ok()
}

fn split(data: &[u8]) -> (bool, &[u8]) {
    match data.split_first() {
        Some((mode, rest)) => (mode & 1 == 1, rest),
        None => (false, data),
    }
}

/// Credential decoding and issuer authentication; a signed payload then goes through
/// the whole verifier.
pub fn credential(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let mut state = f.state.clone();
    let (signed, body) = split(data);
    if !signed {
        let _ = inspect_credential(body);
        if state.authenticate_credential(body).is_ok() {
            return Err(Broken("unsigned bytes authenticated"));
        }
        return Ok(());
    }
    let kid = Some(f.issuer.key_id());
    let Some(cred) = sign_payload::<MAX_CREDENTIAL_LEN>(&f.issuer, kid, &[], body) else {
        return Ok(());
    };
    let _ = inspect_credential(cred.as_bytes());
    let Ok(pending) = state.new_challenge(Nonce([4; 16]), NOW) else {
        return Err(Broken("challenge"));
    };
    let Ok(presentation) =
        f.handheld.sign_presentation(pending.payload.as_bytes(), pending.challenge.counter, cred.as_bytes())
    else {
        return Ok(());
    };
    let _ = state.verify_presentation(pending, presentation.as_bytes(), NOW, &VerifyConfig::default());
    Ok(())
}

/// Arbitrary presentation bytes against a fresh lock: never granted.
pub fn presentation(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let mut state = f.state.clone();
    let Ok(pending) = state.new_challenge(Nonce([4; 16]), NOW) else {
        return Err(Broken("challenge"));
    };
    let before = state.clone();
    match state.verify_presentation(pending, data, NOW, &VerifyConfig::default()) {
        Verdict::Granted(_) => Err(Broken("granted arbitrary bytes")),
        Verdict::Refused(_) if state != before => Err(Broken("a refusal changed the state")),
        Verdict::Refused(_) => Ok(()),
    }
}

/// Challenge decoding on the handheld.
pub fn challenge(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let (signed, body) = split(data);
    let key = f.device.public_key();
    if signed {
        if let Some(msg) = sign_payload::<256>(f.device.signer(), None, CHALLENGE_AAD, body) {
            let _ = open_challenge(msg.as_bytes(), &key, &LOCK);
        }
    } else if open_challenge(body, &key, &LOCK).is_ok() {
        return Err(Broken("unsigned challenge opened"));
    }
    Ok(())
}

/// Revocation bundle decoding; never applies without a valid signature.
pub fn revocation_bundle(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let mut state = f.state.clone();
    let (signed, body) = split(data);
    let cfg = VerifyConfig::default();
    if signed {
        let kid = Some(f.issuer.key_id());
        if let Some(msg) = sign_payload::<MAX_REVOCATION_BUNDLE_LEN>(&f.issuer, kid, REVOCATION_AAD, body) {
            let _ = state.apply_revocation_bundle(msg.as_bytes(), NOW, &cfg);
        }
    } else if state.apply_revocation_bundle(body, NOW, &cfg).is_ok() {
        return Err(Broken("unsigned bundle applied"));
    }
    Ok(())
}

/// Key update decoding; never applies without a valid signature, never leaves the
/// lock without a key able to sign the next update.
pub fn key_update(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let mut state = f.state.clone();
    let (signed, body) = split(data);
    if signed {
        let kid = Some(f.issuer.key_id());
        if let Some(msg) = sign_payload::<MAX_KEY_UPDATE_LEN>(&f.issuer, kid, KEY_UPDATE_AAD, body) {
            if state.apply_key_update(msg.as_bytes()).is_ok()
                && !state.trust().active_keys().any(|k| k.usage.contains(KeyUsage::KEY_UPDATE))
            {
                return Err(Broken("no key update key left"));
            }
        }
    } else if state.apply_key_update(body).is_ok() {
        return Err(Broken("unsigned key update applied"));
    }
    Ok(())
}

/// Event decoding and chain following on the service side.
pub fn lock_event(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let (signed, body) = split(data);
    let key = f.device.public_key();
    let mut chain = EventChainVerifier::new(key, LOCK);
    if signed {
        if let Some(msg) = sign_payload::<256>(f.device.signer(), None, EVENT_AAD, body) {
            let _ = decode_event(msg.as_bytes(), &key);
            let _ = chain.push(msg.as_bytes());
        }
    } else if decode_event(body, &key).is_ok() || chain.push(body).is_ok() {
        return Err(Broken("unsigned event accepted"));
    }
    Ok(())
}

/// Persisted state decoding: whatever decodes encodes back to the same bytes.
pub fn lock_state(data: &[u8]) -> Outcome {
    if let Ok(state) = LockState::from_bytes(data) {
        if state.to_bytes().as_slice() != data {
            return Err(Broken("state does not round-trip"));
        }
    }
    // Random bytes almost never carry a valid checksum; also try them with one.
    let mut fixed = [0u8; LockState::ENCODED_LEN];
    for (d, s) in fixed.iter_mut().zip(data.iter()) {
        *d = *s;
    }
    let body = LockState::ENCODED_LEN - 8;
    let sum: [u8; 32] =
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(fixed.get(..body).unwrap_or(&[])))
            .into();
    if let Some(dst) = fixed.get_mut(body..) {
        for (d, s) in dst.iter_mut().zip(sum.iter()) {
            *d = *s;
        }
    }
    if let Ok(state) = LockState::from_bytes(&fixed) {
        if state.to_bytes() != fixed {
            return Err(Broken("state does not round-trip"));
        }
    }
    Ok(())
}

/// Keypad input: never accepted unless it is a valid code.
pub fn door_code_entry(data: &[u8]) -> Outcome {
    let Some(f) = fixture() else {
        return Err(Broken("fixture"));
    };
    let mut state = f.state.clone();
    let secret = DoorCodeSecret::from_bytes([5; 32]);
    let policy = DoorCodePolicy::default();
    let keypad = crate::KeypadPolicy::default();
    let mut now = NOW;
    for chunk in data.chunks(9) {
        let verdict = state.check_door_code(&secret, chunk, now, &policy, &keypad);
        if let DoorCodeVerdict::Accepted { slot, index } = verdict {
            let real = crate::door_code(&secret, slot, index, &policy).map(|c| c.ascii());
            let ok = real.is_some_and(|(digits, n)| digits.get(..n) == Some(chunk));
            if !ok {
                return Err(Broken("accepted a wrong code"));
            }
        }
        now += 7;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixture_builds() {
        assert!(fixture().is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fuzz_credential(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(credential(&data), Ok(()));
        }
        #[test]
        fn fuzz_presentation(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            prop_assert_eq!(presentation(&data), Ok(()));
        }
        #[test]
        fn fuzz_challenge(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(challenge(&data), Ok(()));
        }
        #[test]
        fn fuzz_revocation_bundle(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(revocation_bundle(&data), Ok(()));
        }
        #[test]
        fn fuzz_key_update(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(key_update(&data), Ok(()));
        }
        #[test]
        fn fuzz_lock_event(data in proptest::collection::vec(any::<u8>(), 0..260)) {
            prop_assert_eq!(lock_event(&data), Ok(()));
        }
        #[test]
        fn fuzz_lock_state(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(lock_state(&data), Ok(()));
        }
        #[test]
        fn fuzz_door_code_entry(data in proptest::collection::vec(any::<u8>(), 0..90)) {
            prop_assert_eq!(door_code_entry(&data), Ok(()));
        }
    }
}
