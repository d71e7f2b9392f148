//! The key file: the default master-key source, created by `privet init`.
//!
//! Format (UTF-8 text): `#` comment lines and blank lines are ignored; every other line is
//! `v<N> <standard base64 of 32 bytes>`. The highest version is current. On Unix the file
//! must not be accessible to group or others (`mode & 0o077 == 0`), or loading is refused.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{KeyProvider, decode_key, encode_key};
use crate::error::CryptoError;
use crate::keyring::Keyring;
use crate::master::{KeyVersion, MasterKey};

/// A key file is a few lines; anything bigger is not one, and is not read into memory.
const MAX_FILE_LEN: u64 = 64 * 1024;

const HEADER: &str = "\
# Privet master keys. Keep this file secret: mode 0600, owned by the user running privet,
# and never stored beside backups of the data. One line per version: `v<N> <base64 key>`;
# the highest version is current. Losing a version makes data wrapped under it unreadable.
";

/// Master keys read from a file (see the module docs for the format).
#[derive(Clone, Debug)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// A provider reading `path`; nothing is touched until [`KeyProvider::load`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new key file holding every version of `keyring`, with mode 0600, and
    /// fsyncs it and its directory. Refuses with [`CryptoError::KeyFileExists`] if anything
    /// is already at `path`.
    pub fn create(path: impl Into<PathBuf>, keyring: &Keyring) -> Result<KeyFile, CryptoError> {
        let path = path.into();
        write_new(&path, keyring)?;
        sync_parent(&path)?;
        Ok(KeyFile { path })
    }

    /// Atomically replaces the file with `keyring` (after a rotation), refusing with
    /// [`CryptoError::KeyFileWouldLoseKey`] unless `keyring` holds every version the file
    /// holds, with the same key bytes. Writes `<path>.new`, fsyncs it, renames it over.
    pub fn replace(&self, keyring: &Keyring) -> Result<(), CryptoError> {
        let existing = self.load()?;
        for version in existing.versions() {
            let check = existing.key_check_value(version)?;
            if keyring.verify_key_check(version, &check).is_err() {
                return Err(CryptoError::KeyFileWouldLoseKey {
                    path: self.path.clone(),
                    version,
                });
            }
        }
        let mut staged = self.path.clone().into_os_string();
        staged.push(".new");
        let staged = PathBuf::from(staged);
        write_new(&staged, keyring)?;
        fs::rename(&staged, &self.path).map_err(|source| io_error(&self.path, source))?;
        sync_parent(&self.path)
    }
}

impl KeyProvider for KeyFile {
    fn load(&self) -> Result<Keyring, CryptoError> {
        let contents = read_private(&self.path)?;
        Keyring::from_master_keys(parse(&self.path, &contents)?)
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}

fn io_error(path: &Path, source: io::Error) -> CryptoError {
    CryptoError::Io {
        path: path.to_owned(),
        source,
    }
}

fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFileMalformed {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// Opens the file, checks its kind and permissions on the open handle (no race with a
/// swap between check and read), then reads it into zeroizing memory.
fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CryptoError::KeyFileMissing {
            path: path.to_owned(),
        },
        _ => io_error(path, source),
    })?;
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    if !meta.is_file() {
        return Err(malformed(path, 0, "not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFilePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(malformed(path, 0, "file is too large to be a key file"));
    }
    // Sized up front so reading never reallocates and leaves unzeroized copies behind.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut contents = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut contents)
        .map_err(|source| io_error(path, source))?;
    if contents.len() as u64 > MAX_FILE_LEN {
        return Err(malformed(path, 0, "file is too large to be a key file"));
    }
    Ok(contents)
}

/// Parses the key lines. Reasons are fixed words: a line's text never reaches an error.
fn parse(
    path: &Path,
    contents: &[u8],
) -> Result<std::collections::BTreeMap<KeyVersion, MasterKey>, CryptoError> {
    let mut keys = std::collections::BTreeMap::new();
    for (index, raw) in contents.split(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        let line =
            std::str::from_utf8(raw).map_err(|_| malformed(path, line_no, "not valid UTF-8"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let (Some(version), Some(key), None) = (words.next(), words.next(), words.next()) else {
            return Err(malformed(path, line_no, "expected `v<N> <base64 key>`"));
        };
        let version: KeyVersion = version
            .parse()
            .map_err(|_| malformed(path, line_no, "version is not of the form v<N>"))?;
        let key = decode_key(key).map_err(|reason| malformed(path, line_no, reason))?;
        if keys.insert(version, key).is_some() {
            return Err(malformed(
                path,
                line_no,
                format!("{version} appears more than once"),
            ));
        }
    }
    if keys.is_empty() {
        return Err(malformed(path, 0, "the file holds no key"));
    }
    Ok(keys)
}

/// The file's text: the header, then one line per version, ascending.
fn render(keyring: &Keyring) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(
        HEADER.len() + 64 * keyring.versions().len(),
    ));
    out.push_str(HEADER);
    for (version, key) in keyring.master_keys() {
        out.push_str(&version.to_string());
        out.push(' ');
        out.push_str(&encode_key(key));
        out.push('\n');
    }
    out
}

/// Creates `path` (never overwriting), mode 0600, writes the keyring and fsyncs. A partly
/// written file is removed so a retry starts clean.
fn write_new(path: &Path, keyring: &Keyring) -> Result<(), CryptoError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => CryptoError::KeyFileExists {
            path: path.to_owned(),
        },
        _ => io_error(path, source),
    })?;
    let contents = render(keyring);
    if let Err(source) = write_synced(file, contents.as_bytes()) {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(path);
        return Err(io_error(path, source));
    }
    Ok(())
}

fn write_synced(mut file: File, contents: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        // The umask could only have removed bits; make the mode exactly 0600 regardless.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// Fsyncs the directory holding `path`, so the new directory entry survives a crash.
fn sync_parent(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_error(dir, source))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn parsing_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(Path::new("k"), &bytes);
        }

        #[test]
        fn parsing_never_panics_on_near_miss_lines(text in "(#.*|v[0-9]{0,11} [A-Za-z0-9+/=]{0,50}|\\s*)(\n(#.*|v[0-9]{0,3}\t[A-Za-z0-9+/=]{40,46}))*") {
            let _ = parse(Path::new("k"), text.as_bytes());
        }
    }

    #[test]
    fn rendered_files_parse_back() {
        let ring = Keyring::generate().rotated().unwrap();
        let text = render(&ring);
        assert!(text.starts_with("# Privet master keys."));
        let keys = parse(Path::new("k"), text.as_bytes()).unwrap();
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), ring.versions());
    }
}
