//! Privet's audit trail: the entry every use case appends, and its RFC 9162 leaf encoding.
//!
//! This crate owns what an audit entry says and the exact bytes that are hashed as a Merkle
//! leaf. It is storage-agnostic and must never hold a personal value: entries name subjects,
//! collections, fields and purposes, never what a field contains. The Merkle tree, proofs and
//! signed checkpoints grow here later on top of [`leaf_hash`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod entry;
mod hash;

pub use entry::{Action, AuditEntry, Decision, Leaf, WithheldField};
pub use hash::{LEAF_PREFIX, NODE_PREFIX, leaf_hash, node_hash};
