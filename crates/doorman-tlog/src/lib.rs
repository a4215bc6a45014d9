//! Transparency log core for doorman's audit trail: an append-only Merkle
//! tree (RFC 6962 / RFC 9162), its proofs, and the C2SP formats around it
//! (signed notes, checkpoints, cosignatures, tiles, witnesses).
//!
//! This crate does no I/O and reads no clock: storage sits behind a trait or
//! a plan/assemble pair, and time is a parameter. The service wires it to
//! SQLite/PostgreSQL and HTTP; an independent verifier uses the same code.
//!
//! # Map
//!
//! - [`hash`]: [`Hash`](struct@Hash), [`leaf_hash`] (`0x00` prefix), [`node_hash`]
//!   (`0x01` prefix), [`empty_tree_hash`].
//! - [`node`]: [`NodeId`], a complete subtree, and the *stored hash index*
//!   layout ([`NodeId::stored_index`]): every complete subtree's hash is
//!   stored once, under a dense append-only integer key, two per entry on
//!   average. An SQL table `(idx INTEGER PRIMARY KEY, hash BLOB)` holds a
//!   tree of any size.
//! - [`tree`]: [`Frontier`], what a sequencer keeps in memory to append in
//!   batches (each append returns the [`StoredHash`]es to write) and to
//!   compute the root; [`MemoryTree`], a whole tree in memory.
//! - [`proof`]: [`ProofPlan`] (which stored hashes a proof needs, then
//!   [`ProofPlan::assemble`]), the [`HashReader`] trait for synchronous
//!   stores, [`prove_inclusion`], [`prove_consistency`], [`tree_hash`], and
//!   verification ([`verify_inclusion`], [`verify_consistency`]).
//! - [`note`]: C2SP signed notes, Ed25519 [`NoteSigner`], [`VerifierKey`]
//!   (vkey strings `name+hash+base64(type||key)`).
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies and
//!   [`SignedCheckpoint::open`].
//! - [`cosignature`]: C2SP `cosignature/v1` witness signatures
//!   ([`Cosigner`]).
//! - [`witness`]: the [`Witness`] state machine (`c2sp.org/tlog-witness`).
//! - [`tiles`]: C2SP `tlog-tiles` coordinates, paths, tile and entry bundle
//!   codecs, [`TileHashReader`] to prove from tiles.
//! - [`audit`]: inclusion of an entry in a checkpoint, consistency between
//!   checkpoints, fork detection ([`AuditError::Fork`]).
//! - [`synthetic`]: [`PeriodicTree`], a real tree of up to 2^63 - 1 repeating
//!   entries in a few megabytes, to measure proofs at sizes nobody can store.
//!
//! Every decoder of outside bytes (notes, checkpoints, keys, proofs, tiles,
//! tile paths, bundles, witness requests) returns an error rather than
//! panicking, whatever the input.
//!
//! # Example
//!
//! ```
//! use doorman_tlog::{
//!     leaf_hash, verify_checkpoint_consistency, verify_entry_inclusion, Checkpoint, MemoryTree,
//!     NoteSigner, SignedCheckpoint,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The log appends entries and signs a checkpoint.
//! let signer = NoteSigner::from_seed("doorman.example/audit", [42; 32])?;
//! let mut tree = MemoryTree::new();
//! for event in [&b"access request"[..], b"grant", b"unlock"] {
//!     tree.append(event)?;
//! }
//! let old = Checkpoint::new("doorman.example/audit", tree.size(), tree.root())?;
//! tree.append(b"door closed")?;
//! let note = Checkpoint::new("doorman.example/audit", tree.size(), tree.root())?.sign(&signer)?;
//! let wire = note.to_text();
//!
//! // A resident's verifier trusts the log key, opens the checkpoint, and
//! // checks an entry and the log's growth since the checkpoint it kept.
//! let log_key = signer.verifier_key();
//! let opened = SignedCheckpoint::open(wire.as_bytes(), &[log_key], &[])?;
//! let new = opened.checkpoint();
//! let inclusion = tree.inclusion_proof(1, new.size())?;
//! verify_entry_inclusion(new, b"grant", &inclusion)?;
//! let consistency = tree.consistency_proof(old.size(), new.size())?;
//! verify_checkpoint_consistency(&old, new, &consistency)?;
//! assert_eq!(inclusion.root(&leaf_hash(b"grant"))?, new.root());
//! # Ok(())
//! # }
//! ```
//!
//! With a store that answers asynchronously (sqlx), use the plan directly:
//!
//! ```
//! # use doorman_tlog::{inclusion_plan, MemoryTree, HashReader};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut tree = MemoryTree::new();
//! # for i in 0u32..10 { tree.append(&i.to_be_bytes())?; }
//! let plan = inclusion_plan(3, 10)?;
//! let keys: Vec<u64> = plan.nodes().iter().map(|node| node.stored_index()).collect();
//! // SELECT idx, hash FROM tlog_hash WHERE idx IN (...keys...), in key order:
//! let hashes = tree.read_hashes(plan.nodes())?;
//! # let _ = keys;
//! let path = plan.assemble(&hashes)?;
//! # assert_eq!(path, tree.inclusion_proof(3, 10)?.path);
//! # Ok(())
//! # }
//! ```

pub mod audit;
pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod node;
pub mod note;
pub mod proof;
pub mod synthetic;
pub mod tiles;
pub mod tree;
pub mod witness;

pub use audit::{
    check_fork, verify_checkpoint_consistency, verify_entry_inclusion, verify_leaf_inclusion, AuditError, SeenTreeHeads,
};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, TreeHead};
pub use cosignature::{cosigned_message, CosignError, Cosigner, MAX_TIMESTAMP};
pub use hash::{empty_tree_hash, leaf_hash, node_hash, Hash, HashDecodeError, HASH_SIZE};
pub use node::{frontier_nodes, stored_hash_count, NodeId, MAX_TREE_SIZE};
pub use note::{
    check_key_name, key_id, KeyError, KeyKind, Note, NoteError, NoteSignature, NoteSigner, SignatureInvalid,
    VerifiedSignature, VerifierKey, MAX_NOTE_SIZE, MAX_SIGNATURES,
};
pub use proof::{
    consistency_plan, consistency_proof_len, inclusion_plan, inclusion_proof_len, prove_consistency, prove_inclusion,
    root_from_inclusion_proof, tree_hash, tree_hash_plan, verify_consistency, verify_inclusion, ConsistencyProof,
    HashReader, InclusionProof, ProofError, ProofPlan, ProveError, ReadError, MAX_PROOF_HASHES,
};
pub use synthetic::PeriodicTree;
pub use tiles::{
    bundle_leaf_hashes, decode_entry_bundle, decode_tile, encode_entry_bundle, encode_tile, new_tiles, parse_tile_path,
    read_tile, tiles_for_nodes, EntryBundleId, TileError, TileHashReader, TileId, TilePath, TileReader, MAX_TILE_LEVEL,
    TILE_HEIGHT, TILE_WIDTH,
};
pub use tree::{Frontier, MemoryTree, StoredHash};
pub use witness::{AddCheckpointRequest, Cosigned, Witness, WitnessError, MAX_REQUEST_PROOF_LINES};
