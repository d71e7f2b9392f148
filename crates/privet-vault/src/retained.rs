//! Retention-class keys in use: records of collections the law obliges the business to keep
//! (see `privet_core::erasure`) are sealed under the subject's key of that class, created on
//! the first such record, so an erasure can destroy the subject's own key and keep them.
//!
//! Records written before retention classes existed are under the subject's own key; reads
//! try the class key first and then the subject key (AEAD authentication makes the wrong
//! key fail, never decrypt to garbage), and an erasure re-seals such records it keeps under
//! the class key before the subject key is destroyed.

use privet_audit::{Action, Decision};
use privet_core::erasure::retention_class;
use privet_core::policy::WithholdReason;
use privet_core::{Collection, LegalBasis, NoConsents, Purpose, ReadContext, RecordId, SubjectId};
use privet_crypto::{CryptoError, FieldAad, FieldCipher, KeyVersion, SubjectKey, WrappedKey};
use privet_store::{Op, RecordRow, RetainedKeyRow, SubjectRow, WriteSet};

use crate::seal::Verdicts;
use crate::{Actor, RecordView, Vault, VaultError};

impl Vault {
    /// The retention class of `coll`, if its records are kept by legal obligation.
    pub(crate) fn retention_class(&self, coll: &Collection) -> Option<&'static str> {
        retention_class(&self.inner.schema, coll)
    }

    /// Unwraps a stored class key. Failure means tampering or a key mix-up. A key wrapped
    /// under a version this vault does not hold yet (rotated by another process) makes it
    /// re-read its key source once and try again, as for a subject key.
    pub(crate) async fn class_key(&self, row: &RetainedKeyRow) -> Result<SubjectKey, VaultError> {
        let wrapped = WrappedKey {
            version: KeyVersion(row.key_version),
            bytes: row.wrapped_key.clone(),
        };
        let mut result = self
            .keys()
            .unwrap_class_key(&row.subject, &row.class, &wrapped);
        if let Err(CryptoError::UnknownKeyVersion(v)) = result
            && self.reload_keys_on_miss(v).await
        {
            result = self
                .keys()
                .unwrap_class_key(&row.subject, &row.class, &wrapped);
        }
        result.map_err(|e| {
            tracing::error!(subject = %row.subject, class = %row.class, error = %e, "class key failed to unwrap");
            VaultError::Integrity {
                context: format!("{} key of subject {}", row.class, row.subject),
            }
        })
    }

    /// A fresh key of `class` for `subject` and the op storing it, wrapped.
    pub(crate) fn new_class_key(
        &self,
        subject: SubjectId,
        class: &str,
    ) -> Result<(SubjectKey, Op), VaultError> {
        let key = SubjectKey::generate();
        let wrapped = self
            .keys()
            .wrap_class_key(&subject, class, &key)
            .map_err(|e| VaultError::Integrity {
                context: format!("wrapping the {class} key of {subject}: {e}"),
            })?;
        let row = RetainedKeyRow {
            subject,
            class: class.to_owned(),
            key_version: wrapped.version.0,
            wrapped_key: wrapped.bytes,
            created_at: self.now(),
        };
        Ok((key, Op::PutRetainedKey(row)))
    }

    /// The subject's key of `class`, if it has one.
    pub(crate) async fn stored_class_key(
        &self,
        subject: SubjectId,
        class: &str,
    ) -> Result<Option<SubjectKey>, VaultError> {
        let keys = self.inner.store.retained_keys(subject).await?;
        match keys.iter().find(|k| k.class == class) {
            Some(k) => Ok(Some(self.class_key(k).await?)),
            None => Ok(None),
        }
    }

    /// The cipher that new records of `coll` are sealed with: the subject's key of the
    /// collection's retention class (created and staged in `w` on the first such record), or
    /// else the subject's own key.
    pub(crate) async fn write_cipher(
        &self,
        subject: &SubjectRow,
        coll: &Collection,
        w: &mut WriteSet,
    ) -> Result<FieldCipher, VaultError> {
        let Some(class) = self.retention_class(coll) else {
            return Ok(self.subject_key(subject).await?.cipher());
        };
        if let Some(key) = self.stored_class_key(subject.id, class).await? {
            return Ok(key.cipher());
        }
        let (key, op) = self.new_class_key(subject.id, class)?;
        w.ops.push(op);
        Ok(key.cipher())
    }

    /// The ciphers records of `coll` of a live subject may be sealed under, most likely
    /// first: the class key, then the subject's own key.
    pub(crate) async fn read_ciphers(
        &self,
        subject: &SubjectRow,
        coll: &Collection,
    ) -> Result<Vec<FieldCipher>, VaultError> {
        let mut out = Vec::with_capacity(2);
        if let Some(class) = self.retention_class(coll)
            && let Some(key) = self.stored_class_key(subject.id, class).await?
        {
            out.push(key.cipher());
        }
        out.push(self.subject_key(subject).await?.cipher());
        Ok(out)
    }

    /// Which of `ciphers` `record` is sealed under, found by opening one of its fields; the
    /// last one when none opens it (its decryption then reports the integrity failure).
    pub(crate) fn cipher_for<'c>(
        &self,
        ciphers: &'c [FieldCipher],
        coll: &Collection,
        record: &RecordRow,
    ) -> Option<&'c FieldCipher> {
        if ciphers.len() < 2 {
            return ciphers.first();
        }
        let Some((field, ct)) = record.fields.first() else {
            return ciphers.first();
        };
        let aad = FieldAad {
            collection: &coll.name,
            record: &record.id,
            field,
            subject: &record.subject,
        };
        ciphers
            .iter()
            .find(|c| c.decrypt_field(&aad, ct).is_ok())
            .or(ciphers.last())
    }

    /// Reads the records an erasure kept of `subject` in `coll`: only for purposes whose
    /// legal basis is `legal_obligation` (any other is refused, audited, with reason
    /// `erased_retained`), only records whose retention has not run out, each field decided
    /// by the policy as for any read, and audited like any read.
    pub(crate) async fn read_retained(
        &self,
        actor: &Actor,
        subject: SubjectId,
        coll: &Collection,
        record: Option<RecordId>,
        purpose: &Purpose,
    ) -> Result<Vec<RecordView>, VaultError> {
        let kept = match self.retention_class(coll) {
            Some(_) => {
                self.inner
                    .store
                    .load_retained(subject, &coll.name, record)
                    .await?
            }
            None => None,
        };
        // A subject erased with nothing kept is gone, as an unknown one.
        let Some(mut kept) = kept.filter(|k| !k.keys.is_empty()) else {
            return Err(VaultError::SubjectNotFound(subject));
        };
        if purpose.legal_basis != LegalBasis::LegalObligation {
            let detail = format!(
                "subject {subject} was erased; its kept `{}` records may only be read for a \
                 purpose whose legal basis is legal_obligation",
                coll.name
            );
            return Err(self
                .deny(
                    actor,
                    Action::RecordRead,
                    Some(subject),
                    coll,
                    purpose,
                    WithholdReason::ErasedRetained,
                    detail,
                )
                .await);
        }
        let now = self.now();
        kept.records.retain(|r| r.keep_until > now);
        if let (Some(id), true) = (record, kept.records.is_empty()) {
            return Err(VaultError::RecordNotFound(id));
        }
        let ctx =
            ReadContext::new(self.grants(actor), purpose, &NoConsents, false, now).erased(true);
        let v = Verdicts::decide(&ctx, coll);
        let mut views = Vec::with_capacity(kept.records.len());
        for r in &kept.records {
            let data = if v.released.is_empty() {
                Default::default()
            } else {
                let row = kept
                    .keys
                    .iter()
                    .find(|k| k.class == r.class)
                    .ok_or_else(|| VaultError::Integrity {
                        context: format!("{} key of subject {subject} is missing", r.class),
                    })?;
                let cipher = self.class_key(row).await?.cipher();
                self.open_fields(&cipher, coll, &v.released, &r.record)?
            };
            views.push(RecordView {
                id: r.record.id,
                created_at: r.record.created_at,
                data,
                withheld: v.withheld.clone(),
            });
        }
        let mut e = self.entry(actor, Action::RecordRead);
        e.subject = Some(subject);
        e.collection = Some(coll.name.clone());
        e.purpose = Some(purpose.name.clone());
        e.record = record;
        e.count = Some(views.len() as u64);
        e.fields = v.released.iter().map(|r| r.field.name.clone()).collect();
        e.withheld = v
            .withheld
            .iter()
            .map(|w| privet_audit::WithheldField {
                field: w.field.clone(),
                reason: w.reason.clone(),
            })
            .collect();
        e.decision = match (v.released.is_empty(), v.withheld.is_empty()) {
            (_, true) => Decision::Allowed,
            (true, false) => Decision::Denied,
            (false, false) => Decision::Partial,
        };
        e.reason = Some("erased_retained".into());
        self.inner
            .store
            .apply(WriteSet::new().audit(e.clone()))
            .await?;
        self.observe_reads(actor, std::slice::from_ref(&e)).await;
        Ok(views)
    }
}
