//! The vault's use cases behave as a user relies on: purpose-bound reads, minimization,
//! lookups through normalization, atomic batches, and an audit entry for everything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use common::*;
use privet_audit::{Action, AuditEntry};
use privet_vault::VaultError;
use serde_json::json;

async fn a_read_releases_only_fields_declared_for_the_purpose(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let id = t.vault.create_subject(&a, &obj(json!({
        "email": "Jane.Doe@Example.COM ", "name": "Jane", "birth_date": "1990-05-17", "gender": "female"
    }))).await.unwrap();
    let v = t
        .vault
        .read_subject(&a, id, Some("analytics.reporting"))
        .await
        .unwrap();
    assert_eq!(
        v.data,
        obj(json!({"birth_date": "1990-05-17", "gender": "female"}))
    );
    let withheld: Vec<_> = v
        .withheld
        .iter()
        .map(|w| (w.field.as_str(), w.reason.as_str()))
        .collect();
    assert!(withheld.contains(&("email", "purpose_not_declared")));
    assert!(withheld.contains(&("name", "purpose_not_declared")));
    let v = t
        .vault
        .read_subject(&a, id, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(
        v.data["email"],
        json!("Jane.Doe@example.com"),
        "domain lower-cased, trimmed"
    );
    assert!(!v.data.contains_key("birth_date"));
}

async fn reads_need_a_known_purpose(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let id = t
        .vault
        .create_subject(&a, &obj(json!({"email": "p@example.com"})))
        .await
        .unwrap();
    assert!(matches!(
        t.vault.read_subject(&a, id, None).await,
        Err(VaultError::MissingPurpose)
    ));
    assert!(matches!(
        t.vault.read_subject(&a, id, Some("")).await,
        Err(VaultError::MissingPurpose)
    ));
    assert!(matches!(
        t.vault.read_subject(&a, id, Some("spying")).await,
        Err(VaultError::UnknownPurpose(_))
    ));
}

async fn undeclared_fields_are_refused_by_name_and_nothing_is_written(backend: Backend) {
    let t = vault(backend).await;
    let before = t.vault.store().audit_len().await.unwrap();
    let r = t
        .vault
        .create_subject(
            &actor(),
            &obj(json!({"email": "a@example.com", "shoe_size": 44, "ssn": "x"})),
        )
        .await;
    let Err(VaultError::Invalid(errors)) = r else {
        panic!("expected Invalid, got {r:?}")
    };
    let mut named: Vec<_> = errors
        .0
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    named.sort();
    assert_eq!(
        named,
        vec![
            ("shoe_size", "undeclared_field"),
            ("ssn", "undeclared_field")
        ]
    );
    assert_eq!(t.vault.store().audit_len().await.unwrap(), before);
}

async fn lookup_normalizes_the_query_like_the_write(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let id = t
        .vault
        .create_subject(
            &a,
            &obj(json!({"email": "jane@example.com", "phone": "+1 (650) 253-0001"})),
        )
        .await
        .unwrap();
    let p = Some("essential.service");
    for q in ["jane@example.com", "  JANE@Example.com "] {
        let hits = t.vault.find_subjects(&a, "email", q, p).await.unwrap();
        assert_eq!(
            hits.iter().map(|v| v.id).collect::<Vec<_>>(),
            vec![id],
            "{q}"
        );
    }
    let hits = t
        .vault
        .find_subjects(&a, "phone", "+16502530001", p)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        t.vault
            .find_subjects(&a, "email", "other@example.com", p)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        t.vault.find_subjects(&a, "name", "x", p).await,
        Err(VaultError::NotSearchable(_))
    ));
    let r = t
        .vault
        .find_subjects(&a, "email", "jane@example.com", Some("analytics.reporting"))
        .await;
    assert!(matches!(r, Err(VaultError::LookupNotAllowed { .. })));
}

async fn updates_change_values_and_the_blind_index(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let p = Some("essential.service");
    let id = t
        .vault
        .create_subject(&a, &obj(json!({"email": "old@example.com", "name": "Old"})))
        .await
        .unwrap();
    t.vault
        .update_subject(
            &a,
            id,
            &obj(json!({"email": "new@example.com", "name": null})),
        )
        .await
        .unwrap();
    let v = t.vault.read_subject(&a, id, p).await.unwrap();
    assert_eq!(v.data, obj(json!({"email": "new@example.com"})));
    assert!(
        t.vault
            .find_subjects(&a, "email", "old@example.com", p)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.vault
            .find_subjects(&a, "email", "new@example.com", p)
            .await
            .unwrap()
            .len(),
        1
    );
    let r = t
        .vault
        .update_subject(&a, id, &obj(json!({"email": null})))
        .await;
    assert!(
        matches!(r, Err(VaultError::Invalid(_))),
        "a required field cannot be removed"
    );
}

async fn records_are_added_and_read_per_collection_for_a_purpose(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let id = t
        .vault
        .create_subject(&a, &obj(json!({"email": "r@example.com"})))
        .await
        .unwrap();
    let r1 = t
        .vault
        .add_record(
            &a,
            id,
            "orders",
            &obj(json!({"items": [{"sku": "pen"}], "total_cents": 250, "card_last4": "4242"})),
        )
        .await
        .unwrap();
    let r2 = t
        .vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 99})))
        .await
        .unwrap();
    let all = t
        .vault
        .read_records(&a, id, "orders", None, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r1, r2]);
    assert_eq!(
        all[0].data,
        obj(json!({"items": [{"sku": "pen"}], "total_cents": 250}))
    );
    assert!(all[0].withheld.iter().any(|w| w.field == "card_last4"));
    let pay = t
        .vault
        .read_records(
            &a,
            id,
            "orders",
            Some(r1),
            Some("essential.service.payment_processing"),
        )
        .await
        .unwrap();
    assert_eq!(pay[0].data, obj(json!({"card_last4": "4242"})));
    let missing = privet_core::RecordId::new();
    let r = t
        .vault
        .read_records(&a, id, "orders", Some(missing), Some("essential.service"))
        .await;
    assert!(matches!(r, Err(VaultError::RecordNotFound(_))));
    assert!(matches!(
        t.vault
            .add_record(&a, id, "customers", &obj(json!({})))
            .await,
        Err(VaultError::WrongCollectionKind { .. })
    ));
    assert!(matches!(
        t.vault.add_record(&a, id, "nope", &obj(json!({}))).await,
        Err(VaultError::UnknownCollection(_))
    ));
    let bad = obj(json!({"card_last4": "42"}));
    assert!(matches!(
        t.vault.add_record(&a, id, "orders", &bad).await,
        Err(VaultError::Invalid(_))
    ));
}

