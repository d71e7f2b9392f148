//! Data-subject rights requests as use cases: create (staff or portal), list, show, and the
//! steps verify, extend, reject and complete. Each step is one write set: the request's new
//! state and history, its audit entry, and the notification for the subject (outbox), all
//! committed together. Completing a request fulfils it (see [`crate::fulfil`]).
//!
//! The deadlines and the state machine are privet-core's ([`privet_core::rights`]); nothing
//! stored here is a personal value.

use privet_audit::Action;
use privet_core::{
    NewRequest, Origin, Regime, RequestError, RequestEvent, RequestKind, RequestStatus,
    RightsRequest, RightsRequestId, SubjectId,
};
use privet_store::{Op, RequestEventRow, RequestFilter, RightsRequestRow, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The most requests one listing returns.
pub const MAX_REQUEST_PAGE: u32 = 1000;

/// What a new request asks.
#[derive(Debug, Clone)]
pub struct RequestInput {
    /// The subject.
    pub subject: SubjectId,
    /// What is asked.
    pub kind: RequestKind,
    /// The regime; the vault's default ([`Vault::with_default_regime`]) when `None`.
    pub regime: Option<Regime>,
    /// The purpose objected to (objections only).
    pub purpose: Option<String>,
    /// Who enters it: staff requests wait for verification, portal requests start verified.
    pub origin: Origin,
}

/// A request as listings show it: the request (without its history) and whether it is
/// overdue now.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    /// The request.
    #[serde(flatten)]
    pub request: RightsRequest,
    /// Open past its due date.
    pub overdue: bool,
}

fn integrity(id: RightsRequestId) -> VaultError {
    VaultError::Integrity {
        context: format!("stored rights request {id}"),
    }
}

pub(crate) fn to_row(r: &RightsRequest) -> RightsRequestRow {
    RightsRequestRow {
        id: r.id,
        subject: r.subject,
        kind: r.kind.as_str().to_owned(),
        purpose: r.purpose.clone(),
        regime: r.regime.as_str().to_owned(),
        origin: r.origin.as_str().to_owned(),
        status: r.status.as_str().to_owned(),
        received_at: r.received_at,
        due_at: r.due_at,
        extended: r.extended,
        verified_at: r.verified_at,
        closed_at: r.closed_at,
        version: r.history.len() as i64,
    }
}

fn event_row(id: RightsRequestId, seq: usize, e: &RequestEvent) -> RequestEventRow {
    RequestEventRow {
        request: id,
        seq: seq as i64,
        at: e.at,
        actor: e.actor.clone(),
        event: e.event.clone(),
        status: e.status.as_str().to_owned(),
        detail: e.detail.as_ref().map(|d| d.to_string()),
    }
}

