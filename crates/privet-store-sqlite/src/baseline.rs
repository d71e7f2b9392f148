//! The plaintext baseline for benchmarks: the same customers stored the way a team without
//! Privet might — one plaintext row each, with ordinary indexes on the lookup columns — in the
//! same SQLite file with the same pragmas and batch size. Benchmarks only; nothing in the
//! vault calls this.

use std::path::Path;
use std::time::{Duration, Instant};

use privet_store::{Result, StoreError};
use rusqlite::params_from_iter;

use crate::store::open_conn;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Inserts `rows` (each `columns.len()` text values, the first an id) into a fresh plaintext
/// table of the database at `path`, `batch` rows per transaction, with an index on each of
/// `indexed` columns. Returns the elapsed time.
pub fn plaintext_import(
    path: &Path,
    columns: &[&str],
    indexed: &[&str],
    rows: &[Vec<String>],
    batch: usize,
) -> Result<Duration> {
    let mut conn = open_conn(path, crate::SqliteOptions::default().writer_cache_mib)?;
    let cols = columns.join(", ");
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS bench_plaintext; CREATE TABLE bench_plaintext ({cols}, PRIMARY KEY ({})) WITHOUT ROWID;",
        columns.first().copied().unwrap_or("id")
    ))
    .map_err(backend)?;
    for c in indexed {
        conn.execute_batch(&format!(
            "CREATE INDEX bench_plaintext_{c} ON bench_plaintext ({c});"
        ))
        .map_err(backend)?;
    }
    let marks = vec!["?"; columns.len()].join(", ");
    let sql = format!("INSERT INTO bench_plaintext ({cols}) VALUES ({marks})");
    let started = Instant::now();
    for chunk in rows.chunks(batch.max(1)) {
        let tx = conn.transaction().map_err(backend)?;
        {
            let mut stmt = tx.prepare_cached(&sql).map_err(backend)?;
            for row in chunk {
                stmt.execute(params_from_iter(row.iter()))
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
    }
    Ok(started.elapsed())
}
