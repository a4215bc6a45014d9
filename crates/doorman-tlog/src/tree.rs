//! Growing a tree: the [`Frontier`] a sequencer keeps in memory to append
//! entries and compute tree heads in O(log n), and [`MemoryTree`], a complete
//! in-memory tree for tests, simulations and benchmarks.
//!
//! A durable log keeps its hashes in the stored hash index layout (see
//! [`NodeId::stored_index`]): each append hands back the new
//! [`StoredHash`]es to write, on average two per entry, and nothing already
//! written ever changes. After a restart the sequencer reads the hashes of
//! [`frontier_nodes`] for its last durable size and carries on.

use crate::hash::{empty_tree_hash, leaf_hash, node_hash, Hash};
use crate::node::{frontier_nodes, stored_hash_count, NodeId, MAX_TREE_SIZE};
use crate::proof::{
    prove_consistency, prove_inclusion, tree_hash, ConsistencyProof, HashReader, InclusionProof, ProofError,
    ProveError, ReadError,
};

/// The hash of one complete subtree, to be written under
/// [`StoredHash::stored_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHash {
    /// Which subtree.
    pub node: NodeId,
    /// Its Merkle tree hash.
    pub hash: Hash,
}

impl StoredHash {
    /// The key of this hash in the stored hash index layout.
    pub fn stored_index(&self) -> u64 {
        self.node.stored_index()
    }
}

/// The right edge of a tree: the hashes of its maximal complete subtrees
/// (one per set bit of its size, largest first). Enough to append entries and
/// to compute the root, without reading anything else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// (level, hash) of each maximal complete subtree, left to right.
    subtrees: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of a tree of `size` entries from the stored
    /// hashes of [`frontier_nodes`]`(size)`, in that order.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Result<Self, ProofError> {
        if size > MAX_TREE_SIZE {
            return Err(ProofError::SizeTooLarge { size });
        }
        let nodes = frontier_nodes(size);
        if nodes.len() != hashes.len() {
            return Err(ProofError::HashCountMismatch { expected: nodes.len(), actual: hashes.len() });
        }
        Ok(Frontier { size, subtrees: nodes.iter().zip(hashes).map(|(node, hash)| (node.level(), *hash)).collect() })
    }

    /// Reads the frontier of a tree of `size` entries from a store.
    pub fn load<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Self, ProveError> {
        let nodes = frontier_nodes(size);
        let hashes = reader.read_hashes(&nodes)?;
        Ok(Self::from_hashes(size, &hashes)?)
    }

    /// Number of entries in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash of the whole tree.
    pub fn root(&self) -> Hash {
        self.subtrees
            .iter()
            .rev()
            .map(|(_, hash)| *hash)
            .reduce(|right, left| node_hash(&left, &right))
            .unwrap_or_else(empty_tree_hash)
    }

    /// Appends the entry with leaf hash `leaf`, and pushes onto `written` the
    /// hashes this append makes durable-worthy: the leaf, then every subtree
    /// the entry completes. Returns the entry's index.
    pub fn append_leaf_hash(&mut self, leaf: Hash, written: &mut Vec<StoredHash>) -> Result<u64, ProofError> {
        let index = self.size;
        if index >= MAX_TREE_SIZE {
            return Err(ProofError::SizeTooLarge { size: index + 1 });
        }
        let (mut level, mut hash) = (0u8, leaf);
        written.push(StoredHash { node: leaf_node(index)?, hash });
        // Equal-level neighbours on the right edge merge like a binary
        // counter carrying: one merge per trailing one bit of the index.
        while let Some(&(left_level, left_hash)) = self.subtrees.last() {
            if left_level != level {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&left_hash, &hash);
            level += 1;
            let node = NodeId::new(level, index >> level).ok_or(ProofError::SizeTooLarge { size: index + 1 })?;
            written.push(StoredHash { node, hash });
        }
        self.subtrees.push((level, hash));
        self.size = index + 1;
        Ok(index)
    }

    /// Appends an entry (hashing it as a leaf); see
    /// [`Frontier::append_leaf_hash`].
    pub fn append(&mut self, entry: &[u8], written: &mut Vec<StoredHash>) -> Result<u64, ProofError> {
        self.append_leaf_hash(leaf_hash(entry), written)
    }
}

