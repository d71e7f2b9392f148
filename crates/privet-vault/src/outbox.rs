//! The notifications outbox: when a rights request changes status, a message for the
//! subject is queued in the same write set as the change (so no change goes unannounced and
//! no message announces a change that did not commit). A [`Sender`] delivers them
//! ([`Vault::deliver_outbox`]), retrying with backoff; a delivered message is deleted.
//!
//! A message names the subject by id only, with the request's id, kind, status and due date:
//! a webhook receiver knows how to reach the subject. A mail sender needs the address: the
//! vault then keeps it in the row, sealed for that message alone (see `crate::recipient`),
//! and hands it to the sender opened ([`OutboundMessage::recipient`]).

use std::future::Future;

use privet_audit::{Action, AuditEntry};
use privet_core::{MessageId, RightsRequest, RightsRequestId, Sensitive, SubjectId};
use privet_store::{Op, OutboxRow, WriteSet};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::recipient::Notice;
use crate::{Vault, VaultError};

/// The first retry waits this long; each further one twice as long as the last.
const FIRST_RETRY: Duration = Duration::seconds(5);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::hours(1);
/// Messages one delivery round takes.
const ROUND: u32 = 100;
/// The actor of the audit entry for a dropped message.
const NOTIFIER: &str = "notifier";

/// A message to deliver.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundMessage {
    /// Its id (`msg_…`); deliveries may repeat after a crash, so receivers deduplicate by it.
    pub id: MessageId,
    /// The subject it is for.
    pub subject_id: SubjectId,
    /// The request it is about.
    pub request_id: Option<RightsRequestId>,
    /// The template it was rendered from (`request_received`, `request_completed`, …).
    pub template: String,
    /// The rendered text.
    pub text: String,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The subject's address, when the vault captures one for a mail sender
    /// ([`Vault::with_notify_recipient`]); `None` otherwise, or when the subject had none.
    /// Never serialized: a webhook receives no address.
    #[serde(skip)]
    pub recipient: Option<Sensitive<String>>,
}

/// Why a message was not delivered: a short code or status (never a value, never the
/// receiver's free text, which may quote an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// It may work later (a timeout, a refused connection, an SMTP 4xx, an HTTP 5xx): the
    /// message stays in the outbox and is retried with backoff.
    Retry(String),
    /// It never will (no address, an SMTP 5xx rejection): the message is dropped, logged.
    Undeliverable(String),
}

/// Delivers outbox messages (a webhook, mail, …).
pub trait Sender: Send + Sync {
    /// Delivers one message.
    fn send(&self, message: &OutboundMessage)
    -> impl Future<Output = Result<(), SendError>> + Send;
}

/// The message announcing `r`'s current status, with the id (and sealed recipient) of
/// `notice`.
pub(crate) fn status_message(r: &RightsRequest, notice: &Notice, now: OffsetDateTime) -> OutboxRow {
    let due = crate::requests::due_text(r);
    let text = match r.status.as_str() {
        "completed" => format!(
            "Your {} request {} has been completed.",
            r.kind.as_str().replace('_', " "),
            r.id
        ),
        "rejected" => format!(
            "Your {} request {} was rejected. The reason is in the request's history.",
            r.kind.as_str().replace('_', " "),
            r.id
        ),
        status => format!(
            "Your {} request {} is {} ({}); it will be answered by {due}.",
            r.kind.as_str().replace('_', " "),
            r.id,
            status.replace('_', " "),
            r.regime.as_str().to_uppercase(),
        ),
    };
    OutboxRow {
        id: notice.id,
        subject: r.subject,
        request: Some(r.id),
        template: format!("request_{}", r.status.as_str()),
        body: text,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        recipient: notice.recipient.clone(),
    }
}

/// How long to wait after `attempts` failed attempts.
pub(crate) fn backoff(attempts: i64) -> Duration {
    let shift = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let wait = FIRST_RETRY.saturating_mul(1i32 << shift.min(30));
    wait.min(MAX_RETRY)
}

impl Vault {
    /// Delivers the messages due now through `sender`: each delivered one is deleted, each
    /// that failed for now ([`SendError::Retry`]) is tried again later (5 s, 10 s, 20 s, … at
    /// most an hour apart), each that never can be ([`SendError::Undeliverable`]) is dropped
    /// with a logged reason and an audit entry on the subject's trail. Returns how many were delivered. One round takes at most 100.
    pub async fn deliver_outbox<S: Sender>(&self, sender: &S) -> Result<usize, VaultError> {
        let due = self.inner.store.outbox_due(self.now(), ROUND).await?;
        let mut delivered = 0;
        for m in due {
            let message = OutboundMessage {
                id: m.id,
                subject_id: m.subject,
                request_id: m.request,
                template: m.template.clone(),
                text: m.body.clone(),
                created_at: m.created_at,
                recipient: self.open_recipient(&m).await,
            };
            let mut w = WriteSet::new();
            let op = match sender.send(&message).await {
                Ok(()) => {
                    delivered += 1;
                    Op::DeleteMessage(m.id)
                }
                Err(SendError::Undeliverable(reason)) => {
                    tracing::warn!(message = %m.id, %reason, "notification undeliverable: dropped");
                    // On the subject's record (staff see why the customer heard nothing):
                    // the message, its request and the code; no address, no server text.
                    let mut entry = AuditEntry::new(self.now(), NOTIFIER, Action::RightsRequest);
                    entry.subject = Some(m.subject);
                    entry.reason = Some(format!(
                        "notification_undeliverable:{}:{}:{}",
                        m.id,
                        m.request.map(|r| r.to_string()).unwrap_or_default(),
                        reason.chars().take(40).collect::<String>()
                    ));
                    w.push_audit(&entry);
                    Op::DeleteMessage(m.id)
                }
                Err(SendError::Retry(error)) => {
                    let attempts = m.attempts + 1;
                    tracing::warn!(message = %m.id, attempts, %error, "notification not delivered");
                    Op::DeferMessage {
                        id: m.id,
                        attempts,
                        next_attempt_at: self.now() + backoff(attempts),
                        last_error: error.chars().take(200).collect(),
                    }
                }
            };
            w.ops.push(op);
            self.inner.store.apply(w).await?;
        }
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(5));
        assert_eq!(backoff(2), Duration::seconds(10));
        assert_eq!(backoff(4), Duration::seconds(40));
        assert_eq!(backoff(11), Duration::hours(1));
        assert_eq!(backoff(1_000), Duration::hours(1));
    }
}
