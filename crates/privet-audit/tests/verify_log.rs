//! Verifying a stored log against its signed checkpoints, and against a checkpoint saved
//! outside it: each kind of tampering gives its own precise error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_audit::{
    Action, AuditEntry, Checkpoint, CheckpointRef, Hash, LogVerifier, NoteError, StoredLeaf,
    VerifierKey, VerifyError, check_against, merkle_root, verify_log,
};
use privet_crypto::NoteSigner;
use time::OffsetDateTime;

const ORIGIN: &str = "privet.example/audit";

/// A stored row: index, leaf bytes, stored leaf hash.
type Row = (u64, Vec<u8>, Hash);

struct Log {
    signer: NoteSigner,
    rows: Vec<Row>,
}

impl Log {
    fn new(n: u64) -> Log {
        let rows = (0..n)
            .map(|i| {
                let time = OffsetDateTime::from_unix_timestamp(1_700_000_000 + i as i64).unwrap();
                let mut entry = AuditEntry::new(time, "prn_test", Action::SubjectRead);
                entry.fields = vec![format!("field{i}")];
                let leaf = entry.to_leaf();
                (i, leaf.bytes, leaf.hash)
            })
            .collect();
        Log {
            signer: NoteSigner::generate(ORIGIN).unwrap(),
            rows,
        }
    }

    fn vk(&self) -> VerifierKey {
        VerifierKey::of(&self.signer)
    }

    fn root(&self, size: u64) -> Hash {
        let hashes: Vec<Hash> = self.rows[..size as usize]
            .iter()
            .map(|r| privet_audit::leaf_hash(&r.1))
            .collect();
        merkle_root(&hashes)
    }

    fn checkpoint(&self, size: u64) -> String {
        Checkpoint::new(ORIGIN, size, self.root(size))
            .unwrap()
            .sign(&self.signer)
            .unwrap()
    }

    fn leaves(&self) -> impl Iterator<Item = StoredLeaf<&[u8]>> {
        self.rows.iter().map(|(index, bytes, hash)| StoredLeaf {
            index: *index,
            bytes: bytes.as_slice(),
            hash: Some(*hash),
        })
    }

    fn leaves_without_hashes(&self) -> impl Iterator<Item = StoredLeaf<&[u8]>> {
        self.leaves().map(|l| StoredLeaf { hash: None, ..l })
    }
}

/// A log of 50 entries with signed checkpoints at 0, 10, 25 and 50 leaves.
fn log_with_checkpoints() -> (Log, Vec<String>) {
    let log = Log::new(50);
    let checkpoints = [0, 10, 25, 50].map(|s| log.checkpoint(s)).to_vec();
    (log, checkpoints)
}

#[test]
fn an_intact_log_verifies_against_all_its_checkpoints() {
    let (log, checkpoints) = log_with_checkpoints();
    let report = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap();
    assert_eq!(report.size, 50);
    assert_eq!(report.root, log.root(50));
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.latest.unwrap().size(), 50);
    // Without stored leaf hashes, and with the checkpoints listed in any order.
    let shuffled = [&checkpoints[3], &checkpoints[1], &checkpoints[0]];
    verify_log(log.leaves_without_hashes(), &shuffled, &log.vk(), ORIGIN).unwrap();
    // A log with no checkpoint yet still has its root computed.
    let report = verify_log::<&[u8], &str>(log.leaves(), &[], &log.vk(), ORIGIN).unwrap();
    assert_eq!((report.size, report.latest), (50, None));
}

#[test]
fn a_flipped_byte_is_named_by_its_stored_leaf_hash() {
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows[17].1[5] ^= 0x01;
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(err, VerifyError::LeafHashMismatch { index: 17 });
    assert_eq!(
        err.to_string(),
        "leaf 17 was altered: its bytes do not match its stored leaf hash"
    );
}

