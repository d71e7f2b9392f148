//! The shape of an RFC 9162 Merkle tree (§2.1.1) and its perfect subtrees.
//!
//! The tree over `n` leaves splits at `k`, the largest power of two below `n`: the left part
//! is the perfect tree over leaves `[0, k)`, the right part the tree over `[k, n)`. So every
//! node of the tree covers a range `[start, end)` that decomposes, left to right, into
//! perfect subtrees of decreasing size, and its hash is those subtrees' hashes folded from
//! the right. Proof generation rests on that: every hash it needs is the hash of a node range,
//! computed from a few perfect-subtree hashes, which a store can keep (tiles) or recompute.

use std::fmt;
use std::ops::Range;

use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// A perfect subtree: the `2^level` leaves starting at leaf `index · 2^level`. Level 0 is a
/// single leaf, whose hash is the leaf hash. Its range always fits in `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    level: u8,
    index: u64,
}

impl Subtree {
    /// The subtree at `level` and `index`, or `None` if its last leaf would not fit in a
    /// `u64` (which no tree can hold).
    pub fn new(level: u8, index: u64) -> Option<Subtree> {
        if level >= 64 {
            return None;
        }
        let max_index = (u64::MAX >> level).checked_sub(1)?;
        (index <= max_index).then_some(Subtree { level, index })
    }

    /// The subtree's height: it holds `2^level` leaves.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Its position among the subtrees of its level, from the left.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The leaves it covers: `[index · 2^level, (index + 1) · 2^level)`.
    pub fn leaves(&self) -> Range<u64> {
        // Cannot overflow: `new` checked (index + 1) · 2^level <= u64::MAX.
        let start = self.index << self.level;
        start..start + (1u64 << self.level)
    }
}

impl fmt::Display for Subtree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leaves = self.leaves();
        write!(
            f,
            "subtree at level {} index {} (leaves {}..{})",
            self.level, self.index, leaves.start, leaves.end
        )
    }
}

/// The Merkle tree hash (RFC 9162 §2.1.1, MTH) of these leaf hashes, in O(log n) memory.
pub fn merkle_root(leaf_hashes: &[Hash]) -> Hash {
    let mut frontier = crate::Frontier::new();
    for leaf in leaf_hashes {
        frontier.append(*leaf);
    }
    frontier.root()
}

/// The largest power of two strictly below `n`, for `n >= 2` (the RFC's split point `k`).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up the node range `[start, end)`, left to right: greedily
/// the largest aligned power of two. For the ranges of nodes of an RFC 9162 tree (and for
/// every `[0, n)`), their sizes strictly decrease.
pub(crate) fn perfect_cover(range: Range<u64>) -> Vec<Subtree> {
    let mut out = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let len = range.end - start;
        let mut level = 63 - len.leading_zeros();
        if start != 0 {
            level = level.min(start.trailing_zeros());
        }
        // level <= 63 and the subtree ends at or before `range.end`, so it is valid.
        out.push(Subtree {
            level: level as u8,
            index: start >> level,
        });
        start += 1u64 << level;
    }
    out
}

/// Folds the hashes of a range's perfect subtrees (left to right) into the range's hash:
/// `node(p0, node(p1, … node(p_{k-1}, p_k)))`. No hashes: the empty tree's root.
pub(crate) fn fold_from_right(parts: &[Hash]) -> Hash {
    let Some((last, rest)) = parts.split_last() else {
        return EMPTY_ROOT;
    };
    rest.iter()
        .rev()
        .fold(*last, |acc, left| node_hash(left, &acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points_are_the_largest_power_of_two_below() {
        let want = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (70, 64)];
        for (n, k) in want {
            assert_eq!(split_point(n), k, "{n}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn subtrees_that_would_overflow_do_not_exist() {
        assert!(Subtree::new(64, 0).is_none());
        assert_eq!(Subtree::new(63, 0).unwrap().leaves(), 0..1 << 63);
        assert!(Subtree::new(63, 1).is_none());
        assert!(Subtree::new(0, u64::MAX).is_none());
        assert_eq!(
            Subtree::new(0, u64::MAX - 1).unwrap().leaves(),
            u64::MAX - 1..u64::MAX
        );
        assert_eq!(Subtree::new(3, 2).unwrap().leaves(), 16..24);
    }

    #[test]
    fn every_prefix_is_covered_by_one_subtree_per_set_bit() {
        for n in 0u64..300 {
            let cover = perfect_cover(0..n);
            assert_eq!(cover.len() as u32, n.count_ones());
            let mut next = 0;
            for t in &cover {
                assert_eq!(t.leaves().start, next);
                next = t.leaves().end;
            }
            assert_eq!(next, n);
            assert!(cover.windows(2).all(|w| w[0].level > w[1].level));
        }
        assert_eq!(perfect_cover(0..u64::MAX).len(), 64);
    }
}
