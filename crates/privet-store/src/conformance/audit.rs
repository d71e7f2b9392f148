//! Conformance cases for the audit tree a store keeps: leaves with their chain values, the
//! stored subtree hashes proofs are made from, the frontier checkpoints sign, entries by
//! subject, and checkpoints.

use std::sync::Arc;

use privet_audit::{Action, CHAIN_START, Frontier, HashSource, MemoryTree, Subtree, chain_hash};
use privet_core::SubjectId;

use super::{entry, now, subject};
use crate::{CheckpointRow, Op, Store, StoreError, WriteSet};

/// Checks everything derived from the leaves against the leaves themselves: every chain
/// value, the frontier, and the hash of every perfect subtree (up to 128 leaves) inside the
/// log. Returns the log's size. Backends also use it after upgrading an older database.
pub async fn assert_tree_matches_leaves(store: &dyn Store) -> u64 {
    let size = store.audit_len().await.unwrap();
    let leaves = store.audit_leaves(0, u32::MAX).await.unwrap();
    assert_eq!(leaves.len() as u64, size);
    let mut chain = CHAIN_START;
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(l.index, i as u64);
        chain = chain_hash(&chain, &l.leaf_hash);
        assert_eq!(l.chain, Some(chain), "chain value of leaf {i}");
    }
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().map(|l| l.leaf_hash));
    let frontier = store.audit_frontier().await.unwrap();
    assert_eq!(frontier, Frontier::from_source(&tree, size).unwrap());
    assert_eq!(frontier.root(), tree.root());
    let mut all = Vec::new();
    for level in 0..8u8 {
        for index in 0..(size >> level) {
            all.push(Subtree::new(level, index).unwrap());
        }
    }
    let want: Vec<_> = all.iter().map(|t| tree.subtree_hash(*t).unwrap()).collect();
    assert_eq!(store.audit_subtrees(&all).await.unwrap(), want);
    // A subtree that reaches past the log is refused, whatever its level.
    for level in [0u8, 2, 4, 6] {
        let beyond = Subtree::new(level, size >> level).unwrap();
        assert!(matches!(
            store.audit_subtrees(&[beyond]).await,
            Err(StoreError::Invalid(_))
        ));
    }
    size
}

pub async fn audit_tree_is_kept_with_chain_subtree_hashes_and_frontier(store: Arc<impl Store>) {
    assert_eq!(store.audit_frontier().await.unwrap(), Frontier::new());
    assert!(store.audit_subtrees(&[]).await.unwrap().is_empty());
    // Batches of many sizes, so subtrees complete inside batches and across them.
    for n in [1usize, 2, 5, 16, 1, 33, 7, 64, 3] {
        let mut w = WriteSet::new();
        for _ in 0..n {
            w = w.audit(entry(Action::Admin, None));
        }
        store.apply(w).await.unwrap();
    }
    assert_eq!(assert_tree_matches_leaves(&*store).await, 132);
}

pub async fn failed_write_sets_leave_no_trace_in_the_audit_tree(store: Arc<impl Store>) {
    let mut tasks = Vec::new();
    for i in 0..48u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut w = WriteSet::new();
            if i % 3 == 0 {
                // Fails: the subject does not exist. Its leaves must not count.
                w = w.op(Op::RequireSubject(SubjectId::new()));
            }
            for _ in 0..=(i % 4) {
                w = w.audit(entry(Action::SubjectRead, None));
            }
            (i, store.apply(w).await)
        }));
    }
    let mut appended = 0u64;
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match result {
            Ok(c) => {
                assert!(i % 3 != 0);
                assert!(c.first_audit_index.is_some());
                appended += u64::from(i % 4) + 1;
            }
            Err(e) => {
                assert!(i % 3 == 0);
                assert!(matches!(e, StoreError::SubjectNotFound(_)), "{e}");
            }
        }
    }
    assert_eq!(assert_tree_matches_leaves(&*store).await, appended);
    // The log goes on growing consistently after the failures.
    store
        .apply(WriteSet::new().audit(entry(Action::Admin, None)))
        .await
        .unwrap();
    assert_eq!(assert_tree_matches_leaves(&*store).await, appended + 1);
}

pub async fn audit_leaves_are_found_by_subject(store: Arc<impl Store>) {
    let (a, b) = (subject(), subject());
    let mut w = WriteSet::new();
    for s in [Some(a.id), None, Some(b.id), Some(a.id), Some(a.id), None] {
        w = w.audit(entry(Action::SubjectRead, s));
    }
    store.apply(w).await.unwrap();
    let of_a = store.audit_leaves_of_subject(a.id, 0, 10).await.unwrap();
    let indexes: Vec<u64> = of_a.iter().map(|l| l.index).collect();
    assert_eq!(indexes, vec![0, 3, 4]);
    let all = store.audit_leaves(0, 10).await.unwrap();
    for l in &of_a {
        assert_eq!(l, &all[l.index as usize]);
    }
    let from = store.audit_leaves_of_subject(a.id, 1, 1).await.unwrap();
    assert_eq!(from.iter().map(|l| l.index).collect::<Vec<_>>(), vec![3]);
    let of_b = store.audit_leaves_of_subject(b.id, 0, 10).await.unwrap();
    assert_eq!(of_b.iter().map(|l| l.index).collect::<Vec<_>>(), vec![2]);
    let none = store.audit_leaves_of_subject(SubjectId::new(), 0, 10).await;
    assert!(none.unwrap().is_empty());
}

pub async fn checkpoints_are_kept_in_size_order(store: Arc<impl Store>) {
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert!(store.checkpoints().await.unwrap().is_empty());
    let mut w = WriteSet::new();
    for _ in 0..5 {
        w = w.audit(entry(Action::Admin, None));
    }
    store.apply(w).await.unwrap();
    let row = |size: u64, note: &str| CheckpointRow {
        size,
        note: note.to_owned(),
        created_at: now(),
    };
    for (size, note) in [
        (3, "three\n"),
        (1, "one\n"),
        (3, "three again\n"),
        (0, "zero\n"),
    ] {
        store
            .apply(WriteSet::new().op(Op::PutCheckpoint(row(size, note))))
            .await
            .unwrap();
    }
    let got = store.checkpoints().await.unwrap();
    let sizes: Vec<_> = got.iter().map(|c| (c.size, c.note.as_str())).collect();
    assert_eq!(
        sizes,
        vec![
            (0, "zero\n"),
            (1, "one\n"),
            (3, "three\n"),
            (3, "three again\n")
        ]
    );
    assert_eq!(
        store.latest_checkpoint().await.unwrap().map(|c| c.note),
        Some("three again\n".to_owned())
    );
    // A checkpoint beyond the log is refused, with the rest of its write set.
    let beyond = WriteSet::new()
        .op(Op::PutCheckpoint(row(6, "six\n")))
        .audit(entry(Action::Admin, None));
    assert!(matches!(
        store.apply(beyond).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.checkpoints().await.unwrap().len(), 4);
    assert_eq!(store.audit_len().await.unwrap(), 5);
    // One of the whole log's size is the latest.
    store
        .apply(WriteSet::new().op(Op::PutCheckpoint(row(5, "five\n"))))
        .await
        .unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().size, 5);
}
