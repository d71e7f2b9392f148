//! The conformance suite every backend runs: one body per behaviour, executed against each
//! implementation through [`store_conformance_tests!`](crate::store_conformance_tests).
//!
//! Each case takes a fresh, empty store. A case panics (through `assert!`) on a violation, so
//! the backend's test harness reports the behaviour by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use privet_audit::{Action, AuditEntry, leaf_hash};
use privet_core::{RecordId, SubjectId};
use time::OffsetDateTime;

use crate::{ApiKeyRow, IndexEntry, Op, RecordRow, Store, StoreError, SubjectRow, WriteSet};

mod audit;
mod batches;
mod consent;
mod export;
mod lookup;
mod portal;
mod principals;
mod retained;
mod retention;
mod rights;
mod rotation;

pub use audit::*;
pub use batches::*;
pub use consent::*;
pub use export::*;
pub use lookup::*;
pub use portal::*;
pub use principals::*;
pub use retained::*;
pub use retention::*;
pub use rights::*;
pub use rotation::*;

/// Generates one `#[tokio::test]` per conformance case. `$make` is an async expression that
/// yields a fresh `Arc<dyn Store>`-compatible store (it is evaluated once per test).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            created_subject_loads_with_its_records,
            unknown_subject_loads_as_none,
            duplicate_subject_is_refused_and_keeps_nothing,
            failed_write_set_keeps_nothing_of_itself,
            stale_version_is_a_conflict,
            lookup_finds_indexed_records_and_forgets_deleted_entries,
            unique_index_refuses_a_second_subject,
            erasure_removes_everything_and_is_final,
            audit_leaves_are_sequential_and_hashed,
            meta_and_api_keys_round_trip,
            concurrent_write_sets_all_commit_in_order,
            a_record_is_only_visible_through_its_own_subject,
            consent_ledger_keeps_append_order_and_reads_show_the_latest_per_purpose,
            consent_for_a_missing_or_erased_subject_fails_and_keeps_nothing,
            erasure_deletes_the_consent_ledger_and_the_restriction,
            consents_racing_an_erasure_are_refused_or_erased_with_it,
            restriction_is_set_replaced_and_lifted,
            principals_round_trip_and_ids_and_names_are_unique,
            revoking_a_principal_revokes_its_keys_once,
            principal_grants_hold_the_principal_and_its_existing_roles,
            roles_are_created_once_replaced_and_listed_by_name,
            suspension_is_stored_kept_first_and_lifted,
            a_batch_of_creations_commits_every_subject_record_and_index_entry,
            a_batch_with_one_erased_id_keeps_nothing,
            a_batch_naming_one_subject_twice_keeps_nothing,
            a_batch_with_a_record_of_a_missing_subject_keeps_nothing,
            a_batch_giving_two_subjects_one_unique_term_keeps_nothing,
            audit_tree_is_kept_with_chain_subtree_hashes_and_frontier,
            failed_write_sets_leave_no_trace_in_the_audit_tree,
            audit_leaves_are_found_by_subject,
            checkpoints_are_kept_in_size_order,
            a_whole_subject_loads_with_every_collection_in_order,
            rights_requests_keep_their_history_versions_and_order_by_due_date,
            outbox_messages_are_due_deferred_and_deleted,
            a_subjects_messages_queued_before_a_time_are_deleted,
            retained_keys_are_stored_once_per_subject_and_class,
            a_creation_with_class_keys_commits_whole_or_not_at_all,
            erasure_keeps_only_the_retained_records_and_their_key,
            erasure_keeping_nothing_destroys_the_retained_key,
            retaining_another_subjects_record_fails_and_keeps_nothing,
            retention_pages_list_subjects_in_id_order_with_everything_retention_needs,
            a_legal_hold_refuses_erasure_until_lifted,
            deleting_a_record_removes_its_index_entries_and_checks_its_version,
            the_retention_guard_refuses_held_changed_or_missing_subjects,
            a_portal_token_is_spent_once_and_forgotten_after_it_expired,
            kept_records_are_listed_by_the_end_of_their_retention_in_pages,
            purging_kept_records_destroys_the_class_key_with_the_last,
            retained_keys_are_counted_paged_and_rewrapped_by_version,
            an_outbox_recipient_is_kept_with_its_message_and_deleted_with_it,
            a_lookup_of_several_terms_finds_each_entry_once_with_the_meta_value,
            a_lookup_and_load_returns_each_hit_as_its_subject_loads_with_that_record,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::conformance::$case(std::sync::Arc::new(store)).await;
            }
        )*
    };
}

