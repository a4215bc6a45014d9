//! Building blocks for an independent verifier of the log: is this entry in
//! the tree a checkpoint commits to, does a newer checkpoint extend an older
//! one, and has the log shown two different trees of the same size (a fork).
//!
//! Checkpoints passed here must already be opened (their log signature
//! verified, see [`SignedCheckpoint::open`](crate::checkpoint::SignedCheckpoint::open));
//! these functions check only the Merkle relationships between them.

use std::collections::BTreeMap;

use crate::checkpoint::Checkpoint;
use crate::hash::{empty_tree_hash, leaf_hash, Hash};
use crate::proof::{ConsistencyProof, InclusionProof, ProofError};

/// What an audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Two checkpoints of different logs were compared.
    #[error("checkpoint of log {found:?} where log {expected:?} was expected")]
    OriginMismatch {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// Two different trees of the same size: the log forked its history.
    #[error("fork in {origin}: two different trees of size {size} (roots {first_root} and {second_root})")]
    Fork {
        /// The log.
        origin: String,
        /// The size both checkpoints claim.
        size: u64,
        /// Root of the first checkpoint.
        first_root: Hash,
        /// Root of the second checkpoint.
        second_root: Hash,
    },
    /// A checkpoint of size 0 whose root is not the empty tree hash.
    #[error("checkpoint of size 0 has root {root}, not the empty tree hash")]
    BadEmptyRoot {
        /// The root claimed.
        root: Hash,
    },
    /// A proof is for another tree size than the checkpoint it is checked
    /// against.
    #[error("{what} proof is for tree size {proof_size}, checkpoint has size {checkpoint_size}")]
    ProofSizeMismatch {
        /// Which proof.
        what: &'static str,
        /// Size in the proof.
        proof_size: u64,
        /// Size in the checkpoint.
        checkpoint_size: u64,
    },
    /// The entry is not where the proof claims in the checkpoint's tree
    /// (edited, deleted, reordered or never logged).
    #[error("entry {index} is not in the tree of size {size}: {reason}")]
    NotIncluded {
        /// The claimed entry index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// What the proof check found.
        reason: ProofError,
    },
    /// The "older" checkpoint is larger than the "newer" one.
    #[error("checkpoint of size {older_size} cannot precede one of size {newer_size}")]
    OutOfOrder {
        /// Size of the checkpoint given as older.
        older_size: u64,
        /// Size of the checkpoint given as newer.
        newer_size: u64,
    },
    /// The newer tree does not extend the older one: history was rewritten.
    #[error("tree of size {new_size} does not extend tree of size {old_size}: {reason}")]
    Inconsistent {
        /// Older size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
        /// What the proof check found.
        reason: ProofError,
    },
}

fn check_empty_root(checkpoint: &Checkpoint) -> Result<(), AuditError> {
    if checkpoint.size() == 0 && checkpoint.root() != empty_tree_hash() {
        return Err(AuditError::BadEmptyRoot { root: checkpoint.root() });
    }
    Ok(())
}

fn check_same_log(expected: &Checkpoint, found: &Checkpoint) -> Result<(), AuditError> {
    if expected.origin() != found.origin() {
        return Err(AuditError::OriginMismatch {
            expected: expected.origin().to_owned(),
            found: found.origin().to_owned(),
        });
    }
    Ok(())
}

/// Fails with [`AuditError::Fork`] if two checkpoints of the same log and
/// size commit to different roots. Checkpoints of different sizes pass (they
/// need a consistency proof, see [`verify_checkpoint_consistency`]).
pub fn check_fork(first: &Checkpoint, second: &Checkpoint) -> Result<(), AuditError> {
    check_same_log(first, second)?;
    if first.size() == second.size() && first.root() != second.root() {
        return Err(AuditError::Fork {
            origin: first.origin().to_owned(),
            size: first.size(),
            first_root: first.root(),
            second_root: second.root(),
        });
    }
    Ok(())
}

/// Checks that the entry with leaf hash `leaf` is entry
/// `proof.leaf_index` of the tree `checkpoint` commits to.
pub fn verify_leaf_inclusion(checkpoint: &Checkpoint, leaf: &Hash, proof: &InclusionProof) -> Result<(), AuditError> {
    if proof.tree_size != checkpoint.size() {
        return Err(AuditError::ProofSizeMismatch {
            what: "inclusion",
            proof_size: proof.tree_size,
            checkpoint_size: checkpoint.size(),
        });
    }
    proof.verify(leaf, &checkpoint.root()).map_err(|reason| AuditError::NotIncluded {
        index: proof.leaf_index,
        size: checkpoint.size(),
        reason,
    })
}

/// Checks that `entry` (its canonical bytes) is entry `proof.leaf_index` of
/// the tree `checkpoint` commits to.
pub fn verify_entry_inclusion(checkpoint: &Checkpoint, entry: &[u8], proof: &InclusionProof) -> Result<(), AuditError> {
    verify_leaf_inclusion(checkpoint, &leaf_hash(entry), proof)
}

/// Checks that `newer` extends `older` (same log, append-only). Equal sizes
/// need equal roots, and a difference is reported as a fork.
pub fn verify_checkpoint_consistency(
    older: &Checkpoint,
    newer: &Checkpoint,
    proof: &ConsistencyProof,
) -> Result<(), AuditError> {
    check_same_log(older, newer)?;
    check_empty_root(older)?;
    check_empty_root(newer)?;
    if older.size() > newer.size() {
        return Err(AuditError::OutOfOrder { older_size: older.size(), newer_size: newer.size() });
    }
    check_fork(older, newer)?;
    if proof.old_size != older.size() {
        return Err(AuditError::ProofSizeMismatch {
            what: "consistency (old size)",
            proof_size: proof.old_size,
            checkpoint_size: older.size(),
        });
    }
    if proof.new_size != newer.size() {
        return Err(AuditError::ProofSizeMismatch {
            what: "consistency (new size)",
            proof_size: proof.new_size,
            checkpoint_size: newer.size(),
        });
    }
    proof.verify(&older.root(), &newer.root()).map_err(|reason| AuditError::Inconsistent {
        old_size: older.size(),
        new_size: newer.size(),
        reason,
    })
}

