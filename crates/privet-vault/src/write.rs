//! Writes: create (one or a batch), update, add a record, erase. Each builds one write set —
//! the ops and their audit entries — that the store commits atomically.

use privet_audit::{Action, AuditEntry, Decision};
use privet_core::policy::{WithholdReason, check_write};
use privet_core::{
    Collection, ConsentChange, ConsentView, CurrentConsents, Field, NoConsents, RecordId,
    SubjectId, ValidatedData, WriteMode,
};
use privet_store::{Op, RecordRow, WriteSet};
use serde_json::{Map, Value};

use crate::consent::StoredConsents;
use crate::{Actor, ItemErrors, Vault, VaultError};

/// JSON object data as received.
pub(crate) type Data = Map<String, Value>;

impl Vault {
    /// Whether `actor` may collect the fields of `valid` into `coll` for a subject with
    /// `consents`: one of its roles must grant each field (for some purpose), and each field
    /// needs a lawful basis (a consent-based one only with the consent given).
    pub(crate) fn check_collect(
        &self,
        actor: &Actor,
        coll: &Collection,
        valid: &ValidatedData,
        consents: &dyn ConsentView,
    ) -> Result<(), VaultError> {
        let grants = self.grants(actor);
        let fields: Vec<&Field> = valid
            .fields
            .iter()
            .filter(|(_, v)| v.is_some())
            .filter_map(|(n, _)| coll.field(n))
            .collect();
        let ungranted: Vec<&str> = fields
            .iter()
            .filter(|f| {
                !f.purposes
                    .iter()
                    .any(|p| grants.get(p, &coll.name, &f.name).is_some())
            })
            .map(|f| f.name.as_str())
            .collect();
        if !ungranted.is_empty() {
            return Err(VaultError::Forbidden {
                reason: WithholdReason::NotGranted,
                detail: format!(
                    "no role of this caller grants writing {} of `{}`",
                    ungranted.join(", "),
                    coll.name
                ),
            });
        }
        check_write(&self.inner.schema, fields, consents, self.now())
            .map_err(VaultError::WriteRefused)
    }

    /// Records a refused write in the audit trail (decision `denied`, with its reason) and
    /// returns the error. Nothing was written.
    pub(crate) async fn refuse_write(
        &self,
        actor: &Actor,
        action: Action,
        subject: Option<SubjectId>,
        coll: &Collection,
        err: VaultError,
    ) -> VaultError {
        let reason = match &err {
            VaultError::Forbidden { reason, .. } => *reason,
            VaultError::WriteRefused(r) => {
                r.0.first().map_or(WithholdReason::NoConsent, |r| r.reason)
            }
            _ => return err,
        };
        let mut e = self.entry(actor, action);
        e.subject = subject;
        e.collection = Some(coll.name.clone());
        e.decision = Decision::Denied;
        e.reason = Some(reason.as_str().to_owned());
        if let VaultError::WriteRefused(r) = &err {
            e.withheld =
                r.0.iter()
                    .map(|r| privet_audit::WithheldField {
                        field: r.field.clone(),
                        reason: r.reason.as_str().to_owned(),
                    })
                    .collect();
        }
        match self
            .inner
            .store
            .apply(WriteSet::new().audit(e.clone()))
            .await
        {
            Ok(_) => {
                // A caller refused by its grants counts as a denial; data refused for want
                // of a lawful basis is reported, not held against the caller.
                if matches!(err, VaultError::Forbidden { .. }) {
                    self.observe_refusal(actor, &e).await;
                } else {
                    self.report_refusal(&e);
                }
                err
            }
            Err(store) => store.into(),
        }
    }

    /// Creates a subject with its profile. Returns its id.
    pub async fn create_subject(
        &self,
        actor: &Actor,
        data: &Data,
    ) -> Result<SubjectId, VaultError> {
        self.create_subject_with_consents(actor, data, Vec::new(), false)
            .await
    }

