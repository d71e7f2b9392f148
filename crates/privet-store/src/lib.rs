//! The storage contract of Privet: the [`Store`] trait every backend implements, the rows it
//! moves, its error type, and a conformance suite every backend runs ([`conformance`]).
//!
//! A store holds only ciphertexts, wrapped keys, blind-index terms (HMACs), ids, times and
//! audit leaves; it never sees a key or a plaintext personal value, and nothing above the
//! backends writes SQL. The trait speaks in whole write sets: every operation a use case
//! performs, together with its audit entries, commits atomically or not at all.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod codec;
pub mod conformance;
pub mod creation;
pub mod dump;
mod error;
mod fold;
mod lookup;
mod retention;
mod rights;
mod rotation;
mod rows;
mod snapshot;
mod tiles;

use async_trait::async_trait;
use privet_audit::{Frontier, Hash, Subtree};
use privet_core::{MessageId, RecordId, RightsRequestId, SubjectId};

pub use codec::{CodecError, decode_fields, encode_fields, from_micros, micros};
pub use error::StoreError;
pub use fold::{GrantRow, fold_grants};
pub use lookup::{FoundSubjects, TermHits};
pub use retention::{LegalHoldRow, RetainedDueRow, RetentionRow};
pub use rights::{OutboxRow, RequestEventRow, RequestFilter, RightsRequestRow};
pub use rotation::{KeyTable, StaleIndexRecord, WrappedKeyRow};
pub use rows::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, IndexEntry, Op, PrincipalRow, RecordRow,
    RestrictionRow, RetainedData, RetainedKeyRow, RetainedRecord, RoleRow, StoredLeaf, SubjectData,
    SubjectRow, WriteSet,
};
pub use snapshot::{DumpSummary, SnapshotInfo};
pub use tiles::{
    AuditAppend, AuditHead, LeafRow, SubtreeReads, TILE_MIN_LEVEL, assemble_subtrees,
    frontier_from, frontier_subtrees, subtree_reads,
};

