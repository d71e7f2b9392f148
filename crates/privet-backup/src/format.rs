//! The backup file: `PRIVETBK` and a format number (u32 BE), the header (the [`Manifest`],
//! JSON, u32 BE length first), then the payload as STREAM chunks, each a u32 BE length and
//! the AES-256-GCM ciphertext of up to [`CHUNK_LEN`] bytes.
//!
//! The header holds no personal data (times, versions, table names and row counts, the
//! audit tree's size and root, the salt, nonce prefix and key-check value). It is
//! authenticated: every chunk's associated data is SHA-256 of the magic, format and header
//! bytes, so a changed header fails the first chunk. The payload is the data-dir files the
//! backup carries, then the backend's dump; see `privet backup` in the CLI.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use privet_crypto::{
    BACKUP_TAG_LEN, BackupDecryptor, BackupEncryptor, BackupParams, KeyVersion, Keyring,
};
use privet_store::SnapshotInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::BackupError;

const MAGIC: &[u8; 8] = b"PRIVETBK";
const FORMAT: u32 = 1;
/// Plaintext bytes per chunk.
pub const CHUNK_LEN: usize = 64 * 1024;
const MAX_HEADER: u32 = 4 << 20;

/// A table and its row count in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
}

/// What a backup is: readable without the key (it holds no personal data), authenticated
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// When the snapshot was taken (before it was read, so everything after this time that
    /// the ledger records is newer than the backup).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The Privet version that wrote it.
    pub privet_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The store's schema version and its migrations by name.
    pub schema_version: u32,
    /// Migrations applied.
    pub migrations: Vec<String>,
    /// Every table with its row count.
    pub tables: Vec<TableCount>,
    /// Audit tree size at the snapshot.
    pub audit_size: u64,
    /// Audit tree root (base64).
    pub audit_root: String,
    /// The erasure ledger of the vault that made it (absolute path), if it had one.
    pub ledger: Option<String>,
    /// Data-dir files carried (config, schema, signing keys; never the master key).
    pub files: Vec<String>,
    /// The master-key version the backup key is derived from.
    pub key_version: String,
    /// HKDF salt (base64).
    pub salt: String,
    /// STREAM nonce prefix (base64).
    pub nonce: String,
    /// The backup key's check value (base64).
    pub key_check: String,
    /// Plaintext bytes per chunk.
    pub chunk_len: u32,
}

impl Manifest {
    /// A manifest for `info` (crypto fields are filled in by [`BackupWriter::start`]).
    pub fn new(
        info: &SnapshotInfo,
        created_at: OffsetDateTime,
        ledger: Option<&Path>,
        files: Vec<String>,
    ) -> Manifest {
        Manifest {
            created_at,
            privet_version: env!("CARGO_PKG_VERSION").into(),
            backend: info.backend.clone(),
            schema_version: info.schema_version,
            migrations: info.migrations.clone(),
            tables: info
                .tables
                .iter()
                .map(|(name, rows)| TableCount {
                    name: name.clone(),
                    rows: *rows,
                })
                .collect(),
            audit_size: info.audit_size,
            audit_root: B64.encode(info.audit_root),
            ledger: ledger.map(|p| p.display().to_string()),
            files,
            key_version: String::new(),
            salt: String::new(),
            nonce: String::new(),
            key_check: String::new(),
            chunk_len: CHUNK_LEN as u32,
        }
    }

    /// Total rows in the snapshot.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Rows of one table (0 if the backup has no such table).
    pub fn rows_of(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.name == table)
            .map_or(0, |t| t.rows)
    }

    fn params(&self) -> Result<BackupParams, BackupError> {
        let bad = |what: &str| BackupError::BadHeader(format!("{what} is not valid"));
        let salt = B64.decode(&self.salt).map_err(|_| bad("salt"))?;
        let nonce = B64.decode(&self.nonce).map_err(|_| bad("nonce"))?;
        Ok(BackupParams {
            salt: salt.try_into().map_err(|_| bad("salt"))?,
            nonce: nonce.try_into().map_err(|_| bad("nonce"))?,
        })
    }
}

fn aad_of(header: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(FORMAT.to_be_bytes());
    h.update(header);
    h.finalize().into()
}

