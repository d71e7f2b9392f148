//! The Merkle tree, its proofs and their verification, through the public API.
//!
//! Known answers come from the RFC 6962 reference test data (as published with the
//! certificate-transparency and transparency-dev/merkle projects); exhaustive sweeps cover
//! every index and size pair up to 70 leaves; an independent RFC 6962 implementation
//! (ct-merkle) is the oracle for proof bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::ops::Range;

use privet_audit::{
    EMPTY_ROOT, Frontier, Hash, HashSource, MemoryTree, ProofError, ProofPlan, Subtree,
    consistency_proof, inclusion_proof, leaf_hash, merkle_root, root_from_inclusion_proof,
    tree_root, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h(s: &str) -> Hash {
    unhex(s).try_into().unwrap()
}

// The reference leaves and the roots of the trees over their first 1..=8.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
// (leaf index from 0, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];
// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn reference_tree() -> MemoryTree {
    MemoryTree::from_leaf_hashes(LEAVES.iter().map(|l| leaf_hash(&unhex(l))))
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

fn flipped(proof: &[Hash], at: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[at][0] ^= 0x10;
    p
}

#[test]
fn roots_of_the_reference_trees_match_at_every_size() {
    let tree = reference_tree();
    let leaves: Vec<Hash> = LEAVES.iter().map(|l| leaf_hash(&unhex(l))).collect();
    let mut frontier = Frontier::new();
    assert_eq!(tree_root(&tree, 0).unwrap(), EMPTY_ROOT);
    assert_eq!(merkle_root(&[]), EMPTY_ROOT);
    for n in 1..=8 {
        frontier.append(leaves[n - 1]);
        let want = h(ROOTS[n - 1]);
        assert_eq!(merkle_root(&leaves[..n]), want, "size {n}");
        assert_eq!(tree_root(&tree, n as u64).unwrap(), want, "size {n}");
        assert_eq!(frontier.root(), want, "size {n}");
    }
    assert_eq!(tree.root(), h(ROOTS[7]));
}

#[test]
fn reference_inclusion_proofs_are_generated_and_verify() {
    let tree = reference_tree();
    for (index, size, path) in INCLUSION {
        let proof = inclusion_proof(&tree, index, size).unwrap();
        assert_eq!(proof.hashes, hashes(path), "({index}, {size})");
        assert_eq!(proof.leaf_hash, leaf_hash(&unhex(LEAVES[index as usize])));
        let root = h(ROOTS[size as usize - 1]);
        proof.verify(&root).unwrap();
        assert_eq!(
            root_from_inclusion_proof(&proof.leaf_hash, index, size, &proof.hashes).unwrap(),
            root
        );
    }
}

#[test]
fn corrupted_reference_inclusion_proofs_fail() {
    for (index, size, path) in INCLUSION {
        let path = hashes(path);
        let root = h(ROOTS[size as usize - 1]);
        let leaf = leaf_hash(&unhex(LEAVES[index as usize]));
        let some_hash = [0xAB; 32];
        let mut probes: Vec<(String, Hash, u64, u64, Vec<Hash>, Hash)> = vec![
            (
                "index - 1".into(),
                leaf,
                index.wrapping_sub(1),
                size,
                path.clone(),
                root,
            ),
            (
                "index + 1".into(),
                leaf,
                index + 1,
                size,
                path.clone(),
                root,
            ),
            (
                "index ^ 2".into(),
                leaf,
                index ^ 2,
                size,
                path.clone(),
                root,
            ),
            ("size * 2".into(), leaf, index, size * 2, path.clone(), root),
            ("size / 2".into(), leaf, index, size / 2, path.clone(), root),
            (
                "wrong leaf".into(),
                leaf_hash(b"WrongLeaf"),
                index,
                size,
                path.clone(),
                root,
            ),
            (
                "empty root".into(),
                leaf,
                index,
                size,
                path.clone(),
                EMPTY_ROOT,
            ),
            (
                "random root".into(),
                leaf,
                index,
                size,
                path.clone(),
                some_hash,
            ),
            (
                "trailing root".into(),
                leaf,
                index,
                size,
                [path.clone(), vec![root]].concat(),
                root,
            ),
            (
                "preceding root".into(),
                leaf,
                index,
                size,
                [vec![root], path.clone()].concat(),
                root,
            ),
            (
                "removed component".into(),
                leaf,
                index,
                size,
                path[..path.len() - 1].to_vec(),
                root,
            ),
        ];
        for i in 0..path.len() {
            probes.push((
                format!("flipped [{i}]"),
                leaf,
                index,
                size,
                flipped(&path, i),
                root,
            ));
        }
        if path.len() > 1 {
            let inserted = [&path[..1], &[some_hash], &path[1..]].concat();
            probes.push((
                "inserted component".into(),
                leaf,
                index,
                size,
                inserted,
                root,
            ));
        }
        for (what, leaf, index, size, proof, root) in probes {
            assert!(
                verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
                "({index}, {size}) verified despite: {what}"
            );
        }
    }
}

#[test]
fn reference_consistency_proofs_are_generated_and_verify() {
    let tree = reference_tree();
    for (from, to, path) in CONSISTENCY {
        let proof = consistency_proof(&tree, from, to).unwrap();
        assert_eq!(proof.hashes, hashes(path), "({from}, {to})");
        proof
            .verify(&h(ROOTS[from as usize - 1]), &h(ROOTS[to as usize - 1]))
            .unwrap();
    }
}

#[test]
fn corrupted_reference_consistency_proofs_fail() {
    for (from, to, path) in CONSISTENCY {
        let path = hashes(path);
        if path.is_empty() {
            continue;
        }
        let (r1, r2) = (h(ROOTS[from as usize - 1]), h(ROOTS[to as usize - 1]));
        let wrong = [0xCD; 32];
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("from - 1".into(), from - 1, to, r1, r2, path.clone()),
            ("from + 1".into(), from + 1, to, r1, r2, path.clone()),
            ("from ^ 2".into(), from ^ 2, to, r1, r2, path.clone()),
            ("to * 2".into(), from, to * 2, r1, r2, path.clone()),
            ("to / 2".into(), from, to / 2, r1, r2, path.clone()),
            ("wrong old root".into(), from, to, wrong, r2, path.clone()),
            ("wrong new root".into(), from, to, r1, wrong, path.clone()),
            ("swapped roots".into(), from, to, r2, r1, path.clone()),
            ("empty proof".into(), from, to, r1, r2, vec![]),
            (
                "trailing old root".into(),
                from,
                to,
                r1,
                r2,
                [path.clone(), vec![r1]].concat(),
            ),
            (
                "trailing new root".into(),
                from,
                to,
                r1,
                r2,
                [path.clone(), vec![r2]].concat(),
            ),
            (
                "preceding old root".into(),
                from,
                to,
                r1,
                r2,
                [vec![r1], path.clone()].concat(),
            ),
            (
                "preceding new root".into(),
                from,
                to,
                r1,
                r2,
                [vec![r2], path.clone()].concat(),
            ),
            (
                "preceding proof[0]".into(),
                from,
                to,
                r1,
                r2,
                [vec![path[0]], path.clone()].concat(),
            ),
            (
                "truncated".into(),
                from,
                to,
                r1,
                r2,
                path[..path.len() - 1].to_vec(),
            ),
        ];
        for i in 0..path.len() {
            probes.push((
                format!("flipped [{i}]"),
                from,
                to,
                r1,
                r2,
                flipped(&path, i),
            ));
        }
        for (what, from, to, r1, r2, proof) in probes {
            assert!(
                verify_consistency(from, to, &proof, &r1, &r2).is_err(),
                "({from}, {to}) verified despite: {what}"
            );
        }
    }
}

