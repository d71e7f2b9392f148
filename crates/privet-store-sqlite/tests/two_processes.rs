//! A `privet` command appends to the audit log while a server holds the same SQLite file
//! open: each store's writer must notice the other's appends instead of trusting the tree
//! head it cached, so every append lands and the tree stays one tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_audit::{Action, AuditEntry, merkle_root};
use privet_store::{Store, WriteSet};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

fn entry(n: u64) -> WriteSet {
    let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "test", Action::Admin);
    e.count = Some(n);
    WriteSet::new().audit(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_append_to_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("privet.db");
    let server = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let cli = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let mut n = 0;
    for round in 0..5 {
        for store in [&server, &cli, &server, &server, &cli] {
            let c = store.apply(entry(n)).await.unwrap();
            assert_eq!(c.first_audit_index, Some(n), "round {round}");
            n += 1;
        }
    }
    for store in [&server, &cli] {
        assert_eq!(store.audit_len().await.unwrap(), n);
        let leaves = store.audit_leaves(0, 1000).await.unwrap();
        let hashes: Vec<_> = leaves.iter().map(|l| l.leaf_hash).collect();
        let frontier = store.audit_frontier().await.unwrap();
        assert_eq!(frontier.size(), n);
        assert_eq!(frontier.root(), merkle_root(&hashes));
    }
}
