//! Retention and legal holds: the ops a purge and a hold write (run by the writer), and the
//! scan a retention run reads.

use privet_core::{RecordId, SubjectId};
use privet_store::{LegalHoldRow, RecordRow, Result, RetentionRow, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::read::{backend, from_micros, in_snapshot, micros};

fn id16<T>(row: &Row<'_>, i: usize, make: fn([u8; 16]) -> T) -> rusqlite::Result<T> {
    let b: [u8; 16] = row.get(i)?;
    Ok(make(b))
}

pub(crate) fn touch(c: &Connection, subject: SubjectId, at: OffsetDateTime) -> Result<()> {
    let changed = c
        .prepare_cached(
            "UPDATE subjects SET last_activity_at = MAX(COALESCE(last_activity_at, created_at), ?2) \
             WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![&subject.as_bytes()[..], micros(at)]))
        .map_err(backend)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::SubjectNotFound(subject))
    }
}

pub(crate) fn set_hold(
    c: &Connection,
    subject: SubjectId,
    hold: Option<&LegalHoldRow>,
) -> Result<()> {
    let changed = c
        .prepare_cached(
            "UPDATE subjects SET legal_hold_reason = ?2, legal_hold_at = ?3, legal_hold_actor = ?4 \
             WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                &subject.as_bytes()[..],
                hold.map(|h| &h.reason),
                hold.map(|h| micros(h.at)),
                hold.map(|h| &h.actor)
            ])
        })
        .map_err(backend)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::SubjectNotFound(subject))
    }
}

/// Fails with `LegalHold` if `subject` is held (and `SubjectNotFound` if it does not exist).
pub(crate) fn refuse_held(c: &Connection, subject: SubjectId) -> Result<()> {
    guard_state(c, subject).and_then(|(_, held)| {
        if held {
            Err(StoreError::LegalHold(subject))
        } else {
            Ok(())
        }
    })
}

fn guard_state(c: &Connection, subject: SubjectId) -> Result<(i64, bool)> {
    c.prepare_cached(
        "SELECT COALESCE(last_activity_at, created_at), legal_hold_reason IS NOT NULL \
         FROM subjects WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([&subject.as_bytes()[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    })
    .map_err(backend)?
    .ok_or(StoreError::SubjectNotFound(subject))
}

pub(crate) fn guard(
    c: &Connection,
    subject: SubjectId,
    last_activity: OffsetDateTime,
    records: u64,
) -> Result<()> {
    // The single writer serializes write sets: nothing can change the subject between this
    // check and the purge's other ops.
    let (activity, held) = guard_state(c, subject)?;
    if held {
        return Err(StoreError::LegalHold(subject));
    }
    let count: i64 = c
        .prepare_cached("SELECT count(*) FROM records WHERE subject_id = ?1")
        .and_then(|mut s| s.query_row([&subject.as_bytes()[..]], |r| r.get(0)))
        .map_err(backend)?;
    if activity != micros(last_activity) || u64::try_from(count).ok() != Some(records) {
        return Err(StoreError::ActivityConflict(subject));
    }
    Ok(())
}

pub(crate) fn delete_record(
    c: &Connection,
    record: RecordId,
    subject: SubjectId,
    expected: i64,
) -> Result<()> {
    let rid = &record.as_bytes()[..];
    let version: Option<i64> = c
        .prepare_cached("SELECT version FROM records WHERE id = ?1 AND subject_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![rid, &subject.as_bytes()[..]], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    match version {
        None => return Err(StoreError::RecordNotFound(record)),
        Some(v) if v != expected => {
            return Err(StoreError::VersionConflict { record, expected });
        }
        Some(_) => {}
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
    Ok(())
}

pub(crate) fn legal_hold(c: &Connection, subject: SubjectId) -> Result<Option<LegalHoldRow>> {
    c.prepare_cached(
        "SELECT legal_hold_reason, legal_hold_at, legal_hold_actor FROM subjects \
         WHERE id = ?1 AND legal_hold_reason IS NOT NULL",
    )
    .and_then(|mut s| s.query_row([&subject.as_bytes()[..]], hold_row).optional())
    .map_err(backend)
}

fn hold_row(r: &Row<'_>) -> rusqlite::Result<LegalHoldRow> {
    Ok(LegalHoldRow {
        reason: r.get(0)?,
        at: from_micros(r.get(1)?)?,
        actor: r.get(2)?,
    })
}

pub(crate) fn page(
    c: &Connection,
    after: Option<SubjectId>,
    limit: u32,
) -> Result<Vec<RetentionRow>> {
    in_snapshot(c, |c| page_in(c, after, limit))
}

fn page_in(c: &Connection, after: Option<SubjectId>, limit: u32) -> Result<Vec<RetentionRow>> {
    let after = after.map_or_else(Vec::new, |a| a.as_bytes().to_vec());
    let mut s = c
        .prepare_cached(
            "SELECT id, created_at, COALESCE(last_activity_at, created_at), \
                    legal_hold_reason, legal_hold_at, legal_hold_actor \
             FROM subjects WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .map_err(backend)?;
    let subjects = s
        .query_map(params![after, limit], |r| {
            let hold = match r.get::<_, Option<String>>(3)? {
                Some(reason) => Some(LegalHoldRow {
                    reason,
                    at: from_micros(r.get(4)?)?,
                    actor: r.get(5)?,
                }),
                None => None,
            };
            Ok((
                id16(r, 0, SubjectId::from_bytes)?,
                from_micros(r.get(1)?)?,
                from_micros(r.get(2)?)?,
                hold,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    let mut out = Vec::with_capacity(subjects.len());
    for (subject, created_at, last_activity, legal_hold) in subjects {
        out.push(RetentionRow {
            subject,
            created_at,
            last_activity,
            legal_hold,
            consents: crate::consent::latest(c, subject)?,
            records: records_of(c, subject)?,
        });
    }
    Ok(out)
}

fn records_of(c: &Connection, subject: SubjectId) -> Result<Vec<RecordRow>> {
    let mut s = c
        .prepare_cached(
            "SELECT id, collection, version, created_at, updated_at, fields FROM records \
             WHERE subject_id = ?1 ORDER BY id",
        )
        .map_err(backend)?;
    let raw = s
        .query_map([&subject.as_bytes()[..]], |r| {
            Ok((
                id16(r, 0, RecordId::from_bytes)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                from_micros(r.get(3)?)?,
                from_micros(r.get(4)?)?,
                r.get::<_, Vec<u8>>(5)?,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    raw.into_iter()
        .map(|(id, collection, version, created_at, updated_at, blob)| {
            let fields = privet_store::decode_fields(&blob)
                .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
            Ok(RecordRow {
                id,
                subject,
                collection,
                version,
                created_at,
                updated_at,
                fields,
            })
        })
        .collect()
}
