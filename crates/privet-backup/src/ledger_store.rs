//! [`LedgerStore`]: a [`Store`] that appends every committed erasure, restriction and legal
//! hold (set or lifted) to the erasure ledger before the write is acknowledged.
//!
//! Why after the commit, not before: an event appended before its transaction commits may
//! belong to a write that then fails — an erasure refused because the subject does not
//! exist, or (later) because it is on legal hold — and a restore would replay it, erasing a
//! customer nobody erased. Appending after the commit means an acknowledged erasure is
//! always in the ledger (the caller hears of success only after the fsync), and the only gap
//! is a crash between commit and append, where the caller got no answer: the erasure is in
//! the database's `erasures` table, and [`crate::resync_erasures`] copies it to the ledger
//! when a server starts. If the append fails the caller gets an error although the erasure
//! committed (it is never silently missing from the ledger).
//!
//! Every path that erases or restricts (API, CLI, retention, imports) goes through the
//! store, so wrapping the store covers them all without each remembering to.

use std::sync::Arc;

use async_trait::async_trait;
use privet_audit::{Frontier, Hash, Subtree};
use privet_core::{RecordId, SubjectId};
use privet_store::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, Op, PrincipalRow, Result, RoleRow, Store,
    StoreError, StoredLeaf, SubjectData, WriteSet,
};
use time::OffsetDateTime;

use crate::{Ledger, LedgerEvent, LedgerKind};

/// A store whose erasures and restrictions are also appended to a [`Ledger`].
pub struct LedgerStore {
    inner: Arc<dyn Store>,
    ledger: Arc<Ledger>,
}

impl std::fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerStore")
            .field("ledger", &self.ledger.path())
            .finish_non_exhaustive()
    }
}

impl LedgerStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, ledger: Arc<Ledger>) -> LedgerStore {
        LedgerStore { inner, ledger }
    }
}

