//! Security properties of the vault, tested rather than assumed: no plaintext at rest,
//! ciphertexts bound to their place, wrong keys refused, erasure complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use privet_store::{Op, Store, WriteSet};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Keyring, Schema, SystemClock, Vault, VaultError};
use serde_json::json;

const CANARIES: &[&str] = &[
    "canary.zq7x@example.com",
    "Zebediah Quixotic-Canary",
    "77 Canaryweg Zq7x",
    "canary-ticket-zq7x",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_values_appear_nowhere_in_the_data_dir_in_any_encoding() {
    let t = vault().await;
    let a = actor();
    let id = t
        .vault
        .create_subject(
            &a,
            &obj(json!({
                "email": CANARIES[0], "name": CANARIES[1], "address": CANARIES[2],
                "phone": "+1 650 253 0000", "birth_date": "1970-01-02", "gender": "female"
            })),
        )
        .await
        .unwrap();
    t.vault
        .add_record(
            &a,
            id,
            "support_tickets",
            &obj(json!({"message": CANARIES[3]})),
        )
        .await
        .unwrap();
    // Reads and lookups write audit entries too: exercise them before scanning.
    let v = t
        .vault
        .read_subject(&a, id, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(v.data["email"], json!(CANARIES[0]));
    let found = t
        .vault
        .find_subjects(&a, "email", CANARIES[0], Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let phone = "+16502530000";
    for canary in CANARIES.iter().copied().chain([phone]) {
        for needle in [
            canary.to_owned(),
            hex(canary.as_bytes()),
            base64(canary.as_bytes()),
        ] {
            let hits = files_containing(t.dir.path(), needle.as_bytes());
            assert!(hits.is_empty(), "a canary was found in {hits:?}");
        }
    }
    assert!(
        files(t.dir.path())
            .iter()
            .any(|p| p.to_string_lossy().ends_with("-wal")),
        "the scan must cover the WAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_trace_of_the_wrapped_key_in_any_file() {
    let t = vault().await;
    let a = actor();
    let id = t
        .vault
        .create_subject(
            &a,
            &obj(json!({"email": "erase.me@example.com", "name": "Erase Me"})),
        )
        .await
        .unwrap();
    t.vault
        .add_record(
            &a,
            id,
            "orders",
            &obj(json!({"total_cents": 100, "card_last4": "4242"})),
        )
        .await
        .unwrap();
    let row = t
        .vault
        .store()
        .load_subject(id, "customers", None)
        .await
        .unwrap()
        .unwrap();
    let wrapped = row.subject.wrapped_key.clone();
    let ct = row.records[0].fields[0].1.clone();
    assert!(
        !files_containing(t.dir.path(), &wrapped).is_empty(),
        "precondition: the key is on disk"
    );
    t.vault.erase_subject(&a, id).await.unwrap();
    for needle in [&wrapped, &ct] {
        let hits = files_containing(t.dir.path(), needle);
        assert!(
            hits.is_empty(),
            "erased key material or ciphertext found in {hits:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_subject_is_gone_from_every_use_case() {
    let t = vault().await;
    let a = actor();
    let id = t
        .vault
        .create_subject(&a, &obj(json!({"email": "gone@example.com"})))
        .await
        .unwrap();
    t.vault
        .add_record(&a, id, "orders", &obj(json!({"total_cents": 5})))
        .await
        .unwrap();
    t.vault.erase_subject(&a, id).await.unwrap();
    let p = Some("essential.service");
    assert!(matches!(
        t.vault.read_subject(&a, id, p).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(matches!(
        t.vault.read_records(&a, id, "orders", None, p).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(
        t.vault
            .find_subjects(&a, "email", "gone@example.com", p)
            .await
            .unwrap()
            .is_empty()
    );
    let patch = obj(json!({"name": "x"}));
    assert!(matches!(
        t.vault.update_subject(&a, id, &patch).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    let order = obj(json!({"total_cents": 1}));
    assert!(matches!(
        t.vault.add_record(&a, id, "orders", &order).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(matches!(
        t.vault.erase_subject(&a, id).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    let ledger = t.vault.store().erasures().await.unwrap();
    assert_eq!(ledger.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![id]);
}

async fn swap_field_ciphertexts(
    store: &Arc<dyn Store>,
    from: privet_core::SubjectId,
    to: privet_core::SubjectId,
    from_field: &str,
    to_field: &str,
) {
    let src = store
        .load_subject(from, "customers", None)
        .await
        .unwrap()
        .unwrap()
        .records
        .remove(0);
    let mut dst = store
        .load_subject(to, "customers", None)
        .await
        .unwrap()
        .unwrap()
        .records
        .remove(0);
    let ct = src
        .fields
        .iter()
        .find(|(n, _)| n == from_field)
        .unwrap()
        .1
        .clone();
    let slot = dst.fields.iter_mut().find(|(n, _)| n == to_field).unwrap();
    slot.1 = ct;
    let expected = dst.version;
    dst.version += 1;
    store
        .apply(WriteSet::new().op(Op::PutRecord {
            record: dst,
            expected_version: Some(expected),
        }))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ciphertext_moved_to_another_subject_fails_to_decrypt() {
    let t = vault().await;
    let a = actor();
    let x = t
        .vault
        .create_subject(&a, &obj(json!({"email": "x@example.com", "name": "X"})))
        .await
        .unwrap();
    let y = t
        .vault
        .create_subject(&a, &obj(json!({"email": "y@example.com", "name": "Y"})))
        .await
        .unwrap();
    swap_field_ciphertexts(t.vault.store(), x, y, "email", "email").await;
    let r = t.vault.read_subject(&a, y, Some("essential.service")).await;
    assert!(matches!(r, Err(VaultError::Integrity { .. })), "got {r:?}");
    // The victim's own data still reads.
    assert!(
        t.vault
            .read_subject(&a, x, Some("essential.service"))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ciphertext_moved_to_another_field_fails_to_decrypt() {
    let t = vault().await;
    let a = actor();
    let x = t
        .vault
        .create_subject(
            &a,
            &obj(json!({"email": "x@example.com", "name": "Xavier"})),
        )
        .await
        .unwrap();
    swap_field_ciphertexts(t.vault.store(), x, x, "name", "email").await;
    let r = t.vault.read_subject(&a, x, Some("essential.service")).await;
    assert!(matches!(r, Err(VaultError::Integrity { .. })), "got {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_master_key_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, _) = vault_in(dir.path(), Keyring::generate()).await;
    drop(vault);
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let store = SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap();
    let r = Vault::open(
        schema,
        Arc::new(store),
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await;
    match r {
        Err(VaultError::WrongKey(e)) => assert!(e.to_string().contains("v1"), "{e}"),
        other => panic!("expected WrongKey, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninitialised_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let store = SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap();
    let r = Vault::open(
        schema,
        Arc::new(store),
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await;
    assert!(matches!(r, Err(VaultError::NotInitialized)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_authenticate_only_when_exact() {
    let t = vault().await;
    assert_eq!(t.vault.authenticate(&t.api_key).await.unwrap().id, "admin");
    let mut wrong = t.api_key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [wrong.as_str(), "", "pk_", "Bearer x", "pk_abcdefgh_zzzz"] {
        assert!(
            matches!(
                t.vault.authenticate(bad).await,
                Err(VaultError::Unauthorized)
            ),
            "{bad:?}"
        );
    }
}
