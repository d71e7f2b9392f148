//! Retention-class keys and the records an erasure keeps.

use std::sync::Arc;

use privet_audit::Action;
use time::Duration;

use super::{create, entry, index, now, record, subject};
use crate::{Op, RetainedKeyRow, Store, StoreError, SubjectRow, WriteSet};

const CLASS: &str = "legal_obligation";

fn class_key(s: &SubjectRow) -> RetainedKeyRow {
    RetainedKeyRow {
        subject: s.id,
        class: CLASS.into(),
        key_version: 1,
        wrapped_key: vec![0xCD; 60],
        created_at: now(),
    }
}

pub async fn retained_keys_are_stored_once_per_subject_and_class(store: Arc<impl Store>) {
    let (s, other) = (subject(), subject());
    create(&*store, &s, &[]).await;
    create(&*store, &other, &[]).await;
    let key = class_key(&s);
    store
        .apply(WriteSet::new().op(Op::PutRetainedKey(key.clone())))
        .await
        .unwrap();
    assert_eq!(store.retained_keys(s.id).await.unwrap(), vec![key.clone()]);
    assert!(store.retained_keys(other.id).await.unwrap().is_empty());
    let twice = WriteSet::new().op(Op::PutRetainedKey(key.clone()));
    assert!(matches!(
        store.apply(twice).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let missing = subject();
    let orphan = WriteSet::new().op(Op::PutRetainedKey(class_key(&missing)));
    assert!(matches!(
        store.apply(orphan).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    assert!(store.retained_keys(missing.id).await.unwrap().is_empty());
    // A live subject has nothing kept by an erasure.
    assert!(
        store
            .load_retained(s.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
}

/// What an import of customers with their first orders writes: subjects, their class keys
/// and records in one set. It commits whole, or (a key twice, a key before its subject, a
/// key of a missing subject) not at all.
pub async fn a_creation_with_class_keys_commits_whole_or_not_at_all(store: Arc<impl Store>) {
    let (a, b) = (subject(), subject());
    let (ra, rb) = (record(a.id, "orders", 1), record(b.id, "orders", 2));
    let put = |r: &crate::RecordRow| Op::PutRecord {
        record: r.clone(),
        expected_version: None,
    };
    let (ka, kb) = (class_key(&a), class_key(&b));
    let w = WriteSet::new()
        .op(Op::CreateSubject(a.clone()))
        .op(Op::PutRetainedKey(ka.clone()))
        .op(put(&ra))
        .op(Op::CreateSubject(b.clone()))
        .op(Op::PutRetainedKey(kb.clone()))
        .op(put(&rb));
    store.apply(w).await.unwrap();
    assert_eq!(store.retained_keys(a.id).await.unwrap(), vec![ka]);
    assert_eq!(store.retained_keys(b.id).await.unwrap(), vec![kb]);
    let loaded = store
        .load_subject(b.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.records, vec![rb.clone()]);

    // A second key of a class a stored subject has: nothing of the set is kept.
    let c = subject();
    let w = WriteSet::new()
        .op(Op::CreateSubject(c.clone()))
        .op(Op::PutRetainedKey(class_key(&c)))
        .op(Op::PutRetainedKey(class_key(&a)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(
        store
            .load_subject(c.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.retained_keys(c.id).await.unwrap().is_empty());
    // The same key twice in one set.
    let d = subject();
    let w = WriteSet::new()
        .op(Op::CreateSubject(d.clone()))
        .op(Op::PutRetainedKey(class_key(&d)))
        .op(Op::PutRetainedKey(class_key(&d)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(
        store
            .load_subject(d.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
    // A key placed before its subject's creation, or of a subject that does not exist.
    let e = subject();
    let w = WriteSet::new()
        .op(Op::PutRetainedKey(class_key(&e)))
        .op(Op::CreateSubject(e.clone()));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    assert!(
        store
            .load_subject(e.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
    let f = subject();
    let w = WriteSet::new()
        .op(Op::CreateSubject(f.clone()))
        .op(Op::PutRetainedKey(class_key(&subject())));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    assert!(
        store
            .load_subject(f.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn erasure_keeps_only_the_retained_records_and_their_key(store: Arc<impl Store>) {
    let s = subject();
    let (p, o1, o2, t) = (
        record(s.id, "customers", 1),
        record(s.id, "orders", 3),
        record(s.id, "orders", 5),
        record(s.id, "tickets", 7),
    );
    create(&*store, &s, &[p.clone(), o1.clone(), o2.clone(), t.clone()]).await;
    let key = class_key(&s);
    let w = WriteSet::new()
        .op(Op::PutRetainedKey(key.clone()))
        .op(Op::PutIndex(index(&p, "email", b"p", false)))
        .op(Op::PutIndex(index(&o1, "ref", b"o", false)));
    store.apply(w).await.unwrap();
    let (at, until) = (now(), now() + Duration::days(7 * 365));
    let w = WriteSet::new()
        .op(Op::RetainRecords {
            subject: s.id,
            class: CLASS.into(),
            records: vec![(o1.id, until)],
        })
        .op(Op::EraseSubject { subject: s.id, at })
        .audit(entry(Action::SubjectErase, Some(s.id)));
    store.apply(w).await.unwrap();
    assert!(
        store
            .load_subject(s.id, "orders", None)
            .await
            .unwrap()
            .is_none()
    );
    // Nothing of the subject is found by a blind index any more, kept records included.
    assert!(
        store
            .lookup("customers", "email", b"p")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .lookup("orders", "ref", b"o")
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store
        .load_retained(s.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.erased_at, at);
    assert_eq!(kept.keys, vec![key.clone()]);
    assert_eq!(kept.records.len(), 1);
    assert_eq!(kept.records[0].record, o1);
    assert_eq!(kept.records[0].class, CLASS);
    assert_eq!(kept.records[0].keep_until, until);
    let one = store
        .load_retained(s.id, "orders", Some(o2.id))
        .await
        .unwrap()
        .unwrap();
    assert!(one.records.is_empty(), "the record not kept is gone");
    for coll in ["customers", "tickets"] {
        let none = store
            .load_retained(s.id, coll, None)
            .await
            .unwrap()
            .unwrap();
        assert!(none.records.is_empty(), "{coll}");
    }
    assert_eq!(store.retained_keys(s.id).await.unwrap(), vec![key]);
    // Still erased for good: no write, no second erasure, no recreation.
    let again = WriteSet::new().op(Op::EraseSubject { subject: s.id, at });
    assert!(matches!(
        store.apply(again).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    let recreate = WriteSet::new().op(Op::CreateSubject(s.clone()));
    assert!(matches!(
        store.apply(recreate).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let key_again = WriteSet::new().op(Op::PutRetainedKey(class_key(&s)));
    assert!(store.apply(key_again).await.is_err());
}

pub async fn erasure_keeping_nothing_destroys_the_retained_key(store: Arc<impl Store>) {
    let s = subject();
    let o = record(s.id, "orders", 3);
    create(&*store, &s, std::slice::from_ref(&o)).await;
    store
        .apply(WriteSet::new().op(Op::PutRetainedKey(class_key(&s))))
        .await
        .unwrap();
    let at = now();
    let w = WriteSet::new()
        .op(Op::RetainRecords {
            subject: s.id,
            class: CLASS.into(),
            records: vec![],
        })
        .op(Op::EraseSubject { subject: s.id, at });
    store.apply(w).await.unwrap();
    assert!(store.retained_keys(s.id).await.unwrap().is_empty());
    let kept = store
        .load_retained(s.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert!(kept.keys.is_empty() && kept.records.is_empty());
    assert_eq!(kept.erased_at, at);
}

pub async fn retaining_another_subjects_record_fails_and_keeps_nothing(store: Arc<impl Store>) {
    let (s, other) = (subject(), subject());
    let o = record(other.id, "orders", 3);
    create(&*store, &s, &[]).await;
    create(&*store, &other, std::slice::from_ref(&o)).await;
    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::RetainRecords {
            subject: s.id,
            class: CLASS.into(),
            records: vec![(o.id, now())],
        })
        .op(Op::EraseSubject {
            subject: s.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(s.id)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::RecordNotFound(_))
    ));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(
        store
            .load_subject(s.id, "orders", None)
            .await
            .unwrap()
            .is_some()
    );
    let theirs = store
        .load_subject(other.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.records, vec![o]);
}

/// Erases `s` (created with `records`) keeping each of `kept` until its time.
async fn erase_keeping(
    store: &impl Store,
    s: &SubjectRow,
    records: &[crate::RecordRow],
    kept: Vec<(privet_core::RecordId, time::OffsetDateTime)>,
) {
    create(store, s, records).await;
    let w = WriteSet::new().op(Op::PutRetainedKey(class_key(s)));
    store.apply(w).await.unwrap();
    let w = WriteSet::new()
        .op(Op::RetainRecords {
            subject: s.id,
            class: CLASS.into(),
            records: kept,
        })
        .op(Op::EraseSubject {
            subject: s.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(s.id)));
    store.apply(w).await.unwrap();
}

pub async fn kept_records_are_listed_by_the_end_of_their_retention_in_pages(
    store: Arc<impl Store>,
) {
    let (a, b) = (subject(), subject());
    let (a1, a2, b1) = (
        record(a.id, "orders", 1),
        record(a.id, "orders", 2),
        record(b.id, "invoices", 3),
    );
    let t0 = now();
    let (t1, t2, t3) = (
        t0 + Duration::days(1),
        t0 + Duration::days(2),
        t0 + Duration::days(3),
    );
    erase_keeping(
        &*store,
        &a,
        &[a1.clone(), a2.clone()],
        vec![(a1.id, t2), (a2.id, t3)],
    )
    .await;
    erase_keeping(&*store, &b, std::slice::from_ref(&b1), vec![(b1.id, t1)]).await;
    assert!(store.retained_due(t0, None, 10).await.unwrap().is_empty());
    let due = store.retained_due(t2, None, 10).await.unwrap();
    let ids: Vec<_> = due.iter().map(|d| d.record).collect();
    assert_eq!(ids, vec![b1.id, a1.id], "ordered by keep_until");
    assert_eq!(due[0].subject, b.id);
    assert_eq!(due[0].collection, "invoices");
    assert_eq!(due[0].class, CLASS);
    assert_eq!(due[0].keep_until, t1);
    assert_eq!(due[1].subject, a.id);
    // Keyset pages never skip or repeat.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.retained_due(t3, after, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        assert_eq!(page.len(), 1);
        after = Some((last.keep_until, last.record));
        seen.push(last.record);
    }
    assert_eq!(seen, vec![b1.id, a1.id, a2.id]);
}

pub async fn purging_kept_records_destroys_the_class_key_with_the_last(store: Arc<impl Store>) {
    let (a, live) = (subject(), subject());
    let (a1, a2) = (record(a.id, "orders", 1), record(a.id, "orders", 2));
    let t0 = now();
    let (t1, t2) = (t0 + Duration::days(1), t0 + Duration::days(2));
    erase_keeping(
        &*store,
        &a,
        &[a1.clone(), a2.clone()],
        vec![(a1.id, t1), (a2.id, t2)],
    )
    .await;
    // A live subject with a class key and no kept record keeps its key.
    create(&*store, &live, &[record(live.id, "orders", 9)]).await;
    let live_key = class_key(&live);
    let w = WriteSet::new().op(Op::PutRetainedKey(live_key.clone()));
    store.apply(w).await.unwrap();

    let purge = |record, subject, now| {
        WriteSet::new()
            .op(Op::PurgeRetained {
                record,
                subject,
                now,
            })
            .audit(entry(Action::RetentionPurge, Some(subject)))
    };
    let size = store.audit_len().await.unwrap();
    // Not yet expired, wrong subject, or not a kept record: refused, nothing written.
    for (r, s, at) in [
        (a1.id, a.id, t0),
        (a1.id, live.id, t1),
        (a1.id, a.id, t1 - Duration::microseconds(1)),
    ] {
        assert!(matches!(
            store.apply(purge(r, s, at)).await,
            Err(StoreError::RecordNotFound(_))
        ));
    }
    assert_eq!(store.audit_len().await.unwrap(), size);
    assert_eq!(store.retained_keys(a.id).await.unwrap().len(), 1);

    store.apply(purge(a1.id, a.id, t1)).await.unwrap();
    let kept = store
        .load_retained(a.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.records.len(), 1);
    assert_eq!(kept.records[0].record.id, a2.id);
    assert_eq!(kept.keys.len(), 1, "the key still seals a2");
    // Purged once: a second purge of the same record finds nothing.
    assert!(matches!(
        store.apply(purge(a1.id, a.id, t2)).await,
        Err(StoreError::RecordNotFound(_))
    ));

    store.apply(purge(a2.id, a.id, t2)).await.unwrap();
    let kept = store
        .load_retained(a.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert!(kept.records.is_empty());
    assert!(kept.keys.is_empty());
    assert!(store.retained_keys(a.id).await.unwrap().is_empty());
    assert!(store.retained_due(t2, None, 10).await.unwrap().is_empty());
    assert_eq!(store.retained_keys(live.id).await.unwrap(), vec![live_key]);
}
