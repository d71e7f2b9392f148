//! Reads: every read states a purpose, releases only what the policy allows, and is on the
//! record before anything leaves — a read whose audit entry cannot be committed fails.

use privet_audit::{Action, AuditEntry, Decision, WithheldField};
use privet_core::policy::{WithholdReason, check_lookup};
use privet_core::{Collection, Purpose, RecordId, SubjectId};
use privet_store::{Op, SubjectData, WriteSet};

use crate::seal::Verdicts;
use crate::{Actor, RecordView, SubjectView, Vault, VaultError};

fn decision(v: &Verdicts<'_>) -> Decision {
    match (v.released.is_empty(), v.withheld.is_empty()) {
        (_, true) => Decision::Allowed,
        (true, false) => Decision::Denied,
        (false, false) => Decision::Partial,
    }
}

impl Vault {
    fn read_entry(
        &self,
        actor: &Actor,
        action: Action,
        coll: &Collection,
        purpose: &str,
        v: &Verdicts<'_>,
    ) -> AuditEntry {
        let mut e = self.entry(actor, action);
        e.collection = Some(coll.name.clone());
        e.purpose = Some(purpose.to_owned());
        e.fields = v.released.iter().map(|r| r.field.name.clone()).collect();
        e.withheld = v
            .withheld
            .iter()
            .map(|w| WithheldField {
                field: w.field.clone(),
                reason: w.reason.clone(),
            })
            .collect();
        e.decision = decision(v);
        e
    }

    /// Commits the audit entries of a read, each conditional on its subject still existing
    /// (a read racing an erasure fails instead of releasing erased data).
    async fn record_reads(
        &self,
        actor: &Actor,
        subjects: &[SubjectId],
        entries: Vec<AuditEntry>,
    ) -> Result<(), VaultError> {
        let mut w = WriteSet::new();
        w.ops
            .extend(subjects.iter().map(|s| Op::RequireSubject(*s)));
        for e in &entries {
            w.push_audit(e);
        }
        self.inner.store.apply(w).await?;
        self.observe_reads(actor, &entries).await;
        Ok(())
    }

