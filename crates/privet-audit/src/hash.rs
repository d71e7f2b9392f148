//! RFC 9162 (Certificate Transparency v2) hashing: SHA-256 with distinct one-byte prefixes for
//! leaves and interior nodes, so a leaf can never be passed off as a node.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: of a leaf, an interior node or a whole tree.
pub type Hash = [u8; 32];

/// The root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Prefix of a leaf hash input (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an interior node hash input (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Known answers from RFC 6962 / certificate-transparency reference test data: the hash
    // of an empty leaf and of the leaf "\x00".
    #[test]
    fn the_empty_root_is_the_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(
            hex(&EMPTY_ROOT),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn empty_leaf_matches_the_reference_vector() {
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn leaf_zero_byte_matches_the_reference_vector() {
        assert_eq!(
            hex(&leaf_hash(&[0x00])),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
    }

    /// The leaves of the certificate-transparency reference test data.
    const LEAVES: [&[u8]; 4] = [b"", &[0x00], &[0x10], &[0x20, 0x21]];

    #[test]
    fn roots_of_small_trees_match_the_reference_vectors() {
        let l: Vec<[u8; 32]> = LEAVES.iter().map(|x| leaf_hash(x)).collect();
        let two = node_hash(&l[0], &l[1]);
        assert_eq!(
            hex(&two),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
        // RFC 9162 splits 3 leaves as (2, 1).
        let three = node_hash(&two, &l[2]);
        assert_eq!(
            hex(&three),
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
        );
        let four = node_hash(&two, &node_hash(&l[2], &l[3]));
        assert_eq!(
            hex(&four),
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
        );
    }
}
