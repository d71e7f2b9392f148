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
