//! Retention-class keys and the records an erasure keeps (`retained_keys`,
//! `retained_records`, migration 0006).

use privet_core::{RecordId, SubjectId};
use privet_store::{RecordRow, Result, RetainedData, RetainedKeyRow, RetainedRecord, StoreError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::read::{backend, from_micros, in_snapshot, micros};

pub(crate) fn put_key(c: &Connection, k: &RetainedKeyRow) -> Result<()> {
    crate::apply::require_subject(c, k.subject)?;
    let res = c
        .prepare_cached(
            "INSERT INTO retained_keys (subject_id, class, key_version, wrapped_key, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                &k.subject.as_bytes()[..],
                k.class,
                k.key_version,
                k.wrapped_key,
                micros(k.created_at)
            ])
        });
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => Err(
            StoreError::AlreadyExists(format!("{} key of subject {}", k.class, k.subject)),
        ),
        Err(e) => Err(backend(e)),
    }
}

/// Moves records of `subject` into `retained_records`, deleting their blind-index entries.
pub(crate) fn retain_records(
    c: &Connection,
    subject: SubjectId,
    class: &str,
    records: &[(RecordId, OffsetDateTime)],
) -> Result<()> {
    let sid = &subject.as_bytes()[..];
    for (id, until) in records {
        let rid = &id.as_bytes()[..];
        let moved = c
            .prepare_cached(
                "INSERT INTO retained_records \
                 (id, subject_id, class, collection, version, created_at, updated_at, keep_until, fields) \
                 SELECT id, subject_id, ?3, collection, version, created_at, updated_at, ?4, fields \
                 FROM records WHERE id = ?1 AND subject_id = ?2",
            )
            .and_then(|mut s| s.execute(params![rid, sid, class, micros(*until)]))
            .map_err(backend)?;
        if moved != 1 {
            return Err(StoreError::RecordNotFound(*id));
        }
        for sql in [
            "DELETE FROM blind_index WHERE record_id = ?1",
            "DELETE FROM blind_index_recent WHERE record_id = ?1",
            "DELETE FROM records WHERE id = ?1",
        ] {
            c.prepare_cached(sql)
                .and_then(|mut s| s.execute([rid]))
                .map_err(backend)?;
        }
    }
    Ok(())
}

/// Part of an erasure: destroys the subject's class keys that keep no record.
pub(crate) fn erase_unused_keys(c: &Connection, subject: &[u8]) -> Result<()> {
    c.prepare_cached(
        "DELETE FROM retained_keys WHERE subject_id = ?1 AND class NOT IN \
         (SELECT class FROM retained_records WHERE subject_id = ?1)",
    )
    .and_then(|mut s| s.execute([subject]))
    .map(|_| ())
    .map_err(backend)
}

fn key_row(subject: SubjectId, r: &Row<'_>) -> rusqlite::Result<RetainedKeyRow> {
    Ok(RetainedKeyRow {
        subject,
        class: r.get(0)?,
        key_version: r.get(1)?,
        wrapped_key: r.get(2)?,
        created_at: from_micros(r.get(3)?)?,
    })
}

