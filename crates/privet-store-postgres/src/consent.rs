//! The consent ledger and restrictions of processing: their ops and reads.
//!
//! Every op locks the subject row `FOR NO KEY UPDATE` in the statement that writes, so it
//! costs one round trip: an erasure (which locks `FOR UPDATE`) cannot interleave, so no
//! consent or restriction outlives its subject; and consent writes of one subject take turns,
//! so their `seq` follows commit order and the latest event is the one acknowledged last.
//! The lock does not conflict with the `FOR KEY SHARE` of audited reads or record writes.

use privet_core::SubjectId;
use privet_store::{ConsentEventRow, RestrictionRow, Result, StoreError};
use tokio_postgres::Transaction;

use crate::error::db;
use crate::read::{from_micros, micros};

pub(crate) async fn append(tx: &Transaction<'_>, e: &ConsentEventRow) -> Result<()> {
    let n = tx
        .execute(
            "WITH s AS (SELECT id FROM subjects WHERE id = $1 FOR NO KEY UPDATE) \
             INSERT INTO consent_events \
             (subject_id, purpose, state, at, source, notice_version, expires_at, actor) \
             SELECT s.id, $2, $3, $4, $5, $6, $7, $8 FROM s",
            &[
                &&e.subject.as_bytes()[..],
                &e.purpose,
                &e.state,
                &micros(e.at),
                &e.source,
                &e.notice_version,
                &e.expires_at.map(micros),
                &e.actor,
            ],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::SubjectNotFound(e.subject));
    }
    Ok(())
}

pub(crate) async fn set_restriction(
    tx: &Transaction<'_>,
    subject: SubjectId,
    restriction: Option<&RestrictionRow>,
) -> Result<()> {
    let id = &subject.as_bytes()[..];
    let found = match restriction {
        Some(r) if r.subject != subject => {
            return Err(StoreError::Invalid(format!(
                "restriction of subject {} set through subject {subject}",
                r.subject
            )));
        }
        Some(r) => tx
            .execute(
                "WITH s AS (SELECT id FROM subjects WHERE id = $1 FOR NO KEY UPDATE) \
                 INSERT INTO restrictions (subject_id, reason, at, actor) \
                 SELECT s.id, $2, $3, $4 FROM s \
                 ON CONFLICT (subject_id) DO UPDATE \
                 SET reason = EXCLUDED.reason, at = EXCLUDED.at, actor = EXCLUDED.actor",
                &[&id, &r.reason, &micros(r.at), &r.actor],
            )
            .await
            .map_err(db)?,
        None => {
            let row = tx
                .query_one(
                    "WITH s AS (SELECT id FROM subjects WHERE id = $1 FOR NO KEY UPDATE), \
                     d AS (DELETE FROM restrictions WHERE subject_id IN (SELECT id FROM s)) \
                     SELECT count(*) FROM s",
                    &[&id],
                )
                .await
                .map_err(db)?;
            row.get::<_, i64>(0) as u64
        }
    };
    if found == 0 {
        return Err(StoreError::SubjectNotFound(subject));
    }
    Ok(())
}

/// Deletes a subject's ledger and restriction (part of its erasure, under its row lock,
/// before the subject row).
pub(crate) async fn delete_subject(tx: &Transaction<'_>, id: &[u8]) -> Result<()> {
    tx.execute(
        "WITH c AS (DELETE FROM consent_events WHERE subject_id = $1) \
         DELETE FROM restrictions WHERE subject_id = $1",
        &[&id],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn history(
    c: &tokio_postgres::Client,
    subject: SubjectId,
) -> Result<Vec<ConsentEventRow>> {
    let rows = c
        .query(
            "SELECT purpose, state, at, source, notice_version, expires_at, actor \
             FROM consent_events WHERE subject_id = $1 ORDER BY seq",
            &[&&subject.as_bytes()[..]],
        )
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(ConsentEventRow {
                subject,
                purpose: r.get(0),
                state: r.get(1),
                at: from_micros(r.get(2))?,
                source: r.get(3),
                notice_version: r.get(4),
                expires_at: r.get::<_, Option<i64>>(5).map(from_micros).transpose()?,
                actor: r.get(6),
            })
        })
        .collect()
}