async fn an_invalid_batch_lists_every_bad_item_and_writes_nothing(backend: Backend) {
    let t = vault(backend).await;
    let before = t.vault.store().audit_len().await.unwrap();
    let items = vec![
        obj(json!({"email": "ok1@example.com"})),
        obj(json!({"email": "not-an-email"})),
        obj(json!({"email": "ok2@example.com"})),
        obj(json!({"name": "no email"})),
    ];
    let Err(VaultError::InvalidBatch(bad)) = t.vault.create_subjects(&actor(), &items).await else {
        panic!()
    };
    assert_eq!(bad.iter().map(|b| b.index).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(t.vault.store().audit_len().await.unwrap(), before);
    let hits = t
        .vault
        .find_subjects(
            &actor(),
            "email",
            "ok1@example.com",
            Some("essential.service"),
        )
        .await
        .unwrap();
    assert!(hits.is_empty());
    let ids = t
        .vault
        .create_subjects(&actor(), &items[..1])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
}

async fn every_use_case_leaves_an_audit_entry_without_values(backend: Backend) {
    let t = vault(backend).await;
    let a = actor();
    let start = t.vault.store().audit_len().await.unwrap();
    let id = t
        .vault
        .create_subject(
            &a,
            &obj(json!({"email": "audit.canary@example.com", "name": "Audit Canary"})),
        )
        .await
        .unwrap();
    t.vault
        .read_subject(&a, id, Some("analytics.reporting"))
        .await
        .unwrap();
    t.vault
        .find_subjects(
            &a,
            "email",
            "audit.canary@example.com",
            Some("essential.service"),
        )
        .await
        .unwrap();
    t.vault
        .update_subject(&a, id, &obj(json!({"name": "Audit Canary Two"})))
        .await
        .unwrap();
    t.vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 1})))
        .await
        .unwrap();
    t.vault
        .read_records(&a, id, "orders", None, Some("essential.service"))
        .await
        .unwrap();
    t.vault.erase_subject(&a, id).await.unwrap();
    let leaves = t.vault.store().audit_leaves(start, 100).await.unwrap();
    let entries: Vec<AuditEntry> = leaves
        .iter()
        .map(|l| AuditEntry::from_leaf_bytes(&l.leaf).unwrap())
        .collect();
    let actions: Vec<Action> = entries.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            Action::SubjectCreate,
            Action::SubjectRead,
            Action::SubjectLookup,
            Action::SubjectUpdate,
            Action::RecordCreate,
            Action::RecordRead,
            Action::SubjectErase,
        ]
    );
    assert!(entries.iter().all(|e| e.subject == Some(id)));
    assert_eq!(entries[1].purpose.as_deref(), Some("analytics.reporting"));
    assert!(
        entries[1]
            .withheld
            .iter()
            .any(|w| w.field == "email" && w.reason == "purpose_not_declared")
    );
    for l in &leaves {
        let text = String::from_utf8_lossy(&l.leaf);
        assert!(
            !text.contains("Canary") && !text.contains("canary"),
            "a value leaked into the audit log"
        );
    }
}

async fn a_unique_field_refuses_a_second_subject_with_the_same_value(backend: Backend) {
    let schema = SCHEMA.replace(
        "searchable = true\nrequired = true",
        "searchable = true\nunique = true\nrequired = true",
    );
    assert_ne!(
        schema, SCHEMA,
        "the example schema's email field is the one made unique"
    );
    let t = vault_with_schema(backend, &schema).await;
    let vault = &t.vault;
    let a = actor();
    let first = vault
        .create_subject(&a, &obj(json!({"email": "one@example.com"})))
        .await
        .unwrap();
    let r = vault
        .create_subject(&a, &obj(json!({"email": " ONE@example.com"})))
        .await;
    assert!(
        matches!(r, Err(VaultError::Duplicate { ref field }) if field == "email"),
        "got {r:?}"
    );
    // The same subject may keep (re-write) its own value; another value is fine.
    vault
        .update_subject(&a, first, &obj(json!({"email": "one@example.com"})))
        .await
        .unwrap();
    vault
        .create_subject(&a, &obj(json!({"email": "two@example.com"})))
        .await
        .unwrap();
    let found = vault
        .find_subjects(&a, "email", "one@example.com", Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

backend_tests!(
    a_read_releases_only_fields_declared_for_the_purpose,
    reads_need_a_known_purpose,
    undeclared_fields_are_refused_by_name_and_nothing_is_written,
    lookup_normalizes_the_query_like_the_write,
    updates_change_values_and_the_blind_index,
    records_are_added_and_read_per_collection_for_a_purpose,
    an_invalid_batch_lists_every_bad_item_and_writes_nothing,
    every_use_case_leaves_an_audit_entry_without_values,
    a_unique_field_refuses_a_second_subject_with_the_same_value,
);
