//! The audit trail as a use case: the vault's signing keys, signed checkpoints, entries (all,
//! or about one subject), inclusion and consistency proofs, and the subject's access log.
//! Verifying the whole stored log is in [`crate::audit_verify`].
//!
//! Everything here needs an admin except the verifier key, which is public by nature. Reads
//! of the audit trail are not themselves audited: they hold no personal value, and a log
//! that grew with every read of it could never be read at a standstill (a monitor polling it
//! would add entries forever).

use std::collections::HashMap;
use std::sync::Arc;

use privet_audit::{
    Action, AuditEntry, Checkpoint, ConsistencyProof, Decision, InclusionProof, NoteError,
    ProofError, ProofPlan, Subtree, VerifierKey, VerifyError, WithheldField, verify_checkpoint,
};
use privet_core::{RecordId, RequestId, SubjectId};
use privet_crypto::NoteSigner;
use privet_store::{CheckpointRow, Op, StoredLeaf, WriteSet};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The meta key under which a store remembers the verifier key its checkpoints are signed
/// with, so a server given another key refuses to sign for this log.
const BOUND_KEY: &str = "audit_verifier_key";

/// The most entries one call returns.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// The vault's signing keys, each separate from the master key and from the other.
#[derive(Debug, Default)]
pub struct Signers {
    /// Signs audit checkpoints; its name is the log's origin.
    pub audit: Option<NoteSigner>,
    /// Signs consent receipts.
    pub receipts: Option<NoteSigner>,
}

/// Why an audit call failed (carried by [`VaultError::Audit`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// No proof exists for these arguments: a size beyond the log, an index not below the
    /// size, or `from` above `to`.
    #[error("{0}")]
    Proof(ProofError),
    /// The vault was opened without an audit signing key.
    #[error("no audit signing key is configured")]
    NoSigningKey,
    /// The configured signing key is not the key this log's checkpoints are signed with.
    #[error(
        "this log's checkpoints are signed by key {bound}, but the configured audit signing key \
         is {configured}: give every server the same audit-signing.key"
    )]
    KeyMismatch {
        /// The verifier key the store is bound to.
        bound: String,
        /// The configured key's verifier key.
        configured: String,
    },
    /// The stored log failed verification.
    #[error("{0}")]
    Verify(VerifyError),
    /// The log's head counts more leaves than are stored: the newest were removed.
    #[error(
        "the log's head counts {head} leaves but only {stored} are stored: leaves from index \
         {stored} on were removed"
    )]
    Truncated {
        /// The size the head records.
        head: u64,
        /// The leaves found.
        stored: u64,
    },
    /// The stored subtree hashes (from which proofs are made) disagree with the leaves.
    #[error(
        "the stored subtree hashes of the first {size} leaves do not match the leaves: proofs \
         served from them would not verify ({detail})"
    )]
    Subtrees {
        /// The size compared at.
        size: u64,
        /// What differed.
        detail: String,
    },
}

impl From<AuditError> for VaultError {
    fn from(e: AuditError) -> Self {
        VaultError::Audit(e)
    }
}

fn proof_error(e: ProofError) -> VaultError {
    AuditError::Proof(e).into()
}

/// One audit entry as `GET /v1/audit/entries` returns it: its index, the exact leaf bytes
/// (standard base64 in JSON), and the entry decoded from them (`null` if they do not decode,
/// which only tampering causes).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// The leaf's index in the log.
    pub index: u64,
    /// The bytes hashed as the leaf.
    #[serde(serialize_with = "base64_bytes")]
    pub leaf: Vec<u8>,
    /// The decoded entry.
    pub entry: DecodedEntry,
}

/// An entry decoded from its leaf: the entry (its fields in leaf order), or, for bytes that
/// are JSON but not an entry this build knows, the JSON as is, or `null`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DecodedEntry {
    /// A well-formed entry.
    Entry(Box<AuditEntry>),
    /// Other JSON (a newer entry format), or `null` if the bytes are not JSON at all.
    Raw(serde_json::Value),
}

