//! The consent ledger and restrictions of processing: their ops (run by the writer) and reads.

use privet_core::SubjectId;
use privet_store::{ConsentEventRow, RestrictionRow, Result, StoreError};
use rusqlite::{Connection, Row, params};

use crate::apply::require_subject;
use crate::read::{backend, from_micros, micros};

const CONSENT_COLS: &str = "purpose, state, at, source, notice_version, expires_at, actor";

/// Maps the columns of [`CONSENT_COLS`] (in that order, from the first column).
fn consent_row(subject: SubjectId, r: &Row<'_>) -> rusqlite::Result<ConsentEventRow> {
    Ok(ConsentEventRow {
        subject,
        purpose: r.get(0)?,
        state: r.get(1)?,
        at: from_micros(r.get(2)?)?,
        source: r.get(3)?,
        notice_version: r.get(4)?,
        expires_at: r.get::<_, Option<i64>>(5)?.map(from_micros).transpose()?,
        actor: r.get(6)?,
    })
}

pub(crate) fn append(c: &Connection, e: &ConsentEventRow) -> Result<()> {
    // The single writer serializes every write set, so no erasure can slip in between the
    // check and the insert, and `seq` (the rowid) grows in commit order.
    require_subject(c, e.subject)?;
    c.prepare_cached(
        "INSERT INTO consent_events \
         (subject_id, purpose, state, at, source, notice_version, expires_at, actor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            &e.subject.as_bytes()[..],
            e.purpose,
            e.state,
            micros(e.at),
            e.source,
            e.notice_version,
            e.expires_at.map(micros),
            e.actor
        ])
    })
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn set_restriction(
    c: &Connection,
    subject: SubjectId,
    restriction: Option<&RestrictionRow>,
) -> Result<()> {
    check_restriction_subject(subject, restriction)?;
    require_subject(c, subject)?;
    let id = &subject.as_bytes()[..];
    match restriction {
        Some(r) => c
            .prepare_cached(
                "INSERT OR REPLACE INTO restrictions (subject_id, reason, at, actor) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![id, r.reason, micros(r.at), r.actor])),
        None => c
            .prepare_cached("DELETE FROM restrictions WHERE subject_id = ?1")
            .and_then(|mut s| s.execute([id])),
    }
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn check_restriction_subject(
    subject: SubjectId,
    restriction: Option<&RestrictionRow>,
) -> Result<()> {
    match restriction {
        Some(r) if r.subject != subject => Err(StoreError::Invalid(format!(
            "restriction of subject {} set through subject {subject}",
            r.subject
        ))),
        _ => Ok(()),
    }
}

/// Deletes a subject's ledger and restriction (part of its erasure, before the subject row).
pub(crate) fn delete_subject(c: &Connection, id: &[u8]) -> Result<()> {
    c.execute("DELETE FROM consent_events WHERE subject_id = ?1", [id])
        .and_then(|_| c.execute("DELETE FROM restrictions WHERE subject_id = ?1", [id]))
        .map_err(backend)?;
    Ok(())
}

/// The latest event of each purpose, by purpose.
pub(crate) fn latest(c: &Connection, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
    // With MAX(), SQLite takes the bare columns from the row holding the maximum: the last
    // appended event of each purpose.
    let sql = format!(
        "SELECT {CONSENT_COLS}, MAX(seq) FROM consent_events WHERE subject_id = ?1 \
         GROUP BY purpose ORDER BY purpose"
    );
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    let rows = s
        .query_map([&subject.as_bytes()[..]], |r| consent_row(subject, r))
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

pub(crate) fn history(c: &Connection, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
    let sql =
        format!("SELECT {CONSENT_COLS} FROM consent_events WHERE subject_id = ?1 ORDER BY seq");
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    let rows = s
        .query_map([&subject.as_bytes()[..]], |r| consent_row(subject, r))
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}
