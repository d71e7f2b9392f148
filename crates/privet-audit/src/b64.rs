//! Hashes as standard, padded base64 (RFC 4648 §4), decoded strictly: the one canonical
//! spelling of exactly 32 bytes, nothing else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::hash::Hash;

/// Standard base64 of a hash (44 characters).
pub(crate) fn encode_hash(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// The hash that `text` is the canonical standard base64 of, if any.
pub(crate) fn decode_hash(text: &str) -> Option<Hash> {
    // 32 bytes are always 44 characters; refusing other lengths first bounds the work.
    if text.len() != 44 {
        return None;
    }
    let bytes = STANDARD.decode(text).ok()?;
    bytes.try_into().ok()
}

/// Serde for one hash as a base64 string.
pub(crate) mod hash {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::hash::Hash;

    pub(crate) fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_hash(hash))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode_hash(&text)
            .ok_or_else(|| de::Error::custom("expected the standard base64 of a 32-byte hash"))
    }
}

/// Serde for a list of hashes as base64 strings.
pub(crate) mod hashes {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::hash::Hash;

    pub(crate) fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hashes.len()))?;
        for h in hashes {
            seq.serialize_element(&super::encode_hash(h))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts = <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                super::decode_hash(t).ok_or_else(|| {
                    de::Error::custom("expected the standard base64 of a 32-byte hash")
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_decode_only_from_their_canonical_spelling() {
        let h = [0xAB; 32];
        let text = encode_hash(&h);
        assert_eq!(text.len(), 44);
        assert_eq!(decode_hash(&text), Some(h));
        // Unpadded, URL-safe, with white space, wrong length, non-zero trailing bits.
        let mut bad = vec![
            text.trim_end_matches('=').to_owned(),
            format!(" {text}"),
            format!("{text}\n"),
            encode_hash(&[0xFF; 32]).replace('/', "_"),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            String::new(),
        ];
        let mut trailing = text.into_bytes();
        // The third character of the last group carries 4 bits and 2 zero bits: for 0xABAB
        // it is 's' (101100); 't' (101101) decodes to the same bytes with a stray bit set.
        assert_eq!(trailing[42], b's');
        trailing[42] = b't';
        bad.push(String::from_utf8(trailing).unwrap());
        for t in bad {
            assert_eq!(decode_hash(&t), None, "{t:?}");
        }
    }
}
