//! Erasure as a customer and a tax auditor rely on it: everything of the subject is gone
//! from the store except the orders the law obliges keeping, which stay readable only for
//! legal-obligation purposes, under a key of their own, until their retention runs out; the
//! certificate says so and proves the erasure is in the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use privet_audit::{AuditEntry, VerifierKey, leaf_hash, verify_checkpoint, verify_inclusion};
use privet_core::SubjectId;
use privet_core::policy::WithholdReason;
use privet_crypto::{KeyVersion, MasterKey, NoteSigner};
use privet_store::{Op, WriteSet};
use privet_vault::{Clock, Keyring, Schema, Signers, Vault, VaultError};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const LEGAL: Option<&str> = Some("essential.legal_obligation");
const SERVICE: Option<&str> = Some("essential.service");
const ORIGIN: &str = "privet.test/erasure";

/// A clock the test moves.
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn at(t: OffsetDateTime) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(t)))
    }
    fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn keyring() -> Keyring {
    Keyring::from_master_keys(BTreeMap::from([(
        KeyVersion(1),
        MasterKey::from_bytes(&[7; 32]),
    )]))
    .unwrap()
}

/// A vault on a fresh place with the example schema, `clock`, and signed checkpoints.
async fn clocked(backend: Backend, clock: Arc<TestClock>) -> (Place, Vault, VerifierKey) {
    let place = Place::new(backend);
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let (vault, _) = Vault::initialize(schema, place.store().await, keyring(), clock)
        .await
        .unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let key = VerifierKey::of(&signer);
    let vault = vault.with_signers(Signers {
        audit: Some(signer),
        receipts: None,
    });
    (place, vault, key)
}

const PROFILE_CANARIES: [&str; 3] = [
    "erase.zq9w@example.com",
    "Ottoline Zq9w-Canary",
    "9 Canarystraat Zq9w",
];
const TICKET_CANARY: &str = "ticket canary zq9w, please erase me";
const ORDER_CANARY: &str = "kept-order-zq9w";

/// Every byte string of the subject that an erasure must leave no trace of, and those of
/// the kept orders, read from the store before the erasure.
struct Stored {
    erased: Vec<Vec<u8>>,
    kept: Vec<Vec<u8>>,
}

