//! Erasure: the subject's own key is destroyed with everything under it, in one transaction,
//! except the records the law obliges the business to keep (collections with a
//! `legal_obligation` purpose whose retention has not run out), which stay under the
//! subject's key of that retention class. The caller gets a certificate of what was erased,
//! what was kept and why, and the audit inclusion proof of the erasure entry.

use std::collections::BTreeMap;

use privet_audit::{Action, InclusionProof, verify_checkpoint};
use privet_core::erasure::{keep_until, legal_purposes, legal_retention};
use privet_core::{Collection, RecordId, SubjectId};
use privet_crypto::{FieldAad, FieldCipher};
use privet_store::{Op, RecordRow, SubjectRow, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// What an erasure did, for the record and for the customer: what was erased, what was kept
/// and why, and the proof that the erasure is in the audit log. Names and counts only, never
/// a value.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureCertificate {
    /// The erased subject.
    pub subject_id: SubjectId,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub erased_at: OffsetDateTime,
    /// Every collection that held records of the subject and what of it was destroyed.
    pub erased: Vec<ErasedCollection>,
    /// How many purposes had a consent decision (the whole consent ledger is deleted).
    pub consents_erased: usize,
    /// Whether a restriction of processing was in force (deleted with the rest).
    pub restriction_erased: bool,
    /// What the law obliges keeping, and why; empty when the subject is fully erased.
    pub kept: Vec<KeptCollection>,
    /// The audit entry of the erasure and its inclusion proof.
    pub audit: ErasureProof,
}

/// Records of one collection destroyed by an erasure.
#[derive(Debug, Clone, Serialize)]
pub struct ErasedCollection {
    /// The collection.
    pub collection: String,
    /// How many records.
    pub records: usize,
    /// The names of the fields those records held.
    pub fields: Vec<String>,
}

/// Records of one collection an erasure kept by legal obligation.
#[derive(Debug, Clone, Serialize)]
pub struct KeptCollection {
    /// The collection.
    pub collection: String,
    /// How many records.
    pub records: usize,
    /// The names of the fields those records hold.
    pub fields: Vec<String>,
    /// Always `legal_obligation`.
    pub legal_basis: String,
    /// The purposes with that basis the collection declares: the only ones the kept records
    /// may still be read for.
    pub purposes: Vec<KeptPurpose>,
    /// The retention declared (e.g. `7y`) and what it counts from.
    pub retention: String,
    /// When the last of these records' retention runs out (each runs out on its own).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// A purpose kept records may still be used for.
#[derive(Debug, Clone, Serialize)]
pub struct KeptPurpose {
    /// Its name, e.g. `essential.legal_obligation`.
    pub name: String,
    /// What it is, in the schema's words.
    pub description: String,
}

/// The erasure's audit entry and the proof that it is in the log.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureProof {
    /// The inclusion proof of the entry (`index` is its position in the log) in the tree of
    /// `tree_size` entries.
    #[serde(flatten)]
    pub proof: InclusionProof,
    /// The signed checkpoint of that tree (C2SP signed note) the proof verifies against;
    /// `None` when the vault has no audit signing key.
    pub checkpoint: Option<String>,
}

/// The plan of one erasure, gathered before anything is written.
#[derive(Default)]
struct Plan {
    subject: Option<SubjectRow>,
    consents: usize,
    restricted: bool,
    erased: Vec<ErasedCollection>,
    kept: Vec<KeptCollection>,
    /// Records to keep, by class, with their end of retention.
    keep: BTreeMap<&'static str, Vec<(RecordId, OffsetDateTime)>>,
    /// Ops re-sealing kept records that are still under the subject's own key.
    ops: Vec<Op>,
}

