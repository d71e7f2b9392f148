//! Read queries.

use deadpool_postgres::ClientWrapper as Client;
use privet_core::{RecordId, SubjectId};
use privet_store::{ApiKeyRow, RecordRow, Result, StoreError, SubjectData};
use time::OffsetDateTime;

use crate::error::db;

pub(crate) use privet_store::micros;

pub(crate) fn from_micros(m: i64) -> Result<OffsetDateTime> {
    privet_store::from_micros(m)
        .ok_or_else(|| StoreError::Corrupt("stored time out of range".into()))
}

pub(crate) fn id16<T>(bytes: &[u8], make: fn([u8; 16]) -> T) -> Result<T> {
    <[u8; 16]>::try_from(bytes)
        .map(make)
        .map_err(|_| StoreError::Corrupt("stored id is not 16 bytes".into()))
}

pub(crate) async fn load_subject(
    c: &Client,
    subject: SubjectId,
    collection: &str,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    load_subject_in(c, subject, Some(collection), record).await
}

/// A subject with its records of every collection (ordered by collection, then id).
pub(crate) async fn load_subject_all(
    c: &Client,
    subject: SubjectId,
) -> Result<Option<SubjectData>> {
    load_subject_in(c, subject, None, None).await
}

async fn load_subject_in(
    c: &Client,
    subject: SubjectId,
    collection: Option<&str>,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    let sid = &subject.as_bytes()[..];
    let row = c
        .query_opt(
            &c.prepare_cached(crate::consent::SUBJECT_SQL)
                .await
                .map_err(db)?,
            &[&sid],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let (subject_row, restriction, consents) = crate::consent::subject_from_row(subject, &row)?;
    const COLS: &str =
        "SELECT id, version, created_at, updated_at, fields, collection FROM records";
    let rows = match (collection, record) {
        (Some(collection), Some(rid)) => {
            let rid = &rid.as_bytes()[..];
            let sql = format!("{COLS} WHERE subject_id = $1 AND collection = $2 AND id = $3");
            let stmt = c.prepare_cached(&sql).await.map_err(db)?;
            c.query(&stmt, &[&sid, &collection, &rid]).await
        }
        (Some(collection), None) => {
            let sql = format!("{COLS} WHERE subject_id = $1 AND collection = $2 ORDER BY id");
            let stmt = c.prepare_cached(&sql).await.map_err(db)?;
            c.query(&stmt, &[&sid, &collection]).await
        }
        (None, _) => {
            let sql = format!("{COLS} WHERE subject_id = $1 ORDER BY collection, id");
            let stmt = c.prepare_cached(&sql).await.map_err(db)?;
            c.query(&stmt, &[&sid]).await
        }
    }
    .map_err(db)?;
    let mut records = Vec::with_capacity(rows.len());
    for r in rows {
        let id = id16(r.get::<_, &[u8]>(0), RecordId::from_bytes)?;
        let fields = privet_store::decode_fields(r.get::<_, &[u8]>(4))
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        records.push(RecordRow {
            id,
            subject,
            collection: r.get(5),
            version: r.get(1),
            created_at: from_micros(r.get(2))?,
            updated_at: from_micros(r.get(3))?,
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

pub(crate) async fn lookup(
    c: &Client,
    collection: &str,
    field: &str,
    term: &[u8],
) -> Result<Vec<(SubjectId, RecordId)>> {
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT subject_id, record_id FROM blind_index \
             WHERE collection = $1 AND field = $2 AND term = $3 ORDER BY record_id",
            )
            .await
            .map_err(db)?,
            &[&collection, &field, &term],
        )
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok((
                id16(r.get(0), SubjectId::from_bytes)?,
                id16(r.get(1), RecordId::from_bytes)?,
            ))
        })
        .collect()
}

pub(crate) async fn api_key(c: &Client, prefix: &str) -> Result<Option<ApiKeyRow>> {
    let row = c
        .query_opt(
            &c.prepare_cached(
                "SELECT prefix, hash, principal, created_at, expires_at, revoked_at \
                 FROM api_keys WHERE prefix = $1",
            )
            .await
            .map_err(db)?,
            &[&prefix],
        )
        .await
        .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(ApiKeyRow {
        prefix: r.get(0),
        hash: r.get(1),
        principal: r.get(2),
        created_at: from_micros(r.get(3))?,
        expires_at: r.get::<_, Option<i64>>(4).map(from_micros).transpose()?,
        revoked_at: r.get::<_, Option<i64>>(5).map(from_micros).transpose()?,
    }))
}

pub(crate) async fn erasures(c: &Client) -> Result<Vec<(SubjectId, OffsetDateTime)>> {
    let rows = c
        .query(
            &c.prepare_cached(
                "SELECT subject_id, erased_at FROM erasures ORDER BY erased_at, subject_id",
            )
            .await
            .map_err(db)?,
            &[],
        )
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok((
                id16(r.get(0), SubjectId::from_bytes)?,
                from_micros(r.get(1))?,
            ))
        })
        .collect()
}
