//! Verifying a stored log: recompute the tree from every stored leaf and hold each signed
//! checkpoint against it.
//!
//! For each leaf, in index order, the verifier checks the index sequence (a gap is a deleted
//! leaf), and the leaf's bytes against the leaf hash stored beside them, if any (a mismatch
//! names the altered leaf). It appends the leaf hash to a [`Frontier`], and when the tree
//! reaches a checkpoint's size it compares the root. Every checkpoint's signature and origin
//! are checked before any leaf is read.
//!
//! Two checkpoints whose roots both equal the roots recomputed from the same leaves are
//! consistent with each other; that check is strictly stronger than verifying a consistency
//! proof between them, so consecutive checkpoints need no separate proof here. A checkpoint
//! saved outside the log (`--against`) is checked the same way: a log that was rolled back
//! has fewer leaves than it covers, one that was rewritten has another root at its size.
//!
//! Memory is O(log n) plus the checkpoints; time is one leaf hash and about one node hash per
//! leaf.

use crate::chain::{CHAIN_START, chain_hash};
use crate::checkpoint::{Checkpoint, verify_checkpoint};
use crate::error::{CheckpointRef, VerifyError};
use crate::frontier::Frontier;
use crate::hash::{Hash, leaf_hash};
use crate::note::VerifierKey;

/// One stored leaf: its index, the exact bytes that were hashed as the leaf, and the leaf
/// hash stored beside them, if the store keeps one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLeaf<B> {
    /// The leaf's index in the log.
    pub index: u64,
    /// The leaf bytes.
    pub bytes: B,
    /// The stored leaf hash, checked against `SHA-256(0x00 || bytes)` when present.
    pub hash: Option<Hash>,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// The number of leaves in the log.
    pub size: u64,
    /// The root recomputed over all of them.
    pub root: Hash,
    /// How many checkpoints were checked (stored ones and the saved one).
    pub checkpoints: usize,
    /// The checkpoint of the largest size, if any.
    pub latest: Option<Checkpoint>,
}

/// A streaming log verifier: give it the leaves in index order with
/// [`LogVerifier::push`], then call [`LogVerifier::finish`].
#[derive(Debug)]
pub struct LogVerifier {
    frontier: Frontier,
    /// Verified checkpoints, by ascending size (stable, so the listed order breaks ties).
    checkpoints: Vec<(CheckpointRef, Checkpoint)>,
    /// The next checkpoint in `checkpoints` not yet compared.
    next: usize,
    /// The largest size at which a checkpoint matched.
    matched: u64,
    /// The leaf chain after the leaves pushed so far.
    chain: Hash,
    /// Whether a stored chain value was seen (after which every leaf must have one).
    chained: bool,
}

impl LogVerifier {
    /// Verifies the signature and origin of every checkpoint: the log's `stored` ones and,
    /// optionally, one `saved` outside the log.
    ///
    /// # Errors
    /// [`VerifyError::Checkpoint`] for the first checkpoint that is malformed, signed by
    /// another key, forged or altered, or for another origin.
    pub fn new<S: AsRef<str>>(
        key: &VerifierKey,
        origin: &str,
        stored: &[S],
        saved: Option<&str>,
    ) -> Result<LogVerifier, VerifyError> {
        LogVerifier::with_keys(std::slice::from_ref(key), origin, stored, saved)
    }

