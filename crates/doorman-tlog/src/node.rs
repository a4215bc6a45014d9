//! Coordinates of the complete subtrees of a Merkle tree, and the "stored hash
//! index" layout that lets any key-value table (an SQL table with an integer
//! key, a file of fixed-size records, a tile store) hold a growing tree.
//!
//! A log only ever needs to keep the hashes of *complete* subtrees: every
//! other hash (the root, the right edge of a proof) is recomputed from at most
//! 64 of them. Numbering those hashes in the order in which they become
//! computable gives every complete subtree a dense, append-only integer key:
//! appending entry `m` writes the leaf hash, then the hash of every subtree
//! that entry completes, so the table only ever grows at its end and holds
//! `2n - popcount(n)` hashes for `n` entries (two per entry, amortized).

/// The largest tree size this crate accepts: sizes and indexes fit an `i64`,
/// the portable integer type of SQL databases.
pub const MAX_TREE_SIZE: u64 = i64::MAX as u64;

/// One complete subtree of the tree: `2^level` consecutive entries starting at
/// entry `index * 2^level`. Level 0 nodes are leaves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// The subtree at `level` with the given index, if it lies inside the
    /// largest tree this crate accepts ([`MAX_TREE_SIZE`] entries).
    pub fn new(level: u8, index: u64) -> Option<Self> {
        let end = index.checked_add(1)?.checked_mul(1u64.checked_shl(level.into())?)?;
        (end <= MAX_TREE_SIZE).then_some(NodeId { level, index })
    }

    /// The leaf (level 0 node) of entry `index`.
    pub fn leaf(index: u64) -> Option<Self> {
        Self::new(0, index)
    }

    /// Height of the subtree above its leaves.
    pub const fn level(self) -> u8 {
        self.level
    }

    /// Position of the subtree among the subtrees of its level.
    pub const fn index(self) -> u64 {
        self.index
    }

    /// The first entry covered by this subtree.
    pub const fn first_entry(self) -> u64 {
        self.index << self.level
    }

    /// One past the last entry covered by this subtree.
    pub const fn end_entry(self) -> u64 {
        (self.index + 1) << self.level
    }

    /// The key of this subtree's hash in the stored hash index layout. Keys
    /// of trees below 2^62 entries fit an `i64` (an SQL integer key).
    ///
    /// The hash of a subtree becomes computable when its last entry `m` is
    /// appended. Before that append the table holds `stored_hash_count(m)`
    /// hashes; the append writes the leaf first, then one parent per level,
    /// so the subtree's hash lands `level` places after the leaf.
    pub const fn stored_index(self) -> u64 {
        let last_entry = self.end_entry() - 1;
        stored_hash_count(last_entry) + self.level as u64
    }

    /// The subtree whose hash has the given key in the stored hash index
    /// layout; `None` for keys beyond a tree of [`MAX_TREE_SIZE`] entries.
    pub fn from_stored_index(stored_index: u64) -> Option<Self> {
        // Find the entry m whose append wrote this key: the largest m with
        // stored_hash_count(m) <= key. stored_hash_count(m) lies between
        // 2m - 64 and 2m, so m lies in [key / 2, key / 2 + 32].
        let mut low = stored_index / 2;
        let mut high = low.saturating_add(33).min(MAX_TREE_SIZE);
        if low >= MAX_TREE_SIZE {
            return None;
        }
        // Invariant: stored_hash_count(low) <= key < stored_hash_count(high)
        // (or high is the last entry and every m up to it qualifies).
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if stored_hash_count(middle) <= stored_index {
                low = middle;
            } else {
                high = middle;
            }
        }
        let entry = if stored_hash_count(high) <= stored_index { high } else { low };
        let level = stored_index - stored_hash_count(entry);
        // Appending entry m completes one subtree per trailing one bit of m.
        if level > u64::from(entry.trailing_ones()) {
            return None;
        }
        let level = u8::try_from(level).ok()?;
        Self::new(level, entry >> level)
    }

    /// The two halves of this subtree, or `None` for a leaf.
    pub fn children(self) -> Option<(NodeId, NodeId)> {
        let level = self.level.checked_sub(1)?;
        let left = self.index.checked_mul(2)?;
        Some((NodeId { level, index: left }, NodeId { level, index: left + 1 }))
    }
}