/// Every tree head seen of one log, by size: flags a fork as soon as a second
/// checkpoint of a known size disagrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenTreeHeads {
    origin: String,
    roots: BTreeMap<u64, Hash>,
}

impl SeenTreeHeads {
    /// No tree head seen yet of the log `origin`.
    pub fn new(origin: &str) -> Self {
        SeenTreeHeads { origin: origin.to_owned(), roots: BTreeMap::new() }
    }

    /// Records a checkpoint; fails on another log's checkpoint, a bogus
    /// empty tree, or a fork with a checkpoint seen before.
    pub fn observe(&mut self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        if checkpoint.origin() != self.origin {
            return Err(AuditError::OriginMismatch {
                expected: self.origin.clone(),
                found: checkpoint.origin().to_owned(),
            });
        }
        check_empty_root(checkpoint)?;
        match self.roots.get(&checkpoint.size()) {
            Some(root) if *root != checkpoint.root() => Err(AuditError::Fork {
                origin: self.origin.clone(),
                size: checkpoint.size(),
                first_root: *root,
                second_root: checkpoint.root(),
            }),
            Some(_) => Ok(()),
            None => {
                self.roots.insert(checkpoint.size(), checkpoint.root());
                Ok(())
            }
        }
    }

    /// The largest tree head seen.
    pub fn largest(&self) -> Option<(u64, Hash)> {
        self.roots.last_key_value().map(|(size, root)| (*size, *root))
    }

    /// Every (size, root) seen, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        self.roots.iter().map(|(size, root)| (*size, *root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::MemoryTree;

    const ORIGIN: &str = "example.com/log";

    fn tree(entries: &[&[u8]]) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for entry in entries {
            tree.append(entry).unwrap();
        }
        tree
    }

    fn checkpoint(tree: &MemoryTree) -> Checkpoint {
        Checkpoint::new(ORIGIN, tree.size(), tree.root()).unwrap()
    }

    #[test]
    fn detects_edits_deletions_reorders_and_insertions() {
        let entries: [&[u8]; 5] = [b"request", b"grant", b"unlock", b"open", b"close"];
        let honest = tree(&entries);
        let cp = checkpoint(&honest);
        for (index, entry) in entries.iter().enumerate() {
            let proof = honest.inclusion_proof(index as u64, 5).unwrap();
            verify_entry_inclusion(&cp, entry, &proof).unwrap();
        }
        // Edited entry.
        let proof = honest.inclusion_proof(1, 5).unwrap();
        assert!(matches!(
            verify_entry_inclusion(&cp, b"grant!", &proof),
            Err(AuditError::NotIncluded { index: 1, .. })
        ));
        // Reordered: the right entry at the wrong index.
        let proof = honest.inclusion_proof(2, 5).unwrap();
        assert!(verify_entry_inclusion(&cp, b"grant", &proof).is_err());
        // A tree with an entry deleted or inserted has another root, so its
        // proofs fail against the kept checkpoint, and its checkpoint is not
        // consistent with the kept one.
        let deleted = tree(&[b"request", b"unlock", b"open", b"close"]);
        let proof = deleted.inclusion_proof(0, 4).unwrap();
        assert!(matches!(verify_entry_inclusion(&cp, b"request", &proof), Err(AuditError::ProofSizeMismatch { .. })));
        let inserted = tree(&[b"request", b"grant", b"forged", b"unlock", b"open", b"close"]);
        let proof = inserted.consistency_proof(5, 6).unwrap();
        assert!(matches!(
            verify_checkpoint_consistency(&cp, &checkpoint(&inserted), &proof),
            Err(AuditError::Inconsistent { .. })
        ));
    }

    #[test]
    fn accepts_honest_growth_and_flags_forks() {
        let mut log = tree(&[b"a", b"b", b"c"]);
        let old = checkpoint(&log);
        log.append(b"d").unwrap();
        let new = checkpoint(&log);
        let proof = log.consistency_proof(3, 4).unwrap();
        verify_checkpoint_consistency(&old, &new, &proof).unwrap();
        assert!(matches!(verify_checkpoint_consistency(&new, &old, &proof), Err(AuditError::OutOfOrder { .. })));
        let other = checkpoint(&tree(&[b"a", b"b", b"x"]));
        assert!(matches!(check_fork(&old, &other), Err(AuditError::Fork { size: 3, .. })));
        let empty = log.consistency_proof(3, 3).unwrap();
        assert!(matches!(verify_checkpoint_consistency(&old, &other, &empty), Err(AuditError::Fork { .. })));
        let mut seen = SeenTreeHeads::new(ORIGIN);
        seen.observe(&old).unwrap();
        seen.observe(&new).unwrap();
        seen.observe(&old).unwrap();
        assert!(matches!(seen.observe(&other), Err(AuditError::Fork { .. })));
        assert_eq!(seen.largest(), Some((4, new.root())));
        let foreign = Checkpoint::new("other.example", 1, Hash::default()).unwrap();
        assert!(matches!(seen.observe(&foreign), Err(AuditError::OriginMismatch { .. })));
        let bogus_empty = Checkpoint::new(ORIGIN, 0, Hash::default()).unwrap();
        assert!(matches!(seen.observe(&bogus_empty), Err(AuditError::BadEmptyRoot { .. })));
    }
}