#[test]
fn a_rewritten_leaf_with_a_matching_hash_is_caught_by_the_next_checkpoint() {
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows[17].1[5] ^= 0x01;
    log.rows[17].2 = privet_audit::leaf_hash(&log.rows[17].1);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    let want = VerifyError::RootMismatch {
        checkpoint: CheckpointRef::Stored(2),
        size: 25,
        after: 10,
    };
    assert_eq!(err, want);
    assert_eq!(
        err.to_string(),
        "stored checkpoint #2 (tree size 25) does not match the stored leaves: a leaf with \
         index in 10..25 was altered, removed, inserted or reordered"
    );
    let err = verify_log(log.leaves_without_hashes(), &checkpoints, &log.vk(), ORIGIN);
    assert_eq!(err.unwrap_err(), want);
}

#[test]
fn a_deleted_leaf_is_named() {
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows.remove(17);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::MissingLeaf {
            index: 17,
            next: 18
        }
    );
    assert_eq!(
        err.to_string(),
        "leaf 17 is missing (the next stored leaf is 18): it was deleted"
    );
    // The very first leaf too.
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows.remove(0);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(err, VerifyError::MissingLeaf { index: 0, next: 1 });
}

#[test]
fn deleting_the_newest_leaves_is_caught_by_the_checkpoint_that_covered_them() {
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows.truncate(40);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Truncated {
            checkpoint: CheckpointRef::Stored(3),
            size: 50,
            log_size: 40
        }
    );
    assert!(err.to_string().contains("from index 40 on were removed"));
}

#[test]
fn swapped_rows_are_caught_within_the_range_of_the_first_failing_checkpoint() {
    let (mut log, checkpoints) = log_with_checkpoints();
    // Swap the contents of rows 12 and 30; each row stays self-consistent.
    let (a, b) = (log.rows[12].clone(), log.rows[30].clone());
    log.rows[12] = (12, b.1, b.2);
    log.rows[30] = (30, a.1, a.2);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::RootMismatch {
            checkpoint: CheckpointRef::Stored(2),
            size: 25,
            after: 10
        }
    );
}

#[test]
fn leaves_out_of_index_order_are_refused() {
    let (mut log, checkpoints) = log_with_checkpoints();
    log.rows.swap(12, 13);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::MissingLeaf {
            index: 12,
            next: 13
        }
    );
    let (mut log, checkpoints) = log_with_checkpoints();
    let dup = log.rows[12].clone();
    log.rows.insert(13, dup);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::LeafOutOfOrder {
            index: 12,
            expected: 13
        }
    );
}

#[test]
fn forged_or_foreign_checkpoints_are_named() {
    let (log, mut checkpoints) = log_with_checkpoints();
    // Body edited after signing: claims a larger tree.
    checkpoints[1] = checkpoints[1].replacen("\n10\n", "\n11\n", 1);
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Checkpoint {
                checkpoint: CheckpointRef::Stored(1),
                source: NoteError::BadSignature { .. }
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("stored checkpoint #1: the signature by key")
    );

    // Signed by another key under the same name.
    let (log, mut checkpoints) = log_with_checkpoints();
    let other = NoteSigner::generate(ORIGIN).unwrap();
    checkpoints[2] = Checkpoint::new(ORIGIN, 25, log.root(25))
        .unwrap()
        .sign(&other)
        .unwrap();
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Checkpoint {
                checkpoint: CheckpointRef::Stored(2),
                source: NoteError::NotSigned { .. }
            }
        ),
        "{err:?}"
    );

    // Another log's checkpoint, by our key.
    let (log, mut checkpoints) = log_with_checkpoints();
    checkpoints[0] = Checkpoint::new("elsewhere.example/log", 0, log.root(0))
        .unwrap()
        .sign(&log.signer)
        .unwrap();
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Checkpoint {
                checkpoint: CheckpointRef::Stored(0),
                source: NoteError::WrongOrigin { .. }
            }
        ),
        "{err:?}"
    );

    // Garbage where a checkpoint should be.
    let (log, mut checkpoints) = log_with_checkpoints();
    checkpoints[3] = "not a note".to_owned();
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Checkpoint {
            checkpoint: CheckpointRef::Stored(3),
            source: NoteError::Malformed(_)
        }
    ));
}

