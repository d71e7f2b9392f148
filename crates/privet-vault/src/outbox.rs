//! The notifications outbox: when a rights request changes status, a message for the
//! subject is queued in the same write set as the change (so no change goes unannounced and
//! no message announces a change that did not commit). A [`Sender`] delivers them
//! ([`Vault::deliver_outbox`]), retrying with backoff; a delivered message is deleted.
//!
//! A message names the subject by id only, with the request's id, kind, status and due date:
//! whoever delivers it (the business's webhook) knows how to reach the subject.

use std::future::Future;

use privet_core::{MessageId, RightsRequest, RightsRequestId, SubjectId};
use privet_store::{Op, OutboxRow, WriteSet};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::{Vault, VaultError};

/// The first retry waits this long; each further one twice as long as the last.
const FIRST_RETRY: Duration = Duration::seconds(5);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::hours(1);
/// Messages one delivery round takes.
const ROUND: u32 = 100;

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
}

/// Delivers outbox messages (a webhook, mail, …).
pub trait Sender: Send + Sync {
    /// Delivers one message; an error (a short code, no value) means "try again later".
    fn send(&self, message: &OutboundMessage) -> impl Future<Output = Result<(), String>> + Send;
}

/// The message announcing `r`'s current status.
pub(crate) fn status_message(r: &RightsRequest, now: OffsetDateTime) -> OutboxRow {
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
        id: MessageId::new(),
        subject: r.subject,
        request: Some(r.id),
        template: format!("request_{}", r.status.as_str()),
        body: text,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
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
    /// failed one is tried again later (5 s, 10 s, 20 s, … at most an hour apart). Returns
    /// how many were delivered. One round takes at most 100 messages.
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
            };
            let op = match sender.send(&message).await {
                Ok(()) => {
                    delivered += 1;
                    Op::DeleteMessage(m.id)
                }
                Err(error) => {
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
            self.inner.store.apply(WriteSet::new().op(op)).await?;
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
