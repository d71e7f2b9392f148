//! Key rotation: re-wrapping wrapped keys and re-indexing records, each guarded by an
//! optimistic check so a concurrent writer's change always wins.

use privet_core::{RecordId, SubjectId};
use privet_store::{
    IndexEntry, KeyTable, RecordRow, Result, StaleIndexRecord, StoreError, WrappedKeyRow,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::index::{self, IndexState};
use crate::read::{backend, from_micros};

/// Applies `Op::RewrapKey`: a row no longer under `from` (erased, or re-wrapped by another
/// run) is left alone.
pub(crate) fn rewrap(
    c: &Connection,
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
            c.prepare_cached(
                "UPDATE subjects SET key_version = ?1, wrapped_key = ?2 \
                 WHERE id = ?3 AND key_version = ?4",
            )
            .and_then(|mut s| s.execute(params![to, wrapped, &subject.as_bytes()[..], from]))
            .map_err(backend)?;
        }
        KeyTable::Retained => {
            c.prepare_cached(
                "UPDATE retained_keys SET key_version = ?1, wrapped_key = ?2 \
                 WHERE subject_id = ?3 AND class = ?4 AND key_version = ?5",
            )
            .and_then(|mut s| s.execute(params![to, wrapped, &subject.as_bytes()[..], slot, from]))
            .map_err(backend)?;
        }
    }
    Ok(())
}

/// Applies `Op::ReindexRecord`: a record no longer at `version` (updated or erased) is left
/// alone, since its writer indexed it.
pub(crate) fn reindex(
    c: &Connection,
    st: &mut IndexState,
    record: &RecordId,
    version: i64,
    entries: &[IndexEntry],
) -> Result<()> {
    let stored: Option<i64> = c
        .prepare_cached("SELECT version FROM records WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([&record.as_bytes()[..]], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    if stored != Some(version) {
        return Ok(());
    }
    index::delete_record(c, record)?;
    for e in entries {
        if e.record != *record {
            return Err(StoreError::Invalid(format!(
                "re-index of record {record} carries an entry of record {}",
                e.record
            )));
        }
        index::put(c, st, e)?;
    }
    Ok(())
}

pub(crate) fn wrapped_key_counts(c: &Connection, table: KeyTable) -> Result<Vec<(u32, u64)>> {
    let sql = match table {
        KeyTable::Subjects => {
            "SELECT key_version, COUNT(*) FROM subjects GROUP BY key_version ORDER BY key_version"
        }
        KeyTable::Retained => {
            "SELECT key_version, COUNT(*) FROM retained_keys GROUP BY key_version \
             ORDER BY key_version"
        }
    };
    counts(c, sql)
}

pub(crate) fn index_version_counts(c: &Connection) -> Result<Vec<(u32, u64)>> {
    counts(
        c,
        "SELECT key_version, SUM(n) FROM ( \
           SELECT key_version, COUNT(*) AS n FROM blind_index GROUP BY key_version \
           UNION ALL \
           SELECT key_version, COUNT(*) AS n FROM blind_index_recent GROUP BY key_version) \
         GROUP BY key_version ORDER BY key_version",
    )
}

fn counts(c: &Connection, sql: &str) -> Result<Vec<(u32, u64)>> {
    let mut s = c.prepare_cached(sql).map_err(backend)?;
    let rows = s
        .query_map([], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

pub(crate) fn wrapped_keys(
    c: &Connection,
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
            let mut s = c
                .prepare_cached(
                    "SELECT id, wrapped_key FROM subjects WHERE key_version = ?1 AND id > ?2 \
                     ORDER BY id LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![version, after, limit], |r| {
                    let id: [u8; 16] = r.get(0)?;
                    Ok(WrappedKeyRow {
                        subject: SubjectId::from_bytes(id),
                        slot: String::new(),
                        key_version: version,
                        wrapped_key: r.get(1)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        }
        KeyTable::Retained => {
            // Erased subjects' kept keys too: they stay in `retained_keys` after erasure.
            let (after_subject, after_class) = after
                .map(|(s, c)| (s.as_bytes().to_vec(), c))
                .unwrap_or_default();
            let mut s = c
                .prepare_cached(
                    "SELECT subject_id, class, wrapped_key FROM retained_keys \
                     WHERE key_version = ?1 AND (subject_id, class) > (?2, ?3) \
                     ORDER BY subject_id, class LIMIT ?4",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![version, after_subject, after_class, limit], |r| {
                    let id: [u8; 16] = r.get(0)?;
                    Ok(WrappedKeyRow {
                        subject: SubjectId::from_bytes(id),
                        slot: r.get(1)?,
                        key_version: version,
                        wrapped_key: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        }
    }
}

/// A page of records with a blind-index entry keyed from a version before the target. Each
/// level is read in record-id order through its by-record index (which holds the key
/// version, so the filter needs no table row) and the two ordered scans are merged, so the
/// page stops at `LIMIT` rows: a re-index reads each entry about once in all. (Inside a
/// subquery with its own `ORDER BY`, SQLite would gather the whole tail into a temporary
/// B-tree on every page instead.)
const STALE_INDEX_RECORDS: &str = "SELECT r.id, r.subject_id, r.collection, r.version, r.created_at, r.updated_at, \
            r.fields, s.key_version, s.wrapped_key \
     FROM records r JOIN subjects s ON s.id = r.subject_id \
     WHERE r.id IN ( \
       SELECT record_id FROM blind_index WHERE key_version < ?1 AND record_id > ?2 \
       UNION \
       SELECT record_id FROM blind_index_recent WHERE key_version < ?1 AND record_id > ?2 \
       ORDER BY record_id LIMIT ?3) \
     ORDER BY r.id";

pub(crate) fn stale_index_records(
    c: &Connection,
    target: u32,
    after: Option<RecordId>,
    limit: u32,
) -> Result<Vec<StaleIndexRecord>> {
    let after = after.map(|r| r.as_bytes().to_vec()).unwrap_or_default();
    let mut s = c.prepare_cached(STALE_INDEX_RECORDS).map_err(backend)?;
    let rows = s
        .query_map(params![target, after, limit], |r| {
            let id: [u8; 16] = r.get(0)?;
            let subject: [u8; 16] = r.get(1)?;
            Ok((
                RecordId::from_bytes(id),
                SubjectId::from_bytes(subject),
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                from_micros(r.get(4)?)?,
                from_micros(r.get(5)?)?,
                r.get::<_, Vec<u8>>(6)?,
                r.get::<_, u32>(7)?,
                r.get::<_, Vec<u8>>(8)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, subject, collection, version, created_at, updated_at, blob, kv, wrapped) =
            row.map_err(backend)?;
        let fields = privet_store::decode_fields(&blob)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        out.push(StaleIndexRecord {
            record: RecordRow {
                id,
                subject,
                collection,
                version,
                created_at,
                updated_at,
                fields,
            },
            key_version: kv,
            wrapped_key: wrapped,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reindex_page_merges_two_ordered_index_scans() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::SqliteStore::open(dir.path().join("p.db"), crate::SqliteOptions::default())
                .unwrap();
        let c = crate::store::open_conn(store.path(), 2).unwrap();
        let mut s = c
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::STALE_INDEX_RECORDS
            ))
            .unwrap();
        let plan: Vec<String> = s
            .query_map(rusqlite::params![2, vec![0u8; 16], 100], |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("MERGE (UNION)"), "{plan}");
        assert!(
            plan.contains("COVERING INDEX blind_index_by_record"),
            "{plan}"
        );
        assert!(
            plan.contains("COVERING INDEX blind_index_recent_by_record"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