#[test]
fn a_checkpoint_signed_over_a_forked_history_is_caught() {
    // The log's own key signed, at size 25, a tree whose leaf 3 differs from the stored one.
    let key = || NoteSigner::from_seed(ORIGIN, &[0; 32]).unwrap();
    let log = Log {
        signer: key(),
        rows: Log::new(50).rows,
    };
    let mut fork = Log {
        signer: key(),
        rows: log.rows.clone(),
    };
    fork.rows[3].1.push(b' ');
    let checkpoints = [log.checkpoint(10), fork.checkpoint(25), log.checkpoint(50)];
    let err = verify_log(log.leaves(), &checkpoints, &log.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::RootMismatch {
            checkpoint: CheckpointRef::Stored(1),
            size: 25,
            after: 10
        }
    );
}

#[test]
fn a_saved_checkpoint_catches_a_rolled_back_or_rewritten_log() {
    let (log, _) = log_with_checkpoints();
    let saved = log.checkpoint(25);
    let report = check_against(&saved, log.leaves(), &log.vk(), ORIGIN).unwrap();
    assert_eq!((report.size, report.checkpoints), (50, 1));

    // Rolled back to 20 leaves (and its stored checkpoints with it).
    let mut rolled = Log {
        signer: NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap(),
        rows: log.rows.clone(),
    };
    let saved = rolled.checkpoint(25);
    rolled.rows.truncate(20);
    let err = check_against(&saved, rolled.leaves(), &rolled.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Truncated {
            checkpoint: CheckpointRef::Saved,
            size: 25,
            log_size: 20
        }
    );
    assert!(
        err.to_string()
            .starts_with("the saved checkpoint covers 25 leaves")
    );

    // Rewritten: leaf 5 changed consistently, later checkpoints re-signed; only the saved
    // checkpoint still remembers the old history.
    let mut rewritten = Log {
        signer: NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap(),
        rows: log.rows.clone(),
    };
    let saved = rewritten.checkpoint(25);
    rewritten.rows[5].1[3] ^= 0x20;
    rewritten.rows[5].2 = privet_audit::leaf_hash(&rewritten.rows[5].1);
    let stored = [rewritten.checkpoint(30), rewritten.checkpoint(50)];
    verify_log(rewritten.leaves(), &stored, &rewritten.vk(), ORIGIN).unwrap();
    let err = check_against(&saved, rewritten.leaves(), &rewritten.vk(), ORIGIN).unwrap_err();
    assert_eq!(
        err,
        VerifyError::RootMismatch {
            checkpoint: CheckpointRef::Saved,
            size: 25,
            after: 0
        }
    );
    // With the stored checkpoints and the saved one together, the saved one is named.
    let mut verifier =
        LogVerifier::new(&rewritten.vk(), ORIGIN, &stored, Some(saved.as_str())).unwrap();
    let mut failed = None;
    for leaf in rewritten.leaves() {
        if let Err(e) = verifier.push(leaf) {
            failed = Some(e);
            break;
        }
    }
    assert!(matches!(
        failed,
        Some(VerifyError::RootMismatch {
            checkpoint: CheckpointRef::Saved,
            ..
        })
    ));
}

#[test]
fn a_saved_checkpoint_from_another_key_is_refused() {
    let (log, _) = log_with_checkpoints();
    let stranger = NoteSigner::generate(ORIGIN).unwrap();
    let saved = Checkpoint::new(ORIGIN, 25, log.root(25))
        .unwrap()
        .sign(&stranger)
        .unwrap();
    let err = check_against(&saved, log.leaves(), &log.vk(), ORIGIN).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Checkpoint {
            checkpoint: CheckpointRef::Saved,
            source: NoteError::NotSigned { .. }
        }
    ));
}

#[test]
fn the_streaming_verifier_counts_leaves_and_accepts_owned_bytes() {
    let (log, checkpoints) = log_with_checkpoints();
    let mut verifier = LogVerifier::new(&log.vk(), ORIGIN, &checkpoints, None).unwrap();
    for (i, (index, bytes, hash)) in log.rows.iter().enumerate() {
        assert_eq!(verifier.size(), i as u64);
        verifier
            .push(StoredLeaf {
                index: *index,
                bytes: bytes.clone(),
                hash: Some(*hash),
            })
            .unwrap();
    }
    assert_eq!(verifier.finish().unwrap().root, log.root(50));
}

