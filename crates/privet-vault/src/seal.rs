//! Sealing and opening: the only place where values meet keys. Writes encrypt each field
//! under the subject key with AAD binding (collection, record, field, subject); reads decrypt
//! only the fields the policy releases.

use privet_core::{Collection, Field, Purpose, RecordId, SubjectId, ValidatedData};
use privet_core::{NoConsents, Outcome, ReadContext};
use privet_crypto::{FieldAad, FieldCipher, KeyVersion, SubjectKey, WrappedKey};
use privet_store::{IndexEntry, SubjectRow};

use crate::{Vault, VaultError, Withheld};

/// The policy's verdict for every declared field of a collection, for one purpose.
pub(crate) struct Verdicts<'a> {
    pub(crate) released: Vec<&'a Field>,
    pub(crate) withheld: Vec<Withheld>,
}

impl Vault {
    /// A new subject: fresh id, fresh subject key, wrapped under the current master key.
    pub(crate) fn new_subject(&self) -> Result<(SubjectRow, SubjectKey), VaultError> {
        let id = SubjectId::new();
        let key = SubjectKey::generate();
        let wrapped =
            self.inner
                .keys
                .wrap_subject_key(&id, &key)
                .map_err(|e| VaultError::Integrity {
                    context: format!("wrapping key of {id}: {e}"),
                })?;
        let row = SubjectRow {
            id,
            key_version: wrapped.version.0,
            wrapped_key: wrapped.bytes,
            created_at: self.now(),
        };
        Ok((row, key))
    }

    /// Unwraps a stored subject key. Failure means tampering or a key mix-up.
    pub(crate) fn subject_key(&self, row: &SubjectRow) -> Result<SubjectKey, VaultError> {
        let wrapped = WrappedKey {
            version: KeyVersion(row.key_version),
            bytes: row.wrapped_key.clone(),
        };
        self.inner
            .keys
            .unwrap_subject_key(&row.id, &wrapped)
            .map_err(|e| {
                tracing::error!(subject = %row.id, error = %e, "subject key failed to unwrap");
                VaultError::Integrity {
                    context: format!("key of subject {}", row.id),
                }
            })
    }

    /// Encrypts the validated fields of one record and computes its blind-index entries.
    /// Fields validated as `None` (a patch removing them) are returned as removals.
    pub(crate) fn seal(
        &self,
        cipher: &FieldCipher,
        collection: &Collection,
        subject: SubjectId,
        record: RecordId,
        data: &ValidatedData,
    ) -> Sealed {
        let mut sealed = Sealed::default();
        for (name, value) in &data.fields {
            match value {
                Some(plain) => {
                    let aad = FieldAad {
                        collection: &collection.name,
                        record: &record,
                        field: name,
                        subject: &subject,
                    };
                    sealed
                        .fields
                        .push((name.clone(), cipher.encrypt_field(&aad, plain.expose())));
                }
                None => sealed.removed.push(name.clone()),
            }
        }
        for (name, term) in &data.index_terms {
            let unique = collection.field(name).is_some_and(|f| f.unique);
            sealed.index.push(IndexEntry {
                collection: collection.name.clone(),
                field: name.clone(),
                term: self
                    .inner
                    .keys
                    .blind_index(&collection.name, name, term.expose())
                    .to_vec(),
                subject,
                record,
                unique,
            });
        }
        sealed
    }

    /// Decides, field by field, what `purpose` may see of `collection`.
    pub(crate) fn verdicts<'a>(
        &self,
        collection: &'a Collection,
        purpose: &Purpose,
    ) -> Verdicts<'a> {
        let mut v = Verdicts {
            released: Vec::new(),
            withheld: Vec::new(),
        };
        // Consents, restriction, masking and tokenizing are not wired in yet: the vault
        // reads with no consents, no restriction and full plain grants.
        let ctx = ReadContext::new(&self.inner.grants, purpose, &NoConsents, false, self.now());
        for field in collection.fields() {
            match ctx.decide(&collection.name, field).outcome {
                Outcome::Plain => v.released.push(field),
                Outcome::Withheld(reason) => v.withheld.push(Withheld {
                    field: field.name.clone(),
                    reason: reason.as_str().to_owned(),
                }),
                // Full plain grants never mask or tokenize.
                Outcome::Masked | Outcome::Tokenized => v.withheld.push(Withheld {
                    field: field.name.clone(),
                    reason: privet_core::WithholdReason::NotGranted.as_str().to_owned(),
                }),
            }
        }
        v
    }

    /// Decrypts and decodes the released fields of one stored record.
    pub(crate) fn open_fields(
        &self,
        cipher: &FieldCipher,
        collection: &Collection,
        released: &[&Field],
        record: &privet_store::RecordRow,
    ) -> Result<serde_json::Map<String, serde_json::Value>, VaultError> {
        let mut out = serde_json::Map::new();
        for field in released {
            let Some((_, ct)) = record.fields.iter().find(|(n, _)| *n == field.name) else {
                continue;
            };
            let aad = FieldAad {
                collection: &collection.name,
                record: &record.id,
                field: &field.name,
                subject: &record.subject,
            };
            let integrity = |what: &str| {
                tracing::error!(subject = %record.subject, record = %record.id, field = %field.name, "{what}");
                VaultError::Integrity {
                    context: format!("{}.{} of record {}", collection.name, field.name, record.id),
                }
            };
            let plain = cipher
                .decrypt_field(&aad, ct)
                .map_err(|_| integrity("field failed to decrypt"))?;
            let value = field
                .decode(plain.expose())
                .map_err(|_| integrity("field failed to decode"))?;
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }
}

/// The encrypted form of one record write.
#[derive(Default)]
pub(crate) struct Sealed {
    /// `(field, ciphertext)` for every field written.
    pub(crate) fields: Vec<(String, Vec<u8>)>,
    /// Fields a patch removes.
    pub(crate) removed: Vec<String>,
    /// Blind-index entries of the searchable fields written.
    pub(crate) index: Vec<IndexEntry>,
}
