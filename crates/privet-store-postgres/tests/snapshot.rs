//! Dumps of a PostgreSQL store for backups: every table is in them, they are one point in
//! time while writes go on, and they load into an empty database as the same store (identity
//! sequences included). Needs `DATABASE_URL`, like the conformance suite; each case runs in
//! schemas of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_core::SubjectId;
use privet_store::{ConsentEventRow, Op, Store, SubjectRow, WriteSet};
use privet_store_postgres::{PgOptions, PgStore, check_dump};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: PostgreSQL tests need a database (./scripts/test sets it)")
    })
}

fn schema() -> String {
    format!("t_{}", uuid::Uuid::now_v7().simple())
}

fn options(schema: &str) -> PgOptions {
    PgOptions {
        schema: Some(schema.to_owned()),
        ..PgOptions::default()
    }
}

/// Every table of `schema` with its row count, read straight from the catalog and the
/// tables (not through the dump code).
async fn tables_in(schema: &str) -> Vec<(String, i64)> {
    let (client, conn) = url()
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let names: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for n in names {
        let c: i64 = client
            .query_one(&format!("SELECT count(*) FROM {schema}.\"{n}\""), &[])
            .await
            .unwrap()
            .get(0);
        out.push((n, c));
    }
    out
}

fn consent(subject: SubjectId, purpose: &str) -> ConsentEventRow {
    ConsentEventRow {
        subject,
        purpose: purpose.into(),
        state: "granted".into(),
        at: OffsetDateTime::UNIX_EPOCH,
        source: "api".into(),
        notice_version: "v1".into(),
        expires_at: None,
        actor: "admin".into(),
    }
}

async fn put_subject(store: &PgStore, subject: SubjectId) {
    store
        .apply(
            WriteSet::new()
                .op(Op::CreateSubject(SubjectRow {
                    id: subject,
                    key_version: 1,
                    wrapped_key: vec![7u8; 60],
                    created_at: OffsetDateTime::UNIX_EPOCH,
                }))
                .op(Op::AppendConsent(consent(subject, "analytics"))),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_covers_every_table_and_loads_into_an_empty_database_as_the_same_store() {
    let (src_schema, dst_schema) = (schema(), schema());
    let src = PgStore::connect(&url(), options(&src_schema))
        .await
        .unwrap();
    let subject = SubjectId::new();
    put_subject(&src, subject).await;
    src.apply(WriteSet::new().op(Op::PutMeta {
        key: "k".into(),
        value: vec![0, 1, 2, 255],
    }))
    .await
    .unwrap();

    let snap = src.snapshot().await.unwrap();
    let info = snap.info().clone();
    assert_eq!(info.backend, "postgres");
    assert_eq!(info.migrations.len(), info.schema_version as usize);
    // Every table a migration created is in the dump without anyone listing it (the
    // migrations table itself is recreated by migrating).
    let mut dumped: Vec<(String, i64)> = info
        .tables
        .iter()
        .map(|(n, c)| (n.clone(), *c as i64))
        .collect();
    dumped.sort();
    let mut expected = tables_in(&src_schema).await;
    expected.retain(|(n, _)| n != "privet_migrations");
    assert_eq!(dumped, expected);
    // Referenced tables come before the tables that reference them.
    let pos = |t: &str| info.tables.iter().position(|(n, _)| n == t).unwrap();
    assert!(pos("subjects") < pos("consent_events"));

    let mut buf = Vec::new();
    snap.write_to(&mut buf, &mut |_| {}).await.unwrap();
    let checked = check_dump(&mut buf.as_slice(), &mut |_| {}).await.unwrap();
    assert_eq!(checked.tables, info.tables);

    let dst = PgStore::connect_for_load(&url(), options(&dst_schema))
        .await
        .unwrap();
    let mut seen = 0;
    let summary = dst
        .load_dump(&mut buf.as_slice(), &mut |n| seen = n)
        .await
        .unwrap();
    assert_eq!(summary.tables, info.tables);
    assert_eq!(seen, info.tables.iter().map(|(_, c)| c).sum::<u64>());
    assert_eq!(tables_in(&dst_schema).await, tables_in(&src_schema).await);
    drop(dst);

    let restored = PgStore::connect(&url(), options(&dst_schema))
        .await
        .unwrap();
    assert_eq!(restored.meta("k").await.unwrap(), Some(vec![0, 1, 2, 255]));
    let (size, root) = (info.audit_size, info.audit_root);
    let frontier = restored.audit_frontier().await.unwrap();
    assert_eq!((frontier.size(), frontier.root()), (size, root));
    // The identity sequences moved past the restored rows: new rows do not collide.
    restored
        .apply(WriteSet::new().op(Op::AppendConsent(consent(subject, "marketing"))))
        .await
        .unwrap();
    assert_eq!(restored.consent_history(subject).await.unwrap().len(), 2);

    // A second load into the now populated database is refused and changes nothing.
    let again = PgStore::connect_for_load(&url(), options(&dst_schema))
        .await
        .unwrap();
    let err = again
        .load_dump(&mut buf.as_slice(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty database"), "{err}");
    assert_eq!(restored.consent_history(subject).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_damaged_dump_is_refused_and_leaves_the_target_empty() {
    let src = PgStore::connect(&url(), options(&schema())).await.unwrap();
    put_subject(&src, SubjectId::new()).await;
    let mut buf = Vec::new();
    src.snapshot()
        .await
        .unwrap()
        .write_to(&mut buf, &mut |_| {})
        .await
        .unwrap();
    let cut = &buf[..buf.len() - 3];
    assert!(check_dump(&mut &cut[..], &mut |_| {}).await.is_err());
    let dst_schema = schema();
    let dst = PgStore::connect_for_load(&url(), options(&dst_schema))
        .await
        .unwrap();
    assert!(dst.load_dump(&mut &cut[..], &mut |_| {}).await.is_err());
    // The load was one transaction: the migrations it ran rolled back with it.
    assert_eq!(tables_in(&dst_schema).await, vec![]);
    // A dump is never read past its end.
    let mut longer = buf.clone();
    longer.push(0);
    assert!(
        check_dump(&mut longer.as_slice(), &mut |_| {})
            .await
            .is_err()
    );
    // And the whole dump then loads.
    dst.load_dump(&mut buf.as_slice(), &mut |_| {})
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_one_point_in_time_while_writes_continue() {
    let store = PgStore::connect(&url(), options(&schema())).await.unwrap();
    let put = |k: &str| {
        WriteSet::new().op(Op::PutMeta {
            key: k.into(),
            value: vec![1],
        })
    };
    store.apply(put("before")).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    // Commits after the snapshot began succeed (nothing waits on the dump) and are not in it.
    store.apply(put("after")).await.unwrap();
    put_subject(&store, SubjectId::new()).await;
    let mut buf = Vec::new();
    snap.write_to(&mut buf, &mut |_| {}).await.unwrap();
    let dst_schema = schema();
    let dst = PgStore::connect_for_load(&url(), options(&dst_schema))
        .await
        .unwrap();
    dst.load_dump(&mut buf.as_slice(), &mut |_| {})
        .await
        .unwrap();
    drop(dst);
    let restored = PgStore::connect(&url(), options(&dst_schema))
        .await
        .unwrap();
    assert!(restored.meta("before").await.unwrap().is_some());
    assert!(restored.meta("after").await.unwrap().is_none());
    let subjects = tables_in(&dst_schema)
        .await
        .into_iter()
        .find(|(n, _)| n == "subjects")
        .unwrap()
        .1;
    assert_eq!(subjects, 0);
}
