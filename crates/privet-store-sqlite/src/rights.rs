//! Rights requests, their history and the notifications outbox: ops (run by the writer) and
//! reads.

use privet_core::{MessageId, RightsRequestId, SubjectId};
use privet_store::{
    OutboxRow, RequestEventRow, RequestFilter, Result, RightsRequestRow, StoreError,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use time::OffsetDateTime;

use crate::read::{backend, from_micros, micros};

const REQUEST_COLS: &str = "id, subject_id, kind, purpose, regime, origin, status, received_at, \
                            due_at, extended, verified_at, closed_at, version";

fn id16(r: &Row<'_>, i: usize) -> rusqlite::Result<[u8; 16]> {
    r.get(i)
}

fn opt_time(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<OffsetDateTime>> {
    r.get::<_, Option<i64>>(i)?.map(from_micros).transpose()
}

fn request_row(r: &Row<'_>) -> rusqlite::Result<RightsRequestRow> {
    Ok(RightsRequestRow {
        id: RightsRequestId::from_bytes(id16(r, 0)?),
        subject: SubjectId::from_bytes(id16(r, 1)?),
        kind: r.get(2)?,
        purpose: r.get(3)?,
        regime: r.get(4)?,
        origin: r.get(5)?,
        status: r.get(6)?,
        received_at: from_micros(r.get(7)?)?,
        due_at: from_micros(r.get(8)?)?,
        extended: r.get(9)?,
        verified_at: opt_time(r, 10)?,
        closed_at: opt_time(r, 11)?,
        version: r.get(12)?,
    })
}

pub(crate) fn put_request(
    c: &Connection,
    q: &RightsRequestRow,
    events: &[RequestEventRow],
    expected: Option<i64>,
) -> Result<()> {
    let id = &q.id.as_bytes()[..];
    let values = params![
        id,
        &q.subject.as_bytes()[..],
        q.kind,
        q.purpose,
        q.regime,
        q.origin,
        q.status,
        micros(q.received_at),
        micros(q.due_at),
        q.extended,
        q.verified_at.map(micros),
        q.closed_at.map(micros),
        q.version,
    ];
    match expected {
        None => {
            let sql = format!(
                "INSERT INTO rights_requests ({REQUEST_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            );
            c.prepare_cached(&sql)
                .and_then(|mut s| s.execute(values))
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::AlreadyExists(format!("rights request {}", q.id))
                    }
                    _ => backend(e),
                })?;
        }
        Some(v) => {
            let n = c
                .prepare_cached(
                    "UPDATE rights_requests SET status = ?2, due_at = ?3, extended = ?4, \
                     verified_at = ?5, closed_at = ?6, version = ?7 WHERE id = ?1 AND version = ?8",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        q.status,
                        micros(q.due_at),
                        q.extended,
                        q.verified_at.map(micros),
                        q.closed_at.map(micros),
                        q.version,
                        v
                    ])
                })
                .map_err(backend)?;
            if n != 1 {
                return Err(StoreError::Conflict(format!("rights request {}", q.id)));
            }
        }
    }
    for e in events {
        if e.request != q.id {
            return Err(StoreError::Invalid(
                "an event of another request in PutRightsRequest".into(),
            ));
        }
        c.prepare_cached(
            "INSERT INTO rights_request_events (request_id, seq, at, actor, event, status, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                e.seq,
                micros(e.at),
                e.actor,
                e.event,
                e.status,
                e.detail
            ])
        })
        .map_err(|err| match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::Conflict(format!("rights request {}", q.id))
            }
            _ => backend(err),
        })?;
    }
    Ok(())
}