/// How many hashes the stored hash index layout holds for a tree of `size`
/// entries: one per complete subtree, `2 * size - popcount(size)`.
pub const fn stored_hash_count(size: u64) -> u64 {
    // size <= MAX_TREE_SIZE < 2^63, so the doubling cannot overflow; callers
    // outside that range get a wrapped (meaningless) count, never a panic.
    size.wrapping_mul(2).wrapping_sub(size.count_ones() as u64)
}

/// The complete subtrees that make up entries `[start, end)`, left to right,
/// largest first: the nodes whose hashes fold (right to left) into the RFC
/// 6962 Merkle tree hash of that range.
///
/// `start` must be aligned to the smallest power of two at least
/// `end - start`, which holds for every range of an RFC 6962 tree, inclusion
/// proof or consistency proof; the iterator relies on it to name stored nodes.
pub(crate) fn range_nodes(start: u64, end: u64) -> impl Iterator<Item = NodeId> {
    let width = end.saturating_sub(start);
    let mut position = start;
    (0..64u8).rev().filter_map(move |level| {
        let span = 1u64 << level;
        if width & span == 0 {
            return None;
        }
        let node = NodeId { level, index: position >> level };
        position += span;
        Some(node)
    })
}

/// The complete subtrees whose hashes fold into the root of a tree of `size`
/// entries: one per set bit of `size`, largest (leftmost) first. These are
/// what a sequencer reads back to resume appending after a restart.
pub fn frontier_nodes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size).collect()
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962
/// splits a tree of `n` entries into a complete left part and the rest.
pub(crate) const fn split_point(n: u64) -> u64 {
    1u64 << 63u32.saturating_sub(n.saturating_sub(1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_indexes_follow_append_order() {
        // Appending entries 0..4 writes: leaf0, leaf1, node(1,0), leaf2,
        // leaf3, node(1,1), node(2,0).
        let expected = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0)];
        for (key, (level, index)) in expected.into_iter().enumerate() {
            let node = NodeId::new(level, index).unwrap();
            assert_eq!(node.stored_index(), key as u64);
            assert_eq!(NodeId::from_stored_index(key as u64), Some(node));
        }
        assert_eq!(stored_hash_count(4), 7);
    }

    #[test]
    fn stored_index_inverse_over_a_dense_prefix() {
        for key in 0..20_000u64 {
            let node = NodeId::from_stored_index(key).unwrap();
            assert_eq!(node.stored_index(), key, "{node:?}");
        }
    }

    #[test]
    fn stored_index_inverse_near_the_limit() {
        let node = NodeId::new(0, MAX_TREE_SIZE - 1).unwrap();
        assert_eq!(NodeId::from_stored_index(node.stored_index()), Some(node));
        let top = NodeId::new(62, 0).unwrap();
        assert_eq!(NodeId::from_stored_index(top.stored_index()), Some(top));
        assert_eq!(NodeId::new(0, MAX_TREE_SIZE), None);
        assert_eq!(NodeId::new(63, 0), None);
        assert_eq!(NodeId::new(64, 0), None);
        assert_eq!(NodeId::from_stored_index(u64::MAX), None);
    }

    #[test]
    fn range_nodes_decompose_by_binary_digits() {
        let nodes: Vec<_> = range_nodes(0, 13).map(|n| (n.level(), n.index())).collect();
        assert_eq!(nodes, vec![(3, 0), (2, 2), (0, 12)]);
        let nodes: Vec<_> = range_nodes(8, 11).map(|n| (n.level(), n.index())).collect();
        assert_eq!(nodes, vec![(1, 4), (0, 10)]);
        assert_eq!(range_nodes(5, 5).count(), 0);
    }

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }
}
