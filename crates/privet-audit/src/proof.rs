//! Inclusion and consistency proofs: their JSON shapes and their verification, written
//! straight from RFC 9162 §2.1.3.2 and §2.1.4.2 and independent of how proofs are made
//! ([`crate::plan`]), so each checks the other.

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::ProofError;
use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// An inclusion proof: the audit path from leaf `index` to the root of the tree of
/// `tree_size` leaves (RFC 9162 `PATH(m, D[n])`), leaf side first. JSON:
/// `{"index", "tree_size", "leaf_hash", "hashes": [...]}`, hashes in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The leaf's index (from 0).
    pub index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The leaf's hash, `SHA-256(0x00 || leaf bytes)`.
    #[serde(with = "b64::hash")]
    pub leaf_hash: Hash,
    /// The audit path, from the leaf's sibling up.
    #[serde(with = "b64::hashes")]
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Checks that the proof leads from its leaf hash to `root`, the root of the tree of
    /// `tree_size` leaves.
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(
            &self.leaf_hash,
            self.index,
            self.tree_size,
            &self.hashes,
            root,
        )
    }
}

/// A consistency proof that the tree of `to` leaves extends the tree of `from` leaves
/// (RFC 9162 `PROOF(m, D[n])`). JSON: `{"from", "to", "hashes": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The proof's hashes.
    #[serde(with = "b64::hashes")]
    pub hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that the tree with root `to_root` extends the tree with root `from_root`.
    pub fn verify(&self, from_root: &Hash, to_root: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.from, self.to, &self.hashes, from_root, to_root)
    }
}

/// The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1–5), to be compared
/// with a trusted root.
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(ProofError::Invalid("the proof has too many hashes"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Invalid("the proof has too few hashes"));
    }
    Ok(r)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is
/// `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if root_from_inclusion_proof(leaf_hash, index, size, proof)? != *root {
        return Err(ProofError::Invalid(
            "the proof does not lead from the leaf to the root",
        ));
    }
    Ok(())
}

/// Verifies that the tree of `to` leaves with root `to_root` extends the tree of `from`
/// leaves with root `from_root` (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an
/// empty proof; size 0 needs the empty tree's root and an empty proof.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), ProofError> {
    if from > to {
        return Err(ProofError::SizesReversed { from, to });
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::Invalid(
                "a proof between equal sizes must be empty",
            ));
        }
        if from_root != to_root {
            return Err(ProofError::Invalid("the roots of equal sizes differ"));
        }
        return Ok(());
    }
    if from == 0 {
        if !proof.is_empty() {
            return Err(ProofError::Invalid(
                "a proof from the empty tree must be empty",
            ));
        }
        if *from_root != EMPTY_ROOT {
            return Err(ProofError::Invalid("the old root is not the empty tree's"));
        }
        return Ok(());
    }
    // Step 1.
    let Some((head, tail)) = proof.split_first() else {
        return Err(ProofError::Invalid("the proof is empty"));
    };
    // Step 2: if `from` is a power of two, its root is the first node of the path.
    let (seed, rest) = if from.is_power_of_two() {
        (from_root, proof)
    } else {
        (head, tail)
    };
    // Steps 3–4.
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // Step 6.
    for c in rest {
        if s == 0 {
            return Err(ProofError::Invalid("the proof has too many hashes"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(ProofError::Invalid("the proof has too few hashes"));
    }
    if fr != *from_root {
        return Err(ProofError::Invalid(
            "the proof does not lead to the old root",
        ));
    }
    if sr != *to_root {
        return Err(ProofError::Invalid(
            "the proof does not lead to the new root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_in_a_one_leaf_tree_needs_no_hashes() {
        let leaf = [7; 32];
        verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
        assert!(verify_inclusion(&leaf, 0, 1, &[], &[8; 32]).is_err());
        assert!(verify_inclusion(&leaf, 0, 1, &[leaf], &leaf).is_err());
    }

    #[test]
    fn impossible_indexes_and_sizes_are_errors_not_panics() {
        let h = [1; 32];
        for (index, size) in [(0, 0), (1, 0), (1, 1), (u64::MAX, u64::MAX), (5, 3)] {
            assert_eq!(
                verify_inclusion(&h, index, size, &[], &h),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
        let long = vec![h; 70];
        assert!(verify_inclusion(&h, u64::MAX - 1, u64::MAX, &long, &h).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &long, &h, &h).is_err());
        assert_eq!(
            verify_consistency(2, 1, &[], &h, &h),
            Err(ProofError::SizesReversed { from: 2, to: 1 })
        );
    }

    #[test]
    fn trivial_consistency_cases_follow_the_roots() {
        let (a, b) = ([1; 32], [2; 32]);
        verify_consistency(0, 0, &[], &EMPTY_ROOT, &EMPTY_ROOT).unwrap();
        verify_consistency(0, 5, &[], &EMPTY_ROOT, &b).unwrap();
        verify_consistency(3, 3, &[], &a, &a).unwrap();
        assert!(verify_consistency(3, 3, &[], &a, &b).is_err());
        assert!(verify_consistency(3, 3, &[a], &a, &a).is_err());
        assert!(verify_consistency(0, 5, &[], &a, &b).is_err());
        assert!(verify_consistency(0, 5, &[a], &EMPTY_ROOT, &b).is_err());
        assert!(verify_consistency(1, 2, &[], &a, &b).is_err());
    }

    #[test]
    fn proofs_serialize_to_the_documented_json_shapes() {
        let proof = InclusionProof {
            index: 3,
            tree_size: 8,
            leaf_hash: [0; 32],
            hashes: vec![[0xFF; 32]],
        };
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(
            json,
            r#"{"index":3,"tree_size":8,"leaf_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","hashes":["//////////////////////////////////////////8="]}"#
        );
        assert_eq!(
            serde_json::from_str::<InclusionProof>(&json).unwrap(),
            proof
        );
        let proof = ConsistencyProof {
            from: 2,
            to: 5,
            hashes: vec![],
        };
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(json, r#"{"from":2,"to":5,"hashes":[]}"#);
        assert_eq!(
            serde_json::from_str::<ConsistencyProof>(&json).unwrap(),
            proof
        );
    }

    #[test]
    fn malformed_proof_json_is_refused() {
        for bad in [
            r#"{"from":2,"to":5,"hashes":["AAAA"]}"#,
            r#"{"from":2,"to":5,"hashes":[]," extra":1}"#,
            r#"{"from":2,"hashes":[]}"#,
            r#"{"from":-1,"to":5,"hashes":[]}"#,
        ] {
            assert!(
                serde_json::from_str::<ConsistencyProof>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
