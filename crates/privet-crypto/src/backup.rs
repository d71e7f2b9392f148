//! Backup encryption: a per-backup key derived from a master key, and the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár: "Online authenticated-encryption and
//! its nonce-reuse misuse-resistance", RustCrypto `aead::stream::StreamBE32` over
//! AES-256-GCM) that encrypts a backup in chunks so that truncation, reordering, dropping or
//! changing any chunk is detected when it is read back.
//!
//! Every backup draws a random 32-byte salt; its key is HKDF-SHA256 over the master key with
//! the label `"privet backup v1"` followed by the salt, so two backups never share a key and
//! the STREAM nonce prefix (7 random bytes) never repeats under one key. A second HKDF
//! output (label `"privet backup-check v1"` + salt) is the backup's key-check value: stored in
//! the clear in the backup's header, it tells a wrong master key apart from a damaged file
//! and reveals nothing about the key.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{Payload, generic_array::GenericArray};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::kdf;
use crate::master::KEY_LEN;
use crate::{CryptoError, KeyVersion, Keyring};

/// HKDF label of a backup's encryption key (the backup's salt follows it).
const LABEL_BACKUP: &[u8] = b"privet backup v1";
/// HKDF label of a backup's key-check value (the backup's salt follows it).
const LABEL_BACKUP_CHECK: &[u8] = b"privet backup-check v1";

/// Length of a backup's random salt.
pub const BACKUP_SALT_LEN: usize = 32;
/// Length of the STREAM nonce prefix (AES-GCM's 12 bytes less STREAM's 5-byte counter+flag).
pub const BACKUP_NONCE_LEN: usize = 7;
/// Bytes the AEAD adds to each chunk (the GCM tag).
pub const BACKUP_TAG_LEN: usize = kdf::TAG_LEN;

/// The random parameters of one backup, stored in its header: salt and nonce prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupParams {
    /// HKDF salt of this backup's key.
    pub salt: [u8; BACKUP_SALT_LEN],
    /// STREAM nonce prefix.
    pub nonce: [u8; BACKUP_NONCE_LEN],
}

impl BackupParams {
    /// Fresh random parameters from the operating system.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see the crate docs).
    pub fn generate() -> BackupParams {
        let mut salt = [0u8; BACKUP_SALT_LEN];
        let mut nonce = [0u8; BACKUP_NONCE_LEN];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        BackupParams { salt, nonce }
    }
}

/// The key of one backup. `Debug` prints nothing of it; zeroized on drop.
pub struct BackupKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    check: [u8; 32],
    nonce: [u8; BACKUP_NONCE_LEN],
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey([redacted])")
    }
}

impl Keyring {
    /// The key of a backup made under master-key version `v` with `params`.
    pub fn backup_key(
        &self,
        v: KeyVersion,
        params: &BackupParams,
    ) -> Result<BackupKey, CryptoError> {
        let (_, master) = self
            .master_keys()
            .find(|(version, _)| *version == v)
            .ok_or(CryptoError::UnknownKeyVersion(v))?;
        let prk = kdf::master_prk(master);
        let key = kdf::expand_key(&prk, &[LABEL_BACKUP, &params.salt]);
        let check = *kdf::expand_key(&prk, &[LABEL_BACKUP_CHECK, &params.salt]);
        Ok(BackupKey {
            key,
            check,
            nonce: params.nonce,
        })
    }
}

impl BackupKey {
    /// The key-check value to store in the backup's header.
    pub fn check_value(&self) -> [u8; 32] {
        self.check
    }

    /// Whether `stored` is this key's check value (constant time): `false` means the master
    /// key is not the one the backup was made with.
    pub fn matches_check(&self, stored: &[u8]) -> bool {
        kdf::constant_time_eq(&self.check, stored)
    }

    /// The encryptor of the backup's chunks.
    pub fn encryptor(&self) -> BackupEncryptor {
        BackupEncryptor(Some(EncryptorBE32::new(
            GenericArray::from_slice(self.key.as_ref()),
            GenericArray::from_slice(&self.nonce),
        )))
    }

    /// The decryptor of the backup's chunks.
    pub fn decryptor(&self) -> BackupDecryptor {
        BackupDecryptor(Some(DecryptorBE32::new(
            GenericArray::from_slice(self.key.as_ref()),
            GenericArray::from_slice(&self.nonce),
        )))
    }
}

/// Encrypts a backup chunk by chunk: [`BackupEncryptor::next`] for every chunk but the last,
/// then [`BackupEncryptor::last`] exactly once. Every chunk is bound to `aad` (the backup's
/// header digest), its position and whether it is the last.
pub struct BackupEncryptor(Option<EncryptorBE32<Aes256Gcm>>);

impl std::fmt::Debug for BackupEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupEncryptor")
    }
}