/// Writes a backup: header, then whatever is written to it, encrypted in chunks. Call
/// [`BackupWriter::finish`] at the end: a writer dropped without it leaves a file whose last
/// chunk is missing, which every reader refuses.
pub struct BackupWriter<W: Write> {
    out: W,
    enc: BackupEncryptor,
    aad: [u8; 32],
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> std::fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupWriter")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BackupWriter<W> {
    /// Writes the header of `manifest` (with fresh salt and nonce, under the keyring's
    /// current master key) to `out`; returns the writer and the manifest as written.
    pub fn start(
        mut out: W,
        keys: &Keyring,
        mut manifest: Manifest,
    ) -> Result<(BackupWriter<W>, Manifest), BackupError> {
        let params = BackupParams::generate();
        let version = keys.current();
        let key = keys.backup_key(version, &params)?;
        manifest.key_version = version.to_string();
        manifest.salt = B64.encode(params.salt);
        manifest.nonce = B64.encode(params.nonce);
        manifest.key_check = B64.encode(key.check_value());
        manifest.chunk_len = CHUNK_LEN as u32;
        let header =
            serde_json::to_vec(&manifest).map_err(|e| BackupError::BadHeader(e.to_string()))?;
        let io = |e| BackupError::io("cannot write the backup", Path::new("-"), e);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&FORMAT.to_be_bytes()).map_err(io)?;
        out.write_all(&(header.len() as u32).to_be_bytes())
            .map_err(io)?;
        out.write_all(&header).map_err(io)?;
        let writer = BackupWriter {
            out,
            enc: key.encryptor(),
            aad: aad_of(&header),
            buf: Vec::with_capacity(CHUNK_LEN),
            written: (MAGIC.len() + 8 + header.len()) as u64,
        };
        Ok((writer, manifest))
    }

    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        let ct = if last {
            self.enc.last(&self.aad, &self.buf)
        } else {
            self.enc.next(&self.aad, &self.buf)
        }
        .map_err(std::io::Error::other)?;
        self.out.write_all(&(ct.len() as u32).to_be_bytes())?;
        self.out.write_all(&ct)?;
        self.written += 4 + ct.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Bytes written to the file so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Encrypts the last chunk, flushes, and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.emit(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for BackupWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_LEN - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_LEN {
            self.emit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // A chunk is written only when full (or at the end): flushing early would make
        // chunk boundaries depend on callers.
        Ok(())
    }
}

/// Reads a backup's header (no key needed): the manifest and the associated data of its
/// chunks.
pub(crate) fn read_header(
    input: &mut dyn Read,
    path: &Path,
) -> Result<(Manifest, [u8; 32]), BackupError> {
    let not = || BackupError::NotABackup(path.to_path_buf());
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(|_| not())?;
    if &magic != MAGIC {
        return Err(not());
    }
    let mut four = [0u8; 4];
    input
        .read_exact(&mut four)
        .map_err(|_| BackupError::Truncated { chunk: 0 })?;
    let format = u32::from_be_bytes(four);
    if format != FORMAT {
        return Err(BackupError::UnsupportedFormat(format));
    }
    input
        .read_exact(&mut four)
        .map_err(|_| BackupError::Truncated { chunk: 0 })?;
    let len = u32::from_be_bytes(four);
    if len > MAX_HEADER {
        return Err(BackupError::BadHeader("it is too long".into()));
    }
    let mut header = vec![0u8; len as usize];
    input
        .read_exact(&mut header)
        .map_err(|_| BackupError::Truncated { chunk: 0 })?;
    let manifest: Manifest =
        serde_json::from_slice(&header).map_err(|e| BackupError::BadHeader(e.to_string()))?;
    if manifest.chunk_len as usize != CHUNK_LEN {
        return Err(BackupError::BadHeader("unexpected chunk length".into()));
    }
    Ok((manifest, aad_of(&header)))
}

/// Reads and decrypts a backup's payload, chunk by chunk, refusing it at the first chunk
/// that is missing, cut, altered or out of place. Its `Read` errors carry a [`BackupError`]
/// (see [`BackupError::from_io`]).
pub struct BackupReader<R: Read> {
    input: R,
    path: PathBuf,
    manifest: Manifest,
    dec: BackupDecryptor,
    aad: [u8; 32],
    /// The ciphertext read ahead (the next chunk), to know whether the current is the last.
    ahead: Option<Vec<u8>>,
    started: bool,
    done: bool,
    chunk: u64,
    plain: Vec<u8>,
    at: usize,
    read_bytes: u64,
}

