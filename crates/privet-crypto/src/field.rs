//! Subject keys (DEKs) and field encryption.
//!
//! Ciphertext format v1: `0x01` (AES-256-GCM, AAD layout v1) || 12-byte random nonce ||
//! ciphertext || 16-byte tag. The same sealed layout carries wrapped subject keys.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::generic_array::GenericArray;
use privet_core::Sensitive;
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::aad::FieldAad;
use crate::error::CryptoError;
use crate::kdf::{self, NONCE_LEN, TAG_LEN};
use crate::master::KEY_LEN;

/// Format byte of v1: AES-256-GCM with a 96-bit random nonce, AAD layout v1.
pub(crate) const FORMAT_V1: u8 = 0x01;
/// Format byte plus nonce.
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// Bytes a sealed value adds to its plaintext.
pub(crate) const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The largest plaintext AES-GCM encrypts under one nonce (2^36 bytes, NIST SP 800-38D).
const MAX_PLAINTEXT: u64 = 1 << 36;

/// A data subject's own key: 256 random bits. Stored only wrapped by the master key;
/// destroying it erases every value encrypted under it.
///
/// Zeroized on drop; `Debug` prints `[redacted]`; no `PartialEq`, no `Clone`.
pub struct SubjectKey(Zeroizing<[u8; KEY_LEN]>);

impl SubjectKey {
    /// A fresh random subject key.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see the crate docs).
    pub fn generate() -> SubjectKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        SubjectKey(key)
    }

    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> SubjectKey {
        SubjectKey(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A prepared cipher for this subject: expands the key once, then encrypts and decrypts
    /// any number of fields. Prefer it over the one-shot methods when handling a record.
    pub fn cipher(&self) -> FieldCipher {
        FieldCipher {
            aead: kdf::aes_gcm(&self.0),
        }
    }

    /// Encrypts one field value (one-shot; see [`FieldCipher::encrypt_field`]).
    ///
    /// # Panics
    /// As [`FieldCipher::encrypt_field`].
    pub fn encrypt_field(&self, aad: &FieldAad<'_>, plaintext: &[u8]) -> Vec<u8> {
        self.cipher().encrypt_field(aad, plaintext)
    }

    /// Encrypts one field value, returning an error instead of panicking on oversize input.
    pub fn try_encrypt_field(
        &self,
        aad: &FieldAad<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.cipher().try_encrypt_field(aad, plaintext)
    }

    /// Decrypts one field value (one-shot; see [`FieldCipher::decrypt_field`]).
    pub fn decrypt_field(
        &self,
        aad: &FieldAad<'_>,
        ciphertext: &[u8],
    ) -> Result<Sensitive<Vec<u8>>, CryptoError> {
        self.cipher().decrypt_field(aad, ciphertext)
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey([redacted])")
    }
}

/// One subject's key with its AES key schedule already expanded.
pub struct FieldCipher {
    aead: Aes256Gcm,
}

impl FieldCipher {
    /// Encrypts one field value under a fresh random nonce, bound to `aad`.
    ///
    /// Returns `0x01 || nonce || ciphertext || tag`.
    ///
    /// # Panics
    /// If the plaintext or a name in `aad` exceeds AES-GCM's limits (64 GiB; 4 GiB for a
    /// name), or the operating system's random number generator fails. Callers that accept
    /// unbounded input should use [`FieldCipher::try_encrypt_field`].
    #[expect(
        clippy::expect_used,
        reason = "documented: only inputs beyond AES-GCM's 64 GiB limit"
    )]
    pub fn encrypt_field(&self, aad: &FieldAad<'_>, plaintext: &[u8]) -> Vec<u8> {
        self.try_encrypt_field(aad, plaintext)
            .expect("field value within AES-GCM limits")
    }

    /// Encrypts one field value; [`CryptoError::InputTooLarge`] beyond AES-GCM's limits.
    pub fn try_encrypt_field(
        &self,
        aad: &FieldAad<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal(&self.aead, &aad.encode()?, plaintext)
    }

    /// Decrypts one field value encrypted under the same key and the same `aad`.
    ///
    /// Errors: [`CryptoError::UnsupportedFormat`] for an unknown format byte,
    /// [`CryptoError::Decrypt`] for anything else (truncated, altered, other key or context).
    pub fn decrypt_field(
        &self,
        aad: &FieldAad<'_>,
        ciphertext: &[u8],
    ) -> Result<Sensitive<Vec<u8>>, CryptoError> {
        // A name too long to encode cannot have been used to encrypt.
        let aad = aad.encode().map_err(|_| CryptoError::Decrypt)?;
        open(&self.aead, &aad, ciphertext)
    }
}

