//! Encrypted backups of a Privet vault and the erasure ledger that keeps erased customers
//! erased across restores.
//!
//! This crate owns the backup file format ([`BackupWriter`], [`BackupReader`], the
//! [`Manifest`]), the ledger file ([`Ledger`]), the [`LedgerStore`] decorator that appends
//! every committed erasure and restriction to the ledger before the caller hears of it, and
//! the replay of the ledger into a restored store ([`replay_ledger`]).
//!
//! It must never: write plaintext personal data anywhere (a backup's payload is encrypted
//! chunk by chunk before it reaches the file; the ledger holds subject ids, times and event
//! kinds only), implement a cryptographic primitive (STREAM and AES-256-GCM come from
//! RustCrypto through privet-crypto), or write SQL (the backends dump and load themselves).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod format;
mod ledger;
mod ledger_store;
mod replay;

pub use error::BackupError;
pub use format::{BackupReader, BackupWriter, CHUNK_LEN, Manifest, TableCount};
pub use ledger::{Ledger, LedgerEvent, LedgerKind, merge_ledgers};
pub use ledger_store::LedgerStore;
pub use replay::{ReplayReport, replay_ledger, resync_erasures};
