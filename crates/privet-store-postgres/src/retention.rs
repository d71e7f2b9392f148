//! Retention and legal holds: the ops a purge and a hold write, and the scan a retention run
//! reads.
//!
//! A purge's guard locks the subject row `FOR UPDATE`: a concurrent write set of the subject
//! that touches it (writes, consents), sets a hold or adds a record (whose foreign-key check
//! takes `KEY SHARE`) either commits first — and the guard, which reads after the lock,
//! sees it and refuses — or waits for the purge.

use deadpool_postgres::{ClientWrapper as Client, Transaction};
use privet_core::{RecordId, SubjectId};
use privet_store::{LegalHoldRow, RecordRow, Result, RetentionRow, StoreError};
use time::OffsetDateTime;
use tokio_postgres::IsolationLevel;

use crate::error::db;
use crate::read::{from_micros, micros};

fn id16<T>(bytes: &[u8], make: fn([u8; 16]) -> T) -> Result<T> {
    <[u8; 16]>::try_from(bytes)
        .map(make)
        .map_err(|_| StoreError::Corrupt("stored id is not 16 bytes".into()))
}

pub(crate) async fn touch(
    tx: &Transaction<'_>,
    subject: SubjectId,
    at: OffsetDateTime,
) -> Result<()> {
    let n = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE subjects SET last_activity_at = \
                 GREATEST(COALESCE(last_activity_at, created_at), $2) WHERE id = $1",
            )
            .await
            .map_err(db)?,
            &[&&subject.as_bytes()[..], &micros(at)],
        )
        .await
        .map_err(db)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::SubjectNotFound(subject))
    }
}

pub(crate) async fn set_hold(
    tx: &Transaction<'_>,
    subject: SubjectId,
    hold: Option<&LegalHoldRow>,
) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE subjects SET legal_hold_reason = $2, legal_hold_at = $3, \
             legal_hold_actor = $4 WHERE id = $1",
            &[
                &&subject.as_bytes()[..],
                &hold.map(|h| h.reason.as_str()),
                &hold.map(|h| micros(h.at)),
                &hold.map(|h| h.actor.as_str()),
            ],
        )
        .await
        .map_err(db)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::SubjectNotFound(subject))
    }
}

/// Locks the subject row `FOR UPDATE` and returns (last activity, held).
pub(crate) async fn lock_subject(tx: &Transaction<'_>, subject: SubjectId) -> Result<(i64, bool)> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT COALESCE(last_activity_at, created_at), legal_hold_reason IS NOT NULL \
                 FROM subjects WHERE id = $1 FOR UPDATE",
            )
            .await
            .map_err(db)?,
            &[&&subject.as_bytes()[..]],
        )
        .await
        .map_err(db)?
        .ok_or(StoreError::SubjectNotFound(subject))?;
    Ok((row.get(0), row.get(1)))
}

pub(crate) async fn guard(
    tx: &Transaction<'_>,
    subject: SubjectId,
    last_activity: OffsetDateTime,
    records: u64,
) -> Result<()> {
    let (activity, held) = lock_subject(tx, subject).await?;
    if held {
        return Err(StoreError::LegalHold(subject));
    }
    let count: i64 = tx
        .query_one(
            &tx.prepare_cached("SELECT count(*) FROM records WHERE subject_id = $1")
                .await
                .map_err(db)?,
            &[&&subject.as_bytes()[..]],
        )
        .await
        .map_err(db)?
        .get(0);
    if activity != micros(last_activity) || u64::try_from(count).ok() != Some(records) {
        return Err(StoreError::ActivityConflict(subject));
    }
    Ok(())
}

pub(crate) async fn delete_record(
    tx: &Transaction<'_>,
    record: RecordId,
    subject: SubjectId,
    expected: i64,
) -> Result<()> {
    let rid = &record.as_bytes()[..];
    let sid = &subject.as_bytes()[..];
    let n = tx
        .execute(
            &tx.prepare_cached(
                "DELETE FROM records WHERE id = $1 AND subject_id = $2 AND version = $3",
            )
            .await
            .map_err(db)?,
            &[&rid, &sid, &expected],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM records WHERE id = $1 AND subject_id = $2",
                &[&rid, &sid],
            )
            .await
            .map_err(db)?;
        return Err(match exists {
            Some(_) => StoreError::VersionConflict { record, expected },
            None => StoreError::RecordNotFound(record),
        });
    }
    crate::apply::unindex_record(tx, rid).await
}

