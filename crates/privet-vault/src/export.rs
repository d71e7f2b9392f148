//! The subject export (GDPR Art. 15 and 20, CCPA right to know): everything the vault holds
//! about one subject — every record of every collection with each value's data category and
//! purposes alongside, the consents in force and their history, the restriction, and the
//! access log — read in one snapshot, decrypted whole (the subject is entitled to all of it,
//! whatever a caller's grants would release for a business purpose), and produced for the
//! purpose [`SUBJECT_ACCESS`]. Nothing leaves unrecorded: the export's own audit entry
//! commits before the export is returned, or the export fails.
//!
//! The formats (JSON, CSV per collection, a zip of them, an HTML page) are in
//! [`crate::export_format`].

use privet_audit::{Action, Decision};
use privet_core::{Collection, ConsentEvent, RecordId, SubjectId};
use privet_store::{Op, SubjectData, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::consent::consent_now;
use crate::{AccessLogEntry, Actor, ConsentNow, Restriction, Vault, VaultError};

/// The purpose every export is produced for (and audited under).
pub const SUBJECT_ACCESS: &str = "subject_access";

/// How many access-log entries one store read fetches while an export gathers the log.
const LOG_PAGE: u32 = 1000;

/// Everything held about one subject, as of `generated_at`.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectExport {
    /// The subject.
    pub subject: SubjectId,
    /// When the subject was created.
    #[serde(with = "time::serde::rfc3339")]
    pub subject_created_at: OffsetDateTime,
    /// When this export was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The purpose it was produced for (always [`SUBJECT_ACCESS`]).
    pub purpose: &'static str,
    /// Every collection of the schema, in schema order, with the subject's records (empty
    /// where the subject has none).
    pub collections: Vec<ExportCollection>,
    /// The consent in force per purpose.
    pub consents: Vec<ConsentNow>,
    /// Every consent decision recorded, oldest first.
    pub consent_history: Vec<ConsentEvent>,
    /// The restriction of processing in force, if any.
    pub restriction: Option<Restriction>,
    /// The subject's rights requests, with their histories, by due date.
    pub requests: Vec<privet_core::RightsRequest>,
    /// Every audit entry about the subject (who used the data, for what, when, which
    /// fields), oldest first, ending with this export's own entry.
    pub access_log: Vec<AccessLogEntry>,
}

/// One collection of the schema and the subject's records in it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportCollection {
    /// The collection name.
    pub name: String,
    /// `profile` or `records`.
    pub kind: &'static str,
    /// What the schema says it is, if it says.
    pub description: Option<String>,
    /// The subject's records, oldest first.
    pub records: Vec<ExportRecord>,
}

/// One record with every value stored in it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRecord {
    /// The record.
    pub id: RecordId,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The values, in schema field order (fields without a value are absent).
    pub values: Vec<ExportValue>,
}

/// One stored value with what the schema declares about it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportValue {
    /// The field.
    pub field: String,
    /// The value (decrypted, as stored after normalization).
    pub value: serde_json::Value,
    /// Its data category (fideslang name, e.g. `user.contact.email`).
    pub category: String,
    /// Whether it is a special category (GDPR Art. 9 / CPRA sensitive).
    pub special_category: bool,
    /// Why it is kept.
    pub purposes: Vec<ExportPurpose>,
}

/// A purpose a value is kept for, in the words of the schema.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPurpose {
    /// The purpose (data-use name).
    pub name: String,
    /// What it means, in plain language.
    pub description: String,
    /// The legal basis it rests on for this field.
    pub legal_basis: &'static str,
}

