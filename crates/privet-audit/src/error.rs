//! The errors of this crate, one enum per concern: making and checking proofs
//! ([`ProofError`]), signed notes and checkpoints ([`NoteError`]), and verifying a whole
//! stored log ([`VerifyError`]). They carry indexes, sizes, key names and fixed reasons,
//! never leaf contents.

use std::fmt;

use crate::tree::Subtree;

/// A proof (or root) that cannot be made for these arguments, or that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was asked for.
        size: u64,
    },

    /// A tree size beyond the log's current size was asked for.
    #[error("tree size {requested} is beyond the log's size {size}")]
    BeyondTree {
        /// The requested tree size.
        requested: u64,
        /// The log's size.
        size: u64,
    },

    /// A consistency proof from a larger tree to a smaller one was asked for.
    #[error("no consistency proof from tree size {from} to the smaller size {to}")]
    SizesReversed {
        /// The first (older) size.
        from: u64,
        /// The second (newer) size.
        to: u64,
    },

    /// A hash source did not have the hash of a subtree a proof needs.
    #[error("the hash of the {0} is not available")]
    MissingSubtree(Subtree),

    /// A hash source returned fewer or more leaf hashes than the range asked for.
    #[error("the hash source returned {got} leaf hashes for a range of {want}")]
    ShortRead {
        /// How many were asked for.
        want: u64,
        /// How many came back.
        got: u64,
    },

    /// Saved frontier parts that do not fit their size.
    #[error("a frontier of size {size} cannot have {peaks} peaks")]
    BadFrontier {
        /// The claimed size.
        size: u64,
        /// The number of peak hashes given.
        peaks: usize,
    },

    /// The proof does not prove what it claims.
    #[error("invalid proof: {0}")]
    Invalid(&'static str),
}

/// A signed note, verifier key or checkpoint that is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note's text or signature lines break the signed-note format.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),

    /// The verifier key string breaks the `<name>+<hex id>+<base64 key>` format or its
    /// key id does not match its name and key.
    #[error("malformed verifier key: {0}")]
    MalformedKey(&'static str),

    /// The note text is not a checkpoint (origin, size, root hash, extension lines).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),

    /// No signature line is from the expected key (same name and key id): the note was
    /// signed by another key, or not at all.
    #[error("the note carries no signature by key {key}")]
    NotSigned {
        /// The expected key, as `<name>+<hex id>`.
        key: String,
    },

    /// A signature line names the expected key but its signature does not verify: the text
    /// was edited after signing, or the signature is forged.
    #[error("the signature by key {key} does not verify: the note was altered or forged")]
    BadSignature {
        /// The key, as `<name>+<hex id>`.
        key: String,
    },

    /// The checkpoint verifies but belongs to another log.
    #[error("the checkpoint's origin {found:?} is not this log's origin {expected:?}")]
    WrongOrigin {
        /// The origin the caller expects.
        expected: String,
        /// The origin line of the checkpoint.
        found: String,
    },
}

/// Which checkpoint a [`VerifyError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointRef {
    /// One of the log's stored checkpoints, by its position (from 0) in the list given.
    Stored(usize),
    /// The checkpoint saved outside the log and checked against it (`--against`).
    Saved,
}

impl fmt::Display for CheckpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointRef::Stored(i) => write!(f, "stored checkpoint #{i}"),
            CheckpointRef::Saved => f.write_str("the saved checkpoint"),
        }
    }
}

/// Why a stored log failed verification. Where the first bad leaf can be told, the error
/// names its index; where only a checkpoint can tell something changed, it names the range
/// of indexes the change lies in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaves skip an index: leaf `index` was deleted.
    #[error("leaf {index} is missing (the next stored leaf is {next}): it was deleted")]
    MissingLeaf {
        /// The first missing index.
        index: u64,
        /// The index of the leaf found in its place.
        next: u64,
    },

    /// A leaf index repeats or goes backwards.
    #[error("leaf {index} is out of order or repeated (expected leaf {expected})")]
    LeafOutOfOrder {
        /// The index found.
        index: u64,
        /// The index expected there.
        expected: u64,
    },

    /// A leaf's bytes do not hash to the leaf hash stored with them.
    #[error("leaf {index} was altered: its bytes do not match its stored leaf hash")]
    LeafHashMismatch {
        /// The leaf's index.
        index: u64,
    },

    /// The leaf chain stored beside the leaves (see [`crate::chain_hash`]) does not continue
    /// at this leaf: the leaf was moved, inserted or rewritten together with its leaf hash,
    /// or its chain value was altered or removed.
    #[error(
        "leaf {index} is not the leaf that was appended at index {index}: the stored leaf \
         chain breaks there (rows were reordered, inserted or rewritten from this index on)"
    )]
    ChainMismatch {
        /// The first leaf where the chain breaks.
        index: u64,
    },

    /// A checkpoint is malformed, from another key or log, or its signature does not
    /// verify.
    #[error("{checkpoint}: {source}")]
    Checkpoint {
        /// Which checkpoint.
        checkpoint: CheckpointRef,
        /// What is wrong with it.
        #[source]
        source: NoteError,
    },

    /// The root recomputed from the stored leaves differs from a signed checkpoint's.
    #[error(
        "{checkpoint} (tree size {size}) does not match the stored leaves: a leaf with index \
         in {after}..{size} was altered, removed, inserted or reordered"
    )]
    RootMismatch {
        /// Which checkpoint.
        checkpoint: CheckpointRef,
        /// Its tree size.
        size: u64,
        /// The largest size at which an earlier checkpoint matched (0 if none): the first
        /// bad leaf has an index at or above it.
        after: u64,
    },

    /// A signed checkpoint covers more leaves than the log holds.
    #[error(
        "{checkpoint} covers {size} leaves but the log holds only {log_size}: leaves from \
         index {log_size} on were removed, or the log was rolled back"
    )]
    Truncated {
        /// Which checkpoint.
        checkpoint: CheckpointRef,
        /// Its tree size.
        size: u64,
        /// The number of leaves in the log.
        log_size: u64,
    },
}
