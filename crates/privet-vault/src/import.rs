//! Bulk import: one atomic write set per batch (a batch with any invalid row writes nothing
//! and reports every invalid row), validated and encrypted while the store commits the
//! previous batch.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use privet_audit::Action;
use privet_core::{CollectionKind, RecordId, SubjectId};
use privet_crypto::FieldCipher;
use privet_store::{ConsentEventRow, WriteSet};
use serde_json::Value;

use crate::consent::StoredConsents;
use crate::write::{Data, validate_all};
use crate::{Actor, ItemErrors, Vault, VaultError};

/// What an imported batch created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Subjects created (profile collection), in row order.
    Subjects(Vec<SubjectId>),
    /// Records created (records collection), in row order.
    Records(Vec<RecordId>),
}

impl ImportOutcome {
    /// How many rows were imported.
    pub fn len(&self) -> usize {
        match self {
            Self::Subjects(v) => v.len(),
            Self::Records(v) => v.len(),
        }
    }

    /// Whether nothing was imported.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Vault {
    /// Imports one batch of rows into `collection`. For the profile collection each row
    /// creates a subject; for a records collection each row must carry `subject_id` naming an
    /// existing subject. The whole batch commits or none of it does.
    pub async fn import_batch(
        &self,
        actor: &Actor,
        collection: &str,
        rows: Vec<Data>,
    ) -> Result<ImportOutcome, VaultError> {
        let coll = self.collection(collection)?;
        match coll.kind {
            CollectionKind::Profile => Ok(ImportOutcome::Subjects(
                self.create_subjects(actor, &rows).await?,
            )),
            CollectionKind::Records => self.import_records(actor, collection, rows).await,
        }
    }

    async fn import_records(
        &self,
        actor: &Actor,
        collection: &str,
        mut rows: Vec<Data>,
    ) -> Result<ImportOutcome, VaultError> {
        let coll = self.records_collection(collection)?;
        let mut owners = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for (index, row) in rows.iter_mut().enumerate() {
            match row.remove("subject_id") {
                Some(Value::String(s)) => match s.parse::<SubjectId>() {
                    Ok(id) => owners.push(id),
                    Err(_) => bad.push(ItemErrors {
                        index,
                        errors: owner_error("is not a subject id"),
                    }),
                },
                _ => bad.push(ItemErrors {
                    index,
                    errors: owner_error("is required (the owning subject's id)"),
                }),
            }
        }
        let valid = match validate_all(coll, &rows) {
            Ok(v) if bad.is_empty() => v,
            Ok(_) => return Err(VaultError::InvalidBatch(bad)),
            Err(VaultError::InvalidBatch(mut more)) => {
                more.extend(bad);
                more.sort_by_key(|e| e.index);
                return Err(VaultError::InvalidBatch(more));
            }
            Err(e) => return Err(e),
        };
        let mut ciphers: HashMap<SubjectId, (FieldCipher, Vec<ConsentEventRow>)> = HashMap::new();
        let mut w = WriteSet::new();
        let mut ids = Vec::with_capacity(valid.len());
        for (owner, v) in owners.into_iter().zip(&valid) {
            let cipher = match ciphers.entry(owner) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(slot) => {
                    // Loading with a fresh record id fetches the subject's key and no records.
                    let probe = RecordId::new();
                    let loaded = self
                        .inner
                        .store
                        .load_subject(owner, &coll.name, Some(probe))
                        .await?;
                    let loaded = loaded.ok_or(VaultError::SubjectNotFound(owner))?;
                    let cipher = self.subject_key(&loaded.subject).await?.cipher();
                    slot.insert((cipher, loaded.consents))
                }
            };
            if let Err(e) = self.check_collect(actor, coll, v, &StoredConsents(&cipher.1)) {
                return Err(self
                    .refuse_write(actor, Action::RecordCreate, Some(owner), coll, e)
                    .await);
            }
            let cipher = &cipher.0;
            let record = RecordId::new();
            let entry = self.stage_record(&mut w, actor, coll, owner, record, cipher, v);
            w.push_audit(&entry);
            ids.push(record);
        }
        self.inner.store.apply(w).await?;
        Ok(ImportOutcome::Records(ids))
    }
}

fn owner_error(message: &str) -> privet_core::ValidationErrors {
    privet_core::ValidationErrors(vec![privet_core::FieldError {
        field: "subject_id".into(),
        code: privet_core::FieldErrorCode::WrongType,
        message: format!("`subject_id` {message}"),
    }])
}
