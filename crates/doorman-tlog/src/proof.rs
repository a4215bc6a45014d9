//! Inclusion and consistency proofs (RFC 6962 §2.1.1–2.1.2, RFC 9162
//! §2.1.3–2.1.4): generation over any store of complete-subtree hashes, and
//! verification.
//!
//! Generation is split in two so that synchronous and asynchronous stores
//! share one code path: a [`ProofPlan`] names the stored subtree hashes a
//! proof needs (at most a few dozen, all known before any read), the caller
//! fetches them however it likes (one SQL `IN (...)` query, a tile fetch, a
//! vector lookup), and [`ProofPlan::assemble`] folds them into the proof. The
//! [`HashReader`] trait and the `prove_*` functions wrap the three steps for
//! stores that can answer synchronously.

use crate::hash::{empty_tree_hash, node_hash, Hash, HASH_SIZE};
use crate::node::{range_nodes, split_point, NodeId, MAX_TREE_SIZE};

/// Longest proof this crate produces or accepts: an inclusion proof in a tree
/// of [`MAX_TREE_SIZE`] entries has at most 63 hashes and a consistency proof
/// at most 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// Why a proof could not be built or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The entry index is not inside the tree.
    #[error("entry {index} is not in a tree of {size} entries")]
    IndexOutOfRange {
        /// The entry index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The tree size exceeds [`MAX_TREE_SIZE`].
    #[error("tree size {size} exceeds the supported maximum")]
    SizeTooLarge {
        /// The rejected size.
        size: u64,
    },
    /// A proof or root was asked for a tree larger than the store holds.
    #[error("tree size {size} is beyond the {available} entries stored")]
    SizeBeyondTree {
        /// The size asked for.
        size: u64,
        /// The entries the store holds.
        available: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNew {
        /// The claimed older size.
        old_size: u64,
        /// The claimed newer size.
        new_size: u64,
    },
    /// The proof does not have the number of hashes its sizes call for.
    #[error("proof has {actual} hashes, expected {expected}")]
    WrongLength {
        /// Hashes the proof must have.
        expected: usize,
        /// Hashes the proof has.
        actual: usize,
    },
    /// The proof leads to a different root than the one it is checked against.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The root the proof is checked against.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// A consistency proof leads to a different old root.
    #[error("consistency proof leads to old root {computed}, expected {expected}")]
    OldRootMismatch {
        /// The old root the proof is checked against.
        expected: Hash,
        /// The old root the proof leads to.
        computed: Hash,
    },
    /// [`ProofPlan::assemble`] was given a different number of hashes than
    /// the plan names.
    #[error("plan needs {expected} hashes, got {actual}")]
    HashCountMismatch {
        /// Hashes the plan names.
        expected: usize,
        /// Hashes supplied.
        actual: usize,
    },
    /// A serialized proof is malformed.
    #[error("malformed proof encoding: {0}")]
    Encoding(&'static str),
}

/// Why reading stored hashes failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store has no hash for this subtree (it is not complete in the
    /// stored tree, or the store lost it).
    #[error("no stored hash for subtree at level {} index {}", .0.level(), .0.index())]
    Missing(NodeId),
    /// The store answered with something that is not a hash list of the
    /// requested shape (a short tile, a wrong row count).
    #[error("store returned malformed data: {0}")]
    Malformed(String),
    /// The store itself failed.
    #[error("store failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a proof or tree hash could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The request itself is invalid (index out of range, sizes reversed).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The store could not supply a hash.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A store of complete-subtree hashes that answers synchronously: an
/// in-memory tree, a memory-mapped file, a tile cache.
pub trait HashReader {
    /// The hashes of `nodes`, in the same order. Every node asked for is a
    /// complete subtree of a tree the caller believes the store holds.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        (**self).read_hashes(nodes)
    }
}

/// The stored subtree hashes one proof (or one tree hash) needs, and how to
/// fold them: each proof element is the Merkle tree hash of a range of
/// entries, made of one or more complete subtrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    /// Number of nodes behind each proof element, in proof order.
    groups: Vec<u8>,
}