fn base64_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl AuditRecord {
    fn from_stored(l: StoredLeaf) -> AuditRecord {
        let entry = match AuditEntry::from_leaf_bytes(&l.leaf) {
            Ok(e) => DecodedEntry::Entry(Box::new(e)),
            Err(_) => DecodedEntry::Raw(
                serde_json::from_slice(&l.leaf).unwrap_or(serde_json::Value::Null),
            ),
        };
        AuditRecord {
            index: l.index,
            leaf: l.leaf,
            entry,
        }
    }
}

/// One access to a subject's data, as the subject's access log shows it: who, what, for
/// which purpose, when, which fields, and what the policy decided.
#[derive(Debug, Clone, Serialize)]
pub struct AccessLogEntry {
    /// The entry's index in the audit log (for its inclusion proof).
    pub index: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who: a principal id, `admin`, or `cli` for the local operator.
    pub actor: String,
    /// The principal's name, when the actor is a principal that still exists.
    pub actor_name: Option<String>,
    /// What was done.
    pub action: Action,
    /// The purpose stated.
    pub purpose: Option<String>,
    /// The collection.
    pub collection: Option<String>,
    /// The record, if one.
    pub record: Option<RecordId>,
    /// Fields released or written (names only).
    pub fields: Vec<String>,
    /// Fields withheld, with reasons.
    pub withheld: Vec<WithheldField>,
    /// The policy's decision.
    pub decision: Decision,
    /// The reason code, for denials and administrative entries.
    pub reason: Option<String>,
    /// The request.
    pub request_id: Option<RequestId>,
}

fn page(limit: Option<u32>) -> Result<u32, VaultError> {
    match limit.unwrap_or(100) {
        0 => Err(VaultError::BadRequest("limit must be at least 1".into())),
        n if n > MAX_AUDIT_PAGE => Err(VaultError::BadRequest(format!(
            "limit must be at most {MAX_AUDIT_PAGE}"
        ))),
        n => Ok(n),
    }
}

impl Vault {
    /// The vault with its signing keys. The audit key's name is the log's origin.
    pub fn with_signers(mut self, signers: Signers) -> Self {
        self.signers = Arc::new(signers);
        self
    }

    /// The key that signs consent receipts, if configured.
    pub fn receipt_signer(&self) -> Option<&NoteSigner> {
        self.signers.receipts.as_ref()
    }

    /// The key that signs audit checkpoints, if configured.
    pub fn audit_signer(&self) -> Option<&NoteSigner> {
        self.signers.audit.as_ref()
    }

    fn signer(&self) -> Result<&NoteSigner, VaultError> {
        self.audit_signer()
            .ok_or_else(|| AuditError::NoSigningKey.into())
    }

    /// The log's origin (the audit signing key's name).
    pub fn audit_origin(&self) -> Result<&str, VaultError> {
        Ok(self.signer()?.name())
    }

    /// The verifier key of the log's checkpoints (C2SP note verifier-key format). Public.
    pub fn audit_key(&self) -> Result<VerifierKey, VaultError> {
        Ok(VerifierKey::of(self.signer()?))
    }

    /// Binds the store to the configured audit key the first time (an audited
    /// administrative act), and refuses a key other than the bound one afterwards.
    pub async fn bind_audit_key(&self) -> Result<(), VaultError> {
        let configured = self.audit_key()?.to_string();
        match self.inner.store.meta(BOUND_KEY).await? {
            Some(bound) if bound == configured.as_bytes() => Ok(()),
            Some(bound) => Err(AuditError::KeyMismatch {
                bound: String::from_utf8_lossy(&bound).into_owned(),
                configured,
            }
            .into()),
            None => {
                let mut entry = AuditEntry::new(self.now(), "cli", Action::Admin);
                entry.reason = Some("audit_signing_key_bound".into());
                let w = WriteSet::new()
                    .op(Op::PutMeta {
                        key: BOUND_KEY.into(),
                        value: configured.into_bytes(),
                    })
                    .audit(entry);
                self.inner.store.apply(w).await?;
                Ok(())
            }
        }
    }

