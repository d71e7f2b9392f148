//! Conformance cases for retention and legal holds.

use std::sync::Arc;

use privet_audit::Action;
use privet_core::{RecordId, SubjectId};
use time::Duration;

use super::{create, entry, index, now, record, subject};
use crate::{ConsentEventRow, LegalHoldRow, Op, Store, StoreError, WriteSet};

fn hold(reason: &str) -> LegalHoldRow {
    LegalHoldRow {
        reason: reason.into(),
        at: now(),
        actor: "test".into(),
    }
}

pub async fn retention_pages_list_subjects_in_id_order_with_everything_retention_needs(
    store: Arc<impl Store>,
) {
    let mut subjects: Vec<_> = (0..5).map(|_| subject()).collect();
    subjects.sort_by_key(|s| s.id);
    for (i, s) in subjects.iter().enumerate() {
        let p = record(s.id, "customers", i as u8);
        let o = record(s.id, "orders", 10 + i as u8);
        create(&*store, s, &[p, o]).await;
    }
    let s0 = &subjects[0];
    let consent = ConsentEventRow {
        subject: s0.id,
        purpose: "marketing".into(),
        state: "withdrawn".into(),
        at: now(),
        source: "api".into(),
        notice_version: "1".into(),
        expires_at: None,
        actor: "test".into(),
    };
    let touched = now() + Duration::days(3);
    let held = hold("litigation-42");
    store
        .apply(
            WriteSet::new()
                .op(Op::AppendConsent(consent.clone()))
                .op(Op::TouchSubject {
                    subject: s0.id,
                    at: touched,
                })
                // An older activity never moves it back.
                .op(Op::TouchSubject {
                    subject: s0.id,
                    at: touched - Duration::days(1),
                })
                .op(Op::SetLegalHold {
                    subject: s0.id,
                    hold: Some(held.clone()),
                }),
        )
        .await
        .unwrap();
    let first = store.retention_page(None, 2).await.unwrap();
    let ids: Vec<SubjectId> = first.iter().map(|r| r.subject).collect();
    assert_eq!(ids, vec![subjects[0].id, subjects[1].id]);
    assert_eq!(first[0].last_activity, touched);
    assert_eq!(first[0].legal_hold, Some(held.clone()));
    assert_eq!(first[0].consents, vec![consent]);
    assert_eq!(first[0].records.len(), 2);
    assert!(first[0].records.iter().any(|r| r.collection == "orders"));
    assert_eq!(first[1].last_activity, subjects[1].created_at);
    assert_eq!(first[1].legal_hold, None);
    let rest = store.retention_page(Some(ids[1]), 10).await.unwrap();
    let rest: Vec<SubjectId> = rest.iter().map(|r| r.subject).collect();
    assert_eq!(rest, subjects[2..].iter().map(|s| s.id).collect::<Vec<_>>());
    assert_eq!(store.legal_hold(s0.id).await.unwrap(), Some(held));
    assert_eq!(store.legal_hold(subjects[1].id).await.unwrap(), None);
}

pub async fn a_legal_hold_refuses_erasure_until_lifted(store: Arc<impl Store>) {
    let s = subject();
    create(&*store, &s, &[record(s.id, "customers", 1)]).await;
    let set = |h: Option<LegalHoldRow>| {
        WriteSet::new().op(Op::SetLegalHold {
            subject: s.id,
            hold: h,
        })
    };
    store.apply(set(Some(hold("audit")))).await.unwrap();
    let before = store.audit_len().await.unwrap();
    let erase = || {
        WriteSet::new()
            .op(Op::EraseSubject {
                subject: s.id,
                at: now(),
            })
            .audit(entry(Action::SubjectErase, Some(s.id)))
    };
    assert!(matches!(
        store.apply(erase()).await,
        Err(StoreError::LegalHold(id)) if id == s.id
    ));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .is_some()
    );
    store.apply(set(None)).await.unwrap();
    assert_eq!(store.legal_hold(s.id).await.unwrap(), None);
    store.apply(erase()).await.unwrap();
    let unknown = SubjectId::new();
    assert!(matches!(
        store
            .apply(WriteSet::new().op(Op::SetLegalHold {
                subject: unknown,
                hold: Some(hold("x")),
            }))
            .await,
        Err(StoreError::SubjectNotFound(_))
    ));
    assert!(matches!(
        store
            .apply(WriteSet::new().op(Op::TouchSubject {
                subject: unknown,
                at: now(),
            }))
            .await,
        Err(StoreError::SubjectNotFound(_))
    ));
}