impl ProofPlan {
    fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut plan = ProofPlan { nodes: Vec::new(), groups: Vec::new() };
        for (start, end) in ranges {
            let before = plan.nodes.len();
            plan.nodes.extend(range_nodes(start, end));
            // A range of at most 2^63 entries has at most 63 set bits.
            plan.groups.push(u8::try_from(plan.nodes.len() - before).unwrap_or(u8::MAX));
        }
        plan
    }

    /// The subtrees whose stored hashes the proof is made of, in the order
    /// [`ProofPlan::assemble`] expects their hashes. May repeat a node.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Number of hashes in the finished proof.
    pub fn proof_len(&self) -> usize {
        self.groups.len()
    }

    /// Folds the stored hashes of [`ProofPlan::nodes`] (same order) into the
    /// proof's hashes.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.nodes.len() {
            return Err(ProofError::HashCountMismatch { expected: self.nodes.len(), actual: hashes.len() });
        }
        let mut rest = hashes;
        let mut proof = Vec::with_capacity(self.groups.len());
        for &count in &self.groups {
            let (group, tail) = rest
                .split_at_checked(usize::from(count))
                .ok_or(ProofError::HashCountMismatch { expected: self.nodes.len(), actual: hashes.len() })?;
            rest = tail;
            // The range hash folds its subtrees right to left: the smaller
            // subtrees on the right combine first (RFC 6962 §2.1).
            let folded = group
                .iter()
                .rev()
                .copied()
                .reduce(|right, left| node_hash(&left, &right))
                .ok_or(ProofError::Encoding("empty proof element"))?;
            proof.push(folded);
        }
        Ok(proof)
    }

    /// Reads the planned hashes from `reader` and assembles the proof.
    pub fn read<R: HashReader + ?Sized>(&self, reader: &R) -> Result<Vec<Hash>, ProveError> {
        let hashes = reader.read_hashes(&self.nodes)?;
        if hashes.len() != self.nodes.len() {
            return Err(
                ReadError::Malformed(format!("asked for {} hashes, got {}", self.nodes.len(), hashes.len())).into()
            );
        }
        Ok(self.assemble(&hashes)?)
    }
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::SizeTooLarge { size });
    }
    Ok(())
}

/// Calls `visit` with each entry range whose hash belongs in the inclusion
/// proof of `index`, from the root down (the reverse of proof order).
fn walk_inclusion(index: u64, size: u64, mut visit: impl FnMut(u64, u64)) {
    let (mut low, mut high) = (0u64, size);
    while high - low > 1 {
        let split = low + split_point(high - low);
        if index < split {
            visit(split, high);
            high = split;
        } else {
            visit(low, split);
            low = split;
        }
    }
}

/// Calls `visit` with each entry range whose hash belongs in the consistency
/// proof from `old_size` to `new_size` (`0 < old_size < new_size`): the
/// siblings from the root down (the reverse of proof order), then, flagged
/// `true`, the subtree the old tree ends with when the verifier cannot know
/// its hash (it goes first in the proof).
fn walk_consistency(old_size: u64, new_size: u64, mut visit: impl FnMut(u64, u64, bool)) {
    let (mut low, mut high) = (0u64, new_size);
    // Whether [low, high) still starts at entry 0 of the old tree, whose
    // root the verifier already holds.
    let mut old_root_known = true;
    loop {
        let width = high - low;
        let old_width = old_size - low;
        if old_width == width {
            if !old_root_known {
                visit(low, high, true);
            }
            return;
        }
        let split = split_point(width);
        if old_width <= split {
            visit(low + split, high, false);
            high = low + split;
        } else {
            visit(low, low + split, false);
            low += split;
            old_root_known = false;
        }
    }
}

/// Number of hashes in the inclusion proof of an entry.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, ProofError> {
    check_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut count = 0;
    walk_inclusion(index, size, |_, _| count += 1);
    Ok(count)
}

/// Number of hashes in the consistency proof between two tree sizes.
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Result<usize, ProofError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNew { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(0);
    }
    let mut count = 0;
    walk_consistency(old_size, new_size, |_, _, _| count += 1);
    Ok(count)
}

/// The plan of the inclusion proof of entry `index` in the tree of `size`
/// entries.
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
    check_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut ranges = Vec::with_capacity(64);
    walk_inclusion(index, size, |start, end| ranges.push((start, end)));
    ranges.reverse();
    Ok(ProofPlan::from_ranges(ranges))
}

/// The plan of the consistency proof from the tree of `old_size` entries to
/// the tree of `new_size` entries. Empty when either tree is trivially
/// consistent with the other (`old_size` is 0 or equals `new_size`).
pub fn consistency_plan(old_size: u64, new_size: u64) -> Result<ProofPlan, ProofError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNew { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(ProofPlan::from_ranges([]));
    }
    let mut first = None;
    let mut ranges = Vec::with_capacity(64);
    walk_consistency(old_size, new_size, |start, end, is_first| {
        if is_first {
            first = Some((start, end));
        } else {
            ranges.push((start, end));
        }
    });
    ranges.reverse();
    Ok(ProofPlan::from_ranges(first.into_iter().chain(ranges)))
}

