//! Applies one write set's ops and audit entries inside the writer's open savepoint.

use privet_core::SubjectId;
use privet_store::{Committed, Op, RecordRow, Result, StoreError, SubjectRow, WriteSet};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::audit::HeadSlot;
use crate::index::{self, IndexState};
use crate::read::micros;
use crate::{consent, principals};

pub(crate) fn is_erasure(op: &Op) -> bool {
    // A retention purge (guarded) deletes records and fields, and a purge of kept records
    // their ciphertexts and class key: their pages leave the WAL too.
    matches!(
        op,
        Op::EraseSubject { .. } | Op::GuardRetention { .. } | Op::PurgeRetained { .. }
    )
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// Whether every op of `w` only checks (writes nothing): then a failed op leaves nothing to
/// undo, and only the audit append writes.
pub(crate) fn only_checks(w: &WriteSet) -> bool {
    w.ops.iter().all(|op| matches!(op, Op::RequireSubject(_)))
}

/// A write set of [`only_checks`] without a savepoint: `Ok(Err(_))` when a check refused it
/// (nothing was written); `Err(_)` when the audit append failed part-way, after which the
/// whole transaction must be rolled back.
pub(crate) fn checks_and_append(
    c: &Connection,
    head: &mut HeadSlot,
    w: &WriteSet,
) -> std::result::Result<Result<Committed>, StoreError> {
    for op in &w.ops {
        if let Op::RequireSubject(id) = op
            && let Err(e) = require_subject(c, *id)
        {
            return Ok(Err(e));
        }
    }
    let first_audit_index = crate::audit::append(c, head, &w.audit)?;
    Ok(Ok(Committed { first_audit_index }))
}

pub(crate) fn write_set(
    c: &Connection,
    st: &mut IndexState,
    head: &mut HeadSlot,
    w: &WriteSet,
) -> Result<Committed> {
    if !(privet_store::creation::plan(&w.ops).is_some_and(|p| creation(c, st, &p))) {
        for op in &w.ops {
            apply_op(c, st, op)?;
        }
    }
    Ok(Committed {
        first_audit_index: crate::audit::append(c, head, &w.audit)?,
    })
}

/// Tries a creation write set as multi-row inserts inside a savepoint of its own; `false`
/// (with everything it wrote undone) when any of it failed, for the ops to be applied one
/// by one, which names the failing op.
fn creation(c: &Connection, st: &mut IndexState, plan: &privet_store::creation::Plan<'_>) -> bool {
    let exec = |sql: &str| c.prepare_cached(sql).and_then(|mut s| s.execute([]));
    if exec("SAVEPOINT privet_creation").is_err() {
        return false;
    }
    let recent = st.recent;
    if crate::bulk::apply(c, st, plan).is_ok() && exec("RELEASE privet_creation").is_ok() {
        return true;
    }
    // Field ids resolved inside the savepoint may be undone with it.
    st.forget_ids();
    st.recent = recent;
    let _ = exec("ROLLBACK TO privet_creation");
    let _ = exec("RELEASE privet_creation");
    false
}

fn apply_op(c: &Connection, st: &mut IndexState, op: &Op) -> Result<()> {
    match op {
        Op::CreateSubject(s) => create_subject(c, s),
        Op::RequireSubject(id) => require_subject(c, *id),
        Op::PutRecord {
            record,
            expected_version,
        } => put_record(c, record, *expected_version),
        Op::PutIndex(e) => index::put(c, st, e),
        Op::DeleteIndex { record, field } => index::delete_field(c, record, field),
        Op::EraseSubject { subject, at } => {
            let id = &subject.as_bytes()[..];
            crate::retention::refuse_held(c, *subject)?;
            index::delete_subject(c, subject)?;
            consent::delete_subject(c, id)?;
            crate::retained::erase_unused_keys(c, id)?;
            c.execute("DELETE FROM records WHERE subject_id = ?1", [id])
                .and_then(|_| c.execute("DELETE FROM subjects WHERE id = ?1", [id]))
                .and_then(|_| {
                    c.execute(
                        "INSERT INTO erasures (subject_id, erased_at) VALUES (?1, ?2)",
                        params![id, micros(*at)],
                    )
                })
                .map_err(backend)?;
            Ok(())
        }
        Op::PutMeta { key, value } => {
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map_err(backend)?;
            Ok(())
        }
        Op::PutApiKey(k) => {
            let res = c.execute(
                "INSERT INTO api_keys (prefix, hash, principal, created_at, expires_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.prefix,
                    k.hash,
                    k.principal,
                    micros(k.created_at),
                    k.expires_at.map(micros),
                    k.revoked_at.map(micros)
                ],
            );
            match res {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => {
                    Err(StoreError::AlreadyExists(format!("api key {}", k.prefix)))
                }
                Err(e) => Err(backend(e)),
            }
        }
        Op::AppendConsent(e) => consent::append(c, e),
        Op::SetRestriction {
            subject,
            restriction,
        } => consent::set_restriction(c, *subject, restriction.as_ref()),
        Op::PutPrincipal(p) => principals::put_principal(c, p),
        Op::RevokePrincipal { id, at } => principals::revoke_principal(c, id, *at),
        Op::SuspendPrincipal { id, at, reason } => {
            principals::suspend_principal(c, id, *at, reason)
        }
        Op::LiftSuspension { id } => principals::lift_suspension(c, id),
        Op::PutRole(r) => principals::put_role(c, r),
        Op::ReplaceRole(r) => principals::replace_role(c, r),
        Op::PutCheckpoint(row) => crate::audit::put_checkpoint(c, row),
        Op::PutRightsRequest {
            request,
            events,
            expected_version,
        } => crate::rights::put_request(c, request, events, *expected_version),
        Op::QueueMessage(m) => crate::rights::queue(c, m),
        Op::DeleteMessage(id) => crate::rights::delete_message(c, *id),
        Op::DeleteMessagesOf { subject, before } => {
            crate::rights::delete_messages_of(c, *subject, *before)
        }
        Op::DeferMessage {
            id,
            attempts,
            next_attempt_at,
            last_error,
        } => crate::rights::defer_message(c, *id, *attempts, *next_attempt_at, last_error),
        Op::PutRetainedKey(k) => crate::retained::put_key(c, k),
        Op::RetainRecords {
            subject,
            class,
            records,
        } => crate::retained::retain_records(c, *subject, class, records),
        Op::TouchSubject { subject, at } => crate::retention::touch(c, *subject, *at),
        Op::SetLegalHold { subject, hold } => {
            crate::retention::set_hold(c, *subject, hold.as_ref())
        }
        Op::DeleteRecord {
            record,
            subject,
            expected_version,
        } => crate::retention::delete_record(c, *record, *subject, *expected_version),
        Op::GuardRetention {
            subject,
            last_activity,
            records,
        } => crate::retention::guard(c, *subject, *last_activity, *records),
        Op::SpendPortalToken { id, expires_at, at } => spend_portal_token(c, id, *expires_at, *at),
        Op::RewrapKey {
            table,
            subject,
            slot,
            from_version,
            to_version,
            wrapped_key,
        } => crate::rotation::rewrap(
            c,
            *table,
            subject,
            slot,
            (*from_version, *to_version),
            wrapped_key,
        ),
        Op::ReindexRecord {
            record,
            version,
            entries,
        } => crate::rotation::reindex(c, st, record, *version, entries),
        Op::PurgeRetained {
            record,
            subject,
            now,
        } => crate::retained::purge(c, *record, *subject, *now),
    }
}

