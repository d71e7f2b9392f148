//! Creation write sets (subjects, their retention-class keys, new records, index entries: what
//! `import` and `POST /v1/subjects` produce) applied as a few array statements instead of one round trip per op.
//! A batch of 1,000 customers is 5,000 ops; op by op that is 10,000 round trips to the
//! database (each unprepared statement is a parse and an execute), here it is six.
//!
//! The result is the same as applying the ops in order: every precondition of the op-by-op
//! path is checked (an erased or existing subject id, a record for a missing subject, an
//! existing record id, unique terms), any failure rolls the whole write set back, and ops are
//! only regrouped where order cannot change the outcome (see [`privet_store::creation::plan`]). When several ops of
//! a set would fail, the error names one of them, not necessarily the first.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use privet_core::SubjectId;
use privet_store::creation::Plan;
use privet_store::{IndexEntry, RecordRow, Result, RetainedKeyRow, StoreError, SubjectRow};
use tokio_postgres::Statement;

use crate::error::db;
use crate::read::micros;

/// Applies a plan inside `tx`. An error leaves `tx` to be rolled back.
pub(crate) async fn apply(tx: &Transaction<'_>, p: &Plan<'_>) -> Result<()> {
    create_subjects(tx, &p.subjects).await?;
    lock_owners(tx, &p.existing_owners).await?;
    insert_class_keys(tx, &p.class_keys).await?;
    insert_records(tx, &p.records).await?;
    let mut rest = &p.index[..];
    while !rest.is_empty() {
        let plain = rest.iter().take_while(|e| !e.unique).count();
        insert_index(tx, &rest[..plain]).await?;
        rest = &rest[plain..];
        if let Some((unique, after)) = rest.split_first() {
            crate::apply::put_index(tx, unique).await?;
            rest = after;
        }
    }
    Ok(())
}

/// A statement from the connection's cache (each is parsed once per connection).
async fn stmt(tx: &Transaction<'_>, sql: &str) -> Result<Statement> {
    tx.prepare_cached(sql).await.map_err(db)
}

fn id(s: &SubjectId) -> &[u8] {
    &s.as_bytes()[..]
}

