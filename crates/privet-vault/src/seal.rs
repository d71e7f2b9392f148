//! Sealing and opening: the only place where values meet keys. Writes encrypt each field
//! under the subject key with AAD binding (collection, record, field, subject); reads decrypt
//! only the fields the policy releases.

use privet_core::policy::WithholdReason;
use privet_core::{
    Access, Collection, Field, Grants, Purpose, ReadContext, RecordId, SubjectId, ValidatedData,
    mask, token_input,
};
use privet_crypto::{
    CryptoError, FieldAad, FieldCipher, KeyVersion, SubjectKey, Tokenizer, WrappedKey,
};
use privet_store::{IndexEntry, SubjectData, SubjectRow};

use crate::consent::StoredConsents;
use crate::{Vault, VaultError, Withheld};

/// The policy's verdict for every declared field of a collection, for one purpose and one
/// subject.
pub(crate) struct Verdicts<'a> {
    pub(crate) released: Vec<Released<'a>>,
    pub(crate) withheld: Vec<Withheld>,
}

impl<'a> Verdicts<'a> {
    /// Decides every declared field of `collection` in `ctx`.
    pub(crate) fn decide(ctx: &ReadContext<'a>, collection: &'a Collection) -> Verdicts<'a> {
        let mut v = Verdicts {
            released: Vec::new(),
            withheld: Vec::new(),
        };
        for field in collection.fields() {
            let d = ctx.decide(&collection.name, field);
            match (d.outcome.access(), d.role) {
                (Some(access), Some(role)) => v.released.push(Released {
                    field,
                    access,
                    role,
                }),
                _ => v.withheld.push(Withheld {
                    field: field.name.clone(),
                    reason: d
                        .outcome
                        .reason()
                        .unwrap_or(WithholdReason::NotGranted)
                        .as_str()
                        .to_owned(),
                }),
            }
        }
        v
    }
}

impl Vault {
    /// A new subject: fresh id, fresh subject key, wrapped under the current master key.
    pub(crate) fn new_subject(&self) -> Result<(SubjectRow, SubjectKey), VaultError> {
        let id = SubjectId::new();
        let key = SubjectKey::generate();
        let wrapped =
            self.keys()
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

    /// Unwraps a stored subject key. Failure means tampering or a key mix-up. A key wrapped
    /// under a version this vault does not hold yet (rotated by another process) makes it
    /// re-read its key source once and try again.
    pub(crate) async fn subject_key(&self, row: &SubjectRow) -> Result<SubjectKey, VaultError> {
        let wrapped = WrappedKey {
            version: KeyVersion(row.key_version),
            bytes: row.wrapped_key.clone(),
        };
        let mut result = self.keys().unwrap_subject_key(&row.id, &wrapped);
        if let Err(CryptoError::UnknownKeyVersion(v)) = result
            && self.reload_keys_on_miss(v).await
        {
            result = self.keys().unwrap_subject_key(&row.id, &wrapped);
        }
        result.map_err(|e| {
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
        let keys = self.keys();
        for (name, term) in &data.index_terms {
            sealed.index.push(index_entry(
                &keys,
                collection,
                name,
                term.expose(),
                (subject, record),
            ));
        }
        sealed
    }

    /// Decides, field by field, what `actor` may see of `collection` of one subject (whose
    /// consents and restriction are in `data`) for `purpose`, at this moment.
    pub(crate) fn verdicts<'a>(
        &self,
        grants: &'a Grants,
        collection: &'a Collection,
        purpose: &'a Purpose,
        data: &SubjectData,
    ) -> Verdicts<'a> {
        let consents = StoredConsents(&data.consents);
        let ctx = ReadContext::new(
            grants,
            purpose,
            &consents,
            data.restriction.is_some(),
            self.now(),
        );
        Verdicts::decide(&ctx, collection)
    }

    /// Decrypts and decodes the released fields of one stored record, masked or tokenized
    /// as granted.
    pub(crate) fn open_fields(
        &self,
        cipher: &FieldCipher,
        collection: &Collection,
        released: &[Released<'_>],
        record: &privet_store::RecordRow,
    ) -> Result<serde_json::Map<String, serde_json::Value>, VaultError> {
        let mut out = serde_json::Map::new();
        let mut tokenizers: Vec<(&str, Tokenizer)> = Vec::new();
        for r in released {
            let field = r.field;
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
            let value = match r.access {
                Access::Plain => value,
                Access::Masked => mask(field.ty, &value),
                Access::Tokenized => {
                    let input = token_input(field.ty, &value);
                    let i = match tokenizers.iter().position(|(role, _)| *role == r.role) {
                        Some(i) => i,
                        None => {
                            tokenizers.push((r.role, self.keys().tokenizer(r.role)));
                            tokenizers.len() - 1
                        }
                    };
                    let token = tokenizers[i].1.token(&collection.name, &field.name, &input);
                    serde_json::Value::String(token)
                }
            };
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }
}

/// The blind-index entry of one searchable field's normalized term, keyed from the current
/// master-key version.
pub(crate) fn index_entry(
    keys: &privet_crypto::Keyring,
    collection: &Collection,
    field: &str,
    term: &[u8],
    (subject, record): (SubjectId, RecordId),
) -> IndexEntry {
    IndexEntry {
        collection: collection.name.clone(),
        field: field.to_owned(),
        term: keys.blind_index(&collection.name, field, term).to_vec(),
        subject,
        record,
        unique: collection.field(field).is_some_and(|f| f.unique),
        key_version: keys.current().0,
    }
}

/// Every field released in plain, no decision made: the benchmark baseline only.
#[cfg_attr(not(feature = "bench-internals"), allow(dead_code))]
pub(crate) fn release_all(collection: &Collection) -> Verdicts<'_> {
    Verdicts {
        released: collection
            .fields()
            .map(|field| Released {
                field,
                access: Access::Plain,
                role: "bench",
            })
            .collect(),
        withheld: Vec::new(),
    }
}

/// A field a read releases, how, and by whose grant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Released<'a> {
    pub(crate) field: &'a Field,
    pub(crate) access: Access,
    /// The granting role (keys the token of a tokenized field).
    pub(crate) role: &'a str,
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