async fn stored(vault: &Vault, id: SubjectId) -> Stored {
    let store = vault.store();
    let mut erased = Vec::new();
    for coll in ["customers", "support_tickets"] {
        let d = store.load_subject(id, coll, None).await.unwrap().unwrap();
        erased.push(d.subject.wrapped_key.clone());
        for r in d.records {
            erased.extend(r.fields.into_iter().map(|(_, ct)| ct));
        }
    }
    let d = store
        .load_subject(id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    let kept = d
        .records
        .into_iter()
        .flat_map(|r| r.fields.into_iter().map(|(_, ct)| ct))
        .collect();
    Stored { erased, kept }
}

async fn erasure_destroys_everything_but_the_orders_kept_by_law(backend: Backend) {
    let clock = TestClock::at(datetime!(2026-11-24 10:00 UTC));
    let (place, vault, key) = clocked(backend, clock.clone()).await;
    let a = actor();
    let id = vault
        .create_subject_with_consents(
            &a,
            &obj(json!({
                "email": PROFILE_CANARIES[0], "name": PROFILE_CANARIES[1],
                "address": PROFILE_CANARIES[2], "phone": "+1 650 253 0000",
                "birth_date": "1970-01-02", "gender": "female"
            })),
            vec![(
                "marketing.communications.email".into(),
                privet_core::ConsentChange {
                    state: privet_core::ConsentState::Granted,
                    source: privet_core::ConsentSource::Api,
                    notice_version: "2026-11".into(),
                    expires_at: None,
                },
            )],
            false,
        )
        .await
        .unwrap();
    vault
        .add_record(
            &a,
            id,
            "support_tickets",
            &obj(json!({"message": TICKET_CANARY})),
        )
        .await
        .unwrap();
    let order =
        obj(json!({"items": [{"sku": ORDER_CANARY}], "total_cents": 4242, "card_last4": "4242"}));
    let o1 = vault.add_record(&a, id, "orders", &order).await.unwrap();
    clock.set(datetime!(2027-03-01 10:00 UTC));
    let o2 = vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 7})))
        .await
        .unwrap();
    vault
        .set_restriction(&a, id, Some("customer_dispute"))
        .await
        .unwrap();
    // Another customer, untouched by the erasure.
    let other = vault
        .create_subject(&a, &obj(json!({"email": "other@example.com"})))
        .await
        .unwrap();
    let before = stored(&vault, id).await;
    let class_key = vault.store().retained_keys(id).await.unwrap();
    assert_eq!(class_key.len(), 1, "the first order created the class key");

    clock.set(datetime!(2027-06-01 12:00 UTC));
    let cert = vault.erase_subject(&a, id).await.unwrap();

    // The certificate: what went, what stayed, why and until when; names only.
    let c = serde_json::to_value(&cert).unwrap();
    assert_eq!(c["subject_id"], json!(id.to_string()));
    assert_eq!(c["erased_at"], json!("2027-06-01T12:00:00Z"));
    assert_eq!(
        c["erased"],
        json!([
            {"collection": "customers", "records": 1,
             "fields": ["address", "birth_date", "email", "gender", "name", "phone"]},
            {"collection": "support_tickets", "records": 1, "fields": ["message"]},
        ])
    );
    assert_eq!(c["consents_erased"], json!(1));
    assert_eq!(c["restriction_erased"], json!(true));
    assert_eq!(
        c["kept"],
        json!([{
            "collection": "orders", "records": 2,
            "fields": ["card_last4", "items", "total_cents"],
            "legal_basis": "legal_obligation",
            "purposes": [{"name": "essential.legal_obligation",
                          "description": "Keep records the law requires (tax, disputes)"}],
            "retention": "7y after created",
            "until": "2034-03-01T10:00:00Z",
        }])
    );
    let text = c.to_string();
    for canary in PROFILE_CANARIES
        .iter()
        .chain([&TICKET_CANARY, &ORDER_CANARY])
    {
        assert!(!text.contains(canary), "the certificate holds no value");
    }
    // Its audit proof verifies against the signed checkpoint it carries.
    let note = cert.audit.checkpoint.as_deref().unwrap();
    let cp = verify_checkpoint(note, &key, ORIGIN).unwrap();
    let p = &cert.audit.proof;
    assert_eq!(p.tree_size, cp.size());
    verify_inclusion(&p.leaf_hash, p.index, p.tree_size, &p.hashes, cp.root()).unwrap();
    let leaf = &vault.store().audit_leaves(p.index, 1).await.unwrap()[0];
    assert_eq!(leaf_hash(&leaf.leaf), p.leaf_hash);
    let entry = AuditEntry::from_leaf_bytes(&leaf.leaf).unwrap();
    assert_eq!(entry.subject, Some(id));
    assert_eq!(entry.action, privet_audit::Action::SubjectErase);
    assert_eq!(entry.reason.as_deref(), Some("retained:orders"));

    // Nothing erased is left at rest: not the subject key, not one ciphertext, in no file
    // (SQLite: secure_delete, WAL truncated) and no row (PostgreSQL: pg_dump).
    let dump = place.dump();
    let found = |needle: &[u8]| match backend {
        Backend::Sqlite => !place.files_containing(needle).is_empty(),
        Backend::Postgres => dump.contains(&hex(needle)),
    };
    for ct in &before.erased {
        assert!(
            !found(ct),
            "erased key material or ciphertext found at rest"
        );
    }
    // The scan does see what is kept: the orders' ciphertexts and their key.
    for ct in &before.kept {
        assert!(found(ct), "a kept order's ciphertext must still be stored");
    }
    assert!(found(&class_key[0].wrapped_key));
    // And no plaintext of any value, in any encoding.
    for canary in PROFILE_CANARIES
        .iter()
        .chain([&TICKET_CANARY, &ORDER_CANARY])
    {
        for needle in [
            canary.to_string(),
            hex(canary.as_bytes()),
            base64(canary.as_bytes()),
        ] {
            if backend == Backend::Sqlite {
                assert!(place.files_containing(needle.as_bytes()).is_empty());
            } else {
                assert!(!dump.contains(&needle));
            }
        }
    }

    // The kept orders read for the legal obligation, as written…
    let kept = vault
        .read_records(&a, id, "orders", None, LEGAL)
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].id, o1);
    assert_eq!(kept[0].data["items"], json!([{"sku": ORDER_CANARY}]));
    assert_eq!(kept[0].data["total_cents"], json!(4242));
    assert_eq!(kept[0].data["card_last4"], json!("4242"));
    assert_eq!(kept[1].id, o2);
    let one = vault
        .read_records(&a, id, "orders", Some(o2), LEGAL)
        .await
        .unwrap();
    assert_eq!(one[0].data["total_cents"], json!(7));
    // …and for no other purpose.
    for purpose in [
        "essential.service",
        "analytics.reporting",
        "essential.service.payment_processing",
    ] {
        match vault
            .read_records(&a, id, "orders", None, Some(purpose))
            .await
        {
            Err(VaultError::Forbidden { reason, .. }) => {
                assert_eq!(reason, WithholdReason::ErasedRetained, "{purpose}")
            }
            other => panic!("{purpose}: {other:?}"),
        }
    }
    // Everything else of the subject is gone from every use case.
    assert!(matches!(
        vault.read_subject(&a, id, SERVICE).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(matches!(
        vault
            .read_records(&a, id, "support_tickets", None, SERVICE)
            .await,
        Err(VaultError::SubjectNotFound(_))
    ));
    for (field, value) in [("email", PROFILE_CANARIES[0]), ("phone", "+16502530000")] {
        let hits = vault
            .find_subjects(&a, field, value, SERVICE)
            .await
            .unwrap();
        assert!(hits.is_empty(), "{field}");
    }
    assert!(vault.store().consent_history(id).await.unwrap().is_empty());
    assert!(matches!(
        vault
            .add_record(&a, id, "orders", &obj(json!({"total_cents": 1})))
            .await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(matches!(
        vault
            .update_subject(&a, id, &obj(json!({"name": "x"})))
            .await,
        Err(VaultError::SubjectNotFound(_))
    ));
    // The other customer is untouched.
    let v = vault.read_subject(&a, other, SERVICE).await.unwrap();
    assert_eq!(v.data["email"], json!("other@example.com"));

    // When the kept orders' retention runs out they are no longer released.
    clock.set(datetime!(2034-03-01 10:00 UTC));
    assert!(
        vault
            .read_records(&a, id, "orders", None, LEGAL)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn erasing_twice_is_a_clear_error(backend: Backend) {
    let clock = TestClock::at(datetime!(2026-11-24 10:00 UTC));
    let (_place, vault, _) = clocked(backend, clock.clone()).await;
    let a = actor();
    let id = vault
        .create_subject(&a, &obj(json!({"email": "twice@example.com"})))
        .await
        .unwrap();
    let first = vault.erase_subject(&a, id).await.unwrap();
    assert!(first.kept.is_empty());
    let audit_len = vault.store().audit_len().await.unwrap();
    clock.set(datetime!(2026-11-25 10:00 UTC));
    match vault.erase_subject(&a, id).await {
        Err(VaultError::AlreadyErased { subject, at }) => {
            assert_eq!(subject, id);
            assert_eq!(at, first.erased_at);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(vault.store().audit_len().await.unwrap(), audit_len);
    assert!(matches!(
        vault.erase_subject(&a, SubjectId::new()).await,
        Err(VaultError::SubjectNotFound(_))
    ));
}

async fn erasure_after_the_retention_ran_out_keeps_nothing(backend: Backend) {
    let clock = TestClock::at(datetime!(2019-01-10 09:00 UTC));
    let (place, vault, _) = clocked(backend, clock.clone()).await;
    let a = actor();
    let id = vault
        .create_subject(&a, &obj(json!({"email": "old@example.com"})))
        .await
        .unwrap();
    vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 100})))
        .await
        .unwrap();
    let class_key = vault.store().retained_keys(id).await.unwrap();
    // Seven years and a day later.
    clock.set(datetime!(2026-01-11 09:00 UTC));
    let cert = vault.erase_subject(&a, id).await.unwrap();
    assert!(cert.kept.is_empty());
    assert_eq!(cert.erased.len(), 2);
    assert_eq!(cert.erased[1].collection, "orders");
    assert!(vault.store().retained_keys(id).await.unwrap().is_empty());
    assert!(matches!(
        vault.read_records(&a, id, "orders", None, LEGAL).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    if backend == Backend::Sqlite {
        assert!(place.files_containing(&class_key[0].wrapped_key).is_empty());
    } else {
        assert!(!place.dump().contains(&hex(&class_key[0].wrapped_key)));
    }
}

async fn only_orders_still_within_their_retention_are_kept(backend: Backend) {
    let clock = TestClock::at(datetime!(2019-01-10 09:00 UTC));
    let (_place, vault, _) = clocked(backend, clock.clone()).await;
    let a = actor();
    let id = vault
        .create_subject(&a, &obj(json!({"email": "mixed@example.com"})))
        .await
        .unwrap();
    vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 1})))
        .await
        .unwrap();
    clock.set(datetime!(2020-05-05 09:00 UTC));
    let recent = vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 2})))
        .await
        .unwrap();
    clock.set(datetime!(2026-03-01 09:00 UTC));
    let cert = vault.erase_subject(&a, id).await.unwrap();
    assert_eq!(cert.kept.len(), 1);
    assert_eq!(cert.kept[0].records, 1);
    assert_eq!(cert.kept[0].until, datetime!(2027-05-05 09:00 UTC));
    let erased_orders = cert
        .erased
        .iter()
        .find(|e| e.collection == "orders")
        .unwrap();
    assert_eq!(erased_orders.records, 1);
    let kept = vault
        .read_records(&a, id, "orders", None, LEGAL)
        .await
        .unwrap();
    assert_eq!(kept.iter().map(|r| r.id).collect::<Vec<_>>(), vec![recent]);
}

