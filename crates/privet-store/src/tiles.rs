//! The audit tree as a store keeps it, shared by every backend.
//!
//! Beside each leaf a store keeps its leaf hash and its leaf-chain value
//! ([`privet_audit::chain_hash`]), and it keeps the hash of every perfect subtree of level
//! [`TILE_MIN_LEVEL`] or more ("tiles"), each written in the same transaction as the leaf
//! that completes it. A proof, a root or a frontier then reads O(log n) hashes: one stored
//! hash per large subtree, and for the few subtrees below [`TILE_MIN_LEVEL`] at most
//! 2^([`TILE_MIN_LEVEL`] − 1) leaf hashes each — never the whole log.
//!
//! The appender keeps an [`AuditHead`] (the tree's frontier and the chain's last value) and
//! turns each batch of leaves into the rows to insert ([`AuditHead::append`]). Readers plan
//! what to fetch with [`subtree_reads`] and put the answer together with
//! [`assemble_subtrees`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use privet_audit::{CHAIN_START, Frontier, Hash, Leaf, ProofPlan, Subtree, chain_hash};

use crate::StoreError;

/// The lowest level of perfect subtree whose hash is stored: 16 leaves. Below it, hashes are
/// recomputed from at most 8 leaf hashes; at and above it a log of n leaves stores about n/8
/// hashes.
pub const TILE_MIN_LEVEL: u8 = 4;

/// One leaf row to insert: its index in the log, the leaf, and its chain value.
#[derive(Debug, Clone, Copy)]
pub struct LeafRow<'a> {
    /// The leaf's index (from 0).
    pub index: u64,
    /// The leaf (bytes, hash, subject).
    pub leaf: &'a Leaf,
    /// The leaf-chain value after it.
    pub chain: Hash,
}

/// The rows one append writes: the leaves, and the subtrees of level ≥ [`TILE_MIN_LEVEL`]
/// they complete.
#[derive(Debug, Default)]
pub struct AuditAppend<'a> {
    /// The leaf rows, in index order.
    pub leaves: Vec<LeafRow<'a>>,
    /// The completed subtrees with their hashes, smallest first for each leaf.
    pub tiles: Vec<(Subtree, Hash)>,
}

/// What an appender keeps between appends: the tree's frontier and the chain's last value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The tree so far.
    pub frontier: Frontier,
    /// The leaf-chain value after the last leaf ([`CHAIN_START`] for an empty log).
    pub chain: Hash,
}

impl Default for AuditHead {
    fn default() -> Self {
        AuditHead {
            frontier: Frontier::new(),
            chain: CHAIN_START,
        }
    }
}

impl AuditHead {
    /// The head of an empty log.
    pub fn new() -> AuditHead {
        AuditHead::default()
    }

    /// The number of leaves so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends one leaf hash; returns its index and chain value, and adds the stored-level
    /// subtrees it completes to `tiles`.
    pub fn push(&mut self, leaf_hash: &Hash, tiles: &mut Vec<(Subtree, Hash)>) -> (u64, Hash) {
        let index = self.frontier.size();
        self.chain = chain_hash(&self.chain, leaf_hash);
        self.frontier.append_reporting(*leaf_hash, |t, h| {
            if t.level() >= TILE_MIN_LEVEL {
                tiles.push((t, h));
            }
        });
        (index, self.chain)
    }

    /// Appends `leaves` in order and returns the rows to insert.
    pub fn append<'a>(&mut self, leaves: &'a [Leaf]) -> AuditAppend<'a> {
        let mut out = AuditAppend {
            leaves: Vec::with_capacity(leaves.len()),
            tiles: Vec::new(),
        };
        for leaf in leaves {
            let (index, chain) = self.push(&leaf.hash, &mut out.tiles);
            out.leaves.push(LeafRow { index, leaf, chain });
        }
        out
    }
}

/// What to read to answer for some perfect subtrees: the stored ones among them, and the
/// leaf-hash ranges (merged where adjacent) from which to compute the others.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SubtreeReads {
    /// Subtrees of level ≥ [`TILE_MIN_LEVEL`], to read from stored hashes.
    pub tiles: Vec<Subtree>,
    /// Leaf ranges whose leaf hashes are needed, sorted and disjoint.
    pub leaf_ranges: Vec<Range<u64>>,
}

/// Plans the reads for `subtrees` of a log of `size` leaves.
///
/// # Errors
/// [`StoreError::Invalid`] if a subtree reaches beyond the log.
pub fn subtree_reads(subtrees: &[Subtree], size: u64) -> Result<SubtreeReads, StoreError> {
    let mut reads = SubtreeReads::default();
    let mut ranges = Vec::new();
    for t in subtrees {
        if t.leaves().end > size {
            return Err(StoreError::Invalid(format!(
                "the {t} is not inside the audit log of {size} leaves"
            )));
        }
        if t.level() >= TILE_MIN_LEVEL {
            reads.tiles.push(*t);
        } else {
            ranges.push(t.leaves());
        }
    }
    ranges.sort_by_key(|r| r.start);
    for r in ranges {
        match reads.leaf_ranges.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => reads.leaf_ranges.push(r),
        }
    }
    Ok(reads)
}