    /// Like [`LogVerifier::new`], for a log whose signing key was rotated: each checkpoint
    /// must verify under one of `keys` (the current key and every earlier one). An error
    /// names the checkpoint and what the first key found wrong with it.
    pub fn with_keys<S: AsRef<str>>(
        keys: &[VerifierKey],
        origin: &str,
        stored: &[S],
        saved: Option<&str>,
    ) -> Result<LogVerifier, VerifyError> {
        let listed = stored
            .iter()
            .enumerate()
            .map(|(i, text)| (CheckpointRef::Stored(i), text.as_ref()))
            .chain(saved.map(|text| (CheckpointRef::Saved, text)));
        let mut checkpoints = Vec::new();
        for (checkpoint, text) in listed {
            let mut first_error = None;
            let mut parsed = None;
            for key in keys {
                match verify_checkpoint(text, key, origin) {
                    Ok(c) => {
                        parsed = Some(c);
                        break;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            let parsed = match (parsed, first_error) {
                (Some(c), _) => c,
                (None, Some(source)) => return Err(VerifyError::Checkpoint { checkpoint, source }),
                (None, None) => {
                    return Err(VerifyError::Checkpoint {
                        checkpoint,
                        source: crate::NoteError::NotSigned {
                            key: "(no verifier key given)".into(),
                        },
                    });
                }
            };
            checkpoints.push((checkpoint, parsed));
        }
        checkpoints.sort_by_key(|(_, c)| c.size());
        let mut verifier = LogVerifier {
            frontier: Frontier::new(),
            checkpoints,
            next: 0,
            matched: 0,
            chain: CHAIN_START,
            chained: false,
        };
        verifier.compare_due_checkpoints()?;
        Ok(verifier)
    }

    /// The number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The tree of the leaves pushed so far, as its frontier.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Takes the next stored leaf.
    ///
    /// # Errors
    /// [`VerifyError::MissingLeaf`] or [`VerifyError::LeafOutOfOrder`] if its index is not
    /// the next one, [`VerifyError::LeafHashMismatch`] if its bytes do not match its stored
    /// hash, [`VerifyError::RootMismatch`] if the tree now has a checkpoint's size but not
    /// its root.
    pub fn push<B: AsRef<[u8]>>(&mut self, leaf: StoredLeaf<B>) -> Result<(), VerifyError> {
        self.push_leaf(leaf, None, false)
    }

    /// Takes the next stored leaf together with the leaf-chain value stored beside it
    /// ([`crate::chain_hash`]), and checks that value too: a leaf moved, inserted or rewritten
    /// with its leaf hash is then named exactly. Once one leaf came with a chain value, a
    /// later one without is a removed chain value.
    ///
    /// # Errors
    /// Those of [`LogVerifier::push`], and [`VerifyError::ChainMismatch`] where the stored
    /// chain does not continue.
    pub fn push_chained<B: AsRef<[u8]>>(
        &mut self,
        leaf: StoredLeaf<B>,
        chain: Option<Hash>,
    ) -> Result<(), VerifyError> {
        self.push_leaf(leaf, chain, true)
    }

    fn push_leaf<B: AsRef<[u8]>>(
        &mut self,
        leaf: StoredLeaf<B>,
        stored_chain: Option<Hash>,
        check_chain: bool,
    ) -> Result<(), VerifyError> {
        let expected = self.frontier.size();
        if leaf.index > expected {
            return Err(VerifyError::MissingLeaf {
                index: expected,
                next: leaf.index,
            });
        }
        if leaf.index < expected {
            return Err(VerifyError::LeafOutOfOrder {
                index: leaf.index,
                expected,
            });
        }
        let hash = leaf_hash(leaf.bytes.as_ref());
        if leaf.hash.is_some_and(|stored| stored != hash) {
            return Err(VerifyError::LeafHashMismatch { index: leaf.index });
        }
        self.chain = chain_hash(&self.chain, &hash);
        if check_chain {
            match stored_chain {
                Some(stored) if stored != self.chain => {
                    return Err(VerifyError::ChainMismatch { index: leaf.index });
                }
                Some(_) => self.chained = true,
                None if self.chained => {
                    return Err(VerifyError::ChainMismatch { index: leaf.index });
                }
                None => {}
            }
        }
        self.frontier.append(hash);
        self.compare_due_checkpoints()
    }

    /// Ends the log: every checkpoint must have been reached.
    ///
    /// # Errors
    /// [`VerifyError::Truncated`] for the first checkpoint larger than the log.
    pub fn finish(self) -> Result<LogReport, VerifyError> {
        if let Some((checkpoint, c)) = self.checkpoints.get(self.next) {
            return Err(VerifyError::Truncated {
                checkpoint: *checkpoint,
                size: c.size(),
                log_size: self.frontier.size(),
            });
        }
        Ok(LogReport {
            size: self.frontier.size(),
            root: self.frontier.root(),
            checkpoints: self.checkpoints.len(),
            latest: self.checkpoints.last().map(|(_, c)| c.clone()),
        })
    }

    /// Compares every checkpoint of the current size with the current root.
    fn compare_due_checkpoints(&mut self) -> Result<(), VerifyError> {
        let size = self.frontier.size();
        while let Some((checkpoint, c)) = self.checkpoints.get(self.next) {
            if c.size() != size {
                break;
            }
            if *c.root() != self.frontier.root() {
                return Err(VerifyError::RootMismatch {
                    checkpoint: *checkpoint,
                    size,
                    after: self.matched,
                });
            }
            self.matched = size;
            self.next += 1;
        }
        Ok(())
    }
}

/// Verifies a whole stored log: every leaf, in index order, against every stored signed
/// checkpoint (see the module docs).
pub fn verify_log<B: AsRef<[u8]>, S: AsRef<str>>(
    leaves: impl IntoIterator<Item = StoredLeaf<B>>,
    checkpoints: &[S],
    key: &VerifierKey,
    origin: &str,
) -> Result<LogReport, VerifyError> {
    let mut verifier = LogVerifier::new(key, origin, checkpoints, None)?;
    for leaf in leaves {
        verifier.push(leaf)?;
    }
    verifier.finish()
}

/// Checks the stored log against a checkpoint saved outside it earlier: the log must still
/// hold that many leaves, with that root.
pub fn check_against<B: AsRef<[u8]>>(
    saved: &str,
    leaves: impl IntoIterator<Item = StoredLeaf<B>>,
    key: &VerifierKey,
    origin: &str,
) -> Result<LogReport, VerifyError> {
    let mut verifier = LogVerifier::new::<&str>(key, origin, &[], Some(saved))?;
    for leaf in leaves {
        verifier.push(leaf)?;
    }
    verifier.finish()
}
