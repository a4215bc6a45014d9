//! A genuine RFC 6962 tree of any size up to [`MAX_TREE_SIZE`] in a few
//! megabytes, for benchmarks and tests at sizes no machine can store.
//!
//! Entry `i` of a [`PeriodicTree`] is the 8-byte big-endian encoding of
//! `i mod 2^period_level`: the entries repeat with a period of
//! `2^period_level`. Every complete subtree below the period level is then
//! one of the subtrees of a single block, kept in memory (two hashes per
//! block entry), and every complete subtree at or above it is the same for
//! its level, one hash per level. Reading a stored hash is an array lookup,
//! as in an in-memory or memory-mapped store, and everything a proof or a
//! root computes on top of those reads (the fold of right-edge subtrees,
//! verification) is real hashing over a real tree: its roots and proofs are
//! exactly those of a [`MemoryTree`](crate::tree::MemoryTree) fed the same
//! entries, which the tests check.
//!
//! The periodicity means two leaves a period apart have equal hashes; a
//! proof that confused them would still verify here, so correctness is
//! tested on real trees and this type is for measuring cost.

use crate::hash::{leaf_hash, node_hash, Hash};
use crate::node::{NodeId, MAX_TREE_SIZE};
use crate::proof::{HashReader, ReadError};

/// Largest supported period level (a block of 2^24 entries, 1 GiB of
/// hashes); keeps a mistaken argument from exhausting memory.
pub const MAX_PERIOD_LEVEL: u8 = 24;

/// A tree whose entries repeat with period `2^period_level`; see the module
/// documentation.
#[derive(Debug, Clone)]
pub struct PeriodicTree {
    period_level: u8,
    /// `block[h][j]`: hash of the `j`-th complete subtree of height `h`
    /// inside one block, for `h` in `0..=period_level`.
    block: Vec<Vec<Hash>>,
    /// `above[k]`: hash of any complete subtree of height
    /// `period_level + k`.
    above: Vec<Hash>,
}

impl PeriodicTree {
    /// Builds the block of `2^period_level` entries (at most
    /// [`MAX_PERIOD_LEVEL`]) and the hash of every level above it.
    pub fn new(period_level: u8) -> Option<Self> {
        if period_level > MAX_PERIOD_LEVEL {
            return None;
        }
        let width = 1u64 << period_level;
        let leaves: Vec<Hash> = (0..width).map(|i| leaf_hash(&Self::entry(i))).collect();
        let mut block = vec![leaves];
        while let Some(below) = block.last().filter(|level| level.len() > 1) {
            let next = below
                .chunks_exact(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    _ => Hash::default(),
                })
                .collect();
            block.push(next);
        }
        let mut above = Vec::with_capacity(64);
        let mut hash = *block.last()?.first()?;
        for _ in period_level..63 {
            above.push(hash);
            hash = node_hash(&hash, &hash);
        }
        Some(PeriodicTree { period_level, block, above })
    }

    /// The bytes of entry `index`.
    pub fn entry(index: u64) -> [u8; 8] {
        index.to_be_bytes()
    }

    /// The bytes of entry `index` of this tree.
    pub fn entry_at(&self, index: u64) -> [u8; 8] {
        Self::entry(index & ((1u64 << self.period_level) - 1))
    }

    /// The leaf hash of entry `index`.
    pub fn leaf_hash_at(&self, index: u64) -> Hash {
        self.lookup(0, index).unwrap_or_default()
    }

    fn lookup(&self, level: u8, index: u64) -> Option<Hash> {
        if level >= self.period_level {
            return self.above.get(usize::from(level - self.period_level)).copied();
        }
        let per_block = 1u64 << (self.period_level - level);
        let position = usize::try_from(index % per_block).ok()?;
        self.block.get(usize::from(level))?.get(position).copied()
    }
}

impl HashReader for PeriodicTree {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        nodes
            .iter()
            .map(|node| {
                if node.end_entry() > MAX_TREE_SIZE {
                    return Err(ReadError::Missing(*node));
                }
                self.lookup(node.level(), node.index()).ok_or(ReadError::Missing(*node))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{prove_consistency, prove_inclusion, tree_hash};
    use crate::tree::MemoryTree;

    #[test]
    fn matches_a_real_tree_of_the_same_entries() {
        let synthetic = PeriodicTree::new(3).unwrap();
        let mut real = MemoryTree::new();
        for i in 0..100u64 {
            real.append(&synthetic.entry_at(i)).unwrap();
            let size = i + 1;
            assert_eq!(tree_hash(&synthetic, size).unwrap(), real.root(), "size {size}");
            assert_eq!(synthetic.leaf_hash_at(i), leaf_hash(&synthetic.entry_at(i)));
        }
        for (index, size) in [(0, 100), (37, 100), (99, 100), (8, 9)] {
            assert_eq!(prove_inclusion(&synthetic, index, size).unwrap(), real.inclusion_proof(index, size).unwrap());
        }
        for (old, new) in [(1, 100), (8, 100), (37, 99), (64, 65)] {
            assert_eq!(prove_consistency(&synthetic, old, new).unwrap(), real.consistency_proof(old, new).unwrap());
        }
        assert!(PeriodicTree::new(MAX_PERIOD_LEVEL + 1).is_none());
    }
}
