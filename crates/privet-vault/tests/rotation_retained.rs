//! Master-key rotation and the retention-class keys: the orders the law obliges keeping
//! (of live and of erased customers) stay readable through a rotation, their keys end under
//! the new version, `keys status` counts them, and a version one of them still uses cannot
//! be retired.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use common::*;
use privet_core::SubjectId;
use privet_crypto::KeyVersion;
use privet_vault::{KeyStatus, Vault};
use serde_json::json;

const LEGAL: Option<&str> = Some("essential.legal_obligation");

/// Retained keys wrapped under `version`, as `keys status` reports them.
fn retained_under(status: &KeyStatus, version: u32) -> u64 {
    status
        .versions
        .iter()
        .find(|v| v.version == KeyVersion(version))
        .map(|v| {
            v.wrapped
                .iter()
                .filter(|c| c.table == "retained_keys")
                .map(|c| c.count)
                .sum()
        })
        .unwrap_or(0)
}

async fn order_totals(vault: &Vault, id: SubjectId) -> Vec<serde_json::Value> {
    let kept = vault
        .read_records(&actor(), id, "orders", None, LEGAL)
        .await
        .unwrap();
    kept.iter().map(|r| r.data["total_cents"].clone()).collect()
}

async fn retained_keys_are_rotated_and_keep_their_version_from_retirement(backend: Backend) {
    let (t, file) = served_vault(backend).await;
    let server = t.vault.clone();
    let a = actor();
    let order = |n: u64| obj(json!({ "total_cents": n }));
    // A customer with an order (so a class key), and one erased with its orders kept.
    let live = server
        .create_subject(&a, &obj(json!({ "email": "live@example.com" })))
        .await
        .unwrap();
    server
        .add_record(&a, live, "orders", &order(11))
        .await
        .unwrap();
    let gone = server
        .create_subject(&a, &obj(json!({ "email": "gone@example.com" })))
        .await
        .unwrap();
    server
        .add_record(&a, gone, "orders", &order(21))
        .await
        .unwrap();
    server
        .add_record(&a, gone, "orders", &order(22))
        .await
        .unwrap();
    server.erase_subject(&a, gone).await.unwrap();
    let status = server.key_status().await.unwrap();
    assert_eq!(retained_under(&status, 1), 2, "{status:?}");

    // v2: the rotation re-wraps both class keys, the erased customer's included.
    let v2 = rotate_key_file(&t, &file).await;
    v2.begin_rotation().await.unwrap();
    let status = v2.key_status().await.unwrap();
    assert!(
        status.pending(),
        "retained keys under v1 leave the rotation pending"
    );
    let summary = v2.finish_rotation(1, &mut |_| {}).await.unwrap();
    assert_eq!(summary.rewrapped.get("retained_keys"), Some(&2));
    assert_eq!(summary.rewrapped.get("subject_keys"), Some(&1));
    for id in [live, gone] {
        let keys = v2.store().retained_keys(id).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key_version, 2, "class key of {id}");
    }
    let status = v2.key_status().await.unwrap();
    assert_eq!(retained_under(&status, 1), 0);
    assert_eq!(retained_under(&status, 2), 2);
    assert!(!status.pending());

    // The server, still on v1, meets a class key under v2 first: it re-reads its key file
    // and reads the kept orders on.
    assert_eq!(server.key_versions().0, KeyVersion(1));
    assert_eq!(order_totals(&server, gone).await, [json!(21), json!(22)]);
    assert_eq!(server.key_versions().0, KeyVersion(2));
    assert_eq!(order_totals(&v2, live).await, [json!(11)]);
    assert_eq!(order_totals(&v2, gone).await, [json!(21), json!(22)]);

    // The live customer is erased too: now only the two class keys use v2.
    v2.erase_subject(&a, live).await.unwrap();
    let v3 = rotate_key_file(&t, &file).await;
    v3.begin_rotation().await.unwrap();
    let err = v3
        .retire_key_version(KeyVersion(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 retained_keys are wrapped under it"),
        "{err}"
    );
    assert!(!err.contains("subject_keys"), "{err}");
    // Every version lists every table, in one order (`keys status` prints them as columns),
    // even v2, which wraps only retained keys now.
    let status = v3.key_status().await.unwrap();
    for v in &status.versions {
        let tables: Vec<&str> = v.wrapped.iter().map(|c| c.table).collect();
        assert_eq!(tables, ["subject_keys", "retained_keys"], "{}", v.version);
    }
    v3.finish_rotation(10, &mut |_| {}).await.unwrap();
    v3.retire_key_version(KeyVersion(2)).await.unwrap();
    assert_eq!(order_totals(&v3, live).await, [json!(11)]);
    assert_eq!(order_totals(&v3, gone).await, [json!(21), json!(22)]);
}

backend_tests!(retained_keys_are_rotated_and_keep_their_version_from_retirement);
