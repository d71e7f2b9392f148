//! The blind index as a two-level LSM (see the migration for why): new entries go to the small
//! `blind_index_recent`, which the writer merges into `blind_index` in sorted order once it
//! holds `merge_at` entries. Every read, unique check and delete consults both levels.

use std::collections::HashMap;

use privet_core::{RecordId, SubjectId};
use privet_store::{IndexEntry, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The writer's view of the index: field ids it has resolved, and how many entries the
/// recent level holds (an upper bound: deletions are not subtracted, which only makes a
/// merge come a little early).
pub(crate) struct IndexState {
    field_ids: HashMap<String, i64>,
    pub(crate) recent: u64,
}

impl IndexState {
    pub(crate) fn load(c: &Connection) -> Result<Self> {
        let recent: i64 = c
            .query_row("SELECT COUNT(*) FROM blind_index_recent", [], |r| r.get(0))
            .map_err(backend)?;
        Ok(Self {
            field_ids: HashMap::new(),
            recent: recent as u64,
        })
    }

    /// Forgets resolved field ids: after a rollback, an id resolved inside it may not exist.
    pub(crate) fn forget_ids(&mut self) {
        self.field_ids.clear();
    }

    pub(crate) fn field_id(
        &mut self,
        c: &Connection,
        collection: &str,
        field: &str,
    ) -> Result<i64> {
        let key = format!("{collection}\0{field}");
        if let Some(id) = self.field_ids.get(&key) {
            return Ok(*id);
        }
        c.prepare_cached("INSERT OR IGNORE INTO index_fields (collection, field) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![collection, field]))
            .map_err(backend)?;
        let id: i64 = c
            .prepare_cached("SELECT id FROM index_fields WHERE collection = ?1 AND field = ?2")
            .and_then(|mut s| s.query_row(params![collection, field], |r| r.get(0)))
            .map_err(backend)?;
        self.field_ids.insert(key, id);
        Ok(id)
    }
}

/// Adds an entry to the recent level, refusing a unique term held by another subject.
pub(crate) fn put(c: &Connection, st: &mut IndexState, e: &IndexEntry) -> Result<()> {
    let field_id = st.field_id(c, &e.collection, &e.field)?;
    if e.unique {
        let taken = c
            .prepare_cached(
                "SELECT 1 FROM (SELECT record_id FROM blind_index WHERE field_id = ?1 AND term = ?2 \
                 UNION ALL SELECT record_id FROM blind_index_recent WHERE field_id = ?1 AND term = ?2) b \
                 JOIN records r ON r.id = b.record_id WHERE r.subject_id <> ?3 LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![field_id, e.term, &e.subject.as_bytes()[..]], |_| Ok(())).optional()
            })
            .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::UniqueViolation {
                collection: e.collection.clone(),
                field: e.field.clone(),
            });
        }
    }
    c.prepare_cached(
        "INSERT OR REPLACE INTO blind_index_recent (field_id, term, record_id, key_version) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| {
        s.execute(params![
            field_id,
            e.term,
            &e.record.as_bytes()[..],
            e.key_version
        ])
    })
    .map_err(backend)?;
    st.recent += 1;
    Ok(())
}

/// Removes the entries of one field of one record (a record belongs to one collection, so
/// the field name identifies its index).
pub(crate) fn delete_field(c: &Connection, record: &RecordId, field: &str) -> Result<()> {
    for table in ["blind_index", "blind_index_recent"] {
        let sql = format!(
            "DELETE FROM {table} WHERE record_id = ?1 \
             AND field_id IN (SELECT id FROM index_fields WHERE field = ?2)"
        );
        c.prepare_cached(&sql)
            .and_then(|mut s| s.execute(params![&record.as_bytes()[..], field]))
            .map_err(backend)?;
    }
    Ok(())
}

/// Removes every entry of one record (before a re-index puts its new entries).
pub(crate) fn delete_record(c: &Connection, record: &RecordId) -> Result<()> {
    for table in ["blind_index", "blind_index_recent"] {
        let sql = format!("DELETE FROM {table} WHERE record_id = ?1");
        c.prepare_cached(&sql)
            .and_then(|mut s| s.execute([&record.as_bytes()[..]]))
            .map_err(backend)?;
    }
    Ok(())
}

/// Removes every entry of every record of a subject (before its records are deleted).
pub(crate) fn delete_subject(c: &Connection, subject: &SubjectId) -> Result<()> {
    for table in ["blind_index", "blind_index_recent"] {
        let sql = format!(
            "DELETE FROM {table} WHERE record_id IN (SELECT id FROM records WHERE subject_id = ?1)"
        );
        c.execute(&sql, [&subject.as_bytes()[..]])
            .map_err(backend)?;
    }
    Ok(())
}

/// The (subject, record) pairs whose term for `collection.field` is `term`. Both levels are
/// read by one statement, so one snapshot: two statements could straddle a merge's commit
/// and miss an entry that moved between them (a conformance case with a merge after every
/// entry caught exactly that).
pub(crate) fn lookup(
    c: &Connection,
    collection: &str,
    field: &str,
    term: &[u8],
) -> Result<Vec<(SubjectId, RecordId)>> {
    let mut s = c
        .prepare_cached(
            "SELECT r.subject_id, b.record_id FROM blind_index b JOIN records r ON r.id = b.record_id \
             WHERE b.field_id = (SELECT id FROM index_fields WHERE collection = ?1 AND field = ?2) \
             AND b.term = ?3 \
             UNION ALL \
             SELECT r.subject_id, b.record_id FROM blind_index_recent b JOIN records r ON r.id = b.record_id \
             WHERE b.field_id = (SELECT id FROM index_fields WHERE collection = ?1 AND field = ?2) \
             AND b.term = ?3",
        )
        .map_err(backend)?;
    let rows = s
        .query_map(params![collection, field, term], |r| {
            let s: [u8; 16] = r.get(0)?;
            let rec: [u8; 16] = r.get(1)?;
            Ok((SubjectId::from_bytes(s), RecordId::from_bytes(rec)))
        })
        .map_err(backend)?;
    let mut out = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    // An entry re-put without a delete can sit in both levels until the next merge.
    out.sort_unstable_by_key(|(_, r)| *r);
    out.dedup();
    Ok(out)
}

/// Moves the recent level into the main one, in key order, in one transaction.
pub(crate) fn merge(c: &mut Connection, st: &mut IndexState) -> Result<()> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    tx.execute_batch(
        "INSERT OR REPLACE INTO blind_index (field_id, term, record_id, key_version) \
           SELECT field_id, term, record_id, key_version FROM blind_index_recent \
           ORDER BY field_id, term, record_id; \
         DELETE FROM blind_index_recent;",
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    st.recent = 0;
    Ok(())
}