async fn a_kept_orders_ciphertext_moved_to_another_subject_fails_to_decrypt(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let (x, y) = (
        t.vault
            .create_subject(&a, &obj(json!({"email": "x@example.com"})))
            .await
            .unwrap(),
        t.vault
            .create_subject(&a, &obj(json!({"email": "y@example.com"})))
            .await
            .unwrap(),
    );
    let order = obj(json!({"total_cents": 99}));
    t.vault.add_record(&a, x, "orders", &order).await.unwrap();
    t.vault.add_record(&a, y, "orders", &order).await.unwrap();
    let store = t.vault.store();
    let theirs = store
        .load_subject(x, "orders", None)
        .await
        .unwrap()
        .unwrap();
    let mut mine = store
        .load_subject(y, "orders", None)
        .await
        .unwrap()
        .unwrap();
    t.vault.erase_subject(&a, x).await.unwrap();
    // x's kept ciphertext, under x's class key, copied into y's order.
    let mut r = mine.records.remove(0);
    r.fields = theirs.records[0].fields.clone();
    let expected = r.version;
    r.version += 1;
    store
        .apply(WriteSet::new().op(Op::PutRecord {
            record: r,
            expected_version: Some(expected),
        }))
        .await
        .unwrap();
    assert!(matches!(
        t.vault.read_records(&a, y, "orders", None, LEGAL).await,
        Err(VaultError::Integrity { .. })
    ));
    // x's own kept order still reads.
    let kept = t
        .vault
        .read_records(&a, x, "orders", None, LEGAL)
        .await
        .unwrap();
    assert_eq!(kept[0].data["total_cents"], json!(99));
}

