//! The rows of rights requests, their event history and the notifications outbox. None of
//! them holds a personal value: kinds, statuses, times, field names, reason codes, and
//! message texts that name the subject only by id.

use privet_core::{MessageId, RightsRequestId, SubjectId};
use time::OffsetDateTime;

/// A data-subject rights request as stored (enumerations as the vault's strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsRequestRow {
    /// The request.
    pub id: RightsRequestId,
    /// Its subject (kept after an erasure: the request is the record of having answered).
    pub subject: SubjectId,
    /// `access`, `portability`, `rectification`, `erasure`, …
    pub kind: String,
    /// The purpose objected to (objections only).
    pub purpose: Option<String>,
    /// `gdpr` or `ccpa`.
    pub regime: String,
    /// `staff` or `portal`.
    pub origin: String,
    /// `received`, `verifying`, `in_progress`, `extended`, `completed`, `rejected`.
    pub status: String,
    /// When it was received.
    pub received_at: OffsetDateTime,
    /// When it must be answered by.
    pub due_at: OffsetDateTime,
    /// Whether the deadline was extended.
    pub extended: bool,
    /// When the identity was verified.
    pub verified_at: Option<OffsetDateTime>,
    /// When it was completed or rejected.
    pub closed_at: Option<OffsetDateTime>,
    /// The number of events stored with it (the optimistic-concurrency version).
    pub version: i64,
}

/// One event of a request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEventRow {
    /// The request.
    pub request: RightsRequestId,
    /// 0-based position in the request's history.
    pub seq: i64,
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: String,
    /// What (`received`, `verified`, `completed`, `export_produced`, …).
    pub event: String,
    /// The status after it.
    pub status: String,
    /// Details as JSON text (method, reason, field names, counts), never a value.
    pub detail: Option<String>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only those due strictly before this time.
    pub due_before: Option<OffsetDateTime>,
    /// Only this subject's.
    pub subject: Option<SubjectId>,
}

/// A notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The message.
    pub id: MessageId,
    /// The subject it is about (by id only).
    pub subject: SubjectId,
    /// The request it is about, if any.
    pub request: Option<RightsRequestId>,
    /// The template it was rendered from (e.g. `request_completed`).
    pub template: String,
    /// The rendered text (ids, kinds, dates; no personal value).
    pub body: String,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// Failed delivery attempts so far.
    pub attempts: i64,
    /// Not to be tried before this time.
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed (a short code or status, no value).
    pub last_error: Option<String>,
    /// The address to deliver to, sealed by the vault for this message alone (never
    /// plaintext); `None` when the sender needs none (a webhook) or the subject has none.
    /// Deleted with the row.
    pub recipient: Option<Vec<u8>>,
}