pub(crate) fn from_rows(
    row: RightsRequestRow,
    events: Vec<RequestEventRow>,
) -> Result<RightsRequest, VaultError> {
    let id = row.id;
    let bad = |_| integrity(id);
    let history = events
        .into_iter()
        .map(|e| {
            Ok(RequestEvent {
                at: e.at,
                actor: e.actor,
                event: e.event,
                status: e.status.parse().map_err(bad)?,
                detail: e
                    .detail
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .map_err(|_| integrity(id))?,
            })
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    Ok(RightsRequest {
        id,
        subject: row.subject,
        kind: row.kind.parse().map_err(bad)?,
        purpose: row.purpose,
        regime: row.regime.parse().map_err(bad)?,
        origin: row.origin.parse().map_err(bad)?,
        status: row.status.parse().map_err(bad)?,
        received_at: row.received_at,
        due_at: row.due_at,
        extended: row.extended,
        verified_at: row.verified_at,
        closed_at: row.closed_at,
        history,
    })
}

impl From<RequestError> for VaultError {
    fn from(e: RequestError) -> Self {
        VaultError::Request(e)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Vault {
    /// The vault with the regime new requests get when they name none (default GDPR).
    pub fn with_default_regime(mut self, regime: Regime) -> Self {
        self.default_regime = regime;
        self
    }

    /// Whether `r` is open past its due date, by this vault's clock.
    pub fn is_overdue(&self, r: &RightsRequest) -> bool {
        r.is_overdue(self.now())
    }

    /// The regime new requests get when they name none.
    pub fn default_regime(&self) -> Regime {
        self.default_regime
    }

    /// Records a new rights request about an existing subject (unknown or erased:
    /// `SubjectNotFound`). Staff requests (admin only) start `verifying`; portal requests
    /// (`Origin::Portal`, entered by the portal after its signed link was used) start
    /// `in_progress`. Audited, and the subject is notified (outbox), in one write set.
    pub async fn create_request(
        &self,
        actor: &Actor,
        input: RequestInput,
    ) -> Result<RightsRequest, VaultError> {
        self.require_admin(actor).await?;
        if let Some(p) = &input.purpose
            && self.inner.schema.purpose(p).is_none()
        {
            return Err(VaultError::UnknownPurpose(p.chars().take(128).collect()));
        }
        let r = RightsRequest::new(NewRequest {
            subject: input.subject,
            kind: input.kind,
            purpose: input.purpose.as_deref(),
            regime: input.regime.unwrap_or(self.default_regime),
            origin: input.origin,
            now: self.now(),
            actor: &actor.id,
        })?;
        let mut w = WriteSet::new().op(Op::RequireSubject(r.subject));
        let notice = self.notice(actor, r.subject).await?;
        self.stage_request(&mut w, actor, &r, 0, "created", notice);
        self.inner.store.apply(w).await?;
        Ok(r)
    }

    /// Adds to `w` the request's new state and the events from `from` on, its audit entry,
    /// and the notification of its status (`notice`: its id, and the sealed address with the
    /// audit entry of reading it, see [`Vault::notice`]).
    pub(crate) fn stage_request(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        r: &RightsRequest,
        from: usize,
        step: &str,
        notice: crate::recipient::Notice,
    ) {
        let events = r
            .history
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, e)| event_row(r.id, i, e))
            .collect();
        w.ops.push(Op::PutRightsRequest {
            request: to_row(r),
            events,
            expected_version: (from > 0).then_some(from as i64),
        });
        let mut entry = self.entry(actor, Action::RightsRequest);
        entry.subject = Some(r.subject);
        entry.purpose = r.purpose.clone();
        entry.reason = Some(format!("{step}:{}:{}:{}", r.kind, r.status, r.id));
        w.push_audit(&entry);
        if let Some(read) = &notice.audit {
            w.push_audit(read);
        }
        w.ops.push(Op::QueueMessage(crate::outbox::status_message(
            r,
            &notice,
            self.now(),
        )));
    }

    /// One request with its history (admin only).
    pub async fn rights_request(
        &self,
        actor: &Actor,
        id: RightsRequestId,
    ) -> Result<RightsRequest, VaultError> {
        self.require_admin(actor).await?;
        self.load_request(id).await
    }

    pub(crate) async fn load_request(
        &self,
        id: RightsRequestId,
    ) -> Result<RightsRequest, VaultError> {
        let (row, events) = self
            .inner
            .store
            .rights_request(id)
            .await?
            .ok_or(VaultError::RequestNotFound(id))?;
        from_rows(row, events)
    }

    /// Requests by due date (soonest first), optionally only of one status, due before a
    /// time, or about one subject; at most `limit` (default 100, at most
    /// [`MAX_REQUEST_PAGE`]). Admin only. Histories are left out (see
    /// [`Vault::rights_request`]).
    pub async fn rights_requests(
        &self,
        actor: &Actor,
        status: Option<RequestStatus>,
        due_before: Option<OffsetDateTime>,
        subject: Option<SubjectId>,
        limit: Option<u32>,
    ) -> Result<Vec<RequestSummary>, VaultError> {
        self.require_admin(actor).await?;
        let limit = match limit.unwrap_or(100) {
            n @ 1..=MAX_REQUEST_PAGE => n,
            _ => {
                return Err(VaultError::BadRequest(format!(
                    "limit must be 1 to {MAX_REQUEST_PAGE}"
                )));
            }
        };
        let filter = RequestFilter {
            status: status.map(|s| s.as_str().to_owned()),
            due_before,
            subject,
        };
        let now = self.now();
        self.inner
            .store
            .rights_requests(&filter, limit)
            .await?
            .into_iter()
            .map(|row| {
                let request = from_rows(row, Vec::new())?;
                Ok(RequestSummary {
                    overdue: request.is_overdue(now),
                    request,
                })
            })
            .collect()
    }

    /// Applies one step to a stored request and commits it (with its audit entry and
    /// notification) unless the state machine refuses it.
    async fn step(
        &self,
        actor: &Actor,
        id: RightsRequestId,
        name: &str,
        f: impl FnOnce(&mut RightsRequest, OffsetDateTime, &str) -> Result<(), RequestError>,
    ) -> Result<RightsRequest, VaultError> {
        self.require_admin(actor).await?;
        let mut r = self.load_request(id).await?;
        let from = r.history.len();
        f(&mut r, self.now(), &actor.id)?;
        let mut w = WriteSet::new();
        let notice = self.notice(actor, r.subject).await?;
        self.stage_request(&mut w, actor, &r, from, name, notice);
        self.inner.store.apply(w).await?;
        Ok(r)
    }

    /// Records that the requester's identity was verified, and how (e.g. `id_document`).
    pub async fn verify_request(
        &self,
        actor: &Actor,
        id: RightsRequestId,
        method: &str,
    ) -> Result<RightsRequest, VaultError> {
        self.step(actor, id, "verified", |r, now, who| {
            r.verify(method, now, who)
        })
        .await
    }

    /// Extends the deadline once to the legal maximum, with a reason. A second extension is
    /// refused (`RequestError::ExtensionLimit`).
    pub async fn extend_request(
        &self,
        actor: &Actor,
        id: RightsRequestId,
        reason: &str,
    ) -> Result<RightsRequest, VaultError> {
        self.step(actor, id, "extended", |r, now, who| {
            r.extend(reason, now, who)
        })
        .await
    }

    /// Rejects the request, with a reason.
    pub async fn reject_request(
        &self,
        actor: &Actor,
        id: RightsRequestId,
        reason: &str,
    ) -> Result<RightsRequest, VaultError> {
        self.step(actor, id, "rejected", |r, now, who| {
            r.reject(reason, now, who)
        })
        .await
    }

    /// Every request about one subject, with histories (for the subject's export).
    pub(crate) async fn requests_of(
        &self,
        subject: SubjectId,
    ) -> Result<Vec<RightsRequest>, VaultError> {
        let filter = RequestFilter {
            subject: Some(subject),
            ..RequestFilter::default()
        };
        let rows = self
            .inner
            .store
            .rights_requests(&filter, MAX_REQUEST_PAGE)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.load_request(row.id).await?);
        }
        Ok(out)
    }
}

/// The due date as text, for messages.
pub(crate) fn due_text(r: &RightsRequest) -> String {
    rfc3339(r.due_at)
}
