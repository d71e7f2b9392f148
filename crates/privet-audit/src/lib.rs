//! Privet's audit trail: the entries every use case appends, the RFC 9162 Merkle tree over
//! them, proofs, signed checkpoints, and verification of a stored log.
//!
//! This crate owns what an audit entry says and the exact bytes hashed as its Merkle leaf
//! ([`AuditEntry`]); the tree's hashing ([`leaf_hash`], [`node_hash`], [`merkle_root`]) and
//! its right edge ([`Frontier`]), from which checkpoints are signed without rereading old
//! leaves; inclusion and consistency proofs, made from any [`HashSource`] (or planned with
//! [`ProofPlan`] and assembled from hashes a store fetched) and verified by the algorithms
//! of RFC 9162 §2.1.3.2 and §2.1.4.2 ([`verify_inclusion`], [`verify_consistency`]);
//! checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes with Ed25519
//! ([`Checkpoint`], [`sign_note`], [`verify_note`], [`VerifierKey`]); and the verification
//! of a whole stored log against its checkpoints ([`verify_log`], [`check_against`],
//! [`LogVerifier`]).
//!
//! It is storage-agnostic and does no I/O. It must never hold a personal value: entries
//! name subjects, collections, fields and purposes, never what a field contains. It must
//! never panic on outside input (notes, keys, checkpoints, proofs, stored leaves), and it
//! implements no cryptographic primitive (SHA-256 is RustCrypto's, Ed25519 is
//! ed25519-dalek behind `privet-crypto`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod b64;
mod chain;
mod checkpoint;
mod entry;
mod error;
mod frontier;
mod hash;
mod note;
mod plan;
mod proof;
mod source;
mod tree;
mod verify;

pub use chain::{CHAIN_PREFIX, CHAIN_START, chain_hash};
pub use checkpoint::{Checkpoint, verify_checkpoint};
pub use entry::{Action, AuditEntry, Decision, Leaf, WithheldField};
pub use error::{CheckpointRef, NoteError, ProofError, VerifyError};
pub use frontier::Frontier;
pub use hash::{EMPTY_ROOT, Hash, LEAF_PREFIX, NODE_PREFIX, leaf_hash, node_hash};
pub use note::{
    ED25519_SIGNATURE_TYPE, MAX_NOTE_LEN, MAX_SIGNATURES, VerifierKey, key_id, sign_note,
    verify_note,
};
pub use plan::ProofPlan;
pub use proof::{
    ConsistencyProof, InclusionProof, root_from_inclusion_proof, verify_consistency,
    verify_inclusion,
};
pub use source::{HashSource, MemoryTree, consistency_proof, inclusion_proof, tree_root};
pub use tree::{Subtree, merkle_root};
pub use verify::{LogReport, LogVerifier, StoredLeaf, check_against, verify_log};