impl BackupEncryptor {
    /// Encrypts one chunk that is not the last. Fails after `last`, or once the STREAM
    /// counter (2^32 chunks) is exhausted.
    pub fn next(&mut self, aad: &[u8], chunk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let enc = self.0.as_mut().ok_or(CryptoError::InputTooLarge)?;
        enc.encrypt_next(Payload { msg: chunk, aad })
            .map_err(|_| CryptoError::InputTooLarge)
    }

    /// Encrypts the last chunk (possibly empty) and ends the stream.
    pub fn last(&mut self, aad: &[u8], chunk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let enc = self.0.take().ok_or(CryptoError::InputTooLarge)?;
        enc.encrypt_last(Payload { msg: chunk, aad })
            .map_err(|_| CryptoError::InputTooLarge)
    }
}

/// Decrypts a backup chunk by chunk, mirroring [`BackupEncryptor`]: a chunk decrypts only
/// in its own position, and only the real last chunk decrypts with [`BackupDecryptor::last`],
/// so a file cut at a chunk boundary fails too.
pub struct BackupDecryptor(Option<DecryptorBE32<Aes256Gcm>>);

impl std::fmt::Debug for BackupDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupDecryptor")
    }
}

impl BackupDecryptor {
    /// Decrypts one chunk that is not the last; [`CryptoError::Decrypt`] if it was changed,
    /// moved, or is the last chunk.
    pub fn next(&mut self, aad: &[u8], chunk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let dec = self.0.as_mut().ok_or(CryptoError::Decrypt)?;
        dec.decrypt_next(Payload { msg: chunk, aad })
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Decrypts the last chunk; [`CryptoError::Decrypt`] if it is not the stream's last.
    pub fn last(&mut self, aad: &[u8], chunk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let dec = self.0.take().ok_or(CryptoError::Decrypt)?;
        dec.decrypt_last(Payload { msg: chunk, aad })
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::MasterKey;

    fn ring(byte: u8) -> Keyring {
        Keyring::from_master_keys(BTreeMap::from([(
            KeyVersion::V1,
            MasterKey::from_bytes(&[byte; 32]),
        )]))
        .unwrap()
    }

    fn encrypt(key: &BackupKey, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut enc = key.encryptor();
        let (last, rest) = chunks.split_last().unwrap();
        let mut out: Vec<_> = rest.iter().map(|c| enc.next(b"hdr", c).unwrap()).collect();
        out.push(enc.last(b"hdr", last).unwrap());
        out
    }

    fn decrypt(key: &BackupKey, chunks: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut dec = key.decryptor();
        let (last, rest) = chunks.split_last().unwrap();
        let mut out = Vec::new();
        for c in rest {
            out.push(dec.next(b"hdr", c)?);
        }
        out.push(dec.last(b"hdr", last)?);
        Ok(out)
    }

    #[test]
    fn chunks_round_trip_and_any_change_of_order_length_or_bytes_is_refused() {
        let params = BackupParams::generate();
        let key = ring(1).backup_key(KeyVersion::V1, &params).unwrap();
        let plain: Vec<&[u8]> = vec![b"one", b"two", b"three"];
        let ct = encrypt(&key, &plain);
        assert_eq!(decrypt(&key, &ct).unwrap(), plain);
        // Truncated at a chunk boundary: the new last chunk was not encrypted as last.
        assert!(decrypt(&key, &ct[..2]).is_err());
        // Reordered.
        assert!(decrypt(&key, &[ct[1].clone(), ct[0].clone(), ct[2].clone()]).is_err());
        // One bit flipped.
        let mut bad = ct.clone();
        bad[1][0] ^= 1;
        assert!(decrypt(&key, &bad).is_err());
        // Another header (AAD).
        let mut dec = key.decryptor();
        assert!(dec.next(b"other", &ct[0]).is_err());
    }

    #[test]
    fn another_master_key_or_salt_gives_another_key_and_fails_the_check() {
        let params = BackupParams::generate();
        let key = ring(1).backup_key(KeyVersion::V1, &params).unwrap();
        let wrong = ring(2).backup_key(KeyVersion::V1, &params).unwrap();
        assert!(key.matches_check(&key.check_value()));
        assert!(!wrong.matches_check(&key.check_value()));
        let ct = encrypt(&key, &[b"data"]);
        assert!(decrypt(&wrong, &ct).is_err());
        let other_salt = ring(1)
            .backup_key(KeyVersion::V1, &BackupParams::generate())
            .unwrap();
        assert!(!other_salt.matches_check(&key.check_value()));
        assert!(ring(1).backup_key(KeyVersion(2), &params).is_err());
        assert_eq!(format!("{key:?}"), "BackupKey([redacted])");
    }
}