/// Puts together the hashes of `subtrees` from the stored subtree hashes and leaf hashes
/// read as [`subtree_reads`] planned.
///
/// # Errors
/// [`StoreError::Corrupt`] if a stored hash or leaf that must exist is missing.
pub fn assemble_subtrees(
    subtrees: &[Subtree],
    tiles: &HashMap<Subtree, Hash>,
    leaves: &BTreeMap<u64, Hash>,
) -> Result<Vec<Hash>, StoreError> {
    subtrees
        .iter()
        .map(|t| {
            if t.level() >= TILE_MIN_LEVEL {
                return tiles.get(t).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("the stored hash of the audit {t} is missing"))
                });
            }
            let hashes =
                t.leaves()
                    .map(|i| {
                        leaves.get(&i).copied().ok_or_else(|| {
                            StoreError::Corrupt(format!("audit leaf {i} is missing"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
            Ok(privet_audit::merkle_root(&hashes))
        })
        .collect()
}

/// The perfect subtrees whose hashes make up the frontier of a log of `size` leaves.
pub fn frontier_subtrees(size: u64) -> Vec<Subtree> {
    ProofPlan::root(size).subtrees()
}

/// The frontier of a log of `size` leaves from the hashes of [`frontier_subtrees`].
///
/// # Errors
/// [`StoreError::Corrupt`] if there is not one hash per subtree.
pub fn frontier_from(size: u64, peaks: Vec<Hash>) -> Result<Frontier, StoreError> {
    Frontier::from_parts(size, peaks)
        .map_err(|e| StoreError::Corrupt(format!("audit frontier: {e}")))
}

#[cfg(test)]
mod tests {
    use privet_audit::{Action, AuditEntry, HashSource, MemoryTree};
    use time::OffsetDateTime;

    use super::*;

    fn leaves(n: u64) -> Vec<Leaf> {
        (0..n)
            .map(|i| {
                let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "t", Action::Admin);
                e.count = Some(i);
                e.to_leaf()
            })
            .collect()
    }

    #[test]
    fn appends_report_every_stored_subtree_once_with_its_hash() {
        let all = leaves(300);
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|l| l.hash));
        let mut head = AuditHead::new();
        let mut tiles = HashMap::new();
        let mut chain = CHAIN_START;
        for batch in all.chunks(7) {
            let rows = head.append(batch);
            for r in &rows.leaves {
                chain = chain_hash(&chain, &r.leaf.hash);
                assert_eq!(r.chain, chain);
            }
            for (t, h) in rows.tiles {
                assert_eq!(tree.subtree_hash(t).unwrap(), h);
                assert!(tiles.insert(t, h).is_none());
            }
        }
        assert_eq!(head.size(), 300);
        assert_eq!(head.frontier.root(), tree.root());
        // Level 4: 18 subtrees of 16; level 5: 9; 6: 4; 7: 2; 8: 1.
        assert_eq!(tiles.len(), 18 + 9 + 4 + 2 + 1);
    }

    #[test]
    fn subtrees_are_assembled_from_tiles_and_few_leaf_hashes() {
        let all = leaves(100);
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|l| l.hash));
        let mut head = AuditHead::new();
        let tiles: HashMap<_, _> = head.append(&all).tiles.into_iter().collect();
        let leaf_map: BTreeMap<u64, Hash> = all
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64, l.hash))
            .collect();
        for level in 0..7u8 {
            for index in 0..(100u64 >> level) {
                let t = Subtree::new(level, index).unwrap();
                let reads = subtree_reads(&[t], 100).unwrap();
                let got = assemble_subtrees(&[t], &tiles, &leaf_map).unwrap();
                assert_eq!(got, vec![tree.subtree_hash(t).unwrap()], "{t}");
                let leaves_read: u64 = reads.leaf_ranges.iter().map(|r| r.end - r.start).sum();
                assert!(leaves_read < 1 << TILE_MIN_LEVEL);
            }
        }
        let beyond = Subtree::new(4, 6).unwrap();
        assert!(matches!(
            subtree_reads(&[beyond], 100),
            Err(StoreError::Invalid(_))
        ));
        let peaks = assemble_subtrees(&frontier_subtrees(100), &tiles, &leaf_map).unwrap();
        assert_eq!(frontier_from(100, peaks).unwrap(), head.frontier);
        assert!(matches!(
            assemble_subtrees(&[Subtree::new(5, 0).unwrap()], &HashMap::new(), &leaf_map),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn adjacent_leaf_ranges_are_read_once() {
        let ts = [
            Subtree::new(0, 5).unwrap(),
            Subtree::new(1, 3).unwrap(),
            Subtree::new(2, 0).unwrap(),
            Subtree::new(0, 4).unwrap(),
            Subtree::new(3, 2).unwrap(),
        ];
        let reads = subtree_reads(&ts, 64).unwrap();
        assert_eq!(reads.leaf_ranges, vec![0..8, 16..24]);
        assert!(reads.tiles.is_empty());
    }
}
