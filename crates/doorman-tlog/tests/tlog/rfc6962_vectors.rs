//! The RFC 6962 reference test vectors (testdata/rfc6962): roots, inclusion
//! proofs and consistency proofs over eight known leaves, generated and
//! verified, and rejected once corrupted.

use doorman_tlog::{empty_tree_hash, leaf_hash, verify_consistency, verify_inclusion, Frontier, Hash, MemoryTree};

const LEAVES: &str = include_str!("../../testdata/rfc6962/leaves.txt");
const ROOTS: &str = include_str!("../../testdata/rfc6962/roots.txt");
const INCLUSION: &str = include_str!("../../testdata/rfc6962/inclusion.txt");
const CONSISTENCY: &str = include_str!("../../testdata/rfc6962/consistency.txt");

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect())
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn hash(text: &str) -> Hash {
    Hash::from_hex(text).unwrap()
}

fn leaves() -> Vec<Vec<u8>> {
    records(LEAVES)
        .map(|fields| match fields[0] {
            "-" => Vec::new(),
            hex => hex_bytes(hex),
        })
        .collect()
}

fn tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in leaves() {
        tree.append(&leaf).unwrap();
    }
    tree
}

fn roots() -> Vec<(u64, Hash)> {
    records(ROOTS).map(|fields| (fields[0].parse().unwrap(), hash(fields[1]))).collect()
}

fn root_of(size: u64) -> Hash {
    roots().into_iter().find(|(s, _)| *s == size).map(|(_, root)| root).unwrap()
}

struct Vector {
    first: u64,
    second: u64,
    path: Vec<Hash>,
}

fn vectors(text: &str) -> Vec<Vector> {
    records(text)
        .map(|fields| Vector {
            first: fields[0].parse().unwrap(),
            second: fields[1].parse().unwrap(),
            path: fields[2..].iter().map(|h| hash(h)).collect(),
        })
        .collect()
}

#[test]
fn data_files_hold_the_published_set() {
    assert_eq!(leaves().len(), 8);
    assert_eq!(roots().len(), 8);
    assert_eq!(vectors(INCLUSION).len(), 5);
    assert_eq!(vectors(CONSISTENCY).len(), 5);
}

#[test]
fn roots_match_at_every_size() {
    let tree = tree();
    let mut frontier = Frontier::new();
    let mut written = Vec::new();
    for (size, (leaf, (expected_size, expected_root))) in (1u64..).zip(leaves().iter().zip(roots())) {
        frontier.append(leaf, &mut written).unwrap();
        assert_eq!(size, expected_size);
        assert_eq!(frontier.root(), expected_root, "size {size}");
        assert_eq!(tree.root_at(size).unwrap(), expected_root, "size {size}");
    }
    assert_eq!(tree.root_at(0).unwrap(), empty_tree_hash());
}

/// Ways to break an inclusion proof that must all be refused.
fn corrupt_inclusion(
    index: u64,
    size: u64,
    path: &[Hash],
    root: Hash,
    leaf: Hash,
) -> Vec<(String, u64, u64, Vec<Hash>, Hash, Hash)> {
    let other = Hash([0x5a; 32]);
    let mut probes = vec![
        ("index + 1".to_owned(), index + 1, size, path.to_vec(), root, leaf),
        ("index ^ 2".to_owned(), index ^ 2, size, path.to_vec(), root, leaf),
        ("size * 2".to_owned(), index, size * 2, path.to_vec(), root, leaf),
        ("size / 2".to_owned(), index, size / 2, path.to_vec(), root, leaf),
        ("wrong leaf".to_owned(), index, size, path.to_vec(), root, leaf_hash(b"wrong")),
        ("empty root".to_owned(), index, size, path.to_vec(), empty_tree_hash(), leaf),
        ("other root".to_owned(), index, size, path.to_vec(), other, leaf),
        ("trailing root".to_owned(), index, size, [path, &[root]].concat(), root, leaf),
        ("trailing zeros".to_owned(), index, size, [path, &[Hash::default()]].concat(), root, leaf),
        ("leading root".to_owned(), index, size, [&[root], path].concat(), root, leaf),
    ];
    if index > 0 {
        probes.push(("index - 1".to_owned(), index - 1, size, path.to_vec(), root, leaf));
    }
    for position in 0..path.len() {
        let mut flipped = path.to_vec();
        flipped[position].0[0] ^= 8;
        probes.push((format!("flip bit in [{position}]"), index, size, flipped, root, leaf));
    }
    if let Some((_, shorter)) = path.split_last() {
        probes.push(("removed last".to_owned(), index, size, shorter.to_vec(), root, leaf));
    }
    if path.len() > 1 {
        let mut inserted = path.to_vec();
        inserted.insert(1, other);
        probes.push(("inserted".to_owned(), index, size, inserted, root, leaf));
    }
    probes
}

