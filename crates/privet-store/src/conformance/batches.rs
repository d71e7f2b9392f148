//! Conformance cases for write sets that create many subjects at once (what `import` and
//! batch creation produce): they commit whole, or, when any one op fails, keep nothing.

use std::sync::Arc;

use privet_audit::Action;
use privet_core::SubjectId;

use super::{create, entry, index, record, subject};
use crate::{Op, RecordRow, Store, StoreError, SubjectRow, WriteSet};

/// A write set creating `subjects`, each with one profile record (returned) and an email index
/// entry (term `t<i>`, not unique), and one audit entry each.
fn creations(subjects: &[SubjectRow]) -> (WriteSet, Vec<RecordRow>) {
    let mut w = WriteSet::new();
    let mut records = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let r = record(s.id, "customers", i as u8);
        w = w
            .op(Op::CreateSubject(s.clone()))
            .op(Op::PutIndex(index(
                &r,
                "email",
                format!("t{i}").as_bytes(),
                false,
            )))
            .op(Op::PutRecord {
                record: r.clone(),
                expected_version: None,
            })
            .audit(entry(Action::SubjectCreate, Some(s.id)));
        records.push(r);
    }
    (w, records)
}

async fn none_exist(store: &dyn Store, subjects: &[SubjectRow]) {
    for s in subjects {
        assert!(
            store
                .load_subject(s.id, "customers", None)
                .await
                .unwrap()
                .is_none(),
            "a refused write set left subject {} behind",
            s.id
        );
    }
}

pub async fn a_batch_of_creations_commits_every_subject_record_and_index_entry(
    store: Arc<impl Store>,
) {
    let start = store.audit_len().await.unwrap();
    let subjects: Vec<SubjectRow> = (0..50).map(|_| subject()).collect();
    let (mut w, records) = creations(&subjects);
    // Two entries with one term (a shared, non-unique value) and a second record of one subject.
    let extra = record(subjects[7].id, "orders", 9);
    w = w
        .op(Op::PutIndex(index(&records[8], "email", b"t3", false)))
        .op(Op::PutRecord {
            record: extra.clone(),
            expected_version: None,
        });
    let committed = store.apply(w).await.unwrap();
    assert_eq!(committed.first_audit_index, Some(start));
    assert_eq!(store.audit_len().await.unwrap(), start + 50);
    for (i, s) in subjects.iter().enumerate() {
        let got = store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.subject, *s);
        assert_eq!(got.records.len(), 1);
        let hits = store
            .lookup("customers", "email", format!("t{i}").as_bytes())
            .await
            .unwrap();
        assert!(hits.contains(&(s.id, got.records[0].id)));
    }
    let mut shared = store.lookup("customers", "email", b"t3").await.unwrap();
    shared.sort();
    let mut want = vec![
        (subjects[3].id, records[3].id),
        (subjects[8].id, records[8].id),
    ];
    want.sort();
    assert_eq!(shared, want);
    let orders = store
        .load_subject(subjects[7].id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orders.records, vec![extra]);
}

pub async fn a_batch_with_one_erased_id_keeps_nothing(store: Arc<impl Store>) {
    let erased = subject();
    create(&*store, &erased, &[]).await;
    let at = super::now();
    store
        .apply(WriteSet::new().op(Op::EraseSubject {
            subject: erased.id,
            at,
        }))
        .await
        .unwrap();
    let before = store.audit_len().await.unwrap();
    let mut subjects: Vec<SubjectRow> = (0..10).map(|_| subject()).collect();
    subjects.insert(6, erased.clone());
    assert!(matches!(
        store.apply(creations(&subjects).0).await,
        Err(StoreError::AlreadyExists(_))
    ));
    none_exist(&*store, &subjects).await;
    assert!(
        store
            .lookup("customers", "email", b"t0")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.audit_len().await.unwrap(), before);
}

pub async fn a_batch_naming_one_subject_twice_keeps_nothing(store: Arc<impl Store>) {
    let mut subjects: Vec<SubjectRow> = (0..10).map(|_| subject()).collect();
    subjects.push(subjects[3].clone());
    assert!(matches!(
        store.apply(creations(&subjects).0).await,
        Err(StoreError::AlreadyExists(_))
    ));
    none_exist(&*store, &subjects).await;
    // And one that already exists, in the middle of a batch.
    let existing = subject();
    create(&*store, &existing, &[]).await;
    let mut subjects: Vec<SubjectRow> = (0..10).map(|_| subject()).collect();
    subjects.insert(4, existing.clone());
    assert!(matches!(
        store.apply(creations(&subjects).0).await,
        Err(StoreError::AlreadyExists(_))
    ));
    none_exist(&*store, &subjects[5..]).await;
    none_exist(&*store, &subjects[..4]).await;
}

pub async fn a_batch_with_a_record_of_a_missing_subject_keeps_nothing(store: Arc<impl Store>) {
    let existing = subject();
    create(&*store, &existing, &[]).await;
    let missing = SubjectId::new();
    let subjects: Vec<SubjectRow> = (0..10).map(|_| subject()).collect();
    let kept = record(existing.id, "orders", 1);
    let orphan = record(missing, "orders", 2);
    let w = creations(&subjects)
        .0
        .op(Op::PutRecord {
            record: kept,
            expected_version: None,
        })
        .op(Op::PutRecord {
            record: orphan,
            expected_version: None,
        });
    match store.apply(w).await {
        Err(StoreError::SubjectNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected SubjectNotFound, got {other:?}"),
    }
    none_exist(&*store, &subjects).await;
    let orders = store
        .load_subject(existing.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert!(orders.records.is_empty());
}

pub async fn a_batch_giving_two_subjects_one_unique_term_keeps_nothing(store: Arc<impl Store>) {
    let subjects: Vec<SubjectRow> = (0..6).map(|_| subject()).collect();
    let (mut w, records) = creations(&subjects);
    for r in [&records[1], &records[4]] {
        w = w.op(Op::PutIndex(index(r, "phone", b"same-unique-term", true)));
    }
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::UniqueViolation { .. })
    ));
    none_exist(&*store, &subjects).await;
    // One subject may hold its own unique term twice (two records, or a rewrite).
    let s = subject();
    let (w, records) = creations(std::slice::from_ref(&s));
    let r = &records[0];
    let w = w
        .op(Op::PutIndex(index(r, "phone", b"own-term", true)))
        .op(Op::PutIndex(index(r, "phone", b"own-term", true)));
    store.apply(w).await.unwrap();
    assert_eq!(
        store
            .lookup("customers", "phone", b"own-term")
            .await
            .unwrap(),
        vec![(s.id, r.id)]
    );
}