fn numbered_leaves(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

/// The oracle: ct-merkle's tree over the same leaves.
fn oracle(
    leaves: &[Vec<u8>],
) -> ct_merkle::mem_backed_tree::MemoryBackedTree<sha2_011::Sha256, Vec<u8>> {
    let mut t = ct_merkle::mem_backed_tree::MemoryBackedTree::new();
    for l in leaves {
        t.push(l.clone());
    }
    t
}

const SWEEP: u64 = 70;

#[test]
fn every_inclusion_proof_up_to_70_leaves_verifies_matches_the_oracle_and_resists_tampering() {
    let leaves = numbered_leaves(SWEEP);
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l)));
    let roots: Vec<Hash> = (0..=SWEEP).map(|n| tree_root(&tree, n).unwrap()).collect();
    for n in 1..=SWEEP {
        let oracle = oracle(&leaves[..n as usize]);
        assert_eq!(oracle.root().as_bytes().as_slice(), roots[n as usize]);
        for i in 0..n {
            let proof = inclusion_proof(&tree, i, n).unwrap();
            assert_eq!(
                proof.hashes.concat(),
                oracle.prove_inclusion(i as usize).as_bytes(),
                "({i}, {n})"
            );
            proof.verify(&roots[n as usize]).unwrap();
            let leaf = proof.leaf_hash;
            for j in 0..proof.hashes.len() {
                let bad = flipped(&proof.hashes, j);
                assert!(verify_inclusion(&leaf, i, n, &bad, &roots[n as usize]).is_err());
            }
            for other in (0..n).filter(|o| *o != i) {
                assert!(
                    verify_inclusion(&leaf, other, n, &proof.hashes, &roots[n as usize]).is_err(),
                    "leaf {i} of {n} verified at index {other}"
                );
            }
            for other in (i + 1..=SWEEP).filter(|s| *s != n) {
                assert!(
                    verify_inclusion(&leaf, i, other, &proof.hashes, &roots[other as usize])
                        .is_err(),
                    "leaf {i} of {n} verified in a tree of {other}"
                );
            }
            let other_leaf = leaf_hash(b"not this leaf");
            assert!(
                verify_inclusion(&other_leaf, i, n, &proof.hashes, &roots[n as usize]).is_err()
            );
        }
    }
}

