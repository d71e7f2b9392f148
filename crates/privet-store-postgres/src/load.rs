//! Loading a subject: its row, restriction, current consents and records, in **one**
//! statement, so one round trip and one snapshot (an erasure or a write committing meanwhile
//! is seen entirely or not at all).
//!
//! The statement is a `UNION ALL` of plain index scans, one row per thing found, tagged by
//! kind, in one wide row type (unused columns null). An earlier form joined the subject to
//! its consents and records aggregated into parallel arrays (`array_agg(… ORDER BY …)`): the
//! same single round trip, but PostgreSQL spent more time setting up its plan at every
//! execution (nested loops, 13 ordered aggregates, each with its own sort) than reading the
//! rows: 92–109 µs per execution against 62–69 µs for this form (pgbench, one client,
//! prepared with bound parameters, 100k subjects; the baseline's one-row `SELECT` with four
//! `pgp_sym_decrypt` takes 62–74 µs the same way; with the subject-id column lookups need,
//! a later session measured 64 µs against the baseline's 67–68 and the old form's 95–96).
//! Ordering is done here rather than in SQL, for the same reason.
//!
//! Lookups ([`lookup_and_load`]) feed the same body with the index entries found, so a lookup
//! is one round trip and one snapshot too.

use deadpool_postgres::ClientWrapper as Client;
use privet_core::{RecordId, SubjectId};
use privet_store::{
    ConsentEventRow, FoundSubjects, RecordRow, RestrictionRow, Result, StoreError, SubjectData,
    SubjectRow,
};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use tokio_postgres::Row;

use crate::error::db;
use crate::read::{from_micros, id16};

const SUBJECT: i32 = 0;
const RESTRICTION: i32 = 1;
const CONSENT: i32 = 2;
const RECORD: i32 = 3;
const META: i32 = 4;

/// The statement's body: subjects whose id satisfies `subjects` (`= $1`, or `IN (…)`), and
/// the records `records x` selects.
///
/// Columns: kind, subject id, n1, n2, n3 (bigint), b1, b2 (bytea), t1 … t5 (text):
/// - subject: key_version, created_at, –, wrapped_key;
/// - restriction: at, –, –, –, –, reason, actor;
/// - consent (the latest event of each purpose): at, expires_at, –, –, –, purpose, state,
///   source, notice_version, actor;
/// - record: version, created_at, updated_at, id, fields, collection;
/// - meta (lookups only): –, –, –, value.
fn load_sql(subjects: &str, records: &str) -> String {
    format!(
        "SELECT {SUBJECT}, s.id, s.key_version::bigint, s.created_at, NULL::bigint, \
                s.wrapped_key, NULL::bytea, NULL::text, NULL::text, NULL::text, NULL::text, \
                NULL::text \
         FROM subjects s WHERE s.id {subjects} \
         UNION ALL \
         SELECT {RESTRICTION}, r.subject_id, r.at, NULL, NULL, NULL, NULL, r.reason, r.actor, \
                NULL, NULL, NULL \
         FROM restrictions r WHERE r.subject_id {subjects} \
         UNION ALL \
         (SELECT DISTINCT ON (subject_id, purpose) {CONSENT}, subject_id, at, expires_at, NULL, \
                 NULL, NULL, purpose, state, source, notice_version, actor \
          FROM consent_events WHERE subject_id {subjects} \
          ORDER BY subject_id DESC, purpose DESC, seq DESC) \
         UNION ALL \
         SELECT {RECORD}, x.subject_id, x.version, x.created_at, x.updated_at, x.id, x.fields, \
                x.collection, NULL, NULL, NULL, NULL \
         FROM records x WHERE {records}"
    )
}

static ONE_RECORD: LazyLock<String> = LazyLock::new(|| {
    load_sql(
        "= $1",
        "x.subject_id = $1 AND x.collection = $2 AND x.id = $3",
    )
});
static ONE_COLLECTION: LazyLock<String> =
    LazyLock::new(|| load_sql("= $1", "x.subject_id = $1 AND x.collection = $2"));
