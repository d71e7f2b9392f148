//! What a customer sees and does in the privacy portal, acting for themself through a
//! [`PortalSession`]: every value held about them (grouped by collection, each field with
//! the purposes it is used for, in the schema's own plain-language descriptions), their
//! consents to change, and who used their data.
//!
//! A customer reading their own data is a right of access, not a use for a business purpose:
//! it is released whole, and recorded on the audit trail with the purpose `subject_access`
//! and the actor `portal:sub_…`.

use privet_audit::{Action, Decision};
use privet_core::{
    CollectionKind, ConsentChange, ConsentSource, ConsentState, ConsentStatus, ConsentView,
    EffectiveConsent, LegalBasis, RecordId, RequestId,
};
use privet_store::{Op, WriteSet};
use time::OffsetDateTime;

use crate::consent::StoredConsents;
use crate::seal::Released;
use crate::{AccessLogEntry, PortalSession, Vault, VaultError};

/// How many access-log entries the portal scans at most (the newest of them are shown).
const ACCESS_LOG_SCAN: usize = 10_000;

/// One collection of the customer's data.
#[derive(Debug, Clone)]
pub struct PortalCollection {
    /// The collection's name.
    pub name: String,
    /// Its description from the schema, if any.
    pub description: Option<String>,
    /// Whether it is the one-per-customer profile (otherwise: many records).
    pub profile: bool,
    /// How long records are kept, in words (`7 years from when it was created`), if limited.
    pub retention: Option<String>,
    /// The records held (one for the profile, if any).
    pub records: Vec<PortalRecord>,
}

/// One record: its fields that hold a value, in schema order.
#[derive(Debug, Clone)]
pub struct PortalRecord {
    /// The record's id.
    pub id: RecordId,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// The fields with a value.
    pub fields: Vec<PortalField>,
}