/// The ledger events of a write set (none for most).
pub(crate) fn events_of(w: &WriteSet, now: OffsetDateTime) -> Vec<LedgerEvent> {
    w.ops
        .iter()
        .filter_map(|op| match op {
            Op::EraseSubject { subject, at } => Some(LedgerEvent {
                at: *at,
                kind: LedgerKind::Erase,
                subject: *subject,
            }),
            Op::SetRestriction {
                subject,
                restriction,
            } => Some(LedgerEvent {
                at: restriction.as_ref().map_or(now, |r| r.at),
                kind: if restriction.is_some() {
                    LedgerKind::Restrict
                } else {
                    LedgerKind::Unrestrict
                },
                subject: *subject,
            }),
            Op::SetLegalHold { subject, hold } => Some(LedgerEvent {
                at: hold.as_ref().map_or(now, |h| h.at),
                kind: if hold.is_some() {
                    LedgerKind::Hold
                } else {
                    LedgerKind::Release
                },
                subject: *subject,
            }),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Store for LedgerStore {
    async fn apply(&self, writes: WriteSet) -> Result<Committed> {
        let events = events_of(&writes, OffsetDateTime::now_utc());
        let committed = self.inner.apply(writes).await?;
        if !events.is_empty() {
            let ledger = Arc::clone(&self.ledger);
            tokio::task::spawn_blocking(move || ledger.append(&events))
                .await
                .map_err(|e| StoreError::Unavailable(format!("ledger task failed: {e}")))?
                .map_err(|e| {
                    tracing::error!(error = %e, "an erasure or restriction committed but is not in the erasure ledger");
                    StoreError::Unavailable(format!(
                        "committed, but the erasure ledger append failed ({e}); it is re-synced from the database at the next start"
                    ))
                })?;
        }
        Ok(committed)
    }

    async fn load_subject(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<SubjectData>> {
        self.inner.load_subject(subject, collection, record).await
    }

    async fn lookup(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<(SubjectId, RecordId)>> {
        self.inner.lookup(collection, field, term).await
    }

    async fn consent_history(&self, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
        self.inner.consent_history(subject).await
    }

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(key).await
    }

    async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRow>> {
        self.inner.api_key(prefix).await
    }

    async fn principal(&self, id: &str) -> Result<Option<PrincipalRow>> {
        self.inner.principal(id).await
    }

    async fn principals(&self) -> Result<Vec<PrincipalRow>> {
        self.inner.principals().await
    }

    async fn principal_grants(&self, id: &str) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
        self.inner.principal_grants(id).await
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRow>> {
        self.inner.role(name).await
    }

    async fn roles(&self) -> Result<Vec<RoleRow>> {
        self.inner.roles().await
    }

    async fn audit_leaves(&self, from: u64, limit: u32) -> Result<Vec<StoredLeaf>> {
        self.inner.audit_leaves(from, limit).await
    }

    async fn audit_len(&self) -> Result<u64> {
        self.inner.audit_len().await
    }

    async fn audit_subtrees(&self, subtrees: &[Subtree]) -> Result<Vec<Hash>> {
        self.inner.audit_subtrees(subtrees).await
    }

    async fn audit_frontier(&self) -> Result<Frontier> {
        self.inner.audit_frontier().await
    }

    async fn audit_leaves_of_subject(
        &self,
        subject: SubjectId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredLeaf>> {
        self.inner
            .audit_leaves_of_subject(subject, from, limit)
            .await
    }

    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        self.inner.checkpoints().await
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        self.inner.latest_checkpoint().await
    }

    async fn erasures(&self) -> Result<Vec<(SubjectId, OffsetDateTime)>> {
        self.inner.erasures().await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn load_subject_all(&self, s: SubjectId) -> privet_store::Result<Option<SubjectData>> {
        self.inner.load_subject_all(s).await
    }

    async fn rights_request(
        &self,
        id: privet_core::RightsRequestId,
    ) -> privet_store::Result<
        Option<(
            privet_store::RightsRequestRow,
            Vec<privet_store::RequestEventRow>,
        )>,
    > {
        self.inner.rights_request(id).await
    }

    async fn rights_requests(
        &self,
        f: &privet_store::RequestFilter,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RightsRequestRow>> {
        self.inner.rights_requests(f, limit).await
    }

    async fn outbox_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::OutboxRow>> {
        self.inner.outbox_due(now, limit).await
    }

    async fn outbox_message(
        &self,
        id: privet_core::MessageId,
    ) -> privet_store::Result<Option<privet_store::OutboxRow>> {
        self.inner.outbox_message(id).await
    }

    async fn retained_keys(
        &self,
        subject: SubjectId,
    ) -> privet_store::Result<Vec<privet_store::RetainedKeyRow>> {
        self.inner.retained_keys(subject).await
    }

    async fn load_retained(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> privet_store::Result<Option<privet_store::RetainedData>> {
        self.inner.load_retained(subject, collection, record).await
    }

    async fn retention_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RetentionRow>> {
        self.inner.retention_page(after, limit).await
    }

    async fn legal_hold(
        &self,
        s: SubjectId,
    ) -> privet_store::Result<Option<privet_store::LegalHoldRow>> {
        self.inner.legal_hold(s).await
    }

    async fn portal_token_spent(&self, id: &str) -> Result<bool> {
        self.inner.portal_token_spent(id).await
    }

    async fn wrapped_key_counts(
        &self,
        table: privet_store::KeyTable,
    ) -> privet_store::Result<Vec<(u32, u64)>> {
        self.inner.wrapped_key_counts(table).await
    }

    async fn wrapped_keys(
        &self,
        table: privet_store::KeyTable,
        version: u32,
        after: Option<(privet_core::SubjectId, String)>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::WrappedKeyRow>> {
        self.inner.wrapped_keys(table, version, after, limit).await
    }

    async fn index_version_counts(&self) -> privet_store::Result<Vec<(u32, u64)>> {
        self.inner.index_version_counts().await
    }

    async fn stale_index_records(
        &self,
        target: u32,
        after: Option<privet_core::RecordId>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::StaleIndexRecord>> {
        self.inner.stale_index_records(target, after, limit).await
    }

    async fn retained_due(
        &self,
        until: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, RecordId)>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RetainedDueRow>> {
        self.inner.retained_due(until, after, limit).await
    }

    async fn lookup_terms(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> privet_store::Result<privet_store::TermHits> {
        self.inner
            .lookup_terms(collection, field, terms, meta_key)
            .await
    }

    async fn lookup_and_load(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> privet_store::Result<privet_store::FoundSubjects> {
        self.inner
            .lookup_and_load(collection, field, terms, meta_key)
            .await
    }
}
