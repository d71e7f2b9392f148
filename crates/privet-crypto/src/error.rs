//! The one error type of this crate.
//!
//! Variants carry paths, variable names, line numbers and key versions so an operator can
//! act on them. They never carry key bytes, plaintext, ciphertext details or the text of a
//! key-file line, and `Decrypt` is deliberately opaque.

use std::path::PathBuf;

use crate::master::KeyVersion;

/// Everything that can go wrong in key handling and encryption.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key file does not exist.
    #[error(
        "key file {path} does not exist: create one with `privet init`",
        path = path.display()
    )]
    KeyFileMissing {
        /// The path that was looked for.
        path: PathBuf,
    },

    /// The key file can be read or written by the group or by others.
    #[error(
        "key file {path} is group/world accessible (mode {mode:04o}): run chmod 600 {path}",
        path = path.display()
    )]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o7777`).
        mode: u32,
    },

    /// A line of the key file could not be parsed. The line itself is never echoed.
    #[error("key file {path}, line {line}: {reason}", path = path.display())]
    KeyFileMalformed {
        /// The key file.
        path: PathBuf,
        /// The 1-based line number; 0 when the problem is the file as a whole.
        line: usize,
        /// What is wrong, in fixed words (never the content of the line).
        reason: String,
    },

    /// `KeyFile::create` found a file already at the path and left it untouched.
    #[error("key file {path} already exists: refusing to overwrite it", path = path.display())]
    KeyFileExists {
        /// The existing file.
        path: PathBuf,
    },

    /// Replacing the key file would drop or change a master key the file holds, which
    /// would make data wrapped under it unreadable. Nothing was written.
    #[error(
        "replacing key file {path} would lose or change master key {version}: refusing",
        path = path.display()
    )]
    KeyFileWouldLoseKey {
        /// The key file.
        path: PathBuf,
        /// The version that the new keyring lacks or holds with different key bytes.
        version: KeyVersion,
    },

    /// The key environment variable is not set.
    #[error("environment variable {var} is not set")]
    EnvKeyMissing {
        /// The variable name.
        var: String,
    },

    /// The key environment variable is set but does not hold keys in the expected form.
    #[error(
        "environment variable {var}: {reason} (expected `<base64>` or `v1:<base64>,v2:<base64>`)"
    )]
    EnvKeyMalformed {
        /// The variable name.
        var: String,
        /// What is wrong, in fixed words (never the value).
        reason: String,
    },

    /// A keyring was built from no master key at all.
    #[error("no master key was provided")]
    NoMasterKey,

    /// The loaded master key does not match the key-check value stored with the vault.
    #[error("master key {version} does not match this vault's key-check value: wrong key file?")]
    WrongKey {
        /// The version whose check failed.
        version: KeyVersion,
    },

    /// Data refers to a master-key version the keyring does not hold.
    #[error("master key {0} is not in the keyring")]
    UnknownKeyVersion(KeyVersion),

    /// Authenticated decryption failed: wrong key, wrong context, or altered or truncated
    /// data. Deliberately says nothing more.
    #[error("decryption failed")]
    Decrypt,

    /// The ciphertext starts with a format byte this version does not know.
    #[error("unsupported ciphertext format {0:#04x}")]
    UnsupportedFormat(u8),

    /// The plaintext or its context exceeds what AES-GCM can encrypt under one nonce (64 GiB),
    /// or a context part is longer than its 32-bit length prefix allows.
    #[error("input too large to encrypt")]
    InputTooLarge,

    /// A signing key was given a name that c2sp.org/signed-note does not allow (empty, or
    /// holding white space, `+` or a control character). Key names are public.
    #[error(
        "invalid signing key name {name:?}: it must be non-empty and contain no spaces, `+` or control characters"
    )]
    InvalidSignerName {
        /// The refused name.
        name: String,
    },

    /// Bytes that are not a usable Ed25519 public key (not a curve point, or a small-order
    /// point).
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,

    /// An Ed25519 signature did not verify.
    #[error("signature verification failed")]
    BadSignature,

    /// A configured shared secret (webhook signing key, metrics token) is too short to be
    /// one.
    #[error(
        "the secret in {origin} is shorter than {min} bytes: use e.g. 32 random bytes, hex-encoded"
    )]
    WeakSecret {
        /// Where it came from (a path or a variable name).
        origin: String,
        /// The least accepted length.
        min: usize,
    },

    /// Reading or writing a key file failed.
    #[error("i/o error on {path}: {source}", path = path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