/// One stored value and why it is kept.
#[derive(Debug, Clone)]
pub struct PortalField {
    /// The field's name.
    pub name: String,
    /// The value as text (JSON for structured values).
    pub value: String,
    /// The value as stored (decoded).
    pub json: serde_json::Value,
    /// The fideslang data category.
    pub category: String,
    /// The purposes the field is used for: (name, description, legal basis).
    pub purposes: Vec<(String, String, &'static str)>,
}

/// A purpose the customer decides on.
#[derive(Debug, Clone)]
pub struct PortalConsent {
    /// The purpose's name.
    pub purpose: String,
    /// Its description, in plain language.
    pub description: String,
    /// Whether it is a sale or sharing (Global Privacy Control opts out of it).
    pub sale_or_sharing: bool,
    /// What is in force now: `granted`, `denied`, `withdrawn`, `expired`, or `none` (never
    /// asked).
    pub state: &'static str,
    /// When the decision in force was recorded, and how.
    pub recorded: Option<(OffsetDateTime, String)>,
}

impl PortalConsent {
    /// Whether the purpose may use the data now.
    pub fn granted(&self) -> bool {
        self.state == "granted"
    }
}

/// A retention in words: `7 years from when it was created`.
pub(crate) fn retention_text(r: &privet_core::Retention) -> String {
    use privet_core::{PeriodUnit, RetentionAnchor};
    let n = r.keep.count;
    let unit = match r.keep.unit {
        PeriodUnit::Days => "day",
        PeriodUnit::Weeks => "week",
        PeriodUnit::Months => "month",
        PeriodUnit::Years => "year",
    };
    let plural = if n == 1 { "" } else { "s" };
    let after = match r.after {
        RetentionAnchor::Created => "from when it was created",
        RetentionAnchor::LastActivity => "from your last activity",
        RetentionAnchor::ConsentWithdrawn => "from when you withdraw consent",
    };
    format!("{n} {unit}{plural} {after}")
}

fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Vault {
    /// Every value held about the session's customer, grouped by collection (profile
    /// first). Audited: one entry per collection read, purpose `subject_access`.
    pub async fn portal_data(
        &self,
        session: &PortalSession,
        request_id: Option<RequestId>,
    ) -> Result<Vec<PortalCollection>, VaultError> {
        self.portal_collections(session, request_id, false).await
    }

    /// The customer's profile alone (for the rectification form), audited like
    /// [`Vault::portal_data`].
    pub async fn portal_profile(
        &self,
        session: &PortalSession,
        request_id: Option<RequestId>,
    ) -> Result<PortalCollection, VaultError> {
        self.portal_collections(session, request_id, true)
            .await?
            .into_iter()
            .next()
            .ok_or(VaultError::NoProfile)
    }

    async fn portal_collections(
        &self,
        session: &PortalSession,
        request_id: Option<RequestId>,
        profile_only: bool,
    ) -> Result<Vec<PortalCollection>, VaultError> {
        let actor = session.actor(request_id);
        let schema = &self.inner.schema;
        let mut out = Vec::new();
        let mut w = WriteSet::new().op(Op::RequireSubject(session.subject));
        let mut collections: Vec<_> = schema.collections().collect();
        collections.sort_by_key(|c| c.kind != CollectionKind::Profile);
        if profile_only {
            collections.retain(|c| c.kind == CollectionKind::Profile);
        }
        for coll in collections {
            let data = self
                .inner
                .store
                .load_subject(session.subject, &coll.name, None)
                .await?
                .ok_or(VaultError::SubjectNotFound(session.subject))?;
            let released: Vec<Released<'_>> = crate::seal::release_all(coll).released;
            // Records of a retention class are sealed under its key, others under the
            // subject's own.
            let ciphers = match data.records.is_empty() {
                true => Vec::new(),
                false => self.read_ciphers(&data.subject, coll).await?,
            };
            let mut records = Vec::with_capacity(data.records.len());
            for row in &data.records {
                let Some(cipher) = self.cipher_for(&ciphers, coll, row) else {
                    break;
                };
                let values = self.open_fields(cipher, coll, &released, row)?;
                let fields = coll
                    .fields()
                    .filter_map(|f| {
                        let json = values.get(&f.name)?.clone();
                        Some(PortalField {
                            name: f.name.clone(),
                            value: text_of(&json),
                            json,
                            category: f.category.clone(),
                            purposes: f
                                .purposes
                                .iter()
                                .filter_map(|p| schema.purpose(p))
                                .map(|p| {
                                    let basis = f.legal_basis.unwrap_or(p.legal_basis);
                                    (p.name.clone(), p.description.clone(), basis.as_str())
                                })
                                .collect(),
                        })
                    })
                    .collect();
                records.push(PortalRecord {
                    id: row.id,
                    created_at: row.created_at,
                    fields,
                });
            }
            let action = match coll.kind {
                CollectionKind::Profile => Action::SubjectRead,
                CollectionKind::Records => Action::RecordRead,
            };
            let mut e = self.entry(&actor, action);
            e.subject = Some(session.subject);
            e.collection = Some(coll.name.clone());
            e.purpose = Some(crate::SUBJECT_ACCESS.into());
            e.fields = coll.fields().map(|f| f.name.clone()).collect();
            e.decision = Decision::Allowed;
            e.reason = Some("portal".into());
            w.push_audit(&e);
            out.push(PortalCollection {
                name: coll.name.clone(),
                description: coll.description.clone(),
                profile: coll.kind == CollectionKind::Profile,
                retention: coll.retention.as_ref().map(retention_text),
                records,
            });
        }
        // Nothing leaves unrecorded, and nothing of an erased customer leaves at all.
        self.inner.store.apply(w).await?;
        Ok(out)
    }

    /// The purposes the customer decides on — those whose legal basis is consent, and those
    /// a field needs explicit consent to — with what is in force now.
    pub async fn portal_consents(
        &self,
        session: &PortalSession,
    ) -> Result<Vec<PortalConsent>, VaultError> {
        let profile = self.profile()?;
        let data = self
            .inner
            .store
            .load_subject(session.subject, &profile.name, None)
            .await?
            .ok_or(VaultError::SubjectNotFound(session.subject))?;
        let now = self.now();
        let stored = StoredConsents(&data.consents);
        Ok(self
            .consent_purposes()
            .into_iter()
            .filter_map(|name| self.inner.schema.purpose(&name))
            .map(|p| {
                let status: Option<ConsentStatus> = stored.consent(&p.name);
                let row = data.consents.iter().find(|r| r.purpose == p.name);
                PortalConsent {
                    purpose: p.name.clone(),
                    description: p.description.clone(),
                    sale_or_sharing: p.sale_or_sharing,
                    state: match status {
                        None => "none",
                        s => EffectiveConsent::of(s, now).as_str(),
                    },
                    recorded: row.map(|r| (r.at, r.source.clone())),
                }
            })
            .collect())
    }

    /// Purposes a customer may grant or withdraw in the portal, in schema order.
    fn consent_purposes(&self) -> Vec<String> {
        let schema = &self.inner.schema;
        let mut out: Vec<String> = schema
            .purposes()
            .filter(|p| p.legal_basis == LegalBasis::Consent)
            .map(|p| p.name.clone())
            .collect();
        for c in schema.collections() {
            for f in c.fields() {
                if f.legal_basis == Some(LegalBasis::Consent) {
                    for p in &f.purposes {
                        if !out.contains(p) {
                            out.push(p.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// Grants or withdraws the customer's consent to `purpose` (source `portal`, the schema
    /// version as the notice shown). With `gpc`, as any consent change, every sale-or-sharing
    /// purpose is also denied, and granting one is refused (`gpc_forbids_grant`).
    pub async fn portal_set_consent(
        &self,
        session: &PortalSession,
        purpose: &str,
        grant: bool,
        gpc: bool,
        request_id: Option<RequestId>,
    ) -> Result<(), VaultError> {
        if !self.consent_purposes().iter().any(|p| p == purpose) {
            return Err(VaultError::UnknownPurpose(purpose.to_owned()));
        }
        let actor = session.actor(request_id);
        let change = ConsentChange {
            state: if grant {
                ConsentState::Granted
            } else {
                ConsentState::Withdrawn
            },
            source: ConsentSource::Portal,
            notice_version: format!("schema-v{}", self.inner.schema.version()),
            expires_at: None,
        };
        let events = self.consent_events(&actor, vec![(purpose.to_owned(), change)], gpc)?;
        let mut w = WriteSet::new();
        self.stage_consents(&mut w, &actor, session.subject, &events);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// Corrects the customer's profile (right to rectification): `changes` go through the
    /// normal validated write path — schema validation, the lawful-basis check, one audited
    /// transaction — as the customer (`portal:sub_…`). Invalid values fail with
    /// [`VaultError::Invalid`] naming each field, and nothing is changed.
    pub async fn portal_rectify(
        &self,
        session: &PortalSession,
        changes: &serde_json::Map<String, serde_json::Value>,
        request_id: Option<RequestId>,
    ) -> Result<(), VaultError> {
        // The customer may correct any field of their own profile: the write is decided by
        // the schema and the lawful-basis rules, not by an API role.
        let actor = self.portal_self(session, request_id);
        self.update_subject(&actor, session.subject, changes).await
    }

    /// The customer, acting on their own data with the authority the use cases of rights
    /// requests need (the session was checked by the caller; audited as `portal:sub_…`).
    fn portal_self(&self, session: &PortalSession, request_id: Option<RequestId>) -> crate::Actor {
        crate::Actor {
            authority: crate::auth::Authority::Operator,
            ..session.actor(request_id)
        }
    }

    /// Files a rights request of `kind` for the customer (origin portal: verified by the
    /// signed link) and fulfils it at once — an erasure erases (keeping what the law
    /// obliges), a restriction restricts. Returns the completed request.
    pub async fn portal_request(
        &self,
        session: &PortalSession,
        kind: privet_core::RequestKind,
        request_id: Option<RequestId>,
    ) -> Result<privet_core::RightsRequest, VaultError> {
        let actor = self.portal_self(session, request_id);
        let r = self
            .create_request(
                &actor,
                crate::RequestInput {
                    subject: session.subject,
                    kind,
                    regime: None,
                    purpose: None,
                    origin: privet_core::Origin::Portal,
                },
            )
            .await?;
        Ok(self.complete_request(&actor, r.id, None).await?.request)
    }

    /// The customer's rights requests, by due date.
    pub async fn portal_requests(
        &self,
        session: &PortalSession,
    ) -> Result<Vec<crate::RequestSummary>, VaultError> {
        let actor = self.portal_self(session, None);
        self.rights_requests(&actor, None, None, Some(session.subject), Some(100))
            .await
    }

    /// What an erasure keeps, from the schema: each collection that declares a purpose whose
    /// legal basis is `legal_obligation`, with its retention in words and those purposes'
    /// descriptions.
    pub fn portal_kept_on_erasure(&self) -> Vec<(String, Option<String>, Vec<String>)> {
        self.inner
            .schema
            .collections()
            .filter_map(|c| {
                let mut why: Vec<String> = Vec::new();
                for f in c.fields() {
                    for p in f
                        .purposes
                        .iter()
                        .filter_map(|p| self.inner.schema.purpose(p))
                    {
                        if p.legal_basis == LegalBasis::LegalObligation
                            && !why.contains(&p.description)
                        {
                            why.push(p.description.clone());
                        }
                    }
                }
                (!why.is_empty()).then(|| {
                    (
                        c.name.clone(),
                        c.retention.as_ref().map(retention_text),
                        why,
                    )
                })
            })
            .collect()
    }

    /// Everything held about the session's customer, as [`Vault::export_subject`] gives it
    /// to an admin (and audited the same way, with the actor `portal:sub_…`).
    pub async fn portal_export(
        &self,
        session: &PortalSession,
        request_id: Option<RequestId>,
    ) -> Result<crate::SubjectExport, VaultError> {
        self.export_subject_as(&session.actor(request_id), session.subject)
            .await
    }

    /// The customer's access log, newest first, at most `limit` entries: who used their
    /// data, for what purpose, when, which fields.
    pub async fn portal_access_log(
        &self,
        session: &PortalSession,
        limit: usize,
    ) -> Result<Vec<AccessLogEntry>, VaultError> {
        let mut newest = std::collections::VecDeque::with_capacity(limit + 1);
        let (mut from, mut scanned) = (0, 0);
        while scanned < ACCESS_LOG_SCAN {
            let page = self
                .access_log_page(session.subject, from, crate::MAX_AUDIT_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            from = last.index + 1;
            scanned += page.len();
            let full = page.len() as u32 == crate::MAX_AUDIT_PAGE;
            for e in page {
                newest.push_back(e);
                if newest.len() > limit {
                    newest.pop_front();
                }
            }
            if !full {
                break;
            }
        }
        Ok(newest.into_iter().rev().collect())
    }
}