    /// Records a refused access (decision `denied`, with the policy's reason) and returns
    /// the error to give the caller. Nothing was read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn deny(
        &self,
        actor: &Actor,
        action: Action,
        subject: Option<SubjectId>,
        coll: &Collection,
        purpose: &Purpose,
        reason: WithholdReason,
        detail: String,
    ) -> VaultError {
        let mut e = self.entry(actor, action);
        e.subject = subject;
        e.collection = Some(coll.name.clone());
        e.purpose = Some(purpose.name.clone());
        e.decision = Decision::Denied;
        e.reason = Some(reason.as_str().to_owned());
        match self
            .inner
            .store
            .apply(WriteSet::new().audit(e.clone()))
            .await
        {
            Ok(_) => {
                self.observe_refusal(actor, &e).await;
                VaultError::Forbidden { reason, detail }
            }
            Err(err) => err.into(),
        }
    }

    /// Fails (audited) unless some role of `actor` grants `purpose`.
    async fn require_purpose(
        &self,
        actor: &Actor,
        action: Action,
        subject: Option<SubjectId>,
        coll: &Collection,
        purpose: &Purpose,
    ) -> Result<(), VaultError> {
        if self.grants(actor).grants_purpose(&purpose.name) {
            return Ok(());
        }
        let detail = format!("no role of this caller grants purpose `{}`", purpose.name);
        Err(self
            .deny(
                actor,
                action,
                subject,
                coll,
                purpose,
                WithholdReason::NotGranted,
                detail,
            )
            .await)
    }

    async fn profile_view(
        &self,
        profile: &Collection,
        v: &Verdicts<'_>,
        data: &SubjectData,
    ) -> Result<SubjectView, VaultError> {
        let mut view = SubjectView {
            id: data.subject.id,
            data: Default::default(),
            withheld: v.withheld.clone(),
        };
        if let (Some(record), false) = (data.records.first(), v.released.is_empty()) {
            let key = self.subject_key(&data.subject).await?;
            view.data = self.open_fields(&key.cipher(), profile, &v.released, record)?;
        }
        Ok(view)
    }

    /// Reads a subject's profile for a purpose.
    pub async fn read_subject(
        &self,
        actor: &Actor,
        id: SubjectId,
        purpose: Option<&str>,
    ) -> Result<SubjectView, VaultError> {
        self.read_subject_with(actor, id, purpose, true).await
    }

    /// The read path of [`Vault::read_subject`] with the policy engine and the consent
    /// lookup bypassed (every field released in plain, still decrypted and audited) — the
    /// baseline of the benchmark that measures what the policy costs. Exists only in builds
    /// with the `bench-internals` feature, which the `privet` binary never enables.
    #[cfg(feature = "bench-internals")]
    #[doc(hidden)]
    pub async fn read_subject_bypassing_policy(
        &self,
        actor: &Actor,
        id: SubjectId,
        purpose: Option<&str>,
    ) -> Result<SubjectView, VaultError> {
        self.read_subject_with(actor, id, purpose, false).await
    }

    async fn read_subject_with(
        &self,
        actor: &Actor,
        id: SubjectId,
        purpose: Option<&str>,
        policy: bool,
    ) -> Result<SubjectView, VaultError> {
        let purpose = self.purpose(purpose)?;
        let profile = self.profile()?;
        if policy {
            self.require_purpose(actor, Action::SubjectRead, Some(id), profile, purpose)
                .await?;
        }
        let data = self
            .inner
            .store
            .load_subject(id, &profile.name, None)
            .await?;
        let data = data.ok_or(VaultError::SubjectNotFound(id))?;
        let v = if policy {
            self.verdicts(self.grants(actor), profile, purpose, &data)
        } else {
            crate::seal::release_all(profile)
        };
        let view = self.profile_view(profile, &v, &data).await?;
        let mut entry = self.read_entry(actor, Action::SubjectRead, profile, &purpose.name, &v);
        entry.subject = Some(id);
        entry.record = data.records.first().map(|r| r.id);
        self.record_reads(actor, &[id], vec![entry]).await?;
        Ok(view)
    }

    /// Finds subjects whose searchable profile field equals `value` (after normalization),
    /// through the blind index, and reads each for the purpose. The purpose must be one the
    /// field is declared for.
    pub async fn find_subjects(
        &self,
        actor: &Actor,
        field: &str,
        value: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<SubjectView>, VaultError> {
        let purpose = self.purpose(purpose)?;
        let profile = self.profile()?;
        let f = profile
            .field(field)
            .filter(|f| f.searchable)
            .ok_or_else(|| VaultError::NotSearchable(field.to_owned()))?;
        if let Err(reason) = check_lookup(self.grants(actor), purpose, &profile.name, f) {
            let detail = match reason {
                WithholdReason::NotGranted => format!(
                    "no role of this caller grants looking up by `{field}` for purpose `{}`",
                    purpose.name
                ),
                _ => format!(
                    "field `{field}` may not be used for purpose `{}` ({reason})",
                    purpose.name
                ),
            };
            let err = self
                .deny(
                    actor,
                    Action::SubjectLookup,
                    None,
                    profile,
                    purpose,
                    reason,
                    detail,
                )
                .await;
            return Err(match (reason, err) {
                (WithholdReason::NotGranted, err) | (_, err @ VaultError::Store(_)) => err,
                _ => VaultError::LookupNotAllowed {
                    field: field.to_owned(),
                    purpose: purpose.name.clone(),
                },
            });
        }
        let term = f
            .normalize_query(value)
            .map_err(|e| VaultError::Invalid(privet_core::ValidationErrors(vec![e])))?;
        // Each hit comes loaded with the lookup, in its snapshot (one round trip).
        let found = self
            .lookup_term(&profile.name, field, term.expose())
            .await?;
        let mut views = Vec::with_capacity(found.len());
        let mut subjects = Vec::with_capacity(found.len());
        let mut entries = Vec::with_capacity(found.len().max(1));
        for data in found {
            let (subject, Some(record)) = (data.subject.id, data.records.first().map(|r| r.id))
            else {
                continue;
            };
            let v = self.verdicts(self.grants(actor), profile, purpose, &data);
            views.push(self.profile_view(profile, &v, &data).await?);
            let mut e = self.read_entry(actor, Action::SubjectLookup, profile, &purpose.name, &v);
            e.subject = Some(subject);
            e.record = Some(record);
            e.reason = Some(format!("lookup_by:{field}"));
            entries.push(e);
            subjects.push(subject);
        }
        if entries.is_empty() {
            let mut e = self.entry(actor, Action::SubjectLookup);
            e.collection = Some(profile.name.clone());
            e.purpose = Some(purpose.name.clone());
            e.count = Some(0);
            e.reason = Some(format!("lookup_by:{field}"));
            entries.push(e);
        }
        self.record_reads(actor, &subjects, entries).await?;
        Ok(views)
    }

    /// Reads the records of a collection of a subject (one record when `record` is given).
    pub async fn read_records(
        &self,
        actor: &Actor,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
        purpose: Option<&str>,
    ) -> Result<Vec<RecordView>, VaultError> {
        let purpose = self.purpose(purpose)?;
        let coll = self.records_collection(collection)?;
        self.require_purpose(actor, Action::RecordRead, Some(subject), coll, purpose)
            .await?;
        let data = self
            .inner
            .store
            .load_subject(subject, &coll.name, record)
            .await?;
        let Some(data) = data else {
            // An erased subject may have records kept by legal obligation.
            return self
                .read_retained(actor, subject, coll, record, purpose)
                .await;
        };
        if let (Some(id), true) = (record, data.records.is_empty()) {
            return Err(VaultError::RecordNotFound(id));
        }
        let v = self.verdicts(self.grants(actor), coll, purpose, &data);
        let ciphers = if v.released.is_empty() || data.records.is_empty() {
            Vec::new()
        } else {
            self.read_ciphers(&data.subject, coll).await?
        };
        let mut views = Vec::with_capacity(data.records.len());
        for r in &data.records {
            let fields = match self.cipher_for(&ciphers, coll, r) {
                Some(c) => self.open_fields(c, coll, &v.released, r)?,
                None => Default::default(),
            };
            views.push(RecordView {
                id: r.id,
                created_at: r.created_at,
                data: fields,
                withheld: v.withheld.clone(),
            });
        }
        let mut e = self.read_entry(actor, Action::RecordRead, coll, &purpose.name, &v);
        e.subject = Some(subject);
        e.record = record;
        e.count = Some(views.len() as u64);
        self.record_reads(actor, &[subject], vec![e]).await?;
        Ok(views)
    }
}
