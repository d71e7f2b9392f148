//! Rights requests, their history and the notifications outbox: ops (inside the write set's
//! transaction) and reads.

use deadpool_postgres::{ClientWrapper as Client, Transaction};
use privet_core::{MessageId, RightsRequestId, SubjectId};
use privet_store::{
    OutboxRow, RequestEventRow, RequestFilter, Result, RightsRequestRow, StoreError,
};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::error::{db, is};
use crate::read::{from_micros, micros};

const REQUEST_COLS: &str = "id, subject_id, kind, purpose, regime, origin, status, received_at, \
                            due_at, extended, verified_at, closed_at, version";

fn id16(bytes: &[u8]) -> Result<[u8; 16]> {
    <[u8; 16]>::try_from(bytes).map_err(|_| StoreError::Corrupt("stored id is not 16 bytes".into()))
}

fn opt_time(r: &Row, i: usize) -> Result<Option<OffsetDateTime>> {
    r.get::<_, Option<i64>>(i).map(from_micros).transpose()
}

fn request_row(r: &Row) -> Result<RightsRequestRow> {
    Ok(RightsRequestRow {
        id: RightsRequestId::from_bytes(id16(r.get(0))?),
        subject: SubjectId::from_bytes(id16(r.get(1))?),
        kind: r.get(2),
        purpose: r.get(3),
        regime: r.get(4),
        origin: r.get(5),
        status: r.get(6),
        received_at: from_micros(r.get(7))?,
        due_at: from_micros(r.get(8))?,
        extended: r.get(9),
        verified_at: opt_time(r, 10)?,
        closed_at: opt_time(r, 11)?,
        version: r.get(12),
    })
}

pub(crate) async fn put_request(
    tx: &Transaction<'_>,
    q: &RightsRequestRow,
    events: &[RequestEventRow],
    expected: Option<i64>,
) -> Result<()> {
    let id = &q.id.as_bytes()[..];
    let conflict = || StoreError::Conflict(format!("rights request {}", q.id));
    match expected {
        None => {
            let sql = format!(
                "INSERT INTO rights_requests ({REQUEST_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            );
            let stmt = tx.prepare_cached(&sql).await.map_err(db)?;
            let subject = &q.subject.as_bytes()[..];
            let (received, due) = (micros(q.received_at), micros(q.due_at));
            let (verified, closed) = (q.verified_at.map(micros), q.closed_at.map(micros));
            let args: [&(dyn ToSql + Sync); 13] = [
                &id,
                &subject,
                &q.kind,
                &q.purpose,
                &q.regime,
                &q.origin,
                &q.status,
                &received,
                &due,
                &q.extended,
                &verified,
                &closed,
                &q.version,
            ];
            match tx.execute(&stmt, &args).await {
                Ok(_) => {}
                Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Err(StoreError::AlreadyExists(format!(
                        "rights request {}",
                        q.id
                    )));
                }
                Err(e) => return Err(db(e)),
            }
        }
        Some(v) => {
            let stmt = tx
                .prepare_cached(
                    "UPDATE rights_requests SET status = $2, due_at = $3, extended = $4, \
                     verified_at = $5, closed_at = $6, version = $7 WHERE id = $1 AND version = $8",
                )
                .await
                .map_err(db)?;
            let n = tx
                .execute(
                    &stmt,
                    &[
                        &id,
                        &q.status,
                        &micros(q.due_at),
                        &q.extended,
                        &q.verified_at.map(micros),
                        &q.closed_at.map(micros),
                        &q.version,
                        &v,
                    ],
                )
                .await
                .map_err(db)?;
            if n != 1 {
                return Err(conflict());
            }
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO rights_request_events (request_id, seq, at, actor, event, status, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await
        .map_err(db)?;
    for e in events {
        if e.request != q.id {
            return Err(StoreError::Invalid(
                "an event of another request in PutRightsRequest".into(),
            ));
        }
        let args: [&(dyn ToSql + Sync); 7] = [
            &id,
            &e.seq,
            &micros(e.at),
            &e.actor,
            &e.event,
            &e.status,
            &e.detail,
        ];
        match tx.execute(&stmt, &args).await {
            Ok(_) => {}
            Err(err) if is(&err, &SqlState::UNIQUE_VIOLATION) => return Err(conflict()),
            Err(err) => return Err(db(err)),
        }
    }
    Ok(())
}

pub(crate) async fn request(
    c: &Client,
    id: RightsRequestId,
) -> Result<Option<(RightsRequestRow, Vec<RequestEventRow>)>> {
    let key = &id.as_bytes()[..];
    let sql = format!("SELECT {REQUEST_COLS} FROM rights_requests WHERE id = $1");
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    let Some(row) = c.query_opt(&stmt, &[&key]).await.map_err(db)? else {
        return Ok(None);
    };
    let request = request_row(&row)?;
    let stmt = c
        .prepare_cached(
            "SELECT seq, at, actor, event, status, detail FROM rights_request_events \
             WHERE request_id = $1 ORDER BY seq",
        )
        .await
        .map_err(db)?;
    let mut events = Vec::new();
    for r in c.query(&stmt, &[&key]).await.map_err(db)? {
        events.push(RequestEventRow {
            request: id,
            seq: r.get(0),
            at: from_micros(r.get(1))?,
            actor: r.get(2),
            event: r.get(3),
            status: r.get(4),
            detail: r.get(5),
        });
    }
    // The row's version and its events commit together, and the events are read after the
    // row: a concurrent change can only have added events beyond the version read.
    events.truncate(usize::try_from(request.version).unwrap_or(0));
    Ok(Some((request, events)))
}

pub(crate) async fn requests(
    c: &Client,
    f: &RequestFilter,
    limit: u32,
) -> Result<Vec<RightsRequestRow>> {
    let mut sql = format!("SELECT {REQUEST_COLS} FROM rights_requests WHERE TRUE");
    let status = f.status.clone();
    let due = f.due_before.map(micros);
    let subject = f.subject.map(|s| s.as_bytes().to_vec());
    let limit = i64::from(limit);
    let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
    if let Some(s) = &status {
        args.push(s);
        sql.push_str(&format!(" AND status = ${}", args.len()));
    }
    if let Some(d) = &due {
        args.push(d);
        sql.push_str(&format!(" AND due_at < ${}", args.len()));
    }
    if let Some(s) = &subject {
        args.push(s);
        sql.push_str(&format!(" AND subject_id = ${}", args.len()));
    }
    args.push(&limit);
    sql.push_str(&format!(" ORDER BY due_at, id LIMIT ${}", args.len()));
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    c.query(&stmt, &args)
        .await
        .map_err(db)?
        .iter()
        .map(request_row)
        .collect()
}

const OUTBOX_COLS: &str = "id, subject_id, request_id, template, body, created_at, attempts, \
                           next_attempt_at, last_error, recipient";

fn outbox_row(r: &Row) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: MessageId::from_bytes(id16(r.get(0))?),
        subject: SubjectId::from_bytes(id16(r.get(1))?),
        request: r
            .get::<_, Option<&[u8]>>(2)
            .map(id16)
            .transpose()?
            .map(RightsRequestId::from_bytes),
        template: r.get(3),
        body: r.get(4),
        created_at: from_micros(r.get(5))?,
        attempts: r.get(6),
        next_attempt_at: from_micros(r.get(7))?,
        last_error: r.get(8),
        recipient: r.get(9),
    })
}

