//! A lookup of several terms at once ([`Store::lookup_terms`]): one value's terms under each
//! master-key version, and the version a rotation recorded, read together.

use std::sync::Arc;

use privet_audit::Action;

use super::{create, entry, index, now, record, subject};
use crate::{ConsentEventRow, IndexEntry, Op, RestrictionRow, Store, TermHits, WriteSet};

const META: &str = "keys:test";

fn keyed(mut e: IndexEntry, version: u32) -> IndexEntry {
    e.key_version = version;
    e
}

pub async fn a_lookup_of_several_terms_finds_each_entry_once_with_the_meta_value(
    store: Arc<impl Store>,
) {
    let (a, b, c) = (subject(), subject(), subject());
    let (ra, rb, rc) = (
        record(a.id, "customers", 1),
        record(b.id, "customers", 2),
        record(c.id, "customers", 3),
    );
    let rd = record(c.id, "orders", 4);
    create(&*store, &a, std::slice::from_ref(&ra)).await;
    create(&*store, &b, std::slice::from_ref(&rb)).await;
    create(&*store, &c, &[rc.clone(), rd.clone()]).await;
    // One value's term under v1 (record a) and under v2 (record b, already re-keyed), and
    // the same bytes in another field and another collection, which must not be found.
    let w = WriteSet::new()
        .op(Op::PutIndex(keyed(
            index(&ra, "email", b"term-v1", false),
            1,
        )))
        .op(Op::PutIndex(keyed(
            index(&rb, "email", b"term-v2", false),
            2,
        )))
        .op(Op::PutIndex(index(&rc, "email", b"term-other", false)))
        .op(Op::PutIndex(index(&rc, "name", b"term-v1", false)))
        .op(Op::PutIndex(index(&rd, "email", b"term-v2", false)));
    store.apply(w).await.unwrap();
    let terms = |t: &[&[u8]]| t.iter().map(|t| t.to_vec()).collect::<Vec<_>>();
    let mut want = vec![(a.id, ra.id), (b.id, rb.id)];
    want.sort_by_key(|(_, r)| *r);

    // Both versions' terms in one call (a term given twice counts once); no meta value yet.
    let got = store
        .lookup_terms(
            "customers",
            "email",
            &terms(&[b"term-v2", b"term-v1", b"term-v1"]),
            META,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        TermHits {
            hits: want.clone(),
            meta: None
        }
    );
    let only_v1 = store
        .lookup_terms("customers", "email", &terms(&[b"term-v1"]), META)
        .await
        .unwrap();
    assert_eq!(only_v1.hits, vec![(a.id, ra.id)]);

    // The meta value comes back beside the hits, and without any hit or term.
    let w = WriteSet::new().op(Op::PutMeta {
        key: META.into(),
        value: 2u32.to_be_bytes().to_vec(),
    });
    store.apply(w).await.unwrap();
    for t in [terms(&[b"no-such-term"]), Vec::new()] {
        let got = store
            .lookup_terms("customers", "email", &t, META)
            .await
            .unwrap();
        assert!(got.hits.is_empty());
        assert_eq!(got.meta, Some(2u32.to_be_bytes().to_vec()));
    }
    let other = store
        .lookup_terms("customers", "email", &terms(&[b"term-v1"]), "keys:unset")
        .await
        .unwrap();
    assert_eq!((other.hits.len(), other.meta), (1, None));

    // Record a re-keyed to v2: found once through the new term, no longer through the old.
    let w = WriteSet::new().op(Op::ReindexRecord {
        record: ra.id,
        version: ra.version,
        entries: vec![keyed(index(&ra, "email", b"term-v2", false), 2)],
    });
    store.apply(w).await.unwrap();
    let got = store
        .lookup_terms(
            "customers",
            "email",
            &terms(&[b"term-v1", b"term-v2"]),
            META,
        )
        .await
        .unwrap();
    assert_eq!(got.hits, want);
    let old = store
        .lookup_terms("customers", "email", &terms(&[b"term-v1"]), META)
        .await
        .unwrap();
    assert!(old.hits.is_empty());

    // An erased subject is found under no term.
    let w = WriteSet::new()
        .op(Op::EraseSubject {
            subject: b.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(b.id)));
    store.apply(w).await.unwrap();
    let got = store
        .lookup_terms(
            "customers",
            "email",
            &terms(&[b"term-v1", b"term-v2"]),
            META,
        )
        .await
        .unwrap();
    assert_eq!(got.hits, vec![(a.id, ra.id)]);
}

