//! Properties of generated proofs: every proof verifies, every mutated proof
//! fails; proofs read from tiles equal proofs read from the store; proofs at
//! sizes up to 2^63 - 1 (on a periodic tree) verify.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use doorman_tlog::{
    consistency_plan, consistency_proof_len, inclusion_plan, inclusion_proof_len, leaf_hash, new_tiles,
    prove_consistency, prove_inclusion, read_tile, tiles_for_nodes, tree_hash, verify_consistency, verify_inclusion,
    Hash, MemoryTree, PeriodicTree, TileHashReader, MAX_TREE_SIZE,
};
use proptest::prelude::*;

const ENTRIES: u64 = 3000;

static TREE: LazyLock<MemoryTree> = LazyLock::new(|| {
    let mut tree = MemoryTree::new();
    for i in 0..ENTRIES {
        tree.append(&entry(i)).unwrap();
    }
    tree
});

static PERIODIC: LazyLock<PeriodicTree> = LazyLock::new(|| PeriodicTree::new(10).unwrap());

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

/// A tree size and an entry index in it.
fn index_in_tree(max: u64) -> impl Strategy<Value = (u64, u64)> {
    (1..=max).prop_flat_map(|size| (0..size, Just(size)))
}

/// Two tree sizes, old <= new.
fn two_sizes(max: u64) -> impl Strategy<Value = (u64, u64)> {
    (1..=max).prop_flat_map(|new| (0..=new, Just(new)))
}

#[derive(Debug, Clone)]
enum PathMutation {
    FlipBit { element: usize, bit: u16 },
    Remove { element: usize },
    Insert { element: usize, hash: [u8; 32] },
    Swap { first: usize, second: usize },
    Replace { element: usize, hash: [u8; 32] },
}

fn path_mutation() -> impl Strategy<Value = PathMutation> {
    prop_oneof![
        (any::<usize>(), 0u16..256).prop_map(|(element, bit)| PathMutation::FlipBit { element, bit }),
        any::<usize>().prop_map(|element| PathMutation::Remove { element }),
        (any::<usize>(), any::<[u8; 32]>()).prop_map(|(element, hash)| PathMutation::Insert { element, hash }),
        (any::<usize>(), any::<usize>()).prop_map(|(first, second)| PathMutation::Swap { first, second }),
        (any::<usize>(), any::<[u8; 32]>()).prop_map(|(element, hash)| PathMutation::Replace { element, hash }),
    ]
}

