//! Key rotation: re-wrapping wrapped keys and re-indexing records, each guarded by an
//! optimistic check so a concurrent writer's change always wins.

use deadpool_postgres::{ClientWrapper as Client, Transaction};
use privet_core::{RecordId, SubjectId};
use privet_store::{
    IndexEntry, KeyTable, RecordRow, Result, StaleIndexRecord, StoreError, WrappedKeyRow,
};

use crate::error::db;
use crate::read::{from_micros, id16};

/// Applies `Op::RewrapKey`: a row no longer under `from` (erased, or re-wrapped by another
/// run) is left alone.
pub(crate) async fn rewrap(
    tx: &Transaction<'_>,
    table: KeyTable,
    subject: &SubjectId,
    slot: &str,
    (from, to): (u32, u32),
    wrapped: &[u8],
) -> Result<()> {
    match table {
        KeyTable::Subjects => {
            if !slot.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "subject keys have no slot `{slot}`"
                )));
            }
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE subjects SET key_version = $1, wrapped_key = $2 \
                     WHERE id = $3 AND key_version = $4",
                )
                .await
                .map_err(db)?,
                &[
                    &(to as i32),
                    &wrapped,
                    &&subject.as_bytes()[..],
                    &(from as i32),
                ],
            )
            .await
            .map_err(db)?;
        }
        KeyTable::Retained => {
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE retained_keys SET key_version = $1, wrapped_key = $2 \
                     WHERE subject_id = $3 AND class = $4 AND key_version = $5",
                )
                .await
                .map_err(db)?,
                &[
                    &(to as i32),
                    &wrapped,
                    &&subject.as_bytes()[..],
                    &slot,
                    &(from as i32),
                ],
            )
            .await
            .map_err(db)?;
        }
    }
    Ok(())
}

/// Applies `Op::ReindexRecord`: a record no longer at `version` (updated or erased) is left
/// alone, since its writer indexed it. The row lock keeps a concurrent update from slipping
/// in between the check and the new entries.
pub(crate) async fn reindex(
    tx: &Transaction<'_>,
    record: &RecordId,
    version: i64,
    entries: &[IndexEntry],
) -> Result<()> {
    let rid = &record.as_bytes()[..];
    let stored = tx
        .query_opt(
            &tx.prepare_cached("SELECT version FROM records WHERE id = $1 FOR UPDATE")
                .await
                .map_err(db)?,
            &[&rid],
        )
        .await
        .map_err(db)?
        .map(|r| r.get::<_, i64>(0));
    if stored != Some(version) {
        return Ok(());
    }
    crate::apply::unindex_record(tx, rid).await?;
    for e in entries {
        if e.record != *record {
            return Err(StoreError::Invalid(format!(
                "re-index of record {record} carries an entry of record {}",
                e.record
            )));
        }
        crate::apply::put_index(tx, e).await?;
    }
    Ok(())
}

pub(crate) async fn wrapped_key_counts(c: &Client, table: KeyTable) -> Result<Vec<(u32, u64)>> {
    let sql = match table {
        KeyTable::Subjects => {
            "SELECT key_version, COUNT(*) FROM subjects GROUP BY key_version ORDER BY key_version"
        }
        KeyTable::Retained => {
            "SELECT key_version, COUNT(*) FROM retained_keys GROUP BY key_version \
             ORDER BY key_version"
        }
    };
    counts(c, sql).await
}

pub(crate) async fn index_version_counts(c: &Client) -> Result<Vec<(u32, u64)>> {
    counts(
        c,
        "SELECT key_version, COUNT(*) FROM blind_index GROUP BY key_version ORDER BY key_version",
    )
    .await
}

async fn counts(c: &Client, sql: &str) -> Result<Vec<(u32, u64)>> {
    let rows = c
        .query(&c.prepare_cached(sql).await.map_err(db)?, &[])
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64))
        .collect())
}

pub(crate) async fn wrapped_keys(
    c: &Client,
    table: KeyTable,
    version: u32,
    after: Option<(SubjectId, String)>,
    limit: u32,
) -> Result<Vec<WrappedKeyRow>> {
    match table {
        KeyTable::Subjects => {
            // The subject key has the one slot "", so paging by subject id alone is exact.
            let after = after
                .map(|(s, _)| s.as_bytes().to_vec())
                .unwrap_or_default();
            let rows = c
                .query(
                    &c.prepare_cached(
                        "SELECT id, wrapped_key FROM subjects WHERE key_version = $1 AND id > $2 \
                         ORDER BY id LIMIT $3",
                    )
                    .await
                    .map_err(db)?,
                    &[&(version as i32), &after, &i64::from(limit)],
                )
                .await
                .map_err(db)?;
            rows.iter()
                .map(|r| {
                    Ok(WrappedKeyRow {
                        subject: id16(r.get(0), SubjectId::from_bytes)?,
                        slot: String::new(),
                        key_version: version,
                        wrapped_key: r.get(1),
                    })
                })
                .collect()
        }
        KeyTable::Retained => {
            // Erased subjects' kept keys too: they stay in `retained_keys` after erasure.
            let (after_subject, after_class) = after
                .map(|(s, c)| (s.as_bytes().to_vec(), c))
                .unwrap_or_default();
            let rows = c
                .query(
                    &c.prepare_cached(
                        "SELECT subject_id, class, wrapped_key FROM retained_keys \
                         WHERE key_version = $1 AND (subject_id, class) > ($2, $3) \
                         ORDER BY subject_id, class LIMIT $4",
                    )
                    .await
                    .map_err(db)?,
                    &[
                        &(version as i32),
                        &after_subject,
                        &after_class,
                        &i64::from(limit),
                    ],
                )
                .await
                .map_err(db)?;
            rows.iter()
                .map(|r| {
                    Ok(WrappedKeyRow {
                        subject: id16(r.get(0), SubjectId::from_bytes)?,
                        slot: r.get(1),
                        key_version: version,
                        wrapped_key: r.get(2),
                    })
                })
                .collect()
        }
    }
}

pub(crate) async fn stale_index_records(
    c: &Client,
    target: u32,
    after: Option<RecordId>,
    limit: u32,
) -> Result<Vec<StaleIndexRecord>> {
    let after = after.map(|r| r.as_bytes().to_vec()).unwrap_or_default();
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT r.id, r.subject_id, r.collection, r.version, r.created_at, r.updated_at, \
                        r.fields, s.key_version, s.wrapped_key \
                 FROM records r JOIN subjects s ON s.id = r.subject_id \
                 WHERE r.id IN ( \
                   SELECT DISTINCT record_id FROM blind_index \
                   WHERE key_version < $1 AND record_id > $2 ORDER BY record_id LIMIT $3) \
                 ORDER BY r.id",
            )
            .await
            .map_err(db)?,
            &[&(target as i32), &after, &i64::from(limit)],
        )
        .await
        .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = id16(r.get(0), RecordId::from_bytes)?;
        let blob: &[u8] = r.get(6);
        let fields = privet_store::decode_fields(blob)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        out.push(StaleIndexRecord {
            record: RecordRow {
                id,
                subject: id16(r.get(1), SubjectId::from_bytes)?,
                collection: r.get(2),
                version: r.get(3),
                created_at: from_micros(r.get(4))?,
                updated_at: from_micros(r.get(5))?,
                fields,
            },
            key_version: r.get::<_, i32>(7) as u32,
            wrapped_key: r.get(8),
        });
    }
    Ok(out)
}
