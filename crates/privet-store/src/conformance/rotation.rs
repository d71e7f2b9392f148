//! Key rotation: the retained keys (one per subject and retention class) are counted, paged
//! and re-wrapped by version, erased subjects' kept keys included.

use std::sync::Arc;

use privet_audit::Action;
use time::Duration;

use super::{create, entry, now, record, subject};
use crate::{KeyTable, Op, RetainedKeyRow, Store, SubjectRow, WriteSet};

fn key_of(s: &SubjectRow, class: &str) -> RetainedKeyRow {
    RetainedKeyRow {
        subject: s.id,
        class: class.into(),
        key_version: 1,
        wrapped_key: vec![0xCD; 60],
        created_at: now(),
    }
}

fn rewrap(s: &SubjectRow, class: &str, from: u32, bytes: u8) -> Op {
    Op::RewrapKey {
        table: KeyTable::Retained,
        subject: s.id,
        slot: class.into(),
        from_version: from,
        to_version: 2,
        wrapped_key: vec![bytes; 60],
    }
}

pub async fn retained_keys_are_counted_paged_and_rewrapped_by_version(store: Arc<impl Store>) {
    let (live, erased) = (subject(), subject());
    let kept = record(erased.id, "orders", 3);
    create(&*store, &live, &[]).await;
    create(&*store, &erased, std::slice::from_ref(&kept)).await;
    let w = WriteSet::new()
        .op(Op::PutRetainedKey(key_of(&live, "legal_obligation")))
        .op(Op::PutRetainedKey(key_of(&live, "tax")))
        .op(Op::PutRetainedKey(key_of(&erased, "legal_obligation")));
    store.apply(w).await.unwrap();
    let w = WriteSet::new()
        .op(Op::RetainRecords {
            subject: erased.id,
            class: "legal_obligation".into(),
            records: vec![(kept.id, now() + Duration::days(365))],
        })
        .op(Op::EraseSubject {
            subject: erased.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(erased.id)));
    store.apply(w).await.unwrap();

    // The erased subject's kept key is still counted; the subject keys are counted apart.
    let t = KeyTable::Retained;
    assert_eq!(store.wrapped_key_counts(t).await.unwrap(), vec![(1, 3)]);
    assert_eq!(
        store.wrapped_key_counts(KeyTable::Subjects).await.unwrap(),
        vec![(1, 1)]
    );

    // Pages of one are ordered by (subject, class) and visit every key once.
    let mut expected = vec![
        (live.id, "legal_obligation".to_owned()),
        (live.id, "tax".to_owned()),
        (erased.id, "legal_obligation".to_owned()),
    ];
    expected.sort_by(|a, b| (a.0.as_bytes(), &a.1).cmp(&(b.0.as_bytes(), &b.1)));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.wrapped_keys(t, 1, after.clone(), 1).await.unwrap();
        assert!(page.len() <= 1);
        let Some(row) = page.into_iter().next() else {
            break;
        };
        assert_eq!(
            (row.key_version, row.wrapped_key.clone()),
            (1, vec![0xCD; 60])
        );
        after = Some((row.subject, row.slot.clone()));
        seen.push((row.subject, row.slot));
    }
    assert_eq!(seen, expected);

    // A re-wrap moves exactly the (subject, class) it names, erased subject included.
    let w = WriteSet::new().op(rewrap(&live, "tax", 1, 0xEE)).op(rewrap(
        &erased,
        "legal_obligation",
        1,
        0xEF,
    ));
    store.apply(w).await.unwrap();
    assert_eq!(
        store.wrapped_key_counts(t).await.unwrap(),
        vec![(1, 1), (2, 2)]
    );
    let left = store.wrapped_keys(t, 1, None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].subject, left[0].slot.as_str()),
        (live.id, "legal_obligation")
    );
    let kept_key = store.retained_keys(erased.id).await.unwrap();
    assert_eq!(
        (kept_key[0].key_version, kept_key[0].wrapped_key.clone()),
        (2, vec![0xEF; 60])
    );

    // A re-wrap from a version the key is no longer under leaves it alone, and succeeds.
    store
        .apply(WriteSet::new().op(rewrap(&live, "tax", 1, 0x11)))
        .await
        .unwrap();
    let tax = store.retained_keys(live.id).await.unwrap();
    let tax = tax.iter().find(|k| k.class == "tax").unwrap();
    assert_eq!(
        (tax.key_version, tax.wrapped_key.clone()),
        (2, vec![0xEE; 60])
    );
    // The subject key was not touched by re-wraps of retained keys.
    assert_eq!(
        store.wrapped_key_counts(KeyTable::Subjects).await.unwrap(),
        vec![(1, 1)]
    );
}