pub async fn a_lookup_and_load_returns_each_hit_as_its_subject_loads_with_that_record(
    store: Arc<impl Store>,
) {
    let (a, b) = (subject(), subject());
    let (ra, ra2, ra3, rb) = (
        record(a.id, "customers", 1),
        record(a.id, "customers", 5),
        record(a.id, "customers", 9),
        record(b.id, "customers", 2),
    );
    create(&*store, &a, &[ra.clone(), ra2.clone(), ra3.clone()]).await;
    create(&*store, &b, std::slice::from_ref(&rb)).await;
    let consent = ConsentEventRow {
        subject: a.id,
        purpose: "marketing.email".into(),
        state: "granted".into(),
        at: now(),
        source: "api".into(),
        notice_version: "2025-01".into(),
        expires_at: None,
        actor: "prn_test".into(),
    };
    let w = WriteSet::new()
        .op(Op::AppendConsent(consent))
        .op(Op::SetRestriction {
            subject: a.id,
            restriction: Some(RestrictionRow {
                subject: a.id,
                reason: "accuracy_contested".into(),
                at: now(),
                actor: "prn_test".into(),
            }),
        })
        .op(Op::PutIndex(keyed(
            index(&ra, "email", b"term-v1", false),
            1,
        )))
        .op(Op::PutIndex(keyed(
            index(&rb, "email", b"term-v2", false),
            2,
        )))
        .op(Op::PutIndex(index(&ra2, "name", b"term-v1", false)))
        // A second hit of the same subject, under the other term.
        .op(Op::PutIndex(keyed(
            index(&ra3, "email", b"term-v2", false),
            2,
        )))
        .op(Op::PutMeta {
            key: META.into(),
            value: vec![7],
        });
    store.apply(w).await.unwrap();
    let terms = vec![b"term-v2".to_vec(), b"term-v1".to_vec()];

    // Each hit comes back exactly as a load of its subject with that record (consents,
    // restriction, only the record hit; a subject hit twice comes back twice, its consents
    // once in each), by record id, beside the meta value.
    let got = store
        .lookup_and_load("customers", "email", &terms, META)
        .await
        .unwrap();
    let mut want = Vec::new();
    for (s, r) in [(a.id, ra.id), (a.id, ra3.id), (b.id, rb.id)] {
        let data = store
            .load_subject(s, "customers", Some(r))
            .await
            .unwrap()
            .unwrap();
        want.push(data);
    }
    want.sort_by_key(|d| d.records[0].id);
    assert_eq!(want[0].records.len(), 1);
    assert_eq!(got.found, want);
    assert_eq!(got.meta, Some(vec![7]));
    for a_data in got.found.iter().filter(|d| d.subject.id == a.id) {
        assert_eq!(
            (a_data.consents.len(), a_data.restriction.is_some()),
            (1, true)
        );
    }

    // Another collection, no term, or an unknown term: nothing found, the meta value still read.
    for (collection, terms) in [
        ("orders", terms.clone()),
        ("customers", Vec::new()),
        ("customers", vec![b"no-such-term".to_vec()]),
    ] {
        let got = store
            .lookup_and_load(collection, "email", &terms, META)
            .await
            .unwrap();
        assert!(got.found.is_empty(), "{collection} {terms:?}");
        assert_eq!(got.meta, Some(vec![7]));
    }

    // An erased subject is not found.
    let w = WriteSet::new()
        .op(Op::EraseSubject {
            subject: b.id,
            at: now(),
        })
        .audit(entry(Action::SubjectErase, Some(b.id)));
    store.apply(w).await.unwrap();
    let got = store
        .lookup_and_load("customers", "email", &terms, META)
        .await
        .unwrap();
    assert_eq!(
        got.found,
        want[..]
            .iter()
            .filter(|d| d.subject.id == a.id)
            .cloned()
            .collect::<Vec<_>>()
    );
}
