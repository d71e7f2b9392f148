//! Key derivation and the small helpers every other module shares.
//!
//! Every derived key comes from HKDF-SHA256 over a master key with a distinct label, so
//! keys for different jobs (wrapping, key check, blind indexes, API keys) are independent.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use aes_gcm::aead::generic_array::GenericArray;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::master::{KEY_LEN, MasterKey};

/// HMAC-SHA256, the MAC behind key checks, blind indexes and API-key hashes.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// HKDF label of the key that wraps subject keys.
pub(crate) const LABEL_DEK_WRAP: &[u8] = b"privet dek-wrap v1";
/// HKDF label of the key behind the key-check value.
pub(crate) const LABEL_KEY_CHECK: &[u8] = b"privet key-check v1";
/// HKDF label of the root of all blind-index keys; collection and field follow it.
pub(crate) const LABEL_BLIND_INDEX: &[u8] = b"privet blind-index v1";
/// HKDF label of the API-key hashing secret.
pub(crate) const LABEL_API_KEY: &[u8] = b"privet api-key v1";
/// HKDF label of a role's token key; the role name follows, length-prefixed (u64 BE).
pub(crate) const LABEL_TOKEN: &[u8] = b"privet token v1";
/// HKDF label of the key that seals notification recipients in the outbox.
pub(crate) const LABEL_OUTBOX: &[u8] = b"privet outbox v1";
/// The fixed message whose MAC is the key-check value.
pub(crate) const KEY_CHECK_MESSAGE: &[u8] = b"privet/key-check/v1";

/// Length of an AES-GCM nonce in bytes.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// The HKDF-SHA256 state (its PRK) of one master key; derive as many keys from it as needed.
pub(crate) fn master_prk(master: &MasterKey) -> Hkdf<Sha256> {
    // The master key is already uniformly random, so no salt is needed (RFC 5869 §3.1).
    Hkdf::<Sha256>::new(None, master.expose())
}

/// HKDF-Expand to one 256-bit key; `info` parts are concatenated.
#[expect(
    clippy::expect_used,
    reason = "HKDF-SHA256 refuses only outputs over 8160 bytes; this one is always 32"
)]
pub(crate) fn expand_key(hkdf: &Hkdf<Sha256>, info: &[&[u8]]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hkdf.expand_multi_info(info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// A prepared HMAC-SHA256 keyed with `key`; clone it per message.
#[expect(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length; new_from_slice never fails for Hmac<Sha256>"
)]
pub(crate) fn hmac(key: &[u8; KEY_LEN]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// An AES-256-GCM instance with its key schedule expanded once.
pub(crate) fn aes_gcm(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(GenericArray::from_slice(key))
}

/// A fresh random 96-bit nonce.
///
/// Random nonces are safe here because one key encrypts few values: a subject key encrypts
/// that subject's fields, and a wrapping key at most one key per subject per rotation.
///
/// Nonces are drawn from the operating system's generator in 3 KiB refills per thread rather
/// than one system call each: a bulk import encrypts hundreds of thousands of fields a second,
/// and nonces are public (they sit beside their ciphertexts), so the pool holds nothing secret.
/// Each pooled byte is handed out once. (Privet never forks, so no two processes share a pool.)
pub(crate) fn random_nonce() -> [u8; NONCE_LEN] {
    const POOL: usize = 256 * NONCE_LEN;
    thread_local! {
        static NONCES: std::cell::RefCell<([u8; POOL], usize)> =
            const { std::cell::RefCell::new(([0u8; POOL], POOL)) };
    }
    NONCES.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (buf, at) = &mut *pool;
        if *at + NONCE_LEN > POOL {
            OsRng.fill_bytes(buf);
            *at = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&buf[*at..*at + NONCE_LEN]);
        *at += NONCE_LEN;
        nonce
    })
}

/// Compares two byte strings in constant time (for equal lengths; a length mismatch is
/// not secret and returns `false` at once).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_nonces_never_repeat_across_refills() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            assert!(seen.insert(random_nonce()), "a nonce was handed out twice");
        }
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn derived_keys_differ_per_label_and_per_master_key() {
        let a = master_prk(&MasterKey::from_bytes(&[1; 32]));
        let b = master_prk(&MasterKey::from_bytes(&[2; 32]));
        let wrap = expand_key(&a, &[LABEL_DEK_WRAP]);
        assert_ne!(*wrap, *expand_key(&a, &[LABEL_KEY_CHECK]));
        assert_ne!(*wrap, *expand_key(&b, &[LABEL_DEK_WRAP]));
        assert_eq!(*wrap, *expand_key(&a, &[LABEL_DEK_WRAP]));
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_3() {
        // RFC 5869 A.3: SHA-256, 22-byte IKM of 0x0b, no salt, no info, L = 42.
        let hk = Hkdf::<Sha256>::new(None, &[0x0b; 22]);
        let mut okm = [0u8; 42];
        hk.expand(&[], &mut okm).unwrap();
        let expected = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
                        9d201395faa4b61a96c8";
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
