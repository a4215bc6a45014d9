//! The witness as a state machine, driven by random sequences of honest,
//! stale and forked submissions: what it cosigns never shrinks and always
//! lies on one history.

use doorman_tlog::{
    AddCheckpointRequest, Checkpoint, Cosigner, MemoryTree, NoteSigner, TreeHead, Witness, WitnessError,
};
use proptest::prelude::*;

const ORIGIN: &str = "doorman.example/audit";

#[derive(Debug, Clone)]
enum Step {
    /// Append entries to the honest log.
    GrowHonest(u8),
    /// Append entries to the fork (which shares the honest log's first
    /// `divergence` entries).
    GrowFork(u8),
    /// Submit the honest head, from the witness's size or a guessed one.
    SubmitHonest { truthful_old: bool, guess: u16 },
    /// Submit the forked head.
    SubmitFork { truthful_old: bool, guess: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u8..20).prop_map(Step::GrowHonest),
        (1u8..20).prop_map(Step::GrowFork),
        (any::<bool>(), any::<u16>()).prop_map(|(truthful_old, guess)| Step::SubmitHonest { truthful_old, guess }),
        (any::<bool>(), any::<u16>()).prop_map(|(truthful_old, guess)| Step::SubmitFork { truthful_old, guess }),
    ]
}

fn request(log: &NoteSigner, tree: &MemoryTree, old_size: u64) -> AddCheckpointRequest {
    let size = tree.size();
    let proof = tree.consistency_proof(old_size.min(size), size).map(|proof| proof.path).unwrap_or_default();
    let checkpoint = Checkpoint::new(ORIGIN, size, tree.root()).unwrap();
    AddCheckpointRequest { old_size, proof, checkpoint: checkpoint.sign(log).unwrap().to_text().into_bytes() }
}

fn on_history(tree: &MemoryTree, head: &TreeHead) -> bool {
    head.size <= tree.size() && tree.root_at(head.size).unwrap() == head.root
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cosigned_heads_grow_on_one_history(
        divergence in 0u32..30,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let log = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let mut witness = Witness::new(Cosigner::from_seed("witness.example", [2; 32]).unwrap());
        witness.follow(ORIGIN, vec![log.verifier_key()], None).unwrap();
        let (mut honest, mut fork) = (MemoryTree::new(), MemoryTree::new());
        for i in 0..divergence {
            honest.append(&i.to_be_bytes()).unwrap();
            fork.append(&i.to_be_bytes()).unwrap();
        }
        let mut cosigned: Vec<TreeHead> = Vec::new();
        let mut now = 1_700_000_000;
        for step in steps {
            now += 1;
            let before = witness.latest(ORIGIN);
            let outcome = match step {
                Step::GrowHonest(n) => {
                    for _ in 0..n {
                        let i = honest.size();
                        honest.append(&i.to_be_bytes()).unwrap();
                    }
                    continue;
                }
                Step::GrowFork(n) => {
                    for _ in 0..n {
                        let i = fork.size();
                        fork.append(format!("forged {i}").as_bytes()).unwrap();
                    }
                    continue;
                }
                Step::SubmitHonest { truthful_old, guess } | Step::SubmitFork { truthful_old, guess } => {
                    let tree = if matches!(step, Step::SubmitHonest { .. }) { &honest } else { &fork };
                    let old = if truthful_old {
                        before.map_or(0, |head| head.size)
                    } else {
                        u64::from(guess) % (tree.size() + 2)
                    };
                    witness.add_checkpoint(&request(&log, tree, old), now)
                }
            };
            let after = witness.latest(ORIGIN);
            match outcome {
                Ok(done) => {
                    prop_assert_eq!(done.previous, before);
                    prop_assert_eq!(after, Some(done.head));
                    cosigned.push(done.head);
                }
                Err(error) => {
                    prop_assert_eq!(after, before, "state changed on refusal: {}", error);
                    if let WitnessError::OldSizeMismatch { latest_size, .. } = error {
                        prop_assert_eq!(latest_size, before.map_or(0, |head| head.size));
                    }
                }
            }
            // Never smaller than before.
            prop_assert!(after.map_or(0, |h| h.size) >= before.map_or(0, |h| h.size));
        }
        // Everything cosigned lies on the honest history, or everything on
        // the fork's (the shared prefix lies on both).
        let all_honest = cosigned.iter().all(|head| on_history(&honest, head));
        let all_fork = cosigned.iter().all(|head| on_history(&fork, head));
        prop_assert!(all_honest || all_fork, "cosigned two histories: {:?}", cosigned);
    }
}
