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
