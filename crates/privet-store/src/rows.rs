//! The rows a store moves. Every byte string here is a ciphertext, a wrapped key, an HMAC or
//! an audit leaf: nothing a store sees can be read without keys it never has.

use privet_audit::{AuditEntry, Leaf};
use privet_core::{RecordId, SubjectId};
use time::OffsetDateTime;

/// A data subject as stored: its id and its wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow {
    /// The subject.
    pub id: SubjectId,
    /// Master-key version that wraps `wrapped_key`.
    pub key_version: u32,
    /// The subject key, wrapped (AEAD) by that master-key version.
    pub wrapped_key: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// One record of a collection, its field values each a separate ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The record.
    pub id: RecordId,
    /// Its subject.
    pub subject: SubjectId,
    /// Its collection.
    pub collection: String,
    /// Optimistic-concurrency version, 1 on creation, +1 per update.
    pub version: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update time.
    pub updated_at: OffsetDateTime,
    /// `(field name, ciphertext)` pairs.
    pub fields: Vec<(String, Vec<u8>)>,
}

/// A subject with the records a read asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectData {
    /// The subject and its wrapped key.
    pub subject: SubjectRow,
    /// Records of the requested collection, oldest first.
    pub records: Vec<RecordRow>,
}

/// A blind-index entry: an HMAC term pointing at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Collection of the indexed field.
    pub collection: String,
    /// The indexed field.
    pub field: String,
    /// HMAC of the normalized value.
    pub term: Vec<u8>,
    /// The subject.
    pub subject: SubjectId,
    /// The record holding the value.
    pub record: RecordId,
    /// Whether the schema declares the field unique (a second subject with the term fails).
    pub unique: bool,
}

/// A registered API key (only its keyed hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Public lookup prefix.
    pub prefix: String,
    /// HMAC-SHA256 of the whole key under the server secret.
    pub hash: Vec<u8>,
    /// Who holds it (`admin` for the key made by `init`).
    pub principal: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Revocation time, if revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// One stored audit leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    /// 0-based position in the log.
    pub index: u64,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// RFC 9162 leaf hash of `leaf`.
    pub leaf_hash: [u8; 32],
}

/// One write operation. Deliberately exhaustive: a new op must be a compile error in every
/// backend until it is implemented there.
#[derive(Debug, Clone)]
pub enum Op {
    /// Creates a subject with its wrapped key. Fails with `AlreadyExists` if the id exists or
    /// was erased (an erased id never comes back).
    CreateSubject(SubjectRow),
    /// Fails with `SubjectNotFound` unless the subject exists. Lets a read's audit entry
    /// commit only if the subject was not erased meanwhile.
    RequireSubject(SubjectId),
    /// Inserts a new record (`expected_version: None`), or replaces an existing one whose
    /// stored version equals `expected_version` (its version becomes `record.version`).
    PutRecord {
        /// The record with its new field ciphertexts and version.
        record: RecordRow,
        /// The version the change is based on.
        expected_version: Option<i64>,
    },
    /// Adds a blind-index entry.
    PutIndex(IndexEntry),
    /// Removes the blind-index entries of one field of one record.
    DeleteIndex {
        /// The record.
        record: RecordId,
        /// The field.
        field: String,
    },
    /// Crypto-shreds a subject: destroys its wrapped key, deletes its records and index
    /// entries, and writes the erasure ledger entry (id and time only).
    EraseSubject {
        /// The subject.
        subject: SubjectId,
        /// Erasure time.
        at: OffsetDateTime,
    },
    /// Sets a metadata value.
    PutMeta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
    /// Registers an API key.
    PutApiKey(ApiKeyRow),
}

/// Everything one use case writes, committed atomically together with its audit entries.
#[derive(Debug, Clone, Default)]
pub struct WriteSet {
    /// The operations, applied in order.
    pub ops: Vec<Op>,
    /// Audit entries (encoded as leaves) appended in the same transaction, in order.
    pub audit: Vec<Leaf>,
}

impl WriteSet {
    /// An empty write set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an op.
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }

    /// Adds an audit entry.
    pub fn audit(mut self, entry: AuditEntry) -> Self {
        self.push_audit(&entry);
        self
    }

    /// Adds an audit entry (encoded and hashed here, on the caller's thread).
    pub fn push_audit(&mut self, entry: &AuditEntry) {
        self.audit.push(entry.to_leaf());
    }
}

/// What a committed write set produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Log index of the first audit entry appended (if any).
    pub first_audit_index: Option<u64>,
}
