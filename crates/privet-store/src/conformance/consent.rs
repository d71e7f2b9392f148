//! Conformance cases of the consent ledger and of restrictions of processing.

use std::sync::Arc;

use privet_audit::Action;
use privet_core::SubjectId;
use time::{Duration, OffsetDateTime};

use super::{create, entry, now, record, subject};
use crate::{ConsentEventRow, Op, RestrictionRow, Store, StoreError, WriteSet};

fn consent(subject: SubjectId, purpose: &str, state: &str, at: OffsetDateTime) -> ConsentEventRow {
    ConsentEventRow {
        subject,
        purpose: purpose.to_owned(),
        state: state.to_owned(),
        at,
        source: "api".to_owned(),
        notice_version: "2025-01".to_owned(),
        expires_at: None,
        actor: "prn_test".to_owned(),
    }
}

fn restriction(subject: SubjectId, reason: &str) -> RestrictionRow {
    RestrictionRow {
        subject,
        reason: reason.to_owned(),
        at: now(),
        actor: "prn_test".to_owned(),
    }
}

async fn append(store: &dyn Store, events: &[ConsentEventRow]) {
    let mut w = WriteSet::new();
    for e in events {
        w = w.op(Op::AppendConsent(e.clone()));
    }
    store.apply(w).await.unwrap();
}

async fn set_restriction(
    store: &dyn Store,
    subject: SubjectId,
    restriction: Option<RestrictionRow>,
) -> crate::Result<()> {
    let w = WriteSet::new().op(Op::SetRestriction {
        subject,
        restriction,
    });
    store.apply(w).await.map(|_| ())
}

pub async fn consent_ledger_keeps_append_order_and_reads_show_the_latest_per_purpose(
    store: Arc<impl Store>,
) {
    let (s, other) = (subject(), subject());
    let r = record(s.id, "customers", 1);
    create(&*store, &s, std::slice::from_ref(&r)).await;
    create(&*store, &other, &[]).await;
    let fresh = store
        .load_subject(s.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.consents.is_empty());
    assert_eq!(fresh.restriction, None);

    let t = now();
    let mut email = consent(s.id, "marketing.communications.email", "granted", t);
    email.expires_at = Some(t + Duration::days(365));
    let ads = consent(s.id, "marketing.advertising", "denied", t);
    // Same time as the grant, appended after it: the append order decides.
    let email_withdrawn = consent(s.id, "marketing.communications.email", "withdrawn", t);
    let theirs = consent(other.id, "marketing.advertising", "granted", t);
    // Several events in one write set keep their order too.
    append(&*store, &[email.clone(), ads.clone()]).await;
    append(&*store, &[email_withdrawn.clone(), theirs.clone()]).await;
    // The latest appended event is the current state even when it says it happened earlier
    // (an import of older receipts, a skewed clock): a read must never resurrect a grant.
    let ads_granted = consent(
        s.id,
        "marketing.advertising",
        "granted",
        t - Duration::hours(1),
    );
    append(&*store, std::slice::from_ref(&ads_granted)).await;

    assert_eq!(
        store.consent_history(s.id).await.unwrap(),
        vec![email, ads, email_withdrawn.clone(), ads_granted.clone()]
    );
    assert_eq!(
        store.consent_history(other.id).await.unwrap(),
        vec![theirs.clone()]
    );
    assert!(
        store
            .consent_history(SubjectId::new())
            .await
            .unwrap()
            .is_empty()
    );

    let got = store
        .load_subject(s.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.consents, vec![ads_granted, email_withdrawn]);
    assert_eq!(got.records, vec![r]);
    // The consent state comes with every read, whatever the collection or record asked for.
    let empty = store
        .load_subject(other.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert!(empty.records.is_empty());
    assert_eq!(empty.consents, vec![theirs]);
}

pub async fn consent_for_a_missing_or_erased_subject_fails_and_keeps_nothing(
    store: Arc<impl Store>,
) {
    let missing = SubjectId::new();
    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::AppendConsent(consent(
            missing,
            "analytics",
            "granted",
            now(),
        )))
        .audit(entry(Action::Admin, Some(missing)));
    match store.apply(w).await {
        Err(StoreError::SubjectNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected SubjectNotFound, got {other:?}"),
    }
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(store.consent_history(missing).await.unwrap().is_empty());

    // Consents given at creation commit with the subject.
    let s = subject();
    let at_creation = consent(s.id, "analytics", "granted", now());
    let w = WriteSet::new()
        .op(Op::CreateSubject(s.clone()))
        .op(Op::AppendConsent(at_creation.clone()));
    store.apply(w).await.unwrap();
    assert_eq!(
        store.consent_history(s.id).await.unwrap(),
        vec![at_creation.clone()]
    );

    // A write set whose later op fails keeps none of its consents or leaves.
    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::AppendConsent(consent(
            s.id,
            "analytics",
            "withdrawn",
            now(),
        )))
        .op(Op::SetRestriction {
            subject: s.id,
            restriction: Some(restriction(s.id, "accuracy_contested")),
        })
        .op(Op::RequireSubject(missing))
        .audit(entry(Action::Admin, Some(s.id)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(
        store.consent_history(s.id).await.unwrap(),
        vec![at_creation]
    );
    let got = store
        .load_subject(s.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.restriction, None);

    // Nothing can be recorded for an erased subject.
    let w = WriteSet::new().op(Op::EraseSubject {
        subject: s.id,
        at: now(),
    });
    store.apply(w).await.unwrap();
    let w = WriteSet::new()
        .op(Op::AppendConsent(consent(
            s.id,
            "analytics",
            "granted",
            now(),
        )))
        .audit(entry(Action::Admin, Some(s.id)));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::SubjectNotFound(_))
    ));
    let restrict = set_restriction(&*store, s.id, Some(restriction(s.id, "objection"))).await;
    assert!(matches!(restrict, Err(StoreError::SubjectNotFound(_))));
    let lift = set_restriction(&*store, s.id, None).await;
    assert!(matches!(lift, Err(StoreError::SubjectNotFound(_))));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(store.consent_history(s.id).await.unwrap().is_empty());
}

