//! Reading a subject whole: every record of every collection, for a subject export.

use std::sync::Arc;

use privet_core::SubjectId;

use super::{create, now, record, subject};
use crate::{Op, RestrictionRow, Store, WriteSet};

pub async fn a_whole_subject_loads_with_every_collection_in_order(store: Arc<impl Store>) {
    let s = subject();
    let other = subject();
    let o1 = record(s.id, "orders", 1);
    let o2 = record(s.id, "orders", 3);
    let p = record(s.id, "customers", 5);
    let t = record(s.id, "support_tickets", 7);
    create(&*store, &s, &[t.clone(), o1.clone(), p.clone(), o2.clone()]).await;
    create(&*store, &other, &[record(other.id, "orders", 9)]).await;
    let restriction = RestrictionRow {
        subject: s.id,
        reason: "disputed".into(),
        at: now(),
        actor: "test".into(),
    };
    store
        .apply(WriteSet::new().op(Op::SetRestriction {
            subject: s.id,
            restriction: Some(restriction.clone()),
        }))
        .await
        .unwrap();
    let got = store.load_subject_all(s.id).await.unwrap().unwrap();
    assert_eq!(got.subject, s);
    // By collection name, then by record id (UUIDv7: creation order).
    assert_eq!(got.records, vec![p, o1, o2, t]);
    assert_eq!(got.restriction, Some(restriction));
    // What one collection's read gives is the same subject, consents and restriction.
    let one = store
        .load_subject(s.id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.consents, one.consents);

    let empty = subject();
    create(&*store, &empty, &[]).await;
    let got = store.load_subject_all(empty.id).await.unwrap().unwrap();
    assert!(got.records.is_empty());

    assert!(
        store
            .load_subject_all(SubjectId::new())
            .await
            .unwrap()
            .is_none()
    );
    store
        .apply(WriteSet::new().op(Op::EraseSubject {
            subject: s.id,
            at: now(),
        }))
        .await
        .unwrap();
    assert!(store.load_subject_all(s.id).await.unwrap().is_none());
}
