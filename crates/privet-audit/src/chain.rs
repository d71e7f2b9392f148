//! The leaf chain: a hash chain over the leaf hashes in append order, which a store keeps
//! beside each leaf (`chain[i] = SHA-256(0x02 || chain[i-1] || leaf_hash[i])`, starting from
//! 32 zero bytes).
//!
//! It is not part of the Merkle tree and it is not signed. It exists so that verification
//! can name exactly the first leaf that was moved, inserted or rewritten together with its
//! stored leaf hash, which the tree alone can only place between two checkpoints. Whoever
//! can rewrite the rows can rewrite the chain too, so the signed checkpoints stay the trust
//! anchor; the chain only sharpens the error for everything short of that.

use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// Prefix of a chain-hash input: distinct from the leaf (0x00) and node (0x01) prefixes.
pub const CHAIN_PREFIX: u8 = 0x02;

/// The chain value before the first leaf.
pub const CHAIN_START: Hash = [0; 32];

/// The chain value after a leaf: `SHA-256(0x02 || previous || leaf_hash)`.
pub fn chain_hash(previous: &Hash, leaf_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([CHAIN_PREFIX]);
    h.update(previous);
    h.update(leaf_hash);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn the_chain_depends_on_order_and_on_every_leaf() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let ab = chain_hash(&chain_hash(&CHAIN_START, &a), &b);
        let ba = chain_hash(&chain_hash(&CHAIN_START, &b), &a);
        assert_ne!(ab, ba);
        assert_ne!(chain_hash(&CHAIN_START, &a), chain_hash(&CHAIN_START, &b));
        // Domain-separated from a node hash over the same inputs.
        assert_ne!(chain_hash(&a, &b), crate::node_hash(&a, &b));
    }
}