async fn create_subjects(tx: &Transaction<'_>, subjects: &[&SubjectRow]) -> Result<()> {
    if subjects.is_empty() {
        return Ok(());
    }
    let ids: Vec<&[u8]> = subjects.iter().map(|s| id(&s.id)).collect();
    let erased: HashSet<Vec<u8>> = tx
        .query(
            &stmt(
                tx,
                "SELECT subject_id FROM erasures WHERE subject_id = ANY($1)",
            )
            .await?,
            &[&ids],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(s) = subjects.iter().find(|s| erased.contains(id(&s.id))) {
        return Err(StoreError::AlreadyExists(format!(
            "subject {} (erased)",
            s.id
        )));
    }
    let versions: Vec<i32> = subjects.iter().map(|s| s.key_version as i32).collect();
    let keys: Vec<&[u8]> = subjects.iter().map(|s| &s.wrapped_key[..]).collect();
    let created: Vec<i64> = subjects.iter().map(|s| micros(s.created_at)).collect();
    let inserted = tx
        .query(
            &stmt(
                tx,
                "INSERT INTO subjects (id, key_version, wrapped_key, created_at) \
             SELECT * FROM UNNEST($1::bytea[], $2::int[], $3::bytea[], $4::bigint[]) \
             ON CONFLICT DO NOTHING RETURNING id",
            )
            .await?,
            &[&ids, &versions, &keys, &created],
        )
        .await
        .map_err(db)?;
    if inserted.len() < subjects.len() {
        // Already stored, or twice in this set: name the first one that did not go in.
        let mut fresh: HashSet<Vec<u8>> = inserted.iter().map(|r| r.get(0)).collect();
        if let Some(s) = subjects.iter().find(|s| !fresh.remove(id(&s.id))) {
            return Err(StoreError::AlreadyExists(format!("subject {}", s.id)));
        }
    }
    Ok(())
}

/// Records of subjects created before this write set: the subjects must exist, and stay (the
/// KEY SHARE lock makes a concurrent erasure wait for this transaction, as the foreign key
/// check of the op-by-op path does).
async fn lock_owners(tx: &Transaction<'_>, owners: &[SubjectId]) -> Result<()> {
    if owners.is_empty() {
        return Ok(());
    }
    let ids: Vec<&[u8]> = owners.iter().map(id).collect();
    let found: HashSet<Vec<u8>> = tx
        .query(
            &stmt(
                tx,
                "SELECT id FROM subjects WHERE id = ANY($1) FOR KEY SHARE",
            )
            .await?,
            &[&ids],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    match owners.iter().find(|s| !found.contains(id(s))) {
        Some(missing) => Err(StoreError::SubjectNotFound(*missing)),
        None => Ok(()),
    }
}

/// A subject has at most one key per class: one already stored, or twice in the set, fails.
async fn insert_class_keys(tx: &Transaction<'_>, keys: &[&RetainedKeyRow]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let subjects: Vec<&[u8]> = keys.iter().map(|k| id(&k.subject)).collect();
    let classes: Vec<&str> = keys.iter().map(|k| k.class.as_str()).collect();
    let versions: Vec<i32> = keys.iter().map(|k| k.key_version as i32).collect();
    let wrapped: Vec<&[u8]> = keys.iter().map(|k| &k.wrapped_key[..]).collect();
    let created: Vec<i64> = keys.iter().map(|k| micros(k.created_at)).collect();
    let inserted = tx
        .query(
            &stmt(
                tx,
                "INSERT INTO retained_keys (subject_id, class, key_version, wrapped_key, created_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::int[], $4::bytea[], $5::bigint[]) \
                 ON CONFLICT DO NOTHING RETURNING subject_id, class",
            )
            .await?,
            &[&subjects, &classes, &versions, &wrapped, &created],
        )
        .await
        .map_err(db)?;
    if inserted.len() < keys.len() {
        let mut fresh: HashSet<(Vec<u8>, String)> =
            inserted.iter().map(|r| (r.get(0), r.get(1))).collect();
        if let Some(k) = keys
            .iter()
            .find(|k| !fresh.remove(&(id(&k.subject).to_vec(), k.class.clone())))
        {
            return Err(StoreError::AlreadyExists(format!(
                "{} key of subject {}",
                k.class, k.subject
            )));
        }
    }
    Ok(())
}

async fn insert_records(tx: &Transaction<'_>, records: &[&RecordRow]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<&[u8]> = records.iter().map(|r| &r.id.as_bytes()[..]).collect();
    let subjects: Vec<&[u8]> = records.iter().map(|r| id(&r.subject)).collect();
    let collections: Vec<&str> = records.iter().map(|r| r.collection.as_str()).collect();
    let versions: Vec<i64> = records.iter().map(|r| r.version).collect();
    let created: Vec<i64> = records.iter().map(|r| micros(r.created_at)).collect();
    let updated: Vec<i64> = records.iter().map(|r| micros(r.updated_at)).collect();
    let fields: Vec<Vec<u8>> = records
        .iter()
        .map(|r| privet_store::encode_fields(&r.fields))
        .collect();
    let inserted = tx
        .query(
            &stmt(tx, "INSERT INTO records (id, subject_id, collection, version, created_at, updated_at, fields) \
             SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::text[], $4::bigint[], \
                                  $5::bigint[], $6::bigint[], $7::bytea[]) \
             ON CONFLICT DO NOTHING RETURNING id").await?,
            &[&ids, &subjects, &collections, &versions, &created, &updated, &fields],
        )
        .await
        .map_err(db)?;
    if inserted.len() < records.len() {
        let mut fresh: HashSet<Vec<u8>> = inserted.iter().map(|r| r.get(0)).collect();
        if let Some(r) = records.iter().find(|r| !fresh.remove(&r.id.as_bytes()[..])) {
            return Err(StoreError::AlreadyExists(format!("record {}", r.id)));
        }
    }
    Ok(())
}

/// Non-unique entries: inserted as they come (an entry already there is kept, as op by op).
async fn insert_index(tx: &Transaction<'_>, entries: &[&IndexEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let collections: Vec<&str> = entries.iter().map(|e| e.collection.as_str()).collect();
    let fields: Vec<&str> = entries.iter().map(|e| e.field.as_str()).collect();
    let terms: Vec<&[u8]> = entries.iter().map(|e| &e.term[..]).collect();
    let records: Vec<&[u8]> = entries.iter().map(|e| &e.record.as_bytes()[..]).collect();
    let subjects: Vec<&[u8]> = entries.iter().map(|e| id(&e.subject)).collect();
    let versions: Vec<i32> = entries.iter().map(|e| e.key_version as i32).collect();
    tx.execute(
        &stmt(
            tx,
            "INSERT INTO blind_index (collection, field, term, record_id, subject_id, key_version) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bytea[], \
                              $6::int4[]) \
         ON CONFLICT DO NOTHING",
        )
        .await?,
        &[
            &collections,
            &fields,
            &terms,
            &records,
            &subjects,
            &versions,
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}