pub(crate) async fn queue(tx: &Transaction<'_>, m: &OutboxRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO outbox ({OUTBOX_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(db)?;
    let request = m.request.map(|r| r.as_bytes().to_vec());
    let args: [&(dyn ToSql + Sync); 10] = [
        &&m.id.as_bytes()[..],
        &&m.subject.as_bytes()[..],
        &request,
        &m.template,
        &m.body,
        &micros(m.created_at),
        &m.attempts,
        &micros(m.next_attempt_at),
        &m.last_error,
        &m.recipient,
    ];
    tx.execute(&stmt, &args).await.map_err(db)?;
    Ok(())
}

pub(crate) async fn delete_message(tx: &Transaction<'_>, id: MessageId) -> Result<()> {
    let stmt = tx
        .prepare_cached("DELETE FROM outbox WHERE id = $1")
        .await
        .map_err(db)?;
    tx.execute(&stmt, &[&&id.as_bytes()[..]])
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn delete_messages_of(
    tx: &Transaction<'_>,
    subject: SubjectId,
    before: OffsetDateTime,
) -> Result<()> {
    let stmt = tx
        .prepare_cached("DELETE FROM outbox WHERE subject_id = $1 AND created_at < $2")
        .await
        .map_err(db)?;
    tx.execute(&stmt, &[&&subject.as_bytes()[..], &micros(before)])
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn defer_message(
    tx: &Transaction<'_>,
    id: MessageId,
    attempts: i64,
    next: OffsetDateTime,
    error: &str,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1",
        )
        .await
        .map_err(db)?;
    tx.execute(
        &stmt,
        &[&&id.as_bytes()[..], &attempts, &micros(next), &error],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn outbox_due(
    c: &Client,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<OutboxRow>> {
    let sql = format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    );
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    c.query(&stmt, &[&micros(now), &i64::from(limit)])
        .await
        .map_err(db)?
        .iter()
        .map(outbox_row)
        .collect()
}

pub(crate) async fn outbox_message(c: &Client, id: MessageId) -> Result<Option<OutboxRow>> {
    let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id = $1");
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    c.query_opt(&stmt, &[&&id.as_bytes()[..]])
        .await
        .map_err(db)?
        .as_ref()
        .map(outbox_row)
        .transpose()
}
