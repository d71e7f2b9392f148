//! Completing a rights request fulfils it:
//! - `access`, `portability`: the subject export is produced (audited as every export) and
//!   returned; the history records that it was produced and how much it held;
//! - `rectification`: the corrected profile values go through the normal validated write
//!   path ([`Vault::update_subject`]); invalid values are refused and nothing changes (the
//!   request stays open); the history records the changed field names, never the values;
//! - `restriction`: processing is restricted (reason: the request id);
//! - `objection`: the consent for the purpose objected to is recorded `withdrawn` (if it
//!   was granted) or `denied`;
//! - `opt_out_sale_sharing`: `denied` for every `sale_or_sharing` purpose;
//! - `erasure`: the subject is erased ([`Vault::erase_for_request`], the one place that
//!   calls the erasure), and the history records what the erasure reported.
//!
//! Consent and restriction changes commit in the same write set as the completion.
//! Export, rectification and erasure are use cases of their own that commit first; should
//! the completion then fail (a concurrent step on the request), the request stays open and
//! completing it again repeats the fulfilment.

use privet_audit::Action;
use privet_core::{
    ConsentChange, ConsentSource, ConsentState, Origin, RequestKind, RightsRequest,
    RightsRequestId, SubjectId,
};
use privet_store::{Op, RestrictionRow, WriteSet};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Actor, SubjectExport, Vault, VaultError};

/// The notice version recorded with consent changes a rights request makes.
const REQUEST_NOTICE: &str = "rights_request";

/// A completed request, and for access and portability the export it produced.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    /// The request, completed.
    pub request: RightsRequest,
    /// The export (access and portability requests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectExport>,
}

impl Vault {
    /// Completes a verified, open request by fulfilling it (see the module docs).
    /// `data` carries the corrected profile values of a rectification (and is refused for
    /// every other kind).
    pub async fn complete_request(
        &self,
        actor: &Actor,
        id: RightsRequestId,
        data: Option<&Map<String, Value>>,
    ) -> Result<Completion, VaultError> {
        self.require_admin(actor).await?;
        let mut r = self.load_request(id).await?;
        r.check_completable()?;
        match (r.kind, data) {
            (RequestKind::Rectification, None) => {
                return Err(VaultError::BadRequest(
                    "a rectification is completed with the corrected values: `data`".into(),
                ));
            }
            (RequestKind::Rectification, Some(d)) if d.is_empty() => {
                return Err(VaultError::BadRequest(
                    "`data` names no field to correct".into(),
                ));
            }
            (RequestKind::Rectification, Some(_)) => {}
            (_, Some(_)) => {
                return Err(VaultError::BadRequest(format!(
                    "only a rectification takes `data`, not a request of kind `{}`",
                    r.kind
                )));
            }
            (_, None) => {}
        }
        let from = r.history.len();
        let mut w = WriteSet::new();
        let mut export = None;
        let now = self.now();
        // The completion is announced to the subject's address as it is after the request
        // (a rectification may change it) — except an erasure's, read before it is erased.
        let mut notice = match r.kind {
            RequestKind::Erasure => Some(self.notice(actor, r.subject).await?),
            _ => None,
        };
        let (event, detail) = match r.kind {
            RequestKind::Access | RequestKind::Portability => {
                let e = self.export_subject(actor, r.subject).await?;
                let records: usize = e.collections.iter().map(|c| c.records.len()).sum();
                let detail = json!({"records": records, "access_log_entries": e.access_log.len()});
                export = Some(e);
                ("export_produced", detail)
            }
            RequestKind::Rectification => {
                let data = data.cloned().unwrap_or_default();
                self.update_subject(actor, r.subject, &data).await?;
                let fields: Vec<&String> = data.keys().collect();
                ("rectified", json!({ "fields": fields }))
            }
            RequestKind::Restriction => {
                self.stage_restriction(&mut w, actor, r.subject, &r);
                ("restricted", json!({ "reason": r.id.to_string() }))
            }
            RequestKind::Objection => {
                let purpose = r.purpose.clone().unwrap_or_default();
                let state = self.objection_state(r.subject, &purpose).await?;
                self.stage_opt_outs(&mut w, actor, &r, vec![(purpose.clone(), state)])?;
                (
                    "consent_recorded",
                    json!({"purpose": purpose, "state": state.as_str()}),
                )
            }
            RequestKind::OptOutSaleSharing => {
                let purposes: Vec<(String, ConsentState)> =
                    privet_core::gpc_denials(&self.inner.schema)
                        .map(|p| (p.name.clone(), ConsentState::Denied))
                        .collect();
                let names: Vec<&String> = purposes.iter().map(|(p, _)| p).collect();
                let detail = json!({"purposes": names, "state": "denied"});
                self.stage_opt_outs(&mut w, actor, &r, purposes)?;
                ("consent_recorded", detail)
            }
            RequestKind::Erasure => {
                let detail = self.erase_for_request(actor, r.subject).await?;
                ("erased", detail)
            }
        };
        r.record(now, &actor.id, event, Some(detail));
        r.complete(now, &actor.id)?;
        if !matches!(r.kind, RequestKind::Erasure) && w.ops.is_empty() {
            w.ops.push(Op::RequireSubject(r.subject));
        }
        let notice = match notice.take() {
            Some(n) => n,
            None => self.notice(actor, r.subject).await?,
        };
        self.stage_request(&mut w, actor, &r, from, "completed", notice);
        self.inner.store.apply(w).await?;
        Ok(Completion { request: r, export })
    }