/// Orders written before retention classes (here: while the schema declared no legal
/// obligation for them) are under the subject's own key. They stay readable, and an erasure
/// keeps them by re-sealing them under the class key before destroying the subject's key.
async fn orders_written_before_retention_classes_stay_readable_and_are_kept(backend: Backend) {
    let place = Place::new(backend);
    let old_schema = SCHEMA.replace(
        r#"purposes = ["essential.service", "analytics.reporting", "essential.legal_obligation"]"#,
        r#"purposes = ["essential.service", "analytics.reporting"]"#,
    )
    .replace(
        r#"purposes = ["essential.service.payment_processing", "essential.legal_obligation"]"#,
        r#"purposes = ["essential.service.payment_processing"]"#,
    );
    assert_ne!(old_schema, SCHEMA);
    let clock = TestClock::at(datetime!(2026-11-24 10:00 UTC));
    let (old, _) = Vault::initialize(
        Schema::from_toml_str(&old_schema).unwrap(),
        place.store().await,
        keyring(),
        clock.clone(),
    )
    .await
    .unwrap();
    let a = actor();
    let id = old
        .create_subject(&a, &obj(json!({"email": "legacy@example.com"})))
        .await
        .unwrap();
    let legacy = old
        .add_record(
            &a,
            id,
            "orders",
            &obj(json!({"total_cents": 11, "card_last4": "1234"})),
        )
        .await
        .unwrap();
    assert!(old.store().retained_keys(id).await.unwrap().is_empty());
    drop(old);
    // The upgraded schema: orders are kept by legal obligation from now on.
    let vault = Vault::open(
        Schema::from_toml_str(SCHEMA).unwrap(),
        place.store().await,
        keyring(),
        clock.clone(),
    )
    .await
    .unwrap();
    let new = vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 22})))
        .await
        .unwrap();
    let both = vault
        .read_records(&a, id, "orders", None, SERVICE)
        .await
        .unwrap();
    let totals: Vec<&Value> = both.iter().map(|r| &r.data["total_cents"]).collect();
    assert_eq!(totals, [&json!(11), &json!(22)]);
    let cert = vault.erase_subject(&a, id).await.unwrap();
    assert_eq!(cert.kept[0].records, 2);
    let kept = vault
        .read_records(&a, id, "orders", None, LEGAL)
        .await
        .unwrap();
    assert_eq!(kept.iter().map(|r| r.id).collect::<Vec<_>>(), [legacy, new]);
    assert_eq!(kept[0].data["card_last4"], json!("1234"));
    assert_eq!(kept[1].data["total_cents"], json!(22));
}