/// The result type of every store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A Privet storage backend.
///
/// Writes go through [`Store::apply`] as one atomic [`WriteSet`]; reads are point queries.
/// Implementations must be safe to share between tasks and must never cache anything that
/// could outlive a write (erasures and updates are visible to the next read).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies every op and appends every audit entry of `writes` in one transaction. If any
    /// op fails (a precondition, a conflict), nothing of this write set is kept and the
    /// error says which op failed. Returns once the transaction is durable.
    async fn apply(&self, writes: WriteSet) -> Result<Committed>;

    /// Loads a subject and its records of `collection` (one record when `record` is given).
    /// `None` when the subject does not exist or was erased.
    async fn load_subject(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<SubjectData>>;

    /// The (subject, record) pairs whose blind-index term for `collection.field` is `term`.
    async fn lookup(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<(SubjectId, RecordId)>>;

    /// A subject's whole consent ledger in append order (oldest first; events with equal
    /// times keep the order they were appended in). Empty for an unknown or erased subject.
    async fn consent_history(&self, subject: SubjectId) -> Result<Vec<ConsentEventRow>>;

    /// A metadata value (e.g. a key-check value), if set.
    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// The API key registered under a public prefix, if any.
    async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRow>>;

    /// A principal by id.
    async fn principal(&self, id: &str) -> Result<Option<PrincipalRow>>;

    /// Every principal, oldest first.
    async fn principals(&self) -> Result<Vec<PrincipalRow>>;

    /// A principal and the roles it is granted that exist (in the order the principal names
    /// them), read together: what every authenticated request needs, in one query.
    async fn principal_grants(&self, id: &str) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>>;

    /// A role by name.
    async fn role(&self, name: &str) -> Result<Option<RoleRow>>;

    /// Every role, by name.
    async fn roles(&self) -> Result<Vec<RoleRow>>;

    /// Audit leaves from index `from` (0-based), at most `limit` of them, in order.
    async fn audit_leaves(&self, from: u64, limit: u32) -> Result<Vec<StoredLeaf>>;

    /// Number of audit entries (the tree size).
    async fn audit_len(&self) -> Result<u64>;

    /// The hashes of perfect subtrees of the audit tree, in the order given: stored hashes
    /// for large subtrees, a few leaf hashes for small ones (see [`TILE_MIN_LEVEL`]), so a
    /// proof costs O(log n) reads however long the log. A subtree that reaches beyond the
    /// log is `Invalid`; a stored hash that is missing is `Corrupt`.
    async fn audit_subtrees(&self, subtrees: &[Subtree]) -> Result<Vec<Hash>>;

    /// The audit tree's frontier (its size and the hashes of its perfect subtrees), read in
    /// one snapshot: what a checkpoint signs.
    async fn audit_frontier(&self) -> Result<Frontier>;

    /// Audit leaves whose entry names `subject`, from index `from`, at most `limit`, in
    /// index order.
    async fn audit_leaves_of_subject(
        &self,
        subject: SubjectId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredLeaf>>;

    /// Every stored checkpoint, by ascending size (checkpoints of equal size in the order
    /// they were stored).
    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>>;

    /// The stored checkpoint of the largest size (the last stored among equals), if any.
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>>;

    /// The erasure ledger: every erased subject id with its erasure time, oldest first.
    async fn erasures(&self) -> Result<Vec<(SubjectId, time::OffsetDateTime)>>;

    /// Loads a subject with its records of every collection (ordered by collection, then
    /// record id), its consents and its restriction, in one snapshot: what a subject export
    /// reads. `None` when the subject does not exist or was erased.
    async fn load_subject_all(&self, subject: SubjectId) -> Result<Option<SubjectData>>;

    /// Checks that the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// A rights request with its events in order, if it exists.
    async fn rights_request(
        &self,
        id: RightsRequestId,
    ) -> Result<Option<(RightsRequestRow, Vec<RequestEventRow>)>>;

    /// The rights requests `filter` selects, by due date (then id), at most `limit`.
    async fn rights_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<Vec<RightsRequestRow>>;

    /// Outbox messages whose next attempt is due at `now`, oldest due first, at most `limit`.
    async fn outbox_due(&self, now: time::OffsetDateTime, limit: u32) -> Result<Vec<OutboxRow>>;

    /// Whether an outbox message is still queued (not yet delivered).
    async fn outbox_message(&self, id: MessageId) -> Result<Option<OutboxRow>>;

    /// A subject's retention-class keys, by class (live or erased subject; empty if none).
    async fn retained_keys(&self, subject: SubjectId) -> Result<Vec<RetainedKeyRow>>;

    /// What an erasure kept of `subject`: `None` unless the subject was erased; otherwise
    /// the erasure time, the retention-class keys still held, and the kept records of
    /// `collection` (one when `record` is given), oldest first, read in one snapshot.
    async fn load_retained(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<RetainedData>>;
    /// Up to `limit` subjects with everything retention decides on, in id order, starting
    /// after `after` (keyset pagination: a scan never skips or repeats a subject that exists
    /// throughout it). Each subject is read in one snapshot.
    async fn retention_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> Result<Vec<RetentionRow>>;

    /// The legal hold on a subject, if one is in force (`None` also for an unknown subject).
    async fn legal_hold(&self, subject: SubjectId) -> Result<Option<LegalHoldRow>>;

    /// Whether a portal token id was spent ([`Op::SpendPortalToken`]) and not yet forgotten.
    async fn portal_token_spent(&self, id: &str) -> Result<bool>;

    /// How many wrapped keys of `table` each master-key version wraps, ascending by version
    /// (versions wrapping none are left out).
    async fn wrapped_key_counts(&self, table: KeyTable) -> Result<Vec<(u32, u64)>>;

    /// Up to `limit` wrapped keys of `table` under `version`, ordered by (subject, slot),
    /// starting after `after` (exclusive): a page of a re-wrap.
    async fn wrapped_keys(
        &self,
        table: KeyTable,
        version: u32,
        after: Option<(SubjectId, String)>,
        limit: u32,
    ) -> Result<Vec<WrappedKeyRow>>;

    /// How many blind-index entries each master-key version keys, ascending by version.
    async fn index_version_counts(&self) -> Result<Vec<(u32, u64)>>;

    /// Up to `limit` records holding a blind-index entry keyed from a version below
    /// `target`, ordered by record id, after `after` (exclusive): a page of a re-index.
    async fn stale_index_records(
        &self,
        target: u32,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<StaleIndexRecord>>;

    /// Up to `limit` kept records whose retention ends at or before `until`, in
    /// (`keep_until`, id) order, starting after `after` (keyset pagination on that pair).
    async fn retained_due(
        &self,
        until: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, RecordId)>,
        limit: u32,
    ) -> Result<Vec<RetainedDueRow>>;

    /// The (subject, record) pairs whose blind-index term for `collection.field` is any of
    /// `terms`, ordered by record id and each once, together with the metadata value under
    /// `meta_key`, all read in **one snapshot** (one statement on PostgreSQL). `terms` are one
    /// value's terms under each master-key version a server holds; a lookup reads the
    /// version a key rotation recorded beside them, and needs it from the same snapshot as
    /// the entries to know that no entry was re-keyed to a version it lacks (see the vault's
    /// `lookup_term`, which uses [`Store::lookup_and_load`]: this and the loads of the hits).
    async fn lookup_terms(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<TermHits>;

    /// [`Store::lookup_terms`] with every hit loaded as [`Store::load_subject`] loads the
    /// subject with the record hit, all in one snapshot (one statement on PostgreSQL): a
    /// lookup by a searchable field in one round trip.
    async fn lookup_and_load(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<FoundSubjects>;
}
