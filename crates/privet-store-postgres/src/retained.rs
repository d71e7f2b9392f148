//! Retention-class keys and the records an erasure keeps (`retained_keys`,
//! `retained_records`, migration 0006).

use deadpool_postgres::{ClientWrapper as Client, Transaction};
use privet_core::{RecordId, SubjectId};
use privet_store::{RecordRow, Result, RetainedData, RetainedKeyRow, RetainedRecord, StoreError};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;

use crate::error::{db, is};
use crate::read::{from_micros, micros};

pub(crate) async fn put_key(tx: &Transaction<'_>, k: &RetainedKeyRow) -> Result<()> {
    let sid = &k.subject.as_bytes()[..];
    // KEY SHARE: a concurrent erasure waits for this transaction, then destroys the key too.
    let found = tx
        .query_opt(
            &tx.prepare_cached("SELECT 1 FROM subjects WHERE id = $1 FOR KEY SHARE")
                .await
                .map_err(db)?,
            &[&sid],
        )
        .await
        .map_err(db)?;
    if found.is_none() {
        return Err(StoreError::SubjectNotFound(k.subject));
    }
    let res = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO retained_keys (subject_id, class, key_version, wrapped_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(db)?,
            &[
                &sid,
                &k.class,
                &(k.key_version as i32),
                &k.wrapped_key,
                &micros(k.created_at),
            ],
        )
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => Err(StoreError::AlreadyExists(format!(
            "{} key of subject {}",
            k.class, k.subject
        ))),
        Err(e) => Err(db(e)),
    }
}

/// Moves records of `subject` into `retained_records`, deleting their blind-index entries.
pub(crate) async fn retain_records(
    tx: &Transaction<'_>,
    subject: SubjectId,
    class: &str,
    records: &[(RecordId, OffsetDateTime)],
) -> Result<()> {
    let sid = &subject.as_bytes()[..];
    for (id, until) in records {
        let rid = &id.as_bytes()[..];
        let moved = tx
            .execute(
                &tx.prepare_cached(
                    "INSERT INTO retained_records \
                     (id, subject_id, class, collection, version, created_at, updated_at, keep_until, fields) \
                     SELECT id, subject_id, $3, collection, version, created_at, updated_at, $4, fields \
                     FROM records WHERE id = $1 AND subject_id = $2",
                )
                .await
                .map_err(db)?,
                &[&rid, &sid, &class, &micros(*until)],
            )
            .await
            .map_err(db)?;
        if moved != 1 {
            return Err(StoreError::RecordNotFound(*id));
        }
        crate::apply::unindex_record(tx, rid).await?;
        tx.execute(
            &tx.prepare_cached("DELETE FROM records WHERE id = $1")
                .await
                .map_err(db)?,
            &[&rid],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Part of an erasure: destroys the subject's class keys that keep no record.
pub(crate) async fn erase_unused_keys(tx: &Transaction<'_>, subject: &[u8]) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM retained_keys WHERE subject_id = $1 AND class NOT IN \
             (SELECT class FROM retained_records WHERE subject_id = $1)",
        )
        .await
        .map_err(db)?,
        &[&subject],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn keys(c: &Client, subject: SubjectId) -> Result<Vec<RetainedKeyRow>> {
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT class, key_version, wrapped_key, created_at FROM retained_keys \
                 WHERE subject_id = $1 ORDER BY class COLLATE \"C\"",
            )
            .await
            .map_err(db)?,
            &[&&subject.as_bytes()[..]],
        )
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(RetainedKeyRow {
                subject,
                class: r.get(0),
                key_version: r.get::<_, i32>(1) as u32,
                wrapped_key: r.get(2),
                created_at: from_micros(r.get(3))?,
            })
        })
        .collect()
}

