//! Read queries.

use deadpool_postgres::ClientWrapper as Client;
use privet_core::{RecordId, SubjectId};
use privet_store::{ApiKeyRow, RecordRow, Result, StoreError, SubjectData};
use std::sync::LazyLock;

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

/// The subject (with its restriction and consents) and its records matching `filter`, as
/// parallel arrays, in one statement: one round trip and one snapshot, so an erasure or a
/// write committing meanwhile is seen entirely or not at all.
fn subject_with_records_sql(filter: &str) -> String {
    use crate::consent::{SUBJECT_COLS, SUBJECT_FROM};
    let agg =
        |col: &str, name: &str| format!("array_agg(x.{col} ORDER BY x.collection, x.id) AS {name}");
    format!(
        "{SUBJECT_COLS}, rec.ids, rec.versions, rec.created, rec.updated, rec.fields, \
         rec.collections{SUBJECT_FROM} \
         CROSS JOIN LATERAL (SELECT {}, {}, {}, {}, {}, {} \
             FROM records x WHERE x.subject_id = s.id{filter}) rec \
         WHERE s.id = $1",
        agg("id", "ids"),
        agg("version", "versions"),
        agg("created_at", "created"),
        agg("updated_at", "updated"),
        agg("fields", "fields"),
        agg("collection", "collections"),
    )
}

static ONE_RECORD: LazyLock<String> =
    LazyLock::new(|| subject_with_records_sql(" AND x.collection = $2 AND x.id = $3"));
static ONE_COLLECTION: LazyLock<String> =
    LazyLock::new(|| subject_with_records_sql(" AND x.collection = $2"));
static ALL_RECORDS: LazyLock<String> = LazyLock::new(|| subject_with_records_sql(""));

async fn load_subject_in(
    c: &Client,
    subject: SubjectId,
    collection: Option<&str>,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    let sid = &subject.as_bytes()[..];
    let row = match (collection, record) {
        (Some(collection), Some(rid)) => {
            let rid = &rid.as_bytes()[..];
            let stmt = c.prepare_cached(&ONE_RECORD).await.map_err(db)?;
            c.query_opt(&stmt, &[&sid, &collection, &rid]).await
        }
        (Some(collection), None) => {
            let stmt = c.prepare_cached(&ONE_COLLECTION).await.map_err(db)?;
            c.query_opt(&stmt, &[&sid, &collection]).await
        }
        (None, _) => {
            let stmt = c.prepare_cached(&ALL_RECORDS).await.map_err(db)?;
            c.query_opt(&stmt, &[&sid]).await
        }
    }
    .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let (subject_row, restriction, consents) = crate::consent::subject_from_row(subject, &row)?;
    let ids: Vec<Vec<u8>> = row.get::<_, Option<_>>(13).unwrap_or_default();
    let versions: Vec<i64> = row.get::<_, Option<_>>(14).unwrap_or_default();
    let created: Vec<i64> = row.get::<_, Option<_>>(15).unwrap_or_default();
    let updated: Vec<i64> = row.get::<_, Option<_>>(16).unwrap_or_default();
    let fields: Vec<Vec<u8>> = row.get::<_, Option<_>>(17).unwrap_or_default();
    let collections: Vec<String> = row.get::<_, Option<_>>(18).unwrap_or_default();
    let n = ids.len();
    if [
        versions.len(),
        created.len(),
        updated.len(),
        fields.len(),
        collections.len(),
    ]
    .iter()
    .any(|l| *l != n)
    {
        return Err(StoreError::Corrupt(
            "a subject's record columns disagree in length".into(),
        ));
    }
    let mut records = Vec::with_capacity(n);
    for (i, raw_id) in ids.iter().enumerate() {
        let id = id16(raw_id, RecordId::from_bytes)?;
        let decoded = privet_store::decode_fields(&fields[i])
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        records.push(RecordRow {
            id,
            subject,
            collection: collections[i].clone(),
            version: versions[i],
            created_at: from_micros(created[i])?,
            updated_at: from_micros(updated[i])?,
            fields: decoded,
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
