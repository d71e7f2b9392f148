//! The store's error type. Variants carry ids and names, never personal values.

use privet_core::{RecordId, SubjectId};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The subject does not exist or was erased.
    #[error("subject {0} not found")]
    SubjectNotFound(SubjectId),
    /// The record does not exist.
    #[error("record {0} not found")]
    RecordNotFound(RecordId),
    /// The principal does not exist.
    #[error("principal {0} not found")]
    PrincipalNotFound(String),
    /// The role does not exist.
    #[error("role {0} not found")]
    RoleNotFound(String),
    /// Something with this id already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// An optimistic version check failed: someone else changed the record first.
    #[error("record {record} was changed concurrently (expected version {expected})")]
    VersionConflict {
        /// The record.
        record: RecordId,
        /// The version the writer based its change on.
        expected: i64,
    },
    /// A concurrent change to a row other than a record (a rights request) won.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    /// A unique blind index already holds this term for another subject.
    #[error("the value of {collection}.{field} is already used by another subject")]
    UniqueViolation {
        /// Collection of the unique field.
        collection: String,
        /// The unique field.
        field: String,
    },
    /// A write set contradicts itself (a programming error above the store, never bad input).
    #[error("invalid write: {0}")]
    Invalid(String),
    /// A stored row cannot be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The backend cannot be reached or is shutting down (retryable).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The stored schema version is newer than this build understands, or a migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other backend error.
    #[error("store backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying later may succeed (maps to HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