#[test]
fn every_consistency_proof_up_to_70_leaves_verifies_matches_the_oracle_and_resists_tampering() {
    let leaves = numbered_leaves(SWEEP);
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l)));
    let roots: Vec<Hash> = (0..=SWEEP).map(|n| tree_root(&tree, n).unwrap()).collect();
    for n in 0..=SWEEP {
        let oracle = oracle(&leaves[..n as usize]);
        for m in 0..=n {
            let proof = consistency_proof(&tree, m, n).unwrap();
            if m > 0 {
                assert_eq!(
                    proof.hashes.concat(),
                    oracle.prove_consistency((n - m) as usize).as_bytes(),
                    "({m}, {n})"
                );
            }
            proof
                .verify(&roots[m as usize], &roots[n as usize])
                .unwrap();
            for j in 0..proof.hashes.len() {
                let bad = flipped(&proof.hashes, j);
                assert!(
                    verify_consistency(m, n, &bad, &roots[m as usize], &roots[n as usize]).is_err()
                );
            }
            if proof.hashes.is_empty() {
                continue;
            }
            for other in (1..n).filter(|o| *o != m) {
                assert!(
                    verify_consistency(
                        other,
                        n,
                        &proof.hashes,
                        &roots[other as usize],
                        &roots[n as usize]
                    )
                    .is_err(),
                    "proof ({m}, {n}) verified from {other}"
                );
            }
            for other in (m + 1..=SWEEP).filter(|o| *o != n) {
                assert!(
                    verify_consistency(
                        m,
                        other,
                        &proof.hashes,
                        &roots[m as usize],
                        &roots[other as usize]
                    )
                    .is_err(),
                    "proof ({m}, {n}) verified to {other}"
                );
            }
            // A log that rewrote history: same sizes, another old root.
            let forked = leaf_hash(b"forked");
            assert!(verify_consistency(m, n, &proof.hashes, &forked, &roots[n as usize]).is_err());
        }
    }
}

/// A source with leaf hashes only: every subtree hash is recomputed (the trait default).
struct LeavesOnly(Vec<Hash>);

impl HashSource for LeavesOnly {
    type Error = ProofError;

    fn size(&self) -> Result<u64, ProofError> {
        Ok(self.0.len() as u64)
    }

    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Hash>, ProofError> {
        Ok(self.0[range.start as usize..range.end as usize].to_vec())
    }
}

#[test]
fn a_source_of_leaf_hashes_alone_gives_the_same_roots_and_proofs() {
    let leaves: Vec<Hash> = numbered_leaves(40).iter().map(|l| leaf_hash(l)).collect();
    let plain = LeavesOnly(leaves.clone());
    let tree = MemoryTree::from_leaf_hashes(leaves);
    for n in 0..=40 {
        assert_eq!(tree_root(&plain, n).unwrap(), tree_root(&tree, n).unwrap());
        for i in 0..n {
            assert_eq!(
                inclusion_proof(&plain, i, n).unwrap(),
                inclusion_proof(&tree, i, n).unwrap()
            );
        }
        for m in 0..=n {
            assert_eq!(
                consistency_proof(&plain, m, n).unwrap(),
                consistency_proof(&tree, m, n).unwrap()
            );
        }
    }
}

/// A source whose store lost some rows: the default subtree hash notices.
struct ShortSource;

impl HashSource for ShortSource {
    type Error = ProofError;

    fn size(&self) -> Result<u64, ProofError> {
        Ok(8)
    }

    fn leaf_hashes(&self, _: Range<u64>) -> Result<Vec<Hash>, ProofError> {
        Ok(vec![[0; 32]])
    }
}

#[test]
fn a_source_returning_too_few_hashes_is_an_error() {
    assert_eq!(
        tree_root(&ShortSource, 8),
        Err(ProofError::ShortRead { want: 8, got: 1 })
    );
}

