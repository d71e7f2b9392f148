//! Verifying the whole stored audit log (`privet audit verify`): every leaf recomputed in
//! index order with its stored leaf hash and chain value, every stored checkpoint's signature
//! and root, optionally a checkpoint saved outside the vault, then the store's own head and
//! subtree hashes against the recomputed tree.
//!
//! Leaves are read in batches by a separate task while this one hashes, so reading and
//! hashing overlap; memory stays O(batch + log n).

use std::sync::Arc;

use privet_audit::{LogReport, LogVerifier, StoredLeaf as Leaf, VerifierKey};
use privet_store::{Store, StoredLeaf, frontier_subtrees};
use tokio::sync::mpsc;

use crate::audit::AuditError;
use crate::{Actor, Vault, VaultError};

/// Leaves read per store call while verifying.
const BATCH: u32 = 8192;

impl Vault {
    /// Verifies the stored audit log against `key` (the log's verifier key; normally that of
    /// the configured signing key, or one pinned by the caller) and the origin `origin`,
    /// and, with `against`, against a checkpoint saved outside the vault. `progress` is
    /// called with (leaves verified, leaves in the log) after each batch.
    ///
    /// # Errors
    /// [`AuditError::Verify`] naming the first bad leaf (or the index range a checkpoint
    /// places it in), [`AuditError::Truncated`] or [`AuditError::Subtrees`] when the store's
    /// own head disagrees with the leaves; store errors as usual.
    pub async fn verify_audit(
        &self,
        actor: &Actor,
        key: &VerifierKey,
        origin: &str,
        against: Option<&str>,
        progress: impl FnMut(u64, u64),
    ) -> Result<LogReport, VaultError> {
        self.require_admin(actor).await?;
        verify_audit_log(&self.inner.store, key, origin, against, progress).await
    }
}

/// [`Vault::verify_audit`] on a store alone: verifying needs no master key, only the
/// database and the log's verifier key.
///
/// # Errors
/// As [`Vault::verify_audit`].
pub async fn verify_audit_log(
    store: &Arc<dyn Store>,
    key: &VerifierKey,
    origin: &str,
    against: Option<&str>,
    progress: impl FnMut(u64, u64),
) -> Result<LogReport, VaultError> {
    verify_audit_log_with_keys(store, std::slice::from_ref(key), origin, against, progress).await
}

/// [`verify_audit_log`] for a log whose signing key was rotated: each checkpoint must
/// verify under one of `keys` (the current one and every earlier one).
pub async fn verify_audit_log_with_keys(
    store: &Arc<dyn Store>,
    keys: &[VerifierKey],
    origin: &str,
    against: Option<&str>,
    mut progress: impl FnMut(u64, u64),
) -> Result<LogReport, VaultError> {
    let stored: Vec<String> = store
        .checkpoints()
        .await?
        .into_iter()
        .map(|c| c.note)
        .collect();
    let mut verifier =
        LogVerifier::with_keys(keys, origin, &stored, against).map_err(AuditError::Verify)?;
    let head = store.audit_len().await?;
    let (tx, mut rx) = mpsc::channel::<Result<Vec<StoredLeaf>, VaultError>>(4);
    let reading = Arc::clone(store);
    let reader = tokio::spawn(async move {
        let store = reading;
        let mut from = 0;
        loop {
            let batch = store.audit_leaves(from, BATCH).await;
            let (done, next) = match &batch {
                Ok(b) => (b.is_empty(), b.last().map_or(from, |l| l.index + 1)),
                Err(_) => (true, from),
            };
            if tx.send(batch.map_err(VaultError::from)).await.is_err() || done {
                break;
            }
            from = next;
        }
    });
    let result = async {
        while let Some(batch) = rx.recv().await {
            let batch = batch?;
            if batch.is_empty() {
                break;
            }
            for l in &batch {
                let leaf = Leaf {
                    index: l.index,
                    bytes: l.leaf.as_slice(),
                    hash: Some(l.leaf_hash),
                };
                verifier
                    .push_chained(leaf, l.chain)
                    .map_err(AuditError::Verify)?;
            }
            progress(verifier.size(), head.max(verifier.size()));
        }
        Ok::<_, VaultError>(())
    }
    .await;
    // Stops the reader if verification ended early.
    drop(rx);
    let _ = reader.await;
    result?;
    let frontier = verifier.frontier().clone();
    let report = verifier.finish().map_err(AuditError::Verify)?;
    if head > report.size {
        return Err(AuditError::Truncated {
            head,
            stored: report.size,
        }
        .into());
    }
    // The hashes proofs are made from must be those of the leaves just verified.
    let stored_peaks = store
        .audit_subtrees(&frontier_subtrees(report.size))
        .await
        .map_err(|e| AuditError::Subtrees {
            size: report.size,
            detail: e.to_string(),
        })?;
    if stored_peaks != frontier.peaks() {
        return Err(AuditError::Subtrees {
            size: report.size,
            detail: "their root differs from the leaves' root".into(),
        }
        .into());
    }
    Ok(report)
}
