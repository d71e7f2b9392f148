//! Point reads share connections (see the crate's `shared` module): many concurrent reads use
//! at most half the pool, and a shared connection the database dropped is replaced. Against
//! the database named by `DATABASE_URL`; without it these tests fail, never pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use privet_audit::{Action, AuditEntry};
use privet_core::SubjectId;
use privet_store::{Store, WriteSet};
use privet_store_postgres::{PgOptions, PgStore};
use tokio::task::JoinSet;
use tokio_postgres::NoTls;

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: PostgreSQL tests need a database. Run ./scripts/test, which \
             starts the machine's PostgreSQL, or set DATABASE_URL (e.g. host=/var/run/postgresql dbname=privet_test)"
        )
    })
}

/// The URL with an `application_name`, so this test can find its own backends.
fn named(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

async fn store(name: &str, pool_size: usize) -> (Arc<PgStore>, tokio_postgres::Client) {
    let (store, admin, _) = store_in_schema(name, pool_size).await;
    (store, admin)
}

async fn store_in_schema(
    name: &str,
    pool_size: usize,
) -> (Arc<PgStore>, tokio_postgres::Client, String) {
    let url = url();
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let options = PgOptions {
        schema: Some(schema.clone()),
        pool_size,
        ..PgOptions::default()
    };
    let store = PgStore::connect(&named(&url, name), options).await.unwrap();
    let (admin, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    (Arc::new(store), admin, schema)
}

/// Point reads until one succeeds; false if none did within `limit`.
async fn reads_again_within(store: &PgStore, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        let left = limit.saturating_sub(started.elapsed());
        let read = store.load_subject(SubjectId::new(), "customers", None);
        if matches!(tokio::time::timeout(left, read).await, Ok(Ok(_))) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn backends(admin: &tokio_postgres::Client, name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

async fn read_concurrently(store: &Arc<PgStore>, readers: usize, each: usize) {
    let mut set = JoinSet::new();
    for _ in 0..readers {
        let store = Arc::clone(store);
        set.spawn(async move {
            for _ in 0..each {
                let missing = store
                    .load_subject(SubjectId::new(), "customers", None)
                    .await
                    .unwrap();
                assert!(missing.is_none());
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_point_reads_use_at_most_half_the_pool() {
    let name = format!("privet_shared_{}", uuid::Uuid::now_v7().simple());
    let (store, admin) = store(&name, 8).await;
    read_concurrently(&store, 64, 20).await;
    let open = backends(&admin, &name).await;
    // Exclusive checkouts would have opened the whole pool (8) for 64 concurrent readers.
    assert!((1..=4).contains(&open), "{open} backends for point reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_connection_the_database_dropped_is_replaced() {
    let name = format!("privet_shared_{}", uuid::Uuid::now_v7().simple());
    let (store, admin) = store(&name, 2).await;
    read_concurrently(&store, 4, 5).await;
    assert_eq!(backends(&admin, &name).await, 1);
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) t",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    // A read may still be handed the dropped connection before its client notices (and fail,
    // as any request does while the database is away); reads then succeed on a new one.
    assert!(
        reads_again_within(&store, Duration::from_secs(5)).await,
        "point reads never recovered"
    );
    read_concurrently(&store, 4, 5).await;
    assert_eq!(backends(&admin, &name).await, 1);
}

/// The dropped shared connection must not count against the pool while its replacement is
/// checked out: with a pool of two, one connection shared and the other held by a write that
/// waits for a lock, the replacement comes from the discarded one's place at once (the pool
/// would otherwise make the read wait its 30 s checkout timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_shared_connection_frees_its_place_in_the_pool() {
    let name = format!("privet_shared_{}", uuid::Uuid::now_v7().simple());
    let (store, mut admin, schema) = store_in_schema(&name, 2).await;
    read_concurrently(&store, 2, 2).await;
    // Another session holds the audit head, so an audited write waits, holding its connection.
    // (A third one watches: inside a transaction `pg_stat_activity` is a snapshot.)
    let (watcher, conn) = tokio_postgres::connect(&url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let holder = admin.transaction().await.unwrap();
    holder
        .batch_execute(&format!("SELECT * FROM {schema}.audit_head FOR UPDATE"))
        .await
        .unwrap();
    let writer = Arc::clone(&store);
    let write = tokio::spawn(async move {
        let entry = AuditEntry::new(time::OffsetDateTime::now_utc(), "test", Action::SubjectRead);
        writer.apply(WriteSet::new().audit(entry)).await
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity \
                   WHERE application_name = $1 AND wait_event_type = 'Lock'";
    let started = std::time::Instant::now();
    while watcher
        .query_one(waiting, &[&name])
        .await
        .unwrap()
        .get::<_, i64>(0)
        != 1
    {
        assert!(
            !write.is_finished() && started.elapsed() < Duration::from_secs(10),
            "the write never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed: i64 = watcher
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle') t",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the shared connection");
    assert!(
        reads_again_within(&store, Duration::from_secs(5)).await,
        "point reads did not get a new connection while the write held the other"
    );
    assert!(!write.is_finished(), "the write should still be waiting");
    holder.rollback().await.unwrap();
    write.await.unwrap().unwrap();
}