    /// Creates a subject with its profile and the consents it gave (recorded in the same
    /// transaction, before the profile's fields are checked against them). With `gpc` the
    /// request carried `Sec-GPC: 1`: sale-or-sharing purposes are recorded as denied and may
    /// not be granted.
    pub async fn create_subject_with_consents(
        &self,
        actor: &Actor,
        data: &Data,
        consents: Vec<(String, ConsentChange)>,
        gpc: bool,
    ) -> Result<SubjectId, VaultError> {
        let profile = self.profile()?;
        let valid = profile.validate(data, WriteMode::Create)?;
        let events = if consents.is_empty() && !gpc {
            Vec::new()
        } else {
            self.consent_events(actor, consents, gpc)?
        };
        let current = CurrentConsents::from_history(&events);
        if let Err(e) = self.check_collect(actor, profile, &valid, &current) {
            return Err(self
                .refuse_write(actor, Action::SubjectCreate, None, profile, e)
                .await);
        }
        let mut w = WriteSet::new();
        let id = self.stage_subject(&mut w, actor, profile, &valid)?;
        self.stage_consents(&mut w, actor, id, &events);
        self.inner.store.apply(w).await?;
        Ok(id)
    }

    /// Creates many subjects atomically: if any item is invalid, nothing is written and the
    /// error lists every invalid item by index.
    pub async fn create_subjects(
        &self,
        actor: &Actor,
        items: &[Data],
    ) -> Result<Vec<SubjectId>, VaultError> {
        let profile = self.profile()?;
        let valid = validate_all(profile, items)?;
        for v in &valid {
            if let Err(e) = self.check_collect(actor, profile, v, &NoConsents) {
                return Err(self
                    .refuse_write(actor, Action::SubjectCreate, None, profile, e)
                    .await);
            }
        }
        let mut w = WriteSet::new();
        let mut ids = Vec::with_capacity(valid.len());
        for v in &valid {
            ids.push(self.stage_subject(&mut w, actor, profile, v)?);
        }
        self.inner.store.apply(w).await?;
        Ok(ids)
    }

    /// Adds the ops and audit entry creating one subject to `w`.
    pub(crate) fn stage_subject(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        profile: &Collection,
        valid: &ValidatedData,
    ) -> Result<SubjectId, VaultError> {
        let (row, key) = self.new_subject()?;
        let id = row.id;
        let record = RecordId::new();
        let sealed = self.seal(&key.cipher(), profile, id, record, valid);
        let now = row.created_at;
        let mut entry = self.entry(actor, Action::SubjectCreate);
        entry.subject = Some(id);
        entry.collection = Some(profile.name.clone());
        entry.record = Some(record);
        entry.fields = sealed.fields.iter().map(|(n, _)| n.clone()).collect();
        w.ops.push(Op::CreateSubject(row));
        w.ops.push(Op::PutRecord {
            record: RecordRow {
                id: record,
                subject: id,
                collection: profile.name.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
                fields: sealed.fields,
            },
            expected_version: None,
        });
        w.ops.extend(sealed.index.into_iter().map(Op::PutIndex));
        w.push_audit(&entry);
        Ok(id)
    }

    /// Changes some profile fields (`null` removes an optional field). Fails with `Conflict`
    /// if another write changed the profile meanwhile.
    pub async fn update_subject(
        &self,
        actor: &Actor,
        id: SubjectId,
        patch: &Data,
    ) -> Result<(), VaultError> {
        let profile = self.profile()?;
        let valid = profile.validate(patch, WriteMode::Patch)?;
        let loaded = self
            .inner
            .store
            .load_subject(id, &profile.name, None)
            .await?;
        let loaded = loaded.ok_or(VaultError::SubjectNotFound(id))?;
        if let Err(e) =
            self.check_collect(actor, profile, &valid, &StoredConsents(&loaded.consents))
        {
            return Err(self
                .refuse_write(actor, Action::SubjectUpdate, Some(id), profile, e)
                .await);
        }
        let Some(old) = loaded.records.into_iter().next() else {
            return Err(VaultError::SubjectNotFound(id));
        };
        let key = self.subject_key(&loaded.subject).await?;
        let sealed = self.seal(&key.cipher(), profile, id, old.id, &valid);
        let changed: Vec<String> = valid.fields.iter().map(|(n, _)| n.clone()).collect();
        let mut fields: Vec<(String, Vec<u8>)> = old
            .fields
            .into_iter()
            .filter(|(n, _)| !changed.contains(n))
            .collect();
        fields.extend(sealed.fields);
        let mut w = WriteSet::new();
        for name in &changed {
            if profile.field(name).is_some_and(|f| f.searchable) {
                w.ops.push(Op::DeleteIndex {
                    record: old.id,
                    field: name.clone(),
                });
            }
        }
        w.ops.extend(sealed.index.into_iter().map(Op::PutIndex));
        w.ops.insert(
            0,
            Op::PutRecord {
                record: RecordRow {
                    id: old.id,
                    subject: id,
                    collection: profile.name.clone(),
                    version: old.version + 1,
                    created_at: old.created_at,
                    updated_at: self.now(),
                    fields,
                },
                expected_version: Some(old.version),
            },
        );
        // First, as in `add_record`: the subject row's lock is taken once, in its final mode.
        w.ops.insert(
            0,
            Op::TouchSubject {
                subject: id,
                at: self.now(),
            },
        );
        let mut entry = self.entry(actor, Action::SubjectUpdate);
        entry.subject = Some(id);
        entry.collection = Some(profile.name.clone());
        entry.record = Some(old.id);
        entry.fields = changed;
        self.inner.store.apply(w.audit(entry)).await?;
        Ok(())
    }