pub async fn erasure_deletes_the_consent_ledger_and_the_restriction(store: Arc<impl Store>) {
    let (s, other) = (subject(), subject());
    create(&*store, &s, &[]).await;
    create(&*store, &other, &[]).await;
    let theirs = consent(other.id, "analytics", "granted", now());
    append(
        &*store,
        &[
            consent(s.id, "analytics", "granted", now()),
            consent(s.id, "analytics", "withdrawn", now()),
            theirs.clone(),
        ],
    )
    .await;
    let kept = restriction(other.id, "objection");
    set_restriction(&*store, s.id, Some(restriction(s.id, "objection")))
        .await
        .unwrap();
    set_restriction(&*store, other.id, Some(kept.clone()))
        .await
        .unwrap();
    let w = WriteSet::new()
        .op(Op::EraseSubject {
            subject: s.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(s.id)));
    store.apply(w).await.unwrap();
    assert!(store.consent_history(s.id).await.unwrap().is_empty());
    assert!(
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .is_none()
    );
    let o = store
        .load_subject(other.id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.consents, vec![theirs.clone()]);
    assert_eq!(o.restriction, Some(kept));
    assert_eq!(store.consent_history(other.id).await.unwrap(), vec![theirs]);
}

pub async fn consents_racing_an_erasure_are_refused_or_erased_with_it(store: Arc<impl Store>) {
    let s = subject();
    create(&*store, &s, &[]).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            if i == 16 {
                let w = WriteSet::new().op(Op::EraseSubject {
                    subject: s.id,
                    at: now(),
                });
                return store.apply(w).await.map(|_| ());
            }
            let w = if i % 2 == 0 {
                WriteSet::new().op(Op::AppendConsent(consent(
                    s.id,
                    "analytics",
                    "granted",
                    now(),
                )))
            } else {
                WriteSet::new().op(Op::SetRestriction {
                    subject: s.id,
                    restriction: Some(restriction(s.id, "objection")),
                })
            };
            store.apply(w).await.map(|_| ())
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let res = t.await.unwrap();
        if i == 16 {
            res.unwrap();
        } else {
            assert!(
                matches!(res, Ok(()) | Err(StoreError::SubjectNotFound(_))),
                "task {i}: expected success or SubjectNotFound, got {res:?}"
            );
        }
    }
    assert!(store.consent_history(s.id).await.unwrap().is_empty());
    assert!(
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn restriction_is_set_replaced_and_lifted(store: Arc<impl Store>) {
    let s = subject();
    create(&*store, &s, &[]).await;
    let load = || async {
        store
            .load_subject(s.id, "customers", None)
            .await
            .unwrap()
            .unwrap()
            .restriction
    };
    let first = restriction(s.id, "accuracy_contested");
    set_restriction(&*store, s.id, Some(first.clone()))
        .await
        .unwrap();
    assert_eq!(load().await, Some(first));
    let second = restriction(s.id, "objection");
    set_restriction(&*store, s.id, Some(second.clone()))
        .await
        .unwrap();
    assert_eq!(load().await, Some(second));
    set_restriction(&*store, s.id, None).await.unwrap();
    assert_eq!(load().await, None);
    // Lifting what is not there is not an error.
    set_restriction(&*store, s.id, None).await.unwrap();
    assert_eq!(load().await, None);

    let missing = SubjectId::new();
    let res = set_restriction(&*store, missing, Some(restriction(missing, "objection"))).await;
    match res {
        Err(StoreError::SubjectNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected SubjectNotFound, got {other:?}"),
    }
    // A row naming another subject than the op is a contradiction, refused whole.
    let other = subject();
    create(&*store, &other, &[]).await;
    let res = set_restriction(&*store, s.id, Some(restriction(other.id, "objection"))).await;
    assert!(matches!(res, Err(StoreError::Invalid(_))), "{res:?}");
    assert_eq!(load().await, None);
}