impl<R: Read> std::fmt::Debug for BackupReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupReader")
            .field("path", &self.path)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BackupReader<R> {
    /// Reads the header of the backup in `input` (from `path`, named in errors).
    pub fn manifest_of(mut input: R, path: &Path) -> Result<Manifest, BackupError> {
        Ok(read_header(&mut input, path)?.0)
    }

    /// Opens the backup in `input` with `keys`: refuses a wrong master key before reading
    /// any chunk.
    pub fn open(mut input: R, path: &Path, keys: &Keyring) -> Result<Self, BackupError> {
        let (manifest, aad) = read_header(&mut input, path)?;
        let version: KeyVersion = manifest
            .key_version
            .parse()
            .map_err(|_| BackupError::BadHeader("key version is not valid".into()))?;
        if !keys.versions().contains(&version) {
            return Err(BackupError::MissingKeyVersion(manifest.key_version.clone()));
        }
        let key = keys.backup_key(version, &manifest.params()?)?;
        let check = B64
            .decode(&manifest.key_check)
            .map_err(|_| BackupError::BadHeader("key check is not valid".into()))?;
        if !key.matches_check(&check) {
            return Err(BackupError::WrongKey {
                version: manifest.key_version.clone(),
            });
        }
        let read_bytes = 16 + serde_json::to_vec(&manifest).map_or(0, |h| h.len() as u64);
        Ok(BackupReader {
            input,
            path: path.to_path_buf(),
            dec: key.decryptor(),
            manifest,
            aad,
            ahead: None,
            started: false,
            done: false,
            chunk: 0,
            plain: Vec::new(),
            at: 0,
            read_bytes,
        })
    }

    /// The backup's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Approximate bytes of the file consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.read_bytes
    }

    /// Reads one framed chunk; `None` at a clean end of file.
    fn read_frame(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let n = self
                .input
                .read(&mut len[got..])
                .map_err(|e| BackupError::io("cannot read", &self.path, e))?;
            if n == 0 {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(BackupError::Truncated { chunk: self.chunk })
                };
            }
            got += n;
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(BACKUP_TAG_LEN..=CHUNK_LEN + BACKUP_TAG_LEN).contains(&len) {
            return Err(BackupError::Damaged { chunk: self.chunk });
        }
        let mut ct = vec![0u8; len];
        self.input.read_exact(&mut ct).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BackupError::Truncated { chunk: self.chunk }
            } else {
                BackupError::io("cannot read", &self.path, e)
            }
        })?;
        self.read_bytes += 4 + len as u64;
        Ok(Some(ct))
    }

    /// Decrypts the next chunk into `plain`; `false` once the last chunk was consumed.
    fn refill(&mut self) -> Result<bool, BackupError> {
        if self.done {
            return Ok(false);
        }
        let current = match self.ahead.take() {
            Some(ct) => ct,
            None if !self.started => {
                self.started = true;
                self.read_frame()?
                    .ok_or(BackupError::Truncated { chunk: self.chunk })?
            }
            None => return Err(BackupError::Truncated { chunk: self.chunk }),
        };
        self.ahead = self.read_frame()?;
        let chunk = self.chunk;
        self.plain = if self.ahead.is_some() {
            self.dec.next(&self.aad, &current)
        } else {
            self.done = true;
            self.dec.last(&self.aad, &current)
        }
        .map_err(|_| BackupError::Damaged { chunk })?;
        self.at = 0;
        self.chunk += 1;
        Ok(true)
    }

    /// Reads (and authenticates) the rest of the payload, discarding it; fails if anything
    /// is left that the payload's parser did not consume.
    pub fn expect_end(&mut self) -> Result<(), BackupError> {
        if self.at < self.plain.len() {
            return Err(BackupError::Mismatch("data after the dump's end".into()));
        }
        while self.refill()? {
            if !self.plain.is_empty() {
                return Err(BackupError::Mismatch("data after the dump's end".into()));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for BackupReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.plain.len() {
            if !self.refill().map_err(std::io::Error::other)? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl BackupError {
    /// The [`BackupError`] inside an I/O error from a [`BackupReader`], or the I/O error as
    /// such (named with `path`).
    pub fn from_io(e: std::io::Error, path: &Path) -> BackupError {
        if e.get_ref().is_some_and(|i| i.is::<BackupError>()) {
            match e.into_inner().map(|i| i.downcast::<BackupError>()) {
                Some(Ok(b)) => *b,
                _ => BackupError::Mismatch("unreadable payload".into()),
            }
        } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
            BackupError::Mismatch("the payload ends early".into())
        } else {
            BackupError::io("cannot read", path, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let info = SnapshotInfo {
            backend: "sqlite".into(),
            schema_version: 1,
            migrations: vec!["0001_init".into()],
            tables: vec![("t".into(), 3)],
            audit_size: 0,
            audit_root: [0; 32],
        };
        Manifest::new(&info, OffsetDateTime::UNIX_EPOCH, None, vec![])
    }

    fn backup(keys: &Keyring, payload: &[u8]) -> Vec<u8> {
        let (mut w, _) = BackupWriter::start(Vec::new(), keys, manifest()).unwrap();
        w.write_all(payload).unwrap();
        w.finish().unwrap()
    }

    fn read_all(file: &[u8], keys: &Keyring) -> Result<Vec<u8>, BackupError> {
        let mut r = BackupReader::open(file, Path::new("b"), keys)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)
            .map_err(|e| BackupError::from_io(e, Path::new("b")))?;
        Ok(out)
    }

    #[test]
    fn payload_round_trips_across_many_chunks_and_the_header_is_readable_without_key() {
        let keys = Keyring::generate();
        let payload: Vec<u8> = (0..3 * CHUNK_LEN + 17).map(|i| (i % 251) as u8).collect();
        let file = backup(&keys, &payload);
        assert_eq!(read_all(&file, &keys).unwrap(), payload);
        let m = BackupReader::manifest_of(file.as_slice(), Path::new("b")).unwrap();
        assert_eq!(m.rows_of("t"), 3);
        // The payload is not in the file in the clear.
        let secret = b"canary-4f1e-personal-value";
        let file = backup(&keys, secret);
        assert!(!file.windows(secret.len()).any(|w| w == secret));
    }

    #[test]
    fn truncation_tampering_and_a_wrong_key_are_each_refused_with_their_own_error() {
        let keys = Keyring::generate();
        let payload: Vec<u8> = vec![7; 2 * CHUNK_LEN + 5];
        let file = backup(&keys, &payload);
        for cut in [file.len() - 1, file.len() - 30, file.len() / 2, 40] {
            let e = read_all(&file[..cut], &keys).unwrap_err();
            assert!(
                matches!(
                    e,
                    BackupError::Truncated { .. } | BackupError::Damaged { .. }
                ),
                "{cut}: {e}"
            );
        }
        // Cut exactly after the second of three chunks: the last chunk is missing.
        let header_end = file.len() - 3 * 4 - 2 * (CHUNK_LEN + 16) - (5 + 16);
        let two = header_end + 2 * (4 + CHUNK_LEN + 16);
        assert!(matches!(
            read_all(&file[..two], &keys).unwrap_err(),
            BackupError::Damaged { chunk: 1 }
        ));
        let mut bad = file.clone();
        let n = bad.len();
        bad[n - 10] ^= 0x40;
        assert!(matches!(
            read_all(&bad, &keys).unwrap_err(),
            BackupError::Damaged { chunk: 2 }
        ));
        // A changed header (here: a row count) fails the first chunk.
        let needle = b"\"rows\":3";
        let pos = file
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
            + 7;
        let mut hdr = file.clone();
        hdr[pos] = b'4';
        assert!(matches!(
            read_all(&hdr, &keys).unwrap_err(),
            BackupError::Damaged { chunk: 0 }
        ));
        assert!(matches!(
            read_all(&file, &Keyring::generate()).unwrap_err(),
            BackupError::WrongKey { .. }
        ));
        assert!(matches!(
            read_all(b"not a backup at all", &keys).unwrap_err(),
            BackupError::NotABackup(_)
        ));
    }
}
