//! Read queries.

use deadpool_postgres::ClientWrapper as Client;
use privet_core::{RecordId, SubjectId};
use privet_store::{ApiKeyRow, Result, StoreError, TermHits};

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

/// The entries of any of `terms` and the `meta_key` value, in one statement (so one round
/// trip and one snapshot): the meta row comes back as a row without ids.
///
/// One `term = $n` branch per term rather than `term = ANY($3)`: PostgreSQL (before 17)
/// plans an array match on the index's third column both as an index condition and as a
/// filter over the first two, and on a table not analyzed since a bulk import it chose the
/// filter — a scan of every entry of the field (10–24 ms at 20k–100k subjects) instead of
/// one index probe. Plain equalities are always index conditions. Servers hold one to a few
/// key versions, so there are that many statements to prepare.
pub(crate) async fn lookup_terms(
    c: &Client,
    collection: &str,
    field: &str,
    terms: &[Vec<u8>],
    meta_key: &str,
) -> Result<TermHits> {
    let mut sql = String::from("SELECT NULL::bytea, NULL::bytea, value FROM meta WHERE key = $1");
    type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
    let mut params: Vec<Param<'_>> = vec![&meta_key];
    if !terms.is_empty() {
        params.push(&collection);
        params.push(&field);
    }
    for term in terms {
        params.push(term);
        sql.push_str(&format!(
            " UNION ALL SELECT subject_id, record_id, NULL FROM blind_index \
             WHERE collection = $2 AND field = $3 AND term = ${}",
            params.len()
        ));
    }
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    let rows = c.query(&stmt, &params).await.map_err(db)?;
    let mut found = TermHits::default();
    for r in &rows {
        match (r.get::<_, Option<&[u8]>>(0), r.get::<_, Option<&[u8]>>(1)) {
            (Some(s), Some(rec)) => found.hits.push((
                id16(s, SubjectId::from_bytes)?,
                id16(rec, RecordId::from_bytes)?,
            )),
            _ => found.meta = r.get(2),
        }
    }
    // A record is indexed under one term per field, but `terms` may repeat one.
    found.hits.sort_unstable_by_key(|(_, r)| *r);
    found.hits.dedup();
    Ok(found)
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
