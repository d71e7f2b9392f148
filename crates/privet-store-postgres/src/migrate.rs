//! Migrations: SQL files with the same names as the SQLite backend's, applied in order, each
//! in its own transaction, under a session advisory lock so servers starting together do not
//! race. An interrupted migration rolls back and the next start completes it.

use privet_store::StoreError;
use tokio_postgres::{Client, Transaction};

use crate::error::db;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    (
        "0002_consent_principals",
        include_str!("../migrations/0002_consent_principals.sql"),
    ),
    (
        "0003_principal_suspension",
        include_str!("../migrations/0003_principal_suspension.sql"),
    ),
    (
        "0004_audit_proofs",
        include_str!("../migrations/0004_audit_proofs.sql"),
    ),
    (
        "0005_rights_requests",
        include_str!("../migrations/0005_rights_requests.sql"),
    ),
    (
        "0006_retention_keys",
        include_str!("../migrations/0006_retention_keys.sql"),
    ),
    (
        "0007_retention",
        include_str!("../migrations/0007_retention.sql"),
    ),
    (
        "0009_key_rotation",
        include_str!("../migrations/0009_key_rotation.sql"),
    ),
    ("0010_portal", include_str!("../migrations/0010_portal.sql")),
    (
        "0011_outbox_recipient",
        include_str!("../migrations/0011_outbox_recipient.sql"),
    ),
    (
        "0012_blind_index_versions",
        include_str!("../migrations/0012_blind_index_versions.sql"),
    ),
    (
        "0013_blind_index_by_subject",
        include_str!("../migrations/0013_blind_index_by_subject.sql"),
    ),
];

/// Arbitrary but fixed: the advisory-lock key for migrations ("privet" in ASCII).
const LOCK_KEY: i64 = 0x7072_6976_6574;

pub(crate) async fn run(client: &mut Client) -> Result<(), StoreError> {
    // `CREATE TABLE IF NOT EXISTS` notices on every start are noise in the server's log.
    client
        .batch_execute("SET client_min_messages = warning")
        .await
        .map_err(db)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db)?;
    let result = apply_pending(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .map_err(db);
    result.and(unlock.map(|_| ()))
}

/// The table that records which migrations ran.
pub(crate) const TABLE: &str = "privet_migrations";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS privet_migrations (\
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// How many migrations this build has.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// Applies the first `upto` migrations to an empty database inside `tx` (loading a dump
/// made at that schema version; later migrations run when the store next connects).
pub(crate) async fn apply_first(tx: &Transaction<'_>, upto: u32) -> Result<(), StoreError> {
    if upto > latest() {
        return Err(StoreError::Migration(format!(
            "the dump is at schema version {upto}, newer than this build's {}: upgrade Privet",
            latest()
        )));
    }
    tx.batch_execute(CREATE_TABLE).await.map_err(db)?;
    for i in 0..upto as usize {
        apply_one(tx, i).await?;
    }
    Ok(())
}

/// Runs migration `i` (0-based) inside `tx` and records it.
async fn apply_one(tx: &Transaction<'_>, i: usize) -> Result<(), StoreError> {
    let Some((name, sql)) = MIGRATIONS.get(i) else {
        return Err(StoreError::Migration(format!("no migration {}", i + 1)));
    };
    let version = i as i32 + 1;
    tx.batch_execute(sql)
        .await
        .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
    tx.execute(
        "INSERT INTO privet_migrations (version, name) VALUES ($1, $2)",
        &[&version, name],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn apply_pending(client: &mut Client) -> Result<(), StoreError> {
    client.batch_execute(CREATE_TABLE).await.map_err(db)?;
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM privet_migrations",
            &[],
        )
        .await
        .map_err(db)?;
    let current: i32 = row.get(0);
    let latest = MIGRATIONS.len() as i32;
    if current > latest {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this build's {latest}: upgrade Privet"
        )));
    }
    for (i, (name, _)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = client.transaction().await.map_err(db)?;
        apply_one(&tx, i).await?;
        tx.commit().await.map_err(db)?;
        tracing::info!(migration = name, version = i + 1, "applied migration");
    }
    Ok(())
}