static ALL_RECORDS: LazyLock<String> = LazyLock::new(|| load_sql("= $1", "x.subject_id = $1"));

/// A subject with its records of `collection` (one record when `record` is given), or of
/// every collection when `collection` is `None`; records ordered by collection, then id.
pub(crate) async fn load_subject(
    c: &Client,
    subject: SubjectId,
    collection: Option<&str>,
    record: Option<RecordId>,
) -> Result<Option<SubjectData>> {
    let sid = &subject.as_bytes()[..];
    let rows = match (collection, record) {
        (Some(collection), Some(rid)) => {
            let rid = &rid.as_bytes()[..];
            let stmt = c.prepare_cached(&ONE_RECORD).await.map_err(db)?;
            c.query(&stmt, &[&sid, &collection, &rid]).await
        }
        (Some(collection), None) => {
            let stmt = c.prepare_cached(&ONE_COLLECTION).await.map_err(db)?;
            c.query(&stmt, &[&sid, &collection]).await
        }
        (None, _) => {
            let stmt = c.prepare_cached(&ALL_RECORDS).await.map_err(db)?;
            c.query(&stmt, &[&sid]).await
        }
    }
    .map_err(db)?;
    let (mut subjects, _) = assemble(&rows)?;
    Ok(subjects
        .remove(subject.as_bytes())
        .and_then(Parts::into_data))
}

/// A lookup and the load of every hit in one statement: the index entries of any of `terms`
/// (one `term = $n` branch each, see `read::lookup_terms`) feed the load above, and the meta
/// row rides along.
pub(crate) async fn lookup_and_load(
    c: &Client,
    collection: &str,
    field: &str,
    terms: &[Vec<u8>],
    meta_key: &str,
) -> Result<FoundSubjects> {
    if terms.is_empty() {
        let meta = crate::read::lookup_terms(c, collection, field, terms, meta_key)
            .await?
            .meta;
        return Ok(FoundSubjects {
            found: Vec::new(),
            meta,
        });
    }
    type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
    let mut params: Vec<Param<'_>> = vec![&meta_key, &collection, &field];
    let mut hits = Vec::with_capacity(terms.len());
    for term in terms {
        params.push(term);
        hits.push(format!(
            "SELECT subject_id, record_id FROM blind_index \
             WHERE collection = $2 AND field = $3 AND term = ${}",
            params.len()
        ));
    }
    // One row per subject hit (its hit records in an array), each feeding the load's body as
    // a by-id load: plain parameterized index scans. (Feeding the hits through a CTE into four
    // `IN (…)` semi-joins cost PostgreSQL a hash aggregate per branch: 96–104 µs per execution
    // against 86–94 µs for this form, pgbench -M prepared, one client.)
    let sql = format!(
        "SELECT l.* FROM \
           (SELECT subject_id, array_agg(record_id) AS records FROM ({}) hits \
            GROUP BY subject_id) h \
         CROSS JOIN LATERAL ({}) l \
         UNION ALL \
         SELECT {META}, NULL, NULL, NULL, NULL, value, NULL, NULL, NULL, NULL, NULL, NULL \
         FROM meta WHERE key = $1",
        hits.join(" UNION ALL "),
        load_sql(
            "= h.subject_id",
            "x.id = ANY(h.records) AND x.collection = $2",
        )
    );
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    let rows = c.query(&stmt, &params).await.map_err(db)?;
    let (subjects, meta) = assemble(&rows)?;
    let mut found = Vec::new();
    for parts in subjects.into_values() {
        let Some(subject) = parts.subject else {
            // In one snapshot a record or consent exists only with its subject.
            continue;
        };
        for record in parts.records {
            found.push(SubjectData {
                subject: subject.clone(),
                records: vec![record],
                consents: parts.consents.clone(),
                restriction: parts.restriction.clone(),
            });
        }
    }
    found.sort_by_key(|d| d.records.first().map(|r| r.id));
    Ok(FoundSubjects { found, meta })
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a subject load returned {what}"))
}

