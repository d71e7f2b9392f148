//! The consent ledger and restrictions of processing: recording a subject's decisions per
//! purpose (append-only, audited in the same transaction), Global Privacy Control, and the
//! current state every read is decided against.

use privet_audit::{Action, Decision};
use privet_core::{
    ChangeContext, ConsentChange, ConsentEvent, ConsentSource, ConsentState, ConsentStatus,
    ConsentView, EffectiveConsent, SubjectId, gpc_denial_events,
};
use privet_store::{ConsentEventRow, Op, RestrictionRow, SubjectData, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The consents in force for one subject, as the store returns them (the latest event per
/// purpose). A state the vault does not know (tampering) reads as `denied`: fail closed.
pub(crate) struct StoredConsents<'a>(pub(crate) &'a [ConsentEventRow]);

impl ConsentView for StoredConsents<'_> {
    fn consent(&self, purpose: &str) -> Option<ConsentStatus> {
        let row = self.0.iter().find(|r| r.purpose == purpose)?;
        Some(ConsentStatus {
            state: row.state.parse().unwrap_or(ConsentState::Denied),
            expires_at: row.expires_at,
        })
    }
}

/// The consent in force for one purpose, as `GET /v1/subjects/{id}/consents` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentNow {
    /// The purpose.
    pub purpose: String,
    /// The state recorded last (`granted`, `denied`, `withdrawn`).
    pub state: String,
    /// What it means now: `granted`, `denied`, `withdrawn` or `expired`.
    pub effective: &'static str,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How it was collected.
    pub source: String,
    /// The privacy-notice version shown.
    pub notice_version: String,
    /// When a grant lapses.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A subject's consents and restriction, as of now.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentOverview {
    /// The subject.
    pub subject: SubjectId,
    /// The consent in force per purpose (purposes never asked are absent).
    pub consents: Vec<ConsentNow>,
    /// The restriction of processing, if one is in force.
    pub restriction: Option<Restriction>,
}

/// A restriction of processing (GDPR Art. 18): only legal-obligation purposes may read.
#[derive(Debug, Clone, Serialize)]
pub struct Restriction {
    /// Why (a short reason code or text the business gives; never personal data).
    pub reason: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who set it.
    pub actor: String,
}

pub(crate) fn to_row(subject: SubjectId, e: &ConsentEvent) -> ConsentEventRow {
    ConsentEventRow {
        subject,
        purpose: e.purpose.clone(),
        state: e.state.as_str().to_owned(),
        at: e.at,
        source: e.source.as_str().to_owned(),
        notice_version: e.notice_version.clone(),
        expires_at: e.expires_at,
        actor: e.actor.clone(),
    }
}

pub(crate) fn consent_now(r: &ConsentEventRow, now: OffsetDateTime) -> ConsentNow {
    let status = StoredConsents(std::slice::from_ref(r)).consent(&r.purpose);
    ConsentNow {
        purpose: r.purpose.clone(),
        state: r.state.clone(),
        effective: EffectiveConsent::of(status, now).as_str(),
        at: r.at,
        source: r.source.clone(),
        notice_version: r.notice_version.clone(),
        expires_at: r.expires_at,
    }
}

impl Vault {
    /// The consent events a consent-changing request records: the change itself, and when
    /// the request carries `Sec-GPC: 1`, a `denied` (source `gpc`) for every sale-or-sharing
    /// purpose (which the change itself may then not grant).
    pub(crate) fn consent_events(
        &self,
        actor: &Actor,
        changes: Vec<(String, ConsentChange)>,
        gpc: bool,
    ) -> Result<Vec<ConsentEvent>, VaultError> {
        let ctx = ChangeContext {
            now: self.now(),
            actor: &actor.id,
            gpc,
        };
        let mut events = Vec::with_capacity(changes.len() + 2);
        let mut notice = None;
        for (purpose, change) in changes {
            let event = change
                .into_event(&self.inner.schema, &purpose, ctx)
                .map_err(VaultError::Consent)?;
            notice.get_or_insert_with(|| event.notice_version.clone());
            events.push(event);
        }
        if gpc {
            let notice = notice.unwrap_or_else(|| "gpc".to_owned());
            for denial in gpc_denial_events(&self.inner.schema, &notice, ctx) {
                if !events.iter().any(|e| e.purpose == denial.purpose) {
                    events.push(denial);
                }
            }
        }
        Ok(events)
    }

    /// Adds the ops and audit entries recording `events` for `subject` to `w`.
    pub(crate) fn stage_consents(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        subject: SubjectId,
        events: &[ConsentEvent],
    ) {
        for e in events {
            w.ops.push(Op::AppendConsent(to_row(subject, e)));
            let mut entry = self.entry(actor, Action::ConsentUpdate);
            entry.subject = Some(subject);
            entry.purpose = Some(e.purpose.clone());
            entry.reason = Some(format!("{}:{}", e.state.as_str(), e.source.as_str()));
            w.push_audit(&entry);
        }
    }