#[test]
fn inclusion_vectors_are_generated_and_verified() {
    let tree = tree();
    let leaves = leaves();
    for vector in vectors(INCLUSION) {
        let (index, size) = (vector.first, vector.second);
        let generated = tree.inclusion_proof(index, size).unwrap();
        assert_eq!(generated.path, vector.path, "proof ({index}, {size})");
        let leaf = leaf_hash(&leaves[index as usize]);
        let root = root_of(size);
        verify_inclusion(&leaf, index, size, &vector.path, &root).unwrap();
        for (what, i, s, path, r, l) in corrupt_inclusion(index, size, &vector.path, root, leaf) {
            assert!(verify_inclusion(&l, i, s, &path, &r).is_err(), "({index}, {size}) accepted after: {what}");
        }
    }
}

#[test]
fn consistency_vectors_are_generated_and_verified() {
    let tree = tree();
    let other = Hash([0x5a; 32]);
    for vector in vectors(CONSISTENCY) {
        let (old, new) = (vector.first, vector.second);
        let generated = tree.consistency_proof(old, new).unwrap();
        assert_eq!(generated.path, vector.path, "proof ({old}, {new})");
        let (old_root, new_root) = (root_of(old), root_of(new));
        verify_consistency(old, new, &old_root, &new_root, &vector.path).unwrap();
        assert!(verify_consistency(old, new, &other, &new_root, &vector.path).is_err());
        if vector.path.is_empty() {
            continue;
        }
        let path = &vector.path;
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("old + 1".into(), old + 1, new, old_root, new_root, path.clone()),
            ("old - 1".into(), old - 1, new, old_root, new_root, path.clone()),
            ("old ^ 2".into(), old ^ 2, new, old_root, new_root, path.clone()),
            ("new * 2".into(), old, new * 2, old_root, new_root, path.clone()),
            ("new / 2".into(), old, new / 2, old_root, new_root, path.clone()),
            ("wrong new root".into(), old, new, old_root, other, path.clone()),
            ("swapped roots".into(), old, new, new_root, old_root, path.clone()),
            ("empty proof".into(), old, new, old_root, new_root, vec![]),
            ("trailing old root".into(), old, new, old_root, new_root, [path.as_slice(), &[old_root]].concat()),
            ("trailing new root".into(), old, new, old_root, new_root, [path.as_slice(), &[new_root]].concat()),
            ("leading old root".into(), old, new, old_root, new_root, [&[old_root], path.as_slice()].concat()),
            ("leading first".into(), old, new, old_root, new_root, [&[path[0]], path.as_slice()].concat()),
            ("truncated".into(), old, new, old_root, new_root, path[..path.len() - 1].to_vec()),
        ];
        for position in 0..path.len() {
            let mut flipped = path.clone();
            flipped[position].0[0] ^= 16;
            probes.push((format!("flip bit in [{position}]"), old, new, old_root, new_root, flipped));
        }
        for (what, o, n, or, nr, p) in probes {
            assert!(verify_consistency(o, n, &or, &nr, &p).is_err(), "({old}, {new}) accepted after: {what}");
        }
    }
}

#[test]
fn trivial_consistency_cases() {
    let a = Hash([1; 32]);
    let b = Hash([2; 32]);
    // Equal sizes need equal roots and an empty proof.
    assert!(verify_consistency(0, 0, &a, &a, &[]).is_ok());
    assert!(verify_consistency(1, 1, &a, &a, &[]).is_ok());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 1, &a, &a, &[empty_tree_hash()]).is_err());
    // The empty tree is a prefix of every tree, with an empty proof only.
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_ok());
    assert!(verify_consistency(0, 1, &a, &b, &[a]).is_err());
    // Time does not run backwards.
    assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    // Inclusion in an empty tree or past its end is impossible.
    assert!(verify_inclusion(&a, 0, 0, &[], &a).is_err());
    assert!(verify_inclusion(&a, 1, 1, &[], &a).is_err());
    assert!(verify_inclusion(&a, 0, 1, &[], &a).is_ok());
}