impl fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FieldCipher([redacted])")
    }
}

/// Encrypts `plaintext` under a fresh nonce: `FORMAT_V1 || nonce || ciphertext || tag`.
pub(crate) fn seal(aead: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() as u64 > MAX_PLAINTEXT {
        return Err(CryptoError::InputTooLarge);
    }
    let nonce = kdf::random_nonce();
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let body = &mut out[HEADER_LEN..];
    match aead.encrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, body) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            // The buffer may still hold plaintext.
            out.zeroize();
            Err(CryptoError::InputTooLarge)
        }
    }
}

/// Checks the format byte, then authenticates and decrypts. Never panics on any input.
pub(crate) fn open(
    aead: &Aes256Gcm,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Sensitive<Vec<u8>>, CryptoError> {
    let (&format, rest) = sealed.split_first().ok_or(CryptoError::Decrypt)?;
    if format != FORMAT_V1 {
        return Err(CryptoError::UnsupportedFormat(format));
    }
    let (nonce, rest) = rest
        .split_at_checked(NONCE_LEN)
        .ok_or(CryptoError::Decrypt)?;
    let body_len = rest
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::Decrypt)?;
    let (body, tag) = rest
        .split_at_checked(body_len)
        .ok_or(CryptoError::Decrypt)?;
    // Wrapped at once so the buffer is zeroized whether or not decryption succeeds.
    let mut buf = Sensitive::new(body.to_vec());
    aead.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        aad,
        buf.expose_mut(),
        GenericArray::from_slice(tag),
    )
    .map_err(|_| CryptoError::Decrypt)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_have_the_documented_layout() {
        let aead = kdf::aes_gcm(&[9; 32]);
        let sealed = seal(&aead, b"ctx", b"hello").unwrap();
        assert_eq!(sealed.len(), OVERHEAD + 5);
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(sealed.capacity(), sealed.len(), "one exact allocation");
        assert_eq!(open(&aead, b"ctx", &sealed).unwrap().expose(), b"hello");
    }

    #[test]
    fn two_encryptions_of_one_value_differ() {
        let aead = kdf::aes_gcm(&[9; 32]);
        assert_ne!(
            seal(&aead, b"", b"same").unwrap(),
            seal(&aead, b"", b"same").unwrap()
        );
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let aead = kdf::aes_gcm(&[9; 32]);
        let sealed = seal(&aead, b"", b"").unwrap();
        assert_eq!(sealed.len(), OVERHEAD);
        assert!(open(&aead, b"", &sealed).unwrap().expose().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let aead = kdf::aes_gcm(&[9; 32]);
        let sealed = seal(&aead, b"", b"some value").unwrap();
        for len in 0..sealed.len() {
            assert!(
                matches!(open(&aead, b"", &sealed[..len]), Err(CryptoError::Decrypt)),
                "len {len}"
            );
        }
    }

    #[test]
    fn subject_key_debug_is_redacted() {
        use base64::Engine;
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(5));
        let key = SubjectKey::from_bytes(Zeroizing::new(bytes));
        let shown = format!("{key:?} {key:#?} {:?}", key.cipher());
        assert_eq!(
            shown,
            "SubjectKey([redacted]) SubjectKey([redacted]) FieldCipher([redacted])"
        );
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.to_lowercase().contains(&hex[..8]));
        assert!(!shown.contains(&base64::engine::general_purpose::STANDARD.encode(bytes)[..8]));
    }
}
