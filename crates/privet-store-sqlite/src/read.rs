//! Read queries, run on pooled reader connections.

use privet_core::{RecordId, SubjectId};
use privet_store::{
    ApiKeyRow, RecordRow, RestrictionRow, Result, StoreError, StoredLeaf, SubjectData, SubjectRow,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

pub(crate) use privet_store::micros;

pub(crate) fn from_micros(m: i64) -> rusqlite::Result<OffsetDateTime> {
    privet_store::from_micros(m).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, m))
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn id16<T>(row: &Row<'_>, i: usize, make: fn([u8; 16]) -> T) -> rusqlite::Result<T> {
    let b: [u8; 16] = row.get(i)?;
    Ok(make(b))
}

/// Runs `f` inside one read transaction, so every statement of it sees the same snapshot
/// (outside one, each statement of a WAL reader sees the latest commit, and a read could mix
/// a subject with the consents of after its erasure).
pub(crate) fn in_snapshot<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let run = |sql: &str| {
        c.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(backend)
    };
    run("BEGIN")?;
    let out = f(c);
    // Ending a read transaction cannot lose anything; COMMIT and ROLLBACK both just end it.
    let end = run("COMMIT");
    if end.is_err() {
        let _ = run("ROLLBACK");
    }
    let value = out?;
    end.map(|_| value)
}

pub(crate) fn load_subject(
    c: &Connection,
    subject: SubjectId,
    collection: &str,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    in_snapshot(c, |c| load_subject_in(c, subject, Some(collection), record))
}

/// A subject with its records of every collection (ordered by collection, then id).
pub(crate) fn load_subject_all(c: &Connection, subject: SubjectId) -> Result<Option<SubjectData>> {
    in_snapshot(c, |c| load_subject_in(c, subject, None, None))
}

