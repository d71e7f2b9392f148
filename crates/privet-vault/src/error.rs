//! The vault's error type: one variant per thing a caller can get wrong or the vault can fail
//! at. Variants carry ids, names and codes, never personal values; the server maps each to
//! one stable problem type.

use privet_core::policy::{WithholdReason, WriteRefused};
use privet_core::{ConsentError, RecordId, RoleErrors, SubjectId, ValidationErrors};
use privet_crypto::CryptoError;
use privet_store::StoreError;

/// Validation problems of one item of a batch.
#[derive(Debug)]
pub struct ItemErrors {
    /// 0-based position of the item in the batch (or line number for imports, see there).
    pub index: usize,
    /// What is wrong with it.
    pub errors: ValidationErrors,
}

/// Why a vault call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The data does not match the schema.
    #[error("invalid data: {0}")]
    Invalid(ValidationErrors),
    /// Some items of a batch are invalid; nothing of the batch was written.
    #[error("{} item(s) of the batch are invalid; nothing was written", .0.len())]
    InvalidBatch(Vec<ItemErrors>),
    /// The request body is not the expected shape (outside the data itself).
    #[error("{0}")]
    BadRequest(String),
    /// No such collection in the schema.
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    /// The collection exists but is of the other kind (profile vs records).
    #[error("collection `{collection}` is a {kind} collection")]
    WrongCollectionKind {
        /// The collection.
        collection: String,
        /// Its kind, `profile` or `records`.
        kind: &'static str,
    },
    /// The schema has no profile collection.
    #[error("the schema declares no profile collection")]
    NoProfile,
    /// No such purpose in the schema.
    #[error("unknown purpose `{0}`")]
    UnknownPurpose(String),
    /// A read without a purpose.
    #[error("a purpose is required to read personal data")]
    MissingPurpose,
    /// A lookup by a field that is not searchable (or not declared).
    #[error("`{0}` is not a searchable field")]
    NotSearchable(String),
    /// A lookup by a field whose declared purposes do not include the stated purpose.
    #[error("field `{field}` may not be used for purpose `{purpose}`")]
    LookupNotAllowed {
        /// The field.
        field: String,
        /// The purpose.
        purpose: String,
    },
    /// The subject does not exist or was erased.
    #[error("subject {0} not found")]
    SubjectNotFound(SubjectId),
    /// The record does not exist (for this subject and collection).
    #[error("record {0} not found")]
    RecordNotFound(RecordId),
    /// A concurrent change won; retry on fresh data.
    #[error("the subject was changed concurrently; retry")]
    Conflict,
    /// A unique field's value is already used by another subject.
    #[error("the value of `{field}` is already used by another subject")]
    Duplicate {
        /// The unique field.
        field: String,
    },
    /// The API key is missing, unknown, revoked, expired or wrong.
    #[error("invalid API key")]
    Unauthorized,
    /// The caller's roles do not allow this (the policy's reason code says why).
    #[error("{detail}")]
    Forbidden {
        /// The policy's reason, e.g. `not_granted`.
        reason: WithholdReason,
        /// What was refused (purpose and field names only).
        detail: String,
    },
    /// The principal is suspended (by access monitoring or an admin) until an admin lifts
    /// the suspension.
    #[error("principal {0} is suspended until an admin lifts the suspension")]
    Suspended(String),
    /// The caller may not administer the vault.
    #[error("this needs a principal whose role may administer the vault")]
    NotAdmin,
    /// A consent change was refused.
    #[error("{0}")]
    Consent(ConsentError),
    /// A write would collect fields without a lawful basis (e.g. consent not given).
    #[error("no lawful basis to collect: {0}")]
    WriteRefused(WriteRefused),
    /// A role does not match the schema.
    #[error("invalid role: {0}")]
    InvalidRole(RoleErrors),
    /// No such role.
    #[error("role `{0}` not found")]
    RoleNotFound(String),
    /// No such principal.
    #[error("principal `{0}` not found")]
    PrincipalNotFound(String),
    /// A role or principal of that name already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The master key does not match the one this vault was created with.
    #[error("{0}")]
    WrongKey(CryptoError),
    /// A vault that was never initialised.
    #[error("this store has not been initialised by `privet init`")]
    NotInitialized,
    /// Stored data failed to decrypt or decode: tampering, corruption or a key mix-up.
    #[error("stored data failed integrity checks ({context})")]
    Integrity {
        /// Where (ids and field names only).
        context: String,
    },
    /// An audit-trail call failed (proof arguments, signing key, verification).
    #[error(transparent)]
    Audit(crate::AuditError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A rights request or a step on it was refused (bad name, bad transition, closed,
    /// not verified, extension past the legal maximum).
    #[error("{0}")]
    Request(privet_core::RequestError),
    /// No such rights request.
    #[error("rights request {0} not found")]
    RequestNotFound(privet_core::RightsRequestId),
    /// The subject was erased already (an erasure happens once; its certificate was given
    /// then).
    #[error("subject {subject} was already erased (at {at})")]
    AlreadyErased {
        /// The subject.
        subject: SubjectId,
        /// When it was erased.
        at: time::OffsetDateTime,
    },
    /// The subject is under a legal hold: it may not be erased (nor purged) until the hold
    /// is lifted.
    #[error("subject {0} is under a legal hold; lift the hold before erasing it")]
    LegalHold(SubjectId),
    /// A portal link or session was refused (malformed or forged, expired, used or ended).
    #[error("portal: {0}")]
    Portal(crate::PortalRefusal),
}

impl VaultError {
    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_unavailable())
    }
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SubjectNotFound(id) => Self::SubjectNotFound(id),
            StoreError::RecordNotFound(id) => Self::RecordNotFound(id),
            StoreError::VersionConflict { .. } => Self::Conflict,
            StoreError::UniqueViolation { field, .. } => Self::Duplicate { field },
            StoreError::RoleNotFound(name) => Self::RoleNotFound(name),
            StoreError::PrincipalNotFound(id) => Self::PrincipalNotFound(id),
            StoreError::Conflict(_) => Self::Conflict,
            StoreError::LegalHold(id) => Self::LegalHold(id),
            StoreError::ActivityConflict(_) => Self::Conflict,
            other => Self::Store(other),
        }
    }
}

impl From<ValidationErrors> for VaultError {
    fn from(e: ValidationErrors) -> Self {
        Self::Invalid(e)
    }
}
