//! Privet's embedded default backend: bundled SQLite in WAL mode.
//!
//! One writer thread owns the only read-write connection and commits concurrent write sets
//! together (group commit), so per-request audit appends share one fsync; each write set runs
//! inside its own savepoint, so one that fails leaves the others of its group untouched.
//! Reads use a small pool of connections on tokio's blocking threads. `secure_delete` is on,
//! and the WAL is checkpointed and truncated after an erasure so erased ciphertexts and keys
//! do not linger in it. The writer also keeps the audit tree's head (frontier and chain value)
//! in memory, and writes each leaf with the subtree hashes it completes in the same
//! transaction. This crate is the only place that writes SQL for SQLite.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod apply;
mod audit;
pub mod baseline;
mod bulk;
mod checkpoint;
mod consent;
mod index;
mod migrate;
mod principals;
mod read;
mod retained;
mod retention;
mod rights;
mod rotation;
mod snapshot;
mod store;
mod writer;

pub use snapshot::{SqliteSnapshot, check_dump, load_dump};
pub use store::{SqliteOptions, SqliteStore};