pub(crate) fn request(
    c: &Connection,
    id: RightsRequestId,
) -> Result<Option<(RightsRequestRow, Vec<RequestEventRow>)>> {
    crate::read::in_snapshot(c, |c| {
        let key = &id.as_bytes()[..];
        let sql = format!("SELECT {REQUEST_COLS} FROM rights_requests WHERE id = ?1");
        let Some(row) = c
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([key], request_row).optional())
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let mut s = c
            .prepare_cached(
                "SELECT seq, at, actor, event, status, detail FROM rights_request_events \
                 WHERE request_id = ?1 ORDER BY seq",
            )
            .map_err(backend)?;
        let events = s
            .query_map([key], |r| {
                Ok(RequestEventRow {
                    request: id,
                    seq: r.get(0)?,
                    at: from_micros(r.get(1)?)?,
                    actor: r.get(2)?,
                    event: r.get(3)?,
                    status: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(backend)?;
        Ok(Some((row, events)))
    })
}

pub(crate) fn requests(
    c: &Connection,
    f: &RequestFilter,
    limit: u32,
) -> Result<Vec<RightsRequestRow>> {
    let mut sql = format!("SELECT {REQUEST_COLS} FROM rights_requests WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(status) = &f.status {
        args.push(Value::Text(status.clone()));
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(t) = f.due_before {
        args.push(Value::Integer(micros(t)));
        sql.push_str(&format!(" AND due_at < ?{}", args.len()));
    }
    if let Some(s) = f.subject {
        args.push(Value::Blob(s.as_bytes().to_vec()));
        sql.push_str(&format!(" AND subject_id = ?{}", args.len()));
    }
    args.push(Value::Integer(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY due_at, id LIMIT ?{}", args.len()));
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    s.query_map(params_from_iter(args), request_row)
        .and_then(|rows| rows.collect())
        .map_err(backend)
}

const OUTBOX_COLS: &str = "id, subject_id, request_id, template, body, created_at, attempts, \
                           next_attempt_at, last_error, recipient";

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: MessageId::from_bytes(id16(r, 0)?),
        subject: SubjectId::from_bytes(id16(r, 1)?),
        request: r
            .get::<_, Option<[u8; 16]>>(2)?
            .map(RightsRequestId::from_bytes),
        template: r.get(3)?,
        body: r.get(4)?,
        created_at: from_micros(r.get(5)?)?,
        attempts: r.get(6)?,
        next_attempt_at: from_micros(r.get(7)?)?,
        last_error: r.get(8)?,
        recipient: r.get(9)?,
    })
}

pub(crate) fn queue(c: &Connection, m: &OutboxRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO outbox ({OUTBOX_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    );
    c.prepare_cached(&sql)
        .and_then(|mut s| {
            s.execute(params![
                &m.id.as_bytes()[..],
                &m.subject.as_bytes()[..],
                m.request.map(|r| r.as_bytes().to_vec()),
                m.template,
                m.body,
                micros(m.created_at),
                m.attempts,
                micros(m.next_attempt_at),
                m.last_error,
                m.recipient,
            ])
        })
        .map(|_| ())
        .map_err(backend)
}

pub(crate) fn delete_message(c: &Connection, id: MessageId) -> Result<()> {
    c.prepare_cached("DELETE FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.execute([&id.as_bytes()[..]]))
        .map(|_| ())
        .map_err(backend)
}

pub(crate) fn delete_messages_of(
    c: &Connection,
    subject: SubjectId,
    before: OffsetDateTime,
) -> Result<()> {
    c.prepare_cached("DELETE FROM outbox WHERE subject_id = ?1 AND created_at < ?2")
        .and_then(|mut s| s.execute(rusqlite::params![&subject.as_bytes()[..], micros(before)]))
        .map(|_| ())
        .map_err(backend)
}

pub(crate) fn defer_message(
    c: &Connection,
    id: MessageId,
    attempts: i64,
    next: OffsetDateTime,
    error: &str,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![&id.as_bytes()[..], attempts, micros(next), error]))
    .map(|_| ())
    .map_err(backend)
}

pub(crate) fn outbox_due(
    c: &Connection,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<OutboxRow>> {
    let sql = format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE next_attempt_at <= ?1 \
         ORDER BY next_attempt_at, id LIMIT ?2"
    );
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    s.query_map(params![micros(now), i64::from(limit)], outbox_row)
        .and_then(|rows| rows.collect())
        .map_err(backend)
}

pub(crate) fn outbox_message(c: &Connection, id: MessageId) -> Result<Option<OutboxRow>> {
    let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id = ?1");
    c.prepare_cached(&sql)
        .and_then(|mut s| s.query_row([&id.as_bytes()[..]], outbox_row).optional())
        .map_err(backend)
}
