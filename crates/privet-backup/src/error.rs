//! The one error type of this crate. Variants name files, chunks and subject ids, never
//! personal values or key material.

use std::path::PathBuf;

/// Why a backup, a verification, a restore or a ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file does not start like a Privet backup.
    #[error("{0} is not a Privet backup file")]
    NotABackup(PathBuf),
    /// A backup format this build does not read.
    #[error("backup format {0} is not supported by this build of Privet")]
    UnsupportedFormat(u32),
    /// The master key given is not the one the backup was made with.
    #[error(
        "wrong master key: this backup was made under master key {version} of another vault \
         (its key-check value does not match); give the key of the vault that made it"
    )]
    WrongKey {
        /// The key version the backup names.
        version: String,
    },
    /// The keyring lacks the master-key version the backup was made under.
    #[error("the backup was made under master key {0}, which the given keys do not include")]
    MissingKeyVersion(String),
    /// The file ends early.
    #[error(
        "the backup is truncated: it ends inside chunk {chunk} (or before its final chunk); \
         nothing can be trusted from it"
    )]
    Truncated {
        /// The 0-based chunk being read.
        chunk: u64,
    },
    /// A chunk failed authentication.
    #[error(
        "the backup is damaged: chunk {chunk} failed authentication (the file was altered, \
         reordered or cut at a chunk boundary)"
    )]
    Damaged {
        /// The 0-based chunk that failed.
        chunk: u64,
    },
    /// The header (manifest) cannot be parsed.
    #[error("the backup's header is malformed: {0}")]
    BadHeader(String),
    /// The decrypted payload does not match its manifest or is malformed.
    #[error("the backup's contents do not match its manifest: {0}")]
    Mismatch(String),
    /// The vault could not plan the replay of an erasure from the ledger.
    #[error("cannot replay the erasure of {subject} from the erasure ledger: {reason}")]
    Replay {
        /// The subject.
        subject: privet_core::SubjectId,
        /// Why.
        reason: String,
    },
    /// A line of the ledger cannot be parsed.
    #[error("erasure ledger {path}, line {line}: {reason}", path = path.display())]
    LedgerMalformed {
        /// The ledger file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the line's text).
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{what} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Key derivation or encryption failed.
    #[error(transparent)]
    Crypto(#[from] privet_crypto::CryptoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] privet_store::StoreError),
}

impl BackupError {
    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}