/// The plan of the root hash of the tree of `size` entries: one element (or
/// none for the empty tree, whose root is [`empty_tree_hash`]).
pub fn tree_hash_plan(size: u64) -> Result<ProofPlan, ProofError> {
    check_size(size)?;
    let range = (size > 0).then_some((0, size));
    Ok(ProofPlan::from_ranges(range))
}

/// The root hash of the tree of `size` entries held by `reader`.
pub fn tree_hash<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Hash, ProveError> {
    let folded = tree_hash_plan(size)?.read(reader)?;
    Ok(folded.first().copied().unwrap_or_else(empty_tree_hash))
}

/// Generates the inclusion proof of entry `index` in the tree of `size`
/// entries held by `reader`.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProveError> {
    let path = inclusion_plan(index, size)?.read(reader)?;
    Ok(InclusionProof { leaf_index: index, tree_size: size, path })
}

/// Generates the consistency proof between two sizes of the tree held by
/// `reader`.
pub fn prove_consistency<R: HashReader + ?Sized>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, ProveError> {
    let path = consistency_plan(old_size, new_size)?.read(reader)?;
    Ok(ConsistencyProof { old_size, new_size, path })
}

/// The root that an inclusion proof leads to from a leaf hash (RFC 9162
/// §2.1.3.2). The proof must have exactly the length the index and size call
/// for.
pub fn root_from_inclusion_proof(leaf_hash: &Hash, index: u64, size: u64, path: &[Hash]) -> Result<Hash, ProofError> {
    let expected = inclusion_proof_len(index, size)?;
    if path.len() != expected {
        return Err(ProofError::WrongLength { expected, actual: path.len() });
    }
    let (mut position, mut last) = (index, size - 1);
    let mut hash = *leaf_hash;
    for sibling in path {
        if position & 1 == 1 || position == last {
            hash = node_hash(sibling, &hash);
            // On the right edge a node without a right sibling moves up
            // unchanged; skip the levels where that happens.
            while position & 1 == 0 && position != 0 {
                position >>= 1;
                last >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        position >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::WrongLength { expected, actual: path.len() });
    }
    Ok(hash)
}

/// Checks that `leaf_hash` is entry `index` of the tree of `size` entries
/// with root `root`.
pub fn verify_inclusion(leaf_hash: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf_hash, index, size, path)?;
    if computed != *root {
        return Err(ProofError::RootMismatch { expected: *root, computed });
    }
    Ok(())
}

/// Checks that the tree of `new_size` entries with root `new_root` extends the
/// tree of `old_size` entries with root `old_root` (RFC 9162 §2.1.4.2).
///
/// An old size of 0 is consistent with everything and needs an empty proof;
/// equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    let expected = consistency_proof_len(old_size, new_size)?;
    if path.len() != expected {
        return Err(ProofError::WrongLength { expected, actual: path.len() });
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::RootMismatch { expected: *new_root, computed: *old_root });
        }
        return Ok(());
    }
    if old_size == 0 {
        return Ok(());
    }
    // When the old tree is a complete subtree the verifier already knows its
    // hash and the proof omits it.
    let (start, rest) = if old_size.is_power_of_two() {
        (*old_root, path)
    } else {
        match path.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(ProofError::WrongLength { expected, actual: 0 }),
        }
    };
    let (mut position, mut last) = (old_size - 1, new_size - 1);
    while position & 1 == 1 {
        position >>= 1;
        last >>= 1;
    }
    let (mut old_hash, mut new_hash) = (start, start);
    for sibling in rest {
        if last == 0 {
            return Err(ProofError::WrongLength { expected, actual: path.len() });
        }
        if position & 1 == 1 || position == last {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            while position & 1 == 0 && position != 0 {
                position >>= 1;
                last >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, sibling);
        }
        position >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::WrongLength { expected, actual: path.len() });
    }
    if old_hash != *old_root {
        return Err(ProofError::OldRootMismatch { expected: *old_root, computed: old_hash });
    }
    if new_hash != *new_root {
        return Err(ProofError::RootMismatch { expected: *new_root, computed: new_hash });
    }
    Ok(())
}

/// Proof that an entry is in a tree of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the entry (0-based).
    pub leaf_index: u64,
    /// Size of the tree the proof leads to the root of.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// The root this proof leads to from `leaf_hash`.
    pub fn root(&self, leaf_hash: &Hash) -> Result<Hash, ProofError> {
        root_from_inclusion_proof(leaf_hash, self.leaf_index, self.tree_size, &self.path)
    }

    /// Checks that `leaf_hash` is in the tree with root `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(leaf_hash, self.leaf_index, self.tree_size, &self.path, root)
    }

    /// Binary encoding: leaf index and tree size as big-endian u64, a one-byte
    /// hash count, then the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_proof(self.leaf_index, self.tree_size, &self.path)
    }

    /// Parses [`InclusionProof::to_bytes`] output; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let (leaf_index, tree_size, path) = decode_proof(bytes)?;
        Ok(InclusionProof { leaf_index, tree_size, path })
    }
}