pub(crate) fn keys(c: &Connection, subject: SubjectId) -> Result<Vec<RetainedKeyRow>> {
    let mut s = c
        .prepare_cached(
            "SELECT class, key_version, wrapped_key, created_at FROM retained_keys \
             WHERE subject_id = ?1 ORDER BY class",
        )
        .map_err(backend)?;
    let rows = s
        .query_map([&subject.as_bytes()[..]], |r| key_row(subject, r))
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

pub(crate) fn load(
    c: &Connection,
    subject: SubjectId,
    collection: &str,
    record: Option<RecordId>,
) -> Result<Option<RetainedData>> {
    in_snapshot(c, |c| load_in(c, subject, collection, record))
}

fn load_in(
    c: &Connection,
    subject: SubjectId,
    collection: &str,
    record: Option<RecordId>,
) -> Result<Option<RetainedData>> {
    let sid = &subject.as_bytes()[..];
    let erased_at: Option<i64> = c
        .prepare_cached("SELECT erased_at FROM erasures WHERE subject_id = ?1")
        .and_then(|mut s| s.query_row([sid], |r| r.get(0)).optional())
        .map_err(backend)?;
    let Some(erased_at) = erased_at else {
        return Ok(None);
    };
    let keys = keys(c, subject)?;
    let cols = "id, version, created_at, updated_at, fields, class, keep_until";
    let any = record.is_none();
    let rid = record.map(|r| r.as_bytes().to_vec()).unwrap_or_default();
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {cols} FROM retained_records WHERE subject_id = ?1 AND collection = ?2 \
             AND (?3 OR id = ?4) ORDER BY id"
        ))
        .map_err(backend)?;
    let rows = s
        .query_map(params![sid, collection, any, rid], |r| {
            let id: [u8; 16] = r.get(0)?;
            Ok((
                RecordId::from_bytes(id),
                r.get::<_, i64>(1)?,
                from_micros(r.get(2)?)?,
                from_micros(r.get(3)?)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, String>(5)?,
                from_micros(r.get(6)?)?,
            ))
        })
        .map_err(backend)?;
    let mut records = Vec::new();
    for row in rows {
        let (id, version, created_at, updated_at, blob, class, keep_until) =
            row.map_err(backend)?;
        let fields = privet_store::decode_fields(&blob)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        records.push(RetainedRecord {
            record: RecordRow {
                id,
                subject,
                collection: collection.to_owned(),
                version,
                created_at,
                updated_at,
                fields,
            },
            class,
            keep_until,
        });
    }
    Ok(Some(RetainedData {
        erased_at: from_micros(erased_at).map_err(backend)?,
        keys,
        records,
    }))
}

/// Deletes an expired kept record, then the subject's key of its class once that keeps
/// nothing (only for an erased subject: a live one's class key seals its live records).
pub(crate) fn purge(
    c: &Connection,
    record: RecordId,
    subject: SubjectId,
    now: OffsetDateTime,
) -> Result<()> {
    let rid = &record.as_bytes()[..];
    let sid = &subject.as_bytes()[..];
    let class: Option<String> = c
        .prepare_cached(
            "DELETE FROM retained_records WHERE id = ?1 AND subject_id = ?2 AND keep_until <= ?3 \
             RETURNING class",
        )
        .and_then(|mut s| {
            s.query_row(params![rid, sid, micros(now)], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    let Some(class) = class else {
        return Err(StoreError::RecordNotFound(record));
    };
    c.prepare_cached(
        "DELETE FROM retained_keys WHERE subject_id = ?1 AND class = ?2 \
         AND NOT EXISTS (SELECT 1 FROM retained_records WHERE subject_id = ?1 AND class = ?2) \
         AND NOT EXISTS (SELECT 1 FROM subjects WHERE id = ?1)",
    )
    .and_then(|mut s| s.execute(params![sid, class]))
    .map(|_| ())
    .map_err(backend)
}

pub(crate) fn due(
    c: &Connection,
    until: OffsetDateTime,
    after: Option<(OffsetDateTime, RecordId)>,
    limit: u32,
) -> Result<Vec<privet_store::RetainedDueRow>> {
    let (after_at, after_id) = after.map_or((i64::MIN, Vec::new()), |(at, id)| {
        (micros(at), id.as_bytes().to_vec())
    });
    let mut s = c
        .prepare_cached(
            "SELECT id, subject_id, collection, class, keep_until FROM retained_records \
             WHERE keep_until <= ?1 AND (keep_until > ?2 OR (keep_until = ?2 AND id > ?3)) \
             ORDER BY keep_until, id LIMIT ?4",
        )
        .map_err(backend)?;
    let rows = s
        .query_map(params![micros(until), after_at, after_id, limit], |r| {
            let id: [u8; 16] = r.get(0)?;
            let sid: [u8; 16] = r.get(1)?;
            Ok(privet_store::RetainedDueRow {
                record: RecordId::from_bytes(id),
                subject: SubjectId::from_bytes(sid),
                collection: r.get(2)?,
                class: r.get(3)?,
                keep_until: from_micros(r.get(4)?)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}