    /// After the audit signing key was replaced (by one of the same name): binds the store to
    /// the configured key, provided it is bound to `previous` (or already to the configured
    /// one, when a rotation is run again), as an audited administrative act. Checkpoints
    /// signed with `previous` keep verifying with its public key.
    pub async fn rebind_audit_key(&self, previous: &VerifierKey) -> Result<(), VaultError> {
        let configured = self.audit_key()?.to_string();
        let bound = self.inner.store.meta(BOUND_KEY).await?;
        match bound {
            Some(b) if b == configured.as_bytes() => return Ok(()),
            Some(b) if b != previous.to_string().as_bytes() => {
                return Err(AuditError::KeyMismatch {
                    bound: String::from_utf8_lossy(&b).into_owned(),
                    configured,
                }
                .into());
            }
            _ => {}
        }
        let mut entry = AuditEntry::new(self.now(), "cli", Action::Admin);
        entry.reason = Some("audit_signing_key_rotated".into());
        let w = WriteSet::new()
            .op(Op::PutMeta {
                key: BOUND_KEY.into(),
                value: configured.into_bytes(),
            })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// The latest signed checkpoint (a C2SP signed note), making and storing a new one first
    /// if there is none, if the log grew since, or if the latest does not verify under the
    /// configured key.
    pub async fn checkpoint(&self, actor: &Actor) -> Result<String, VaultError> {
        self.require_admin(actor).await?;
        self.bind_audit_key().await?;
        let signer = self.signer()?;
        let key = VerifierKey::of(signer);
        let frontier = self.inner.store.audit_frontier().await?;
        if let Some(latest) = self.inner.store.latest_checkpoint().await? {
            match verify_checkpoint(&latest.note, &key, signer.name()) {
                Ok(c) if c.size() == frontier.size() && *c.root() == frontier.root() => {
                    return Ok(latest.note);
                }
                Ok(_) => {}
                // Signed by an earlier key: the signing key was rotated since. `audit
                // verify` checks it against that key; a new one is signed below.
                Err(NoteError::NotSigned { .. }) => {
                    tracing::info!(
                        size = latest.size,
                        "the latest stored checkpoint was signed by an earlier key"
                    );
                }
                Err(e) => {
                    tracing::error!(size = latest.size, error = %e, "the latest stored checkpoint does not verify");
                }
            }
        }
        let note = Checkpoint::new(signer.name(), frontier.size(), frontier.root())
            .and_then(|c| c.sign(signer))
            .map_err(|e: NoteError| VaultError::Integrity {
                context: format!("signing a checkpoint: {e}"),
            })?;
        let row = CheckpointRow {
            size: frontier.size(),
            note: note.clone(),
            created_at: self.now(),
        };
        self.inner
            .store
            .apply(WriteSet::new().op(Op::PutCheckpoint(row)))
            .await?;
        tracing::debug!(size = frontier.size(), "signed an audit checkpoint");
        Ok(note)
    }

    /// Audit entries from index `from` (default 0), at most `limit` (default 100, at most
    /// [`MAX_AUDIT_PAGE`]), optionally only those about `subject`.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        from: Option<u64>,
        limit: Option<u32>,
        subject: Option<SubjectId>,
    ) -> Result<Vec<AuditRecord>, VaultError> {
        self.require_admin(actor).await?;
        let (from, limit) = (from.unwrap_or(0), page(limit)?);
        let leaves = match subject {
            Some(s) => {
                let leaves = self
                    .inner
                    .store
                    .audit_leaves_of_subject(s, from, limit)
                    .await?;
                leaves.into_iter().filter(|l| about(l, s)).collect()
            }
            None => self.inner.store.audit_leaves(from, limit).await?,
        };
        Ok(leaves.into_iter().map(AuditRecord::from_stored).collect())
    }

