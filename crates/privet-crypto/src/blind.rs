//! Blind indexes: deterministic, keyed fingerprints of normalized values, so a vault can
//! find "the subject whose email is x" without storing x.
//!
//! Each (collection, field) pair gets its own HMAC key, HKDF-derived from the master key,
//! so equal values in different fields give unrelated indexes. Deriving a key costs several
//! HMAC invocations, so each prepared HMAC state is derived once and cloned per call.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use hkdf::Hkdf;
use hmac::Mac;
use sha2::Sha256;

use crate::kdf::{self, HmacSha256, LABEL_BLIND_INDEX};
use crate::master::MasterKey;

/// Length of a blind index in bytes: 128 bits keeps collisions negligible at 10^9 subjects.
pub const BLIND_INDEX_LEN: usize = 16;

/// Beyond this many (collection, field) pairs, keys are derived per call instead of cached,
/// so a caller passing unvalidated names cannot grow memory without bound. Real schemas
/// have far fewer searchable fields.
const MAX_CACHED_FIELDS: usize = 4096;

/// The blind-index keys of one master key, prepared lazily per (collection, field).
pub(crate) struct BlindIndexKeys {
    root: Hkdf<Sha256>,
    cache: RwLock<Cache>,
}

#[derive(Default)]
struct Cache {
    /// collection → field → prepared HMAC. Nested so lookups borrow `&str` without allocating.
    by_collection: HashMap<String, HashMap<String, HmacSha256>>,
    entries: usize,
}

impl BlindIndexKeys {
    pub(crate) fn new(master: &MasterKey) -> BlindIndexKeys {
        BlindIndexKeys {
            root: kdf::master_prk(master),
            cache: RwLock::new(Cache::default()),
        }
    }

    /// HMAC-SHA256 of `term` under the (collection, field) key, truncated to 16 bytes.
    pub(crate) fn index(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> [u8; BLIND_INDEX_LEN] {
        let mut mac = self.prepared(collection, field);
        mac.update(term);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; BLIND_INDEX_LEN];
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
        out
    }

    fn prepared(&self, collection: &str, field: &str) -> HmacSha256 {
        // The cache holds only complete entries, so a poisoned lock still guards valid data.
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(mac) = cache
                .by_collection
                .get(collection)
                .and_then(|f| f.get(field))
            {
                return mac.clone();
            }
        }
        let mac = self.derive(collection, field);
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.entries < MAX_CACHED_FIELDS {
            let fields = cache
                .by_collection
                .entry(collection.to_owned())
                .or_default();
            if fields.insert(field.to_owned(), mac.clone()).is_none() {
                cache.entries += 1;
            }
        }
        mac
    }

    fn derive(&self, collection: &str, field: &str) -> HmacSha256 {
        // Length-prefixed (u64 BE, so any length fits) to keep ("ab","c") and ("a","bc") apart.
        let collection_len = (collection.len() as u64).to_be_bytes();
        let field_len = (field.len() as u64).to_be_bytes();
        let key = kdf::expand_key(
            &self.root,
            &[
                LABEL_BLIND_INDEX,
                &collection_len,
                collection.as_bytes(),
                &field_len,
                field.as_bytes(),
            ],
        );
        kdf::hmac(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> BlindIndexKeys {
        BlindIndexKeys::new(&MasterKey::from_bytes(&[byte; 32]))
    }

    #[test]
    fn cached_and_fresh_derivations_agree() {
        let k = keys(1);
        let fresh = k.derive("users", "email");
        let first = k.index("users", "email", b"a@example.com");
        let cached = k.index("users", "email", b"a@example.com");
        let mut mac = fresh;
        mac.update(b"a@example.com");
        assert_eq!(first, cached);
        assert_eq!(first[..], mac.finalize().into_bytes()[..16]);
    }

    #[test]
    fn field_keys_are_length_prefixed() {
        let k = keys(1);
        assert_ne!(k.index("ab", "c", b"x"), k.index("a", "bc", b"x"));
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let k = keys(2);
        for i in 0..MAX_CACHED_FIELDS + 10 {
            k.index("c", &i.to_string(), b"x");
        }
        let entries = k.cache.read().unwrap().entries;
        assert_eq!(entries, MAX_CACHED_FIELDS);
        // Uncached fields still give the same answer every time.
        let name = (MAX_CACHED_FIELDS + 5).to_string();
        assert_eq!(k.index("c", &name, b"x"), k.index("c", &name, b"x"));
    }
}