#[test]
fn plans_assembled_from_prefetched_subtree_hashes_match_the_generated_proofs() {
    let leaves: Vec<Hash> = numbered_leaves(33).iter().map(|l| leaf_hash(l)).collect();
    let tree = MemoryTree::from_leaf_hashes(leaves);
    let fetch = |plan: &ProofPlan| -> HashMap<Subtree, Hash> {
        plan.subtrees()
            .into_iter()
            .map(|t| (t, tree.subtree_hash(t).unwrap()))
            .collect()
    };
    for n in 1..=33 {
        for i in 0..n {
            let plan = ProofPlan::inclusion(i, n).unwrap();
            let map = fetch(&plan);
            let got = plan
                .assemble(|t| map.get(&t).copied().ok_or(ProofError::MissingSubtree(t)))
                .unwrap();
            assert_eq!(got, inclusion_proof(&tree, i, n).unwrap().hashes);
        }
        let plan = ProofPlan::consistency(n / 3, n).unwrap();
        let map = fetch(&plan);
        let got: Result<_, ProofError> = plan.assemble(|t| Ok(map[&t]));
        assert_eq!(
            got.unwrap(),
            consistency_proof(&tree, n / 3, n).unwrap().hashes
        );
        let root: Result<_, ProofError> = ProofPlan::root(n).assemble(|t| tree.subtree_hash(t));
        assert_eq!(root.unwrap(), vec![tree_root(&tree, n).unwrap()]);
    }
    // A hash the store lacks is named.
    let plan = ProofPlan::inclusion(5, 33).unwrap();
    let missing = plan.subtrees()[0];
    let err = plan
        .assemble(|t| {
            if t == missing {
                Err(ProofError::MissingSubtree(t))
            } else {
                tree.subtree_hash(t)
            }
        })
        .unwrap_err();
    assert_eq!(err, ProofError::MissingSubtree(missing));
}

#[test]
fn proofs_beyond_the_tree_or_with_impossible_arguments_are_clear_errors() {
    let tree = MemoryTree::from_leaf_hashes(numbered_leaves(10).iter().map(|l| leaf_hash(l)));
    assert_eq!(
        inclusion_proof(&tree, 3, 11),
        Err(ProofError::BeyondTree {
            requested: 11,
            size: 10
        })
    );
    assert_eq!(
        inclusion_proof(&tree, 10, 10),
        Err(ProofError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        inclusion_proof(&tree, u64::MAX, u64::MAX),
        Err(ProofError::IndexOutOfRange {
            index: u64::MAX,
            size: u64::MAX
        })
    );
    assert_eq!(
        consistency_proof(&tree, 4, 12),
        Err(ProofError::BeyondTree {
            requested: 12,
            size: 10
        })
    );
    assert_eq!(
        consistency_proof(&tree, 7, 3),
        Err(ProofError::SizesReversed { from: 7, to: 3 })
    );
    assert_eq!(
        tree_root(&tree, 11),
        Err(ProofError::BeyondTree {
            requested: 11,
            size: 10
        })
    );
    let err = inclusion_proof(&tree, 3, 11).unwrap_err().to_string();
    assert_eq!(err, "tree size 11 is beyond the log's size 10");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_in_larger_trees_verify(n in 1u64..3000, i in any::<u64>(), m in any::<u64>()) {
        let (i, m) = (i % n, m % (n + 1));
        let leaves: Vec<Hash> = (0..n).map(|k| leaf_hash(&k.to_le_bytes())).collect();
        let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
        let root = tree.root();
        prop_assert_eq!(root, merkle_root(&leaves));
        let proof = inclusion_proof(&tree, i, n).unwrap();
        prop_assert!(proof.verify(&root).is_ok());
        let old_root = tree_root(&tree, m).unwrap();
        let proof = consistency_proof(&tree, m, n).unwrap();
        prop_assert!(proof.verify(&old_root, &root).is_ok());
        let frontier = Frontier::from_source(&tree, m).unwrap();
        prop_assert_eq!(frontier.root(), old_root);
    }

    #[test]
    fn verifying_arbitrary_proofs_never_panics(
        index in any::<u64>(),
        size in any::<u64>(),
        from in any::<u64>(),
        to in any::<u64>(),
        n in 0usize..80,
    ) {
        let proof = vec![[3u8; 32]; n];
        let _ = verify_inclusion(&[1; 32], index, size, &proof, &[2; 32]);
        let _ = verify_consistency(from, to, &proof, &[1; 32], &[2; 32]);
        let _ = ProofPlan::inclusion(index, size);
        let _ = ProofPlan::consistency(from.min(to), from.max(to));
    }
}
