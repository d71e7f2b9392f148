//! Where master keys come from: the [`KeyProvider`] trait and its implementations.
//!
//! Providers only read and parse; every error names its source (path or variable and the
//! line or entry) in fixed words, never the key text.

mod env;
mod keyfile;

pub use env::EnvKey;
pub use keyfile::KeyFile;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::keyring::Keyring;
use crate::master::{KEY_LEN, MasterKey};

/// A source of master keys: a key file, an environment variable, later a KMS.
///
/// Implementations outside this crate build their keyring with
/// [`Keyring::from_master_keys`].
pub trait KeyProvider: Send + Sync {
    /// Reads and parses the keys. Never logs or echoes key material.
    fn load(&self) -> Result<Keyring, CryptoError>;

    /// Where the keys come from, for status output and errors (`key file /etc/privet/key`).
    /// Never includes key material.
    fn describe(&self) -> String;
}

/// Decodes one master key from standard, padded base64 (44 characters), or says why not
/// in fixed words.
fn decode_key(text: &str) -> Result<MasterKey, &'static str> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| "key is not valid base64")?,
    );
    MasterKey::from_slice(&bytes).ok_or("key is not 32 bytes (256 bits)")
}

/// Encodes one master key as standard, padded base64.
fn encode_key(key: &MasterKey) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(44));
    STANDARD.encode_string(key.expose().as_slice(), &mut out);
    out
}

// `encode_key` reserves exactly the 44 characters a 32-byte key encodes to.
const _: () = assert!(KEY_LEN.div_ceil(3) * 4 == 44);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_base64() {
        let key = MasterKey::from_bytes(&[0x5A; 32]);
        let text = encode_key(&key);
        assert_eq!(text.len(), 44);
        assert_eq!(decode_key(&text).unwrap().expose(), key.expose());
    }

    #[test]
    fn bad_key_text_is_refused_in_fixed_words() {
        assert_eq!(
            decode_key("not base64!").unwrap_err(),
            "key is not valid base64"
        );
        assert_eq!(
            decode_key("AAAA").unwrap_err(),
            "key is not 32 bytes (256 bits)"
        );
        assert!(decode_key("").is_err());
    }
}
