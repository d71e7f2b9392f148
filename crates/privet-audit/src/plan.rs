//! What a proof is made of, before any hash is read.
//!
//! Every hash in an RFC 9162 proof (§2.1.3.1 `PATH`, §2.1.4.1 `PROOF`/`SUBPROOF`) is the
//! hash of one node of the tree, i.e. of a node range of leaves, which is a few perfect
//! subtrees folded together ([`crate::tree`]). A [`ProofPlan`] lists those ranges, says
//! which perfect subtrees to fetch ([`ProofPlan::subtrees`]) and assembles the proof from
//! their hashes ([`ProofPlan::assemble`]). A store can so fetch everything in one batched,
//! possibly asynchronous, query; [`crate::HashSource`] does it synchronously.

use std::ops::Range;

use crate::error::ProofError;
use crate::hash::Hash;
use crate::tree::{Subtree, fold_from_right, perfect_cover, split_point};

/// The node ranges whose hashes, in order, form a proof or a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    parts: Vec<Range<u64>>,
}

impl ProofPlan {
    /// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves:
    /// RFC 9162 `PATH(index, D[size])`, leaf side first.
    pub fn inclusion(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        // Walk down from the root; each step's sibling is one element, root side first.
        let mut parts = Vec::new();
        let (mut lo, mut hi) = (0, size);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index < lo + k {
                parts.push(lo + k..hi);
                hi = lo + k;
            } else {
                parts.push(lo..lo + k);
                lo += k;
            }
        }
        parts.reverse();
        Ok(ProofPlan { parts })
    }

    /// The plan of the consistency proof from the tree of `from` leaves to the tree of
    /// `to` leaves: RFC 9162 `PROOF(from, D[to])`. Empty when `from` is 0 or equals `to`.
    pub fn consistency(from: u64, to: u64) -> Result<ProofPlan, ProofError> {
        if from > to {
            return Err(ProofError::SizesReversed { from, to });
        }
        let mut parts = Vec::new();
        if from == 0 || from == to {
            return Ok(ProofPlan { parts });
        }
        // SUBPROOF(m, D[lo..hi], b), unrolled: each step appends one node, root side first.
        let (mut lo, mut hi, mut m, mut whole) = (0, to, from, true);
        loop {
            let len = hi - lo;
            if m == len {
                if !whole {
                    parts.push(lo..hi);
                }
                break;
            }
            let k = split_point(len);
            if m <= k {
                parts.push(lo + k..hi);
                hi = lo + k;
            } else {
                parts.push(lo..lo + k);
                lo += k;
                m -= k;
                whole = false;
            }
        }
        parts.reverse();
        Ok(ProofPlan { parts })
    }

    /// The plan of the root of the tree of `size` leaves: one hash.
    pub fn root(size: u64) -> ProofPlan {
        ProofPlan {
            parts: std::iter::once(0..size).collect(),
        }
    }

    /// The number of hashes the plan assembles to.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether the plan assembles to no hash at all (a trivial proof).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Every perfect subtree whose hash the plan needs, each once, in the order
    /// [`ProofPlan::assemble`] asks for them. At most about 2·log2(size).
    pub fn subtrees(&self) -> Vec<Subtree> {
        self.parts
            .iter()
            .flat_map(|r| perfect_cover(r.clone()))
            .collect()
    }

    /// Builds the proof (or root) from perfect-subtree hashes, asking `hash_of` for each of
    /// [`ProofPlan::subtrees`] in turn. With hashes prefetched into a map, `hash_of` can
    /// answer `Err(ProofError::MissingSubtree(t))` for one it lacks.
    pub fn assemble<E>(
        &self,
        mut hash_of: impl FnMut(Subtree) -> Result<Hash, E>,
    ) -> Result<Vec<Hash>, E> {
        let mut out = Vec::with_capacity(self.parts.len());
        let mut pieces = Vec::with_capacity(64);
        for part in &self.parts {
            pieces.clear();
            for subtree in perfect_cover(part.clone()) {
                pieces.push(hash_of(subtree)?);
            }
            out.push(fold_from_right(&pieces));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_refused_for_impossible_arguments() {
        assert_eq!(
            ProofPlan::inclusion(3, 3),
            Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert!(ProofPlan::inclusion(0, 0).is_err());
        assert_eq!(
            ProofPlan::consistency(4, 3),
            Err(ProofError::SizesReversed { from: 4, to: 3 })
        );
    }

    #[test]
    fn plans_stay_small_for_huge_trees() {
        let plan = ProofPlan::inclusion(123_456_789, 100_000_000_000).unwrap();
        assert_eq!(plan.len(), 37);
        assert!(plan.subtrees().len() <= 2 * 37);
        let plan = ProofPlan::consistency(99_999_999, u64::MAX - 1).unwrap();
        assert!(plan.len() <= 2 * 64);
        assert!(ProofPlan::inclusion(u64::MAX - 2, u64::MAX - 1).is_ok());
    }

    #[test]
    fn trivial_plans_are_empty() {
        assert!(ProofPlan::inclusion(0, 1).unwrap().is_empty());
        assert!(ProofPlan::consistency(0, 9).unwrap().is_empty());
        assert!(ProofPlan::consistency(9, 9).unwrap().is_empty());
        assert_eq!(ProofPlan::root(0).len(), 1);
        assert!(ProofPlan::root(0).subtrees().is_empty());
    }
}
