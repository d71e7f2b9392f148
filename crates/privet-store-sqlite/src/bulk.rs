//! Creation write sets (what `import` and `POST /v1/subjects[/batch]` produce) written table by
//! table with multi-row `INSERT`s: one statement per 32 rows instead of one per row. The
//! B-tree work is the same; what goes is the per-statement cost (binding, the VDBE program's
//! start and end, opening a cursor on the table and each of its indexes and seeking from the
//! root), which was most of the writer's time for rows that append at the right of their
//! B-trees (UUIDv7 ids, audit indexes).
//!
//! This path only ever succeeds where applying the ops in order would (see
//! [`privet_store::creation::plan`] for why the regrouping cannot change the outcome): every
//! failure — an existing, duplicated or erased subject id, a record of a missing subject (the
//! foreign key), an existing record id, a unique term held by another subject — makes the
//! caller roll this path back and apply the same ops one by one, which names the exact op.

use privet_store::creation::Plan;
use privet_store::{IndexEntry, RecordRow, Result, StoreError, SubjectRow};
use rusqlite::{Connection, Statement};

use crate::index::{self, IndexState};
use crate::read::micros;

/// Rows per statement.
const CHUNK: usize = 32;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// `head VALUES (?, …), (?, …)` for `rows` rows of `cols` columns.
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; cols].join(", "));
    format!("{head} VALUES {}", vec![tuple; rows].join(", "))
}

/// Inserts `rows` in statements of [`CHUNK`] rows; `bind` binds one row's `cols` values from
/// parameter index `first` on. `head` is an `INSERT OR IGNORE`: a row that would break a
/// constraint is skipped, and this then fails with [`Skipped`] (the caller's savepoint undoes
/// the rest). Why not a plain `INSERT`: a statement that writes several rows and may abort
/// half-way needs a statement journal, and SQLite then copies every page the statement
/// touches before changing it (measured: the multi-row path became slower than row by row).
/// With `OR IGNORE` no constraint aborts the statement; a foreign key still can, and a table
/// with one keeps its statement journal.
pub(crate) fn insert_chunked<T>(
    c: &Connection,
    head: &str,
    cols: usize,
    rows: &[T],
    bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> std::result::Result<(), Skipped> {
    for chunk in rows.chunks(CHUNK) {
        let mut s = c.prepare_cached(&values_sql(head, cols, chunk.len()))?;
        for (i, row) in chunk.iter().enumerate() {
            bind(&mut s, i * cols + 1, row)?;
        }
        if s.raw_execute()? != chunk.len() {
            return Err(Skipped::Rows);
        }
    }
    Ok(())
}

/// Why a multi-row insert did not write every row.
#[derive(Debug)]
pub(crate) enum Skipped {
    /// A row broke a constraint (a duplicate key) and was left out.
    Rows,
    /// The statement failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Skipped {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<Skipped> for StoreError {
    fn from(e: Skipped) -> Self {
        match e {
            Skipped::Rows => StoreError::AlreadyExists("a row of a multi-row insert".into()),
            Skipped::Sqlite(e) => backend(e),
        }
    }
}

/// Writes the plan. Any error leaves partial rows for the caller's savepoint to undo.
pub(crate) fn apply(c: &Connection, st: &mut IndexState, p: &Plan<'_>) -> Result<()> {
    refuse_erased(c, &p.subjects)?;
    insert_chunked(
        c,
        "INSERT OR IGNORE INTO subjects (id, key_version, wrapped_key, created_at)",
        4,
        &p.subjects,
        |s, i, row: &&SubjectRow| {
            s.raw_bind_parameter(i, &row.id.as_bytes()[..])?;
            s.raw_bind_parameter(i + 1, row.key_version)?;
            s.raw_bind_parameter(i + 2, &row.wrapped_key[..])?;
            s.raw_bind_parameter(i + 3, micros(row.created_at))
        },
    )?;
    for k in &p.class_keys {
        crate::retained::put_key(c, k)?;
    }
    insert_chunked(
        c,
        "INSERT OR IGNORE INTO records (id, subject_id, collection, version, created_at, updated_at, fields)",
        7,
        &p.records,
        |s, i, r: &&RecordRow| {
            s.raw_bind_parameter(i, &r.id.as_bytes()[..])?;
            s.raw_bind_parameter(i + 1, &r.subject.as_bytes()[..])?;
            s.raw_bind_parameter(i + 2, r.collection.as_str())?;
            s.raw_bind_parameter(i + 3, r.version)?;
            s.raw_bind_parameter(i + 4, micros(r.created_at))?;
            s.raw_bind_parameter(i + 5, micros(r.updated_at))?;
            s.raw_bind_parameter(i + 6, privet_store::encode_fields(&r.fields))
        },
    )?;
    let mut rest = &p.index[..];
    while !rest.is_empty() {
        let plain = rest.iter().take_while(|e| !e.unique).count();
        insert_index(c, st, &rest[..plain])?;
        rest = &rest[plain..];
        if let Some((unique, after)) = rest.split_first() {
            index::put(c, st, unique)?;
            rest = after;
        }
    }
    Ok(())
}

fn refuse_erased(c: &Connection, subjects: &[&SubjectRow]) -> Result<()> {
    for chunk in subjects.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT 1 FROM erasures WHERE subject_id IN ({marks}) LIMIT 1");
        let mut s = c.prepare_cached(&sql).map_err(backend)?;
        for (i, row) in chunk.iter().enumerate() {
            s.raw_bind_parameter(i + 1, &row.id.as_bytes()[..])
                .map_err(backend)?;
        }
        if s.raw_query().next().map_err(backend)?.is_some() {
            return Err(StoreError::AlreadyExists("an erased subject id".into()));
        }
    }
    Ok(())
}

