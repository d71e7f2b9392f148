//! The privet-store conformance suite, run against SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_store_sqlite::{SqliteOptions, SqliteStore};

async fn fresh() -> SqliteStore {
    // Each test keeps its directory alive for the process's lifetime (leaked on purpose, so
    // the store outlives nothing it needs).
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap()
}

privet_store::store_conformance_tests!(fresh());

/// The same suite with the blind index merged after every entry, so every case also runs
/// across merges of the index's two levels.
mod merging_every_entry {
    use super::*;

    async fn fresh() -> SqliteStore {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let options = SqliteOptions {
            index_merge_at: 1,
            ..SqliteOptions::default()
        };
        SqliteStore::open(dir.path().join("privet.db"), options).unwrap()
    }

    privet_store::store_conformance_tests!(fresh());
}
