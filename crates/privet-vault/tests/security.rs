//! Security properties of the vault, tested rather than assumed: no plaintext at rest,
//! ciphertexts bound to their place, wrong keys refused, erasure complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::Arc;

use common::*;
use privet_store::{Op, Store, WriteSet};
use privet_vault::{Keyring, Schema, SystemClock, Vault, VaultError};
use serde_json::json;

const CANARIES: &[&str] = &[
    "canary.zq7x@example.com",
    "Zebediah Quixotic-Canary",
    "77 Canaryweg Zq7x",
    "canary-ticket-zq7x",
];

async fn canary_values_appear_nowhere_at_rest_in_any_encoding(backend: Backend) {
    // PostgreSQL in a throwaway cluster, so that every file it writes can be read.
    let t = vault_at(Place::isolated(backend), SCHEMA, Keyring::generate()).await;
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
    // Every row as text (PostgreSQL: pg_dump of the schema, bytea as hex) and every file.
    let dump = t.place.dump();
    let phone = "+16502530000";
    for canary in CANARIES.iter().copied().chain([phone]) {
        for needle in [
            canary.to_owned(),
            hex(canary.as_bytes()),
            base64(canary.as_bytes()),
        ] {
            let hits = t.place.files_containing(needle.as_bytes());
            assert!(hits.is_empty(), "a canary was found in {hits:?}");
            assert!(!dump.contains(&needle), "a canary was found in the rows");
        }
    }
    // The scans see what is stored: the subject's wrapped key is found by each of them.
    let wrapped = t
        .vault
        .store()
        .load_subject(id, "customers", None)
        .await
        .unwrap()
        .unwrap()
        .subject
        .wrapped_key;
    let files = t.place.files_containing(&wrapped);
    let wal = if backend == Backend::Sqlite {
        "-wal"
    } else {
        "pg_wal"
    };
    assert!(
        files.iter().any(|p| p.to_string_lossy().contains(wal)),
        "the scan must cover the write-ahead log: {files:?}"
    );
    if backend == Backend::Postgres {
        assert!(dump.contains(&hex(&wrapped)), "the dump must hold the rows");
        assert!(
            files.iter().any(|p| p.to_string_lossy().contains("/base/")),
            "the scan must cover the table files: {files:?}"
        );
    }
}

async fn erasure_leaves_no_trace_of_the_wrapped_key_or_ciphertexts(backend: Backend) {
    let t = vault(backend).await;
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
    // SQLite: every file of the vault (secure_delete, WAL truncated). PostgreSQL: every row
    // of the database (pg_dump); its files keep dead tuples until VACUUM, see the README.
    let traces = |needle: &[u8]| -> Vec<String> {
        match backend {
            Backend::Sqlite => t
                .place
                .files_containing(needle)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            Backend::Postgres => [t.place.dump()]
                .into_iter()
                .filter(|d| d.contains(&hex(needle)))
                .map(|_| "pg_dump".to_owned())
                .collect(),
        }
    };
    assert!(
        !traces(&wrapped).is_empty(),
        "precondition: the key is stored"
    );
    t.vault.erase_subject(&a, id).await.unwrap();
    for needle in [&wrapped, &ct] {
        let hits = traces(needle);
        assert!(
            hits.is_empty(),
            "erased key material or ciphertext found in {hits:?}"
        );
    }
}

async fn erased_subject_is_gone_from_every_use_case(backend: Backend) {
    let t = vault(backend).await;
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
    // The order is kept by legal obligation (7 years), but not for this purpose.
    assert!(matches!(
        t.vault.read_records(&a, id, "orders", None, p).await,
        Err(VaultError::Forbidden {
            reason: privet_core::policy::WithholdReason::ErasedRetained,
            ..
        })
    ));
    assert!(matches!(
        t.vault
            .read_records(&a, id, "support_tickets", None, p)
            .await,
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
        Err(VaultError::AlreadyErased { .. })
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

async fn a_ciphertext_moved_to_another_subject_fails_to_decrypt(backend: Backend) {
    let t = vault(backend).await;
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

async fn a_ciphertext_moved_to_another_field_fails_to_decrypt(backend: Backend) {
    let t = vault(backend).await;
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

async fn a_wrong_master_key_is_refused_at_open(backend: Backend) {
    let TestVault { place, vault, .. } =
        vault_at(Place::new(backend), SCHEMA, Keyring::generate()).await;
    drop(vault);
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let r = Vault::open(
        schema,
        place.store().await,
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await;
    match r {
        Err(VaultError::WrongKey(e)) => assert!(e.to_string().contains("v1"), "{e}"),
        other => panic!("expected WrongKey, got {other:?}"),
    }
}

async fn an_uninitialised_store_is_refused(backend: Backend) {
    let place = Place::new(backend);
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let r = Vault::open(
        schema,
        place.store().await,
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await;
    assert!(matches!(r, Err(VaultError::NotInitialized)));
}

async fn api_keys_authenticate_only_when_exact(backend: Backend) {
    let t = vault(backend).await;
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

backend_tests!(
    canary_values_appear_nowhere_at_rest_in_any_encoding,
    erasure_leaves_no_trace_of_the_wrapped_key_or_ciphertexts,
    erased_subject_is_gone_from_every_use_case,
    a_ciphertext_moved_to_another_subject_fails_to_decrypt,
    a_ciphertext_moved_to_another_field_fails_to_decrypt,
    a_wrong_master_key_is_refused_at_open,
    an_uninitialised_store_is_refused,
    api_keys_authenticate_only_when_exact,
);