fn now() -> OffsetDateTime {
    // Stores keep microseconds; truncate so round trips compare equal.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

fn subject() -> SubjectRow {
    SubjectRow {
        id: SubjectId::new(),
        key_version: 1,
        wrapped_key: vec![0xAB; 60],
        created_at: now(),
    }
}

fn record(subject: SubjectId, collection: &str, n: u8) -> RecordRow {
    let t = now();
    RecordRow {
        id: RecordId::new(),
        subject,
        collection: collection.to_owned(),
        version: 1,
        created_at: t,
        updated_at: t,
        fields: vec![
            ("email".into(), vec![n; 40]),
            ("name".into(), vec![n + 1; 30]),
        ],
    }
}

fn entry(action: Action, subject: Option<SubjectId>) -> AuditEntry {
    let mut e = AuditEntry::new(now(), "test", action);
    e.subject = subject;
    e
}

fn index(r: &RecordRow, field: &str, term: &[u8], unique: bool) -> IndexEntry {
    IndexEntry {
        collection: r.collection.clone(),
        field: field.into(),
        term: term.to_vec(),
        subject: r.subject,
        record: r.id,
        unique,
        key_version: 1,
    }
}

async fn create(store: &dyn Store, s: &SubjectRow, records: &[RecordRow]) {
    let mut w = WriteSet::new().op(Op::CreateSubject(s.clone()));
    for r in records {
        w = w.op(Op::PutRecord {
            record: r.clone(),
            expected_version: None,
        });
    }
    store
        .apply(w.audit(entry(Action::SubjectCreate, Some(s.id))))
        .await
        .unwrap();
}

pub async fn created_subject_loads_with_its_records(store: Arc<impl Store>) {
    let s = subject();
    let r1 = record(s.id, "orders", 1);
    let r2 = record(s.id, "orders", 3);
    let p = record(s.id, "customers", 5);
    create(&*store, &s, &[p.clone(), r1.clone(), r2.clone()]).await;
    let got = store
        .load_subject(s.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject, s);
    assert_eq!(got.records, vec![r1.clone(), r2]);
    let one = store
        .load_subject(s.id, "orders", Some(r1.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.records, vec![r1]);
    let prof = store
        .load_subject(s.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prof.records, vec![p]);
    let none = store
        .load_subject(s.id, "support", None)
        .await
        .unwrap()
        .unwrap();
    assert!(none.records.is_empty());
}

pub async fn unknown_subject_loads_as_none(store: Arc<impl Store>) {
    assert!(
        store
            .load_subject(SubjectId::new(), "customers", None)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn duplicate_subject_is_refused_and_keeps_nothing(store: Arc<impl Store>) {
    let s = subject();
    create(&*store, &s, &[]).await;
    let before = store.audit_len().await.unwrap();
    let r = record(s.id, "orders", 1);
    let w = WriteSet::new()
        .op(Op::CreateSubject(s.clone()))
        .op(Op::PutRecord {
            record: r,
            expected_version: None,
        })
        .audit(entry(Action::SubjectCreate, Some(s.id)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(
        store
            .load_subject(s.id, "orders", None)
            .await
            .unwrap()
            .unwrap()
            .records
            .is_empty()
    );
}

pub async fn failed_write_set_keeps_nothing_of_itself(store: Arc<impl Store>) {
    let s = subject();
    let missing = SubjectId::new();
    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::CreateSubject(s.clone()))
        .op(Op::RequireSubject(missing))
        .audit(entry(Action::SubjectCreate, Some(s.id)));
    match store.apply(w).await {
        Err(StoreError::SubjectNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected SubjectNotFound, got {other:?}"),
    }
    assert!(
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.audit_len().await.unwrap(), before);
}

pub async fn stale_version_is_a_conflict(store: Arc<impl Store>) {
    let s = subject();
    let r = record(s.id, "customers", 1);
    create(&*store, &s, std::slice::from_ref(&r)).await;
    let mut v2 = r.clone();
    v2.version = 2;
    v2.fields[0].1 = vec![7; 40];
    let ok = WriteSet::new().op(Op::PutRecord {
        record: v2.clone(),
        expected_version: Some(1),
    });
    store.apply(ok).await.unwrap();
    let mut stale = r.clone();
    stale.version = 2;
    let w = WriteSet::new().op(Op::PutRecord {
        record: stale,
        expected_version: Some(1),
    });
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let got = store
        .load_subject(s.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.records, vec![v2]);
    let mut ghost = record(s.id, "customers", 9);
    ghost.version = 2;
    let w = WriteSet::new().op(Op::PutRecord {
        record: ghost,
        expected_version: Some(1),
    });
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::RecordNotFound(_))
    ));
}

pub async fn lookup_finds_indexed_records_and_forgets_deleted_entries(store: Arc<impl Store>) {
    let (a, b) = (subject(), subject());
    let (ra, rb) = (record(a.id, "customers", 1), record(b.id, "customers", 2));
    create(&*store, &a, std::slice::from_ref(&ra)).await;
    create(&*store, &b, std::slice::from_ref(&rb)).await;
    let w = WriteSet::new()
        .op(Op::PutIndex(index(&ra, "name", b"term-shared", false)))
        .op(Op::PutIndex(index(&rb, "name", b"term-shared", false)))
        .op(Op::PutIndex(index(&ra, "email", b"term-a", false)));
    store.apply(w).await.unwrap();
    let mut hits = store
        .lookup("customers", "name", b"term-shared")
        .await
        .unwrap();
    hits.sort();
    let mut want = vec![(a.id, ra.id), (b.id, rb.id)];
    want.sort();
    assert_eq!(hits, want);
    assert_eq!(
        store.lookup("customers", "email", b"term-a").await.unwrap(),
        vec![(a.id, ra.id)]
    );
    assert!(
        store
            .lookup("customers", "email", b"term-shared")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .lookup("orders", "name", b"term-shared")
            .await
            .unwrap()
            .is_empty()
    );
    let del = WriteSet::new().op(Op::DeleteIndex {
        record: ra.id,
        field: "name".into(),
    });
    store.apply(del).await.unwrap();
    assert_eq!(
        store
            .lookup("customers", "name", b"term-shared")
            .await
            .unwrap(),
        vec![(b.id, rb.id)]
    );
    assert_eq!(
        store.lookup("customers", "email", b"term-a").await.unwrap(),
        vec![(a.id, ra.id)]
    );
}

pub async fn unique_index_refuses_a_second_subject(store: Arc<impl Store>) {
    let (a, b) = (subject(), subject());
    let (ra, rb) = (record(a.id, "customers", 1), record(b.id, "customers", 2));
    create(&*store, &a, std::slice::from_ref(&ra)).await;
    store
        .apply(WriteSet::new().op(Op::PutIndex(index(&ra, "email", b"t", true))))
        .await
        .unwrap();
    let w = WriteSet::new()
        .op(Op::CreateSubject(b.clone()))
        .op(Op::PutRecord {
            record: rb.clone(),
            expected_version: None,
        })
        .op(Op::PutIndex(index(&rb, "email", b"t", true)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::UniqueViolation { .. })
    ));
    assert!(
        store
            .load_subject(b.id, "customers", None)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn erasure_removes_everything_and_is_final(store: Arc<impl Store>) {
    let (s, other) = (subject(), subject());
    let (r, ro) = (
        record(s.id, "customers", 1),
        record(other.id, "customers", 2),
    );
    create(&*store, &s, std::slice::from_ref(&r)).await;
    create(&*store, &other, std::slice::from_ref(&ro)).await;
    let w = WriteSet::new()
        .op(Op::PutIndex(index(&r, "email", b"t", false)))
        .op(Op::PutIndex(index(&ro, "email", b"t", false)));
    store.apply(w).await.unwrap();
    let at = now();
    let w = WriteSet::new()
        .op(Op::EraseSubject { subject: s.id, at })
        .audit(entry(Action::SubjectErase, Some(s.id)));
    store.apply(w).await.unwrap();
    assert!(
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.lookup("customers", "email", b"t").await.unwrap(),
        vec![(other.id, ro.id)]
    );
    assert_eq!(store.erasures().await.unwrap(), vec![(s.id, at)]);
    // An erased id never comes back, and no write can target it.
    let again = WriteSet::new().op(Op::CreateSubject(s.clone()));
    assert!(matches!(
        store.apply(again).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let req = WriteSet::new().op(Op::RequireSubject(s.id));
    assert!(matches!(
        store.apply(req).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    let erase_again = WriteSet::new().op(Op::EraseSubject { subject: s.id, at });
    assert!(matches!(
        store.apply(erase_again).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    // The other subject is untouched.
    let o = store
        .load_subject(other.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.records, vec![ro]);
}

pub async fn audit_leaves_are_sequential_and_hashed(store: Arc<impl Store>) {
    let start = store.audit_len().await.unwrap();
    let mut w = WriteSet::new();
    for _ in 0..3 {
        w = w.audit(entry(Action::Admin, None));
    }
    let c = store.apply(w).await.unwrap();
    assert_eq!(c.first_audit_index, Some(start));
    let c2 = store
        .apply(WriteSet::new().audit(entry(Action::Admin, None)))
        .await
        .unwrap();
    assert_eq!(c2.first_audit_index, Some(start + 3));
    assert_eq!(
        store
            .apply(WriteSet::new())
            .await
            .unwrap()
            .first_audit_index,
        None
    );
    assert_eq!(store.audit_len().await.unwrap(), start + 4);
    let leaves = store.audit_leaves(start, 10).await.unwrap();
    assert_eq!(leaves.len(), 4);
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(l.index, start + i as u64);
        assert_eq!(l.leaf_hash, leaf_hash(&l.leaf));
        assert!(l.chain.is_some());
        assert!(AuditEntry::from_leaf_bytes(&l.leaf).is_ok());
    }
    assert_eq!(
        store.audit_leaves(start + 1, 2).await.unwrap(),
        leaves[1..3].to_vec()
    );
}

pub async fn meta_and_api_keys_round_trip(store: Arc<impl Store>) {
    assert_eq!(store.meta("kcv:v1").await.unwrap(), None);
    let key = ApiKeyRow {
        prefix: "abcdefgh".into(),
        hash: vec![5; 32],
        principal: "admin".into(),
        created_at: now(),
        expires_at: Some(now() + time::Duration::days(30)),
        revoked_at: None,
    };
    let w = WriteSet::new()
        .op(Op::PutMeta {
            key: "kcv:v1".into(),
            value: vec![1, 2, 3],
        })
        .op(Op::PutApiKey(key.clone()));
    store.apply(w).await.unwrap();
    assert_eq!(store.meta("kcv:v1").await.unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(store.api_key("abcdefgh").await.unwrap(), Some(key));
    assert_eq!(store.api_key("zzzzzzzz").await.unwrap(), None);
    store.ping().await.unwrap();
}

pub async fn concurrent_write_sets_all_commit_in_order(store: Arc<impl Store>) {
    let start = store.audit_len().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let s = subject();
            let r = record(s.id, "customers", 1);
            let w = WriteSet::new()
                .op(Op::CreateSubject(s.clone()))
                .op(Op::PutRecord {
                    record: r,
                    expected_version: None,
                })
                .audit(entry(Action::SubjectCreate, Some(s.id)));
            (
                s.id,
                store.apply(w).await.unwrap().first_audit_index.unwrap(),
            )
        }));
    }
    let mut indexes = Vec::new();
    for t in tasks {
        let (id, idx) = t.await.unwrap();
        assert!(
            store
                .load_subject(id, "customers", None)
                .await
                .unwrap()
                .is_some()
        );
        indexes.push(idx);
    }
    indexes.sort_unstable();
    let want: Vec<u64> = (start..start + 64).collect();
    assert_eq!(indexes, want);
}

pub async fn a_record_is_only_visible_through_its_own_subject(store: Arc<impl Store>) {
    let (a, b) = (subject(), subject());
    let ra = record(a.id, "orders", 1);
    create(&*store, &a, std::slice::from_ref(&ra)).await;
    create(&*store, &b, &[]).await;
    let got = store
        .load_subject(b.id, "orders", Some(ra.id))
        .await
        .unwrap()
        .unwrap();
    assert!(got.records.is_empty());
    let got = store
        .load_subject(a.id, "customers", Some(ra.id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        got.records.is_empty(),
        "a record is only found in its own collection"
    );
}