impl Vault {
    /// Exports everything held about `subject` (admin only), for the purpose
    /// [`SUBJECT_ACCESS`]. One audit entry (action `subject_export`) records it; if that
    /// entry cannot be committed — or the subject was erased meanwhile — the export fails.
    pub async fn export_subject(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<SubjectExport, VaultError> {
        self.require_admin(actor).await?;
        self.export_subject_as(actor, subject).await
    }

    /// [`Vault::export_subject`] without the admin check: for the portal, where the
    /// customer exports their own data (the caller checks the session).
    pub(crate) async fn export_subject_as(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<SubjectExport, VaultError> {
        let data = self
            .inner
            .store
            .load_subject_all(subject)
            .await?
            .ok_or(VaultError::SubjectNotFound(subject))?;
        let history = self.inner.store.consent_history(subject).await?;
        let consent_history = history
            .iter()
            .map(crate::consent::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let requests = self.requests_of(subject).await?;
        let mut access_log = self.whole_access_log(subject).await?;
        let collections = self.export_collections(&data).await?;
        let now = self.now();

        let mut entry = self.entry(actor, Action::SubjectExport);
        entry.subject = Some(subject);
        entry.purpose = Some(SUBJECT_ACCESS.to_owned());
        entry.count = Some(data.records.len() as u64);
        entry.decision = Decision::Allowed;
        let w = WriteSet::new()
            .op(Op::RequireSubject(subject))
            .audit(entry.clone());
        let committed = self.inner.store.apply(w).await?;
        self.observe_export(actor, &entry).await;
        if let Some(index) = committed.first_audit_index {
            access_log.push(AccessLogEntry {
                index,
                time: entry.time,
                actor_name: None,
                actor: entry.actor,
                action: entry.action,
                purpose: entry.purpose,
                collection: None,
                record: None,
                fields: Vec::new(),
                withheld: Vec::new(),
                decision: entry.decision,
                reason: None,
                request_id: entry.request_id,
            });
        }
        Ok(SubjectExport {
            subject,
            subject_created_at: data.subject.created_at,
            generated_at: entry.time,
            purpose: SUBJECT_ACCESS,
            collections,
            consents: data.consents.iter().map(|r| consent_now(r, now)).collect(),
            consent_history,
            restriction: data.restriction.map(|r| Restriction {
                reason: r.reason,
                at: r.at,
                actor: r.actor,
            }),
            requests,
            access_log,
        })
    }

    /// Every access-log entry about `subject`, oldest first.
    async fn whole_access_log(
        &self,
        subject: SubjectId,
    ) -> Result<Vec<AccessLogEntry>, VaultError> {
        let mut log = Vec::new();
        let mut from = 0;
        loop {
            let page = self.access_log_page(subject, from, LOG_PAGE).await?;
            match page.last() {
                Some(last) => from = last.index + 1,
                None => return Ok(log),
            }
            log.extend(page);
        }
    }

    /// Decrypts every stored value of every record, grouped by the schema's collections.
    /// Records of a retention-class collection (orders kept for tax) are sealed under the
    /// subject's class key, the others under its own key: each record opens with its own.
    async fn export_collections(
        &self,
        data: &SubjectData,
    ) -> Result<Vec<ExportCollection>, VaultError> {
        let mut out = Vec::new();
        for coll in self.inner.schema.collections() {
            let released = crate::seal::release_all(coll).released;
            let mut records = Vec::new();
            let mine: Vec<_> = data
                .records
                .iter()
                .filter(|r| r.collection == coll.name)
                .collect();
            let ciphers = match mine.is_empty() {
                true => Vec::new(),
                false => self.read_ciphers(&data.subject, coll).await?,
            };
            for r in mine {
                let Some(cipher) = self.cipher_for(&ciphers, coll, r) else {
                    break;
                };
                let mut opened = self.open_fields(cipher, coll, &released, r)?;
                let values = coll
                    .fields()
                    .filter_map(|f| opened.remove(&f.name).map(|v| (f, v)))
                    .map(|(f, value)| ExportValue {
                        field: f.name.clone(),
                        value,
                        category: f.category.clone(),
                        special_category: f.special_category,
                        purposes: self.export_purposes(coll, &f.name),
                    })
                    .collect();
                records.push(ExportRecord {
                    id: r.id,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                    values,
                });
            }
            out.push(ExportCollection {
                name: coll.name.clone(),
                kind: coll.kind.as_str(),
                description: coll.description.clone(),
                records,
            });
        }
        Ok(out)
    }

    fn export_purposes(&self, coll: &Collection, field: &str) -> Vec<ExportPurpose> {
        let Some(f) = coll.field(field) else {
            return Vec::new();
        };
        f.purposes
            .iter()
            .filter_map(|p| self.inner.schema.purpose(p))
            .map(|p| ExportPurpose {
                name: p.name.clone(),
                description: p.description.clone(),
                legal_basis: f.legal_basis.unwrap_or(p.legal_basis).as_str(),
            })
            .collect()
    }
}