/// Proof that a tree of one size is a prefix of a tree of a larger size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// The proof hashes.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that the tree with `new_root` extends the tree with `old_root`.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.path)
    }

    /// Binary encoding: old and new size as big-endian u64, a one-byte hash
    /// count, then the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_proof(self.old_size, self.new_size, &self.path)
    }

    /// Parses [`ConsistencyProof::to_bytes`] output; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let (old_size, new_size, path) = decode_proof(bytes)?;
        Ok(ConsistencyProof { old_size, new_size, path })
    }
}

fn encode_proof(first: u64, second: u64, path: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + path.len() * HASH_SIZE);
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&second.to_be_bytes());
    // Proofs this crate builds never exceed MAX_PROOF_HASHES; a longer path
    // would not round-trip, and decoding rejects it.
    out.push(u8::try_from(path.len()).unwrap_or(u8::MAX));
    for hash in path {
        out.extend_from_slice(hash.as_bytes());
    }
    out
}

fn decode_proof(bytes: &[u8]) -> Result<(u64, u64, Vec<Hash>), ProofError> {
    let (first, rest) = bytes.split_first_chunk::<8>().ok_or(ProofError::Encoding("truncated header"))?;
    let (second, rest) = rest.split_first_chunk::<8>().ok_or(ProofError::Encoding("truncated header"))?;
    let (count, rest) = rest.split_first().ok_or(ProofError::Encoding("truncated header"))?;
    let count = usize::from(*count);
    if count > MAX_PROOF_HASHES {
        return Err(ProofError::Encoding("too many hashes"));
    }
    if rest.len() != count * HASH_SIZE {
        return Err(ProofError::Encoding("length does not match hash count"));
    }
    let path = rest
        .chunks_exact(HASH_SIZE)
        .map(|chunk| Hash::from_slice(chunk).map_err(|_| ProofError::Encoding("short hash")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((u64::from_be_bytes(*first), u64::from_be_bytes(*second), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_the_expected_lengths() {
        assert_eq!(inclusion_proof_len(0, 1), Ok(0));
        assert_eq!(inclusion_proof_len(0, 8), Ok(3));
        assert_eq!(inclusion_proof_len(6, 7), Ok(2));
        assert_eq!(consistency_proof_len(1, 8), Ok(3));
        assert_eq!(consistency_proof_len(4, 8), Ok(1));
        assert_eq!(consistency_proof_len(6, 8), Ok(3));
        assert_eq!(consistency_proof_len(3, 3), Ok(0));
        assert_eq!(inclusion_proof_len(3, 3), Err(ProofError::IndexOutOfRange { index: 3, size: 3 }));
        assert_eq!(consistency_proof_len(4, 3), Err(ProofError::OldSizeExceedsNew { old_size: 4, new_size: 3 }));
        assert_eq!(tree_hash_plan(MAX_TREE_SIZE + 1), Err(ProofError::SizeTooLarge { size: MAX_TREE_SIZE + 1 }));
    }

    #[test]
    fn longest_proofs_fit_the_limit() {
        let size = MAX_TREE_SIZE;
        assert!(inclusion_proof_len(size - 1, size).unwrap() <= MAX_PROOF_HASHES);
        assert!(inclusion_proof_len(0, size).unwrap() <= MAX_PROOF_HASHES);
        for old in [1, 3, 5, size / 3, size - 1, (1 << 62) + 1] {
            assert!(consistency_proof_len(old, size).unwrap() <= MAX_PROOF_HASHES);
        }
    }

    #[test]
    fn assemble_rejects_wrong_hash_counts() {
        let plan = inclusion_plan(2, 7).unwrap();
        assert!(matches!(plan.assemble(&[]), Err(ProofError::HashCountMismatch { .. })));
    }

    #[test]
    fn proof_encoding_round_trips_and_rejects_garbage() {
        let proof = InclusionProof { leaf_index: 5, tree_size: 9, path: vec![Hash([7; 32]), Hash([9; 32])] };
        assert_eq!(InclusionProof::from_bytes(&proof.to_bytes()), Ok(proof.clone()));
        let bytes = proof.to_bytes();
        for cut in 0..bytes.len() {
            assert!(InclusionProof::from_bytes(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(ConsistencyProof::from_bytes(&long).is_err());
    }
}