fn field_names<'r>(records: impl Iterator<Item = &'r RecordRow>) -> Vec<String> {
    let mut names: Vec<String> = records
        .flat_map(|r| r.fields.iter().map(|(n, _)| n.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

impl Vault {
    /// Erases a subject (admin only): destroys its key and deletes its records, blind-index
    /// entries, consent ledger and restriction in one transaction, and records the erasure
    /// in the ledger (id and time) and the audit log. Records of collections kept by legal
    /// obligation whose retention has not run out stay, under the subject's key of that
    /// class, readable only for `legal_obligation` purposes. Returns the certificate.
    ///
    /// Errors: `SubjectNotFound` for an unknown subject, `AlreadyErased` for an erased one.
    pub async fn erase_subject(
        &self,
        actor: &Actor,
        id: SubjectId,
    ) -> Result<ErasureCertificate, VaultError> {
        self.require_admin(actor).await?;
        self.refuse_if_held(actor, id).await?;
        // A write racing the erasure (a record added, the first class key created) makes the
        // plan stale; plan again on fresh data.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.erase_once(actor, id).await {
                Err(VaultError::Conflict)
                | Err(VaultError::Store(privet_store::StoreError::AlreadyExists(_)))
                | Err(VaultError::RecordNotFound(_))
                    if attempts < 3 =>
                {
                    continue;
                }
                other => return other,
            }
        }
    }

    async fn erase_once(
        &self,
        actor: &Actor,
        id: SubjectId,
    ) -> Result<ErasureCertificate, VaultError> {
        let mut entry = self.entry(actor, Action::SubjectErase);
        entry.subject = Some(id);
        let (w, plan) = self.erasure_writes(id, entry.time, &mut entry).await?;
        let committed = self.inner.store.apply(w.audit(entry.clone())).await?;
        let index = committed
            .first_audit_index
            .ok_or_else(|| VaultError::Integrity {
                context: format!("the erasure of {id} has no audit index"),
            })?;
        let audit = self.erasure_proof(actor, index).await?;
        Ok(ErasureCertificate {
            subject_id: id,
            erased_at: entry.time,
            erased: plan.erased,
            consents_erased: plan.consents,
            restriction_erased: plan.restricted,
            kept: plan.kept,
            audit,
        })
    }

    /// The write set of erasing `subject` as of `at` (records whose retention runs out by
    /// `at` are not kept), with one audit entry (action `subject_erase`) by the actor named
    /// `actor`, dated now, with `reason` (or, when nothing is given, `retained:<collections>`
    /// if something is kept). The same planning as [`Vault::erase_subject`], without its
    /// admin and legal-hold checks (the store still refuses a held subject) and without
    /// applying anything: for a restore that replays the erasure ledger, so the kept
    /// legal-obligation records survive the replay under their class key.
    ///
    /// Errors: `SubjectNotFound`, `AlreadyErased`.
    pub async fn erasure_write_set(
        &self,
        actor: &str,
        subject: SubjectId,
        at: OffsetDateTime,
        reason: Option<&str>,
    ) -> Result<WriteSet, VaultError> {
        let mut entry = privet_audit::AuditEntry::new(self.now(), actor, Action::SubjectErase);
        entry.subject = Some(subject);
        let (w, _) = self.erasure_writes(subject, at, &mut entry).await?;
        if let Some(r) = reason {
            entry.reason = Some(r.to_owned());
        }
        Ok(w.audit(entry))
    }

    /// The ops of erasing `id` as of `at` (without the audit entry, whose reason and count
    /// are set here when something is kept), and the plan they came from.
    async fn erasure_writes(
        &self,
        id: SubjectId,
        at: OffsetDateTime,
        entry: &mut privet_audit::AuditEntry,
    ) -> Result<(WriteSet, Plan), VaultError> {
        let mut plan = self.plan_erasure(id, at).await?;
        let kept_records: usize = plan.kept.iter().map(|k| k.records).sum();
        if !plan.kept.is_empty() {
            let names: Vec<&str> = plan.kept.iter().map(|k| k.collection.as_str()).collect();
            entry.reason = Some(format!("retained:{}", names.join(",")));
            entry.count = Some(kept_records as u64);
        }
        let mut w = WriteSet::new();
        w.ops = std::mem::take(&mut plan.ops);
        for (class, records) in std::mem::take(&mut plan.keep) {
            w.ops.push(Op::RetainRecords {
                subject: id,
                class: class.to_owned(),
                records,
            });
        }
        w.ops.push(Op::EraseSubject { subject: id, at });
        Ok((w, plan))
    }

    /// Reads every collection of the subject and decides what is kept.
    async fn plan_erasure(&self, id: SubjectId, now: OffsetDateTime) -> Result<Plan, VaultError> {
        let schema = &self.inner.schema;
        let mut plan = Plan::default();
        for coll in schema.collections() {
            let Some(data) = self.inner.store.load_subject(id, &coll.name, None).await? else {
                return Err(match self.inner.store.load_retained(id, "", None).await? {
                    Some(k) => VaultError::AlreadyErased {
                        subject: id,
                        at: k.erased_at,
                    },
                    None => VaultError::SubjectNotFound(id),
                });
            };
            plan.consents = data.consents.len();
            plan.restricted = data.restriction.is_some();
            let retention = self
                .retention_class(coll)
                .and_then(|class| Some((class, legal_retention(schema, coll)?)));
            let (mut keep, mut erase) = (Vec::new(), Vec::new());
            for r in data.records {
                match retention.and_then(|(_, ret)| keep_until(ret, r.created_at, now)) {
                    Some(until) => keep.push((r, until)),
                    None => erase.push(r),
                }
            }
            if !erase.is_empty() {
                plan.erased.push(ErasedCollection {
                    collection: coll.name.clone(),
                    records: erase.len(),
                    fields: field_names(erase.iter()),
                });
            }
            if let (Some((class, ret)), false) = (retention, keep.is_empty()) {
                self.reseal_legacy(&data.subject, coll, class, &keep, &mut plan)
                    .await?;
                plan.kept.push(KeptCollection {
                    collection: coll.name.clone(),
                    records: keep.len(),
                    fields: field_names(keep.iter().map(|(r, _)| r)),
                    legal_basis: "legal_obligation".into(),
                    purposes: legal_purposes(schema, coll)
                        .into_iter()
                        .map(|p| KeptPurpose {
                            name: p.name.clone(),
                            description: p.description.clone(),
                        })
                        .collect(),
                    retention: format!("{} after {}", ret.keep, ret.after.as_str()),
                    until: keep.iter().map(|(_, u)| *u).max().unwrap_or(now),
                });
                plan.keep
                    .entry(class)
                    .or_default()
                    .extend(keep.iter().map(|(r, u)| (r.id, *u)));
            }
            plan.subject = Some(data.subject);
        }
        if plan.subject.is_none() {
            // A schema without collections: nothing was read, so check the subject directly.
            return Err(VaultError::SubjectNotFound(id));
        }
        Ok(plan)
    }

    /// Kept records still sealed under the subject's own key (written before retention
    /// classes existed) are re-sealed under the class key, created if needed, since the
    /// subject key is about to be destroyed.
    async fn reseal_legacy(
        &self,
        subject: &SubjectRow,
        coll: &Collection,
        class: &'static str,
        keep: &[(RecordRow, OffsetDateTime)],
        plan: &mut Plan,
    ) -> Result<(), VaultError> {
        let class_key = self.stored_class_key(subject.id, class).await?;
        let own = self.subject_key(subject).await?.cipher();
        let mut target: Option<FieldCipher> = class_key.as_ref().map(|k| k.cipher());
        for (r, _) in keep {
            if let Some(t) = &target
                && opens(t, coll, r)
            {
                continue;
            }
            let t = match &target {
                Some(t) => t,
                None => {
                    let (key, op) = self.new_class_key(subject.id, class)?;
                    plan.ops.push(op);
                    target.insert(key.cipher())
                }
            };
            let mut fields = Vec::with_capacity(r.fields.len());
            for (name, ct) in &r.fields {
                let aad = FieldAad {
                    collection: &coll.name,
                    record: &r.id,
                    field: name,
                    subject: &subject.id,
                };
                let plain = own.decrypt_field(&aad, ct).map_err(|_| {
                    tracing::error!(subject = %subject.id, record = %r.id, field = %name, "kept field failed to decrypt");
                    VaultError::Integrity {
                        context: format!("{}.{name} of record {}", coll.name, r.id),
                    }
                })?;
                let sealed = t.try_encrypt_field(&aad, plain.expose()).map_err(|e| {
                    VaultError::Integrity {
                        context: format!("re-sealing {}.{name} of record {}: {e}", coll.name, r.id),
                    }
                })?;
                fields.push((name.clone(), sealed));
            }
            plan.ops.push(Op::PutRecord {
                record: RecordRow {
                    fields,
                    version: r.version + 1,
                    ..r.clone()
                },
                expected_version: Some(r.version),
            });
        }
        Ok(())
    }

    /// The inclusion proof of audit entry `index`, against a fresh signed checkpoint when the
    /// vault signs them, else against the whole log now.
    async fn erasure_proof(&self, actor: &Actor, index: u64) -> Result<ErasureProof, VaultError> {
        let (size, checkpoint) = match self.audit_signer() {
            Some(signer) => {
                let note = self.checkpoint(actor).await?;
                let c =
                    verify_checkpoint(&note, &self.audit_key()?, signer.name()).map_err(|e| {
                        VaultError::Integrity {
                            context: format!("the checkpoint just signed does not verify: {e}"),
                        }
                    })?;
                (Some(c.size()), Some(note))
            }
            None => (None, None),
        };
        let proof = self.inclusion_proof(actor, index, size).await?;
        Ok(ErasureProof { proof, checkpoint })
    }
}

/// Whether `cipher` opens the first field of `record`.
fn opens(cipher: &FieldCipher, coll: &Collection, record: &RecordRow) -> bool {
    let Some((field, ct)) = record.fields.first() else {
        return true;
    };
    let aad = FieldAad {
        collection: &coll.name,
        record: &record.id,
        field,
        subject: &record.subject,
    };
    cipher.decrypt_field(&aad, ct).is_ok()
}