    /// Adds a record to a records collection of a subject. Returns its id.
    pub async fn add_record(
        &self,
        actor: &Actor,
        subject: SubjectId,
        collection: &str,
        data: &Data,
    ) -> Result<RecordId, VaultError> {
        let coll = self.records_collection(collection)?;
        let valid = coll.validate(data, WriteMode::Create)?;
        let record = RecordId::new();
        // Loading with the new record's id fetches the subject's key and no records.
        let loaded = self
            .inner
            .store
            .load_subject(subject, &coll.name, Some(record))
            .await?;
        let loaded = loaded.ok_or(VaultError::SubjectNotFound(subject))?;
        if let Err(e) = self.check_collect(actor, coll, &valid, &StoredConsents(&loaded.consents)) {
            return Err(self
                .refuse_write(actor, Action::RecordCreate, Some(subject), coll, e)
                .await);
        }
        // Two writers may both create the subject's first class key: the loser retries once
        // and uses the winner's.
        for attempt in 0..2 {
            let mut w = WriteSet::new();
            // Activity first: on PostgreSQL it locks the subject row in the mode an erasure
            // waits on before the record's foreign-key check takes a weaker one (an upgrade
            // behind a waiting erasure would deadlock).
            w.ops.push(Op::TouchSubject {
                subject,
                at: self.now(),
            });
            let cipher = self.write_cipher(&loaded.subject, coll, &mut w).await?;
            let entry = self.stage_record(&mut w, actor, coll, subject, record, &cipher, &valid);
            match self.inner.store.apply(w.audit(entry)).await {
                Ok(_) => return Ok(record),
                Err(privet_store::StoreError::AlreadyExists(_)) if attempt == 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Conflict)
    }

    /// Adds the ops creating one record to `w` and returns its audit entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage_record(
        &self,
        w: &mut WriteSet,
        actor: &Actor,
        coll: &Collection,
        subject: SubjectId,
        record: RecordId,
        cipher: &privet_crypto::FieldCipher,
        valid: &ValidatedData,
    ) -> AuditEntry {
        let sealed = self.seal(cipher, coll, subject, record, valid);
        let now = self.now();
        let mut entry = self.entry(actor, Action::RecordCreate);
        entry.subject = Some(subject);
        entry.collection = Some(coll.name.clone());
        entry.record = Some(record);
        entry.fields = sealed.fields.iter().map(|(n, _)| n.clone()).collect();
        w.ops.push(Op::PutRecord {
            record: RecordRow {
                id: record,
                subject,
                collection: coll.name.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
                fields: sealed.fields,
            },
            expected_version: None,
        });
        w.ops.extend(sealed.index.into_iter().map(Op::PutIndex));
        entry
    }
}

/// Validates every item; collects the errors of all invalid ones.
pub(crate) fn validate_all(
    coll: &Collection,
    items: &[Data],
) -> Result<Vec<ValidatedData>, VaultError> {
    let mut valid = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match coll.validate(item, WriteMode::Create) {
            Ok(v) => valid.push(v),
            Err(errors) => bad.push(ItemErrors { index, errors }),
        }
    }
    if bad.is_empty() {
        Ok(valid)
    } else {
        Err(VaultError::InvalidBatch(bad))
    }
}
