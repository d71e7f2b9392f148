//! A database written by an older schema version opens with this build: pending migrations
//! run at start and keep every row the older version wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_core::SubjectId;
use privet_store::{ConsentEventRow, Op, Store, WriteSet};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use rusqlite::params;
use time::OffsetDateTime;

#[tokio::test]
async fn a_version_1_database_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("privet.db");
    let subject = SubjectId::new();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../migrations/0001_init.sql"))
            .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO subjects (id, key_version, wrapped_key, created_at) VALUES (?1, 1, ?2, 0)",
            params![&subject.as_bytes()[..], vec![9u8; 60]],
        )
        .unwrap();
        c.execute(
            "INSERT INTO api_keys (prefix, hash, principal, created_at, revoked_at) \
             VALUES ('oldkey00', x'01', 'admin', 0, NULL)",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let key = store.api_key("oldkey00").await.unwrap().unwrap();
    assert_eq!(key.principal, "admin");
    assert_eq!(key.expires_at, None);
    let data = store
        .load_subject(subject, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data.subject.wrapped_key, vec![9u8; 60]);
    assert!(data.consents.is_empty());
    let event = ConsentEventRow {
        subject,
        purpose: "analytics".into(),
        state: "granted".into(),
        at: OffsetDateTime::UNIX_EPOCH,
        source: "import".into(),
        notice_version: "v1".into(),
        expires_at: None,
        actor: "admin".into(),
    };
    store
        .apply(WriteSet::new().op(Op::AppendConsent(event.clone())))
        .await
        .unwrap();
    assert_eq!(store.consent_history(subject).await.unwrap(), vec![event]);
    drop(store);
    // Reopening finds nothing left to migrate.
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert!(store.api_key("oldkey00").await.unwrap().is_some());
}

#[tokio::test]
async fn a_version_2_audit_log_gets_its_chain_subjects_and_subtree_hashes() {
    use privet_audit::{Action, AuditEntry};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("privet.db");
    let subject = SubjectId::new();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../migrations/0001_init.sql"))
            .unwrap();
        c.execute_batch(include_str!("../migrations/0002_consent_principals.sql"))
            .unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        // 70 leaves as version 2 wrote them: rowid = index + 1, no chain, no subject column.
        for i in 0..70u64 {
            let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "cli", Action::SubjectRead);
            e.count = Some(i);
            if i % 3 == 0 {
                e.subject = Some(subject);
            }
            let leaf = e.to_leaf();
            c.execute(
                "INSERT INTO audit (leaf, leaf_hash) VALUES (?1, ?2)",
                params![leaf.bytes, &leaf.hash[..]],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(
        privet_store::conformance::assert_tree_matches_leaves(&store).await,
        70
    );
    let of_subject = store
        .audit_leaves_of_subject(subject, 0, 100)
        .await
        .unwrap();
    assert_eq!(of_subject.len(), 24);
    assert!(of_subject.iter().all(|l| l.index % 3 == 0));
    // Appends continue the same tree and chain.
    let e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "cli", Action::Admin);
    let c = store.apply(WriteSet::new().audit(e)).await.unwrap();
    assert_eq!(c.first_audit_index, Some(70));
    assert_eq!(
        privet_store::conformance::assert_tree_matches_leaves(&store).await,
        71
    );
    drop(store);
    // The backfill ran once: reopening changes nothing.
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(
        privet_store::conformance::assert_tree_matches_leaves(&store).await,
        71
    );
}