fn leaf_node(index: u64) -> Result<NodeId, ProofError> {
    NodeId::leaf(index).ok_or(ProofError::SizeTooLarge { size: index + 1 })
}

/// A whole tree in memory, its hashes in the stored hash index layout (a
/// vector indexed by [`NodeId::stored_index`]). Serves proofs for every past
/// size. Entries themselves are not kept.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    frontier: Frontier,
    scratch: Vec<StoredHash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `entries` entries.
    pub fn with_capacity(entries: u64) -> Self {
        let hashes = usize::try_from(stored_hash_count(entries.min(MAX_TREE_SIZE))).unwrap_or(0);
        MemoryTree { hashes: Vec::with_capacity(hashes), ..Self::default() }
    }

    /// Appends an entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, ProofError> {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends an entry by its leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, ProofError> {
        self.scratch.clear();
        let index = self.frontier.append_leaf_hash(leaf, &mut self.scratch)?;
        // Appends write exactly the next keys of the layout, in order.
        self.hashes.extend(self.scratch.iter().map(|stored| stored.hash));
        Ok(index)
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root hash of the current tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Root hash of the tree as it was at `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProveError> {
        self.check_size(size)?;
        tree_hash(self, size)
    }

    /// The stored hashes in layout order (index = stored index).
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Inclusion proof of entry `index` in the tree at `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, ProveError> {
        self.check_size(size)?;
        prove_inclusion(self, index, size)
    }

    /// Consistency proof between two past sizes of this tree.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof, ProveError> {
        self.check_size(new_size)?;
        prove_consistency(self, old_size, new_size)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeBeyondTree { size, available: self.size() });
        }
        Ok(())
    }
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        nodes
            .iter()
            .map(|node| {
                usize::try_from(node.stored_index())
                    .ok()
                    .and_then(|key| self.hashes.get(key))
                    .copied()
                    .ok_or(ReadError::Missing(*node))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{verify_consistency, verify_inclusion};

    /// The Merkle tree hash straight from the RFC 6962 definition.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_tree_hash(),
            1 => leaves[0],
            n => {
                let split = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&reference_root(&leaves[..split]), &reference_root(&leaves[split..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_definition_at_every_size() {
        let mut frontier = Frontier::new();
        let mut leaves = Vec::new();
        let mut written = Vec::new();
        assert_eq!(frontier.root(), empty_tree_hash());
        for i in 0u32..300 {
            let leaf = leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            let before = written.len();
            assert_eq!(frontier.append_leaf_hash(leaf, &mut written), Ok(u64::from(i)));
            assert_eq!(written.len() - before, 1 + i.trailing_ones() as usize);
            assert_eq!(frontier.root(), reference_root(&leaves), "size {}", i + 1);
        }
        // Every write lands on the next key of the layout.
        for (key, stored) in written.iter().enumerate() {
            assert_eq!(stored.stored_index(), key as u64);
        }
    }

    #[test]
    fn memory_tree_serves_every_past_size() {
        let mut tree = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0u32..70 {
            tree.append(&i.to_le_bytes()).unwrap();
            leaves.push(leaf_hash(&i.to_le_bytes()));
        }
        for size in 1..=70u64 {
            let root = tree.root_at(size).unwrap();
            assert_eq!(root, reference_root(&leaves[..size as usize]));
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                verify_inclusion(&leaves[index as usize], index, size, &proof.path, &root).unwrap();
            }
            for old in 0..=size {
                let proof = tree.consistency_proof(old, size).unwrap();
                let old_root = tree.root_at(old).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof.path).unwrap();
            }
        }
        assert!(tree.inclusion_proof(0, 71).is_err());
    }

    #[test]
    fn frontier_reloads_from_stored_hashes() {
        let mut tree = MemoryTree::new();
        for i in 0u32..1000 {
            tree.append(&i.to_be_bytes()).unwrap();
            let size = tree.size();
            let reloaded = Frontier::load(&tree, size).unwrap();
            assert_eq!(reloaded.root(), tree.root());
        }
        let mut reloaded = Frontier::load(&tree, 1000).unwrap();
        let mut written = Vec::new();
        reloaded.append(b"next", &mut written).unwrap();
        tree.append(b"next").unwrap();
        assert_eq!(reloaded.root(), tree.root());
        assert!(Frontier::from_hashes(3, &[Hash::default()]).is_err());
    }
}