fn spend_portal_token(
    c: &Connection,
    id: &str,
    expires_at: time::OffsetDateTime,
    at: time::OffsetDateTime,
) -> Result<()> {
    let horizon = micros(at) - 3_600_000_000;
    c.execute(
        "DELETE FROM portal_spent WHERE expires_at < ?1",
        params![horizon],
    )
    .map_err(backend)?;
    match c.execute(
        "INSERT INTO portal_spent (id, expires_at, spent_at) VALUES (?1, ?2, ?3)",
        params![id, micros(expires_at), micros(at)],
    ) {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::AlreadyExists("portal token".into())),
        Err(e) => Err(backend(e)),
    }
}

pub(crate) fn require_subject(c: &Connection, id: SubjectId) -> Result<()> {
    if subject_exists(c, id.as_bytes())? {
        Ok(())
    } else {
        Err(StoreError::SubjectNotFound(id))
    }
}

fn subject_exists(c: &Connection, id: &[u8]) -> Result<bool> {
    c.prepare_cached("SELECT 1 FROM subjects WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |_| Ok(())).optional())
        .map(|r| r.is_some())
        .map_err(backend)
}

fn create_subject(c: &Connection, s: &SubjectRow) -> Result<()> {
    let id = &s.id.as_bytes()[..];
    let erased = c
        .prepare_cached("SELECT 1 FROM erasures WHERE subject_id = ?1")
        .and_then(|mut st| st.query_row([id], |_| Ok(())).optional())
        .map_err(backend)?;
    if erased.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "subject {} (erased)",
            s.id
        )));
    }
    let res = c
        .prepare_cached(
            "INSERT INTO subjects (id, key_version, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut st| st.execute(params![id, s.key_version, s.wrapped_key, micros(s.created_at)]));
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::AlreadyExists(format!("subject {}", s.id))),
        Err(e) => Err(backend(e)),
    }
}

fn put_record(c: &Connection, r: &RecordRow, expected: Option<i64>) -> Result<()> {
    let fields = privet_store::encode_fields(&r.fields);
    let id = &r.id.as_bytes()[..];
    let subject = &r.subject.as_bytes()[..];
    let Some(expected) = expected else {
        let res = c
            .prepare_cached(
                "INSERT INTO records (id, subject_id, collection, version, created_at, updated_at, fields) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    id,
                    subject,
                    r.collection,
                    r.version,
                    micros(r.created_at),
                    micros(r.updated_at),
                    fields
                ])
            });
        return match res {
            Ok(_) => Ok(()),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                // Either the record id exists or the subject does not (foreign key).
                if subject_exists(c, subject)? {
                    Err(StoreError::AlreadyExists(format!("record {}", r.id)))
                } else {
                    Err(StoreError::SubjectNotFound(r.subject))
                }
            }
            Err(e) => Err(backend(e)),
        };
    };
    let changed = c
        .prepare_cached(
            "UPDATE records SET version = ?1, updated_at = ?2, fields = ?3 \
             WHERE id = ?4 AND subject_id = ?5 AND collection = ?6 AND version = ?7",
        )
        .and_then(|mut st| {
            st.execute(params![
                r.version,
                micros(r.updated_at),
                fields,
                id,
                subject,
                r.collection,
                expected
            ])
        })
        .map_err(backend)?;
    if changed == 1 {
        return Ok(());
    }
    let exists = c
        .prepare_cached(
            "SELECT 1 FROM records WHERE id = ?1 AND subject_id = ?2 AND collection = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![id, subject, r.collection], |_| Ok(()))
                .optional()
        })
        .map_err(backend)?;
    match exists {
        Some(()) => Err(StoreError::VersionConflict {
            record: r.id,
            expected,
        }),
        None => Err(StoreError::RecordNotFound(r.id)),
    }
}