/// The chain values a store keeps beside rows (in their current order and contents).
fn chains(rows: &[Row]) -> Vec<Hash> {
    let mut chain = privet_audit::CHAIN_START;
    rows.iter()
        .map(|r| {
            chain = privet_audit::chain_hash(&chain, &r.2);
            chain
        })
        .collect()
}

fn verify_chained(log: &Log, chain: &[Option<Hash>], checkpoints: &[String]) -> VerifyError {
    let mut v = LogVerifier::new(&log.vk(), ORIGIN, checkpoints, None).unwrap();
    for (leaf, c) in log.leaves().zip(chain) {
        if let Err(e) = v.push_chained(leaf, *c) {
            return e;
        }
    }
    v.finish().map(|_| ()).unwrap_err()
}

#[test]
fn an_intact_chained_log_verifies() {
    let (log, checkpoints) = log_with_checkpoints();
    let chain = chains(&log.rows);
    let mut v = LogVerifier::new(&log.vk(), ORIGIN, &checkpoints, None).unwrap();
    for (leaf, c) in log.leaves().zip(&chain) {
        v.push_chained(leaf, Some(*c)).unwrap();
    }
    assert_eq!(v.finish().unwrap().size, 50);
}

#[test]
fn swapped_rows_are_named_exactly_by_the_leaf_chain() {
    let (mut log, checkpoints) = log_with_checkpoints();
    let chain = chains(&log.rows);
    // Whole rows swapped (each keeps its own hash and chain value).
    let mut moved: Vec<Option<Hash>> = chain.iter().copied().map(Some).collect();
    log.rows.swap(12, 31);
    moved.swap(12, 31);
    log.rows[12].0 = 12;
    log.rows[31].0 = 31;
    let err = verify_chained(&log, &moved, &checkpoints);
    assert_eq!(err, VerifyError::ChainMismatch { index: 12 });
    assert!(
        err.to_string()
            .starts_with("leaf 12 is not the leaf that was appended at index 12")
    );
    // Only the leaves and their hashes swapped, the chain column left in place.
    let in_place: Vec<Option<Hash>> = chain.iter().copied().map(Some).collect();
    assert_eq!(
        verify_chained(&log, &in_place, &checkpoints),
        VerifyError::ChainMismatch { index: 12 }
    );
}

#[test]
fn a_rewritten_leaf_with_its_hash_or_a_removed_chain_value_is_named() {
    let (mut log, checkpoints) = log_with_checkpoints();
    let mut chain: Vec<Option<Hash>> = chains(&log.rows).into_iter().map(Some).collect();
    log.rows[17].1[5] ^= 0x01;
    log.rows[17].2 = privet_audit::leaf_hash(&log.rows[17].1);
    assert_eq!(
        verify_chained(&log, &chain, &checkpoints),
        VerifyError::ChainMismatch { index: 17 }
    );
    let (log, checkpoints) = log_with_checkpoints();
    chain[20] = None;
    assert_eq!(
        verify_chained(&log, &chain, &checkpoints),
        VerifyError::ChainMismatch { index: 20 }
    );
}

#[test]
fn after_a_key_rotation_each_checkpoint_verifies_under_its_own_key() {
    let old = Log::new(50);
    let new = NoteSigner::generate(ORIGIN).unwrap();
    let new_key = VerifierKey::of(&new);
    let mut checkpoints = vec![old.checkpoint(10), old.checkpoint(25)];
    checkpoints.push(
        Checkpoint::new(ORIGIN, 50, old.root(50))
            .unwrap()
            .sign(&new)
            .unwrap(),
    );
    let run = |keys: &[VerifierKey]| -> Result<u64, VerifyError> {
        let mut v = LogVerifier::with_keys(keys, ORIGIN, &checkpoints, None)?;
        for l in old.leaves() {
            v.push(l)?;
        }
        Ok(v.finish()?.checkpoints as u64)
    };
    assert_eq!(run(&[new_key.clone(), old.vk()]).unwrap(), 3);
    // The new key alone does not vouch for checkpoints the old key signed, nor the reverse.
    for keys in [vec![new_key.clone()], vec![old.vk()], vec![]] {
        assert!(
            matches!(
                run(&keys),
                Err(VerifyError::Checkpoint {
                    source: NoteError::NotSigned { .. },
                    ..
                })
            ),
            "{} keys",
            keys.len()
        );
    }
}