/// Applies a mutation; `None` when it leaves the path unchanged (an empty
/// path has nothing to flip, swapping equal hashes changes nothing).
fn mutate(path: &[Hash], mutation: &PathMutation) -> Option<Vec<Hash>> {
    let mut out = path.to_vec();
    let len = out.len();
    match *mutation {
        PathMutation::FlipBit { element, bit } => {
            let hash = out.get_mut(element.checked_rem(len)?)?;
            hash.0[usize::from(bit / 8)] ^= 1 << (bit % 8);
        }
        PathMutation::Remove { element } => {
            out.remove(element.checked_rem(len)?);
        }
        PathMutation::Insert { element, hash } => out.insert(element % (len + 1), Hash(hash)),
        PathMutation::Swap { first, second } => {
            out.swap(first.checked_rem(len)?, second.checked_rem(len)?);
        }
        PathMutation::Replace { element, hash } => {
            *out.get_mut(element.checked_rem(len)?)? = Hash(hash);
        }
    }
    (out != path).then_some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn inclusion_proofs_verify_and_mutations_fail(
        (index, size) in index_in_tree(ENTRIES),
        mutation in path_mutation(),
        other_index in any::<u64>(),
        other_size in 1..=ENTRIES,
    ) {
        let tree = &*TREE;
        let root = tree.root_at(size).unwrap();
        let leaf = leaf_hash(&entry(index));
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(proof.path.len(), inclusion_proof_len(index, size).unwrap());
        verify_inclusion(&leaf, index, size, &proof.path, &root).unwrap();

        if let Some(mutated) = mutate(&proof.path, &mutation) {
            prop_assert!(verify_inclusion(&leaf, index, size, &mutated, &root).is_err());
        }
        let other_index = other_index % size;
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof.path, &root).is_err());
            let other_leaf = leaf_hash(&entry(other_index));
            prop_assert!(verify_inclusion(&other_leaf, index, size, &proof.path, &root).is_err());
        }
        // The root commits to the size only through the signed checkpoint;
        // a proof checked under another size must fail whenever that size
        // calls for another proof length.
        if other_size != size
            && inclusion_proof_len(index, other_size).ok() != Some(proof.path.len())
        {
            prop_assert!(verify_inclusion(&leaf, index, other_size, &proof.path, &root).is_err());
        }
        if size > 1 {
            let other_root = tree.root_at(size - 1).unwrap();
            prop_assert!(verify_inclusion(&leaf, index, size, &proof.path, &other_root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_mutations_fail(
        (old, new) in two_sizes(ENTRIES),
        mutation in path_mutation(),
        other_old in 0..=ENTRIES,
    ) {
        let tree = &*TREE;
        let (old_root, new_root) = (tree.root_at(old).unwrap(), tree.root_at(new).unwrap());
        let proof = tree.consistency_proof(old, new).unwrap();
        prop_assert_eq!(proof.path.len(), consistency_proof_len(old, new).unwrap());
        verify_consistency(old, new, &old_root, &new_root, &proof.path).unwrap();

        if let Some(mutated) = mutate(&proof.path, &mutation) {
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &mutated).is_err());
        }
        if old > 0 && old < new {
            let wrong_old = tree.root_at(old - 1).unwrap();
            prop_assert!(verify_consistency(old, new, &wrong_old, &new_root, &proof.path).is_err());
            let wrong_new = tree.root_at(new - 1).unwrap();
            prop_assert!(verify_consistency(old, new, &old_root, &wrong_new, &proof.path).is_err());
        }
        if other_old != old && consistency_proof_len(other_old, new).ok() != Some(proof.path.len()) {
            prop_assert!(verify_consistency(other_old, new, &old_root, &new_root, &proof.path).is_err());
        }
    }

    #[test]
    fn plans_read_through_tiles_equal_plans_read_from_the_store(
        (index, size) in index_in_tree(ENTRIES),
        old in 0..=ENTRIES,
    ) {
        let tree = &*TREE;
        let old = old.min(size);
        let tiles: BTreeMap<_, _> = new_tiles(0, size)
            .into_iter()
            .map(|tile| (tile, read_tile(tree, tile).unwrap()))
            .collect();
        let reader = TileHashReader::new(size, &tiles);
        prop_assert_eq!(tree_hash(&reader, size).unwrap(), tree.root_at(size).unwrap());
        prop_assert_eq!(
            prove_inclusion(&reader, index, size).unwrap(),
            prove_inclusion(tree, index, size).unwrap()
        );
        prop_assert_eq!(
            prove_consistency(&reader, old, size).unwrap(),
            prove_consistency(tree, old, size).unwrap()
        );
        // The tiles a client computes it needs are enough on their own.
        for nodes in [inclusion_plan(index, size).unwrap().nodes(), consistency_plan(old, size).unwrap().nodes()] {
            for tile in tiles_for_nodes(nodes, size).unwrap() {
                prop_assert!(tiles.contains_key(&tile), "{:?} not published", tile);
            }
        }
    }

    #[test]
    fn proofs_verify_at_any_size(
        size in 1..=MAX_TREE_SIZE,
        index_seed in any::<u64>(),
        old_seed in any::<u64>(),
        mutation in path_mutation(),
    ) {
        let tree = &*PERIODIC;
        let index = index_seed % size;
        let old = old_seed % (size + 1);
        let root = tree_hash(tree, size).unwrap();
        let leaf = tree.leaf_hash_at(index);
        let proof = prove_inclusion(tree, index, size).unwrap();
        proof.verify(&leaf, &root).unwrap();
        if let Some(mutated) = mutate(&proof.path, &mutation) {
            prop_assert!(verify_inclusion(&leaf, index, size, &mutated, &root).is_err());
        }
        let old_root = tree_hash(tree, old).unwrap();
        let proof = prove_consistency(tree, old, size).unwrap();
        proof.verify(&old_root, &root).unwrap();
        if let Some(mutated) = mutate(&proof.path, &mutation) {
            prop_assert!(verify_consistency(old, size, &old_root, &root, &mutated).is_err());
        }
    }
}
