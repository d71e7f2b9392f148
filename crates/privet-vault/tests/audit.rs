//! The audit trail as a user relies on it: signed checkpoints that cover the log, proofs
//! that verify against them with the RFC 9162 verifier, clear errors for impossible proofs,
//! the subject's access log, and verification that names what was tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use common::*;
use privet_audit::{
    Action, AuditEntry, Decision, ProofError, VerifierKey, VerifyError, leaf_hash,
    verify_checkpoint, verify_consistency, verify_inclusion,
};
use privet_crypto::NoteSigner;
use privet_vault::{AuditError, Signers, Vault, VaultError};
use serde_json::json;

const ORIGIN: &str = "privet.test/audit";

fn signed(vault: Vault) -> (Vault, VerifierKey) {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let key = VerifierKey::of(&signer);
    let receipts = NoteSigner::generate("privet.test/receipts").unwrap();
    let vault = vault.with_signers(Signers {
        audit: Some(signer),
        receipts: Some(receipts),
    });
    (vault, key)
}

async fn add_subjects(vault: &Vault, n: usize) -> Vec<privet_core::SubjectId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let data = obj(json!({"email": format!("a{i}@example.com"), "name": "A"}));
        ids.push(vault.create_subject(&actor(), &data).await.unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_cover_the_log_and_every_proof_verifies_against_them() {
    let t = vault(Backend::Sqlite).await;
    let (vault, key) = signed(t.vault.clone());
    assert_eq!(vault.audit_key().unwrap(), key);
    assert_eq!(
        vault.receipt_signer().unwrap().name(),
        "privet.test/receipts"
    );
    add_subjects(&vault, 20).await;
    let first = vault.checkpoint(&actor()).await.unwrap();
    let c1 = verify_checkpoint(&first, &key, ORIGIN).unwrap();
    // Unchanged log: the same checkpoint. Grown log: a new one.
    assert_eq!(vault.checkpoint(&actor()).await.unwrap(), first);
    add_subjects(&vault, 23).await;
    let second = vault.checkpoint(&actor()).await.unwrap();
    let c2 = verify_checkpoint(&second, &key, ORIGIN).unwrap();
    assert!(c2.size() > c1.size());
    assert_eq!(c2.size(), vault.store().audit_len().await.unwrap());

    let entries = vault
        .audit_entries(&actor(), Some(0), Some(1000), None)
        .await
        .unwrap();
    assert_eq!(entries.len() as u64, c2.size());
    for (size, root) in [(c1.size(), *c1.root()), (c2.size(), *c2.root())] {
        for e in entries.iter().take(size as usize) {
            let proof = vault
                .inclusion_proof(&actor(), e.index, Some(size))
                .await
                .unwrap();
            assert_eq!(proof.leaf_hash, leaf_hash(&e.leaf));
            verify_inclusion(&proof.leaf_hash, e.index, size, &proof.hashes, &root).unwrap();
        }
    }
    let proof = vault
        .consistency_proof(&actor(), c1.size(), Some(c2.size()))
        .await
        .unwrap();
    verify_consistency(c1.size(), c2.size(), &proof.hashes, c1.root(), c2.root()).unwrap();
    // The default size is the whole log.
    let proof = vault.inclusion_proof(&actor(), 3, None).await.unwrap();
    assert_eq!(proof.tree_size, c2.size());
    // Entries decode to what was recorded.
    let decoded = serde_json::to_value(&entries[2]).unwrap();
    assert_eq!(decoded["entry"]["action"], json!("subject_create"));
    // The decoded entry is exactly what the leaf bytes encode.
    let privet_vault::DecodedEntry::Entry(e) = &entries[2].entry else {
        panic!("entry 2 does not decode")
    };
    assert_eq!(e.leaf_bytes(), entries[2].leaf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_proofs_are_clear_errors() {
    let t = vault(Backend::Sqlite).await;
    let (vault, _) = signed(t.vault.clone());
    add_subjects(&vault, 3).await;
    let size = vault.store().audit_len().await.unwrap();
    let beyond = vault.inclusion_proof(&actor(), 0, Some(size + 1)).await;
    assert!(matches!(
        beyond,
        Err(VaultError::Audit(AuditError::Proof(ProofError::BeyondTree { requested, size: s })))
            if requested == size + 1 && s == size
    ));
    let index = vault.inclusion_proof(&actor(), size, Some(size)).await;
    assert!(matches!(
        index,
        Err(VaultError::Audit(AuditError::Proof(
            ProofError::IndexOutOfRange { .. }
        )))
    ));
    let reversed = vault.consistency_proof(&actor(), 3, Some(2)).await;
    let err = reversed.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no consistency proof from tree size 3 to the smaller size 2"
    );
    let far = vault.consistency_proof(&actor(), 1, Some(size + 5)).await;
    assert!(matches!(
        far,
        Err(VaultError::Audit(AuditError::Proof(
            ProofError::BeyondTree { .. }
        )))
    ));
    assert!(matches!(
        vault.audit_entries(&actor(), None, Some(0), None).await,
        Err(VaultError::BadRequest(_))
    ));
    assert!(matches!(
        vault.audit_entries(&actor(), None, Some(1001), None).await,
        Err(VaultError::BadRequest(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_lists_who_did_what_to_one_subject_and_nothing_else() {
    let t = vault(Backend::Sqlite).await;
    let (vault, _) = signed(t.vault.clone());
    let ids = add_subjects(&vault, 3).await;
    let (a, b) = (ids[0], ids[1]);
    vault
        .read_subject(&actor(), a, Some("analytics.reporting"))
        .await
        .unwrap();
    vault
        .read_subject(&actor(), b, Some("essential.service"))
        .await
        .unwrap();
    let log = vault.access_log(&actor(), a, None, None).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action).collect();
    assert_eq!(actions, vec![Action::SubjectCreate, Action::SubjectRead]);
    let read = &log[1];
    assert_eq!(read.actor, "cli");
    assert_eq!(read.purpose.as_deref(), Some("analytics.reporting"));
    assert_eq!(read.decision, Decision::Partial);
    assert!(read.withheld.iter().any(|w| w.field == "email"));
    assert!(!read.fields.contains(&"email".to_owned()));
    // Paging by index.
    let later = vault
        .access_log(&actor(), a, Some(read.index), Some(1))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].index, read.index);
    // Entries filtered by subject agree.
    let entries = vault
        .audit_entries(&actor(), None, None, Some(a))
        .await
        .unwrap();
    assert_eq!(
        entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        log.iter().map(|e| e.index).collect::<Vec<_>>()
    );
    for e in &entries {
        let decoded = AuditEntry::from_leaf_bytes(&e.leaf).unwrap();
        assert_eq!(decoded.subject, Some(a));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_passes_on_an_intact_log_and_names_a_rewritten_leaf() {
    let t = vault(Backend::Sqlite).await;
    let (vault, key) = signed(t.vault.clone());
    add_subjects(&vault, 30).await;
    let saved = vault.checkpoint(&actor()).await.unwrap();
    add_subjects(&vault, 5).await;
    vault.checkpoint(&actor()).await.unwrap();
    let mut seen = 0;
    let report = vault
        .verify_audit(&actor(), &key, ORIGIN, Some(&saved), |done, _| seen = done)
        .await
        .unwrap();
    assert_eq!(report.size, vault.store().audit_len().await.unwrap());
    assert_eq!(report.checkpoints, 3);
    assert_eq!(seen, report.size);
    drop(vault);
    // Rewrite leaf 7 together with its leaf hash, as an insider with the database might.
    let db = rusqlite_open(&t.place.dir.path().join("privet.db"));
    let leaf: Vec<u8> = db
        .query_row("SELECT leaf FROM audit WHERE idx = 8", [], |r| r.get(0))
        .unwrap();
    let forged = String::from_utf8(leaf)
        .unwrap()
        .replace("\"cli\"", "\"xyz\"");
    db.execute(
        "UPDATE audit SET leaf = ?1, leaf_hash = ?2 WHERE idx = 8",
        rusqlite::params![forged.as_bytes(), &leaf_hash(forged.as_bytes())[..]],
    )
    .unwrap();
    let (vault, _) = signed(t.vault.clone());
    let err = vault
        .verify_audit(&actor(), &key, ORIGIN, None, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Audit(AuditError::Verify(VerifyError::ChainMismatch { index: 7 }))
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_bound_to_one_key_refuses_to_be_signed_by_another() {
    let t = vault(Backend::Sqlite).await;
    let (vault, _) = signed(t.vault.clone());
    vault.checkpoint(&actor()).await.unwrap();
    let (other, _) = signed(t.vault.clone());
    let err = other.checkpoint(&actor()).await.unwrap_err();
    assert!(
        matches!(err, VaultError::Audit(AuditError::KeyMismatch { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("give every server the same audit-signing.key")
    );
    // Without a key, nothing is signed.
    let err = t.vault.checkpoint(&actor()).await.unwrap_err();
    assert!(matches!(err, VaultError::Audit(AuditError::NoSigningKey)));
}

fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}
