//! Property tests: the verifier against a model of its rules, mutated presentations,
//! and the replay window against a model.

use std::collections::BTreeMap;

use doorman_protocol::*;
use proptest::prelude::*;

use crate::common::*;

#[derive(Debug, Clone)]
struct Case {
    right_lock: bool,
    nbf_offset: i64,
    lifetime: u64,
    now_offset: i64,
    epoch: u64,
    lock_epoch: u64,
    revoked: bool,
    earlier_sequence: u64,
    sequence: u64,
    max_uses: u8,
    right_handheld: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<bool>(), -4000i64..2000, 1u64..5000, -600i64..4000),
        (0u64..3, 0u64..3, prop::bool::weighted(0.2)),
        (1u64..400, 1u64..400, 1u8..3, prop::bool::weighted(0.9)),
    )
        .prop_map(|(a, b, c)| Case {
            right_lock: a.0,
            nbf_offset: a.1,
            lifetime: a.2,
            now_offset: a.3,
            epoch: b.0,
            lock_epoch: b.1,
            revoked: b.2,
            earlier_sequence: c.0,
            sequence: c.1,
            max_uses: c.2,
            right_handheld: c.3,
        })
}

/// What the rules say, in their order.
fn model(c: &Case, cfg: &VerifyConfig) -> Result<(), Refusal> {
    let now = NOW.saturating_add_signed(c.now_offset);
    let nbf = NOW.saturating_add_signed(c.nbf_offset);
    let exp = nbf + c.lifetime;
    if !c.right_lock {
        return Err(Refusal::WrongAudience);
    }
    if c.lifetime > cfg.max_credential_lifetime_secs {
        return Err(Refusal::LifetimeTooLong);
    }
    // The earlier grant at NOW set the floor to NOW.
    if now < NOW {
        return Err(Refusal::ClockBelowFloor);
    }
    if now + cfg.clock_skew_secs < nbf {
        return Err(Refusal::NotYetValid);
    }
    if now >= exp + cfg.clock_skew_secs {
        return Err(Refusal::Expired);
    }
    if c.epoch < c.lock_epoch {
        return Err(Refusal::EpochRevoked);
    }
    if c.revoked {
        return Err(Refusal::Revoked);
    }
    if c.sequence < c.earlier_sequence && c.earlier_sequence - c.sequence >= REPLAY_WINDOW as u64 {
        return Err(Refusal::ReplayTooOld);
    }
    if c.sequence == c.earlier_sequence && c.max_uses <= 1 {
        return Err(Refusal::Replayed);
    }
    if !c.right_handheld {
        return Err(Refusal::BadPossessionProof);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_verifier_follows_its_rules_in_order(c in case()) {
        let mut w = World::new();
        // An earlier delivery at NOW: sets the replay window and the time floor.
        let earlier = w.credential(&CredentialClaims { credential_id: CredentialId([0xee; 16]), ..w.claims(c.earlier_sequence) });
        granted(w.attempt(earlier.as_bytes(), NOW));

        let nbf = NOW.saturating_add_signed(c.nbf_offset);
        let claims = CredentialClaims {
            lock_id: if c.right_lock { LOCK } else { OTHER_LOCK },
            not_before: nbf,
            issued_at: nbf,
            expires_at: nbf + c.lifetime,
            revocation_epoch: c.epoch,
            lock_sequence: c.sequence,
            max_uses: c.max_uses,
            credential_id: CredentialId([0x5a; 16]),
            ..w.claims(1)
        };
        let cred = w.credential(&claims);
        let revoked: Vec<_> = if c.revoked {
            vec![RevokedEntry { credential_id: claims.credential_id, expires_at: claims.expires_at }]
        } else {
            vec![]
        };
        let bundle = w.revocation_bundle(1, c.lock_epoch, &revoked);
        w.lock.apply_revocation_bundle(bundle.as_bytes(), NOW, &w.cfg).unwrap();

        let now = NOW.saturating_add_signed(c.now_offset);
        let (pending, opened) = w.challenge(now);
        let signer = if c.right_handheld { HandheldKey::from_secret(&[0x04; 32]).unwrap() } else { HandheldKey::from_secret(&[0x44; 32]).unwrap() };
        let p = signer.sign_presentation(opened.payload(), opened.challenge().counter, cred.as_bytes()).unwrap();
        let before = w.lock.clone();
        let verdict = w.lock.verify_presentation(pending, p.as_bytes(), now, &w.cfg);
        let expected = model(&c, &w.cfg);
        match (verdict, expected) {
            (Verdict::Granted(g), Ok(())) => {
                prop_assert_eq!(g.lock_sequence, c.sequence);
                prop_assert!(w.lock.replay().uses(c.sequence).unwrap() >= 1);
            }
            (Verdict::Refused(r), Err(e)) => {
                prop_assert_eq!(r, e);
                prop_assert_eq!(&w.lock, &before);
            }
            (v, e) => prop_assert!(false, "verdict {:?}, model {:?} for {:?}", v, e, c),
        }
    }

    #[test]
    fn mutated_presentations_are_never_granted(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        extra in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let mut w = World::new();
        let cred = w.credential(&w.claims(1));
        let snapshot = w.lock.clone();
        let nonce = Nonce([0x31; 16]);
        let (_, signed) = w.lock.issue_challenge(&w.device, nonce, NOW).unwrap();
        let opened = open_challenge(signed.as_bytes(), &w.device.public_key(), &LOCK).unwrap();
        let good = w.handheld.present(&opened, cred.as_bytes()).unwrap().as_bytes().to_vec();

        let mut bad = good.clone();
        for (i, v) in &edits {
            let i = i.index(bad.len());
            bad[i] = *v;
        }
        if let Some(cut) = cut {
            bad.truncate(cut.index(bad.len()));
        }
        bad.extend_from_slice(&extra);
        let mut lock = snapshot.clone();
        let pending = lock.new_challenge(nonce, NOW).unwrap();
        let verdict = lock.verify_presentation(pending, &bad, NOW, &w.cfg);
        if bad == good {
            prop_assert!(verdict.granted().is_some());
        } else {
            prop_assert!(verdict.refusal().is_some(), "granted a mutated presentation");
            prop_assert_eq!(lock.replay(), snapshot.replay());
        }
    }

    #[test]
    fn the_replay_window_matches_its_model(ops in prop::collection::vec(1u64..600, 1..300)) {
        let mut window = ReplayWindow::default();
        let mut uses: BTreeMap<u64, u8> = BTreeMap::new();
        let mut highest = 0u64;
        for seq in ops {
            // A credential's max_uses is fixed; derive it from the number.
            let max_uses = (seq % 3) as u8 + 1;
            let expected = if seq + REPLAY_WINDOW as u64 <= highest {
                Err(replay::ReplayError::TooOld)
            } else {
                let used = uses.get(&seq).copied().unwrap_or(0);
                if used >= max_uses { Err(replay::ReplayError::Used) } else { Ok(used + 1) }
            };
            prop_assert_eq!(window.check(seq, max_uses), expected);
            if expected.is_ok() {
                window.record(seq);
                *uses.entry(seq).or_insert(0) += 1;
                highest = highest.max(seq);
            }
            prop_assert_eq!(window.highest(), highest);
            // Never more uses than allowed, for any number still in the window.
            for (s, n) in &uses {
                prop_assert!(*n <= (s % 3) as u8 + 1);
            }
        }
    }

    #[test]
    fn the_replay_window_never_accepts_an_old_number_twice(ops in prop::collection::vec(1u64..100_000, 1..200)) {
        let mut window = ReplayWindow::default();
        let mut accepted = std::collections::BTreeSet::new();
        for seq in ops {
            if window.check(seq, 1).is_ok() {
                prop_assert!(accepted.insert(seq), "{} accepted twice", seq);
                window.record(seq);
            }
        }
    }

    #[test]
    fn persisted_state_round_trips_through_use(seqs in prop::collection::vec(1u64..300, 0..6)) {
        let mut w = World::new();
        for s in seqs {
            let cred = w.credential(&w.claims(s));
            let _ = w.attempt(cred.as_bytes(), NOW);
            w.lock = LockState::from_bytes(&w.lock.to_bytes()).unwrap();
        }
    }
}
