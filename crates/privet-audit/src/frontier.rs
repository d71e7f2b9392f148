//! The frontier (compact range) of a log: the roots of the perfect subtrees that make up its
//! leaves so far, one per set bit of the size. Appending a leaf merges the smallest ones,
//! so the state stays O(log n) and the root of the current size never rereads old leaves.
//! This is what a log keeps in memory to sign checkpoints.

use crate::error::ProofError;
use crate::hash::{Hash, node_hash};
use crate::source::HashSource;
use crate::tree::{Subtree, fold_from_right, perfect_cover};

/// The right edge of a Merkle tree: its size and the hashes of its perfect subtrees, largest
/// (leftmost) first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A frontier from saved parts: `peaks` are the hashes of the perfect subtrees of
    /// `[0, size)`, largest first ([`Frontier::peaks`]).
    ///
    /// # Errors
    /// [`ProofError::BadFrontier`] unless there is exactly one peak per set bit of `size`, or
    /// if `size` is `u64::MAX` (a tree that could not grow).
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Frontier, ProofError> {
        if size == u64::MAX || peaks.len() != size.count_ones() as usize {
            return Err(ProofError::BadFrontier {
                size,
                peaks: peaks.len(),
            });
        }
        Ok(Frontier { size, peaks })
    }

    /// The frontier at `size`, read from a source: one subtree hash per set bit of `size`.
    pub fn from_source<S: HashSource + ?Sized>(
        source: &S,
        size: u64,
    ) -> Result<Frontier, S::Error> {
        let available = source.size()?;
        if size > available {
            return Err(ProofError::BeyondTree {
                requested: size,
                size: available,
            }
            .into());
        }
        let peaks = perfect_cover(0..size)
            .into_iter()
            .map(|subtree| source.subtree_hash(subtree))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier::from_parts(size, peaks)?)
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hashes of the perfect subtrees of `[0, size)`, largest first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// The perfect subtrees of `[0, size)` with their hashes, largest first.
    pub fn subtrees(&self) -> impl Iterator<Item = (Subtree, Hash)> + '_ {
        perfect_cover(0..self.size)
            .into_iter()
            .zip(self.peaks.iter().copied())
    }

    /// Appends one leaf hash.
    ///
    /// A tree holds at most `u64::MAX - 1` leaves, which no log reaches: appending beyond
    /// that leaves the frontier unchanged.
    pub fn append(&mut self, leaf_hash: Hash) {
        self.append_reporting(leaf_hash, |_, _| {});
    }

    /// Appends one leaf hash and reports every perfect subtree this completes, smallest
    /// first: the leaf itself (level 0), then each subtree it closes. A store can persist
    /// these as they form, to serve [`HashSource::subtree_hash`] in O(1) later.
    pub fn append_reporting(&mut self, leaf_hash: Hash, mut completed: impl FnMut(Subtree, Hash)) {
        let index = self.size;
        let Some(next_size) = index.checked_add(1).filter(|s| *s < u64::MAX) else {
            return;
        };
        let mut hash = leaf_hash;
        let mut level: u8 = 0;
        if let Some(t) = Subtree::new(0, index) {
            completed(t, hash);
        }
        // Each trailing one bit of the old size is a peak of the same height to merge with.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                // Cannot happen: one peak per set bit.
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            if let Some(t) = Subtree::new(level, index >> level) {
                completed(t, hash);
            }
        }
        self.peaks.push(hash);
        self.size = next_size;
    }

    /// The root of the tree over the leaves appended so far (RFC 9162 MTH).
    pub fn root(&self) -> Hash {
        fold_from_right(&self.peaks)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::hash::{EMPTY_ROOT, leaf_hash};
    use crate::source::{HashSource, MemoryTree};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// The reference MTH, straight from the RFC's recursive definition.
    fn mth(hashes: &[Hash]) -> Hash {
        match hashes.len() {
            0 => EMPTY_ROOT,
            1 => hashes[0],
            n => {
                let k = crate::tree::split_point(n as u64) as usize;
                node_hash(&mth(&hashes[..k]), &mth(&hashes[k..]))
            }
        }
    }

    #[test]
    fn the_frontier_root_is_the_merkle_root_at_every_size() {
        let all = leaves(300);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), EMPTY_ROOT);
        for n in 1..=all.len() {
            frontier.append(all[n - 1]);
            assert_eq!(frontier.size(), n as u64);
            assert_eq!(frontier.peaks().len() as u32, (n as u64).count_ones());
            assert_eq!(frontier.root(), mth(&all[..n]), "size {n}");
        }
    }

    #[test]
    fn appending_reports_exactly_the_subtrees_it_completes() {
        let all = leaves(130);
        let tree = MemoryTree::from_leaf_hashes(all.iter().copied());
        let mut frontier = Frontier::new();
        let mut seen = BTreeMap::new();
        for (i, leaf) in all.iter().enumerate() {
            let mut now = Vec::new();
            frontier.append_reporting(*leaf, |t, h| now.push((t, h)));
            // The leaf, then one subtree per trailing one bit of the old size.
            assert_eq!(now.len() as u32, 1 + (i as u64).trailing_ones());
            for (t, h) in now {
                assert!(t.leaves().end == i as u64 + 1);
                assert_eq!(tree.subtree_hash(t).unwrap(), h);
                assert!(seen.insert(t, h).is_none());
            }
        }
        // Every perfect subtree of 130 leaves was reported once.
        let want: usize = (0..8).map(|l| 130usize >> l).sum();
        assert_eq!(seen.len(), want);
    }

    #[test]
    fn a_frontier_can_be_rebuilt_from_a_source_or_saved_parts() {
        let all = leaves(100);
        let tree = MemoryTree::from_leaf_hashes(all.iter().copied());
        let mut grown = Frontier::new();
        for n in 0..=100u64 {
            let read = Frontier::from_source(&tree, n).unwrap();
            assert_eq!(read, grown, "size {n}");
            let saved = Frontier::from_parts(n, read.peaks().to_vec()).unwrap();
            assert_eq!(saved, read);
            let subtrees: Vec<_> = read.subtrees().collect();
            assert_eq!(subtrees.len(), read.peaks().len());
            if n < 100 {
                grown.append(all[n as usize]);
            }
        }
        assert!(matches!(
            Frontier::from_source(&tree, 101),
            Err(ProofError::BeyondTree {
                requested: 101,
                size: 100
            })
        ));
    }

    #[test]
    fn saved_parts_must_have_one_peak_per_set_bit() {
        assert!(Frontier::from_parts(0, vec![]).is_ok());
        assert!(Frontier::from_parts(5, vec![[0; 32], [1; 32]]).is_ok());
        for (size, n) in [(0, 1), (5, 1), (5, 3), (8, 0)] {
            assert_eq!(
                Frontier::from_parts(size, vec![[0; 32]; n]),
                Err(ProofError::BadFrontier { size, peaks: n })
            );
        }
        assert!(Frontier::from_parts(u64::MAX, vec![[0; 32]; 64]).is_err());
    }

    #[test]
    fn a_full_frontier_stops_growing_instead_of_overflowing() {
        let peaks = vec![[7; 32]; 63];
        let mut full = Frontier::from_parts(u64::MAX - 1, peaks).unwrap();
        let before = full.clone();
        full.append([1; 32]);
        assert_eq!(full, before);
    }
}