backend_tests!(
    erasure_destroys_everything_but_the_orders_kept_by_law,
    erasing_twice_is_a_clear_error,
    erasure_after_the_retention_ran_out_keeps_nothing,
    only_orders_still_within_their_retention_are_kept,
    a_kept_orders_ciphertext_moved_to_another_subject_fails_to_decrypt,
    orders_written_before_retention_classes_stay_readable_and_are_kept,
    kept_orders_are_purged_with_their_key_when_their_retention_ends,
);

async fn kept_orders_are_purged_with_their_key_when_their_retention_ends(backend: Backend) {
    let clock = TestClock::at(datetime!(2026-11-24 10:00 UTC));
    let (place, vault, key) = clocked(backend, clock.clone()).await;
    let a = actor();
    let id = vault
        .create_subject(&a, &obj(json!({"email": PROFILE_CANARIES[0]})))
        .await
        .unwrap();
    vault
        .add_record(
            &a,
            id,
            "support_tickets",
            &obj(json!({"message": TICKET_CANARY})),
        )
        .await
        .unwrap();
    let order = obj(json!({"items": [{"sku": ORDER_CANARY}], "total_cents": 4242}));
    let o1 = vault.add_record(&a, id, "orders", &order).await.unwrap();
    let o2 = vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 7})))
        .await
        .unwrap();
    let before = stored(&vault, id).await;
    let class_key = vault.store().retained_keys(id).await.unwrap();
    assert_eq!(class_key.len(), 1);
    clock.set(datetime!(2027-06-01 12:00 UTC));
    let cert = vault.erase_subject(&a, id).await.unwrap();
    let until = cert.kept[0].until;
    assert_eq!(
        until,
        datetime!(2033-11-24 10:00 UTC),
        "7 years after created"
    );
    // An erased subject cannot be held: its kept records have no hold to honour.
    assert!(matches!(
        vault.set_legal_hold(&a, id, Some("litigation-1")).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert_eq!(vault.store().legal_hold(id).await.unwrap(), None);

    let found = |needle: &[u8]| match backend {
        Backend::Sqlite => !place.files_containing(needle).is_empty(),
        Backend::Postgres => place.dump().contains(&hex(needle)),
    };
    let entries = || async {
        let store = vault.store();
        let n = store.audit_len().await.unwrap();
        store
            .audit_leaves(0, n as u32)
            .await
            .unwrap()
            .iter()
            .map(|l| AuditEntry::from_leaf_bytes(&l.leaf).unwrap())
            .collect::<Vec<_>>()
    };
    let still_kept = || async {
        let keys = vault.store().retained_keys(id).await.unwrap();
        let due = vault.store().retained_due(until, None, 10).await.unwrap();
        (keys.len(), due.len())
    };

    // One second before the boundary: kept, readable for the legal obligation, and the plan
    // shows them coming.
    let early = until - time::Duration::seconds(1);
    clock.set(early);
    let r = vault.run_retention(&a, early, false).await.unwrap();
    assert_eq!(r.progress.retained, 0);
    assert!(r.lines.is_empty());
    assert_eq!(still_kept().await, (1, 2));
    let read = vault
        .read_records(&a, id, "orders", None, LEGAL)
        .await
        .unwrap();
    assert_eq!(read.iter().map(|r| r.id).collect::<Vec<_>>(), vec![o1, o2]);
    let plan = vault.retention_plan(&a, early, 1).await.unwrap();
    let line = plan
        .lines
        .iter()
        .find(|l| l.collection == "retained:orders")
        .unwrap();
    assert_eq!(
        (line.due_now, line.upcoming, line.earliest),
        (0, 2, Some(until))
    );

    // At the boundary, a dry run counts them and changes nothing.
    clock.set(until);
    let audit_before = vault.store().audit_len().await.unwrap();
    let dry = vault.run_retention(&a, until, true).await.unwrap();
    assert_eq!(dry.progress.retained, 2);
    assert_eq!(
        dry.lines,
        vec![privet_vault::PurgeLine {
            collection: "retained:orders".into(),
            field: None,
            count: 2
        }]
    );
    assert_eq!(dry.report_audit_index, None);
    assert_eq!(still_kept().await, (1, 2));
    assert_eq!(vault.store().audit_len().await.unwrap(), audit_before);
    let plan = vault.retention_plan(&a, until, 1).await.unwrap();
    let line = plan
        .lines
        .iter()
        .find(|l| l.collection == "retained:orders")
        .unwrap();
    assert_eq!((line.due_now, line.upcoming), (2, 0));

    // The run deletes them, one batch per record here, and the class key with the last.
    let options = privet_vault::PurgeOptions {
        batch_size: 1,
        ..Default::default()
    };
    let r = vault.run_retention_with(&a, until, &options).await.unwrap();
    assert_eq!(r.progress.retained, 2);
    assert_eq!(r.progress.records, 0);
    assert_eq!(r.progress.batches, 2);
    assert_eq!(r.lines, dry.lines);
    assert_eq!(still_kept().await, (0, 0));
    let rest = vault
        .store()
        .load_retained(id, "orders", None)
        .await
        .unwrap()
        .unwrap();
    assert!(rest.keys.is_empty() && rest.records.is_empty());
    // Nothing kept is left at rest: neither the ciphertexts nor the wrapped class key.
    for ct in before.kept.iter().chain([&class_key[0].wrapped_key]) {
        assert!(!found(ct), "a purged kept order or its key found at rest");
    }
    // An erased subject with nothing kept is gone, as an unknown one.
    assert!(matches!(
        vault.read_records(&a, id, "orders", None, LEGAL).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    // One audit entry per deleted record, and the report's line.
    let all = entries().await;
    let mut purged: Vec<_> = all
        .iter()
        .filter(|e| e.reason.as_deref() == Some("retained_expired"))
        .map(|e| {
            assert_eq!(e.subject, Some(id));
            assert_eq!(e.collection.as_deref(), Some("orders"));
            assert_eq!(e.request_id, Some(r.run_id));
            e.record.unwrap()
        })
        .collect();
    purged.sort();
    let mut want = vec![o1, o2];
    want.sort();
    assert_eq!(purged, want);
    let report: Vec<_> = all
        .iter()
        .filter(|e| e.request_id == Some(r.run_id) && e.reason.as_deref() == Some("purge_report"))
        .map(|e| (e.collection.clone(), e.count))
        .collect();
    assert_eq!(report, vec![(Some("retained:orders".to_owned()), Some(2))]);
    vault.checkpoint(&a).await.unwrap();
    vault
        .verify_audit(&a, &key, ORIGIN, None, |_, _| {})
        .await
        .unwrap();
    // A second run finds nothing left.
    let again = vault.run_retention(&a, until, false).await.unwrap();
    assert_eq!(again.progress.retained, 0);
}
