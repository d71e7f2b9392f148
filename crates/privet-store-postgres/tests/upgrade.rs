//! A database written by an older schema version opens with this build: pending migrations
//! run at connect and keep every row the older version wrote. Needs `DATABASE_URL`, like the
//! conformance suite; runs in a schema of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_core::SubjectId;
use privet_store::{ConsentEventRow, Op, Store, WriteSet};
use privet_store_postgres::{PgOptions, PgStore};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

#[tokio::test]
async fn a_version_1_database_is_upgraded_and_keeps_its_rows() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must name a test database");
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let subject = SubjectId::new();
    {
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.options(format!("-c search_path={schema}"));
        let (client, conn) = config.connect(NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        client
            .batch_execute(include_str!("../migrations/0001_init.sql"))
            .await
            .unwrap();
        client
            .batch_execute(
                "CREATE TABLE privet_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
                 INSERT INTO privet_migrations (version, name) VALUES (1, '0001_init'); \
                 INSERT INTO api_keys (prefix, hash, principal, created_at, revoked_at) \
                 VALUES ('oldkey00', '\\x01', 'admin', 0, NULL);",
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO subjects (id, key_version, wrapped_key, created_at) VALUES ($1, 1, $2, 0)",
                &[&&subject.as_bytes()[..], &vec![9u8; 60]],
            )
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
    }
    let options = PgOptions {
        schema: Some(schema),
        ..PgOptions::default()
    };
    let store = PgStore::connect(&url, options.clone()).await.unwrap();
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
    // Connecting again finds nothing left to migrate.
    let store = PgStore::connect(&url, options).await.unwrap();
    assert!(store.api_key("oldkey00").await.unwrap().is_some());
}

#[tokio::test]
async fn a_version_2_audit_log_gets_its_chain_subjects_subtree_hashes_and_head() {
    use privet_audit::{Action, AuditEntry};
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must name a test database");
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let subject = SubjectId::new();
    {
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.options(format!("-c search_path={schema}"));
        let (client, conn) = config.connect(NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        client
            .batch_execute(include_str!("../migrations/0001_init.sql"))
            .await
            .unwrap();
        client
            .batch_execute(include_str!("../migrations/0002_consent_principals.sql"))
            .await
            .unwrap();
        client
            .batch_execute(
                "CREATE TABLE privet_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
                 INSERT INTO privet_migrations (version, name) VALUES (1, '0001_init'), \
                 (2, '0002_consent_principals');",
            )
            .await
            .unwrap();
        // 70 leaves as version 2 wrote them: no chain, no subject, a head holding the size.
        for i in 0..70i64 {
            let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "cli", Action::SubjectRead);
            e.count = Some(i as u64);
            if i % 3 == 0 {
                e.subject = Some(subject);
            }
            let leaf = e.to_leaf();
            client
                .execute(
                    "INSERT INTO audit (idx, leaf, leaf_hash) VALUES ($1, $2, $3)",
                    &[&i, &leaf.bytes, &&leaf.hash[..]],
                )
                .await
                .unwrap();
        }
        client
            .execute("UPDATE audit_head SET size = 70", &[])
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
    }
    let options = PgOptions {
        schema: Some(schema),
        ..PgOptions::default()
    };
    let store = PgStore::connect(&url, options.clone()).await.unwrap();
    assert_eq!(
        privet_store::conformance::assert_tree_matches_leaves(&store).await,
        70
    );
    let of_subject = store
        .audit_leaves_of_subject(subject, 0, 100)
        .await
        .unwrap();
    assert_eq!(of_subject.len(), 24);
    // Appends continue the same tree and chain, from every server.
    let e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "cli", Action::Admin);
    let c = store.apply(WriteSet::new().audit(e)).await.unwrap();
    assert_eq!(c.first_audit_index, Some(70));
    drop(store);
    let store = PgStore::connect(&url, options).await.unwrap();
    assert_eq!(
        privet_store::conformance::assert_tree_matches_leaves(&store).await,
        71
    );
}
