//! A small migration runner: SQL files applied in order, the schema version kept in SQLite's
//! `user_version`, each migration in its own transaction (so a crash mid-migration leaves the
//! previous version intact and the next start completes it).

use privet_store::StoreError;
use rusqlite::Connection;

/// Migrations in order; index + 1 is the version each one produces. Names match the
/// PostgreSQL backend's.
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
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The names of the first `version` migrations.
pub(crate) fn names(version: u32) -> Vec<String> {
    MIGRATIONS
        .iter()
        .take(version as usize)
        .map(|(n, _)| (*n).to_owned())
        .collect()
}

pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    if current > LATEST {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this build's {LATEST}: \
             upgrade Privet"
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
        tracing::info!(migration = name, version, "applied migration");
    }
    Ok(())
}