    /// The entries about one subject (reads, writes, consents, denials, erasure), from index
    /// `from`, at most `limit`: who, what, for which purpose, when, which fields, decision.
    pub async fn access_log(
        &self,
        actor: &Actor,
        subject: SubjectId,
        from: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<AccessLogEntry>, VaultError> {
        self.require_admin(actor).await?;
        self.access_log_page(subject, from.unwrap_or(0), page(limit)?)
            .await
    }

    /// One page of a subject's access log, no permission checked (callers check).
    pub(crate) async fn access_log_page(
        &self,
        subject: SubjectId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<AccessLogEntry>, VaultError> {
        let leaves = self
            .inner
            .store
            .audit_leaves_of_subject(subject, from, limit)
            .await?;
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let mut out = Vec::with_capacity(leaves.len());
        for l in leaves {
            let Ok(e) = AuditEntry::from_leaf_bytes(&l.leaf) else {
                tracing::error!(index = l.index, "an audit leaf does not decode");
                continue;
            };
            if e.subject != Some(subject) {
                tracing::error!(
                    index = l.index,
                    "an audit row's subject column does not match its leaf"
                );
                continue;
            }
            if !names.contains_key(&e.actor) {
                let name = self.inner.store.principal(&e.actor).await?.map(|p| p.name);
                names.insert(e.actor.clone(), name);
            }
            out.push(AccessLogEntry {
                index: l.index,
                time: e.time,
                actor_name: names.get(&e.actor).cloned().flatten(),
                actor: e.actor,
                action: e.action,
                purpose: e.purpose,
                collection: e.collection,
                record: e.record,
                fields: e.fields,
                withheld: e.withheld,
                decision: e.decision,
                reason: e.reason,
                request_id: e.request_id,
            });
        }
        Ok(out)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves (default:
    /// the whole log now).
    pub async fn inclusion_proof(
        &self,
        actor: &Actor,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, VaultError> {
        self.require_admin(actor).await?;
        let size = self.proof_size(size).await?;
        let plan = ProofPlan::inclusion(index, size).map_err(proof_error)?;
        let leaf = Subtree::new(0, index)
            .ok_or(proof_error(ProofError::IndexOutOfRange { index, size }))?;
        let mut wanted = vec![leaf];
        wanted.extend(plan.subtrees());
        let hashes = self.subtree_map(&wanted).await?;
        Ok(InclusionProof {
            index,
            tree_size: size,
            leaf_hash: hashes
                .get(&leaf)
                .copied()
                .ok_or(ProofError::MissingSubtree(leaf))
                .map_err(missing)?,
            hashes: plan
                .assemble(|t| hashes.get(&t).copied().ok_or(ProofError::MissingSubtree(t)))
                .map_err(missing)?,
        })
    }

    /// The consistency proof from the tree of the first `from` leaves to the tree of the
    /// first `to` leaves (default: the whole log now).
    pub async fn consistency_proof(
        &self,
        actor: &Actor,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof, VaultError> {
        self.require_admin(actor).await?;
        let to = self.proof_size(to).await?;
        let plan = ProofPlan::consistency(from, to).map_err(proof_error)?;
        let hashes = self.subtree_map(&plan.subtrees()).await?;
        Ok(ConsistencyProof {
            from,
            to,
            hashes: plan
                .assemble(|t| hashes.get(&t).copied().ok_or(ProofError::MissingSubtree(t)))
                .map_err(missing)?,
        })
    }

    /// `requested`, checked against the log's size, or the log's size.
    async fn proof_size(&self, requested: Option<u64>) -> Result<u64, VaultError> {
        let size = self.inner.store.audit_len().await?;
        match requested {
            Some(r) if r > size => Err(proof_error(ProofError::BeyondTree { requested: r, size })),
            Some(r) => Ok(r),
            None => Ok(size),
        }
    }

    async fn subtree_map(
        &self,
        subtrees: &[Subtree],
    ) -> Result<HashMap<Subtree, privet_audit::Hash>, VaultError> {
        let hashes = self.inner.store.audit_subtrees(subtrees).await?;
        Ok(subtrees.iter().copied().zip(hashes).collect())
    }
}

/// Whether a leaf found through the subject index really is about `subject` (the index is a
/// column beside the leaf; the leaf is what the tree vouches for).
fn about(l: &StoredLeaf, subject: SubjectId) -> bool {
    let ok = AuditEntry::from_leaf_bytes(&l.leaf).is_ok_and(|e| e.subject == Some(subject));
    if !ok {
        tracing::error!(
            index = l.index,
            "an audit row's subject column does not match its leaf"
        );
    }
    ok
}

/// A hash the store should have returned is missing: never bad input.
fn missing(e: ProofError) -> VaultError {
    VaultError::Integrity {
        context: format!("assembling an audit proof: {e}"),
    }
}
