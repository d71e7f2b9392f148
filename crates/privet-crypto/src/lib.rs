//! Privet's key hierarchy and encryption.
//!
//! This crate owns the master keys (KEKs) and where they come from ([`KeyProvider`]:
//! [`KeyFile`], [`EnvKey`]), the [`Keyring`] and everything derived from it (wrapping of
//! subject keys, key-check values, blind indexes, API-key hashes, per-role tokens
//! ([`Tokenizer`])), subject keys (DEKs) and field encryption ([`SubjectKey`],
//! [`FieldCipher`]), API-key generation, and the Ed25519 signing key of audit checkpoints
//! and receipts ([`NoteSigner`], kept in its own 0600 [`SigningKeyFile`], apart from the
//! master key), and the shared secrets operators configure for integrations
//! ([`SharedSecret`]: the key that signs alert webhooks, the token that guards metrics).
//!
//! It must never: implement a cryptographic primitive itself (AES-256-GCM, HKDF-SHA256 and
//! HMAC-SHA256 are RustCrypto, Ed25519 is ed25519-dalek), log or print key material or
//! plaintext, put key bytes, personal values or key-file lines into an error, panic on
//! malformed input (key files, environment values, ciphertexts, wrapped keys, presented API
//! keys, public keys, signatures), or compare secrets in variable time. It does no storage and knows nothing of schemas or HTTP.
//!
//! # Formats
//! - Field ciphertext and wrapped keys: `0x01` || 12-byte random nonce || AES-256-GCM
//!   ciphertext || 16-byte tag. The first byte names the algorithm and AAD layout.
//! - Field AAD: `"privet/field/v1"` then collection, record id, field and subject id, each
//!   length-prefixed (u32 BE). Wrapped-key AAD: `"privet/dek/v1"` || subject id || version;
//!   a retention-class key's: `"privet/class-dek/v1"` || subject id || version || class
//!   (length-prefixed u32 BE).
//! - Derived keys: HKDF-SHA256 over a master key with labels `"privet dek-wrap v1"`,
//!   `"privet key-check v1"`, `"privet blind-index v1"` (+ collection and field, each
//!   length-prefixed u64 BE), `"privet api-key v1"` and `"privet token v1"` (+ role name,
//!   length-prefixed u64 BE), and `"privet portal v1"` (the portal's MAC, [`PortalKey`]).
//! - Tokens: `tok_` + hex of the first 16 bytes of HMAC-SHA256 over collection, field and
//!   normalized value, each length-prefixed (u64 BE).
//! - Backups: HKDF labels `"privet backup v1"` and `"privet backup-check v1"`, each + the
//!   backup's salt; chunks under STREAM (`aead::stream::StreamBE32`) over AES-256-GCM.
//! - Signing-key file: `privet-signing-key v1 <name> <base64 seed>` (see [`SigningKeyFile`]).
//! - Webhook signature: `Privet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over
//!   "<t>.<body>" under the shared secret>` (see [`SharedSecret::sign_webhook`]).
//!
//! # Randomness and zeroization
//! Keys and nonces come from the operating system ([`rand_core::OsRng`]). If it fails,
//! the generating functions panic rather than return weak keys; that is the only panic
//! besides [`FieldCipher::encrypt_field`] on inputs over AES-GCM's 64 GiB limit.
//! Key bytes live in zeroizing buffers. The expanded AES key schedules and prepared HMAC
//! states inside [`Keyring`] and [`FieldCipher`] are not zeroized by the RustCrypto
//! versions in use (aes without its `zeroize` feature, hmac 0.12 has none).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod aad;
mod apikey;
mod backup;
mod blind;
mod error;
mod field;
mod kdf;
mod keyring;
mod master;
mod portal;
mod provider;
mod secret_file;
mod shared_secret;
mod signing;
mod token;

pub use aad::FieldAad;
pub use apikey::{ApiKey, api_key_prefix, generate_api_key};
pub use backup::{
    BACKUP_NONCE_LEN, BACKUP_SALT_LEN, BACKUP_TAG_LEN, BackupDecryptor, BackupEncryptor, BackupKey,
    BackupParams,
};
pub use blind::BLIND_INDEX_LEN;
pub use error::CryptoError;
pub use field::{FieldCipher, SubjectKey};
pub use kdf::constant_time_eq;
pub use keyring::{Keyring, WrappedKey};
pub use master::{KeyVersion, KeyVersionParseError, MasterKey};
pub use portal::{PORTAL_TAG_LEN, PortalKey, random_portal_id};
pub use privet_core::Sensitive;
pub use provider::{EnvKey, KeyFile, KeyProvider};
pub use shared_secret::{SharedSecret, verify_webhook_signature};
pub use signing::{NoteSigner, SignerPublicKey, SigningKeyFile, is_valid_signer_name};
pub use token::{TOKEN_BYTES, TOKEN_PREFIX, Tokenizer};
