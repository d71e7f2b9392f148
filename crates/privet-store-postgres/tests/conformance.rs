//! The privet-store conformance suite, run against PostgreSQL: each case in its own schema of
//! the database named by `DATABASE_URL` (`./scripts/test` starts the machine's PostgreSQL and
//! sets it). Without `DATABASE_URL` these tests fail: they never pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_store_postgres::{PgOptions, PgStore};

async fn fresh() -> PgStore {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: PostgreSQL tests need a database. Run ./scripts/test, which \
             starts the machine's PostgreSQL, or set DATABASE_URL (e.g. host=/var/run/postgresql dbname=privet_test)"
        )
    });
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let options = PgOptions {
        schema: Some(schema),
        ..PgOptions::default()
    };
    PgStore::connect(&url, options).await.unwrap()
}

privet_store::store_conformance_tests!(fresh());