pub(crate) async fn load(
    c: &Client,
    subject: SubjectId,
    collection: &str,
    record: Option<RecordId>,
) -> Result<Option<RetainedData>> {
    let sid = &subject.as_bytes()[..];
    // No snapshot needed: what an erasure kept only changes when a retention purge deletes
    // it, and a record read after its key is gone fails to decrypt rather than leak.
    let erased = c
        .query_opt(
            &c.prepare_cached("SELECT erased_at FROM erasures WHERE subject_id = $1")
                .await
                .map_err(db)?,
            &[&sid],
        )
        .await
        .map_err(db)?;
    let Some(erased) = erased else {
        return Ok(None);
    };
    let erased_at = from_micros(erased.get(0))?;
    let keys = keys(c, subject).await?;
    let rid = record.map(|r| r.as_bytes().to_vec());
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT id, version, created_at, updated_at, fields, class, keep_until \
                 FROM retained_records WHERE subject_id = $1 AND collection = $2 \
                 AND ($3::bytea IS NULL OR id = $3) ORDER BY id",
            )
            .await
            .map_err(db)?,
            &[&sid, &collection, &rid],
        )
        .await
        .map_err(db)?;
    let mut records = Vec::with_capacity(rows.len());
    for r in rows {
        let id = <[u8; 16]>::try_from(r.get::<_, &[u8]>(0))
            .map(RecordId::from_bytes)
            .map_err(|_| StoreError::Corrupt("stored id is not 16 bytes".into()))?;
        let fields = privet_store::decode_fields(r.get::<_, &[u8]>(4))
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        records.push(RetainedRecord {
            record: RecordRow {
                id,
                subject,
                collection: collection.to_owned(),
                version: r.get(1),
                created_at: from_micros(r.get(2))?,
                updated_at: from_micros(r.get(3))?,
                fields,
            },
            class: r.get(5),
            keep_until: from_micros(r.get(6))?,
        });
    }
    Ok(Some(RetainedData {
        erased_at,
        keys,
        records,
    }))
}

/// Deletes an expired kept record, then the subject's key of its class once that keeps
/// nothing (only for an erased subject: a live one's class key seals its live records).
pub(crate) async fn purge(
    tx: &Transaction<'_>,
    record: RecordId,
    subject: SubjectId,
    now: OffsetDateTime,
) -> Result<()> {
    let rid = &record.as_bytes()[..];
    let sid = &subject.as_bytes()[..];
    // Lock the class key first: purges of two records of the same class then take turns, so
    // the second one sees the first one's deletion and destroys the key.
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT k.class FROM retained_keys k JOIN retained_records r \
                 ON r.subject_id = k.subject_id AND r.class = k.class \
                 WHERE r.id = $1 AND r.subject_id = $2 FOR UPDATE OF k",
            )
            .await
            .map_err(db)?,
            &[&rid, &sid],
        )
        .await
        .map_err(db)?;
    let deleted = tx
        .execute(
            &tx.prepare_cached(
                "DELETE FROM retained_records WHERE id = $1 AND subject_id = $2 \
                 AND keep_until <= $3",
            )
            .await
            .map_err(db)?,
            &[&rid, &sid, &micros(now)],
        )
        .await
        .map_err(db)?;
    if deleted != 1 {
        return Err(StoreError::RecordNotFound(record));
    }
    let Some(row) = row else {
        // A kept record without its key: nothing left to destroy.
        return Ok(());
    };
    let class: String = row.get(0);
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM retained_keys WHERE subject_id = $1 AND class = $2 \
             AND NOT EXISTS (SELECT 1 FROM retained_records WHERE subject_id = $1 AND class = $2) \
             AND NOT EXISTS (SELECT 1 FROM subjects WHERE id = $1)",
        )
        .await
        .map_err(db)?,
        &[&sid, &class],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn due(
    c: &Client,
    until: OffsetDateTime,
    after: Option<(OffsetDateTime, RecordId)>,
    limit: u32,
) -> Result<Vec<privet_store::RetainedDueRow>> {
    let (after_at, after_id) = after.map_or((i64::MIN, Vec::new()), |(at, id)| {
        (micros(at), id.as_bytes().to_vec())
    });
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT id, subject_id, collection, class, keep_until FROM retained_records \
                 WHERE keep_until <= $1 AND (keep_until, id) > ($2, $3) \
                 ORDER BY keep_until, id LIMIT $4",
            )
            .await
            .map_err(db)?,
            &[&micros(until), &after_at, &after_id, &i64::from(limit)],
        )
        .await
        .map_err(db)?;
    let id16 = |b: &[u8]| {
        <[u8; 16]>::try_from(b).map_err(|_| StoreError::Corrupt("stored id is not 16 bytes".into()))
    };
    rows.iter()
        .map(|r| {
            Ok(privet_store::RetainedDueRow {
                record: RecordId::from_bytes(id16(r.get(0))?),
                subject: SubjectId::from_bytes(id16(r.get(1))?),
                collection: r.get(2),
                class: r.get(3),
                keep_until: from_micros(r.get(4))?,
            })
        })
        .collect()
}