pub(crate) async fn legal_hold(c: &Client, subject: SubjectId) -> Result<Option<LegalHoldRow>> {
    let row = c
        .query_opt(
            &c.prepare_cached(
                "SELECT legal_hold_reason, legal_hold_at, legal_hold_actor FROM subjects \
                 WHERE id = $1 AND legal_hold_reason IS NOT NULL",
            )
            .await
            .map_err(db)?,
            &[&&subject.as_bytes()[..]],
        )
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(LegalHoldRow {
            reason: r.get(0),
            at: from_micros(r.get(1))?,
            actor: r.get(2),
        })
    })
    .transpose()
}

/// One page of subjects, read in one snapshot (a read-only repeatable-read transaction).
pub(crate) async fn page(
    client: &mut Client,
    after: Option<SubjectId>,
    limit: u32,
) -> Result<Vec<RetentionRow>> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db)?;
    let after = after.map_or_else(Vec::new, |a| a.as_bytes().to_vec());
    let subjects = tx
        .query(
            "SELECT id, created_at, COALESCE(last_activity_at, created_at), \
                    legal_hold_reason, legal_hold_at, legal_hold_actor \
             FROM subjects WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &i64::from(limit)],
        )
        .await
        .map_err(db)?;
    let mut out = Vec::with_capacity(subjects.len());
    let mut ids: Vec<Vec<u8>> = Vec::with_capacity(subjects.len());
    for r in &subjects {
        let id: &[u8] = r.get(0);
        ids.push(id.to_vec());
        let legal_hold = match r.get::<_, Option<String>>(3) {
            Some(reason) => Some(LegalHoldRow {
                reason,
                at: from_micros(r.get(4))?,
                actor: r.get(5),
            }),
            None => None,
        };
        out.push(RetentionRow {
            subject: id16(id, SubjectId::from_bytes)?,
            created_at: from_micros(r.get(1))?,
            last_activity: from_micros(r.get(2))?,
            legal_hold,
            consents: Vec::new(),
            records: Vec::new(),
        });
    }
    if out.is_empty() {
        return Ok(out);
    }
    let index: std::collections::HashMap<Vec<u8>, usize> = ids.iter().cloned().zip(0..).collect();
    let position = |id: &[u8]| index.get(id).copied();
    let consents = tx
        .query(
            "SELECT DISTINCT ON (subject_id, purpose) subject_id, purpose, state, at, source, \
                    notice_version, expires_at, actor \
             FROM consent_events WHERE subject_id = ANY($1) \
             ORDER BY subject_id, purpose, seq DESC",
            &[&ids],
        )
        .await
        .map_err(db)?;
    for r in consents {
        let Some(i) = position(r.get(0)) else {
            continue;
        };
        let subject = out[i].subject;
        out[i].consents.push(privet_store::ConsentEventRow {
            subject,
            purpose: r.get(1),
            state: r.get(2),
            at: from_micros(r.get(3))?,
            source: r.get(4),
            notice_version: r.get(5),
            expires_at: r.get::<_, Option<i64>>(6).map(from_micros).transpose()?,
            actor: r.get(7),
        });
    }
    let records = tx
        .query(
            "SELECT subject_id, id, collection, version, created_at, updated_at, fields \
             FROM records WHERE subject_id = ANY($1) ORDER BY subject_id, id",
            &[&ids],
        )
        .await
        .map_err(db)?;
    for r in records {
        let Some(i) = position(r.get(0)) else {
            continue;
        };
        let id = id16(r.get::<_, &[u8]>(1), RecordId::from_bytes)?;
        let fields = privet_store::decode_fields(r.get::<_, &[u8]>(6))
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        let subject = out[i].subject;
        out[i].records.push(RecordRow {
            id,
            subject,
            collection: r.get(2),
            version: r.get(3),
            created_at: from_micros(r.get(4))?,
            updated_at: from_micros(r.get(5))?,
            fields,
        });
    }
    tx.commit().await.map_err(db)?;
    Ok(out)
}
