//! Proofs and roots made from a source of hashes: the [`HashSource`] trait, the generating
//! functions over it, and [`MemoryTree`], a source that keeps every level in memory.
//!
//! A source must give leaf hashes. The hash of a perfect subtree defaults to recomputing it
//! from its leaves, which costs `2^level` leaf reads: fine for small logs and tests, far too
//! slow for a subtree of millions of leaves. A store holding a large log overrides
//! [`HashSource::subtree_hash`] with stored subtree hashes ("tiles"), for example those that
//! [`crate::Frontier::append_reporting`] reports as they complete; then a root or proof reads
//! O(log n) hashes.

use std::ops::Range;

use crate::error::ProofError;
use crate::hash::{Hash, node_hash};
use crate::plan::ProofPlan;
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::tree::{Subtree, merkle_root};

/// Where the hashes of a log's tree come from.
pub trait HashSource {
    /// The source's error; argument errors of the generating functions become one too.
    type Error: From<ProofError>;

    /// The number of leaves in the log now.
    fn size(&self) -> Result<u64, Self::Error>;

    /// The leaf hashes of the leaves in `range`, in order, all of them.
    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Hash>, Self::Error>;

    /// The hash of a perfect subtree within the log. The default recomputes it from the
    /// subtree's leaf hashes; override it where subtree hashes are stored.
    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, Self::Error> {
        let range = subtree.leaves();
        let want = range.end - range.start;
        let hashes = self.leaf_hashes(range)?;
        if hashes.len() as u64 != want {
            return Err(ProofError::ShortRead {
                want,
                got: hashes.len() as u64,
            }
            .into());
        }
        Ok(merkle_root(&hashes))
    }
}

/// Refuses sizes the source does not have yet.
fn check_size<S: HashSource + ?Sized>(source: &S, requested: u64) -> Result<(), S::Error> {
    let size = source.size()?;
    if requested > size {
        return Err(ProofError::BeyondTree { requested, size }.into());
    }
    Ok(())
}

fn assemble<S: HashSource + ?Sized>(source: &S, plan: &ProofPlan) -> Result<Vec<Hash>, S::Error> {
    plan.assemble(|subtree| source.subtree_hash(subtree))
}

/// The root of the tree of the first `size` leaves (RFC 9162 MTH).
pub fn tree_root<S: HashSource + ?Sized>(source: &S, size: u64) -> Result<Hash, S::Error> {
    check_size(source, size)?;
    let hashes = assemble(source, &ProofPlan::root(size))?;
    // A root plan always assembles to exactly one hash.
    hashes
        .first()
        .copied()
        .ok_or_else(|| ProofError::Invalid("a root plan assembled to no hash").into())
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<InclusionProof, S::Error> {
    let plan = ProofPlan::inclusion(index, size)?;
    check_size(source, size)?;
    let leaf = Subtree::new(0, index).ok_or(ProofError::IndexOutOfRange { index, size })?;
    Ok(InclusionProof {
        index,
        tree_size: size,
        leaf_hash: source.subtree_hash(leaf)?,
        hashes: assemble(source, &plan)?,
    })
}

/// The consistency proof from the tree of the first `from` leaves to the tree of the first
/// `to` leaves.
pub fn consistency_proof<S: HashSource + ?Sized>(
    source: &S,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, S::Error> {
    let plan = ProofPlan::consistency(from, to)?;
    check_size(source, to)?;
    Ok(ConsistencyProof {
        from,
        to,
        hashes: assemble(source, &plan)?,
    })
}

/// A Merkle tree held in memory with every level of perfect subtrees: O(1) subtree hashes,
/// about 64 bytes per leaf. For tests, small logs and verifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of the perfect subtree at level `l`, index `i`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A tree over these leaf hashes, in order.
    pub fn from_leaf_hashes(leaf_hashes: impl IntoIterator<Item = Hash>) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for h in leaf_hashes {
            tree.push(h);
        }
        tree
    }

    /// Appends a leaf hash, completing the subtrees it closes.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let index = row.len() - 1;
            if index.is_multiple_of(2) {
                break;
            }
            hash = node_hash(&row[index - 1], &row[index]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // Cannot fail: the size is the tree's own and every subtree hash is held.
        tree_root(self, self.len()).unwrap_or(crate::EMPTY_ROOT)
    }
}

impl HashSource for MemoryTree {
    type Error = ProofError;

    fn size(&self) -> Result<u64, ProofError> {
        Ok(self.len())
    }

    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Hash>, ProofError> {
        let size = self.len();
        if range.end > size {
            return Err(ProofError::BeyondTree {
                requested: range.end,
                size,
            });
        }
        let (start, end) = (range.start as usize, range.end as usize);
        Ok(self
            .levels
            .first()
            .and_then(|leaves| leaves.get(start..end))
            .map(<[Hash]>::to_vec)
            .unwrap_or_default())
    }

    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, ProofError> {
        usize::try_from(subtree.index())
            .ok()
            .and_then(|i| self.levels.get(usize::from(subtree.level()))?.get(i))
            .copied()
            .ok_or(ProofError::MissingSubtree(subtree))
    }
}