fn load_subject_in(
    c: &Connection,
    subject: SubjectId,
    collection: Option<&str>,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    let sid = &subject.as_bytes()[..];
    let row = c
        .prepare_cached(
            "SELECT s.key_version, s.wrapped_key, s.created_at, r.reason, r.at, r.actor \
             FROM subjects s LEFT JOIN restrictions r ON r.subject_id = s.id WHERE s.id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([sid], |r| {
                let subject_row = SubjectRow {
                    id: subject,
                    key_version: r.get(0)?,
                    wrapped_key: r.get(1)?,
                    created_at: from_micros(r.get(2)?)?,
                };
                let restriction = match r.get::<_, Option<String>>(3)? {
                    Some(reason) => Some(RestrictionRow {
                        subject,
                        reason,
                        at: from_micros(r.get(4)?)?,
                        actor: r.get(5)?,
                    }),
                    None => None,
                };
                Ok((subject_row, restriction))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((subject_row, restriction)) = row else {
        return Ok(None);
    };
    let consents = crate::consent::latest(c, subject)?;
    type Raw = (RecordId, i64, i64, i64, Vec<u8>, String);
    let mut raw: Vec<Raw> = Vec::new();
    let map = |r: &Row<'_>| {
        Ok((
            id16(r, 0, RecordId::from_bytes)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    };
    let cols = "id, version, created_at, updated_at, fields, collection";
    match (collection, record) {
        (Some(collection), Some(rid)) => {
            let sql = format!(
                "SELECT {cols} FROM records WHERE subject_id = ?1 AND collection = ?2 AND id = ?3"
            );
            let mut s = c.prepare_cached(&sql).map_err(backend)?;
            let rows = s.query_map(params![sid, collection, &rid.as_bytes()[..]], map);
            for r in rows.map_err(backend)? {
                raw.push(r.map_err(backend)?);
            }
        }
        (Some(collection), None) => {
            let sql = format!(
                "SELECT {cols} FROM records WHERE subject_id = ?1 AND collection = ?2 ORDER BY id"
            );
            let mut s = c.prepare_cached(&sql).map_err(backend)?;
            for r in s
                .query_map(params![sid, collection], map)
                .map_err(backend)?
            {
                raw.push(r.map_err(backend)?);
            }
        }
        (None, _) => {
            let sql =
                format!("SELECT {cols} FROM records WHERE subject_id = ?1 ORDER BY collection, id");
            let mut s = c.prepare_cached(&sql).map_err(backend)?;
            for r in s.query_map(params![sid], map).map_err(backend)? {
                raw.push(r.map_err(backend)?);
            }
        }
    }
    let mut records = Vec::with_capacity(raw.len());
    for (id, version, created, updated, blob, collection) in raw {
        let fields = privet_store::decode_fields(&blob)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        records.push(RecordRow {
            id,
            subject,
            collection,
            version,
            created_at: from_micros(created).map_err(backend)?,
            updated_at: from_micros(updated).map_err(backend)?,
            fields,
        });
    }
    Ok(Some(SubjectData {
        subject: subject_row,
        records,
        consents,
        restriction,
    }))
}

pub(crate) fn meta(c: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(backend)
}

/// The (subject, record) entries of any of `terms`, each once.
fn hits_of_terms(
    c: &Connection,
    collection: &str,
    field: &str,
    terms: &[Vec<u8>],
) -> Result<Vec<(SubjectId, RecordId)>> {
    let mut hits = Vec::new();
    for term in terms {
        hits.extend(crate::index::lookup(c, collection, field, term)?);
    }
    // A record is indexed under one term per field, but `terms` may repeat one.
    hits.sort_unstable_by_key(|(_, r)| *r);
    hits.dedup();
    Ok(hits)
}

/// The entries of any of `terms` and the `meta_key` value, in one read transaction (one
/// snapshot): a statement per term, each a few microseconds on a pooled reader.
pub(crate) fn lookup_terms(
    c: &Connection,
    collection: &str,
    field: &str,
    terms: &[Vec<u8>],
    meta_key: &str,
) -> Result<privet_store::TermHits> {
    in_snapshot(c, |c| {
        Ok(privet_store::TermHits {
            hits: hits_of_terms(c, collection, field, terms)?,
            meta: meta(c, meta_key)?,
        })
    })
}

/// [`lookup_terms`] with each hit loaded as `load_subject` loads it, in the same read
/// transaction (one snapshot).
pub(crate) fn lookup_and_load(
    c: &Connection,
    collection: &str,
    field: &str,
    terms: &[Vec<u8>],
    meta_key: &str,
) -> Result<privet_store::FoundSubjects> {
    in_snapshot(c, |c| {
        let hits = hits_of_terms(c, collection, field, terms)?;
        let mut found = Vec::with_capacity(hits.len());
        for (subject, record) in hits {
            // In one snapshot an entry's record and subject exist; skipping is only defensive.
            if let Some(data) = load_subject_in(c, subject, Some(collection), Some(record))?
                && !data.records.is_empty()
            {
                found.push(data);
            }
        }
        Ok(privet_store::FoundSubjects {
            found,
            meta: meta(c, meta_key)?,
        })
    })
}

pub(crate) fn api_key(c: &Connection, prefix: &str) -> Result<Option<ApiKeyRow>> {
    c.prepare_cached(
        "SELECT prefix, hash, principal, created_at, expires_at, revoked_at \
         FROM api_keys WHERE prefix = ?1",
    )
    .and_then(|mut s| {
        s.query_row([prefix], |r| {
            Ok(ApiKeyRow {
                prefix: r.get(0)?,
                hash: r.get(1)?,
                principal: r.get(2)?,
                created_at: from_micros(r.get(3)?)?,
                expires_at: r.get::<_, Option<i64>>(4)?.map(from_micros).transpose()?,
                revoked_at: r.get::<_, Option<i64>>(5)?.map(from_micros).transpose()?,
            })
        })
        .optional()
    })
    .map_err(backend)
}

pub(crate) fn audit_leaves(c: &Connection, from: u64, limit: u32) -> Result<Vec<StoredLeaf>> {
    let from = i64::try_from(from).unwrap_or(i64::MAX - 1);
    let mut s = c
        .prepare_cached(
            "SELECT idx, leaf, leaf_hash, chain FROM audit WHERE idx > ?1 ORDER BY idx LIMIT ?2",
        )
        .map_err(backend)?;
    let rows = s
        .query_map(params![from, limit], crate::audit::stored_leaf)
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

pub(crate) fn audit_len(c: &Connection) -> Result<u64> {
    c.query_row("SELECT COALESCE(MAX(idx), 0) FROM audit", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .map_err(backend)
}

pub(crate) fn erasures(c: &Connection) -> Result<Vec<(SubjectId, OffsetDateTime)>> {
    let mut s = c
        .prepare_cached("SELECT subject_id, erased_at FROM erasures ORDER BY erased_at, subject_id")
        .map_err(backend)?;
    let rows = s
        .query_map([], |r| {
            Ok((id16(r, 0, SubjectId::from_bytes)?, from_micros(r.get(1)?)?))
        })
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}
