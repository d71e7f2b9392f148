//! Master-key rotation while the vault serves: every read and lookup during and after it
//! succeeds and is right, every key ends under the new version, and a version still in use
//! cannot be retired.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use privet_core::SubjectId;
use privet_crypto::KeyVersion;
use privet_vault::{Vault, VaultError};
use serde_json::json;

const PURPOSE: Option<&str> = Some("essential.service");

fn email(i: usize) -> String {
    format!("person{i}@example.com")
}

async fn email_of(vault: &Vault, id: SubjectId) -> String {
    let v = vault.read_subject(&actor(), id, PURPOSE).await.unwrap();
    v.data["email"].as_str().unwrap().to_owned()
}

async fn rotation_under_concurrent_reads_and_writes_loses_nothing(backend: Backend) {
    let (t, file) = served_vault(backend).await;
    let server = t.vault.clone();
    let mut ids = Vec::new();
    for i in 0..240 {
        let id = server
            .create_subject(&actor(), &obj(json!({ "email": email(i), "name": "N" })))
            .await
            .unwrap();
        ids.push(id);
    }
    let ids = Arc::new(ids);
    let rotator = rotate_key_file(&t, &file).await;
    assert_eq!(rotator.key_versions().0, KeyVersion(2));
    // The server has not re-read its key file yet: it still writes under v1.
    assert_eq!(server.key_versions().0, KeyVersion(1));

    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    // Readers: subjects 0..160, never written during the test, read and looked up.
    let mut tasks = Vec::new();
    for r in 0..2usize {
        let (server, ids, done, reads) = (
            server.clone(),
            Arc::clone(&ids),
            Arc::clone(&done),
            Arc::clone(&reads),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = r;
            // At least one full sweep, then on until the rotation is over.
            while !done.load(Ordering::SeqCst) || i < 160 {
                let k = i % 160;
                assert_eq!(email_of(&server, ids[k]).await, email(k));
                let found = server
                    .find_subjects(&actor(), "email", &email(k), PURPOSE)
                    .await
                    .unwrap();
                let found: Vec<SubjectId> = found.iter().map(|v| v.id).collect();
                assert_eq!(found, [ids[k]], "lookup of subject {k}");
                reads.fetch_add(1, Ordering::SeqCst);
                i += 2;
            }
        }));
    }
    // Writer: updates subjects 160..240 (new emails) and creates new subjects.
    let writer = {
        let (server, ids) = (server.clone(), Arc::clone(&ids));
        tokio::spawn(async move {
            let mut created = Vec::new();
            for round in 0..2 {
                for k in 160..240 {
                    let new = format!("moved{round}.{k}@example.com");
                    server
                        .update_subject(&actor(), ids[k], &obj(json!({ "email": new })))
                        .await
                        .unwrap();
                }
                for n in 0..20 {
                    let e = format!("new{round}.{n}@example.com");
                    let id = server
                        .create_subject(&actor(), &obj(json!({ "email": e.clone() })))
                        .await
                        .unwrap();
                    created.push((id, e));
                }
            }
            created
        })
    };
    rotator.begin_rotation().await.unwrap();
    let mut first = rotator.finish_rotation(16, &mut |_| {}).await;
    let created = writer.await.unwrap();
    done.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    if let Err(VaultError::BadRequest(msg)) = &first {
        // Keys a server wrapped under v1 after the last pass: running it again finishes.
        assert!(msg.contains("remain after"), "{msg}");
        first = rotator.finish_rotation(16, &mut |_| {}).await;
    }
    first.unwrap();
    // Writes after the rotation (the server may still be on v1 if it never missed) are
    // caught by running it once more, as an operator would after the last server reloaded.
    server.reload_keys().await.unwrap();
    rotator.finish_rotation(16, &mut |_| {}).await.unwrap();

    assert!(reads.load(Ordering::SeqCst) >= 160);
    let status = rotator.key_status().await.unwrap();
    assert!(!status.pending(), "{status:?}");
    let v1 = &status.versions[0];
    assert_eq!(
        (v1.version, v1.wrapped_total(), v1.index_entries),
        (KeyVersion(1), 0, 0)
    );
    let v2 = &status.versions[1];
    assert_eq!(v2.wrapped_total(), 240 + created.len() as u64);
    assert_eq!(v2.index_entries, 240 + created.len() as u64);
    // Everything reads and is found, by a server with the new keys.
    assert_eq!(server.key_versions().0, KeyVersion(2));
    for (k, id) in ids.iter().enumerate() {
        let want = if k < 160 {
            email(k)
        } else {
            format!("moved1.{k}@example.com")
        };
        assert_eq!(email_of(&server, *id).await, want);
        let found = server
            .find_subjects(&actor(), "email", &want, PURPOSE)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{want}");
    }
    for (id, e) in &created {
        assert_eq!(&email_of(&server, *id).await, e);
    }
    // An old email of a moved subject finds nothing under either version.
    let old = server
        .find_subjects(&actor(), "email", &email(200), PURPOSE)
        .await
        .unwrap();
    assert!(old.is_empty());
}

