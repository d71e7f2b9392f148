//! Legal holds: while one is in force on a subject, retention purges skip it and erasures are
//! refused (here, before anything is written, and by the store itself, so a hold set during
//! an erasure still wins). Setting and lifting are audited with the reason code.

use privet_audit::{Action, Decision};
use privet_core::SubjectId;
use privet_store::{LegalHoldRow, Op, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The longest accepted legal-hold reason code.
pub const MAX_HOLD_REASON_LEN: usize = 64;

/// A subject's legal hold, as shown to an admin.
#[derive(Debug, Clone, Serialize)]
pub struct LegalHold {
    /// The reason code.
    pub reason: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who set it.
    pub actor: String,
}

/// A legal-hold reason code: 1 to 64 of `a-z 0-9 . _ : -`, starting with a letter or digit.
/// A code, not prose, because it is written to the audit trail, which never holds personal data.
fn check_reason(reason: &str) -> Result<(), VaultError> {
    let ok = !reason.is_empty()
        && reason.len() <= MAX_HOLD_REASON_LEN
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_:".contains(&b))
        && reason
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadRequest(format!(
            "a legal-hold reason is a code of 1 to {MAX_HOLD_REASON_LEN} characters a-z, 0-9, \
             `.`, `_`, `:` or `-` (e.g. `litigation-2026-17`): it is written to the audit \
             trail, which never holds personal data"
        )))
    }
}

impl Vault {
    /// Puts a subject under a legal hold (`Some(reason code)`, replacing any earlier one) or
    /// lifts it (`None`). While held, purges skip the subject and erasures are refused.
    /// Audited with the reason code. Admin only.
    pub async fn set_legal_hold(
        &self,
        actor: &Actor,
        subject: SubjectId,
        reason: Option<&str>,
    ) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        let hold = match reason {
            Some(r) => {
                check_reason(r)?;
                Some(LegalHoldRow {
                    reason: r.to_owned(),
                    at: self.now(),
                    actor: actor.id.clone(),
                })
            }
            None => None,
        };
        let mut entry = self.entry(actor, Action::LegalHold);
        entry.subject = Some(subject);
        entry.reason = Some(match &hold {
            Some(h) => format!("hold:{}", h.reason),
            None => "released".into(),
        });
        let w = WriteSet::new()
            .op(Op::SetLegalHold { subject, hold })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// The legal hold on a subject, if one is in force. Admin only.
    pub async fn legal_hold(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<Option<LegalHold>, VaultError> {
        self.require_admin(actor).await?;
        Ok(self
            .inner
            .store
            .legal_hold(subject)
            .await?
            .map(|h| LegalHold {
                reason: h.reason,
                at: h.at,
                actor: h.actor,
            }))
    }

    /// Refuses an erasure of a held subject, on the record (decision `denied`, reason
    /// `legal_hold`). The store refuses it too, so a hold set meanwhile still wins.
    pub(crate) async fn refuse_if_held(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<(), VaultError> {
        if self.inner.store.legal_hold(subject).await?.is_none() {
            return Ok(());
        }
        let mut e = self.entry(actor, Action::SubjectErase);
        e.subject = Some(subject);
        e.decision = Decision::Denied;
        e.reason = Some("legal_hold".into());
        self.inner.store.apply(WriteSet::new().audit(e)).await?;
        Err(VaultError::LegalHold(subject))
    }
}