    /// Erases the subject of an erasure request and returns the erasure's completion
    /// certificate (what was erased, what was kept and why, the audit inclusion proof of the
    /// erasure entry — names and counts, never values) for the request's history.
    pub(crate) async fn erase_for_request(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<Value, VaultError> {
        let certificate = self.erase_subject(actor, subject).await?;
        // A plain struct of strings, numbers and lists: serializing it cannot fail.
        Ok(serde_json::to_value(&certificate)
            .unwrap_or_else(|_| json!({ "subject": subject.to_string(), "keys_destroyed": true })))
    }

    fn stage_restriction(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        subject: SubjectId,
        r: &RightsRequest,
    ) {
        w.ops.push(Op::SetRestriction {
            subject,
            restriction: Some(RestrictionRow {
                subject,
                reason: format!("rights request {}", r.id),
                at: self.now(),
                actor: actor.id.clone(),
            }),
        });
        let mut entry = self.entry(actor, Action::RestrictionUpdate);
        entry.subject = Some(subject);
        entry.reason = Some("restricted".into());
        w.push_audit(&entry);
    }

    /// `withdrawn` if the purpose's consent is granted now, else `denied`.
    async fn objection_state(
        &self,
        subject: SubjectId,
        purpose: &str,
    ) -> Result<ConsentState, VaultError> {
        let history = self.inner.store.consent_history(subject).await?;
        let granted = history
            .iter()
            .rev()
            .find(|e| e.purpose == purpose)
            .is_some_and(|e| e.state == ConsentState::Granted.as_str());
        Ok(if granted {
            ConsentState::Withdrawn
        } else {
            ConsentState::Denied
        })
    }

    fn stage_opt_outs(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        r: &RightsRequest,
        changes: Vec<(String, ConsentState)>,
    ) -> Result<(), VaultError> {
        let source = match r.origin {
            Origin::Portal => ConsentSource::Portal,
            _ => ConsentSource::Api,
        };
        let changes = changes
            .into_iter()
            .map(|(purpose, state)| {
                (
                    purpose,
                    ConsentChange {
                        state,
                        source,
                        notice_version: REQUEST_NOTICE.into(),
                        expires_at: None,
                    },
                )
            })
            .collect();
        let events = self.consent_events(actor, changes, false)?;
        self.stage_consents(w, actor, r.subject, &events);
        Ok(())
    }
}