pub async fn deleting_a_record_removes_its_index_entries_and_checks_its_version(
    store: Arc<impl Store>,
) {
    let s = subject();
    let keep = record(s.id, "orders", 1);
    let gone = record(s.id, "orders", 2);
    create(&*store, &s, &[keep.clone(), gone.clone()]).await;
    store
        .apply(
            WriteSet::new()
                .op(Op::PutIndex(index(
                    &keep,
                    "email",
                    b"term-keep-0123456",
                    false,
                )))
                .op(Op::PutIndex(index(
                    &gone,
                    "email",
                    b"term-gone-0123456",
                    false,
                ))),
        )
        .await
        .unwrap();
    let del = |record: RecordId, v: i64| {
        WriteSet::new().op(Op::DeleteRecord {
            record,
            subject: s.id,
            expected_version: v,
        })
    };
    assert!(matches!(
        store.apply(del(gone.id, 7)).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert!(matches!(
        store.apply(del(RecordId::new(), 1)).await,
        Err(StoreError::RecordNotFound(_))
    ));
    // Another subject's record is not found through this one.
    let other = subject();
    create(&*store, &other, &[]).await;
    assert!(matches!(
        store
            .apply(WriteSet::new().op(Op::DeleteRecord {
                record: gone.id,
                subject: other.id,
                expected_version: 1,
            }))
            .await,
        Err(StoreError::RecordNotFound(_))
    ));
    store.apply(del(gone.id, 1)).await.unwrap();
    let left = store
        .load_subject(s.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.records, vec![keep]);
    assert!(
        store
            .lookup("orders", "email", b"term-gone-0123456")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .lookup("orders", "email", b"term-keep-0123456")
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn the_retention_guard_refuses_held_changed_or_missing_subjects(store: Arc<impl Store>) {
    let s = subject();
    create(&*store, &s, &[record(s.id, "orders", 1)]).await;
    let guard = |last_activity, records| {
        WriteSet::new()
            .op(Op::GuardRetention {
                subject: s.id,
                last_activity,
                records,
            })
            .audit(entry(Action::SubjectErase, Some(s.id)))
    };
    store.apply(guard(s.created_at, 1)).await.unwrap();
    let before = store.audit_len().await.unwrap();
    // A record was added or removed since the decision.
    assert!(matches!(
        store.apply(guard(s.created_at, 2)).await,
        Err(StoreError::ActivityConflict(_))
    ));
    // The subject was active since.
    let later = s.created_at + Duration::seconds(5);
    store
        .apply(WriteSet::new().op(Op::TouchSubject {
            subject: s.id,
            at: later,
        }))
        .await
        .unwrap();
    assert!(matches!(
        store.apply(guard(s.created_at, 1)).await,
        Err(StoreError::ActivityConflict(_))
    ));
    store.apply(guard(later, 1)).await.unwrap();
    store
        .apply(WriteSet::new().op(Op::SetLegalHold {
            subject: s.id,
            hold: Some(hold("tax-audit")),
        }))
        .await
        .unwrap();
    let after_hold = store.audit_len().await.unwrap();
    assert!(matches!(
        store.apply(guard(later, 1)).await,
        Err(StoreError::LegalHold(_))
    ));
    assert_eq!(store.audit_len().await.unwrap(), after_hold);
    assert_eq!(after_hold, before + 1);
    let missing = WriteSet::new().op(Op::GuardRetention {
        subject: SubjectId::new(),
        last_activity: later,
        records: 0,
    });
    assert!(matches!(
        store.apply(missing).await,
        Err(StoreError::SubjectNotFound(_))
    ));
}