async fn a_server_reads_keys_wrapped_under_a_version_it_learns_of_on_the_miss(backend: Backend) {
    let (t, file) = served_vault(backend).await;
    let server = t.vault.clone();
    let id = server
        .create_subject(&actor(), &obj(json!({ "email": email(1) })))
        .await
        .unwrap();
    let rotator = rotate_key_file(&t, &file).await;
    rotator.begin_rotation().await.unwrap();
    rotator.finish_rotation(10, &mut |_| {}).await.unwrap();
    assert_eq!(server.key_versions().0, KeyVersion(1));
    // The subject key is now under v2, which the server does not hold: it re-reads the
    // key file and reads on.
    assert_eq!(email_of(&server, id).await, email(1));
    assert_eq!(server.key_versions().0, KeyVersion(2));
    // And wraps new subjects under v2 from now on.
    server
        .create_subject(&actor(), &obj(json!({ "email": email(2) })))
        .await
        .unwrap();
    let status = server.key_status().await.unwrap();
    assert_eq!(status.versions[1].wrapped_total(), 2);
    assert_eq!(status.versions[0].wrapped_total(), 0);
}

async fn a_version_in_use_cannot_be_retired(backend: Backend) {
    let (t, file) = served_vault(backend).await;
    t.vault
        .create_subject(&actor(), &obj(json!({ "email": email(1) })))
        .await
        .unwrap();
    let err = t.vault.retire_key_version(KeyVersion(1)).await.unwrap_err();
    assert!(err.to_string().contains("current version"), "{err}");
    // v2 added, nothing re-wrapped yet: v1 still wraps the subject and keys its index entry.
    let v2 = rotate_key_file(&t, &file).await;
    v2.begin_rotation().await.unwrap();
    let err = v2
        .retire_key_version(KeyVersion(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 subject_keys are wrapped under it"), "{err}");
    assert!(err.contains("1 blind-index entries"), "{err}");
    v2.finish_rotation(10, &mut |_| {}).await.unwrap();
    // Re-wrapped, but v1 still keys API-key hashes and tokens.
    let err = v2
        .retire_key_version(KeyVersion(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("API-key hashes and tokens"), "{err}");
    // A third version: v2, between the two, is used by nothing once v3 is in place.
    let v3 = rotate_key_file(&t, &file).await;
    v3.begin_rotation().await.unwrap();
    assert!(v3.retire_key_version(KeyVersion(2)).await.is_err());
    v3.finish_rotation(10, &mut |_| {}).await.unwrap();
    v3.retire_key_version(KeyVersion(2)).await.unwrap();
    assert!(v3.retire_key_version(KeyVersion(7)).await.is_err());
}

backend_tests!(
    rotation_under_concurrent_reads_and_writes_loses_nothing,
    a_server_reads_keys_wrapped_under_a_version_it_learns_of_on_the_miss,
    a_version_in_use_cannot_be_retired,
);