    /// Records a consent decision for one purpose (`PUT /v1/subjects/{id}/consents/{purpose}`).
    /// With `gpc`, also records the GPC opt-outs. Returns the events recorded.
    pub async fn set_consent(
        &self,
        actor: &Actor,
        subject: SubjectId,
        purpose: &str,
        change: ConsentChange,
        gpc: bool,
    ) -> Result<Vec<ConsentEvent>, VaultError> {
        // A service may record decisions about the purposes it is granted (a sign-up form's
        // backend, a mailer's unsubscribe link); anything else needs an admin.
        if !self.grants(actor).grants_purpose(purpose) {
            self.require_admin(actor).await?;
        }
        let events = self.consent_events(actor, vec![(purpose.to_owned(), change)], gpc)?;
        let mut w = WriteSet::new();
        self.stage_consents(&mut w, actor, subject, &events);
        self.inner.store.apply(w).await?;
        Ok(events)
    }

    /// Records the opt-outs a Global Privacy Control signal asks for (every sale-or-sharing
    /// purpose denied, source `gpc`), e.g. when a portal visit carries `Sec-GPC: 1`.
    pub async fn apply_gpc(
        &self,
        actor: &Actor,
        subject: SubjectId,
        notice_version: &str,
    ) -> Result<Vec<ConsentEvent>, VaultError> {
        self.require_admin(actor).await?;
        let ctx = ChangeContext {
            now: self.now(),
            actor: &actor.id,
            gpc: true,
        };
        let events = gpc_denial_events(&self.inner.schema, notice_version, ctx);
        let mut w = WriteSet::new();
        self.stage_consents(&mut w, actor, subject, &events);
        if events.is_empty() {
            w.ops.push(Op::RequireSubject(subject));
        }
        self.inner.store.apply(w).await?;
        Ok(events)
    }

    async fn load_state(&self, subject: SubjectId) -> Result<SubjectData, VaultError> {
        let profile = self.profile()?;
        self.inner
            .store
            .load_subject(subject, &profile.name, None)
            .await?
            .ok_or(VaultError::SubjectNotFound(subject))
    }

    async fn audit_consent_read(
        &self,
        actor: &Actor,
        subject: SubjectId,
        what: &str,
    ) -> Result<(), VaultError> {
        let mut entry = self.entry(actor, Action::ConsentRead);
        entry.subject = Some(subject);
        entry.reason = Some(what.to_owned());
        entry.decision = Decision::Allowed;
        let w = WriteSet::new().op(Op::RequireSubject(subject)).audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// A subject's current consents and restriction.
    pub async fn consents(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<ConsentOverview, VaultError> {
        self.require_admin(actor).await?;
        let data = self.load_state(subject).await?;
        self.audit_consent_read(actor, subject, "consents").await?;
        let now = self.now();
        Ok(ConsentOverview {
            subject,
            consents: data.consents.iter().map(|r| consent_now(r, now)).collect(),
            restriction: data.restriction.map(|r| Restriction {
                reason: r.reason,
                at: r.at,
                actor: r.actor,
            }),
        })
    }

    /// A subject's whole consent history, oldest first.
    pub async fn consent_history(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<Vec<ConsentEvent>, VaultError> {
        self.require_admin(actor).await?;
        // The existence check and the audit entry commit together: an erased subject has
        // no history to show.
        self.audit_consent_read(actor, subject, "consent_history")
            .await?;
        let rows = self.inner.store.consent_history(subject).await?;
        rows.iter().map(from_row).collect()
    }

    /// Restricts processing of a subject's data (only legal-obligation purposes may read),
    /// or with `None` lifts the restriction.
    pub async fn set_restriction(
        &self,
        actor: &Actor,
        subject: SubjectId,
        reason: Option<&str>,
    ) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        let restriction = match reason {
            Some(r) => {
                let r = r.trim();
                if r.is_empty() || r.chars().count() > 500 || r.chars().any(char::is_control) {
                    return Err(VaultError::BadRequest(
                        "reason must be 1 to 500 printable characters".into(),
                    ));
                }
                Some(RestrictionRow {
                    subject,
                    reason: r.to_owned(),
                    at: self.now(),
                    actor: actor.id.clone(),
                })
            }
            None => None,
        };
        let mut entry = self.entry(actor, Action::RestrictionUpdate);
        entry.subject = Some(subject);
        entry.reason = Some(
            if restriction.is_some() {
                "restricted"
            } else {
                "lifted"
            }
            .into(),
        );
        let w = WriteSet::new()
            .op(Op::SetRestriction {
                subject,
                restriction,
            })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }
}

/// Decodes a stored consent event (states and sources were validated when written; one that
/// does not decode is tampering).
pub(crate) fn from_row(r: &ConsentEventRow) -> Result<ConsentEvent, VaultError> {
    let integrity = || VaultError::Integrity {
        context: format!("consent history of {}", r.subject),
    };
    Ok(ConsentEvent {
        purpose: r.purpose.clone(),
        state: r.state.parse().map_err(|_| integrity())?,
        at: r.at,
        source: r.source.parse::<ConsentSource>().map_err(|_| integrity())?,
        notice_version: r.notice_version.clone(),
        expires_at: r.expires_at,
        actor: r.actor.clone(),
    })
}