fn text(row: &Row, i: usize) -> Result<String> {
    row.get::<_, Option<String>>(i)
        .ok_or_else(|| corrupt("a null text column"))
}

fn bigint(row: &Row, i: usize) -> Result<i64> {
    row.get::<_, Option<i64>>(i)
        .ok_or_else(|| corrupt("a null number column"))
}

fn bytes(row: &Row, i: usize) -> Result<Vec<u8>> {
    row.get::<_, Option<Vec<u8>>>(i)
        .ok_or_else(|| corrupt("a null bytes column"))
}

/// What the rows of one subject hold.
#[derive(Default)]
struct Parts {
    subject: Option<SubjectRow>,
    restriction: Option<RestrictionRow>,
    consents: Vec<ConsentEventRow>,
    records: Vec<RecordRow>,
}

impl Parts {
    /// The subject, `None` without its row. Consents, a restriction and records exist only
    /// with their subject (foreign keys, and an erasure deletes them in the subject's
    /// transaction), so in one snapshot none came back without it; an absent subject is
    /// absent, whatever else was read.
    fn into_data(self) -> Option<SubjectData> {
        Some(SubjectData {
            subject: self.subject?,
            records: self.records,
            consents: self.consents,
            restriction: self.restriction,
        })
    }
}

/// Sorts the rows of [`load_sql`] by subject; and the meta value, if a row held one.
/// Purposes come in byte order (as `COLLATE "C"`, and as SQLite compares); records by
/// collection (byte order), then id (time order: oldest first).
#[allow(clippy::type_complexity)]
fn assemble(rows: &[Row]) -> Result<(BTreeMap<[u8; 16], Parts>, Option<Vec<u8>>)> {
    let mut subjects: BTreeMap<[u8; 16], Parts> = BTreeMap::new();
    let mut meta = None;
    for row in rows {
        let kind = row.get::<_, i32>(0);
        if kind == META {
            meta = Some(bytes(row, 5)?);
            continue;
        }
        let id = id16(&bytes(row, 1)?, SubjectId::from_bytes)?;
        let parts = subjects.entry(*id.as_bytes()).or_default();
        match kind {
            SUBJECT => {
                let key_version = u32::try_from(bigint(row, 2)?)
                    .map_err(|_| corrupt("a negative key version"))?;
                parts.subject = Some(SubjectRow {
                    id,
                    key_version,
                    wrapped_key: bytes(row, 5)?,
                    created_at: from_micros(bigint(row, 3)?)?,
                });
            }
            RESTRICTION => {
                parts.restriction = Some(RestrictionRow {
                    subject: id,
                    reason: text(row, 7)?,
                    at: from_micros(bigint(row, 2)?)?,
                    actor: text(row, 8)?,
                });
            }
            CONSENT => parts.consents.push(ConsentEventRow {
                subject: id,
                purpose: text(row, 7)?,
                state: text(row, 8)?,
                at: from_micros(bigint(row, 2)?)?,
                source: text(row, 9)?,
                notice_version: text(row, 10)?,
                expires_at: row.get::<_, Option<i64>>(3).map(from_micros).transpose()?,
                actor: text(row, 11)?,
            }),
            RECORD => {
                let rid = id16(&bytes(row, 5)?, RecordId::from_bytes)?;
                let fields = privet_store::decode_fields(&bytes(row, 6)?)
                    .map_err(|e| StoreError::Corrupt(format!("record {rid}: {e}")))?;
                parts.records.push(RecordRow {
                    id: rid,
                    subject: id,
                    collection: text(row, 7)?,
                    version: bigint(row, 2)?,
                    created_at: from_micros(bigint(row, 3)?)?,
                    updated_at: from_micros(bigint(row, 4)?)?,
                    fields,
                });
            }
            _ => return Err(corrupt("a row of an unknown kind")),
        }
    }
    for parts in subjects.values_mut() {
        parts.consents.sort_by(|a, b| a.purpose.cmp(&b.purpose));
        parts
            .records
            .sort_by(|a, b| (&a.collection, a.id).cmp(&(&b.collection, b.id)));
    }
    Ok((subjects, meta))
}