/// Non-unique entries into the recent level, as [`index::put`] writes them one by one.
fn insert_index(c: &Connection, st: &mut IndexState, entries: &[&IndexEntry]) -> Result<()> {
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        rows.push((st.field_id(c, &e.collection, &e.field)?, *e));
    }
    insert_chunked(
        c,
        "INSERT OR IGNORE INTO blind_index_recent (field_id, term, record_id, key_version)",
        4,
        &rows,
        |s, i, (field_id, e)| {
            s.raw_bind_parameter(i, *field_id)?;
            s.raw_bind_parameter(i + 1, &e.term[..])?;
            s.raw_bind_parameter(i + 2, &e.record.as_bytes()[..])?;
            s.raw_bind_parameter(i + 3, e.key_version)
        },
    )?;
    st.recent += rows.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use privet_core::{RecordId, SubjectId};
    use privet_store::Op;
    use time::OffsetDateTime;

    /// `n` customers as `stage_subject` writes them: subject, profile record, two index terms.
    fn creation_ops(n: usize) -> Vec<Op> {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut ops = Vec::new();
        for i in 0..n {
            let (subject, record) = (SubjectId::new(), RecordId::new());
            ops.push(Op::CreateSubject(SubjectRow {
                id: subject,
                key_version: 1,
                wrapped_key: vec![7; 60],
                created_at: now,
            }));
            ops.push(Op::PutRecord {
                record: RecordRow {
                    id: record,
                    subject,
                    collection: "customers".into(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    fields: vec![("email".into(), vec![1, 2, 3])],
                },
                expected_version: None,
            });
            for field in ["email", "phone"] {
                ops.push(Op::PutIndex(IndexEntry {
                    collection: "customers".into(),
                    field: field.into(),
                    term: format!("{field}{i}").into_bytes(),
                    subject,
                    record,
                    unique: false,
                    key_version: 1,
                }));
            }
        }
        ops
    }

    fn count(c: &Connection, table: &str) -> i64 {
        c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_creation_set_goes_in_as_multi_row_inserts_and_a_repeat_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::SqliteStore::open(dir.path().join("b.db"), crate::SqliteOptions::default())
                .unwrap();
        let c = crate::store::open_conn(store.path(), 2).unwrap();
        let mut st = IndexState::load(&c).unwrap();
        // 70 customers: two full statements of 32 rows and one of 6, for each table.
        let ops = creation_ops(70);
        let plan = privet_store::creation::plan(&ops).unwrap();
        apply(&c, &mut st, &plan).unwrap();
        assert_eq!(count(&c, "subjects"), 70);
        assert_eq!(count(&c, "records"), 70);
        assert_eq!(count(&c, "blind_index_recent"), 140);
        assert_eq!(st.recent, 140);
        let found = index::lookup(&c, "customers", "phone", b"phone69").unwrap();
        assert_eq!(found.len(), 1);
        // The same subjects again: the ignored rows are noticed, not silently dropped.
        assert!(apply(&c, &mut st, &plan).is_err());
    }

    #[test]
    fn values_lists_have_one_tuple_per_row() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 1),
            "INSERT INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(
            values_sql("INSERT INTO t (a)", 1, 3),
            "INSERT INTO t (a) VALUES (?), (?), (?)"
        );
    }
}
